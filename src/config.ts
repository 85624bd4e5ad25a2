// Environment in, validated config out. Nothing here knows HTTP or SQL.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config-error';
import { parseDuration, parseSchedule } from './egress/retry';


type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

export interface SqliteDatabaseConfig {
  kind: 'sqlite';
  /** Absolute or cwd-relative path of the SQLite file; ':memory:' for tests that want it. */
  file: string;
  synchronous: SqliteSynchronous;
}

interface PostgresDatabaseConfig {
  kind: 'postgres';
  /** postgres:// or postgresql:// URL as given (may carry a password: print it only through redactUrl). */
  url: string;
}

type DatabaseConfig = SqliteDatabaseConfig | PostgresDatabaseConfig;

/** Where verification keys come from. Exactly one source, or none (a generated secret is used). */
export type JwtKeySource =
  | { kind: 'secret'; secret: string; origin: 'env' | 'generated' }
  | { kind: 'publicKey'; pem: string }
  | { kind: 'jwks'; url: string }
  | { kind: 'none' };

export interface JwtConfig {
  source: JwtKeySource;
  issuer?: string;
  audience?: string;
  /** PEM private key used by the CLI to mint tokens when the gateway verifies with a public key. */
  privateKeyPem?: string;
  clockToleranceSec: number;
}

export interface Config {
  port: number;
  host: string;
  database: DatabaseConfig;
  jwt: JwtConfig;
  logLevel: string;
  maxBodyBytes: number;
  /** Largest `count` a list request gets; advertised as filter.maxResults. */
  maxResults: number;
  /** Public base URL (scheme://host[:port]) used for meta.location; derived from the request when unset. */
  publicUrl?: string;
  /** Delivery targets file (JSON); no targets when unset. */
  targetsFile?: string;
  /** Run the delivery worker inside the gateway process. */
  workerInProcess: boolean;
  /** Default retry schedule for targets that do not set their own. */
  retrySchedule?: string[];
  /** How long a new event waits so that bursts coalesce (WORKER_COALESCE_MS). */
  workerCoalesceMs: number;
  /** RECONCILE_INTERVAL: how often the worker reconciles every target (ms); off when unset. */
  reconcileIntervalMs?: number;
  /** How long a claimed delivery batch stays leased (WORKER_LEASE_MS); the worker's default when unset. */
  workerLeaseMs?: number;
  /** CONSOLE: serve the operator console at /console (default true). */
  console: boolean;
  /** TARGET_SAMPLE_INTERVAL: how often the worker samples each target's delivery counts for the console (ms). */
  targetSampleIntervalMs: number;
  /** Operations and limits (see OpsConfig). */
  ops: OpsConfig;
}

/** Operations and hardening settings. */
export interface OpsConfig {
  /** Bearer token /metrics requires (METRICS_TOKEN); open when unset. */
  metricsToken?: string;
  /** Requests per second each tenant may make (token bucket, per replica); 0 turns the limit off. */
  rateLimitPerSecond: number;
  /** How many requests a tenant may make at once above the rate. */
  rateLimitBurst: number;
  /** Member values one request may carry (advertised in /ServiceProviderConfig). */
  maxMembersPerRequest: number;
  /** Longest filter accepted (characters). */
  maxFilterLength: number;
  /** Operations one POST /Bulk may carry (BULK_MAX_OPERATIONS; advertised as bulk.maxOperations). */
  bulkMaxOperations: number;
  /** Bytes one POST /Bulk body may have (BULK_MAX_PAYLOAD_SIZE; advertised as bulk.maxPayloadSize). */
  bulkMaxPayloadSize: number;
  /** Deepest nesting of parentheses and brackets accepted in a filter. */
  maxFilterDepth: number;
  /** Audit records older than this many days are deleted. */
  auditRetentionDays: number;
  /** How long shutdown may take before remaining connections and deliveries are cut (ms). */
  shutdownTimeoutMs: number;
}

export const DEFAULT_OPS: OpsConfig = {
  rateLimitPerSecond: 100,
  rateLimitBurst: 200,
  maxMembersPerRequest: 20000,
  maxFilterLength: 8192,
  maxFilterDepth: 32,
  bulkMaxOperations: 1000,
  bulkMaxPayloadSize: 1024 * 1024,
  auditRetentionDays: 365,
  shutdownTimeoutMs: 10000,
};

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `expected an integer between ${min} and ${max}, got ${n}`);
  return n;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function urlVar(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, `not a valid URL: "${raw}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(name, `expected an http(s) URL, got "${u.protocol}"`);
  return raw;
}

function parseDatabaseUrl(raw: string | undefined, synchronousRaw: string | undefined): DatabaseConfig {
  const value = raw && raw !== '' ? raw : 'sqlite:./data/scimbridge.db';
  const sync = (synchronousRaw ?? 'NORMAL').toUpperCase();
  if (!['OFF', 'NORMAL', 'FULL', 'EXTRA'].includes(sync)) {
    throw new ConfigError('SQLITE_SYNCHRONOUS', `expected NORMAL, FULL, EXTRA or OFF, got "${synchronousRaw}"`);
  }
  const m = /^sqlite:(?:\/\/)?(.+)$/.exec(value);
  if (m) {
    const file = m[1];
    return { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(file), synchronous: sync as SqliteSynchronous };
  }
  if (/^postgres(ql)?:\/\//i.test(value)) {
    try {
      new URL(value);
    } catch {
      throw new ConfigError('DATABASE_URL', `not a valid PostgreSQL URL: "${redactUrl(value)}"`);
    }
    return { kind: 'postgres', url: value };
  }
  throw new ConfigError('DATABASE_URL', `expected sqlite:<path> or postgres://…, got "${redactUrl(value)}"`);
}

/** Hide a password in a URL before it appears in a message. */
function redactUrl(value: string): string {
  return value.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

function readPemFile(variable: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(variable, `cannot read "${file}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function looksLikePem(text: string, kind: 'PUBLIC' | 'PRIVATE'): boolean {
  return new RegExp(`-----BEGIN (?:[A-Z]+ )?${kind} KEY-----`).test(text) ||
    (kind === 'PUBLIC' && /-----BEGIN CERTIFICATE-----/.test(text));
}

function parseJwtConfig(env: Env): JwtConfig {
  const secret = env.JWT_SECRET || undefined;
  const pubInline = env.JWT_PUBLIC_KEY || undefined;
  const pubFile = env.JWT_PUBLIC_KEY_FILE || undefined;
  const jwks = urlVar(env, 'JWT_JWKS_URL');
  const given = [secret && 'JWT_SECRET', pubInline && 'JWT_PUBLIC_KEY', pubFile && 'JWT_PUBLIC_KEY_FILE', jwks && 'JWT_JWKS_URL']
    .filter(Boolean) as string[];
  if (given.length > 1) {
    throw new ConfigError(given[1], `conflicts with ${given[0]}; configure exactly one key source`);
  }
  let source: JwtKeySource = { kind: 'none' };
  if (secret) {
    if (Buffer.byteLength(secret) < 32) throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes for HS256');
    source = { kind: 'secret', secret, origin: 'env' };
  } else if (pubInline || pubFile) {
    const variable = pubInline ? 'JWT_PUBLIC_KEY' : 'JWT_PUBLIC_KEY_FILE';
    const pem = pubInline ? pubInline.replace(/\\n/g, '\n') : readPemFile(variable, pubFile!);
    if (!looksLikePem(pem, 'PUBLIC')) throw new ConfigError(variable, 'is not a PEM public key (expected "-----BEGIN PUBLIC KEY-----")');
    source = { kind: 'publicKey', pem };
  } else if (jwks) {
    source = { kind: 'jwks', url: jwks };
  }
  let privateKeyPem: string | undefined;
  if (env.JWT_PRIVATE_KEY_FILE) {
    privateKeyPem = readPemFile('JWT_PRIVATE_KEY_FILE', env.JWT_PRIVATE_KEY_FILE);
    if (!looksLikePem(privateKeyPem, 'PRIVATE')) throw new ConfigError('JWT_PRIVATE_KEY_FILE', 'is not a PEM private key');
  }
  return {
    source,
    issuer: env.JWT_ISSUER || undefined,
    audience: env.JWT_AUDIENCE || undefined,
    privateKeyPem,
    clockToleranceSec: 60,
  };
}

export function parseOpsConfig(env: Env): OpsConfig {
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && metricsToken.length < 16) throw new ConfigError('METRICS_TOKEN', 'must be at least 16 characters');
  const d = DEFAULT_OPS;
  const rate = intVar(env, 'RATE_LIMIT_PER_SECOND', d.rateLimitPerSecond, 0, 1_000_000);
  return {
    metricsToken,
    rateLimitPerSecond: rate,
    rateLimitBurst: intVar(env, 'RATE_LIMIT_BURST', Math.max(d.rateLimitBurst, rate * 2), 1, 10_000_000),
    maxMembersPerRequest: intVar(env, 'MAX_MEMBERS_PER_REQUEST', d.maxMembersPerRequest, 1, 10_000_000),
    maxFilterLength: intVar(env, 'MAX_FILTER_LENGTH', d.maxFilterLength, 16, 1_000_000),
    maxFilterDepth: intVar(env, 'MAX_FILTER_DEPTH', d.maxFilterDepth, 1, 1000),
    bulkMaxOperations: intVar(env, 'BULK_MAX_OPERATIONS', d.bulkMaxOperations, 1, 100_000),
    bulkMaxPayloadSize: intVar(env, 'BULK_MAX_PAYLOAD_SIZE', d.bulkMaxPayloadSize, 1024, 1024 * 1024 * 1024),
    auditRetentionDays: intVar(env, 'AUDIT_RETENTION_DAYS', d.auditRetentionDays, 1, 36500),
    shutdownTimeoutMs: intVar(env, 'SHUTDOWN_TIMEOUT_MS', d.shutdownTimeoutMs, 100, 3_600_000),
  };
}

/** A duration variable (e.g. 30s, 5m, 6h) within [minMs, maxMs]; `why` says what the bounds are for. */
function durationVar(name: string, text: string, minMs: number, maxMs: number, why: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    throw new ConfigError(name, (e as Error).message);
  }
  if (ms < minMs || ms > maxMs) throw new ConfigError(name, why);
  return ms;
}

/** RECONCILE_INTERVAL: a duration of at least a minute (e.g. 30m, 6h, 1d); unset, "0" or "off" leave it off. */
function reconcileInterval(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '' || text.trim() === '0' || text.trim().toLowerCase() === 'off') return undefined;
  return durationVar('RECONCILE_INTERVAL', text, 60_000, Infinity, 'must be at least 1m (each run reads every linked group of every target)');
}

/** TARGET_SAMPLE_INTERVAL: a duration from 1s to 1h (default 1m). */
function sampleInterval(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 60_000;
  return durationVar('TARGET_SAMPLE_INTERVAL', text, 1000, 3_600_000, 'must be between 1s and 1h');
}

export function loadConfig(env: Env = process.env): Config {
  const logLevel = (env.LOG_LEVEL || 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  const host = env.HOST || '0.0.0.0';
  const publicUrl = urlVar(env, 'PUBLIC_URL');
  const retrySchedule = env.RETRY_SCHEDULE ? env.RETRY_SCHEDULE.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  if (retrySchedule) {
    try {
      parseSchedule(retrySchedule);
    } catch (e) {
      throw new ConfigError('RETRY_SCHEDULE', (e as Error).message);
    }
  }
  return {
    port: intVar(env, 'PORT', 8080, 0, 65535),
    host,
    database: parseDatabaseUrl(env.DATABASE_URL, env.SQLITE_SYNCHRONOUS),
    jwt: parseJwtConfig(env),
    logLevel,
    maxBodyBytes: intVar(env, 'MAX_BODY_BYTES', 10 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxResults: intVar(env, 'MAX_RESULTS', 1000, 1, 100000),
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    ops: parseOpsConfig(env),
    targetsFile: env.TARGETS_FILE || undefined,
    workerInProcess: boolVar(env, 'WORKER_IN_PROCESS', true),
    retrySchedule,
    workerCoalesceMs: intVar(env, 'WORKER_COALESCE_MS', 200, 0, 60_000),
    workerLeaseMs: env.WORKER_LEASE_MS ? intVar(env, 'WORKER_LEASE_MS', 0, 1000, 86_400_000) : undefined,
    reconcileIntervalMs: reconcileInterval(env.RECONCILE_INTERVAL),
    console: boolVar(env, 'CONSOLE', true),
    targetSampleIntervalMs: sampleInterval(env.TARGET_SAMPLE_INTERVAL),
  };
}
