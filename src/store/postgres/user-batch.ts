// Creating users: one statement for a user alone and for users created together (a Bulk request's POST /Users
// operations, run inside store.together()): one per shared transaction instead of one per user. On PostgreSQL each statement is a round trip whose socket write wakes
// the server: at a thousand POSTs those writes were a third of the gateway's CPU. The statement does for every row
// what createUser does alone (the user, its emails, its user.created event and, with an actor, its audit record) and
// answers the users it inserted; a row whose userName is taken (by a stored user or an earlier row) is skipped by
// ON CONFLICT DO NOTHING and answered alone with the same uniqueness error. Any other failure fails the statement,
// and group-commit.ts then runs the writes one by one as before.
import type { PoolClient } from 'pg';
import type { AuditActor } from '../audit';
import { auditSummary } from '../audit';
import { userNameTaken, type StoreError } from '../errors';
import { userSummary, type ChangeEvent } from '../events';
import type { Json, UserInput } from '../types';
import { prepared } from './pool';

/** The users columns a store answers, and their row. */
export const USER_COLUMNS = 'rid, id, user_name, external_id, display_name, active, resource, version, created, modified';
export interface UserRow {
  rid: number; id: string; user_name: string; external_id: string | null; display_name: string | null; active: boolean;
  resource: Json; version: number; created: string; modified: string;
}

/** The emails a user's row keeps: those with a value (an empty one is no email). */
export function storedEmails(input: UserInput): UserInput['emails'] {
  return input.emails.filter((e) => typeof e.value === 'string' && e.value !== '');
}

/** A user's input as the users columns user_name, user_name_lc, external_id, display_name, display_name_lc, active, resource. */
export function userColumnValues(input: UserInput): unknown[] {
  return [
    input.userName, input.userName.toLowerCase(), input.externalId ?? null, input.displayName ?? null,
    input.displayName?.toLowerCase() ?? null, input.active, JSON.stringify(input.resource),
  ];
}

/** Emails as the user_emails column arrays value_lc, value, type, is_primary (for unnest). */
export function emailColumnArrays(emails: UserInput['emails']): unknown[][] {
  return [emails.map((e) => e.value.toLowerCase()), emails.map((e) => e.value), emails.map((e) => e.type ?? null),
    emails.map((e) => !!e.primary)];
}

/** One createUser, as a row of the statement. */
export interface UserInsert {
  tenant: string;
  id: string;
  input: UserInput;
  stamp: string;
}

/** Per row, in order: the inserted user's row, or the error its write answers. */
export type UserInsertResult = { ok: true; row: UserRow } | { ok: false; error: StoreError };

/**
 * Parameters: $1 tenant; per user (arrays of equal length, user n is element n): $2 ids, $3 userNames, $4 lowercased,
 * $5 externalIds, $6 displayNames, $7 lowercased, $8 active, $9 resources, $10 stamps, $11 event payloads, $12 audited,
 * $13 subjects, $14 jtis, $15 mounts, $16 operations, $17 request ids, $18 audit summaries; per email (arrays of equal
 * length): $19 user ids, $20 values lowercased, $21 values, $22 types, $23 primary.
 * Events and audit records are written in row order, for the rows inserted only.
 */
const INSERT_USERS = `WITH x AS (
  SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::text[],
                       $10::text[], $11::text[], $12::bool[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
                       $18::text[])
    WITH ORDINALITY AS x(id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, resource,
                         stamp, event, audited, subject, jti, mount, operation, request_id, summary, n)),
u AS (
  INSERT INTO users (tenant, id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, resource,
                     version, created, modified)
  SELECT $1, x.id, x.user_name, x.user_name_lc, x.external_id, x.display_name, x.display_name_lc, x.active,
         x.resource::jsonb, 1, x.stamp, x.stamp
  FROM x ORDER BY x.n
  ON CONFLICT DO NOTHING
  RETURNING ${USER_COLUMNS}),
em AS (
  INSERT INTO user_emails (tenant, user_id, value_lc, value, type, is_primary)
  SELECT $1, e.user_id, e.value_lc, e.value, e.type, e.is_primary
  FROM unnest($19::text[], $20::text[], $21::text[], $22::text[], $23::bool[])
         WITH ORDINALITY AS e(user_id, value_lc, value, type, is_primary, n)
  WHERE e.user_id IN (SELECT id FROM u)
  ORDER BY e.n
  ON CONFLICT DO NOTHING),
ev AS (
  INSERT INTO outbox (tenant, aggregate, type, payload, created)
  SELECT $1, 'user:' || x.id, 'user.created', x.event::jsonb, x.stamp FROM x WHERE x.id IN (SELECT id FROM u) ORDER BY x.n),
au AS (
  INSERT INTO audit_log (at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary)
  SELECT x.stamp, $1, x.subject, x.jti, x.mount, x.operation, 'User', x.id, x.request_id, x.summary::jsonb
  FROM x WHERE x.audited AND x.id IN (SELECT id FROM u) ORDER BY x.n)
SELECT ${USER_COLUMNS} FROM u`;

/**
 * Inserts the users (one tenant) with their emails, events and audit records in one statement on `c`, inside the
 * caller's transaction. Answers per row, in order.
 */
export async function insertUsers(c: PoolClient, rows: UserInsert[], actors: (AuditActor | undefined)[]): Promise<UserInsertResult[]> {
  const tenant = rows[0].tenant;
  if (rows.some((r) => r.tenant !== tenant)) throw new Error('insertUsers: one tenant per statement');
  const col = <T>(f: (r: UserInsert, i: number) => T): T[] => rows.map(f);
  const emails = rows.flatMap((r) => storedEmails(r.input).map((e) => ({ id: r.id, ...e })));
  const summary = (r: UserInsert) => {
    const event: ChangeEvent = { type: 'user.created', aggregate: `user:${r.id}`, payload: { user: userSummary(r.id, r.input) } };
    return { event, audit: auditSummary({ type: 'User', id: r.id, attributes: Object.keys(r.input.resource as object) }, [event]) };
  };
  const summaries = rows.map(summary);
  const users = rows.map((r) => userColumnValues(r.input));
  const values = [
    tenant,
    col((r) => r.id), ...users[0].map((_v, k) => users.map((u) => u[k])), col((r) => r.stamp),
    col((_r, i) => JSON.stringify(summaries[i].event.payload)), col((_r, i) => !!actors[i]),
    col((_r, i) => actors[i]?.subject ?? null), col((_r, i) => actors[i]?.jti ?? null), col((_r, i) => actors[i]?.mount ?? null),
    col((_r, i) => actors[i]?.operation ?? null), col((_r, i) => actors[i]?.requestId ?? null),
    col((_r, i) => JSON.stringify(summaries[i].audit)),
    emails.map((e) => e.id), ...emailColumnArrays(emails),
  ];
  const inserted = new Map((await c.query<UserRow>({ ...prepared(INSERT_USERS), values })).rows.map((r) => [r.id, r]));
  return rows.map((r) => {
    const row = inserted.get(r.id);
    return row ? { ok: true, row } : { ok: false, error: userNameTaken(r.input.userName) };
  });
}
