// PostgreSQL implementation of the delivery store. Each method is one transaction (or one statement).
//
// Ingest: why the cursor is a snapshot, not a seq.
//   outbox.seq comes from a sequence, drawn when a row is inserted, but rows become visible when their transaction
//   commits. With concurrent writers a transaction holding seq 5 can commit after another one holding seq 6: a
//   reader that took "seq > cursor" and moved the cursor to 6 would never see 5. Filtering on "txid < xmin of the
//   current snapshot" (only rows of transactions older than every transaction still running) closes the visibility
//   gap but is still not enough with a seq cursor: xids and seqs are drawn in different orders (a transaction gets its
//   xid on its first write, its seq on its outbox insert), so a finished row with txid < xmin can carry a seq above
//   the seq of a still-running transaction's row, and the cursor would pass that row too. Ordering the cursor by txid
//   instead loses commit order within an aggregate.
//   So, as PgQ does, the cursor is a snapshot (pg_snapshot: xmin, xmax and the in-progress list). Every outbox row
//   whose transaction is visible in the stored snapshot `snap` has been taken; an ingest takes the rows visible in a
//   newer snapshot and not in `snap` (both known exactly from outbox.txid with pg_visible_in_snapshot), then stores
//   the newer snapshot. A transaction in flight at ingest time is invisible in the new snapshot, so its rows are
//   taken by a later ingest whenever it commits: nothing is skipped and nothing taken twice. Commit order within an
//   aggregate holds: writes to one aggregate are serialised by its row lock and draw their seqs in commit order, and
//   a snapshot that shows the later commit shows the earlier one too, so the earlier event is taken in the same or an
//   earlier window; within a window rows are taken in seq order.
//   A window larger than `limit` is taken a page at a time: the window's upper snapshot (`win_snap`) and the last seq
//   taken (`win_seq`) are stored until the window is done. Only rows with txid >= xmin(snap) need looking at (index
//   outbox (tenant, txid)); rows below were finished, and visible, before `snap` was taken.
//   Ingests of one target are serialised with a transaction-level advisory lock, so replicas never race on a cursor.
//
// Claim: several replicas may claim for one target. The head of each aggregate (its oldest open delivery) is locked
// with FOR UPDATE SKIP LOCKED, so concurrent claimers split the heads between them; the aggregate's open rows are
// then locked and re-read with a fresh snapshot, and the batch is taken only if the locked head is still the first
// open delivery and still due. The lease (lease_until) then keeps the batch to its claimer after commit; an expired
// lease makes the head due again. One in-flight batch per (target, aggregate), as on SQLite.
import type { Pool, PoolClient } from 'pg';
import type {
  AttemptRecord, AttemptRow, ClaimedBatch, DeliveryQuery, DeliveryRow, DeliveryState, EgressStore, LinkKind,
  LinkRow, OutboxQuery, OutboxRow, ReconcileDiffPage, ReconcileDiffQuery, ReplayableState, SettleInfo, TargetSample, TargetStats, AttemptQuery,
} from '../egress-types';
import { clip, toAttempt, toDelivery, toLink, type ARow, type DRow, type LRow } from '../egress-rows';
import { attemptConditions, deliveryConditions, outboxConditions, where } from '../where';
import type { EventType } from '../events';
import { sqlState } from './pool';

const DCOLS = 'd.target, d.seq, d.tenant, d.aggregate, d.type, d.state, d.attempts, d.next_at, d.last_status, d.last_error, d.created, d.updated';

type Tx = { c: PoolClient };
type RunTx = <T>(fn: (t: Tx) => Promise<T>) => Promise<T>;
type RunRead = <T>(fn: (pool: Pool) => Promise<T>) => Promise<T>;

export class PostgresEgressStore implements EgressStore {
  constructor(private readonly pool: Pool, private readonly tx: RunTx, private readonly read: RunRead) {}

  async ingest(target: string, tenant: string, types: readonly EventType[], limit: number): Promise<number> {
    const wanted = new Set(types);
    return this.tx(async ({ c }) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtextextended('scimbridge.ingest:' || $1, 0))`, [target]);
      const cur = (await c.query<{ last_seq: number; snap: string | null; win_snap: string | null; win_seq: number | null }>(
        'SELECT last_seq, snap::text AS snap, win_snap::text AS win_snap, win_seq FROM target_cursors WHERE target = $1', [target],
      )).rows[0];
      // One statement, so the snapshot it reports is the one its scan used (READ COMMITTED: one per statement).
      const r = await c.query<{ upper: string; seq: number | null; aggregate: string | null; type: EventType | null; target: string | null }>(
        `WITH w AS (SELECT COALESCE($2::pg_snapshot, pg_current_snapshot()) AS upper, $3::pg_snapshot AS lower)
         SELECT w.upper::text AS upper, o.seq, o.aggregate, o.type, o.target FROM w LEFT JOIN LATERAL (
           SELECT o.seq, o.aggregate, o.type, o.target FROM outbox o
           WHERE o.tenant = $1
             AND pg_visible_in_snapshot(o.txid, w.upper)
             AND (w.lower IS NULL OR (o.txid >= pg_snapshot_xmin(w.lower) AND NOT pg_visible_in_snapshot(o.txid, w.lower)))
             AND o.seq > $4
           ORDER BY o.seq LIMIT $5
         ) o ON TRUE ORDER BY o.seq`,
        [tenant, cur?.win_snap ?? null, cur?.snap ?? null, cur?.win_snap ? (cur.win_seq ?? 0) : 0, limit],
      );
      const upper = r.rows[0].upper;
      const rows = r.rows.filter((x) => x.seq !== null) as { seq: number; aggregate: string; type: EventType; target: string | null }[];
      // An event addressed to one target (a reconciliation repair) is that target's alone.
      const take = rows.filter((x) => wanted.has(x.type) && (x.target === null || x.target === target));
      const now = Date.now();
      const stamp = new Date(now).toISOString();
      let n = 0;
      if (take.length) {
        n = (await c.query(
          `INSERT INTO deliveries (target, seq, tenant, aggregate, type, state, attempts, next_at, created, updated)
           SELECT $1, x.seq, $2, x.aggregate, x.type, 'pending', 0, $3, $4, $4
           FROM unnest($5::bigint[], $6::text[], $7::text[]) AS x(seq, aggregate, type) ORDER BY x.seq
           ON CONFLICT DO NOTHING`,
          [target, tenant, now, stamp, take.map((x) => x.seq), take.map((x) => x.aggregate), take.map((x) => x.type)],
        )).rowCount ?? 0;
      }
      const lastSeq = Math.max(cur?.last_seq ?? 0, rows.length ? rows[rows.length - 1].seq : 0);
      const full = rows.length === limit && limit > 0;
      // A full page leaves the window open (same upper snapshot, continue after the last seq); otherwise it is done.
      await c.query(
        `INSERT INTO target_cursors (target, last_seq, snap, win_snap, win_seq) VALUES ($1, $2, $3::pg_snapshot, $4::pg_snapshot, $5)
         ON CONFLICT (target) DO UPDATE SET last_seq = excluded.last_seq, snap = excluded.snap, win_snap = excluded.win_snap,
         win_seq = excluded.win_seq`,
        full
          ? [target, lastSeq, cur?.snap ?? null, upper, rows[rows.length - 1].seq]
          : [target, lastSeq, upper, null, null],
      );
      return n;
    });
  }

  async claim(target: string, now: number, leaseMs: number, maxBatches: number, maxEvents: number): Promise<ClaimedBatch[]> {
    if (maxBatches <= 0) return [];
    try {
      return await this.tx(async ({ c }) => {
        // Heads: the first open delivery of an aggregate, due (pending and next_at passed) or abandoned (in flight
        // with an expired lease; those first, as on SQLite). Rows another claimer holds are skipped.
        const heads = (await c.query<{ seq: number; aggregate: string; tenant: string }>(
          `SELECT d.seq, d.aggregate, d.tenant FROM deliveries d
           WHERE d.target = $1
             AND ((d.state = 'pending' AND d.next_at <= $2) OR (d.state = 'in_flight' AND d.lease_until <= $2))
             AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.target = d.target AND x.aggregate = d.aggregate
                             AND x.state IN ('pending', 'in_flight') AND x.seq < d.seq)
           ORDER BY (d.state = 'in_flight') DESC, d.seq LIMIT $3
           FOR UPDATE OF d SKIP LOCKED`,
          [target, now, maxBatches],
        )).rows;
        const stamp = new Date(now).toISOString();
        const batches: ClaimedBatch[] = [];
        for (const h of heads) {
          // Fresh snapshot, rows locked: the batch is taken only if the locked head is still first and due.
          const rows = (await c.query<{ seq: number; type: EventType; payload: Record<string, unknown>; attempts: number;
            created: string; state: DeliveryState; next_at: number; lease_until: number | null }>(
            `SELECT d.seq, d.type, o.payload, d.attempts, o.created, d.state, d.next_at, d.lease_until
             FROM deliveries d JOIN outbox o ON o.seq = d.seq
             WHERE d.target = $1 AND d.aggregate = $2 AND d.state IN ('pending', 'in_flight') ORDER BY d.seq LIMIT $3
             FOR UPDATE OF d`,
            [target, h.aggregate, maxEvents],
          )).rows;
          const first = rows[0];
          if (!first || first.seq !== h.seq) continue;
          const due = first.state === 'pending' ? first.next_at <= now : (first.lease_until ?? Infinity) <= now;
          if (!due) continue;
          await c.query(
            `UPDATE deliveries SET state = 'in_flight', lease_until = $1, updated = $2
             WHERE target = $3 AND seq = ANY($4::bigint[]) AND state IN ('pending', 'in_flight')`,
            [now + leaseMs, stamp, target, rows.map((r) => r.seq)],
          );
          batches.push({
            target, tenant: h.tenant, aggregate: h.aggregate,
            events: rows.map((r) => ({ seq: r.seq, type: r.type, payload: r.payload, attempts: r.attempts, occurredAt: r.created })),
          });
        }
        return batches;
      });
    } catch (e) {
      // Two claimers that each hold a head the other's batch needs (only possible around a replay) deadlock; the
      // victim claims nothing this round.
      if (sqlState(e) === '40P01') return [];
      throw e;
    }
  }

  async settle(target: string, seqs: number[], state: 'done' | 'skipped' | 'dead', info: SettleInfo, attempts: AttemptRecord[] = []): Promise<void> {
    const stamp = new Date().toISOString();
    await this.tx(async ({ c }) => {
      if (seqs.length) {
        await c.query(
          `UPDATE deliveries SET state = $1, lease_until = NULL, last_status = $2, last_error = $3, updated = $4
           WHERE target = $5 AND seq = ANY($6::bigint[])`,
          [state, info.status ?? null, clip(info.error), stamp, target, [...seqs].sort((a, b) => a - b)],
        );
      }
      await this.insertAttempts(c, attempts, stamp);
    });
  }

  async retryLater(target: string, seqs: number[], nextAt: number, info: SettleInfo, attempts: AttemptRecord[] = []): Promise<void> {
    const stamp = new Date().toISOString();
    await this.tx(async ({ c }) => {
      if (seqs.length) {
        await c.query(
          `UPDATE deliveries SET state = 'pending', attempts = attempts + 1, next_at = $1, lease_until = NULL,
           last_status = $2, last_error = $3, updated = $4 WHERE target = $5 AND seq = ANY($6::bigint[])`,
          [nextAt, info.status ?? null, clip(info.error), stamp, target, [...seqs].sort((a, b) => a - b)],
        );
      }
      await this.insertAttempts(c, attempts, stamp);
    });
  }

  async extendLease(target: string, seqs: number[], until: number): Promise<void> {
    if (!seqs.length) return;
    await this.read((p) => p.query(
      `UPDATE deliveries SET lease_until = $1 WHERE target = $2 AND seq = ANY($3::bigint[]) AND state = 'in_flight'`,
      [until, target, seqs]));
  }

  async release(target: string, seqs: number[]): Promise<void> {
    if (!seqs.length) return;
    const stamp = new Date().toISOString();
    await this.read((p) => p.query(
      `UPDATE deliveries SET state = 'pending', lease_until = NULL, updated = $1
       WHERE target = $2 AND seq = ANY($3::bigint[]) AND state = 'in_flight'`,
      [stamp, target, seqs]));
  }

  async recordAttempts(rows: AttemptRecord[]): Promise<void> {
    if (!rows.length) return;
    const stamp = new Date().toISOString();
    await this.tx(({ c }) => this.insertAttempts(c, rows, stamp));
  }

  private async insertAttempts(c: PoolClient, rows: AttemptRecord[], at: string): Promise<void> {
    if (!rows.length) return;
    await c.query(
      `INSERT INTO delivery_attempts (target, aggregate, first_seq, last_seq, at, request, status, latency_ms, outcome, error)
       SELECT a.target, a.aggregate, a.first_seq, a.last_seq, a.at, a.request, a.status, a.latency_ms, a.outcome, a.error
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::int[], $8::float8[],
         $9::text[], $10::text[]) WITH ORDINALITY
         AS a(target, aggregate, first_seq, last_seq, at, request, status, latency_ms, outcome, error, n)
       ORDER BY a.n`,
      [rows.map((r) => r.target), rows.map((r) => r.aggregate), rows.map((r) => r.firstSeq), rows.map((r) => r.lastSeq),
        rows.map((r) => r.at ?? at), rows.map((r) => r.request ?? null), rows.map((r) => r.status ?? null),
        rows.map((r) => r.latencyMs ?? null), rows.map((r) => r.outcome), rows.map((r) => clip(r.error))],
    );
  }

  async getLink(target: string, kind: LinkKind, scimId: string): Promise<LinkRow | undefined> {
    const r = await this.read((p) => p.query<LRow>('SELECT * FROM links WHERE target = $1 AND kind = $2 AND scim_id = $3', [target, kind, scimId]));
    return r.rows[0] ? toLink(r.rows[0]) : undefined;
  }

  async setLink(link: Omit<LinkRow, 'created'>): Promise<void> {
    await this.read((p) => p.query(
      `INSERT INTO links (target, kind, scim_id, tenant, remote_id, source, created) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (target, kind, scim_id) DO UPDATE SET remote_id = excluded.remote_id, source = excluded.source,
       tenant = excluded.tenant`,
      [link.target, link.kind, link.scimId, link.tenant, link.remoteId, link.source, new Date().toISOString()]));
  }

  async removeLink(target: string, kind: LinkKind, scimId: string): Promise<boolean> {
    const r = await this.read((p) => p.query('DELETE FROM links WHERE target = $1 AND kind = $2 AND scim_id = $3', [target, kind, scimId]));
    return (r.rowCount ?? 0) > 0;
  }

  async listLinks(target: string, kind?: LinkKind): Promise<LinkRow[]> {
    const r = await this.read((p) => kind
      ? p.query<LRow>('SELECT * FROM links WHERE target = $1 AND kind = $2 ORDER BY seq', [target, kind])
      : p.query<LRow>('SELECT * FROM links WHERE target = $1 ORDER BY seq', [target]));
    return r.rows.map(toLink);
  }

  async listDeliveries(q: DeliveryQuery): Promise<DeliveryRow[]> {
    const w = where(deliveryConditions(q), 'postgres');
    const r = await this.read((p) => p.query<DRow>(
      `SELECT ${DCOLS} FROM deliveries d ${w.sql} ORDER BY d.seq DESC LIMIT $${w.params.length + 1}`, [...w.params, q.limit]));
    return r.rows.map(toDelivery);
  }

  async listOutbox(q: OutboxQuery): Promise<OutboxRow[]> {
    const w = where(outboxConditions(q), 'postgres');
    const r = await this.read((p) => p.query<OutboxRow>(
      `SELECT seq, tenant, aggregate, type, payload, created FROM outbox ${w.sql}
       ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'} LIMIT $${w.params.length + 1}`, [...w.params, q.limit]));
    return r.rows;
  }

  async listAttempts(q: AttemptQuery): Promise<AttemptRow[]> {
    const w = where(attemptConditions(q), 'postgres');
    const r = await this.read((p) => p.query<ARow>(
      `SELECT * FROM delivery_attempts ${w.sql} ORDER BY id LIMIT $${w.params.length + 1}`, [...w.params, q.limit]));
    return r.rows.map(toAttempt);
  }

  async getDelivery(target: string, seq: number) {
    return this.read(async (p) => {
      const r = (await p.query<DRow & { payload: Record<string, unknown> }>(
        `SELECT ${DCOLS}, o.payload FROM deliveries d JOIN outbox o ON o.seq = d.seq WHERE d.target = $1 AND d.seq = $2`,
        [target, seq])).rows[0];
      if (!r) return undefined;
      const a = await p.query<ARow>(
        'SELECT * FROM delivery_attempts WHERE target = $1 AND first_seq <= $2 AND last_seq >= $2 ORDER BY id', [target, seq]);
      const attempts: AttemptRow[] = a.rows.map(toAttempt);
      const { payload, ...delivery } = r;
      return { delivery: toDelivery(delivery), payload, attempts };
    });
  }

  async replay(target: string, seqs?: number[], state: ReplayableState = 'dead'): Promise<number> {
    const now = Date.now();
    const stamp = new Date(now).toISOString();
    const r = await this.read((p) => seqs
      ? p.query(
        `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = $1, updated = $2
         WHERE target = $3 AND seq = ANY($4::bigint[]) AND state IN ('dead', 'done', 'skipped')`, [now, stamp, target, seqs])
      : p.query(
        `UPDATE deliveries SET state = 'pending', attempts = 0, next_at = $1, updated = $2 WHERE target = $3 AND state = $4`,
        [now, stamp, target, state]));
    return r.rowCount ?? 0;
  }

  async stats(target: string): Promise<TargetStats> {
    return this.read(async (p) => {
      const counts: Record<string, number> = {};
      for (const r of (await p.query<{ state: DeliveryState; n: number }>(
        'SELECT state, count(*) AS n FROM deliveries WHERE target = $1 GROUP BY state', [target])).rows) counts[r.state] = r.n;
      const x = (await p.query<{ oldest: string | null; success: string | null; retry: string | null; permanent: string | null }>(
        `SELECT (SELECT MIN(created) FROM deliveries WHERE target = $1 AND state IN ('pending', 'in_flight')) AS oldest,
                (SELECT MAX(at) FROM delivery_attempts WHERE target = $1 AND outcome = 'success') AS success,
                (SELECT MAX(at) FROM delivery_attempts WHERE target = $1 AND outcome = 'retry') AS retry,
                (SELECT MAX(at) FROM delivery_attempts WHERE target = $1 AND outcome = 'permanent') AS permanent`,
        [target])).rows[0];
      return {
        pending: counts.pending ?? 0, inFlight: counts.in_flight ?? 0, done: counts.done ?? 0, skipped: counts.skipped ?? 0,
        dead: counts.dead ?? 0, oldestOpenMs: x.oldest ? Date.now() - Date.parse(x.oldest) : undefined,
        lastSuccessAt: x.success ?? undefined,
        lastFailureAt: x.retry ?? x.permanent ?? undefined,
      };
    });
  }

  async openCount(): Promise<number> {
    const r = await this.read((p) => p.query<{ n: number }>(`SELECT count(*) AS n FROM deliveries WHERE state IN ('pending', 'in_flight')`));
    return r.rows[0].n;
  }
  async openCountOf(target: string, aggregate: string): Promise<number> {
    const r = await this.read((p) => p.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM deliveries WHERE target = $1 AND aggregate = $2 AND state IN ('pending', 'in_flight')`, [target, aggregate]));
    return r.rows[0].n;
  }

  async addSeen(run: string, remoteIds: readonly string[]): Promise<void> {
    if (!remoteIds.length) return;
    await this.read((p) => p.query(
      'INSERT INTO reconcile_seen (run, remote_id) SELECT $1, x FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING', [run, remoteIds]));
  }

  async recordSample(target: string, x: TargetSample, keepSince: string): Promise<void> {
    await this.read(async (p) => {
      await p.query(`INSERT INTO target_samples (target, at, pending, in_flight, dead, done, skipped) VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT DO NOTHING`, [target, x.at, x.pending, x.inFlight, x.dead, x.done, x.skipped]);
      await p.query('DELETE FROM target_samples WHERE target = $1 AND at < $2', [target, keepSince]);
    });
  }

  async listSamples(target: string, since: string): Promise<TargetSample[]> {
    return (await this.read((p) => p.query<TargetSample>(
      `SELECT at, pending, in_flight AS "inFlight", dead, done, skipped FROM target_samples WHERE target = $1 AND at >= $2 ORDER BY at`,
      [target, since]))).rows;
  }

  async dropSeen(run: string): Promise<void> {
    await this.read((p) => p.query('DELETE FROM reconcile_seen WHERE run = $1', [run]));
  }

  async reconcileDiff(q: ReconcileDiffQuery): Promise<ReconcileDiffPage> {
    const active = q.activeOnly ? 'AND u.active' : '';
    let sql: string;
    let params: unknown[];
    if (q.kind === 'missing') {
      // Members in rid order (the membership's primary key), the cursor a rid.
      sql = `SELECT m.member_id AS id, m.member_rid::text AS cursor FROM group_members m JOIN users u ON u.rid = m.member_rid
        WHERE m.tenant = $1 AND m.group_id = $2 AND m.member_rid > $3 ${active}
          AND NOT EXISTS (SELECT 1 FROM links l JOIN reconcile_seen s ON s.run = $5 AND s.remote_id = l.remote_id
                          WHERE l.target = $4 AND l.kind = 'user' AND l.scim_id = m.member_id)
        ORDER BY m.member_rid LIMIT $6`;
      params = [q.tenant, q.groupId, Number(q.after ?? 0), q.target, q.run, q.limit];
    } else if (q.kind === 'extra') {
      sql = `SELECT l.scim_id AS id, s.remote_id AS cursor FROM reconcile_seen s
        JOIN links l ON l.target = $1 AND l.kind = 'user' AND l.tenant = $2 AND l.remote_id = s.remote_id
        WHERE s.run = $3 AND s.remote_id > $4
          AND NOT EXISTS (SELECT 1 FROM users u JOIN group_members m ON m.member_rid = u.rid
                          WHERE u.tenant = $2 AND u.id = l.scim_id ${active} AND m.tenant = $2 AND m.group_id = $5)
        ORDER BY s.remote_id LIMIT $6`;
      params = [q.target, q.tenant, q.run, q.after ?? '', q.groupId, q.limit];
    } else {
      sql = `SELECT s.remote_id AS id, s.remote_id AS cursor FROM reconcile_seen s
        WHERE s.run = $1 AND s.remote_id > $2
          AND NOT EXISTS (SELECT 1 FROM links l WHERE l.target = $3 AND l.kind = 'user' AND l.tenant = $4 AND l.remote_id = s.remote_id)
        ORDER BY s.remote_id LIMIT $5`;
      params = [q.run, q.after ?? '', q.target, q.tenant, q.limit];
    }
    const rows = (await this.read((p) => p.query<{ id: string; cursor: string }>(sql, params))).rows;
    return { ids: rows.map((r) => r.id), next: rows.length === q.limit ? rows[rows.length - 1].cursor : undefined };
  }

}
