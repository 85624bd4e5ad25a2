// The admin API: delivery targets with their health, deliveries and their attempts, replay of dead letters, and
// links. Needs a token with scope "admin"; it sees only its tenant's targets unless its tenant claim is "*".
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from 'pino';
import { authenticate, requireScope } from '../auth/middleware';
import type { Principal } from '../auth/principal';
import type { TokenVerifier } from '../auth/verify';
import { connectorFor } from '../egress/connectors';
import type { ReconcileMetrics } from '../egress/metrics';
import { ReconcileRefused, reconcileTarget } from '../egress/reconcile';
import type { TargetConfig } from '../egress/targets';
import type { DeliveryState, LinkKind } from '../store/egress-types';
import type { AuditOperation } from '../store/audit';
import type { Store } from '../store/types';
import { sendScimError } from '../http/scim-error';

export interface AdminDeps {
  store: Store;
  verifier: TokenVerifier;
  log: Logger;
  targets: TargetConfig[];
  metrics?: ReconcileMetrics;
}

const STATES: DeliveryState[] = ['pending', 'in_flight', 'done', 'skipped', 'dead'];
const KINDS: LinkKind[] = ['group', 'user'];

class AdminError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function principal(res: Response): Principal {
  return res.locals.principal as Principal;
}

/** The target, if it exists and the caller may see it; otherwise 404 (never reveals other tenants' targets). */
function visibleTarget(deps: AdminDeps, res: Response, name: string): TargetConfig {
  const p = principal(res);
  const t = deps.targets.find((x) => x.name === name);
  if (!t || (p.tenant !== '*' && p.tenant !== t.tenant)) throw new AdminError(404, `No target named "${name}"`);
  return t;
}

function visibleTargets(deps: AdminDeps, res: Response): TargetConfig[] {
  const p = principal(res);
  return deps.targets.filter((t) => p.tenant === '*' || t.tenant === p.tenant);
}

const RESOURCE_TYPES = ['User', 'Group'] as const;
const OPERATIONS: AuditOperation[] = ['create', 'replace', 'patch', 'delete', 'reconcile'];

function boolParam(v: unknown, name: string): boolean {
  if (v === undefined || v === '' || v === false || v === 'false') return false;
  if (v === true || v === 'true') return true;
  throw new AdminError(400, `${name} must be true or false`);
}

/** An ISO-8601 time as stored (UTC with milliseconds), from any form Date understands. */
function isoParam(v: string | undefined, name: string): string | undefined {
  if (v === undefined || v === '') return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new AdminError(400, `${name} must be an ISO-8601 time`);
  return new Date(t).toISOString();
}

function intParam(v: unknown, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined || v === '') return fallback;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) throw new AdminError(400, `${name} must be a non-negative integer`);
  return Math.min(Number(v), max);
}

/** Most withheld memberships one answer lists. */
const WITHHELD_MAX = 1000;

/**
 * Memberships of inactive users in the target's linked groups: SCIM members the target does not have, because the
 * target withdraws a deactivated user's access (`deactivated: "remove"`). None for a target that keeps them.
 */
async function withheld(deps: AdminDeps, t: TargetConfig): Promise<{ groupId: string; userId: string; reason: 'user inactive' }[]> {
  if (t.deactivated !== 'remove' || t.kind === 'webhook') return [];
  const groupIds = (await deps.store.egress.listLinks(t.name, 'group')).filter((l) => l.tenant === t.tenant).map((l) => l.scimId);
  if (!groupIds.length) return [];
  const rows = await deps.store.inactiveMemberships(t.tenant, groupIds, WITHHELD_MAX);
  return rows.map((r) => ({ ...r, reason: 'user inactive' as const }));
}

/** Target as shown: never its credential. */
function describe(t: TargetConfig) {
  return {
    name: t.name, kind: t.kind, tenant: t.tenant, baseUrl: t.baseUrl, enabled: t.enabled, createGroups: t.createGroups,
    deactivated: t.deactivated,
    groups: t.groups, timeoutMs: t.timeoutMs, retryScheduleMs: t.retrySchedule,
  };
}

type Handler = (req: Request, res: Response) => Promise<unknown>;
const wrap = (fn: Handler) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).then((body) => {
    if (!res.headersSent) res.json(body);
  }, next);
};

export function adminRouter(deps: AdminDeps): Router {
  const r = express.Router();
  r.use(authenticate(deps.verifier), requireScope('admin'));

  r.get('/targets', wrap(async (_req, res) => {
    const out = [];
    for (const t of visibleTargets(deps, res)) out.push({ ...describe(t), health: await deps.store.egress.stats(t.name) });
    return { targets: out };
  }));

  r.get('/targets/:target', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    return { ...describe(t), health: await deps.store.egress.stats(t.name) };
  }));

  // The target's delivery counts over the last ?minutes= (default 60, at most a day), one sample per interval.
  r.get('/targets/:target/series', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const minutes = intParam((req.query as Record<string, unknown>).minutes, 'minutes', 60, 1440);
    return { samples: await deps.store.egress.listSamples(t.name, new Date(Date.now() - minutes * 60_000).toISOString()) };
  }));

  // All dead letters of the target, or with ?state=skipped (or {"state": "skipped"}) all its skipped deliveries.
  r.post('/targets/:target/replay', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const asked = (req.query as Record<string, unknown>).state ?? (req.body as { state?: unknown } | undefined)?.state ?? 'dead';
    if (asked !== 'dead' && asked !== 'skipped') throw new AdminError(400, 'state must be dead or skipped');
    return { replayed: await deps.store.egress.replay(t.name, undefined, asked) };
  }));

  // Reconciliation (egress/reconcile.ts): ?dryRun=true reports and changes nothing; ?group=<scimId> one group.
  r.post('/reconcile/:target', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const q = req.query as Record<string, unknown>;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const group = q.group ?? body.group;
    if (group !== undefined && (typeof group !== 'string' || group === '')) throw new AdminError(400, 'group must be a SCIM group id');
    const p = principal(res);
    try {
      return await reconcileTarget(deps.store, t, connectorFor(t), {
        groupId: group as string | undefined, dryRun: boolParam(q.dryRun ?? body.dryRun, 'dryRun'), log: deps.log, metrics: deps.metrics,
        actor: { subject: p.subject, jti: p.jti, mount: '/admin', operation: 'reconcile', requestId: res.locals.requestId as string | undefined },
      });
    } catch (e) {
      if (e instanceof ReconcileRefused) throw new AdminError(e.status, e.message);
      throw e;
    }
  }));

  r.get('/deliveries', wrap(async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const state = q.state as DeliveryState | undefined;
    if (state !== undefined && !STATES.includes(state)) throw new AdminError(400, `state must be one of ${STATES.join(', ')}`);
    const targets = q.target !== undefined ? [visibleTarget(deps, res, q.target)] : visibleTargets(deps, res);
    const limit = intParam(q.limit, 'limit', 100, 1000);
    const beforeSeq = q.beforeSeq !== undefined ? intParam(q.beforeSeq, 'beforeSeq', 0) : undefined;
    const aggregate = q.group !== undefined ? `group:${q.group}` : q.user !== undefined ? `user:${q.user}` : undefined;
    const rows = [];
    for (const t of targets) rows.push(...(await deps.store.egress.listDeliveries({ target: t.name, state, aggregate, beforeSeq, limit })));
    rows.sort((a, b) => b.seq - a.seq);
    return { deliveries: rows.slice(0, limit) };
  }));

  // The audit trail, newest first. A tenant's token sees its tenant; a "*" token sees all, or one with ?tenant=.
  r.get('/audit', wrap(async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const p = principal(res);
    if (q.tenant !== undefined && p.tenant !== '*' && q.tenant !== p.tenant) return { records: [], next: null };
    const tenant = p.tenant === '*' ? q.tenant : p.tenant;
    const resourceType = q.resourceType === undefined ? undefined : RESOURCE_TYPES.find((t) => t.toLowerCase() === q.resourceType!.toLowerCase());
    if (q.resourceType !== undefined && !resourceType) throw new AdminError(400, 'resourceType must be User or Group');
    if (q.operation !== undefined && !OPERATIONS.includes(q.operation as AuditOperation)) {
      throw new AdminError(400, `operation must be one of ${OPERATIONS.join(', ')}`);
    }
    const limit = intParam(q.limit, 'limit', 100, 1000);
    const records = await deps.store.listAudit({
      tenant, resourceType, resourceId: q.resourceId, subject: q.subject, operation: q.operation as AuditOperation | undefined,
      since: isoParam(q.since, 'since'), until: isoParam(q.until, 'until'),
      beforeSeq: q.beforeSeq !== undefined ? intParam(q.beforeSeq, 'beforeSeq', 0) : undefined, limit,
    });
    return { records, next: records.length === limit ? records[records.length - 1].seq : null };
  }));

  r.get('/deliveries/:target/:seq', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const found = await deps.store.egress.getDelivery(t.name, intParam(req.params.seq, 'seq', 0));
    if (!found) throw new AdminError(404, 'No such delivery');
    return found;
  }));

  r.post('/deliveries/:target/:seq/replay', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const seq = intParam(req.params.seq, 'seq', 0);
    const n = await deps.store.egress.replay(t.name, [seq]);
    if (n === 0 && !(await deps.store.egress.getDelivery(t.name, seq))) throw new AdminError(404, 'No such delivery');
    if (n === 0) throw new AdminError(409, 'Only a dead, done or skipped delivery can be replayed');
    return { replayed: n };
  }));

  r.get('/links/:target', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const kind = req.query.kind as LinkKind | undefined;
    if (kind !== undefined && !KINDS.includes(kind)) throw new AdminError(400, 'kind must be group or user');
    const links = await deps.store.egress.listLinks(t.name, kind);
    return { links, withheld: await withheld(deps, t) };
  }));

  r.put('/links/:target/:kind/:scimId', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const kind = String(req.params.kind) as LinkKind;
    if (!KINDS.includes(kind)) throw new AdminError(400, 'kind must be group or user');
    const remoteId = (req.body as { remoteId?: unknown } | undefined)?.remoteId;
    if ((typeof remoteId !== 'string' && typeof remoteId !== 'number') || String(remoteId) === '') {
      throw new AdminError(400, 'body must be {"remoteId": "<the target\'s id>"}');
    }
    const link = { target: t.name, kind, scimId: String(req.params.scimId), tenant: t.tenant, remoteId: String(remoteId), source: 'admin' as const };
    await deps.store.egress.setLink(link);
    return { link };
  }));

  r.delete('/links/:target/:kind/:scimId', wrap(async (req, res) => {
    const t = visibleTarget(deps, res, String(req.params.target));
    const kind = String(req.params.kind) as LinkKind;
    if (!KINDS.includes(kind)) throw new AdminError(400, 'kind must be group or user');
    if (!(await deps.store.egress.removeLink(t.name, kind, String(req.params.scimId)))) throw new AdminError(404, 'No such link');
    res.status(204).end();
    return undefined;
  }));

  r.use((_req: Request, res: Response) => {
    sendScimError(res, 404, undefined, 'No such admin endpoint');
  });
  r.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof AdminError) {
      sendScimError(res, err.status, undefined, err.message);
      return;
    }
    deps.log.error({ err }, 'admin request failed');
    sendScimError(res, 500, undefined, 'The server could not complete the request; it has been logged.');
  });
  return r;
}
