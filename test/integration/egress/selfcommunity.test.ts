// SelfCommunity connector against the SelfCommunity emulator, through a real gateway: SCIM writes in, the delivery
// worker drained, then the emulator's state and request log checked (method, path, query, body, auth header).
import { startSelfCommunityEmulator, type SelfCommunityEmulator } from '../../fixtures/emulators/selfcommunity';
import { attempts, calls, deliverDirect, deliveries, newGroup, newUser, putGroup, renameGroup } from '../../helpers/egress';
import { GROUP_SCHEMA, startGateway, type TestGateway } from '../../helpers/gateway';

const CRED = 'sc-test-credential-0123456789';
const NAME = 'sc';

let em: SelfCommunityEmulator;
let gw: TestGateway;
let t: string;
const others: { close(): Promise<void> }[] = [];


async function start(target: Record<string, unknown> = {}, more: Record<string, unknown>[] = []) {
  gw = await startGateway({
    targets: { targets: [{ name: NAME, kind: 'selfcommunity', baseUrl: em.url, credential: CRED, ...target }, ...more] },
  });
  t = await gw.token();
}

async function states(target = NAME) {
  return (await deliveries(gw, target)).map((d) => d.state);
}

beforeEach(async () => {
  em = await startSelfCommunityEmulator({ credential: CRED });
});
afterEach(async () => {
  await gw?.close();
  await em.close();
  for (const o of others.splice(0)) await o.close();
});

describe('group mapping', () => {
  test('createGroups with options.privacy "public"', async () => {
    await start({ createGroups: true, options: { privacy: 'public' } });
    await newGroup(gw, t, 'Open House');
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'POST', path: '/api/v2/group/', query: {}, body: { name: 'Open House', privacy: 'public' } }]);
    expect([...em.groups.values()].find((x) => x.name === 'Open House')!.privacy).toBe('public');
  });

});

describe('failures', () => {
  test('403 (not the group manager) is a dead letter with status and body; replay after the fix delivers', async () => {
    const ann = em.addUser('ann@example.com');
    const boss = em.addUser('boss@example.com');
    const remote = em.addGroup('Finance', { managedBy: boss });
    await start({ groups: [{ match: { displayName: 'Finance' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    await newGroup(gw, t, 'Finance', [ua]);
    await gw.worker!.drain();
    const dead = await deliveries(gw, NAME);
    expect(dead.map((d) => d.state)).toEqual(['dead', 'dead']);
    expect(dead[1].lastStatus).toBe(403);
    expect(dead[1].lastError).toContain('permission_denied');
    expect((await attempts(gw, NAME)).map((a) => a.outcome)).toEqual(['success', 'permanent']);
    expect(em.members(remote)).toEqual([]);

    em.group(remote)!.managedBy = em.callerId;
    expect(await gw.store.egress.replay(NAME)).toBe(2);
    await gw.worker!.drain();
    expect(await states()).toEqual(['done', 'done']);
    expect(em.members(remote)).toEqual([ann]);
  });

  test('400 (name taken) is a dead letter with the body; replay after freeing the name delivers', async () => {
    const remote = em.addGroup('Alpha');
    const beta = em.addGroup('Beta');
    await start({ groups: [{ match: { displayName: 'Alpha' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Alpha');
    await gw.worker!.drain();
    await renameGroup(gw, t, g, 'Beta');
    await gw.worker!.drain();
    const [, dead] = await deliveries(gw, NAME);
    expect(dead.state).toBe('dead');
    expect(dead.lastStatus).toBe(400);
    expect(dead.lastError).toContain('group with this name already exists.');
    expect(em.group(remote)!.name).toBe('Alpha');

    em.group(beta)!.name = 'Beta (old)';
    expect(await gw.store.egress.replay(NAME)).toBe(1);
    await gw.worker!.drain();
    expect(await states()).toEqual(['done', 'done']);
    expect(em.group(remote)!.name).toBe('Beta');
  });
});

describe('SelfCommunity rules', () => {
  test('PATCH carries only the changed fields: a rename with a new externalId sends {name}; externalId alone sends nothing', async () => {
    const remote = em.addGroup('Design');
    await start({ groups: [{ match: { displayName: 'Design' }, remoteId: remote }] });
    const g = await newGroup(gw, t, 'Design', [], { externalId: 'ext-1' });
    await gw.worker!.drain();
    await putGroup(gw, t, g, { schemas: [GROUP_SCHEMA], displayName: 'Design 2', externalId: 'ext-2' });
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'PATCH', path: `/api/v2/group/${remote}/`, query: {}, body: { name: 'Design 2' } }]);
    em.clearRequests();
    await putGroup(gw, t, g, { schemas: [GROUP_SCHEMA], displayName: 'Design 2', externalId: 'ext-3' });
    await gw.worker!.drain();
    expect(em.requests).toHaveLength(0);
    expect(await states()).toEqual(['done', 'done', 'done']);
  });

  test('a description change sends only {description} (SCIM cannot carry one yet: delivered directly)', async () => {
    const remote = em.addGroup('Docs', { description: 'old' });
    await start();
    const target = { name: NAME, kind: 'selfcommunity', baseUrl: em.url, credential: CRED, groups: [{ match: { id: 'g-1' }, remoteId: remote }] };
    const updated = (description: string | undefined, seq: number) => ({
      seq, type: 'group.updated' as const, payload: { group: { id: 'g-1', displayName: 'Docs', description }, changed: ['description'] },
    });
    await deliverDirect(gw, target, 'group:g-1', [updated('new words', 1)]);
    await deliverDirect(gw, target, 'group:g-1', [updated(undefined, 2)]);
    expect(calls(em)).toEqual([
      { method: 'PATCH', path: `/api/v2/group/${remote}/`, query: {}, body: { description: 'new words' } },
      { method: 'PATCH', path: `/api/v2/group/${remote}/`, query: {}, body: { description: null } },
    ]);
    expect(em.group(remote)!.description).toBeNull();
    expect(em.group(remote)!.name).toBe('Docs');
  });
});
