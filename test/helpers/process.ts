// The built gateway as real child processes: build dist/ when it is stale, pick free ports, start
// `node dist/src/main.js` and wait for /healthz, run `node dist/src/cli.js`, stop with SIGTERM.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const MAIN_JS = path.join(ROOT, 'dist/src/main.js');
export const CLI_JS = path.join(ROOT, 'dist/src/cli.js');

/** Every variable config.ts reads: removed from the inherited environment so a developer's shell cannot leak in. */
const CONFIG_VARS = [
  'PORT', 'HOST', 'DATABASE_URL', 'SQLITE_SYNCHRONOUS', 'LOG_LEVEL', 'MAX_BODY_BYTES', 'MAX_RESULTS', 'PUBLIC_URL',
  'JWT_SECRET', 'JWT_PUBLIC_KEY', 'JWT_PUBLIC_KEY_FILE', 'JWT_JWKS_URL', 'JWT_PRIVATE_KEY_FILE', 'JWT_ISSUER', 'JWT_AUDIENCE',
  'TARGETS_FILE', 'WORKER_IN_PROCESS', 'RETRY_SCHEDULE', 'WORKER_LEASE_MS', 'WORKER_COALESCE_MS',
  'METRICS_TOKEN', 'RATE_LIMIT_PER_SECOND', 'RATE_LIMIT_BURST', 'MAX_MEMBERS_PER_REQUEST', 'MAX_FILTER_LENGTH',
  'MAX_FILTER_DEPTH', 'AUDIT_RETENTION_DAYS', 'SHUTDOWN_TIMEOUT_MS',
];

export type EnvOverrides = Record<string, string | undefined>;

/** process.env without the gateway's own variables, plus the given ones (undefined removes a variable). */
export function cleanEnv(overrides: EnvOverrides = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of CONFIG_VARS) delete env[name];
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(p));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Each src/**\/*.ts has its dist/src/**\/*.js, at least as new as the source and as tsconfig.build.json. */
function distIsFresh(): boolean {
  const configMtime = statSync(path.join(ROOT, 'tsconfig.build.json')).mtimeMs;
  return sourceFiles(path.join(ROOT, 'src')).every((ts) => {
    const js = path.join(ROOT, 'dist', path.relative(ROOT, ts)).replace(/\.ts$/, '.js');
    if (!existsSync(js)) return false;
    const built = statSync(js).mtimeMs;
    return built >= statSync(ts).mtimeMs && built >= configMtime;
  });
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Compile src/ to dist/ (tsconfig.build.json) unless dist/ is already newer than every source file. Jest runs test
 * files in parallel workers, so a lock directory makes one worker build while the others wait for it.
 */
export function ensureBuilt(): void {
  if (distIsFresh()) return;
  const lock = path.join(ROOT, 'dist', '.test-build-lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock older than two minutes belongs to a worker that died mid-build.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true });
      } catch { /* gone meanwhile */ }
      if (Date.now() > deadline) throw new Error(`timed out waiting for another build (lock ${lock})`);
      sleepSync(200);
    }
  }
  try {
    if (distIsFresh()) return; // another worker built it while we waited
    const tsc = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
    try {
      execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe', timeout: 170_000 });
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer; message: string };
      throw new Error(`npm run build (tsc -p tsconfig.build.json) failed:\n${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? err.message}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1 (startServer retries if another process takes it meanwhile). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects on a non-zero exit. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<ExitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** `node dist/src/cli.js ...args` with a clean environment plus `env`. */
export function cli(args: string[], env: EnvOverrides): Promise<ExitResult> {
  return run(process.execPath, [CLI_JS, ...args], { env: cleanEnv(env), timeoutMs: 30_000 });
}

/** `node dist/src/cli.js token create ...`; returns the token printed on stdout, or throws with the CLI's stderr. */
export async function mintWithCli(env: EnvOverrides, tenant: string, extra: string[] = []): Promise<string> {
  const r = await cli(['token', 'create', '--tenant', tenant, ...extra], env);
  if (r.code !== 0) throw new Error(`token create exited ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited (immediately if it already has). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (SIGKILL after a grace period); resolves with the exit status. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function waitForHealth(url: string, exited: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let gone = false;
  void exited.then(() => { gone = true; });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone) {
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return true;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function spawnOnce(env: EnvOverrides, port: number): ServerProcess {
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: ROOT, env: cleanEnv({ HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...env, PORT: String(port) }), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const status = await exited;
      clearTimeout(timer);
      return status;
    }
    return exited;
  };
  const url = `http://127.0.0.1:${port}`;
  return { url, port, child, stdout: () => out, stderr: () => err, exited, stop };
}

/**
 * Starts `node dist/src/main.js` on a free port and waits until /healthz answers 200. `env` is added to a clean
 * environment (HOST=127.0.0.1, LOG_LEVEL=warn unless given). Rejects with the server's output if it exits first.
 */
export async function startServer(env: EnvOverrides, opts: { timeoutMs?: number } = {}): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const server = spawnOnce(env, await freePort());
    if (await waitForHealth(server.url, server.exited, opts.timeoutMs ?? 20_000)) return server;
    await server.stop();
    const output = `${server.stdout()}${server.stderr()}`;
    if (/EADDRINUSE/.test(output) && attempt < 3) continue; // the free port was taken meanwhile: try another
    throw new Error(`gateway did not become healthy on ${server.url} (exit ${server.child.exitCode ?? server.child.signalCode}):\n${output}`);
  }
}

/** fetch with a bearer token; JSON in and out. */
export async function http(
  method: string, url: string, token?: string, body?: unknown,
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/scim+json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed: any;
  try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = undefined; }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** The payload of a JWT, decoded without verification. */
export function jwtPayload(token: string): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${token}`);
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

/** Runs a query on a server's SQLite file from outside the server (a second connection, WAL). */
export function querySqlite<T>(dir: string, sql: string, ...params: unknown[]): T[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(path.join(dir, 'db.sqlite'), { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Polls until `check` holds, or throws naming what it waited for. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Runs `jobs` with at most `n` at a time. */
export async function pool<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  }));
  return out;
}

/** The database of a gateway child process under test, on the backend of this test pass. */
export interface ChildDatabase {
  /** DATABASE_URL for the child. */
  url: string;
  /** A read from outside the gateway (plain SQL both engines take, no parameters). */
  query<T>(sql: string): Promise<T[]>;
  /** Drops a PostgreSQL database (a SQLite file goes with its directory). */
  drop(): Promise<void>;
}

/** A SQLite file in `dir`, or with TEST_DATABASE=postgres a fresh PostgreSQL database. */
export async function childDatabase(dir: string): Promise<ChildDatabase> {
  const pg = await import('./postgres');
  if (!pg.onPostgres) {
    return { url: `sqlite:${path.join(dir, 'db.sqlite')}`, query: async <T>(sql: string) => querySqlite<T>(dir, sql), drop: async () => undefined };
  }
  const name = await pg.createTestDatabase();
  const url = pg.testDatabaseUrl(name);
  const { Client } = await import('pg');
  return {
    url,
    query: async <T>(sql: string) => {
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        return (await c.query(sql)).rows as T[];
      } finally {
        await c.end();
      }
    },
    drop: () => pg.dropTestDatabase(name),
  };
}
