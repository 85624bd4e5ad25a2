// SelfCommunity connector against the SelfCommunity emulator, through a real gateway: SCIM writes in, the delivery
// worker drained, then the emulator's state and request log checked (method, path, query, body, auth header).
import { startSelfCommunityEmulator, type SelfCommunityEmulator } from '../../fixtures/emulators/selfcommunity';
import {
  addToGroup, allAuthorized, attempts, calls, deleteGroup, deliverDirect, deliveries, inAddedOrder, newGroup, newUser, putGroup,
  removeFromGroup, renameGroup,
} from '../../helpers/egress';
import { GROUP_SCHEMA, startGateway, type TestGateway } from '../../helpers/gateway';

const CRED = 'sc-test-credential-0123456789';
const AUTH = `Bearer ${CRED}`;
const NAME = 'sc';

let em: SelfCommunityEmulator;
let gw: TestGateway;
let t: string;
const others: { close(): Promise<void> }[] = [];

const search = (email: string) => ({ method: 'GET', path: '/api/v2/account/search/', query: { email }, body: undefined });

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
    const order = await inAddedOrder(gw, NAME, { [ua]: ['ann@example.com', ann] as const, [ub]: ['bob@example.com', bob] as const });
    expect(order).toHaveLength(2);
    expect(calls(em)).toEqual([
      ...order.map(([email]) => search(email)),
      { method: 'POST', path: `/api/v2/group/${remote}/subscribe/`, query: {}, body: { users: order.map(([, id]) => id) } },
    ]);
    expect(allAuthorized(em, 'authorization', AUTH)).toBe(true);
    expect(await states()).toEqual(['done', 'done']);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(remote), source: 'config' });
    expect(await gw.store.egress.getLink(NAME, 'user', ua)).toMatchObject({ remoteId: String(ann), source: 'lookup' });

    // The new name no longer matches the configured displayName: the stored link still routes it.
    for (const name of ['Platform', 'Platform Team']) {
      em.clearRequests();
      await renameGroup(gw, t, g, name);
      await gw.worker!.drain();
      expect(calls(em)).toEqual([{ method: 'PATCH', path: `/api/v2/group/${remote}/`, query: {}, body: { name } }]);
      expect(em.group(remote)!.name).toBe(name);
      expect((await gw.store.egress.getLink(NAME, 'group', g))!.remoteId).toBe(String(remote));
    }
    expect(await states()).toEqual(['done', 'done', 'done', 'done']);
  });

  test('by externalId', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Sales Team');
    await start({ groups: [{ match: { externalId: 'ext-sales' }, remoteId: String(remote) }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Sales', [ua], { externalId: 'ext-sales' });
    await gw.worker!.drain();
    expect(em.members(remote)).toEqual([ann]);
    expect(calls(em)).toEqual([
      search('ann@example.com'),
      { method: 'POST', path: `/api/v2/group/${remote}/subscribe/`, query: {}, body: { users: [ann] } },
    ]);
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
      targets: { targets: [{ name: NAME, kind: 'selfcommunity', baseUrl: em.url, credential: CRED, groups: [{ match: { id: g }, remoteId: remote }] }] },
    });
    t = await gw.token();
    await renameGroup(gw, t, g, 'Helpdesk 2');
    await gw.worker!.drain();
    // One batch (created, members added, renamed): the rename goes first, then the members.
    expect(calls(em)).toEqual([
      { method: 'PATCH', path: `/api/v2/group/${remote}/`, query: {}, body: { name: 'Helpdesk 2' } },
      search('ann@example.com'),
      { method: 'POST', path: `/api/v2/group/${remote}/subscribe/`, query: {}, body: { users: [ann] } },
    ]);
    expect(em.members(remote)).toEqual([ann]);
    expect(em.group(remote)!.name).toBe('Helpdesk 2');
    expect(await states()).toEqual(['done', 'done', 'done']);
  });

  test('createGroups: creates the group (private by default), links it, then adds the members', async () => {
    const ann = em.addUser('ann@example.com');
    await start({ createGroups: true });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Brand New', [ua]);
    await gw.worker!.drain();
    const created = [...em.groups.values()].find((x) => x.name === 'Brand New')!;
    expect(created.privacy).toBe('private');
    expect(em.members(created.id)).toEqual([ann]);
    expect(calls(em)).toEqual([
      { method: 'POST', path: '/api/v2/group/', query: {}, body: { name: 'Brand New', privacy: 'private' } },
      search('ann@example.com'),
      { method: 'POST', path: `/api/v2/group/${created.id}/subscribe/`, query: {}, body: { users: [ann] } },
    ]);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: String(created.id), source: 'created' });
  });

  test('createGroups with options.privacy "public"', async () => {
    await start({ createGroups: true, options: { privacy: 'public' } });
    await newGroup(gw, t, 'Open House');
    await gw.worker!.drain();
    expect(calls(em)).toEqual([{ method: 'POST', path: '/api/v2/group/', query: {}, body: { name: 'Open House', privacy: 'public' } }]);
    expect([...em.groups.values()].find((x) => x.name === 'Open House')!.privacy).toBe('public');
  });

  test('an unlinked group (no mapping, createGroups off) is skipped without any call', async () => {
    em.addUser('ann@example.com');
    await start({ groups: [{ match: { displayName: 'Someone Else' }, remoteId: 99 }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Unmapped', [ua]);
    await renameGroup(gw, t, g, 'Still Unmapped');
    await gw.worker!.drain();
    const rows = await deliveries(gw, NAME);
    expect(rows.map((d) => d.state)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(rows[0].lastError).toMatch(/not linked/);
    expect(em.requests).toHaveLength(0);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeUndefined();
  });
});

describe('user mapping', () => {
  test('primary e-mail, else the first e-mail, else a userName that is an e-mail; ids remembered as links', async () => {
    em.addUser('ann.home@example.com');
    const annWork = em.addUser('ann.work@example.com');
    const cyFirst = em.addUser('cy+first@example.com');
    em.addUser('cy.second@example.com');
    const dee = em.addUser('dee@example.com');
    const remote = em.addGroup('Mixed');
    await start({ groups: [{ match: { displayName: 'Mixed' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann', { emails: [{ value: 'ann.home@example.com' }, { value: 'ann.work@example.com', primary: true }] });
    const uc = await newUser(gw, t, 'cy', { emails: [{ value: 'cy+first@example.com', type: 'work' }, { value: 'cy.second@example.com' }] });
    const ud = await newUser(gw, t, 'dee@example.com');
    const g = await newGroup(gw, t, 'Mixed', [ua, uc, ud]);
    await gw.worker!.drain();
    const order = await inAddedOrder(gw, NAME, {
      [ua]: ['ann.work@example.com', annWork] as const,
      [uc]: ['cy+first@example.com', cyFirst] as const, // encoded: a raw "+" would arrive as a space
      [ud]: ['dee@example.com', dee] as const,
    });
    expect(order).toHaveLength(3);
    expect(calls(em)).toEqual([
      ...order.map(([email]) => search(email)),
      { method: 'POST', path: `/api/v2/group/${remote}/subscribe/`, query: {}, body: { users: order.map(([, id]) => id) } },
    ]);
    expect(em.members(remote)).toEqual([annWork, cyFirst, dee].sort((a, b) => a - b));

    // Removal uses the remembered id: no second lookup. One DELETE per user.
    em.clearRequests();
    await removeFromGroup(gw, t, g, uc);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([
      { method: 'DELETE', path: `/api/v2/group/${remote}/subscribe/`, query: { user: String(cyFirst) }, body: undefined },
    ]);
    expect(em.members(remote)).toEqual([annWork, dee]);
  });

  test('a user the target does not have is a recorded skip; the others are added and the delivery is done', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Partial');
    await start({ groups: [{ match: { displayName: 'Partial' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const ghost = await newUser(gw, t, 'ghost@example.com');
    const noMail = await newUser(gw, t, 'no-mail-user');
    await newGroup(gw, t, 'Partial', [ua, ghost, noMail]);
    await gw.worker!.drain();
    const looked = await inAddedOrder(gw, NAME, { [ua]: search('ann@example.com'), [ghost]: search('ghost@example.com') });
    expect(calls(em)).toEqual([
      ...looked,
      { method: 'POST', path: `/api/v2/group/${remote}/subscribe/`, query: {}, body: { users: [ann] } },
    ]);
    expect(em.members(remote)).toEqual([ann]);
    const rows = await deliveries(gw, NAME);
    expect(rows.map((d) => d.state)).toEqual(['done', 'done']);
    const skips = (await attempts(gw, NAME)).filter((a) => a.outcome === 'skip').map((a) => a.error);
    expect(skips.sort()).toEqual([`user ${ghost} was not found at the target`, `user ${noMail} has no e-mail address to find it at the target`].sort());
    const statuses = await inAddedOrder(gw, NAME, { [ua]: 200, [ghost]: 404 });
    expect((await attempts(gw, NAME)).filter((a) => a.request === 'GET /api/v2/account/search/').map((a) => a.status)).toEqual(statuses);
  });
});

describe('coalescing', () => {
  test('10 renames back to back → one PATCH with the last name; several adds → one subscribe call', async () => {
    const ids = [em.addUser('u1@example.com'), em.addUser('u2@example.com'), em.addUser('u3@example.com')];
    const remote = em.addGroup('Ops');
    await start({ groups: [{ match: { displayName: 'Ops' }, remoteId: remote }] });
    const users = [await newUser(gw, t, 'u1@example.com'), await newUser(gw, t, 'u2@example.com'), await newUser(gw, t, 'u3@example.com')];
    const g = await newGroup(gw, t, 'Ops');
    await gw.worker!.drain();
    expect(em.requests).toHaveLength(0); // linked, nothing to change

    for (let i = 1; i <= 10; i++) await renameGroup(gw, t, g, `Ops ${i}`);
    for (const u of users) await addToGroup(gw, t, g, [u]);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([
      { method: 'PATCH', path: `/api/v2/group/${remote}/`, query: {}, body: { name: 'Ops 10' } },
      search('u1@example.com'),
      search('u2@example.com'),
      search('u3@example.com'),
      { method: 'POST', path: `/api/v2/group/${remote}/subscribe/`, query: {}, body: { users: ids } },
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
    em.failNext(1, { status: 429, headers: { 'Retry-After': 1 }, body: { errors: [{ code: 'throttled', message: 'slow down' }] } });
    await renameGroup(gw, t, g, 'Busy 2');
    await gw.worker!.drain(15_000);
    const patches = em.requestsTo('PATCH', `/api/v2/group/${remote}/`);
    expect(patches.map((r) => r.status)).toEqual([429, 200]);
    expect(patches[1].time - patches[0].time).toBeGreaterThanOrEqual(950);
    const tries = await attempts(gw, NAME);
    expect(tries.map((a) => [a.outcome, a.status])).toEqual([['retry', 429], ['success', 200]]);
    expect(em.group(remote)!.name).toBe('Busy 2');
    expect(await states()).toEqual(['done', 'done']);
  });

  test('503 twice, then success: attempts retry, retry, success', async () => {
    const ann = em.addUser('ann@example.com');
    const remote = em.addGroup('Flaky');
    await start({ groups: [{ match: { displayName: 'Flaky' }, remoteId: remote }] });
    const ua = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Flaky');
    await gw.worker!.drain();
    em.failNext(2, { status: 503 });
    await addToGroup(gw, t, g, [ua]);
    await gw.worker!.drain(10_000);
    const tries = await attempts(gw, NAME);
    expect(tries.map((a) => [a.request, a.outcome, a.status])).toEqual([
      ['GET /api/v2/account/search/', 'retry', 503],
      ['GET /api/v2/account/search/', 'retry', 503],
      ['GET /api/v2/account/search/', 'success', 200],
      [`POST /api/v2/group/${remote}/subscribe/`, 'success', 204],
    ]);
    expect(em.members(remote)).toEqual([ann]);
    const rows = await deliveries(gw, NAME);
    expect(rows.map((d) => d.state)).toEqual(['done', 'done']);
    expect(rows[1].attempts).toBe(2);
  });

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

test('group delete → remote DELETE and the link removed', async () => {
  const remote = em.addGroup('Doomed');
  await start({ groups: [{ match: { displayName: 'Doomed' }, remoteId: remote }] });
  const g = await newGroup(gw, t, 'Doomed');
  await gw.worker!.drain();
  expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeDefined();
  await deleteGroup(gw, t, g);
  await gw.worker!.drain();
  expect(calls(em)).toEqual([{ method: 'DELETE', path: `/api/v2/group/${remote}/`, query: {}, body: undefined }]);
  expect(em.group(remote)).toBeUndefined();
  expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeUndefined();
  expect(await states()).toEqual(['done', 'done']);
});

test('tenant separation: a target of tenant "other" receives nothing from tenant "default", and vice versa', async () => {
  const otherEm = await startSelfCommunityEmulator({ credential: CRED });
  others.push(otherEm);
  em.addUser('ann@example.com');
  const otherAnn = otherEm.addUser('ann@example.com');
  await start({ createGroups: true }, [{ name: 'sc-other', kind: 'selfcommunity', tenant: 'other', baseUrl: otherEm.url, credential: CRED, createGroups: true }]);
  const ua = await newUser(gw, t, 'ann@example.com');
  await newGroup(gw, t, 'Default Group', [ua]);
  await gw.worker!.drain();
  expect([...em.groups.values()].map((x) => x.name)).toEqual(['Default Group']);
  expect(otherEm.requests).toHaveLength(0);
  expect(await deliveries(gw, 'sc-other')).toHaveLength(0);

  em.clearRequests();
  const ot = await gw.token('other');
  const oa = await newUser(gw, ot, 'ann@example.com');
  await newGroup(gw, ot, 'Other Group', [oa]);
  await gw.worker!.drain();
  expect(em.requests).toHaveLength(0);
  const created = [...otherEm.groups.values()].find((x) => x.name === 'Other Group')!;
  expect(otherEm.members(created.id)).toEqual([otherAnn]);
  expect((await deliveries(gw, 'sc-other')).map((d) => d.state)).toEqual(['done', 'done']);
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
