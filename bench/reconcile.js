#!/usr/bin/env node
// Reconciliation benchmark (issue 14): one SelfCommunity group of 100,000 members linked to a SCIM group of the same
// size, compared through the documented paginated listing (GET /api/v2/group/{id}/subscribe/?limit=&offset=) of a
// loopback receiver shaped like the emulator. The target lacks 1,000 members and has 1,000 others. Measured: the
// dry run and the repairing run (seconds, and seconds per 100,000 members), the gateway process's RSS growth during
// each (sampled every 20 ms), and the differences found. SQLite; uses the built code (dist/).
'use strict';
const http = require('node:http');
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { QUICK, fmt, runAlone } = require('./lib');

const DIST = path.join(__dirname, '..', 'dist', 'src');
const { SqliteStore } = require(path.join(DIST, 'store/sqlite'));
const { parseTargets } = require(path.join(DIST, 'egress/targets'));
const { connectorFor } = require(path.join(DIST, 'egress/connectors'));
const { reconcileTarget } = require(path.join(DIST, 'egress/reconcile'));
const { createLogger } = require(path.join(DIST, 'log'));

/** Two sizes in one process: the smaller one first (it also warms the code), so growth with the group shows. */
const SIZES = QUICK ? [1_000, 10_000] : [10_000, 100_000];
const PAGE = 500;

/** GET /api/v2/group/7/ and its paginated subscribers, DRF style. */
function receiver(memberIds) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let body;
    if (url.pathname === '/api/v2/group/7/') body = { id: 7, name: 'Everyone', description: null };
    else if (url.pathname === '/api/v2/group/7/subscribe/') {
      const limit = Number(url.searchParams.get('limit') ?? 20);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const results = memberIds.slice(offset, offset + limit).map((id) => ({ id, username: `u${id}`, real_name: null, ext_id: null, avatar: null }));
      const next = offset + limit < memberIds.length ? `/api/v2/group/7/subscribe/?limit=${limit}&offset=${offset + limit}` : null;
      body = { count: memberIds.length, next, previous: null, results };
    }
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? { errors: [{ code: 'not_found' }] }));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) })));
}

async function measured(fn) {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
  const t = process.hrtime.bigint();
  const result = await fn();
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { result, seconds, rssGrowthMb: (peak - before) / 2 ** 20 };
}

async function main() {
  const results = [];
  for (const members of SIZES) results.push(await measure(members));
  return { results, markdown: markdown(results) };
}

async function measure(MEMBERS) {
  const DRIFT = MEMBERS / 100;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-bench-reconcile-'));
  const store = new SqliteStore({ kind: 'sqlite', file: path.join(dir, 'r.db'), synchronous: 'OFF' });
  let remote;
  try {
    await store.migrate();
    process.stderr.write(`reconcile: seeding ${MEMBERS} users…\n`);
    const ids = [];
    const batch = [];
    for (let i = 0; i < MEMBERS + DRIFT; i++) {
      batch.push(store.createUser('bench', { userName: `r${i}@bench.example`, active: true, emails: [], resource: { userName: `r${i}@bench.example` } }));
      if (batch.length === 1000) ids.push(...(await Promise.all(batch.splice(0))).map((u) => u.id));
    }
    ids.push(...(await Promise.all(batch.splice(0))).map((u) => u.id));
    const group = (await store.createGroup('bench', { displayName: 'Everyone', resource: { displayName: 'Everyone' } }, ids.slice(0, MEMBERS))).group;
    // Every user linked at the target under its rid (an integer, as SelfCommunity's ids are).
    store.db.prepare(`INSERT INTO links (target, kind, scim_id, tenant, remote_id, source, created)
      SELECT 'sc', 'user', id, tenant, CAST(rid AS TEXT), 'lookup', '2026-01-01T00:00:00.000Z' FROM users WHERE tenant = 'bench'`).run();
    await store.egress.setLink({ target: 'sc', kind: 'group', scimId: group.id, tenant: 'bench', remoteId: '7', source: 'admin' });
    const rid = new Map(store.db.prepare("SELECT id, rid FROM users WHERE tenant = 'bench'").all().map((r) => [r.id, r.rid]));
    // The target: the group's members but the first DRIFT, plus the DRIFT users who are not members.
    const remoteIds = [...ids.slice(DRIFT, MEMBERS), ...ids.slice(MEMBERS)].map((id) => rid.get(id));
    store.db.exec('DELETE FROM outbox');
    remote = await receiver(remoteIds);
    const [target] = parseTargets({ targets: [{ name: 'sc', kind: 'selfcommunity', tenant: 'bench', baseUrl: remote.url, credential: 'x' }] }, process.env);
    const connector = connectorFor(target);
    const log = createLogger('silent');
    const actor = { subject: 'bench', mount: 'cli', operation: 'reconcile' };
    const run = (dryRun) => measured(() => reconcileTarget(store, target, connector, { dryRun, actor, log, pageSize: PAGE }));
    process.stderr.write('reconcile: dry run…\n');
    const dry = await run(true);
    process.stderr.write('reconcile: repairing run…\n');
    const repair = await run(false);
    const g = dry.result.groups[0];
    const results = {
      members: MEMBERS, remoteMembers: remoteIds.length, pageSize: PAGE,
      missing: g.missing.count, extra: g.extra.count, repairs: repair.result.summary.repairs,
      dry: { seconds: dry.seconds, per100k: dry.seconds * (100_000 / MEMBERS), rssGrowthMb: dry.rssGrowthMb },
      repair: { seconds: repair.seconds, per100k: repair.seconds * (100_000 / MEMBERS), rssGrowthMb: repair.rssGrowthMb },
    };
    return results;
  } finally {
    await remote?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function markdown(all) {
  const rows = all.flatMap((r) => [
    `| ${r.members} | dry run (report only) | ${fmt(r.dry.seconds)} | ${fmt(r.dry.per100k)} | ${fmt(r.dry.rssGrowthMb, 1)} |`,
    `| ${r.members} | repairing run (${r.repairs} repair events queued) | ${fmt(r.repair.seconds)} | ${fmt(r.repair.per100k)} | ${fmt(r.repair.rssGrowthMb, 1)} |`,
  ]);
  return [
    `Reconciliation: a linked group against a SelfCommunity-shaped listing (pages of ${PAGE}) that lacks 1% of the members and has 1% others; SQLite, one process. Goal: time proportional to the listing, RSS not growing with the group.`,
    '',
    '| members | run | seconds | seconds per 100,000 members | RSS growth during the run, MB |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

module.exports = { main };

runAlone(module, main);
