#!/usr/bin/env node
// scimbridge benchmark. Runs the built gateway (dist/) as a child process with JWT verification on, seeds a
// database through the store, and measures over real HTTP on loopback. Every goal is a ratio against a baseline
// measured in the same run, or an absolute figure printed beside its goal. Writes bench/results/latest.{md,json}.
//   npm run bench                 # full run (about 2-4 minutes)
//   BENCH_QUICK=1 npm run bench   # smaller sizes, for a smoke check
'use strict';
const { mkdtempSync, mkdirSync, rmSync, writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  DIST, QUICK, CANNON_SECONDS, CONNECTIONS, LAT_ITER, SECRET, PATCH,
  startGateway, echoRounds, echoesCell, roundsCell, cpuCell, worstP99, failures, ROUNDS, peakRssKb, rssKb, stats, timed, timedGet, call, addRemoveLatency, cannon, memberBodies, fmt,
} = require('./lib');
const cpu = require('./cpu');

const BIG = QUICK ? 10_000 : 100_000;
const SMALL = 10;
const BULK_ADD = 10_000;

const { SqliteStore } = require(path.join(DIST, 'store/sqlite'));
const { mintToken } = require(path.join(DIST, 'auth/mint'));

async function seed(dbFile) {
  const store = new SqliteStore({ kind: 'sqlite', file: dbFile, synchronous: 'OFF' });
  await store.migrate();
  const ids = [];
  const t = Date.now();
  for (let i = 0; i < BIG + 100; i++) {
    const u = await store.createUser('bench', {
      userName: `user${i}@bench.example`, active: true, displayName: `User ${i}`,
      emails: [{ value: `user${i}@bench.example`, primary: true }],
      resource: { userName: `user${i}@bench.example`, displayName: `User ${i}`, active: true,
        emails: [{ value: `user${i}@bench.example`, primary: true }] },
    });
    ids.push(u.id);
  }
  const big = (await store.createGroup('bench', { displayName: 'Big', resource: { displayName: 'Big' } }, ids.slice(0, BIG))).group.id;
  const small = (await store.createGroup('bench', { displayName: 'Small', resource: { displayName: 'Small' } }, ids.slice(0, SMALL))).group.id;
  const bulk = [];
  for (let i = 0; i < 8; i++) bulk.push((await store.createGroup('bench', { displayName: `Bulk ${i}`, resource: { displayName: `Bulk ${i}` } }, [])).group.id);
  const hot = (await store.createGroup('bench', { displayName: 'Hot', resource: { displayName: 'Hot' } }, [])).group.id;
  // Seeding writes outbox rows; the benchmark measures request paths, not a backlog.
  store.db.exec('DELETE FROM outbox');
  await store.close();
  return { ids, big, small, bulk, hot, seedSeconds: (Date.now() - t) / 1000 };
}

async function runMode(dbFile, synchronous, data) {
  const gw = await startGateway({ DATABASE_URL: `sqlite:${dbFile}`, SQLITE_SYNCHRONOUS: synchronous });
  const token = (await mintToken({ source: { kind: 'secret', secret: SECRET, origin: 'env' }, clockToleranceSec: 60 },
    { tenant: 'bench', ttlSeconds: 3600 })).token;
  const base = `${gw.url}/api/scim/v2`;
  const spare = data.ids.slice(BIG, BIG + 100);
  const out = { synchronous };

  // 1. add+remove one member: 10 vs BIG members, the two groups taking turns
  const [small, big] = await addRemoveLatency(base, token, [data.small, data.big], spare);
  out.memberLatency = { small, big, ratioMedian: big.median / small.median, ratioP99: big.p99 / small.p99 };

  // 2. throughput vs the bare Express echo of the same bodies, in rounds between echo runs (lib.js echoRounds)
  const bodies = memberBodies(data.ids.slice(0, 1000));
  out.throughput = await echoRounds(bodies, () => cpu.measure([gw.child.pid], () => cannon(`${base}/Groups/${data.hot}`, token, bodies)));

  // 3. one PATCH adding 10,000 members: a warm-up, then three measured adds to empty groups (median)
  const bulkIds = data.ids.slice(0, BULK_ADD);
  const addAll = (groupId) => timed(() => call('PATCH', `${base}/Groups/${groupId}`, token,
    { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: bulkIds.map((value) => ({ value })) }] }));
  const groups = data.bulk.splice(0, 4);
  await addAll(groups[0]);
  const bulkTimes = [];
  for (const g of groups.slice(1)) bulkTimes.push((await addAll(g)).ms);
  out.bulkAdd = { members: BULK_ADD, ms: stats(bulkTimes).median, all: bulkTimes };

  // 4. GET of the big group, and without members
  const before = rssKb(gw.child.pid);
  const getBig = await timedGet(`${base}/Groups/${data.big}`, token);
  const peak = peakRssKb(gw.child.pid);
  const excluded = [];
  for (let i = 0; i < 200; i++) excluded.push((await timed(() => call('GET', `${base}/Groups/${data.big}?excludedAttributes=members`, token))).ms);
  out.getBig = {
    members: BIG, ms: getBig.ms, bytes: getBig.bytes, rssBeforeMb: before / 1024, peakRssMb: peak / 1024,
    excludedMembers: stats(excluded.slice(20)),
  };

  // 5. filter userName eq over BIG users
  const filter = [];
  for (let i = 0; i < 300; i++) {
    const n = Math.floor(Math.random() * BIG);
    filter.push((await timed(() => call('GET', `${base}/Users?filter=${encodeURIComponent(`userName eq "user${n}@bench.example"`)}`, token))).ms);
  }
  out.filterEq = { users: BIG + 100, ...stats(filter.slice(20)) };
  await gw.stop();
  return out;
}

function markdown(r) {
  const rows = [];
  const row = (what, normal, full, goal) => rows.push(`| ${what} | ${normal} | ${full} | ${goal} |`);
  const [n, f] = r.modes;
  row('add+remove 1 member, median ms (10 / ' + BIG + ' members)', `${fmt(n.memberLatency.small.median)} / ${fmt(n.memberLatency.big.median)}`, `${fmt(f.memberLatency.small.median)} / ${fmt(f.memberLatency.big.median)}`, '');
  row('  ratio of medians (big / small)', fmt(n.memberLatency.ratioMedian), fmt(f.memberLatency.ratioMedian), '≤ 1.2');
  row('  p99 ms (10 / ' + BIG + ')', `${fmt(n.memberLatency.small.p99)} / ${fmt(n.memberLatency.big.p99)}`, `${fmt(f.memberLatency.small.p99)} / ${fmt(f.memberLatency.big.p99)}`, '');
  row('  ratio of p99s', fmt(n.memberLatency.ratioP99), fmt(f.memberLatency.ratioP99), '≤ 1.2');
  row(`member-PATCH req/s (autocannon, ${CONNECTIONS} conns) / bare Express echo of the same bodies, median round`, `${fmt(n.throughput.rps, 0)} / ${fmt(n.throughput.echo, 0)}`, `${fmt(f.throughput.rps, 0)} / ${fmt(f.throughput.echo, 0)}`, '');
  row('  echo req/s, each run (echo, gateway, echo, …: a round\'s baseline is the mean of its two)', echoesCell(n.throughput), echoesCell(f.throughput), '');
  row(`  ratio to echo, median of ${ROUNDS} rounds`, roundsCell(n.throughput), roundsCell(f.throughput), '≥ 0.5 (NORMAL)');
  row('  CPU ms per request, median round (bench/cpu.js)', cpuCell(n.throughput), cpuCell(f.throughput), '');
  row('  autocannon p99 ms (worst round); non-2xx / errors (all rounds)', `${fmt(worstP99(n.throughput), 0)}; ${failures(n.throughput)}`, `${fmt(worstP99(f.throughput), 0)}; ${failures(f.throughput)}`, '0 / 0');
  row(`one PATCH adding ${BULK_ADD} members, ms`, fmt(n.bulkAdd.ms, 1), fmt(f.bulkAdd.ms, 1), '≤ 60');
  row(`GET group of ${BIG} members, ms (body MB)`, `${fmt(n.getBig.ms, 1)} (${fmt(n.getBig.bytes / 1e6, 1)})`, `${fmt(f.getBig.ms, 1)} (${fmt(f.getBig.bytes / 1e6, 1)})`, '');
  row('  gateway RSS before → peak, MB', `${fmt(n.getBig.rssBeforeMb, 0)} → ${fmt(n.getBig.peakRssMb, 0)}`, `${fmt(f.getBig.rssBeforeMb, 0)} → ${fmt(f.getBig.peakRssMb, 0)}`, 'flat');
  row('  same GET with excludedAttributes=members, median ms', fmt(n.getBig.excludedMembers.median), fmt(f.getBig.excludedMembers.median), '≤ 2');
  row(`filter userName eq over ${n.filterEq.users} users, median ms (p99)`, `${fmt(n.filterEq.median)} (${fmt(n.filterEq.p99)})`, `${fmt(f.filterEq.median)} (${fmt(f.filterEq.p99)})`, '≤ 3');
  return [
    `Measured ${r.date} on ${r.machine}; Node ${process.version}; JWT (HS256) verified on every request; SQLite WAL.`,
    `Command: \`${r.command}\`. Latencies are client-side over loopback HTTP, including JWT verification.`,
    '',
    '| measure | synchronous=NORMAL | synchronous=FULL | goal |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-bench-'));
  const dbFile = path.join(dir, 'bench.db');
  try {
    process.stderr.write(`seeding ${BIG + 100} users and groups…\n`);
    const data = await seed(dbFile);
    process.stderr.write(`seeded in ${data.seedSeconds.toFixed(1)} s\n`);
    const modes = [];
    for (const mode of ['NORMAL', 'FULL']) {
      process.stderr.write(`measuring synchronous=${mode}…\n`);
      modes.push(await runMode(dbFile, mode, data));
    }
    process.stderr.write('measuring PostgreSQL…\n');
    const postgres = await require('./postgres').main();
    process.stderr.write('measuring egress…\n');
    const egress = await require('./egress').main();
    process.stderr.write('measuring deprovisioning…\n');
    const deprovision = await require('./deprovision').main();
    process.stderr.write('measuring Bulk…\n');
    const bulk = await require('./bulk').main();
    process.stderr.write('measuring reconciliation…\n');
    const reconcile = await require('./reconcile').main();
    const result = {
      date: new Date().toISOString(), machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      command: QUICK ? 'BENCH_QUICK=1 npm run bench' : 'npm run bench', sizes: { BIG, SMALL, LAT_ITER, BULK_ADD, CANNON_SECONDS, CONNECTIONS },
      modes, postgres: postgres.results ?? { skipped: postgres.skipped },
      egress: { deliveries: egress.deliveries, renames: egress.renames },
      deprovision: { users: deprovision.users, burstMs: deprovision.burstMs, emptyMs: deprovision.emptyMs, calls: deprovision.calls },
      bulk: bulk.results,
      reconcile: reconcile.results,
    };
    mkdirSync(path.join(__dirname, 'results'), { recursive: true });
    const pgPart = postgres.markdown || `PostgreSQL: skipped (${postgres.skipped}).\n`;
    const md = `${markdown(result)}\n${pgPart}\n${egress.markdown}\n${deprovision.markdown}\n${bulk.markdown}\n${reconcile.markdown}`;
    const name = QUICK ? 'quick' : 'latest';
    writeFileSync(path.join(__dirname, 'results', `${name}.json`), JSON.stringify(result, null, 2));
    writeFileSync(path.join(__dirname, 'results', `${name}.md`), md);
    process.stdout.write(md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e.stack ?? e}\n`);
  process.exit(1);
});
