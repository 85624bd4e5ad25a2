// The HTTP contract of auth: RFC 6750 challenges, SCIM Error bodies, and no token echo.
import express from 'express';
import { SignJWT } from 'jose';
import request from 'supertest';
import type { JwtConfig } from '../../src/config';
import { KeySetUnavailableError } from '../../src/auth/errors';
import { authenticate, principalOf, requireMethodScope, requireScope, scopeForMethod } from '../../src/auth/middleware';
import { mintToken } from '../../src/auth/mint';
import { createVerifier, type TokenVerifier } from '../../src/auth/verify';

const jwt: JwtConfig = { source: { kind: 'secret', secret: 'middleware-test-secret-of-32-bytes-or-more', origin: 'env' }, clockToleranceSec: 60 };
const REVOKED = new Set<string>();
const verifier = createVerifier(jwt, async (jti) => REVOKED.has(jti));

function appWith(v: TokenVerifier = verifier) {
  const app = express();
  app.use(authenticate(v));
  app.get('/Users', requireScope('scim:read'), (_req, res) => {
    res.json({ tenant: principalOf(res).tenant });
  });
  app.use('/Groups', requireMethodScope(), (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}
const app = appWith();

const token = async (scope?: string) => (await mintToken(jwt, { tenant: 'acme', scope })).token;

function expectScimError(res: request.Response, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/scim\+json/);
  expect(res.body).toEqual({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: String(status), detail: expect.any(String) });
}

describe('authenticate', () => {
  test('a valid token reaches the handler with its principal', async () => {
    const res = await request(app).get('/Users').set('Authorization', `Bearer ${await token()}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ tenant: 'acme' });
  });

  test('the scheme is case-insensitive', async () => {
    const res = await request(app).get('/Users').set('Authorization', `bEaReR ${await token()}`);
    expect(res.status).toBe(200);
  });

  test('a missing header is 401 with a bare challenge (RFC 6750 §3.1)', async () => {
    const res = await request(app).get('/Users');
    expectScimError(res, 401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="scimbridge"');
  });

  test('another scheme is treated as no credentials', async () => {
    const res = await request(app).get('/Users').set('Authorization', 'Basic dXNlcjpwYXNz');
    expectScimError(res, 401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="scimbridge"');
  });

  test.each(['Bearer', 'Bearer ', 'Bearer two parts', 'Bearer bad"char'])('malformed %j is 401 invalid_token', async (header) => {
    const res = await request(app).get('/Users').set('Authorization', header);
    expectScimError(res, 401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="scimbridge", error="invalid_token"');
  });

  test('a forged token is 401 invalid_token and is never echoed', async () => {
    const forged = await new SignJWT({ tenant: 'SENTINEL-TENANT' }).setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('not-the-gateway-secret-but-long-enough'));
    const res = await request(app).get('/Users').set('Authorization', `Bearer ${forged}`);
    expectScimError(res, 401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="scimbridge", error="invalid_token"');
    for (const part of forged.split('.')) expect(res.text).not.toContain(part);
    expect(res.text).not.toContain('SENTINEL');
    expect(JSON.stringify(res.headers)).not.toContain(forged);
  });

  test('a revoked token is reported as invalid_token', async () => {
    const minted = await mintToken(jwt, { tenant: 'acme' });
    REVOKED.add(minted.jti);
    const res = await request(app).get('/Users').set('Authorization', `Bearer ${minted.token}`);
    expectScimError(res, 401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="scimbridge", error="invalid_token"');
    expect(res.text).not.toContain(minted.token);
  });

  test('an unavailable key set is 503, not 401', async () => {
    const down: TokenVerifier = { verify: async () => { throw new KeySetUnavailableError(); } };
    const res = await request(appWith(down)).get('/Users').set('Authorization', `Bearer ${await token()}`);
    expectScimError(res, 503);
    expect(res.headers['www-authenticate']).toBeUndefined();
  });

  test('other failures go to the error handler', async () => {
    const broken: TokenVerifier = { verify: async () => { throw new Error('store down'); } };
    const res = await request(appWith(broken)).get('/Users').set('Authorization', `Bearer ${await token()}`);
    expect(res.status).toBe(500);
  });
});

describe('scopes', () => {
  test('a token without the needed scope is 403 insufficient_scope', async () => {
    const t = await token('scim:write');
    const res = await request(app).get('/Users').set('Authorization', `Bearer ${t}`);
    expectScimError(res, 403);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="scimbridge", error="insufficient_scope", scope="scim:read"');
    expect(res.text).not.toContain(t);
  });

  test('requireMethodScope: reads need scim:read, writes scim:write', async () => {
    const reader = await token('scim:read');
    expect((await request(app).get('/Groups').set('Authorization', `Bearer ${reader}`)).status).toBe(200);
    const res = await request(app).patch('/Groups/1').set('Authorization', `Bearer ${reader}`).send({});
    expectScimError(res, 403);
    expect(res.headers['www-authenticate']).toContain('scope="scim:write"');
    expect((await request(app).delete('/Groups/1').set('Authorization', `Bearer ${await token('scim:write')}`)).status).toBe(200);
  });

  test('requireScope without authenticate answers 401 rather than letting the request through', async () => {
    const bare = express().get('/x', requireScope('scim:read'), (_req, res) => { res.send('leak'); });
    const res = await request(bare).get('/x');
    expectScimError(res, 401);
  });

  test.each([
    ['GET', 'scim:read'],
    ['head', 'scim:read'],
    ['POST', 'scim:write'],
    ['PUT', 'scim:write'],
    ['PATCH', 'scim:write'],
    ['DELETE', 'scim:write'],
  ])('scopeForMethod(%s) = %s', (method, scope) => expect(scopeForMethod(method)).toBe(scope));
});
