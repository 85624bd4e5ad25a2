// Change events written to the outbox in the same transaction as the change. Payloads carry ids and the
// attributes a connector needs; never tokens or credentials.
import type { UserInput } from './types';

export type EventType =
  | 'user.created'
  | 'user.updated'
  | 'user.deactivated'
  | 'user.deleted'
  | 'group.created'
  | 'group.updated'
  | 'group.deleted'
  | 'group.members_added'
  | 'group.members_removed'
  | 'group.members_deactivated'
  | 'group.members_reactivated';

export interface ChangeEvent {
  type: EventType;
  /** 'group:<id>' or 'user:<id>': events of one aggregate are delivered in commit order. */
  aggregate: string;
  payload: Record<string, unknown>;
  /** Addressed to this target only (a reconciliation repair); otherwise every target that takes the type. */
  target?: string;
}

/** Member ids per event: large membership changes are split so no event row grows without bound. */
export const MEMBER_IDS_PER_EVENT = 1000;

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface GroupLike {
  displayName: string;
  externalId?: string;
  resource: Record<string, unknown>;
}

/** The user as its change events carry it (never a password: UserInput has none). */
export function userSummary(id: string, input: UserInput) {
  return {
    id, userName: input.userName, externalId: input.externalId, displayName: input.displayName,
    active: input.active, emails: input.emails.map((e) => ({ value: e.value, type: e.type, primary: !!e.primary })),
  };
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

/**
 * Net member changes over one request, so "remove x, add x" is a no-op for egress; then its events. The ids of
 * each step are already distinct, so a request with one membership step (nearly all) keeps its list as it is;
 * sets are built only when a second step has to be netted against the first.
 */
export class MemberDelta {
  private addedSet?: Set<string>;
  private removedSet?: Set<string>;
  private only?: { kind: 'added' | 'removed'; ids: string[] };

  noteAdded(ids: string[]): void {
    this.note('added', ids);
  }

  noteRemoved(ids: string[]): void {
    this.note('removed', ids);
  }

  private note(kind: 'added' | 'removed', ids: string[]): void {
    if (ids.length === 0) return;
    if (!this.only && !this.addedSet) {
      this.only = { kind, ids };
      return;
    }
    const [mine, other] = this.sets(kind);
    for (const m of ids) if (!other.delete(m)) mine.add(m);
  }

  private sets(kind: 'added' | 'removed'): [Set<string>, Set<string>] {
    if (!this.addedSet || !this.removedSet) {
      this.addedSet = new Set(this.only?.kind === 'added' ? this.only.ids : []);
      this.removedSet = new Set(this.only?.kind === 'removed' ? this.only.ids : []);
      this.only = undefined;
    }
    return kind === 'added' ? [this.addedSet, this.removedSet] : [this.removedSet, this.addedSet];
  }

  // Netted sets come back sorted by id, like each step's list (the stores answer member ids sorted).
  get added(): string[] {
    return this.only ? (this.only.kind === 'added' ? this.only.ids : []) : [...(this.addedSet ?? [])].sort();
  }

  get removed(): string[] {
    return this.only ? (this.only.kind === 'removed' ? this.only.ids : []) : [...(this.removedSet ?? [])].sort();
  }

  get changed(): boolean {
    return this.only !== undefined || (this.addedSet?.size ?? 0) > 0 || (this.removedSet?.size ?? 0) > 0;
  }

  events(groupId: string): ChangeEvent[] {
    return memberEvents(groupId, this.added, this.removed);
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

/**
 * A user's `active` turned false (or true again): one event in each of the user's groups, so that group targets
 * withdraw (or restore) the user's access in that group's commit order. The SCIM membership does not change; the
 * events say only that these members are now inactive (or active again). Groups in id order.
 */
function accessEvents(userId: string, groupIds: readonly string[], active: boolean): ChangeEvent[] {
  const type = active ? 'group.members_reactivated' : 'group.members_deactivated';
  return [...groupIds].sort().map((groupId) => ({ type, aggregate: `group:${groupId}`, payload: { groupId, userIds: [userId] } }));
}

/**
 * The events of a user update: user.updated (marked `reactivated` when `active` turned true again), user.deactivated
 * when it turned false, then one access event in each of the user's groups (`groupIds`, which the store reads only
 * when `active` changed).
 */
export function userUpdateEvents(user: { id: string; active: boolean }, wasActive: boolean, groupIds: readonly string[]): ChangeEvent[] {
  const aggregate = `user:${user.id}`;
  const reactivated = !wasActive && user.active;
  const events: ChangeEvent[] = [{ type: 'user.updated', aggregate, payload: reactivated ? { user, reactivated: true } : { user } }];
  if (wasActive === user.active) return events;
  if (!user.active) events.push({ type: 'user.deactivated', aggregate, payload: { user } });
  return [...events, ...accessEvents(user.id, groupIds, user.active)];
}
