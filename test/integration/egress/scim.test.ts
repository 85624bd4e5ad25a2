// The downstream-SCIM connector against the SCIM emulator (test/fixtures/emulators/scim-server.ts), through a real
// gateway: SCIM writes → outbox → worker → emulator. Expected bodies follow RFC 7644 §3.3 (POST), §3.5.2 (PatchOp
// add members / remove `members[value eq "id"]` / replace displayName), §3.6 (DELETE), §3.4.2.2 (filters), and for
// DronaHQ shared/egress-targets.md §D (bare `{"members":[{value,display}]}` PATCH, userEmail filter, no rename).
import { SCIM_ERROR, SCIM_GROUP, SCIM_PATCH, startScimEmulator, type ScimEmulator } from '../../fixtures/emulators/scim-server';
import { group, patchOp, scim, startGateway, user, type TestGateway } from '../../helpers/gateway';

const CRED = 'downstream-scim-bearer-0123456789';
const TARGET = 'down';

interface Setup { emu: ScimEmulator; gw: TestGateway; t: string }

async function setup(dialect: 'rfc7644' | 'dronahq'): Promise<Setup> {
  const emu = await startScimEmulator({ dialect, credential: CRED });
  const gw = await startGateway({
    targets: { targets: [{ name: TARGET, kind: 'scim', baseUrl: emu.baseUrl, credential: CRED, createGroups: true, options: { dialect } }] },
  });
  return { emu, gw, t: await gw.token() };
}

async function newUser(s: Setup, email: string): Promise<string> {
  const res = await scim('POST', `${s.gw.api}/Users`, s.t, user(email));
  expect(res.status).toBe(201);
  return res.body.id;
}

async function patchGroup(s: Setup, id: string, ops: unknown[]): Promise<void> {
  expect((await scim('PATCH', `${s.gw.api}/Groups/${id}`, s.t, patchOp(ops))).status).toBeLessThan(300);
}

const addMember = (s: Setup, g: string, u: string) => patchGroup(s, g, [{ op: 'add', path: 'members', value: [{ value: u }] }]);
const removeMember = (s: Setup, g: string, u: string) => patchGroup(s, g, [{ op: 'remove', path: `members[value eq "${u}"]` }]);

/** The group's deliveries to the target, oldest first. */
async function deliveries(s: Setup, groupId: string) {
  return (await s.gw.store.egress.listDeliveries({ target: TARGET, aggregate: `group:${groupId}`, limit: 1000 })).reverse();
}

async function attemptsOf(s: Setup, seq: number) {
  return (await s.gw.store.egress.getDelivery(TARGET, seq))!.attempts;
}

async function remoteGroupId(s: Setup, groupId: string): Promise<string> {
  const link = await s.gw.store.egress.getLink(TARGET, 'group', groupId);
  expect(link).toBeDefined();
  return link!.remoteId;
}

describe('rfc7644 dialect', () => {
  let s: Setup;
  const base = '/scim/v2';
  let a: string, b: string, gId: string, ra: string, rb: string;

  beforeAll(async () => {
    s = await setup('rfc7644');
  });
  afterAll(async () => {
    await s.gw.close();
    await s.emu.close();
  });
  beforeEach(() => s.emu.clearRequests());

  test('createGroups: POST /Groups, the id stored as a link, users looked up by userName then emails.value, members in one add', async () => {
    ra = s.emu.addUser('alice@example.com');
    rb = s.emu.addUser('bee', { emails: ['b+tag@example.com'] }); // found only by e-mail; "+" must survive URL encoding
    a = await newUser(s, 'alice@example.com');
    b = await newUser(s, 'b+tag@example.com');
    gId = (await scim('POST', `${s.gw.api}/Groups`, s.t, group('Engineering', [a, b], { externalId: 'eng-1' }))).body.id;
    await s.gw.worker!.drain();

    const posts = s.emu.requestsTo('POST', `${base}/Groups`);
    expect(posts).toHaveLength(1);
    expect(posts[0].body).toEqual({ schemas: [SCIM_GROUP], displayName: 'Engineering', externalId: 'eng-1' });
    expect(posts[0].headers.authorization).toBe(`Bearer ${CRED}`);
    expect(posts[0].headers['content-type']).toMatch(/^application\/scim\+json/);

    const rid = await remoteGroupId(s, gId);
    expect(s.emu.group(rid)!.displayName).toBe('Engineering');
    expect((await s.gw.store.egress.getLink(TARGET, 'group', gId))!.source).toBe('created');

    // Users are looked up in the event's order (the store's, not the request's): compare as a set, then the order per user.
    const filters = s.emu.requestsTo('GET', `${base}/Users`).map((r) => r.query.filter as string);
    expect([...filters].sort()).toEqual([
      'emails.value eq "b+tag@example.com"',
      'userName eq "alice@example.com"',
      'userName eq "b+tag@example.com"',
    ]);
    expect(filters.indexOf('userName eq "b+tag@example.com"')).toBeLessThan(filters.indexOf('emails.value eq "b+tag@example.com"'));
    expect((await s.gw.store.egress.getLink(TARGET, 'user', b))).toMatchObject({ remoteId: rb, source: 'lookup' });

    const patches = s.emu.requestsTo('PATCH', `${base}/Groups/${rid}`);
    expect(patches).toHaveLength(1);
    expect(patches[0].body).toEqual({
      schemas: [SCIM_PATCH],
      Operations: [{ op: 'add', path: 'members', value: expect.arrayContaining([{ value: ra }, { value: rb }]) }],
    });
    expect((patches[0].body as any).Operations[0].value).toHaveLength(2);
    expect(s.emu.members(rid)).toEqual([ra, rb].sort());
    expect((await deliveries(s, gId)).map((d) => d.state)).toEqual(['done', 'done']);
  });

  test('rename and externalId change: one PatchOp of replace operations', async () => {
    await patchGroup(s, gId, [{ op: 'replace', value: { displayName: 'Engineering 2', externalId: 'eng-2' } }]);
    await s.gw.worker!.drain();
    const rid = await remoteGroupId(s, gId);
    const patches = s.emu.requestsTo('PATCH', `${base}/Groups/${rid}`);
    expect(patches).toHaveLength(1);
    expect(patches[0].body).toEqual({
      schemas: [SCIM_PATCH],
      Operations: [
        { op: 'replace', path: 'displayName', value: 'Engineering 2' },
        { op: 'replace', path: 'externalId', value: 'eng-2' },
      ],
    });
    expect(s.emu.group(rid)).toMatchObject({ displayName: 'Engineering 2', externalId: 'eng-2' });
  });

  test('member changes coalesce: adds in one add operation, removes as several operations of one PatchOp', async () => {
    const rc = s.emu.addUser('carol@example.com');
    const rd = s.emu.addUser('dave@example.com');
    const c = await newUser(s, 'carol@example.com');
    const d = await newUser(s, 'dave@example.com');
    s.emu.clearRequests();
    await addMember(s, gId, c);
    await addMember(s, gId, d);
    await removeMember(s, gId, a);
    await removeMember(s, gId, b);
    await s.gw.worker!.drain();

    const rid = await remoteGroupId(s, gId);
    const patches = s.emu.requestsTo('PATCH', `${base}/Groups/${rid}`).map((r) => r.body);
    expect(patches).toEqual([
      { schemas: [SCIM_PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: rc }, { value: rd }] }] },
      {
        schemas: [SCIM_PATCH],
        Operations: [
          { op: 'remove', path: `members[value eq "${ra}"]` },
          { op: 'remove', path: `members[value eq "${rb}"]` },
        ],
      },
    ]);
    // alice and b were linked by the first lookup: only the new users are looked up.
    expect(s.emu.requestsTo('GET', `${base}/Users`)).toHaveLength(2);
    expect(s.emu.members(rid)).toEqual([rc, rd].sort());
  });

  test('a user the target does not have is skipped and recorded; the others are delivered', async () => {
    const rf = s.emu.addUser('frank@example.com');
    const e = await newUser(s, 'nobody-downstream@example.com');
    const f = await newUser(s, 'frank@example.com');
    await patchGroup(s, gId, [{ op: 'add', path: 'members', value: [{ value: e }, { value: f }] }]);
    await s.gw.worker!.drain();

    const rid = await remoteGroupId(s, gId);
    const filters = s.emu.requestsTo('GET', `${base}/Users`).map((r) => r.query.filter as string);
    expect(filters.filter((f) => f.includes('nobody-downstream'))).toEqual([
      'userName eq "nobody-downstream@example.com"',
      'emails.value eq "nobody-downstream@example.com"',
    ]);
    expect(filters.filter((f) => f.includes('frank'))).toEqual(['userName eq "frank@example.com"']);
    expect(s.emu.requestsTo('PATCH', `${base}/Groups/${rid}`).map((r) => r.body)).toEqual([
      { schemas: [SCIM_PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: rf }] }] },
    ]);
    const last = (await deliveries(s, gId)).pop()!;
    expect(last.state).toBe('done');
    expect(last.lastError).toContain(`user ${e} was not found at the target`);
    const attempts = (await attemptsOf(s, last.seq)).map((x) => [x.outcome, x.request ?? x.error]);
    expect(attempts).toHaveLength(5);
    expect(attempts).toEqual(expect.arrayContaining([
      ['success', 'GET /Users'],
      ['skip', `user ${e} was not found at the target`],
    ]));
    expect(attempts.filter((x) => x[1] === 'GET /Users')).toHaveLength(3);
    expect(attempts[4]).toEqual(['success', `PATCH /Groups/${rid}`]);
    expect(await s.gw.store.egress.getLink(TARGET, 'user', e)).toBeUndefined();
  });

  test('500 then success: retried on the schedule and delivered', async () => {
    s.emu.failNext(1, { status: 500, body: { schemas: [SCIM_ERROR], status: '500', detail: 'flaky' } });
    await patchGroup(s, gId, [{ op: 'replace', path: 'displayName', value: 'Engineering 3' }]);
    await s.gw.worker!.drain(5000);
    const last = (await deliveries(s, gId)).pop()!;
    expect(last).toMatchObject({ state: 'done', attempts: 1 });
    expect((await attemptsOf(s, last.seq)).map((x) => [x.outcome, x.status])).toEqual([['retry', 500], ['success', 200]]);
    expect(s.emu.group(await remoteGroupId(s, gId))!.displayName).toBe('Engineering 3');
  });

  test('400 is a dead letter with the SCIM error body; replay delivers it', async () => {
    s.emu.failNext(1, { status: 400, body: { schemas: [SCIM_ERROR], status: '400', scimType: 'invalidValue', detail: 'refused-by-test' } });
    await patchGroup(s, gId, [{ op: 'replace', path: 'displayName', value: 'Engineering 4' }]);
    await s.gw.worker!.drain(5000);
    const dead = (await deliveries(s, gId)).pop()!;
    expect(dead).toMatchObject({ state: 'dead', lastStatus: 400 });
    expect(dead.lastError).toContain('refused-by-test');
    expect((await attemptsOf(s, dead.seq)).map((x) => x.outcome)).toEqual(['permanent']);

    expect(await s.gw.store.egress.replay(TARGET)).toBe(1);
    await s.gw.worker!.drain(5000);
    expect((await s.gw.store.egress.getDelivery(TARGET, dead.seq))!.delivery.state).toBe('done');
    expect(s.emu.group(await remoteGroupId(s, gId))!.displayName).toBe('Engineering 4');
  });

  test('a create whose answer was lost is retried: the 409 leads to the existing group, linked, not a second one', async () => {
    s.emu.failNext(1, { status: 502, afterHandling: true });
    const g = (await scim('POST', `${s.gw.api}/Groups`, s.t, group('Sales'))).body.id;
    await s.gw.worker!.drain(5000);
    expect(s.emu.requestsTo('POST', `${base}/Groups`).map((r) => r.status)).toEqual([502, 409]);
    expect(s.emu.requestsTo('GET', `${base}/Groups`)[0].query.filter).toBe('displayName eq "Sales"');
    const sales = [...s.emu.groups.values()].filter((x) => x.displayName === 'Sales');
    expect(sales).toHaveLength(1);
    expect(await remoteGroupId(s, g)).toBe(sales[0].id);
    expect((await deliveries(s, g)).every((d) => d.state === 'done')).toBe(true);
  });

  test('delete: DELETE /Groups/{id} and the link removed; a group already gone downstream (404) counts as done', async () => {
    const rid = await remoteGroupId(s, gId);
    expect((await scim('DELETE', `${s.gw.api}/Groups/${gId}`, s.t)).status).toBe(204);
    await s.gw.worker!.drain();
    expect(s.emu.requestsTo('DELETE', `${base}/Groups/${rid}`).map((r) => r.status)).toEqual([204]);
    expect(s.emu.group(rid)).toBeUndefined();
    expect(await s.gw.store.egress.getLink(TARGET, 'group', gId)).toBeUndefined();

    const g = (await scim('POST', `${s.gw.api}/Groups`, s.t, group('Temporary'))).body.id;
    await s.gw.worker!.drain();
    const tmp = await remoteGroupId(s, g);
    s.emu.groups.delete(tmp);
    await scim('DELETE', `${s.gw.api}/Groups/${g}`, s.t);
    await s.gw.worker!.drain();
    expect(s.emu.requestsTo('DELETE', `${base}/Groups/${tmp}`).map((r) => r.status)).toEqual([404]);
    expect((await deliveries(s, g)).pop()!.state).toBe('done');
    expect(await s.gw.store.egress.getLink(TARGET, 'group', g)).toBeUndefined();
  });
});

describe('dronahq dialect', () => {
  let s: Setup;
  const base = '/api/scim/v2';
  const users: Record<string, { id: string; remote: string }> = {};
  let gId: string;

  /** The members of the last PATCH sent to the group, sorted by value. */
  const lastPatch = async () => {
    const rid = await remoteGroupId(s, gId);
    const patches = s.emu.requestsTo('PATCH', `${base}/Groups/${rid}`);
    return patches[patches.length - 1];
  };
  const memberBody = (...names: string[]) => ({
    members: names.map((n) => ({ value: Number(users[n].remote), display: `${n}@example.com` })).sort((x, y) => x.value - y.value),
  });
  const sorted = (body: any) => ({ ...body, members: [...body.members].sort((x: any, y: any) => x.value - y.value) });

  beforeAll(async () => {
    s = await setup('dronahq');
    for (const n of ['pat', 'quinn', 'rae']) {
      const remote = s.emu.addUser(`${n}@example.com`);
      users[n] = { id: await newUser(s, `${n}@example.com`), remote };
    }
  });
  afterAll(async () => {
    await s.gw.close();
    await s.emu.close();
  });
  beforeEach(() => s.emu.clearRequests());

  test('create: POST {displayName, members:[]} (200), link stored, then the whole list as a bare PATCH body; users found by userEmail', async () => {
    gId = (await scim('POST', `${s.gw.api}/Groups`, s.t, group('Ops', [users.pat.id, users.quinn.id]))).body.id;
    await s.gw.worker!.drain();

    const posts = s.emu.requestsTo('POST', `${base}/Groups`);
    expect(posts.map((r) => [r.status, r.body])).toEqual([[200, { displayName: 'Ops', members: [] }]]);
    expect(posts[0].headers.authorization).toBe(`Bearer ${CRED}`);
    const rid = await remoteGroupId(s, gId);
    expect(rid).toMatch(/^\d+$/);
    expect(s.emu.requestsTo('GET', `${base}/Users`).map((r) => r.query.filter).sort()).toEqual([
      'userEmail eq "pat@example.com"', 'userEmail eq "quinn@example.com"',
    ]);
    const patch = await lastPatch();
    expect(Object.keys(patch.body as object)).toEqual(['members']);
    expect(sorted(patch.body)).toEqual(memberBody('pat', 'quinn'));
    expect(s.emu.members(rid)).toEqual([users.pat.remote, users.quinn.remote].sort());
  });

  test('every member change sends the whole desired list, including after removals and down to empty', async () => {
    const rid = await remoteGroupId(s, gId);
    await addMember(s, gId, users.rae.id);
    await s.gw.worker!.drain();
    expect(sorted((await lastPatch()).body)).toEqual(memberBody('pat', 'quinn', 'rae'));

    await removeMember(s, gId, users.pat.id);
    await s.gw.worker!.drain();
    expect(sorted((await lastPatch()).body)).toEqual(memberBody('quinn', 'rae'));
    expect(s.emu.members(rid)).toEqual([users.quinn.remote, users.rae.remote].sort());

    await removeMember(s, gId, users.quinn.id);
    await removeMember(s, gId, users.rae.id);
    await s.gw.worker!.drain();
    const patches = s.emu.requestsTo('PATCH', `${base}/Groups/${rid}`);
    expect(patches).toHaveLength(3); // the two removals were one batch: one PATCH
    expect(patches[2].body).toEqual({ members: [] });
    expect(s.emu.members(rid)).toEqual([]);
    // Only rae (new to the group) was looked up: the others' links are remembered.
    expect(s.emu.requestsTo('GET', `${base}/Users`)).toHaveLength(1);
  });

  test('a user DronaHQ does not have is skipped and recorded; the list carries the others', async () => {
    const ghost = await newUser(s, 'ghost@example.com');
    await patchGroup(s, gId, [{ op: 'add', path: 'members', value: [{ value: ghost }, { value: users.pat.id }] }]);
    await s.gw.worker!.drain();
    expect(sorted((await lastPatch()).body)).toEqual(memberBody('pat'));
    const last = (await deliveries(s, gId)).pop()!;
    expect(last.state).toBe('done');
    expect(last.lastError).toContain(`user ${ghost} was not found at the target`);
    expect((await attemptsOf(s, last.seq)).map((x) => [x.outcome, x.request ?? x.error])).toEqual([
      ['success', 'GET /Users'],
      ['skip', `user ${ghost} was not found at the target`],
      ['success', `PATCH /Groups/${await remoteGroupId(s, gId)}`],
    ]);
    // The ghost stays in the gateway's group: remove it so later lists are about the users DronaHQ has.
    await removeMember(s, gId, ghost);
    await s.gw.worker!.drain();
  });

  test('a rename is not sent (DronaHQ documents none): recorded as a skip, the delivery done', async () => {
    await patchGroup(s, gId, [{ op: 'replace', path: 'displayName', value: 'Ops Renamed' }]);
    await s.gw.worker!.drain();
    expect(s.emu.requests).toHaveLength(0);
    const last = (await deliveries(s, gId)).pop()!;
    expect(last.type).toBe('group.updated');
    expect(last.state).toBe('done');
    expect(last.lastError).toContain('DronaHQ documents no group rename');
    expect((await attemptsOf(s, last.seq)).map((x) => x.outcome)).toEqual(['skip']);
    expect(s.emu.group(await remoteGroupId(s, gId))!.displayName).toBe('Ops');
  });

  test('500 then success is retried; 400 (empty body) is a dead letter; replay delivers it', async () => {
    s.emu.failNext(1, { status: 500 });
    await addMember(s, gId, users.quinn.id);
    await s.gw.worker!.drain(5000);
    let last = (await deliveries(s, gId)).pop()!;
    expect(last.state).toBe('done');
    expect((await attemptsOf(s, last.seq)).map((x) => [x.outcome, x.request, x.status])).toEqual([
      ['retry', `PATCH /Groups/${await remoteGroupId(s, gId)}`, 500],
      ['success', `PATCH /Groups/${await remoteGroupId(s, gId)}`, 200],
    ]);
    expect(sorted((await lastPatch()).body)).toEqual(memberBody('pat', 'quinn'));

    s.emu.clearRequests();
    s.emu.failNext(1, { status: 400 });
    await addMember(s, gId, users.rae.id);
    await s.gw.worker!.drain(5000);
    last = (await deliveries(s, gId)).pop()!;
    expect(last).toMatchObject({ state: 'dead', lastStatus: 400 });
    expect(await s.gw.store.egress.replay(TARGET)).toBe(1);
    await s.gw.worker!.drain(5000);
    expect((await s.gw.store.egress.getDelivery(TARGET, last.seq))!.delivery.state).toBe('done');
    expect(sorted((await lastPatch()).body)).toEqual(memberBody('pat', 'quinn', 'rae'));
  });

  test('delete: DELETE (200) and the link removed; a group already gone (400, and GET 400) counts as done', async () => {
    const rid = await remoteGroupId(s, gId);
    await scim('DELETE', `${s.gw.api}/Groups/${gId}`, s.t);
    await s.gw.worker!.drain();
    expect(s.emu.requestsTo('DELETE', `${base}/Groups/${rid}`).map((r) => r.status)).toEqual([200]);
    expect(s.emu.group(rid)).toBeUndefined();
    expect(await s.gw.store.egress.getLink(TARGET, 'group', gId)).toBeUndefined();

    const g = (await scim('POST', `${s.gw.api}/Groups`, s.t, group('Short-lived'))).body.id;
    await s.gw.worker!.drain();
    const tmp = (await s.gw.store.egress.getLink(TARGET, 'group', g))!.remoteId;
    s.emu.groups.delete(tmp);
    await scim('DELETE', `${s.gw.api}/Groups/${g}`, s.t);
    await s.gw.worker!.drain();
    expect(s.emu.requestsTo('DELETE', `${base}/Groups/${tmp}`).map((r) => r.status)).toEqual([400]);
    expect(s.emu.requestsTo('GET', `${base}/Groups/${tmp}`).map((r) => r.status)).toEqual([400]);
    expect((await s.gw.store.egress.listDeliveries({ target: TARGET, aggregate: `group:${g}`, limit: 10 }))[0].state).toBe('done');
  });

  test('a create refused because the name exists (400) links the existing DronaHQ group', async () => {
    const existing = s.emu.addGroup('Preexisting');
    const g = (await scim('POST', `${s.gw.api}/Groups`, s.t, group('Preexisting', [users.pat.id]))).body.id;
    await s.gw.worker!.drain();
    expect(s.emu.requestsTo('POST', `${base}/Groups`).map((r) => r.status)).toEqual([400]);
    expect((await s.gw.store.egress.getLink(TARGET, 'group', g))!.remoteId).toBe(existing);
    expect(s.emu.members(existing)).toEqual([users.pat.remote]);
  });
});
