// The one store interface, implemented for SQLite and PostgreSQL. All SQL lives behind it.
import type { AuditActor, AuditQuery, AuditRecord } from './audit';
import type { EgressStore } from './egress-types';
import type { ChangeEvent } from './events';
import type { Filter } from './filter';
import type { GroupLinkRule } from './link-rules';

export type Json = Record<string, unknown>;

export interface UserRecord {
  id: string;
  userName: string;
  externalId?: string;
  displayName?: string;
  active: boolean;
  /** The SCIM resource without id, meta and schemas (password is never stored). */
  resource: Json;
  version: number;
  created: string;
  modified: string;
}

export interface GroupRecord {
  id: string;
  displayName: string;
  externalId?: string;
  /** The SCIM resource without id, meta, schemas and members. */
  resource: Json;
  version: number;
  created: string;
  modified: string;
}

export interface MemberRecord {
  value: string;
  display?: string;
}

/** One page of a group's members; `next` (opaque, store-specific) asks for the page after it. */
export interface MemberPage {
  members: MemberRecord[];
  /** Absent on the last page. */
  next?: string;
}

/** What the SCIM layer wants written for a user; indexes are derived by the store. */
export interface UserInput {
  userName: string;
  externalId?: string;
  displayName?: string;
  active: boolean;
  emails: { value: string; type?: string; primary?: boolean }[];
  resource: Json;
}

export interface GroupInput {
  displayName: string;
  externalId?: string;
  resource: Json;
}

/** A membership change, applied as a set operation in SQL. */
export type MemberOp =
  | { op: 'add'; ids: string[] }
  | { op: 'remove'; ids: string[] }
  | { op: 'removeAll' }
  | { op: 'replace'; ids: string[] };

export interface GroupChange {
  /** New attributes (everything but members), or undefined to leave them. */
  attributes?: GroupInput;
  members: MemberOp[];
}

export interface WriteOptions {
  /** Reject with version_mismatch unless the stored version equals this. */
  ifVersion?: number;
  /** Who asks, for the audit trail; writes without one are not audited. */
  actor?: AuditActor;
}

export interface ListQuery {
  filter?: Filter;
  /** 1-based. */
  startIndex: number;
  count: number;
  sortBy?: string;
  sortOrder?: 'ascending' | 'descending';
}

export interface ListResult<T> {
  total: number;
  rows: T[];
}

export interface GroupWriteResult {
  group: GroupRecord;
  added: string[];
  removed: string[];
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Deliveries, attempts and links (egress). */
  readonly egress: EgressStore;
  /** Calls back after each commit that wrote change events (wakes the delivery worker). */
  onCommit(listener: () => void): () => void;
  /**
   * Runs fn with a view of the store: the writes made through it in one event-loop turn, which the caller knows to be
   * independent of each other, commit together, each still succeeding or failing on its own (SQLite: every write
   * does so, the view is the store; PostgreSQL: one transaction per up to 64 writes, a savepoint each). The view is
   * passed explicitly rather than found through AsyncLocalStorage, which would slow every later request.
   */
  together<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  migrate(): Promise<string[]>;
  /** Migrations not yet applied to the database (empty when the schema is current). */
  pendingMigrations(): Promise<string[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * The configured group links of the delivery targets (link-rules.ts). From now on every group write resolves them
   * in its own transaction; existing groups they match are linked now. Only groups with no link to a rule's target
   * yet are linked. Returns how many links this call made.
   */
  applyGroupLinkRules(rules: readonly GroupLinkRule[]): Promise<number>;

  createUser(tenant: string, input: UserInput, opts?: WriteOptions): Promise<UserRecord>;
  getUser(tenant: string, id: string): Promise<UserRecord | undefined>;
  replaceUser(tenant: string, id: string, input: UserInput, opts?: WriteOptions): Promise<UserRecord>;
  deleteUser(tenant: string, id: string, opts?: WriteOptions): Promise<void>;
  listUsers(tenant: string, query: ListQuery): Promise<ListResult<UserRecord>>;
  /** Those of these user ids whose user is inactive (`active: false`); unknown ids are not named. */
  inactiveUsers(tenant: string, ids: readonly string[]): Promise<string[]>;
  /** Memberships of inactive users in these groups (the access group targets withhold), by group then user id; at most `limit`. */
  inactiveMemberships(tenant: string, groupIds: readonly string[], limit: number): Promise<{ groupId: string; userId: string }[]>;

  createGroup(tenant: string, input: GroupInput, memberIds: string[], opts?: WriteOptions): Promise<GroupWriteResult>;
  getGroup(tenant: string, id: string): Promise<GroupRecord | undefined>;
  /** All members of a group. */
  listMembers(tenant: string, groupId: string): Promise<MemberRecord[]>;
  /** Members in a stable order, a page at a time (after = the previous page's `next`). */
  pageMembers(tenant: string, groupId: string, page: { after?: string; limit: number }): Promise<MemberPage>;
  /**
   * Every member of a group as its SCIM JSON, written by the store: `{"value":…,"$ref":<ref><value>,"type":"User"
   * [,"display":…]}` objects (as JSON.stringify writes them) joined by commas, in the order of pageMembers, as UTF-8
   * chunks to be written one after the other as they are (a chunk may begin with the comma that separates it from
   * the previous one). Nothing for an unknown group. GET /Groups/{id} streams these; stopping early is allowed.
   */
  memberJson(tenant: string, groupId: string, ref: string): AsyncIterable<Buffer | string>;
  changeGroup(tenant: string, id: string, change: GroupChange, opts?: WriteOptions): Promise<GroupWriteResult>;
  deleteGroup(tenant: string, id: string, opts?: WriteOptions): Promise<void>;
  listGroups(tenant: string, query: ListQuery): Promise<ListResult<GroupRecord>>;

  revokeToken(jti: string, until?: Date): Promise<void>;
  isRevoked(jti: string): Promise<boolean>;

  /**
   * Reconciliation repairs of one group for one target: the events (each with `target` set) are queued in the group's
   * stream for that target only, with one audit record ('reconcile') by the actor, in one transaction.
   */
  queueRepairs(tenant: string, groupId: string, events: ChangeEvent[], actor: AuditActor): Promise<void>;

  /** Audit records, newest first. */
  listAudit(query: AuditQuery): Promise<AuditRecord[]>;
  /** Deletes audit records older than the given ISO time; returns how many. */
  pruneAudit(before: string): Promise<number>;
}
