// Reconciliation (issue 14): drift made behind the gateway's back at SelfCommunity, Timeslot, Konstantly and a
// downstream SCIM server (members removed and added by hand, a rename, a dead letter never replayed, a deactivated
// user still there) is found by a dry run that changes nothing, and repaired through the outbox as ordinary,
// audited deliveries. Pending groups are left alone; tenants see only their targets. Both backends (PostgreSQL pass).
import { addToGroup, deliveries, newGroup, newUser, renameGroup } from '../../helpers/egress';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { cli, ensureBuilt } from '../../helpers/process';
import { patchOp, scim, startGateway, TEST_SECRET, type TestGateway } from '../../helpers/gateway';
import { groupProducts, type Product, type View } from '../../helpers/group-products';
import { testDatabaseUrl } from '../../helpers/postgres';
import { startScimEmulator } from '../../fixtures/emulators/scim-server';
import { loadConfig } from '../../../src/config';
import { connectorFor } from '../../../src/egress/connectors';
import { scheduleReconciliation } from '../../../src/egress/reconcile';
import { parseTargets } from '../../../src/egress/targets';
import { createLogger } from '../../../src/log';

const CRED = 'reconcile-test-credential-0123456789';
const sorted = (xs: (string | number)[]) => xs.map(String).sort();
const products = Object.fromEntries(groupProducts(CRED).map((p) => [p.kind, p])) as Record<Product['kind'], Product>;

let gw: TestGateway;
let t: string;
let admin: string;
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await gw?.close();
  for (const c of closers.splice(0)) await c();
});

let targetsJson: unknown[] = [];
async function start(targets: unknown[]) {
  targetsJson = targets;
  gw = await startGateway({ targets: { targets } });
  t = await gw.token();
  admin = await gw.token('default', 'admin');
}

/** The CLI's environment: the test gateway's database and targets. */
function cliEnv(): Record<string, string> {
  const file = path.join(gw.dir, 'targets.json');
  writeFileSync(file, JSON.stringify({ targets: targetsJson }));
  return {
    DATABASE_URL: gw.pgDatabase ? testDatabaseUrl(gw.pgDatabase) : `sqlite:${gw.dbFile}`, JWT_SECRET: TEST_SECRET, TARGETS_FILE: file,
  };
}

function reconcile(target: string, query = '') {
  return scim('POST', `${gw.url}/admin/reconcile/${target}${query}`, admin);
}

/** Three users at the target and in SCIM, a group of the first two linked by name; delivered. */
async function linkedGroup(remote: View, kind: Product['kind']) {
  const group = remote.addGroup('Sales');
  const people = ['ann', 'bob', 'cat', 'dan'].map((n) => ({ email: `${n}@example.com`, remote: remote.addUser(`${n}@example.com`) }));
  await start([{ name: 'lms', kind, baseUrl: remote.url, credential: CRED, groups: [{ match: { displayName: 'Sales' }, remoteId: group }] }]);
  const ids = await Promise.all(people.map((p) => newUser(gw, t, p.email)));
  const g = await newGroup(gw, t, 'Sales', ids.slice(0, 3));
  await gw.worker!.drain();
  expect(sorted(remote.members(group).filter((m) => people.some((p) => p.remote === m)))).toEqual(sorted(people.slice(0, 3).map((p) => p.remote)));
  return { group, people, ids, g };
}

describe.each(['selfcommunity', 'timeslot'] as const)('%s: members listed by the API', (kind) => {
  test('dry run reports each difference and changes nothing; the run repairs through deliveries; then in sync', async () => {
    const remote = await products[kind].start();
    closers.push(() => remote.close());
    const { group, people, ids, g } = await linkedGroup(remote, kind);
    const [ann, bob, , dan] = ids;
    // Behind the gateway's back: bob removed, dan (a SCIM user, not a member) added, a stranger added, renamed.
    const stranger = remote.addUser('stranger@example.com');
    remote.drift.removeMember(group, people[1].remote);
    remote.drift.addMember(group, people[3].remote);
    remote.drift.addMember(group, stranger);
    remote.drift.rename(group, 'Sales (old)');
    // dan is linked at the target (a delivery looked him up) so that he can be recognised there.
    await addToGroup(gw, t, g, [dan]);
    await gw.worker!.drain();
    await scim('PATCH', `${gw.api}/Groups/${g}`, t, patchOp([{ op: 'remove', path: `members[value eq "${dan}"]` }]));
    await gw.worker!.drain();
    remote.drift.addMember(group, people[3].remote);
    const before = (await deliveries(gw, 'lms')).length;
    remote.clearRequests();

    const dry = await reconcile('lms', '?dryRun=true');
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ target: 'lms', dryRun: true, summary: { groups: 1, drift: 1, repairs: 0 } });
    const [report] = dry.body.groups;
    expect(report).toMatchObject({
      groupId: g, remoteId: group, status: 'drift', membersCompared: true,
      name: { scim: 'Sales', remote: 'Sales (old)' },
      missing: { count: 1, sample: [bob] }, extra: { count: 1, sample: [dan] },
    });
    // The stranger (and, at Timeslot, the group's owner) has no link: reported, never removed.
    expect(report.unlinked.sample).toContain(stranger);
    expect((await deliveries(gw, 'lms')).length).toBe(before);
    expect(remote.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(remote.name(group)).toBe('Sales (old)');

    const run = await reconcile('lms');
    expect(run.body.summary).toMatchObject({ drift: 1, repairs: 3 });
    // Ordinary deliveries, addressed to this target, visible like any other.
    await gw.worker!.drain();
    const queued = (await deliveries(gw, 'lms')).slice(before);
    expect(queued.map((d) => `${d.type} ${d.state}`).sort()).toEqual(['group.members_added done', 'group.members_removed done', 'group.updated done']);
    expect(remote.name(group)).toBe('Sales');
    const expected = [people[0].remote, people[1].remote, people[2].remote];
    expect(sorted(remote.members(group).filter((m) => m !== stranger))).toEqual(sorted(expected));
    expect(remote.members(group)).toContain(stranger);
    // Audited as reconciliation, by the admin token's subject, for this target.
    const audit = await gw.store.listAudit({ operation: 'reconcile', limit: 10 });
    expect(audit.length).toBe(3);
    expect(audit.every((a) => a.resourceId === g && a.mount === '/admin' && a.summary.target === 'lms')).toBe(true);
    expect(audit.flatMap((a) => a.summary.membersAdded ?? [])).toEqual([bob]);
    expect(audit.flatMap((a) => a.summary.membersRemoved ?? [])).toEqual([dan]);
    expect(ann).toBeDefined();

    const after = await reconcile('lms', '?dryRun=true');
    expect(after.body.groups[0]).toMatchObject({ status: 'in_sync', missing: { count: 0 }, extra: { count: 0 } });
  });
});

test('a group with open deliveries is pending and left alone; a deactivated user still at the target is extra', async () => {
  const remote = await products.selfcommunity.start();
  closers.push(() => remote.close());
  const { group, people, ids, g } = await linkedGroup(remote, 'selfcommunity');
  // Deactivated while the target is down: the withdrawal dead-letters... then is never replayed.
  remote.failNext(20, { status: 400, body: { errors: [{ code: 'invalid' }] } });
  await scim('PATCH', `${gw.api}/Users/${ids[0]}`, t, patchOp([{ op: 'replace', path: 'active', value: false }]));
  await gw.worker!.drain();
  remote.resetFaults();
  expect((await deliveries(gw, 'lms')).some((d) => d.state === 'dead')).toBe(true);
  expect(remote.members(group)).toContain(people[0].remote);

  // A live change not yet delivered: the group is pending, nothing is queued for it.
  await renameGroup(gw, t, g, 'Sales Team');
  const pending = await reconcile('lms');
  expect(pending.body.groups[0]).toMatchObject({ status: 'pending', repairs: 0 });
  await gw.worker!.drain();

  const run = await reconcile('lms');
  expect(run.body.groups[0]).toMatchObject({ status: 'drift', extra: { count: 1, sample: [ids[0]] }, missing: { count: 0 } });
  await gw.worker!.drain();
  expect(sorted(remote.members(group))).toEqual(sorted([people[1].remote, people[2].remote]));
});

test('Konstantly: no member listing; the name is compared and a repair re-sends every expected member', async () => {
  const remote = await products.konstantly.start();
  closers.push(() => remote.close());
  const { group, people } = await linkedGroup(remote, 'konstantly');
  remote.drift.removeMember(group, people[1].remote);
  remote.drift.rename(group, 'Renamed there');
  const dry = await reconcile('lms', '?dryRun=true');
  expect(dry.body.groups[0]).toMatchObject({ status: 'drift', membersCompared: false, name: { remote: 'Renamed there' } });
  const run = await reconcile('lms');
  expect(run.body.groups[0]).toMatchObject({ repushed: 3 });
  await gw.worker!.drain();
  expect(remote.name(group)).toBe('Sales');
  expect(sorted(remote.members(group))).toEqual(sorted(people.slice(0, 3).map((p) => p.remote)));
});

test('downstream SCIM: GET /Groups/{id} is compared; the CLI prints the report, --json, and exit code 2 on a dry run with drift', async () => {
  ensureBuilt();
  const down = await startScimEmulator({ credential: CRED });
  closers.push(() => down.close());
  await start([{ name: 'down', kind: 'scim', baseUrl: down.baseUrl, credential: CRED, createGroups: true }]);
  for (const e of ['ann@example.com', 'bob@example.com']) down.addUser(e, { emails: [e] });
  const ann = await newUser(gw, t, 'ann@example.com');
  const bob = await newUser(gw, t, 'bob@example.com');
  const g = await newGroup(gw, t, 'Eng', [ann, bob]);
  await gw.worker!.drain();
  const remoteGroup = (await gw.store.egress.getLink('down', 'group', g))!.remoteId;
  const remoteAnn = (await gw.store.egress.getLink('down', 'user', ann))!.remoteId;
  const remoteBob = (await gw.store.egress.getLink('down', 'user', bob))!.remoteId;
  expect(down.members(remoteGroup)).toEqual(sorted([remoteAnn, remoteBob]));
  down.group(remoteGroup)!.members.delete(remoteBob);

  const env = cliEnv();
  const dry = await cli(['reconcile', 'down', '--dry-run'], env);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(2);
  expect(dry.stdout).toMatch(/1 drift/);
  expect(dry.stdout).toContain(`missing there: 1 (${bob})`);
  const json = await cli(['reconcile', 'down', '--dry-run', '--json', '--group', g], env);
  expect(JSON.parse(json.stdout).groups[0]).toMatchObject({ groupId: g, missing: { count: 1 } });
  const run = await cli(['reconcile', 'down'], env);
  expect(run.code).toBe(0);
  await gw.worker!.drain();
  expect(down.members(remoteGroup)).toEqual(sorted([remoteAnn, remoteBob]));
  expect((await cli(['reconcile', 'down', '--dry-run'], env)).code).toBe(0);
  const unknown = await cli(['reconcile', 'nope'], env);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toMatch(/no target named "nope"/);
});

test('admin: tenant-scoped, admin scope, webhook targets refused, unknown groups 404; metrics', async () => {
  const remote = await products.selfcommunity.start();
  closers.push(() => remote.close());
  await start([
    { name: 'lms', kind: 'selfcommunity', baseUrl: remote.url, credential: CRED },
    { name: 'hook', kind: 'webhook', baseUrl: remote.url, credential: CRED },
    { name: 'theirs', kind: 'selfcommunity', tenant: 'other', baseUrl: remote.url, credential: CRED },
  ]);
  expect((await reconcile('theirs')).status).toBe(404);
  expect((await reconcile('hook')).status).toBe(400);
  expect((await reconcile('lms', '?group=nope')).status).toBe(404);
  expect((await reconcile('lms', '?dryRun=maybe')).status).toBe(400);
  expect((await scim('POST', `${gw.url}/admin/reconcile/lms`, t)).status).toBe(403);
  const ok = await reconcile('lms');
  expect(ok.body.summary).toMatchObject({ groups: 0, drift: 0 });
  const metrics = await (await fetch(`${gw.url}/metrics`)).text();
  expect(metrics).toMatch(/scimbridge_reconcile_drift\{target="lms"\} 0/);
  expect(metrics).toMatch(/scimbridge_reconcile_last_run_timestamp_seconds\{target="lms"\} \d+/);
});

test('RECONCILE_INTERVAL: a scheduled run repairs drift with no one asking; intervals under a minute are refused', async () => {
  const remote = await products.selfcommunity.start();
  closers.push(() => remote.close());
  const { group, people } = await linkedGroup(remote, 'selfcommunity');
  remote.drift.removeMember(group, people[0].remote);
  const [config] = parseTargets({ targets: targetsJson }, process.env, ['100ms']);
  const stop = scheduleReconciliation(gw.store, [{ config, connector: connectorFor(config) }], 100, createLogger('silent'));
  try {
    const deadline = Date.now() + 10_000;
    while (!remote.members(group).includes(people[0].remote) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      await gw.worker!.drain();
    }
  } finally {
    await stop();
  }
  expect(remote.members(group)).toContain(people[0].remote);
  const [record] = await gw.store.listAudit({ operation: 'reconcile', limit: 1 });
  expect(record).toMatchObject({ subject: 'scheduler', mount: 'scheduler' });

  const base = { JWT_SECRET: TEST_SECRET };
  expect(loadConfig({ ...base, RECONCILE_INTERVAL: '6h' }).reconcileIntervalMs).toBe(6 * 3600_000);
  expect(loadConfig({ ...base }).reconcileIntervalMs).toBeUndefined();
  expect(loadConfig({ ...base, RECONCILE_INTERVAL: 'off' }).reconcileIntervalMs).toBeUndefined();
  expect(() => loadConfig({ ...base, RECONCILE_INTERVAL: '30s' })).toThrow(/RECONCILE_INTERVAL/);
  expect(() => loadConfig({ ...base, RECONCILE_INTERVAL: 'hourly' })).toThrow(/RECONCILE_INTERVAL/);
});
