// Two gateway replicas (real processes, `node dist/src/main.js`) on one PostgreSQL database, with the same
// TARGETS_FILE and an in-process delivery worker each:
// - concurrent member adds to one group, split across both replicas → none lost;
// - while both live, every outbox event reaches the webhook receiver exactly once, and the first deliveries of the
//   group's events arrive in commit order;
// - `kill -9` of the replica holding leases mid-delivery → the survivor delivers those events once the lease
//   expires; nothing is lost (duplicates are allowed only for what was in flight at the kill).
// Skipped when no PostgreSQL answers at TEST_PG_URL.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../fixtures/emulators/webhook-receiver';
import { createTestDatabase, dropTestDatabase, postgresReachableSync, postgresTest, testDatabaseUrl } from '../helpers/postgres';
import { ensureBuilt, http, mintWithCli, startServer, waitFor, type ServerProcess, pool } from '../helpers/process';

const JWT_SECRET = 'replicas-test-secret-0123456789-abcdefghijklmnop';
const HOOK_SECRET = 'whsec-replicas-0123456789abcdef';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LEASE_MS = 3000;

jest.setTimeout(150_000);

const reachable = postgresReachableSync();
let dbName: string | undefined;
let db: Client | undefined;
let hook: WebhookReceiverEmulator | undefined;
let dir: string | undefined;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  if (!reachable) return;
  ensureBuilt();
  dbName = await createTestDatabase();
}, 180_000);

afterAll(async () => {
  for (const s of servers) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGCONT');
      s.child.kill('SIGKILL');
    }
  }
  await Promise.all(servers.map((s) => s.exited));
  await db?.end().catch(() => undefined);
  await hook?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (dbName) await dropTestDatabase(dbName);
});

async function rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db!.query(sql, params)).rows as T[];
}

const receivedId = (e: { body: unknown }) => (e.body as { id: string }).id;
const seqOf = (id: string) => Number(id.split(':')[1]);

postgresTest('two replicas on one database: no lost update, exactly-once delivery while both live, takeover after kill -9', async () => {
  db = new Client({ connectionString: testDatabaseUrl(dbName!) });
  await db.connect();
  hook = await startWebhookReceiverEmulator({ credential: HOOK_SECRET });
  dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-replicas-'));
  const targets = path.join(dir, 'targets.json');
  writeFileSync(targets, JSON.stringify({
    targets: [{ name: 'hook', kind: 'webhook', baseUrl: `${hook.url}/events`, credential: '${REPLICA_HOOK_SECRET}' }],
  }));
  const env = {
    DATABASE_URL: testDatabaseUrl(dbName!), JWT_SECRET, TARGETS_FILE: targets, REPLICA_HOOK_SECRET: HOOK_SECRET,
    WORKER_LEASE_MS: String(LEASE_MS), WORKER_COALESCE_MS: '0', RETRY_SCHEDULE: '200ms,500ms,1s,1s,1s,1s,1s,1s',
  };
  // Both start together on an empty database: the migration lock lets one apply, the other wait.
  const [a, b] = await Promise.all([startServer(env), startServer(env)]);
  servers.push(a, b);
  const replicas = [a, b];
  for (const r of replicas) expect((await http('GET', `${r.url}/readyz`)).body).toEqual({ status: 'ready' });
  // A token minted against one replica's configuration works on both: they share JWT_SECRET.
  const token = await mintWithCli(env, 'default');
  const api = (i: number) => `${replicas[i % 2].url}/api/scim/v2`;

  // ---- phase 1: concurrent writes through both replicas ------------------------------------------------------
  const users = await pool(10, Array.from({ length: 100 }, (_, i) => async () => {
    const r = await http('POST', `${api(i)}/Users`, token, { schemas: [USER_SCHEMA], userName: `replica-${i}@example.com` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));
  const created = await http('POST', `${api(0)}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: 'Replicated' });
  expect(created.status).toBe(201);
  const groupId = created.body.id as string;
  const statuses = await pool(20, users.map((u, i) => async () => (await http('PATCH', `${api(i)}/Groups/${groupId}`, token, {
    schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: u }] }],
  })).status));
  expect(statuses.every((s) => s === 204)).toBe(true);
  for (const i of [0, 1]) {
    const g = await http('GET', `${api(i)}/Groups/${groupId}`, token);
    expect(g.status).toBe(200);
    expect((g.body.members as { value: string }[]).map((m) => m.value).sort()).toEqual([...users].sort());
    expect(g.body.meta.version).toBe('W/"101"');
  }

  const outbox1 = await rows<{ seq: number; aggregate: string }>('SELECT seq::float8 AS seq, aggregate FROM outbox ORDER BY seq');
  expect(outbox1).toHaveLength(201); // 100 user.created, group.created, 100 group.members_added
  const expected1 = outbox1.map((r) => `default:${r.seq}`);
  const receivedIds = () => hook!.events.map(receivedId);
  await waitFor('every phase-1 event at the receiver', () => {
    const got = new Set(receivedIds());
    return expected1.every((id) => got.has(id));
  }, 60_000);
  await waitFor('no open delivery', async () =>
    (await rows("SELECT 1 FROM deliveries WHERE state IN ('pending', 'in_flight')")).length === 0, 15_000);
  // Exactly once: no duplicates, nothing extra.
  expect([...receivedIds()].sort()).toEqual([...expected1].sort());
  // The group's first deliveries in commit order (its writes are serialised by the row lock, so seq order is commit order).
  const groupSeqs = outbox1.filter((r) => r.aggregate === `group:${groupId}`).map((r) => r.seq);
  expect(groupSeqs).toHaveLength(101);
  const groupReceived = receivedIds().map(seqOf).filter((s) => groupSeqs.includes(s));
  expect(groupReceived).toEqual(groupSeqs);
  expect((await rows('SELECT state, count(*)::int AS n FROM deliveries GROUP BY state'))).toEqual([{ state: 'done', n: 201 }]);

  // ---- phase 2: kill -9 the replica holding the leases, mid-delivery ------------------------------------------
  // Freeze A (SIGSTOP) so that B claims every new event: the leases at the kill are certainly B's. A is frozen
  // only outside a transaction (no idle-in-transaction session of this database), so it blocks nobody.
  for (let tries = 0; ; tries++) {
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 30));
    const open = await rows(`SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'`, [dbName]);
    if (open.length === 0) break;
    a.child.kill('SIGCONT');
    if (tries > 50) throw new Error('replica A never settled outside a transaction');
    await new Promise((r) => setTimeout(r, 20));
  }
  const before = hook.events.length;
  hook.delayNext(1000, 1500); // a slow receiver: every call now takes 1.5 s
  const bApi = `${b.url}/api/scim/v2`;
  const newUsers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await http('POST', `${bApi}/Users`, token, { schemas: [USER_SCHEMA], userName: `late-${i}@example.com` });
    expect(r.status).toBe(201);
    newUsers.push(r.body.id);
  }
  for (let i = 0; i < 3; i++) {
    expect((await http('POST', `${bApi}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: `Late ${i}` })).status).toBe(201);
  }
  expect((await http('PATCH', `${bApi}/Groups/${groupId}`, token, {
    schemas: [PATCH_SCHEMA], Operations: [{ op: 'remove', path: `members[value eq "${users[0]}"]` }, { op: 'add', path: 'members', value: newUsers.map((value) => ({ value })) }],
  })).status).toBe(204);
  const outbox2 = (await rows<{ seq: number; aggregate: string }>('SELECT seq::float8 AS seq, aggregate FROM outbox WHERE seq > $1 ORDER BY seq', [outbox1[outbox1.length - 1].seq]));
  expect(outbox2.length).toBeGreaterThanOrEqual(8);
  // B claims what it committed at once (8 aggregates, its concurrency): wait until all are in flight and the
  // receiver is holding B's calls.
  await waitFor('B delivering every new event', async () =>
    (await rows("SELECT 1 FROM deliveries WHERE state = 'in_flight'")).length === outbox2.length &&
    hook!.requests.length > before, 10_000);
  b.child.kill('SIGKILL');
  expect((await b.exited).signal).toBe('SIGKILL');
  const killedAt = Date.now();
  // What B left leased (read after its death, so no renewal can follow): A is still frozen, so all of it is B's.
  const leased = await rows<{ seq: number; lease_until: number }>(
    "SELECT seq::float8 AS seq, lease_until::float8 AS lease_until FROM deliveries WHERE state = 'in_flight' ORDER BY seq");
  expect(leased.length).toBeGreaterThan(0);
  expect(Math.min(...leased.map((l) => l.lease_until))).toBeGreaterThan(killedAt);
  expect(hook.events.length - before).toBeLessThan(outbox2.length); // mid-delivery: not everything arrived
  a.child.kill('SIGCONT');

  const expected2 = outbox2.map((r) => `default:${r.seq}`);
  await waitFor('every phase-2 event at the receiver, from the survivor', () => {
    const got = new Set(receivedIds());
    return expected2.every((id) => got.has(id));
  }, 60_000);
  await waitFor('no open delivery after the takeover', async () =>
    (await rows("SELECT 1 FROM deliveries WHERE state IN ('pending', 'in_flight')")).length === 0, 30_000);
  expect((await rows('SELECT state, count(*)::int AS n FROM deliveries GROUP BY state'))).toEqual([{ state: 'done', n: 201 + outbox2.length }]);

  // Nothing lost, nothing invented; duplicates only for events in flight at the kill.
  const all = receivedIds();
  expect([...new Set(all)].sort()).toEqual([...expected1, ...expected2].sort());
  const leasedIds = new Set(leased.map((l) => `default:${l.seq}`));
  const counts = new Map<string, number>();
  for (const id of all) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, n] of counts) if (n > 1) expect(leasedIds.has(id)).toBe(true);
  // The survivor took B's leased events over only once the lease had run out: B never settled them, so each is
  // delivered again (from its batch's start), and that delivery is received no earlier than its lease's end.
  for (const l of leased) {
    const times = hook.events.filter((e) => receivedId(e) === `default:${l.seq}`).map((e) => e.receivedAt);
    expect(times.some((t) => t >= l.lease_until)).toBe(true);
  }
  // Per group, first deliveries still in commit order.
  const groupSeqs2 = [...groupSeqs, ...outbox2.filter((r) => r.aggregate === `group:${groupId}`).map((r) => r.seq)];
  const firsts: number[] = [];
  for (const s of all.map(seqOf)) if (groupSeqs2.includes(s) && !firsts.includes(s)) firsts.push(s);
  expect(firsts).toEqual(groupSeqs2);

  // The survivor still serves, with the group as last written.
  const g = await http('GET', `${a.url}/api/scim/v2/Groups/${groupId}`, token);
  expect(g.status).toBe(200);
  expect((g.body.members as { value: string }[]).map((m) => m.value).sort()).toEqual([...users.slice(1), ...newUsers].sort());
  expect((await http('GET', `${a.url}/readyz`)).status).toBe(200);
  expect(await a.stop()).toEqual({ code: 0, signal: null });
});
