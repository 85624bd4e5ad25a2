// POST /Bulk (RFC 7644 §3.7). Each operation is the same SCIM write its request alone would be: the same handler
// (ScimUser / ScimGroup), tenant, scopes, If-Match version check, member cap, outbox events and audit record (with
// the operation's own method), and it commits or fails on its own. The request as a whole is not atomic, as the
// RFC makes it: operations before a failure stay committed.
//
// Speed comes from running consecutive operations of one kind that cannot affect each other together (bulk-plan.ts
// says which), through the view of the store that store.together() hands out: on SQLite their writes land in one
// group commit, one transaction; on PostgreSQL in shared transactions of up to 64 writes, a savepoint each. With
// failOnErrors, a round never holds more operations than the errors still allowed, so no operation runs after the one
// that ends the request.
import type { NextFunction, Request, Response } from 'express';
import { operationOf } from '../store/audit';
import type { ScimContext } from './context';
import { conflictKeys, planExecution, resolveReferences, type ExecutionPlan } from './bulk-plan';
import { BULK_RESPONSE, parseBulkRequest, type BulkLimits, type BulkOperation } from './bulk-request';
import { ScimHttpError, toScimError } from './errors';
import { patchGroup, ScimGroup } from './groups';
import { ScimUser } from './users';

interface OperationAnswer {
  method: string;
  bulkId?: string;
  location?: string;
  version?: string;
  status: string;
  response?: unknown;
}

/** An operation ready to run: references resolved. */
interface Ready {
  op: BulkOperation;
  id?: string;
  data?: unknown;
}

/** Most operations one round runs at once (bounds the promises and, on PostgreSQL, the queue on the pool). */
const ROUND_MAX = 1000;

export function bulkRoute(limits: BulkLimits) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const ctx = res.locals.scim as ScimContext;
      const request = parseBulkRequest(req.body, limits);
      const answers = await runBulk(ctx, request.operations, request.failOnErrors, res.locals.base as string);
      res.status(200).json({ schemas: [BULK_RESPONSE], Operations: answers });
    } catch (e) {
      next(e);
    }
  };
}

async function runBulk(ctx: ScimContext, ops: BulkOperation[], failOnErrors: number | undefined, base: string): Promise<OperationAnswer[]> {
  const plan = planExecution(ops);
  const answers: (OperationAnswer | undefined)[] = new Array(ops.length);
  const created = new Map<string, string>(); // bulkId → id
  const failed = new Set<string>(); // bulkIds whose POST failed
  let errors = 0;
  const stopped = () => failOnErrors !== undefined && errors >= failOnErrors;

  let round: Ready[] = [];
  const kindOf = (op: BulkOperation) => `${op.method} ${op.resourceType}`;
  const roundKeys = new Set<string>();
  const roundBulkIds = new Set<string>();

  const record = (op: BulkOperation, answer: OperationAnswer) => {
    answers[op.index] = answer;
    if (Number(answer.status) >= 400) {
      errors++;
      if (op.bulkId !== undefined && op.method === 'POST') failed.add(op.bulkId);
    }
  };
  const flush = async () => {
    if (!round.length) return;
    const batch = round;
    round = [];
    roundKeys.clear();
    roundBulkIds.clear();
    const results = await ctx.store.together((store) => {
      const inRound: ScimContext = { ...ctx, store };
      return Promise.all(batch.map((r) => execute(inRound, r, base)));
    });
    batch.forEach((r, i) => {
      const { answer, id } = results[i];
      record(r.op, answer);
      if (r.op.method === 'POST' && r.op.bulkId !== undefined && id !== undefined) created.set(r.op.bulkId, id);
    });
  };

  for (const index of plan.order) {
    if (stopped()) break;
    const op = ops[index];
    const refs = plan.references.get(index) ?? [];
    // An operation waits for the round that creates what it refers to.
    if (refs.some((b) => roundBulkIds.has(b))) await flush();
    if (stopped()) break;
    const refusal = op.invalid ?? refusalOf(plan, op, failed);
    if (refusal) {
      // With failOnErrors, errors count in request order: the round before this one settles first.
      if (failOnErrors !== undefined) await flush();
      if (stopped()) break;
      record(op, errorAnswer(op, refusal, base));
      continue;
    }
    const ready: Ready = {
      op,
      id: op.id === undefined ? undefined : resolveReferences(op.id, created),
      data: refs.length ? resolveReferences(op.data, created) : op.data,
    };
    const keys = conflictKeys(op, ready.id);
    if (round.length && (kindOf(op) !== kindOf(round[0].op) || round.length >= ROUND_MAX || keys.some((k) => roundKeys.has(k)))) await flush();
    if (stopped()) break;
    round.push(ready);
    for (const k of keys) roundKeys.add(k);
    if (op.bulkId !== undefined) roundBulkIds.add(op.bulkId);
    // A round holds at most as many operations as errors are still allowed: the last error can only be its last.
    if (failOnErrors !== undefined && round.length >= failOnErrors - errors) await flush();
  }
  await flush();
  return answers.filter((a): a is OperationAnswer => a !== undefined);
}

/** Why an operation cannot run for its references: one names no POST (400), closes a cycle or names a failed POST (409). */
function refusalOf(plan: ExecutionPlan, op: BulkOperation, failed: ReadonlySet<string>): ScimHttpError | undefined {
  const stuck = plan.unresolvable.get(op.index);
  if (stuck?.status === 400) {
    return new ScimHttpError(400, 'invalidValue', `"bulkId:${stuck.bulkId}" names no POST operation of this request`);
  }
  if (stuck) {
    return new ScimHttpError(409, undefined, `"bulkId:${stuck.bulkId}" is part of a circular reference that cannot be resolved`);
  }
  const dead = (plan.references.get(op.index) ?? []).find((b) => failed.has(b));
  if (dead !== undefined) return new ScimHttpError(409, undefined, `"bulkId:${dead}" names a POST operation of this request that failed`);
  return undefined;
}

function locationOf(base: string, type: string | undefined, id: string | undefined): string | undefined {
  return type && id !== undefined && !/^bulkid:/i.test(id) ? `${base}/${type}s/${encodeURIComponent(id)}` : undefined;
}

/** An answer with its members in the order of RFC 7644's examples; absent ones left out. */
function answerOf(a: OperationAnswer): OperationAnswer {
  const out: Partial<OperationAnswer> = {};
  if (a.location !== undefined) out.location = a.location;
  out.method = a.method;
  if (a.bulkId !== undefined) out.bulkId = a.bulkId;
  if (a.version !== undefined) out.version = a.version;
  out.status = a.status;
  if (a.response !== undefined) out.response = a.response;
  return out as OperationAnswer;
}

function errorAnswer(op: BulkOperation, e: unknown, base: string, id = op.id): OperationAnswer {
  const body = toScimError(e).body;
  // RFC 7644 §3.7.3: a failed POST has no location; a failed PUT, PATCH or DELETE names the resource it aimed at.
  const location = op.method === 'POST' ? undefined : locationOf(base, op.resourceType, id);
  return answerOf({ location, method: op.method, bulkId: op.bulkId, status: body.status, response: body });
}

/** Runs one operation through the handler its request alone would reach; never throws. */
async function execute(parent: ScimContext, r: Ready, base: string): Promise<{ answer: OperationAnswer; id?: string }> {
  const { op } = r;
  const query: ScimContext['query'] = {};
  const ctx: ScimContext = {
    ...parent, query, ifMatch: op.ifMatch, error: undefined, etag: undefined, bodyless: true,
    actor: parent.actor ? { ...parent.actor, operation: operationOf(op.method)! } : undefined,
  };
  try {
    let shown: { id?: string; meta?: { version?: string } } | undefined;
    let status = op.method === 'POST' ? 201 : op.method === 'DELETE' ? 204 : 200;
    if (op.resourceType === 'Group' && op.method === 'PATCH') {
      shown = await patchGroup(ctx, r.id, r.data) as typeof shown;
      if (!shown) status = 204;
    } else {
      const Resource = op.resourceType === 'User' ? ScimUser : ScimGroup;
      // scimmy reads (query) alone as the query of a request without an id.
      const resource = r.id === undefined ? new Resource(query as never) : new Resource(r.id, query);
      if (op.method === 'DELETE') await resource.dispose(ctx);
      else shown = await (op.method === 'PATCH' ? resource.patch(r.data, ctx) : resource.write(r.data, ctx));
    }
    const id = shown?.id ?? r.id;
    const version = op.method === 'DELETE' ? undefined : shown?.meta?.version ?? ctx.etag;
    const location = locationOf(base, op.resourceType, id);
    return { answer: answerOf({ location, method: op.method, bulkId: op.bulkId, version, status: String(status) }), id };
  } catch (e) {
    const cause = ctx.error ?? e;
    if (toScimError(cause).internal) parent.log.error({ err: e, tenant: parent.tenant, operation: op.index }, 'Bulk operation failed');
    return { answer: errorAnswer(op, cause, base, r.id) };
  }
}
