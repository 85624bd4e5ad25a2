#!/usr/bin/env node
// PostgreSQL benchmark: the membership measures of `npm run bench` on PostgreSQL, with one gateway replica and with
// two replicas on one database. (1) add+remove one member, 10 vs BIG members, the groups in turns (ratio of medians
// and of p99s); (2) member-PATCH throughput with autocannon against the bare Express echo, in rounds between echo
// runs (lib.js echoRounds; the median round), and the same at 64 connections spread over 50 groups; (3) with one replica,
// GET of the BIG group (ms, body MB, the replica's RSS before → peak). With two replicas the latency loop alternates
// replicas and autocannon splits its connections over both.
// Needs a PostgreSQL server (BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres); skipped without one.
'use strict';
const { randomBytes } = require('node:crypto');
const path = require('node:path');
const pg = require('pg');
const cpu = require('./cpu');
const {
  DIST, QUICK, CONNECTIONS, SECRET,
  startGateway, startFloor, echoRounds, together, echoesCell, roundsCell, cpuCell, worstP99, failures, ROUNDS, addRemoveLatency, cannon, cannonSpread, memberBodies, fmt,
  timedGet, rssKb, peakRssKb,
} = require('./lib');

const SPREAD_GROUPS = 50;
const SPREAD_CONNECTIONS = 64;

const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BIG = QUICK ? 10_000 : 100_000;
const SMALL = 10;

function databaseUrl(name) {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

/** One statement on a connection of its own to `url`. */
async function query(url, sql) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

function admin(sql) {
  return query(ADMIN_URL, sql);
}

async function reachable() {
  try {
    await admin('SELECT 1');
    return true;
  } catch {
    return false;
  }
}

/** `count` users of tenant 'bench' in one statement (user0@… onwards); their ids in that order. */
async function seedUsers(c, count, stamp) {
  await c.query(
    `INSERT INTO users (tenant, id, user_name, user_name_lc, display_name, display_name_lc, active, resource, version, created, modified)
     SELECT 'bench', gen_random_uuid()::text, 'user' || i || '@bench.example', 'user' || i || '@bench.example', 'User ' || i, 'user ' || i, true,
            jsonb_build_object('userName', 'user' || i || '@bench.example', 'displayName', 'User ' || i, 'active', true), 1, $1, $1
     FROM generate_series(0, $2 - 1) AS i`, [stamp, count]);
  const rows = (await c.query(`SELECT id, user_name FROM users WHERE tenant = 'bench'`)).rows;
  return rows.map((r) => [Number(/^user(\d+)@/.exec(r.user_name)[1]), r.id]).sort((a, b) => a[0] - b[0]).map((r) => r[1]);
}

/** Users, a group of SMALL, a group of BIG and a hot group, written with set-based SQL (seconds, not minutes). */
async function seed(url) {
  const { PostgresStore } = require(path.join(DIST, 'store/postgres'));
  const store = new PostgresStore({ kind: 'postgres', url });
  await store.migrate();
  const stamp = new Date().toISOString();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const ids = await seedUsers(c, BIG + 100, stamp);
    const group = async (name, members) => {
      const g = (await store.createGroup('bench', { displayName: name, resource: { displayName: name } }, [])).group.id;
      await c.query(`INSERT INTO group_members (tenant, group_id, member_id, member_rid, added)
        SELECT 'bench', $1, u.id, u.rid, $3 FROM unnest($2::text[]) AS m(id) JOIN users u ON u.tenant = 'bench' AND u.id = m.id`, [g, members, stamp]);
      return g;
    };
    const spread = [];
    for (let i = 0; i < SPREAD_GROUPS; i++) spread.push(await group(`Spread ${i}`, []));
    const data = { ids, small: await group('Small', ids.slice(0, SMALL)), big: await group('Big', ids.slice(0, BIG)), hot: await group('Hot', []), spread };
    await c.query('DELETE FROM outbox');
    await c.query('VACUUM ANALYZE');
    return data;
  } finally {
    await c.end();
    await store.close();
  }
}

/** `n` servers started one after the other by `start`, handed to `fn`, and stopped whatever fn does. */
async function withServers(n, start, fn) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await start());
    return await fn(servers);
  } finally {
    for (const s of servers) await s.stop();
  }
}

/** The hot group's member PATCHes, CONNECTIONS in all split over `servers`, measured as one run (lib.js together). */
async function hotLoad(servers, hot, token, bodies) {
  const per = Math.max(1, Math.floor(CONNECTIONS / servers.length));
  return together(await Promise.all(servers.map((s) => cannon(`${s.url}/api/scim/v2/Groups/${hot}`, token, bodies, per))));
}

async function measure(replicas, data, token) {
  const bases = replicas.map((r) => `${r.url}/api/scim/v2`);
  const spare = data.ids.slice(BIG, BIG + 100);
  const [small, big] = await addRemoveLatency(bases, token, [data.small, data.big], spare);
  const bodies = memberBodies(data.ids.slice(0, 1000));
  const pids = replicas.map((r) => r.child.pid);
  const throughput = await echoRounds(bodies, () => cpu.measure(pids, () => hotLoad(replicas, data.hot, token, bodies), { postgres: true }));
  const perSpread = Math.max(1, Math.floor(SPREAD_CONNECTIONS / replicas.length));
  const spread = together(await Promise.all(bases.map((b) => cannonSpread(b, token, data.spread, bodies, perSpread))));
  let getBig;
  if (replicas.length === 1) {
    const pid = replicas[0].child.pid;
    const before = rssKb(pid);
    const { ms, bytes } = await timedGet(`${bases[0]}/Groups/${data.big}`, token);
    getBig = { ms, bytes, rssBeforeMb: before / 1024, peakRssMb: peakRssKb(pid) / 1024 };
  }
  return {
    replicas: replicas.length,
    getBig,
    // The spread and group-commit-off figures are single runs, against the mean of all of the rounds' echo runs.
    spread: { ...spread, ratio: spread.rps / throughput.echoMean },
    memberLatency: { small, big, ratioMedian: big.median / small.median, ratioP99: big.p99 / small.p99 },
    throughput,
  };
}

function floorCell(f) {
  const c = f.cpu ? `; ${fmt(f.cpu.server, 3)} · ${fmt(f.cpu.postgres, 3)}` : '';
  return `${fmt(f.rps, 0)} (${fmt(f.ratio)}; ${fmt(f.p99, 0)}${c})${f.non2xx + f.errors ? ` (non-2xx / errors ${f.non2xx} / ${f.errors})` : ''}`;
}

function markdown(results) {
  const [one, two] = results;
  const rows = [
    '| PostgreSQL measure | 1 replica | 2 replicas | goal |',
    '|---|---|---|---|',
    `| add+remove 1 member, median ms (10 / ${BIG} members) | ${fmt(one.memberLatency.small.median)} / ${fmt(one.memberLatency.big.median)} | ${fmt(two.memberLatency.small.median)} / ${fmt(two.memberLatency.big.median)} |  |`,
    `|   ratio of medians (big / small) | ${fmt(one.memberLatency.ratioMedian)} | ${fmt(two.memberLatency.ratioMedian)} | ≤ 1.2 |`,
    `|   p99 ms (10 / ${BIG}) | ${fmt(one.memberLatency.small.p99)} / ${fmt(one.memberLatency.big.p99)} | ${fmt(two.memberLatency.small.p99)} / ${fmt(two.memberLatency.big.p99)} |  |`,
    `|   ratio of p99s | ${fmt(one.memberLatency.ratioP99)} | ${fmt(two.memberLatency.ratioP99)} | ≤ 1.2 |`,
    `| member-PATCH req/s (autocannon, ${CONNECTIONS} conns in all) / bare Express echo, median round | ${fmt(one.throughput.rps, 0)} / ${fmt(one.throughput.echo, 0)} | ${fmt(two.throughput.rps, 0)} / ${fmt(two.throughput.echo, 0)} |  |`,
    `|   echo req/s, each run (echo, gateway, echo, …: a round's baseline is the mean of its two) | ${echoesCell(one.throughput)} | ${echoesCell(two.throughput)} |  |`,
    `|   ratio to echo, median of ${ROUNDS} rounds | ${roundsCell(one.throughput)} | ${roundsCell(two.throughput)} | ≥ 0.5 / ≥ 0.4 |`,
    `|   autocannon p99 ms (worst round) | ${fmt(worstP99(one.throughput), 0)} | ${fmt(worstP99(two.throughput), 0)} |  |`,
    `|   CPU ms per request, median round (bench/cpu.js) | ${cpuCell(one.throughput)} | ${cpuCell(two.throughput)} |  |`,
    `|   same with group commit off (group_commit_batches=0), one run: req/s (ratio; p99 ms) | ${fmt(one.withoutGroupCommit.rps, 0)} (${fmt(one.withoutGroupCommit.ratio)}; ${fmt(one.withoutGroupCommit.p99, 0)}) | ${fmt(two.withoutGroupCommit.rps, 0)} (${fmt(two.withoutGroupCommit.ratio)}; ${fmt(two.withoutGroupCommit.p99, 0)}) |  |`,
    `|   floor: bare Express over the same store (bench/floor-server.js: no token, validation, log, metrics or headers), one run: req/s (ratio; p99 ms; CPU ms per request server · PostgreSQL) | ${floorCell(one.floor)} | ${floorCell(two.floor)} |  |`,
    `|   non-2xx / errors (all rounds) | ${failures(one.throughput)} | ${failures(two.throughput)} | 0 / 0 |`,
    `| member-PATCH req/s, ${SPREAD_CONNECTIONS} conns over ${SPREAD_GROUPS} groups, one run (ratio to the echo runs' mean) | ${fmt(one.spread.rps, 0)} (${fmt(one.spread.ratio)}) | ${fmt(two.spread.rps, 0)} (${fmt(two.spread.ratio)}) |  |`,
    `|   autocannon p99 ms; non-2xx / errors | ${fmt(one.spread.p99, 0)}; ${one.spread.non2xx} / ${one.spread.errors} | ${fmt(two.spread.p99, 0)}; ${two.spread.non2xx} / ${two.spread.errors} | 0 / 0 |`,
    `| GET group of ${BIG} members, ms (body MB) | ${fmt(one.getBig.ms, 1)} (${fmt(one.getBig.bytes / 1e6, 1)}) | | ≤ 300 |`,
    `|   replica RSS before → peak, MB | ${fmt(one.getBig.rssBeforeMb, 0)} → ${fmt(one.getBig.peakRssMb, 0)} | | flat |`,
  ];
  return `${rows.join('\n')}\n`;
}

async function main() {
  if (!(await reachable())) {
    return { skipped: `no PostgreSQL at ${ADMIN_URL.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}`, markdown: '' };
  }
  const name = `scimbridge_bench_${randomBytes(4).toString('hex')}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = databaseUrl(name);
  try {
    process.stderr.write(`PostgreSQL: seeding ${BIG + 100} users…\n`);
    const data = await seed(url);
    const { mintToken } = require(path.join(DIST, 'auth/mint'));
    const token = (await mintToken({ source: { kind: 'secret', secret: SECRET, origin: 'env' }, clockToleranceSec: 60 },
      { tenant: 'bench', ttlSeconds: 3600 })).token;
    const bodies = memberBodies(data.ids.slice(0, 1000));
    const gateway = (dbUrl) => () => startGateway({ DATABASE_URL: dbUrl, WORKER_IN_PROCESS: 'false' });
    const results = [];
    for (const n of [1, 2]) {
      process.stderr.write(`PostgreSQL: measuring ${n} replica(s)…\n`);
      const result = await withServers(n, gateway(url), (replicas) => measure(replicas, data, token));
      // The same hot-group throughput with group commit off (every member change a statement of its own), for A/B.
      const off = await withServers(n, gateway(`${url}?group_commit_batches=0`), (off) => hotLoad(off, data.hot, token, bodies));
      result.withoutGroupCommit = { ...off, ratio: off.rps / result.throughput.echoMean };
      // The floor: bare Express over the same store, as many processes as replicas (floor-server.js says why).
      const floor = await withServers(n, () => startFloor({ DATABASE_URL: url }), (floors) =>
        cpu.measure(floors.map((f) => f.child.pid), () => hotLoad(floors, data.hot, token, bodies), { postgres: true }));
      result.floor = { ...floor, ratio: floor.rps / result.throughput.echoMean };
      results.push(result);
    }
    return { results, markdown: markdown(results) };
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  }
}

module.exports = { main, reachable, admin, query, databaseUrl, seedUsers };

if (require.main === module) {
  main().then((r) => process.stdout.write(r.markdown || `${r.skipped}\n`), (e) => {
    process.stderr.write(`postgres bench failed: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
