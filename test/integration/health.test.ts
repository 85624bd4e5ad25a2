// /healthz is liveness (the process serves HTTP; the database is not consulted), /readyz is readiness (the database
// answers, migrations are applied, the in-process delivery worker is alive). Neither needs a token nor says why.
import request from 'supertest';
import { createLogger } from '../../src/log';
import { buildApp } from '../../src/server';
import type { PostgresStore } from '../../src/store/postgres';
import type { Store } from '../../src/store/types';
import { startGateway, type TestGateway } from '../helpers/gateway';

let gw: TestGateway;
const log = createLogger('silent');

beforeAll(async () => {
  gw = await startGateway({
    targets: { targets: [{ name: 'hook', kind: 'webhook', baseUrl: 'http://127.0.0.1:1/never', credential: 'whsec-health-0123456789' }] },
  });
});
afterAll(async () => {
  await gw.close();
});

/** Runs SQL on the gateway's database, whichever backend it is. */
async function exec(sql: string, ...params: unknown[]): Promise<void> {
  const store = gw.store as unknown as Store;
  if (store.kind === 'postgres') {
    await (store as unknown as PostgresStore).pool.query(sql.replace(/\?/g, (_m, i: number) => `$${sql.slice(0, i).split('?').length}`), params);
  } else {
    const { db } = gw.store;
    db.prepare(sql).run(...params);
  }
}

function app(store: Store, workerAlive?: () => boolean) {
  return buildApp({ store, verifier: { verify: async () => { throw new Error('unused'); } } as never, log, maxBodyBytes: 1024 * 1024, maxResults: 100, workerAlive });
}

test('GET /readyz → 200 {"status":"ready"} without auth when the database answers and the schema is current', async () => {
  const res = await fetch(`${gw.url}/readyz`);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await res.json()).toEqual({ status: 'ready' });
  expect(await (gw.store as unknown as Store).pendingMigrations()).toEqual([]);
});

test('/readyz → 503 {"status":"unavailable"} while a migration is not applied, 200 again once it is', async () => {
  const row = { version: '002_egress', at: new Date().toISOString() };
  await exec('DELETE FROM schema_migrations WHERE version = ?', row.version);
  try {
    expect(await (gw.store as unknown as Store).pendingMigrations()).toEqual(['002_egress']);
    const res = await fetch(`${gw.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable' });
    // Liveness is unaffected.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  } finally {
    await exec('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', row.version, row.at);
  }
  expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
});

test('/readyz follows the in-process delivery worker; /healthz does not', async () => {
  const store = gw.store as unknown as Store;
  let alive = true;
  const a = app(store, () => alive);
  expect((await request(a).get('/readyz')).status).toBe(200);
  alive = false;
  const res = await request(a).get('/readyz');
  expect(res.status).toBe(503);
  expect(res.body).toEqual({ status: 'unavailable' });
  expect((await request(a).get('/healthz')).status).toBe(200);
});

test('DeliveryWorker.isAlive: false before start and after stop, true while its loop runs, false when passes stall', async () => {
  const worker = gw.worker!;
  expect(worker.isAlive()).toBe(false);
  worker.start();
  try {
    expect(worker.isAlive()).toBe(true);
    // Passes end every poll interval (50 ms here): still alive a moment later.
    await new Promise((r) => setTimeout(r, 200));
    expect(worker.isAlive()).toBe(true);
    // A loop whose last pass ended long ago (hung on the database, say) is not.
    expect(worker.isAlive(Date.now() + 60_000)).toBe(false);
  } finally {
    await worker.stop(1000);
  }
  expect(worker.isAlive()).toBe(false);
});

test('/healthz answers 200 without touching the database; /readyz answers 503 when the database fails', async () => {
  const broken = {
    kind: 'sqlite',
    ping: async () => { throw new Error('database is locked (secret detail)'); },
    pendingMigrations: async () => [],
  } as unknown as Store;
  const a = app(broken);
  const live = await request(a).get('/healthz');
  expect(live.status).toBe(200);
  expect(live.body).toEqual({ status: 'ok' });
  const ready = await request(a).get('/readyz');
  expect(ready.status).toBe(503);
  expect(ready.body).toEqual({ status: 'unavailable' });
  expect(ready.text).not.toContain('secret');
});

test('/readyz answers 503 when the database does not answer in time', async () => {
  const hanging = {
    kind: 'postgres',
    ping: () => new Promise(() => undefined),
    pendingMigrations: async () => [],
  } as unknown as Store;
  const a = buildApp({ store: hanging, verifier: {} as never, log, maxBodyBytes: 1024, maxResults: 1, readyTimeoutMs: 100 });
  const started = Date.now();
  const res = await request(a).get('/readyz');
  expect(res.status).toBe(503);
  expect(Date.now() - started).toBeLessThan(2000);
});
