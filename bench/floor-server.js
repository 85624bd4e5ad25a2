// The floor of the PostgreSQL member-PATCH measure: a bare Express 5 route over the gateway's own store, so member
// changes take the same group commit, statement, audit record and outbox row as in the gateway, and nothing else runs
// (no token check, SCIM validation, request log, metrics, security headers, request context or error rendering).
// What it reaches is as far as any gateway on this store could go on the machine it runs on; the gap between it and
// the gateway is the cost of those layers. Not a server for anything but bench/postgres.js.
//
// Understands only the bench's two bodies: an add of [{ value }] and a remove by members[value eq "…"].
'use strict';
const path = require('node:path');
const express = require('express');

const DIST = process.env.BENCH_DIST ?? path.join(__dirname, '..', 'dist', 'src');
const { PostgresStore } = require(path.join(DIST, 'store/postgres'));
const { etagOf } = require(path.join(DIST, 'scim/context'));

const TENANT = 'bench';
const REMOVED = /^members\[value eq "([^"]+)"\]$/;

const store = new PostgresStore({ kind: 'postgres', url: process.env.DATABASE_URL });
const app = express();
app.use(express.json({ type: ['application/json', 'application/scim+json'] }));
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
app.patch('/api/scim/v2/Groups/:id', async (req, res) => {
  const op = req.body.Operations[0];
  const ids = op.op === 'add' ? op.value.map((v) => v.value) : [REMOVED.exec(op.path)[1]];
  try {
    const { group } = await store.changeGroup(TENANT, req.params.id, { members: [{ op: op.op, ids }] }, {
      actor: { mount: '/api/scim/v2', operation: 'patch' },
    });
    res.status(204).set('ETag', etagOf(group.version)).end();
  } catch (e) {
    res.status(500).json({ error: String(e) });
  }
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  store.close().then(() => process.exit(0));
});
