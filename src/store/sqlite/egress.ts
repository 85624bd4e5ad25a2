// SQLite implementation of the delivery store. Each method is one synchronous transaction.
import type Database from 'better-sqlite3';
import type {
  AttemptRecord, AttemptRow, ClaimedBatch, DeliveryQuery, DeliveryRow, DeliveryState, EgressStore, LinkKind,
  LinkRow, OutboxQuery, OutboxRow, ReconcileDiffPage, ReconcileDiffQuery, ReplayableState, SettleInfo, TargetSample, TargetStats, AttemptQuery,
} from '../egress-types';
import { clip, toAttempt, toDelivery, toLink, type ARow, type DRow, type LRow } from '../egress-rows';
import { attemptConditions, deliveryConditions, outboxConditions, where } from '../where';
import type { EventType } from '../events';

export class SqliteEgressStore implements EgressStore {
  private readonly s;

  /** `write` runs a function in the store's group commit: concurrent settles share one transaction. */
  constructor(private readonly db: Database.Database, private readonly write: <T>(fn: () => T) => Promise<T>) {
    this.s = {
      cursor: db.prepare<[string], { last_seq: number }>('SELECT last_seq FROM target_cursors WHERE target = ?'),
      maxSeq: db.prepare<[], { m: number | null }>('SELECT MAX(seq) AS m FROM outbox'),
      setCursor: db.prepare<[string, number]>(
        'INSERT INTO target_cursors (target, last_seq) VALUES (?, ?) ON CONFLICT (target) DO UPDATE SET last_seq = excluded.last_seq'),
      newEvents: db.prepare<[string, number, number], { seq: number; aggregate: string; type: EventType; target: string | null }>(
        'SELECT seq, aggregate, type, target FROM outbox WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?'),
      insertDelivery: db.prepare(`INSERT OR IGNORE INTO deliveries (target, seq, tenant, aggregate, type, state, attempts,
        next_at, created, updated) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)`),
      // Heads: the oldest open delivery of each aggregate. Scanning pending rows in seq order and stopping at the
      // limit keeps a claim's cost near the number of batches claimed, not the backlog.
      heads: db.prepare<[string, number, number], { aggregate: string; tenant: string }>(
        `SELECT d.aggregate, d.tenant FROM deliveries d
         WHERE d.target = ? AND d.state = 'pending' AND d.next_at <= ?
           AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.target = d.target AND x.aggregate = d.aggregate
                           AND x.state IN ('pending', 'in_flight') AND x.seq < d.seq)
         ORDER BY d.seq LIMIT ?`),
      // Batches whose worker died: in flight with an expired lease.
      expired: db.prepare<[string, number, number], { aggregate: string; tenant: string }>(
        `SELECT DISTINCT d.aggregate, d.tenant FROM deliveries d
         WHERE d.target = ? AND d.state = 'in_flight' AND d.lease_until <= ? LIMIT ?`),
      openOfAggregate: db.prepare<[string, string, number], { seq: number; type: EventType; payload: string; attempts: number; created: string }>(
        `SELECT d.seq, d.type, o.payload, d.attempts, o.created FROM deliveries d JOIN outbox o ON o.seq = d.seq
         WHERE d.target = ? AND d.aggregate = ? AND d.state IN ('pending', 'in_flight') ORDER BY d.seq LIMIT ?`),
      lease: db.prepare<[number, string, string, number]>(
        `UPDATE deliveries SET state = 'in_flight', lease_until = ?, updated = ?
         WHERE target = ? AND seq = ? AND state IN ('pending', 'in_flight')`),
      settle: db.prepare<[string, number | null, string | null, string, string, number]>(
        `UPDATE deliveries SET state = ?, lease_until = NULL, last_status = ?, last_error = ?, updated = ?
         WHERE target = ? AND seq = ?`),
      retry: db.prepare<[number, number | null, string | null, string, string, number]>(
        `UPDATE deliveries SET state = 'pending', attempts = attempts + 1, next_at = ?, lease_until = NULL,
         last_status = ?, last_error = ?, updated = ? WHERE target = ? AND seq = ?`),
      extend: db.prepare<[number, string, number]>(
        `UPDATE deliveries SET lease_until = ? WHERE target = ? AND seq = ? AND state = 'in_flight'`),
      release: db.prepare<[string, string, number]>(
        `UPDATE deliveries SET state = 'pending', lease_until = NULL, updated = ? WHERE target = ? AND seq = ? AND state = 'in_flight'`),
      attempt: db.prepare(`INSERT INTO delivery_attempts (target, aggregate, first_seq, last_seq, at, request, status,
        latency_ms, outcome, error) VALUES (@target, @aggregate, @firstSeq, @lastSeq, @at, @request, @status, @latencyMs,
        @outcome, @error)`),
      getLink: db.prepare<[string, LinkKind, string], LRow>('SELECT * FROM links WHERE target = ? AND kind = ? AND scim_id = ?'),
      setLink: db.prepare(`INSERT INTO links (target, kind, scim_id, tenant, remote_id, source, created)
        VALUES (@target, @kind, @scimId, @tenant, @remoteId, @source, @created)
        ON CONFLICT (target, kind, scim_id) DO UPDATE SET remote_id = excluded.remote_id, source = excluded.source,
        tenant = excluded.tenant`),
      removeLink: db.prepare<[string, LinkKind, string]>('DELETE FROM links WHERE target = ? AND kind = ? AND scim_id = ?'),
      delivery: db.prepare<[string, number], DRow & { payload: string }>(
        'SELECT d.*, o.payload FROM deliveries d JOIN outbox o ON o.seq = d.seq WHERE d.target = ? AND d.seq = ?'),
      attemptsOf: db.prepare<[string, number, number], ARow>(
        'SELECT * FROM delivery_attempts WHERE target = ? AND first_seq <= ? AND last_seq >= ? ORDER BY id'),
      replayAll: db.prepare<[number, string, string, ReplayableState]>(
        `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?, updated = ? WHERE target = ? AND state = ?`),
      replayOne: db.prepare<[number, string, string, number]>(
        `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = ?, updated = ?
         WHERE target = ? AND seq = ? AND state IN ('dead', 'done', 'skipped')`),
      counts: db.prepare<[string], { state: DeliveryState; n: number }>(
        'SELECT state, count(*) AS n FROM deliveries WHERE target = ? GROUP BY state'),
      oldestOpen: db.prepare<[string], { created: string | null }>(
        `SELECT MIN(created) AS created FROM deliveries WHERE target = ? AND state IN ('pending', 'in_flight')`),
      lastOutcome: db.prepare<[string, string], { at: string | null }>(
        'SELECT MAX(at) AS at FROM delivery_attempts WHERE target = ? AND outcome = ?'),
      openCount: db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM deliveries WHERE state IN ('pending', 'in_flight')`),
    };
  }

  async ingest(target: string, tenant: string, types: readonly EventType[], limit: number): Promise<number> {
    const wanted = new Set(types);
    return this.write(() => {
      const from = this.s.cursor.get(target)?.last_seq ?? 0;
      const rows = this.s.newEvents.all(tenant, from, limit);
      const now = Date.now();
      const stamp = new Date(now).toISOString();
      let n = 0;
      for (const r of rows) {
        // An event addressed to one target (a reconciliation repair) is that target's alone.
        if (!wanted.has(r.type) || (r.target !== null && r.target !== target)) continue;
        n += this.s.insertDelivery.run(target, r.seq, tenant, r.aggregate, r.type, now, stamp, stamp).changes;
      }
      // The cursor passes other tenants' events too; when nothing of ours is left, jump to the outbox end.
      const last = rows.length === limit ? rows[rows.length - 1].seq : (this.s.maxSeq.get()?.m ?? from);
      if (last > from) this.s.setCursor.run(target, last);
      return n;
    });
  }

  async claim(target: string, now: number, leaseMs: number, maxBatches: number, maxEvents: number): Promise<ClaimedBatch[]> {
    return this.write(() => {
      const expired = this.s.expired.all(target, now, maxBatches);
      const heads = [...expired, ...this.s.heads.all(target, now, maxBatches - expired.length)];
      const stamp = new Date(now).toISOString();
      const batches: ClaimedBatch[] = [];
      for (const h of heads) {
        const rows = this.s.openOfAggregate.all(target, h.aggregate, maxEvents);
        if (!rows.length) continue;
        for (const r of rows) this.s.lease.run(now + leaseMs, stamp, target, r.seq);
        batches.push({
          target, tenant: h.tenant, aggregate: h.aggregate,
          events: rows.map((r) => ({ seq: r.seq, type: r.type, payload: JSON.parse(r.payload), attempts: r.attempts, occurredAt: r.created })),
        });
      }
      return batches;
    });
  }

  async settle(target: string, seqs: number[], state: 'done' | 'skipped' | 'dead', info: SettleInfo, attempts: AttemptRecord[] = []): Promise<void> {
    const stamp = new Date().toISOString();
    await this.write(() => {
      for (const seq of seqs) this.s.settle.run(state, info.status ?? null, clip(info.error), stamp, target, seq);
      this.insertAttempts(attempts, stamp);
    });
  }

  async retryLater(target: string, seqs: number[], nextAt: number, info: SettleInfo, attempts: AttemptRecord[] = []): Promise<void> {
    const stamp = new Date().toISOString();
    await this.write(() => {
      for (const seq of seqs) this.s.retry.run(nextAt, info.status ?? null, clip(info.error), stamp, target, seq);
      this.insertAttempts(attempts, stamp);
    });
  }

  async extendLease(target: string, seqs: number[], until: number): Promise<void> {
    await this.write(() => {
      for (const seq of seqs) this.s.extend.run(until, target, seq);
    });
  }

  async release(target: string, seqs: number[]): Promise<void> {
    const stamp = new Date().toISOString();
    await this.write(() => {
      for (const seq of seqs) this.s.release.run(stamp, target, seq);
    });
  }

  async recordAttempts(rows: AttemptRecord[]): Promise<void> {
    await this.write(() => this.insertAttempts(rows, new Date().toISOString()));
  }

  private insertAttempts(rows: AttemptRecord[], at: string): void {
    for (const r of rows) {
      this.s.attempt.run({
        target: r.target, aggregate: r.aggregate, firstSeq: r.firstSeq, lastSeq: r.lastSeq, at: r.at ?? at,
        request: r.request ?? null, status: r.status ?? null, latencyMs: r.latencyMs ?? null, outcome: r.outcome,
        error: clip(r.error),
      });
    }
  }

  async getLink(target: string, kind: LinkKind, scimId: string): Promise<LinkRow | undefined> {
    const r = this.s.getLink.get(target, kind, scimId);
    return r ? toLink(r) : undefined;
  }

  async setLink(link: Omit<LinkRow, 'created'>): Promise<void> {
    await this.write(() => this.s.setLink.run({ ...link, created: new Date().toISOString() }));
  }

  async removeLink(target: string, kind: LinkKind, scimId: string): Promise<boolean> {
    return this.write(() => this.s.removeLink.run(target, kind, scimId).changes > 0);
  }

  async listLinks(target: string, kind?: LinkKind): Promise<LinkRow[]> {
    const rows = kind
      ? this.db.prepare<[string, string], LRow>('SELECT * FROM links WHERE target = ? AND kind = ? ORDER BY rowid').all(target, kind)
      : this.db.prepare<[string], LRow>('SELECT * FROM links WHERE target = ? ORDER BY rowid').all(target);
    return rows.map(toLink);
  }

  async listDeliveries(q: DeliveryQuery): Promise<DeliveryRow[]> {
    const w = where(deliveryConditions(q), 'sqlite');
    return (this.db.prepare(`SELECT * FROM deliveries ${w.sql} ORDER BY seq DESC LIMIT ?`).all(...w.params, q.limit) as DRow[]).map(toDelivery);
  }

  async listOutbox(q: OutboxQuery): Promise<OutboxRow[]> {
    const w = where(outboxConditions(q), 'sqlite');
    const rows = this.db.prepare(`SELECT seq, tenant, aggregate, type, payload, created FROM outbox ${w.sql}
      ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ?`).all(...w.params, q.limit) as (Omit<OutboxRow, 'payload'> & { payload: string })[];
    return rows.map((r) => ({ ...r, payload: JSON.parse(r.payload) as Record<string, unknown> }));
  }

  async listAttempts(q: AttemptQuery): Promise<AttemptRow[]> {
    const w = where(attemptConditions(q), 'sqlite');
    const rows = this.db.prepare(`SELECT * FROM delivery_attempts ${w.sql} ORDER BY id LIMIT ?`).all(...w.params, q.limit) as ARow[];
    return rows.map(toAttempt);
  }

  async getDelivery(target: string, seq: number) {
    const r = this.s.delivery.get(target, seq);
    if (!r) return undefined;
    const attempts: AttemptRow[] = this.s.attemptsOf.all(target, seq, seq).map(toAttempt);
    return { delivery: toDelivery(r), payload: JSON.parse(r.payload) as Record<string, unknown>, attempts };
  }

  async replay(target: string, seqs?: number[], state: ReplayableState = 'dead'): Promise<number> {
    const now = Date.now();
    const stamp = new Date(now).toISOString();
    return this.write(() => {
      if (!seqs) return this.s.replayAll.run(now, stamp, target, state).changes;
      let n = 0;
      for (const seq of seqs) n += this.s.replayOne.run(now, stamp, target, seq).changes;
      return n;
    });
  }

  async stats(target: string): Promise<TargetStats> {
    const counts: Record<string, number> = {};
    for (const r of this.s.counts.all(target)) counts[r.state] = r.n;
    const oldest = this.s.oldestOpen.get(target)?.created;
    return {
      pending: counts.pending ?? 0, inFlight: counts.in_flight ?? 0, done: counts.done ?? 0, skipped: counts.skipped ?? 0,
      dead: counts.dead ?? 0, oldestOpenMs: oldest ? Date.now() - Date.parse(oldest) : undefined,
      lastSuccessAt: this.s.lastOutcome.get(target, 'success')?.at ?? undefined,
      lastFailureAt: this.s.lastOutcome.get(target, 'retry')?.at ?? this.s.lastOutcome.get(target, 'permanent')?.at ?? undefined,
    };
  }

  async openCount(): Promise<number> {
    return this.s.openCount.get()!.n;
  }

  async openCountOf(target: string, aggregate: string): Promise<number> {
    return this.db.prepare<[string, string], { n: number }>(
      `SELECT count(*) AS n FROM deliveries WHERE target = ? AND aggregate = ? AND state IN ('pending', 'in_flight')`).get(target, aggregate)!.n;
  }

  async recordSample(target: string, x: TargetSample, keepSince: string): Promise<void> {
    await this.write(() => {
      this.db.prepare(`INSERT OR IGNORE INTO target_samples (target, at, pending, in_flight, dead, done, skipped) VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run(target, x.at, x.pending, x.inFlight, x.dead, x.done, x.skipped);
      this.db.prepare('DELETE FROM target_samples WHERE target = ? AND at < ?').run(target, keepSince);
    });
  }

  async listSamples(target: string, since: string): Promise<TargetSample[]> {
    return this.db.prepare<[string, string], TargetSample>(
      `SELECT at, pending, in_flight AS inFlight, dead, done, skipped FROM target_samples WHERE target = ? AND at >= ? ORDER BY at`).all(target, since);
  }

  async addSeen(run: string, remoteIds: readonly string[]): Promise<void> {
    if (!remoteIds.length) return;
    await this.write(() => {
      this.db.prepare('INSERT OR IGNORE INTO reconcile_seen (run, remote_id) SELECT ?, value FROM json_each(?)').run(run, JSON.stringify(remoteIds));
    });
  }

  async dropSeen(run: string): Promise<void> {
    await this.write(() => { this.db.prepare('DELETE FROM reconcile_seen WHERE run = ?').run(run); });
  }

  async reconcileDiff(q: ReconcileDiffQuery): Promise<ReconcileDiffPage> {
    const active = q.activeOnly ? 'AND u.active = 1' : '';
    let rows: { id: string; cursor: string | number }[];
    if (q.kind === 'missing') {
      // Members in rid order (the group's primary key), the cursor a rid.
      rows = this.db.prepare<unknown[], { id: string; cursor: number }>(
        `SELECT u.id, m.user_rid AS cursor FROM group_members m CROSS JOIN users u
         WHERE m.group_rid = (SELECT rid FROM groups WHERE tenant = ? AND id = ?) AND m.user_rid > ? AND u.rid = m.user_rid ${active}
           AND NOT EXISTS (SELECT 1 FROM links l CROSS JOIN reconcile_seen s
                           WHERE l.target = ? AND l.kind = 'user' AND l.scim_id = u.id AND s.run = ? AND s.remote_id = l.remote_id)
         ORDER BY m.user_rid LIMIT ?`).all(q.tenant, q.groupId, Number(q.after ?? 0), q.target, q.run, q.limit);
    } else if (q.kind === 'extra') {
      rows = this.db.prepare<unknown[], { id: string; cursor: string }>(
        `SELECT l.scim_id AS id, s.remote_id AS cursor FROM reconcile_seen s
         CROSS JOIN links l ON l.target = ? AND l.kind = 'user' AND l.tenant = ? AND l.remote_id = s.remote_id
         WHERE s.run = ? AND s.remote_id > ?
           AND NOT EXISTS (SELECT 1 FROM users u CROSS JOIN group_members m
                           WHERE u.tenant = ? AND u.id = l.scim_id ${active} AND m.user_rid = u.rid
                             AND m.group_rid = (SELECT rid FROM groups WHERE tenant = ? AND id = ?))
         ORDER BY s.remote_id LIMIT ?`).all(q.target, q.tenant, q.run, q.after ?? '', q.tenant, q.tenant, q.groupId, q.limit);
    } else {
      rows = this.db.prepare<unknown[], { id: string; cursor: string }>(
        `SELECT s.remote_id AS id, s.remote_id AS cursor FROM reconcile_seen s
         WHERE s.run = ? AND s.remote_id > ?
           AND NOT EXISTS (SELECT 1 FROM links l WHERE l.target = ? AND l.kind = 'user' AND l.tenant = ? AND l.remote_id = s.remote_id)
         ORDER BY s.remote_id LIMIT ?`).all(q.run, q.after ?? '', q.target, q.tenant, q.limit);
    }
    return { ids: rows.map((r) => r.id), next: rows.length === q.limit ? String(rows[rows.length - 1].cursor) : undefined };
  }
}
