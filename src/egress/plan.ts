// Coalescing: the open events of one group for one target, in commit order, reduced to the fewest changes that
// leave the target in the same final state. Pure; the connectors turn the result into calls.
import type { QueuedEvent } from '../store/egress-types';

export interface GroupAttributes {
  id: string;
  displayName?: string;
  externalId?: string;
  description?: string;
}

type AttributeName = 'displayName' | 'description' | 'externalId';

export interface GroupChangeSet {
  groupId: string;
  /** A group.created event is in the batch (the group is new to this target unless linked by configuration). */
  created: boolean;
  /** The latest attributes seen in the batch. */
  attributes?: GroupAttributes;
  /** Attributes changed by group.updated events (after any creation). */
  changed: Set<AttributeName>;
  deleted?: GroupAttributes;
  /** Net member changes: disjoint sets. */
  add: string[];
  remove: string[];
  /** Those of `remove` whose access is withdrawn because the user was deactivated (still SCIM members). */
  withdrawn: string[];
  seqs: number[];
}

export interface CoalesceOptions {
  /** Deactivation withdraws access (members_deactivated removes, members_reactivated adds); otherwise both are ignored. */
  deprovision?: boolean;
}

export function groupIdOf(aggregate: string): string {
  return aggregate.startsWith('group:') ? aggregate.slice('group:'.length) : aggregate;
}

/** The group's attributes an event carries as committed (created, updated, deleted), if any. */
export function committedAttributes(e: QueuedEvent): GroupAttributes | undefined {
  return e.type === 'group.created' || e.type === 'group.updated' || e.type === 'group.deleted' ? attrs(e.payload) : undefined;
}

function attrs(payload: Record<string, unknown>): GroupAttributes | undefined {
  const g = (payload.group ?? payload) as Record<string, unknown>;
  if (typeof g.id !== 'string') return undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { id: g.id, displayName: str(g.displayName), externalId: str(g.externalId), description: str(g.description) };
}

export function coalesce(aggregate: string, events: QueuedEvent[], opts: CoalesceOptions = {}): GroupChangeSet {
  const set: GroupChangeSet = { groupId: groupIdOf(aggregate), created: false, changed: new Set(), add: [], remove: [], withdrawn: [], seqs: [] };
  const add = new Set<string>();
  const remove = new Set<string>();
  const withdrawn = new Set<string>();
  const ids = (e: QueuedEvent) => (e.payload.userIds as string[] | undefined) ?? [];
  const added = (id: string) => {
    remove.delete(id);
    withdrawn.delete(id);
    add.add(id);
  };
  /** `withdraw`: removed because the user was deactivated (an identity-provider removal is an ordinary one). */
  const removed = (id: string, withdraw: boolean) => {
    add.delete(id);
    remove.add(id);
    if (withdraw) withdrawn.add(id);
    else withdrawn.delete(id);
  };
  for (const e of events) {
    set.seqs.push(e.seq);
    switch (e.type) {
      case 'group.created':
        set.created = true;
        set.attributes = attrs(e.payload) ?? set.attributes;
        break;
      case 'group.updated': {
        set.attributes = attrs(e.payload) ?? set.attributes;
        const changed = Array.isArray(e.payload.changed) ? (e.payload.changed as AttributeName[]) : [];
        for (const c of changed) set.changed.add(c);
        break;
      }
      case 'group.members_added':
        for (const id of ids(e)) added(id);
        break;
      case 'group.members_removed':
        for (const id of ids(e)) removed(id, false);
        break;
      case 'group.members_deactivated':
        if (opts.deprovision) for (const id of ids(e)) removed(id, true);
        break;
      case 'group.members_reactivated':
        if (opts.deprovision) for (const id of ids(e)) added(id);
        break;
      case 'group.deleted':
        set.deleted = attrs(e.payload) ?? { id: set.groupId };
        break;
      default:
        break;
    }
  }
  if (set.deleted) {
    // Nothing before a delete matters to the target.
    add.clear();
    remove.clear();
    withdrawn.clear();
    set.changed.clear();
  }
  set.add = [...add];
  set.remove = [...remove];
  set.withdrawn = [...withdrawn];
  return set;
}
