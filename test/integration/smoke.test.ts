import { scim, startGateway, user, type TestGateway } from '../helpers/gateway';

let gw: TestGateway;
beforeAll(async () => { gw = await startGateway(); });
afterAll(async () => { await gw.close(); });

test('a user created on one mount is read on the other, each with its own location', async () => {
  const t = await gw.token();
  const created = await scim('POST', `${gw.api}/Users`, t, user('smoke@example.com'));
  expect(created.status).toBe(201);
  expect(created.headers.get('location')).toBe(`${gw.api}/Users/${created.body.id}`);
  const read = await scim('GET', `${gw.sso}/Users/${created.body.id}`, t);
  expect(read.status).toBe(200);
  expect(read.body.meta.location).toBe(`${gw.sso}/Users/${created.body.id}`);
});
