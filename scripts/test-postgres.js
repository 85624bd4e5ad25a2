#!/usr/bin/env node
// Second pass of `npm test`: the integration tests again on PostgreSQL (TEST_DATABASE=postgres), when a server
// answers at TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres); otherwise says it skipped.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');

const url = process.env.TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const shown = url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

function listTests(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listTests(p) : e.name.endsWith('.test.ts') ? [p] : [];
  });
}

(async () => {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (e) {
    process.stdout.write(`PostgreSQL pass skipped: no server answers at ${shown} (${e.code || e.message})\n`);
    return;
  } finally {
    await c.end().catch(() => undefined);
  }
  // Test files that read the SQLite handle (gw.store.db) without marking those tests sqliteOnly
  // (test/helpers/postgres.ts) cannot pass on PostgreSQL; they are left out of this pass, by name, until marked.
  const root = path.join(__dirname, '..');
  // Files marked "one pass only" pick their database themselves (SQLite child processes, or both backends in one
  // file): a second run would repeat them unchanged. Each file is read once and left out for the first reason.
  const once = [];
  const unmarked = [];
  for (const f of listTests(path.join(root, 'test', 'integration'))) {
    const text = fs.readFileSync(f, 'utf8');
    if (text.includes('one pass only')) once.push(path.relative(root, f));
    else if (text.includes('store.db') && !text.includes('sqliteOnly')) unmarked.push(path.relative(root, f));
  }
  process.stdout.write(`PostgreSQL pass: integration tests against ${shown}\n`);
  if (unmarked.length) process.stdout.write(`  left out (use gw.store.db without sqliteOnly): ${unmarked.join(', ')}\n`);
  if (once.length) process.stdout.write(`  left out (one pass only): ${once.join(', ')}\n`);
  const ignore = [...unmarked, ...once].flatMap((f) => ['--testPathIgnorePatterns', f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')]);
  const r = spawnSync('npm', ['run', '--silent', 'test:postgres', '--', ...ignore, ...process.argv.slice(2)], { stdio: 'inherit', env: process.env });
  process.exit(r.status ?? 1);
})();
