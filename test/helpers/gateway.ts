// A real gateway for tests: its own SQLite file in a temp dir, a listening HTTP server on 127.0.0.1, and
// tokens minted with the same secret it verifies with. With TEST_DATABASE=postgres each gateway gets a fresh
// PostgreSQL database instead (created on TEST_PG_URL's server, dropped by close()).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mintToken } from '../../src/auth/mint';
import { createVerifier } from '../../src/auth/verify';
import type { JwtConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { buildApp } from '../../src/server';
import { SqliteStore } from '../../src/store/sqlite';
import { GatewayMetrics } from '../../src/ops/metrics';
import { DEFAULT_LIMITS, type ScimLimits } from '../../src/scim/context';
import { DEFAULT_BULK_LIMITS, type BulkLimits } from '../../src/scim/bulk-request';
import type { Logger } from 'pino';
import { PostgresStore } from '../../src/store/postgres';
import { createTestDatabase, dropTestDatabase, onPostgres, testDatabaseUrl } from './postgres';
import { createWorker, type DeliveryWorker } from '../../src/egress';
import { groupLinkRules, parseTargets, type TargetConfig } from '../../src/egress/targets';
import type { WorkerOptions } from '../../src/egress/worker';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface TestGateway {
  url: string;
  /** Base URLs of the two mounts. */
  api: string;
  sso: string;
  dir: string;
  dbFile: string;
  /**
   * Typed as the SQLite store so tests can reach `store.db`; with TEST_DATABASE=postgres it is a PostgresStore
   * (no `db`): tests that use `store.db` are wrapped in `sqliteOnly` (test/helpers/postgres.ts).
   */
  store: SqliteStore;
  /** With TEST_DATABASE=postgres: the gateway's own database (kept by restart, dropped by close). */
  pgDatabase?: string;
  jwt: JwtConfig;
  /** The delivery worker when targets were given (not started unless startWorker: true; tests call drain()). */
  worker?: DeliveryWorker;
  /** The parsed delivery targets (none without `targets`). */
  targets: TargetConfig[];
  token(tenant?: string, scope?: string): Promise<string>;
  /** Stops the server and closes the store; keeps the directory (see restart). */
  stop(): Promise<void>;
  /** Stops, then starts a new server on the same database file. */
  restart(): Promise<TestGateway>;
  metrics: GatewayMetrics;
  /** Stops and deletes the directory. */
  close(): Promise<void>;
}

export interface GatewayOptions {
  dir?: string;
  /** A targets file's JSON ({targets: [...]}), validated like TARGETS_FILE. */
  targets?: unknown;
  startWorker?: boolean;
  workerOptions?: WorkerOptions;
  maxBodyBytes?: number;
  maxResults?: number;
  jwt?: Partial<JwtConfig>;
  /** Reuse this PostgreSQL database (restart); a fresh one is created when unset. */
  pgDatabase?: string;
  metricsToken?: string;
  rateLimit?: { perSecond: number; burst: number };
  limits?: Partial<ScimLimits>;
  bulk?: Partial<BulkLimits>;
  /** A logger to use instead of a silent one (tests that read the log lines). */
  log?: Logger;
  /** Serve the operator console (default true, as CONSOLE). */
  console?: boolean;
}

export async function startGateway(opts: GatewayOptions = {}): Promise<TestGateway> {
  const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'scimbridge-test-'));
  const dbFile = path.join(dir, 'scimbridge.db');
  // A gateway started on an existing dir gets that dir's database back, as with SQLite's file in the dir.
  const pgMarker = path.join(dir, 'pg-database');
  const pgDatabase = onPostgres
    ? (opts.pgDatabase ?? (existsSync(pgMarker) ? readFileSync(pgMarker, 'utf8').trim() : await createTestDatabase()))
    : undefined;
  if (pgDatabase) writeFileSync(pgMarker, pgDatabase);
  const store = pgDatabase
    ? new PostgresStore({ kind: 'postgres', url: testDatabaseUrl(pgDatabase, '?max=4&statement_timeout=60000') }) as unknown as SqliteStore
    : new SqliteStore({ kind: 'sqlite', file: dbFile, synchronous: 'NORMAL' });
  await store.migrate();
  const jwt: JwtConfig = {
    source: { kind: 'secret', secret: TEST_SECRET, origin: 'env' }, clockToleranceSec: 60, ...opts.jwt,
  };
  const log = opts.log ?? createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  metrics.watchBacklog(store, []);
  const targets = opts.targets ? parseTargets(opts.targets, process.env, ['100ms', '200ms', '300ms']) : [];
  // As openRuntime does for the gateway: configured group links resolved at commit, existing groups linked now.
  if (targets.length) await store.applyGroupLinkRules(groupLinkRules(targets));
  const app = buildApp({
    targets,
    store, verifier: createVerifier(jwt, (jti) => store.isRevoked(jti)), log,
    maxBodyBytes: opts.maxBodyBytes ?? 1024 * 1024, maxResults: opts.maxResults ?? 1000,
    metrics, metricsToken: opts.metricsToken, rateLimit: opts.rateLimit,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    bulk: { ...DEFAULT_BULK_LIMITS, ...opts.bulk },
    console: opts.console,
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  metrics.watchBacklog(store, targets.map((t) => t.name));
  const worker = targets.length
    ? createWorker(store, targets, log, { pollMs: 50, coalesceMs: 0, metrics: metrics.egress(), ...opts.workerOptions }) : undefined;
  if (worker && opts.startWorker) worker.start();
  const stop = async () => {
    await worker?.stop(2000);
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  };
  const gw: TestGateway = {
    metrics,
    url, api: `${url}/api/scim/v2`, sso: `${url}/sso/scim/v2`, dir, dbFile, store, pgDatabase, jwt, worker, targets,
    token: async (tenant = 'default', scope?: string) => (await mintToken(jwt, { tenant, scope, ttlSeconds: 3600 })).token,
    stop,
    restart: async () => {
      await stop();
      return startGateway({ ...opts, dir, pgDatabase });
    },
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      if (pgDatabase) await dropTestDatabase(pgDatabase);
    },
  };
  return gw;
}

/** fetch with a bearer token and SCIM JSON; returns status, headers and parsed body. */
export async function scim(
  method: string, url: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const ENTERPRISE_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

export function user(userName: string, extra: Record<string, unknown> = {}) {
  return { schemas: [USER_SCHEMA], userName, active: true, ...extra };
}

export function group(displayName: string, members: string[] = [], extra: Record<string, unknown> = {}) {
  return { schemas: [GROUP_SCHEMA], displayName, members: members.map((value) => ({ value })), ...extra };
}

/** Asserts a SCIM Error answer: status, SCIM content type, error schema, status as a string, scimType. */
export function expectScimError(res: { status: number; headers: Headers; body: any }, status: number, scimType?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
  expect(res.body.status).toBe(String(status));
  if (scimType) expect(res.body.scimType).toBe(scimType);
}

export function patchOp(ops: unknown[]) {
  return { schemas: [PATCH_SCHEMA], Operations: ops };
}
