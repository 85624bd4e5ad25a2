// One HTTP call to a target: no redirects followed, a timeout, the response classified, rate-limit headers
// noticed, and the attempt recorded (method and path only: no query string, no body, no credential).
import { Agent, request } from 'undici';
import { parseRateLimitReset, parseRetryAfter } from './retry';
import { permanent, retry } from './errors';
import type { AttemptRecord } from '../store/egress-types';

export interface CallSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path (and query) appended to the target's base URL. */
  path: string;
  body?: unknown;
  /** A raw body string (webhooks sign the exact bytes they send). */
  rawBody?: string;
  headers?: Record<string, string>;
  /** Statuses outside 2xx that mean success here (e.g. Timeslot's 422 for "not a member" on remove). */
  alsoOk?: (status: number, body: string) => boolean;
  /** Statuses that mean "nothing there" and should be returned, not thrown (e.g. 404 on a lookup). */
  returnStatuses?: number[];
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json<T = any>(): T | undefined;
}

export interface CallRecorder {
  record(a: Omit<AttemptRecord, 'target' | 'aggregate' | 'firstSeq' | 'lastSeq'>): void;
  /** The target asked us to slow down until this epoch ms. */
  pauseUntil(at: number): void;
}

const ERROR_BODY_LIMIT = 2000;

export function truncate(text: string, limit = ERROR_BODY_LIMIT): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

const RETRYABLE = new Set([408, 425, 429]);

function isRetryableStatus(status: number): boolean {
  return RETRYABLE.has(status) || status >= 500;
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/** One connection pool for all targets; undici's request() follows no redirects. */
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128, connect: { timeout: 10_000 } });

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  return h;
}

export async function call(
  baseUrl: string, auth: Record<string, string>, timeoutMs: number, spec: CallSpec, recorder: CallRecorder,
): Promise<CallResult> {
  // Recorded relative to the target's base URL ("/" for the base itself, e.g. a webhook).
  const request_ = `${spec.method} ${pathOnly(spec.path) || '/'}`;
  const started = performance.now();
  let status: number;
  let rawHeaders: Record<string, string | string[] | undefined>;
  let text: string;
  try {
    const body = spec.rawBody ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body));
    const res = await request(baseUrl + spec.path, {
      method: spec.method,
      dispatcher: agent,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...auth,
        ...spec.headers,
      },
      body,
    });
    status = res.statusCode;
    rawHeaders = res.headers;
    text = await res.body.text();
  } catch (e) {
    const latencyMs = performance.now() - started;
    const code = (e as { code?: string }).code ?? '';
    const reason = /TIMEOUT/.test(code) || (e as Error).name === 'TimeoutError'
      ? `timed out after ${timeoutMs} ms` : `network error: ${networkReason(e)}`;
    recorder.record({ request: request_, latencyMs, outcome: 'retry', error: reason });
    throw retry(reason);
  }
  const latencyMs = performance.now() - started;
  let headers: Headers | undefined;
  const header = (name: string) => {
    const v = rawHeaders[name];
    return Array.isArray(v) ? v[0] : v;
  };
  noticeRateLimit(header, recorder);
  const result: CallResult = {
    status,
    get headers() {
      return (headers ??= toHeaders(rawHeaders));
    },
    text,
    json: <T>() => {
      try {
        return text ? (JSON.parse(text) as T) : undefined;
      } catch {
        return undefined;
      }
    },
  };
  const ok = (status >= 200 && status < 300) || spec.alsoOk?.(status, text) || spec.returnStatuses?.includes(status);
  if (ok) {
    recorder.record({ request: request_, status, latencyMs, outcome: 'success' });
    return result;
  }
  const body = truncate(redactSecrets(text, auth));
  if (status >= 300 && status < 400) {
    recorder.record({ request: request_, status, latencyMs, outcome: 'permanent', error: 'redirects are not followed' });
    throw permanent(`${request_} answered a redirect (${status}); redirects are not followed`, { status, body });
  }
  if (isRetryableStatus(status)) {
    const retryAfterMs = parseRetryAfter(header('retry-after'));
    recorder.record({ request: request_, status, latencyMs, outcome: 'retry', error: body });
    throw retry(`${request_} answered ${status}`, { status, body, retryAfterMs });
  }
  recorder.record({ request: request_, status, latencyMs, outcome: 'permanent', error: body });
  throw permanent(`${request_} answered ${status}`, { status, body });
}

/**
 * A target may echo our credential back in an error body; that body is stored with the dead letter, so every
 * form of the credential (the header value, and the token after its scheme) is cut out first.
 */
function redactSecrets(text: string, auth: Record<string, string>): string {
  const secrets = new Set<string>();
  for (const v of Object.values(auth)) {
    for (const candidate of [v, v.split(' ').pop() ?? '', v.split('=').pop() ?? '']) {
      if (candidate.length >= 6) secrets.add(candidate);
    }
  }
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join('[redacted]');
  return out;
}

function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? 'unknown';
}

function noticeRateLimit(header: (name: string) => string | undefined, recorder: CallRecorder): void {
  const remaining = header('x-ratelimit-remaining');
  if (remaining === undefined || Number(remaining) > 0) return;
  const until = parseRateLimitReset(header('x-ratelimit-reset'));
  if (until !== undefined) recorder.pauseUntil(until);
}
