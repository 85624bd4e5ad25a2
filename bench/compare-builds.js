#!/usr/bin/env node
// Two builds of the gateway measured side by side, at the same moment, on PostgreSQL: the hot-group member PATCH of
// bench/postgres.js against each build's replica (its own database and hot group, half of the connections each),
// both at once, in rounds. This machine's speed drifts by a third within minutes, more than most code changes move
// a figure; two builds measured one after the other compare the moments more than the code. Run at once, both meet
// the same moments, and the ratios of their rounds (candidate / baseline) hold still to a few per cent (an A/A run
// of one build against itself: 0.97–1.06 per round).
//
//   node bench/compare-builds.js <baseline-root> [<candidate-root>]
//
// A root is a checkout with dist/ built and its node_modules reachable (default candidate: this checkout). To
// compare against an earlier commit:
//   git worktree add /tmp/base <ref> && ln -s "$PWD/node_modules" /tmp/base/node_modules
//   (cd /tmp/base && npx tsc -p tsconfig.build.json) && node bench/compare-builds.js /tmp/base
// BENCH_ROUNDS (default 5) rounds of 10 s after one warm-up round; BENCH_PER_BUILD connections to each build (default
// 8). Needs PostgreSQL (BENCH_PG_URL, as postgres.js).
'use strict';
const { randomBytes } = require('node:crypto');
const path = require('node:path');
const pg = require('pg');
const { processMs } = require('./cpu');
const { CONNECTIONS, SECRET, startGateway, cannon, memberBodies, fmt, stats } = require('./lib');
const { admin, databaseUrl, reachable, seedUsers } = require('./postgres');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Connections per build (BENCH_PER_BUILD; default half of postgres.js's 16, so that the machine carries as many). */
const PER_BUILD = Number(process.env.BENCH_PER_BUILD ?? CONNECTIONS / 2);
const USERS = 1000;

/** A database for one build, migrated and seeded by that build's own store: users and one empty hot group. */
async function prepare(root) {
  const dist = path.join(root, 'dist', 'src');
  const name = `scimbridge_cmp_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = databaseUrl(name);
  const { PostgresStore } = require(path.join(dist, 'store/postgres'));
  const store = new PostgresStore({ kind: 'postgres', url });
  try {
    await store.migrate();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const ids = await seedUsers(c, USERS, new Date().toISOString());
      const hot = (await store.createGroup('bench', { displayName: 'Hot', resource: { displayName: 'Hot' } }, [])).group.id;
      await c.query('VACUUM ANALYZE');
      return { root, dist, name, url, ids, hot };
    } finally {
      await c.end();
    }
  } finally {
    await store.close();
  }
}

/** PIDs of the PostgreSQL backends serving one database now (the replica's pool, once it is warm). */
async function backendPids(name) {
  const { rows } = await admin(`SELECT pid FROM pg_stat_activity WHERE datname = '${name}'`);
  return rows.map((r) => r.pid);
}

/**
 * One round: both replicas loaded at once; per build req/s, p99, failures and CPU ms per request. A pool may replace
 * a connection during a round: its backends are those serving the database at the start or at the end.
 */
async function round(sides, token) {
  const before = await Promise.all(sides.map(async (s) => {
    const pids = await backendPids(s.db.name);
    return { gw: processMs(s.gateway.child.pid), pids, pg: new Map(pids.map((p) => [p, processMs(p)])) };
  }));
  const runs = await Promise.all(sides.map((s) => cannon(`${s.gateway.url}/api/scim/v2/Groups/${s.db.hot}`, token, s.bodies, PER_BUILD)));
  return Promise.all(runs.map(async (r, i) => {
    const pids = new Set([...before[i].pids, ...(await backendPids(sides[i].db.name))]);
    let pg = 0;
    for (const p of pids) pg += processMs(p) - (before[i].pg.get(p) ?? 0);
    return { ...r, gatewayMs: (processMs(sides[i].gateway.child.pid) - before[i].gw) / r.requests, postgresMs: pg / r.requests };
  }));
}

function markdown(rounds, roots) {
  const rows = [
    `Baseline: ${roots[0]} · candidate: ${roots[1]} · ${PER_BUILD} connections each, at once, ${rounds.length} rounds`,
    '',
    '| round | baseline req/s (p99 ms) | candidate req/s (p99 ms) | req/s ratio | gateway CPU ms/req (base / cand) | PostgreSQL CPU ms/req (base / cand) |',
    '|---|---|---|---|---|---|',
  ];
  rounds.forEach(([b, c], i) => {
    rows.push(`| ${i + 1} | ${fmt(b.rps, 0)} (${fmt(b.p99, 0)}) | ${fmt(c.rps, 0)} (${fmt(c.p99, 0)}) | ${fmt(c.rps / b.rps, 3)} | ${fmt(b.gatewayMs, 3)} / ${fmt(c.gatewayMs, 3)} | ${fmt(b.postgresMs, 3)} / ${fmt(c.postgresMs, 3)} |`);
  });
  const ratio = (k) => fmt(stats(rounds.map(([b, c]) => c[k] / b[k])).median, 3);
  const failed = rounds.reduce((t, [b, c]) => t + b.non2xx + b.errors + c.non2xx + c.errors, 0);
  rows.push(`| median of ratios | | | ${ratio('rps')} | ${ratio('gatewayMs')} | ${ratio('postgresMs')} |`);
  rows.push('', `non-2xx / errors, all rounds: ${failed}`);
  return `${rows.join('\n')}\n`;
}

async function main(roots) {
  if (!(await reachable())) return { markdown: 'skipped: no PostgreSQL (BENCH_PG_URL)\n' };
  const dbs = [];
  const sides = [];
  try {
    for (const root of roots) dbs.push(await prepare(root));
    const { mintToken } = require(path.join(dbs[0].dist, 'auth/mint'));
    const token = (await mintToken({ source: { kind: 'secret', secret: SECRET, origin: 'env' }, clockToleranceSec: 60 },
      { tenant: 'bench', ttlSeconds: 3600 })).token;
    for (const db of dbs) {
      const gateway = await startGateway({ DATABASE_URL: db.url, WORKER_IN_PROCESS: 'false' }, db.dist);
      sides.push({ db, gateway, bodies: memberBodies(db.ids) });
    }
    await round(sides, token); // warm-up: the JIT, the pools' connections
    const rounds = [];
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push(await round(sides, token));
      process.stderr.write(`round ${i + 1}/${ROUNDS}\n`);
    }
    return { rounds, markdown: markdown(rounds, roots) };
  } finally {
    for (const s of sides) await s.gateway.stop();
    for (const db of dbs) await admin(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`).catch(() => undefined);
  }
}

if (require.main === module) {
  const [base, candidate = path.join(__dirname, '..')] = process.argv.slice(2);
  if (!base) {
    process.stderr.write('usage: node bench/compare-builds.js <baseline-root> [<candidate-root>]\n');
    process.exit(2);
  }
  main([path.resolve(base), path.resolve(candidate)]).then((r) => process.stdout.write(r.markdown), (e) => {
    process.stderr.write(`compare-builds failed: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
