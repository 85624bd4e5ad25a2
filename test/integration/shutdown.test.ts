// Graceful shutdown of the real gateway process: SIGTERM stops new connections, lets an in-flight request finish
// and answers it, releases claims of deliveries still running, and exits within SHUTDOWN_TIMEOUT_MS.
// The gateways run on the backend of the test pass (childDatabase).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { childDatabase, ensureBuilt, mintWithCli, startServer, waitFor, type ChildDatabase, type ServerProcess } from '../helpers/process';

jest.setTimeout(60_000);

const JWT_SECRET = 'shutdown-secret-shutdown-secret-0123456789';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let dir: string;
let db: ChildDatabase;

beforeAll(() => ensureBuilt());
beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'shutdown-'));
  db = await childDatabase(dir);
});
afterEach(async () => {
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}) {
  return { DATABASE_URL: db.url, JWT_SECRET, RATE_LIMIT_PER_SECOND: '0', ...extra };
}

/** Starts a POST whose body arrives in two parts; returns a function that sends the rest and reads the answer. */
function slowPost(server: ServerProcess, token: string, body: string): { finish: () => Promise<{ status: number; text: string }> } {
  const half = Math.floor(body.length / 2);
  const req = request(`${server.url}/api/scim/v2/Users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', 'content-length': Buffer.byteLength(body) },
  });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
  answer.catch(() => undefined); // a request cut at the deadline fails; only finish() callers look
  req.write(body.slice(0, half));
  return { finish: () => { req.end(body.slice(half)); return answer; } };
}

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

test('SIGTERM: no new connections, the in-flight request completes with its answer, exit 0 well before the deadline', async () => {
  const server = await startServer(env({ SHUTDOWN_TIMEOUT_MS: '10000' }));
  const token = await mintWithCli(env(), 'drain');
  const inflight = slowPost(server, token, JSON.stringify({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'drained@example.com',
  }));
  await sleep(300);
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  await waitFor('the listener to close', () => refused(server.url), 5000);
  const answer = await inflight.finish();
  expect(answer.status).toBe(201);
  expect(JSON.parse(answer.text).userName).toBe('drained@example.com');
  const status = await server.exited;
  expect(status.code).toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
  // What it answered is in the database.
  expect(Number((await db.query<{ n: number }>("SELECT count(*) AS n FROM users WHERE user_name = 'drained@example.com'"))[0].n)).toBe(1);
});

test('a request that never finishes does not hold the process past SHUTDOWN_TIMEOUT_MS', async () => {
  const server = await startServer(env({ SHUTDOWN_TIMEOUT_MS: '1500' }));
  const token = await mintWithCli(env(), 'stuck');
  const stuck = slowPost(server, token, JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'never@example.com' }));
  void stuck; // its second half is never sent
  await sleep(300);
  const t0 = Date.now();
  server.child.kill('SIGTERM');
  const status = await server.exited;
  const took = Date.now() - t0;
  expect(took).toBeLessThan(1500 + 1500);
  expect(status.code).toBe(1); // not everything finished in time
  expect(Number((await db.query<{ n: number }>("SELECT count(*) AS n FROM users WHERE user_name = 'never@example.com'"))[0].n)).toBe(0);
});

describe('a delivery in flight at shutdown', () => {
  let receiver: Server;
  let hits = 0;
  beforeAll(async () => {
    // A receiver that takes the request and never answers.
    receiver = createServer(() => { hits++; });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(() => { receiver.closeAllConnections(); receiver.close(); });

  test('has its claim released before exit, so the next start retries it at once', async () => {
    const targets = path.join(dir, 'targets.json');
    writeFileSync(targets, JSON.stringify({ targets: [{
      name: 'slow', kind: 'webhook', tenant: 'slowhook', timeoutMs: 120_000,
      baseUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`, credential: 'whsec-shutdown-0123456789abcdef',
    }] }));
    const e = env({ TARGETS_FILE: targets, SHUTDOWN_TIMEOUT_MS: '2000', WORKER_COALESCE_MS: '0', WORKER_LEASE_MS: '600000' });
    const server = await startServer(e);
    const token = await mintWithCli(env(), 'slowhook');
    const res = await fetch(`${server.url}/api/scim/v2/Users`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'hook@example.com' }),
    });
    expect(res.status).toBe(201);
    await waitFor('the delivery to be in flight', () => hits > 0, 10_000);
    expect((await db.query<{ state: string }>("SELECT state FROM deliveries WHERE target = 'slow'")).map((r) => r.state)).toEqual(['in_flight']);
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    await server.exited;
    expect(Date.now() - t0).toBeLessThan(2000 + 1500);
    const rows = await db.query<{ state: string; lease_until: number | null }>("SELECT state, lease_until FROM deliveries WHERE target = 'slow'");
    expect(rows).toHaveLength(1);
    expect(rows[0].state).toBe('pending');
  });
});
