// What an acknowledgement is worth: the built gateway as a child process, 16 concurrent clients adding members to
// 5 groups over both mounts, and `kill -9` at a random-ish moment while requests are in flight; three times on the
// same database. After each kill, read the database while the process is dead and prove:
// - every acknowledged (2xx) add is a membership, announced by exactly one `group.members_added` outbox event whose
//   userIds are exactly that request's users;
// - every request that was not acknowledged is all or nothing: all its memberships and its one event, or none of
//   them (never a member without its event, nor an event without its members);
// - no membership or event exists that no request asked for; SQLite passes PRAGMA integrity_check.
// Then restart on the same database and check the gateway serves exactly those members on both mounts.
// The same scenario runs on PostgreSQL when a server answers at TEST_PG_URL (a visible skip otherwise; under CI=true a failure).
// one pass only: it runs its SQLite and its PostgreSQL variant itself (scripts/test-postgres.js leaves it out of the PostgreSQL pass).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { mintToken } from '../../src/auth/mint';
import { createTestDatabase, dropTestDatabase, postgresTest, testDatabaseUrl } from '../helpers/postgres';
import { ensureBuilt, http, startServer, type ServerProcess, pool } from '../helpers/process';

const JWT_SECRET = 'crash-acknowledged-secret-0123456789-abcdefghij';
const TENANT = 'crash-ack';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const MOUNTS = ['/api/scim/v2', '/sso/scim/v2'];
const USERS = 300;
const GROUPS = 5;
const CLIENTS = 16;
const CYCLES = 3;

jest.setTimeout(120_000);

const dirs: string[] = [];
const servers: ServerProcess[] = [];
const databases: string[] = [];
beforeAll(async () => {
  ensureBuilt();
}, 180_000);

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.exited));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const db of databases) await dropTestDatabase(db).catch(() => undefined);
});

function shuffled<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** One member-add PATCH: which group, which users (distinct, never sent before for this group), what came back. */
interface Op {
  n: number;
  cycle: number;
  group: string;
  users: string[];
  mount: string;
  outcome?: 'acked' | 'refused' | 'no answer';
  status?: number;
  error?: string;
}

/** The database as read while the gateway is dead. */
interface Snapshot {
  members: { group_id: string; member_id: string }[];
  events: { seq: number; aggregate: string; type: string; payload: { groupId: string; userIds: string[] } }[];
  users: number;
  groups: number;
  /** Problems the backend itself reports (SQLite: integrity_check and foreign_key_check); empty when healthy. */
  problems: string[];
}

interface Backend {
  name: string;
  env: Record<string, string>;
  /** Reads the database; the gateway is dead when this is called. */
  snapshot(): Promise<Snapshot>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-crash-ack-'));
  dirs.push(dir);
  const file = path.join(dir, 'db.sqlite');
  return {
    name: 'sqlite',
    env: { DATABASE_URL: `sqlite:${file}` },
    async snapshot() {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const Database = require('better-sqlite3') as typeof import('better-sqlite3');
      // Read-only: the WAL the killed process left is read, not checkpointed away, so the restart recovers it itself.
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        const integrity = (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
        const fk = db.pragma('foreign_key_check') as unknown[];
        const read = db.transaction(() => ({
          members: db.prepare(`SELECT g.id AS group_id, u.id AS member_id FROM group_members m
            JOIN groups g ON g.rid = m.group_rid JOIN users u ON u.rid = m.user_rid WHERE g.tenant = ?`).all(TENANT) as Snapshot['members'],
          // Memberships whose user or group is gone (the store deletes them with the user or group).
          orphans: (db.prepare(`SELECT count(*) AS n FROM group_members m WHERE
            NOT EXISTS (SELECT 1 FROM users u WHERE u.rid = m.user_rid) OR
            NOT EXISTS (SELECT 1 FROM groups g WHERE g.rid = m.group_rid)`).get() as { n: number }).n,
          events: (db.prepare("SELECT seq, aggregate, type, payload FROM outbox WHERE tenant = ? ORDER BY seq").all(TENANT) as
            { seq: number; aggregate: string; type: string; payload: string }[]).map((e) => ({ ...e, payload: JSON.parse(e.payload) })),
          users: (db.prepare('SELECT count(*) AS n FROM users WHERE tenant = ?').get(TENANT) as { n: number }).n,
          groups: (db.prepare('SELECT count(*) AS n FROM groups WHERE tenant = ?').get(TENANT) as { n: number }).n,
        }));
        const { orphans, ...r } = read();
        const problems = [
          ...(integrity.length === 1 && integrity[0] === 'ok' ? [] : integrity.map((x) => `integrity_check: ${x}`)),
          ...fk.map((x) => `foreign_key_check: ${JSON.stringify(x)}`),
          ...(orphans ? [`${orphans} orphaned memberships`] : []),
        ];
        return { ...r, problems };
      } finally {
        db.close();
      }
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const name = await createTestDatabase();
  databases.push(name);
  const url = testDatabaseUrl(name);
  return {
    name: 'postgres',
    env: { DATABASE_URL: url },
    async snapshot() {
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        // The killed gateway's sessions end when their backends see the closed sockets; a COMMIT already sent may
        // still land until then. Wait for them, then read everything from one snapshot.
        const deadline = Date.now() + 15_000;
        for (;;) {
          const others = (await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows[0].n as number;
          if (others === 0) break;
          if (Date.now() > deadline) throw new Error(`${others} sessions of the killed gateway are still open`);
          await new Promise((r) => setTimeout(r, 50));
        }
        await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const members = (await c.query('SELECT group_id, member_id FROM group_members WHERE tenant = $1', [TENANT])).rows;
        const events = (await c.query('SELECT seq::int AS seq, aggregate, type, payload FROM outbox WHERE tenant = $1 ORDER BY seq', [TENANT])).rows;
        const users = (await c.query('SELECT count(*)::int AS n FROM users WHERE tenant = $1', [TENANT])).rows[0].n;
        const groups = (await c.query('SELECT count(*)::int AS n FROM groups WHERE tenant = $1', [TENANT])).rows[0].n;
        // Memberships whose user or group is gone (the foreign keys should make this impossible).
        const orphans = (await c.query(`SELECT count(*)::int AS n FROM group_members m WHERE tenant = $1 AND (
          NOT EXISTS (SELECT 1 FROM users u WHERE u.tenant = m.tenant AND u.id = m.member_id) OR
          NOT EXISTS (SELECT 1 FROM groups g WHERE g.tenant = m.tenant AND g.id = m.group_id))`, [TENANT])).rows[0].n as number;
        await c.query('COMMIT');
        return { members, events, users, groups, problems: orphans ? [`${orphans} orphaned memberships`] : [] };
      } finally {
        await c.end();
      }
    },
  };
}

async function scenario(backend: Backend): Promise<{ acked: number; unacked: number; presentUnacked: number; perCycle: string[] }> {
  const env = { ...backend.env, JWT_SECRET, RATE_LIMIT_PER_SECOND: '0' };
  const start = async () => {
    const s = await startServer(env);
    servers.push(s);
    return s;
  };
  let server = await start();
  const { token } = await mintToken({ source: { kind: 'secret', secret: JWT_SECRET, origin: 'env' }, clockToleranceSec: 60 }, { tenant: TENANT, ttlSeconds: 3600 });

  const users = await pool(CLIENTS, Array.from({ length: USERS }, (_, i) => async () => {
    const r = await http('POST', `${server.url}${MOUNTS[i % 2]}/Users`, token, { schemas: [USER_SCHEMA], userName: `ack-${i}@example.com` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));
  const groups = await pool(GROUPS, Array.from({ length: GROUPS }, (_, i) => async () => {
    const r = await http('POST', `${server.url}${MOUNTS[i % 2]}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: `Ack ${i}` });
    expect(r.status).toBe(201);
    return r.body.id as string;
  }));

  // Each group's users in a random order; ops take 1–3 of them from the front, so no (group, user) pair is ever sent
  // twice (every acknowledged add is a real change with its own event) and 1500 pairs last the three cycles.
  const queues = new Map(groups.map((g) => [g, shuffled(users)]));
  const ops: Op[] = [];
  const perCycle: string[] = [];

  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    const killAfter = 120 + Math.floor(Math.random() * 61); // acknowledgements before the kill: 120..180
    let acks = 0;
    let inFlight = 0;
    let inFlightAtKill = -1;
    let killed = false;
    const exited = server.exited;
    const url = server.url;
    const kill = () => {
      if (killed) return;
      killed = true;
      inFlightAtKill = inFlight;
      server.child.kill('SIGKILL');
    };
    const nextOp = (): Op | undefined => {
      const n = ops.length;
      const group = groups[n % GROUPS];
      const users = queues.get(group)!.splice(0, 1 + (n % 3));
      if (users.length === 0) return undefined;
      const op: Op = { n, cycle, group, users, mount: MOUNTS[Math.floor(n / GROUPS) % 2] };
      ops.push(op);
      return op;
    };
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      for (;;) {
        if (killed) return;
        const op = nextOp();
        if (!op) return;
        inFlight++;
        try {
          const r = await http('PATCH', `${url}${op.mount}/Groups/${op.group}`, token, {
            schemas: [PATCH_SCHEMA], Operations: [{ op: 'add', path: 'members', value: op.users.map((value) => ({ value })) }],
          });
          op.status = r.status;
          op.outcome = r.status >= 200 && r.status < 300 ? 'acked' : 'refused';
          if (op.outcome === 'acked') acks++;
          else op.error = r.text.slice(0, 200);
        } catch (e) {
          op.outcome = 'no answer'; // reset or refused connection: the client cannot know what happened
          op.error = String((e as { cause?: unknown }).cause ?? e);
        } finally {
          inFlight--;
        }
        if (acks >= killAfter) kill();
      }
    }));
    if (!killed) throw new Error(`cycle ${cycle}: ran out of (group, user) pairs after ${acks} acknowledgements, before the kill`);
    expect((await exited).signal).toBe('SIGKILL');
    expect(inFlightAtKill).toBeGreaterThan(0); // the kill really hit requests in flight

    const mine = ops.filter((o) => o.cycle === cycle);
    const refused = mine.filter((o) => o.outcome === 'refused');
    // With the rate limit off nothing is refused before the kill; a refusal would be a server-side failure.
    expect(refused.map((o) => `${o.status} ${o.error}`)).toEqual([]);

    const snap = await backend.snapshot();
    const check = verify(snap, ops, groups, users);
    perCycle.push(`cycle ${cycle}: ${mine.filter((o) => o.outcome === 'acked').length} acked, ${mine.filter((o) => o.outcome === 'no answer').length} unanswered (${check.presentUnacked} of all unanswered so far committed), ${inFlightAtKill} in flight at the kill`);

    // The restarted gateway serves exactly what the dead one left, on both mounts.
    server = await start();
    const expected = new Map(groups.map((g) => [g, new Set<string>()]));
    for (const m of snap.members) expected.get(m.group_id)!.add(m.member_id);
    for (const [i, g] of groups.entries()) {
      const res = await http('GET', `${server.url}${MOUNTS[(i + cycle) % 2]}/Groups/${g}`, token);
      expect(res.status).toBe(200);
      const served = (res.body.members ?? []).map((m: { value: string }) => m.value).sort();
      expect(served).toEqual([...expected.get(g)!].sort());
    }
  }

  expect(await server.stop()).toEqual({ code: 0, signal: null });
  const acked = ops.filter((o) => o.outcome === 'acked').length;
  const unacked = ops.filter((o) => o.outcome !== 'acked');
  const final = verify(await backend.snapshot(), ops, groups, users);
  return { acked, unacked: unacked.length, presentUnacked: final.presentUnacked, perCycle };
}

/** The assertions of the file, against one snapshot and every op sent so far. Returns how many unanswered ops committed. */
function verify(snap: Snapshot, ops: Op[], groups: string[], users: string[]): { presentUnacked: number } {
  expect(snap.problems).toEqual([]);
  expect(snap.users).toBe(users.length);
  expect(snap.groups).toBe(groups.length);

  const key = (g: string, u: string) => `${g}/${u}`;
  const members = new Set(snap.members.map((m) => key(m.group_id, m.member_id)));
  expect(members.size).toBe(snap.members.length);

  // Only creations and member adds happened; every add event is well-formed and about its own aggregate.
  const types = new Set(snap.events.map((e) => e.type));
  for (const t of types) expect(['user.created', 'group.created', 'group.members_added']).toContain(t);
  const adds = snap.events.filter((e) => e.type === 'group.members_added');
  const announced = new Map<string, number>();
  /** group → the sorted userIds of each of its add events, as strings. */
  const eventSets = new Map<string, Map<string, number>>();
  for (const e of adds) {
    expect(e.aggregate).toBe(`group:${e.payload.groupId}`);
    expect(Array.isArray(e.payload.userIds)).toBe(true);
    for (const u of e.payload.userIds) announced.set(key(e.payload.groupId, u), (announced.get(key(e.payload.groupId, u)) ?? 0) + 1);
    const byGroup = eventSets.get(e.payload.groupId) ?? new Map<string, number>();
    const k = [...e.payload.userIds].sort().join(',');
    byGroup.set(k, (byGroup.get(k) ?? 0) + 1);
    eventSets.set(e.payload.groupId, byGroup);
  }
  const dupes = [...announced].filter(([, n]) => n !== 1).map(([k]) => k);
  expect(dupes).toEqual([]);

  // No membership without its event, no event without its membership.
  const membersWithoutEvent = [...members].filter((k) => !announced.has(k));
  const eventsWithoutMember = [...announced.keys()].filter((k) => !members.has(k));
  expect({ membersWithoutEvent, eventsWithoutMember }).toEqual({ membersWithoutEvent: [], eventsWithoutMember: [] });

  // Nothing that no request asked for.
  const sent = new Set(ops.flatMap((o) => o.users.map((u) => key(o.group, u))));
  expect([...members].filter((k) => !sent.has(k))).toEqual([]);

  const lostAcks: string[] = [];
  const partial: string[] = [];
  let presentUnacked = 0;
  for (const op of ops) {
    const present = op.users.filter((u) => members.has(key(op.group, u)));
    const ownEvent = (eventSets.get(op.group)?.get([...op.users].sort().join(',')) ?? 0) === 1;
    const whole = present.length === op.users.length && ownEvent;
    if (op.outcome === 'acked') {
      if (!whole) lostAcks.push(`op ${op.n} (cycle ${op.cycle}, ${op.mount}): ${present.length}/${op.users.length} members, own event: ${ownEvent}`);
    } else if (present.length > 0 || ownEvent) {
      if (!whole) partial.push(`op ${op.n} (cycle ${op.cycle}, ${op.outcome}): ${present.length}/${op.users.length} members, own event: ${ownEvent}`);
      else presentUnacked++;
    }
  }
  expect({ lostAcks, partial }).toEqual({ lostAcks: [], partial: [] });
  return { presentUnacked };
}

test('SQLite: kill -9 mid-load, three times: every acknowledged add survives with its event; the rest is all or nothing', async () => {
  const t0 = Date.now();
  const r = await scenario(await sqliteBackend());
  expect(r.acked).toBeGreaterThanOrEqual(CYCLES * 120);
  expect(r.unacked).toBeGreaterThan(0);
  process.stdout.write(`crash-acknowledged sqlite (${Date.now() - t0} ms): ${r.acked} acked, ${r.unacked} unanswered of which ${r.presentUnacked} committed\n  ${r.perCycle.join('\n  ')}\n`);
});

postgresTest('PostgreSQL: the same scenario (a visible skip without a server at TEST_PG_URL; a failure under CI=true)', async () => {
  const t0 = Date.now();
  const r = await scenario(await postgresBackend());
  expect(r.acked).toBeGreaterThanOrEqual(CYCLES * 120);
  expect(r.unacked).toBeGreaterThan(0);
  process.stdout.write(`crash-acknowledged postgres (${Date.now() - t0} ms): ${r.acked} acked, ${r.unacked} unanswered of which ${r.presentUnacked} committed\n  ${r.perCycle.join('\n  ')}\n`);
});
