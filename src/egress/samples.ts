// Samples of each target's delivery counts, taken by the process that runs the delivery worker, for the operator
// console's backlog and throughput chart. Times are rounded down to the interval, so replicas sampling in the same
// interval keep one row; a day of samples is kept.
import type { Logger } from 'pino';
import type { Store } from '../store/types';
import type { TargetConfig } from './targets';

const KEEP_MS = 24 * 3600_000;

export async function sampleTargets(store: Store, targets: readonly TargetConfig[], intervalMs: number, now = Date.now()): Promise<void> {
  const at = new Date(Math.floor(now / intervalMs) * intervalMs).toISOString();
  const keepSince = new Date(now - KEEP_MS).toISOString();
  for (const t of targets) {
    const h = await store.egress.stats(t.name);
    await store.egress.recordSample(t.name, { at, pending: h.pending, inFlight: h.inFlight, dead: h.dead, done: h.done, skipped: h.skipped }, keepSince);
  }
}

/** Samples now and then every interval; returns a stop function. */
export function scheduleTargetSamples(store: Store, targets: readonly TargetConfig[], intervalMs: number, log: Logger): () => void {
  let running = false;
  const take = () => {
    if (running) return;
    running = true;
    sampleTargets(store, targets, intervalMs)
      .catch((e) => log.warn({ err: (e as Error).message }, 'target sampling failed'))
      .finally(() => { running = false; });
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref?.();
  return () => clearInterval(timer);
}
