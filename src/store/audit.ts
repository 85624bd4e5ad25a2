// The audit trail: who changed what through SCIM. The request's actor (token subject and jti, mount, operation,
// request id) is passed with each store write (WriteOptions.actor; explicitly, since AsyncLocalStorage slows every
// promise on Node 20), and the store writes one audit record per write in the same transaction as the change, so
// the trail holds exactly the committed writes. Writes without an actor (the CLI, seeding scripts) are not audited.
import type { ChangeEvent } from './events';

export type AuditOperation = 'create' | 'replace' | 'patch' | 'delete' | 'reconcile';

export interface AuditActor {
  subject?: string;
  jti?: string;
  mount: string;
  operation: AuditOperation;
  requestId?: string;
}

/** What a store write tells the audit trail about itself, beside its change events. */
export interface AuditTarget {
  type: 'User' | 'Group';
  id: string;
  /** Top-level attributes whose value changed (created ones on create). */
  attributes?: string[];
}

/** What a reconciliation's repairs of one group are audited as: the group, and the attributes they set again. */
export function repairTarget(groupId: string, events: ChangeEvent[]): AuditTarget {
  return { type: 'Group', id: groupId, attributes: [...new Set(events.flatMap((e) => (e.payload.changed as string[] | undefined) ?? []))] };
}

export interface AuditSummary {
  attributes?: string[];
  membersAdded?: string[];
  membersRemoved?: string[];
  /** Groups a deleted user was removed from. */
  groupsLeft?: string[];
  /** The user's `active` turned false / true in this write. */
  deactivated?: true;
  reactivated?: true;
  /** Groups whose targets withdraw (deactivation) or restore (reactivation) the user's access; SCIM membership stays. */
  accessWithdrawn?: string[];
  accessRestored?: string[];
  /** A reconciliation: the target its repairs were queued for. */
  target?: string;
}

export interface AuditRecord {
  seq: number;
  at: string;
  tenant: string;
  subject?: string;
  jti?: string;
  mount: string;
  operation: AuditOperation;
  resourceType: 'User' | 'Group';
  resourceId: string;
  requestId?: string;
  summary: AuditSummary;
}

export interface AuditQuery {
  tenant?: string;
  resourceType?: 'User' | 'Group';
  resourceId?: string;
  subject?: string;
  operation?: AuditOperation;
  /** ISO times, inclusive since and exclusive until. */
  since?: string;
  until?: string;
  /** Newest first; the next page starts below this seq. */
  beforeSeq?: number;
  limit: number;
}

/** The audit summary of one write, from its change events. */
export function auditSummary(target: AuditTarget, events: ChangeEvent[]): AuditSummary {
  const summary: AuditSummary = {};
  if (target.attributes?.length) summary.attributes = [...target.attributes].sort();
  const own = `group:${target.id}`;
  for (const e of events) {
    if (e.target !== undefined) summary.target = e.target;
    const ids = (e.payload as { userIds?: string[] }).userIds ?? [];
    if (e.type === 'group.members_added' && e.aggregate === own) (summary.membersAdded ??= []).push(...ids);
    else if (e.type === 'group.members_removed' && e.aggregate === own) (summary.membersRemoved ??= []).push(...ids);
    else if (e.type === 'group.members_removed' && target.type === 'User') (summary.groupsLeft ??= []).push(e.aggregate.slice('group:'.length));
    else if (e.type === 'user.deactivated') summary.deactivated = true;
    else if (e.type === 'user.updated' && (e.payload as { reactivated?: boolean }).reactivated) summary.reactivated = true;
    else if (e.type === 'group.members_deactivated') (summary.accessWithdrawn ??= []).push(e.aggregate.slice('group:'.length));
    else if (e.type === 'group.members_reactivated') (summary.accessRestored ??= []).push(e.aggregate.slice('group:'.length));
  }
  return summary;
}

/** Top-level attribute names whose JSON differs between two resources (the names as the client wrote them). */
export function changedAttributes(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
}

/** The operation a SCIM request performs, by method. */
export function operationOf(method: string): AuditOperation | undefined {
  switch (method) {
    case 'POST': return 'create';
    case 'PUT': return 'replace';
    case 'PATCH': return 'patch';
    case 'DELETE': return 'delete';
    default: return undefined;
  }
}
