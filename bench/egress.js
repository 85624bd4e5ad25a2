#!/usr/bin/env node
// Egress benchmark: (1) deliveries per second from the outbox to a loopback webhook receiver, through the real
// worker and HTTP; (2) the calls a SelfCommunity-shaped receiver gets for 100 renames of one group sent back to
// back over SCIM, and whether the last name arrives. Uses the built code in dist/. Prints markdown, returns JSON.
'use strict';
const http = require('node:http');
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DIST = path.join(__dirname, '..', 'dist', 'src');
const { SqliteStore } = require(path.join(DIST, 'store/sqlite'));
const { createWorker } = require(path.join(DIST, 'egress'));
const { parseTargets } = require(path.join(DIST, 'egress/targets'));
const { createLogger } = require(path.join(DIST, 'log'));
const { buildApp } = require(path.join(DIST, 'server'));
const { createVerifier } = require(path.join(DIST, 'auth/verify'));
const { mintToken } = require(path.join(DIST, 'auth/mint'));
const { QUICK, SECRET, freePort, waitHealthy } = require('./lib');

const EVENTS = QUICK ? 2000 : 10000;

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

async function startSink() {
  const port = await freePort();
  const child = require('node:child_process').spawn(process.execPath, [path.join(__dirname, 'sink-server.js')], {
    env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url);
  return { url, count: async () => (await (await fetch(`${url}/count`)).json()).received, stop: () => child.kill() };
}

async function deliveriesPerSecond(dir) {
  const sink = await startSink();
  const url = sink.url;
  const store = new SqliteStore({ kind: 'sqlite', file: path.join(dir, 'egress.db'), synchronous: 'NORMAL' });
  await store.migrate();
  // One user.created event per user: EVENTS events, each its own aggregate (the worker runs 32 in parallel).
  const users = [];
  for (let i = 0; i < EVENTS; i++) {
    users.push(await store.createUser('bench', { userName: `e${i}@bench.example`, active: true, emails: [], resource: { userName: `e${i}@bench.example` } }));
  }
  const total = (store.db.prepare("SELECT count(*) AS n FROM outbox WHERE tenant = 'bench'").get()).n;
  const targets = parseTargets({ targets: [{ name: 'sink', kind: 'webhook', tenant: 'bench', baseUrl: url, credential: 'whsec' }] });
  const worker = createWorker(store, targets, createLogger('error'), { pollMs: 50, concurrency: 32 });
  const t0 = performance.now();
  worker.start();
  while ((await sink.count()) < total || (await store.egress.openCount()) > 0) {
    await new Promise((r) => setTimeout(r, 20));
    if (performance.now() - t0 > 120_000) throw new Error('deliveries did not finish in 2 minutes');
  }
  const seconds = (performance.now() - t0) / 1000;
  const received = await sink.count();
  await worker.stop();
  await store.close();
  sink.stop();
  return { events: total, received, seconds, perSecond: total / seconds };
}

async function renames(dir) {
  const calls = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      calls.push({ method: req.method, url: req.url, body });
      if (req.method === 'GET') return void res.writeHead(404).end('{}');
      res.writeHead(req.method === 'POST' ? 201 : req.method === 'PATCH' ? 200 : 204, { 'content-type': 'application/json' }).end('{"id":42}');
    });
  });
  const url = await listen(receiver);
  const store = new SqliteStore({ kind: 'sqlite', file: path.join(dir, 'renames.db'), synchronous: 'NORMAL' });
  await store.migrate();
  const jwt = { source: { kind: 'secret', secret: SECRET, origin: 'env' }, clockToleranceSec: 60 };
  const log = createLogger('error');
  const targets = parseTargets({ targets: [{ name: 'community', kind: 'selfcommunity', tenant: 'bench', baseUrl: url, credential: 'sc-token',
    groups: [{ match: { externalId: 'sales' }, remoteId: '42' }] }] });
  const app = buildApp({ store, verifier: createVerifier(jwt, () => Promise.resolve(false)), log, maxBodyBytes: 1e6, maxResults: 100, targets });
  const server = http.createServer(app);
  const base = `${await listen(server)}/api/scim/v2`;
  const token = (await mintToken(jwt, { tenant: 'bench', ttlSeconds: 600 })).token;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
  const created = await (await fetch(`${base}/Groups`, { method: 'POST', headers, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Sales 0', externalId: 'sales' }) })).json();
  const worker = createWorker(store, targets, log, { pollMs: 50 });
  worker.start();
  for (let i = 1; i <= 100; i++) {
    const r = await fetch(`${base}/Groups/${created.id}`, { method: 'PATCH', headers,
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: `Sales ${i}` }] }) });
    if (r.status !== 204) throw new Error(`rename ${i} answered ${r.status}`);
  }
  await worker.drain(30_000);
  await worker.stop();
  const patches = calls.filter((c) => c.method === 'PATCH');
  const last = patches.length ? JSON.parse(patches[patches.length - 1].body).name : undefined;
  server.close();
  receiver.close();
  await store.close();
  return { renames: 100, calls: calls.length, patches: patches.length, lastName: last, lastNameArrived: last === 'Sales 100' };
}

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-bench-egress-'));
  try {
    const d = await deliveriesPerSecond(dir);
    const r = await renames(dir);
    const md = [
      '| egress measure | result | goal |',
      '|---|---|---|',
      `| deliveries/s to a loopback webhook (${d.events} events, 32 batches in flight) | ${d.perSecond.toFixed(0)} (${d.seconds.toFixed(2)} s) | ≥ 1000 |`,
      `| calls for 100 back-to-back renames of one group (SelfCommunity shape) | ${r.calls} (${r.patches} PATCH) | ≤ 10 |`,
      `| last name arrived | ${r.lastNameArrived ? 'yes' : `no (${r.lastName})`} | yes |`,
      '',
    ].join('\n');
    return { deliveries: d, renames: r, markdown: md };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { main };

if (require.main === module) {
  main().then((r) => process.stdout.write(r.markdown), (e) => {
    process.stderr.write(`egress bench failed: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
