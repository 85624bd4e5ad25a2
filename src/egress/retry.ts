// The retry schedule is data: a list of delays, one per failed try. The n-th retry waits a uniformly random time
// up to the n-th delay (full jitter), or the target's Retry-After when that is longer. Past the end: dead letter.
export const DEFAULT_SCHEDULE = [
  '10s', '30s', '1m', '2m', '5m', '10m', '20m', '30m', '1h', '1h', '2h', '2h', '3h', '3h', '4h', '4h', '2h',
];

const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration (e.g. 500ms, 10s, 5m, 2h, 1d)`);
  return Math.round(Number(m[1]) * UNIT[m[2]]);
}

export function parseSchedule(items: string[]): number[] {
  if (!items.length) throw new Error('the retry schedule needs at least one delay');
  return items.map(parseDuration);
}

/** Delay before retry number `attempt` (1-based), or undefined when the schedule is exhausted. */
export function retryDelay(schedule: number[], attempt: number, retryAfterMs?: number, random = Math.random): number | undefined {
  if (attempt > schedule.length) return undefined;
  const jittered = Math.floor(random() * schedule[attempt - 1]);
  return Math.max(jittered, retryAfterMs ?? 0);
}

/** Retry-After: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** X-RateLimit-Reset: epoch seconds (large numbers) or seconds from now. Returns the epoch ms to wait until. */
export function parseRateLimitReset(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return n > 1_000_000_000 ? n * 1000 : now + n * 1000;
}
