// The delivery side of the store: deliveries per target, attempts, and links. The worker owns timing and
// ordering decisions; the store makes each state change atomic.
import type { EventType } from './events';

export type DeliveryState = 'pending' | 'in_flight' | 'done' | 'skipped' | 'dead';
/** What a replay of all of a target's deliveries can take back to pending. */
export type ReplayableState = 'dead' | 'skipped';
type AttemptOutcome = 'success' | 'retry' | 'permanent' | 'skip';

export interface QueuedEvent {
  seq: number;
  type: EventType;
  payload: Record<string, unknown>;
  attempts: number;
  /** When the change committed (outbox row). */
  occurredAt: string;
}

/** Open deliveries of one aggregate (group or user) for one target, in commit order, claimed together. */
export interface ClaimedBatch {
  target: string;
  tenant: string;
  aggregate: string;
  events: QueuedEvent[];
}

export interface DeliveryRow {
  target: string;
  seq: number;
  tenant: string;
  aggregate: string;
  type: EventType;
  state: DeliveryState;
  attempts: number;
  nextAt: number;
  lastStatus?: number;
  lastError?: string;
  created: string;
  updated: string;
}

export interface AttemptRecord {
  target: string;
  aggregate: string;
  firstSeq: number;
  lastSeq: number;
  request?: string;
  status?: number;
  latencyMs?: number;
  outcome: AttemptOutcome;
  error?: string;
  /** When the attempt was made (ISO); the time of recording when absent. */
  at?: string;
}

export interface AttemptRow extends AttemptRecord {
  id: number;
  at: string;
}

export type LinkKind = 'group' | 'user';
type LinkSource = 'config' | 'admin' | 'created' | 'lookup';

export interface LinkRow {
  target: string;
  kind: LinkKind;
  scimId: string;
  tenant: string;
  remoteId: string;
  source: LinkSource;
  created: string;
}

export interface DeliveryQuery {
  target?: string;
  tenant?: string;
  state?: DeliveryState;
  aggregate?: string;
  /** Newest first; page with beforeSeq. */
  beforeSeq?: number;
  limit: number;
}

export interface TargetStats {
  pending: number;
  inFlight: number;
  done: number;
  skipped: number;
  dead: number;
  /** Age in ms of the oldest open delivery, if any. */
  oldestOpenMs?: number;
  lastSuccessAt?: string;
  lastFailureAt?: string;
}

/** A target's delivery counts at one time (target_samples), for the console's backlog and throughput chart. */
export interface TargetSample {
  at: string;
  pending: number;
  inFlight: number;
  dead: number;
  done: number;
  skipped: number;
}

/** One change event as the outbox holds it. */
export interface OutboxRow {
  seq: number;
  tenant: string;
  aggregate: string;
  type: EventType;
  payload: Record<string, unknown>;
  created: string;
}

export interface OutboxQuery {
  tenant?: string;
  aggregate?: string;
  /** Only events after this seq. */
  afterSeq?: number;
  /** Oldest first (default) or newest first. */
  order?: 'asc' | 'desc';
  limit: number;
}

export interface AttemptQuery {
  target?: string;
  outcome?: AttemptOutcome;
  limit: number;
}

/**
 * What reconciliation compares, a page at a time: SCIM members expected at the target (active ones only when the
 * target withdraws deactivated users) against the remote ids a run has read (addSeen).
 * - missing: expected members whose user link names no remote id the run saw (or who have no user link);
 * - extra: remote ids the run saw that are linked to a SCIM user who is not an expected member;
 * - unlinked: remote ids the run saw that no user link of the target's tenant names.
 * `ids` are SCIM user ids (missing, extra) or remote ids (unlinked); `next` continues after the page.
 */
export interface ReconcileDiffQuery {
  kind: 'missing' | 'extra' | 'unlinked';
  target: string;
  tenant: string;
  groupId: string;
  run: string;
  activeOnly: boolean;
  after?: string;
  limit: number;
}

export interface ReconcileDiffPage {
  ids: string[];
  next?: string;
}

export interface SettleInfo {
  status?: number;
  error?: string;
}

export interface EgressStore {
  /** Takes the tenant's outbox events after the target's cursor (of the given types) as pending deliveries. */
  ingest(target: string, tenant: string, types: readonly EventType[], limit: number): Promise<number>;
  /**
   * Claims up to maxBatches aggregates whose first open delivery is due (pending and next_at passed, or in flight
   * with an expired lease), each with up to maxEvents of its open deliveries, leased until now + leaseMs.
   */
  claim(target: string, now: number, leaseMs: number, maxBatches: number, maxEvents: number): Promise<ClaimedBatch[]>;
  /** Final state for these deliveries, recorded together with the batch's attempts. */
  settle(target: string, seqs: number[], state: 'done' | 'skipped' | 'dead', info: SettleInfo, attempts?: AttemptRecord[]): Promise<void>;
  /** Back to pending after a failed try: attempts + 1, due at nextAt; records the attempts too. */
  retryLater(target: string, seqs: number[], nextAt: number, info: SettleInfo, attempts?: AttemptRecord[]): Promise<void>;
  /** Keeps a long-running batch leased (the worker renews while it delivers). */
  extendLease(target: string, seqs: number[], until: number): Promise<void>;
  /** Back to pending without counting a try (shutdown). */
  release(target: string, seqs: number[]): Promise<void>;
  recordAttempts(rows: AttemptRecord[]): Promise<void>;

  getLink(target: string, kind: LinkKind, scimId: string): Promise<LinkRow | undefined>;
  setLink(link: Omit<LinkRow, 'created'>): Promise<void>;
  removeLink(target: string, kind: LinkKind, scimId: string): Promise<boolean>;
  listLinks(target: string, kind?: LinkKind): Promise<LinkRow[]>;

  listDeliveries(q: DeliveryQuery): Promise<DeliveryRow[]>;
  /** Outbox events (for operators and tests: what a change wrote, in commit order). */
  listOutbox(q: OutboxQuery): Promise<OutboxRow[]>;
  /** Delivery attempts in the order recorded. */
  listAttempts(q: AttemptQuery): Promise<AttemptRow[]>;
  getDelivery(target: string, seq: number): Promise<{ delivery: DeliveryRow; payload: Record<string, unknown>; attempts: AttemptRow[] } | undefined>;
  /**
   * Deliveries back to pending with a fresh retry count; returns how many. Given seqs: those of them that are dead,
   * done or skipped. Otherwise every one of the target's in `state`: dead letters (the default), or skips (events
   * skipped for a reason that may have gone away since, e.g. a group linked after its events were skipped).
   */
  replay(target: string, seqs?: number[], state?: ReplayableState): Promise<number>;
  stats(target: string): Promise<TargetStats>;
  /**
   * Keeps a sample of the target's counts at `at` (one per target and time: a second sample for the same time is
   * ignored), and drops the target's samples older than `keepSince`.
   */
  recordSample(target: string, sample: TargetSample, keepSince: string): Promise<void>;
  /** The target's samples from `since` on, oldest first. */
  listSamples(target: string, since: string): Promise<TargetSample[]>;
  /** Open deliveries across all targets (metrics). */
  openCount(): Promise<number>;
  /** Open (pending or in-flight) deliveries of one aggregate for one target. */
  openCountOf(target: string, aggregate: string): Promise<number>;

  /** Reconciliation: remote member ids a run has read (kept until dropSeen), and the differences they make. */
  addSeen(run: string, remoteIds: readonly string[]): Promise<void>;
  dropSeen(run: string): Promise<void>;
  reconcileDiff(q: ReconcileDiffQuery): Promise<ReconcileDiffPage>;
}
