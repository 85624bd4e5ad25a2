// Configured links (issue 11) and deprovisioning (issue 18) survive a kill -9 between the commit and the first
// delivery, with real processes, on SQLite and on PostgreSQL (this file picks its databases itself: one pass only). The gateway holds its deliveries
// back (a long coalescing window) while the identity provider creates "Sales" and renames it at once; it is killed
// before anything leaves; a restarted gateway delivers the new name and the final members to all three group APIs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startKonstantlyEmulator, type KonstantlyEmulator } from '../../fixtures/emulators/konstantly';
import { startSelfCommunityEmulator, type SelfCommunityEmulator } from '../../fixtures/emulators/selfcommunity';
import { startTimeslotEmulator, type TimeslotEmulator } from '../../fixtures/emulators/timeslot';
import { createTestDatabase, dropTestDatabase, postgresTest, testDatabaseUrl } from '../../helpers/postgres';
import { cli, ensureBuilt, http, mintWithCli, startServer, waitFor, type ServerProcess } from '../../helpers/process';

const JWT_SECRET = 'linking-crash-test-secret-0123456789-abcdefghijkl';
const CRED = 'linking-crash-credential-0123456789';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const TARGETS = ['sc', 'ts', 'kn'];

jest.setTimeout(120_000);

const dirs: string[] = [];
const servers: ServerProcess[] = [];
const databases: string[] = [];
let sc: SelfCommunityEmulator;
let ts: TimeslotEmulator;
let kn: KonstantlyEmulator;

beforeAll(() => { ensureBuilt(); }, 180_000);
beforeEach(async () => {
  sc = await startSelfCommunityEmulator({ credential: CRED });
  ts = await startTimeslotEmulator({ credential: CRED });
  kn = await startKonstantlyEmulator({ credential: CRED });
});
afterEach(async () => {
  for (const s of servers.splice(0)) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  await Promise.all([sc.close(), ts.close(), kn.close()]);
});
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  for (const db of databases) await dropTestDatabase(db).catch(() => undefined);
});

/** "Sales" at each of the three group APIs, three users everywhere, and a targets file linking "Sales" at each. */
function threeTargets(dir: string) {
  const remote = { sc: sc.addGroup('Sales'), ts: ts.addGroup('Sales'), kn: kn.addGroup('Sales') };
  const emails = ['ann@example.com', 'bob@example.com', 'cat@example.com'];
  const users = { sc: emails.map((e) => sc.addUser(e)), ts: emails.map((e) => ts.addUser(e)), kn: emails.map((e) => kn.addUser(e)) };
  const targetsFile = path.join(dir, 'targets.json');
  const sales = (remoteId: number) => [{ match: { displayName: 'Sales' }, remoteId }];
  writeFileSync(targetsFile, JSON.stringify({
    targets: [
      { name: 'sc', kind: 'selfcommunity', baseUrl: sc.url, credential: '${LINK_CRASH_CRED}', groups: sales(remote.sc) },
      { name: 'ts', kind: 'timeslot', baseUrl: ts.url, credential: '${LINK_CRASH_CRED}', groups: sales(remote.ts) },
      { name: 'kn', kind: 'konstantly', baseUrl: kn.url, credential: '${LINK_CRASH_CRED}', groups: sales(remote.kn) },
    ],
  }));
  return { remote, emails, users, targetsFile };
}

/** Deliveries neither settled nor dead, over every target (the admin API's health). */
async function openDeliveries(url: string, token: string): Promise<number> {
  const r = await http('GET', `${url}/admin/targets`, token);
  return (r.body.targets as { health: { pending: number; inFlight: number } }[]).reduce((n, x) => n + x.health.pending + x.health.inFlight, 0);
}

async function scenario(databaseUrl: string, dir: string): Promise<void> {
  const { remote, emails, users, targetsFile } = threeTargets(dir);
  const [scSales, tsSales, knSales] = [remote.sc, remote.ts, remote.kn];
  const [scUsers, tsUsers, knUsers] = [users.sc, users.ts, users.kn];
  const env = { DATABASE_URL: databaseUrl, JWT_SECRET, TARGETS_FILE: targetsFile, LINK_CRASH_CRED: CRED, RETRY_SCHEDULE: '200ms,500ms,1s' };
  // Nothing is delivered while the window is a minute long.
  let server = await startServer({ ...env, WORKER_COALESCE_MS: '60000' });
  servers.push(server);
  const token = await mintWithCli(env, 'default', ['--scope', 'scim:read scim:write admin']);
  const api = `${server.url}/api/scim/v2`;
  const ids: string[] = [];
  for (const userName of emails) {
    const r = await http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName });
    expect(r.status).toBe(201);
    ids.push(r.body.id as string);
  }
  const [ann, bob, cat] = ids;
  const created = await http('POST', `${api}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: 'Sales', members: [{ value: ann }, { value: bob }] });
  expect(created.status).toBe(201);
  const g = created.body.id as string;
  const patch = async (ops: unknown[]) => {
    const r = await http('PATCH', `${api}/Groups/${g}`, token, { schemas: [PATCH_SCHEMA], Operations: ops });
    expect([200, 204]).toContain(r.status);
  };
  await patch([{ op: 'replace', value: { displayName: 'Sales Team' } }]);
  await patch([{ op: 'add', path: 'members', value: [{ value: cat }] }]);
  await patch([{ op: 'remove', path: `members[value eq "${bob}"]` }]);

  // Linked at commit, before any delivery: the admin API shows the link for each target.
  for (const [name, remoteId] of [['sc', scSales], ['ts', tsSales], ['kn', knSales]] as const) {
    const links = await http('GET', `${server.url}/admin/links/${name}?kind=group`, token);
    expect(links.status).toBe(200);
    expect(links.body.links).toEqual([expect.objectContaining({ scimId: g, remoteId: String(remoteId), source: 'config' })]);
  }
  expect(sc.requests.length + ts.requests.length + kn.requests.length).toBe(0);

  server.child.kill('SIGKILL');
  expect((await server.exited).signal).toBe('SIGKILL');

  server = await startServer({ ...env, WORKER_COALESCE_MS: '0' });
  servers.push(server);
  await waitFor('every target renamed', () => [sc.group(scSales)!.name, ts.group(tsSales)!.name, kn.group(knSales)!.name].every((n) => n === 'Sales Team'), 60_000);
  await waitFor('every target delivered', async () => (await openDeliveries(server.url, token)) === 0, 60_000);

  expect([sc.group(scSales)!.name, ts.group(tsSales)!.name, kn.group(knSales)!.name]).toEqual(['Sales Team', 'Sales Team', 'Sales Team']);
  expect(sc.members(scSales)).toEqual([scUsers[0], scUsers[2]].sort((a, b) => a - b));
  expect(ts.members(tsSales)).toEqual([tsUsers[0], tsUsers[2]].sort((a, b) => a - b));
  expect([...kn.members(knSales)].sort()).toEqual([knUsers[0], knUsers[2]].sort());
  const targets = await http('GET', `${server.url}/admin/targets`, token);
  for (const t of targets.body.targets as { name: string; health: { done: number; skipped: number; dead: number } }[]) {
    expect(TARGETS).toContain(t.name);
    expect(t.health).toMatchObject({ done: 5, skipped: 0, dead: 0 });
  }
  expect(await server.stop()).toEqual({ code: 0, signal: null });
  expect(server.stdout() + server.stderr()).not.toContain(CRED);
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-linkcrash-'));
  dirs.push(dir);
  return dir;
}

/** The scenario on a SQLite file, and on a fresh PostgreSQL database (a visible skip, or under CI a failure, without one). */
function onBothBackends(what: string, run: (databaseUrl: string, dir: string) => Promise<void>): void {
  test(`SQLite: ${what}`, async () => {
    const dir = tempDir();
    await run(`sqlite:${path.join(dir, 'db.sqlite')}`, dir);
  });
  postgresTest(`PostgreSQL: ${what}`, async () => {
    const db = await createTestDatabase();
    databases.push(db);
    await run(testDatabaseUrl(db), tempDir());
  });
}

onBothBackends('create + immediate rename + member changes, kill -9 before the first delivery, restart: all three targets get the new name and the final members', scenario);

test('CLI: skipped deliveries of an unlinked group replay with `deliveries replay --skipped` once `links set` linked it', async () => {
  const dir = tempDir();
  const remote = sc.addGroup('Support');
  const annRemote = sc.addUser('ann@example.com');
  const targetsFile = path.join(dir, 'targets.json');
  writeFileSync(targetsFile, JSON.stringify({ targets: [{ name: 'sc', kind: 'selfcommunity', baseUrl: sc.url, credential: '${LINK_CRASH_CRED}' }] }));
  const env = { DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, JWT_SECRET, TARGETS_FILE: targetsFile, LINK_CRASH_CRED: CRED, WORKER_COALESCE_MS: '0' };
  const server = await startServer(env);
  servers.push(server);
  const token = await mintWithCli(env, 'default', ['--scope', 'scim:read scim:write admin']);
  const api = `${server.url}/api/scim/v2`;
  const ann = (await http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName: 'ann@example.com' })).body.id as string;
  const g = (await http('POST', `${api}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: 'Helpdesk', members: [{ value: ann }] })).body.id as string;
  const health = async () => (await http('GET', `${server.url}/admin/targets/sc`, token)).body.health as Record<string, number>;
  await waitFor('both events skipped', async () => (await health()).skipped === 2);
  expect(sc.requests).toHaveLength(0);

  expect((await cli(['links', 'set', 'sc', 'group', g, String(remote)], env)).code).toBe(0);
  // A plain replay takes dead letters only.
  expect((await cli(['deliveries', 'replay', 'sc'], env)).stdout).toBe('replayed 0\n');
  const replay = await cli(['deliveries', 'replay', 'sc', '--skipped'], env);
  expect(replay).toMatchObject({ code: 0, stdout: 'replayed 2\n' });
  await waitFor('replayed and delivered', async () => (await health()).done === 2);
  expect(await health()).toMatchObject({ skipped: 0, done: 2, dead: 0 });
  expect(sc.members(remote)).toEqual([annRemote]);
  expect(await server.stop()).toEqual({ code: 0, signal: null });
});

/** Deprovisioning (issue 18): a deactivation committed and then killed before delivery still withdraws access. */
async function deactivationScenario(databaseUrl: string, dir: string): Promise<void> {
  const { remote, emails, users, targetsFile } = threeTargets(dir);
  const env = { DATABASE_URL: databaseUrl, JWT_SECRET, TARGETS_FILE: targetsFile, LINK_CRASH_CRED: CRED, RETRY_SCHEDULE: '200ms,500ms,1s' };
  let server = await startServer({ ...env, WORKER_COALESCE_MS: '0' });
  servers.push(server);
  const token = await mintWithCli(env, 'default', ['--scope', 'scim:read scim:write admin']);
  const ids: string[] = [];
  for (const userName of emails) {
    const r = await http('POST', `${server.url}/api/scim/v2/Users`, token, { schemas: [USER_SCHEMA], userName, emails: [{ value: userName }] });
    expect(r.status).toBe(201);
    ids.push(r.body.id as string);
  }
  const created = await http('POST', `${server.url}/api/scim/v2/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: 'Sales', members: ids.map((value) => ({ value })) });
  expect(created.status).toBe(201);
  const everyone = { sc: [...users.sc].sort((a, b) => a - b), ts: [...users.ts].sort((a, b) => a - b), kn: [...users.kn].sort() };
  const membersNow = () => ({ sc: sc.members(remote.sc), ts: ts.members(remote.ts), kn: [...kn.members(remote.kn)].sort() });
  // The outcome first (before its first pass the worker has no deliveries to count), then nothing left open.
  await waitFor('the group delivered', () => JSON.stringify(membersNow()) === JSON.stringify(everyone), 60_000);
  await waitFor('nothing open', async () => (await openDeliveries(server.url, token)) === 0, 60_000);
  expect(await server.stop()).toEqual({ code: 0, signal: null });

  // Deliveries held back; Okta deactivates ann; the gateway dies before anything leaves.
  server = await startServer({ ...env, WORKER_COALESCE_MS: '60000' });
  servers.push(server);
  const sent = sc.requests.length + ts.requests.length + kn.requests.length;
  const off = await http('PATCH', `${server.url}/api/scim/v2/Users/${ids[0]}`, token, {
    schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', value: { active: false } }],
  });
  expect(off.status).toBe(200);
  expect(sc.requests.length + ts.requests.length + kn.requests.length).toBe(sent);
  server.child.kill('SIGKILL');
  expect((await server.exited).signal).toBe('SIGKILL');

  server = await startServer({ ...env, WORKER_COALESCE_MS: '0' });
  servers.push(server);
  const withoutAnn = { sc: everyone.sc.filter((u) => u !== users.sc[0]), ts: everyone.ts.filter((u) => u !== users.ts[0]), kn: everyone.kn.filter((u) => u !== users.kn[0]) };
  await waitFor('the withdrawal delivered', () => JSON.stringify(membersNow()) === JSON.stringify(withoutAnn), 60_000);
  await waitFor('nothing open', async () => (await openDeliveries(server.url, token)) === 0, 60_000);
  expect(membersNow()).toEqual(withoutAnn);
  // The identity provider's view keeps ann.
  const g = await http('GET', `${server.url}/api/scim/v2/Groups/${created.body.id as string}`, token);
  expect((g.body.members as { value: string }[]).map((m) => m.value).sort()).toEqual([...ids].sort());
  expect(await server.stop()).toEqual({ code: 0, signal: null });
}

onBothBackends('a deactivation committed, kill -9 before its delivery, restart: the user is removed at all three targets', deactivationScenario);
