// The contract every group connector keeps, run against each product's emulator through a real gateway: configured
// mappings (displayName, externalId, SCIM id), createGroups, unlinked groups skipped, users found by e-mail and
// remembered, unknown users a recorded skip, coalescing, retries (429 with Retry-After, 503), deletes and tenant
// separation. Each product's own rules (its refusals, its body shapes) stay in its own file.
import {
  addToGroup, allAuthorized, attempts, calls, deleteGroup, deliveries, inAddedOrder, newGroup, newUser, removeFromGroup, renameGroup,
} from '../../helpers/egress';
import { startGateway, type TestGateway } from '../../helpers/gateway';
import { groupProducts, type Call, type Product } from '../../helpers/group-products';

const CRED = 'connector-contract-credential-0123456789';

const NAME = 'lms';
const sortIds = (ids: string[]) => [...ids].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? num(a) - num(b) : a < b ? -1 : 1));

const num = Number;

describe.each(groupProducts(CRED))('$kind', (product) => {
  let em: Awaited<ReturnType<Product['start']>>;
  let gw: TestGateway;
  let t: string;
  const others: { close(): Promise<void> }[] = [];

  async function start(target: Record<string, unknown> = {}, more: Record<string, unknown>[] = []) {
    gw = await startGateway({ targets: { targets: [{ name: NAME, kind: product.kind, baseUrl: em.url, credential: CRED, ...target }, ...more] } });
    t = await gw.token();
  }
  const states = async (target = NAME) => (await deliveries(gw, target)).map((d) => d.state);
  const linkTo = (remote: string) => ({ groups: [{ match: { displayName: em.name(remote)! }, remoteId: remote }] });

  beforeEach(async () => { em = await product.start(); });
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
      await start(linkTo(remote));
      const ua = await newUser(gw, t, 'ann@example.com');
      const ub = await newUser(gw, t, 'bob@example.com');
      const g = await newGroup(gw, t, 'Engineering', [ua, ub]);
      await gw.worker!.drain();

      expect(em.members(remote)).toEqual(sortIds([ann, bob]));
      const order = await inAddedOrder(gw, NAME, { [ua]: ['ann@example.com', ann] as const, [ub]: ['bob@example.com', bob] as const });
      expect(order).toHaveLength(2);
      expect(calls(em)).toEqual([...order.map(([email]) => product.search(email)), product.add(remote, order.map(([, id]) => id))]);
      expect(em.requests.map((r) => r.status)).toEqual([200, 200, product.addStatus]);
      expect(allAuthorized(em, ...product.auth)).toBe(true);
      expect(await states()).toEqual(['done', 'done']);
      expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: remote, source: 'config' });
      expect(await gw.store.egress.getLink(NAME, 'user', ua)).toMatchObject({ remoteId: ann, source: 'lookup' });

      // The new name no longer matches the configured displayName: the stored link still routes it.
      for (const name of ['Platform', 'Platform Team']) {
        em.clearRequests();
        await renameGroup(gw, t, g, name);
        await gw.worker!.drain();
        expect(calls(em)).toEqual([product.rename(remote, name)]);
        expect(em.name(remote)).toBe(name);
        expect((await gw.store.egress.getLink(NAME, 'group', g))!.remoteId).toBe(remote);
      }
      expect(await states()).toEqual(['done', 'done', 'done', 'done']);
    });

    test('by externalId', async () => {
      const ann = em.addUser('ann@example.com');
      const remote = em.addGroup('Sales Team');
      await start({ groups: [{ match: { externalId: 'ext-sales' }, remoteId: remote }] });
      const ua = await newUser(gw, t, 'ann@example.com');
      const g = await newGroup(gw, t, 'Sales', [ua], { externalId: 'ext-sales' });
      await gw.worker!.drain();
      expect(em.members(remote)).toEqual([ann]);
      expect(calls(em)).toEqual([product.search('ann@example.com'), product.add(remote, [ann])]);
      expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: remote, source: 'config' });
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
        dir: first.dir, pgDatabase: first.pgDatabase,
        targets: { targets: [{ name: NAME, kind: product.kind, baseUrl: em.url, credential: CRED, groups: [{ match: { id: g }, remoteId: remote }] }] },
      });
      t = await gw.token();
      await renameGroup(gw, t, g, 'Helpdesk 2');
      await gw.worker!.drain();
      // One batch (created, members added, renamed): the rename goes first, then the members.
      expect(calls(em)).toEqual([product.rename(remote, 'Helpdesk 2'), product.search('ann@example.com'), product.add(remote, [ann])]);
      expect(em.members(remote)).toEqual([ann]);
      expect(em.name(remote)).toBe('Helpdesk 2');
      expect(await states()).toEqual(['done', 'done', 'done']);
    });

    test('createGroups: creates the group, links it, then adds the members', async () => {
      const ann = em.addUser('ann@example.com');
      await start({ createGroups: true });
      const ua = await newUser(gw, t, 'ann@example.com');
      const g = await newGroup(gw, t, 'Brand New', [ua]);
      await gw.worker!.drain();
      const created = em.groupNamed('Brand New')!;
      expect(calls(em)).toEqual([product.create('Brand New'), product.search('ann@example.com'), product.add(created, [ann])]);
      expect(em.members(created)).toEqual([ann]);
      expect(await gw.store.egress.getLink(NAME, 'group', g)).toMatchObject({ remoteId: created, source: 'created' });
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
      await start(linkTo(remote));
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
      expect(calls(em)).toEqual([...order.map(([email]) => product.search(email)), product.add(remote, order.map(([, id]) => id))]);
      expect(em.members(remote)).toEqual(sortIds([annWork, cyFirst, dee]));

      // Removal uses the remembered id: no second lookup. One DELETE per user.
      em.clearRequests();
      await removeFromGroup(gw, t, g, uc);
      await gw.worker!.drain();
      expect(calls(em)).toEqual([product.remove(remote, cyFirst)]);
      expect(em.members(remote)).toEqual(sortIds([annWork, dee]));
    });

    test('a user the target does not have is a recorded skip; the others are added and the delivery is done', async () => {
      const ann = em.addUser('ann@example.com');
      const remote = em.addGroup('Partial');
      await start(linkTo(remote));
      const ua = await newUser(gw, t, 'ann@example.com');
      const ghost = await newUser(gw, t, 'ghost@example.com');
      const noMail = await newUser(gw, t, 'no-mail-user');
      await newGroup(gw, t, 'Partial', [ua, ghost, noMail]);
      await gw.worker!.drain();
      const looked = await inAddedOrder(gw, NAME, { [ua]: product.search('ann@example.com'), [ghost]: product.search('ghost@example.com') });
      expect(calls(em)).toEqual([...looked, product.add(remote, [ann])]);
      expect(em.members(remote)).toEqual([ann]);
      expect(await states()).toEqual(['done', 'done']);
      const skips = (await attempts(gw, NAME)).filter((a) => a.outcome === 'skip').map((a) => a.error);
      expect(skips.sort()).toEqual([`user ${ghost} was not found at the target`, `user ${noMail} has no e-mail address to find it at the target`].sort());
    });
  });

  test('coalescing: 10 renames back to back → one PATCH with the last name; several adds → one add call', async () => {
    const ids = [em.addUser('u1@example.com'), em.addUser('u2@example.com'), em.addUser('u3@example.com')];
    const remote = em.addGroup('Ops');
    await start(linkTo(remote));
    const users = [await newUser(gw, t, 'u1@example.com'), await newUser(gw, t, 'u2@example.com'), await newUser(gw, t, 'u3@example.com')];
    const g = await newGroup(gw, t, 'Ops');
    await gw.worker!.drain();
    expect(em.requests).toHaveLength(0); // linked, nothing to change

    for (let i = 1; i <= 10; i++) await renameGroup(gw, t, g, `Ops ${i}`);
    for (const u of users) await addToGroup(gw, t, g, [u]);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([
      product.rename(remote, 'Ops 10'),
      product.search('u1@example.com'), product.search('u2@example.com'), product.search('u3@example.com'),
      product.add(remote, ids),
    ]);
    expect(em.name(remote)).toBe('Ops 10');
    expect(em.members(remote)).toEqual(sortIds(ids));
    expect((await states()).every((s) => s === 'done')).toBe(true);
  });

  describe('failures', () => {
    test('429 with Retry-After is retried after the wait, then succeeds', async () => {
      const remote = em.addGroup('Busy');
      await start(linkTo(remote));
      const g = await newGroup(gw, t, 'Busy');
      await gw.worker!.drain();
      em.failNext(1, { status: 429, headers: { 'Retry-After': 1 }, body: { error: 'slow down' } });
      await renameGroup(gw, t, g, 'Busy 2');
      await gw.worker!.drain(15_000);
      const patches = em.requestsTo('PATCH', product.rename(remote, '').path);
      expect(patches.map((r) => r.status)).toEqual([429, 200]);
      expect(patches[1].time - patches[0].time).toBeGreaterThanOrEqual(950);
      expect((await attempts(gw, NAME)).map((a) => [a.outcome, a.status])).toEqual([['retry', 429], ['success', 200]]);
      expect(em.name(remote)).toBe('Busy 2');
      expect(await states()).toEqual(['done', 'done']);
    });

    test('503 twice, then success: attempts retry, retry, success', async () => {
      const ann = em.addUser('ann@example.com');
      const remote = em.addGroup('Flaky');
      await start(linkTo(remote));
      const ua = await newUser(gw, t, 'ann@example.com');
      const g = await newGroup(gw, t, 'Flaky');
      await gw.worker!.drain();
      em.failNext(2, { status: 503 });
      await addToGroup(gw, t, g, [ua]);
      await gw.worker!.drain(10_000);
      const request = (c: Call) => `${c.method} ${c.path}`;
      const search = request(product.search('ann@example.com'));
      expect((await attempts(gw, NAME)).map((a) => [a.request, a.outcome, a.status])).toEqual([
        [search, 'retry', 503], [search, 'retry', 503], [search, 'success', 200],
        [request(product.add(remote, [ann])), 'success', product.addStatus],
      ]);
      expect(em.members(remote)).toEqual([ann]);
      const rows = await deliveries(gw, NAME);
      expect(rows.map((d) => d.state)).toEqual(['done', 'done']);
      expect(rows[1].attempts).toBe(2);
    });
  });

  test('group delete → remote DELETE and the link removed', async () => {
    const remote = em.addGroup('Doomed');
    await start(linkTo(remote));
    const g = await newGroup(gw, t, 'Doomed');
    await gw.worker!.drain();
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeDefined();
    await deleteGroup(gw, t, g);
    await gw.worker!.drain();
    expect(calls(em)).toEqual([product.del(remote)]);
    expect(em.deleted(remote)).toBe(true);
    expect(await gw.store.egress.getLink(NAME, 'group', g)).toBeUndefined();
    expect(await states()).toEqual(['done', 'done']);
  });

  test('tenant separation: a target of tenant "other" receives nothing from tenant "default", and vice versa', async () => {
    const otherEm = await product.start();
    others.push(otherEm);
    em.addUser('ann@example.com');
    const otherAnn = otherEm.addUser('ann@example.com');
    await start({ createGroups: true }, [{ name: `${NAME}-other`, kind: product.kind, tenant: 'other', baseUrl: otherEm.url, credential: CRED, createGroups: true }]);
    const ua = await newUser(gw, t, 'ann@example.com');
    await newGroup(gw, t, 'Default Group', [ua]);
    await gw.worker!.drain();
    expect(em.groupNamed('Default Group')).toBeDefined();
    expect(otherEm.requests).toHaveLength(0);
    expect(await deliveries(gw, `${NAME}-other`)).toHaveLength(0);

    em.clearRequests();
    const ot = await gw.token('other');
    const oa = await newUser(gw, ot, 'ann@example.com');
    await newGroup(gw, ot, 'Other Group', [oa]);
    await gw.worker!.drain();
    expect(em.requests).toHaveLength(0);
    expect(otherEm.members(otherEm.groupNamed('Other Group')!)).toEqual([otherAnn]);
    expect((await deliveries(gw, `${NAME}-other`)).map((d) => d.state)).toEqual(['done', 'done']);
  });
});
