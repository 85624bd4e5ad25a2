// The pg pool, its settings from DATABASE_URL, and the mapping of driver errors to StoreError codes.
import { createHash } from 'node:crypto';
import pg, { type PoolClient } from 'pg';
import { StoreError } from '../errors';

interface PgSettings {
  /** Connection string without our own parameters (pg parses host, user, password, database, ssl*). */
  connectionString: string;
  max: number;
  statementTimeoutMs: number;
  connectTimeoutMs: number;
  /** Group commit of member changes (member-batch.ts): batches at once (0: off) and the gathering window. */
  groupCommit: { inFlight: number; windowUs: number };
}

/**
 * Reads our parameters off the URL: `max` (pool size, default 10), `statement_timeout` (ms, default 15000) and
 * `connect_timeout` (seconds, default 10). Everything else (sslmode, sslrootcert, application_name, options, …) is
 * left for pg's connection-string parser.
 */
function pgSettings(url: string): PgSettings {
  const u = new URL(url);
  const take = (name: string): string | undefined => {
    const v = u.searchParams.get(name) ?? undefined;
    u.searchParams.delete(name);
    return v;
  };
  const int = (v: string | undefined, fallback: number, min: number, max: number): number => {
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`invalid DATABASE_URL parameter value "${v}"`);
    return n;
  };
  const max = int(take('max') ?? take('pool_max'), 10, 1, 1000);
  const statementTimeoutMs = int(take('statement_timeout'), 15_000, 0, 86_400_000);
  const connectTimeoutMs = int(take('connect_timeout'), 10, 0, 3600) * 1000;
  const groupCommit = {
    inFlight: int(take('group_commit_batches'), 1, 0, max),
    windowUs: int(take('group_commit_window_us'), 0, 0, 100_000),
  };
  return { connectionString: u.toString(), max, statementTimeoutMs, connectTimeoutMs, groupCommit };
}

const INT8 = 20;
const NUMERIC = 1700;

/** bigint and numeric as JS numbers (seqs, counts, epoch ms: all far below 2^53), for this pool only. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => (v === null ? null : Number(v));
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** The group commit settings of a DATABASE_URL (`group_commit_batches`, default 1; `group_commit_window_us`, default 0). */
export function groupCommitSettings(url: string): PgSettings['groupCommit'] {
  return pgSettings(url).groupCommit;
}

/** What every connection of this store is opened with: the pool's and the revocation listener's. */
function connectionConfig(s: PgSettings): pg.ClientConfig {
  return {
    connectionString: s.connectionString,
    // The statements this store prepares (prepared()) are the hot paths, written to run on a generic plan. Without
    // this, PostgreSQL may keep re-planning one each execution when a custom plan looks cheaper: measured on the
    // member statements, ~0.4 ms of planning per call, more than the statement itself. Unnamed statements (lists,
    // filters) are planned per execution either way.
    // JIT off unless the URL's own options turn it on: it pays off for long analytic queries, not for ours, where it
    // is pure cost. Reading a 100,000-member group, its compiling took longer than the query (~180 ms of ~250).
    options: ['-c jit=off', new URL(s.connectionString).searchParams.get('options'), '-c plan_cache_mode=force_generic_plan'].filter(Boolean).join(' '),
    statement_timeout: s.statementTimeoutMs || undefined,
    connectionTimeoutMillis: s.connectTimeoutMs,
    types: types as never,
  };
}

/** A connection of its own, outside the pool (for LISTEN), with TCP keepalive so a dead peer is noticed. */
export function createClient(url: string): pg.Client {
  return new pg.Client({ ...connectionConfig(pgSettings(url)), keepAlive: true });
}

export function createPool(url: string, onError?: (e: Error) => void): pg.Pool {
  const s = pgSettings(url);
  const pool = new pg.Pool({ ...connectionConfig(s), max: s.max, idleTimeoutMillis: 30_000 });
  // An idle client whose server went away emits 'error' on the pool; without a listener the process would crash.
  pool.on('error', (e) => onError?.(e));
  // A checked-out client (inside a transaction, between two statements; the migration lock holder) emits 'error' on
  // itself, and pg-pool only listens while the client is idle: without this the process would crash on a reset
  // connection. The statement that was running (or the next one) rejects and is mapped to 'unavailable'; the pool's
  // own listener above reports idle clients, so this one stays silent.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);
/** Server-side codes that mean "not now": shutdown, cannot connect, too many connections, timeouts, recovery. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57014', '53300', '53400', '55P03', '25006']);

function isUnavailable(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08')) return true;
  }
  const msg = (e as { message?: unknown }).message;
  return typeof msg === 'string' && /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused|Cannot use a pool after calling end/i.test(msg);
}

export function sqlState(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

const RETRYABLE = new Set(['40001', '40P01']);

/** A serialization failure or a deadlock: the transaction can be run again as it was. */
export function isRetryable(e: unknown): boolean {
  return RETRYABLE.has(sqlState(e) ?? '');
}

/** After a failed transaction: ROLLBACK, and the client back to the pool, or destroyed when it cannot roll back. */
export async function rollbackAndRelease(client: PoolClient): Promise<void> {
  let broken = false;
  try {
    await client.query('ROLLBACK');
  } catch {
    broken = true;
  }
  client.release(broken ? true : undefined);
}

/** StoreErrors pass through; lost connections become 'unavailable' (503); everything else is rethrown as is. */
export function mapError(e: unknown): unknown {
  if (e instanceof StoreError) return e;
  if (isUnavailable(e)) {
    const code = sqlState(e);
    return new StoreError('unavailable', `database unavailable${code ? ` (${code})` : ''}`);
  }
  return e;
}

const names = new Map<string, string>();

/**
 * A statement node-postgres prepares once per connection (named by a hash of its text) instead of parsing and planning
 * it on every call. Only for fixed SQL on hot paths: every distinct text stays prepared on each pooled connection.
 */
export function prepared(text: string): { name: string; text: string } {
  let name = names.get(text);
  if (name === undefined) {
    name = `sb_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return { name, text };
}
