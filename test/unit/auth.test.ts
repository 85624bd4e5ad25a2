// Auth against real jose, real keys and a real HTTP JWKS endpoint: nothing here is mocked
// except the clock, where the JWKS refetch cooldown would otherwise make the test wait 30 s.
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader, exportJWK, SignJWT, type JWK } from 'jose';
import type { JwtConfig, JwtKeySource } from '../../src/config';
import { AuthError, KeySetUnavailableError } from '../../src/auth/errors';
import { resolveKeySource, secretFilePath } from '../../src/auth/keys';
import { mintToken } from '../../src/auth/mint';
import { parseTtl } from '../../src/auth/ttl';
import { createVerifier, MAX_TOKEN_LENGTH } from '../../src/auth/verify';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const notRevoked = async () => false;
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** Self-signed P-256 test certificate and its key (openssl req -x509 -newkey ec); test-only material. */
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBjDCCATGgAwIBAgIUdeaGMfXSlgUrWGuxNXY+Jje9VyAwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPc2NpbWJyaWRnZS10ZXN0MCAXDTI2MTEyMzEwNDUwOVoYDzIx
MjYxMDMwMTA0NTA5WjAaMRgwFgYDVQQDDA9zY2ltYnJpZGdlLXRlc3QwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAATSGiGtJcZaGbPuZrANJaDhAMJp0FcArKKAc4tl
CRuGyXI3X7HCqesmly/J63j4uWpkg9j8PD1z8Vaz6oslHGU7o1MwUTAdBgNVHQ4E
FgQUd0peneuUcBh5xk212c+jlC530j8wHwYDVR0jBBgwFoAUd0peneuUcBh5xk21
2c+jlC530j8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAhfvK
4p2nYubJOVSVdS5xcbSyJMARytoGdU5Q7TQ82UwCIQD4S4hPHeLQ5JBn6xOfcS+f
i96bHjHRrmYikEY9Up6LJw==
-----END CERTIFICATE-----
`;
const TEST_CERT_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyqqXo3cFExx9fr2I
5XFOCOz965QbDZH+kxx4IfeLwO2hRANCAATSGiGtJcZaGbPuZrANJaDhAMJp0FcA
rKKAc4tlCRuGyXI3X7HCqesmly/J63j4uWpkg9j8PD1z8Vaz6oslHGU7
-----END PRIVATE KEY-----
`;

function config(source: JwtKeySource, extra: Partial<JwtConfig> = {}): JwtConfig {
  return { source, clockToleranceSec: 60, ...extra };
}
const hsConfig = (extra: Partial<JwtConfig> = {}) => config({ kind: 'secret', secret: SECRET, origin: 'env' }, extra);

function hs256(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
}

function pems(type: 'rsa' | 'ec' | 'ed25519') {
  const pair =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('ed25519');
  return {
    privateKey: pair.privateKey,
    publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/** Expect an AuthError with a given code (and optionally our reason tag and exact message). */
async function expectAuthError(p: Promise<unknown>, code: string, reason?: string, message?: string) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AuthError);
  expect((err as AuthError).code).toBe(code);
  if (reason) expect((err as AuthError).reason).toBe(reason);
  if (message) expect((err as AuthError).message).toBe(message);
  return err as AuthError;
}

describe('HS256 verification', () => {
  const verifier = createVerifier(hsConfig(), notRevoked);

  test('a valid token without claims gets the default tenant and scopes', async () => {
    const p = await verifier.verify(await hs256({}));
    expect(p.tenant).toBe('default');
    expect([...p.scopes].sort()).toEqual(['scim:read', 'scim:write']);
    expect(p.subject).toBeUndefined();
    expect(p.jti).toBeUndefined();
  });

  test('tenant, scope, sub and jti claims are mapped', async () => {
    const p = await verifier.verify(await hs256({ tenant: 'acme.example:eu@1', scope: 'scim:read  other', sub: 'entra', jti: 'j1' }));
    expect(p).toEqual({ tenant: 'acme.example:eu@1', scopes: new Set(['scim:read', 'other']), subject: 'entra', jti: 'j1' });
  });

  test('scp as an array or a string is accepted when scope is absent', async () => {
    expect((await verifier.verify(await hs256({ scp: ['scim:read'] }))).scopes).toEqual(new Set(['scim:read']));
    expect((await verifier.verify(await hs256({ scp: 'scim:write' }))).scopes).toEqual(new Set(['scim:write']));
  });

  test("tenant '*' is accepted", async () => {
    expect((await verifier.verify(await hs256({ tenant: '*' }))).tenant).toBe('*');
  });

  test.each([
    ['a number', 42],
    ['empty', ''],
    ['with a space', 'a b'],
    ['with a slash', 'a/b'],
    ['too long', 'x'.repeat(129)],
    ['an array', ['acme']],
    ['null', null],
  ])('a tenant claim that is %s is rejected', async (_name, tenant) => {
    await expectAuthError(verifier.verify(await hs256({ tenant })), 'invalid_token', 'claim:tenant');
  });

  test('128-character tenant is accepted', async () => {
    expect((await verifier.verify(await hs256({ tenant: 't'.repeat(128) }))).tenant).toHaveLength(128);
  });

  test.each([
    ['scope', { scope: ['scim:read'] }],
    ['scp', { scp: 7 }],
    ['sub', { sub: 1 }],
    ['jti', { jti: {} }],
  ])('a %s claim of the wrong type is rejected', async (claim, claims) => {
    await expectAuthError(verifier.verify(await hs256(claims)), 'invalid_token', `claim:${claim}`);
  });

  test('a wrong signature is rejected with our own message', async () => {
    const err = await expectAuthError(verifier.verify(await hs256({}, 'another-secret-that-is-32-bytes-long!!')), 'invalid_token', 'signature');
    expect(err.message).toBe('The access token is invalid or expired.');
  });

  test("alg 'none' is rejected", async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ tenant: 'acme' })}.`;
    await expectAuthError(verifier.verify(token), 'invalid_token', 'algorithm');
  });

  test('garbage is rejected', async () => {
    await expectAuthError(verifier.verify('not-a-jwt'), 'invalid_token');
    await expectAuthError(verifier.verify(`${b64({ alg: 'HS256' })}.e30`), 'invalid_token');
  });

  test('expired beyond the 60 s skew is rejected; within it accepted', async () => {
    await expectAuthError(verifier.verify(await hs256({ exp: now() - 120 })), 'invalid_token', 'expired', 'The access token has expired.');
    await expect(verifier.verify(await hs256({ exp: now() - 30 }))).resolves.toBeDefined();
  });

  test('a token without exp is accepted (long-lived provisioning tokens)', async () => {
    await expect(verifier.verify(await hs256({ iat: now() - 400 * 86400 }))).resolves.toBeDefined();
  });

  test('nbf in the future is rejected; within skew accepted', async () => {
    await expectAuthError(verifier.verify(await hs256({ nbf: now() + 300 })), 'invalid_token', 'claim:nbf', 'The access token is not valid yet.');
    await expect(verifier.verify(await hs256({ nbf: now() + 30 }))).resolves.toBeDefined();
  });

  test('issuer and audience are enforced when configured', async () => {
    const strict = createVerifier(hsConfig({ issuer: 'https://idp.example', audience: 'scimbridge' }), notRevoked);
    await expect(strict.verify(await hs256({ iss: 'https://idp.example', aud: 'scimbridge' }))).resolves.toBeDefined();
    await expect(strict.verify(await hs256({ iss: 'https://idp.example', aud: ['other', 'scimbridge'] }))).resolves.toBeDefined();
    await expectAuthError(strict.verify(await hs256({ iss: 'https://evil.example', aud: 'scimbridge' })), 'invalid_token', 'claim:iss');
    await expectAuthError(strict.verify(await hs256({ iss: 'https://idp.example', aud: 'other' })), 'invalid_token', 'claim:aud');
    await expectAuthError(strict.verify(await hs256({})), 'invalid_token', 'claim:iss');
  });

  test('a revoked jti is rejected as revoked; the check runs only for authentic tokens', async () => {
    const seen: string[] = [];
    const v = createVerifier(hsConfig(), async (jti) => (seen.push(jti), jti === 'gone'));
    const err = await expectAuthError(v.verify(await hs256({ jti: 'gone' })), 'revoked');
    expect(err.bearerError).toBe('invalid_token');
    await expect(v.verify(await hs256({ jti: 'kept' }))).resolves.toMatchObject({ jti: 'kept' });
    await expectAuthError(v.verify(await hs256({ jti: 'forged' }, 'another-secret-that-is-32-bytes-long!!')), 'invalid_token');
    expect(seen).toEqual(['gone', 'kept']);
  });

  test('a revocation store failure propagates as itself, not as an auth failure', async () => {
    const v = createVerifier(hsConfig(), async () => { throw new Error('db down'); });
    await expect(v.verify(await hs256({ jti: 'x' }))).rejects.toThrow('db down');
  });

  test('tokens over 8 KB are rejected before parsing', async () => {
    const big = await hs256({ pad: 'x'.repeat(MAX_TOKEN_LENGTH) });
    await expectAuthError(verifier.verify(big), 'invalid_token', 'oversized');
  });

  test('error messages never carry claim values', async () => {
    const strict = createVerifier(hsConfig({ issuer: 'good' }), notRevoked);
    const err = await expectAuthError(strict.verify(await hs256({ iss: 'SENTINEL-ISSUER' })), 'invalid_token');
    expect(JSON.stringify({ ...err, message: err.message })).not.toContain('SENTINEL');
  });
});

describe('public key verification', () => {
  test.each([
    ['RS256', 'rsa'],
    ['PS256', 'rsa'],
    ['ES256', 'ec'],
    ['EdDSA', 'ed25519'],
  ] as const)('%s via PEM', async (alg, type) => {
    const k = pems(type);
    const v = createVerifier(config({ kind: 'publicKey', pem: k.publicPem }), notRevoked);
    const token = await new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg }).sign(k.privateKey);
    expect((await v.verify(token)).tenant).toBe('acme');
    // A token signed by some other key of the same type fails.
    const other = await new SignJWT({}).setProtectedHeader({ alg }).sign(pems(type).privateKey);
    await expectAuthError(v.verify(other), 'invalid_token', 'signature');
  });

  test('an EC P-256 key does not accept ES384 (algorithm pinned to the curve)', async () => {
    const k = pems('ec');
    const v = createVerifier(config({ kind: 'publicKey', pem: k.publicPem }), notRevoked);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES384' }).sign(p384.privateKey);
    await expectAuthError(v.verify(token), 'invalid_token', 'algorithm');
  });

  test('HS256 tokens are rejected, including one signed with the PEM text as the HMAC secret', async () => {
    const k = pems('rsa');
    const v = createVerifier(config({ kind: 'publicKey', pem: k.publicPem }), notRevoked);
    const signingInput = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ tenant: '*' })}`;
    const forged = `${signingInput}.${createHmac('sha256', k.publicPem).update(signingInput).digest('base64url')}`;
    await expectAuthError(v.verify(forged), 'invalid_token', 'algorithm');
    await expectAuthError(v.verify(await hs256({})), 'invalid_token', 'algorithm');
    await expectAuthError(v.verify(`${b64({ alg: 'none' })}.${b64({})}.`), 'invalid_token', 'algorithm');
  });

  test('an X.509 certificate is accepted as the public key', async () => {
    const jwt = config({ kind: 'publicKey', pem: TEST_CERT }, { privateKeyPem: TEST_CERT_KEY });
    const minted = await mintToken(jwt, { tenant: 'acme' });
    expect(decodeProtectedHeader(minted.token).alg).toBe('ES256');
    expect((await createVerifier(jwt, notRevoked).verify(minted.token)).tenant).toBe('acme');
  });

  test('an unsupported key type fails at construction, not per request', () => {
    const dh = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => createVerifier(config({ kind: 'publicKey', pem: dh }), notRevoked)).toThrow(/unsupported JWT key type/);
  });

  test("source 'none' must be resolved first", () => {
    expect(() => createVerifier(config({ kind: 'none' }), notRevoked)).toThrow(/resolveKeySource/);
  });
});

describe('JWKS verification against a local HTTP server', () => {
  let server: http.Server;
  let url: string;
  let keys: JWK[] = [];
  let status = 200;
  let fetches = 0;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => jest.restoreAllMocks());

  async function jwk(key: KeyObject, kid: string): Promise<JWK> {
    return { ...(await exportJWK(key)), kid, use: 'sig' };
  }
  const sign = (key: KeyObject, alg: string, kid: string, claims = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid }).sign(key);

  test('verifies, picks up a rotated key after the cooldown, and never tries HS256', async () => {
    const a = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const b = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keys = [await jwk(a.publicKey, 'a')];
    fetches = 0;
    const v = createVerifier(config({ kind: 'jwks', url }), notRevoked);

    expect((await v.verify(await sign(a.privateKey, 'RS256', 'a', { tenant: 'acme' }))).tenant).toBe('acme');
    expect((await v.verify(await sign(a.privateKey, 'PS384', 'a'))).tenant).toBe('default');
    expect(fetches).toBe(1); // cached

    // HS256 / none are refused before any key lookup, so they cannot force refetches.
    await expectAuthError(v.verify(await hs256({})), 'invalid_token', 'algorithm');
    await expectAuthError(v.verify(`${b64({ alg: 'none' })}.${b64({})}.`), 'invalid_token', 'algorithm');
    expect(fetches).toBe(1);

    // The IdP rotates in key b. Right after a fetch, the 30 s cooldown stops a refetch...
    keys = [await jwk(a.publicKey, 'a'), await jwk(b.publicKey, 'b')];
    const tokenB = await sign(b.privateKey, 'ES256', 'b', { tenant: 'rotated' });
    await expectAuthError(v.verify(tokenB), 'invalid_token', 'unknown_key');
    expect(fetches).toBe(1);

    // ...once it has passed, the unknown kid triggers one refetch and the token is accepted.
    const realNow = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => realNow + 31_000);
    expect((await v.verify(tokenB)).tenant).toBe('rotated');
    expect(fetches).toBe(2);
    expect((await v.verify(await sign(a.privateKey, 'RS256', 'a'))).tenant).toBe('default');
    expect(fetches).toBe(2);
  });

  test('a token signed by a key not in the set is rejected', async () => {
    const a = generateKeyPairSync('ed25519');
    keys = [await jwk(a.publicKey, 'a')];
    const v = createVerifier(config({ kind: 'jwks', url }), notRevoked);
    const stranger = generateKeyPairSync('ed25519');
    await expectAuthError(v.verify(await sign(stranger.privateKey, 'EdDSA', 'a')), 'invalid_token', 'signature');
    expect((await v.verify(await sign(a.privateKey, 'EdDSA', 'a'))).tenant).toBe('default');
  });

  test('an unreachable or failing key set is KeySetUnavailableError, not invalid_token', async () => {
    const a = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keys = [await jwk(a.publicKey, 'a')];
    status = 500;
    try {
      const v = createVerifier(config({ kind: 'jwks', url }), notRevoked);
      await expect(v.verify(await sign(a.privateKey, 'ES256', 'a'))).rejects.toBeInstanceOf(KeySetUnavailableError);
    } finally {
      status = 200;
    }
  });
});

describe('mintToken', () => {
  test('HS256 round trip with ttl, issuer and audience', async () => {
    const jwt = hsConfig({ issuer: 'scimbridge', audience: 'scim' });
    const minted = await mintToken(jwt, { tenant: 'acme', scope: 'scim:read', ttlSeconds: 3600 });
    expect(decodeProtectedHeader(minted.token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(minted.expiresAt!.getTime() / 1000).toBeCloseTo(now() + 3600, -1);
    const p = await createVerifier(jwt, notRevoked).verify(minted.token);
    expect(p).toEqual({ tenant: 'acme', scopes: new Set(['scim:read']), subject: 'scimbridge-cli', jti: minted.jti });
  });

  test('without ttl there is no exp, and scopes default to the full set', async () => {
    const minted = await mintToken(hsConfig(), { tenant: 'default', subject: 'ops' });
    expect(minted.expiresAt).toBeUndefined();
    const payload = JSON.parse(Buffer.from(minted.token.split('.')[1], 'base64url').toString());
    expect(payload.exp).toBeUndefined();
    expect(payload).toMatchObject({ tenant: 'default', scope: 'scim:read scim:write', sub: 'ops' });
    expect(typeof payload.iat).toBe('number');
  });

  test.each([
    ['RS256', 'rsa'],
    ['ES256', 'ec'],
    ['EdDSA', 'ed25519'],
  ] as const)('%s round trip with a private key', async (alg, type) => {
    const k = pems(type);
    const jwt = config({ kind: 'publicKey', pem: k.publicPem }, { privateKeyPem: k.privatePem });
    const minted = await mintToken(jwt, { tenant: 'acme', ttlSeconds: 60 });
    expect(decodeProtectedHeader(minted.token).alg).toBe(alg);
    expect((await createVerifier(jwt, notRevoked).verify(minted.token)).jti).toBe(minted.jti);
  });

  test('refuses clearly without a usable key', async () => {
    const k = pems('ec');
    await expect(mintToken(config({ kind: 'publicKey', pem: k.publicPem }), { tenant: 'a' })).rejects.toThrow(/JWT_PRIVATE_KEY_FILE/);
    await expect(mintToken(config({ kind: 'jwks', url: 'https://idp.example/jwks' }), { tenant: 'a' })).rejects.toThrow(/JWT_PRIVATE_KEY_FILE/);
    await expect(mintToken(config({ kind: 'publicKey', pem: k.publicPem }, { privateKeyPem: pems('ec').privatePem }), { tenant: 'a' }))
      .rejects.toThrow(/does not match/);
    await expect(mintToken(config({ kind: 'none' }), { tenant: 'a' })).rejects.toThrow(/resolveKeySource/);
  });

  test('validates tenant, scope and ttl', async () => {
    await expect(mintToken(hsConfig(), { tenant: 'a b' })).rejects.toThrow(/invalid tenant/);
    await expect(mintToken(hsConfig(), { tenant: 'a', scope: 'bad"scope' })).rejects.toThrow(/invalid scope/);
    await expect(mintToken(hsConfig(), { tenant: 'a', ttlSeconds: 0 })).rejects.toThrow(/ttlSeconds/);
    await expect(mintToken(hsConfig(), { tenant: 'a', ttlSeconds: 1.5 })).rejects.toThrow(/ttlSeconds/);
  });
});

describe('parseTtl', () => {
  test.each([
    ['365d', 365 * 86400],
    ['12h', 43200],
    ['30m', 1800],
    ['45s', 45],
    ['3600', 3600],
    [' 2D ', 172800],
  ])('%s → %d', (input, seconds) => expect(parseTtl(input)).toBe(seconds));

  test.each(['never', 'NEVER', '0', '0d'])('%s → no expiry', (input) => expect(parseTtl(input)).toBeUndefined());

  test.each(['', 'd', '1.5h', '-1', '10y', '1h30m', 'forever', '36501d'])('rejects %j', (input) => {
    expect(() => parseTtl(input)).toThrow(/invalid TTL/);
  });
});

describe('resolveKeySource', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-auth-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function capture() {
    const lines: Array<[object, string]> = [];
    return { lines, logger: { info: (obj: object, msg: string) => void lines.push([obj, msg]) } };
  }

  test('generates a 0600 secret file beside the database once, then reuses it', async () => {
    const db = path.join(dir, 'data', 'scimbridge.db'); // data/ does not exist yet
    const first = capture();
    const a = await resolveKeySource(config({ kind: 'none' }), { sqliteFile: db, logger: first.logger });
    expect(a.source.kind).toBe('secret');
    const secret = a.source.kind === 'secret' ? a.source.secret : '';
    expect(a.source).toEqual({ kind: 'secret', secret, origin: 'generated' });
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);

    const file = secretFilePath(db);
    expect(file).toBe(path.join(dir, 'data', 'jwt-secret'));
    expect(readFileSync(file, 'utf8')).toBe(secret);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);

    expect(first.lines).toHaveLength(1);
    expect(first.lines[0][1]).toContain('npx scimbridge token create --tenant default');
    expect(JSON.stringify(first.lines)).not.toContain(secret);

    const second = capture();
    const b = await resolveKeySource(config({ kind: 'none' }), { sqliteFile: db, logger: second.logger });
    expect(b.source).toEqual(a.source);
    expect(JSON.stringify(second.lines)).not.toContain(secret);
    expect(second.lines.some(([, msg]) => msg.includes('token create'))).toBe(false);
  });

  test('concurrent starts agree on one secret', async () => {
    const db = path.join(dir, 'x.db');
    const results = await Promise.all([1, 2, 3].map(() => resolveKeySource(config({ kind: 'none' }), { sqliteFile: db })));
    expect(new Set(results.map((r) => JSON.stringify(r.source))).size).toBe(1);
  });

  test('waits for a secret another process is still writing', async () => {
    const db = path.join(dir, 'x.db');
    writeFileSync(secretFilePath(db), '', { mode: 0o600 });
    setTimeout(() => writeFileSync(secretFilePath(db), 'w'.repeat(43)), 100);
    const r = await resolveKeySource(config({ kind: 'none' }), { sqliteFile: db });
    expect(r.source).toEqual({ kind: 'secret', secret: 'w'.repeat(43), origin: 'generated' });
  });

  test('an unusable secret file is an error, not silently replaced', async () => {
    const db = path.join(dir, 'x.db');
    writeFileSync(secretFilePath(db), 'short', { mode: 0o600 });
    await expect(resolveKeySource(config({ kind: 'none' }), { sqliteFile: db })).rejects.toThrow(/does not hold a usable JWT secret/);
  });

  test('in-memory databases get an in-memory secret and no file', async () => {
    const a = await resolveKeySource(config({ kind: 'none' }), { sqliteFile: ':memory:' });
    const b = await resolveKeySource(config({ kind: 'none' }), {});
    expect(a.source.kind).toBe('secret');
    expect(b.source.kind).toBe('secret');
    expect(a.source).not.toEqual(b.source);
  });

  test('a configured source is returned unchanged', async () => {
    const jwt = hsConfig();
    expect(await resolveKeySource(jwt, { sqliteFile: path.join(dir, 'x.db') })).toBe(jwt);
  });

  test('a generated secret verifies tokens minted with it', async () => {
    const jwt = await resolveKeySource(config({ kind: 'none' }), { sqliteFile: path.join(dir, 'x.db') });
    const minted = await mintToken(jwt, { tenant: 'default' });
    expect((await createVerifier(jwt, notRevoked).verify(minted.token)).tenant).toBe('default');
  });
});
