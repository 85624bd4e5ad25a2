// The store contract: what every Store and EgressStore method answers, ordering included, asserted on the store of
// the test pass (SQLite in the first pass, PostgreSQL in the second), so both backends are held to one behaviour.
import { StoreError } from '../../src/store/errors';
import type { Store, UserInput } from '../../src/store/types';
import { parseFilter } from '../../src/scim/filter';
import { startGateway, type TestGateway } from '../helpers/gateway';

let gw: TestGateway;
let store: Store;
let n = 0;
const T = 'contract';

beforeAll(async () => {
  gw = await startGateway();
  store = gw.store as unknown as Store;
});
afterAll(async () => { await gw.close(); });

function input(userName: string, extra: Partial<UserInput> = {}): UserInput {
  return { userName, active: true, emails: [{ value: userName, primary: true }], resource: { userName }, ...extra };
}
const newUser = async (tenant = T, extra: Partial<UserInput> = {}) => store.createUser(tenant, input(`c${++n}@example.com`, extra));
const newUsers = async (k: number) => { const out = []; for (let i = 0; i < k; i++) out.push(await newUser()); return out; };
const group = (displayName: string) => ({ displayName, resource: { displayName } });
const sorted = (xs: string[]) => [...xs].sort();
async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof StoreError ? e.code : `not a StoreError: ${String(e)}`;
  }
}
/** The outbox events a write made: [type, aggregate, userIds?]. */
async function eventsOf(fn: () => Promise<unknown>): Promise<[string, string, string[] | undefined][]> {
  const mark = (await store.egress.listOutbox({ order: 'desc', limit: 1 }))[0]?.seq ?? 0;
  await fn();
  return (await store.egress.listOutbox({ afterSeq: mark, limit: 10_000 }))
    .map((e) => [e.type, e.aggregate, e.payload.userIds as string[] | undefined]);
}

describe('users', () => {
  test('create, read, replace with versions; If-Match version; userName unique case-insensitively; tenant scoping', async () => {
    const u = await newUser();
    expect(u).toMatchObject({ version: 1, active: true });
    expect(u.created).toBe(u.modified);
    expect(await store.getUser(T, u.id)).toEqual(u);
    expect(await store.getUser('other-tenant', u.id)).toBeUndefined();
    const r = await store.replaceUser(T, u.id, input(u.userName, { displayName: 'Renamed' }), { ifVersion: 1 });
    expect(r).toMatchObject({ version: 2, displayName: 'Renamed' });
    expect(r.modified > u.modified).toBe(true);
    expect(await code(store.replaceUser(T, u.id, input(u.userName), { ifVersion: 1 }))).toBe('version_mismatch');
    expect(await code(store.createUser(T, input(u.userName.toUpperCase())))).toBe('uniqueness');
    expect(await code(store.createUser('other-tenant', input(u.userName)))).toBeUndefined();
    expect(await code(store.replaceUser('other-tenant-2', u.id, input('x@example.com')))).toBe('not_found');
    expect(await code(store.deleteUser(T, 'no-such-id'))).toBe('not_found');
  });

  test('lists: filter, sort both ways, paging and totals', async () => {
    const tenant = `list-${n}`;
    for (const name of ['b@x.example', 'a@x.example', 'c@x.example']) await store.createUser(tenant, input(name));
    const all = await store.listUsers(tenant, { startIndex: 1, count: 10, sortBy: 'userName', sortOrder: 'ascending' });
    expect([all.total, all.rows.map((r) => r.userName)]).toEqual([3, ['a@x.example', 'b@x.example', 'c@x.example']]);
    const desc = await store.listUsers(tenant, { startIndex: 2, count: 1, sortBy: 'userName', sortOrder: 'descending' });
    expect([desc.total, desc.rows.map((r) => r.userName)]).toEqual([3, ['b@x.example']]);
    const f = await store.listUsers(tenant, { filter: parseFilter('User', 'userName sw "A"'), startIndex: 1, count: 10 });
    expect(f.rows.map((r) => r.userName)).toEqual(['a@x.example']);
    expect((await store.listUsers(tenant, { startIndex: 5, count: 10 })).rows).toEqual([]);
  });

  test('inactive users and their memberships, in id order', async () => {
    const [a, b, c] = await newUsers(3);
    await store.replaceUser(T, b.id, input(b.userName, { active: false }));
    await store.replaceUser(T, a.id, input(a.userName, { active: false }));
    expect(sorted(await store.inactiveUsers(T, [a.id, b.id, c.id, 'nobody']))).toEqual(sorted([a.id, b.id]));
    const g1 = (await store.createGroup(T, group('Inactive 1'), [a.id, b.id, c.id])).group.id;
    const g2 = (await store.createGroup(T, group('Inactive 2'), [b.id])).group.id;
    const rows = await store.inactiveMemberships(T, [g1, g2], 100);
    const expected = [...sorted([a.id, b.id]).map((userId) => ({ groupId: g1, userId })), { groupId: g2, userId: b.id }]
      .sort((x, y) => (x.groupId === y.groupId ? (x.userId < y.userId ? -1 : 1) : x.groupId < y.groupId ? -1 : 1));
    expect(rows).toEqual(expected);
    expect(await store.inactiveMemberships(T, [g1, g2], 1)).toEqual(expected.slice(0, 1));
  });
});

describe('groups and members', () => {
  test('members come back in the order their users were created, on every page', async () => {
    const users = await newUsers(7);
    const scrambled = [users[4], users[0], users[6], users[2], users[5], users[1], users[3]].map((u) => u.id);
    const { group: g, added } = await store.createGroup(T, group('Ordered'), scrambled);
    expect(added).toEqual(sorted(scrambled));
    const all = await store.listMembers(T, g.id);
    expect(all.map((m) => m.value)).toEqual(users.map((u) => u.id));
    expect(all[0]).toEqual({ value: users[0].id, display: users[0].userName });
    const pages: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await store.pageMembers(T, g.id, { after, limit: 3 });
      pages.push(...page.members.map((m) => m.value));
      if (!page.next) break;
      after = page.next;
    }
    expect(pages).toEqual(users.map((u) => u.id));
    expect((await store.pageMembers('other-tenant', g.id, { limit: 3 })).members).toEqual([]);
  });

  test('changeGroup: each op as a set operation; added and removed sorted; versions move only with a change', async () => {
    const users = await newUsers(5);
    const ids = users.map((u) => u.id);
    const { group: g } = await store.createGroup(T, group('Changes'), [ids[0], ids[1]]);
    const add = await store.changeGroup(T, g.id, { members: [{ op: 'add', ids: [ids[3], ids[2], ids[1]] }] });
    expect([add.added, add.removed, add.group.version]).toEqual([sorted([ids[2], ids[3]]), [], 2]);
    const none = await store.changeGroup(T, g.id, { members: [{ op: 'add', ids: [ids[0]] }] });
    expect([none.added, none.removed, none.group.version]).toEqual([[], [], 2]);
    const replace = await store.changeGroup(T, g.id, { members: [{ op: 'replace', ids: [ids[4], ids[0]] }] });
    expect([replace.added, replace.removed, replace.group.version]).toEqual([[ids[4]], sorted([ids[1], ids[2], ids[3]]), 3]);
    const both = await store.changeGroup(T, g.id, { members: [{ op: 'remove', ids: [ids[4]] }, { op: 'add', ids: [ids[2], ids[1]] }] });
    expect([both.added, both.removed]).toEqual([sorted([ids[1], ids[2]]), [ids[4]]]);
    const all = await store.changeGroup(T, g.id, { members: [{ op: 'removeAll' }] });
    expect(all.removed).toEqual(sorted([ids[0], ids[1], ids[2]]));
    expect(await store.listMembers(T, g.id)).toEqual([]);
    // Unknown member ids refuse the whole change.
    const before = await store.getGroup(T, g.id);
    expect(await code(store.changeGroup(T, g.id, { members: [{ op: 'add', ids: [ids[0], 'nobody'] }] }))).toBe('invalid_members');
    expect(await store.getGroup(T, g.id)).toEqual(before);
    expect(await store.listMembers(T, g.id)).toEqual([]);
    expect(await code(store.changeGroup(T, g.id, { members: [] }, { ifVersion: 1 }))).toBe('version_mismatch');
    expect(await code(store.changeGroup(T, 'no-such-group', { members: [{ op: 'add', ids: [ids[0]] }] }))).toBe('not_found');
  });

  test('events of a write, in order: created, then members (sorted); a deleted user leaves its groups in id order', async () => {
    const users = await newUsers(3);
    const ids = users.map((u) => u.id);
    let g = '';
    const created = await eventsOf(async () => { g = (await store.createGroup(T, group('Evented'), [ids[2], ids[0]])).group.id; });
    expect(created).toEqual([['group.created', `group:${g}`, undefined], ['group.members_added', `group:${g}`, sorted([ids[0], ids[2]])]]);
    const h = (await store.createGroup(T, group('Evented 2'), [ids[0]])).group.id;
    const versions = [(await store.getGroup(T, g))!.version, (await store.getGroup(T, h))!.version];
    const deleted = await eventsOf(() => store.deleteUser(T, ids[0]));
    expect(deleted).toEqual([
      ...sorted([g, h]).map((x) => ['group.members_removed', `group:${x}`, [ids[0]]]),
      ['user.deleted', `user:${ids[0]}`, undefined],
    ]);
    expect([(await store.getGroup(T, g))!.version, (await store.getGroup(T, h))!.version]).toEqual(versions.map((v) => v + 1));
    expect((await store.listMembers(T, g)).map((m) => m.value)).toEqual([ids[2]]);
  });

  test('a deactivation writes an access event in each of the user\'s groups, in group id order; the membership stays', async () => {
    const [u] = await newUsers(1);
    const a = (await store.createGroup(T, group('Access A'), [u.id])).group.id;
    const b = (await store.createGroup(T, group('Access B'), [u.id])).group.id;
    const off = await eventsOf(() => store.replaceUser(T, u.id, input(u.userName, { active: false })));
    expect(off).toEqual([
      ['user.updated', `user:${u.id}`, undefined], ['user.deactivated', `user:${u.id}`, undefined],
      ...sorted([a, b]).map((x) => ['group.members_deactivated', `group:${x}`, [u.id]]),
    ]);
    const on = await eventsOf(() => store.replaceUser(T, u.id, input(u.userName)));
    expect(on).toEqual([['user.updated', `user:${u.id}`, undefined], ...sorted([a, b]).map((x) => ['group.members_reactivated', `group:${x}`, [u.id]])]);
    expect((await store.listMembers(T, a)).map((m) => m.value)).toEqual([u.id]);
  });
});

describe('egress', () => {
  test('ingest, claim in commit order per aggregate, settle, retry, release, replay, stats, deliveries newest first', async () => {
    const tenant = `egress-${n}`;
    const ua = await store.createUser(tenant, input(`ea${n}@example.com`));
    const ub = await store.createUser(tenant, input(`eb${n}@example.com`));
    await store.replaceUser(tenant, ua.id, input(ua.userName, { displayName: 'A2' }));
    const target = `t-${n}`;
    expect(await store.egress.ingest(target, tenant, ['user.created', 'user.updated'], 100)).toBe(3);
    expect(await store.egress.ingest(target, tenant, ['user.created', 'user.updated'], 100)).toBe(0);
    const batches = await store.egress.claim(target, Date.now(), 60_000, 10, 100);
    const byAggregate = Object.fromEntries(batches.map((b) => [b.aggregate, b.events.map((e) => e.type)]));
    expect(byAggregate).toEqual({ [`user:${ua.id}`]: ['user.created', 'user.updated'], [`user:${ub.id}`]: ['user.created'] });
    // Nothing more to claim while leased.
    expect(await store.egress.claim(target, Date.now(), 60_000, 10, 100)).toEqual([]);
    const a = batches.find((b) => b.aggregate === `user:${ua.id}`)!;
    const b = batches.find((x) => x.aggregate === `user:${ub.id}`)!;
    const aSeqs = a.events.map((e) => e.seq);
    expect(aSeqs).toEqual([...aSeqs].sort((x, y) => x - y));
    await store.egress.settle(target, aSeqs, 'done', {}, [{ target, aggregate: a.aggregate, firstSeq: aSeqs[0], lastSeq: aSeqs[1], outcome: 'success', status: 200 }]);
    await store.egress.retryLater(target, [b.events[0].seq], Date.now() - 1, { status: 503, error: 'busy' },
      [{ target, aggregate: b.aggregate, firstSeq: b.events[0].seq, lastSeq: b.events[0].seq, outcome: 'retry', status: 503 }]);
    const again = await store.egress.claim(target, Date.now(), 60_000, 10, 100);
    expect(again.map((x) => [x.aggregate, x.events[0].attempts])).toEqual([[b.aggregate, 1]]);
    await store.egress.release(target, [b.events[0].seq]);
    const released = await store.egress.claim(target, Date.now(), 60_000, 10, 100);
    expect(released.map((x) => x.events[0].attempts)).toEqual([1]);
    await store.egress.settle(target, [b.events[0].seq], 'dead', { status: 400, error: 'refused' });
    expect(await store.egress.stats(target)).toMatchObject({ pending: 0, inFlight: 0, done: 2, dead: 1, skipped: 0 });
    const rows = await store.egress.listDeliveries({ target, limit: 10 });
    expect(rows.map((r) => r.seq)).toEqual([...rows.map((r) => r.seq)].sort((x, y) => y - x));
    expect(rows.find((r) => r.state === 'dead')).toMatchObject({ lastStatus: 400, lastError: 'refused', attempts: 1 });
    const page2 = await store.egress.listDeliveries({ target, limit: 10, beforeSeq: rows[0].seq });
    expect(page2.map((r) => r.seq)).toEqual(rows.slice(1).map((r) => r.seq));
    expect(await store.egress.replay(target)).toBe(1);
    expect(await store.egress.replay(target, undefined, 'skipped')).toBe(0);
    expect(await store.egress.replay(target, [aSeqs[0]])).toBe(1);
    expect(await store.egress.stats(target)).toMatchObject({ pending: 2, done: 1, dead: 0 });
    const attempts = await store.egress.listAttempts({ target, limit: 10 });
    expect(attempts.map((x) => [x.outcome, x.status])).toEqual([['success', 200], ['retry', 503]]);
    expect((await store.egress.getDelivery(target, aSeqs[0]))!.attempts.map((x) => x.outcome)).toEqual(['success']);
    expect(await store.egress.getDelivery(target, 10 ** 9)).toBeUndefined();
  });

  test('links: set (replacing), get, list in creation order, remove; configured rules link existing groups once', async () => {
    const target = `links-${n}`;
    await store.egress.setLink({ target, kind: 'group', scimId: 'g1', tenant: T, remoteId: 'r1', source: 'admin' });
    await store.egress.setLink({ target, kind: 'user', scimId: 'u1', tenant: T, remoteId: '7', source: 'lookup' });
    await store.egress.setLink({ target, kind: 'group', scimId: 'g1', tenant: T, remoteId: 'r2', source: 'admin' });
    expect(await store.egress.getLink(target, 'group', 'g1')).toMatchObject({ remoteId: 'r2', source: 'admin' });
    expect((await store.egress.listLinks(target)).map((l) => [l.kind, l.scimId])).toEqual([['group', 'g1'], ['user', 'u1']]);
    expect((await store.egress.listLinks(target, 'user')).map((l) => l.remoteId)).toEqual(['7']);
    expect([await store.egress.removeLink(target, 'user', 'u1'), await store.egress.removeLink(target, 'user', 'u1')]).toEqual([true, false]);

    const name = `Linked ${n}`;
    const g = (await store.createGroup(T, group(name), [])).group.id;
    const rules = [{ target, tenant: T, match: { displayName: name }, remoteId: '42' }];
    expect(await store.applyGroupLinkRules(rules)).toBe(1);
    expect(await store.applyGroupLinkRules(rules)).toBe(0);
    expect(await store.egress.getLink(target, 'group', g)).toMatchObject({ remoteId: '42', source: 'config' });
    await store.applyGroupLinkRules([]);
  });

  test('links made in the same millisecond still list in the order they were made; replacing keeps the place', async () => {
    // created is kept to the millisecond, so ordering by it alone let CI see ['user', 'group'] once
    const target = `links-order-${n}`;
    const ids = Array.from({ length: 30 }, (_, i) => `z${String(29 - i).padStart(2, '0')}`);
    for (const id of ids) await store.egress.setLink({ target, kind: 'group', scimId: id, tenant: T, remoteId: id, source: 'admin' });
    await store.egress.setLink({ target, kind: 'group', scimId: ids[0], tenant: T, remoteId: 'again', source: 'admin' });
    expect((await store.egress.listLinks(target)).map((l) => l.scimId)).toEqual(ids);
    expect((await store.egress.listLinks(target, 'group'))[0].remoteId).toBe('again');
  });

  test('outbox: oldest first or newest first, by tenant and aggregate, after a seq', async () => {
    const tenant = `outbox-${n}`;
    const u = await store.createUser(tenant, input(`o${n}@example.com`));
    await store.replaceUser(tenant, u.id, input(u.userName, { displayName: 'O' }));
    const mine = await store.egress.listOutbox({ tenant, limit: 10 });
    expect(mine.map((e) => e.type)).toEqual(['user.created', 'user.updated']);
    expect(mine.every((e) => e.tenant === tenant && e.aggregate === `user:${u.id}`)).toBe(true);
    expect((await store.egress.listOutbox({ tenant, order: 'desc', limit: 1 }))[0].seq).toBe(mine[1].seq);
    expect((await store.egress.listOutbox({ tenant, afterSeq: mine[0].seq, limit: 10 })).map((e) => e.seq)).toEqual([mine[1].seq]);
    expect(mine[0].payload.user).toMatchObject({ id: u.id, userName: u.userName });
  });
});

describe('member JSON', () => {
  const joined = async (chunks: AsyncIterable<Buffer | string>) => {
    const parts: Buffer[] = [];
    for await (const c of chunks) parts.push(Buffer.from(c));
    return Buffer.concat(parts).toString('utf8');
  };

  test('memberJson writes each member as JSON.stringify would, in pageMembers order; nothing for an unknown group', async () => {
    const odd = ['Quote " and \\ backslash', 'Tab\tand\nnewline \u0001', 'Zoë 東京 😀', '</script>', 'del \u007f and \u2028'];
    const ids: string[] = [];
    for (const d of odd) ids.push((await store.createUser(T, input(`json-${++n}@example.com`, { displayName: d, resource: { userName: `json-${n}@example.com`, displayName: d } }))).id);
    ids.push((await newUser()).id);
    const g = (await store.createGroup(T, group('json'), ids)).group;
    const expected = (ref: string) => store.listMembers(T, g.id).then((ms) => ms.map((m) => JSON.stringify({ value: m.value, $ref: ref + m.value, type: 'User', ...(m.display !== undefined ? { display: m.display } : {}) })).join(','));
    for (const ref of ['https://gw.example/api/scim/v2/Users/', 'https://gw.example/"odd\\path"/Users/']) {
      expect(await joined(store.memberJson(T, g.id, ref))).toBe(await expected(ref));
    }
    expect(await joined(store.memberJson(T, 'no-such-group', 'r/'))).toBe('');
    expect(await joined(store.memberJson('other-tenant', g.id, 'r/'))).toBe('');
    expect(await joined(store.memberJson(T, (await store.createGroup(T, group('json-empty'), [])).group.id, 'r/'))).toBe('');
  });

  test('memberJson over more members than one chunk; a reader that stops early leaves the store working', async () => {
    // Rounds of 200: 6,000 writes started at once wait on PostgreSQL's pool longer than its connect timeout on a slow machine.
    const ids: string[] = [];
    for (let r = 0; r < 30; r++) {
      const round = await store.together((b) => Promise.all(Array.from({ length: 200 }, (_, k) => b.createUser(T, input(`chunks-${++n}-${k}@example.com`)))));
      ids.push(...round.map((u) => u.id));
    }
    const g = (await store.createGroup(T, group('chunks'), ids)).group;
    const text = await joined(store.memberJson(T, g.id, 'r/'));
    expect((JSON.parse(`[${text}]`) as { value: string }[]).map((m) => m.value)).toEqual((await store.listMembers(T, g.id)).map((m) => m.value));
    for (let i = 0; i < 12; i++) {
      for await (const chunk of store.memberJson(T, g.id, 'r/')) { expect(chunk.length).toBeGreaterThan(0); break; }
    }
    expect((await store.getGroup(T, g.id))?.id).toBe(g.id);
    expect(await joined(store.memberJson(T, g.id, 'r/'))).toBe(text);
  }, 60_000);
});

describe('target samples', () => {
  test('one sample per target and time (a second is ignored), read from a time on, oldest first; old ones dropped', async () => {
    const target = `samples-${++n}`;
    const x = (at: string, done: number) => ({ at, pending: 1, inFlight: 2, dead: 3, done, skipped: 4 });
    await store.egress.recordSample(target, x('2026-12-04T10:00:00.000Z', 5), '2026-12-03T10:00:00.000Z');
    await store.egress.recordSample(target, x('2026-12-04T10:01:00.000Z', 7), '2026-12-03T10:00:00.000Z');
    await store.egress.recordSample(target, x('2026-12-04T10:01:00.000Z', 99), '2026-12-03T10:00:00.000Z');
    await store.egress.recordSample(`${target}-other`, x('2026-12-04T10:01:00.000Z', 1), '2026-12-03T10:00:00.000Z');
    expect(await store.egress.listSamples(target, '2026-12-04T09:00:00.000Z')).toEqual([x('2026-12-04T10:00:00.000Z', 5), x('2026-12-04T10:01:00.000Z', 7)]);
    expect((await store.egress.listSamples(target, '2026-12-04T10:00:30.000Z')).map((r) => r.done)).toEqual([7]);
    await store.egress.recordSample(target, x('2026-12-05T10:02:00.000Z', 8), '2026-12-04T10:00:30.000Z');
    expect((await store.egress.listSamples(target, '2026-01-01T00:00:00.000Z')).map((r) => r.done)).toEqual([7, 8]);
  });
});

describe('together', () => {
  test('writes started in one turn commit, each succeeding or failing alone, with its own events; listeners hear of it', async () => {
    const taken = await newUser();
    const [member] = await newUsers(1);
    const g = (await store.createGroup(T, group('together'), [])).group;
    let commits = 0;
    const off = store.onCommit(() => { commits++; });
    const names = Array.from({ length: 140 }, (_, i) => `together-${++n}-${i}@example.com`);
    const settled = await store.together((b) => Promise.allSettled([
      ...names.map((name, i) => b.createUser(T, input(i === 70 ? taken.userName.toUpperCase() : name))),
      b.changeGroup(T, g.id, { members: [{ op: 'add', ids: ['no-such-user'] }] }),
      b.changeGroup(T, g.id, { members: [{ op: 'add', ids: [member.id] }] }, { ifVersion: 1 }),
    ]));
    off();
    const codes = settled.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as StoreError).code));
    expect(codes.filter((c) => c !== 'ok')).toEqual(['uniqueness', 'invalid_members']);
    expect(codes[70]).toBe('uniqueness');
    expect(commits).toBeGreaterThan(0);
    const made = settled.slice(0, 140).flatMap((r) => (r.status === 'fulfilled' ? [(r.value as { id: string }).id] : []));
    expect(made).toHaveLength(139);
    for (const id of [made[0], made[69], made[138]]) expect(await store.getUser(T, id)).toBeDefined();
    expect((await store.listMembers(T, g.id)).map((m) => m.value)).toEqual([member.id]);
    expect((await store.getGroup(T, g.id))!.version).toBe(2);
    const created = await store.egress.listOutbox({ tenant: T, order: 'desc', limit: 1000 });
    const createdIds = new Set(created.filter((e) => e.type === 'user.created').map((e) => e.aggregate.slice(5)));
    expect(made.every((id) => createdIds.has(id))).toBe(true);
  });
});

describe('reconciliation', () => {
  test('repairs reach their target only, audited as reconcile; seen remote ids give the three differences, paged', async () => {
    const tenant = `rec-${++n}`;
    const users = [];
    for (let i = 0; i < 5; i++) users.push(await store.createUser(tenant, input(`rec-${n}-${i}@example.com`)));
    const [a, b, c, d, e] = users;
    const g = (await store.createGroup(tenant, group('rec'), [a.id, b.id, c.id])).group;
    await store.replaceUser(tenant, c.id, input(c.userName, { active: false }));
    for (const [u, remote] of [[a, 'r-a'], [b, 'r-b'], [c, 'r-c'], [d, 'r-d']] as const) {
      await store.egress.setLink({ target: 'rec-t', kind: 'user', scimId: u.id, tenant, remoteId: remote, source: 'lookup' });
    }
    expect(e).toBeDefined();
    await store.egress.ingest('rec-t', tenant, ['group.members_added'], 1000);
    await store.egress.ingest('rec-other', tenant, ['group.members_added'], 1000);
    await store.queueRepairs(tenant, g.id, [{ type: 'group.members_added', aggregate: `group:${g.id}`, payload: { groupId: g.id, userIds: [a.id], reconcile: true }, target: 'rec-t' }],
      { subject: 'tester', mount: 'cli', operation: 'reconcile' });
    expect(await store.egress.ingest('rec-other', tenant, ['group.members_added'], 1000)).toBe(0);
    expect(await store.egress.ingest('rec-t', tenant, ['group.members_added'], 1000)).toBe(1);
    // The group's own members_added (taken in above) and the repair.
    expect(await store.egress.openCountOf('rec-t', `group:${g.id}`)).toBe(2);
    expect(await store.egress.openCountOf('rec-other', `group:${g.id}`)).toBe(1);
    const [record] = await store.listAudit({ tenant, operation: 'reconcile', limit: 5 });
    expect(record).toMatchObject({ subject: 'tester', resourceId: g.id, summary: { membersAdded: [a.id], target: 'rec-t' } });

    // The target holds b, c (inactive here), d (not a member) and a stranger; a is missing there.
    const run = `run-${n}`;
    await store.egress.addSeen(run, ['r-b', 'r-c']);
    await store.egress.addSeen(run, ['r-d', 'r-x', 'r-b']);
    const all = async (kind: 'missing' | 'extra' | 'unlinked', activeOnly: boolean) => {
      const out: string[] = [];
      let after: string | undefined;
      do {
        const page = await store.egress.reconcileDiff({ kind, target: 'rec-t', tenant, groupId: g.id, run, activeOnly, after, limit: 1 });
        out.push(...page.ids);
        after = page.next;
      } while (after !== undefined);
      return out;
    };
    expect(await all('missing', true)).toEqual([a.id]);
    expect(sorted(await all('extra', true))).toEqual(sorted([c.id, d.id]));
    expect(await all('extra', false)).toEqual([d.id]);
    expect(await all('unlinked', true)).toEqual(['r-x']);
    await store.egress.dropSeen(run);
    expect(await all('missing', true)).toEqual([a.id, b.id]);
  });
});

describe('the rest of the interface', () => {
  test('ping, pending migrations, commit listeners, token revocation, group read and delete, lease extension, attempts, audit pruning', async () => {
    await store.ping();
    expect(await store.pendingMigrations()).toEqual([]);
    let heard = 0;
    const off = store.onCommit(() => { heard++; });
    const u = await newUser();
    expect(heard).toBeGreaterThan(0);
    off();
    const after = heard;
    await newUser();
    expect(heard).toBe(after);

    expect(await store.isRevoked(`jti-${n}`)).toBe(false);
    await store.revokeToken(`jti-${n}`, new Date(Date.now() + 60_000));
    expect(await store.isRevoked(`jti-${n}`)).toBe(true);

    const g = (await store.createGroup(T, { displayName: 'Read Me', externalId: 'ext-read', resource: { displayName: 'Read Me', externalId: 'ext-read' } }, [u.id])).group;
    expect(await store.getGroup(T, g.id)).toMatchObject({ id: g.id, displayName: 'Read Me', externalId: 'ext-read', version: 1 });
    expect(await store.getGroup('other-tenant', g.id)).toBeUndefined();
    expect(await code(store.deleteGroup(T, g.id, { ifVersion: 9 }))).toBe('version_mismatch');
    const deleted = await eventsOf(() => store.deleteGroup(T, g.id));
    expect(deleted).toEqual([['group.deleted', `group:${g.id}`, undefined]]);
    expect(await store.getGroup(T, g.id)).toBeUndefined();
    expect(await code(store.deleteGroup(T, g.id))).toBe('not_found');

    const target = `lease-${n}`;
    const tenant = `lease-${n}`;
    await store.createUser(tenant, input(`lease${n}@example.com`));
    await store.egress.ingest(target, tenant, ['user.created'], 10);
    const [batch] = await store.egress.claim(target, Date.now(), 1, 10, 10);
    await store.egress.extendLease(target, batch.events.map((e) => e.seq), Date.now() + 60_000);
    // The lease was extended: an expired-lease claim finds nothing to take over.
    expect(await store.egress.claim(target, Date.now() + 1000, 1, 10, 10)).toEqual([]);
    await store.egress.recordAttempts([{ target, aggregate: batch.aggregate, firstSeq: batch.events[0].seq, lastSeq: batch.events[0].seq, outcome: 'skip', error: 'noted' }]);
    expect((await store.egress.listAttempts({ target, limit: 10 })).map((a) => [a.outcome, a.error])).toEqual([['skip', 'noted']]);
    expect(await store.egress.openCount()).toBeGreaterThanOrEqual(1);

    const at = `prune-${n}`;
    await store.createUser(at, input(`prune${n}@example.com`), { actor: { mount: '/api/scim/v2', operation: 'create' } });
    expect(await store.pruneAudit(new Date(Date.now() + 60_000).toISOString())).toBeGreaterThanOrEqual(1);
    expect(await store.listAudit({ tenant: at, limit: 10 })).toEqual([]);
  });
});

describe('audit', () => {
  test('one record per audited write, newest first, filtered and paged', async () => {
    const tenant = `audit-${n}`;
    const actor = { subject: 'alice', mount: '/api/scim/v2', operation: 'create' as const };
    const u = await store.createUser(tenant, input(`au${n}@example.com`), { actor });
    await store.replaceUser(tenant, u.id, input(u.userName, { displayName: 'Audited', resource: { userName: u.userName, displayName: 'Audited' } }), { actor: { ...actor, operation: 'replace' } });
    await store.createUser(tenant, input(`unaudited${n}@example.com`));
    const records = await store.listAudit({ tenant, limit: 10 });
    expect(records.map((r) => [r.operation, r.resourceId, r.subject])).toEqual([['replace', u.id, 'alice'], ['create', u.id, 'alice']]);
    expect(records[0].summary).toEqual({ attributes: ['displayName'] });
    expect((await store.listAudit({ tenant, operation: 'create', limit: 10 })).map((r) => r.operation)).toEqual(['create']);
    expect((await store.listAudit({ tenant, beforeSeq: records[0].seq, limit: 10 })).map((r) => r.seq)).toEqual([records[1].seq]);
  });
});
