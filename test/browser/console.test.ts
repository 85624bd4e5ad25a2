// The operator console in a real browser (issue 15): Debian's Chromium driven by playwright-core against a gateway
// with real emulated targets. Sign in with an admin token, see a dead letter a failing receiver produced, replay it
// and watch it turn delivered, set and remove a link, run a reconciliation, filter and page the audit trail, and see
// that one tenant's token never shows another tenant's targets. Screenshots of every page (1280×800 and phone
// width) go to test-artifacts/console/. Without Chromium this is a visible skip, and a failure under CI=true.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { sampleTargets } from '../../src/egress/samples';
import { consoleAssetsDir, CONSOLE_CSP } from '../../src/console/serve';
import { startSelfCommunityEmulator, type SelfCommunityEmulator } from '../fixtures/emulators/selfcommunity';
import { startWebhookReceiverEmulator, type WebhookReceiverEmulator } from '../fixtures/emulators/webhook-receiver';
import { group, scim, startGateway, user, type TestGateway } from '../helpers/gateway';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts', 'console');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic'];

const haveChromium = existsSync(CHROMIUM);

/** A browser test: a visible skip without Chromium, a failure under CI=true (where .ci/run installs it). */
function browserTest(name: string, fn: () => Promise<void>, timeout = 60_000): void {
  if (haveChromium) test(name, fn, timeout);
  else if (process.env.CI === 'true') test(name, () => { throw new Error(`Chromium is required under CI=true and ${CHROMIUM} is missing (apt-get install -y chromium)`); });
  else test.skip(`${name} [skipped: no Chromium at ${CHROMIUM}; apt-get install -y chromium]`, fn);
}

let hookA: WebhookReceiverEmulator;
let hookB: WebhookReceiverEmulator;
let community: SelfCommunityEmulator;
let gw: TestGateway;
let browser: Browser;
let adminA: string;
let adminB: string;
let scimA: string;
let deadUser = '';
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!haveChromium) return;
  // The console's bundle comes from `npm run build` (run by npm ci); a fresh checkout under jest alone builds it here.
  if (!existsSync(path.join(consoleAssetsDir(), 'app.js'))) {
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'build-console.js')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`console build failed: ${r.stderr}`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  hookA = await startWebhookReceiverEmulator({ credential: 'whsec-console-acme-0123456789' });
  hookB = await startWebhookReceiverEmulator({ credential: 'whsec-console-globex-987654321' });
  community = await startSelfCommunityEmulator({ credential: 'sc-console-token' });
  gw = await startGateway({
    startWorker: true,
    targets: {
      targets: [
        { name: 'acme-hook', kind: 'webhook', tenant: 'acme', baseUrl: `${hookA.url}/hook`, credential: 'whsec-console-acme-0123456789', retrySchedule: ['100ms'] },
        { name: 'acme-community', kind: 'selfcommunity', tenant: 'acme', baseUrl: community.url, credential: 'sc-console-token' },
        { name: 'globex-hook', kind: 'webhook', tenant: 'globex', baseUrl: `${hookB.url}/hook`, credential: 'whsec-console-globex-987654321' },
      ],
    },
  });
  adminA = await gw.token('acme', 'admin');
  adminB = await gw.token('globex', 'admin');
  scimA = await gw.token('acme');
  const scimB = await gw.token('globex');
  const worker = gw.worker!;

  // acme: users delivered, one refused by its receiver (400: permanent, a dead letter), a group; globex: one user.
  const first = await scim('POST', `${gw.api}/Users`, scimA, user('console-ok@example.com'));
  await worker.drain();
  hookA.failNext(1, { status: 400, body: { error: 'rejected: console-test receiver says no' } });
  deadUser = (await scim('POST', `${gw.api}/Users`, scimA, user('console-dead@example.com'))).body.id;
  await worker.drain();
  await scim('POST', `${gw.api}/Groups`, scimA, group('Console Group', [first.body.id]));
  await scim('POST', `${gw.api}/Users`, scimB, user('globex-only@example.com'));
  await worker.drain();
  // Two samples a minute apart for the chart (the worker takes one a minute; here they are written directly).
  const targets = gw.targets;
  const minute = (ago: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - ago * 60_000).toISOString();
  const keep = minute(24 * 60);
  await gw.store.egress.recordSample('acme-hook', { at: minute(3), pending: 0, inFlight: 0, dead: 0, done: 0, skipped: 0 }, keep);
  await gw.store.egress.recordSample('acme-hook', { at: minute(2), pending: 2, inFlight: 1, dead: 0, done: 1, skipped: 0 }, keep);
  await sampleTargets(gw.store, targets, 60_000, Date.now() - 60_000);
  await sampleTargets(gw.store, targets, 60_000);
  expect((await gw.store.egress.listSamples('acme-hook', minute(10))).map((x) => x.done)).toEqual([0, 1, 3, 3]);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.close();
  await Promise.all([hookA?.close(), hookB?.close(), community?.close()]);
});

async function open(width = 1280, height = 800): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${gw.url}/console/`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Targets', level: 1 }).waitFor();
}

/** Asks fn until it answers a value that passes check (jest's expect inside), or the time is up. */
async function eventually<T>(fn: () => Promise<T>, check: (v: T) => void, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    try {
      check(v);
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Page-side expressions as text (the test's own TypeScript has no DOM types).
const TOKEN_IN_STORAGE = "sessionStorage.getItem('scimbridge.adminToken')";
const FOCUSED_TEXT = 'document.activeElement && document.activeElement.textContent';
const OVERFLOW = 'document.documentElement.scrollWidth - window.innerWidth';

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });

describe('operator console', () => {
  browserTest('served with a strict CSP, no inline script, assets from the gateway; off with CONSOLE=false', async () => {
    const res = await fetch(`${gw.url}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/); // every script has a src
    expect(html).not.toMatch(/style=/);
    expect((await fetch(`${gw.url}/console`, { redirect: 'manual' })).status).toBe(308);
    expect((await fetch(`${gw.url}/console/app.js`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${gw.url}/console/../package.json`)).status).toBe(404);
    const off = await startGateway({ console: false });
    try {
      const r = await fetch(`${off.url}/console/`);
      expect(r.status).toBe(404);
      expect(((await r.json()) as { schemas: string[] }).schemas).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
    } finally {
      await off.close();
    }
  });

  browserTest('sign in: a refused token says why; the token is kept in sessionStorage, never in a cookie or the URL', async () => {
    const page = await open();
    await page.goto(`${gw.url}/console/`);
    await page.getByLabel('Admin token').fill(scimA); // scim scopes only, no admin
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'admin' }).waitFor();
    await shot(page, 'signin-refused');
    await page.getByLabel('Admin token').fill(adminA);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Targets', level: 1 }).waitFor();
    expect(await page.evaluate(TOKEN_IN_STORAGE)).toBe(adminA);
    expect(await page.context().cookies()).toEqual([]);
    expect(page.url()).not.toContain(adminA);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate(TOKEN_IN_STORAGE)).toBeNull();
    await page.context().close();
  });

  browserTest('targets: health and chart for the tenant\'s own targets only; another tenant sees only its own', async () => {
    const page = await open();
    await signIn(page, adminA);
    const hook = page.getByRole('article', { name: /acme-hook/ });
    await hook.waitFor();
    await expect(hook.getByText('Dead', { exact: true }).locator('..').textContent()).resolves.toContain('1');
    await expect(page.getByRole('article', { name: /acme-community/ }).count()).resolves.toBe(1);
    await expect(page.getByText('globex-hook').count()).resolves.toBe(0);
    await hook.locator('svg.chart').waitFor();
    await shot(page, 'targets');
    // Last success shown in the browser's zone, the UTC value on hover.
    const time = hook.locator('time').first();
    expect(await time.getAttribute('title')).toMatch(/Z \(UTC\)$/);
    await page.context().close();

    const other = await open();
    await signIn(other, adminB);
    await other.getByRole('article', { name: /globex-hook/ }).waitFor();
    await expect(other.getByText('acme-hook').count()).resolves.toBe(0);
    await expect(other.getByText('acme-community').count()).resolves.toBe(0);
    // Not in the deliveries either, and not reachable by name.
    await other.goto(`${gw.url}/console/#/deliveries?target=acme-hook`);
    await other.getByRole('alert').filter({ hasText: 'No target named "acme-hook"' }).waitFor();
    await shot(other, 'targets-other-tenant');
    await other.context().close();
  });

  browserTest('deliveries: the dead letter with its attempt and the receiver\'s answer; replay turns it delivered', async () => {
    const page = await open();
    await signIn(page, adminA);
    await page.getByRole('article', { name: /acme-hook/ }).getByRole('link', { name: 'Dead letters' }).click();
    await page.getByRole('heading', { name: 'Deliveries', level: 1 }).waitFor();
    const row = page.locator('tr', { hasText: `user:${deadUser}` });
    await row.waitFor();
    await expect(row.locator('.badge').textContent()).resolves.toBe('dead');
    await row.getByRole('button', { name: 'Attempts' }).click();
    const detail = page.locator('.detail');
    await detail.getByText('rejected: console-test receiver says no').waitFor();
    await expect(detail.locator('td.num').first().textContent()).resolves.toBe('400');
    await shot(page, 'deliveries-dead');
    await detail.getByRole('button', { name: 'Replay' }).click();
    await detail.getByText('queued again').waitFor();
    // The worker delivers it (the receiver answers 2xx now): the list shows it done.
    await eventually(async () => (await gw.store.egress.listDeliveries({ target: 'acme-hook', aggregate: `user:${deadUser}`, limit: 5 }))[0].state,
      (v) => expect(v).toBe('done'));
    await page.getByLabel('State').selectOption('');
    await page.getByRole('button', { name: 'Show' }).click();
    const again = page.locator('tr', { hasText: `user:${deadUser}` }).first();
    await eventually(() => again.locator('.badge').textContent(), (v) => expect(v).toBe('done'));
    await again.getByRole('button', { name: 'Attempts' }).click();
    await page.locator('.detail .outcome-success').first().waitFor();
    await shot(page, 'deliveries-replayed');
    await page.context().close();
  });

  browserTest('links: set a group link by hand and remove it; reconciliation dry run shows the difference', async () => {
    const groups = await scim('GET', `${gw.api}/Groups`, scimA);
    const groupId = groups.body.Resources[0].id as string;
    const remote = community.addGroup('Console Group');
    const page = await open();
    await signIn(page, adminA);
    await page.getByRole('link', { name: 'Links' }).click();
    await page.getByRole('heading', { name: 'Links', level: 1 }).waitFor();
    await page.getByText(/No group links for acme-community yet/).waitFor();
    await page.getByLabel('SCIM group id').fill(groupId);
    await page.getByLabel('Id at acme-community').fill(String(remote));
    await page.getByRole('button', { name: 'Set link' }).click();
    const linkRow = page.locator('tr', { hasText: groupId });
    await linkRow.waitFor();
    await expect(linkRow.textContent()).resolves.toContain('admin');
    await shot(page, 'links');

    await page.getByRole('link', { name: 'Reconciliation' }).click();
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText(/Dry run/).first().waitFor();
    await page.locator('ul.groups li li', { hasText: 'missing there: 1' }).waitFor(); // the group's member is not subscribed at SelfCommunity
    await shot(page, 'reconcile');
    await page.getByRole('button', { name: 'Apply repairs' }).click();
    await page.getByText(/repair deliveries queued/).waitFor();

    await page.getByRole('link', { name: 'Links' }).click();
    page.once('dialog', (d) => void d.accept());
    await page.locator('tr', { hasText: groupId }).getByRole('button', { name: 'Remove' }).click();
    await page.getByText(/No group links for acme-community yet/).waitFor();
    expect(await gw.store.egress.listLinks('acme-community', 'group')).toEqual([]);
    await page.context().close();
  });

  browserTest('audit: filter by operation and resource, page with the cursor', async () => {
    // Enough records for two pages of 50.
    for (let i = 0; i < 55; i++) await scim('POST', `${gw.api}/Users`, scimA, user(`audit-${i}@example.com`));
    const page = await open();
    await signIn(page, adminA);
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit trail', level: 1 }).waitFor();
    const rows = page.locator('table.audit tbody tr');
    await eventually(() => rows.count(), (n) => expect(n).toBe(50));
    await page.getByRole('button', { name: 'Older records' }).click();
    await eventually(() => rows.count(), (n) => expect(n).toBeGreaterThan(50));
    await page.getByLabel('Operation').selectOption('reconcile');
    await page.getByRole('button', { name: 'Show' }).click();
    // Only the reconciliation run of the links test is left (its runner's audit record).
    await eventually(() => rows.locator('td:nth-child(2)').allTextContents(), (ops) => expect(new Set(ops)).toEqual(new Set(['reconcile'])));
    await page.getByLabel('Operation').selectOption('');
    await page.getByLabel('Resource id').fill(deadUser);
    await page.getByRole('button', { name: 'Show' }).click();
    await eventually(() => rows.allTextContents(), (texts) => {
      expect(texts).toHaveLength(1);
      expect(texts[0]).toContain(deadUser);
      expect(texts[0]).toContain('create');
    });
    await shot(page, 'audit');
    await page.getByLabel('Resource id').fill('no-such-resource');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText(/No audit records match/).waitFor();
    await page.context().close();
  });

  browserTest('keyboard and phone width: every page reachable by Tab and Enter, readable at 390 px', async () => {
    const page = await open(390, 844);
    await signIn(page, adminA);
    await shot(page, 'phone-targets');
    // Skip link first, then the navigation.
    await page.keyboard.press('Tab');
    await expect(page.evaluate(FOCUSED_TEXT)).resolves.toBe('Skip to content');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Tab'); // brand is not focusable: Targets, Deliveries, Links
    await expect(page.evaluate(FOCUSED_TEXT)).resolves.toBe('Links');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Links', level: 1 }).waitFor();
    await page.goto(`${gw.url}/console/#/audit`);
    await page.getByRole('heading', { name: 'Audit trail', level: 1 }).waitFor();
    await shot(page, 'phone-audit');
    // Nothing wider than the window except inside the scrolling tables.
    const overflow = await page.evaluate<number>(OVERFLOW);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.context().close();
  });

  browserTest('no errors in the browser console (CSP violations included)', async () => {
    expect(consoleErrors.filter((e) => !/status of (400|401|403|404)/.test(e))).toEqual([]);
  });
});
