// More of the webhook contract, against the receiver emulator (test/fixtures/emulators/webhook-receiver.ts):
// signatures over the exact bytes, a wrong secret (401 is permanent), per-group order under bursts and outages,
// Retry-After (RFC 9110 §10.2.3) and X-RateLimit-Remaining/Reset pauses, timeouts, no redirects (src/egress/http.ts),
// tenant separation, and the signing secret never stored. The worker is driven with runOnce()/drain(), never started.
import { readFileSync } from 'node:fs';
import { SIGNATURE_HEADER, startWebhookReceiverEmulator, verifyWebhookSignature, type WebhookReceiverEmulator, type WebhookReceiverOptions } from '../../fixtures/emulators/webhook-receiver';
import { group, patchOp, scim, startGateway, user, type TestGateway } from '../../helpers/gateway';
import { databaseDump } from '../../helpers/egress';

const SECRET = 'whsec-more-0123456789-abcdef';
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

async function receiver(opts: WebhookReceiverOptions = {}): Promise<WebhookReceiverEmulator> {
  const h = await startWebhookReceiverEmulator({ credential: SECRET, ...opts });
  cleanup.push(() => h.close());
  return h;
}

const hookTarget = (h: WebhookReceiverEmulator, extra: Record<string, unknown> = {}) =>
  ({ name: 'hook', kind: 'webhook', baseUrl: `${h.url}/events`, credential: SECRET, ...extra });

async function gateway(targets: object[]): Promise<{ gw: TestGateway; t: string }> {
  const gw = await startGateway({ targets: { targets } });
  cleanup.push(() => gw.close());
  return { gw, t: await gw.token() };
}

type Body = { id: string; type: string; tenant: string; data: Record<string, any> };
const bodyOf = (e: { body: unknown }) => e.body as Body;
const seqOf = (id: string) => Number(id.split(':').pop());
const groupOf = (b: Body): string | undefined => b.data.groupId ?? b.data.group?.id;

async function newUsers(gw: TestGateway, t: string, prefix: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await scim('POST', `${gw.api}/Users`, t, user(`${prefix}${i}@example.com`))).body.id);
  return ids;
}

const addMember = async (gw: TestGateway, t: string, g: string, u: string) =>
  expect((await scim('PATCH', `${gw.api}/Groups/${g}`, t, patchOp([{ op: 'add', path: 'members', value: [{ value: u }] }]))).status).toBe(204);

/**
 * Worker passes until `cond` holds. One runOnce() is not always enough: a pass reads the clock before it ingests,
 * so a delivery ingested in a later millisecond is due only from the next pass.
 */
async function passUntil(gw: TestGateway, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await gw.worker!.runOnce();
  }
}

const attempted = (gw: TestGateway) => async () =>
  (await gw.store.egress.listAttempts({ limit: 100_000 })).some((a) => a.outcome !== 'success');

async function onlyDelivery(gw: TestGateway, target = 'hook') {
  const all = await gw.store.egress.listDeliveries({ target, limit: 10 });
  expect(all).toHaveLength(1);
  return gw.store.egress.getDelivery(target, all[0].seq).then((d) => d!);
}

test('the signature verifies with the receiver\'s own verifier over the exact bytes sent, and over nothing else', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook)]);
  const u = (await scim('POST', `${gw.api}/Users`, t, user('zoe@example.com', { displayName: 'Zoë Ünïcødé "quoted" ✓' }))).body;
  await scim('POST', `${gw.api}/Groups`, t, group('Réunion ✓', [u.id]));
  await gw.worker!.drain();

  expect(hook.events.length).toBe(3); // user.created, group.created, group.members_added
  const now = Math.floor(Date.now() / 1000);
  for (const e of hook.events) {
    const sig = e.headers[SIGNATURE_HEADER.toLowerCase()] as string;
    expect(verifyWebhookSignature(SECRET, e.rawBody, sig, now)).toEqual({ ok: true, t: e.t });
    // One byte more, the same JSON re-serialised, or another secret: no longer valid.
    expect(verifyWebhookSignature(SECRET, `${e.rawBody} `, sig, now)).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(verifyWebhookSignature(SECRET, JSON.stringify(JSON.parse(e.rawBody), null, 1), sig, now).ok).toBe(false);
    expect(verifyWebhookSignature(`${SECRET}x`, e.rawBody, sig, now).ok).toBe(false);
    expect(e.headers['scimbridge-event-id']).toBe(bodyOf(e).id);
  }
  const names = hook.events.map((e) => e.rawBody).join('\n');
  expect(names).toContain('Zoë Ünïcødé');
  expect(names).toContain('Réunion ✓');
});

test('a wrong secret at the receiver: 401 is permanent (one try, dead letter); replay after fixing delivers it', async () => {
  const hook = await receiver();
  const broken = await startGateway({ targets: { targets: [hookTarget(hook, { credential: 'not-the-receivers-secret' })] } });
  let fixed: TestGateway | undefined;
  try {
    await scim('POST', `${broken.api}/Users`, await broken.token(), user('wrongsecret@example.com'));
    await broken.worker!.drain(5000);
    const { delivery, attempts } = await onlyDelivery(broken);
    expect(delivery).toMatchObject({ state: 'dead', lastStatus: 401, attempts: 0 });
    expect(delivery.lastError).toContain('signature mismatch');
    expect(attempts.map((a) => [a.outcome, a.status])).toEqual([['permanent', 401]]);
    expect(hook.requests).toHaveLength(1);
    expect(hook.events).toHaveLength(0);

    // The operator fixes the secret (same database) and replays the dead letter.
    await broken.stop();
    fixed = await startGateway({ dir: broken.dir, targets: { targets: [hookTarget(hook)] } });
    expect(await fixed.store.egress.replay('hook')).toBe(1);
    await fixed.worker!.drain(5000);
    expect(hook.events.map((e) => bodyOf(e).id)).toEqual([`default:${delivery.seq}`]);
    expect((await fixed.store.egress.getDelivery('hook', delivery.seq))!.delivery.state).toBe('done');
  } finally {
    if (fixed) await fixed.close();
    else await broken.close();
  }
});

test('100 member PATCHes to one group while the receiver is down: all delivered after, in commit order', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook)]);
  const users = await newUsers(gw, t, 'burst', 50);
  const g = (await scim('POST', `${gw.api}/Groups`, t, group('Burst'))).body.id;
  await gw.worker!.drain();
  hook.events.length = 0;

  await hook.down('refuse');
  const expected: [string, string][] = [];
  for (const u of users) {
    await addMember(gw, t, g, u);
    expected.push(['group.members_added', u]);
  }
  for (const u of users) {
    expect((await scim('PATCH', `${gw.api}/Groups/${g}`, t, patchOp([{ op: 'remove', path: `members[value eq "${u}"]` }]))).status).toBe(204);
    expected.push(['group.members_removed', u]);
  }
  await passUntil(gw, attempted(gw)); // connection refused: a retry, nothing lost
  const open = await gw.store.egress.listDeliveries({ target: 'hook', aggregate: `group:${g}`, state: 'pending', limit: 1000 });
  expect(open).toHaveLength(100);
  // Only the batch's first event was tried; the rest wait behind it untried (webhooks go one event at a time).
  const oldest = open.reduce((a, b) => (a.seq < b.seq ? a : b));
  expect(oldest.lastError).toMatch(/network error/);
  expect(open.filter((d) => d.seq !== oldest.seq).every((d) => d.attempts === 0)).toBe(true);

  await hook.up();
  await gw.worker!.drain(15_000);
  const got = hook.events.map(bodyOf).filter((b) => groupOf(b) === g);
  const seqs = (await gw.store.egress.listDeliveries({ target: 'hook', aggregate: `group:${g}`, limit: 1000 }))
    .filter((d) => d.type !== 'group.created').reverse();
  expect(seqs).toHaveLength(100);
  expect(seqs.every((d) => d.state === 'done')).toBe(true);
  expect(got.map((b) => seqOf(b.id))).toEqual(seqs.map((d) => d.seq));
  expect(got.map((b) => [b.type, b.data.userIds[0]])).toEqual(expected);
});

test('a target down (connections reset) during a burst across 5 groups: nothing lost, each group in order', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook)]);
  const users = await newUsers(gw, t, 'five', 10);
  const groups: string[] = [];
  for (let i = 0; i < 5; i++) groups.push((await scim('POST', `${gw.api}/Groups`, t, group(`Five ${i}`))).body.id);
  await gw.worker!.drain();
  hook.events.length = 0;
  const before = new Set((await gw.store.egress.listDeliveries({ target: 'hook', limit: 1000 })).map((d) => d.seq));

  await hook.down('reset');
  for (const u of users) for (const g of groups) await addMember(gw, t, g, u);
  for (const g of groups) await scim('PATCH', `${gw.api}/Groups/${g}`, t, patchOp([{ op: 'replace', path: 'displayName', value: `Renamed ${g}` }]));
  await passUntil(gw, attempted(gw));
  const burst = (await gw.store.egress.listDeliveries({ target: 'hook', limit: 1000 })).filter((d) => !before.has(d.seq));
  expect(burst).toHaveLength(55);
  expect(burst.some((d) => d.state === 'done')).toBe(false);

  await hook.up();
  await gw.worker!.drain(15_000);
  const after = await gw.store.egress.listDeliveries({ target: 'hook', limit: 1000 });
  expect(after.filter((d) => !before.has(d.seq)).every((d) => d.state === 'done')).toBe(true);
  const received = hook.events.map(bodyOf);
  expect(received.map((b) => seqOf(b.id)).sort((x, y) => x - y)).toEqual(burst.map((d) => d.seq).sort((x, y) => x - y));
  for (const g of groups) {
    const mine = received.filter((b) => groupOf(b) === g);
    expect(mine.map((b) => b.type)).toEqual([...users.map(() => 'group.members_added'), 'group.updated']);
    expect(mine.map((b) => b.data.userIds?.[0]).slice(0, 10)).toEqual(users);
    const s = mine.map((b) => seqOf(b.id));
    expect(s).toEqual([...s].sort((x, y) => x - y));
  }
});

test('429 with Retry-After: 1 → the next attempt not before ~1 s', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook)]);
  hook.failNext(1, { status: 429, headers: { 'Retry-After': 1 }, body: { error: 'slow down' } });
  await scim('POST', `${gw.api}/Users`, t, user('ratelimited@example.com'));
  await gw.worker!.drain(10_000);

  const { delivery, attempts } = await onlyDelivery(gw);
  expect(delivery.state).toBe('done');
  expect(attempts.map((a) => [a.outcome, a.status])).toEqual([['retry', 429], ['success', 204]]);
  // The schedule alone would retry within 100 ms; Retry-After holds it back (loose lower bounds).
  expect(Date.parse(attempts[1].at) - Date.parse(attempts[0].at)).toBeGreaterThanOrEqual(900);
  expect(hook.requests).toHaveLength(2);
  expect(hook.requests[1].time - hook.requests[0].time).toBeGreaterThanOrEqual(950);
});

test('X-RateLimit-Remaining: 0 with X-RateLimit-Reset pauses the target until the reset', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook)]);
  hook.setRateLimit({ limit: 1, windowMs: 1500 });
  await scim('POST', `${gw.api}/Users`, t, user('window1@example.com'));
  await passUntil(gw, () => hook.requests.length > 0);
  expect(hook.requests).toHaveLength(1);
  // The emulator's reset: the window's end in epoch seconds, rounded up; the window starts at (or just after) arrival.
  const resetMs = Math.ceil((hook.requests[0].time + 1500) / 1000) * 1000;

  await scim('POST', `${gw.api}/Users`, t, user('window2@example.com'));
  await gw.worker!.drain(10_000);
  expect(hook.requests).toHaveLength(2);
  expect(hook.requests[1].time).toBeGreaterThanOrEqual(resetMs - 100);
  // The worker waited: nothing was refused by the limiter, both events arrived.
  expect(hook.requests.map((r) => [r.status, r.fault])).toEqual([[204, undefined], [204, undefined]]);
  expect(hook.events).toHaveLength(2);
});

test('a request slower than timeoutMs (300) is abandoned and retried, recorded as "timed out"', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook, { timeoutMs: 300 })]);
  hook.delayNext(1, 1500);
  await scim('POST', `${gw.api}/Users`, t, user('slow@example.com'));
  await gw.worker!.drain(10_000);

  const { delivery, attempts } = await onlyDelivery(gw);
  expect(delivery.state).toBe('done');
  // Normally ['retry', 'success']; a loaded machine may time out a retry too, so only the ends are pinned.
  expect(attempts[0].outcome).toBe('retry');
  expect(attempts[attempts.length - 1].outcome).toBe('success');
  expect(attempts[0].error).toBe('timed out after 300 ms');
  expect(attempts[0].status).toBeUndefined();
  expect(attempts[0].latencyMs!).toBeGreaterThanOrEqual(250);
  expect(attempts[0].latencyMs!).toBeLessThan(1500);
  expect(hook.events.map((e) => bodyOf(e).id)).toContain(`default:${delivery.seq}`);
});

test('redirects are not followed: 302 and 307 are permanent, and the Location is never requested', async () => {
  const hook = await receiver();
  const { gw, t } = await gateway([hookTarget(hook)]);
  for (const status of [302, 307]) {
    hook.failNext(1, { status, headers: { Location: `${hook.url}/moved-${status}` } });
    await scim('POST', `${gw.api}/Users`, t, user(`redirect${status}@example.com`));
    await gw.worker!.drain(5000);
  }
  const dead = await gw.store.egress.listDeliveries({ target: 'hook', state: 'dead', limit: 10 });
  expect(dead.map((d) => d.lastStatus).sort()).toEqual([302, 307]);
  for (const d of dead) expect(d.lastError).toContain('redirects are not followed');
  expect(hook.requests).toHaveLength(2);
  expect(hook.requests.every((r) => r.path === '/events')).toBe(true);
  expect(hook.requests.filter((r) => r.path.startsWith('/moved'))).toHaveLength(0);
});

test('tenant separation: a target of tenant "other" gets nothing from "default", and only its own tenant\'s events', async () => {
  const mine = await receiver();
  const theirs = await receiver();
  const { gw, t } = await gateway([
    hookTarget(mine),
    { ...hookTarget(theirs), name: 'hook-other', tenant: 'other' },
  ]);
  const u = (await scim('POST', `${gw.api}/Users`, t, user('tenant-default@example.com'))).body;
  await scim('POST', `${gw.api}/Groups`, t, group('Default group', [u.id]));
  await gw.worker!.drain();
  expect(mine.events.length).toBe(3);
  expect(theirs.requests).toHaveLength(0);
  expect(await gw.store.egress.listDeliveries({ target: 'hook-other', limit: 10 })).toHaveLength(0);

  const other = await gw.token('other');
  await scim('POST', `${gw.api}/Users`, other, user('tenant-other@example.com'));
  await gw.worker!.drain();
  expect(theirs.events.map((e) => [bodyOf(e).type, bodyOf(e).tenant])).toEqual([['user.created', 'other']]);
  expect(mine.events.every((e) => bodyOf(e).tenant === 'default')).toBe(true);
  expect(mine.events).toHaveLength(3);
});

test('the signing secret is never stored: not in attempts, deliveries, error texts, or anywhere in the database', async () => {
  const hook = await receiver();
  const other = await receiver({ credential: 'the-receiver-expects-this' });
  const { gw, t } = await gateway([
    hookTarget(hook, { timeoutMs: 300 }),
    { ...hookTarget(other), name: 'hook-401' }, // signs with SECRET; that receiver wants another secret → 401
  ]);
  // Outcomes of every kind: success, 503 retry, timeout retry, network-error retry, 400 and 401 permanent.
  hook.failNext(1, { status: 503, body: { error: 'busy' } });
  await scim('POST', `${gw.api}/Users`, t, user('secret1@example.com'));
  await gw.worker!.drain(5000);
  hook.delayNext(1, 1000);
  await scim('POST', `${gw.api}/Users`, t, user('secret2@example.com'));
  await gw.worker!.drain(5000);
  await hook.down('refuse');
  await scim('POST', `${gw.api}/Users`, t, user('secret3@example.com'));
  const networkErrors = async () =>
    (await gw.store.egress.listAttempts({ limit: 100_000 })).some((a) => a.error?.startsWith('network error'));
  await passUntil(gw, networkErrors);
  await hook.up();
  await gw.worker!.drain(5000);
  hook.failNext(1, { status: 400, body: { error: 'bad event', echo: 'x'.repeat(3000) } });
  await scim('POST', `${gw.api}/Users`, t, user('secret4@example.com'));
  await gw.worker!.drain(5000);

  const all = await gw.store.egress.listAttempts({ limit: 100_000 });
  const outcomes = [...new Set(all.map((a) => a.outcome))];
  expect(outcomes.sort()).toEqual(['permanent', 'retry', 'success']);
  const errors = all.flatMap((a) => (a.error === undefined ? [] : [a.error]));
  expect(errors.some((e) => e.includes('timed out'))).toBe(true);
  expect(errors.some((e) => e.includes('network error'))).toBe(true);
  expect(errors.some((e) => e.includes('signature mismatch'))).toBe(true);

  const tables = await databaseDump(gw);
  expect(Object.keys(tables)).toEqual(expect.arrayContaining(['deliveries', 'delivery_attempts', 'links', 'outbox']));
  for (const [name, dump] of Object.entries(tables)) {
    expect({ table: name, leaked: dump.includes(SECRET) }).toEqual({ table: name, leaked: false });
  }
  // On SQLite, the database files too (after a checkpoint, so the WAL holds nothing the tables do not show).
  if (gw.store.kind !== 'sqlite') return;
  gw.store.db.pragma('wal_checkpoint(TRUNCATE)');
  for (const file of [gw.dbFile, `${gw.dbFile}-wal`]) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      continue;
    }
    expect({ file, leaked: bytes.includes(SECRET) }).toEqual({ file, leaked: false });
  }
});
