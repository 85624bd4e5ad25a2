// The admin API over HTTP: scope "admin" required, tenant-scoped (tenant "*" sees everything), targets with their
// health, deliveries with filters and attempts, replay of dead letters, links; SCIM Error bodies on every failure;
// never a target's credential in any answer.
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../../fixtures/emulators/webhook-receiver';
import { expectScimError, group, patchOp, scim, startGateway, user, type TestGateway } from '../../helpers/gateway';

const SECRET_A = 'whsec-admin-acme-0123456789abcdef';
const SECRET_B = 'whsec-admin-globex-fedcba9876543210';

let hookA: WebhookReceiverEmulator;
let hookB: WebhookReceiverEmulator;
let gw: TestGateway;
let adminA: string;
let adminB: string;
let adminAll: string;
let scimA: string;
let scimB: string;

/** Every admin answer's text, checked at the end for credentials. */
const answers: string[] = [];

async function admin(method: string, path: string, token: string | undefined, body?: unknown) {
  const res = await scim(method, `${gw.url}/admin${path}`, token, body);
  answers.push(res.text, JSON.stringify([...res.headers]));
  return res;
}

// What the fixture created, for the assertions.
const acme = { users: [] as string[], group: '', deadSeqs: [] as number[], events: 0 };
const globex = { user: '', deadSeq: 0, events: 0 };

async function post(token: string, path: string, body: unknown): Promise<any> {
  const res = await scim('POST', `${gw.api}${path}`, token, body);
  expect(res.status).toBe(201);
  return res.body;
}

async function seqsOf(aggregate: string): Promise<number[]> {
  return (await gw.store.egress.listOutbox({ aggregate, limit: 10_000 })).map((r) => r.seq);
}

beforeAll(async () => {
  process.env.ADMIN_TEST_HOOK_A_SECRET = SECRET_A;
  hookA = await startWebhookReceiverEmulator({ credential: SECRET_A });
  hookB = await startWebhookReceiverEmulator({ credential: SECRET_B });
  gw = await startGateway({
    targets: {
      targets: [
        // The credential through ${ENV} expansion, as a deployment would do it.
        { name: 'hook-a', kind: 'webhook', tenant: 'acme', baseUrl: `${hookA.url}/a`, credential: '${ADMIN_TEST_HOOK_A_SECRET}' },
        { name: 'hook-b', kind: 'webhook', tenant: 'globex', baseUrl: `${hookB.url}/b`, credential: SECRET_B },
      ],
    },
  });
  adminA = await gw.token('acme', 'admin');
  adminB = await gw.token('globex', 'admin');
  adminAll = await gw.token('*', 'admin');
  scimA = await gw.token('acme');
  scimB = await gw.token('globex');
  const worker = gw.worker!;

  // acme: one delivered user, two dead letters (each alone in its batch, so which one fails is certain), a group.
  acme.users.push((await post(scimA, '/Users', user('adm-u1@example.com'))).id);
  await worker.drain();
  for (const name of ['adm-u2@example.com', 'adm-u3@example.com']) {
    hookA.failNext(1, { status: 400, body: { error: 'rejected-by-acme-receiver' } });
    const id = (await post(scimA, '/Users', user(name))).id;
    acme.users.push(id);
    await worker.drain();
    acme.deadSeqs.push(...(await seqsOf(`user:${id}`)));
  }
  acme.group = (await post(scimA, '/Groups', group('Admin Group', [acme.users[0]]))).id;
  expect((await scim('PATCH', `${gw.api}/Groups/${acme.group}`, scimA, patchOp([{ op: 'replace', path: 'displayName', value: 'Admin Group 2' }]))).status).toBe(204);
  await worker.drain();
  acme.events = 6; // 3 user.created, group.created, group.members_added, group.updated

  // globex: one delivered user with a group, one dead letter.
  globex.user = (await post(scimB, '/Users', user('adm-v1@example.com'))).id;
  await post(scimB, '/Groups', group('Globex Group', [globex.user]));
  await worker.drain();
  hookB.failNext(1, { status: 410, body: { error: 'gone-at-globex' } });
  const dead = (await post(scimB, '/Users', user('adm-v2@example.com'))).id;
  await worker.drain();
  globex.deadSeq = (await seqsOf(`user:${dead}`))[0];
  globex.events = 4;

  expect(acme.deadSeqs).toHaveLength(2);
  expect(hookA.events).toHaveLength(acme.events - 2);
  expect(hookB.events).toHaveLength(globex.events - 1);
}, 30_000);

afterAll(async () => {
  await gw.close();
  await hookA.close();
  await hookB.close();
  delete process.env.ADMIN_TEST_HOOK_A_SECRET;
});

describe('authorization', () => {
  test('no token → 401; a SCIM token → 403 insufficient_scope; an admin token → 200', async () => {
    const none = await admin('GET', '/targets', undefined);
    expectScimError(none, 401);
    const scimToken = await admin('GET', '/targets', scimA);
    expectScimError(scimToken, 403);
    expect(scimToken.headers.get('www-authenticate')).toMatch(/insufficient_scope.*scope="admin"/);
    for (const path of ['/deliveries', '/deliveries/hook-a/1', '/links/hook-a']) expectScimError(await admin('GET', path, scimA), 403);
    expectScimError(await admin('POST', '/targets/hook-a/replay', scimA), 403);
    expectScimError(await admin('PUT', `/links/hook-a/group/${acme.group}`, scimA, { remoteId: 'x' }), 403);
    expectScimError(await admin('DELETE', `/links/hook-a/group/${acme.group}`, scimA), 403);
    expect((await admin('GET', '/targets', adminA)).status).toBe(200);
  });

  test('an admin token does not open the SCIM API', async () => {
    expectScimError(await scim('GET', `${gw.api}/Users`, adminA), 403);
  });
});

describe('GET /admin/targets', () => {
  test('each tenant sees only its own targets; tenant "*" sees all', async () => {
    const a = await admin('GET', '/targets', adminA);
    expect(a.status).toBe(200);
    expect(a.body.targets.map((x: any) => x.name)).toEqual(['hook-a']);
    const b = await admin('GET', '/targets', adminB);
    expect(b.body.targets.map((x: any) => x.name)).toEqual(['hook-b']);
    const all = await admin('GET', '/targets', adminAll);
    expect(all.body.targets.map((x: any) => x.name)).toEqual(['hook-a', 'hook-b']);
    const other = await admin('GET', '/targets', await gw.token('nobody', 'admin'));
    expect(other.body.targets).toEqual([]);
  });

  test('health counts per state, last success and failure; the description has no credential', async () => {
    const a = (await admin('GET', '/targets', adminA)).body.targets[0];
    expect(a).toMatchObject({ name: 'hook-a', kind: 'webhook', tenant: 'acme', baseUrl: `${hookA.url}/a`, enabled: true });
    expect(a.health).toMatchObject({ pending: 0, inFlight: 0, done: acme.events - 2, skipped: 0, dead: 2 });
    expect(Date.parse(a.health.lastSuccessAt)).not.toBeNaN();
    expect(Date.parse(a.health.lastFailureAt)).not.toBeNaN();
    expect(a.health.oldestOpenMs).toBeUndefined();
    expect(a).not.toHaveProperty('credential');
    const b = await admin('GET', '/targets/hook-b', adminB);
    expect(b.status).toBe(200);
    expect(b.body).toMatchObject({ name: 'hook-b', tenant: 'globex', health: { done: globex.events - 1, dead: 1, pending: 0 } });
    expect(b.body).not.toHaveProperty('credential');
  });

  test('another tenant\'s target, or none, is 404 (not 403: its existence is not revealed)', async () => {
    const r = await admin('GET', '/targets/hook-b', adminA);
    expectScimError(r, 404);
    expect(r.body.detail).toContain('hook-b');
    const missing = await admin('GET', '/targets/no-such-target', adminAll);
    expectScimError(missing, 404);
    expect(r.body.detail.replace('hook-b', 'X')).toBe(missing.body.detail.replace('no-such-target', 'X'));
    expect((await admin('GET', '/targets/hook-b', adminAll)).status).toBe(200);
  });
});

describe('GET /admin/deliveries', () => {
  test('a tenant sees its own targets\' deliveries, newest first; tenant "*" sees all', async () => {
    const a = await admin('GET', '/deliveries', adminA);
    expect(a.status).toBe(200);
    expect(a.body.deliveries).toHaveLength(acme.events);
    expect(a.body.deliveries.every((d: any) => d.target === 'hook-a' && d.tenant === 'acme')).toBe(true);
    const seqs = a.body.deliveries.map((d: any) => d.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => y - x));
    const b = await admin('GET', '/deliveries', adminB);
    expect(b.body.deliveries).toHaveLength(globex.events);
    expect(b.body.deliveries.every((d: any) => d.target === 'hook-b')).toBe(true);
    const all = await admin('GET', '/deliveries', adminAll);
    expect(all.body.deliveries).toHaveLength(acme.events + globex.events);
    const allSeqs = all.body.deliveries.map((d: any) => d.seq);
    expect(allSeqs).toEqual([...allSeqs].sort((x, y) => y - x));
  });

  test('filters: state, target, group, limit, beforeSeq', async () => {
    const dead = await admin('GET', '/deliveries?state=dead', adminA);
    expect(dead.body.deliveries.map((d: any) => d.seq).sort()).toEqual([...acme.deadSeqs].sort());
    for (const d of dead.body.deliveries) {
      expect(d).toMatchObject({ state: 'dead', type: 'user.created', lastStatus: 400 });
      expect(d.lastError).toContain('rejected-by-acme-receiver');
    }
    const allDead = await admin('GET', '/deliveries?state=dead', adminAll);
    expect(allDead.body.deliveries.map((d: any) => d.seq).sort()).toEqual([...acme.deadSeqs, globex.deadSeq].sort());
    const onlyB = await admin('GET', '/deliveries?target=hook-b&state=dead', adminAll);
    expect(onlyB.body.deliveries.map((d: any) => [d.target, d.seq, d.lastStatus])).toEqual([['hook-b', globex.deadSeq, 410]]);

    const g = await admin('GET', `/deliveries?group=${acme.group}`, adminA);
    expect(g.body.deliveries.map((d: any) => d.type)).toEqual(['group.updated', 'group.members_added', 'group.created']);
    expect(g.body.deliveries.every((d: any) => d.aggregate === `group:${acme.group}` && d.state === 'done')).toBe(true);
    expect((await admin('GET', `/deliveries?group=${acme.group}&state=dead`, adminA)).body.deliveries).toEqual([]);

    const full = (await admin('GET', '/deliveries', adminA)).body.deliveries.map((d: any) => d.seq);
    const first = await admin('GET', '/deliveries?limit=2', adminA);
    expect(first.body.deliveries.map((d: any) => d.seq)).toEqual(full.slice(0, 2));
    // Page through with beforeSeq: each page continues where the last ended, together the whole list.
    const paged: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await admin('GET', `/deliveries?limit=2${before ? `&beforeSeq=${before}` : ''}`, adminA);
      expect(page.status).toBe(200);
      if (!page.body.deliveries.length) break;
      expect(page.body.deliveries.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.deliveries.map((d: any) => d.seq));
      before = paged[paged.length - 1];
    }
    expect(paged).toEqual(full);
  });

  test('another tenant\'s target is 404; a bad state or number is 400', async () => {
    expectScimError(await admin('GET', '/deliveries?target=hook-b', adminA), 404);
    expectScimError(await admin('GET', '/deliveries?target=no-such-target', adminA), 404);
    const bad = await admin('GET', '/deliveries?state=exploded', adminA);
    expectScimError(bad, 400);
    expect(bad.body.detail).toContain('state');
    expectScimError(await admin('GET', '/deliveries?limit=ten', adminA), 400);
    expectScimError(await admin('GET', '/deliveries?limit=-1', adminA), 400);
    expectScimError(await admin('GET', '/deliveries?beforeSeq=abc', adminA), 400);
  });
});

describe('GET /admin/deliveries/:target/:seq', () => {
  test('one delivery with its payload and every attempt', async () => {
    const seq = acme.deadSeqs[0];
    const r = await admin('GET', `/deliveries/hook-a/${seq}`, adminA);
    expect(r.status).toBe(200);
    expect(r.body.delivery).toMatchObject({ target: 'hook-a', seq, state: 'dead', type: 'user.created', aggregate: `user:${acme.users[1]}` });
    expect(r.body.payload.user).toMatchObject({ id: acme.users[1], userName: 'adm-u2@example.com' });
    expect(r.body.attempts).toHaveLength(1);
    // request is "METHOD <path>" relative to the target's base URL (the webhook posts to the base URL itself).
    expect(r.body.attempts[0]).toMatchObject({ outcome: 'permanent', status: 400, firstSeq: seq, lastSeq: seq });
    expect(r.body.attempts[0].request).toMatch(/^POST\b/);
    expect(r.body.attempts[0].error).toContain('rejected-by-acme-receiver');

    const doneSeq = (await seqsOf(`group:${acme.group}`))[0];
    const done = await admin('GET', `/deliveries/hook-a/${doneSeq}`, adminA);
    expect(done.body.delivery.state).toBe('done');
    expect(done.body.attempts.length).toBeGreaterThanOrEqual(1);
    expect(done.body.attempts.every((x: any) => x.outcome === 'success' && x.status === 204)).toBe(true);
  });

  test('unknown delivery, other tenant\'s target, bad seq', async () => {
    expectScimError(await admin('GET', '/deliveries/hook-a/999999', adminA), 404);
    // hook-a never had globex's events.
    expectScimError(await admin('GET', `/deliveries/hook-a/${globex.deadSeq}`, adminA), 404);
    expectScimError(await admin('GET', `/deliveries/hook-b/${globex.deadSeq}`, adminA), 404);
    expect((await admin('GET', `/deliveries/hook-b/${globex.deadSeq}`, adminB)).status).toBe(200);
    expectScimError(await admin('GET', '/deliveries/hook-a/abc', adminA), 400);
  });
});

describe('replay', () => {
  test('one dead letter: back to pending, delivered again, done', async () => {
    const seq = acme.deadSeqs[0];
    hookA.events.length = 0;
    const r = await admin('POST', `/deliveries/hook-a/${seq}/replay`, adminA);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ replayed: 1 });
    expect((await admin('GET', `/deliveries/hook-a/${seq}`, adminA)).body.delivery).toMatchObject({ state: 'pending', attempts: 0 });
    await gw.worker!.drain();
    expect(hookA.events.map((e) => (e.body as any).id)).toEqual([`acme:${seq}`]);
    const after = await admin('GET', `/deliveries/hook-a/${seq}`, adminA);
    expect(after.body.delivery.state).toBe('done');
    expect(after.body.attempts.map((x: any) => x.outcome)).toEqual(['permanent', 'success']);
    // The other dead letter was left alone.
    expect((await admin('GET', '/deliveries?state=dead', adminA)).body.deliveries.map((d: any) => d.seq)).toEqual([acme.deadSeqs[1]]);
  });

  test('unknown delivery → 404; another tenant\'s → 404 and nothing replayed', async () => {
    expectScimError(await admin('POST', '/deliveries/hook-a/999999/replay', adminA), 404);
    expectScimError(await admin('POST', `/deliveries/hook-b/${globex.deadSeq}/replay`, adminA), 404);
    expectScimError(await admin('POST', '/targets/hook-b/replay', adminA), 404);
    expect((await admin('GET', `/deliveries/hook-b/${globex.deadSeq}`, adminB)).body.delivery.state).toBe('dead');
  });

  test('a delivery that is still open → 409', async () => {
    const id = (await post(scimA, '/Users', user('adm-u4@example.com'))).id;
    // Taken from the outbox but not yet sent: pending.
    await gw.store.egress.ingest('hook-a', 'acme', ['user.created'], 100);
    const [seq] = await seqsOf(`user:${id}`);
    expect((await admin('GET', `/deliveries/hook-a/${seq}`, adminA)).body.delivery.state).toBe('pending');
    const r = await admin('POST', `/deliveries/hook-a/${seq}/replay`, adminA);
    expectScimError(r, 409);
    await gw.worker!.drain();
    expect((await admin('GET', `/deliveries/hook-a/${seq}`, adminA)).body.delivery.state).toBe('done');
    acme.events += 1;
  });

  test('all of a target\'s dead letters', async () => {
    hookA.events.length = 0;
    const r = await admin('POST', '/targets/hook-a/replay', adminA);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ replayed: 1 });
    await gw.worker!.drain();
    expect(hookA.events.map((e) => (e.body as any).id)).toEqual([`acme:${acme.deadSeqs[1]}`]);
    const health = (await admin('GET', '/targets/hook-a', adminA)).body.health;
    expect(health).toMatchObject({ dead: 0, pending: 0, inFlight: 0, done: acme.events });
    expect((await admin('POST', '/targets/hook-a/replay', adminA)).body).toEqual({ replayed: 0 });
    // globex's dead letter is still dead; tenant "*" may replay it.
    expect((await admin('GET', '/targets/hook-b', adminB)).body.health.dead).toBe(1);
    expect((await admin('POST', '/targets/hook-b/replay', adminAll)).body).toEqual({ replayed: 1 });
    await gw.worker!.drain();
    expect((await admin('GET', '/targets/hook-b', adminB)).body.health).toMatchObject({ dead: 0, done: globex.events });
  });
});

describe('links', () => {
  test('PUT creates or replaces, GET lists (with kind filter), DELETE removes', async () => {
    const put = await admin('PUT', `/links/hook-a/group/${acme.group}`, adminA, { remoteId: 'remote-group-1' });
    expect(put.status).toBe(200);
    expect(put.body.link).toMatchObject({ target: 'hook-a', kind: 'group', scimId: acme.group, remoteId: 'remote-group-1', tenant: 'acme', source: 'admin' });
    const numeric = await admin('PUT', `/links/hook-a/user/${acme.users[0]}`, adminA, { remoteId: 77 });
    expect(numeric.body.link.remoteId).toBe('77');
    // Replace keeps one link per (target, kind, SCIM id).
    expect((await admin('PUT', `/links/hook-a/group/${acme.group}`, adminA, { remoteId: 'remote-group-2' })).status).toBe(200);

    const list = await admin('GET', '/links/hook-a', adminA);
    expect(list.status).toBe(200);
    expect(list.body.links.map((l: any) => [l.kind, l.scimId, l.remoteId, l.source]).sort()).toEqual([
      ['group', acme.group, 'remote-group-2', 'admin'],
      ['user', acme.users[0], '77', 'admin'],
    ]);
    const groups = await admin('GET', '/links/hook-a?kind=group', adminA);
    expect(groups.body.links.map((l: any) => l.remoteId)).toEqual(['remote-group-2']);
    expect((await admin('GET', '/links/hook-a', adminAll)).body.links).toHaveLength(2);

    expect((await admin('DELETE', `/links/hook-a/user/${acme.users[0]}`, adminA)).status).toBe(204);
    expectScimError(await admin('DELETE', `/links/hook-a/user/${acme.users[0]}`, adminA), 404);
    expect((await admin('GET', '/links/hook-a', adminA)).body.links.map((l: any) => l.kind)).toEqual(['group']);
    expect((await gw.store.egress.getLink('hook-a', 'group', acme.group))?.remoteId).toBe('remote-group-2');
  });

  test('another tenant\'s target → 404, nothing written', async () => {
    expectScimError(await admin('GET', '/links/hook-b', adminA), 404);
    expectScimError(await admin('PUT', `/links/hook-b/group/${acme.group}`, adminA, { remoteId: 'sneaky' }), 404);
    expectScimError(await admin('DELETE', `/links/hook-b/group/${acme.group}`, adminA), 404);
    expect((await admin('GET', '/links/hook-b', adminB)).body.links).toEqual([]);
    // Tenant "*" may manage any target's links.
    expect((await admin('PUT', `/links/hook-b/user/${globex.user}`, adminAll, { remoteId: 'g-1' })).body.link.tenant).toBe('globex');
    expect((await admin('GET', '/links/hook-b', adminB)).body.links.map((l: any) => l.remoteId)).toEqual(['g-1']);
  });

  test('bad kind or body → 400', async () => {
    expectScimError(await admin('PUT', `/links/hook-a/team/${acme.group}`, adminA, { remoteId: 'x' }), 400);
    expectScimError(await admin('DELETE', `/links/hook-a/team/${acme.group}`, adminA), 400);
    expectScimError(await admin('GET', '/links/hook-a?kind=team', adminA), 400);
    expectScimError(await admin('PUT', `/links/hook-a/group/${acme.group}`, adminA, {}), 400);
    expectScimError(await admin('PUT', `/links/hook-a/group/${acme.group}`, adminA, { remoteId: '' }), 400);
    expectScimError(await admin('PUT', `/links/hook-a/group/${acme.group}`, adminA, { remoteId: { id: 1 } }), 400);
    expectScimError(await admin('PUT', `/links/hook-a/group/${acme.group}`, adminA), 400);
    expect((await gw.store.egress.getLink('hook-a', 'group', acme.group))?.remoteId).toBe('remote-group-2');
  });
});

test('an unknown admin endpoint is a SCIM 404', async () => {
  expectScimError(await admin('GET', '/nothing-here', adminA), 404);
  expectScimError(await admin('POST', '/deliveries', adminA, {}), 404);
});

// Last: every answer above, errors included.
test('no admin answer ever contained a target credential', () => {
  expect(answers.length).toBeGreaterThan(50);
  for (const text of answers) {
    expect(text).not.toContain(SECRET_A);
    expect(text).not.toContain(SECRET_B);
  }
});
