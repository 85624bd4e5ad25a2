// The deployment files, checked by reading them (Docker is not needed): docker-compose.yml parses as YAML (with
// js-yaml when it is installed, as a dev tool's dependency; skipped otherwise) and describes the gateway on
// PostgreSQL 16 by default and two replicas behind nginx under the "replicas" profile; the Dockerfile runs as
// non-root with a health check on /healthz.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

type Yaml = { safeLoad?: (s: string) => unknown; load: (s: string) => unknown };
let yaml: Yaml | undefined;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  yaml = require('js-yaml') as Yaml;
} catch {
  yaml = undefined;
}
const withYaml: typeof test = yaml ? test : test.skip;

interface Service {
  image?: string; build?: string; profiles?: string[]; ports?: string[]; volumes?: string[];
  environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

function compose(): { services: Record<string, Service>; volumes: Record<string, unknown> } {
  const text = read('docker-compose.yml');
  return (yaml!.safeLoad ?? yaml!.load)(text) as never;
}

describe('docker-compose.yml', () => {
  withYaml('default deployment: the gateway on PostgreSQL 16 with a named volume, health checks, a required secret', () => {
    const { services, volumes } = compose();
    const defaults = Object.entries(services).filter(([, s]) => !s.profiles).map(([n]) => n).sort();
    expect(defaults).toEqual(['gateway', 'postgres']);
    const pg = services.postgres;
    expect(pg.image).toMatch(/^postgres:16/);
    expect(pg.healthcheck?.test.join(' ')).toMatch(/pg_isready/);
    const pgVolume = pg.volumes![0].split(':')[0];
    expect(Object.keys(volumes)).toContain(pgVolume);
    const gw = services.gateway;
    expect(gw.build).toBe('.');
    expect(gw.ports).toEqual(['8080:8080']);
    expect(gw.environment!.DATABASE_URL).toMatch(/^postgres:\/\/scimbridge:\$\{SCIMBRIDGE_DB_PASSWORD:\?[^}]*\}@postgres:5432\/scimbridge$/);
    expect(gw.environment!.JWT_SECRET).toMatch(/^\$\{SCIMBRIDGE_JWT_SECRET:\?[^}]+\}$/);
    expect(gw.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(gw.healthcheck!.test.join(' ')).toContain('/healthz');
  });

  withYaml('profile "replicas": gateway-a and gateway-b on the same database and secret, behind nginx on 8080', () => {
    const { services } = compose();
    const replicas = Object.entries(services).filter(([, s]) => s.profiles?.includes('replicas')).map(([n]) => n).sort();
    expect(replicas).toEqual(['gateway-a', 'gateway-b', 'proxy']);
    for (const name of ['gateway-a', 'gateway-b']) {
      const s = services[name];
      expect(s.environment).toEqual(services.gateway.environment);
      expect(s.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
      expect(s.healthcheck!.test.join(' ')).toContain('/healthz');
      expect(s.ports).toBeUndefined();
    }
    const proxy = services.proxy;
    expect(proxy.image).toMatch(/^(nginx|caddy)/);
    expect(proxy.ports).toEqual(['8080:8080']);
    expect(Object.keys(proxy.depends_on!).sort()).toEqual(['gateway-a', 'gateway-b']);
    const [file] = proxy.volumes![0].split(':');
    expect(existsSync(path.join(ROOT, file))).toBe(true);
    const conf = read(file);
    expect(conf).toMatch(/server gateway-a:8080/);
    expect(conf).toMatch(/server gateway-b:8080/);
    expect(conf).toMatch(/listen 8080/);
    expect(conf).not.toMatch(/proxy_next_upstream[^;]*non_idempotent/);
  });

  test('keeps a note on the single-container SQLite alternative', () => {
    expect(read('docker-compose.yml')).toMatch(/SQLite/);
  });
});

describe('Dockerfile', () => {
  test('runs as non-root with a health check on /healthz', () => {
    const df = read('Dockerfile');
    const runtime = df.slice(df.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/HEALTHCHECK[\s\S]*\/healthz/);
    expect(runtime).not.toMatch(/^USER root$/m);
  });
});
