// PostgreSQL store (pg). Every statement is scoped by tenant. Each write runs in one transaction on one pooled
// connection, together with its outbox events; the resource row is locked (SELECT … FOR UPDATE) before it is
// read for a version check or changed, so concurrent writers of one user or group queue up instead of losing
// updates. Deadlocks and serialization failures are retried a few times: every write is a pure function of its input.
import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { auditSummary, changedAttributes, repairTarget, type AuditActor, type AuditQuery, type AuditRecord, type AuditTarget } from '../audit';
import { StoreError, unknownMembers, userNameTaken } from '../errors';
import { groupSummary, groupUpdatedEvent, MemberDelta, memberEvents, userSummary, userUpdateEvents, type ChangeEvent } from '../events';
import type {
  GroupChange, GroupInput, GroupRecord, GroupWriteResult, ListQuery, ListResult, MemberPage, MemberRecord, Store,
  UserInput, UserRecord, WriteOptions,
} from '../types';
import { PostgresEgressStore } from './egress';
import { filterToSql, orderBy, Params } from '../filter-sql';
import { postgresFilterDialect as dialect } from './filter-dialect';
import { cursorRid, uniqueSorted } from '../member-ids';
import { checkVersion, now } from '../write-rules';
import { auditConditions, where } from '../where';
import { linksFor, matchColumn, type GroupLinkRule, type LinkableGroup } from '../link-rules';
import { ADD_MEMBERS_SQL, GROUP_COLUMNS, memberWriteError, type GroupRow } from './member-statement';
import { memberJsonByCopy } from './member-json';
import { DEFAULT_MEMBER_BATCH, MemberBatcher } from './member-batch';
import { emailColumnArrays, insertUsers, storedEmails, USER_COLUMNS, userColumnValues, type UserInsert, type UserRow } from './user-batch';
import { perTurn } from '../per-turn';
import { migratePostgres, pendingPostgresMigrations } from './migrate';
import { Batch, type GroupCommitDeps, type RowWrite, type Tx } from './group-commit';
import { RevocationCache } from './revocation-cache';
import { createClient, createPool, groupCommitSettings, isRetryable, mapError, prepared, rollbackAndRelease, sqlState } from './pool';

export interface PostgresConfig {
  kind: 'postgres';
  /** postgres:// or postgresql:// URL (may carry a password: never log it unredacted). */
  url: string;
}

interface AuditRow {
  seq: number; at: string; tenant: string; subject: string | null; jti: string | null; mount: string;
  operation: AuditRecord['operation']; resource_type: AuditRecord['resourceType']; resource_id: string;
  request_id: string | null; summary: AuditRecord['summary'];
}
const GROUP_COLS = GROUP_COLUMNS;

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id, userName: r.user_name, externalId: r.external_id ?? undefined, displayName: r.display_name ?? undefined,
    active: r.active, resource: r.resource, version: r.version, created: r.created, modified: r.modified,
  };
}

function toGroup(r: GroupRow): GroupRecord {
  return {
    id: r.id, displayName: r.display_name, externalId: r.external_id ?? undefined, resource: r.resource,
    version: r.version, created: r.created, modified: r.modified,
  };
}

const MAX_TRIES = 5;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly pool: Pool;
  private egressStore?: PostgresEgressStore;
  private readonly commitListeners = new Set<() => void>();
  private closed = false;

  constructor(readonly config: PostgresConfig, opts: { onPoolError?: (e: Error) => void } = {}) {
    this.pool = createPool(config.url, opts.onPoolError);
    this.commits = {
      pool: this.pool,
      solo: (fn, actor) => this.soloTx(fn, actor),
      committed: () => this.notifyCommit(),
      // Half the pool: reads and other writers keep connections while a batch commits.
      parallel: Math.max(1, Math.floor(this.pool.options.max / 2)),
      rows: {
        user: async (c, rows, actors) => (await insertUsers(c, rows as UserInsert[], actors))
          .map((r) => (r.ok ? { ok: true, value: toUser(r.row) } : r)),
      },
    };
    this.members = new MemberBatcher(this.pool, () => this.notifyCommit(),
      { ...DEFAULT_MEMBER_BATCH, ...groupCommitSettings(config.url) });
  }

  /** What every together() batch runs with. */
  private readonly commits: GroupCommitDeps;
  private readonly members: MemberBatcher;

  /**
   * fn gets a view of this store whose writes join one batch (group-commit.ts); everything else it reads from the
   * store itself. State the store keeps (link rules, the egress store, closing) belongs to the store, not the view.
   */
  together<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const view: PostgresStore = Object.create(this, {
      batch: { value: new Batch(this.commits) },
      egress: { get: () => this.egress },
    });
    return fn(view);
  }

  /** Set on a together() view only: the batch its writes join. */
  private declare readonly batch?: Batch;

  get egress(): PostgresEgressStore {
    return (this.egressStore ??= new PostgresEgressStore(this.pool, (fn) => this.tx(fn), (fn) => this.read(fn)));
  }

  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** After a commit that wrote change events, from whichever path made it (alone, a together() batch, members). */
  private notifyCommit(): void {
    for (const l of this.commitListeners) l();
  }

  /**
   * Runs fn in one transaction (BEGIN … COMMIT on one pooled client); with an actor, emit writes its audit record
   * there too. Deadlocks and serialization failures roll back and run fn again; lost connections surface as
   * StoreError('unavailable'). Listeners hear of commits that wrote change events. On a together() view, the write
   * joins the view's batch instead (group-commit.ts).
   */
  async tx<T>(fn: (t: Tx) => Promise<T>, actor?: AuditActor, row?: RowWrite): Promise<T> {
    if (this.batch) return this.batch.enqueue(fn, actor, row) as Promise<T>;
    return this.soloTx(fn, actor);
  }

  /** tx() on a connection of its own. */
  private async soloTx<T>(fn: (t: Tx) => Promise<T>, actor?: AuditActor): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (e) {
        throw mapError(e);
      }
      const t: Tx = { c: client, eventsWritten: false, actor };
      try {
        await client.query('BEGIN');
        const result = await fn(t);
        await client.query('COMMIT');
        client.release();
        if (t.eventsWritten) this.notifyCommit();
        return result;
      } catch (e) {
        await rollbackAndRelease(client);
        if (attempt < MAX_TRIES && isRetryable(e)) {
          await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
          continue;
        }
        throw mapError(e);
      }
    }
  }

  /** A read outside any transaction, with lost connections mapped to 'unavailable'. */
  async read<T>(fn: (pool: Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(this.pool);
    } catch (e) {
      throw mapError(e);
    }
  }

  async migrate(): Promise<string[]> {
    try {
      return await migratePostgres(this.pool);
    } catch (e) {
      throw mapError(e);
    }
  }

  async pendingMigrations(): Promise<string[]> {
    return this.read((p) => pendingPostgresMigrations(p));
  }

  async ping(): Promise<void> {
    await this.read((p) => p.query('SELECT 1'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.revocations.close();
    await this.pool.end();
  }

  // ---- configured links -----------------------------------------------------------------------------------

  private linkRules: readonly GroupLinkRule[] = [];

  async applyGroupLinkRules(rules: readonly GroupLinkRule[]): Promise<number> {
    this.linkRules = rules;
    const stamp = now();
    return this.tx(async (t) => {
      let n = 0;
      for (const r of rules) {
        const { column, value } = matchColumn(r);
        // display_name through its lower-case index, then exactly (a rule's displayName is case-sensitive).
        const where = column === 'display_name' ? 'display_name_lc = $6 AND display_name = $5' : `${column} = $5`;
        const params = [r.target, r.tenant, r.remoteId, stamp, value, ...(column === 'display_name' ? [value.toLowerCase()] : [])];
        const res = await t.c.query(
          `INSERT INTO links (target, kind, scim_id, tenant, remote_id, source, created)
           SELECT $1, 'group', g.id, g.tenant, $3, 'config', $4 FROM groups g WHERE g.tenant = $2 AND ${where}
           ON CONFLICT DO NOTHING`, params);
        n += res.rowCount ?? 0;
      }
      return n;
    });
  }

  /** Inside a group write: the configured links the group's committed attributes give it (a stored link wins). */
  private async linkByRules(t: Tx, tenant: string, g: LinkableGroup, stamp: string): Promise<void> {
    if (!this.linkRules.length) return;
    const links = linksFor(this.linkRules, tenant, g);
    if (!links.length) return;
    await t.c.query(
      `INSERT INTO links (target, kind, scim_id, tenant, remote_id, source, created)
       SELECT l.target, 'group', $2, $1, l.remote_id, 'config', $3 FROM unnest($4::text[], $5::text[]) AS l(target, remote_id)
       ON CONFLICT DO NOTHING`,
      [tenant, g.id, stamp, links.map((l) => l.target), links.map((l) => l.remoteId)]);
  }

  // ---- events ---------------------------------------------------------------------------------------------

  /**
   * The write's change events, and its audit record when the write has an actor (t.actor). With `touchGroup`, the
   * same statement first bumps that group's version and answers its row: a membership change then holds the
   * group's row lock for this one statement and the COMMIT only. The events read from the bumped row, so their seqs
   * are drawn after the lock is held and follow the group's commit order. One statement in every case.
   */
  private async emit(t: Tx, tenant: string, events: ChangeEvent[], stamp: string, target: AuditTarget, touchGroup?: string): Promise<GroupRow | undefined> {
    const actor = t.actor;
    if (!events.length && !actor && !touchGroup) return undefined;
    if (events.length) t.eventsWritten = true;
    const params: unknown[] = [tenant, events.map((e) => e.aggregate), events.map((e) => e.type), events.map((e) => JSON.stringify(e.payload)), stamp,
      events.map((e) => e.target ?? null)];
    const ctes: string[] = [];
    if (touchGroup) {
      params.push(touchGroup);
      ctes.push(`g AS (UPDATE groups SET version = version + 1, modified = $5 WHERE tenant = $1 AND id = $${params.length} RETURNING ${GROUP_COLS})`);
    }
    const from = touchGroup ? 'g, ' : '';
    // WITH ORDINALITY keeps the events' order in their seqs.
    ctes.push(`ev AS (INSERT INTO outbox (tenant, aggregate, type, payload, created, target)
       SELECT $1, e.aggregate, e.type, e.payload::jsonb, $5, e.target
       FROM ${from}unnest($2::text[], $3::text[], $4::text[], $6::text[]) WITH ORDINALITY AS e(aggregate, type, payload, target, n) ORDER BY e.n)`);
    if (actor) {
      const first = params.length + 1;
      params.push(actor.subject ?? null, actor.jti ?? null, actor.mount, actor.operation, target.type, target.id,
        actor.requestId ?? null, JSON.stringify(auditSummary(target, events)));
      const p = (i: number) => `$${first + i}`;
      ctes.push(`au AS (INSERT INTO audit_log (at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary)
       SELECT $5, $1, ${p(0)}, ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}::jsonb${touchGroup ? ' FROM g' : ''})`);
    }
    const r = await t.c.query<GroupRow>({
      ...prepared(`WITH ${ctes.join(',\n')} SELECT ${touchGroup ? `${GROUP_COLS} FROM g` : '1'}`),
      values: params,
    });
    return touchGroup ? r.rows[0] : undefined;
  }

  async queueRepairs(tenant: string, groupId: string, events: ChangeEvent[], actor: AuditActor): Promise<void> {
    const stamp = now();
    await this.tx((t) => this.emit(t, tenant, events, stamp, repairTarget(groupId, events)), actor);
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const w = where(auditConditions(q), 'postgres');
    return this.read(async (pool) => {
      const r = await pool.query<AuditRow>(
        `SELECT seq::float8 AS seq, at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary
         FROM audit_log ${w.sql} ORDER BY seq DESC LIMIT $${w.params.length + 1}`, [...w.params, q.limit]);
      return r.rows.map((row) => ({
        seq: row.seq, at: row.at, tenant: row.tenant, subject: row.subject ?? undefined, jti: row.jti ?? undefined,
        mount: row.mount, operation: row.operation, resourceType: row.resource_type, resourceId: row.resource_id,
        requestId: row.request_id ?? undefined, summary: row.summary,
      }));
    });
  }

  async pruneAudit(before: string): Promise<number> {
    let total = 0;
    // In slices, so a large backlog never holds locks or bloats one transaction.
    for (;;) {
      const n = await this.tx(async (t) => (await t.c.query(
        'DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE at < $1 ORDER BY seq LIMIT 5000)', [before])).rowCount ?? 0);
      total += n;
      if (n < 5000) return total;
    }
  }

  // ---- users ----------------------------------------------------------------------------------------------

  /** A replaced user's emails: the old ones go, the new ones are written (createUser writes its own in its statement). */
  private async replaceEmails(t: Tx, tenant: string, id: string, input: UserInput): Promise<void> {
    await t.c.query('DELETE FROM user_emails WHERE tenant = $1 AND user_id = $2', [tenant, id]);
    const emails = storedEmails(input);
    if (!emails.length) return;
    await t.c.query(
      `INSERT INTO user_emails (tenant, user_id, value_lc, value, type, is_primary)
       SELECT $1, $2, e.value_lc, e.value, e.type, e.is_primary
       FROM unnest($3::text[], $4::text[], $5::text[], $6::boolean[]) WITH ORDINALITY AS e(value_lc, value, type, is_primary, n)
       ORDER BY e.n
       ON CONFLICT DO NOTHING`,
      [tenant, id, ...emailColumnArrays(emails)],
    );
  }

  private async lockUser(t: Tx, tenant: string, id: string): Promise<UserRow> {
    const r = await t.c.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE tenant = $1 AND id = $2 FOR UPDATE`, [tenant, id]);
    if (!r.rows[0]) throw new StoreError('not_found', `User ${id} not found`);
    return r.rows[0];
  }

  private uniqueUser(e: unknown, input: UserInput): unknown {
    if (sqlState(e) === '23505') return userNameTaken(input.userName);
    return e;
  }

  async createUser(tenant: string, input: UserInput, opts?: WriteOptions): Promise<UserRecord> {
    // Alone, or inside together() as a row of its chunk's one statement (user-batch.ts): the same statement either way.
    const row: UserInsert = { tenant, id: randomUUID(), input, stamp: now() };
    return this.tx(async (t) => {
      const [r] = await insertUsers(t.c, [row], [t.actor]);
      if (!r.ok) throw r.error;
      t.eventsWritten = true;
      return toUser(r.row);
    }, opts?.actor, { kind: 'user', row });
  }

  async getUser(tenant: string, id: string): Promise<UserRecord | undefined> {
    const r = await this.read((p) => p.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE tenant = $1 AND id = $2`, [tenant, id]));
    return r.rows[0] ? toUser(r.rows[0]) : undefined;
  }

  async replaceUser(tenant: string, id: string, input: UserInput, opts?: WriteOptions): Promise<UserRecord> {
    const stamp = now();
    try {
      return await this.tx(async (t) => {
        const before = await this.lockUser(t, tenant, id);
        checkVersion(before.version, opts);
        const r = await t.c.query<UserRow>(
          `UPDATE users SET user_name = $3, user_name_lc = $4, external_id = $5, display_name = $6, display_name_lc = $7,
           active = $8, resource = $9::jsonb, version = version + 1, modified = $10 WHERE tenant = $1 AND id = $2
           RETURNING ${USER_COLUMNS}`,
          [tenant, id, ...userColumnValues(input), stamp],
        );
        await this.replaceEmails(t, tenant, id, input);
        // When active changed, each of the user's groups gets an access event too (deprovisioning at group targets).
        // The user's row lock keeps memberships from being added meanwhile (their foreign key's KEY SHARE lock waits).
        const groups = before.active === input.active ? [] : (await t.c.query<{ group_id: string }>(
          'SELECT m.group_id FROM group_members m WHERE m.member_rid = $1', [before.rid])).rows.map((r) => r.group_id);
        const events = userUpdateEvents(userSummary(id, input), before.active, groups);
        await this.emit(t, tenant, events, stamp, { type: 'User', id, attributes: changedAttributes(before.resource, input.resource) });
        return toUser(r.rows[0]);
      }, opts?.actor);
    } catch (e) {
      throw this.uniqueUser(e, input);
    }
  }

  async deleteUser(tenant: string, id: string, opts?: WriteOptions): Promise<void> {
    const stamp = now();
    await this.tx(async (t) => {
      // The user's row lock (FOR UPDATE) conflicts with the key-share lock a new membership's foreign key takes,
      // so no membership can be added between reading the user's groups and deleting it.
      const before = await this.lockUser(t, tenant, id);
      checkVersion(before.version, opts);
      // Memberships go with the user (ON DELETE CASCADE); each group it left gets an event and a new version.
      const touched = await t.c.query<{ id: string }>(
        `UPDATE groups g SET version = version + 1, modified = $3
         WHERE g.tenant = $1 AND g.id IN (SELECT m.group_id FROM group_members m WHERE m.member_rid = $2)
         RETURNING g.id`,
        [tenant, before.rid, stamp],
      );
      const groups = touched.rows.map((r) => r.id).sort();
      const events: ChangeEvent[] = groups.map((g) => ({
        type: 'group.members_removed', aggregate: `group:${g}`, payload: { groupId: g, userIds: [id] },
      }));
      await t.c.query('DELETE FROM users WHERE tenant = $1 AND id = $2', [tenant, id]);
      events.push({ type: 'user.deleted', aggregate: `user:${id}`, payload: { id, userName: before.user_name, externalId: before.external_id ?? undefined } });
      await this.emit(t, tenant, events, stamp, { type: 'User', id });
    }, opts?.actor);
  }

  async listUsers(tenant: string, q: ListQuery): Promise<ListResult<UserRecord>> {
    return this.list<UserRow, UserRecord>('users', 'u', USER_COLUMNS, tenant, q, toUser);
  }

  async inactiveUsers(tenant: string, ids: readonly string[]): Promise<string[]> {
    if (!ids.length) return [];
    const r = await this.read((p) => p.query<{ id: string }>(
      'SELECT id FROM users WHERE tenant = $1 AND id = ANY($2::text[]) AND NOT active', [tenant, ids]));
    return r.rows.map((x) => x.id);
  }

  async inactiveMemberships(tenant: string, groupIds: readonly string[], limit: number) {
    const r = await this.read((p) => p.query<{ group_id: string; user_id: string }>(
      `SELECT m.group_id, m.member_id AS user_id FROM group_members m JOIN users u ON u.rid = m.member_rid
       WHERE m.tenant = $1 AND m.group_id = ANY($2::text[]) AND NOT u.active
       ORDER BY m.group_id, m.member_id LIMIT $3`, [tenant, groupIds, limit]));
    return r.rows.map((x) => ({ groupId: x.group_id, userId: x.user_id }));
  }

  private async list<R extends object, T>(table: 'users' | 'groups', alias: string, cols: string, tenant: string, q: ListQuery, map: (r: R) => T): Promise<ListResult<T>> {
    const p = new Params((n) => `$${n}`, [tenant]);
    const where = q.filter ? filterToSql(dialect, table, q.filter, p) : 'TRUE';
    const base = `FROM ${table} ${alias} WHERE ${alias}.tenant = $1 AND ${where}`;
    return this.read(async (pool) => {
      const total = (await pool.query<{ n: number }>(`SELECT count(*) AS n ${base}`, p.values)).rows[0].n;
      if (q.count <= 0 || q.startIndex > total) return { total, rows: [] };
      const order = orderBy(dialect, table, q.sortBy, q.sortOrder === 'descending');
      const lim = p.add(q.count);
      const off = p.add(q.startIndex - 1);
      const sel = cols.split(', ').map((c) => `${alias}.${c}`).join(', ');
      const rows = await pool.query<R>(`SELECT ${sel} ${base} ORDER BY ${order} LIMIT ${lim} OFFSET ${off}`, p.values);
      return { total, rows: rows.rows.map(map) };
    });
  }

  // ---- groups ---------------------------------------------------------------------------------------------

  private groupValues(input: GroupInput): unknown[] {
    return [input.displayName, input.displayName.toLowerCase(), input.externalId ?? null, JSON.stringify(input.resource)];
  }

  /**
   * Inserts the ids not yet members; returns those actually added (already-present ones are no-ops). Ids that name
   * no user of the tenant refuse the whole request; checked in the same statement (one round trip).
   */
  private async addMembers(t: Tx, tenant: string, groupId: string, ids: string[], stamp: string): Promise<string[]> {
    if (ids.length === 0) return [];
    const r = await t.c.query<{ added: boolean; value: string }>(prepared(ADD_MEMBERS_SQL), [tenant, groupId, uniqueSorted(ids), stamp]);
    const missing = r.rows.filter((x) => !x.added).map((x) => x.value);
    if (missing.length) throw unknownMembers(missing);
    return r.rows.map((x) => x.value).sort();
  }

  async createGroup(tenant: string, input: GroupInput, memberIds: string[], opts?: WriteOptions): Promise<GroupWriteResult> {
    const id = randomUUID();
    const stamp = now();
    try {
      return await this.tx(async (t) => {
        const g = await t.c.query<GroupRow>(
          `INSERT INTO groups (tenant, id, display_name, display_name_lc, external_id, resource, version, created, modified)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, 1, $7, $7) RETURNING ${GROUP_COLS}`,
          [tenant, id, ...this.groupValues(input), stamp],
        );
        const added = await this.addMembers(t, tenant, id, memberIds, stamp);
        await this.linkByRules(t, tenant, { id, displayName: input.displayName, externalId: input.externalId }, stamp);
        await this.emit(t, tenant, [
          { type: 'group.created', aggregate: `group:${id}`, payload: { group: groupSummary(id, input) } },
          ...memberEvents(id, added, []),
        ], stamp, { type: 'Group', id, attributes: Object.keys(input.resource) });
        return { group: toGroup(g.rows[0]), added, removed: [] as string[] };
      }, opts?.actor);
    } catch (e) {
      throw memberWriteError(e);
    }
  }

  async getGroup(tenant: string, id: string): Promise<GroupRecord | undefined> {
    const r = await this.read((p) => p.query<GroupRow>(`SELECT ${GROUP_COLS} FROM groups WHERE tenant = $1 AND id = $2`, [tenant, id]));
    return r.rows[0] ? toGroup(r.rows[0]) : undefined;
  }

  async listMembers(tenant: string, groupId: string): Promise<MemberRecord[]> {
    return (await this.pageMembers(tenant, groupId, { limit: 1_000_000_000 })).members;
  }

  async pageMembers(tenant: string, groupId: string, page: { after?: string; limit: number }): Promise<MemberPage> {
    const r = await this.read((p) => p.query<{ value: string; display: string | null; rid: number }>(
      `SELECT m.member_id AS value, COALESCE(u.display_name, u.user_name) AS display, m.member_rid AS rid
       FROM group_members m JOIN users u ON u.rid = m.member_rid
       WHERE m.tenant = $1 AND m.group_id = $2 AND m.member_rid > $3 ORDER BY m.member_rid LIMIT $4`,
      [tenant, groupId, cursorRid(page.after, 0), page.limit],
    ));
    const members = r.rows.map((x) => (x.display === null ? { value: x.value } : { value: x.value, display: x.display }));
    // Members in their users' creation order (rid), as on SQLite; the cursor is the last rid.
    return r.rows.length === page.limit ? { members, next: String(r.rows[r.rows.length - 1].rid) } : { members };
  }

  memberJson(tenant: string, groupId: string, ref: string): AsyncGenerator<Buffer> {
    return memberJsonByCopy(this.pool, tenant, groupId, ref);
  }

  async changeGroup(tenant: string, id: string, change: GroupChange, opts?: WriteOptions): Promise<GroupWriteResult> {
    // Membership-only changes without If-Match take the group's row lock only at the end, for the version bump and
    // the events: concurrent member changes to one group overlap their inserts and deletes and queue only for that
    // last step (the foreign key's KEY SHARE lock keeps the group from being deleted meanwhile).
    const lockLate = !change.attributes && opts?.ifVersion === undefined;
    const only = change.members.length === 1 ? change.members[0] : undefined;
    if (lockLate && only && (only.op === 'add' || only.op === 'remove') && only.ids.length) {
      return this.memberChangeBatched(tenant, id, only.op, only.ids, opts?.actor);
    }
    // Taken after the batched path, which stamps each batch itself: stamps taken within one millisecond are a
    // millisecond apart (write-rules.ts), so under load a stamp taken and not used pushes lastModified ahead of the
    // wall clock.
    const stamp = now();
    try {
      return await this.tx(async (t) => {
        let before: GroupRow | undefined;
        if (!lockLate) {
          before = (await t.c.query<GroupRow>(`SELECT ${GROUP_COLS} FROM groups WHERE tenant = $1 AND id = $2 FOR UPDATE`, [tenant, id])).rows[0];
          if (!before) throw new StoreError('not_found', `Group ${id} not found`);
          checkVersion(before.version, opts);
        }
        const events: ChangeEvent[] = [];
        let after: GroupRow | undefined;
        if (change.attributes && before) {
          after = (await t.c.query<GroupRow>(
            `UPDATE groups SET display_name = $3, display_name_lc = $4, external_id = $5, resource = $6::jsonb,
             version = version + 1, modified = $7 WHERE tenant = $1 AND id = $2 RETURNING ${GROUP_COLS}`,
            [tenant, id, ...this.groupValues(change.attributes), stamp],
          )).rows[0];
          await this.linkByRules(t, tenant, { id, displayName: change.attributes.displayName, externalId: change.attributes.externalId }, stamp);
          const updated = groupUpdatedEvent(id, toGroup(before), change.attributes);
          if (updated) events.push(updated);
        }
        const delta = new MemberDelta();
        // Member ids sorted, as both stores answer them (DELETE … RETURNING has no order).
        const ids = (rows: { member_id: string }[]) => rows.map((r) => r.member_id).sort();
        for (const op of change.members) {
          if (op.op === 'add') {
            delta.noteAdded(await this.addMembers(t, tenant, id, op.ids, stamp));
          } else if (op.op === 'remove') {
            if (op.ids.length) {
              delta.noteRemoved(ids((await t.c.query<{ member_id: string }>(prepared(
                `DELETE FROM group_members WHERE tenant = $1 AND group_id = $2
                 AND member_rid = ANY(ARRAY(SELECT rid FROM users WHERE tenant = $1 AND id = ANY($3::text[]))) RETURNING member_id`),
                [tenant, id, uniqueSorted(op.ids)])).rows));
            }
          } else if (op.op === 'removeAll') {
            delta.noteRemoved(ids((await t.c.query<{ member_id: string }>(
              'DELETE FROM group_members WHERE tenant = $1 AND group_id = $2 RETURNING member_id', [tenant, id])).rows));
          } else {
            // addMembers below refuses unknown ids, rolling back this delete with everything else.
            delta.noteRemoved(ids((await t.c.query<{ member_id: string }>(
              `DELETE FROM group_members WHERE tenant = $1 AND group_id = $2 AND NOT (member_id = ANY($3::text[])) RETURNING member_id`,
              [tenant, id, uniqueSorted(op.ids)])).rows));
            delta.noteAdded(await this.addMembers(t, tenant, id, op.ids, stamp));
          }
        }
        // A membership change is a new version of the group (bumped by emit, in its statement); a request that
        // changed nothing leaves the ETag alone.
        const touch = !change.attributes && delta.changed;
        if (!touch && !before && !after) {
          after = (await t.c.query<GroupRow>(prepared(`SELECT ${GROUP_COLS} FROM groups WHERE tenant = $1 AND id = $2`), [tenant, id])).rows[0];
          if (!after) throw new StoreError('not_found', `Group ${id} not found`);
        }
        events.push(...delta.events(id));
        const touched = await this.emit(t, tenant, events, stamp, {
          type: 'Group', id, attributes: change.attributes && before ? changedAttributes(before.resource, change.attributes.resource) : undefined,
        }, touch ? id : undefined);
        const current = touched ?? after ?? before;
        if (!current) throw new StoreError('not_found', `Group ${id} not found`);
        return { group: toGroup(current), added: delta.added, removed: delta.removed };
      }, opts?.actor);
    } catch (e) {
      throw memberWriteError(e, id);
    }
  }

  /** One add or remove of members, through the group commit of member changes (member-batch.ts). */
  private async memberChangeBatched(
    tenant: string, groupId: string, op: 'add' | 'remove', memberIds: string[], actor?: AuditActor,
  ): Promise<GroupWriteResult> {
    const { group, changed } = await this.members.submit({ tenant, groupId, op, memberIds, actor });
    return { group: toGroup(group), added: op === 'add' ? changed : [], removed: op === 'remove' ? changed : [] };
  }

  async deleteGroup(tenant: string, id: string, opts?: WriteOptions): Promise<void> {
    const stamp = now();
    await this.tx(async (t) => {
      const b = await t.c.query<GroupRow>(`SELECT ${GROUP_COLS} FROM groups WHERE tenant = $1 AND id = $2 FOR UPDATE`, [tenant, id]);
      const before = b.rows[0];
      if (!before) throw new StoreError('not_found', `Group ${id} not found`);
      checkVersion(before.version, opts);
      await t.c.query('DELETE FROM groups WHERE tenant = $1 AND id = $2', [tenant, id]);
      await this.emit(t, tenant, [{
        type: 'group.deleted', aggregate: `group:${id}`,
        payload: { id, displayName: before.display_name, externalId: before.external_id ?? undefined },
      }], stamp, { type: 'Group', id });
    }, opts?.actor);
  }

  async listGroups(tenant: string, q: ListQuery): Promise<ListResult<GroupRecord>> {
    return this.list<GroupRow, GroupRecord>('groups', 'g', GROUP_COLS, tenant, q, toGroup);
  }

  // ---- tokens ---------------------------------------------------------------------------------------------

  async revokeToken(jti: string, until?: Date): Promise<void> {
    await this.read((p) => p.query(
      `INSERT INTO revoked_tokens (jti, until, revoked) VALUES ($1, $2, $3)
       ON CONFLICT (jti) DO UPDATE SET until = excluded.until, revoked = excluded.revoked`,
      [jti, until ? until.toISOString() : null, now()]));
    // Our own listener hears of it too, but maybe after this replica's next request: forget here, now.
    this.revocations.forget();
  }

  /**
   * Remembered while this replica hears of every change to revoked_tokens (revocation-cache.ts). What is asked of
   * the database: identity providers send one token on many concurrent requests, so the lookups of one event-loop
   * turn are answered by one `jti = ANY(…)` query, started after every request it answers arrived.
   */
  async isRevoked(jti: string): Promise<boolean> {
    return this.revocations.isRevoked(jti);
  }

  private readonly revoked = perTurn(async (jtis: string[]) => {
    const r = await this.read((p) => p.query<{ jti: string }>({
      ...prepared('SELECT jti FROM revoked_tokens WHERE jti = ANY($1::text[])'), values: [[...new Set(jtis)]],
    }));
    const revoked = new Set(r.rows.map((x) => x.jti));
    return jtis.map((j) => revoked.has(j));
  });

  /** The revocation answers this replica remembers (public so that tests can see whether it is listening). */
  readonly revocations = new RevocationCache(() => createClient(this.config.url), (jti) => this.revoked(jti));
}
