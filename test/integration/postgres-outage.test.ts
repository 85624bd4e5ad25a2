// PostgreSQL going away and coming back, with the built gateway as a real process: it reaches the database through a
// TCP proxy started here, which the test cuts (open connections destroyed, new ones refused) and restores. While cut,
// SCIM requests answer 503 SCIM errors with Retry-After, /readyz answers 503 and /healthz stays 200; once restored the
// gateway recovers by itself (no restart): requests succeed, /readyz is 200 again and the delivery worker delivers.
// Skipped when no PostgreSQL answers at TEST_PG_URL.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../fixtures/emulators/webhook-receiver';
import { adminUrl, createTestDatabase, dropTestDatabase, postgresReachableSync, postgresTest } from '../helpers/postgres';
import { ensureBuilt, http, mintWithCli, startServer, waitFor, type ServerProcess } from '../helpers/process';

const JWT_SECRET = 'pg-outage-test-secret-0123456789-abcdefghijklmn';
const HOOK_SECRET = 'whsec-outage-0123456789abcdef';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

jest.setTimeout(90_000);

/** A cuttable TCP proxy in front of PostgreSQL. */
class TcpProxy {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly upstreamHost: string, private readonly upstreamPort: number) {}

  async start(port = 0): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.upstreamPort, this.upstreamHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Stop accepting and destroy every open connection: the gateway sees resets, then refusals. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listen again on the same port. */
  async restore(): Promise<void> {
    await this.start(this.port);
  }
}

const reachable = postgresReachableSync();
let dbName: string | undefined;
let proxy: TcpProxy | undefined;
let server: ServerProcess | undefined;
let hook: WebhookReceiverEmulator | undefined;
let dir: string | undefined;

beforeAll(async () => {
  if (!reachable) return;
  ensureBuilt();
  dbName = await createTestDatabase();
}, 180_000);

afterAll(async () => {
  if (process.env.OUTAGE_DEBUG && server) process.stderr.write(`${server.stdout()}${server.stderr()}\n`);
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  if (server) await server.exited;
  await proxy?.cut();
  await hook?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (dbName) await dropTestDatabase(dbName);
});

postgresTest('database cut: 503 SCIM errors with Retry-After and /readyz 503; restored: the gateway recovers by itself', async () => {
  const upstream = new URL(adminUrl);
  proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 5432));
  await proxy.start();
  const viaProxy = new URL(adminUrl);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  viaProxy.pathname = `/${dbName}`;
  viaProxy.searchParams.set('connect_timeout', '2');

  hook = await startWebhookReceiverEmulator({ credential: HOOK_SECRET });
  dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-outage-'));
  const targets = path.join(dir, 'targets.json');
  writeFileSync(targets, JSON.stringify({
    targets: [{ name: 'hook', kind: 'webhook', baseUrl: `${hook.url}/events`, credential: '${OUTAGE_HOOK_SECRET}' }],
  }));
  const env = {
    DATABASE_URL: viaProxy.toString(), JWT_SECRET, TARGETS_FILE: targets, OUTAGE_HOOK_SECRET: HOOK_SECRET,
    WORKER_COALESCE_MS: '0', RETRY_SCHEDULE: '200ms,500ms,1s,1s,1s,1s,1s,1s',
  };
  server = await startServer(env);
  const token = await mintWithCli(env, 'default');
  const api = `${server.url}/api/scim/v2`;

  const before = await http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName: 'before@example.com' });
  expect(before.status).toBe(201);
  expect((await http('GET', `${server.url}/readyz`)).body).toEqual({ status: 'ready' });
  await waitFor('the first user delivered', () => hook!.events.length >= 1);

  // Cut in the middle of a burst of writes, so connections die inside transactions (between statements, too): each
  // request is answered 201 or 503, and the process survives.
  const burst = Array.from({ length: 40 }, (_, i) =>
    http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName: `burst-${i}@example.com` }));
  await new Promise((r) => setTimeout(r, 15));
  await proxy.cut();
  const burstStatuses = (await Promise.all(burst)).map((r) => r.status);
  expect(burstStatuses.every((st) => st === 201 || st === 503)).toBe(true);

  // Reads, writes, and every mount: 503 SCIM errors that tell the client to come back, never 500 or 401.
  const during = [
    await http('GET', `${api}/Users/${before.body.id}`, token),
    await http('GET', `${api}/Users?filter=${encodeURIComponent('userName eq "before@example.com"')}`, token),
    await http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName: 'during@example.com' }),
    await http('GET', `${server.url}/sso/scim/v2/Groups`, token),
  ];
  for (const r of during) {
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(r.headers.get('content-type')).toMatch(/application\/scim\+json/);
    expect(r.body).toEqual({ schemas: [ERROR_SCHEMA], status: '503', detail: expect.any(String) });
    expect(r.text).not.toMatch(/ECONN|127\.0\.0\.1|postgres/i);
  }
  const notReady = await http('GET', `${server.url}/readyz`);
  expect(notReady.status).toBe(503);
  expect(notReady.body).toEqual({ status: 'unavailable' });
  expect((await http('GET', `${server.url}/healthz`)).status).toBe(200);
  // Still the same process: an outage is not a crash.
  expect(server.child.exitCode).toBeNull();

  await proxy.restore();

  await waitFor('/readyz 200 after the database returned', async () =>
    (await http('GET', `${server!.url}/readyz`).catch(() => ({ status: 0 }))).status === 200, 30_000);
  expect((await http('GET', `${api}/Users/${before.body.id}`, token)).status).toBe(200);
  const after = await http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName: 'after@example.com' });
  expect(after.status).toBe(201);
  // The write refused during the outage did not happen.
  const listed = await http('GET', `${api}/Users?filter=${encodeURIComponent('userName eq "during@example.com"')}`, token);
  expect(listed.body.totalResults).toBe(0);
  // The delivery worker came through the outage too.
  await waitFor('the user created after the outage delivered', () =>
    hook!.events.some((e) => (e.body as { data?: { user?: { id?: string } } }).data?.user?.id === after.body.id), 30_000);

  expect(await server.stop()).toEqual({ code: 0, signal: null });
});
