// Hooks the delivery worker reports through; the operations work wires them to Prometheus.
export interface EgressMetrics {
  attempt(target: string, outcome: 'success' | 'retry' | 'permanent' | 'skip', latencyMs?: number): void;
  delivered(target: string, events: number, batchMs: number, oldestOccurredAt?: string): void;
  dead(target: string, events: number): void;
  /** Users removed from target groups because they were deactivated. */
  deprovisioned(target: string, users: number): void;
}

/** What a reconciliation run reports (ops/metrics.ts: scimbridge_reconcile_*). */
export interface ReconcileMetrics {
  reconciled(target: string, outOfSync: number, repairs: number, at: number): void;
}

export const noMetrics: EgressMetrics = {
  attempt: () => undefined,
  delivered: () => undefined,
  dead: () => undefined,
  deprovisioned: () => undefined,
};
