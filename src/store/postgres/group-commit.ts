// Writes that commit together on PostgreSQL. The transactions that the writes of one batch (the store's `together`
// view, postgres/index.ts) open in one event-loop turn are run in shared transactions on pooled connections: a write
// that fails is rolled back alone (to its savepoint) and answered alone, its neighbours commit. One COMMIT (one WAL
// flush) serves up to CHUNK writes instead of one each. Each caller is answered after the COMMIT that made its write
// durable.
// A chunk whose writes are all rows of one kind (user POSTs: user-batch.ts) is written by one statement instead of one
// per write, when that statement succeeds.
//
// Only callers that know their writes are independent use it (a Bulk round: different resources, different
// userNames). Writes that could lock rows in opposite orders across transactions would risk deadlocks while a chunk
// holds the locks of all its writes; that is why it is opt-in rather than the default for every write.
import type { Pool, PoolClient } from 'pg';
import type { AuditActor } from '../audit';
import { isRetryable, mapError, rollbackAndRelease } from './pool';

/** A write's view of its transaction: the client, plus what it emitted. */
export interface Tx {
  c: PoolClient;
  eventsWritten: boolean;
  /** Who asks, for the audit record the write emits (none: not audited). */
  actor?: AuditActor;
}

type Write = (t: Tx) => Promise<unknown>;

/**
 * A write that can also run as one row of a statement over its chunk (user-batch.ts): `kind` names the runner in
 * GroupCommitDeps.rows, `row` is its input. Its `fn` stays the way it runs alone, or when the rows cannot.
 */
export interface RowWrite {
  kind: string;
  row: unknown;
}

/**
 * Runs a chunk's rows (all of one kind) as one statement on the client, inside the chunk's transaction. Answers per
 * row, in order (a row written is a change with its events); throws when the rows cannot run so, and the chunk's
 * writes then run one by one.
 */
type RowRunner = (c: PoolClient, rows: unknown[], actors: (AuditActor | undefined)[]) => Promise<RowResult[]>;
type RowResult = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Queued {
  fn: Write;
  actor?: AuditActor;
  row?: RowWrite;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Writes per transaction. Every savepoint that writes takes a subtransaction id, and a backend caches 64 of them;
 * beyond that every snapshot in the cluster has to look subtransactions up on disk. Savepoints are not released,
 * which spares a round trip per write and changes nothing for the count.
 */
const CHUNK = 64;


export interface GroupCommitDeps {
  pool: Pool;
  /** The store's own one-write transaction, for a write whose savepoint hit a deadlock or serialization failure. */
  solo: (fn: Write, actor?: AuditActor) => Promise<unknown>;
  /** After each COMMIT that wrote change events. */
  committed: () => void;
  /** Shared transactions at once (each holds a pooled connection until its COMMIT). */
  parallel: number;
  /** Runners for writes enqueued with a RowWrite, by kind. */
  rows?: Record<string, RowRunner>;
}

/** The writes of one together() call, carried by the store's view (see Store.together for why not by context). */
export class Batch {
  private queue: Queued[] = [];
  private scheduled = false;

  constructor(private readonly deps: GroupCommitDeps) {}

  enqueue(fn: Write, actor?: AuditActor, row?: RowWrite): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fn, actor, row, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const items = this.queue;
    this.queue = [];
    this.scheduled = false;
    if (items.length === 1) {
      const [only] = items;
      this.deps.solo(only.fn, only.actor).then(only.resolve, only.reject);
      return;
    }
    const chunks: Queued[][] = [];
    for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) await this.runChunk(chunks[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(this.deps.parallel, chunks.length) }, lane));
  }

  /**
   * One transaction over the chunk; never throws (each write is answered). The writes run back to back first, as on
   * SQLite: a savepoint costs a round trip per write, and writes rarely fail after they have written (checks come
   * first). When one fails, the chunk is rolled back and run again with a savepoint per write.
   */
  private async runChunk(chunk: Queued[]): Promise<void> {
    let client: PoolClient;
    try {
      client = await this.deps.pool.connect();
    } catch (e) {
      for (const q of chunk) q.reject(mapError(e));
      return;
    }
    try {
      const outcome = (await this.attemptRows(client, chunk)) ?? (await this.attempt(client, chunk, false))
        ?? (await this.attempt(client, chunk, true))!;
      client.release();
      for (const [q, r] of outcome.results) {
        if (r.ok) q.resolve(r.value);
        else if (!r.retry) q.reject(mapError(r.error));
      }
      if (outcome.eventsWritten) this.deps.committed();
      // A deadlock or serialization failure is retried as the write alone would be, once this chunk's locks are gone.
      for (const [q, r] of outcome.results) if (!r.ok && r.retry) this.deps.solo(q.fn, q.actor).then(q.resolve, q.reject);
    } catch (e) {
      // BEGIN, a savepoint or COMMIT failed: nothing of the chunk is committed.
      await rollbackAndRelease(client);
      if (isRetryable(e)) for (const q of chunk) this.deps.solo(q.fn, q.actor).then(q.resolve, q.reject);
      else for (const q of chunk) q.reject(mapError(e));
    }
  }

  /**
   * BEGIN, one statement over the chunk's rows, COMMIT: when every write of the chunk is a row of one kind with a
   * runner. Undefined (nothing committed) when they are not, or when the statement failed as a whole.
   */
  private async attemptRows(client: PoolClient, chunk: Queued[]): Promise<ChunkOutcome | undefined> {
    const kind = chunk[0].row?.kind;
    const runner = kind === undefined ? undefined : this.deps.rows?.[kind];
    if (!runner || chunk.some((q) => q.row?.kind !== kind)) return undefined;
    await client.query('BEGIN');
    let answers: RowResult[];
    try {
      answers = await runner(client, chunk.map((q) => q.row!.row), chunk.map((q) => q.actor));
    } catch {
      await client.query('ROLLBACK');
      return undefined;
    }
    await client.query('COMMIT');
    const results = new Map<Queued, Result>(chunk.map((q, i) => {
      const a = answers[i];
      return [q, a.ok ? a : { ok: false, error: a.error, retry: false }];
    }));
    return { results, eventsWritten: answers.some((a) => a.ok) };
  }

  /**
   * BEGIN, the writes, COMMIT. Without savepoints (`isolated` false) the first failing write abandons the attempt:
   * rolled back, undefined returned. With them, each failure is rolled back alone and reported for its write.
   */
  private async attempt(client: PoolClient, chunk: Queued[], isolated: boolean): Promise<ChunkOutcome | undefined> {
    const results = new Map<Queued, Result>();
    let eventsWritten = false;
    await client.query('BEGIN');
    for (const q of chunk) {
      const t: Tx = { c: client, eventsWritten: false, actor: q.actor };
      if (isolated) await client.query('SAVEPOINT w');
      try {
        results.set(q, { ok: true, value: await q.fn(t) });
        eventsWritten ||= t.eventsWritten;
      } catch (error) {
        if (!isolated) {
          await client.query('ROLLBACK');
          return undefined;
        }
        await client.query('ROLLBACK TO SAVEPOINT w');
        results.set(q, { ok: false, error, retry: isRetryable(error) });
      }
    }
    await client.query('COMMIT');
    return { results, eventsWritten };
  }
}

type Result = { ok: true; value: unknown } | { ok: false; error: unknown; retry: boolean };

interface ChunkOutcome {
  results: Map<Queued, Result>;
  eventsWritten: boolean;
}
