// Timeslot connector against the Timeslot emulator, through a real gateway: SCIM writes in, the delivery worker
// drained, then the emulator's state and request log checked (method, path, query, body, auth header).
import { startTimeslotEmulator, type TimeslotEmulator } from '../../fixtures/emulators/timeslot';
import {
  addToGroup, allAuthorized, attempts, calls, deleteGroup, deliverDirect, deliveries, inAddedOrder, newGroup, newUser,
  removeFromGroup, renameGroup,
} from '../../helpers/egress';
import { startGateway, type TestGateway } from '../../helpers/gateway';

const CRED = 'ts-test-auth-token-0123456789';
const AUTH = `Token token=${CRED}`;
const NAME = 'ts';

let em: TimeslotEmulator;
let gw: TestGateway;
let t: string;
const others: { close(): Promise<void> }[] = [];

const search = (email: string) => ({ method: 'GET', path: '/v1/search/user', query: { query: email, attr: 'email' }, body: undefined });
const invite = (group: number, invitees: number[]) => ({ method: 'POST', path: `/v1/groups/${group}/members`, query: {}, body: { invitees } });
const patch = (group: number, name: string) => ({ method: 'PATCH', path: `/v1/groups/${group}`, query: {}, body: { name } });

async function start(target: Record<string, unknown> = {}, more: Record<string, unknown>[] = []) {
  gw = await startGateway({
    targets: { targets: [{ name: NAME, kind: 'timeslot', baseUrl: em.url, credential: CRED, ...target }, ...more] },
  });
  t = await gw.token();
}

async function states(target = NAME) {
  return (await deliveries(gw, target)).map((d) => d.state);
}

beforeEach(async () => {
  em = await startTimeslotEmulator({ credential: CRED });
});
afterEach(async () => {
  await gw?.close();
  await em.close();
  for (const o of others.splice(0)) await o.close();
});

describe('group mapping', () => {
  test('by displayName: members invited in one call; the link survives SCIM renames (same remote id each time)', async () => {
    const ann = em.addUser('ann@example.com');
    const bob = em.addUser('bob@example.com');
    const remote = em.addGroup('Engineering');
    await start({ groups: [{ match: { displayName: 'Engineering' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const ub = await newUser(gw, t, 'bob@example.com');
    const g = await newGroup(gw, t, 'Engineering', [ua, ub]);
    await gw.worker!.drain();

    expect(em.members(remote)).toEqual([ann, bob]);
    const order = await inAddedOrder(gw, NAME, { [ua]: ['ann@example.com', ann] as const, [ub]: ['bob@example.com', bob] as const });
    expect(order).toHaveLength(2);
    expect(calls(em)).toEqual([...order.map(([email]) => search(email)), invite(remote, order.map(([, id]) => id))]);
    expect(em.requests.map((r) => r.status)).toEqual([200, 200, 201]);
    expect(allAuthorized(em, 'authorization', AUTH)).toBe(true);
    expect(await states()).toEqual(['done', 'done']);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(remote), source: 'config' });

    for (const name of ['Platform', 'Platform Team']) {
      em.clearRequests();
      await renameGroup(gw, t, g, name);
      await gw.worker!.drain();
      expect(calls(em)).toEqual([patch(remote, name)]);
      expect(em.group(remote)!.name).toBe(name);
      expect((await gw.store.egress.getLink(NAME, 'group', g))!.remoteId).toBe(String(remote));
    }
  });

  test('by externalId', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Sales Team');
    await start({ groups: [{ match: { externalId: 'ext-sales' }, remoteId: String(remote) }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Sales', [ua], { externalId: 'ext-sales' });
    await gw.worker!.drain();
    expect(calls(em)).toEqual([search('ann@example.com'), invite(remote, [ann])]);
    expect(em.members(remote)).toEqual([ann]);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(remote), source: 'config' });
  });

  test('by SCIM id (target configured after the group existed: its history is delivered)', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Support');
    const first = await startGateway();
    const ft = await first.token();
    const ua = await newUser(first, ft, 'ann@example.com');
    const g = await newGroup(first, ft, 'Helpdesk', [ua]);
    await first.stop();
    gw = await startGateway({
      dir: first.dir,
      targets: { targets: [{ name: NAME, kind: 'timeslot', baseUrl: em.url, credential: CRED, groups: [{ match: { id: g }, remoteId: remote }] }] },
    });
    await gw.worker!.drain();
    expect(calls(em)).toEqual([search('ann@example.com'), invite(remote, [ann])]);
    expect(em.members(remote)).toEqual([ann]);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(remote), source: 'config' });
  });

  test('createGroups: creates the group, links it, then adds the members', async () => {
    const ann = em.addUser('ann@example.com');
    await start({ createGroups: true });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Brand New', [ua]);
    await gw.worker!.drain();
    const created = [...em.groups.values()].find((x) => x.name === 'Brand New')!;
    expect(calls(em)).toEqual([
      { method: 'POST', path: '/v1/groups', query: {}, body: { name: 'Brand New' } },
      search('ann@example.com'),
      invite(created.id, [ann]),
    ]);
    expect(em.requests[0].status).toBe(201);
    expect(em.members(created.id)).toEqual([ann]);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(created.id), source: 'created' });
  });

  test('an unlinked group (no mapping, createGroups off) is skipped without any call', async () => {
    em.addUser('ann@example.com');
    await start();
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Unmapped', [ua]);
    await renameGroup(gw, t, g, 'Still Unmapped');
    await gw.worker!.drain();
    expect(await states()).toEqual(['skipped', 'skipped', 'skipped']);
    expect(em.requests).toHaveLength(0);
  });
});

describe('user mapping', () => {
  test('primary e-mail, else the first e-mail, else a userName that is an e-mail', async () => {
    em.addUser('ann.home@example.com');
    const annWork = em.addUser('ann.work@example.com');
    const cyFirst = em.addUser('cy+first@example.com');
    em.addUser('cy.second@example.com');
    const dee = em.addUser('dee@example.com');
    const remote = em.addGroup('Mixed');
    await start({ groups: [{ match: { displayName: 'Mixed' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann', { emails: [{ value: 'ann.home@example.com' }, { value: 'ann.work@example.com', primary: true }] });
    const uc = await newUser(gw, t, 'cy', { emails: [{ value: 'cy+first@example.com' }, { value: 'cy.second@example.com' }] });
    const ud = await newUser(gw, t, 'dee@example.com');
    const g = await newGroup(gw, t, 'Mixed', [ua, uc, ud]);
    await gw.worker!.drain();
    const order = await inAddedOrder(gw, NAME, {
      [ua]: ['ann.work@example.com', annWork] as const, [uc]: ['cy+first@example.com', cyFirst] as const, [ud]: ['dee@example.com', dee] as const,
    });
    expect(order).toHaveLength(3);
    expect(calls(em)).toEqual([...order.map(([email]) => search(email)), invite(remote, order.map(([, id]) => id))]);
    expect(em.members(remote)).toEqual([annWork, cyFirst, dee]);

    em.clearRequests();
    await removeFromGroup(gw, t, g, uc);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'DELETE', path: `/v1/groups/${remote}/members/${cyFirst}`, query: {}, body: undefined }]);
    expect(em.members(remote)).toEqual([annWork, dee]);
  });

  test('a user the target does not have is a recorded skip; the others are added and the delivery is done', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Partial');
    await start({ groups: [{ match: { displayName: 'Partial' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const ghost = await newUser(gw, t, 'ghost@example.com');
    await newGroup(gw, t, 'Partial', [ua, ghost]);
    await gw.worker!.drain();
    const looked = await inAddedOrder(gw, NAME, { [ua]: search('ann@example.com'), [ghost]: search('ghost@example.com') });
    expect(calls(em)).toEqual([...looked, invite(remote, [ann])]);
    expect(await states()).toEqual(['done', 'done']);
    const skips = (await attempts(gw, NAME)).filter((a) => a.outcome === 'skip').map((a) => a.error);
    expect(skips).toEqual([`user ${ghost} was not found at the target`]);
  });
});

describe('coalescing', () => {
  test('10 renames back to back → one PATCH with the last name; several adds → one invite call', async () => {
    const ids = [em.addUser('u1@example.com'), em.addUser('u2@example.com'), em.addUser('u3@example.com')];
    const remote = em.addGroup('Ops');
    await start({ groups: [{ match: { displayName: 'Ops' }, remoteId: remote }] });
    const users = [await newUser(gw, t, 'u1@example.com'), await newUser(gw, t, 'u2@example.com'), await newUser(gw, t, 'u3@example.com')];
    const g = await newGroup(gw, t, 'Ops');
    await gw.worker!.drain();
    for (let i = 1; i <= 10; i++) await renameGroup(gw, t, g, `Ops ${i}`);
    for (const u of users) await addToGroup(gw, t, g, [u]);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([
      patch(remote, 'Ops 10'), search('u1@example.com'), search('u2@example.com'), search('u3@example.com'), invite(remote, ids),
    ]);
    expect(em.group(remote)!.name).toBe('Ops 10');
    expect(em.members(remote)).toEqual(ids);
    expect((await states()).every((s) => s === 'done')).toBe(true);
  });
});

describe('failures', () => {
  test('429 with Retry-After is retried after the wait, then succeeds', async () => {
    const remote = em.addGroup('Busy');
    await start({ groups: [{ match: { displayName: 'Busy' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Busy');
    await gw.worker!.drain();
    em.failNext(1, { status: 429, headers: { 'Retry-After': 1 }, body: { error: 'rate limit exceeded' } });
    await renameGroup(gw, t, g, 'Busy 2');
    await gw.worker!.drain(15_000);
    const patches = em.requestsTo('PATCH', `/v1/groups/${remote}`);
    expect(patches.map((r) => r.status)).toEqual([429, 200]);
    expect(patches[1].time - patches[0].time).toBeGreaterThanOrEqual(950);
    expect((await attempts(gw, NAME)).map((a) => [a.outcome, a.status])).toEqual([['retry', 429], ['success', 200]]);
    expect(em.group(remote)!.name).toBe('Busy 2');
  });

  test('503 twice, then success: attempts retry, retry, success', async () => {
    const remote = em.addGroup('Flaky');
    await start({ groups: [{ match: { displayName: 'Flaky' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Flaky');
    await gw.worker!.drain();
    em.failNext(2, { status: 503 });
    await renameGroup(gw, t, g, 'Flaky 2');
    await gw.worker!.drain(10_000);
    expect((await attempts(gw, NAME)).map((a) => [a.request, a.outcome, a.status])).toEqual([
      [`PATCH /v1/groups/${remote}`, 'retry', 503],
      [`PATCH /v1/groups/${remote}`, 'retry', 503],
      [`PATCH /v1/groups/${remote}`, 'success', 200],
    ]);
    expect(em.group(remote)!.name).toBe('Flaky 2');
    const rows = await deliveries(gw, NAME);
    expect(rows.map((d) => d.state)).toEqual(['done', 'done']);
    expect(rows[1].attempts).toBe(2);
  });

  test('403 (not the owner) is a dead letter with the status; replay after the fix delivers', async () => {
    const ann = em.addUser('ann@example.com');
    const other = em.addUser('other-owner@example.com');
    const remote = em.addGroup('Finance', { ownerId: other });
    await start({ groups: [{ match: { displayName: 'Finance' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    await newGroup(gw, t, 'Finance', [ua]);
    await gw.worker!.drain();
    const dead = await deliveries(gw, NAME);
    expect(dead.map((d) => d.state)).toEqual(['dead', 'dead']);
    expect(dead[1].lastStatus).toBe(403);
    expect(dead[1].lastError).toBe(`POST /v1/groups/${remote}/members answered 403`); // Pundit denial: no body
    expect(em.members(remote)).toEqual([]);

    em.group(remote)!.ownerId = em.ownerId;
    expect(await gw.store.egress.replay(NAME)).toBe(2);
    await gw.worker!.drain();
    expect(await states()).toEqual(['done', 'done']);
    expect(em.members(remote)).toEqual([ann, other]); // the former owner stays a member
  });

  test('400 is a dead letter with status and body; replay delivers', async () => {
    const remote = em.addGroup('Picky');
    await start({ groups: [{ match: { displayName: 'Picky' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Picky');
    await gw.worker!.drain();
    em.failNext(1, { status: 400, body: { error: 'bad request, try again later' } });
    await renameGroup(gw, t, g, 'Picky 2');
    await gw.worker!.drain();
    const [, dead] = await deliveries(gw, NAME);
    expect(dead.state).toBe('dead');
    expect(dead.lastStatus).toBe(400);
    expect(dead.lastError).toContain('bad request, try again later');
    expect(await gw.store.egress.replay(NAME)).toBe(1);
    await gw.worker!.drain();
    expect(await states()).toEqual(['done', 'done']);
    expect(em.group(remote)!.name).toBe('Picky 2');
  });
});

test('group delete → remote DELETE and the link removed', async () => {
  const remote = em.addGroup('Doomed');
  await start({ groups: [{ match: { displayName: 'Doomed' }, remoteId: remote }] });
  const g = await newGroup(gw, t, 'Doomed');
  await gw.worker!.drain();
  await deleteGroup(gw, t, g);
  await gw.worker!.drain();
  expect(calls(em)).toEqual([{ method: 'DELETE', path: `/v1/groups/${remote}`, query: {}, body: undefined }]);
  expect(em.group(remote)!.deletedAt).not.toBeNull(); // Timeslot soft-deletes
  expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeUndefined();
  expect(await states()).toEqual(['done', 'done']);
});

test('tenant separation: a target of tenant "other" receives nothing from tenant "default", and vice versa', async () => {
  const otherEm = await startTimeslotEmulator({ credential: CRED });
  others.push(otherEm);
  em.addUser('ann@example.com');
  const otherAnn = otherEm.addUser('ann@example.com');
  await start({ createGroups: true }, [{ name: 'ts-other', kind: 'timeslot', tenant: 'other', baseUrl: otherEm.url, credential: CRED, createGroups: true }]);
  await newGroup(gw, t, 'Default Group', [await newUser(gw, t, 'ann@example.com')]);
  await gw.worker!.drain();
  expect([...em.groups.values()].map((x) => x.name)).toEqual(['Default Group']);
  expect(otherEm.requests).toHaveLength(0);
  expect(await deliveries(gw, 'ts-other')).toHaveLength(0);

  em.clearRequests();
  const ot = await gw.token('other');
  await newGroup(gw, ot, 'Other Group', [await newUser(gw, ot, 'ann@example.com')]);
  await gw.worker!.drain();
  expect(em.requests).toHaveLength(0);
  const created = [...otherEm.groups.values()].find((x) => x.name === 'Other Group')!;
  expect(otherEm.members(created.id)).toEqual([otherAnn]);
});

describe('Timeslot rules', () => {
  test('a 256-character name is a dead letter naming the 255 limit, with no call; 255 characters pass', async () => {
    const remote = em.addGroup('Long');
    await start({ groups: [{ match: { displayName: 'Long' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Long');
    await gw.worker!.drain();
    await renameGroup(gw, t, g, 'x'.repeat(256));
    await gw.worker!.drain();
    const [, dead] = await deliveries(gw, NAME);
    expect(dead.state).toBe('dead');
    expect(dead.lastError).toMatch(/255/);
    expect(em.requests).toHaveLength(0);
    expect(em.group(remote)!.name).toBe('Long');

    await renameGroup(gw, t, g, 'y'.repeat(255));
    await gw.worker!.drain();
    expect(calls(em)).toEqual([patch(remote, 'y'.repeat(255))]);
    expect(em.group(remote)!.name).toBe('y'.repeat(255));
  });

  test('removing a user who has no membership (422) counts as done', async () => {
    const ann = em.addUser('ann@example.com');
    const bob = em.addUser('bob@example.com');
    const remote = em.addGroup('Team');
    await start({ groups: [{ match: { displayName: 'Team' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const ub = await newUser(gw, t, 'bob@example.com');
    const g = await newGroup(gw, t, 'Team', [ua, ub]);
    await gw.worker!.drain();
    em.group(remote)!.memberships.delete(bob); // gone at Timeslot already
    em.clearRequests();
    await removeFromGroup(gw, t, g, ub);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'DELETE', path: `/v1/groups/${remote}/members/${bob}`, query: {}, body: undefined }]);
    expect(em.requests[0].status).toBe(422);
    expect(await states()).toEqual(['done', 'done', 'done']);
    expect((await attempts(gw, NAME)).at(-1)).toMatchObject({ outcome: 'success', status: 422 });
    expect(em.members(remote)).toEqual([ann]);
  });

  test('description is not sent (Timeslot v1 has none): a description-only change makes no call, a rename sends {name}', async () => {
    const remote = em.addGroup('Docs');
    await start();
    const target = { name: NAME, kind: 'timeslot', baseUrl: em.url, credential: CRED, groups: [{ match: { id: 'g-1' }, remoteId: remote }] };
    await deliverDirect(gw, target, 'group:g-1', [
      { seq: 1, type: 'group.updated', payload: { group: { id: 'g-1', displayName: 'Docs', description: 'words' }, changed: ['description'] } },
    ]);
    expect(em.requests).toHaveLength(0);
    await deliverDirect(gw, target, 'group:g-1', [
      { seq: 2, type: 'group.updated', payload: { group: { id: 'g-1', displayName: 'Docs 2', description: 'more' }, changed: ['displayName', 'description'] } },
    ]);
    expect(calls(em)).toEqual([patch(remote, 'Docs 2')]);
    expect(allAuthorized(em, 'authorization', AUTH)).toBe(true);
  });
});
