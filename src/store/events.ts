// Change events written to the outbox in the same transaction as the change. Payloads carry ids and the
// attributes a connector needs; never tokens or credentials.
export type EventType =
  | 'user.created'
  | 'user.updated'
  | 'user.deactivated'
  | 'user.deleted'
  | 'group.created'
  | 'group.updated'
  | 'group.deleted'
  | 'group.members_added'
  | 'group.members_removed';

export interface ChangeEvent {
  type: EventType;
  /** 'group:<id>' or 'user:<id>': events of one aggregate are delivered in commit order. */
  aggregate: string;
  payload: Record<string, unknown>;
}

/** Member ids per event: large membership changes are split so no event row grows without bound. */
export const MEMBER_IDS_PER_EVENT = 1000;

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface GroupLike {
  displayName: string;
  externalId?: string;
  resource: Record<string, unknown>;
}

export function groupSummary(id: string, g: GroupLike) {
  return { id, displayName: g.displayName, externalId: g.externalId, description: g.resource.description };
}

/** group.updated for an attribute change, naming what changed; undefined when nothing a target sees changed. */
export function groupUpdatedEvent(id: string, prev: GroupLike, next: GroupLike): ChangeEvent | undefined {
  const changed: string[] = (['displayName', 'externalId'] as const).filter((k) => prev[k] !== next[k]);
  if (JSON.stringify(prev.resource.description) !== JSON.stringify(next.resource.description)) changed.push('description');
  if (!changed.length) return undefined;
  return {
    type: 'group.updated', aggregate: `group:${id}`,
    payload: { group: groupSummary(id, next), changed, previous: { displayName: prev.displayName } },
  };
}

/** Net member changes over one request, so "remove x, add x" is a no-op for egress; then its events. */
export class MemberDelta {
  readonly added = new Set<string>();
  readonly removed = new Set<string>();

  noteAdded(ids: string[]): void {
    for (const m of ids) if (!this.removed.delete(m)) this.added.add(m);
  }

  noteRemoved(ids: string[]): void {
    for (const m of ids) if (!this.added.delete(m)) this.removed.add(m);
  }

  get changed(): boolean {
    return this.added.size > 0 || this.removed.size > 0;
  }

  events(groupId: string): ChangeEvent[] {
    return memberEvents(groupId, [...this.added], [...this.removed]);
  }
}

export function memberEvents(groupId: string, added: string[], removed: string[]): ChangeEvent[] {
  const ev: ChangeEvent[] = [];
  for (const ids of chunk(removed, MEMBER_IDS_PER_EVENT)) {
    ev.push({ type: 'group.members_removed', aggregate: `group:${groupId}`, payload: { groupId, userIds: ids } });
  }
  for (const ids of chunk(added, MEMBER_IDS_PER_EVENT)) {
    ev.push({ type: 'group.members_added', aggregate: `group:${groupId}`, payload: { groupId, userIds: ids } });
  }
  return ev;
}
