#!/usr/bin/env node
// Deprovisioning benchmark (issue 18): 1,000 members of one linked group are deactivated in one burst of SCIM PATCHes
// (16 at a time, Okta's body); measured: the time until no target has any of them left, and the calls each target
// received for it, against the number of (user, group) withdrawals. Four loopback receivers, shaped like
// SelfCommunity, Timeslot, Konstantly and a downstream SCIM server, keep real member sets. Uses the built code (dist/).
'use strict';
const http = require('node:http');
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const DIST = path.join(__dirname, '..', 'dist', 'src');
const { SqliteStore } = require(path.join(DIST, 'store/sqlite'));
const { createWorker } = require(path.join(DIST, 'egress'));
const { groupLinkRules, parseTargets } = require(path.join(DIST, 'egress/targets'));
const { createLogger } = require(path.join(DIST, 'log'));
const { buildApp } = require(path.join(DIST, 'server'));
const { createVerifier } = require(path.join(DIST, 'auth/verify'));
const { mintToken } = require(path.join(DIST, 'auth/mint'));
const { QUICK, SECRET, PATCH, fmt } = require('./lib');

const USERS = QUICK ? 200 : 1000;
const CONCURRENCY = 16;
const GROUP = '7';

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
}

/**
 * A receiver keeping one group's members. `route(method, url, body)` answers [status, body] and changes `members`;
 * every request is counted, and those made during the measured window separately.
 */
async function receiver(name, route) {
  const state = { name, members: new Set(), calls: 0, windowCalls: 0, counting: false, userCalls: 0 };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      state.calls++;
      if (state.counting) state.windowCalls++;
      const [status, body] = route(state, req.method, req.url, text ? JSON.parse(text) : undefined);
      res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
    });
  });
  state.url = await listen(server);
  state.close = () => new Promise((r) => server.close(r));
  return state;
}

const SHAPES = {
  // POST /api/v2/group/{id}/subscribe/ {users}; DELETE …/subscribe/?user=<id>
  selfcommunity: (s, method, url, body) => {
    const del = /subscribe\/\?user=(\d+)/.exec(url);
    if (method === 'DELETE' && del) { s.members.delete(del[1]); return [204]; }
    if (method === 'POST' && url.endsWith('/subscribe/')) { for (const u of body.users) s.members.add(String(u)); return [204]; }
    return [404, { errors: [{ code: 'not_found' }] }];
  },
  // POST /v1/groups/:id/members {invitees}; DELETE /v1/groups/:id/members/:user
  timeslot: (s, method, url, body) => {
    const del = /\/members\/(\d+)$/.exec(url);
    if (method === 'DELETE' && del) { s.members.delete(del[1]); return [200, {}]; }
    if (method === 'POST' && url.endsWith('/members')) { for (const u of body.invitees) s.members.add(String(u)); return [201, {}]; }
    return [404, {}];
  },
  // POST /openapi/v1/groups/{id}/users {users}; DELETE …/users/{user}
  konstantly: (s, method, url, body) => {
    const del = /\/users\/([^/]+)$/.exec(url);
    if (method === 'DELETE' && del) { s.members.delete(decodeURIComponent(del[1])); return [200, {}]; }
    if (method === 'POST' && url.endsWith('/users')) { for (const u of body.users) s.members.add(String(u)); return [200, { users: [] }]; }
    return [404, { status: 404, message: 'Not found' }];
  },
  // PATCH /Groups/{id} PatchOp add members / remove members[value eq "x"]; PATCH /Users/{id} active
  scim: (s, method, url, body) => {
    if (method === 'PATCH' && url.startsWith('/Users/')) { s.userCalls++; return [200, { id: url.slice(7) }]; }
    if (method === 'PATCH' && url.startsWith('/Groups/')) {
      for (const op of body.Operations) {
        if (op.op === 'add') for (const m of op.value) s.members.add(String(m.value));
        else if (op.op === 'remove') s.members.delete(/"(.*)"/.exec(op.path)[1]);
      }
      return [200, { id: GROUP }];
    }
    return [404, {}];
  },
};

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-bench-deprov-'));
  const receivers = {};
  for (const kind of Object.keys(SHAPES)) receivers[kind] = await receiver(kind, SHAPES[kind]);
  const store = new SqliteStore({ kind: 'sqlite', file: path.join(dir, 'deprov.db'), synchronous: 'NORMAL' });
  try {
    await store.migrate();
    const targets = parseTargets({
      targets: Object.keys(SHAPES).map((kind) => ({
        name: kind, kind, tenant: 'bench', baseUrl: receivers[kind].url, credential: `${kind}-credential`,
        groups: [{ match: { displayName: 'Eng' }, remoteId: GROUP }],
      })),
    });
    await store.applyGroupLinkRules(groupLinkRules(targets));
    const ids = [];
    for (let i = 0; i < USERS; i++) {
      const userName = `d${i}@bench.example`;
      const u = await store.createUser('bench', { userName, active: true, emails: [{ value: userName, primary: true }], resource: { userName, active: true, emails: [{ value: userName, primary: true }] } });
      ids.push(u.id);
      // Users known at every target (as after their first lookups): the burst measures withdrawals, not lookups.
      for (const kind of Object.keys(SHAPES)) await store.egress.setLink({ target: kind, kind: 'user', scimId: u.id, tenant: 'bench', remoteId: String(1000 + i), source: 'lookup' });
    }
    await store.createGroup('bench', { displayName: 'Eng', resource: { displayName: 'Eng' } }, ids);
    const log = createLogger('error');
    const worker = createWorker(store, targets, log, { pollMs: 50 });
    worker.start();
    await worker.drain(60_000);
    for (const r of Object.values(receivers)) {
      if (r.members.size !== USERS) throw new Error(`${r.name} has ${r.members.size} members after the initial load, not ${USERS}`);
    }

    const jwt = { source: { kind: 'secret', secret: SECRET, origin: 'env' }, clockToleranceSec: 60 };
    const app = buildApp({ store, verifier: createVerifier(jwt, () => Promise.resolve(false)), log, maxBodyBytes: 1e6, maxResults: 100, targets });
    const server = http.createServer(app);
    const base = `${await listen(server)}/api/scim/v2`;
    const token = (await mintToken(jwt, { tenant: 'bench', ttlSeconds: 600 })).token;
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
    const body = JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] });

    for (const r of Object.values(receivers)) r.counting = true;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const res = await fetch(`${base}/Users/${id}`, { method: 'PATCH', headers, body });
        if (res.status !== 200) throw new Error(`PATCH /Users/${id} answered ${res.status}`);
        await res.arrayBuffer();
      }
    }));
    const burstMs = performance.now() - t0;
    while (Object.values(receivers).some((r) => r.members.size > 0) || (await store.egress.openCount()) > 0) {
      if (performance.now() - t0 > 120_000) throw new Error('targets still had members after 2 minutes');
      await new Promise((r) => setTimeout(r, 10));
    }
    const emptyMs = performance.now() - t0;
    for (const r of Object.values(receivers)) r.counting = false;
    await worker.stop();
    server.close();
    const calls = Object.fromEntries(Object.values(receivers).map((r) => [r.name, { calls: r.windowCalls, userCalls: r.userCalls }]));
    // SelfCommunity, Timeslot and Konstantly remove one user per call (their APIs take no list): one call each is
    // their floor. A SCIM PatchOp removes up to 1000 members per request.
    const rows = Object.values(receivers).map((r) => {
      const groupCalls = r.windowCalls - r.userCalls;
      const extra = r.userCalls ? ` + ${r.userCalls} user PATCH (active: false)` : '';
      const goal = r.name === 'scim' ? '< 1 per withdrawal (the API takes member lists)' : '1 per withdrawal (the API removes one user per call)';
      return `| ${r.name}: calls for ${USERS} withdrawals from one group | ${groupCalls}${extra} (${fmt(groupCalls / USERS, 3)} per withdrawal) | ${goal} |`;
    });
    const md = [
      '| deprovisioning measure | result | goal |',
      '|---|---|---|',
      `| ${USERS} users of one group deactivated in one burst (${CONCURRENCY} at a time): burst sent | ${fmt(burstMs / 1000, 2)} s | — |`,
      `| … until no target has any of them (4 targets) | ${fmt(emptyMs / 1000, 2)} s | within the run |`,
      ...rows,
      '',
    ].join('\n');
    return { users: USERS, burstMs, emptyMs, calls, markdown: md };
  } finally {
    await store.close();
    for (const r of Object.values(receivers)) await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { main };

if (require.main === module) {
  main().then((r) => process.stdout.write(r.markdown), (e) => {
    process.stderr.write(`deprovisioning bench failed: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
