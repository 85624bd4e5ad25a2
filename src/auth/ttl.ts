// Token lifetimes as people type them on the command line.

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** A century; beyond that a number is a typo, and exp must stay a safe integer. */
const MAX_TTL_SECONDS = 36500 * 86400;

/**
 * '365d' | '12h' | '30m' | '45s' | '3600' (bare seconds) → seconds.
 * 'never' or '0' → undefined, meaning the token gets no exp claim. Throws on anything else.
 */
export function parseTtl(input: string): number | undefined {
  const text = input.trim().toLowerCase();
  if (text === 'never') return undefined;
  const m = /^(\d+)([smhd]?)$/.exec(text);
  if (!m) throw new Error(`invalid TTL "${input}": use e.g. 365d, 12h, 30m, 45s, 3600 or never`);
  const seconds = Number(m[1]) * UNIT_SECONDS[m[2] || 's'];
  if (seconds === 0) return undefined;
  if (seconds > MAX_TTL_SECONDS) throw new Error(`invalid TTL "${input}": at most 36500d`);
  return seconds;
}
