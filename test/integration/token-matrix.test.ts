// The authentication and authorization matrix in one place, against real gateways over real HTTP: every way a bearer
// token can be missing, malformed, forged, confused, stale, for the wrong audience or issuer, revoked, for another
// tenant or lacking a scope, on both SCIM mounts (and /admin for the admin scope). Each case asserts the status,
// the exact WWW-Authenticate challenge (or its absence), a SCIM Error body, Cache-Control on refusals, and that
// neither the body nor any header echoes the token, its claims or one of jose's own error messages.
//
// Gateways: `hs` verifies HS256 with a secret; `claims` also enforces iss and aud; `rsa` verifies with an RSA
// public key (RS256 etc.). Unit-level coverage of the verifier lives in test/unit/auth*.test.ts; this file proves
// the same decisions reach the wire unchanged through the real app on both mounts.
import { createHmac, createPrivateKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  ERROR_SCHEMA, group, patchOp, scim, startGateway, TEST_SECRET, user, type TestGateway,
} from '../helpers/gateway';

const MOUNTS = ['/api/scim/v2', '/sso/scim/v2'] as const;
type Mount = (typeof MOUNTS)[number];
type GatewayName = 'hs' | 'claims' | 'rsa';

const ISSUER = 'https://issuer.token-matrix.example';
const AUDIENCE = 'scimbridge-token-matrix';
/** Put into every forged or refused token's claims: must never come back in a response. */
const SENTINEL = 'SENTINEL-c1a1m-9f3e';
const WRONG_SECRET = 'not-the-gateway-secret-but-long-enough-0123456789';
const SKEW = 60;

const CHALLENGE_BARE = 'Bearer realm="scimbridge"';
const CHALLENGE_INVALID = 'Bearer realm="scimbridge", error="invalid_token"';
const challengeScope = (scope: string) => `Bearer realm="scimbridge", error="insufficient_scope", scope="${scope}"`;

/** Fragments of jose's error messages and class names: the gateway must translate them all into its own words. */
const JOSE_TEXT = [
  /claim timestamp check failed/i, /unexpected "\w+" claim value/i, /missing required "\w+" claim/i,
  /signature verification failed/i, /Compact JWS/i, /JWS Protected Header/i, /Header Parameter/i,
  /Failed to (base64url decode|parse the decoded)/i, /Invalid (Unsecured )?JWT/i, /JWT Claims Set/i,
  /ERR_J(WS|WT|OSE|WKS)/, /\bjose\b/i,
  /\b(JWSInvalid|JWTInvalid|JWTExpired|JWTClaimValidationFailed|JOSEAlgNotAllowed|JWSSignatureVerificationFailed|JOSENotSupported)\b/,
];

let gws: Record<GatewayName, TestGateway>;
/** The key pair the `rsa` gateway verifies with, and another one it does not know. */
let rsa: { publicKey: string; privateKey: string };
let otherRsa: { publicKey: string; privateKey: string };
/** Tenant A's user and group, for the cross-tenant cases. */
let aUser: { id: string; userName: string };
let aGroup: { id: string; displayName: string };

const now = () => Math.floor(Date.now() / 1000);
const b64url = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const refusedName = () => `refused-${SENTINEL}-${randomUUID().slice(0, 8)}@example.com`;

interface Claims {
  tenant?: unknown;
  scope?: unknown;
  /** A number is set with jose's setter; anything else goes into the payload as is. */
  exp?: unknown;
  nbf?: number;
  iss?: string;
  aud?: string;
  jti?: string;
  [k: string]: unknown;
}

/** A JWT signed with whatever algorithm and key a case wants (jose, so the signature itself is always valid). */
async function sign(alg: string, key: Uint8Array | KeyObject | string, claims: Claims = {}): Promise<string> {
  const { exp, nbf, iss, aud, jti, ...rest } = claims;
  const payload: Record<string, unknown> = { tenant: 'matrix', scope: 'scim:read scim:write', note: SENTINEL, ...rest };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  if (exp !== undefined && typeof exp !== 'number') payload.exp = exp;
  const b = new SignJWT(payload)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt(now() - 5)
    .setJti(jti ?? randomUUID())
    .setSubject(`sub-${SENTINEL}`);
  if (typeof exp === 'number') b.setExpirationTime(exp);
  if (nbf !== undefined) b.setNotBefore(nbf);
  if (iss !== undefined) b.setIssuer(iss);
  if (aud !== undefined) b.setAudience(aud);
  return b.sign(typeof key === 'string' ? createPrivateKey(key) : key);
}
const hs = (claims: Claims = {}, secret: string = TEST_SECRET) => sign('HS256', new TextEncoder().encode(secret), claims);
const rs = (claims: Claims = {}, privateKeyPem = rsa.privateKey) => sign('RS256', privateKeyPem, claims);
/** Claims the `claims` gateway accepts. */
const good = { iss: ISSUER, aud: AUDIENCE };

interface Call {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Relative to the mount, or absolute from the server root when it starts with /admin. */
  path: string | (() => string);
  /** `refused`: whether the case expects a refusal (refused bodies carry the sentinel, accepted ones do not). */
  body?: (refused: boolean) => unknown;
  /** The success status when the case expects one (default 200). */
  ok?: number;
}
const LIST_USERS: Call = { method: 'GET', path: '/Users' };
const CREATE_USER: Call = {
  method: 'POST', path: '/Users', ok: 201,
  body: (refused) => user(refused ? refusedName() : `accepted-${randomUUID().slice(0, 8)}@example.com`),
};

interface Case {
  name: string;
  gw: GatewayName;
  /** The Authorization header to send (undefined: none). */
  authorization: () => Promise<string | undefined>;
  /** Requests to send with it; defaults to a list and a create. */
  requests?: Call[];
  /** 200 means success (each request's own `ok` status); anything else is the refusal every request gets. */
  status: 200 | 401 | 403 | 404;
  /** Exact WWW-Authenticate value expected; null: the header must be absent. */
  challenge: string | null;
  /** Runs once before the requests with the header value (e.g. use the token, then revoke it). */
  before?: (authorization: string | undefined, gw: TestGateway, mount: Mount) => Promise<void>;
  /** Extra assertions on each answer. */
  check?: (res: Answer) => void;
}

type Answer = Awaited<ReturnType<typeof scim>>;

const bearer = (make: () => Promise<string>) => async () => `Bearer ${await make()}`;
const raw = (value: string | undefined) => async () => value;

/** The parts of an Authorization header worth searching a response for. */
function secretsOf(authorization: string | undefined): string[] {
  if (!authorization) return [];
  const value = authorization.replace(/^\S+\s*/, '');
  const out = value.length > 0 ? [value] : [];
  for (const part of value.split('.')) if (part.length > 8) out.push(part);
  return out;
}

function expectRefusal(res: Answer, c: Case, authorization: string | undefined) {
  expect(res.status).toBe(c.status);
  expect(res.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(res.text.toLowerCase()).not.toContain('<html');
  expect(res.body).toEqual(expect.objectContaining({ schemas: [ERROR_SCHEMA], status: String(c.status) }));
  expect(typeof res.body.detail).toBe('string');
  // Nothing but the SCIM Error members: no stack, no cause, no claims.
  for (const key of Object.keys(res.body)) expect(['schemas', 'status', 'detail', 'scimType']).toContain(key);
  if (c.status === 401 || c.status === 403) expect(res.headers.get('cache-control')).toBe('no-store');
  const everything = `${res.text}\n${[...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n')}`;
  for (const secret of secretsOf(authorization)) expect(everything).not.toContain(secret);
  expect(everything).not.toContain(SENTINEL);
  for (const re of JOSE_TEXT) expect(res.text).not.toMatch(re);
}

function url(gw: TestGateway, mount: Mount, r: Call): string {
  const p = typeof r.path === 'function' ? r.path() : r.path;
  return p.startsWith('/admin') ? `${gw.url}${p}` : `${gw.url}${mount}${p}`;
}

async function runCase(c: Case, mount: Mount) {
  const gw = gws[c.gw];
  const authorization = await c.authorization();
  if (c.before) await c.before(authorization, gw, mount);
  for (const r of c.requests ?? [LIST_USERS, CREATE_USER]) {
    const refused = c.status >= 400;
    const res = await scim(r.method, url(gw, mount, r), undefined, r.body?.(refused), authorization === undefined ? {} : { authorization });
    if (refused) {
      expectRefusal(res, c, authorization);
    } else {
      // The text is in the comparison so that a failure shows what the gateway answered.
      expect({ status: res.status, text: res.text.slice(0, 300) }).toEqual({ status: r.ok ?? 200, text: expect.any(String) });
      for (const re of JOSE_TEXT) expect(res.text).not.toMatch(re);
    }
    expect(res.headers.get('www-authenticate')).toBe(c.challenge);
    c.check?.(res);
  }
}

/** Use the token once (proving it is good), so the refusal that follows is the revocation and nothing else. */
async function revokeAfterUse(authorization: string | undefined, gw: TestGateway, mount: Mount) {
  const token = authorization!.slice('Bearer '.length);
  const ok = await scim('GET', `${gw.url}${mount}/Users`, token);
  expect(ok.status).toBe(200);
  const jti = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti as string;
  await gw.store.revokeToken(jti);
}

const CASES: Case[] = [
  // --- no bearer credentials at all: RFC 6750 §3.1 says the challenge carries no error code then.
  { name: 'no Authorization header', gw: 'hs', authorization: raw(undefined), status: 401, challenge: CHALLENGE_BARE },
  { name: 'Basic credentials', gw: 'hs', authorization: raw(`Basic ${Buffer.from(`${SENTINEL}:pa55word-xyz`).toString('base64')}`), status: 401, challenge: CHALLENGE_BARE },
  { name: 'Basic scheme carrying a valid JWT', gw: 'hs', authorization: async () => `Basic ${await hs()}`, status: 401, challenge: CHALLENGE_BARE },

  // --- malformed bearer values
  { name: '"Bearer" with no token', gw: 'hs', authorization: raw('Bearer'), status: 401, challenge: CHALLENGE_INVALID },
  { name: '"Bearer " with an empty token', gw: 'hs', authorization: raw('Bearer    '), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'a token with a space in it', gw: 'hs', authorization: async () => `Bearer ${(await hs()).replace('.', ' .')}`, status: 401, challenge: CHALLENGE_INVALID },
  { name: 'JWT with two segments', gw: 'hs', authorization: async () => `Bearer ${(await hs()).split('.').slice(0, 2).join('.')}`, status: 401, challenge: CHALLENGE_INVALID },
  { name: 'JWT with four segments', gw: 'hs', authorization: async () => `Bearer ${await hs()}.${b64url(SENTINEL)}`, status: 401, challenge: CHALLENGE_INVALID },
  { name: 'characters outside b64token', gw: 'hs', authorization: raw(`Bearer ${b64url({ alg: 'HS256' })}.$$$${SENTINEL}$$$.%%%`), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'b64token characters that are not base64url (+ and /)', gw: 'hs', authorization: raw(`Bearer ${b64url({ alg: 'HS256' })}.ab+cd/ef${SENTINEL.replace(/-/g, '+')}.gh+ij/kl`), status: 401, challenge: CHALLENGE_INVALID },
  {
    name: 'header that is not JSON', gw: 'hs',
    authorization: async () => { const [, p, s] = (await hs()).split('.'); return `Bearer ${b64url(`not json ${SENTINEL}`)}.${p}.${s}`; },
    status: 401, challenge: CHALLENGE_INVALID,
  },
  {
    name: 'payload that is not JSON (validly signed)', gw: 'hs',
    authorization: async () => {
      const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(`{"tenant":"${SENTINEL}"`)}`;
      return `Bearer ${input}.${createHmac('sha256', TEST_SECRET).update(input).digest('base64url')}`;
    },
    status: 401, challenge: CHALLENGE_INVALID,
  },
  { name: 'token over 8 KiB', gw: 'hs', authorization: async () => `Bearer ${await hs({ pad: 'x'.repeat(9000) })}`, status: 401, challenge: CHALLENGE_INVALID },

  // --- signatures and algorithms
  {
    name: 'alg "none" (unsigned)', gw: 'hs',
    authorization: raw(`Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ tenant: 'matrix', note: SENTINEL, scope: 'scim:read scim:write', iat: now() })}.`),
    status: 401, challenge: CHALLENGE_INVALID,
  },
  {
    name: 'alg "none" with a signature segment', gw: 'hs',
    authorization: raw(`Bearer ${b64url({ alg: 'none' })}.${b64url({ tenant: 'matrix', note: SENTINEL })}.${b64url('signature-goes-here')}`),
    status: 401, challenge: CHALLENGE_INVALID,
  },
  { name: 'HS256 signed with the wrong secret', gw: 'hs', authorization: bearer(() => hs({}, WRONG_SECRET)), status: 401, challenge: CHALLENGE_INVALID },
  {
    name: 'HS256 with a tampered payload', gw: 'hs',
    authorization: async () => { const [h, , s] = (await hs({ tenant: 'matrix' })).split('.'); return `Bearer ${h}.${b64url({ tenant: 'other', note: SENTINEL })}.${s}`; },
    status: 401, challenge: CHALLENGE_INVALID,
  },
  { name: 'RS256 token to the HS256 gateway', gw: 'hs', authorization: bearer(() => rs()), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'HS512 with the right secret (only HS256 is accepted)', gw: 'hs', authorization: bearer(() => sign('HS512', new TextEncoder().encode(TEST_SECRET))), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'HS256 token (gateway secret) to the RSA gateway', gw: 'rsa', authorization: bearer(() => hs()), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'key confusion: HS256 keyed with the PEM public key text', gw: 'rsa', authorization: bearer(() => hs({}, rsa.publicKey)), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'key confusion: HS256 keyed with the trimmed PEM', gw: 'rsa', authorization: bearer(() => hs({}, rsa.publicKey.trim())), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'RS256 signed by another RSA key', gw: 'rsa', authorization: bearer(() => rs({}, otherRsa.privateKey)), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'RS256 with the configured key (control)', gw: 'rsa', authorization: bearer(() => rs()), status: 200, challenge: null },
  { name: 'PS256 with the configured RSA key (control)', gw: 'rsa', authorization: bearer(() => sign('PS256', rsa.privateKey)), status: 200, challenge: null },
  { name: 'HS256 with the right secret (control)', gw: 'hs', authorization: bearer(() => hs()), status: 200, challenge: null },
  { name: 'lower-case "bearer" scheme (control)', gw: 'hs', authorization: async () => `bearer ${await hs()}`, status: 200, challenge: null },

  // --- time: exp and nbf with 60 s of skew
  { name: 'expired beyond the skew', gw: 'hs', authorization: bearer(() => hs({ exp: now() - SKEW - 30 })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'expired long ago', gw: 'hs', authorization: bearer(() => hs({ exp: now() - 86400 })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'expired within the skew', gw: 'hs', authorization: bearer(() => hs({ exp: now() - 20 })), status: 200, challenge: null },
  { name: 'nbf in the future beyond the skew', gw: 'hs', authorization: bearer(() => hs({ nbf: now() + SKEW + 60 })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'nbf in the future within the skew', gw: 'hs', authorization: bearer(() => hs({ nbf: now() + 20 })), status: 200, challenge: null },
  { name: 'exp that is not a number', gw: 'hs', authorization: bearer(() => hs({ exp: `tomorrow-${SENTINEL}` })), status: 401, challenge: CHALLENGE_INVALID },

  // --- issuer and audience, when configured
  { name: 'right iss and aud', gw: 'claims', authorization: bearer(() => hs(good)), status: 200, challenge: null },
  { name: 'wrong aud', gw: 'claims', authorization: bearer(() => hs({ ...good, aud: `other-${SENTINEL}` })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'wrong iss', gw: 'claims', authorization: bearer(() => hs({ ...good, iss: `https://${SENTINEL}.example` })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'missing aud', gw: 'claims', authorization: bearer(() => hs({ iss: ISSUER })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'missing iss', gw: 'claims', authorization: bearer(() => hs({ aud: AUDIENCE })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'a token the plain gateway accepts', gw: 'claims', authorization: bearer(() => hs()), status: 401, challenge: CHALLENGE_INVALID },

  // --- claims the gateway interprets
  { name: 'tenant claim that is not an identifier', gw: 'hs', authorization: bearer(() => hs({ tenant: `../${SENTINEL}/x y` })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'tenant claim that is a number', gw: 'hs', authorization: bearer(() => hs({ tenant: 42 })), status: 401, challenge: CHALLENGE_INVALID },
  { name: 'scope claim that is not a string', gw: 'hs', authorization: bearer(() => hs({ scope: ['scim:read'] })), status: 401, challenge: CHALLENGE_INVALID },

  // --- revocation: the token works, is revoked in the store, and is refused from the next request on
  { name: 'revoked jti (HS256)', gw: 'hs', authorization: bearer(() => hs()), before: revokeAfterUse, status: 401, challenge: CHALLENGE_INVALID },
  { name: 'revoked jti (RS256)', gw: 'rsa', authorization: bearer(() => rs()), before: revokeAfterUse, status: 401, challenge: CHALLENGE_INVALID },

  // --- scopes
  { name: 'scim:read token on POST', gw: 'hs', authorization: bearer(() => hs({ scope: 'scim:read' })), requests: [CREATE_USER], status: 403, challenge: challengeScope('scim:write') },
  {
    name: 'scim:read token on PATCH and DELETE', gw: 'hs', authorization: bearer(() => hs({ tenant: 'tenant-a', scope: 'scim:read' })),
    requests: [
      { method: 'PATCH', path: () => `/Users/${aUser.id}`, body: () => patchOp([{ op: 'replace', path: 'active', value: false }]) },
      { method: 'DELETE', path: () => `/Groups/${aGroup.id}` },
    ],
    status: 403, challenge: challengeScope('scim:write'),
  },
  { name: 'scim:write-only token on GET', gw: 'hs', authorization: bearer(() => hs({ scope: 'scim:write' })), requests: [LIST_USERS], status: 403, challenge: challengeScope('scim:read') },
  {
    name: 'scim:write-only token on .search (a read)', gw: 'hs', authorization: bearer(() => hs({ scope: 'scim:write' })),
    requests: [{ method: 'POST', path: '/Users/.search', body: () => ({ filter: 'userName pr' }) }], status: 403, challenge: challengeScope('scim:read'),
  },
  { name: 'scim:write-only token on POST (control)', gw: 'hs', authorization: bearer(() => hs({ scope: 'scim:write' })), requests: [CREATE_USER], status: 200, challenge: null },
  { name: 'empty scope', gw: 'hs', authorization: bearer(() => hs({ scope: '' })), requests: [LIST_USERS], status: 403, challenge: challengeScope('scim:read') },
  { name: 'admin-scoped token on SCIM GET', gw: 'hs', authorization: bearer(() => hs({ scope: 'admin' })), requests: [LIST_USERS], status: 403, challenge: challengeScope('scim:read') },
  { name: 'admin-scoped token on SCIM POST', gw: 'hs', authorization: bearer(() => hs({ scope: 'admin' })), requests: [CREATE_USER], status: 403, challenge: challengeScope('scim:write') },
  { name: 'scp array claim with scim:read (Entra/Okta shape, control)', gw: 'hs', authorization: bearer(() => hs({ scope: undefined, scp: ['scim:read'] })), requests: [LIST_USERS], status: 200, challenge: null },

  // --- tenancy
  {
    name: 'tenant "*" token on SCIM', gw: 'hs', authorization: bearer(() => hs({ tenant: '*' })), status: 403,
    challenge: 'Bearer realm="scimbridge", error="insufficient_scope"',
  },
  {
    name: 'tenant B reads tenant A\'s user by id', gw: 'hs', authorization: bearer(() => hs({ tenant: 'tenant-b' })),
    requests: [{ method: 'GET', path: () => `/Users/${aUser.id}` }, { method: 'GET', path: () => `/Groups/${aGroup.id}` }],
    status: 404, challenge: null,
    check: (res) => { expect(res.text).not.toContain(aUser.userName); expect(res.text).not.toContain(aGroup.displayName); },
  },
  {
    name: 'tenant B writes tenant A\'s user and group by id', gw: 'hs', authorization: bearer(() => hs({ tenant: 'tenant-b' })),
    requests: [
      { method: 'PATCH', path: () => `/Users/${aUser.id}`, body: () => patchOp([{ op: 'replace', path: 'active', value: false }]) },
      { method: 'PATCH', path: () => `/Groups/${aGroup.id}`, body: () => patchOp([{ op: 'remove', path: 'members' }]) },
      { method: 'DELETE', path: () => `/Users/${aUser.id}` },
      { method: 'DELETE', path: () => `/Groups/${aGroup.id}` },
    ],
    status: 404, challenge: null,
  },
  {
    name: 'tenant B lists, filters and searches for tenant A\'s resources', gw: 'hs', authorization: bearer(() => hs({ tenant: 'tenant-b' })),
    requests: [
      { method: 'GET', path: '/Users' },
      { method: 'GET', path: '/Groups' },
      { method: 'GET', path: () => `/Users?filter=${encodeURIComponent(`id eq "${aUser.id}"`)}` },
      { method: 'GET', path: () => `/Users?filter=${encodeURIComponent(`userName eq "${aUser.userName}"`)}` },
      { method: 'GET', path: () => `/Groups?filter=${encodeURIComponent(`members.value eq "${aUser.id}"`)}` },
    ],
    status: 200, challenge: null,
    check: (res) => {
      expect(res.body.totalResults).toBe(0);
      expect(res.body.Resources ?? []).toEqual([]);
      expect(res.text).not.toContain(aUser.id);
    },
  },
  {
    name: 'tenant A reads its own user and group (control)', gw: 'hs', authorization: bearer(() => hs({ tenant: 'tenant-a' })),
    requests: [{ method: 'GET', path: () => `/Users/${aUser.id}` }, { method: 'GET', path: () => `/Groups/${aGroup.id}` }],
    status: 200, challenge: null,
    check: (res) => expect([aUser.id, aGroup.id]).toContain(res.body.id),
  },

  // --- /admin: needs the admin scope; SCIM scopes do not open it (mount-independent, run from each mount's loop)
  {
    name: 'scim token on /admin', gw: 'hs', authorization: bearer(() => hs({ scope: 'scim:read scim:write' })),
    requests: [{ method: 'GET', path: '/admin/targets' }, { method: 'GET', path: '/admin/deliveries' }], status: 403, challenge: challengeScope('admin'),
  },
  { name: 'no token on /admin', gw: 'hs', authorization: raw(undefined), requests: [{ method: 'GET', path: '/admin/targets' }], status: 401, challenge: CHALLENGE_BARE },
  { name: 'forged admin token on /admin', gw: 'hs', authorization: bearer(() => hs({ scope: 'admin' }, WRONG_SECRET)), requests: [{ method: 'GET', path: '/admin/targets' }], status: 401, challenge: CHALLENGE_INVALID },
  { name: 'admin token on /admin (control)', gw: 'hs', authorization: bearer(() => hs({ scope: 'admin' })), requests: [{ method: 'GET', path: '/admin/targets' }], status: 200, challenge: null },
];

jest.setTimeout(60_000);

beforeAll(async () => {
  const pair = () => generateKeyPairSync('rsa', {
    modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  rsa = pair();
  otherRsa = pair();
  const [hsGw, claimsGw, rsaGw] = await Promise.all([
    startGateway(),
    startGateway({ jwt: { issuer: ISSUER, audience: AUDIENCE } }),
    startGateway({ jwt: { source: { kind: 'publicKey', pem: rsa.publicKey }, privateKeyPem: rsa.privateKey } }),
  ]);
  gws = { hs: hsGw, claims: claimsGw, rsa: rsaGw };
  const a = await hsGw.token('tenant-a');
  const u = await scim('POST', `${hsGw.api}/Users`, a, user(`owner-${randomUUID().slice(0, 8)}@tenant-a.example`));
  expect(u.status).toBe(201);
  const g = await scim('POST', `${hsGw.api}/Groups`, a, group(`tenant-a-group-${randomUUID().slice(0, 8)}`, [u.body.id]));
  expect(g.status).toBe(201);
  aUser = { id: u.body.id, userName: u.body.userName };
  aGroup = { id: g.body.id, displayName: g.body.displayName };
});

afterAll(async () => {
  if (gws) for (const gw of Object.values(gws)) await gw.close();
});

describe.each(MOUNTS)('%s', (mount) => {
  test.each(CASES.map((c) => [`${c.name} → ${c.status}`, c] as const))('%s', async (_name, c) => {
    await runCase(c, mount);
  });
});

describe('after the matrix', () => {
  test('no refused request changed anything', async () => {
    for (const [name, gw] of Object.entries(gws)) {
      for (const tenant of ['matrix', 'tenant-a', 'tenant-b', 'other', 'default']) {
        const t = name === 'claims'
          ? await hs({ ...good, tenant })
          : name === 'rsa' ? await rs({ tenant }) : await hs({ tenant });
        const res = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`userName co "${SENTINEL}"`)}&count=0`, t);
        expect({ gw: name, tenant, status: res.status, total: res.body.totalResults }).toEqual({ gw: name, tenant, status: 200, total: 0 });
      }
    }
    // Tenant A's user and group are as they were created.
    const a = await hs({ tenant: 'tenant-a' });
    const u = await scim('GET', `${gws.hs.api}/Users/${aUser.id}`, a);
    expect(u.body).toMatchObject({ active: true, meta: { version: 'W/"1"' } });
    const g = await scim('GET', `${gws.hs.api}/Groups/${aGroup.id}`, a);
    expect(g.body.meta.version).toBe('W/"1"');
    expect(g.body.members.map((m: { value: string }) => m.value)).toEqual([aUser.id]);
  });

  test('case names are unique (each runs once per mount)', () => {
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });
});
