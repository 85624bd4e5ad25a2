// Starts the gateway: configuration, store and migrations, keys, then listen. Exits non-zero with one line
// naming the variable when the configuration is invalid. On SIGTERM/SIGINT it drains: stops accepting, lets
// in-flight requests and deliveries finish (or releases their claims), closes the store, all within
// SHUTDOWN_TIMEOUT_MS.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { loadConfig, type Config } from './config';
import { ConfigError } from './config-error';
import type { DeliveryWorker } from './egress';
import { createLogger } from './log';
import { GatewayMetrics } from './ops/metrics';
import { loadTargets, openRuntime, startReconciler, startSampler, startWorker } from './runtime';
import { answerUnparsedRequests } from './http/scim-error';
import { buildApp } from './server';
import type { Store } from './store/types';

export interface RunningGateway {
  server: Server;
  /** Drains and closes; resolves true when everything finished within the deadline. */
  close: (deadlineMs?: number) => Promise<boolean>;
}

const HOUR = 3_600_000;

/** Deletes audit records past their retention now and every hour. */
function scheduleAuditRetention(store: Store, days: number, log: Logger): () => void {
  const prune = () => {
    store.pruneAudit(new Date(Date.now() - days * 86_400_000).toISOString())
      .then((n) => { if (n) log.info({ deleted: n, retentionDays: days }, 'audit records past retention deleted'); })
      .catch((err: unknown) => log.warn({ err: (err as Error)?.message }, 'audit retention could not run; will retry'));
  };
  const first = setTimeout(prune, 5_000);
  const every = setInterval(prune, HOUR);
  first.unref();
  every.unref();
  return () => { clearTimeout(first); clearInterval(every); };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)).unref());

export async function start(config: Config): Promise<RunningGateway> {
  const log = createLogger(config.logLevel);
  const targets = loadTargets(config);
  const rt = await openRuntime(config, log, { targets });
  if (rt.migrated.length) log.info({ migrations: rt.migrated }, 'database migrated');
  const metrics = new GatewayMetrics();
  metrics.watchBacklog(rt.store, targets.map((t) => t.name));
  let worker: DeliveryWorker | undefined;
  let draining = false;
  const ops = config.ops;
  const app = buildApp({
    store: rt.store, verifier: rt.verifier, log, maxBodyBytes: config.maxBodyBytes, maxResults: config.maxResults,
    publicUrl: config.publicUrl, targets, metrics, metricsToken: ops.metricsToken,
    rateLimit: { perSecond: ops.rateLimitPerSecond, burst: ops.rateLimitBurst },
    limits: { maxMembersPerRequest: ops.maxMembersPerRequest, maxFilterLength: ops.maxFilterLength, maxFilterDepth: ops.maxFilterDepth },
    bulk: { maxOperations: ops.bulkMaxOperations, maxPayloadSize: ops.bulkMaxPayloadSize },
    draining: () => draining,
    console: config.console,
    // /readyz checks the worker only when one runs in this process (it starts right after listen).
    workerAlive: config.workerInProcess && targets.length ? () => worker?.isAlive() ?? false : undefined,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    // Host is checked by the app, which answers a SCIM error body (Node's own check answers a bare 400).
    const s = createServer({ requireHostHeader: false }, app).listen(config.port, config.host, () => resolve(s));
    answerUnparsedRequests(s);
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info({ host: config.host, port, database: config.database.kind, mounts: ['/api/scim/v2', '/sso/scim/v2'] }, 'scimbridge listening');
  worker = config.workerInProcess ? startWorker(config, rt, log, targets, metrics.egress()) : undefined;
  const stopReconcile = config.workerInProcess ? startReconciler(config, rt, log, targets, metrics.reconcile()) : undefined;
  const stopSamples = config.workerInProcess ? startSampler(config, rt, log, targets) : undefined;
  const stopRetention = scheduleAuditRetention(rt.store, ops.auditRetentionDays, log);

  let closing: Promise<boolean> | undefined;
  const close = (deadlineMs = ops.shutdownTimeoutMs) => (closing ??= (async () => {
    const deadline = Date.now() + deadlineMs;
    draining = true;
    stopRetention();
    stopSamples?.();
    // Stop accepting; idle keep-alive connections go now, busy ones as soon as their response is out.
    let httpClosed = false;
    const closed = new Promise<void>((resolve) => server.close(() => { httpClosed = true; resolve(); }));
    server.closeIdleConnections();
    const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
    // Deliveries get most of the deadline to finish; what is still running then has its claim released, so
    // another replica (or the next start) takes it at once instead of waiting for the lease to expire.
    const workerStopped = worker?.stop(Math.max(0, deadlineMs * 0.8 - 200)) ?? Promise.resolve();
    // A slice of the deadline is kept for closing the store.
    await Promise.race([closed, sleep(deadline - Date.now() - 200)]);
    clearInterval(idleSweep);
    const inTime = httpClosed;
    if (!httpClosed) {
      log.warn('shutdown deadline reached with requests in flight; closing their connections');
      server.closeAllConnections();
    }
    await workerStopped;
    await stopReconcile?.();
    await rt.store.close();
    return inTime;
  })());
  return { server, close };
}

function fail(e: unknown): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`scimbridge: invalid configuration: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`scimbridge: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}

/**
 * SIGTERM/SIGINT: drain with `close`, exit 0 when it finished in time, 1 otherwise; the process leaves by the deadline
 * even if something refuses to close, and a second signal exits at once.
 */
export function exitOnSignals(close: () => Promise<boolean>, deadlineMs: number): void {
  let signals = 0;
  const stop = (signal: string) => {
    if (++signals > 1) process.exit(1);
    process.stderr.write(`scimbridge: ${signal} received, draining (at most ${deadlineMs} ms)\n`);
    setTimeout(() => process.exit(1), deadlineMs + 1000).unref();
    close().then((inTime) => process.exit(inTime ? 0 : 1), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    fail(e);
  }
  start(config).then(({ close }) => exitOnSignals(close, config.ops.shutdownTimeoutMs), fail);
}
