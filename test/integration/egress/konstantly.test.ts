// Konstantly connector against the Konstantly emulator, through a real gateway: SCIM writes in, the delivery worker
// drained, then the emulator's state and request log checked (method, path, query, body, auth header).
import { alreadyInGroup } from '../../../src/egress/connectors/konstantly';
import { startKonstantlyEmulator, type KonstantlyEmulator } from '../../fixtures/emulators/konstantly';
import {
  addToGroup, allAuthorized, attempts, calls, deleteGroup, deliverDirect, deliveries, inAddedOrder, newGroup, newUser,
  removeFromGroup, renameGroup,
} from '../../helpers/egress';
import { startGateway, type TestGateway } from '../../helpers/gateway';

const CRED = 'kn-test-api-key-0123456789';
const NAME = 'kn';
const B = '/openapi/v1';

let em: KonstantlyEmulator;
let gw: TestGateway;
let t: string;
const others: { close(): Promise<void> }[] = [];

const byEmail = (email: string) => ({ method: 'GET', path: `${B}/users/byEmail/${encodeURIComponent(email)}`, query: {}, body: undefined });
const addUsers = (group: number, users: string[]) => ({ method: 'POST', path: `${B}/groups/${group}/users`, query: {}, body: { users } });
const patch = (group: number, body: Record<string, unknown>) => ({ method: 'PATCH', path: `${B}/groups/${group}`, query: {}, body });

async function start(target: Record<string, unknown> = {}, more: Record<string, unknown>[] = []) {
  gw = await startGateway({
    targets: { targets: [{ name: NAME, kind: 'konstantly', baseUrl: em.url, credential: CRED, ...target }, ...more] },
  });
  t = await gw.token();
}

async function states(target = NAME) {
  return (await deliveries(gw, target)).map((d) => d.state);
}

beforeEach(async () => {
  em = await startKonstantlyEmulator({ credential: CRED });
});
afterEach(async () => {
  await gw?.close();
  await em.close();
  for (const o of others.splice(0)) await o.close();
});

describe('group mapping', () => {
  test('by displayName: members added in one call; the link survives SCIM renames (same remote id each time)', async () => {
    const ann = em.addUser('ann@example.com');
    const bob = em.addUser('bob@example.com');
    const remote = em.addGroup('Engineering');
    await start({ groups: [{ match: { displayName: 'Engineering' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const ub = await newUser(gw, t, 'bob@example.com');
    const g = await newGroup(gw, t, 'Engineering', [ua, ub]);
    await gw.worker!.drain();

    expect(em.members(remote)).toEqual([ann, bob]);
    // The e-mail is one encoded path segment ("@" → %40).
    const order = await inAddedOrder(gw, NAME, { [ua]: ['ann@example.com', ann] as const, [ub]: ['bob@example.com', bob] as const });
    expect(order).toHaveLength(2);
    expect(calls(em)).toEqual([...order.map(([email]) => byEmail(email)), addUsers(remote, order.map(([, id]) => id))]);
    expect(em.requestsTo('GET', `${B}/users/byEmail/ann%40example.com`)).toHaveLength(1);
    expect(allAuthorized(em, 'x-api-key', CRED)).toBe(true);
    expect(em.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    expect(await states()).toEqual(['done', 'done']);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(remote), source: 'config' });
    expect(await gw.store.egress.getLink(NAME, 'user', ua)).toMatchObject({ remoteId: ann, source: 'lookup' });

    for (const name of ['Platform', 'Platform Team']) {
      em.clearRequests();
      await renameGroup(gw, t, g, name);
      await gw.worker!.drain();
      expect(calls(em)).toEqual([patch(remote, { name })]);
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
    expect(calls(em)).toEqual([byEmail('ann@example.com'), addUsers(remote, [ann])]);
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
      targets: { targets: [{ name: NAME, kind: 'konstantly', baseUrl: em.url, credential: CRED, groups: [{ match: { id: g }, remoteId: remote }] }] },
    });
    await gw.worker!.drain();
    expect(calls(em)).toEqual([byEmail('ann@example.com'), addUsers(remote, [ann])]);
    expect(em.members(remote)).toEqual([ann]);
  });

  test('createGroups: creates the group, links it, then adds the members', async () => {
    const ann = em.addUser('ann@example.com');
    await start({ createGroups: true });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Brand New', [ua]);
    await gw.worker!.drain();
    const created = [...em.groups.values()].find((x) => x.name === 'Brand New')!;
    expect(calls(em)).toEqual([
      { method: 'POST', path: `${B}/groups`, query: {}, body: { name: 'Brand New' } },
      byEmail('ann@example.com'),
      addUsers(created.id, [ann]),
    ]);
    expect(em.members(created.id)).toEqual([ann]);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(created.id), source: 'created' });
  });

  test('an unlinked group (no mapping, createGroups off) is skipped without any call', async () => {
    em.addUser('ann@example.com');
    await start();
    const g = await newGroup(gw, t, 'Unmapped', [await newUser(gw, t, 'ann@example.com')]);
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
    expect(calls(em)).toEqual([...order.map(([email]) => byEmail(email)), addUsers(remote, order.map(([, id]) => id))]);
    expect(em.requestsTo('GET', `${B}/users/byEmail/cy%2Bfirst%40example.com`)).toHaveLength(1);

    em.clearRequests();
    await removeFromGroup(gw, t, g, uc);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'DELETE', path: `${B}/groups/${remote}/users/${cyFirst}`, query: {}, body: undefined }]);
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
    const looked = await inAddedOrder(gw, NAME, { [ua]: byEmail('ann@example.com'), [ghost]: byEmail('ghost@example.com') });
    expect(calls(em)).toEqual([...looked, addUsers(remote, [ann])]);
    expect(await states()).toEqual(['done', 'done']);
    const skips = (await attempts(gw, NAME)).filter((a) => a.outcome === 'skip').map((a) => a.error);
    expect(skips).toEqual([`user ${ghost} was not found at the target`]);
  });
});

describe('coalescing', () => {
  test('10 renames back to back → one PATCH with the last name; several adds → one add call', async () => {
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
      patch(remote, { name: 'Ops 10' }), byEmail('u1@example.com'), byEmail('u2@example.com'), byEmail('u3@example.com'), addUsers(remote, ids),
    ]);
    expect(em.group(remote)!.name).toBe('Ops 10');
    expect(em.members(remote)).toEqual(ids);
  });
});

describe('failures', () => {
  test('429 with Retry-After is retried after the wait, then succeeds', async () => {
    const remote = em.addGroup('Busy');
    await start({ groups: [{ match: { displayName: 'Busy' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Busy');
    await gw.worker!.drain();
    em.failNext(1, { status: 429, headers: { 'Retry-After': 1 }, body: { status: 429, message: 'Too Many Requests' } });
    await renameGroup(gw, t, g, 'Busy 2');
    await gw.worker!.drain(15_000);
    const patches = em.requestsTo('PATCH', `${B}/groups/${remote}`);
    expect(patches.map((r) => r.status)).toEqual([429, 200]);
    expect(patches[1].time - patches[0].time).toBeGreaterThanOrEqual(950);
    expect((await attempts(gw, NAME)).map((a) => [a.outcome, a.status])).toEqual([['retry', 429], ['success', 200]]);
    expect(em.group(remote)!.name).toBe('Busy 2');
  });

  test('503 twice, then success: attempts retry, retry, success', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Flaky');
    await start({ groups: [{ match: { displayName: 'Flaky' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Flaky');
    await gw.worker!.drain();
    const before = (await attempts(gw, NAME)).length;
    em.failNext(2, { status: 503 });
    await addToGroup(gw, t, g, [ua]);
    await gw.worker!.drain(10_000);
    const tries = (await attempts(gw, NAME)).slice(before);
    expect(tries.map((a) => [a.request, a.outcome, a.status])).toEqual([
      [`GET ${B}/users/byEmail/ann%40example.com`, 'retry', 503],
      [`GET ${B}/users/byEmail/ann%40example.com`, 'retry', 503],
      [`GET ${B}/users/byEmail/ann%40example.com`, 'success', 200],
      [`POST ${B}/groups/${remote}/users`, 'success', 200],
    ]);
    expect(em.members(remote)).toEqual([ann]);
    expect((await deliveries(gw, NAME)).at(-1)).toMatchObject({ state: 'done', attempts: 2 });
  });

  test('400 keeps the {status, message, errors} body with the dead letter; replay after the fix delivers', async () => {
    const ann = em.addUser('ann@example.com', { id: 'ann01' });
    const first = em.addGroup('First');
    const second = em.addGroup('Second');
    await start({ groups: [{ match: { displayName: 'First' }, remoteId: first }, { match: { displayName: 'Second' }, remoteId: second }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    await newGroup(gw, t, 'First', [ua]);
    await gw.worker!.drain();
    expect(em.members(first)).toEqual([ann]);

    // The remembered user was deleted at Konstantly: adding it elsewhere is a validation error.
    em.users.delete(ann);
    em.clearRequests();
    await newGroup(gw, t, 'Second', [ua]);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([addUsers(second, [ann])]);
    const dead = (await deliveries(gw, NAME)).filter((d) => d.state === 'dead');
    expect(dead).toHaveLength(2);
    expect(dead[1].lastStatus).toBe(400);
    const body = JSON.stringify({ status: 400, message: 'Validation failed', errors: { users: ['User "ann01" not found'] } });
    expect(dead[1].lastError).toBe(`POST ${B}/groups/${second}/users answered 400: ${body}`);

    em.addUser('ann@example.com', { id: 'ann01' });
    expect(await gw.store.egress.replay(NAME)).toBe(2);
    await gw.worker!.drain();
    expect((await states()).every((s) => s === 'done')).toBe(true);
    expect(em.members(second)).toEqual([ann]);
  });

  test('403 is a dead letter with status and body; replay delivers', async () => {
    const remote = em.addGroup('Locked');
    await start({ groups: [{ match: { displayName: 'Locked' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Locked');
    await gw.worker!.drain();
    em.failNext(1, { status: 403, body: { status: 403, message: 'API access is disabled for this site' } });
    await renameGroup(gw, t, g, 'Unlocked');
    await gw.worker!.drain();
    const [, dead] = await deliveries(gw, NAME);
    expect(dead).toMatchObject({ state: 'dead', lastStatus: 403 });
    expect(dead.lastError).toContain('API access is disabled for this site');
    expect(await gw.store.egress.replay(NAME)).toBe(1);
    await gw.worker!.drain();
    expect(await states()).toEqual(['done', 'done']);
    expect(em.group(remote)!.name).toBe('Unlocked');
  });
});

test('group delete → remote DELETE and the link removed', async () => {
  const remote = em.addGroup('Doomed');
  await start({ groups: [{ match: { displayName: 'Doomed' }, remoteId: remote }] });
  const g = await newGroup(gw, t, 'Doomed');
  await gw.worker!.drain();
  await deleteGroup(gw, t, g);
  await gw.worker!.drain();
  expect(calls(em)).toEqual([{ method: 'DELETE', path: `${B}/groups/${remote}`, query: {}, body: undefined }]);
  expect(em.group(remote)).toBeUndefined();
  expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeUndefined();
  expect(await states()).toEqual(['done', 'done']);
});

test('tenant separation: a target of tenant "other" receives nothing from tenant "default", and vice versa', async () => {
  const otherEm = await startKonstantlyEmulator({ credential: CRED });
  others.push(otherEm);
  em.addUser('ann@example.com');
  const otherAnn = otherEm.addUser('ann@example.com');
  await start({ createGroups: true }, [{ name: 'kn-other', kind: 'konstantly', tenant: 'other', baseUrl: otherEm.url, credential: CRED, createGroups: true }]);
  await newGroup(gw, t, 'Default Group', [await newUser(gw, t, 'ann@example.com')]);
  await gw.worker!.drain();
  expect([...em.groups.values()].map((x) => x.name)).toEqual(['Default Group']);
  expect(otherEm.requests).toHaveLength(0);
  expect(await deliveries(gw, 'kn-other')).toHaveLength(0);

  em.clearRequests();
  const ot = await gw.token('other');
  await newGroup(gw, ot, 'Other Group', [await newUser(gw, ot, 'ann@example.com')]);
  await gw.worker!.drain();
  expect(em.requests).toHaveLength(0);
  const created = [...otherEm.groups.values()].find((x) => x.name === 'Other Group')!;
  expect(otherEm.members(created.id)).toEqual([otherAnn]);
});

describe('Konstantly rules', () => {
  test('adding users of whom some are already in the group: the 400 is parsed and the rest sent again; done', async () => {
    const ann = em.addUser('ann@example.com');
    const bob = em.addUser('bob@example.com');
    const cy = em.addUser('cy@example.com');
    const remote = em.addGroup('Overlap', { members: [ann, cy] });
    await start({ groups: [{ match: { displayName: 'Overlap' }, remoteId: remote }] });
    const users = [await newUser(gw, t, 'ann@example.com'), await newUser(gw, t, 'bob@example.com'), await newUser(gw, t, 'cy@example.com')];
    await newGroup(gw, t, 'Overlap', users);
    await gw.worker!.drain();
    const order = await inAddedOrder(gw, NAME, { [users[0]]: ann, [users[1]]: bob, [users[2]]: cy });
    expect(order).toHaveLength(3);
    expect(calls(em).filter((c) => c.method === 'POST')).toEqual([addUsers(remote, order), addUsers(remote, [bob])]);
    expect(em.requestsTo('POST', `${B}/groups/${remote}/users`).map((r) => r.status)).toEqual([400, 200]);
    expect(em.members(remote)).toEqual([ann, bob, cy]);
    expect(await states()).toEqual(['done', 'done']);
    const posts = (await attempts(gw, NAME)).filter((a) => a.request?.startsWith('POST'));
    expect(posts.map((a) => [a.outcome, a.status])).toEqual([['success', 400], ['success', 200]]);
  });

  test('adding users who are all already in the group is success after one call', async () => {
    const ann = em.addUser('ann@example.com');
    const bob = em.addUser('bob@example.com');
    const remote = em.addGroup('Full', { members: [ann, bob] });
    await start({ groups: [{ match: { displayName: 'Full' }, remoteId: remote }] });
    const users = [await newUser(gw, t, 'ann@example.com'), await newUser(gw, t, 'bob@example.com')];
    await newGroup(gw, t, 'Full', users);
    await gw.worker!.drain();
    const order = await inAddedOrder(gw, NAME, { [users[0]]: ann, [users[1]]: bob });
    expect(calls(em).filter((c) => c.method === 'POST')).toEqual([addUsers(remote, order)]);
    expect(em.requests.at(-1)!.status).toBe(400);
    expect(await states()).toEqual(['done', 'done']);
  });

  test('removing a user who is not in the group (404) counts as done', async () => {
    const ann = em.addUser('ann@example.com');
    const bob = em.addUser('bob@example.com');
    const remote = em.addGroup('Team');
    await start({ groups: [{ match: { displayName: 'Team' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const ub = await newUser(gw, t, 'bob@example.com');
    const g = await newGroup(gw, t, 'Team', [ua, ub]);
    await gw.worker!.drain();
    em.group(remote)!.members.delete(bob);
    em.clearRequests();
    await removeFromGroup(gw, t, g, ub);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'DELETE', path: `${B}/groups/${remote}/users/${bob}`, query: {}, body: undefined }]);
    expect(em.requests[0].status).toBe(404);
    expect(await states()).toEqual(['done', 'done', 'done']);
    expect(em.members(remote)).toEqual([ann]);
  });

  test('a name over 255 characters: the 400 {status, message, errors} body is kept with the dead letter', async () => {
    const remote = em.addGroup('Long');
    await start({ groups: [{ match: { displayName: 'Long' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Long');
    await gw.worker!.drain();
    await renameGroup(gw, t, g, 'x'.repeat(256));
    await gw.worker!.drain();
    const [, dead] = await deliveries(gw, NAME);
    expect(dead).toMatchObject({ state: 'dead', lastStatus: 400 });
    const body = JSON.parse(dead.lastError!.slice(dead.lastError!.indexOf(': ') + 2));
    expect(body).toEqual({ status: 400, message: 'Validation failed', errors: { name: ['This value is too long. It should have 255 characters or less.'] } });
  });

  test('every PATCH carries the current name: a description-only change sends {name, description}', async () => {
    const remote = em.addGroup('Docs', { description: 'old' });
    await start();
    const target = { name: NAME, kind: 'konstantly', baseUrl: em.url, credential: CRED, groups: [{ match: { id: 'g-1' }, remoteId: remote }] };
    const updated = (seq: number, displayName: string, description: string | undefined, changed: string[]) =>
      ({ seq, type: 'group.updated' as const, payload: { group: { id: 'g-1', displayName, description }, changed } });
    await deliverDirect(gw, target, 'group:g-1', [updated(1, 'Docs', 'new words', ['description'])]);
    await deliverDirect(gw, target, 'group:g-1', [updated(2, 'Docs 2', 'new words', ['displayName'])]);
    await deliverDirect(gw, target, 'group:g-1', [updated(3, 'Docs 2', undefined, ['description'])]);
    await deliverDirect(gw, target, 'group:g-1', [updated(4, 'Docs 2', undefined, ['externalId'])]);
    expect(calls(em)).toEqual([
      patch(remote, { name: 'Docs', description: 'new words' }),
      patch(remote, { name: 'Docs 2', description: 'new words' }),
      patch(remote, { name: 'Docs 2', description: null }),
    ]);
    expect(em.group(remote)).toMatchObject({ name: 'Docs 2', description: null });
  });

  test('alreadyInGroup accepts only a 400 that names nothing but users we sent as already in the group', () => {
    const body = (errors: unknown) => JSON.stringify({ status: 400, message: 'Validation failed', errors });
    expect(alreadyInGroup(body({ users: ['User "a" is already in the group', 'User "b" is already in the group'] }), ['a', 'b', 'c'])).toEqual(['a', 'b']);
    expect(alreadyInGroup(body({ users: ['User "a" is already in the group', 'User "x" not found'] }), ['a', 'x'])).toBeUndefined();
    expect(alreadyInGroup(body({ users: ['User "z" is already in the group'] }), ['a'])).toBeUndefined();
    expect(alreadyInGroup(body({}), ['a'])).toBeUndefined();
    expect(alreadyInGroup('not json', ['a'])).toBeUndefined();
  });
});
