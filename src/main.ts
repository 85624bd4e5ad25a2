// Starts the gateway: configuration, store and migrations, keys, then listen. Exits non-zero with one line
// naming the variable when the configuration is invalid.
import type { Server } from 'node:http';
import { ConfigError, loadConfig, type Config } from './config';
import type { DeliveryWorker } from './egress';
import { createLogger } from './log';
import { loadTargets, openRuntime, startWorker } from './runtime';
import { buildApp } from './server';

export async function start(config: Config): Promise<{ server: Server; close: () => Promise<void> }> {
  const log = createLogger(config.logLevel);
  const targets = loadTargets(config);
  const rt = await openRuntime(config, log);
  if (rt.migrated.length) log.info({ migrations: rt.migrated }, 'database migrated');
  let worker: DeliveryWorker | undefined;
  const app = buildApp({
    store: rt.store, verifier: rt.verifier, log, maxBodyBytes: config.maxBodyBytes, maxResults: config.maxResults,
    publicUrl: config.publicUrl, targets,
    // /readyz checks the worker only when one runs in this process (it starts right after listen).
    workerAlive: config.workerInProcess && targets.length ? () => worker?.isAlive() ?? false : undefined,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info({ host: config.host, port, database: config.database.kind, mounts: ['/api/scim/v2', '/sso/scim/v2'] }, 'scimbridge listening');
  worker = config.workerInProcess ? startWorker(config, rt, log, targets) : undefined;
  const close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await worker?.stop();
    await rt.store.close();
  };
  return { server, close };
}

if (require.main === module) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`scimbridge: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  start(config).then(({ close }) => {
    const stop = () => { close().then(() => process.exit(0), () => process.exit(1)); };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }, (e: unknown) => {
    if (e instanceof ConfigError) {
      process.stderr.write(`scimbridge: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`scimbridge: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
