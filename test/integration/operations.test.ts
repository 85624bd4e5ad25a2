// Operations over real HTTP: request ids and one log line per request (no secrets, no e-mail addresses),
// security headers and no CORS, /metrics (optionally behind a token), the per-tenant rate limit,
// member and filter caps (named in the errors that enforce them), and the audit trail with its admin API and retention.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { mintToken } from '../../src/auth/mint';
import { createLogger } from '../../src/log';
import { SECURITY_HEADERS } from '../../src/ops/security-headers';
import { expectScimError, group, patchOp, scim, startGateway, user, type TestGateway } from '../helpers/gateway';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) {
        raw.push(l);
        lines.push(JSON.parse(l));
      }
      cb();
    },
  });
  return { log: createLogger('info', dest as never), lines, raw };
}

describe('request ids, access log, headers', () => {
  let gw: TestGateway;
  let t: string;
  const cap = capturedLogger();
  beforeAll(async () => {
    gw = await startGateway({ log: cap.log });
    t = await gw.token('ops-log');
  });
  afterAll(() => gw.close());

  test('X-Request-Id is honoured when sane, generated otherwise, and returned on every answer', async () => {
    const given = await fetch(`${gw.api}/Users`, { headers: { authorization: `Bearer ${t}`, 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const generated = await fetch(`${gw.api}/Users`, { headers: { authorization: `Bearer ${t}` } });
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await fetch(`${gw.url}/healthz`, { headers: { 'x-request-id': 'x'.repeat(500) } });
    expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const unauth = await fetch(`${gw.api}/Users`, { headers: { 'x-request-id': 'no-token' } });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('x-request-id')).toBe('no-token');
  });

  test('one line per request: id, method, path without query, mount, tenant, status, time; no token, no e-mail', async () => {
    const secretish = 'carol.secret@example.com';
    const created = await scim('POST', `${gw.api}/Users`, t, user(secretish), { 'x-request-id': 'log-post' });
    expect(created.status).toBe(201);
    await fetch(`${gw.sso}/Users?filter=${encodeURIComponent(`userName eq "${secretish}"`)}`, {
      headers: { authorization: `Bearer ${t}`, 'x-request-id': 'log-filter' },
    });
    await fetch(`${gw.api}/Users/${encodeURIComponent(secretish)}`, { headers: { authorization: `Bearer ${t}`, 'x-request-id': 'log-path' } });
    for (let i = 0; i < 50 && !cap.lines.some((l) => l.reqId === 'log-path'); i++) await sleep(20);
    const post = cap.lines.find((l) => l.reqId === 'log-post')!;
    expect(post).toMatchObject({ msg: 'request', method: 'POST', path: '/api/scim/v2/Users', mount: 'api', tenant: 'ops-log', status: 201 });
    expect(typeof post.ms).toBe('number');
    const filtered = cap.lines.find((l) => l.reqId === 'log-filter')!;
    expect(filtered).toMatchObject({ path: '/sso/scim/v2/Users', mount: 'sso', status: 200 });
    expect(cap.lines.find((l) => l.reqId === 'log-path')).toMatchObject({ path: '/api/scim/v2/Users/[email]', status: 404 });
    const all = cap.raw.join('\n');
    expect(all).not.toContain(t);
    expect(all).not.toContain(t.split('.')[2]);
    expect(all).not.toMatch(/@example\.com/);
    expect(all).not.toMatch(/authorization/i);
    expect(cap.lines.filter((l) => l.reqId === 'log-post')).toHaveLength(1);
  });

  test('security headers on every kind of answer, no CORS, no X-Powered-By', async () => {
    const answers = [
      await fetch(`${gw.api}/Users`, { headers: { authorization: `Bearer ${t}`, origin: 'https://evil.example' } }),
      await fetch(`${gw.api}/Users`, { headers: { origin: 'https://evil.example' } }), // 401
      await fetch(`${gw.url}/healthz`),
      await fetch(`${gw.url}/nowhere`),
      await fetch(`${gw.api}/Users`, { method: 'POST', headers: { authorization: `Bearer ${t}`, 'content-type': 'text/plain' }, body: 'x' }),
      await fetch(`${gw.api}/Users`, {
        method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      }),
    ];
    for (const res of answers) {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers.get(name)).toBe(value);
      expect(res.headers.get('x-powered-by')).toBeNull();
      for (const name of res.headers.keys()) expect(name).not.toMatch(/^access-control-/);
      expect(res.status).toBeLessThan(500);
    }
  });
});

describe('/metrics', () => {
  let gw: TestGateway;
  let receiver: Server;
  let calls = 0;
  beforeAll(async () => {
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => { calls++; res.writeHead(204).end(); });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const port = (receiver.address() as AddressInfo).port;
    gw = await startGateway({
      metricsToken: 'metrics-token-0123456789',
      startWorker: true,
      targets: { targets: [{ name: 'hook', kind: 'webhook', tenant: 'ops-metrics', baseUrl: `http://127.0.0.1:${port}/hook`, credential: 'whsec-metrics-0123456789abcdef' }] },
    });
  });
  afterAll(async () => {
    await gw.close();
    receiver.close();
  });

  test('needs its token, compared in constant time; answers Prometheus text', async () => {
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(401);
    expectScimError(await scim('GET', `${gw.url}/metrics`, 'metrics-token-0123456789x'), 401);
    const ok = await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toMatch(/scimbridge_build_info\{version="[^"]+",node="v\d+/);
  });

  test('requests by mount, method, resource and status; latency; deliveries by target and outcome; backlog', async () => {
    const t = await gw.token('ops-metrics');
    const u = await scim('POST', `${gw.api}/Users`, t, user('metrics-user@example.com'));
    expect(u.status).toBe(201);
    await scim('GET', `${gw.sso}/Groups`, t);
    await scim('GET', `${gw.api}/Users/nope`, t);
    await scim('POST', `${gw.api}/Groups`, t, group('Metrics', [u.body.id]));
    for (let i = 0; i < 200 && calls < 2; i++) await sleep(50);
    const text = await (await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } })).text();
    expect(text).toMatch(/scimbridge_http_requests_total\{mount="api",method="POST",resource="Users",status="201"\} 1/);
    expect(text).toMatch(/scimbridge_http_requests_total\{mount="sso",method="GET",resource="Groups",status="200"\} 1/);
    expect(text).toMatch(/scimbridge_http_requests_total\{mount="api",method="GET",resource="Users",status="404"\} 1/);
    expect(text).toMatch(/scimbridge_http_request_duration_seconds_bucket\{le="[^"]+",mount="api",method="POST",resource="Users"\}/);
    expect(text).toMatch(/scimbridge_delivery_attempts_total\{target="hook",outcome="success"\} [1-9]/);
    expect(text).toMatch(/scimbridge_events_delivered_total\{target="hook"\} [1-9]/);
    expect(text).toMatch(/scimbridge_outbox_depth\{target="hook"\} \d+/);
    expect(text).toMatch(/scimbridge_outbox_oldest_age_seconds\{target="hook"\} [\d.]+/);
    expect(text).toMatch(/scimbridge_dead_letters\{target="hook"\} 0/);
    expect(text).toContain('scimbridge_store_errors_total');
    // Label values never come from request data.
    expect(text).not.toContain('nope');
  });
});

describe('per-tenant rate limit', () => {
  let gw: TestGateway;
  beforeAll(async () => { gw = await startGateway({ rateLimit: { perSecond: 1, burst: 3 } }); });
  afterAll(() => gw.close());

  test('429 SCIM error with Retry-After past the burst; other tenants unaffected; refills', async () => {
    const a = await gw.token('rate-a');
    const b = await gw.token('rate-b');
    // Sent together, so the refill (1/s) cannot hide the limit however slow the machine is.
    const answers = await Promise.all(Array.from({ length: 6 }, (_v, i) => scim('GET', `${i % 2 ? gw.sso : gw.api}/Users`, a)));
    const ok = answers.filter((r) => r.status === 200);
    const limited = answers.filter((r) => r.status === 429);
    expect(ok.length + limited.length).toBe(6);
    expect(ok.length).toBeGreaterThanOrEqual(3);
    expect(limited.length).toBeGreaterThanOrEqual(2);
    for (const r of limited) {
      expectScimError(r, 429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect((await scim('GET', `${gw.api}/Users`, b)).status).toBe(200);
    await sleep(1100);
    expect((await scim('GET', `${gw.api}/Users`, a)).status).toBe(200);
  });
});

describe('limits', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ limits: { maxMembersPerRequest: 3, maxFilterLength: 60, maxFilterDepth: 2 } });
  });
  afterAll(() => gw.close());

  test('member values per request are capped, nothing applied; the cap is named in the error, not in discovery', async () => {
    const t = await gw.token('cap-members');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await scim('POST', `${gw.api}/Users`, t, user(`cap${i}@example.com`))).body.id);
    expectScimError(await scim('POST', `${gw.api}/Groups`, t, group('Too many', ids)), 400, 'invalidValue');
    const g = await scim('POST', `${gw.api}/Groups`, t, group('Capped', ids.slice(0, 3)));
    expect(g.status).toBe(201);
    const res = await scim('PATCH', `${gw.api}/Groups/${g.body.id}`, t, patchOp([
      { op: 'remove', path: 'members', value: [{ value: ids[0] }] },
      { op: 'add', path: 'members', value: ids.map((value) => ({ value })) },
    ]));
    expectScimError(res, 400, 'invalidValue');
    expect(res.body.detail).toMatch(/at most 3/);
    expectScimError(await scim('PATCH', `${gw.api}/Groups/${g.body.id}`, t, { members: ids.map((value) => ({ value })) }), 400, 'invalidValue');
    const after = await scim('GET', `${gw.api}/Groups/${g.body.id}`, t);
    expect(after.body.members.map((m: { value: string }) => m.value).sort()).toEqual(ids.slice(0, 3).sort());
    const spc = await scim('GET', `${gw.sso}/ServiceProviderConfig`, t);
    expect(spc.status).toBe(200);
    // Issue 19: only RFC 7643 §5 attributes, so that a client refusing unknown ones can read it.
    expect(spc.body.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    expect(Object.keys(spc.body).filter((k) => k.startsWith('urn:'))).toEqual([]);
  });

  test('filter length and nesting are capped with 400 invalidFilter', async () => {
    const t = await gw.token('cap-filter');
    const long = `userName eq "${'x'.repeat(60)}"`;
    expectScimError(await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(long)}`, t), 400, 'invalidFilter');
    const deep = '(((userName eq "a")))';
    expectScimError(await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(deep)}`, t), 400, 'invalidFilter');
    expect((await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('(userName eq "a")')}`, t)).status).toBe(200);
  });
});

describe('audit trail', () => {
  let gw: TestGateway;
  beforeAll(async () => { gw = await startGateway(); });
  afterAll(() => gw.close());

  async function tokenFor(tenant: string, subject: string, scope?: string) {
    return mintToken(gw.jwt, { tenant, subject, scope, ttlSeconds: 600 });
  }
  async function audit(query: string, tenant = 'audit-a') {
    const admin = (await tokenFor(tenant, 'auditor', 'admin')).token;
    const res = await fetch(`${gw.url}/admin/audit${query}`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as { records: any[]; next: number | null };
  }

  test('every SCIM write: who (subject, jti), where (mount), what (operation, resource, summary); failures leave none', async () => {
    const okta = await tokenFor('audit-a', 'okta-app');
    const entra = await tokenFor('audit-a', 'entra-app');
    const since = new Date().toISOString();
    const alice = (await scim('POST', `${gw.api}/Users`, okta.token, user('alice.audit@example.com', { displayName: 'Alice' }), { 'x-request-id': 'audit-1' })).body;
    const bob = (await scim('POST', `${gw.api}/Users`, okta.token, user('bob.audit@example.com'))).body;
    const g = (await scim('POST', `${gw.sso}/Groups`, entra.token, group('Auditors', [alice.id]))).body;
    expect((await scim('PATCH', `${gw.sso}/Groups/${g.id}`, entra.token, patchOp([
      { op: 'add', path: 'members', value: [{ value: bob.id }] },
      { op: 'remove', path: `members[value eq "${alice.id}"]` },
      { op: 'replace', path: 'displayName', value: 'Auditors 2' },
    ]))).status).toBeLessThan(300);
    expect((await scim('PUT', `${gw.api}/Users/${alice.id}`, okta.token, user('alice.audit@example.com', { displayName: 'Alice B', active: false }))).status).toBe(200);
    // Refused writes are not in the trail.
    expectScimError(await scim('PATCH', `${gw.api}/Groups/${g.id}`, okta.token, patchOp([{ op: 'add', path: 'members', value: [{ value: 'ghost' }] }])), 400);
    expect((await scim('DELETE', `${gw.api}/Users/${bob.id}`, okta.token)).status).toBe(204);

    const { records } = await audit(`?since=${encodeURIComponent(since)}`);
    expect(records.map((r) => [r.operation, r.resourceType])).toEqual([
      ['delete', 'User'], ['replace', 'User'], ['patch', 'Group'], ['create', 'Group'], ['create', 'User'], ['create', 'User'],
    ]);
    const [del, put, patch, createGroup, , createAlice] = records;
    expect(createAlice).toMatchObject({
      tenant: 'audit-a', subject: 'okta-app', jti: okta.jti, mount: '/api/scim/v2', resourceId: alice.id, requestId: 'audit-1',
    });
    expect(createAlice.summary.attributes).toEqual(expect.arrayContaining(['userName', 'displayName']));
    expect(createGroup).toMatchObject({ subject: 'entra-app', jti: entra.jti, mount: '/sso/scim/v2', summary: { membersAdded: [alice.id] } });
    expect(patch.summary).toEqual({ attributes: ['displayName'], membersAdded: [bob.id], membersRemoved: [alice.id] });
    expect(put.summary.attributes).toEqual(expect.arrayContaining(['displayName', 'active']));
    expect(put.summary.attributes).not.toContain('userName');
    expect(del).toMatchObject({ resourceId: bob.id, summary: { groupsLeft: [g.id] } });
    for (const r of records) expect(typeof r.seq).toBe('number');
  });

  test('filters, paging newest first, tenant isolation and bad parameters', async () => {
    const t = (await tokenFor('audit-b', 'pager')).token;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await scim('POST', `${gw.api}/Users`, t, user(`pager${i}@example.com`))).body.id);
    const page1 = await audit('?limit=2&operation=create', 'audit-b');
    expect(page1.records.map((r) => r.resourceId)).toEqual([ids[4], ids[3]]);
    const page2 = await audit(`?limit=2&operation=create&beforeSeq=${page1.next}`, 'audit-b');
    expect(page2.records.map((r) => r.resourceId)).toEqual([ids[2], ids[1]]);
    expect((await audit(`?resourceId=${ids[0]}`, 'audit-b')).records).toHaveLength(1);
    expect((await audit('?subject=pager&resourceType=group', 'audit-b')).records).toHaveLength(0);
    expect((await audit(`?until=${encodeURIComponent('2000-01-01T00:00:00Z')}`, 'audit-b')).records).toHaveLength(0);
    // Another tenant's admin sees nothing of audit-b, even when it asks for it.
    expect((await audit('?tenant=audit-b', 'audit-a')).records).toHaveLength(0);
    expect((await audit(`?resourceId=${ids[0]}`, 'audit-a')).records).toHaveLength(0);
    // The all-tenants admin sees it.
    expect((await audit(`?tenant=audit-b&resourceId=${ids[0]}`, '*')).records).toHaveLength(1);
    const admin = (await tokenFor('audit-b', 'auditor', 'admin')).token;
    for (const q of ['?operation=read', '?since=yesterday', '?limit=-1', '?resourceType=Thing']) {
      const res = await fetch(`${gw.url}/admin/audit${q}`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(400);
    }
    const scimToken = (await tokenFor('audit-b', 'x')).token;
    expect((await fetch(`${gw.url}/admin/audit`, { headers: { authorization: `Bearer ${scimToken}` } })).status).toBe(403);
  });

  test('retention deletes records older than the cut-off and nothing newer', async () => {
    const t = (await tokenFor('audit-c', 'ret')).token;
    await scim('POST', `${gw.api}/Users`, t, user('ret@example.com'));
    const before = (await audit('', 'audit-c')).records.length;
    expect(before).toBe(1);
    expect(await gw.store.pruneAudit('2000-01-01T00:00:00.000Z')).toBe(0);
    expect((await audit('', 'audit-c')).records).toHaveLength(1);
    expect(await gw.store.pruneAudit(new Date(Date.now() + 60_000).toISOString())).toBeGreaterThanOrEqual(1);
    expect((await audit('', 'audit-c')).records).toHaveLength(0);
  });
});
