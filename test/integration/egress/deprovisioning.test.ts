// Deprovisioning (issue 18): a user the identity provider deactivates loses access at every group target — its
// memberships in linked groups are withdrawn through the outbox — while the SCIM side keeps what the identity
// provider said; reactivation restores the memberships held at that moment. Against the SelfCommunity, Timeslot and
// Konstantly emulators and a downstream SCIM server, through a real gateway, on SQLite and (PostgreSQL pass) on
// PostgreSQL. Every check goes through HTTP, the store's interface or the emulators.
import { startKonstantlyEmulator, type KonstantlyEmulator } from '../../fixtures/emulators/konstantly';
import { startScimEmulator, type ScimEmulator } from '../../fixtures/emulators/scim-server';
import { startSelfCommunityEmulator, type SelfCommunityEmulator } from '../../fixtures/emulators/selfcommunity';
import { startTimeslotEmulator, type TimeslotEmulator } from '../../fixtures/emulators/timeslot';
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../../fixtures/emulators/webhook-receiver';
import { addToGroup, attempts, deliveries, newGroup, newUser, removeFromGroup } from '../../helpers/egress';
import { expectScimError, patchOp, scim, startGateway, user, type TestGateway } from '../../helpers/gateway';

const CRED = 'deprovisioning-credential-0123456789';
const HOOK = 'whsec-deprovisioning-0123456789abcdef';
const GROUP_TARGETS = ['sc', 'ts', 'kn', 'down'] as const;
type GroupTarget = (typeof GROUP_TARGETS)[number];

let sc: SelfCommunityEmulator;
let ts: TimeslotEmulator;
let kn: KonstantlyEmulator;
let down: ScimEmulator;
let hook: WebhookReceiverEmulator;
let gw: TestGateway;
let t: string;
/** Each target's id of the group "Eng". */
let remote: Record<GroupTarget, string>;
const people = ['alice', 'bob', 'carl', 'dave', 'erin'].map((n) => `${n}@example.com`);

beforeEach(async () => {
  [sc, ts, kn, down, hook] = await Promise.all([
    startSelfCommunityEmulator({ credential: CRED }), startTimeslotEmulator({ credential: CRED }),
    startKonstantlyEmulator({ credential: CRED }), startScimEmulator({ credential: CRED }),
    startWebhookReceiverEmulator({ credential: HOOK }),
  ]);
  remote = {
    sc: String(sc.addGroup('Eng')), ts: String(ts.addGroup('Eng')), kn: String(kn.addGroup('Eng')), down: down.addGroup('Eng'),
  };
  for (const email of people) {
    sc.addUser(email);
    ts.addUser(email);
    kn.addUser(email);
    down.addUser(email, { emails: [email] });
  }
});
afterEach(async () => {
  await gw?.close();
  await Promise.all([sc.close(), ts.close(), kn.close(), down.close(), hook.close()]);
  gw = undefined as unknown as TestGateway;
});

/** A gateway whose four group targets link "Eng" by name; `extra` per target (e.g. deactivated: "keep"). */
async function start(extra: Partial<Record<GroupTarget, Record<string, unknown>>> = {}) {
  const eng = (k: GroupTarget) => [{ match: { displayName: 'Eng' }, remoteId: remote[k] }];
  gw = await startGateway({
    targets: {
      targets: [
        { name: 'sc', kind: 'selfcommunity', baseUrl: sc.url, credential: CRED, groups: eng('sc'), ...extra.sc },
        { name: 'ts', kind: 'timeslot', baseUrl: ts.url, credential: CRED, groups: eng('ts'), ...extra.ts },
        { name: 'kn', kind: 'konstantly', baseUrl: kn.url, credential: CRED, groups: eng('kn'), ...extra.kn },
        { name: 'down', kind: 'scim', baseUrl: down.baseUrl, credential: CRED, groups: eng('down'), ...extra.down },
        { name: 'hook', kind: 'webhook', baseUrl: `${hook.url}/events`, credential: HOOK },
      ],
    },
  });
  t = await gw.token();
}

/** The e-mails of the members each group target has in "Eng", sorted. */
function atTargets(): Record<GroupTarget, string[]> {
  const emails = (xs: string[]) => xs.sort();
  return {
    sc: emails(sc.members(Number(remote.sc)).map((id) => sc.users.get(id)!.email)),
    ts: emails(ts.members(Number(remote.ts)).map((id) => ts.users.get(id)!.email)),
    kn: emails(kn.members(Number(remote.kn)).map((id) => kn.users.get(id)!.email)),
    down: emails(down.members(remote.down).map((id) => down.users.get(id)!.userName)),
  };
}

const everywhere = (emails: string[]) => Object.fromEntries(GROUP_TARGETS.map((k) => [k, [...emails].sort()]));

/** Whether the downstream SCIM server's user with this userName is active. */
const downActive = (email: string) => [...down.users.values()].find((u) => u.userName === email)!.active;

async function scimMembers(g: string): Promise<string[]> {
  const res = await scim('GET', `${gw.api}/Groups/${g}`, t);
  expect(res.status).toBe(200);
  return ((res.body.members ?? []) as { value: string }[]).map((m) => m.value).sort();
}

async function drain() {
  await gw.worker!.drain(20_000);
  for (const k of [...GROUP_TARGETS, 'hook']) expect((await deliveries(gw, k)).filter((d) => d.state === 'dead')).toEqual([]);
}

/** Users alice…erin, "Eng" of alice, bob and dave, all delivered. */
async function engOfThree() {
  const ids = Object.fromEntries(await Promise.all(people.map(async (e) => [e.split('@')[0], await newUser(gw, t, e, { emails: [{ value: e, primary: true }] })] as const)));
  const g = await newGroup(gw, t, 'Eng', [ids.alice, ids.bob, ids.dave]);
  await drain();
  expect(atTargets()).toEqual(everywhere(['alice@example.com', 'bob@example.com', 'dave@example.com']));
  return { ids: ids as Record<'alice' | 'bob' | 'carl' | 'dave' | 'erin', string>, g };
}

const patchUser = async (id: string, ops: unknown[]) => {
  const res = await scim('PATCH', `${gw.api}/Users/${id}`, t, patchOp(ops));
  expect(res.status).toBe(200);
  return res;
};
// Okta's deactivation (and "suspend"): a path-less replace with an object.
const oktaDeactivate = (id: string) => patchUser(id, [{ op: 'replace', value: { active: false } }]);
// Entra's soft delete on unassignment: path "active", a string boolean, capitalised op.
const entraDeactivate = (id: string) => patchUser(id, [{ op: 'Replace', path: 'active', value: 'False' }]);
const reactivate = (id: string) => patchUser(id, [{ op: 'replace', path: 'active', value: true }]);

test('Okta deactivates alice, Entra soft-deletes bob: both lose access at every group target; SCIM keeps them', async () => {
  await start();
  const { ids, g } = await engOfThree();
  await oktaDeactivate(ids.alice);
  await entraDeactivate(ids.bob);
  await drain();

  expect(atTargets()).toEqual(everywhere(['dave@example.com']));
  // The identity provider's own view is unchanged.
  expect(await scimMembers(g)).toEqual([ids.alice, ids.bob, ids.dave].sort());
  // The downstream SCIM server also has the two users deactivated (it has them: found by e-mail).
  expect([downActive('alice@example.com'), downActive('bob@example.com'), downActive('dave@example.com')]).toEqual([false, false, true]);
  // The webhook hears the users' events as before, and no group access events.
  const types = hook.events.map((e) => (e.body as { type: string }).type);
  expect(types.filter((x) => x === 'user.deactivated')).toHaveLength(2);
  expect(types.some((x) => x.startsWith('group.members_deactivated'))).toBe(false);
  expect((await deliveries(gw, 'hook')).map((d) => d.type).filter((x) => x.startsWith('group.members_'))).toEqual(['group.members_added']);

  // Visible: /admin/links lists the withheld memberships; the metric counts the removals; the audit trail has the actor.
  const admin = await gw.token('default', 'admin');
  const links = await scim('GET', `${gw.url}/admin/links/sc`, admin);
  expect(links.status).toBe(200);
  expect(links.body.withheld).toEqual([ids.alice, ids.bob].sort().map((userId) => ({ groupId: g, userId, reason: 'user inactive' })));
  expect((await scim('GET', `${gw.url}/admin/links/hook`, admin)).body.withheld).toEqual([]);
  const metrics = (await gw.metrics.render()).body;
  for (const k of GROUP_TARGETS) expect(metrics).toContain(`scimbridge_deprovision_removals_total{target="${k}"} 2`);
  const audit = await scim('GET', `${gw.url}/admin/audit?resourceId=${ids.alice}&operation=patch`, admin);
  expect(audit.body.records[0]).toMatchObject({
    resourceType: 'User', operation: 'patch', mount: '/api/scim/v2',
    summary: { attributes: ['active'], deactivated: true, accessWithdrawn: [g] },
  });
  expect(typeof audit.body.records[0].jti).toBe('string');
});

test('PUT of the whole user with active false withdraws it too; a user added while inactive is added nowhere until activated', async () => {
  await start();
  const { ids, g } = await engOfThree();
  const put = await scim('PUT', `${gw.api}/Users/${ids.dave}`, t, user('dave@example.com', { active: false, emails: [{ value: 'dave@example.com' }] }));
  expect(put.status).toBe(200);
  // carl is deactivated before he is added; erin is created inactive and then added.
  await oktaDeactivate(ids.carl);
  const erin2 = await newUser(gw, t, 'erin2@example.com', { active: false });
  for (const k of [sc, ts, kn]) k.addUser('erin2@example.com');
  down.addUser('erin2@example.com', { emails: ['erin2@example.com'] });
  await addToGroup(gw, t, g, [ids.carl, erin2]);
  await drain();
  expect(atTargets()).toEqual(everywhere(['alice@example.com', 'bob@example.com']));
  expect(await scimMembers(g)).toEqual([ids.alice, ids.bob, ids.carl, ids.dave, erin2].sort());

  await reactivate(ids.carl);
  await patchUser(erin2, [{ op: 'replace', path: 'active', value: 'True' }]);
  await drain();
  expect(atTargets()).toEqual(everywhere(['alice@example.com', 'bob@example.com', 'carl@example.com', 'erin2@example.com']));
  expect(downActive('carl@example.com')).toBe(true);
});

test('reactivation restores the memberships held at that moment and nothing removed in between', async () => {
  await start();
  const { ids, g } = await engOfThree();
  const other = await newGroup(gw, t, 'Not linked', [ids.alice]);
  await oktaDeactivate(ids.alice);
  await oktaDeactivate(ids.dave);
  await drain();
  expect(atTargets()).toEqual(everywhere(['bob@example.com']));

  // The identity provider removes dave from Eng while he is inactive; both come back.
  await removeFromGroup(gw, t, g, ids.dave);
  await reactivate(ids.alice);
  await reactivate(ids.dave);
  await drain();
  expect(atTargets()).toEqual(everywhere(['alice@example.com', 'bob@example.com']));
  expect(await scimMembers(g)).toEqual([ids.alice, ids.bob].sort());
  expect([downActive('alice@example.com'), downActive('dave@example.com')]).toEqual([true, true]);
  // The unlinked group's access events are recorded skips, as its other events are.
  expect((await deliveries(gw, 'sc')).filter((d) => d.aggregate === `group:${other}`).every((d) => d.state === 'skipped')).toBe(true);
});

test('deactivation, reactivation and deactivation again before delivery coalesce to the last word, in commit order', async () => {
  await start();
  const { ids } = await engOfThree();
  await oktaDeactivate(ids.alice);
  await reactivate(ids.alice);
  await entraDeactivate(ids.alice);
  await oktaDeactivate(ids.bob);
  await reactivate(ids.bob);
  await drain();
  expect(atTargets()).toEqual(everywhere(['bob@example.com', 'dave@example.com']));
  expect([downActive('alice@example.com'), downActive('bob@example.com')]).toEqual([false, true]);
});

test('deactivated: "keep" leaves that target\'s memberships (and its downstream user) alone', async () => {
  await start({ ts: { deactivated: 'keep' }, down: { deactivated: 'keep' } });
  const { ids } = await engOfThree();
  await oktaDeactivate(ids.alice);
  await drain();
  const now = atTargets();
  expect(now.sc).toEqual(['bob@example.com', 'dave@example.com']);
  expect(now.kn).toEqual(['bob@example.com', 'dave@example.com']);
  expect(now.ts).toEqual(['alice@example.com', 'bob@example.com', 'dave@example.com']);
  expect(now.down).toEqual(['alice@example.com', 'bob@example.com', 'dave@example.com']);
  expect(downActive('alice@example.com')).toBe(true);
  const admin = await gw.token('default', 'admin');
  expect((await scim('GET', `${gw.url}/admin/links/ts`, admin)).body.withheld).toEqual([]);
  expect((await scim('GET', `${gw.url}/admin/targets/ts`, admin)).body.deactivated).toBe('keep');
  // A keeping target never takes the access events in.
  expect((await deliveries(gw, 'ts')).some((d) => d.type === 'group.members_deactivated')).toBe(false);
});

test('active of any other type: 400 invalidValue, nothing changed, nothing queued', async () => {
  await start();
  const { ids } = await engOfThree();
  const before = await Promise.all(GROUP_TARGETS.map((k) => deliveries(gw, k)));
  const bodies: unknown[] = [
    patchOp([{ op: 'replace', value: { active: 'maybe' } }]),
    patchOp([{ op: 'replace', path: 'active', value: 'no' }]),
    patchOp([{ op: 'replace', path: 'active', value: 0 }]),
    patchOp([{ op: 'replace', path: 'active', value: { value: false } }]),
    patchOp([{ op: 'replace', path: 'active', value: [false] }]),
  ];
  for (const body of bodies) {
    const res = await scim('PATCH', `${gw.api}/Users/${ids.alice}`, t, body);
    expectScimError(res, 400, 'invalidValue');
  }
  for (const active of ['yes', 1, { no: true }]) {
    expectScimError(await scim('PUT', `${gw.api}/Users/${ids.alice}`, t, user('alice@example.com', { active })), 400, 'invalidValue');
  }
  expect((await scim('GET', `${gw.api}/Users/${ids.alice}`, t)).body.active).toBe(true);
  expect(await Promise.all(GROUP_TARGETS.map((k) => deliveries(gw, k)))).toEqual(before);
});

test('a deactivation of a user no target knows is a recorded skip, not a dead letter', async () => {
  await start();
  const { g } = await engOfThree();
  const ghost = await newUser(gw, t, 'ghost@example.com');
  await addToGroup(gw, t, g, [ghost]);
  await drain();
  await oktaDeactivate(ghost);
  await drain();
  for (const k of GROUP_TARGETS) {
    const rows = await deliveries(gw, k);
    expect(rows.every((d) => d.state === 'done' || d.state === 'skipped')).toBe(true);
    const withdrawal = rows.find((d) => d.type === 'group.members_deactivated')!;
    expect(withdrawal.state).toBe('done');
    expect(withdrawal.lastError).toMatch(/was not found at the target/);
    expect((await attempts(gw, k)).some((a) => a.outcome === 'skip' && a.lastSeq >= withdrawal.seq)).toBe(true);
  }
  // The downstream SCIM server's user batch for ghost: a skip of its own.
  const userRows = (await deliveries(gw, 'down')).filter((d) => d.aggregate === `user:${ghost}`);
  expect(userRows.map((d) => [d.type, d.state])).toEqual([['user.updated', 'skipped'], ['user.deactivated', 'skipped']]);
  expect(userRows[0].lastError).toMatch(/not found at the target/);
});

test('DronaHQ (downstream SCIM, dronahq dialect): the whole member list without the inactive user, and the user disabled', async () => {
  const drona = await startScimEmulator({ credential: CRED, dialect: 'dronahq' });
  try {
    const eng = drona.addGroup('Eng');
    for (const email of people) drona.addUser(email, { emails: [email] });
    gw = await startGateway({
      targets: { targets: [{ name: 'drona', kind: 'scim', baseUrl: drona.baseUrl, credential: CRED, options: { dialect: 'dronahq' }, groups: [{ match: { displayName: 'Eng' }, remoteId: eng }] }] },
    });
    t = await gw.token();
    const [alice, bob] = await Promise.all(people.slice(0, 2).map((e) => newUser(gw, t, e, { emails: [{ value: e }] })));
    await newGroup(gw, t, 'Eng', [alice, bob]);
    await gw.worker!.drain();
    const names = () => drona.members(eng).map((id) => drona.users.get(id)!.userName).sort();
    expect(names()).toEqual(['alice@example.com', 'bob@example.com']);
    drona.clearRequests();
    await oktaDeactivate(alice);
    await gw.worker!.drain();
    expect(names()).toEqual(['bob@example.com']);
    const aliceThere = [...drona.users.values()].find((u) => u.userName === 'alice@example.com')!;
    expect(aliceThere.active).toBe(false);
    // The documented enable/disable body.
    expect(drona.requests.filter((r) => r.method === 'PATCH' && r.path.includes('/Users/')).map((r) => r.body))
      .toEqual([{ Operations: [{ op: 'replace', value: { active: false } }] }]);
    await reactivate(alice);
    await gw.worker!.drain();
    expect(names()).toEqual(['alice@example.com', 'bob@example.com']);
    expect(aliceThere.active).toBe(true);
    expect((await deliveries(gw, 'drona')).every((d) => d.state === 'done')).toBe(true);
  } finally {
    await gw.close();
    gw = undefined as unknown as TestGateway;
    await drona.close();
  }
});
