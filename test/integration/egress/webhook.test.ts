import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../../fixtures/emulators/webhook-receiver';
import { group, patchOp, scim, startGateway, user, type TestGateway } from '../../helpers/gateway';

const SECRET = 'whsec-test-0123456789';
let hook: WebhookReceiverEmulator;
let gw: TestGateway;
let t: string;

beforeAll(async () => {
  hook = await startWebhookReceiverEmulator({ credential: SECRET });
  gw = await startGateway({
    targets: { targets: [{ name: 'hook', kind: 'webhook', baseUrl: `${hook.url}/scim-events`, credential: SECRET }] },
  });
  t = await gw.token();
});
afterAll(async () => {
  await gw.close();
  await hook.close();
});

test('every committed change reaches the webhook, signed, in commit order per group', async () => {
  const u = (await scim('POST', `${gw.api}/Users`, t, user('hook1@example.com'))).body;
  const g = (await scim('POST', `${gw.api}/Groups`, t, group('Hooked', [u.id]))).body;
  expect((await scim('PATCH', `${gw.api}/Groups/${g.id}`, t, patchOp([{ op: 'replace', path: 'displayName', value: 'Hooked 2' }]))).status).toBe(204);
  await gw.worker!.drain();
  const types = hook.events.map((e) => (e.body as { type: string }).type);
  // Order is guaranteed per aggregate (this group), not across the user and the group.
  expect(types.filter((x) => x.startsWith('group.'))).toEqual(['group.created', 'group.members_added', 'group.updated']);
  expect(types).toContain('user.created');
  const last = hook.events[hook.events.length - 1];
  const renamed = last.body as { data: { group: { displayName: string } }; tenant: string; id: string };
  expect(renamed.data.group.displayName).toBe('Hooked 2');
  expect(renamed.tenant).toBe('default');
  expect(last.headers['scimbridge-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
});

test('a receiver that fails is retried until it accepts; nothing is lost or reordered', async () => {
  hook.events.length = 0;
  hook.failNext(2, { status: 503 });
  const u = (await scim('POST', `${gw.api}/Users`, t, user('hook2@example.com'))).body;
  await scim('PATCH', `${gw.api}/Users/${u.id}`, t, patchOp([{ op: 'replace', path: 'active', value: false }]));
  await gw.worker!.drain(5000);
  expect(hook.events.map((e) => (e.body as { type: string }).type)).toEqual(['user.created', 'user.updated', 'user.deactivated']);
  const open = await gw.store.egress.listDeliveries({ target: 'hook', limit: 10 });
  expect(open.every((d) => d.state === 'done')).toBe(true);
});

test('a permanent refusal is a dead letter with the status and body; replay delivers it', async () => {
  hook.events.length = 0;
  hook.failNext(1, { status: 400, body: { error: 'nope' } });
  await scim('POST', `${gw.api}/Users`, t, user('hook3@example.com'));
  await gw.worker!.drain(5000);
  const dead = await gw.store.egress.listDeliveries({ target: 'hook', state: 'dead', limit: 10 });
  expect(dead).toHaveLength(1);
  expect(dead[0].lastStatus).toBe(400);
  expect(dead[0].lastError).toContain('nope');
  const detail = await gw.store.egress.getDelivery('hook', dead[0].seq);
  expect(detail!.attempts.map((a) => a.outcome)).toEqual(['permanent']);
  expect(await gw.store.egress.replay('hook')).toBe(1);
  await gw.worker!.drain(5000);
  expect(hook.events).toHaveLength(1);
  expect((await gw.store.egress.getDelivery('hook', dead[0].seq))!.delivery.state).toBe('done');
});
