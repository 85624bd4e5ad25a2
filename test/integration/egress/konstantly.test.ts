// Konstantly connector against the Konstantly emulator, through a real gateway: SCIM writes in, the delivery worker
// drained, then the emulator's state and request log checked (method, path, query, body, auth header).
import { alreadyInGroup } from '../../../src/egress/connectors/konstantly';
import { startKonstantlyEmulator, type KonstantlyEmulator } from '../../fixtures/emulators/konstantly';
import { allAuthorized, attempts, calls, deliverDirect, deliveries, inAddedOrder, newGroup, newUser, removeFromGroup, renameGroup } from '../../helpers/egress';
import { startGateway, type TestGateway } from '../../helpers/gateway';

const CRED = 'kn-test-api-key-0123456789';
const NAME = 'kn';
const B = '/openapi/v1';

let em: KonstantlyEmulator;
let gw: TestGateway;
let t: string;
const others: { close(): Promise<void> }[] = [];

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

describe('failures', () => {
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

describe('Konstantly rules', () => {
  test('X-API-KEY alone authenticates: no call carries an Authorization header', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Keys');
    await start({ groups: [{ match: { displayName: 'Keys' }, remoteId: remote }] });
    await newGroup(gw, t, 'Keys', [await newUser(gw, t, 'ann@example.com')]);
    await gw.worker!.drain();
    expect(em.members(remote)).toEqual([ann]);
    expect(allAuthorized(em, 'x-api-key', CRED)).toBe(true);
    expect(em.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

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
