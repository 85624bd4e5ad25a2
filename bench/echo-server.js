// The throughput baseline: a bare Express 5 route that parses and echoes the same JSON body, nothing else.
'use strict';
const express = require('express');

const app = express();
app.use(express.json({ type: ['application/json', 'application/scim+json'] }));
app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
app.patch('/echo', (req, res) => res.json(req.body));
app.listen(Number(process.env.PORT), '127.0.0.1');
