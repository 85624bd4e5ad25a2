// Group commit for the SQLite store: writes queued while the event loop is busy run together in one transaction,
// and each is acknowledged only after the COMMIT that made it durable. One commit per batch is what lets
// synchronous=FULL keep up with concurrent requests.
import type Database from 'better-sqlite3';

interface QueuedWrite<C> {
  fn: () => unknown;
  context?: C;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface GroupCommitHooks<C> {
  /** Called before each write runs, with the context it was queued with (the store's audit actor). */
  enter(context: C | undefined): void;
  leave(): void;
  /** After each batch, once its writes have been answered (a lone write that failed committed nothing). */
  committed(): void;
}

export class GroupCommit<C> {
  private queue: QueuedWrite<C>[] = [];
  private scheduled = false;

  constructor(private readonly db: Database.Database, private readonly hooks: GroupCommitHooks<C>) {}

  /**
   * Runs `fn` in the next batch; settles after that batch commits. `fn` must be synchronous SQL whose only effects
   * are in the database: when another write of its batch fails, the batch is rolled back and `fn` runs again.
   */
  run<T>(fn: () => T, context?: C): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, context, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    if (batch.length === 0) return;
    let outcomes: Outcome[] | undefined;
    try {
      // Writes run back to back first. A savepoint per write would let one failure roll back only its own work,
      // but SQLite copies every page a savepoint touches (16 KiB each here) to its statement journal: measured,
      // that was most of the cost of a one-member PATCH. Writes rarely fail after they have written (checks come
      // first), so a failure rolls the whole batch back and runs it again with a savepoint per write.
      outcomes = this.runBatch(batch, false) ?? this.runBatch(batch, true);
    } catch (e) {
      for (const item of batch) item.reject(e);
      return;
    }
    batch.forEach((item, i) => {
      const o = outcomes![i];
      if (o.ok) item.resolve(o.value);
      else item.reject(o.error);
    });
    this.hooks.committed();
  }

  /**
   * One transaction over the batch. Without savepoints (`isolated` false) the first failing write abandons the
   * batch: rolled back, undefined returned. With them, each failure is rolled back alone and reported for its write.
   * A failure of BEGIN or COMMIT itself rolls back and throws (every write of the batch fails with it).
   */
  private runBatch(batch: QueuedWrite<C>[], isolated: boolean): Outcome[] | undefined {
    const outcomes: Outcome[] = [];
    try {
      this.db.exec('BEGIN IMMEDIATE');
      for (const item of batch) {
        this.hooks.enter(item.context);
        try {
          outcomes.push({ ok: true, value: isolated ? this.db.transaction(item.fn)() : item.fn() });
        } catch (error) {
          if (!isolated) {
            // A single write's failure is its own answer: nothing else to keep, so no second run.
            if (batch.length === 1) outcomes.push({ ok: false, error });
            if (this.db.inTransaction) this.db.exec('ROLLBACK');
            return batch.length === 1 ? outcomes : undefined;
          }
          outcomes.push({ ok: false, error });
        } finally {
          this.hooks.leave();
        }
      }
      this.db.exec('COMMIT');
      return outcomes;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }
}
