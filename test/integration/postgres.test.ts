// PostgreSQL-specific behaviour of PostgresStore: concurrent writers through separate pools, migrations raced by
// replicas, outbox ingest when transactions commit out of seq order, lost connections. Runs whenever the server at
// TEST_PG_URL answers (whatever TEST_DATABASE says); a visible skip otherwise, and a failure under CI=true.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { StoreError } from '../../src/store/errors';
import { migrationFiles } from '../../src/store/migration-files';
import { PostgresStore } from '../../src/store/postgres';
import { createTestDatabase, dropTestDatabase, postgresStoresPerFile, postgresTest, testDatabaseUrl } from '../helpers/postgres';
import { PATCH_SCHEMA, scim, user } from '../helpers/gateway';

const { store, dbName: db } = postgresStoresPerFile();

/** A visible skip when no PostgreSQL answers (a failure under CI=true): postgresTest. */
const pg = postgresTest;

const newUser = (s: PostgresStore, tenant: string) =>
  s.createUser(tenant, { userName: `u-${randomUUID()}`, active: true, emails: [], resource: {} });

describe('PostgresStore', () => {
  pg('migrations run once when two stores migrate concurrently', async () => {
    const a = store();
    const b = store();
    const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
    const all = migrationFiles('postgres').map((m) => m.version);
    expect(all.slice(0, 4)).toEqual(['001_init', '002_egress', '003_members_checked_by_store', '004_audit']);
    expect([...ra, ...rb].sort()).toEqual(all);
    expect(await a.migrate()).toEqual([]);
    const rows = (await a.pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows;
    expect(rows.map((r) => r.version)).toEqual(all);
  });

  pg('migration 005 on a database with data: rids in (tenant, id) order, existing members paged in that order, new users after', async () => {
    const name = await createTestDatabase();
    const c = new Client({ connectionString: testDatabaseUrl(name) });
    await c.connect();
    try {
      // The schema as of 004, with members written the way that version wrote them (no rids).
      await c.query('CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
      for (const m of migrationFiles('postgres').filter((f) => f.version <= '004_audit')) {
        await c.query(readFileSync(m.file, 'utf8'));
        await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, new Date().toISOString()]);
      }
      const stamp = new Date().toISOString();
      for (const id of ['u-c', 'u-a', 'u-b']) {
        await c.query(`INSERT INTO users (tenant, id, user_name, user_name_lc, resource, created, modified) VALUES ('t', $1, $1, $1, '{}', $2, $2)`, [id, stamp]);
      }
      await c.query(`INSERT INTO groups (tenant, id, display_name, display_name_lc, resource, created, modified) VALUES ('t', 'g', 'G', 'g', '{}', $1, $1)`, [stamp]);
      for (const id of ['u-b', 'u-c', 'u-a']) {
        await c.query(`INSERT INTO group_members (tenant, group_id, member_id, added) VALUES ('t', 'g', $1, $2)`, [id, stamp]);
      }
    } finally {
      await c.end();
    }
    const s = new PostgresStore({ kind: 'postgres', url: testDatabaseUrl(name) });
    try {
      expect(await s.migrate()).toEqual(migrationFiles('postgres').filter((f) => f.version > '004_audit').map((f) => f.version));
      expect((await s.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u-a', 'u-b', 'u-c']);
      const d = await s.createUser('t', { userName: 'u-0', active: true, emails: [], resource: {} });
      await s.changeGroup('t', 'g', { members: [{ op: 'add', ids: [d.id] }] });
      expect((await s.listMembers('t', 'g')).map((m) => m.value)).toEqual(['u-a', 'u-b', 'u-c', d.id]);
      const first = await s.pageMembers('t', 'g', { limit: 2 });
      const rest = await s.pageMembers('t', 'g', { after: first.next, limit: 2 });
      expect([...first.members, ...rest.members].map((m) => m.value)).toEqual(['u-a', 'u-b', 'u-c', d.id]);
    } finally {
      await s.close();
      await dropTestDatabase(name);
    }
  });

  pg('concurrent member adds through two stores on one database: no lost update', async () => {
    const a = store();
    const b = store();
    await a.migrate();
    const tenant = `t-${randomUUID()}`;
    const users = [];
    for (let i = 0; i < 40; i++) users.push((await newUser(a, tenant)).id);
    const g = await a.createGroup(tenant, { displayName: 'race', resource: {} }, []);
    // Each user added by its own request, alternating between the two stores (two pools: real concurrency).
    const results = await Promise.all(users.map((id, i) =>
      (i % 2 ? a : b).changeGroup(tenant, g.group.id, { members: [{ op: 'add', ids: [id] }] })));
    expect(results.flatMap((r) => r.added).sort()).toEqual([...users].sort());
    const members = (await a.listMembers(tenant, g.group.id)).map((m) => m.value);
    expect(members.sort()).toEqual([...users].sort());
    expect((await b.getGroup(tenant, g.group.id))!.version).toBe(1 + users.length);
    // Version checks hold under concurrency: of two writers pinned to one version, exactly one wins.
    const v = (await a.getGroup(tenant, g.group.id))!.version;
    const pinned = await Promise.allSettled([
      a.changeGroup(tenant, g.group.id, { members: [{ op: 'remove', ids: [users[0]] }] }, { ifVersion: v }),
      b.changeGroup(tenant, g.group.id, { members: [{ op: 'remove', ids: [users[1]] }] }, { ifVersion: v }),
    ]);
    expect(pinned.filter((p) => p.status === 'fulfilled')).toHaveLength(1);
    const failed = pinned.find((p) => p.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason).toBeInstanceOf(StoreError);
    expect(failed.reason.code).toBe('version_mismatch');
  });

  pg('userName uniqueness across stores maps to StoreError uniqueness', async () => {
    const a = store();
    const b = store();
    await a.migrate();
    const tenant = `t-${randomUUID()}`;
    const r = await Promise.allSettled([a, b, a, b].map((s) => s.createUser(tenant, { userName: 'Same@X', active: true, emails: [], resource: {} })));
    expect(r.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
    for (const x of r.filter((y) => y.status === 'rejected') as PromiseRejectedResult[]) {
      expect(x.reason).toBeInstanceOf(StoreError);
      expect(x.reason.code).toBe('uniqueness');
    }
  });

  pg('outbox ingest never skips an event committed out of seq order', async () => {
    const s = store();
    await s.migrate();
    const tenant = `t-${randomUUID()}`;
    const target = `target-${randomUUID()}`;
    await s.egress.ingest(target, tenant, ['user.created'], 1000);
    // A transaction that draws the lower seq and stays open…
    const held = new Client({ connectionString: testDatabaseUrl(db()) });
    await held.connect();
    try {
      await held.query('BEGIN');
      const early = (await held.query(
        `INSERT INTO outbox (tenant, aggregate, type, payload, created) VALUES ($1, 'user:early', 'user.created', '{"early":true}', $2) RETURNING seq`,
        [tenant, new Date().toISOString()])).rows[0].seq as number;
      // …while a later event commits.
      const later = await newUser(s, tenant);
      expect(await s.egress.ingest(target, tenant, ['user.created'], 1000)).toBe(1);
      let seqs = (await s.egress.listDeliveries({ target, limit: 100 })).map((d) => d.seq);
      expect(seqs).toHaveLength(1);
      expect(seqs[0]).toBeGreaterThan(Number(early));
      await held.query('COMMIT');
      expect(await s.egress.ingest(target, tenant, ['user.created'], 1000)).toBe(1);
      const rows = await s.egress.listDeliveries({ target, limit: 100 });
      seqs = rows.map((d) => d.seq).sort((x, y) => x - y);
      expect(seqs).toEqual([Number(early), seqs[1]]);
      expect(rows.map((d) => d.aggregate).sort()).toEqual([`user:${later.id}`, 'user:early'].sort());
      // Both are claimable and nothing is taken twice.
      expect(await s.egress.ingest(target, tenant, ['user.created'], 1000)).toBe(0);
      const batches = await s.egress.claim(target, Date.now() + 1, 60_000, 10, 10);
      expect(batches.flatMap((b) => b.events.map((e) => e.seq)).sort((x, y) => x - y)).toEqual(seqs);
    } finally {
      await held.end();
    }
  });

  pg('ingest pages through a window larger than its limit, in seq order, without loss or duplicates', async () => {
    const s = store();
    await s.migrate();
    const tenant = `t-${randomUUID()}`;
    const target = `target-${randomUUID()}`;
    const made = [];
    for (let i = 0; i < 7; i++) made.push(await newUser(s, tenant));
    let total = 0;
    for (let i = 0; i < 5; i++) total += await s.egress.ingest(target, tenant, ['user.created'], 3);
    expect(total).toBe(7);
    const rows = await s.egress.listDeliveries({ target, limit: 100 });
    expect(rows.map((r) => r.aggregate).sort()).toEqual(made.map((u) => `user:${u.id}`).sort());
  });

  pg('two claimers never take the same aggregate; an expired lease is reclaimable', async () => {
    const a = store();
    const b = store();
    await a.migrate();
    const tenant = `t-${randomUUID()}`;
    const target = `target-${randomUUID()}`;
    for (let i = 0; i < 10; i++) await newUser(a, tenant);
    await a.egress.ingest(target, tenant, ['user.created'], 1000);
    const now = Date.now() + 1;
    const [x, y] = await Promise.all([a.egress.claim(target, now, 1000, 10, 10), b.egress.claim(target, now, 1000, 10, 10)]);
    const aggs = [...x, ...y].map((batch) => batch.aggregate);
    expect(new Set(aggs).size).toBe(aggs.length);
    expect(aggs).toHaveLength(10);
    expect(await a.egress.claim(target, now, 1000, 10, 10)).toEqual([]);
    const again = await b.egress.claim(target, now + 1000, 1000, 10, 10);
    expect(again).toHaveLength(10);
  });

  pg('connection loss: a store pointed at a closed port fails with StoreError unavailable', async () => {
    const dead = new PostgresStore({ kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/nothing?connect_timeout=2' });
    for (const op of [() => dead.ping(), () => dead.getUser('t', 'x'), () => newUser(dead, 't'), () => dead.migrate(),
      () => dead.egress.ingest('x', 't', ['user.created'], 10)]) {
      const e = await op().then(() => undefined, (err: unknown) => err);
      expect(e).toBeInstanceOf(StoreError);
      expect((e as StoreError).code).toBe('unavailable');
    }
    await dead.close();
  });

  pg('a terminated backend surfaces as unavailable, and the pool recovers', async () => {
    const s = store('?max=1');
    await s.migrate();
    await s.ping();
    await s.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [db()])
      .catch(() => undefined);
    const c = await s.pool.connect();
    const pid = (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    c.release();
    const killer = new Client({ connectionString: testDatabaseUrl(db()) });
    await killer.connect();
    await killer.query('SELECT pg_terminate_backend($1)', [pid]);
    await killer.end();
    await new Promise((r) => setTimeout(r, 100));
    // The next call either fails as unavailable (the pool handed out the dead client) or succeeds on a new one.
    const first = await s.getUser('t', 'x').then(() => 'ok', (e: unknown) => (e instanceof StoreError ? e.code : String(e)));
    expect(['ok', 'unavailable']).toContain(first);
    await expect(s.getUser('t', 'x')).resolves.toBeUndefined();
  });

  pg('SCIM over HTTP on PostgreSQL: a password is never stored', async () => {
    const prev = process.env.TEST_DATABASE;
    process.env.TEST_DATABASE = 'postgres';
    let gw;
    try {
      jest.resetModules();
      const helpers = await import('../helpers/gateway');
      gw = await helpers.startGateway();
    } finally {
      process.env.TEST_DATABASE = prev;
    }
    try {
      expect(gw.store.kind).toBe('postgres');
      const t = await gw.token('pw');
      const created = await scim('POST', `${gw.api}/Users`, t, user(`pw-${randomUUID()}@x.org`, { password: 'S3cret-Passw0rd!' }));
      expect(created.status).toBe(201);
      await scim('PATCH', `${gw.api}/Users/${created.body.id}`, t, {
        schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'password', value: 'Third-Pw-456!' }],
      });
      const pgStore = gw.store as unknown as PostgresStore;
      const dump = (await pgStore.pool.query(`SELECT (SELECT string_agg(resource::text, '') FROM users) ||
        (SELECT string_agg(payload::text, '') FROM outbox) AS t`)).rows[0].t as string;
      expect(dump).toContain(created.body.id);
      expect(dump).not.toContain('S3cret-Passw0rd!');
      expect(dump).not.toContain('Third-Pw-456!');
    } finally {
      await gw.close();
    }
  });
});

describe('a single member add or remove runs as one statement, with the same effects as the general path', () => {
  pg('events chunked by 1,000 in id order, version moves only on change, audit summary, unknown ids refuse all', async () => {
    const s = store();
    await s.migrate();
    const tenant = `one-${randomUUID().slice(0, 8)}`;
    const ids: string[] = [];
    for (let i = 0; i < 2500; i++) ids.push((await newUser(s, tenant)).id);
    const g = (await s.createGroup(tenant, { displayName: 'One', resource: { displayName: 'One' } }, [])).group;
    const actor = { subject: 'okta', jti: 'j-1', mount: '/api/scim/v2', operation: 'patch' as const, requestId: 'r-1' };
    const added = await s.changeGroup(tenant, g.id, { members: [{ op: 'add', ids: [...ids].reverse() }] }, { actor });
    const sorted = [...ids].sort();
    expect(added.added).toEqual(sorted);
    expect(added.group.version).toBe(g.version + 1);
    const c = new Client({ connectionString: testDatabaseUrl(db()) });
    await c.connect();
    try {
      const events = (await c.query(`SELECT type, payload FROM outbox WHERE tenant = $1 AND aggregate = $2 AND type <> 'group.created' ORDER BY seq`,
        [tenant, `group:${g.id}`])).rows;
      expect(events.map((e) => [e.type, e.payload.groupId, e.payload.userIds.length])).toEqual([
        ['group.members_added', g.id, 1000], ['group.members_added', g.id, 1000], ['group.members_added', g.id, 500]]);
      expect(events.flatMap((e) => e.payload.userIds)).toEqual(sorted);
      const audit = await s.listAudit({ tenant, limit: 10 });
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ subject: 'okta', jti: 'j-1', mount: '/api/scim/v2', operation: 'patch', resourceType: 'Group', resourceId: g.id, requestId: 'r-1' });
      expect(audit[0].summary).toEqual({ membersAdded: sorted });

      // Adding members already there: no event, same version, an audit record saying nothing changed.
      const again = await s.changeGroup(tenant, g.id, { members: [{ op: 'add', ids: ids.slice(0, 3) }] }, { actor });
      expect(again.added).toEqual([]);
      expect(again.group.version).toBe(added.group.version);
      expect((await s.listAudit({ tenant, limit: 10 }))[0].summary).toEqual({});

      // A remove of one present and one absent member.
      const removed = await s.changeGroup(tenant, g.id, { members: [{ op: 'remove', ids: [ids[7], 'not-a-member'] }] });
      expect(removed.removed).toEqual([ids[7]]);
      expect(removed.group.version).toBe(added.group.version + 1);
      const last = (await c.query(`SELECT type, payload FROM outbox WHERE aggregate = $1 ORDER BY seq DESC LIMIT 1`, [`group:${g.id}`])).rows[0];
      expect(last).toEqual({ type: 'group.members_removed', payload: { groupId: g.id, userIds: [ids[7]] } });

      // Unknown ids refuse the whole request; unknown groups are not found.
      await expect(s.changeGroup(tenant, g.id, { members: [{ op: 'add', ids: [ids[7], 'ghost'] }] })).rejects.toMatchObject({ code: 'invalid_members' });
      expect((await s.listMembers(tenant, g.id)).map((m) => m.value)).not.toContain(ids[7]);
      await expect(s.changeGroup(tenant, 'no-such-group', { members: [{ op: 'add', ids: [ids[0]] }] })).rejects.toMatchObject({ code: 'not_found' });
      await expect(s.changeGroup(tenant, 'no-such-group', { members: [{ op: 'remove', ids: [ids[0]] }] })).rejects.toMatchObject({ code: 'not_found' });
    } finally {
      await c.end();
    }
  }, 120_000);
});
