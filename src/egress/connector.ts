// What a connector is given for one claimed batch, and what it must provide.
import type { Logger } from 'pino';
import type { ClaimedBatch } from '../store/egress-types';
import type { EventType } from '../store/events';
import type { Store } from '../store/types';
import type { CallResult, CallSpec } from './http';

/** Calls to a target outside any delivery (reconciliation reads): base URL, auth and timeout applied, not recorded. */
export interface ReadContext {
  call(spec: CallSpec): Promise<CallResult>;
}

/** A group as the target holds it. */
export interface RemoteGroup {
  name?: string;
  description?: string | null;
}

/** A group's name and description from a target's JSON answer (fields named as the target names them). */
export function remoteGroupOf(body: unknown, nameField: string): RemoteGroup {
  const o = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { name: text(o[nameField]), description: text(o.description) ?? null };
}

/** How reconciliation reads a target, through its documented read APIs. */
export interface GroupReader {
  /** The group, or undefined when the target has no such group (404). */
  readGroup(ctx: ReadContext, remoteId: string): Promise<RemoteGroup | undefined>;
  /** The group's member ids (the target's user ids), a page at a time; absent when the API cannot list them. */
  members?(ctx: ReadContext, remoteId: string, pageSize?: number): AsyncIterable<string[]>;
  /** Whether the target keeps a group description (compared and repaired only then). */
  describes: boolean;
}
import type { TargetConfig } from './targets';

export interface DeliveryContext {
  target: TargetConfig;
  batch: ClaimedBatch;
  store: Store;
  log: Logger;
  /** An HTTP call to the target (base URL and auth applied), recorded as an attempt. */
  call(spec: CallSpec): Promise<CallResult>;
  /** Records a skipped part of the batch (e.g. a member whose user the target does not have). */
  noteSkip(reason: string): void;
  /** Marks events done before the batch ends (webhooks deliver one event at a time). */
  completed(seqs: number[]): void;
  /** Counts users whose access this batch withdrew because they were deactivated (reported once the batch succeeds). */
  noteDeprovisioned(users: number): void;
}

export interface Connector {
  /** Event types this target receives; others are never queued for it. */
  readonly types: readonly EventType[];
  /** Headers that authenticate every call. */
  authHeaders(): Record<string, string>;
  deliver(ctx: DeliveryContext): Promise<void>;
  /** How reconciliation reads this target; none for targets that only receive events (webhooks). */
  reader?: GroupReader;
}

const GROUP_EVENTS: readonly EventType[] = [
  'group.created', 'group.updated', 'group.deleted', 'group.members_added', 'group.members_removed',
];

/** A user's deactivation and reactivation, in each of its groups' streams (deprovisioning at group targets). */
const ACCESS_EVENTS: readonly EventType[] = ['group.members_deactivated', 'group.members_reactivated'];

/** What a group target takes in: group changes, plus access changes unless it keeps deactivated users' memberships. */
export function groupTargetEvents(target: TargetConfig): readonly EventType[] {
  return target.deactivated === 'remove' ? [...GROUP_EVENTS, ...ACCESS_EVENTS] : GROUP_EVENTS;
}

/** What a webhook receives: every SCIM change as it happened (access events are derived from user.deactivated). */
export const ALL_EVENTS: readonly EventType[] = [
  ...GROUP_EVENTS, 'user.created', 'user.updated', 'user.deactivated', 'user.deleted',
];
