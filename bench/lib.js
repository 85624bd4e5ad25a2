// Shared parts of the benchmarks: child processes for the gateway and the bare Express echo baseline, timing and
// statistics, and the member-PATCH workloads (latency of add+remove, autocannon throughput).
'use strict';
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const autocannon = require('autocannon');
const cpu = require('./cpu');

const DIST = path.join(__dirname, '..', 'dist', 'src');
const QUICK = process.env.BENCH_QUICK === '1';
const LAT_ITER = QUICK ? 100 : 400;
const CANNON_SECONDS = QUICK ? 3 : 10;
const CONNECTIONS = 16;
const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url) {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not become healthy`);
}

/** A node script as a child process on a free port, once its /healthz answers; stop() ends it with SIGTERM. */
async function startServer(script, env) {
  const port = await freePort();
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, PORT: String(port), ...env }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url);
  return { url, child, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

/**
 * The built gateway as a child process; env adds to the benchmark defaults (rate limit off: it is the load). `dist`
 * is the built src/ folder to run (default: this checkout's; compare-builds.js runs another's).
 */
function startGateway(env, dist = DIST) {
  return startServer(path.join(dist, 'main.js'), {
    HOST: '127.0.0.1', JWT_SECRET: SECRET, LOG_LEVEL: 'error', MAX_RESULTS: '1000', RATE_LIMIT_PER_SECOND: '0', ...env,
  });
}

/** The floor of the PostgreSQL measure (floor-server.js): bare Express over the store of `env`'s DATABASE_URL. */
function startFloor(env) {
  return startServer(path.join(__dirname, 'floor-server.js'), env);
}

/** The bare Express echo of the same PATCH bodies ({ rps, cpu }; a fresh echo process, stopped afterwards). */
async function echoRps(bodies) {
  const echo = await startServer(path.join(__dirname, 'echo-server.js'), {});
  try {
    return await cpu.measure([echo.child.pid], () => cannon(`${echo.url}/echo`, 'x', bodies));
  } finally {
    await echo.stop();
  }
}

/** Rounds of a throughput measure against the echo (one outside BENCH_QUICK's smoke check). */
const ROUNDS = QUICK ? 1 : 3;

/**
 * A throughput measure against the bare Express echo of the same bodies. This shared machine's speed drifts by a
 * third within minutes, as much as any code change moves the figure, so the measure alternates with the echo
 * (E M E M E M E), each round's ratio is to the mean of the echo right before and right after it, and the figure is
 * the median round; every round and every echo run are kept. `measured` resolves to { rps, p99, non2xx, errors } (and
 * `cpu`, when it measured it: cpu.js). Returns the median round ({ ...its result, echo, ratio }) with `rounds`,
 * `echoes` and `echoMean` (all echo runs' req/s) and `echoCpu` (the echo runs' CPU split).
 */
async function echoRounds(bodies, measured, rounds = ROUNDS) {
  const runs = [await echoRps(bodies)];
  const all = [];
  for (let i = 0; i < rounds; i++) {
    const run = await measured();
    runs.push(await echoRps(bodies));
    const echo = (runs[i].rps + runs[i + 1].rps) / 2;
    all.push({ ...run, echo, ratio: run.rps / echo });
  }
  const echoes = runs.map((r) => r.rps);
  const median = [...all].sort((a, b) => a.ratio - b.ratio)[Math.floor(all.length / 2)];
  return {
    ...median, rounds: all, echoes, echoMean: echoes.reduce((t, e) => t + e, 0) / echoes.length,
    echoCpu: runs.map((r) => r.cpu).filter(Boolean),
  };
}

/** autocannon runs made at once (one per replica) as one: req/s, requests and failures summed, the worst p99. */
function together(runs) {
  const sum = (k) => runs.reduce((t, r) => t + r[k], 0);
  return { rps: sum('rps'), requests: sum('requests'), p99: Math.max(...runs.map((r) => r.p99)), non2xx: sum('non2xx'), errors: sum('errors') };
}

/** For the tables: every echo run of an echoRounds measure, in order. */
function echoesCell(r) {
  return r.echoes.map((e) => fmt(e, 0)).join(' · ');
}

/** For the tables: the median round's ratio, then each round's. */
function roundsCell(r) {
  const each = r.rounds.length > 1 ? ` (rounds: ${r.rounds.map((x) => fmt(x.ratio)).join(', ')})` : '';
  return `${fmt(r.ratio)}${each}`;
}
/**
 * For the tables: CPU ms per request of the median round (server process(es), PostgreSQL when it was measured, autocannon,
 * the machine, and its idle share), then the echo process's median over its runs. cpu.js says why.
 */
function cpuCell(r) {
  const c = r.cpu;
  if (!c) return 'n/a';
  const echo = r.echoCpu.map((e) => e.server).sort((a, b) => a - b)[Math.floor(r.echoCpu.length / 2)];
  const pg = c.postgres === undefined ? '' : ` · PostgreSQL ${fmt(c.postgres, 3)}`;
  return `gateway ${fmt(c.server, 3)}${pg} · autocannon ${fmt(c.bench, 3)} · machine ${fmt(c.machine, 3)} (idle ${fmt(c.idlePct, 0)} %); echo ${fmt(echo, 3)}`;
}
function worstP99(r) {
  return Math.max(...r.rounds.map((x) => x.p99));
}
function failures(r) {
  return `${r.rounds.reduce((t, x) => t + x.non2xx, 0)} / ${r.rounds.reduce((t, x) => t + x.errors, 0)}`;
}

/** Peak resident set of a process so far (kB), from /proc. */
function peakRssKb(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p99: quantile(s, 0.99), n: s.length };
}

async function timed(fn) {
  const t = process.hrtime.bigint();
  const r = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, r };
}

async function call(method, url, token, body) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/scim+json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url} → ${res.status} ${text.slice(0, 200)}`);
  return text;
}

/**
 * GET of a big body, timed to its last byte with node:http, the bytes counted and dropped (as curl does): neither
 * fetch's web streams nor decoding 17 MB into a JS string are the gateway's cost, and both moved the figure by
 * 100 ms from run to run. A warm-up, then the median of three. Returns { ms, bytes }.
 */
function timedGet(url, token) {
  const once = () => new Promise((resolve, reject) => {
    const t = process.hrtime.bigint();
    http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => { bytes += chunk.length; });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url} → ${res.statusCode}`));
        else resolve({ ms: Number(process.hrtime.bigint() - t) / 1e6, bytes });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
  return (async () => {
    await once();
    const runs = [await once(), await once(), await once()].sort((a, b) => a.ms - b.ms);
    return runs[1];
  })();
}

/**
 * Add then remove one member (a user outside the group), LAT_ITER times, timed per request, for each of `groupIds`
 * ({ median, p99, n } per group, in order). The groups take turns, one add+remove each, so that a slow moment of the
 * machine (a GC, a neighbour) falls on all of them alike instead of on whichever group was measured then: their ratio
 * is what the table compares.
 */
async function addRemoveLatency(base, token, groupIds, spare) {
  const bases = Array.isArray(base) ? base : [base];
  const samples = groupIds.map(() => []);
  for (let i = 0; i < LAT_ITER; i++) {
    const member = spare[i % spare.length];
    for (let g = 0; g < groupIds.length; g++) {
      const add = await timed(() => call('PATCH', `${bases[i % bases.length]}/Groups/${groupIds[g]}`, token,
        { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: member }] }] }));
      const remove = await timed(() => call('PATCH', `${bases[(i + 1) % bases.length]}/Groups/${groupIds[g]}`, token,
        { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${member}"]` }] }));
      if (i >= 10) samples[g].push(add.ms, remove.ms); // the first few warm the JIT and caches
    }
  }
  return samples.map(stats);
}

/** autocannon PATCHes of `bodies` in turn; `pathOf(n)`, when given, picks request n's path (else the url's). */
async function cannon(url, token, bodies, connections = CONNECTIONS, pathOf) {
  let i = 0;
  const result = await autocannon({
    url, connections, duration: CANNON_SECONDS, method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    requests: [{
      setupRequest: (req) => {
        const n = i++;
        return { ...req, ...(pathOf ? { path: pathOf(n) } : {}), body: bodies[n % bodies.length] };
      },
    }],
  });
  return {
    rps: result.requests.average, requests: result.requests.total, non2xx: result.non2xx, errors: result.errors, p99: result.latency.p99,
  };
}

/**
 * Member PATCHes spread over several groups: request n goes to group floor(n/2) mod the count (each add and the
 * remove of the same user go to one group).
 */
function cannonSpread(base, token, groups, bodies, connections) {
  const prefix = `${new URL(base).pathname}/Groups/`;
  return cannon(base, token, bodies, connections, (n) => prefix + groups[Math.floor(n / 2) % groups.length]);
}

function memberBodies(users) {
  const bodies = [];
  for (const u of users) {
    bodies.push(JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: u }] }] }));
    bodies.push(JSON.stringify({ schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${u}"]` }] }));
  }
  return bodies;
}


/** A number for the results table. */
function fmt(n, digits = 2) {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

/** A part's `main` run on its own (`node bench/<part>.js`): its table on stdout, a failure on stderr and exit 1. */
function runAlone(mod, main) {
  if (require.main !== mod) return;
  main().then((r) => process.stdout.write(r.markdown), (e) => {
    process.stderr.write(`bench failed: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}

module.exports = {
  DIST, QUICK, LAT_ITER, CANNON_SECONDS, CONNECTIONS, SECRET, PATCH, ROUNDS,
  freePort, waitHealthy, startGateway, startFloor, echoRounds, together, echoesCell, roundsCell, cpuCell, worstP99, failures, peakRssKb, rssKb, stats, timed, timedGet, call, addRemoveLatency, cannon, cannonSpread, memberBodies, fmt,
  runAlone,
};
