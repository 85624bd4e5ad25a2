#!/usr/bin/env node
// scimbridge command line: tokens, migrations, and the server itself.
import { Command } from 'commander';
import { mintToken } from './auth/mint';
import { parseTtl } from './auth/ttl';
import { ConfigError, loadConfig, type Config } from './config';
import { createLogger } from './log';
import { loadTargets, openRuntime, startWorker } from './runtime';

function config(): Config {
  try {
    return loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`scimbridge: invalid configuration: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

/** CLI logs go to stderr so that stdout carries only the command's answer (e.g. a token). */
function cliLogger(cfg: Config) {
  return createLogger(cfg.logLevel === 'info' ? 'warn' : cfg.logLevel, process.stderr as never);
}

export function program(): Command {
  const cli = new Command('scimbridge').description('SCIM 2.0 provisioning gateway').showHelpAfterError();

  const token = cli.command('token').description('mint and revoke bearer tokens');
  token.command('create')
    .description('print a bearer token signed with the configured secret or private key')
    .requiredOption('--tenant <tenant>', 'tenant the token acts for')
    .option('--scope <scope>', 'space-separated scopes', 'scim:read scim:write')
    .option('--ttl <ttl>', 'lifetime: 365d, 12h, 30m, 45s, or never', '365d')
    .option('--subject <sub>', 'sub claim, recorded in the audit trail', 'scimbridge-cli')
    .action(async (opts: { tenant: string; scope: string; ttl: string; subject: string }) => {
      const cfg = config();
      const rt = await openRuntime(cfg, cliLogger(cfg));
      try {
        const minted = await mintToken(rt.jwt, {
          tenant: opts.tenant, scope: opts.scope, ttlSeconds: parseTtl(opts.ttl), subject: opts.subject,
        });
        process.stdout.write(`${minted.token}\n`);
        process.stderr.write(`jti ${minted.jti}${minted.expiresAt ? `, expires ${minted.expiresAt.toISOString()}` : ', never expires'}\n`);
      } finally {
        await rt.store.close();
      }
    });
  token.command('revoke <jti>')
    .description('refuse a token from now on, by its jti')
    .action(async (jti: string) => {
      const cfg = config();
      const rt = await openRuntime(cfg, cliLogger(cfg));
      try {
        await rt.store.revokeToken(jti);
        process.stdout.write(`revoked ${jti}\n`);
      } finally {
        await rt.store.close();
      }
    });

  cli.command('migrate')
    .description('apply pending database migrations')
    .action(async () => {
      const cfg = config();
      const rt = await openRuntime(cfg, cliLogger(cfg));
      await rt.store.close();
      process.stdout.write(rt.migrated.length ? `applied ${rt.migrated.join(', ')}\n` : 'database is up to date\n');
    });

  cli.command('worker')
    .description('run only the delivery worker (targets from TARGETS_FILE)')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg.logLevel);
      const targets = loadTargets(cfg);
      if (!targets.length) throw new Error('no delivery targets: set TARGETS_FILE');
      const rt = await openRuntime(cfg, log);
      const worker = startWorker(cfg, rt, log, targets)!;
      const stop = () => {
        worker.stop().then(() => rt.store.close()).then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });

  cli.command('serve')
    .description('run the gateway (same as npm start)')
    .action(async () => {
      const { start } = await import('./main');
      const { close } = await start(config());
      const stop = () => { close().then(() => process.exit(0), () => process.exit(1)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
  return cli;
}

if (require.main === module) {
  program().parseAsync(process.argv).catch((e: unknown) => {
    process.stderr.write(`scimbridge: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
