// Configured group links are resolved when a change commits (issue 11): a group the targets file links by its
// displayName ("Sales") and that the identity provider renames before its first delivery (Okta Group Push and Entra
// create, then PATCH) stays linked, at SelfCommunity, Timeslot and Konstantly alike. Runs on SQLite and, in the
// PostgreSQL pass, on PostgreSQL; every check goes through the store's interface or HTTP.
import { addToGroup, deliveries, newGroup, newUser, removeFromGroup, renameGroup } from '../../helpers/egress';
import { scim, startGateway, type TestGateway } from '../../helpers/gateway';
import { groupProducts, type Product, type View } from '../../helpers/group-products';

const CRED = 'linking-test-credential-0123456789';

const sorted = (xs: (string | number)[]) => xs.map(String).sort();
const products = Object.fromEntries(groupProducts(CRED).map((p) => [p.kind, p])) as Record<Product['kind'], Product>;
const remotes = Object.fromEntries(Object.values(products).map((p) => [p.kind, () => p.start()])) as Record<Product['kind'], () => Promise<View>>;

let remote: View;
let gw: TestGateway;
let t: string;

/** A gateway with one target, "lms", at the emulator, mapping groups as given. */
async function start(kind: Product['kind'], groups: unknown[], more: { dir?: string; pgDatabase?: string } = {}) {
  gw = await startGateway({ ...more, targets: { targets: [{ name: 'lms', kind, baseUrl: remote.url, credential: CRED, groups }] } });
  t = await gw.token();
}

afterEach(async () => {
  await gw?.close();
  await remote?.close();
  gw = undefined as unknown as TestGateway;
});

const states = async () => (await deliveries(gw, 'lms')).map((d) => d.state);

describe.each(['selfcommunity', 'timeslot', 'konstantly'] as const)('%s', (kind) => {
  test('created as "Sales", renamed and re-membered before its first delivery: linked, new name, final members, in order', async () => {
    remote = await remotes[kind]();
    // The remote group exists first; its id is what the targets file names.
    const sales = remote.addGroup('Sales');
    const people = ['ann', 'bob', 'cat'].map((n) => ({ email: `${n}@example.com`, remote: remote.addUser(`${n}@example.com`) }));
    await start(kind, [{ match: { displayName: 'Sales' }, remoteId: sales }]);
    const [ann, bob, cat] = await Promise.all(people.map((p) => newUser(gw, t, p.email)));

    // Within one coalescing window: create with ann and bob, rename, add cat, remove bob.
    const g = await newGroup(gw, t, 'Sales', [ann, bob]);
    // Resolved at commit: the link is there before anything was delivered.
    expect(await gw.store.egress.getLink('lms', 'group', g)).toMatchObject({ remoteId: sales, source: 'config' });
    await renameGroup(gw, t, g, 'Sales Team');
    await addToGroup(gw, t, g, [cat]);
    await removeFromGroup(gw, t, g, bob);
    expect(await states()).toEqual([]);
    await gw.worker!.drain();

    expect(await states()).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(remote.name(sales)).toBe('Sales Team');
    expect(sorted(remote.members(sales))).toEqual(sorted([people[0].remote, people[2].remote]));
    // The rename leaves first, then the members.
    const product = products[kind];
    const log = remote.requests;
    const rename = log.findIndex((r) => r.method === 'PATCH' && r.path === product.rename(sales, '').path);
    const firstMember = log.findIndex((r) => (r.method === 'POST' && r.path === product.add(sales, []).path)
      || (r.method === 'DELETE' && r.path.startsWith(product.remove(sales, '').path)));
    expect(rename).toBeGreaterThanOrEqual(0);
    expect(firstMember).toBeGreaterThan(rename);
    expect((await gw.store.egress.getLink('lms', 'group', g))!.remoteId).toBe(sales);
  });
});

describe('linking rules', () => {
  test('a later rename that comes to match a mapping links the group from that change on; its earlier skips replay', async () => {
    remote = await remotes.selfcommunity();
    const sales = remote.addGroup('Sales');
    const annRemote = remote.addUser('ann@example.com');
    await start('selfcommunity', [{ match: { displayName: 'Sales' }, remoteId: sales }]);
    const ann = await newUser(gw, t, 'ann@example.com');
    const g = await newGroup(gw, t, 'Draft', [ann]);
    await gw.worker!.drain();
    // Matches nothing, createGroups off: a recorded skip, as before.
    expect(await states()).toEqual(['skipped', 'skipped']);
    const skipped = await deliveries(gw, 'lms');
    expect(skipped[0].lastError).toMatch(/not linked to this target/);
    expect(await gw.store.egress.getLink('lms', 'group', g)).toBeUndefined();

    await renameGroup(gw, t, g, 'Sales');
    expect(await gw.store.egress.getLink('lms', 'group', g)).toMatchObject({ remoteId: sales, source: 'config' });
    await gw.worker!.drain();
    expect(await states()).toEqual(['skipped', 'skipped', 'done']);
    expect(remote.members(sales)).toEqual([]);

    // /admin/targets counts the skips; replaying them delivers what was skipped, now that the reason is gone.
    const admin = await gw.token('default', 'admin');
    const before = await scim('GET', `${gw.url}/admin/targets`, admin);
    expect(before.body.targets[0].health).toMatchObject({ skipped: 2, done: 1 });
    const replay = await scim('POST', `${gw.url}/admin/targets/lms/replay?state=skipped`, admin);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual({ replayed: 2 });
    await gw.worker!.drain();
    expect(await states()).toEqual(['done', 'done', 'done']);
    expect(remote.members(sales)).toEqual([String(annRemote)]);
    const after = await scim('GET', `${gw.url}/admin/targets`, admin);
    expect(after.body.targets[0].health).toMatchObject({ skipped: 0, done: 3 });
    // Dead letters are what a plain replay takes: none here.
    expect((await scim('POST', `${gw.url}/admin/targets/lms/replay`, admin)).body).toEqual({ replayed: 0 });
    expect((await scim('POST', `${gw.url}/admin/targets/lms/replay?state=done`, admin)).status).toBe(400);
  });

  test('a stored link wins over a mapping the group later matches; an unmatched group stays a recorded skip', async () => {
    remote = await remotes.selfcommunity();
    const sales = remote.addGroup('Sales');
    const other = remote.addGroup('Other');
    await start('selfcommunity', [{ match: { externalId: 'ext-other' }, remoteId: other }, { match: { displayName: 'Sales' }, remoteId: sales }]);
    // Matching two mappings: the first in the file wins.
    const g = await newGroup(gw, t, 'Sales', [], { externalId: 'ext-other' });
    expect((await gw.store.egress.getLink('lms', 'group', g))!.remoteId).toBe(other);
    const h = await newGroup(gw, t, 'Unmapped');
    expect(await gw.store.egress.getLink('lms', 'group', h)).toBeUndefined();
    // h is renamed to match a mapping after an admin linked it elsewhere: the admin's link stays.
    const admin = await gw.token('default', 'admin');
    expect((await scim('PUT', `${gw.url}/admin/links/lms/group/${h}`, admin, { remoteId: other })).status).toBe(200);
    await renameGroup(gw, t, h, 'Sales');
    expect(await gw.store.egress.getLink('lms', 'group', h)).toMatchObject({ remoteId: other, source: 'admin' });
    const u = await newGroup(gw, t, 'Nobody Maps Me');
    await gw.worker!.drain();
    const rows = await deliveries(gw, 'lms');
    const ofU = rows.filter((d) => d.aggregate === `group:${u}`);
    expect(ofU.map((d) => d.state)).toEqual(['skipped']);
    expect(ofU[0].lastError).toBe('the group is not linked to this target (no mapping, and createGroups is off)');
  });

  test('groups that existed before the mapping are linked at start, by their name then; other tenants are never linked', async () => {
    remote = await remotes.selfcommunity();
    const sales = remote.addGroup('Sales');
    const first = await startGateway();
    const ft = await first.token();
    const g = await newGroup(first, ft, 'Sales');
    const renamed = await newGroup(first, ft, 'Sales (old)');
    const otherTenant = await newGroup(first, await first.token('globex'), 'Sales');
    await first.stop();
    await start('selfcommunity', [{ match: { displayName: 'Sales' }, remoteId: sales }], { dir: first.dir, pgDatabase: first.pgDatabase });
    expect(await gw.store.egress.getLink('lms', 'group', g)).toMatchObject({ remoteId: sales, source: 'config' });
    expect(await gw.store.egress.getLink('lms', 'group', renamed)).toBeUndefined();
    expect(await gw.store.egress.getLink('lms', 'group', otherTenant)).toBeUndefined();
    expect(await gw.store.egress.listLinks('lms', 'group')).toHaveLength(1);
  });
});
