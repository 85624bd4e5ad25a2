// Runs the vendors' SCIM suites in ../shared/conformance with newman against a gateway child process.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt, mintWithCli, ROOT, run, startServer, type ServerProcess } from './process';

/**
 * The vendors' suites are not this project's code: they are looked for in SCIM_CONFORMANCE_DIR, by default in the
 * shared/ folder beside this checkout (…/main and …/shared/conformance).
 */
const SUITES = process.env.SCIM_CONFORMANCE_DIR
  ? path.resolve(process.env.SCIM_CONFORMANCE_DIR) : path.resolve(ROOT, '../shared/conformance');
const RUN_SUITES = path.join(SUITES, 'tools/run-suites.sh');
const NEWMAN = path.join(ROOT, 'node_modules/.bin/newman');

export const MOUNTS = ['/api/scim/v2', '/sso/scim/v2'] as const;

/** Throws a readable error when newman is not installed. */
function checkPrerequisites(): void {
  if (!existsSync(NEWMAN)) throw new Error(`newman not found at ${NEWMAN}; run npm install (newman@6 is a devDependency)`);
}

/**
 * A describe block that needs the suites. Without them it is jest's visible skip with one line saying where they
 * were looked for, except under CI=true (CI has shared/ beside the clone) or CONFORMANCE_REQUIRED=1 (`npm run
 * conformance`), where their absence fails.
 */
export function describeWithSuites(name: string, fn: (run: SuiteRun) => void): void {
  if (existsSync(RUN_SUITES)) {
    describe(name, () => {
      // One gateway (and one folder for newman's reports) per suite, started before its tests, removed after.
      let gw: Conformance | undefined;
      let out: string | undefined;
      beforeAll(async () => {
        gw = await startConformanceGateway();
        out = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-conformance-reports-'));
      }, 180_000);
      afterAll(async () => {
        await gw?.close();
        if (out) rmSync(out, { recursive: true, force: true });
      });
      fn({ gateway: () => gw!, reports: (mount) => path.join(out!, mount.split('/')[1]) });
    });
    return;
  }
  const where = `conformance suites not found at ${SUITES} (set SCIM_CONFORMANCE_DIR to the folder holding okta/, microsoft/ and tools/)`;
  if (process.env.CI === 'true' || process.env.CONFORMANCE_REQUIRED === '1') {
    describe(name, () => {
      test('the suites are present', () => {
        throw new Error(where);
      });
    });
    return;
  }
  process.stdout.write(`${name}: skipped, ${where}\n`);
  describe.skip(`${name} [skipped: ${where}]`, () => fn({ gateway: () => { throw new Error(where); }, reports: () => '' }));
}

/** What a suite's tests are given: its gateway, and where newman writes the reports of a mount's run. */
export interface SuiteRun {
  gateway(): Conformance;
  reports(mount: string): string;
}

/** The line each suite run prints: its pass count. */
export function reportCounts(suite: string, mount: string, r: { total: number; failed: number }): void {
  process.stdout.write(`conformance ${suite} on ${mount}: ${r.total - r.failed}/${r.total} assertions passed\n`);
}

interface Conformance {
  server: ServerProcess;
  /** Environment of the server, for the CLI too. */
  env: Record<string, string>;
  dir: string;
  token(tenant: string): Promise<string>;
  close(): Promise<void>;
}

/** Builds dist/ if needed and starts the gateway on a fresh SQLite file with a 32+ byte JWT_SECRET. */
async function startConformanceGateway(): Promise<Conformance> {
  checkPrerequisites();
  ensureBuilt();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'scimbridge-conformance-'));
  const env = {
    DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`,
    JWT_SECRET: 'conformance-secret-0123456789-abcdefghijklmnopqrstuvwxyz',
    LOG_LEVEL: 'warn',
  };
  let server: ServerProcess;
  try {
    server = await startServer(env);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    server, env, dir,
    token: (tenant) => mintWithCli(env, tenant),
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface NewmanFailure {
  /** Request (item) name. */
  request: string;
  /** Assertion name; for a failure that is not an assertion (request or script error), the error name and message. */
  assertion: string;
  /** Folder the request sits in, when newman reports it. */
  folder?: string;
  message: string;
}

export interface SuiteResult {
  total: number;
  failed: number;
  requests: number;
  failures: NewmanFailure[];
  /** newman's console output, for failure messages. */
  output: string;
  exitCode: number | null;
}

/**
 * `run-suites.sh <suite>` against baseUrl with the token; parses the JSON report newman wrote. The script exits
 * non-zero when any assertion fails, so the exit code alone is not an error here: the report is the result.
 */
export async function runSuite(suite: 'okta' | 'microsoft', baseUrl: string, token: string, outDir: string): Promise<SuiteResult> {
  const r = await run('bash', [RUN_SUITES, suite], {
    env: { ...process.env, BASE_URL: baseUrl, TOKEN: token, NEWMAN, OUT: outDir },
    timeoutMs: 55_000,
  });
  const output = `${r.stdout}${r.stderr}`;
  const reportFile = path.join(outDir, suite === 'okta' ? 'okta-spec.json' : 'microsoft.json');
  if (!existsSync(reportFile)) {
    throw new Error(`run-suites.sh ${suite} wrote no report ${reportFile} (exit ${r.code ?? r.signal}):\n${output}`);
  }
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  const failures: NewmanFailure[] = (report.run.failures ?? []).map((f: any) => ({
    request: f.source?.name ?? '(unknown request)',
    assertion: f.error?.test ?? `${f.error?.name ?? 'Error'}: ${f.error?.message ?? ''}`,
    folder: f.parent?.name,
    message: f.error?.message ?? '',
  }));
  return {
    total: report.run.stats.assertions.total,
    failed: report.run.stats.assertions.failed,
    requests: report.run.stats.requests.total,
    failures,
    output,
    exitCode: r.code,
  };
}

/** "request / assertion", the identity of a failure. */
export function failureKey(f: { request: string; assertion: string }): string {
  return `${f.request} / ${f.assertion}`;
}
