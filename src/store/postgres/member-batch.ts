// Group commit of member changes on PostgreSQL. Identity providers change membership one request at a time, often
// many at once against the same group; each alone would be a round trip, a lock on the group's row held through a
// commit, and a WAL flush. Here requests that arrive while earlier batches are still running (or within one
// event-loop turn, plus an optional window) are applied together by one statement (member-batch-sql.ts): one round
// trip, one lock per group, one commit. Each request still gets its own answer, version, events and audit record,
// and its own error: a request naming an unknown user fails alone, and when the batch statement itself fails
// (a deadlock, a group deleted under it, a lost connection) every request of it is run again alone.
import type { Pool } from 'pg';
import type { AuditActor } from '../audit';
import { StoreError, unknownMembers } from '../errors';
import { MEMBER_IDS_PER_EVENT } from '../events';
import { uniqueSorted } from '../member-ids';
import { now } from '../write-rules';
import { MEMBER_BATCH_SQL } from './member-batch-sql';
import { memberWriteError, type GroupRow } from './member-statement';
import { isRetryable, mapError, prepared } from './pool';

export interface MemberChangeRequest {
  tenant: string;
  groupId: string;
  op: 'add' | 'remove';
  memberIds: string[];
  actor?: AuditActor;
}

export interface MemberChangeOutcome {
  /** The group after this request (its own version when it changed membership). */
  group: GroupRow;
  /** Member ids actually added or removed, sorted. */
  changed: string[];
}

export interface MemberBatchOptions {
  /**
   * Batches running at once (each holds one pooled connection); requests arriving meanwhile wait and join the next.
   * 0 turns group commit off: every request is a statement of its own, started at once.
   */
  inFlight: number;
  /** Extra time to gather requests after the first of a batch arrives, in microseconds (0: one event-loop turn). */
  windowUs: number;
  /** Requests per batch. */
  maxRequests: number;
  /** Member ids per batch (a single larger request still runs, alone). */
  maxIds: number;
}

export const DEFAULT_MEMBER_BATCH: MemberBatchOptions = { inFlight: 1, windowUs: 0, maxRequests: 256, maxIds: 20_000 };

interface Pending {
  req: MemberChangeRequest;
  ids: string[];
  resolve: (o: MemberChangeOutcome) => void;
  reject: (e: unknown) => void;
}

interface Row {
  n: number; missing: string[] | null; changed: string[] | null; grp: GroupRow | null; version: number | null;
}

const MAX_TRIES = 5;

export class MemberBatcher {
  private queue: Pending[] = [];
  private running = 0;
  private waiting = false;

  constructor(
    private readonly pool: Pool,
    private readonly committed: () => void,
    private readonly options: MemberBatchOptions = DEFAULT_MEMBER_BATCH,
  ) {}

  submit(req: MemberChangeRequest): Promise<MemberChangeOutcome> {
    return new Promise((resolve, reject) => {
      const p = { req, ids: uniqueSorted(req.memberIds), resolve, reject };
      // Off (no batches): each request is its own statement at once, as a batch of one.
      if (this.options.inFlight === 0) {
        void this.run([p]);
        return;
      }
      this.queue.push(p);
      this.schedule();
    });
  }

  /** Once per turn at most: gather what arrives in this turn (and the window), then start what the limit allows. */
  private schedule(): void {
    if (this.waiting || this.running >= this.options.inFlight) return;
    this.waiting = true;
    const until = process.hrtime.bigint() + BigInt(this.options.windowUs) * 1000n;
    const tick = (): void => {
      // setImmediate lets I/O callbacks (arriving requests) run between checks; the window is measured, not slept.
      if (this.options.windowUs > 0 && process.hrtime.bigint() < until) {
        setImmediate(tick);
        return;
      }
      this.waiting = false;
      this.pump();
    };
    setImmediate(tick);
  }

  private pump(): void {
    while (this.running < this.options.inFlight && this.queue.length) {
      const batch = this.take();
      this.running++;
      void this.run(batch).finally(() => {
        this.running--;
        if (this.queue.length) this.pump();
      });
    }
  }

  /**
   * The next batch off the queue, in arrival order and of one tenant. Requests naming the same (group, member) pair
   * may share a batch: the statement applies them one after the other. What does not fit keeps its place.
   */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const tenant = this.queue[0].req.tenant;
    let ids = 0;
    let full = false;
    for (const p of this.queue) {
      // Once one of the tenant's requests does not fit, none after it may go ahead of it.
      full ||= p.req.tenant === tenant && batch.length > 0
        && (batch.length >= this.options.maxRequests || ids + p.ids.length > this.options.maxIds);
      if (full || p.req.tenant !== tenant) {
        rest.push(p);
        continue;
      }
      batch.push(p);
      ids += p.ids.length;
    }
    this.queue = rest;
    return batch;
  }

  private async run(batch: Pending[]): Promise<void> {
    let rows: Row[];
    let stamp: string;
    try {
      ({ rows, stamp } = await this.statement(batch, batch.length === 1 ? MAX_TRIES : 1));
    } catch (e) {
      if (batch.length === 1) {
        batch[0].reject(mapError(memberWriteError(e, batch[0].req.groupId)));
        return;
      }
      // Whatever failed the batch is retried for each request alone, so a failure belongs to its own request; one
      // after the other, so that requests naming the same member still apply in arrival order.
      for (const p of batch) await this.run([p]);
      return;
    }
    let changed = false;
    for (const row of rows) {
      const p = batch[row.n - 1];
      if (row.missing?.length) {
        p.reject(unknownMembers(row.missing));
      } else if (!row.grp) {
        p.reject(new StoreError('not_found', `Group ${p.req.groupId} not found`));
      } else {
        const ids = row.changed ?? [];
        if (ids.length) changed = true;
        // A request after a change of the same group in this batch sees that change's version, as it would alone.
        const version = row.version ?? row.grp.version;
        const group = version !== row.grp.version ? { ...row.grp, version, modified: stamp } : row.grp;
        p.resolve({ group, changed: ids });
      }
    }
    if (changed) this.committed();
  }

  private async statement(batch: Pending[], tries: number): Promise<{ rows: Row[]; stamp: string }> {
    const tenant = batch[0].req.tenant;
    const col = <T>(f: (p: Pending) => T): T[] => batch.map(f);
    const memberReq: number[] = [];
    const memberIds: string[] = [];
    batch.forEach((p, i) => { for (const m of p.ids) { memberReq.push(i + 1); memberIds.push(m); } });
    for (let attempt = 1; ; attempt++) {
      const stamp = now();
      const values = [
        tenant, stamp, MEMBER_IDS_PER_EVENT,
        col((p) => p.req.groupId), col((p) => p.req.op), col((p) => !!p.req.actor),
        col((p) => p.req.actor?.subject ?? null), col((p) => p.req.actor?.jti ?? null), col((p) => p.req.actor?.mount ?? null),
        col((p) => p.req.actor?.operation ?? null), col((p) => p.req.actor?.requestId ?? null),
        memberReq, memberIds,
      ];
      try {
        return { rows: (await this.pool.query<Row>({ ...prepared(MEMBER_BATCH_SQL), values })).rows, stamp };
      } catch (e) {
        if (attempt < tries && isRetryable(e)) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
          continue;
        }
        throw e;
      }
    }
  }
}
