#!/usr/bin/env node
// Second pass of `npm test`: every integration suite again with the gateway on PostgreSQL (TEST_DATABASE=postgres),
// against the server at TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres). Without a server the pass
// is a visible skip, except under CI=true, where this machine kind always runs PostgreSQL: there it fails.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');

const url = process.env.TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const shown = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
const root = path.join(__dirname, '..');

/**
 * Suites that choose their databases themselves, so a second run would repeat them unchanged. Each says why; the
 * list is checked against the files, so a renamed or removed suite cannot leave a stale name here.
 */
const ONE_PASS = {
  'test/integration/crash-acknowledged.test.ts': 'runs its scenario on SQLite and on PostgreSQL itself',
  'test/integration/egress/linking-crash.test.ts': 'runs its scenarios on SQLite and on PostgreSQL itself',
  'test/integration/postgres.test.ts': 'always runs on PostgreSQL',
  'test/integration/postgres-group-commit.test.ts': 'always runs on PostgreSQL',
  'test/integration/postgres-outage.test.ts': 'always runs on PostgreSQL',
  'test/integration/postgres-revocation.test.ts': 'always runs on PostgreSQL',
  'test/integration/replicas.test.ts': 'always runs on PostgreSQL',
  'test/integration/sqlite-group-commit.test.ts': "SQLite's group commit",
  'test/integration/sqlite-migrations.test.ts': "SQLite's migrations",
};

(async () => {
  const missing = Object.keys(ONE_PASS).filter((f) => !fs.existsSync(path.join(root, f)));
  if (missing.length) {
    process.stderr.write(`scripts/test-postgres.js lists suites that do not exist: ${missing.join(', ')}\n`);
    process.exit(1);
  }
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (e) {
    if (process.env.CI === 'true') {
      process.stderr.write(`PostgreSQL pass FAILED: CI=true and no server answers at ${shown} (${e.code || e.message})\n`);
      process.exit(1);
    }
    process.stdout.write(`PostgreSQL pass skipped: no server answers at ${shown} (${e.code || e.message}); set TEST_PG_URL\n`);
    return;
  } finally {
    await c.end().catch(() => undefined);
  }
  process.stdout.write(`PostgreSQL pass: integration tests against ${shown}\n`);
  for (const [f, why] of Object.entries(ONE_PASS)) process.stdout.write(`  once only (${why}): ${f}\n`);
  const ignore = Object.keys(ONE_PASS).flatMap((f) => ['--testPathIgnorePatterns', f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')]);
  const r = spawnSync('npm', ['run', '--silent', 'test:postgres', '--', ...ignore, ...process.argv.slice(2)], { stdio: 'inherit', env: process.env });
  process.exit(r.status ?? 1);
})();
