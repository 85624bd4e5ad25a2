// The console's only way to the gateway: the existing /admin API, with the admin token the operator pasted. The
// token lives in sessionStorage (this tab only, gone when it closes), never in a cookie or a URL.
const KEY = 'scimbridge.adminToken';

export function savedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** An /admin answer that was not 2xx: the SCIM Error's detail, and whether the token itself was refused. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
  get signedOut(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

let onSignedOut: (why: string) => void = () => undefined;

/** The app hears here when the gateway refuses the token (expired, revoked, not admin). */
export function whenSignedOut(fn: (why: string) => void): void {
  onSignedOut = fn;
}

export async function admin<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<T> {
  const token = init.token ?? savedToken();
  let res: Response;
  try {
    res = await fetch(`/admin${path}`, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${token ?? ''}`,
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'The gateway did not answer. Check that it is running and reachable, then try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const detail = (body as { detail?: string } | undefined)?.detail ?? `HTTP ${res.status}`;
    const err = new ApiError(res.status, detail);
    if (err.signedOut && init.token === undefined) onSignedOut(detail);
    throw err;
  }
  return body as T;
}

/** A query string from the set values only. */
export function query(params: Record<string, string | number | boolean | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Sends every dead letter of a target again; answers what to show beside the button. */
export async function replayDeadLetters(target: string): Promise<string> {
  const r = await admin<{ replayed: number }>(`/targets/${encodeURIComponent(target)}/replay`, { method: 'POST' });
  return `${r.replayed} queued again`;
}
