// Opens what both the server and the CLI need: the store (migrated) and the resolved JWT keys.
import type { Logger } from 'pino';
import { resolveKeySource } from './auth/keys';
import { createVerifier, type TokenVerifier } from './auth/verify';
import type { Config, JwtConfig } from './config';
import { createWorker, type DeliveryWorker } from './egress';
import { connectorFor } from './egress/connectors';
import type { EgressMetrics, ReconcileMetrics } from './egress/metrics';
import { scheduleReconciliation } from './egress/reconcile';
import { scheduleTargetSamples } from './egress/samples';
import { groupLinkRules, loadTargetsFile, type TargetConfig } from './egress/targets';
import { PostgresStore } from './store/postgres';
import { SqliteStore } from './store/sqlite';
import type { Store } from './store/types';

export interface Runtime {
  store: Store;
  jwt: JwtConfig;
  verifier: TokenVerifier;
  migrated: string[];
}

/** The configured delivery targets (validated), or none. */
export function loadTargets(config: Config): TargetConfig[] {
  return config.targetsFile ? loadTargetsFile(config.targetsFile, process.env, config.retrySchedule) : [];
}

export function startWorker(config: Config, rt: Runtime, log: Logger, targets: TargetConfig[], metrics?: EgressMetrics): DeliveryWorker | undefined {
  if (!targets.length) return undefined;
  const worker = createWorker(rt.store, targets, log, { leaseMs: config.workerLeaseMs, coalesceMs: config.workerCoalesceMs, metrics });
  worker.start();
  log.info({ targets: targets.map((t) => `${t.name} (${t.kind}, tenant ${t.tenant})`) }, 'delivery worker started');
  return worker;
}

/** RECONCILE_INTERVAL's background reconciliation, beside a delivery worker; a stop function, or none when off. */
export function startReconciler(config: Config, rt: Runtime, log: Logger, targets: TargetConfig[], metrics?: ReconcileMetrics): (() => Promise<void>) | undefined {
  if (!config.reconcileIntervalMs || !targets.length) return undefined;
  const readable = targets.map((t) => ({ config: t, connector: connectorFor(t) })).filter((t) => t.connector.reader);
  if (!readable.length) return undefined;
  log.info({ intervalMs: config.reconcileIntervalMs, targets: readable.map((t) => t.config.name) }, 'reconciliation scheduled');
  return scheduleReconciliation(rt.store, readable, config.reconcileIntervalMs, log.child({ component: 'reconcile' }), metrics);
}

/** The console's target samples (TARGET_SAMPLE_INTERVAL), beside a delivery worker; a stop function, or none without targets. */
export function startSampler(config: Config, rt: Runtime, log: Logger, targets: TargetConfig[]): (() => void) | undefined {
  if (!targets.length) return undefined;
  return scheduleTargetSamples(rt.store, targets, config.targetSampleIntervalMs, log.child({ component: 'samples' }));
}

function openStore(config: Config, log?: Logger): Store {
  const db = config.database;
  if (db.kind === 'postgres') {
    // Never log the URL itself: it may carry a password (redactUrl).
    return new PostgresStore(db, { onPoolError: (e) => log?.warn({ err: e.message }, 'PostgreSQL connection lost (pool)') });
  }
  return new SqliteStore(db);
}

/**
 * Opens the store (migrated unless `migrate: false`). With `targets`, their configured group links are handed to the
 * store, which resolves them at every commit, and existing groups they match are linked now: a process that commits
 * SCIM changes must be given the targets even when its delivery worker runs elsewhere.
 */
export async function openRuntime(config: Config, log: Logger, opts: { migrate?: boolean; targets?: TargetConfig[] } = {}): Promise<Runtime> {
  const store = openStore(config, log);
  const migrated = opts.migrate === false ? [] : await store.migrate();
  if (opts.targets?.length) {
    const linked = await store.applyGroupLinkRules(groupLinkRules(opts.targets));
    if (linked) log.info({ linked }, 'existing groups linked by the targets file');
  }
  const jwt = await resolveKeySource(config.jwt, {
    // The generated-secret file sits beside a SQLite database; with PostgreSQL there is no such place.
    sqliteFile: config.database.kind === 'sqlite' ? config.database.file : undefined, logger: log,
  });
  const verifier = createVerifier(jwt, (jti) => store.isRevoked(jti));
  return { store, jwt, verifier, migrated };
}
