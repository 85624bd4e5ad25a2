// Crash safety with real processes: `kill -9` of the gateway while deliveries are in flight, then a restart on the
// same database and TARGETS_FILE → every outbox event reaches the receiver at least once, first deliveries of each
// group in commit order, no delivery left open. And `kill -9` in the middle of a burst of writes → every
// acknowledged write survives with its outbox events, and no membership exists without its event (or vice versa).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../../fixtures/emulators/webhook-receiver';
import { ensureBuilt, http, mintWithCli, startServer, type ServerProcess, querySqlite, waitFor, pool } from '../../helpers/process';

const JWT_SECRET = 'egress-crash-test-secret-0123456789-abcdefghijklm';
const HOOK_SECRET = 'whsec-crash-test-0123456789abcdef';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
/** Short enough that a restart re-claims the killed process's batches soon, longer than any batch takes here. */
const LEASE_MS = 8000;

const dirs: string[] = [];
const servers: ServerProcess[] = [];
const receivers: WebhookReceiverEmulator[] = [];

jest.setTimeout(120_000);

beforeAll(() => { ensureBuilt(); }, 180_000);

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.exited));
  await Promise.all(receivers.map((r) => r.close()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-crash-'));
  dirs.push(dir);
  return dir;
}



async function serve(env: Record<string, string>): Promise<ServerProcess> {
  const s = await startServer(env);
  servers.push(s);
  return s;
}

async function kill9(s: ServerProcess): Promise<void> {
  s.child.kill('SIGKILL');
  const status = await s.exited;
  expect(status.signal).toBe('SIGKILL');
}

test('kill -9 with deliveries in flight, restart: everything delivered at least once, per-group order kept, nothing left open', async () => {
  const dir = tempDir();
  const hook = await startWebhookReceiverEmulator({ credential: HOOK_SECRET });
  receivers.push(hook);
  hook.delayNext(5000, 200); // a slow receiver: every call takes ~200 ms, before and after the crash
  const targets = path.join(dir, 'targets.json');
  writeFileSync(targets, JSON.stringify({
    targets: [{ name: 'hook', kind: 'webhook', baseUrl: `${hook.url}/events`, credential: '${CRASH_TEST_HOOK_SECRET}' }],
  }));
  const env = {
    DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, JWT_SECRET, TARGETS_FILE: targets,
    CRASH_TEST_HOOK_SECRET: HOOK_SECRET, WORKER_LEASE_MS: String(LEASE_MS), RETRY_SCHEDULE: '200ms,500ms,1s,1s,1s,1s',
  };
  let server = await serve(env);
  const token = await mintWithCli(env, 'default');
  const api = () => `${server.url}/api/scim/v2`;

  // 200 changes: 40 users, 8 groups, 152 member PATCHes (each adds a different user to a group: no no-ops).
  const users = await pool(10, Array.from({ length: 40 }, (_, i) => async () => {
    const r = await http('POST', `${api()}/Users`, token, { schemas: [USER_SCHEMA], userName: `crash-${i}@example.com` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));
  const groups = await pool(8, Array.from({ length: 8 }, (_, i) => async () => {
    const r = await http('POST', `${api()}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: `Crash ${i}` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));
  await pool(16, Array.from({ length: 152 }, (_, k) => async () => {
    const r = await http('PATCH', `${api()}/Groups/${groups[k % 8]}`, token, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: users[Math.floor(k / 8)] }] }],
    });
    expect(r.status).toBe(204);
  }));
  const outbox = querySqlite<{ seq: number; aggregate: string }>(dir, 'SELECT seq, aggregate FROM outbox ORDER BY seq');
  expect(outbox).toHaveLength(200);

  // Users' single events go first; by 80 received, the groups' 20-event batches are part way through, so the kill
  // leaves batches that were partly delivered (they are sent again from their start after the restart).
  await waitFor('deliveries in flight and some delivered', () =>
    hook.events.length >= 80 && querySqlite(dir, "SELECT 1 FROM deliveries WHERE state = 'in_flight'").length > 0, 30_000);
  await kill9(server);
  const deliveredBeforeCrash = hook.events.length;
  expect(deliveredBeforeCrash).toBeLessThan(200);
  expect(querySqlite(dir, "SELECT 1 FROM deliveries WHERE state IN ('pending', 'in_flight')").length).toBeGreaterThan(0);

  server = await serve(env);
  const expected = outbox.map((r) => `default:${r.seq}`);
  const received = () => new Set(hook.events.map((e) => (e.body as { id: string }).id));
  await waitFor('every outbox event at the receiver', () => expected.every((id) => received().has(id)), 90_000);
  await waitFor('no open delivery', () =>
    querySqlite(dir, "SELECT 1 FROM deliveries WHERE state IN ('pending', 'in_flight')").length === 0, 30_000);

  // At least once, and nothing that is not in the outbox.
  expect([...received()].sort()).toEqual([...expected].sort());
  // Every delivery row done, one per event.
  expect(querySqlite<{ state: string; n: number }>(dir, 'SELECT state, count(*) AS n FROM deliveries GROUP BY state')).toEqual([{ state: 'done', n: 200 }]);
  // Per group, first deliveries in commit order.
  const aggregateOf = new Map(outbox.map((r) => [`default:${r.seq}`, r.aggregate]));
  for (const g of groups) {
    const firsts: number[] = [];
    for (const e of hook.events) {
      const id = (e.body as { id: string }).id;
      const seq = Number(id.split(':')[1]);
      if (aggregateOf.get(id) === `group:${g}` && !firsts.includes(seq)) firsts.push(seq);
    }
    const committed = outbox.filter((r) => r.aggregate === `group:${g}`).map((r) => r.seq);
    expect(committed).toHaveLength(20);
    expect(firsts).toEqual(committed);
  }
  // The restarted server did the rest: it received what the first one had not delivered.
  expect(hook.events.length).toBeGreaterThan(deliveredBeforeCrash);

  const stopped = await server.stop();
  expect(stopped).toEqual({ code: 0, signal: null });
  expect(server.stdout() + server.stderr()).not.toContain(HOOK_SECRET);
});

test('kill -9 mid-burst of member PATCHes: every acknowledged write is there after restart, with its events', async () => {
  const dir = tempDir();
  // No rate limit: 605 requests at full speed would drain the default bucket (100/s, burst 200), and 429s before the
  // 150th acknowledgement left the kill untriggered (the cause of this test's occasional "140 < 150").
  const env = { DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, JWT_SECRET, RATE_LIMIT_PER_SECOND: '0' };
  let server = await serve(env);
  const token = await mintWithCli(env, 'default');
  const url = server.url;

  const users = await pool(10, Array.from({ length: 100 }, (_, i) => async () => {
    const r = await http('POST', `${url}/api/scim/v2/Users`, token, { schemas: [USER_SCHEMA], userName: `burst-${i}@example.com` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));
  const groups = await pool(5, Array.from({ length: 5 }, (_, i) => async () => {
    const r = await http('POST', `${url}/api/scim/v2/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: `Burst ${i}` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));

  // 500 PATCHes, each adding a different (group, user) pair; the server dies after the 150th acknowledgement.
  const acked: [string, string][] = [];
  let killed: Promise<void> | undefined;
  let failures = 0;
  await pool(25, Array.from({ length: 500 }, (_, k) => async () => {
    const pair: [string, string] = [groups[k % 5], users[Math.floor(k / 5)]];
    try {
      const r = await http('PATCH', `${url}/api/scim/v2/Groups/${pair[0]}`, token, {
        schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: [{ value: pair[1] }] }],
      });
      if (r.status >= 200 && r.status < 300) acked.push(pair);
      else failures++;
    } catch {
      failures++; // connection refused or reset: not acknowledged
    }
    if (acked.length >= 150 && !killed) killed = kill9(server);
  }));
  await killed;
  expect(acked.length).toBeGreaterThanOrEqual(150);
  expect(acked.length).toBeLessThan(500);
  expect(failures).toBeGreaterThan(0);

  server = await serve(env);
  const members = new Set(querySqlite<{ group_id: string; member_id: string }>(dir,
    'SELECT g.id AS group_id, u.id AS member_id FROM group_members m JOIN groups g ON g.rid = m.group_rid JOIN users u ON u.rid = m.user_rid')
    .map((r) => `${r.group_id}/${r.member_id}`));
  const announced = new Map<string, number>();
  for (const e of querySqlite<{ type: string; payload: string }>(dir, "SELECT type, payload FROM outbox WHERE type LIKE 'group.members_%'")) {
    expect(e.type).toBe('group.members_added');
    const p = JSON.parse(e.payload) as { groupId: string; userIds: string[] };
    for (const u of p.userIds) announced.set(`${p.groupId}/${u}`, (announced.get(`${p.groupId}/${u}`) ?? 0) + 1);
  }
  // Every acknowledged PATCH is there, and announced by exactly one event.
  for (const [g, u] of acked) {
    expect(members.has(`${g}/${u}`)).toBe(true);
    expect(announced.get(`${g}/${u}`)).toBe(1);
  }
  // Whatever else committed before the kill is all-or-nothing: no membership without its event, nor the reverse.
  expect([...announced.keys()].sort()).toEqual([...members].sort());
  expect([...announced.values()].every((n) => n === 1)).toBe(true);

  // And the restarted gateway serves them.
  const fresh = await mintWithCli(env, 'default');
  for (const g of groups) {
    const res = await http('GET', `${server.url}/api/scim/v2/Groups/${g}`, fresh);
    expect(res.status).toBe(200);
    const served = new Set((res.body.members ?? []).map((m: { value: string }) => m.value));
    for (const [ag, u] of acked) if (ag === g) expect(served.has(u)).toBe(true);
  }
  expect(await server.stop()).toEqual({ code: 0, signal: null });
});
