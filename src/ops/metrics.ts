// Prometheus metrics (prom-client), one registry per app so several gateways in one process (tests) never share
// counters. Label values come from fixed sets, never from request data, so cardinality stays bounded.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { projectRoot } from '../paths';
import type { EgressMetrics, ReconcileMetrics } from '../egress/metrics';
import type { TargetStats } from '../store/egress-types';
import type { Store } from '../store/types';

const VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

export interface RequestLabels {
  mount: string;
  method: string;
  resource: string;
  status: string;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'mount' | 'method' | 'resource' | 'status'>;
  private readonly duration: Histogram<'mount' | 'method' | 'resource'>;
  private readonly attempts: Counter<'target' | 'outcome'>;
  private readonly attemptSeconds: Histogram<'target'>;
  private readonly dead: Counter<'target'>;
  private readonly delivered: Counter<'target'>;
  private readonly deprovisioned: Counter<'target'>;
  private readonly storeErrors: Counter<'kind'>;
  private readonly rateLimited: Counter<'mount'>;
  private readonly reconcileDrift: Gauge<'target'>;
  private readonly reconcileRepairs: Counter<'target'>;
  private readonly reconcileLastRun: Gauge<'target'>;
  /** Targets whose backlog /metrics reports, and the store to ask; set by whoever owns both. */
  private backlog?: { store: Store; targets: string[] };

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'scimbridge_' });
    new Gauge({ name: 'scimbridge_build_info', help: 'Version of scimbridge and of Node.js; always 1', labelNames: ['version', 'node'], registers })
      .set({ version: VERSION, node: process.version }, 1);
    this.requests = new Counter({ name: 'scimbridge_http_requests_total', help: 'HTTP requests answered', labelNames: ['mount', 'method', 'resource', 'status'], registers });
    this.duration = new Histogram({
      name: 'scimbridge_http_request_duration_seconds', help: 'Time from request to the end of the response',
      labelNames: ['mount', 'method', 'resource'], registers,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.rateLimited = new Counter({ name: 'scimbridge_rate_limited_total', help: 'Requests refused with 429 by the per-tenant rate limit', labelNames: ['mount'], registers });
    this.attempts = new Counter({ name: 'scimbridge_delivery_attempts_total', help: 'Delivery attempts by target and outcome (success, retry, permanent, skip)', labelNames: ['target', 'outcome'], registers });
    this.attemptSeconds = new Histogram({
      name: 'scimbridge_delivery_attempt_duration_seconds', help: 'Latency of delivery calls to a target', labelNames: ['target'], registers,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.delivered = new Counter({ name: 'scimbridge_events_delivered_total', help: 'Change events delivered, by target', labelNames: ['target'], registers });
    this.deprovisioned = new Counter({
      name: 'scimbridge_deprovision_removals_total', help: 'Users removed from target groups because they were deactivated, by target',
      labelNames: ['target'], registers,
    });
    this.dead = new Counter({ name: 'scimbridge_dead_letters_total', help: 'Change events that became dead letters, by target', labelNames: ['target'], registers });
    this.reconcileDrift = new Gauge({
      name: 'scimbridge_reconcile_drift', help: 'Linked groups found out of sync (or missing) at the target by the last reconciliation, by target',
      labelNames: ['target'], registers,
    });
    this.reconcileRepairs = new Counter({
      name: 'scimbridge_reconcile_repairs_total', help: 'Repair events reconciliation queued, by target', labelNames: ['target'], registers,
    });
    this.reconcileLastRun = new Gauge({
      name: 'scimbridge_reconcile_last_run_timestamp_seconds', help: 'When reconciliation of a target last finished (Unix time)',
      labelNames: ['target'], registers,
    });
    this.storeErrors = new Counter({ name: 'scimbridge_store_errors_total', help: 'Requests that failed in the database (unavailable, internal)', labelNames: ['kind'], registers });

    // One read of the store per scrape feeds all three gauges (prom-client collects metrics concurrently).
    let scrape: { at: number; done: Promise<Map<string, TargetStats>> } | undefined;
    const backlogNow = (): Promise<Map<string, TargetStats>> => {
      const now = Date.now();
      if (!scrape || now - scrape.at > 250) scrape = { at: now, done: this.readBacklog() };
      return scrape.done;
    };
    const gauge = (name: string, help: string, value: (s: TargetStats) => number) => {
      const g: Gauge<'target'> = new Gauge({
        name, help, labelNames: ['target'], registers,
        async collect() {
          const stats = await backlogNow();
          g.reset();
          for (const [target, s] of stats) g.set({ target }, value(s));
        },
      });
    };
    gauge('scimbridge_outbox_depth', 'Deliveries not yet settled (pending or in flight), by target', (s) => s.pending + s.inFlight);
    gauge('scimbridge_outbox_oldest_age_seconds', 'Age of the oldest unsettled delivery, by target (0 when none)', (s) => (s.oldestOpenMs ?? 0) / 1000);
    gauge('scimbridge_dead_letters', 'Dead letters waiting for replay, by target', (s) => s.dead);
  }

  /** The hooks reconciliation reports through. */
  reconcile(): ReconcileMetrics {
    return {
      reconciled: (target, outOfSync, repairs, at) => {
        this.reconcileDrift.set({ target }, outOfSync);
        if (repairs) this.reconcileRepairs.inc({ target }, repairs);
        this.reconcileLastRun.set({ target }, at / 1000);
      },
    };
  }

  private async readBacklog(): Promise<Map<string, TargetStats>> {
    const out = new Map<string, TargetStats>();
    const b = this.backlog;
    if (!b) return out;
    for (const target of b.targets) {
      try {
        out.set(target, await b.store.egress.stats(target));
      } catch {
        // The database is away: no sample for this target; scimbridge_store_errors_total and /readyz tell why.
      }
    }
    return out;
  }

  watchBacklog(store: Store, targets: string[]): void {
    this.backlog = targets.length ? { store, targets } : undefined;
  }

  request(labels: RequestLabels, seconds: number): void {
    this.requests.inc(labels);
    this.duration.observe({ mount: labels.mount, method: labels.method, resource: labels.resource }, seconds);
    if (labels.status === '429') this.rateLimited.inc({ mount: labels.mount });
  }

  storeError(kind: 'unavailable' | 'internal'): void {
    this.storeErrors.inc({ kind });
  }

  /** The hooks the delivery worker reports through. */
  egress(): EgressMetrics {
    return {
      attempt: (target, outcome, latencyMs) => {
        this.attempts.inc({ target, outcome });
        if (latencyMs !== undefined) this.attemptSeconds.observe({ target }, latencyMs / 1000);
      },
      delivered: (target, events) => this.delivered.inc({ target }, events),
      dead: (target, events) => this.dead.inc({ target }, events),
      deprovisioned: (target, users) => this.deprovisioned.inc({ target }, users),
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
