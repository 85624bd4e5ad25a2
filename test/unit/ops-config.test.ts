// Operations settings from the environment: defaults, valid values, and one message naming the variable otherwise.
import { DEFAULT_OPS, loadConfig, parseOpsConfig } from '../../src/config';
import { ConfigError } from '../../src/config-error';
import { TenantRateLimiter } from '../../src/ops/rate-limit';
import { classify } from '../../src/ops/request-log';

describe('parseOpsConfig', () => {
  test('defaults', () => {
    expect(parseOpsConfig({})).toEqual({ ...DEFAULT_OPS, metricsToken: undefined });
  });

  test('values are read, and the burst follows a larger rate unless set', () => {
    const c = parseOpsConfig({
      METRICS_TOKEN: 'a-long-enough-metrics-token', RATE_LIMIT_PER_SECOND: '500', MAX_MEMBERS_PER_REQUEST: '50000',
      MAX_FILTER_LENGTH: '1000', MAX_FILTER_DEPTH: '8', AUDIT_RETENTION_DAYS: '30', SHUTDOWN_TIMEOUT_MS: '2500',
      BULK_MAX_OPERATIONS: '200', BULK_MAX_PAYLOAD_SIZE: '65536',
    });
    expect(c).toEqual({
      metricsToken: 'a-long-enough-metrics-token', rateLimitPerSecond: 500, rateLimitBurst: 1000, maxMembersPerRequest: 50000,
      maxFilterLength: 1000, maxFilterDepth: 8, auditRetentionDays: 30, shutdownTimeoutMs: 2500,
      bulkMaxOperations: 200, bulkMaxPayloadSize: 65536,
    });
    expect(parseOpsConfig({ RATE_LIMIT_PER_SECOND: '0' }).rateLimitPerSecond).toBe(0);
    expect(parseOpsConfig({ RATE_LIMIT_BURST: '7' }).rateLimitBurst).toBe(7);
  });

  test.each([
    ['METRICS_TOKEN', 'short'],
    ['RATE_LIMIT_PER_SECOND', '-1'],
    ['RATE_LIMIT_BURST', '0'],
    ['MAX_MEMBERS_PER_REQUEST', 'lots'],
    ['MAX_FILTER_LENGTH', '3'],
    ['MAX_FILTER_DEPTH', '0'],
    ['AUDIT_RETENTION_DAYS', '1.5'],
    ['SHUTDOWN_TIMEOUT_MS', '10'],
    ['BULK_MAX_OPERATIONS', '0'],
    ['BULK_MAX_PAYLOAD_SIZE', '100'],
  ])('%s=%s is refused naming the variable', (name, value) => {
    let err: unknown;
    try {
      parseOpsConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toContain(name);
  });
});

describe('TenantRateLimiter', () => {
  test('a bucket per tenant: burst, then the rate, with the wait to the next token', () => {
    let now = 0;
    const l = new TenantRateLimiter(2, 3, () => now);
    expect([l.take('a'), l.take('a'), l.take('a')].every((r) => r.ok)).toBe(true);
    expect(l.take('a')).toEqual({ ok: false, retryAfterSec: 1 });
    expect(l.take('b').ok).toBe(true);
    now += 500; // one token back at 2/s
    expect(l.take('a').ok).toBe(true);
    expect(l.take('a').ok).toBe(false);
    now += 60_000;
    for (let i = 0; i < 3; i++) expect(l.take('a').ok).toBe(true);
    expect(l.take('a').ok).toBe(false);
  });
});

describe('request classification for metrics', () => {
  test.each([
    ['/api/scim/v2/Users', { mount: 'api', resource: 'Users' }],
    ['/sso/scim/v2/groups/123', { mount: 'sso', resource: 'Groups' }],
    ['/api/scim/v2/Users/.search', { mount: 'api', resource: 'Users/.search' }],
    ['/api/scim/v2/Nonsense/x', { mount: 'api', resource: 'unknown' }],
    ['/api/scim/v2', { mount: 'api', resource: 'root' }],
    ['/admin/audit', { mount: 'admin', resource: 'admin' }],
    ['/metrics', { mount: 'ops', resource: 'metrics' }],
    ['/wp-login.php', { mount: 'other', resource: 'unknown' }],
  ])('%s', (path, expected) => {
    expect(classify(path)).toEqual(expected);
  });
});

describe('console settings', () => {
  const base = { JWT_SECRET: 'x'.repeat(40), DATABASE_URL: 'sqlite::memory:' };
  test('CONSOLE on by default, off with false; TARGET_SAMPLE_INTERVAL 1m by default, 1s to 1h', () => {
    expect(loadConfig(base).console).toBe(true);
    expect(loadConfig({ ...base, CONSOLE: 'false' }).console).toBe(false);
    expect(loadConfig(base).targetSampleIntervalMs).toBe(60_000);
    expect(loadConfig({ ...base, TARGET_SAMPLE_INTERVAL: '5s' }).targetSampleIntervalMs).toBe(5000);
    expect(() => loadConfig({ ...base, TARGET_SAMPLE_INTERVAL: '500ms' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, TARGET_SAMPLE_INTERVAL: '2h' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, TARGET_SAMPLE_INTERVAL: 'soon' })).toThrow(ConfigError);
  });
});
