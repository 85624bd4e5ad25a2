// Where a throughput run's CPU goes, per request: the gateway process(es), all PostgreSQL processes (when asked),
// this bench process (autocannon runs in it) and the whole machine (busy ms per request, idle share). On a small
// machine these processes share the same cores, so a ratio to the echo moves with how much CPU each of them needs
// per request and with how much of the machine sits idle while requests wait; the split says which of the two
// limits a run.
// Reads /proc (Linux); elsewhere measure() returns the run with `cpu` undefined.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, readFileSync } = require('node:fs');

const AVAILABLE = existsSync('/proc/stat');
let hz;
/** Clock ticks per second of /proc's CPU times (almost always 100). */
function ticksPerSecond() {
  if (hz === undefined) {
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      hz = 100;
    }
  }
  return hz;
}

/** utime + stime of a process, in ticks (0 once it has gone). */
function processTicks(pid) {
  try {
    // The command name may hold spaces and parentheses: fields are counted after its closing ") ".
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop().split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** CPU time (user + system) of a process so far, in ms (0 once it has gone). */
function processMs(pid) {
  return (processTicks(pid) * 1000) / ticksPerSecond();
}

/** Every PostgreSQL process, by ticks (server, its backends, checkpointer, WAL writer…). */
function postgresTicks() {
  const byPid = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres') byPid.set(d, processTicks(d));
    } catch { /* gone meanwhile */ }
  }
  return byPid;
}

/** Busy and idle ticks of the whole machine. */
function machineTicks() {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const idle = v[3] + v[4]; // idle + iowait
  return { busy: v.slice(0, 8).reduce((t, x) => t + x, 0) - idle, idle };
}

function snapshot(pids, postgres) {
  const self = process.cpuUsage();
  return {
    server: pids.reduce((t, p) => t + processTicks(p), 0),
    postgres: postgres ? postgresTicks() : undefined,
    benchUs: self.user + self.system,
    machine: machineTicks(),
  };
}

/**
 * Runs `run` (resolving to { requests, ... }: how many it made) and adds `cpu`: ms of CPU per request for the
 * processes `pids` (the gateway replicas, or the echo), for this process, and with `postgres` for every PostgreSQL
 * process (those that start during the run count from zero, those that end are left out); the machine's busy ms per
 * request, and its idle share (%).
 */
async function measure(pids, run, { postgres = false } = {}) {
  if (!AVAILABLE) return run();
  const before = snapshot(pids, postgres);
  const result = await run();
  const after = snapshot(pids, postgres);
  const ms = (ticks) => (ticks * 1000) / ticksPerSecond() / result.requests;
  let pgTicks = 0;
  if (postgres) for (const [pid, t] of after.postgres) pgTicks += t - (before.postgres.get(pid) ?? 0);
  const busy = after.machine.busy - before.machine.busy;
  const idle = after.machine.idle - before.machine.idle;
  return {
    ...result,
    cpu: {
      server: ms(after.server - before.server),
      ...(postgres ? { postgres: ms(pgTicks) } : {}),
      bench: (after.benchUs - before.benchUs) / 1000 / result.requests,
      machine: ms(busy),
      idlePct: (100 * idle) / (busy + idle),
    },
  };
}

module.exports = { measure, processMs };
