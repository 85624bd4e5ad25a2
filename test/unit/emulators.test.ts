// Proves the egress-target emulators in test/fixtures/emulators/ against real HTTP (global fetch → node:http on
// 127.0.0.1): auth, happy paths, each documented error, fault injection. Nothing is mocked.
// Credentials are never printed: assertions on auth headers compare booleans, not values.
import {
  createEmulator,
  redactHeaders,
  type Emulator,
} from '../fixtures/emulators/common';
import { startKonstantlyEmulator, type KonstantlyEmulator } from '../fixtures/emulators/konstantly';
import { SCIM_PATCH, startScimEmulator, type ScimEmulator } from '../fixtures/emulators/scim-server';
import { startSelfCommunityEmulator, type SelfCommunityEmulator } from '../fixtures/emulators/selfcommunity';
import { startTimeslotEmulator, type TimeslotEmulator } from '../fixtures/emulators/timeslot';
import {
  signWebhook,
  startWebhookReceiverEmulator,
  verifyWebhookSignature,
  type WebhookReceiverEmulator,
} from '../fixtures/emulators/webhook-receiver';

interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(
  base: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown; raw?: string } = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers ?? {}) };
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const emulators: Emulator[] = [];
afterAll(async () => {
  await Promise.all(emulators.map((e) => e.close()));
});
function track<T extends Emulator>(e: T): T {
  emulators.push(e);
  return e;
}

// ---------------------------------------------------------------------------------------------------------------
describe('common emulator machinery', () => {
  let emu: Emulator;
  const hits: string[] = [];
  beforeAll(async () => {
    emu = track(
      await createEmulator({
        name: 'probe',
        credential: 'c',
        handler: (ctx) => {
          hits.push(ctx.path);
          return { status: 200, body: { path: ctx.path, seg: ctx.segments } };
        },
      }),
    );
  });
  beforeEach(() => {
    emu.clearRequests();
    emu.resetFaults();
    emu.setRateLimit(null);
    hits.length = 0;
  });

  it('listens on 127.0.0.1 with a real port and logs every request with its answer', async () => {
    expect(emu.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(emu.port).toBeGreaterThan(0);
    const r = await call(emu.url, 'POST', '/a/b%20c?x=1&x=2&y=3', { body: { k: 'v' }, headers: { Authorization: 'Bearer s3cret' } });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ path: '/a/b%20c', seg: ['a', 'b c'] });
    expect(emu.requests).toHaveLength(1);
    const rec = emu.requests[0]!;
    expect(rec.method).toBe('POST');
    expect(rec.path).toBe('/a/b%20c');
    expect(rec.query).toEqual({ x: ['1', '2'], y: '3' });
    expect(rec.body).toEqual({ k: 'v' });
    expect(rec.status).toBe(200);
    expect(typeof rec.time).toBe('number');
    expect(rec.headers.authorization === 'Bearer s3cret').toBe(true);
    expect(redactHeaders(rec.headers).authorization).toBe('[redacted]');
    expect(emu.requestsTo('post', /^\/a\//)).toHaveLength(1);
  });

  it('records unparseable JSON without crashing', async () => {
    await call(emu.url, 'POST', '/x', { raw: '{nope', headers: { 'Content-Type': 'application/json' } });
    expect(emu.requests[0]!.body).toBeUndefined();
    expect(emu.requests[0]!.bodyError).toMatch(/invalid JSON/);
  });

  it('failNext answers the scripted fault instead of the handler, then recovers', async () => {
    emu.failNext(2, { status: 429, headers: { 'Retry-After': '7' }, body: { slow: 'down' } });
    const a = await call(emu.url, 'GET', '/1');
    const b = await call(emu.url, 'GET', '/2');
    const c = await call(emu.url, 'GET', '/3');
    expect([a.status, b.status, c.status]).toEqual([429, 429, 200]);
    expect(a.headers.get('retry-after')).toBe('7');
    expect(a.json).toEqual({ slow: 'down' });
    expect(hits).toEqual(['/3']);
    expect(emu.requests.map((r) => r.fault)).toEqual(['fail', 'fail', undefined]);
    expect(emu.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('failNext with afterHandling lets the handler run, then replaces its answer', async () => {
    emu.failNext(1, { status: 502, afterHandling: true });
    const r = await call(emu.url, 'GET', '/committed');
    expect(r.status).toBe(502);
    expect(hits).toEqual(['/committed']);
  });

  it('failNext with destroy resets the connection', async () => {
    emu.failNext(1, { destroy: true });
    await expect(call(emu.url, 'GET', '/boom')).rejects.toThrow();
    expect(emu.requests[0]!.fault).toBe('destroy');
    expect(emu.requests[0]!.status).toBeUndefined();
    expect((await call(emu.url, 'GET', '/fine')).status).toBe(200);
  });

  it('delayNext holds the answer back', async () => {
    emu.delayNext(1, 800);
    const t0 = Date.now();
    await call(emu.url, 'GET', '/slow');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(780);
    const t1 = Date.now();
    await call(emu.url, 'GET', '/fast');
    expect(Date.now() - t1).toBeLessThan(700);
  });

  it('a delayed request can be aborted by the client (timeout path)', async () => {
    emu.delayNext(1, 2000);
    await expect(fetch(`${emu.url}/t`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
  });

  it("down('refuse') refuses connections, up() restores them on the same port", async () => {
    expect((await call(emu.url, 'GET', '/before')).status).toBe(200);
    await emu.down();
    expect(emu.isDown).toBe(true);
    const err = await fetch(`${emu.url}/while-down`).then(
      () => null,
      (e: unknown) => e as Error & { cause?: { code?: string } },
    );
    expect(err).not.toBeNull();
    expect(err?.cause?.code).toBe('ECONNREFUSED');
    await emu.up();
    expect(emu.isDown).toBe(false);
    expect((await call(emu.url, 'GET', '/after')).status).toBe(200);
  });

  it("down('reset') accepts then destroys connections", async () => {
    await emu.down('reset');
    await expect(fetch(`${emu.url}/reset`)).rejects.toThrow();
    await emu.up();
    expect((await call(emu.url, 'GET', '/after-reset')).status).toBe(200);
  });

  it('rate limiting adds X-RateLimit-* headers and answers 429 with Retry-After past the limit', async () => {
    emu.setRateLimit({ limit: 2, windowMs: 60_000 });
    const a = await call(emu.url, 'GET', '/r1');
    const b = await call(emu.url, 'GET', '/r2');
    const c = await call(emu.url, 'GET', '/r3');
    expect([a.status, b.status, c.status]).toEqual([200, 200, 429]);
    expect(a.headers.get('x-ratelimit-limit')).toBe('2');
    expect(a.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(b.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(c.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
    expect(Number(c.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(emu.requests[2]!.fault).toBe('rate-limit');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('SelfCommunity emulator', () => {
  let sc: SelfCommunityEmulator;
  let auth: Record<string, string>;
  beforeAll(async () => {
    sc = track(await startSelfCommunityEmulator({ credential: 'sc-token' }));
    auth = { Authorization: 'Bearer sc-token' };
  });
  beforeEach(() => sc.clearRequests());

  it('401 without or with a wrong bearer token, body {errors:[{code,message}]}', async () => {
    const none = await call(sc.url, 'GET', '/api/v2/group/');
    expect(none.status).toBe(401);
    expect(none.json).toEqual({ errors: [{ code: 'not_authenticated', message: expect.any(String) }] });
    const wrong = await call(sc.url, 'GET', '/api/v2/group/', { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const scheme = await call(sc.url, 'GET', '/api/v2/group/', { headers: { Authorization: 'Token sc-token' } });
    expect(scheme.status).toBe(401);
  });

  it('create (201), rename/description PATCH with only changed fields (200), delete (204)', async () => {
    const created = await call(sc.url, 'POST', '/api/v2/group/', { headers: auth, body: { name: 'Engineering', privacy: 'private' } });
    expect(created.status).toBe(201);
    const g = created.json as { id: number; name: string; privacy: string; subscribers_counter: number };
    expect(g).toMatchObject({ name: 'Engineering', privacy: 'private', subscribers_counter: 0 });
    expect(Number.isInteger(g.id)).toBe(true);

    const patched = await call(sc.url, 'PATCH', `/api/v2/group/${g.id}/`, { headers: auth, body: { description: 'builders' } });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ id: g.id, name: 'Engineering', description: 'builders' });
    const renamed = await call(sc.url, 'PATCH', `/api/v2/group/${g.id}/`, { headers: auth, body: { name: 'Eng' } });
    expect(renamed.status).toBe(200);
    expect(sc.group(g.id)).toMatchObject({ name: 'Eng', description: 'builders', privacy: 'private' });
    expect(sc.requests.at(-1)!.body).toEqual({ name: 'Eng' });

    expect((await call(sc.url, 'DELETE', `/api/v2/group/${g.id}/`, { headers: auth })).status).toBe(204);
    expect(sc.group(g.id)).toBeUndefined();
    expect((await call(sc.url, 'GET', `/api/v2/group/${g.id}/`, { headers: auth })).status).toBe(404);
  });

  it('create validation: name and privacy required, privacy choice, unique name', async () => {
    const noPrivacy = await call(sc.url, 'POST', '/api/v2/group/', { headers: auth, body: { name: 'X' } });
    expect(noPrivacy.status).toBe(400);
    expect(noPrivacy.json).toEqual({ errors: [{ field: 'privacy', messages: [{ code: 'required', message: expect.any(String) }] }] });
    expect((await call(sc.url, 'POST', '/api/v2/group/', { headers: auth, body: { privacy: 'public' } })).status).toBe(400);
    expect((await call(sc.url, 'POST', '/api/v2/group/', { headers: auth, body: { name: 'Y', privacy: 'secret' } })).status).toBe(400);
    sc.addGroup('Taken');
    const dup = await call(sc.url, 'POST', '/api/v2/group/', { headers: auth, body: { name: 'taken', privacy: 'public' } });
    expect(dup.status).toBe(400);
    expect((dup.json as { errors: Array<{ field: string }> }).errors[0]!.field).toBe('name');
  });

  it('malformed JSON → 400; unknown group → 404; missing trailing slash → 404', async () => {
    const gid = sc.addGroup('Malformed');
    const bad = await call(sc.url, 'PATCH', `/api/v2/group/${gid}/`, { headers: auth, raw: '{"name":' });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ errors: [{ code: 'parse_error', message: expect.any(String) }] });
    const unknown = await call(sc.url, 'PATCH', '/api/v2/group/99999/', { headers: auth, body: { name: 'n' } });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ errors: [{ code: 'not_found', message: 'Not found.' }] });
    expect((await call(sc.url, 'GET', `/api/v2/group/${gid}`, { headers: auth })).status).toBe(404);
  });

  it('subscribe users (204), idempotent re-subscribe, remove one per call (204), list members', async () => {
    const gid = sc.addGroup('Members');
    const a = sc.addUser('a@example.com');
    const b = sc.addUser('b@example.com');
    const add = await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [a, b] } });
    expect(add.status).toBe(204);
    expect(add.text).toBe('');
    expect(sc.members(gid)).toEqual([a, b].sort((x, y) => x - y));
    // doc-silent choice: subscribing an already-subscribed user is a 204 no-op
    expect((await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [a] } })).status).toBe(204);
    expect(sc.members(gid)).toHaveLength(2);

    const list = await call(sc.url, 'GET', `/api/v2/group/${gid}/subscribe/?limit=1`, { headers: auth });
    expect(list.status).toBe(200);
    expect(list.json).toMatchObject({ count: 2, previous: null, results: [{ id: a, username: 'a' }] });
    expect((list.json as { next: string }).next).toContain('offset=1');

    const rm = await call(sc.url, 'DELETE', `/api/v2/group/${gid}/subscribe/?user=${a}`, { headers: auth });
    expect(rm.status).toBe(204);
    expect(sc.members(gid)).toEqual([b]);
    // doc-silent choice: removing a non-subscribed user is a 204 no-op
    expect((await call(sc.url, 'DELETE', `/api/v2/group/${gid}/subscribe/?user=${a}`, { headers: auth })).status).toBe(204);
    expect(sc.requestsTo('DELETE', `/api/v2/group/${gid}/subscribe/`)[0]!.query).toEqual({ user: String(a) });
  });

  it('subscribe validation: users must be ints of existing users (all-or-nothing); 403 for a group it does not manage', async () => {
    const gid = sc.addGroup('Strict');
    const a = sc.addUser('strict@example.com');
    const strings = await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [String(a)] } });
    expect(strings.status).toBe(400);
    const unknown = await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [a, 424242] } });
    expect(unknown.status).toBe(400);
    expect((unknown.json as { errors: Array<{ field: string }> }).errors[0]!.field).toBe('users');
    expect(sc.members(gid)).toEqual([]);
    expect((await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: 'x' } })).status).toBe(400);

    const other = sc.addUser('other-manager@example.com');
    const foreign = sc.addGroup('Foreign', { managedBy: other });
    const denied = await call(sc.url, 'POST', `/api/v2/group/${foreign}/subscribe/`, { headers: auth, body: { users: [a] } });
    expect(denied.status).toBe(403);
    expect((await call(sc.url, 'PATCH', `/api/v2/group/${foreign}/`, { headers: auth, body: { name: 'Mine' } })).status).toBe(403);
  });

  it('account search by email: 200 user with id, 404 none, 400 for too many/few params', async () => {
    const id = sc.addUser('Finder@Example.com', { extId: 'ext-9' });
    const found = await call(sc.url, 'GET', `/api/v2/account/search/?email=${encodeURIComponent('finder@example.com')}`, { headers: auth });
    expect(found.status).toBe(200);
    expect(found.json).toMatchObject({ id, email: 'Finder@Example.com', ext_id: 'ext-9' });
    expect((await call(sc.url, 'GET', '/api/v2/account/search/?email=nobody%40example.com', { headers: auth })).status).toBe(404);
    expect((await call(sc.url, 'GET', '/api/v2/account/search/', { headers: auth })).status).toBe(400);
    expect((await call(sc.url, 'GET', '/api/v2/account/search/?email=a%40b.c&username=a', { headers: auth })).status).toBe(400);
    const byExt = await call(sc.url, 'GET', '/api/v2/account/search/?ext_id=ext-9&provider=external', { headers: auth });
    expect((byExt.json as { id: number }).id).toBe(id);
  });

  it('fault injection: 503 and 429 with Retry-After come before the product', async () => {
    const gid = sc.addGroup('Faulty');
    const u = sc.addUser('faulty@example.com');
    sc.failNext(1, { status: 503 });
    sc.failNext(1, { status: 429, headers: { 'Retry-After': '2' } });
    const first = await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [u] } });
    const second = await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [u] } });
    expect([first.status, second.status]).toEqual([503, 429]);
    expect(second.headers.get('retry-after')).toBe('2');
    expect(sc.members(gid)).toEqual([]);
    expect((await call(sc.url, 'POST', `/api/v2/group/${gid}/subscribe/`, { headers: auth, body: { users: [u] } })).status).toBe(204);
    expect(sc.members(gid)).toEqual([u]);
  });

  it('rateLimit option answers 429 with the SelfCommunity error body', async () => {
    const limited = track(await startSelfCommunityEmulator({ credential: 't', rateLimit: { limit: 1, windowMs: 60_000 } }));
    const h = { Authorization: 'Bearer t' };
    expect((await call(limited.url, 'GET', '/api/v2/group/', { headers: h })).status).toBe(200);
    const r = await call(limited.url, 'GET', '/api/v2/group/', { headers: h });
    expect(r.status).toBe(429);
    expect(r.json).toEqual({ errors: [{ code: 'throttled', message: expect.any(String) }] });
    expect(r.headers.get('retry-after')).not.toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('Timeslot emulator', () => {
  let ts: TimeslotEmulator;
  let auth: Record<string, string>;
  beforeAll(async () => {
    ts = track(await startTimeslotEmulator({ credential: 'ts-token' }));
    auth = { Authorization: 'Token token=ts-token' };
  });

  it('401 {"error":"auth_token invalid or missing"} without or with a wrong token; quoted token accepted', async () => {
    const gid = ts.addGroup('Auth');
    const variants: Array<Record<string, string>> = [{}, { Authorization: 'Token token=wrong' }, { Authorization: 'Bearer ts-token' }];
    for (const h of variants) {
      const r = await call(ts.url, 'GET', `/v1/groups/${gid}`, { headers: h });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ error: 'auth_token invalid or missing' });
    }
    expect((await call(ts.url, 'GET', `/v1/groups/${gid}`, { headers: { Authorization: 'Token token="ts-token"' } })).status).toBe(200);
  });

  it('PATCH rename → 200 Group; name > 255 → 422 with the model errors body; unknown → 404 empty', async () => {
    const gid = ts.addGroup('Old');
    const ok = await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: 'New' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: gid, name: 'New', membershipState: 'active', owner: { id: ts.ownerId } });
    const exactly = await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: 'x'.repeat(255) } });
    expect(exactly.status).toBe(200);
    const long = await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: 'x'.repeat(256) } });
    expect(long.status).toBe(422);
    expect(long.json).toEqual({ error: { name: ['is too long (maximum is 255 characters)'] } });
    expect(ts.group(gid)!.name).toBe('x'.repeat(255));
    const blank = await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: '' } });
    expect(blank.json).toEqual({ error: { name: ["can't be blank"] } });
    const unknown = await call(ts.url, 'PATCH', '/v1/groups/9999', { headers: auth, body: { name: 'n' } });
    expect(unknown.status).toBe(404);
    expect(unknown.text).toBe('');
    expect((await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, raw: '{bad' })).status).toBe(400);
  });

  it('POST members {invitees} → 201 related list; already-active users skipped; unknown user → 404', async () => {
    const gid = ts.addGroup('Adds');
    const a = ts.addUser('a@ts.test');
    const b = ts.addUser('b@ts.test');
    const r = await call(ts.url, 'POST', `/v1/groups/${gid}/members`, { headers: auth, body: { invitees: [a, b] } });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({
      groupId: gid,
      size: 3,
      related: expect.arrayContaining([
        { userId: ts.ownerId, state: '111', deletedAt: null },
        { userId: a, state: '111', deletedAt: null },
        { userId: b, state: '111', deletedAt: null },
      ]),
    });
    expect(ts.members(gid)).toEqual([a, b]);
    expect(ts.members(gid, { includeOwner: true })).toEqual([ts.ownerId, a, b].sort((x, y) => x - y));
    expect((await call(ts.url, 'POST', `/v1/groups/${gid}/members`, { headers: auth, body: { invitees: [a] } })).status).toBe(201);

    const c = ts.addUser('c@ts.test');
    const missing = await call(ts.url, 'POST', `/v1/groups/${gid}/members`, { headers: auth, body: { invitees: [c, 777] } });
    expect(missing.status).toBe(404);
    expect(ts.members(gid)).toContain(c); // processed before the unknown id, as the model does
    const none = await call(ts.url, 'POST', `/v1/groups/${gid}/members`, { headers: auth, body: {} });
    expect(none.status).toBe(422);
    expect(none.json).toEqual({ error: 'param is missing or the value is empty: invitees' });
    const members = await call(ts.url, 'GET', `/v1/groups/${gid}/members`, { headers: auth });
    expect(members.json).toMatchObject({ groupId: gid, size: 4 });
  });

  it('DELETE member → 200; again (membership now kicked) → 200; never a member → 422 with error body', async () => {
    const gid = ts.addGroup('Kicks');
    const a = ts.addUser('kick@ts.test');
    const stranger = ts.addUser('stranger@ts.test');
    await call(ts.url, 'POST', `/v1/groups/${gid}/members`, { headers: auth, body: { invitees: [a] } });
    const kick = await call(ts.url, 'DELETE', `/v1/groups/${gid}/members/${a}`, { headers: auth });
    expect(kick.status).toBe(200);
    expect(ts.members(gid)).toEqual([]);
    expect(ts.memberships(gid).get(a)).toBe('010');
    expect((await call(ts.url, 'DELETE', `/v1/groups/${gid}/members/${a}`, { headers: auth })).status).toBe(200);
    const never = await call(ts.url, 'DELETE', `/v1/groups/${gid}/members/${stranger}`, { headers: auth });
    expect(never.status).toBe(422);
    expect(never.json).toEqual({ error: `kicking member with id ${stranger} from group ${gid} failed` });
    // a kicked member can be re-added
    await call(ts.url, 'POST', `/v1/groups/${gid}/members`, { headers: auth, body: { invitees: [a] } });
    expect(ts.members(gid)).toEqual([a]);
  });

  it('only the owner may kick or rename (403, empty body)', async () => {
    const other = ts.addUser('boss@ts.test');
    const gid = ts.addGroup('NotMine', { ownerId: other });
    const u = ts.addUser('x@ts.test');
    const kick = await call(ts.url, 'DELETE', `/v1/groups/${gid}/members/${u}`, { headers: auth });
    expect(kick.status).toBe(403);
    expect(kick.text).toBe('');
    expect((await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: 'Mine' } })).status).toBe(403);
  });

  it("addMode 'invited' reproduces the 2015 invite flow", async () => {
    const inv = track(await startTimeslotEmulator({ credential: 'k', addMode: 'invited' }));
    const gid = inv.addGroup('Invites');
    const u = inv.addUser('inv@ts.test');
    const r = await call(inv.url, 'POST', `/v1/groups/${gid}/members`, { headers: { Authorization: 'Token token=k' }, body: { invitees: [u] } });
    expect(r.status).toBe(201);
    expect(inv.members(gid)).toEqual([]);
    expect(inv.memberships(gid).get(u)).toBe('011');
    inv.acceptInvite(gid, u);
    expect(inv.members(gid)).toEqual([u]);
  });

  it('user lookup GET /v1/search/user?query=<email>&attr=email → array; no match → []; no query → 404', async () => {
    const id = ts.addUser('john_doe@email.com', { username: 'John Doe' });
    const r = await call(ts.url, 'GET', `/v1/search/user?query=${encodeURIComponent('john_doe@email.com')}&attr=email`, { headers: auth });
    expect(r.status).toBe(200);
    expect(r.json).toEqual([expect.objectContaining({ id, username: 'John Doe', friendshipState: 'stranger' })]);
    const none = await call(ts.url, 'GET', '/v1/search/user?query=nobody%40email.com&attr=email', { headers: auth });
    expect(none.json).toEqual([]);
    expect((await call(ts.url, 'GET', '/v1/search/user', { headers: auth })).status).toBe(404);
  });

  it('create (201, owner is an active member) and soft delete (200, then 404)', async () => {
    const created = await call(ts.url, 'POST', '/v1/groups', { headers: auth, body: { name: 'Fresh' } });
    expect(created.status).toBe(201);
    const id = (created.json as { id: number }).id;
    expect(ts.members(id, { includeOwner: true })).toEqual([ts.ownerId]);
    expect((await call(ts.url, 'POST', '/v1/groups', { headers: auth, body: { name: 'y'.repeat(300) } })).status).toBe(422);
    const del = await call(ts.url, 'DELETE', `/v1/groups/${id}`, { headers: auth });
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ id, membershipState: 'deleted' });
    expect((await call(ts.url, 'GET', `/v1/groups/${id}`, { headers: auth })).status).toBe(404);
  });

  it('fault injection: 500 then success; afterHandling commits the change but answers 502', async () => {
    const gid = ts.addGroup('Faults');
    ts.failNext(1, { status: 500, body: { error: 'boom' } });
    expect((await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: 'A' } })).status).toBe(500);
    expect(ts.group(gid)!.name).toBe('Faults');
    ts.failNext(1, { status: 502, afterHandling: true });
    expect((await call(ts.url, 'PATCH', `/v1/groups/${gid}`, { headers: auth, body: { name: 'B' } })).status).toBe(502);
    expect(ts.group(gid)!.name).toBe('B');
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('Konstantly emulator', () => {
  let k: KonstantlyEmulator;
  let auth: Record<string, string>;
  const P = '/openapi/v1';
  beforeAll(async () => {
    k = track(await startKonstantlyEmulator({ credential: 'k-key' }));
    auth = { 'X-API-KEY': 'k-key' };
  });

  it('401 {status,message} without or with a wrong X-API-KEY', async () => {
    const none = await call(k.url, 'GET', `${P}/groups`);
    expect(none.status).toBe(401);
    expect(none.json).toEqual({ status: 401, message: 'Unauthorized' });
    expect((await call(k.url, 'GET', `${P}/groups`, { headers: { 'X-API-KEY': 'bad' } })).status).toBe(401);
    expect((await call(k.url, 'GET', `${P}/groups`, { headers: { Authorization: 'Bearer k-key' } })).status).toBe(401);
  });

  it('PATCH requires name on every call: 400 {status,message,errors} without it; 200 Group with it', async () => {
    const gid = k.addGroup('Sales');
    const noName = await call(k.url, 'PATCH', `${P}/groups/${gid}`, { headers: auth, body: { description: 'only desc' } });
    expect(noName.status).toBe(400);
    expect(noName.json).toEqual({ status: 400, message: 'Validation failed', errors: { name: [expect.any(String)] } });
    expect(k.group(gid)!.description).toBeNull();
    const ok = await call(k.url, 'PATCH', `${P}/groups/${gid}`, { headers: auth, body: { name: 'Sales', description: 'desc' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: gid, name: 'Sales', description: 'desc', usersCount: 0, attributes: {} });
    const renamed = await call(k.url, 'PATCH', `${P}/groups/${gid}`, { headers: auth, body: { name: 'Revenue' } });
    expect(renamed.status).toBe(200);
    expect(k.group(gid)).toMatchObject({ name: 'Revenue', description: 'desc' });
    const unknown = await call(k.url, 'PATCH', `${P}/groups/9999`, { headers: auth, body: { name: 'x' } });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({ status: 404, message: 'Not found' });
    expect((await call(k.url, 'PATCH', `${P}/groups/${gid}`, { headers: auth, raw: 'not json' })).status).toBe(400);
  });

  it('add users: 200 {users}; users already in the group → 400 listing them, nothing added; retry the rest succeeds', async () => {
    const gid = k.addGroup('Team');
    const a = k.addUser('a@k.test', { id: 'ext-a' });
    const b = k.addUser('b@k.test');
    const c = k.addUser('c@k.test');
    const first = await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [a] } });
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ users: [{ id: 'ext-a', name: 'a', email: 'a@k.test', role: { alias: 'learner' } }] });

    const mixed = await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [a, b, c] } });
    expect(mixed.status).toBe(400);
    expect(mixed.json).toEqual({ status: 400, message: 'Validation failed', errors: { users: ['User "ext-a" is already in the group'] } });
    expect(k.members(gid)).toEqual(['ext-a']);

    const rest = await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [b, c] } });
    expect(rest.status).toBe(200);
    expect(k.members(gid)).toEqual([a, b, c].sort());
    expect(k.group(gid)!.members.size).toBe(3);
    const count = await call(k.url, 'GET', `${P}/groups/${gid}`, { headers: auth });
    expect((count.json as { usersCount: number }).usersCount).toBe(3);

    expect((await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [] } })).status).toBe(400);
    expect((await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [1] } })).status).toBe(400);
    const ghost = await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: ['ghost'] } });
    expect(ghost.status).toBe(400);
    expect(ghost.json).toMatchObject({ errors: { users: ['User "ghost" not found'] } });
    expect((await call(k.url, 'POST', `${P}/groups/9999/users`, { headers: auth, body: { users: [a] } })).status).toBe(404);
  });

  it('remove user: 200 {}; not a member / unknown user / unknown group → 404', async () => {
    const gid = k.addGroup('Leavers');
    const a = k.addUser('leaver@k.test');
    k.group(gid)!.members.add(a);
    const r = await call(k.url, 'DELETE', `${P}/groups/${gid}/users/${a}`, { headers: auth });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({});
    expect(k.members(gid)).toEqual([]);
    expect((await call(k.url, 'DELETE', `${P}/groups/${gid}/users/${a}`, { headers: auth })).status).toBe(404);
    expect((await call(k.url, 'DELETE', `${P}/groups/${gid}/users/nobody`, { headers: auth })).status).toBe(404);
    expect((await call(k.url, 'DELETE', `${P}/groups/9999/users/${a}`, { headers: auth })).status).toBe(404);
  });

  it('create {name} → Group, name required; delete → empty body, then 404', async () => {
    const created = await call(k.url, 'POST', `${P}/groups`, { headers: auth, body: { name: 'New Sales Team' } });
    expect(created.status).toBe(200);
    const g = created.json as { id: number };
    expect(created.json).toMatchObject({ name: 'New Sales Team', usersCount: 0, coursesCount: 0, image: null, parentId: null });
    expect((await call(k.url, 'POST', `${P}/groups`, { headers: auth, body: {} })).status).toBe(400);
    const del = await call(k.url, 'DELETE', `${P}/groups/${g.id}`, { headers: auth });
    expect(del.status).toBe(200);
    expect(del.text).toBe('');
    expect((await call(k.url, 'GET', `${P}/groups/${g.id}`, { headers: auth })).status).toBe(404);
  });

  it('user lookup by e-mail: 200 User, 404 none, 400 malformed', async () => {
    const id = k.addUser('Lookup@K.test', { name: 'Look Up' });
    const r = await call(k.url, 'GET', `${P}/users/byEmail/${encodeURIComponent('lookup@k.test')}`, { headers: auth });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id, name: 'Look Up', email: 'Lookup@K.test', role: { alias: 'learner' } });
    expect((await call(k.url, 'GET', `${P}/users/byEmail/none%40k.test`, { headers: auth })).status).toBe(404);
    expect((await call(k.url, 'GET', `${P}/users/byEmail/not-an-email`, { headers: auth })).status).toBe(400);
  });

  it('rate limiting headers X-RateLimit-Limit/Remaining/Reset and 429 past the limit', async () => {
    const rl = track(await startKonstantlyEmulator({ credential: 'r', rateLimit: { limit: 3, windowMs: 60_000 } }));
    const h = { 'X-API-KEY': 'r' };
    const seen: Array<string | null> = [];
    for (let i = 0; i < 3; i++) seen.push((await call(rl.url, 'GET', `${P}/groups`, { headers: h })).headers.get('x-ratelimit-remaining'));
    expect(seen).toEqual(['2', '1', '0']);
    const over = await call(rl.url, 'GET', `${P}/groups`, { headers: h });
    expect(over.status).toBe(429);
    expect(over.json).toEqual({ status: 429, message: 'Too Many Requests' });
    expect(over.headers.get('x-ratelimit-limit')).toBe('3');
    expect(over.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
    rl.setRateLimit(null);
    const free = await call(rl.url, 'GET', `${P}/groups`, { headers: h });
    expect(free.status).toBe(200);
    expect(free.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('fault injection: down/up around a write', async () => {
    const gid = k.addGroup('Outage');
    const u = k.addUser('outage@k.test');
    await k.down();
    await expect(call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [u] } })).rejects.toThrow();
    await k.up();
    expect((await call(k.url, 'POST', `${P}/groups/${gid}/users`, { headers: auth, body: { users: [u] } })).status).toBe(200);
    expect(k.members(gid)).toEqual([u]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('SCIM server emulator (rfc7644)', () => {
  let s: ScimEmulator;
  let auth: Record<string, string>;
  let B: string;
  beforeAll(async () => {
    s = track(await startScimEmulator({ credential: 'scim-token' }));
    auth = { Authorization: 'Bearer scim-token', 'Content-Type': 'application/scim+json' };
    B = s.basePath;
  });

  it('401 SCIM error without or with a wrong bearer token', async () => {
    const r = await call(s.url, 'GET', `${B}/Groups`);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    expect((await call(s.url, 'GET', `${B}/Groups`, { headers: { Authorization: 'Bearer x' } })).status).toBe(401);
  });

  it('POST → 201 + Location; GET; filter by displayName; duplicate → 409 uniqueness', async () => {
    const u = s.addUser('ann@example.com');
    const r = await call(s.url, 'POST', `${B}/Groups`, {
      headers: auth,
      body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Ops', members: [{ value: u }] },
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toContain('application/scim+json');
    const g = r.json as { id: string; members: Array<{ value: string }> };
    expect(r.headers.get('location')).toBe(`${s.baseUrl}/Groups/${g.id}`);
    expect(g.members).toEqual([expect.objectContaining({ value: u })]);
    expect((await call(s.url, 'GET', `${B}/Groups/${g.id}`, { headers: auth })).status).toBe(200);
    const found = await call(s.url, 'GET', `${B}/Groups?filter=${encodeURIComponent('displayName eq "ops"')}`, { headers: auth });
    expect(found.json).toMatchObject({ totalResults: 1, Resources: [{ id: g.id }] });
    const dup = await call(s.url, 'POST', `${B}/Groups`, { headers: auth, body: { displayName: 'Ops' } });
    expect(dup.status).toBe(409);
    expect(dup.json).toMatchObject({ scimType: 'uniqueness' });
    expect((await call(s.url, 'GET', `${B}/Groups/nope`, { headers: auth })).status).toBe(404);
  });

  it('PATCH PatchOp: add/remove members, replace displayName; atomic on invalid member', async () => {
    const a = s.addUser('a@scim.test');
    const b = s.addUser('b@scim.test');
    const gid = s.addGroup('Patchy', { members: [a] });
    const patch = (ops: unknown[]) => call(s.url, 'PATCH', `${B}/Groups/${gid}`, { headers: auth, body: { schemas: [SCIM_PATCH], Operations: ops } });
    expect((await patch([{ op: 'add', path: 'members', value: [{ value: b }] }])).status).toBe(200);
    expect(s.members(gid)).toEqual([a, b].sort());
    expect((await patch([{ op: 'remove', path: `members[value eq "${a}"]` }])).status).toBe(200);
    expect(s.members(gid)).toEqual([b]);
    const renamed = await patch([{ op: 'replace', path: 'displayName', value: 'Patched' }]);
    expect(renamed.json).toMatchObject({ displayName: 'Patched' });
    const bad = await patch([
      { op: 'add', path: 'members', value: [{ value: a }] },
      { op: 'add', path: 'members', value: [{ value: 'ghost' }] },
    ]);
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ scimType: 'invalidValue' });
    expect(s.members(gid)).toEqual([b]);
    expect(s.group(gid)!.displayName).toBe('Patched');
    const noSchema = await call(s.url, 'PATCH', `${B}/Groups/${gid}`, { headers: auth, body: { Operations: [] } });
    expect(noSchema.status).toBe(400);
    expect((await call(s.url, 'PATCH', `${B}/Groups/${gid}`, { headers: auth, raw: '{' })).status).toBe(400);
  });

  it('user lookups: userName eq and emails.value eq; DELETE group → 204', async () => {
    const id = s.addUser('lookup.user', { emails: ['Lookup@Scim.test'] });
    const byName = await call(s.url, 'GET', `${B}/Users?filter=${encodeURIComponent('userName eq "lookup.user"')}`, { headers: auth });
    expect(byName.json).toMatchObject({ totalResults: 1, Resources: [{ id }] });
    const byMail = await call(s.url, 'GET', `${B}/Users?filter=${encodeURIComponent('emails.value eq "lookup@scim.test"')}`, { headers: auth });
    expect(byMail.json).toMatchObject({ totalResults: 1, Resources: [{ id }] });
    const none = await call(s.url, 'GET', `${B}/Users?filter=${encodeURIComponent('userName eq "nobody"')}`, { headers: auth });
    expect(none.json).toMatchObject({ totalResults: 0, Resources: [] });
    expect((await call(s.url, 'GET', `${B}/Users?filter=${encodeURIComponent('userName sw "x"')}`, { headers: auth })).status).toBe(400);
    const gid = s.addGroup('Doomed');
    expect((await call(s.url, 'DELETE', `${B}/Groups/${gid}`, { headers: auth })).status).toBe(204);
    expect(s.group(gid)).toBeUndefined();
  });
});

describe('SCIM server emulator (dronahq dialect)', () => {
  let d: ScimEmulator;
  let auth: Record<string, string>;
  let B: string;
  beforeAll(async () => {
    d = track(await startScimEmulator({ credential: 'drona-token', dialect: 'dronahq' }));
    auth = { Authorization: 'Bearer drona-token' };
    B = d.basePath;
  });

  it('uses /api/scim/v2, numeric ids, empty-bodied errors, 200 on create and delete', async () => {
    expect(B).toBe('/api/scim/v2');
    const unauth = await call(d.url, 'GET', `${B}/Groups`);
    expect(unauth.status).toBe(401);
    expect(unauth.text).toBe('');
    const u = d.addUser('user1@example.com');
    expect(u).toMatch(/^\d+$/);
    const created = await call(d.url, 'POST', `${B}/Groups`, {
      headers: auth,
      body: { displayName: 'Drona', members: [{ value: Number(u), display: 'user1@example.com' }] },
    });
    expect(created.status).toBe(200);
    const g = created.json as { id: string; members: unknown[] };
    expect(g.members).toEqual([{ value: Number(u), display: 'user1@example.com' }]);
    expect((await call(d.url, 'GET', `${B}/Groups/999999`, { headers: auth })).status).toBe(400);
    expect((await call(d.url, 'DELETE', `${B}/Groups/${g.id}`, { headers: auth })).status).toBe(200);
  });

  it('bare PATCH {members} sets the desired list; PatchOp or extra keys → 400', async () => {
    const a = d.addUser('a@drona.test');
    const b = d.addUser('b@drona.test');
    const c = d.addUser('c@drona.test');
    const gid = d.addGroup('Desired', { members: [a, b] });
    const r = await call(d.url, 'PATCH', `${B}/Groups/${gid}`, {
      headers: auth,
      body: { members: [{ value: Number(b), display: 'b@drona.test' }, { value: Number(c), display: 'c@drona.test' }] },
    });
    expect(r.status).toBe(200);
    expect(d.members(gid)).toEqual([b, c].sort());
    const op = await call(d.url, 'PATCH', `${B}/Groups/${gid}`, {
      headers: auth,
      body: { schemas: [SCIM_PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: a }] }] },
    });
    expect(op.status).toBe(400);
    expect(op.text).toBe('');
    expect((await call(d.url, 'PATCH', `${B}/Groups/${gid}`, { headers: auth, body: { displayName: 'x', members: [] } })).status).toBe(400);
    expect(d.members(gid)).toEqual([b, c].sort());
  });

  it('user lookup with the documented userEmail filter', async () => {
    const id = d.addUser('someone@drona.test');
    const r = await call(d.url, 'GET', `${B}/Users?filter=${encodeURIComponent('userEmail eq "someone@drona.test"')}`, { headers: auth });
    expect(r.json).toMatchObject({ totalResults: 1, Resources: [{ id, userName: 'someone@drona.test' }] });
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('webhook receiver emulator', () => {
  let w: WebhookReceiverEmulator;
  const secret = 'whsec-test';
  beforeAll(async () => {
    w = track(await startWebhookReceiverEmulator({ credential: secret }));
  });

  it('accepts a correctly signed fresh delivery (204) and records it', async () => {
    const body = JSON.stringify({ type: 'group.members.added', groupId: 'g1', members: ['u1'] });
    const r = await call(w.url, 'POST', '/hooks/scim', { raw: body, headers: { 'Scimbridge-Signature': signWebhook(secret, body) } });
    expect(r.status).toBe(204);
    expect(w.bodies()).toEqual([{ type: 'group.members.added', groupId: 'g1', members: ['u1'] }]);
    expect(w.events[0]!.path).toBe('/hooks/scim');
  });

  it('401 for missing, wrong-secret, tampered, malformed and stale signatures; nothing recorded', async () => {
    const before = w.events.length;
    const body = JSON.stringify({ a: 1 });
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<Record<string, string>> = [
      {},
      { 'Scimbridge-Signature': signWebhook('other-secret', body) },
      { 'Scimbridge-Signature': signWebhook(secret, JSON.stringify({ a: 2 })) },
      { 'Scimbridge-Signature': 'garbage' },
      { 'Scimbridge-Signature': `t=${now},v1=zz` },
      // Well past the 5-minute window: the receiver reads its clock later, possibly in the next second.
      { 'Scimbridge-Signature': signWebhook(secret, body, now - 310) },
      { 'Scimbridge-Signature': signWebhook(secret, body, now + 310) },
    ];
    for (const headers of cases) {
      const r = await call(w.url, 'POST', '/hooks', { raw: body, headers });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ error: expect.any(String) });
    }
    expect(w.events.length).toBe(before);
  });

  it('accepts a timestamp just inside the 5-minute window and any matching v1 among several', async () => {
    const body = '{"x":true}';
    const t = Math.floor(Date.now() / 1000) - 290;
    const good = signWebhook(secret, body, t);
    const rotated = `t=${t},v1=${'0'.repeat(64)},${good.split(',')[1]}`;
    expect((await call(w.url, 'POST', '/h', { raw: body, headers: { 'Scimbridge-Signature': rotated } })).status).toBe(204);
  });

  it('non-JSON signed body → 400; GET → 405; sign() matches signWebhook', async () => {
    const raw = 'not json';
    expect((await call(w.url, 'POST', '/h', { raw, headers: { 'Content-Type': 'text/plain', 'Scimbridge-Signature': w.sign(raw) } })).status).toBe(400);
    expect((await call(w.url, 'GET', '/h')).status).toBe(405);
    expect(w.sign('{}', 1700000000)).toBe(signWebhook(secret, '{}', 1700000000));
    expect(verifyWebhookSignature(secret, '{}', signWebhook(secret, '{}', 1000), 1000 + 300)).toEqual({ ok: true, t: 1000 });
    expect(verifyWebhookSignature(secret, '{}', signWebhook(secret, '{}', 1000), 1000 + 301)).toMatchObject({ ok: false });
  });

  it('fault injection: a scripted 503 is answered before verification', async () => {
    const body = '{"n":1}';
    w.failNext(1, { status: 503 });
    const before = w.events.length;
    expect((await call(w.url, 'POST', '/h', { raw: body, headers: { 'Scimbridge-Signature': w.sign(body) } })).status).toBe(503);
    expect(w.events.length).toBe(before);
  });
});
