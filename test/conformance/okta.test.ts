// Okta "SCIM 2.0 SPEC Test" (53 assertions) with newman against the built gateway, on both mounts.
import { describeWithSuites, failureKey, MOUNTS, reportCounts, runSuite } from '../helpers/conformance';
import { http } from '../helpers/process';

const OKTA_ASSERTIONS = 53;

describeWithSuites('Okta SCIM 2.0 SPEC Test', (run) => {
  describe.each(MOUNTS)('on %s', (mount) => {
    test('passes all 53 assertions', async () => {
      const gw = run.gateway();
      const tenant = `okta-${mount.split('/')[1]}-${Date.now()}`;
      const token = await gw.token(tenant);
      const base = `${gw.server.url}${mount}`;

      // Precondition of the suite: test 01 reads Resources[0] and expects a complete user there.
      const seeded = await http('POST', `${base}/Users`, token, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: 'okta.seed@example.com',
        active: true,
        name: { givenName: 'Okta', familyName: 'Seed' },
        emails: [{ value: 'okta.seed@example.com', type: 'work', primary: true }],
      });
      expect(seeded.status).toBe(201);

      const result = await runSuite('okta', base, token, run.reports(mount));
      reportCounts('okta', mount, result);
      const failures = result.failures.map((f) => `${failureKey(f)}: ${f.message}`);
      expect({ total: result.total, failed: result.failed, failures })
        .toEqual({ total: OKTA_ASSERTIONS, failed: 0, failures: [] });
    }, 60_000);
  });
});
