// The outbox invariant: every committed SCIM change writes exactly its change events in the same transaction;
// a refused request writes none and changes nothing; large membership changes are split; no secret is in an event.
import { group, patchOp, scim, startGateway, user, type TestGateway } from '../../helpers/gateway';

interface OutboxEvent {
  seq: number;
  tenant: string;
  aggregate: string;
  type: string;
  payload: any;
  raw: string;
}

let gw: TestGateway;
let t: string;

beforeAll(async () => {
  gw = await startGateway({ maxBodyBytes: 8 * 1024 * 1024 });
  t = await gw.token();
});
afterAll(async () => {
  await gw.close();
});

/** The outbox after a seq, through the store (either backend); raw is the payload as JSON text. */
async function outbox(afterSeq = 0): Promise<OutboxEvent[]> {
  const rows = await gw.store.egress.listOutbox({ afterSeq, limit: 1_000_000 });
  return rows.map((r) => ({ seq: r.seq, tenant: r.tenant, aggregate: r.aggregate, type: r.type, payload: r.payload, raw: JSON.stringify(r.payload) }));
}

async function lastSeq(): Promise<number> {
  return (await gw.store.egress.listOutbox({ order: 'desc', limit: 1 }))[0]?.seq ?? 0;
}

/** Runs `fn` and returns the outbox events written meanwhile. */
async function eventsOf(fn: () => Promise<unknown>): Promise<OutboxEvent[]> {
  const mark = await lastSeq();
  await fn();
  return outbox(mark);
}

const brief = (events: OutboxEvent[]) => events.map((e) => [e.type, e.aggregate]);

async function createUser(userName: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await scim('POST', `${gw.api}/Users`, t, user(userName, extra));
  expect(res.status).toBe(201);
  return res.body;
}

async function createGroup(name: string, members: string[] = []): Promise<any> {
  const res = await scim('POST', `${gw.api}/Groups`, t, group(name, members));
  expect(res.status).toBe(201);
  return res.body;
}

async function membersOf(groupId: string): Promise<string[]> {
  return (await gw.store.listMembers('default', groupId)).map((m) => m.value).sort();
}

describe('users', () => {
  test('POST → user.created with the new id', async () => {
    let u: any;
    const ev = await eventsOf(async () => { u = await createUser('ob-create@example.com', { displayName: 'Ob Create' }); });
    expect(brief(ev)).toEqual([['user.created', `user:${u.id}`]]);
    expect(ev[0].tenant).toBe('default');
    expect(ev[0].payload.user).toMatchObject({ id: u.id, userName: 'ob-create@example.com', displayName: 'Ob Create', active: true });
  });

  test('PUT and PATCH → one user.updated each, carrying the new state', async () => {
    const u = await createUser('ob-upd@example.com');
    const put = await eventsOf(async () => {
      expect((await scim('PUT', `${gw.api}/Users/${u.id}`, t, user('ob-upd@example.com', { displayName: 'Put Name' }))).status).toBe(200);
    });
    expect(brief(put)).toEqual([['user.updated', `user:${u.id}`]]);
    expect(put[0].payload.user).toMatchObject({ id: u.id, displayName: 'Put Name', active: true });

    const patch = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'displayName', value: 'Patched Name' }]));
      expect(res.status).toBe(200);
    });
    expect(brief(patch)).toEqual([['user.updated', `user:${u.id}`]]);
    expect(patch[0].payload.user).toMatchObject({ id: u.id, displayName: 'Patched Name' });
  });

  test('deactivation → user.updated + user.deactivated; only the transition to inactive deactivates', async () => {
    const u = await createUser('ob-deact@example.com');
    const off = await eventsOf(async () => {
      expect((await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'active', value: false }]))).status).toBe(200);
    });
    expect(brief(off)).toEqual([['user.updated', `user:${u.id}`], ['user.deactivated', `user:${u.id}`]]);
    expect(off.map((e) => e.payload.user.active)).toEqual([false, false]);
    expect(off[0].seq).toBeLessThan(off[1].seq);

    // Already inactive: nothing changes, nothing is written.
    const again = await eventsOf(async () => {
      expect((await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'active', value: false }]))).status).toBe(200);
    });
    expect(again).toEqual([]);

    // Reactivation is an update, not a deactivation.
    const on = await eventsOf(async () => {
      expect((await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'active', value: true }]))).status).toBe(200);
    });
    expect(brief(on)).toEqual([['user.updated', `user:${u.id}`]]);
    expect(on[0].payload.user.active).toBe(true);

    // Deactivation through PUT too.
    const put = await eventsOf(async () => {
      expect((await scim('PUT', `${gw.api}/Users/${u.id}`, t, user('ob-deact@example.com', { active: false }))).status).toBe(200);
    });
    expect(brief(put)).toEqual([['user.updated', `user:${u.id}`], ['user.deactivated', `user:${u.id}`]]);
  });

  test('DELETE of a user in groups → group.members_removed per group, then user.deleted, in one commit', async () => {
    const u = await createUser('ob-del@example.com', { externalId: 'ext-ob-del' });
    const other = await createUser('ob-del-other@example.com');
    const g1 = await createGroup('Ob Del One', [u.id, other.id]);
    const g2 = await createGroup('Ob Del Two', [u.id]);
    const g3 = await createGroup('Ob Del Three', [other.id]);
    const ev = await eventsOf(async () => {
      expect((await scim('DELETE', `${gw.api}/Users/${u.id}`, t)).status).toBe(204);
    });
    expect(ev).toHaveLength(3);
    const removed = ev.filter((e) => e.type === 'group.members_removed');
    expect(removed.map((e) => e.aggregate).sort()).toEqual([`group:${g1.id}`, `group:${g2.id}`].sort());
    for (const e of removed) expect(e.payload).toEqual({ groupId: e.aggregate.slice('group:'.length), userIds: [u.id] });
    expect(ev[2].type).toBe('user.deleted');
    expect(ev[2].aggregate).toBe(`user:${u.id}`);
    expect(ev[2].payload).toEqual({ id: u.id, userName: 'ob-del@example.com', externalId: 'ext-ob-del' });
    // One transaction: one commit stamp on every event.
    expect(new Set(await Promise.all(ev.map((e) => outboxCreated(e.seq)))).size).toBe(1);
    // The memberships went with the user; the group it was not in is untouched.
    expect(await membersOf(g1.id)).toEqual([other.id]);
    expect(await membersOf(g2.id)).toEqual([]);
    expect(ev.some((e) => e.aggregate === `group:${g3.id}`)).toBe(false);
    // Each group it left has a new version.
    const g1After = (await scim('GET', `${gw.api}/Groups/${g1.id}`, t)).body;
    expect(g1After.meta.version).not.toBe(g1.meta.version);
  });

  test('DELETE of a user in no group → user.deleted only', async () => {
    const u = await createUser('ob-del-lonely@example.com');
    const ev = await eventsOf(async () => {
      expect((await scim('DELETE', `${gw.api}/Users/${u.id}`, t)).status).toBe(204);
    });
    expect(brief(ev)).toEqual([['user.deleted', `user:${u.id}`]]);
  });

  test('events carry the tenant of the token that made the change', async () => {
    const acme = await gw.token('acme');
    let id = '';
    const ev = await eventsOf(async () => {
      const res = await scim('POST', `${gw.api}/Users`, acme, user('ob-tenant@example.com'));
      expect(res.status).toBe(201);
      id = res.body.id;
    });
    expect(ev.map((e) => [e.tenant, e.type, e.aggregate])).toEqual([['acme', 'user.created', `user:${id}`]]);
  });
});

async function outboxCreated(seq: number): Promise<string> {
  return (await gw.store.egress.listOutbox({ afterSeq: seq - 1, limit: 1 }))[0].created;
}

describe('groups', () => {
  test('POST with members → group.created then group.members_added; without members → group.created only', async () => {
    const a = await createUser('ob-g-a@example.com');
    const b = await createUser('ob-g-b@example.com');
    let g: any;
    const ev = await eventsOf(async () => { g = await createGroup('Ob Group', [a.id, b.id]); });
    expect(brief(ev)).toEqual([['group.created', `group:${g.id}`], ['group.members_added', `group:${g.id}`]]);
    expect(ev[0].payload.group).toMatchObject({ id: g.id, displayName: 'Ob Group' });
    expect(ev[1].payload.groupId).toBe(g.id);
    expect([...ev[1].payload.userIds].sort()).toEqual([a.id, b.id].sort());

    let empty: any;
    const ev2 = await eventsOf(async () => { empty = await createGroup('Ob Empty Group'); });
    expect(brief(ev2)).toEqual([['group.created', `group:${empty.id}`]]);
  });

  test('rename → group.updated with changed ["displayName"] and the previous name', async () => {
    const g = await createGroup('Ob Before');
    const ev = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([{ op: 'replace', path: 'displayName', value: 'Ob After' }]));
      expect(res.status).toBe(204);
    });
    expect(brief(ev)).toEqual([['group.updated', `group:${g.id}`]]);
    expect(ev[0].payload.changed).toEqual(['displayName']);
    expect(ev[0].payload.previous).toEqual({ displayName: 'Ob Before' });
    expect(ev[0].payload.group).toMatchObject({ id: g.id, displayName: 'Ob After' });

    // Through PUT (members omitted: the membership stands, no member event).
    const put = await eventsOf(async () => {
      expect((await scim('PUT', `${gw.api}/Groups/${g.id}`, t, { schemas: group('x').schemas, displayName: 'Ob Put' })).status).toBe(200);
    });
    expect(brief(put)).toEqual([['group.updated', `group:${g.id}`]]);
    expect(put[0].payload).toMatchObject({ changed: ['displayName'], previous: { displayName: 'Ob After' } });
  });

  test('member add and remove → one event each, with exactly the ids that changed', async () => {
    const a = await createUser('ob-m-a@example.com');
    const b = await createUser('ob-m-b@example.com');
    const c = await createUser('ob-m-c@example.com');
    const g = await createGroup('Ob Members', [a.id]);
    const add = await eventsOf(async () => {
      // a is already a member: only b and c are added.
      const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t,
        patchOp([{ op: 'add', path: 'members', value: [{ value: a.id }, { value: b.id }, { value: c.id }] }]));
      expect(res.status).toBe(204);
    });
    expect(brief(add)).toEqual([['group.members_added', `group:${g.id}`]]);
    expect(add[0].payload.groupId).toBe(g.id);
    expect([...add[0].payload.userIds].sort()).toEqual([b.id, c.id].sort());

    const remove = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([{ op: 'remove', path: `members[value eq "${a.id}"]` }]));
      expect(res.status).toBe(204);
    });
    expect(brief(remove)).toEqual([['group.members_removed', `group:${g.id}`]]);
    expect(remove[0].payload).toEqual({ groupId: g.id, userIds: [a.id] });

    // Rename and a member change in one PATCH: one commit, update first, then the member event.
    const both = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([
        { op: 'replace', path: 'displayName', value: 'Ob Members 2' },
        { op: 'add', path: 'members', value: [{ value: a.id }] },
      ]));
      expect(res.status).toBe(204);
    });
    expect(both.map((e) => e.type)).toEqual(['group.updated', 'group.members_added']);
    expect(both[1].payload.userIds).toEqual([a.id]);

    // PUT with a member list: the difference, removals before additions.
    const put = await eventsOf(async () => {
      const res = await scim('PUT', `${gw.api}/Groups/${g.id}`, t, group('Ob Members 2', [a.id]));
      expect(res.status).toBe(200);
    });
    expect(put.map((e) => e.type)).toEqual(['group.members_removed']);
    expect([...put[0].payload.userIds].sort()).toEqual([b.id, c.id].sort());
    expect(await membersOf(g.id)).toEqual([a.id]);
  });

  test('DELETE of a group → group.deleted only', async () => {
    const a = await createUser('ob-gd-a@example.com');
    const g = await createGroup('Ob Doomed', [a.id]);
    const ev = await eventsOf(async () => {
      expect((await scim('DELETE', `${gw.api}/Groups/${g.id}`, t)).status).toBe(204);
    });
    expect(brief(ev)).toEqual([['group.deleted', `group:${g.id}`]]);
    expect(ev[0].payload).toMatchObject({ id: g.id, displayName: 'Ob Doomed' });
  });

  test('a PATCH that changes nothing leaves no event and keeps the version', async () => {
    const a = await createUser('ob-noop-a@example.com');
    const b = await createUser('ob-noop-b@example.com');
    const g = await createGroup('Ob Noop', [a.id]);
    const noops = [
      patchOp([{ op: 'add', path: 'members', value: [{ value: a.id }] }]), // already a member
      patchOp([{ op: 'remove', path: `members[value eq "${b.id}"]` }]), // not a member
      patchOp([{ op: 'remove', path: 'members', value: [{ value: a.id }] }, { op: 'add', path: 'members', value: [{ value: a.id }] }]),
      patchOp([{ op: 'add', path: 'members', value: [{ value: b.id }] }, { op: 'remove', path: 'members', value: [{ value: b.id }] }]),
      patchOp([{ op: 'replace', path: 'displayName', value: 'Ob Noop' }]), // same name
    ];
    for (const body of noops) {
      const ev = await eventsOf(async () => {
        const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, body);
        expect(res.status).toBe(204);
        expect(res.headers.get('etag')).toBe(g.meta.version);
      });
      expect(ev).toEqual([]);
    }
    expect(await membersOf(g.id)).toEqual([a.id]);
  });

  test('15,000 members added in one PATCH → events of at most 1000 ids that together name each exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 15; i++) {
      const batch = await Promise.all(Array.from({ length: 1000 }, (_, j) => gw.store.createUser('default', {
        userName: `bulk-${i}-${j}@example.com`, active: true, emails: [], resource: { userName: `bulk-${i}-${j}@example.com`, active: true },
      })));
      ids.push(...batch.map((u) => u.id));
    }
    const g = await createGroup('Ob Huge');
    const added = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([{ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }]));
      expect(res.status).toBe(204);
    });
    expect(added.length).toBe(15);
    for (const e of added) {
      expect(e.type).toBe('group.members_added');
      expect(e.aggregate).toBe(`group:${g.id}`);
      expect(e.payload.groupId).toBe(g.id);
      expect(e.payload.userIds.length).toBeGreaterThan(0);
      expect(e.payload.userIds.length).toBeLessThanOrEqual(1000);
    }
    const named = added.flatMap((e) => e.payload.userIds as string[]);
    expect(named).toHaveLength(15_000);
    expect(new Set(named)).toEqual(new Set(ids));
    expect((await membersOf(g.id)).length).toBe(15_000);

    // And the way out: removing everyone is split the same way.
    const removed = await eventsOf(async () => {
      expect((await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([{ op: 'remove', path: 'members' }]))).status).toBe(204);
    });
    expect(removed.every((e) => e.type === 'group.members_removed' && e.payload.userIds.length <= 1000)).toBe(true);
    expect(new Set(removed.flatMap((e) => e.payload.userIds as string[]))).toEqual(new Set(ids));
    expect(removed.flatMap((e) => e.payload.userIds)).toHaveLength(15_000);
  }, 120_000);
});

describe('a refused request writes no event and changes nothing', () => {
  test('400: a group created with a member that is no user', async () => {
    const a = await createUser('ob-rej-a@example.com');
    const ev = await eventsOf(async () => {
      const res = await scim('POST', `${gw.api}/Groups`, t, group('Ob Rejected', [a.id, 'no-such-user']));
      expect(res.status).toBe(400);
      expect(res.body.scimType).toBe('invalidValue');
    });
    expect(ev).toEqual([]);
    const found = await scim('GET', `${gw.api}/Groups?filter=${encodeURIComponent('displayName eq "Ob Rejected"')}`, t);
    expect(found.body.totalResults).toBe(0);
  });

  test('400: a member PATCH naming a user that does not exist', async () => {
    const a = await createUser('ob-rej-b@example.com');
    const g = await createGroup('Ob Rej Patch');
    const ev = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Groups/${g.id}`, t,
        patchOp([{ op: 'add', path: 'members', value: [{ value: a.id }, { value: 'no-such-user' }] }]));
      expect(res.status).toBe(400);
    });
    expect(ev).toEqual([]);
    expect(await membersOf(g.id)).toEqual([]);
  });

  test('400: a PATCH whose second operation is invalid undoes the first', async () => {
    const a = await createUser('ob-rej-c@example.com');
    const g = await createGroup('Ob Two Ops');
    const bodies = [
      // The first op is applied in the transaction, the second fails in it: both roll back.
      patchOp([{ op: 'add', path: 'members', value: [{ value: a.id }] }, { op: 'add', path: 'members', value: [{ value: 'no-such-user' }] }]),
      patchOp([{ op: 'replace', path: 'displayName', value: 'Ob Renamed' }, { op: 'add', path: 'members', value: [{ value: 'no-such-user' }] }]),
      // The second op is malformed: refused before anything is written.
      patchOp([{ op: 'add', path: 'members', value: [{ value: a.id }] }, { op: 'frobnicate', path: 'members', value: [] }]),
      patchOp([{ op: 'replace', path: 'displayName', value: 'Ob Renamed' }, { op: 'add', path: 'members.display', value: 'x' }]),
    ];
    for (const body of bodies) {
      const ev = await eventsOf(async () => {
        expect((await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, body)).status).toBe(400);
      });
      expect(ev).toEqual([]);
    }
    const after = (await scim('GET', `${gw.api}/Groups/${g.id}`, t)).body;
    expect(after.displayName).toBe('Ob Two Ops');
    expect(after.meta.version).toBe(g.meta.version);
    expect(await membersOf(g.id)).toEqual([]);

    // A user PATCH likewise.
    const u = await createUser('ob-rej-d@example.com', { displayName: 'Keep Me' });
    const ev = await eventsOf(async () => {
      const res = await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([
        { op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'replace', path: 'noSuchAttribute', value: 1 },
      ]));
      expect(res.status).toBe(400);
    });
    expect(ev).toEqual([]);
    const uAfter = (await scim('GET', `${gw.api}/Users/${u.id}`, t)).body;
    expect(uAfter.displayName).toBe('Keep Me');
    expect(uAfter.meta.version).toBe(u.meta.version);
  });

  test('409: userName already taken (POST, PUT, PATCH)', async () => {
    await createUser('ob-taken@example.com');
    const u = await createUser('ob-mine@example.com');
    const ev = await eventsOf(async () => {
      expect((await scim('POST', `${gw.api}/Users`, t, user('OB-TAKEN@example.com'))).status).toBe(409);
      expect((await scim('PUT', `${gw.api}/Users/${u.id}`, t, user('ob-taken@example.com'))).status).toBe(409);
      expect((await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'userName', value: 'ob-taken@example.com' }]))).status).toBe(409);
    });
    expect(ev).toEqual([]);
    const after = (await scim('GET', `${gw.api}/Users/${u.id}`, t)).body;
    expect(after.userName).toBe('ob-mine@example.com');
    expect(after.meta.version).toBe(u.meta.version);
    const taken = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('userName eq "ob-taken@example.com"')}`, t);
    expect(taken.body.totalResults).toBe(1);
  });

  test('412: a stale If-Match on PUT, PATCH and DELETE of users and groups', async () => {
    const a = await createUser('ob-412@example.com');
    const b = await createUser('ob-412-b@example.com');
    const g = await createGroup('Ob 412', [a.id]);
    const stale = { 'If-Match': 'W/"999"' };
    const ev = await eventsOf(async () => {
      expect((await scim('PUT', `${gw.api}/Users/${a.id}`, t, user('ob-412@example.com', { displayName: 'No' }), stale)).status).toBe(412);
      expect((await scim('PATCH', `${gw.api}/Users/${a.id}`, t, patchOp([{ op: 'replace', path: 'active', value: false }]), stale)).status).toBe(412);
      expect((await scim('DELETE', `${gw.api}/Users/${a.id}`, t, undefined, stale)).status).toBe(412);
      expect((await scim('PUT', `${gw.api}/Groups/${g.id}`, t, group('Ob 412 No', [b.id]), stale)).status).toBe(412);
      expect((await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([{ op: 'add', path: 'members', value: [{ value: b.id }] }]), stale)).status).toBe(412);
      expect((await scim('DELETE', `${gw.api}/Groups/${g.id}`, t, undefined, stale)).status).toBe(412);
    });
    expect(ev).toEqual([]);
    const ua = (await scim('GET', `${gw.api}/Users/${a.id}`, t)).body;
    expect(ua).toMatchObject({ active: true, meta: { version: a.meta.version } });
    expect(ua.displayName).toBeUndefined();
    const ga = (await scim('GET', `${gw.api}/Groups/${g.id}`, t)).body;
    expect(ga).toMatchObject({ displayName: 'Ob 412', meta: { version: g.meta.version } });
    expect(await membersOf(g.id)).toEqual([a.id]);
  });
});

describe('no secrets in events', () => {
  test('a password given on POST, PUT or PATCH never reaches the outbox, nor does the token', async () => {
    const secrets = ['Pa55word-On-Post!', 'Pa55word-On-Put!', 'Pa55word-On-Patch!'];
    const mark = await lastSeq();
    const u = await createUser('ob-secret@example.com', { password: secrets[0], emails: [{ value: 'ob-secret@example.com', primary: true }] });
    expect((await scim('PUT', `${gw.api}/Users/${u.id}`, t, user('ob-secret@example.com', { password: secrets[1] }))).status).toBe(200);
    expect((await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'password', value: secrets[2] }]))).status).toBe(200);
    const g = await createGroup('Ob Secret', [u.id]);
    expect((await scim('DELETE', `${gw.api}/Users/${u.id}`, t)).status).toBe(204);
    const ev = await outbox(mark);
    expect(ev.map((e) => e.type)).toEqual(expect.arrayContaining(['user.created', 'user.updated', 'group.created', 'group.members_added', 'group.members_removed', 'user.deleted']));
    expect(ev.some((e) => e.aggregate === `group:${g.id}`)).toBe(true);
    for (const e of ev) {
      for (const s of secrets) expect(e.raw).not.toContain(s);
      expect(e.raw.toLowerCase()).not.toContain('password');
      expect(e.raw).not.toContain(t);
    }
    // Nor anywhere in the whole outbox.
    const all = (await outbox()).map((e) => e.raw).join('\n');
    for (const s of secrets) expect(all).not.toContain(s);
  });
});
