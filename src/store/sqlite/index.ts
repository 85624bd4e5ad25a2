// SQLite store (better-sqlite3). Every statement is scoped by tenant. Each write runs in one synchronous
// transaction together with its outbox events: better-sqlite3 transactions cannot span an await.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteDatabaseConfig } from '../../config';
import { auditSummary, changedAttributes, repairTarget, type AuditActor, type AuditQuery, type AuditRecord, type AuditTarget } from '../audit';
import { StoreError, unknownMembers, userNameTaken } from '../errors';
import { groupSummary, groupUpdatedEvent, MemberDelta, memberEvents, userSummary, userUpdateEvents, type ChangeEvent } from '../events';
import type {
  GroupChange, GroupInput, GroupRecord, GroupWriteResult, Json, ListQuery, ListResult, MemberPage, MemberRecord, Store,
  UserInput, UserRecord, WriteOptions,
} from '../types';
import { cursorRid, uniqueSorted } from '../member-ids';
import { perTurn } from '../per-turn';
import { checkVersion, now } from '../write-rules';
import { auditConditions, where } from '../where';
import { linksFor, matchColumn, type GroupLinkRule, type LinkableGroup } from '../link-rules';
import { filterToSql, orderBy, Params } from '../filter-sql';
import { sqliteFilterDialect as dialect } from './filter-dialect';
import { BackgroundCheckpointer } from './checkpointer';
import { GroupCommit } from './group-commit';
import { SqliteEgressStore } from './egress';
import { migrateSqlite, pendingMigrations } from './migrate';

interface UserRow {
  rid: number; id: string; user_name: string; external_id: string | null; display_name: string | null; active: number;
  resource: string; version: number; created: string; modified: string;
}
interface GroupRow {
  rid: number; id: string; display_name: string; external_id: string | null; resource: string; version: number;
  created: string; modified: string;
}

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id, userName: r.user_name, externalId: r.external_id ?? undefined, displayName: r.display_name ?? undefined,
    active: r.active === 1, resource: JSON.parse(r.resource) as Json, version: r.version, created: r.created,
    modified: r.modified,
  };
}

function toGroup(r: GroupRow): GroupRecord {
  return {
    id: r.id, displayName: r.display_name, externalId: r.external_id ?? undefined,
    resource: JSON.parse(r.resource) as Json, version: r.version, created: r.created, modified: r.modified,
  };
}

// Memberships are integer pairs (migration 005). USERS_NAMED takes a JSON array of ids and a tenant and yields the
// users they name (alias u): ids become rids only under the tenant, so a member is always a user of the group's
// tenant. CROSS JOIN fixes the join order: json_each first, then one index lookup per id (the planner would
// otherwise scan users for every id).
const USERS_NAMED = 'json_each(?) j CROSS JOIN users u WHERE u.tenant = ? AND u.id = j.value';
/** Group rid, ids, tenant: inserts the named users not yet members, in rid order. */
const ADD_MEMBERS = `INSERT OR IGNORE INTO group_members (group_rid, user_rid) SELECT ?, u.rid FROM ${USERS_NAMED} ORDER BY u.rid`;
/** Answers the member id of each row a statement on group_members inserted or deleted. */
const RETURNING_MEMBER_ID = 'RETURNING (SELECT id FROM users WHERE rid = user_rid)';

/** Member lists up to this long are inserted naming each added row; longer ones are inserted in bulk first. */
const NAMED_INSERT_MAX = 100;

/** Members per page of memberJson. */
const MEMBER_JSON_PAGE = 5000;

/**
 * By code, not instanceof Error: better-sqlite3 registers its SqliteError class once per process, so an error may
 * come from another realm (e.g. a jest worker running several test files) and fail `instanceof Error`.
 */

function isUniqueViolation(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

interface AuditRow {
  seq: number; at: string; tenant: string; subject: string | null; jti: string | null; mount: string;
  operation: AuditRecord['operation']; resource_type: AuditRecord['resourceType']; resource_id: string;
  request_id: string | null; summary: string;
}

function toAudit(r: AuditRow): AuditRecord {
  return {
    seq: r.seq, at: r.at, tenant: r.tenant, subject: r.subject ?? undefined, jti: r.jti ?? undefined, mount: r.mount,
    operation: r.operation, resourceType: r.resource_type, resourceId: r.resource_id, requestId: r.request_id ?? undefined,
    summary: JSON.parse(r.summary) as AuditRecord['summary'],
  };
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly db: Database.Database;

  constructor(readonly config: SqliteDatabaseConfig) {
    if (config.file !== ':memory:') mkdirSync(path.dirname(config.file), { recursive: true });
    this.db = new Database(config.file);
    // 16 KiB pages (only takes effect on a new database): a bulk member add touches far fewer pages of the
    // member index than with 4 KiB pages (measured before migration 005: 10,000 adds into 100,000 rows, 115 ms → 37 ms).
    this.db.pragma('page_size = 16384');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${config.synchronous}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache (the default is 2 MiB): the member index of a large tenant stays in memory, so bulk
    // member adds and reverse lookups do not read it back page by page.
    this.db.pragma('cache_size = -65536');
    // Statement journals (the page copies a savepoint keeps) and sorts in memory: with the default, a savepoint
    // that touched four 16 KiB pages spilled to a temporary file (measured: an insert in a savepoint 22 µs → 9 µs).
    this.db.pragma('temp_store = MEMORY');
    this.commits = new GroupCommit<AuditActor>(this.db, {
      enter: (actor) => { this.actor = actor; },
      leave: () => { this.actor = undefined; },
      committed: () => {
        if (this.checkpointer?.takeInlineDue()) this.checkpointInline();
        // Only commits that wrote change events wake the worker (its own bookkeeping commits must not).
        if (this.eventsWritten) {
          this.eventsWritten = false;
          for (const l of this.commitListeners) l();
        }
      },
    });
    if (config.file !== ':memory:') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new BackgroundCheckpointer({
        file: config.file,
        synchronous: config.synchronous,
        onFailure: (err) => {
          // Back to SQLite's own checkpoints on the writing connection: slower commits, never an unbounded WAL.
          if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
          process.emitWarning(`SQLite background checkpoints stopped: ${(err as Error)?.message ?? String(err)}`);
        },
      });
    }
  }

  private readonly checkpointer?: BackgroundCheckpointer;

  private prepared?: ReturnType<SqliteStore['prepare']>;
  private egressStore?: SqliteEgressStore;
  private readonly commitListeners = new Set<() => void>();
  private eventsWritten = false;

  get egress(): SqliteEgressStore {
    return (this.egressStore ??= new SqliteEgressStore(this.db, (fn) => this.write(fn)));
  }

  onCommit(listener: () => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Every write already commits with those of its event-loop turn (group-commit.ts). */
  together<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    return fn(this);
  }
  /** The actor of the write running now (writes run later, in a batch, outside their request's async context). */
  private actor?: AuditActor;
  private readonly commits: GroupCommit<AuditActor>;

  /** Runs a synchronous write in the next group commit (see group-commit.ts); settles once it is durable. */
  private write<T>(fn: () => T, actor?: AuditActor): Promise<T> {
    return this.commits.run(fn, actor);
  }

  /** Finishes a checkpoint the background worker fell behind on, so the WAL can restart (see checkpointer.ts). */
  private checkpointInline(): void {
    try {
      this.db.pragma('wal_checkpoint(RESTART)');
    } catch {
      // Busy or locked: the next background run asks again.
    }
  }

  private get s() {
    return (this.prepared ??= this.prepare());
  }

  private prepare() {
    const db = this.db;
    return {
      userById: db.prepare<[string, string], UserRow>('SELECT * FROM users WHERE tenant = ? AND id = ?'),
      userExists: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM users WHERE tenant = ? AND id = ?'),
      insertUser: db.prepare(`INSERT INTO users (tenant, id, user_name, user_name_lc, external_id, display_name,
        display_name_lc, active, resource, version, created, modified)
        VALUES (@tenant, @id, @userName, @userNameLc, @externalId, @displayName, @displayNameLc, @active, @resource, 1,
        @now, @now)`),
      updateUser: db.prepare(`UPDATE users SET user_name = @userName, user_name_lc = @userNameLc,
        external_id = @externalId, display_name = @displayName, display_name_lc = @displayNameLc, active = @active,
        resource = @resource, version = version + 1, modified = @now WHERE tenant = @tenant AND id = @id`),
      deleteUser: db.prepare<[string, string]>('DELETE FROM users WHERE tenant = ? AND id = ?'),
      deleteEmails: db.prepare<[string, string]>('DELETE FROM user_emails WHERE tenant = ? AND user_id = ?'),
      insertEmail: db.prepare(`INSERT OR IGNORE INTO user_emails (tenant, user_id, value_lc, value, type, is_primary)
        VALUES (?, ?, ?, ?, ?, ?)`),
      groupsOfUser: db.prepare<[number], string>(
        'SELECT g.id FROM group_members m CROSS JOIN groups g WHERE m.user_rid = ? AND g.rid = m.group_rid').pluck(),

      groupById: db.prepare<[string, string], GroupRow>('SELECT * FROM groups WHERE tenant = ? AND id = ?'),
      insertGroup: db.prepare(`INSERT INTO groups (tenant, id, display_name, display_name_lc, external_id, resource,
        version, created, modified) VALUES (@tenant, @id, @displayName, @displayNameLc, @externalId, @resource, 1,
        @now, @now)`),
      updateGroup: db.prepare(`UPDATE groups SET display_name = @displayName, display_name_lc = @displayNameLc,
        external_id = @externalId, resource = @resource, version = version + 1, modified = @now
        WHERE tenant = @tenant AND id = @id`),
      touchGroup: db.prepare<[string, string, string]>(
        'UPDATE groups SET version = version + 1, modified = ? WHERE tenant = ? AND id = ?'),
      deleteGroup: db.prepare<[string, string]>('DELETE FROM groups WHERE tenant = ? AND id = ?'),
      // Set operations over a JSON array of ids (see USERS_NAMED): one statement each, cost follows the ids named.
      missingUsers: db.prepare<[string, string], string>(
        `SELECT j.value FROM json_each(?) j
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.tenant = ? AND u.id = j.value)`).pluck(),
      addMembers: db.prepare<[number, string, string]>(ADD_MEMBERS),
      addMembersReturning: db.prepare<[number, string, string], string>(`${ADD_MEMBERS} ${RETURNING_MEMBER_ID}`).pluck(),
      dropUserMemberships: db.prepare<[number]>('DELETE FROM group_members WHERE user_rid = ?'),
      dropGroupMemberships: db.prepare<[number]>('DELETE FROM group_members WHERE group_rid = ?'),
      removeMembers: db.prepare<[number, string, string], string>(
        `DELETE FROM group_members WHERE group_rid = ? AND user_rid IN (SELECT u.rid FROM ${USERS_NAMED}) ${RETURNING_MEMBER_ID}`).pluck(),
      removeAllMembers: db.prepare<[number], string>(`DELETE FROM group_members WHERE group_rid = ? ${RETURNING_MEMBER_ID}`).pluck(),
      removeMembersNotIn: db.prepare<[number, string, string], string>(
        `DELETE FROM group_members WHERE group_rid = ? AND user_rid NOT IN (SELECT u.rid FROM ${USERS_NAMED}) ${RETURNING_MEMBER_ID}`).pluck(),
      inactiveUsers: db.prepare<[string, string], string>(`SELECT u.id FROM ${USERS_NAMED} AND u.active = 0`).pluck(),
      inactiveMembersOf: db.prepare<[string, string, number], { group_id: string; user_id: string }>(
        `SELECT g.id AS group_id, u.id AS user_id FROM json_each(?) j CROSS JOIN groups g CROSS JOIN group_members m CROSS JOIN users u
         WHERE g.tenant = ? AND g.id = j.value AND m.group_rid = g.rid AND u.rid = m.user_rid AND u.active = 0
         ORDER BY g.id, u.id LIMIT ?`),
      // Keyset pages in user_rid order: the cursor is the last rid, so a page costs its own size at any depth.
      membersPage: db.prepare<[string, string, number, number], { value: string; display: string | null; rid: number }>(
        `SELECT u.id AS value, COALESCE(u.display_name, u.user_name) AS display, m.user_rid AS rid
         FROM group_members m CROSS JOIN users u
         WHERE m.group_rid = (SELECT rid FROM groups WHERE tenant = ? AND id = ?) AND m.user_rid > ? AND u.rid = m.user_rid
         ORDER BY m.user_rid LIMIT ?`),

      // The same page as membersPage, as its member JSON (json_quote escapes as JSON.stringify does), cast to a BLOB:
      // its UTF-8 bytes go to the response as they are, never becoming a JS string (decoding and re-encoding 17 MB
      // cost about a third of a 100,000-member GET).
      memberJsonPage: db.prepare<[string, string, string, number, number], { json: Buffer | null; n: number; last: number | null }>(
        `SELECT CAST(string_agg('{"value":' || json_quote(value) || ',"$ref":' || json_quote(ref || value) || ',"type":"User"'
                || CASE WHEN display IS NULL THEN '' ELSE ',"display":' || json_quote(display) END || '}', ',' ORDER BY rid) AS BLOB) AS json,
                count(*) AS n, max(rid) AS last
         FROM (SELECT u.id AS value, COALESCE(u.display_name, u.user_name) AS display, m.user_rid AS rid, ? AS ref
               FROM group_members m CROSS JOIN users u
               WHERE m.group_rid = (SELECT rid FROM groups WHERE tenant = ? AND id = ?) AND m.user_rid > ?
                 AND u.rid = m.user_rid
               ORDER BY m.user_rid LIMIT ?)`),

      // A configured link, unless the target already has one for the group (a stored link always wins).
      insertRuleLink: db.prepare<[string, string, string, string, string]>(
        `INSERT OR IGNORE INTO links (target, kind, scim_id, tenant, remote_id, source, created)
         VALUES (?, 'group', ?, ?, ?, 'config', ?)`),
      insertEvent: db.prepare<[string, string, string, string, string, string | null]>(
        'INSERT INTO outbox (tenant, aggregate, type, payload, created, target) VALUES (?, ?, ?, ?, ?, ?)'),
      insertAudit: db.prepare(`INSERT INTO audit_log (at, tenant, subject, jti, mount, operation, resource_type, resource_id,
        request_id, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      pruneAudit: db.prepare<[string]>('DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE at < ? ORDER BY seq LIMIT 5000)'),
      revoke: db.prepare<[string, string | null, string]>(
        'INSERT OR REPLACE INTO revoked_tokens (jti, until, revoked) VALUES (?, ?, ?)'),
      isRevoked: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_tokens WHERE jti = ?'),
    };
  }

  async migrate(): Promise<string[]> {
    const done = migrateSqlite(this.db);
    this.prepared = undefined;
    this.egressStore = undefined;
    return done;
  }

  async pendingMigrations(): Promise<string[]> {
    return pendingMigrations(this.db);
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    await this.checkpointer?.close();
    if (this.db.open) this.db.close();
  }

  // ---- configured links -----------------------------------------------------------------------------------

  private linkRules: readonly GroupLinkRule[] = [];

  async applyGroupLinkRules(rules: readonly GroupLinkRule[]): Promise<number> {
    this.linkRules = rules;
    const stamp = now();
    return this.write(() => {
      let n = 0;
      for (const r of rules) {
        const { column, value } = matchColumn(r);
        // display_name through its lower-case index, then exactly (a rule's displayName is case-sensitive).
        const where = column === 'display_name' ? 'display_name_lc = ? AND display_name = ?' : `${column} = ?`;
        const params = column === 'display_name' ? [value.toLowerCase(), value] : [value];
        const ids = this.db.prepare<unknown[], string>(`SELECT id FROM groups WHERE tenant = ? AND ${where} ORDER BY rid`).pluck()
          .all(r.tenant, ...params);
        for (const id of ids) n += this.s.insertRuleLink.run(r.target, id, r.tenant, r.remoteId, stamp).changes;
      }
      return n;
    });
  }

  /** Inside a group write: the configured links the group's committed attributes give it. */
  private linkByRules(tenant: string, g: LinkableGroup, stamp: string): void {
    if (!this.linkRules.length) return;
    for (const l of linksFor(this.linkRules, tenant, g)) this.s.insertRuleLink.run(l.target, g.id, tenant, l.remoteId, stamp);
  }

  // ---- events ---------------------------------------------------------------------------------------------

  /** The write's change events, and its audit record when it comes from a SCIM request. */
  private emit(tenant: string, events: ChangeEvent[], stamp: string, target: AuditTarget): void {
    if (events.length) this.eventsWritten = true;
    for (const e of events) this.s.insertEvent.run(tenant, e.aggregate, e.type, JSON.stringify(e.payload), stamp, e.target ?? null);
    const a = this.actor;
    if (a) {
      this.s.insertAudit.run(stamp, tenant, a.subject ?? null, a.jti ?? null, a.mount, a.operation, target.type, target.id,
        a.requestId ?? null, JSON.stringify(auditSummary(target, events)));
    }
  }

  async queueRepairs(tenant: string, groupId: string, events: ChangeEvent[], actor: AuditActor): Promise<void> {
    const stamp = now();
    await this.write(() => this.emit(tenant, events, stamp, repairTarget(groupId, events)), actor);
  }

  async listAudit(q: AuditQuery): Promise<AuditRecord[]> {
    const w = where(auditConditions(q), 'sqlite');
    const rows = this.db.prepare(`SELECT * FROM audit_log ${w.sql} ORDER BY seq DESC LIMIT ?`).all(...w.params, q.limit) as AuditRow[];
    return rows.map(toAudit);
  }

  async pruneAudit(before: string): Promise<number> {
    let total = 0;
    // In slices, so a large backlog never holds the write lock for long.
    for (;;) {
      const n = await this.write(() => this.s.pruneAudit.run(before).changes);
      total += n;
      if (n < 5000) return total;
    }
  }

  // ---- users ----------------------------------------------------------------------------------------------

  private userParams(tenant: string, id: string, input: UserInput, stamp: string) {
    return {
      tenant, id, userName: input.userName, userNameLc: input.userName.toLowerCase(),
      externalId: input.externalId ?? null, displayName: input.displayName ?? null,
      displayNameLc: input.displayName?.toLowerCase() ?? null, active: input.active ? 1 : 0,
      resource: JSON.stringify(input.resource), now: stamp,
    };
  }

  private writeEmails(tenant: string, id: string, input: UserInput): void {
    this.s.deleteEmails.run(tenant, id);
    for (const e of input.emails) {
      if (typeof e.value !== 'string' || e.value === '') continue;
      this.s.insertEmail.run(tenant, id, e.value.toLowerCase(), e.value, e.type ?? null, e.primary ? 1 : 0);
    }
  }

  async createUser(tenant: string, input: UserInput, opts?: WriteOptions): Promise<UserRecord> {
    const id = randomUUID();
    const stamp = now();
    try {
      return await this.write(() => {
        this.s.insertUser.run(this.userParams(tenant, id, input, stamp));
        this.writeEmails(tenant, id, input);
        this.emit(tenant, [{ type: 'user.created', aggregate: `user:${id}`, payload: { user: userSummary(id, input) } }], stamp,
          { type: 'User', id, attributes: Object.keys(input.resource) });
        return toUser(this.s.userById.get(tenant, id)!);
      }, opts?.actor);
    } catch (e) {
      if (isUniqueViolation(e)) throw userNameTaken(input.userName);
      throw e;
    }
  }

  async getUser(tenant: string, id: string): Promise<UserRecord | undefined> {
    const r = this.s.userById.get(tenant, id);
    return r ? toUser(r) : undefined;
  }

  async replaceUser(tenant: string, id: string, input: UserInput, opts?: WriteOptions): Promise<UserRecord> {
    const stamp = now();
    try {
      return await this.write(() => {
        const before = this.s.userById.get(tenant, id);
        if (!before) throw new StoreError('not_found', `User ${id} not found`);
        checkVersion(before.version, opts);
        this.s.updateUser.run(this.userParams(tenant, id, input, stamp));
        this.writeEmails(tenant, id, input);
        // When active changed, each of the user's groups gets an access event too (deprovisioning at group targets).
        const wasActive = before.active === 1;
        const events = userUpdateEvents(userSummary(id, input), wasActive,
          wasActive !== input.active ? this.s.groupsOfUser.all(before.rid) : []);
        this.emit(tenant, events, stamp, { type: 'User', id, attributes: changedAttributes(JSON.parse(before.resource), input.resource) });
        return toUser(this.s.userById.get(tenant, id)!);
      }, opts?.actor);
    } catch (e) {
      if (isUniqueViolation(e)) throw userNameTaken(input.userName);
      throw e;
    }
  }

  async deleteUser(tenant: string, id: string, opts?: WriteOptions): Promise<void> {
    const stamp = now();
    await this.write(() => {
      const before = this.s.userById.get(tenant, id);
      if (!before) throw new StoreError('not_found', `User ${id} not found`);
      checkVersion(before.version, opts);
      // Memberships go with the user, in this transaction; each group it left gets an event and a new version.
      const groups = this.s.groupsOfUser.all(before.rid).sort();
      const events: ChangeEvent[] = groups.map((g) => ({
        type: 'group.members_removed', aggregate: `group:${g}`, payload: { groupId: g, userIds: [id] },
      }));
      for (const g of groups) this.s.touchGroup.run(stamp, tenant, g);
      this.s.dropUserMemberships.run(before.rid);
      this.s.deleteUser.run(tenant, id);
      events.push({ type: 'user.deleted', aggregate: `user:${id}`, payload: { id, userName: before.user_name, externalId: before.external_id ?? undefined } });
      this.emit(tenant, events, stamp, { type: 'User', id });
    }, opts?.actor);
  }

  async listUsers(tenant: string, q: ListQuery): Promise<ListResult<UserRecord>> {
    return this.list<UserRow, UserRecord>('users', 'u', tenant, q, toUser);
  }

  async inactiveUsers(tenant: string, ids: readonly string[]): Promise<string[]> {
    if (!ids.length) return [];
    return this.s.inactiveUsers.all(JSON.stringify(ids), tenant);
  }

  async inactiveMemberships(tenant: string, groupIds: readonly string[], limit: number) {
    return this.s.inactiveMembersOf.all(JSON.stringify(groupIds), tenant, limit).map((r) => ({ groupId: r.group_id, userId: r.user_id }));
  }

  private list<R, T>(table: 'users' | 'groups', alias: string, tenant: string, q: ListQuery, map: (r: R) => T): ListResult<T> {
    const p = new Params(() => '?', [tenant]);
    const where = q.filter ? filterToSql(dialect, table, q.filter, p) : '1';
    const base = `FROM ${table} ${alias} WHERE ${alias}.tenant = ? AND ${where}`;
    const params = p.values;
    const total = (this.db.prepare(`SELECT count(*) AS n ${base}`).get(...params) as { n: number }).n;
    if (q.count <= 0 || q.startIndex > total) return { total, rows: [] };
    const order = orderBy(dialect, table, q.sortBy, q.sortOrder === 'descending');
    const rows = this.db.prepare(`SELECT ${alias}.* ${base} ORDER BY ${order} LIMIT ? OFFSET ?`)
      .all(...params, q.count, q.startIndex - 1) as R[];
    return { total, rows: rows.map(map) };
  }

  // ---- groups ---------------------------------------------------------------------------------------------

  private groupParams(tenant: string, id: string, input: GroupInput, stamp: string) {
    return {
      tenant, id, displayName: input.displayName, displayNameLc: input.displayName.toLowerCase(),
      externalId: input.externalId ?? null, resource: JSON.stringify(input.resource), now: stamp,
    };
  }

  /**
   * Inserts the ids not yet members; returns those actually added (already-present ones are no-ops). Every id must
   * name a user of the tenant. The insert joins each id to its user, so an unknown id is simply not inserted; when
   * fewer rows went in than ids were named, unknown ids refuse the whole write (its transaction or savepoint takes
   * the insert back). SQLite has one writer, so no user can vanish between the join and the commit.
   */
  private addMembers(tenant: string, groupRid: number, ids: string[]): string[] {
    if (ids.length === 0) return [];
    const unique = uniqueSorted(ids);
    const idsJson = JSON.stringify(unique);
    // A short list (an IdP's usual single member) names the rows it adds as it inserts them.
    if (unique.length <= NAMED_INSERT_MAX) {
      const added = this.s.addMembersReturning.all(groupRid, idsJson, tenant);
      if (added.length < unique.length) this.refuseUnknownUsers(idsJson, tenant);
      return added.sort();
    }
    // A long list inserts without naming rows (about a third cheaper per row). When every id went in, the ids are
    // the answer; otherwise the insert is undone and run again naming the rows it adds.
    this.db.exec('SAVEPOINT add_members');
    try {
      if (this.s.addMembers.run(groupRid, idsJson, tenant).changes === unique.length) return unique;
      this.db.exec('ROLLBACK TO add_members');
      this.refuseUnknownUsers(idsJson, tenant);
      return this.s.addMembersReturning.all(groupRid, idsJson, tenant).sort();
    } finally {
      this.db.exec('RELEASE add_members');
    }
  }

  private refuseUnknownUsers(idsJson: string, tenant: string): void {
    const missing = this.s.missingUsers.all(idsJson, tenant);
    if (missing.length) throw unknownMembers(missing);
  }

  async createGroup(tenant: string, input: GroupInput, memberIds: string[], opts?: WriteOptions): Promise<GroupWriteResult> {
    const id = randomUUID();
    const stamp = now();
    return this.write(() => {
      const { lastInsertRowid } = this.s.insertGroup.run(this.groupParams(tenant, id, input, stamp));
      const added = this.addMembers(tenant, Number(lastInsertRowid), memberIds);
      this.linkByRules(tenant, { id, displayName: input.displayName, externalId: input.externalId }, stamp);
      this.emit(tenant, [
        { type: 'group.created', aggregate: `group:${id}`, payload: { group: groupSummary(id, input) } },
        ...memberEvents(id, added, []),
      ], stamp, { type: 'Group', id, attributes: Object.keys(input.resource) });
      return { group: toGroup(this.s.groupById.get(tenant, id)!), added, removed: [] as string[] };
    }, opts?.actor);
  }

  async getGroup(tenant: string, id: string): Promise<GroupRecord | undefined> {
    const r = this.s.groupById.get(tenant, id);
    return r ? toGroup(r) : undefined;
  }

  async listMembers(tenant: string, groupId: string): Promise<MemberRecord[]> {
    return (await this.pageMembers(tenant, groupId, { limit: -1 })).members;
  }

  async pageMembers(tenant: string, groupId: string, page: { after?: string; limit: number }): Promise<MemberPage> {
    const rows = this.s.membersPage.all(tenant, groupId, cursorRid(page.after, 0), page.limit);
    const members = rows.map((r): MemberRecord => (r.display === null ? { value: r.value } : { value: r.value, display: r.display }));
    return rows.length === page.limit ? { members, next: String(rows[rows.length - 1].rid) } : { members };
  }

  async *memberJson(tenant: string, groupId: string, ref: string): AsyncGenerator<Buffer | string> {
    // A page at a time, so a 100,000-member group is never one buffer; each page is its own read.
    for (let after = 0, first = true; ; first = false) {
      const r = this.s.memberJsonPage.get(ref, tenant, groupId, after, MEMBER_JSON_PAGE)!;
      if (r.n) {
        if (!first) yield ',';
        yield r.json!;
      }
      if (r.n < MEMBER_JSON_PAGE) return;
      after = r.last!;
    }
  }

  async changeGroup(tenant: string, id: string, change: GroupChange, opts?: WriteOptions): Promise<GroupWriteResult> {
    const stamp = now();
    return this.write(() => {
      const before = this.s.groupById.get(tenant, id);
      if (!before) throw new StoreError('not_found', `Group ${id} not found`);
      checkVersion(before.version, opts);
      const events: ChangeEvent[] = [];
      if (change.attributes) {
        this.s.updateGroup.run(this.groupParams(tenant, id, change.attributes, stamp));
        this.linkByRules(tenant, { id, displayName: change.attributes.displayName, externalId: change.attributes.externalId }, stamp);
        const updated = groupUpdatedEvent(id, toGroup(before), change.attributes);
        if (updated) events.push(updated);
      }
      const delta = new MemberDelta();
      for (const op of change.members) {
        if (op.op === 'add') {
          delta.noteAdded(this.addMembers(tenant, before.rid, op.ids));
        } else if (op.op === 'remove') {
          if (op.ids.length) delta.noteRemoved(this.s.removeMembers.all(before.rid, JSON.stringify(op.ids), tenant).sort());
        } else if (op.op === 'removeAll') {
          delta.noteRemoved(this.s.removeAllMembers.all(before.rid).sort());
        } else {
          // addMembers below refuses unknown ids, and the write's savepoint takes this delete back with it.
          delta.noteRemoved(this.s.removeMembersNotIn.all(before.rid, JSON.stringify(op.ids), tenant).sort());
          delta.noteAdded(this.addMembers(tenant, before.rid, op.ids));
        }
      }
      // A membership change is a new version of the group; a request that changed nothing leaves the ETag alone.
      if (!change.attributes && delta.changed) this.s.touchGroup.run(stamp, tenant, id);
      events.push(...delta.events(id));
      this.emit(tenant, events, stamp, {
        type: 'Group', id, attributes: change.attributes ? changedAttributes(JSON.parse(before.resource), change.attributes.resource) : undefined,
      });
      // A membership-only change moved nothing but the version and timestamp: no need to read the row back.
      const group = change.attributes ? toGroup(this.s.groupById.get(tenant, id)!)
        : delta.changed ? { ...toGroup(before), version: before.version + 1, modified: stamp } : toGroup(before);
      return { group, added: delta.added, removed: delta.removed };
    }, opts?.actor);
  }

  async deleteGroup(tenant: string, id: string, opts?: WriteOptions): Promise<void> {
    const stamp = now();
    await this.write(() => {
      const before = this.s.groupById.get(tenant, id);
      if (!before) throw new StoreError('not_found', `Group ${id} not found`);
      checkVersion(before.version, opts);
      this.s.dropGroupMemberships.run(before.rid);
      this.s.deleteGroup.run(tenant, id);
      this.emit(tenant, [{
        type: 'group.deleted', aggregate: `group:${id}`,
        payload: { id, displayName: before.display_name, externalId: before.external_id ?? undefined },
      }], stamp, { type: 'Group', id });
    }, opts?.actor);
  }

  async listGroups(tenant: string, q: ListQuery): Promise<ListResult<GroupRecord>> {
    return this.list<GroupRow, GroupRecord>('groups', 'g', tenant, q, toGroup);
  }

  // ---- tokens ---------------------------------------------------------------------------------------------

  async revokeToken(jti: string, until?: Date): Promise<void> {
    this.s.revoke.run(jti, until ? until.toISOString() : null, now());
  }

  /**
   * Every authenticated request asks, so the lookups of one event-loop turn share one read transaction: starting
   * a read (its WAL snapshot and locks) cost several times the lookup itself (measured: about 30 µs of a
   * one-member PATCH under load). Each answer still reads the database as committed, by any process.
   */
  isRevoked(jti: string): Promise<boolean> {
    return this.revoked(jti);
  }

  private readonly revoked = perTurn((jtis: string[]) => {
    const lookup = (jti: string) => !!this.s.isRevoked.get(jti);
    // One lookup is its own read transaction; several share an explicit one.
    return jtis.length === 1 ? [lookup(jtis[0])] : this.db.transaction(() => jtis.map(lookup))();
  });
}
