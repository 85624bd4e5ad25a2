// Reconciliation: for each group linked to a target, read the target's state through its documented read APIs,
// compare it with the SCIM group, and queue repairs through the outbox (addressed to that target only), so they are
// retried, ordered with live changes, coalesced, visible in /admin/deliveries and audited as 'reconcile'.
//  - Compared: the name (and the description where the target keeps one); members expected at the target (the SCIM
//    members, without inactive users when the target withdraws them) against the remote member list.
//  - Repaired: a different name or description (group.updated), members missing remotely (group.members_added),
//    remote members linked to SCIM users who are not expected there (group.members_removed). Remote members the
//    gateway has no user link for (the group's owner, people added by hand) are reported, never removed.
//  - A group with open deliveries for the target is "pending" and left alone: its queued changes are what moves it.
//    With none, the SCIM state is the state as of the last delivered event.
//  - Memory stays flat: the remote list is written to the store a page at a time and compared there by SQL.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditActor } from '../store/audit';
import { groupSummary, MEMBER_IDS_PER_EVENT, type ChangeEvent } from '../store/events';
import type { ReconcileDiffQuery } from '../store/egress-types';
import type { GroupRecord, Store } from '../store/types';
import type { Connector, GroupReader, ReadContext } from './connector';
import { DeliveryError } from './errors';
import { call, type CallSpec } from './http';
import type { ReconcileMetrics } from './metrics';
import type { TargetConfig } from './targets';

/** Ids listed per difference in a report (the counts are always complete). */
const SAMPLE = 20;
/** Remote ids written, and differences read, per round trip to the store. */
const PAGE = MEMBER_IDS_PER_EVENT;
/** Waits for a target that answered 429 (or is unreachable) before giving up on the group. */
const MAX_WAITS = 5;

export interface Difference {
  count: number;
  /** The first SAMPLE ids: SCIM user ids (missing, extra) or remote ids (unlinked). */
  sample: string[];
}

type GroupStatus = 'in_sync' | 'drift' | 'pending' | 'missing' | 'error';

export interface GroupReport {
  groupId: string;
  displayName?: string;
  remoteId: string;
  status: GroupStatus;
  /** Why the group could not be compared (status error or missing). */
  error?: string;
  name?: { scim: string; remote?: string };
  description?: { scim?: string; remote?: string | null };
  /** False when the target's API cannot list members (Konstantly): `repushed` says what a repair sends instead. */
  membersCompared: boolean;
  missing: Difference;
  extra: Difference;
  unlinked: Difference;
  repushed?: number;
  /** Repair events queued (0 on a dry run). */
  repairs: number;
}

export interface ReconcileReport {
  target: string;
  tenant: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  groups: GroupReport[];
  summary: { groups: number; inSync: number; drift: number; pending: number; missing: number; errors: number; repairs: number };
}

export interface ReconcileOptions {
  /** One SCIM group; all the target's linked groups when absent. */
  groupId?: string;
  dryRun: boolean;
  /** Who runs it, for the audit records of the repairs. */
  actor: AuditActor;
  log: Logger;
  /** Members per page when a target's listing is paginated. */
  pageSize?: number;
  metrics?: ReconcileMetrics;
}

const none = (): Difference => ({ count: 0, sample: [] });

/** A read context over the target: auth, timeout, base URL; waits out a 429's Retry-After a few times. */
function readContext(target: TargetConfig, connector: Connector): ReadContext {
  let pausedUntil = 0;
  const recorder = { record: () => undefined, pauseUntil: (at: number) => { pausedUntil = Math.max(pausedUntil, at); } };
  return {
    async call(spec: CallSpec) {
      for (let waits = 0; ; waits++) {
        const wait = pausedUntil - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        try {
          return await call(target.baseUrl, connector.authHeaders(), target.timeoutMs, spec, recorder);
        } catch (e) {
          if (!(e instanceof DeliveryError) || e.kind !== 'retry' || waits >= MAX_WAITS) throw e;
          pausedUntil = Math.max(pausedUntil, Date.now() + (e.info.retryAfterMs ?? 1000 * 2 ** waits));
        }
      }
    },
  };
}

/** A run that cannot start: the target keeps no state (400), or the group is not linked to it (404). */
/**
 * Whether the group has changes still to be delivered to the target: open deliveries, after taking in what the
 * outbox holds for the target (events committed but not yet taken in by a worker count too).
 */
async function undelivered(store: Store, target: TargetConfig, connector: Connector, groupId: string): Promise<boolean> {
  for (let i = 0; i < 20; i++) if (!(await store.egress.ingest(target.name, target.tenant, connector.types, 10_000))) break;
  return (await store.egress.openCountOf(target.name, `group:${groupId}`)) > 0;
}

export class ReconcileRefused extends Error {
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

export async function reconcileTarget(store: Store, target: TargetConfig, connector: Connector, opts: ReconcileOptions): Promise<ReconcileReport> {
  const reader = connector.reader;
  if (!reader) throw new ReconcileRefused(400, `target "${target.name}" (${target.kind}) has no state to compare: it receives events only`);
  const startedAt = new Date().toISOString();
  let links = (await store.egress.listLinks(target.name, 'group')).filter((l) => l.tenant === target.tenant);
  if (opts.groupId !== undefined) {
    links = links.filter((l) => l.scimId === opts.groupId);
    if (!links.length) throw new ReconcileRefused(404, `group ${opts.groupId} is not linked to target "${target.name}"`);
  }
  const ctx = readContext(target, connector);
  const groups: GroupReport[] = [];
  // One group at a time: the target's rate limits see one reader, and memory holds one page.
  for (const link of links) {
    const pending = () => undelivered(store, target, connector, link.scimId);
    const report = await reconcileGroup(store, target, reader, ctx, link.scimId, link.remoteId, pending, opts).catch((e: unknown): GroupReport => ({
      groupId: link.scimId, remoteId: link.remoteId, status: 'error', error: (e as Error).message ?? String(e),
      membersCompared: false, missing: none(), extra: none(), unlinked: none(), repairs: 0,
    }));
    if (report.status === 'error') opts.log.warn({ target: target.name, group: link.scimId, error: report.error }, 'reconciliation of a group failed');
    groups.push(report);
  }
  const count = (s: GroupStatus) => groups.filter((g) => g.status === s).length;
  const summary = {
    groups: groups.length, inSync: count('in_sync'), drift: count('drift'), pending: count('pending'), missing: count('missing'),
    errors: count('error'), repairs: groups.reduce((n, g) => n + g.repairs, 0),
  };
  // A run of one group says nothing of the others: only whole runs set the gauge.
  if (opts.groupId === undefined) opts.metrics?.reconciled(target.name, summary.drift + summary.missing, summary.repairs, Date.now());
  return { target: target.name, tenant: target.tenant, dryRun: opts.dryRun, startedAt, finishedAt: new Date().toISOString(), groups, summary };
}

/**
 * RECONCILE_INTERVAL: every target that can be read is reconciled (repairs queued) once per interval, one target and
 * one group at a time; a run still going when the next is due makes that one wait. Returns a stop function.
 */
export function scheduleReconciliation(
  store: Store, targets: readonly { config: TargetConfig; connector: Connector }[], intervalMs: number, log: Logger, metrics?: ReconcileMetrics,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  let stopped = false;
  const runAll = async () => {
    for (const t of targets) {
      if (stopped || !t.connector.reader || !t.config.enabled) continue;
      try {
        const report = await reconcileTarget(store, t.config, t.connector, {
          dryRun: false, actor: { subject: 'scheduler', mount: 'scheduler', operation: 'reconcile' }, log, metrics,
        });
        log.info({ target: t.config.name, ...report.summary }, 'reconciliation finished');
      } catch (e) {
        log.warn({ target: t.config.name, err: (e as Error).message }, 'reconciliation failed');
      }
    }
  };
  const timer = setInterval(() => {
    if (running) return;
    running = runAll().finally(() => { running = undefined; });
  }, intervalMs);
  timer.unref?.();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}

async function reconcileGroup(
  store: Store, target: TargetConfig, reader: GroupReader, ctx: ReadContext, groupId: string, remoteId: string,
  pending: () => Promise<boolean>, opts: ReconcileOptions,
): Promise<GroupReport> {
  const aggregate = `group:${groupId}`;
  const base: GroupReport = { groupId, remoteId, status: 'in_sync', membersCompared: false, missing: none(), extra: none(), unlinked: none(), repairs: 0 };
  const group = await store.getGroup(target.tenant, groupId);
  if (!group) return { ...base, status: 'error', error: 'the SCIM group no longer exists (its deletion is still to be delivered, or the link is stale)' };
  base.displayName = group.displayName;
  if (await pending()) return { ...base, status: 'pending' };

  const remote = await reader.readGroup(ctx, remoteId);
  if (!remote) return { ...base, status: 'missing', error: `the target has no group ${remoteId} (deleted there, or restored from an older backup)` };

  const report = { ...base };
  const queue = async (events: ChangeEvent[]) => {
    if (opts.dryRun || !events.length) return;
    await store.queueRepairs(target.tenant, groupId, events.map((e) => ({ ...e, target: target.name })), opts.actor);
    report.repairs += events.length;
  };

  const description = typeof group.resource.description === 'string' ? group.resource.description : undefined;
  const changed: ('displayName' | 'description')[] = [];
  if (remote.name !== group.displayName) {
    report.name = { scim: group.displayName, remote: remote.name };
    changed.push('displayName');
  }
  // No description, null and "" are one state.
  const plain = (v: string | null | undefined) => (v === null || v === '' ? undefined : v);
  if (reader.describes && plain(remote.description) !== plain(description)) {
    report.description = { scim: description, remote: remote.description };
    changed.push('description');
  }

  let drift = changed.length > 0;
  if (reader.members) {
    report.membersCompared = true;
    const members = await compareMembers(store, target, reader, ctx, group, remoteId, report, queue, pending, opts);
    if (members === 'pending') return { ...base, status: 'pending' };
    drift = members || drift;
  } else if (!opts.dryRun) {
    report.repushed = await repushMembers(store, target, group.id, queue);
  }
  // A rename queued after member repairs: either order leaves the same state; this keeps one audit record last.
  if (changed.length) await queue([{ type: 'group.updated', aggregate, payload: { group: groupSummary(groupId, group), changed, reconcile: true } }]);
  report.status = drift ? 'drift' : 'in_sync';
  return report;
}

/** Writes the remote member list to the store, then reads the three differences from SQL, a page at a time. */
async function compareMembers(
  store: Store, target: TargetConfig, reader: GroupReader, ctx: ReadContext, group: GroupRecord, remoteId: string,
  report: GroupReport, queue: (events: ChangeEvent[]) => Promise<void>, pending: () => Promise<boolean>, opts: ReconcileOptions,
): Promise<boolean | 'pending'> {
  const run = randomUUID();
  const aggregate = `group:${group.id}`;
  try {
    for await (const page of reader.members!(ctx, remoteId, opts.pageSize)) await store.egress.addSeen(run, page);
    // Changes that arrived while the list was read are the deliveries' to bring, not ours.
    if (await pending()) return 'pending';
    const q = (kind: ReconcileDiffQuery['kind']): ReconcileDiffQuery => ({
      kind, target: target.name, tenant: target.tenant, groupId: group.id, run, activeOnly: target.deactivated === 'remove', limit: PAGE,
    });
    const each = async (kind: ReconcileDiffQuery['kind'], into: Difference, event?: 'group.members_added' | 'group.members_removed') => {
      let after: string | undefined;
      do {
        const page = await store.egress.reconcileDiff({ ...q(kind), after });
        into.count += page.ids.length;
        for (const id of page.ids) if (into.sample.length < SAMPLE) into.sample.push(id);
        if (event && page.ids.length) await queue([{ type: event, aggregate, payload: { groupId: group.id, userIds: page.ids, reconcile: true } }]);
        after = page.next;
      } while (after !== undefined);
    };
    // Queueing a page's repair changes nothing these queries read (membership, links, the remote list), so paging goes on.
    await each('missing', report.missing, 'group.members_added');
    await each('extra', report.extra, 'group.members_removed');
    await each('unlinked', report.unlinked);
    return report.missing.count > 0 || report.extra.count > 0;
  } finally {
    await store.egress.dropSeen(run);
  }
}

/** A target without a member listing gets the whole expected list again through its add endpoint. */
async function repushMembers(store: Store, target: TargetConfig, groupId: string, queue: (events: ChangeEvent[]) => Promise<void>): Promise<number> {
  let after: string | undefined;
  let n = 0;
  do {
    const page = await store.pageMembers(target.tenant, groupId, { after, limit: PAGE });
    let ids = page.members.map((m) => m.value);
    if (target.deactivated === 'remove' && ids.length) {
      const inactive = new Set(await store.inactiveUsers(target.tenant, ids));
      ids = ids.filter((id) => !inactive.has(id));
    }
    if (ids.length) await queue([{ type: 'group.members_added', aggregate: `group:${groupId}`, payload: { groupId, userIds: ids, reconcile: true } }]);
    n += ids.length;
    after = page.next;
  } while (after !== undefined);
  return n;
}
