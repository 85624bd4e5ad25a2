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
