// Text no backend can store the same way (U+0000, unpaired surrogates: PostgreSQL refuses them, SQLite would keep
// them) is refused alike on both: 400 invalidValue in bodies, 400 invalidFilter in filters, 404 for such a path id,
// and nothing is written. Found by running the fuzz test on PostgreSQL.
import { expectScimError, group, patchOp, scim, startGateway, user, type TestGateway } from '../helpers/gateway';

let gw: TestGateway;
let t: string;
beforeAll(async () => {
  gw = await startGateway();
  t = await gw.token();
});
afterAll(async () => { await gw.close(); });

const NUL = 'a\u0000b';
const LONE = 'x\ud800y';

test('bodies: POST, PUT and PATCH of Users and Groups answer 400 invalidValue and write nothing', async () => {
  const u = await scim('POST', `${gw.api}/Users`, t, user('text@example.com'));
  expect(u.status).toBe(201);
  const g = await scim('POST', `${gw.api}/Groups`, t, group('Text'));
  expect(g.status).toBe(201);
  const before = await gw.store.egress.listOutbox({ limit: 1000 });
  for (const bad of [NUL, LONE]) {
    expectScimError(await scim('POST', `${gw.api}/Users`, t, user(`${bad}@example.com`)), 400, 'invalidValue');
    expectScimError(await scim('POST', `${gw.api}/Users`, t, user('ok@example.com', { displayName: bad })), 400, 'invalidValue');
    expectScimError(await scim('PUT', `${gw.api}/Users/${u.body.id}`, t, user('text@example.com', { name: { givenName: bad } })), 400, 'invalidValue');
    expectScimError(await scim('PATCH', `${gw.api}/Users/${u.body.id}`, t, patchOp([{ op: 'replace', path: 'displayName', value: bad }])), 400, 'invalidValue');
    expectScimError(await scim('POST', `${gw.api}/Groups`, t, group(bad)), 400, 'invalidValue');
    expectScimError(await scim('PATCH', `${gw.sso}/Groups/${g.body.id}`, t, patchOp([{ op: 'replace', path: 'displayName', value: bad }])), 400, 'invalidValue');
    // A key is text too.
    expectScimError(await scim('POST', `${gw.api}/Users`, t, { ...user('key@example.com'), [bad]: 1 }), 400, 'invalidValue');
  }
  expect(await gw.store.egress.listOutbox({ limit: 1000 })).toEqual(before);
  expect((await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('userName eq "ok@example.com"')}`, t)).body.totalResults).toBe(0);
});

test('filters: a raw U+0000 or unpaired surrogate is 400 invalidFilter; an escape is literal text that matches nothing', async () => {
  expectScimError(await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent(`userName eq "${NUL}"`)}`, t), 400, 'invalidFilter');
  // An unpaired surrogate cannot be percent-encoded into a query string; a SearchRequest body carries it as \ud800.
  for (const bad of [NUL, LONE]) {
    expectScimError(await scim('POST', `${gw.api}/Groups/.search`, t, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: `displayName eq "${bad}"`,
    }), 400, 'invalidFilter');
  }
  // The filter grammar does not decode \u escapes: the text "a\u0000b" is searched for as written.
  const escaped = await scim('GET', `${gw.api}/Users?filter=${encodeURIComponent('userName eq "a\\u0000b"')}`, t);
  expect([escaped.status, escaped.body.totalResults]).toEqual([200, 0]);
});

test('a path id with U+0000 names nothing: 404 on every method', async () => {
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
    for (const path of ['/Users/%00', '/Groups/a%00b']) {
      const body = method === 'PUT' ? user('p@example.com') : method === 'PATCH' ? patchOp([{ op: 'replace', path: 'displayName', value: 'x' }]) : undefined;
      const res = await scim(method, `${gw.api}${path}`, t, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
    }
  }
});
