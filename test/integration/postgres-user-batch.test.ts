// Users created together on PostgreSQL (user-batch.ts: a Bulk request's POST /Users operations inside
// store.together()): one statement per shared transaction, yet each user keeps its own answer, emails, user.created
// event (in creation order) and audit record, and a taken userName fails alone. Rows written by one statement share
// its command id (cmin), which is how these tests tell one statement from one per user. Runs whenever the server at
// TEST_PG_URL answers; a visible skip otherwise, and a failure under CI=true.
import { randomUUID } from 'node:crypto';
import type { AuditActor } from '../../src/store/audit';
import { StoreError } from '../../src/store/errors';
import type { PostgresStore } from '../../src/store/postgres';
import type { UserInput, UserRecord } from '../../src/store/types';
import { postgresReachableSync, postgresStoresPerFile, postgresTest as pg } from '../helpers/postgres';

const { store } = postgresStoresPerFile();
beforeAll(async () => {
  if (postgresReachableSync()) await store().migrate();
});

const actor = (requestId: string): AuditActor => ({ subject: 'hr-script', jti: 'j1', mount: '/api/scim/v2', operation: 'create', requestId });

const input = (userName: string): UserInput => ({
  userName, displayName: userName.split('@')[0], active: true,
  emails: [{ value: userName, type: 'work', primary: true }, { value: `alt-${userName}`, type: 'home' }],
  resource: { userName, active: true },
});

/** How many transactions (or subtransactions) and statements wrote the tenant's users (all but `except`). */
async function writers(s: PostgresStore, tenant: string, except = ''): Promise<{ transactions: number; statements: number }> {
  const r = await s.pool.query(
    `SELECT count(DISTINCT xmin::text)::int AS transactions, count(DISTINCT (xmin::text, cmin::text))::int AS statements
     FROM users WHERE tenant = $1 AND user_name <> $2`, [tenant, except]);
  return r.rows[0];
}

function createTogether(s: PostgresStore, tenant: string, names: string[]) {
  return s.together((b) => Promise.allSettled(names.map((n, i) => b.createUser(tenant, input(n), { actor: actor(`req-${i}`) }))));
}

describe('PostgreSQL users created together', () => {
  pg('one statement for the batch; each user its own emails, event in order and audit record; a taken userName fails alone', async () => {
    const s = store();
    const tenant = `ub-${randomUUID().slice(0, 8)}`;
    await s.createUser(tenant, input('taken@example.com'));
    const names = ['a@example.com', 'b@example.com', 'TAKEN@example.com', 'c@example.com', 'B@Example.com', 'd@example.com'];
    const answers = await createTogether(s, tenant, names);

    // The stored user's name (userName is caseExact: false) and an earlier user of the same batch both win.
    for (const i of [2, 4]) {
      expect(answers[i].status).toBe('rejected');
      const reason = (answers[i] as PromiseRejectedResult).reason as StoreError;
      expect(reason).toBeInstanceOf(StoreError);
      expect(reason.code).toBe('uniqueness');
      expect(reason.message).toBe(`userName "${names[i]}" is already taken`);
    }
    const created = answers.filter((a): a is PromiseFulfilledResult<UserRecord> => a.status === 'fulfilled').map((a) => a.value);
    expect(created.map((u) => u.userName)).toEqual(['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com']);
    for (const u of created) {
      expect(u.version).toBe(1);
      expect(await s.getUser(tenant, u.id)).toEqual(u);
    }
    // One statement of one transaction wrote the four.
    expect(await writers(s, tenant, 'taken@example.com')).toEqual({ transactions: 1, statements: 1 });

    // Emails of the created users only, findable as a filter finds them.
    const emails = await s.pool.query<{ user_id: string; value: string; type: string; is_primary: boolean }>(
      'SELECT user_id, value, type, is_primary FROM user_emails WHERE tenant = $1 ORDER BY value', [tenant]);
    const byId = new Map(created.map((u) => [u.id, u.userName]));
    const ofBatch = emails.rows.filter((e) => byId.has(e.user_id));
    expect(ofBatch).toHaveLength(8);
    for (const e of ofBatch) expect([byId.get(e.user_id), `alt-${byId.get(e.user_id)}`]).toContain(e.value);
    expect(ofBatch.filter((e) => e.is_primary).map((e) => e.value).sort()).toEqual([...byId.values()].sort());

    // One user.created event per created user, in creation order, with the user's summary.
    const events = (await s.egress.listOutbox({ tenant, limit: 100 })).filter((e) => e.type === 'user.created');
    const batchEvents = events.filter((e) => byId.has(e.aggregate.slice('user:'.length)));
    expect(batchEvents.map((e) => e.aggregate)).toEqual(created.map((u) => `user:${u.id}`));
    expect((batchEvents[0].payload as { user: { userName: string; emails: unknown[] } }).user.userName).toBe('a@example.com');
    expect((batchEvents[0].payload as { user: { emails: unknown[] } }).user.emails).toHaveLength(2);

    // One audit record per created user, with its own request id; none for the refused ones.
    const audit = await s.listAudit({ tenant, operation: 'create', limit: 100 });
    const batchAudit = audit.filter((a) => a.requestId?.startsWith('req-'));
    expect(batchAudit.map((a) => a.requestId).sort()).toEqual(['req-0', 'req-1', 'req-3', 'req-5']);
    for (const a of batchAudit) {
      expect(a.resourceType).toBe('User');
      expect(byId.has(a.resourceId)).toBe(true);
      expect(a.subject).toBe('hr-script');
    }
  });

  pg('when the statement fails as a whole, the writes run one by one and only the bad one fails', async () => {
    const s = store();
    const tenant = `ub-${randomUUID().slice(0, 8)}`;
    // PostgreSQL text cannot hold U+0000: the batch statement fails, then that user's own statement fails alone.
    const names = ['a@example.com', 'bad\u0000@example.com', 'c@example.com'];
    const answers = await createTogether(s, tenant, names);
    expect(answers.map((a) => a.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const users = await s.pool.query<{ user_name: string }>('SELECT user_name FROM users WHERE tenant = $1 ORDER BY user_name', [tenant]);
    expect(users.rows.map((r) => r.user_name)).toEqual(['a@example.com', 'c@example.com']);
    // A statement per user now (each under its savepoint, so a subtransaction id each).
    expect((await writers(s, tenant)).statements).toBe(2);
    const events = (await s.egress.listOutbox({ tenant, limit: 100 })).filter((e) => e.type === 'user.created');
    expect(events).toHaveLength(2);
    expect(await s.listAudit({ tenant, operation: 'create', limit: 100 })).toHaveLength(2);
  });

  pg('only writes made through the view join its batch: the store itself, used meanwhile, writes alone', async () => {
    const s = store();
    const tenant = `ub-${randomUUID().slice(0, 8)}`;
    const viaView = ['v1@example.com', 'v2@example.com', 'v3@example.com'];
    const viaStore = ['s1@example.com', 's2@example.com'];
    const answers = await s.together((b) => Promise.all([
      ...viaView.map((n) => b.createUser(tenant, input(n))),
      ...viaStore.map((n) => s.createUser(tenant, input(n))),
    ]));
    expect(answers.map((u) => u.userName)).toEqual([...viaView, ...viaStore]);
    // The view's three share one statement; each of the store's own two is a transaction of its own.
    expect(await writers(s, tenant)).toEqual({ transactions: 3, statements: 3 });
    const r = await s.pool.query<{ n: number }>(
      `SELECT count(DISTINCT (xmin::text, cmin::text))::int AS n FROM users WHERE tenant = $1 AND user_name = ANY ($2)`, [tenant, viaView]);
    expect(r.rows[0].n).toBe(1);
    // The view reads what the store reads, and shares its egress store.
    const view = await s.together(async (b) => b);
    expect(view.egress).toBe(s.egress);
    expect(await view.getUser(tenant, answers[0].id)).toEqual(answers[0]);
  });
});
