// PostgreSQL for tests: TEST_DATABASE=postgres runs the integration tests against fresh databases on the server at
// TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres, trust auth).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { PostgresStore } from '../../src/store/postgres';

export const onPostgres = process.env.TEST_DATABASE === 'postgres';

/** For tests that reach into the SQLite handle (gw.store.db): skipped when the gateway runs on PostgreSQL. */
export const sqliteOnly: typeof test = onPostgres ? test.skip : test;

export const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function testDatabaseUrl(database: string, params = ''): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString() + params;
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Creates an empty database with a random name and returns the name. */
export async function createTestDatabase(): Promise<string> {
  const name = `scimbridge_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return name;
}

export async function dropTestDatabase(name: string): Promise<void> {
  if (!/^scimbridge_test_[0-9a-f]+$/.test(name)) throw new Error(`refusing to drop ${name}`);
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

let reachableNow: boolean | undefined;

/** Whether the PostgreSQL server answers, asked once per test file and synchronously, so tests can be declared skipped. */
export function postgresReachableSync(): boolean {
  if (reachableNow === undefined) {
    const probe = `const { Client } = require('pg');
      const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
      c.connect().then(() => c.query('SELECT 1')).then(() => process.exit(0), () => process.exit(1));`;
    reachableNow = spawnSync(process.execPath, ['-e', probe, adminUrl], { cwd: path.join(__dirname, '../..'), timeout: 10_000 }).status === 0;
  }
  return reachableNow;
}

/**
 * A test that needs the PostgreSQL server. Without one it is jest's visible skip, except under CI=true, where this
 * machine kind always runs PostgreSQL: there its absence fails the test instead of passing unnoticed.
 */
export function postgresTest(name: string, fn: () => Promise<void>, timeout?: number): void {
  if (postgresReachableSync()) {
    test(name, fn, timeout);
  } else if (process.env.CI === 'true') {
    test(name, () => {
      throw new Error(`PostgreSQL is required under CI=true and no server answers at ${new URL(adminUrl).host} (TEST_PG_URL)`);
    });
  } else {
    test.skip(`${name} [skipped: no PostgreSQL at ${new URL(adminUrl).host}; set TEST_PG_URL]`, fn);
  }
}

/**
 * One database for a test file and the PostgresStores its tests open on it (closed, and the database dropped, after
 * the file). `store(params)` opens another store (another replica) with URL parameters such as `?max=2`.
 */
export function postgresStoresPerFile(): { store: (params?: string) => PostgresStore; dbName: () => string } {
  const reachable = postgresReachableSync();
  let name = '';
  const stores: PostgresStore[] = [];
  beforeAll(async () => {
    if (reachable) name = await createTestDatabase();
  });
  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => undefined);
    if (reachable) await dropTestDatabase(name);
  });
  return {
    store: (params = '') => {
      const s = new PostgresStore({ kind: 'postgres', url: testDatabaseUrl(name, params) });
      stores.push(s);
      return s;
    },
    dbName: () => name,
  };
}
