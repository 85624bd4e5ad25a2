// The built CLI against a database a real server process wrote while delivering to a webhook receiver:
// `deliveries list/show/replay`, `links set/list/remove`, the standalone `worker` command, and start-up refusal of an
// invalid TARGETS_FILE with one line naming the field.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../../fixtures/emulators/webhook-receiver';
import {
  CLI_JS, MAIN_JS, cleanEnv, cli, ensureBuilt, http, mintWithCli, run, startServer, type ServerProcess, querySqlite, waitFor } from '../../helpers/process';

const JWT_SECRET = 'egress-cli-test-secret-0123456789-abcdefghijklmnop';
const HOOK_SECRET = 'whsec-cli-test-0123456789abcdef';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const dirs: string[] = [];
const servers: ServerProcess[] = [];
const children: ChildProcess[] = [];
const receivers: WebhookReceiverEmulator[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-egress-cli-'));
  dirs.push(dir);
  return dir;
}

/** A targets file with one webhook target pointing at `receiverUrl`; the credential comes from the environment. */
function targetsFile(dir: string, receiverUrl: string): string {
  const file = path.join(dir, 'targets.json');
  writeFileSync(file, JSON.stringify({
    targets: [{ name: 'hook', kind: 'webhook', baseUrl: `${receiverUrl}/events`, credential: '${CLI_TEST_HOOK_SECRET}' }],
  }));
  return file;
}

function envFor(dir: string, targets: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, JWT_SECRET, TARGETS_FILE: targets, CLI_TEST_HOOK_SECRET: HOOK_SECRET,
    WORKER_IN_PROCESS: 'true', RETRY_SCHEDULE: '200ms,200ms,500ms,1s,2s,3s', WORKER_COALESCE_MS: '0', ...extra,
  };
}



function openCount(dir: string): number {
  return querySqlite<{ n: number }>(dir, "SELECT count(*) AS n FROM deliveries WHERE state IN ('pending', 'in_flight')")[0].n;
}

function outboxSeqs(dir: string): number[] {
  return querySqlite<{ seq: number }>(dir, 'SELECT seq FROM outbox ORDER BY seq').map((r) => r.seq);
}

function lines(out: string): string[][] {
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
}

function eventIds(hook: WebhookReceiverEmulator): string[] {
  return hook.events.map((e) => (e.body as { id: string }).id);
}

// Each CLI run is a fresh node process (~1 s); leave room when jest runs files in parallel.
jest.setTimeout(60_000);

beforeAll(() => { ensureBuilt(); }, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(receivers.map((r) => r.close()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('deliveries and links commands on a database a running server wrote', () => {
  let dir: string;
  let env: Record<string, string>;
  let hook: WebhookReceiverEmulator;
  let server: ServerProcess;
  let token: string;
  let u1: string;
  let u2: string;
  let groupId: string;
  let deadSeq: number;

  beforeAll(async () => {
    dir = tempDir();
    hook = await startWebhookReceiverEmulator({ credential: HOOK_SECRET });
    receivers.push(hook);
    env = envFor(dir, targetsFile(dir, hook.url));
    server = await startServer(env);
    servers.push(server);
    token = await mintWithCli(env, 'default');

    const post = async (p: string, body: unknown) => {
      const res = await http('POST', `${server.url}/api/scim/v2${p}`, token, body);
      if (res.status !== 201) throw new Error(`POST ${p} answered ${res.status}: ${res.text}\nserver: ${server.stderr()}`);
      return res.body.id as string;
    };
    const settled = (what: string, check: () => boolean) =>
      waitFor(what, check).catch((e: Error) => { throw new Error(`${e.message}\nserver: ${server.stdout()}${server.stderr()}`); });
    u1 = await post('/Users', { schemas: [USER_SCHEMA], userName: 'cli-u1@example.com' });
    await settled('u1 delivered', () => hook.events.length === 1);
    // The next delivery is refused for good: a dead letter.
    hook.failNext(1, { status: 400, body: { error: 'cli-receiver-refused' } });
    u2 = await post('/Users', { schemas: [USER_SCHEMA], userName: 'cli-u2@example.com' });
    await settled('u2 dead', () => querySqlite(dir, "SELECT 1 FROM deliveries WHERE state = 'dead'").length === 1);
    deadSeq = querySqlite<{ seq: number }>(dir, "SELECT seq FROM deliveries WHERE state = 'dead'")[0].seq;
    groupId = await post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'CLI Group', members: [{ value: u1 }] });
    // One query: counted separately, the worker could create the group's deliveries between the two counts.
    await settled('everything settled', () => {
      const [d] = querySqlite<{ total: number; open: number }>(dir,
        "SELECT count(*) AS total, count(*) FILTER (WHERE state IN ('pending', 'in_flight')) AS open FROM deliveries");
      return d.total === 4 && d.open === 0;
    });
    expect(hook.events).toHaveLength(3);
  }, 60_000);

  test('deliveries list: one tab-separated line per delivery, newest first; --state, --group, --limit, --target', async () => {
    const all = await cli(['deliveries', 'list'], env);
    expect(all.code).toBe(0);
    const rows = lines(all.stdout);
    expect(rows.map((r) => Number(r[1]))).toEqual([...outboxSeqs(dir)].reverse());
    for (const r of rows) expect(r[0]).toBe('hook');
    expect(rows.map((r) => [r[2], r[3]])).toEqual([
      ['done', 'group.members_added'], ['done', 'group.created'], ['dead', 'user.created'], ['done', 'user.created'],
    ]);
    const dead = rows.find((r) => r[2] === 'dead')!;
    expect(dead[1]).toBe(String(deadSeq));
    expect(dead[4]).toBe(`user:${u2}`);
    expect(dead.slice(5)).toEqual(expect.arrayContaining(['attempts=0', 'status=400']));
    expect(dead.join('\t')).toContain('cli-receiver-refused');

    const onlyDead = lines((await cli(['deliveries', 'list', '--state', 'dead'], env)).stdout);
    expect(onlyDead.map((r) => r[1])).toEqual([String(deadSeq)]);
    const ofGroup = lines((await cli(['deliveries', 'list', '--group', groupId], env)).stdout);
    expect(ofGroup.map((r) => r[3])).toEqual(['group.members_added', 'group.created']);
    expect(ofGroup.every((r) => r[4] === `group:${groupId}`)).toBe(true);
    const newest = lines((await cli(['deliveries', 'list', '--limit', '2'], env)).stdout);
    expect(newest.map((r) => r[1])).toEqual(rows.slice(0, 2).map((r) => r[1]));
    const none = await cli(['deliveries', 'list', '--target', 'no-such-target'], env);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
  });

  test('deliveries show: the delivery, its payload and its attempts as JSON; unknown → exit 1', async () => {
    const r = await cli(['deliveries', 'show', 'hook', String(deadSeq)], env);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout);
    expect(shown.delivery).toMatchObject({ target: 'hook', seq: deadSeq, state: 'dead', type: 'user.created', lastStatus: 400 });
    expect(shown.payload.user).toMatchObject({ id: u2, userName: 'cli-u2@example.com' });
    expect(shown.attempts).toHaveLength(1);
    expect(shown.attempts[0]).toMatchObject({ outcome: 'permanent', status: 400 });

    const missing = await cli(['deliveries', 'show', 'hook', '999999'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('scimbridge: no delivery hook/999999');
  });

  test('deliveries replay: one dead letter, then all of a target\'s; the running server delivers them', async () => {
    const before = hook.events.length;
    const one = await cli(['deliveries', 'replay', 'hook', String(deadSeq)], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toBe('replayed 1\n');
    // The server's worker polls the database: the CLI's change reaches it without any signal.
    await waitFor('replayed delivery', () => hook.events.length === before + 1);
    expect(eventIds(hook).at(-1)).toBe(`default:${deadSeq}`);
    await waitFor('replayed delivery done', () =>
      querySqlite<{ state: string }>(dir, "SELECT state FROM deliveries WHERE seq = ?", deadSeq)[0].state === 'done');
    expect((await cli(['deliveries', 'replay', 'hook'], env)).stdout).toBe('replayed 0\n');

    // Two more dead letters (two users: two batches), replayed together.
    hook.failNext(2, { status: 422, body: { error: 'nope' } });
    for (const name of ['cli-u3@example.com', 'cli-u4@example.com']) {
      expect((await http('POST', `${server.url}/api/scim/v2/Users`, token, { schemas: [USER_SCHEMA], userName: name })).status).toBe(201);
    }
    await waitFor('two dead', () => querySqlite(dir, "SELECT 1 FROM deliveries WHERE state = 'dead'").length === 2);
    const deadNow = querySqlite<{ seq: number }>(dir, "SELECT seq FROM deliveries WHERE state = 'dead' ORDER BY seq").map((r) => `default:${r.seq}`);
    const all = await cli(['deliveries', 'replay', 'hook'], env);
    expect(all.stdout).toBe('replayed 2\n');
    await waitFor('all replayed', () => deadNow.every((id) => eventIds(hook).includes(id)) && openCount(dir) === 0);
    expect(querySqlite(dir, "SELECT 1 FROM deliveries WHERE state <> 'done'")).toEqual([]);
    expect((await cli(['deliveries', 'replay', 'no-such-target'], env)).stdout).toBe('replayed 0\n');
  });

  test('links set / list / remove, seen by the server\'s admin API too', async () => {
    const set = await cli(['links', 'set', 'hook', 'group', groupId, 'remote-g-7'], env);
    expect(set.code).toBe(0);
    expect(set.stdout).toBe(`linked group ${groupId} → remote-g-7\n`);
    expect((await cli(['links', 'set', 'hook', 'user', u1, 'remote-u-1'], env)).code).toBe(0);
    // Setting again replaces.
    expect((await cli(['links', 'set', 'hook', 'group', groupId, 'remote-g-8'], env)).code).toBe(0);

    const list = lines((await cli(['links', 'list', 'hook'], env)).stdout);
    expect(list.map((r) => r.slice(0, 4)).sort()).toEqual([
      ['group', groupId, 'remote-g-8', 'admin'],
      ['user', u1, 'remote-u-1', 'admin'],
    ]);
    for (const r of list) expect(Date.parse(r[4])).not.toBeNaN();
    expect(lines((await cli(['links', 'list', 'hook', '--kind', 'user'], env)).stdout).map((r) => r[1])).toEqual([u1]);

    const adminToken = await mintWithCli(env, 'default', ['--scope', 'admin']);
    const viaApi = await http('GET', `${server.url}/admin/links/hook`, adminToken);
    expect(viaApi.status).toBe(200);
    expect(viaApi.body.links.map((l: any) => l.remoteId).sort()).toEqual(['remote-g-8', 'remote-u-1']);

    const removed = await cli(['links', 'remove', 'hook', 'group', groupId], env);
    expect(removed.stdout).toBe('removed\n');
    const again = await cli(['links', 'remove', 'hook', 'group', groupId], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('no such link\n');
    expect(lines((await cli(['links', 'list', 'hook'], env)).stdout).map((r) => r[0])).toEqual(['user']);
  });

  test('links set refuses an unknown target or kind', async () => {
    const target = await cli(['links', 'set', 'no-such-target', 'group', groupId, 'x'], env);
    expect(target.code).toBe(1);
    expect(target.stderr).toContain('no target named "no-such-target"');
    const kind = await cli(['links', 'set', 'hook', 'team', groupId, 'x'], env);
    expect(kind.code).toBe(1);
    expect(kind.stderr).toContain('kind must be group or user');
    expect(lines((await cli(['links', 'list', 'hook'], env)).stdout)).toHaveLength(1);
  });

  test('no command output ever shows the target credential', async () => {
    const outputs = await Promise.all([
      cli(['deliveries', 'list', '--limit', '100'], env),
      cli(['deliveries', 'show', 'hook', String(deadSeq)], env),
      cli(['links', 'list', 'hook'], env),
    ]);
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(HOOK_SECRET);
    expect(server.stdout() + server.stderr()).not.toContain(HOOK_SECRET);
  });
});

describe('worker command', () => {
  test('a server with WORKER_IN_PROCESS=false delivers nothing; `scimbridge worker` delivers it all, keeps running, stops on SIGTERM', async () => {
    const dir = tempDir();
    const hook = await startWebhookReceiverEmulator({ credential: HOOK_SECRET });
    receivers.push(hook);
    const env = envFor(dir, targetsFile(dir, hook.url), { WORKER_IN_PROCESS: 'false' });
    const server = await startServer(env);
    servers.push(server);
    const token = await mintWithCli(env, 'default');
    const api = `${server.url}/api/scim/v2`;

    const u = (await http('POST', `${api}/Users`, token, { schemas: [USER_SCHEMA], userName: 'worker-u@example.com' })).body.id;
    const g = (await http('POST', `${api}/Groups`, token, { schemas: [GROUP_SCHEMA], displayName: 'Worker Group', members: [{ value: u }] })).body.id;
    expect((await http('PATCH', `${api}/Groups/${g}`, token, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'Worker Group 2' }] })).status).toBe(204);
    expect(outboxSeqs(dir)).toHaveLength(4);
    await new Promise((r) => setTimeout(r, 1500));
    expect(hook.requests).toHaveLength(0);
    expect(querySqlite(dir, 'SELECT 1 FROM deliveries')).toEqual([]);

    const worker = spawn(process.execPath, [CLI_JS, 'worker'], { env: cleanEnv({ LOG_LEVEL: 'warn', ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(worker);
    let output = '';
    worker.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    worker.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      worker.once('exit', (code, signal) => resolve({ code, signal }));
    });

    const expected = outboxSeqs(dir).map((s) => `default:${s}`);
    await waitFor(`the worker to deliver everything (output: ${output})`, () => hook.events.length >= expected.length);
    expect([...eventIds(hook)].sort()).toEqual([...expected].sort());
    const groupTypes = hook.events.map((e) => e.body as { type: string }).filter((b) => b.type.startsWith('group.')).map((b) => b.type);
    expect(groupTypes).toEqual(['group.created', 'group.members_added', 'group.updated']);
    await waitFor('deliveries settled', () => openCount(dir) === 0);

    // Still running when idle, and it picks up a change committed later by the server process.
    await new Promise((r) => setTimeout(r, 1000));
    expect(worker.exitCode).toBeNull();
    expect((await http('PATCH', `${api}/Groups/${g}`, token, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'remove', path: 'members' }] })).status).toBe(204);
    await waitFor('the later change', () => hook.events.some((e) => (e.body as { type: string }).type === 'group.members_removed'));
    await waitFor('deliveries settled', () => openCount(dir) === 0);

    worker.kill('SIGTERM');
    const status = await exited;
    expect({ ...status, output }).toEqual({ code: 0, signal: null, output: expect.any(String) });
    expect(output).not.toContain(HOOK_SECRET);
    expect(querySqlite(dir, "SELECT 1 FROM deliveries WHERE state <> 'done'")).toEqual([]);
  }, 60_000);
});

describe('an invalid TARGETS_FILE stops start-up with one line naming the field', () => {
  let dir: string;
  beforeAll(() => { dir = tempDir(); });

  const valid = { name: 'hook', kind: 'webhook', baseUrl: 'http://127.0.0.1:9/events', credential: 'plain-secret' };
  const cases: [string, string | object, RegExp][] = [
    ['bad JSON', '{"targets": [', /TARGETS_FILE: .*is not valid JSON/],
    ['an unknown kind', { targets: [{ ...valid, kind: 'carrier-pigeon' }] }, /TARGETS_FILE: targets\[0\]\.kind: /],
    ['a missing ${ENV} credential', { targets: [{ ...valid, credential: 'Bearer ${CLI_TEST_SURELY_UNSET_VAR}' }] },
      /TARGETS_FILE: targets\[0\]\.credential: environment variable CLI_TEST_SURELY_UNSET_VAR is not set/],
    ['a baseUrl that is not a URL', { targets: [{ ...valid, baseUrl: 'not a url' }] }, /TARGETS_FILE: targets\[0\]\.baseUrl: /],
    ['duplicate names', { targets: [valid, { ...valid }] }, /TARGETS_FILE: targets\[1\]\.name: "hook" is used by another target/],
  ];

  test.each(cases)('%s', async (label, content, message) => {
    const file = path.join(dir, `${label.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    const env = cleanEnv({ ...envFor(dir, file), CLI_TEST_SURELY_UNSET_VAR: undefined, PORT: '0', HOST: '127.0.0.1' });
    for (const args of [[MAIN_JS], [CLI_JS, 'worker']]) {
      const r = await run(process.execPath, args, { env, timeoutMs: 15_000 });
      expect(r.signal).toBeNull(); // exited by itself, did not hang until killed
      expect(r.code).not.toBe(0);
      const out = `${r.stdout}${r.stderr}`.trim();
      expect(out.split('\n')).toHaveLength(1);
      expect(out).toMatch(/^scimbridge: /);
      expect(out).toMatch(message);
      expect(out).not.toContain('plain-secret');
    }
  });
});
