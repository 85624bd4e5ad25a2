// Timeslot connector against the Timeslot emulator, through a real gateway: SCIM writes in, the delivery worker
// drained, then the emulator's state and request log checked (method, path, query, body, auth header).
import { startTimeslotEmulator, type TimeslotEmulator } from '../../fixtures/emulators/timeslot';
import { allAuthorized, attempts, calls, deliverDirect, deliveries, newGroup, newUser, removeFromGroup, renameGroup } from '../../helpers/egress';
import { startGateway, type TestGateway } from '../../helpers/gateway';

const CRED = 'ts-test-auth-token-0123456789';
const AUTH = `Token token=${CRED}`;
const NAME = 'ts';

let em: TimeslotEmulator;
let gw: TestGateway;
let t: string;
const others: { close(): Promise<void> }[] = [];

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

describe('failures', () => {
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
