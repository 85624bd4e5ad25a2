// The built CLI and server as child processes: token create/revoke, migrate, configuration errors, the generated
// secret, restart durability, and `npm start` (node dist/src/main.js).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cli, cleanEnv, ensureBuilt, http, jwtPayload, MAIN_JS, mintWithCli, ROOT, run, startServer, type ServerProcess,
} from '../helpers/process';

const SECRET = 'cli-test-secret-0123456789-abcdefghijklmnopqrstuvwxyz';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const dirs: string[] = [];
const servers: ServerProcess[] = [];

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-cli-'));
  dirs.push(dir);
  return dir;
}

async function serve(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServer(env);
  servers.push(server);
  return server;
}

function env(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, JWT_SECRET: SECRET, ...extra };
}

beforeAll(() => { ensureBuilt(); }, 180_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('token create', () => {
  test('prints one JWT on stdout: tenant, scope, exp = now + ttl, jti', async () => {
    const dir = tempDir();
    const before = Math.floor(Date.now() / 1000);
    const r = await cli(['token', 'create', '--tenant', 'acme', '--scope', 'scim:read', '--ttl', '1h'], env(dir));
    const after = Math.floor(Date.now() / 1000);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(JWT_RE);
    const payload = jwtPayload(lines[0]);
    expect(payload).toMatchObject({ tenant: 'acme', scope: 'scim:read' });
    expect(payload.jti).toEqual(expect.stringMatching(UUID_RE));
    expect(payload.exp).toBeGreaterThanOrEqual(before + 3600);
    expect(payload.exp).toBeLessThanOrEqual(after + 3600);
    // The token itself goes to stdout only; stderr names the jti for a later revoke.
    expect(r.stderr).toContain(String(payload.jti));
    expect(r.stderr).not.toContain(lines[0]);
  });

  test('the token works against a started server, and token revoke <jti> makes it 401', async () => {
    const dir = tempDir();
    const server = await serve(env(dir));
    const token = await mintWithCli(env(dir), 'acme', ['--scope', 'scim:read', '--ttl', '1h']);
    const other = await mintWithCli(env(dir), 'acme', ['--scope', 'scim:read', '--ttl', '1h']);
    const users = `${server.url}/api/scim/v2/Users`;

    const ok = await http('GET', users, token);
    expect(ok.status).toBe(200);
    expect(ok.body.totalResults).toBe(0);
    // scim:read alone does not allow writes.
    expect((await http('POST', users, token, { schemas: [USER_SCHEMA], userName: 'nope' })).status).toBe(403);

    const jti = String(jwtPayload(token).jti);
    const revoked = await cli(['token', 'revoke', jti], env(dir));
    expect(revoked.code).toBe(0);
    expect(revoked.stdout.trim()).toBe(`revoked ${jti}`);

    const refused = await http('GET', users, token);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate') ?? '').toMatch(/^Bearer\b.*invalid_token/);
    // Revocation is per token: another token of the same tenant keeps working.
    expect((await http('GET', users, other)).status).toBe(200);
  });
});

describe('migrate', () => {
  test('applies the migrations on a new database, then reports it up to date', async () => {
    const dir = tempDir();
    const versions = readdirSync(path.join(ROOT, 'migrations/sqlite'))
      .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort().map((f) => f.replace(/\.sql$/, ''));
    expect(versions.length).toBeGreaterThan(0);

    const first = await cli(['migrate'], env(dir));
    expect(first.code).toBe(0);
    expect(first.stdout).toBe(`applied ${versions.join(', ')}\n`);
    expect(existsSync(path.join(dir, 'db.sqlite'))).toBe(true);

    const second = await cli(['migrate'], env(dir));
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('database is up to date\n');
  });
});

describe('invalid configuration', () => {
  // Each case: the variables to set on top of a valid configuration, and the variable the message must name.
  const cases: { name: string; set: Record<string, string | undefined>; variable: string; mentions?: string[] }[] = [
    { name: 'DATABASE_URL=mysql://x', set: { DATABASE_URL: 'mysql://x' }, variable: 'DATABASE_URL' },
    { name: 'PORT=abc', set: { PORT: 'abc' }, variable: 'PORT' },
    {
      name: 'JWT_SECRET and JWT_JWKS_URL both set', set: { JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json' },
      variable: 'JWT_JWKS_URL', mentions: ['JWT_SECRET'],
    },
    {
      name: 'JWT_PUBLIC_KEY_FILE=/nonexistent', set: { JWT_SECRET: undefined, JWT_PUBLIC_KEY_FILE: '/nonexistent' },
      variable: 'JWT_PUBLIC_KEY_FILE', mentions: ['/nonexistent'],
    },
    { name: 'JWT_JWKS_URL=not-a-url', set: { JWT_SECRET: undefined, JWT_JWKS_URL: 'not-a-url' }, variable: 'JWT_JWKS_URL' },
  ];
  const commands: { name: string; args: string[] }[] = [
    { name: 'server (node dist/src/main.js)', args: [MAIN_JS] },
    { name: 'cli migrate', args: [path.join(ROOT, 'dist/src/cli.js'), 'migrate'] },
  ];

  describe.each(commands)('$name', ({ args }) => {
    test.each(cases)('$name: exits non-zero with one stderr line naming the variable', async ({ set, variable, mentions }) => {
      const dir = tempDir();
      // PORT=0 and 127.0.0.1: if the configuration were wrongly accepted, the server would not take a real port.
      const r = await run(process.execPath, args, {
        env: cleanEnv({ ...env(dir), HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...set }), timeoutMs: 15_000,
      });
      expect(r.signal).toBeNull(); // it exited by itself rather than running until killed
      expect(r.code).not.toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`\\b${variable}\\b`));
      for (const m of mentions ?? []) expect(lines[0]).toContain(m);
      expect(r.stdout).toBe('');
    });
  });
});

describe('no JWT key configured', () => {
  test('the first start generates <dbdir>/jwt-secret (0600) and says how to mint; a restart reuses it', async () => {
    const dir = tempDir();
    const noKey = { DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, LOG_LEVEL: 'info' };
    const secretFile = path.join(dir, 'jwt-secret');
    expect(existsSync(secretFile)).toBe(false);

    const first = await serve(noKey);
    expect(existsSync(secretFile)).toBe(true);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const secret = readFileSync(secretFile, 'utf8').trim();
    expect(Buffer.byteLength(secret)).toBeGreaterThanOrEqual(32);
    const firstLogs = `${first.stdout()}${first.stderr()}`;
    expect(firstLogs).toContain(secretFile);
    expect(firstLogs).toMatch(/token create --tenant/);
    expect(firstLogs).not.toContain(secret);

    // The CLI, with the same (empty) key configuration, signs with the same file.
    const minted = await cli(['token', 'create', '--tenant', 'acme'], noKey);
    expect(minted.code).toBe(0);
    expect(`${minted.stdout}${minted.stderr}`).not.toContain(secret);
    const token = minted.stdout.trim();
    expect((await http('GET', `${first.url}/api/scim/v2/Users`, token)).status).toBe(200);

    expect(await first.stop()).toEqual({ code: 0, signal: null });
    const second = await serve(noKey);
    expect(readFileSync(secretFile, 'utf8').trim()).toBe(secret);
    const secondLogs = `${second.stdout()}${second.stderr()}`;
    expect(secondLogs).not.toMatch(/generated/);
    expect(secondLogs).not.toContain(secret);
    expect((await http('GET', `${second.url}/api/scim/v2/Users`, token)).status).toBe(200);
  });
});

describe('restart durability', () => {
  test('a user created over HTTP is still there after SIGTERM and a new start on the same DATABASE_URL', async () => {
    const dir = tempDir();
    const first = await serve(env(dir));
    const token = await mintWithCli(env(dir), 'durable');
    const created = await http('POST', `${first.url}/api/scim/v2/Users`, token, {
      schemas: [USER_SCHEMA], userName: 'durable@example.com', active: true, name: { givenName: 'Dur', familyName: 'Able' },
    });
    expect(created.status).toBe(201);
    expect(await first.stop()).toEqual({ code: 0, signal: null });

    const second = await serve(env(dir));
    const read = await http('GET', `${second.url}/api/scim/v2/Users/${created.body.id}`, token);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: created.body.id, userName: 'durable@example.com', name: { givenName: 'Dur', familyName: 'Able' } });
    const listed = await http('GET', `${second.url}/sso/scim/v2/Users?filter=${encodeURIComponent('userName eq "durable@example.com"')}`, token);
    expect(listed.status).toBe(200);
    expect(listed.body.totalResults).toBe(1);
  });
});

describe('npm start', () => {
  test('is node dist/src/main.js, which answers /healthz 200', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.start).toBe('node dist/src/main.js');
    const server = await serve(env(tempDir()));
    const health = await http('GET', `${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
  });
});
