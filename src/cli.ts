#!/usr/bin/env node
// scimbridge command line: tokens, migrations, and the server itself.
import { Command } from 'commander';
import { mintToken } from './auth/mint';
import { parseTtl } from './auth/ttl';
import { loadConfig, type Config } from './config';
import { ConfigError } from './config-error';
import { createLogger } from './log';
import { connectorFor } from './egress/connectors';
import { reconcileTarget } from './egress/reconcile';
import { reportText } from './egress/reconcile-report';
import { loadTargets, openRuntime, startReconciler, startSampler, startWorker } from './runtime';
import type { Store } from './store/types';

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

async function withStore(fn: (store: Store, cfg: Config) => Promise<void>): Promise<void> {
  const cfg = config();
  const rt = await openRuntime(cfg, cliLogger(cfg));
  try {
    await fn(rt.store, cfg);
  } finally {
    await rt.store.close();
  }
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

  const deliveries = cli.command('deliveries').description('inspect and replay deliveries to targets');
  deliveries.command('list')
    .description('newest deliveries first')
    .option('--target <name>', 'only this target')
    .option('--state <state>', 'pending, in_flight, done, skipped or dead')
    .option('--group <id>', 'only this SCIM group')
    .option('--limit <n>', 'how many', '50')
    .action(async (opts: { target?: string; state?: string; group?: string; limit: string }) => {
      await withStore(async (store) => {
        const rows = await store.egress.listDeliveries({
          target: opts.target, state: opts.state as never, aggregate: opts.group ? `group:${opts.group}` : undefined,
          limit: Number(opts.limit) || 50,
        });
        for (const d of rows) {
          process.stdout.write(`${d.target}\t${d.seq}\t${d.state}\t${d.type}\t${d.aggregate}\tattempts=${d.attempts}${d.lastStatus ? `\tstatus=${d.lastStatus}` : ''}${d.lastError ? `\t${d.lastError.slice(0, 120)}` : ''}\n`);
        }
      });
    });
  deliveries.command('show <target> <seq>')
    .description('one delivery with its payload and every attempt')
    .action(async (target: string, seq: string) => {
      await withStore(async (store) => {
        const found = await store.egress.getDelivery(target, Number(seq));
        if (!found) throw new Error(`no delivery ${target}/${seq}`);
        process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
      });
    });
  deliveries.command('replay <target> [seq]')
    .description('send deliveries again: one (dead, done or skipped), or all of the target\'s dead letters (or skips)')
    .option('--skipped', 'without a seq: replay every skipped delivery instead of the dead letters')
    .action(async (target: string, seq: string | undefined, opts: { skipped?: boolean }) => {
      await withStore(async (store) => {
        const n = await store.egress.replay(target, seq !== undefined ? [Number(seq)] : undefined, opts.skipped ? 'skipped' : 'dead');
        process.stdout.write(`replayed ${n}\n`);
      });
    });

  const links = cli.command('links').description('links between SCIM ids and a target\'s ids');
  links.command('list <target>')
    .option('--kind <kind>', 'group or user')
    .action(async (target: string, opts: { kind?: 'group' | 'user' }) => {
      await withStore(async (store) => {
        for (const l of await store.egress.listLinks(target, opts.kind)) {
          process.stdout.write(`${l.kind}\t${l.scimId}\t${l.remoteId}\t${l.source}\t${l.created}\n`);
        }
      });
    });
  links.command('set <target> <kind> <scimId> <remoteId>')
    .description('link a SCIM group or user to the target\'s id')
    .action(async (target: string, kind: string, scimId: string, remoteId: string) => {
      if (kind !== 'group' && kind !== 'user') throw new Error('kind must be group or user');
      await withStore(async (store, cfg) => {
        const t = loadTargets(cfg).find((x) => x.name === target);
        if (!t) throw new Error(`no target named "${target}" in TARGETS_FILE`);
        await store.egress.setLink({ target, kind, scimId, tenant: t.tenant, remoteId, source: 'admin' });
        process.stdout.write(`linked ${kind} ${scimId} → ${remoteId}\n`);
      });
    });
  links.command('remove <target> <kind> <scimId>')
    .action(async (target: string, kind: string, scimId: string) => {
      if (kind !== 'group' && kind !== 'user') throw new Error('kind must be group or user');
      await withStore(async (store) => {
        const removed = await store.egress.removeLink(target, kind, scimId);
        process.stdout.write(removed ? 'removed\n' : 'no such link\n');
      });
    });

  cli.command('reconcile <target>')
    .description('compare each group linked to the target with what the target holds, and queue repairs as deliveries')
    .option('--group <scimId>', 'only this SCIM group')
    .option('--dry-run', 'report the differences and change nothing (exit code 2 when any group is out of sync)')
    .option('--json', 'print the report as JSON')
    .action(async (name: string, opts: { group?: string; dryRun?: boolean; json?: boolean }) => {
      const cfg = config();
      const log = cliLogger(cfg);
      const targets = loadTargets(cfg);
      const target = targets.find((t) => t.name === name);
      if (!target) throw new Error(`no target named "${name}" in TARGETS_FILE`);
      const rt = await openRuntime(cfg, log, { targets });
      try {
        const report = await reconcileTarget(rt.store, target, connectorFor(target), {
          groupId: opts.group, dryRun: !!opts.dryRun, log, actor: { subject: 'cli', mount: 'cli', operation: 'reconcile' },
        });
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : reportText(report));
        if (opts.dryRun && report.summary.drift + report.summary.missing > 0) process.exitCode = 2;
      } finally {
        await rt.store.close();
      }
    });

  cli.command('worker')
    .description('run only the delivery worker (targets from TARGETS_FILE)')
    .action(async () => {
      const cfg = config();
      const log = createLogger(cfg.logLevel);
      const targets = loadTargets(cfg);
      if (!targets.length) throw new Error('no delivery targets: set TARGETS_FILE');
      const rt = await openRuntime(cfg, log, { targets });
      const worker = startWorker(cfg, rt, log, targets)!;
      const stopReconcile = startReconciler(cfg, rt, log, targets);
      const stopSamples = startSampler(cfg, rt, log, targets);
      // The worker's timers are unref'd (they must not hold a server open); here nothing else would keep the
      // process alive, so it would exit as soon as the first pass ended.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      const deadline = cfg.ops.shutdownTimeoutMs;
      const { exitOnSignals } = await import('./main');
      exitOnSignals(async () => {
        clearInterval(keepAlive);
        stopSamples?.();
        // Deliveries still running near the deadline have their claims released, so another worker takes them.
        await worker.stop(Math.max(0, deadline * 0.8 - 200));
        await stopReconcile?.();
        await rt.store.close();
        return true;
      }, deadline);
    });

  cli.command('serve')
    .description('run the gateway (same as npm start)')
    .action(async () => {
      const { start, exitOnSignals } = await import('./main');
      const cfg = config();
      const { close } = await start(cfg);
      exitOnSignals(close, cfg.ops.shutdownTimeoutMs);
    });
  return cli;
}

if (require.main === module) {
  program().parseAsync(process.argv).catch((e: unknown) => {
    process.stderr.write(`scimbridge: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
