// The delivery worker: takes each target's new outbox events, claims due batches (one aggregate at a time per
// target, in commit order), hands them to the target's connector, and records the outcome: done, skipped, retried
// later on the target's schedule, or dead. Leases make it crash-safe: a batch claimed by a process that died is
// claimed again when its lease expires, so every event is delivered at least once.
import type { Logger } from 'pino';
import type { AttemptRecord, ClaimedBatch } from '../store/egress-types';
import type { Store } from '../store/types';
import type { Connector, DeliveryContext } from './connector';
import { DeliveryError, retry } from './errors';
import { call, type CallRecorder } from './http';
import { noMetrics, type EgressMetrics } from './metrics';
import { retryDelay } from './retry';
import type { TargetConfig } from './targets';

export interface WorkerOptions {
  pollMs?: number;
  leaseMs?: number;
  /** Batches of one target in flight at once (each a different aggregate). */
  concurrency?: number;
  maxEventsPerBatch?: number;
  /**
   * How long a new event waits before it is delivered, so a burst of changes to one group (100 renames sent back
   * to back) leaves as one coalesced call. 0 delivers at once.
   */
  coalesceMs?: number;
  metrics?: EgressMetrics;
}

interface RuntimeTarget {
  config: TargetConfig;
  connector: Connector;
  pausedUntil: number;
  inFlight: number;
}

export class DeliveryWorker {
  private readonly targets: RuntimeTarget[];
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private readonly active = new Set<Promise<void>>();
  private readonly claimed = new Map<string, { target: string; seqs: number[] }>();
  private unsubscribe?: () => void;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly concurrency: number;
  private readonly maxEvents: number;
  private readonly coalesceMs: number;
  private followUp?: NodeJS.Timeout;
  private readonly metrics: EgressMetrics;
  /** When the last pass of the loop ended (or the loop started), for isAlive(). */
  private lastPassAt = 0;

  constructor(private readonly store: Store, targets: { config: TargetConfig; connector: Connector }[],
    private readonly log: Logger, opts: WorkerOptions = {}) {
    this.targets = targets.filter((t) => t.config.enabled).map((t) => ({ ...t, pausedUntil: 0, inFlight: 0 }));
    this.pollMs = opts.pollMs ?? 500;
    this.leaseMs = opts.leaseMs ?? 5 * 60_000;
    this.concurrency = opts.concurrency ?? 8;
    this.maxEvents = opts.maxEventsPerBatch ?? 500;
    this.coalesceMs = opts.coalesceMs ?? 200;
    this.metrics = opts.metrics ?? noMetrics;
  }

  start(): void {
    if (this.running || this.targets.length === 0) return;
    this.running = true;
    this.lastPassAt = Date.now();
    // A commit that wrote events wakes the worker at once; the poll catches other processes' commits and retries.
    this.unsubscribe = this.store.onCommit(() => this.wake());
    this.schedule(0);
  }

  /** Stops claiming; waits for batches in flight up to `graceMs`, then hands the rest back for another run. */
  async stop(graceMs = 10_000): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.followUp) clearTimeout(this.followUp);
    // A pass still taking in or claiming finishes first (it would otherwise touch a store being closed).
    const all = Promise.allSettled([...this.active, ...(this.pass ? [this.pass] : [])]);
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs).unref())]);
    for (const { target, seqs } of this.claimed.values()) await this.store.egress.release(target, seqs).catch(() => undefined);
  }

  /**
   * For readiness: the loop was started and its last pass ended (successfully or not) within a few poll intervals.
   * A worker with no enabled target has nothing to do and counts as alive.
   */
  isAlive(now = Date.now()): boolean {
    if (this.targets.length === 0) return true;
    return this.running && now - this.lastPassAt <= Math.max(5 * this.pollMs, 5000);
  }

  /** Runs one pass over every target (tests drive the worker with this). */
  async runOnce(): Promise<void> {
    await this.tick();
    await Promise.allSettled([...this.active]);
  }

  /** Waits until nothing is open or in flight (or the timeout passes). */
  async drain(timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      await this.tick();
      await Promise.allSettled([...this.active]);
      if ((await this.store.egress.openCount()) === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** New events wait out the coalescing window: look again right after it. */
  private comeBackAfterWindow(): void {
    if (this.followUp || !this.running) return;
    this.followUp = setTimeout(() => {
      this.followUp = undefined;
      this.wake();
    }, this.coalesceMs + 5);
    this.followUp.unref?.();
  }

  private wake(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.tick().catch((e) => this.log.error({ err: e }, 'delivery worker pass failed')).finally(() => {
        this.lastPassAt = Date.now();
        if (!this.running) return;
        const soon = this.again;
        this.again = false;
        this.schedule(soon ? 0 : this.pollMs);
      });
    }, ms);
    this.timer.unref?.();
  }

  /** The pass running now, if any (a wake meanwhile asks for another right after it; stop waits for it). */
  private pass?: Promise<void>;

  private tick(): Promise<void> {
    const p = this.runPass().finally(() => { if (this.pass === p) this.pass = undefined; });
    this.pass = p;
    return p;
  }

  private async runPass(): Promise<void> {
    for (const t of this.targets) {
      const taken = await this.store.egress.ingest(t.config.name, t.config.tenant, t.connector.types, 5000);
      if (taken > 0 && this.coalesceMs > 0) this.comeBackAfterWindow();
      // Read the clock after ingest, so what was just taken in counts from now.
      const now = Date.now();
      if (t.pausedUntil > now) continue;
      const room = this.concurrency - t.inFlight;
      if (room <= 0) continue;
      // An event is due once it has waited out the coalescing window (claim compares next_at with this time).
      const batches = await this.store.egress.claim(t.config.name, now - this.coalesceMs, this.leaseMs, room, this.maxEvents);
      for (const b of batches) this.launch(t, b);
    }
  }

  private launch(t: RuntimeTarget, batch: ClaimedBatch): void {
    const key = `${t.config.name}\u0000${batch.aggregate}`;
    this.claimed.set(key, { target: t.config.name, seqs: batch.events.map((e) => e.seq) });
    t.inFlight++;
    const p = this.deliver(t, batch)
      .catch((e) => this.log.error({ err: e, target: t.config.name }, 'delivery bookkeeping failed'))
      .finally(() => {
        t.inFlight--;
        this.claimed.delete(key);
        this.active.delete(p);
        if (this.running) this.wake();
      });
    this.active.add(p);
  }

  private async deliver(t: RuntimeTarget, batch: ClaimedBatch): Promise<void> {
    const seqs = batch.events.map((e) => e.seq);
    const span = { target: t.config.name, aggregate: batch.aggregate, firstSeq: seqs[0], lastSeq: seqs[seqs.length - 1] };
    const attempts: AttemptRecord[] = [];
    const completed = new Set<number>();
    const skips: string[] = [];
    let deprovisioned = 0;
    const recorder: CallRecorder = {
      record: (a) => {
        attempts.push({ ...span, ...a, at: new Date().toISOString() });
        this.metrics.attempt(t.config.name, a.outcome, a.latencyMs);
      },
      pauseUntil: (at) => {
        t.pausedUntil = Math.max(t.pausedUntil, at);
      },
    };
    const ctx: DeliveryContext = {
      target: t.config,
      batch,
      store: this.store,
      log: this.log,
      call: (spec) => {
        // A rate limit seen earlier in this batch holds its later calls too.
        const wait = t.pausedUntil - Date.now();
        if (wait > 0) return Promise.reject(retry('the target asked us to wait (rate limit)', { retryAfterMs: wait }));
        return call(t.config.baseUrl, t.connector.authHeaders(), t.config.timeoutMs, spec, recorder);
      },
      noteSkip: (reason) => {
        skips.push(reason);
        attempts.push({ ...span, outcome: 'skip', error: reason, at: new Date().toISOString() });
      },
      completed: (done) => done.forEach((s) => completed.add(s)),
      noteDeprovisioned: (users) => { deprovisioned += users; },
    };
    const started = Date.now();
    // Renew the lease while delivering, so a long batch is never claimed by another worker mid-way.
    const renew = setInterval(() => {
      this.store.egress.extendLease(t.config.name, seqs, Date.now() + this.leaseMs).catch(() => undefined);
    }, Math.max(1000, Math.floor(this.leaseMs / 3)));
    renew.unref?.();
    try {
      await t.connector.deliver(ctx);
    } catch (e) {
      const err = e instanceof DeliveryError ? e : new DeliveryError('retry', `connector failed: ${(e as Error).message}`);
      for (const s of err.info.completed ?? []) completed.add(s);
      const rest = seqs.filter((s) => !completed.has(s));
      const failing = err.info.only ? rest.filter((s) => err.info.only!.includes(s)) : rest;
      const untried = rest.filter((s) => !failing.includes(s));
      if (completed.size) await this.store.egress.settle(t.config.name, [...completed], 'done', {}, failing.length ? [] : attempts);
      if (untried.length) await this.store.egress.release(t.config.name, untried);
      if (failing.length) await this.failed(t, batch, failing, err, attempts);
      return;
    } finally {
      clearInterval(renew);
    }
    // Done, with the attempts (and any member skips) recorded in the same transaction.
    await this.store.egress.settle(t.config.name, seqs, 'done', { error: skips.length ? skips.join('; ') : undefined }, attempts);
    this.metrics.delivered(t.config.name, seqs.length, Date.now() - started, batch.events[0]?.occurredAt);
    if (deprovisioned) this.metrics.deprovisioned(t.config.name, deprovisioned);
  }

  private async failed(t: RuntimeTarget, batch: ClaimedBatch, seqs: number[], err: DeliveryError, attempts: AttemptRecord[]): Promise<void> {
    const name = t.config.name;
    const info = { status: err.info.status, error: err.info.body ? `${err.message}: ${err.info.body}` : err.message };
    if (err.kind === 'skip') {
      attempts.push({ target: name, aggregate: batch.aggregate, firstSeq: seqs[0], lastSeq: seqs[seqs.length - 1], outcome: 'skip', error: err.message });
      await this.store.egress.settle(name, seqs, 'skipped', { error: err.message }, attempts);
      return;
    }
    if (err.kind === 'permanent') {
      await this.store.egress.settle(name, seqs, 'dead', info, attempts);
      this.metrics.dead(name, seqs.length);
      this.log.warn({ target: name, aggregate: batch.aggregate, status: err.info.status }, 'delivery failed permanently; dead-lettered');
      return;
    }
    const tries = Math.max(...batch.events.filter((e) => seqs.includes(e.seq)).map((e) => e.attempts)) + 1;
    const delay = retryDelay(t.config.retrySchedule, tries, err.info.retryAfterMs);
    if (delay === undefined) {
      await this.store.egress.settle(name, seqs, 'dead', { ...info, error: `retries exhausted after ${tries} tries; last: ${info.error}` }, attempts);
      this.metrics.dead(name, seqs.length);
      this.log.warn({ target: name, aggregate: batch.aggregate }, 'delivery retries exhausted; dead-lettered');
      return;
    }
    if (err.info.retryAfterMs) t.pausedUntil = Math.max(t.pausedUntil, Date.now() + err.info.retryAfterMs);
    await this.store.egress.retryLater(name, seqs, Date.now() + delay, info, attempts);
  }
}
