// One HTTP call to a target: no redirects followed, a timeout, the response classified, rate-limit headers
// noticed, and the attempt recorded (method and path only: no query string, no body, no credential).
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

export const ERROR_BODY_LIMIT = 2000;

export function truncate(text: string, limit = ERROR_BODY_LIMIT): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}

const RETRYABLE = new Set([408, 425, 429]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE.has(status) || status >= 500;
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

export async function call(
  baseUrl: string, auth: Record<string, string>, timeoutMs: number, spec: CallSpec, recorder: CallRecorder,
): Promise<CallResult> {
  const request = `${spec.method} ${pathOnly(spec.path)}`;
  const started = performance.now();
  let res: Response;
  let text: string;
  try {
    const body = spec.rawBody ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body));
    res = await fetch(baseUrl + spec.path, {
      method: spec.method,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...auth,
        ...spec.headers,
      },
      body,
    });
    text = await res.text();
  } catch (e) {
    const latencyMs = performance.now() - started;
    const name = (e as Error).name;
    const reason = name === 'TimeoutError' || name === 'AbortError' ? `timed out after ${timeoutMs} ms` : `network error: ${networkReason(e)}`;
    recorder.record({ request, latencyMs, outcome: 'retry', error: reason });
    throw retry(reason);
  }
  const latencyMs = performance.now() - started;
  noticeRateLimit(res.headers, recorder);
  const result: CallResult = {
    status: res.status,
    headers: res.headers,
    text,
    json: <T>() => {
      try {
        return text ? (JSON.parse(text) as T) : undefined;
      } catch {
        return undefined;
      }
    },
  };
  const ok = (res.status >= 200 && res.status < 300) || spec.alsoOk?.(res.status, text) || spec.returnStatuses?.includes(res.status);
  if (ok) {
    recorder.record({ request, status: res.status, latencyMs, outcome: 'success' });
    return result;
  }
  const body = truncate(text);
  if (res.status >= 300 && res.status < 400) {
    recorder.record({ request, status: res.status, latencyMs, outcome: 'permanent', error: 'redirects are not followed' });
    throw permanent(`${request} answered a redirect (${res.status}); redirects are not followed`, { status: res.status, body });
  }
  if (isRetryableStatus(res.status)) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    recorder.record({ request, status: res.status, latencyMs, outcome: 'retry', error: body });
    throw retry(`${request} answered ${res.status}`, { status: res.status, body, retryAfterMs });
  }
  recorder.record({ request, status: res.status, latencyMs, outcome: 'permanent', error: body });
  throw permanent(`${request} answered ${res.status}`, { status: res.status, body });
}

function networkReason(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? 'unknown';
}

function noticeRateLimit(headers: Headers, recorder: CallRecorder): void {
  const remaining = headers.get('x-ratelimit-remaining');
  if (remaining === null || Number(remaining) > 0) return;
  const until = parseRateLimitReset(headers.get('x-ratelimit-reset'));
  if (until !== undefined) recorder.pauseUntil(until);
}
