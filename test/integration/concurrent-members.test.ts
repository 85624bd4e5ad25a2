// Concurrent membership changes (issue 16): on SQLite they share group commits, on PostgreSQL they overlap on the
// pool; either way each request gets its own answer, version, outbox events and audit record, and a request that
// fails (an unknown member) fails alone while its neighbours succeed. Both backends (PostgreSQL pass).
import { randomUUID } from 'node:crypto';
import { group, patchOp, scim, startGateway, user, type TestGateway } from '../helpers/gateway';

let gw: TestGateway;
let t: string;
let tenant: string;
beforeAll(async () => {
  gw = await startGateway();
  tenant = `gc-${randomUUID().slice(0, 8)}`;
  t = await gw.token(tenant);
});
afterAll(async () => { await gw.close(); });

async function users(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await scim('POST', `${gw.api}/Users`, t, user(`gc-${randomUUID().slice(0, 8)}@example.com`));
    ids.push(res.body.id);
  }
  return ids;
}

async function newGroup(name: string): Promise<string> {
  return (await scim('POST', `${gw.api}/Groups`, t, group(name))).body.id;
}

const add = (g: string, id: string) => scim('PATCH', `${gw.api}/Groups/${g}`, t, patchOp([{ op: 'add', path: 'members', value: [{ value: id }] }]));

test('30 concurrent adds to one group, one naming no user: it alone is 400; the others each get their own version and events', async () => {
  const ids = await users(29);
  const g = await newGroup('hot');
  const mark = (await gw.store.egress.listOutbox({ tenant, order: 'desc', limit: 1 }))[0]?.seq ?? 0;
  const values = [...ids.slice(0, 10), 'no-such-user', ...ids.slice(10)];
  const answers = await Promise.all(values.map((v) => add(g, v)));
  const failed = answers.filter((a) => a.status !== 204);
  expect(failed.map((a) => [a.status, a.body.scimType])).toEqual([[400, 'invalidValue']]);
  expect(answers[10].status).toBe(400);
  // Every success left a version of its own: 2 … 30, each once.
  const versions = answers.filter((a) => a.status === 204).map((a) => Number(/W\/"(\d+)"/.exec(a.headers.get('etag') ?? '')?.[1]));
  expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 29 }, (_, i) => i + 2));
  const after = await scim('GET', `${gw.api}/Groups/${g}`, t);
  expect(after.body.meta.version).toBe('W/"30"');
  expect(after.body.members.map((m: { value: string }) => m.value).sort()).toEqual([...ids].sort());
  // One event per success, in the order of the versions they made.
  const events = (await gw.store.egress.listOutbox({ tenant, afterSeq: mark, limit: 100 })).filter((e) => e.aggregate === `group:${g}`);
  expect(events.map((e) => e.type)).toEqual(Array(29).fill('group.members_added'));
  expect(events.flatMap((e) => e.payload.userIds as string[]).sort()).toEqual([...ids].sort());
  const audit = await gw.store.listAudit({ tenant, resourceId: g, operation: 'patch', limit: 100 });
  expect(audit).toHaveLength(29);
});

test('64 concurrent changes over 8 groups, adds and removes interleaved: every group ends exactly as the requests say', async () => {
  const ids = await users(8);
  const groups = await Promise.all(Array.from({ length: 8 }, (_, i) => newGroup(`spread-${i}`)));
  await Promise.all(groups.flatMap((g) => ids.slice(0, 4).map((id) => add(g, id))));
  const answers = await Promise.all(groups.flatMap((g) => [
    ...ids.slice(4).map((id) => add(g, id)),
    ...ids.slice(0, 4).map((id) => scim('PATCH', `${gw.api}/Groups/${g}`, t, patchOp([{ op: 'remove', path: `members[value eq "${id}"]` }]))),
  ]));
  expect(answers.every((a) => a.status === 204)).toBe(true);
  for (const g of groups) {
    const body = (await scim('GET', `${gw.api}/Groups/${g}`, t)).body;
    expect(body.members.map((m: { value: string }) => m.value).sort()).toEqual(ids.slice(4).sort());
    expect(body.meta.version).toBe('W/"13"');
  }
});
