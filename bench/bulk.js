#!/usr/bin/env node
// Bulk benchmark (issue 13): one POST /Bulk carrying 1,000 user POSTs against the same 1,000 users created by
// single POST /Users requests over HTTP, in the same run on the same gateway: one at a time, and 16 at a time (the
// faster of the two is the baseline). Each figure is the median of three rounds after a warm-up, on SQLite
// (synchronous=NORMAL) and, when a server answers, PostgreSQL. Uses the built code (dist/).
'use strict';
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { QUICK, SECRET, startGateway, stats, timed, fmt, runAlone } = require('./lib');

const DIST = path.join(__dirname, '..', 'dist', 'src');
const OPS = 1000;
const ROUNDS = QUICK ? 1 : 3;
const CONCURRENCY = 16;
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

function userBody(name) {
  return { schemas: [USER], userName: `${name}@bulk.example`, displayName: name, active: true,
    emails: [{ value: `${name}@bulk.example`, type: 'work', primary: true }] };
}

async function post(url, token, body) {
  const res = await fetch(url, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' }, body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`POST ${url} → ${res.status} ${text.slice(0, 200)}`);
  return text;
}

async function singles(base, token, names, concurrency) {
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++];
      await post(`${base}/Users`, token, userBody(name));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function bulk(base, token, names) {
  const text = await post(`${base}/Bulk`, token, {
    schemas: [BULK_REQUEST],
    Operations: names.map((name, i) => ({ method: 'POST', path: '/Users', bulkId: `u${i}`, data: userBody(name) })),
  });
  const answers = JSON.parse(text).Operations;
  const created = answers.filter((o) => o.status === '201').length;
  if (created !== names.length) throw new Error(`Bulk created ${created} of ${names.length}: ${JSON.stringify(answers.find((o) => o.status !== '201'))}`);
}

async function measureOn(label, env, afterWarmUp = async () => undefined) {
  const gw = await startGateway(env);
  try {
    const { mintToken } = require(path.join(DIST, 'auth/mint'));
    const token = (await mintToken({ source: { kind: 'secret', secret: SECRET, origin: 'env' }, clockToleranceSec: 60 },
      { tenant: 'bulk', ttlSeconds: 3600 })).token;
    const base = `${gw.url}/api/scim/v2`;
    let batch = 0;
    const names = () => { batch++; return Array.from({ length: OPS }, (_, i) => `b${batch}-${i}`); };
    // Warm-up of every path measured.
    await singles(base, token, names(), CONCURRENCY);
    await bulk(base, token, names());
    await afterWarmUp();
    const sequential = [];
    const concurrent = [];
    const bulks = [];
    for (let r = 0; r < ROUNDS; r++) {
      sequential.push((await timed(() => singles(base, token, names(), 1))).ms);
      concurrent.push((await timed(() => singles(base, token, names(), CONCURRENCY))).ms);
      bulks.push((await timed(() => bulk(base, token, names()))).ms);
    }
    const seq = stats(sequential).median;
    const conc = stats(concurrent).median;
    const b = stats(bulks).median;
    return { label, sequentialMs: seq, concurrentMs: conc, bulkMs: b, ratio: b / Math.min(seq, conc), all: { sequential, concurrent, bulks } };
  } finally {
    await gw.stop();
  }
}

async function main() {
  const results = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-bench-bulk-'));
  try {
    results.push(await measureOn('SQLite (NORMAL)', { DATABASE_URL: `sqlite:${path.join(dir, 'bulk.db')}`, SQLITE_SYNCHRONOUS: 'NORMAL' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pg = require('./postgres');
  if (await pg.reachable()) {
    const name = `scimbridge_bench_bulk_${randomBytes(4).toString('hex')}`;
    await pg.admin(`CREATE DATABASE ${name}`);
    try {
      // The warm-up fills tables created empty a moment ago. Statistics are what autovacuum would gather by now; this
      // machine's server runs with autovacuum off, and without them the plans PostgreSQL caches for the foreign-key
      // checks of user_emails (made when users was empty) scan all of a tenant's users for each email.
      const analyze = () => pg.query(pg.databaseUrl(name), 'ANALYZE');
      results.push(await measureOn('PostgreSQL (1 replica)', { DATABASE_URL: pg.databaseUrl(name), WORKER_IN_PROCESS: 'false' }, analyze));
    } finally {
      await pg.admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    }
  }
  return { results, markdown: markdown(results) };
}

function markdown(results) {
  const rows = results.map((r) => `| ${r.label} | ${fmt(r.sequentialMs, 0)} | ${fmt(r.concurrentMs, 0)} | ${fmt(r.bulkMs, 0)} | ${fmt(r.ratio)} | ≤ 0.2 |`);
  return [
    `Bulk: ${OPS} user POSTs in one \`POST /Bulk\` against ${OPS} single \`POST /Users\` over HTTP (median of ${ROUNDS}, JWT verified on every request, every operation committed with its outbox row and audit record).`,
    '',
    `| backend | ${OPS} single POSTs, 1 at a time, ms | ${OPS} single POSTs, ${CONCURRENCY} at a time, ms | one Bulk of ${OPS}, ms | ratio (Bulk / faster singles) | goal |`,
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

module.exports = { main };

runAlone(module, main);
