// A loopback receiver for the egress benchmark, in its own process so that it does not share a CPU with the
// worker it measures: answers 204 to every POST and reports how many it got at GET /count.
'use strict';
const http = require('node:http');

let received = 0;
http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ received }));
  if (req.method === 'GET' && req.url === '/healthz') return void res.writeHead(200).end('ok');
  req.resume();
  req.on('end', () => { received++; res.writeHead(204).end(); });
}).listen(Number(process.env.PORT), '127.0.0.1');
