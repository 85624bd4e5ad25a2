// Microsoft SCIMReferenceCode Postman collection (103 assertions) with newman against the built gateway, on both
// mounts, each with a fresh empty tenant. The failures must be exactly the justified list in microsoft-known-failures.
import { describeWithSuites, failureKey, MOUNTS, reportCounts, runSuite } from '../helpers/conformance';
import { http } from '../helpers/process';
import { MICROSOFT_ASSERTIONS, MICROSOFT_KNOWN_FAILURES } from './microsoft-known-failures';

const sorted = (keys: string[]) => [...keys].sort();

describeWithSuites('Microsoft SCIMReferenceCode collection', (run) => {
  describe.each(MOUNTS)('on %s', (mount) => {
    test('fails exactly the known, justified assertions', async () => {
      const gw = run.gateway();
      const tenant = `microsoft-${mount.split('/')[1]}-${Date.now()}`;
      const token = await gw.token(tenant);
      const base = `${gw.server.url}${mount}`;

      // The collection asserts exact totalResults: the tenant must start empty.
      const users = await http('GET', `${base}/Users`, token);
      const groups = await http('GET', `${base}/Groups`, token);
      expect([users.body?.totalResults, groups.body?.totalResults]).toEqual([0, 0]);

      const result = await runSuite('microsoft', base, token, run.reports(mount));
      reportCounts('microsoft', mount, result);
      const measured = sorted(result.failures.map(failureKey));
      const expected = sorted(MICROSOFT_KNOWN_FAILURES.map(failureKey));
      // On a mismatch, show what newman said about the unexpected failures.
      const unexpected = result.failures.filter((f) => !expected.includes(failureKey(f)))
        .map((f) => `${f.folder ?? ''} / ${failureKey(f)}: ${f.message}`);
      expect({ total: result.total, failed: result.failed, failures: measured, unexpected })
        .toEqual({ total: MICROSOFT_ASSERTIONS, failed: expected.length, failures: expected, unexpected: [] });
    }, 60_000);

    test('serves /ServiceProviderConfig (the collection asks /serviceConfiguration) with patch.supported true', async () => {
      const gw = run.gateway();
      const token = await gw.token(`microsoft-spc-${mount.split('/')[1]}`);
      const spc = await http('GET', `${gw.server.url}${mount}/ServiceProviderConfig`, token);
      expect(spc.status).toBe(200);
      expect(spc.body.patch).toEqual({ supported: true });
    });
  });
});
