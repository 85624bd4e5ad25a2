// Group commit of member changes on PostgreSQL (issue 16, member-batch.ts): member changes that arrive together are
// applied by one statement, yet each request keeps its own answer, version, events (in version order) and audit
// record, and fails alone. Requests of one batch share the statement's timestamp, which is how these tests see that
// they were applied together. Runs whenever the server at TEST_PG_URL answers; a visible skip otherwise, and a
// failure under CI=true.
import { randomUUID } from 'node:crypto';
import type { AuditActor } from '../../src/store/audit';
import { StoreError } from '../../src/store/errors';
import { PostgresStore } from '../../src/store/postgres';
import { DEFAULT_MEMBER_BATCH, MemberBatcher } from '../../src/store/postgres/member-batch';
import type { GroupWriteResult } from '../../src/store/types';
import { now } from '../../src/store/write-rules';
import { postgresReachableSync, postgresStoresPerFile, postgresTest as pg } from '../helpers/postgres';

const { store } = postgresStoresPerFile();
beforeAll(async () => {
  if (postgresReachableSync()) await store().migrate();
});

const actor = (requestId: string): AuditActor => ({ subject: 'okta', jti: 'j1', mount: '/api/scim/v2', operation: 'patch', requestId });

async function fixture(s: PostgresStore, users: number, groups = 1) {
  const tenant = `gc-${randomUUID().slice(0, 8)}`;
  const ids: string[] = [];
  for (let i = 0; i < users; i++) {
    ids.push((await s.createUser(tenant, { userName: `u${i}-${randomUUID()}`, active: true, emails: [], resource: {} })).id);
  }
  const gs: string[] = [];
  for (let i = 0; i < groups; i++) gs.push((await s.createGroup(tenant, { displayName: `G${i}`, resource: { displayName: `G${i}` } }, [])).group.id);
  return { tenant, ids, groups: gs };
}

const change = (s: PostgresStore, tenant: string, g: string, op: 'add' | 'remove', ids: string[], requestId: string = randomUUID()) =>
  s.changeGroup(tenant, g, { members: [{ op, ids }] }, { actor: actor(requestId) });

async function eventsOf(s: PostgresStore, tenant: string, g: string) {
  return (await s.egress.listOutbox({ tenant, aggregate: `group:${g}`, limit: 1000 })).filter((e) => e.type.startsWith('group.members_'));
}

describe('PostgreSQL group commit of member changes', () => {
  pg('changes arriving together share one statement; each has its own version, event and audit record; one unknown member fails alone', async () => {
    const s = store();
    const { tenant, ids, groups: [g] } = await fixture(s, 8);
    const asked = [...ids.slice(0, 4), 'no-such-user', ...ids.slice(4)];
    const answers = await Promise.allSettled(asked.map((id, i) => change(s, tenant, g, 'add', [id], `req-${i}`)));
    const failed = answers[4];
    expect(failed.status).toBe('rejected');
    expect((failed as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
    expect((failed as PromiseRejectedResult).reason.code).toBe('invalid_members');
    const ok = answers.filter((a): a is PromiseFulfilledResult<GroupWriteResult> => a.status === 'fulfilled').map((a) => a.value);
    expect(ok).toHaveLength(8);
    // Versions 2 … 9 in arrival order, each request its own.
    expect(ok.map((r) => r.group.version)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ok.map((r) => r.added)).toEqual(ids.map((id) => [id]));
    // Applied together: one timestamp for all of them.
    expect(new Set(ok.map((r) => r.group.modified)).size).toBe(1);
    expect((await s.getGroup(tenant, g))!.version).toBe(9);
    expect((await s.listMembers(tenant, g)).map((m) => m.value).sort()).toEqual([...ids].sort());
    // One event per success, in version order (seq order), with one commit's timestamp.
    const events = await eventsOf(s, tenant, g);
    expect(events.map((e) => e.payload.userIds)).toEqual(ids.map((id) => [id]));
    expect(new Set(events.map((e) => e.created)).size).toBe(1);
    // One audit record per success, none for the failure.
    const audit = await s.listAudit({ tenant, resourceId: g, operation: 'patch', limit: 100 });
    expect(audit.map((a) => a.requestId).sort()).toEqual(['req-0', 'req-1', 'req-2', 'req-3', 'req-5', 'req-6', 'req-7', 'req-8']);
    expect(audit.find((a) => a.requestId === 'req-5')!.summary).toEqual({ membersAdded: [ids[4]] });
  });

  pg('a burst of member changes takes one timestamp per batch, so lastModified stays with the wall clock', async () => {
    // Stamps taken within one millisecond are a millisecond apart (write-rules.ts). A stamp per request would put
    // 1,500 requests answered in a few hundred milliseconds over a second ahead of the clock.
    const s = store();
    const { tenant, ids, groups: [g] } = await fixture(s, 50);
    const ahead = Date.parse(now()) - Date.now();
    const asked = Array.from({ length: 1500 }, (_, i) => change(s, tenant, g, i % 2 ? 'remove' : 'add', [ids[Math.floor(i / 2) % ids.length]]));
    const answers = await Promise.all(asked);
    expect(answers.every((a) => a.group.version > 1)).toBe(true);
    const group = (await s.getGroup(tenant, g))!;
    expect(group.version).toBe(1501);
    expect(Date.parse(group.modified) - Date.now()).toBeLessThan(Math.max(ahead, 0) + 250);
  });

  pg('an add and a remove of the same member in one turn run one after the other, in arrival order', async () => {
    const s = store();
    const { tenant, ids: [u], groups: [g] } = await fixture(s, 1);
    const [added, removed] = await Promise.all([change(s, tenant, g, 'add', [u]), change(s, tenant, g, 'remove', [u])]);
    expect([added.group.version, added.added]).toEqual([2, [u]]);
    expect([removed.group.version, removed.removed]).toEqual([3, [u]]);
    expect(await s.listMembers(tenant, g)).toEqual([]);
    expect((await eventsOf(s, tenant, g)).map((e) => e.type)).toEqual(['group.members_added', 'group.members_removed']);
  });

  pg('one batch may name the same member many times: each request sees the ones before it, as it would alone', async () => {
    const s = store();
    const { tenant, ids: [u, v, w], groups: [g] } = await fixture(s, 3);
    await change(s, tenant, g, 'add', [w]);
    const answers = await Promise.all([
      change(s, tenant, g, 'add', [u]), // in: v3
      change(s, tenant, g, 'remove', [u]), // out: v4
      change(s, tenant, g, 'add', [u, v]), // both in: v5
      change(s, tenant, g, 'add', [u]), // already in: v5, nothing changed
      change(s, tenant, g, 'remove', [w]), // out: v6
      change(s, tenant, g, 'add', [w]), // back in: v7
      change(s, tenant, g, 'remove', [v]), // out: v8
    ]);
    expect(new Set(answers.map((r) => r.group.modified)).size).toBe(1);
    expect(answers.map((r) => [r.group.version, [...r.added, ...r.removed]])).toEqual([
      [3, [u]], [4, [u]], [5, [u, v].sort()], [5, []], [6, [w]], [7, [w]], [8, [v]],
    ]);
    expect((await s.listMembers(tenant, g)).map((m) => m.value).sort()).toEqual([u, w].sort());
    expect((await s.getGroup(tenant, g))!.version).toBe(8);
    expect((await eventsOf(s, tenant, g)).map((e) => [e.type.replace('group.members_', ''), e.payload.userIds])).toEqual([
      ['added', [w]], ['added', [u]], ['removed', [u]], ['added', [u, v].sort()], ['removed', [w]], ['added', [w]], ['removed', [v]],
    ]);
    // w left and came back: its membership is as new as the batch.
    const added = await s.pool.query('SELECT member_id, added FROM group_members WHERE tenant = $1 AND group_id = $2', [tenant, g]);
    expect(Object.fromEntries(added.rows.map((r) => [r.member_id, r.added]))).toEqual({ [u]: answers[0].group.modified, [w]: answers[0].group.modified });
  });

  pg('a request too large for the batch keeps its place: later ones naming its members wait for it', async () => {
    const s = store();
    const { tenant, ids: [u, v], groups: [g] } = await fixture(s, 2);
    const batcher = new MemberBatcher(s.pool, () => undefined, { ...DEFAULT_MEMBER_BATCH, maxIds: 3 });
    const ask = (op: 'add' | 'remove', memberIds: string[]) => batcher.submit({ tenant, groupId: g, op, memberIds });
    // The remove of [u, v] does not fit beside the add of [u, v]; the add of [u] would, but must not go ahead of it.
    const [first, second, third] = await Promise.all([ask('add', [u, v]), ask('remove', [u, v]), ask('add', [u])]);
    expect([first.changed, second.changed, third.changed]).toEqual([[u, v].sort(), [u, v].sort(), [u]]);
    expect([first.group.version, second.group.version, third.group.version]).toEqual([2, 3, 4]);
    expect((await s.listMembers(tenant, g)).map((m) => m.value)).toEqual([u]);
  });

  pg('a batch that waited on the group lock sees what the holder committed meanwhile (a remove after a concurrent add removes)', async () => {
    const s = store();
    const { tenant, ids: [u], groups: [g] } = await fixture(s, 1);
    // Another replica's transaction holds the group's row lock and adds u; the batch's remove of u starts meanwhile.
    const holder = await s.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM groups WHERE tenant = $1 AND id = $2 FOR UPDATE', [tenant, g]);
      const removing = change(s, tenant, g, 'remove', [u]);
      for (let i = 0; ; i++) {
        const waiting = await s.pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        if (waiting.rows[0].n > 0) break;
        if (i > 500) throw new Error('the batch never waited on the group lock');
        await new Promise((r) => setTimeout(r, 10));
      }
      await holder.query(
        `INSERT INTO group_members (tenant, group_id, member_id, member_rid, added)
         SELECT $1, $2, id, rid, 'now' FROM users WHERE tenant = $1 AND id = $3`, [tenant, g, u]);
      await holder.query('UPDATE groups SET version = version + 1 WHERE tenant = $1 AND id = $2', [tenant, g]);
      await holder.query('COMMIT');
      const removed = await removing;
      expect([removed.group.version, removed.removed]).toEqual([3, [u]]);
    } finally {
      holder.release();
    }
    expect(await s.listMembers(tenant, g)).toEqual([]);
    expect((await s.getGroup(tenant, g))!.version).toBe(3);
  });

  pg('a batch over several groups: versions counted per group; a missing group fails alone; no-op changes keep the version', async () => {
    const s = store();
    const { tenant, ids, groups: [a, b] } = await fixture(s, 4, 2);
    await change(s, tenant, a, 'add', [ids[3]]);
    const answers = await Promise.allSettled([
      change(s, tenant, a, 'add', [ids[0]]),
      change(s, tenant, b, 'add', [ids[0], ids[1]]),
      change(s, tenant, 'no-such-group', 'add', [ids[2]]),
      change(s, tenant, a, 'add', [ids[1]]),
      change(s, tenant, b, 'remove', [ids[2]]), // not a member: nothing changes
      change(s, tenant, a, 'remove', [ids[3]]),
    ]);
    const value = (i: number) => (answers[i] as PromiseFulfilledResult<GroupWriteResult>).value;
    expect((answers[2] as PromiseRejectedResult).reason.code).toBe('not_found');
    expect([value(0).group.version, value(3).group.version, value(5).group.version]).toEqual([3, 4, 5]);
    expect(value(1).group.version).toBe(2);
    expect([value(4).group.version, value(4).removed]).toEqual([2, []]);
    expect((await s.getGroup(tenant, a))!.version).toBe(5);
    expect((await s.getGroup(tenant, b))!.version).toBe(2);
    expect((await s.listMembers(tenant, a)).map((m) => m.value).sort()).toEqual([ids[0], ids[1]].sort());
    expect((await s.listMembers(tenant, b)).map((m) => m.value).sort()).toEqual([ids[0], ids[1]].sort());
    expect((await eventsOf(s, tenant, a)).map((e) => [e.type, e.payload.userIds])).toEqual([
      ['group.members_added', [ids[3]]], ['group.members_added', [ids[0]]], ['group.members_added', [ids[1]]],
      ['group.members_removed', [ids[3]]],
    ]);
    // The no-op remove is audited (with an empty summary) like any request that reached the group.
    const audit = await s.listAudit({ tenant, resourceId: b, operation: 'patch', limit: 10 });
    expect(audit.map((r) => r.summary)).toContainEqual({});
  });

  pg('two stores (two replicas) hammering the same groups: no lost update, versions and event order exact', async () => {
    const one = store();
    const two = store();
    const { tenant, ids, groups } = await fixture(one, 20, 3);
    // Every user added to every group, then half removed again, spread over both stores and all at once.
    const adds = groups.flatMap((g) => ids.map((id, i) => change(i % 2 ? one : two, tenant, g, 'add', [id])));
    const firstRound = await Promise.all(adds);
    const removes = groups.flatMap((g) => ids.slice(0, 10).map((id, i) => change(i % 2 ? two : one, tenant, g, 'remove', [id])));
    const secondRound = await Promise.all(removes);
    for (const g of groups) {
      const versions = [...firstRound, ...secondRound].filter((r) => r.group.id === g).map((r) => r.group.version).sort((x, y) => x - y);
      expect(versions).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
      expect((await one.getGroup(tenant, g))!.version).toBe(31);
      expect((await two.listMembers(tenant, g)).map((m) => m.value).sort()).toEqual(ids.slice(10).sort());
      // Seq order of the group's events is the order of the versions their requests were given.
      const byMember = new Map([...firstRound, ...secondRound].filter((r) => r.group.id === g)
        .map((r) => [`${r.added.length ? 'add' : 'remove'}:${[...r.added, ...r.removed][0]}`, r.group.version]));
      const order = (await eventsOf(one, tenant, g)).map((e) => byMember.get(`${e.type === 'group.members_added' ? 'add' : 'remove'}:${(e.payload.userIds as string[])[0]}`));
      expect(order).toEqual([...order].sort((x, y) => x! - y!));
      expect(order).toHaveLength(30);
    }
  });

  pg('group_commit_batches=0 turns it off: each change its own statement, same answers', async () => {
    const s = store('?group_commit_batches=0');
    const { tenant, ids, groups: [g] } = await fixture(s, 3);
    const answers = await Promise.all(ids.map((id) => change(s, tenant, g, 'add', [id])));
    expect(answers.map((r) => r.group.version).sort()).toEqual([2, 3, 4]);
    await expect(change(s, tenant, g, 'add', ['nobody'])).rejects.toMatchObject({ code: 'invalid_members' });
    expect((await s.listMembers(tenant, g))).toHaveLength(3);
  });
});
