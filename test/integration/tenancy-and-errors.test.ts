// Tenancy, scopes, authentication refusals, error bodies, concurrency across mounts and tenants, and restart, all
// over real HTTP against real SQLite files.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  ERROR_SCHEMA, group, PATCH_SCHEMA, scim, startGateway, TEST_SECRET, user, type TestGateway,
} from '../helpers/gateway';

let gw: TestGateway;
/** Verifies aud and iss. */
let claimsGw: TestGateway;
/** Verifies RS256 with a public key. */
let pkGw: TestGateway;
/** Accepts bodies up to 2 KiB. */
let smallGw: TestGateway;
/** Restarted during the tests. */
let restartGw: TestGateway;

const AUDIENCE = 'scimbridge-tests';
const ISSUER = 'https://issuer.test.example';
let rsa: { publicKey: string; privateKey: string };

beforeAll(async () => {
  rsa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  [gw, claimsGw, pkGw, smallGw, restartGw] = await Promise.all([
    startGateway(),
    startGateway({ jwt: { audience: AUDIENCE, issuer: ISSUER } }),
    startGateway({ jwt: { source: { kind: 'publicKey', pem: rsa.publicKey }, privateKeyPem: rsa.privateKey } }),
    startGateway({ maxBodyBytes: 2048 }),
    startGateway(),
  ]);
});
afterAll(async () => {
  for (const g of [gw, claimsGw, pkGw, smallGw, restartGw]) await g?.close();
});

const unique = (label: string) => `${label}-${randomUUID().slice(0, 8)}@example.com`;
const mounts = () => [gw.api, gw.sso];

function expectScimError(res: { status: number; headers: Headers; body: any; text: string }, status: number, scimType?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(res.text.trimStart().startsWith('<')).toBe(false);
  expect(res.text.toLowerCase()).not.toContain('<html');
  expect(res.body.schemas).toEqual([ERROR_SCHEMA]);
  expect(res.body.status).toBe(String(status));
  if (scimType) expect(res.body.scimType).toBe(scimType);
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}

function b64url(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

/** An HS256 token with whatever claims and key the test wants. */
async function hsToken(claims: Record<string, unknown>, secret: string | Uint8Array = TEST_SECRET, opts: { exp?: number; aud?: string; iss?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const b = new SignJWT({ tenant: 'default', scope: 'scim:read scim:write', ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now - 10)
    .setJti(randomUUID());
  if (opts.exp !== undefined) b.setExpirationTime(opts.exp);
  if (opts.aud !== undefined) b.setAudience(opts.aud);
  if (opts.iss !== undefined) b.setIssuer(opts.iss);
  return b.sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);
}

describe('tenant isolation', () => {
  let a: string;
  let b: string;
  let aUser: any;
  let aGroup: any;
  let bUser: any;

  beforeAll(async () => {
    a = await gw.token('tenant-a');
    b = await gw.token('tenant-b');
    aUser = (await scim('POST', `${gw.api}/Users`, a, user(unique('iso-a'), { externalId: 'iso-ext' }))).body;
    aGroup = (await scim('POST', `${gw.api}/Groups`, a, group(`iso-group-${randomUUID()}`, [aUser.id]))).body;
    bUser = (await scim('POST', `${gw.api}/Users`, b, user(unique('iso-b')))).body;
    expect(aUser.id && aGroup.id && bUser.id).toBeTruthy();
  });

  test('another tenant gets 404 for GET/PUT/PATCH/DELETE of users and groups, on both mounts', async () => {
    for (const base of mounts()) {
      expectScimError(await scim('GET', `${base}/Users/${aUser.id}`, b), 404);
      expectScimError(await scim('PUT', `${base}/Users/${aUser.id}`, b, user(unique('steal'))), 404);
      expectScimError(await scim('PATCH', `${base}/Users/${aUser.id}`, b, {
        schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }],
      }), 404);
      expectScimError(await scim('DELETE', `${base}/Users/${aUser.id}`, b), 404);

      expectScimError(await scim('GET', `${base}/Groups/${aGroup.id}`, b), 404);
      expectScimError(await scim('PUT', `${base}/Groups/${aGroup.id}`, b, group('stolen', [bUser.id])), 404);
      expectScimError(await scim('PATCH', `${base}/Groups/${aGroup.id}`, b, {
        schemas: [PATCH_SCHEMA], Operations: [{ op: 'remove', path: 'members' }],
      }), 404);
      expectScimError(await scim('PATCH', `${base}/Groups/${aGroup.id}`, b, { members: [{ value: bUser.id }] }), 404);
      expectScimError(await scim('DELETE', `${base}/Groups/${aGroup.id}`, b), 404);
    }
    // Tenant A's data is untouched.
    const u = await scim('GET', `${gw.api}/Users/${aUser.id}`, a);
    expect(u.status).toBe(200);
    expect(u.body.meta.version).toBe('W/"1"');
    expect(u.body.active).toBe(true);
    const g = await scim('GET', `${gw.api}/Groups/${aGroup.id}`, a);
    expect(g.status).toBe(200);
    expect(g.body.meta.version).toBe('W/"1"');
    expect(g.body.members.map((m: any) => m.value)).toEqual([aUser.id]);
  });

  test('lists and counts never include another tenant\'s resources; filters by id reveal nothing', async () => {
    for (const base of mounts()) {
      const users = await scim('GET', `${base}/Users`, b);
      expect(users.status).toBe(200);
      const ids = users.body.Resources.map((r: any) => r.id);
      expect(ids).toContain(bUser.id);
      expect(ids).not.toContain(aUser.id);
      expect(users.body.totalResults).toBe(ids.length);
      const count = await scim('GET', `${base}/Users?count=0`, b);
      expect(count.body.totalResults).toBe(ids.length);

      for (const filter of [
        `id eq "${aUser.id}"`, `userName eq "${aUser.userName}"`, 'externalId eq "iso-ext"',
        `id eq "${aUser.id}" or id eq "${bUser.id}"`,
      ]) {
        const res = await scim('GET', `${base}/Users?filter=${encodeURIComponent(filter)}`, b);
        expect(res.status).toBe(200);
        expect(res.body.Resources.map((r: any) => r.id)).not.toContain(aUser.id);
      }
      const byId = await scim('GET', `${base}/Users?filter=${encodeURIComponent(`id eq "${aUser.id}"`)}`, b);
      expect(byId.body.totalResults).toBe(0);

      const groups = await scim('GET', `${base}/Groups`, b);
      expect(groups.body.Resources.map((r: any) => r.id)).not.toContain(aGroup.id);
      for (const filter of [`id eq "${aGroup.id}"`, `members.value eq "${aUser.id}"`, `displayName eq "${aGroup.displayName}"`]) {
        const res = await scim('GET', `${base}/Groups?filter=${encodeURIComponent(filter)}`, b);
        expect(res.status).toBe(200);
        expect(res.body.totalResults).toBe(0);
      }
      const search = await scim('POST', `${base}/Users/.search`, b, { filter: `id eq "${aUser.id}"` });
      expect(search.status).toBe(200);
      expect(search.body.totalResults).toBe(0);
    }
    // The owner does see it.
    const own = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`id eq "${aUser.id}"`)}`, a);
    expect(own.body.totalResults).toBe(1);
  });

  test('a token for all tenants ("*") is refused for SCIM requests', async () => {
    const star = await gw.token('*');
    const res = await scim('GET', `${gw.api}/Users`, star);
    expectScimError(res, 403);
  });
});

describe('scopes', () => {
  let id: string;
  let groupId: string;
  beforeAll(async () => {
    const full = await gw.token('scopes');
    id = (await scim('POST', `${gw.api}/Users`, full, user(unique('scoped')))).body.id;
    groupId = (await scim('POST', `${gw.api}/Groups`, full, group(`scoped-${randomUUID()}`))).body.id;
  });

  test('scim:read only: reads work, POST/PUT/PATCH/DELETE → 403 insufficient_scope', async () => {
    const ro = await gw.token('scopes', 'scim:read');
    for (const base of mounts()) {
      expect((await scim('GET', `${base}/Users/${id}`, ro)).status).toBe(200);
      expect((await scim('GET', `${base}/Users`, ro)).status).toBe(200);
      expect((await scim('POST', `${base}/Users/.search`, ro, { filter: 'userName pr' })).status).toBe(200);
      const refusals = [
        await scim('POST', `${base}/Users`, ro, user(unique('ro'))),
        await scim('PUT', `${base}/Users/${id}`, ro, user(unique('ro'))),
        await scim('PATCH', `${base}/Users/${id}`, ro, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }] }),
        await scim('DELETE', `${base}/Users/${id}`, ro),
        await scim('POST', `${base}/Groups`, ro, group('ro')),
        await scim('PATCH', `${base}/Groups/${groupId}`, ro, { schemas: [PATCH_SCHEMA], Operations: [{ op: 'remove', path: 'members' }] }),
        await scim('DELETE', `${base}/Groups/${groupId}`, ro),
      ];
      for (const res of refusals) {
        expectScimError(res, 403);
        expect(res.body.status).toBe('403');
        expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
        expect(res.headers.get('www-authenticate')).toContain('scope="scim:write"');
      }
    }
    const still = await scim('GET', `${gw.api}/Users/${id}`, ro);
    expect(still.body.active).toBe(true);
    expect(still.body.meta.version).toBe('W/"1"');
  });

  test('scim:write only: GET → 403, writes work', async () => {
    const wo = await gw.token('scopes', 'scim:write');
    for (const base of mounts()) {
      for (const url of [`${base}/Users/${id}`, `${base}/Users`, `${base}/Groups/${groupId}`, `${base}/Groups`]) {
        const res = await scim('GET', url, wo);
        expectScimError(res, 403);
        expect(res.body.status).toBe('403');
        expect(res.headers.get('www-authenticate')).toContain('scope="scim:read"');
      }
    }
    const created = await scim('POST', `${gw.api}/Users`, wo, user(unique('wo')));
    expect(created.status).toBe(201);
  });

  test('a token with neither scope → 403 for reads and writes', async () => {
    const none = await gw.token('scopes', 'openid');
    expectScimError(await scim('GET', `${gw.api}/Users`, none), 403);
    expectScimError(await scim('POST', `${gw.api}/Users`, none, user(unique('none'))), 403);
  });
});

describe('authentication refusals (both mounts)', () => {
  /** 401, invalid_token challenge, SCIM error body, no token echoed. */
  async function expectInvalidToken(g: TestGateway, token: string, header = `Bearer ${token}`) {
    for (const base of [g.api, g.sso]) {
      for (const [method, path, body] of [['GET', '/Users', undefined], ['POST', '/Users', user(unique('x'))]] as const) {
        const res = await scim(method, `${base}${path}`, undefined, body, { authorization: header });
        expectScimError(res, 401);
        const challenge = res.headers.get('www-authenticate') ?? '';
        expect(challenge).toMatch(/^Bearer /);
        expect(challenge).toContain('error="invalid_token"');
        expect(res.headers.get('cache-control')).toBe('no-store');
        if (token.length > 0) expect(res.text).not.toContain(token);
        for (const part of token.split('.').filter((p) => p.length > 8)) {
          expect(res.text).not.toContain(part);
          expect(challenge).not.toContain(part);
        }
      }
    }
  }

  test('a valid token is accepted (control)', async () => {
    const ok = await gw.token();
    for (const base of mounts()) expect((await scim('GET', `${base}/Users`, ok)).status).toBe(200);
  });

  test('missing Authorization header → 401 with a bare Bearer challenge (RFC 6750 §3.1: no error code)', async () => {
    for (const base of mounts()) {
      const res = await scim('GET', `${base}/Users`, undefined);
      expectScimError(res, 401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
      expect(res.headers.get('www-authenticate')).not.toContain('error=');
    }
  });

  test('another scheme (Basic) → 401 with a Bearer challenge', async () => {
    for (const base of mounts()) {
      const res = await scim('GET', `${base}/Users`, undefined, undefined, { authorization: 'Basic dXNlcjpwYXNzd29yZA==' });
      expectScimError(res, 401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(res.text).not.toContain('dXNlcjpwYXNzd29yZA');
    }
  });

  test('malformed bearer header / not a JWT → 401 invalid_token', async () => {
    await expectInvalidToken(gw, 'not a token!', 'Bearer not a token!');
    await expectInvalidToken(gw, 'abc.def', 'Bearer abc.def');
    await expectInvalidToken(gw, 'definitelynotajwtatall');
    const valid = await gw.token();
    await expectInvalidToken(gw, `${valid}x`);
    await expectInvalidToken(gw, valid.split('.').slice(0, 2).join('.'));
  });

  test('wrong signature (signed with another secret) → 401 invalid_token', async () => {
    await expectInvalidToken(gw, await hsToken({}, 'another-secret-another-secret-another-secret-0'));
  });

  test('alg "none" → 401 invalid_token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ tenant: 'default', scope: 'scim:read scim:write', iat: now, jti: randomUUID() })}.`;
    await expectInvalidToken(gw, token);
  });

  test('expired token (exp 2 hours ago) → 401 invalid_token', async () => {
    const exp = Math.floor(Date.now() / 1000) - 2 * 3600;
    await expectInvalidToken(gw, await hsToken({}, TEST_SECRET, { exp }));
  });

  test('wrong aud / wrong iss / missing aud when the gateway checks them → 401 invalid_token', async () => {
    const good = await claimsGw.token('claims');
    for (const base of [claimsGw.api, claimsGw.sso]) expect((await scim('GET', `${base}/Users`, good)).status).toBe(200);
    expect(await hsToken({}, TEST_SECRET, { aud: AUDIENCE, iss: ISSUER }).then((tk) => scim('GET', `${claimsGw.api}/Users`, tk)))
      .toMatchObject({ status: 200 });
    await expectInvalidToken(claimsGw, await hsToken({}, TEST_SECRET, { aud: 'someone-else', iss: ISSUER }));
    await expectInvalidToken(claimsGw, await hsToken({}, TEST_SECRET, { aud: AUDIENCE, iss: 'https://evil.example' }));
    await expectInvalidToken(claimsGw, await hsToken({}, TEST_SECRET, { iss: ISSUER }));
    await expectInvalidToken(claimsGw, await hsToken({}, TEST_SECRET, { aud: AUDIENCE }));
    // A token the plain gateway would accept is not enough here.
    await expectInvalidToken(claimsGw, await gw.token());
  });

  test('HS256 tokens presented to a gateway configured with an RSA public key → 401 invalid_token', async () => {
    const rs = await pkGw.token('pk');
    expect(payloadOf(rs)).toMatchObject({ tenant: 'pk' });
    expect(JSON.parse(Buffer.from(rs.split('.')[0], 'base64url').toString()).alg).toBe('RS256');
    for (const base of [pkGw.api, pkGw.sso]) expect((await scim('GET', `${base}/Users`, rs)).status).toBe(200);
    // Key confusion: HS256 keyed with the public key's PEM text.
    await expectInvalidToken(pkGw, await hsToken({}, rsa.publicKey));
    await expectInvalidToken(pkGw, await hsToken({}, TEST_SECRET));
  });

  test('a revoked jti → 401 invalid_token (even right after the token was accepted)', async () => {
    const token = await gw.token('revocation');
    for (const base of mounts()) expect((await scim('GET', `${base}/Users`, token)).status).toBe(200);
    const jti = payloadOf(token).jti as string;
    expect(typeof jti).toBe('string');
    await gw.store.revokeToken(jti);
    await expectInvalidToken(gw, token);
    // Other tokens are unaffected.
    expect((await scim('GET', `${gw.api}/Users`, await gw.token('revocation'))).status).toBe(200);
  });
});

describe('error bodies are SCIM JSON, never HTML', () => {
  let t: string;
  beforeAll(async () => { t = await gw.token('errors'); });

  test('malformed JSON → 400 invalidSyntax', async () => {
    for (const base of mounts()) {
      for (const [method, path] of [['POST', '/Users'], ['PUT', `/Users/${randomUUID()}`], ['PATCH', `/Groups/${randomUUID()}`]]) {
        const res = await scim(method, `${base}${path}`, t, '{"userName": "broken", ');
        expectScimError(res, 400, 'invalidSyntax');
      }
      const bad = await scim('POST', `${base}/Users`, t, "{'single': 'quotes'}");
      expectScimError(bad, 400, 'invalidSyntax');
    }
  });

  test('malformed JSON with application/json content type → 400 invalidSyntax', async () => {
    const res = await scim('POST', `${gw.api}/Users`, t, '{nope', { 'content-type': 'application/json' });
    expectScimError(res, 400, 'invalidSyntax');
  });

  test('a text/plain body → 415', async () => {
    for (const base of mounts()) {
      const res = await scim('POST', `${base}/Users`, t, JSON.stringify(user(unique('plain'))), { 'content-type': 'text/plain' });
      expectScimError(res, 415);
      const form = await scim('PATCH', `${base}/Users/${randomUUID()}`, t, 'a=b', { 'content-type': 'application/x-www-form-urlencoded' });
      expectScimError(form, 415);
    }
  });

  test('a body over maxBodyBytes → 413', async () => {
    const st = await smallGw.token('small');
    const small = await scim('POST', `${smallGw.api}/Users`, st, user(unique('small')));
    expect(small.status).toBe(201);
    for (const base of [smallGw.api, smallGw.sso]) {
      const res = await scim('POST', `${base}/Users`, st, user(unique('big'), { displayName: 'x'.repeat(4096) }));
      expectScimError(res, 413);
    }
    // Nothing was created by the refused requests.
    const listed = await scim('GET', `${smallGw.api}/Users`, st);
    expect(listed.body.totalResults).toBe(1);
  });

  test('unknown endpoints → 404', async () => {
    for (const url of [
      `${gw.url}/nope`, `${gw.url}/`, `${gw.url}/api/scim/v1/Users`, `${gw.api}/Nope`, `${gw.sso}/Widgets/123`,
    ]) {
      const res = await scim('GET', url, t);
      expectScimError(res, 404);
    }
    const del = await scim('DELETE', `${gw.url}/api`, t);
    expectScimError(del, 404);
  });

  test('If-Match that does not match → 412 for PUT, PATCH and DELETE; nothing changes', async () => {
    for (const base of mounts()) {
      const created = await scim('POST', `${base}/Users`, t, user(unique('etag')));
      const id = created.body.id;
      const stale = { 'if-match': 'W/"99"' };
      expectScimError(await scim('PUT', `${base}/Users/${id}`, t, user(unique('etag2')), stale), 412);
      expectScimError(await scim('PATCH', `${base}/Users/${id}`, t, {
        schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }],
      }, stale), 412);
      expectScimError(await scim('DELETE', `${base}/Users/${id}`, t, undefined, stale), 412);
      const after = await scim('GET', `${base}/Users/${id}`, t);
      expect(after.body.meta.version).toBe('W/"1"');
      expect(after.body.active).toBe(true);

      // The current ETag (or *) lets the write through.
      const ok = await scim('PATCH', `${base}/Users/${id}`, t, {
        schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }],
      }, { 'if-match': created.headers.get('etag')! });
      expect(ok.status).toBe(200);
      expect(ok.body.meta.version).toBe('W/"2"');
      // The old ETag is stale now.
      expectScimError(await scim('DELETE', `${base}/Users/${id}`, t, undefined, { 'if-match': 'W/"1"' }), 412);
      expect((await scim('DELETE', `${base}/Users/${id}`, t, undefined, { 'if-match': '*' })).status).toBe(204);
    }
    // Groups as well.
    const g = await scim('POST', `${gw.api}/Groups`, t, group(`etag-${randomUUID()}`));
    expectScimError(await scim('PATCH', `${gw.api}/Groups/${g.body.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }],
    }, { 'if-match': 'W/"7"' }), 412);
    expectScimError(await scim('PUT', `${gw.api}/Groups/${g.body.id}`, t, group('y'), { 'if-match': 'W/"7"' }), 412);
    expect((await scim('GET', `${gw.api}/Groups/${g.body.id}`, t)).body.displayName).toBe(g.body.displayName);
  });

  test('If-None-Match with the current ETag on GET → 304; with an old one → 200', async () => {
    const created = await scim('POST', `${gw.api}/Users`, t, user(unique('inm')));
    const etag = created.headers.get('etag')!;
    for (const base of mounts()) {
      const notModified = await scim('GET', `${base}/Users/${created.body.id}`, t, undefined, { 'if-none-match': etag });
      expect(notModified.status).toBe(304);
      expect(notModified.text).toBe('');
      const star = await scim('GET', `${base}/Users/${created.body.id}`, t, undefined, { 'if-none-match': '*' });
      expect(star.status).toBe(304);
    }
    await scim('PATCH', `${gw.api}/Users/${created.body.id}`, t, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: 'changed' }],
    });
    const changed = await scim('GET', `${gw.api}/Users/${created.body.id}`, t, undefined, { 'if-none-match': etag });
    expect(changed.status).toBe(200);
    expect(changed.body.displayName).toBe('changed');
    expect(changed.headers.get('etag')).toBe('W/"2"');
  });

  test('other refusals in the SCIM layer are SCIM JSON too (404 by id, 409, 400)', async () => {
    expectScimError(await scim('GET', `${gw.sso}/Users/${randomUUID()}`, t), 404);
    const name = unique('dup');
    await scim('POST', `${gw.sso}/Users`, t, user(name));
    expectScimError(await scim('POST', `${gw.sso}/Users`, t, user(name.toUpperCase())), 409, 'uniqueness');
    expectScimError(await scim('GET', `${gw.sso}/Users?filter=${encodeURIComponent('userName eq')}`, t), 400, 'invalidFilter');
  });

  test('GET /healthz (liveness) and GET /readyz (readiness) → 200 without auth', async () => {
    const res = await scim('GET', `${gw.url}/healthz`, undefined);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(res.body).toEqual({ status: 'ok' });
    const ready = await scim('GET', `${gw.url}/readyz`, undefined);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready' });
  });
});

describe('concurrency across mounts and tenants', () => {
  test('200 requests at once: every location names the mount the request was sent to', async () => {
    const tenants = ['conc-1', 'conc-2', 'conc-3'];
    const tokens = Object.fromEntries(await Promise.all(tenants.map(async (tn) => [tn, await gw.token(tn)] as const)));
    // One seeded user per GET/PATCH request, so concurrent PATCHes never contend for one resource.
    const N = 200;
    const plan = Array.from({ length: N }, (_, i) => ({
      i,
      tenant: tenants[i % 3],
      base: i % 2 === 0 ? gw.api : gw.sso,
      op: (['POST', 'GET', 'PATCH'] as const)[Math.floor(i / 6) % 3],
    }));
    const seeded = new Map<number, string>();
    for (const p of plan) {
      if (p.op === 'POST') continue;
      const res = await scim('POST', `${gw.api}/Users`, tokens[p.tenant], user(unique(`seed-${p.i}`)));
      expect(res.status).toBe(201);
      seeded.set(p.i, res.body.id);
    }
    expect(new Set(plan.map((p) => p.op)).size).toBe(3);

    const results = await Promise.all(plan.map(async (p) => {
      const token = tokens[p.tenant];
      if (p.op === 'POST') return { p, res: await scim('POST', `${p.base}/Users`, token, user(unique(`conc-${p.i}`))) };
      const url = `${p.base}/Users/${seeded.get(p.i)}`;
      if (p.op === 'GET') return { p, res: await scim('GET', url, token) };
      return {
        p,
        res: await scim('PATCH', url, token, {
          schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'displayName', value: `patched ${p.i}` }],
        }),
      };
    }));

    for (const { p, res } of results) {
      const expectedStatus = p.op === 'POST' ? 201 : 200;
      if (res.status !== expectedStatus) throw new Error(`request ${p.i} (${p.op} ${p.base}): ${res.status} ${res.text}`);
      const location: string = res.body.meta.location;
      expect(location.startsWith(`${p.base}/Users/`)).toBe(true);
      expect(location).toBe(`${p.base}/Users/${res.body.id}`);
      if (p.op === 'POST') expect(res.headers.get('location')).toBe(location);
      else expect(res.body.id).toBe(seeded.get(p.i));
      if (p.op === 'PATCH') expect(res.body.displayName).toBe(`patched ${p.i}`);
    }

    // Every created user landed in its own tenant, none in another.
    for (const tn of tenants) {
      const expected = plan.filter((p) => p.tenant === tn).length;
      const list = await scim('GET', `${gw.api}/Users?count=0`, tokens[tn]);
      expect(list.body.totalResults).toBe(expected);
    }
  });

  test('concurrent group reads on both mounts carry member $ref on their own mount', async () => {
    const tk = await gw.token('conc-groups');
    const u = (await scim('POST', `${gw.api}/Users`, tk, user(unique('conc-member')))).body;
    const g = (await scim('POST', `${gw.api}/Groups`, tk, group(`conc-${randomUUID()}`, [u.id]))).body;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => {
      const base = i % 2 === 0 ? gw.api : gw.sso;
      return scim('GET', `${base}/Groups/${g.id}`, tk).then((res) => ({ base, res }));
    }));
    for (const { base, res } of results) {
      expect(res.status).toBe(200);
      expect(res.body.meta.location).toBe(`${base}/Groups/${g.id}`);
      expect(res.body.members[0].$ref).toBe(`${base}/Users/${u.id}`);
    }
  });
});

describe('restart', () => {
  test('users, groups, memberships, versions and revocations survive a restart', async () => {
    const tk = await restartGw.token('restart');
    const revoked = await restartGw.token('restart');
    const alice = (await scim('POST', `${restartGw.api}/Users`, tk, user(unique('restart-alice'), {
      name: { familyName: 'Persisted' }, emails: [{ value: 'persist@example.com', type: 'work' }],
    }))).body;
    const bob = (await scim('POST', `${restartGw.api}/Users`, tk, user(unique('restart-bob')))).body;
    const patched = await scim('PATCH', `${restartGw.api}/Users/${bob.id}`, tk, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(patched.body.meta.version).toBe('W/"2"');
    const g = (await scim('POST', `${restartGw.api}/Groups`, tk, group(`restart-${randomUUID()}`, [alice.id, bob.id]))).body;
    await restartGw.store.revokeToken(payloadOf(revoked).jti as string);

    const oldUrl = restartGw.url;
    restartGw = await restartGw.restart();
    expect(restartGw.url).not.toBe(oldUrl);

    for (const base of [restartGw.api, restartGw.sso]) {
      const a = await scim('GET', `${base}/Users/${alice.id}`, tk);
      expect(a.status).toBe(200);
      expect(a.body.userName).toBe(alice.userName);
      expect(a.body.name).toEqual({ familyName: 'Persisted' });
      expect(a.body.meta.location).toBe(`${base}/Users/${alice.id}`);
      const b = await scim('GET', `${base}/Users/${bob.id}`, tk);
      expect(b.body.active).toBe(false);
      expect(b.body.meta.version).toBe('W/"2"');
      const grp = await scim('GET', `${base}/Groups/${g.id}`, tk);
      expect(grp.status).toBe(200);
      expect(grp.body.displayName).toBe(g.displayName);
      expect(grp.body.members.map((m: any) => m.value).sort()).toEqual([alice.id, bob.id].sort());
      for (const m of grp.body.members) expect(m.$ref).toBe(`${base}/Users/${m.value}`);
    }
    const byEmail = await scim('GET', `${restartGw.api}/Users?filter=${encodeURIComponent('emails.value eq "persist@example.com"')}`, tk);
    expect(byEmail.body.Resources.map((r: any) => r.id)).toEqual([alice.id]);
    const all = await scim('GET', `${restartGw.api}/Users`, tk);
    expect(all.body.totalResults).toBe(2);
    // Uniqueness is still enforced, and the revocation persisted.
    expectScimError(await scim('POST', `${restartGw.api}/Users`, tk, user(alice.userName.toUpperCase())), 409, 'uniqueness');
    expectScimError(await scim('GET', `${restartGw.api}/Users`, revoked), 401);
    // And writes continue from the stored version.
    const again = await scim('PATCH', `${restartGw.api}/Users/${bob.id}`, tk, {
      schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: true }],
    });
    expect(again.body.meta.version).toBe('W/"3"');
  });
});
