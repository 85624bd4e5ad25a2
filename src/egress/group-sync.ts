// The delivery flow shared by every group API (SelfCommunity, Timeslot, Konstantly, downstream SCIM): coalesce
// the batch, find or create the remote group, map users to the target's ids, then rename, add, remove or delete.
// Each product supplies only its calls (GroupApi). Calls are safe to repeat: delivery is at-least-once.
import type { LinkRow } from '../store/egress-types';
import type { DeliveryContext } from './connector';
import { linksFor } from '../store/link-rules';
import { coalesce, committedAttributes, groupIdOf, type GroupAttributes } from './plan';
import { groupLinkRules } from './targets';
import { skip } from './errors';

export interface GroupApi {
  createGroup(ctx: DeliveryContext, attrs: GroupAttributes): Promise<string>;
  /** `changed` names what changed; `attrs` carries the current values (some APIs need the name on every update). */
  updateGroup(ctx: DeliveryContext, remoteId: string, attrs: GroupAttributes, changed: Set<'displayName' | 'description' | 'externalId'>): Promise<void>;
  deleteGroup(ctx: DeliveryContext, remoteId: string): Promise<void>;
  addMembers(ctx: DeliveryContext, remoteId: string, remoteUserIds: string[]): Promise<void>;
  removeMembers(ctx: DeliveryContext, remoteId: string, remoteUserIds: string[]): Promise<void>;
  /** The target's id of the user with this e-mail, or undefined when it has none. */
  findUser(ctx: DeliveryContext, email: string): Promise<string | undefined>;
  /** Set when the target wants the whole member list on every change (DronaHQ's bare PATCH body). */
  setMembers?(ctx: DeliveryContext, remoteId: string, remoteUserIds: string[]): Promise<void>;
}

/** The user's address for lookups: primary e-mail, else the first, else a userName that is an e-mail. */
export function lookupEmail(user: { userName: string; resource: Record<string, unknown> }): string | undefined {
  const emails = Array.isArray(user.resource.emails) ? (user.resource.emails as { value?: unknown; primary?: unknown }[]) : [];
  const valid = emails.filter((e) => typeof e?.value === 'string' && e.value !== '');
  const chosen = valid.find((e) => e.primary === true) ?? valid[0];
  if (chosen) return chosen.value as string;
  return /^[^@\s]+@[^@\s]+$/.test(user.userName) ? user.userName : undefined;
}

/**
 * The group's link to this target. The store resolves configured mappings when a change commits and stores the link
 * (link-rules.ts), so this is normally the stored link. Events committed by a process that did not have the mapping
 * yet are matched here against the attributes they carry as committed, never against the group as it is now: a
 * group created as "Sales" and renamed before its first delivery is still the group the operator meant.
 */
async function groupLink(ctx: DeliveryContext): Promise<LinkRow | undefined> {
  const { target } = ctx;
  const stored = await ctx.store.egress.getLink(target.name, 'group', groupIdOf(ctx.batch.aggregate));
  if (stored) return stored;
  const rules = groupLinkRules([target]);
  for (const e of ctx.batch.events) {
    const attrs = committedAttributes(e);
    const hit = attrs && linksFor(rules, ctx.batch.tenant, attrs)[0];
    if (!hit) continue;
    const link = { target: target.name, kind: 'group' as const, scimId: attrs.id, tenant: ctx.batch.tenant, remoteId: hit.remoteId, source: 'config' as const };
    await ctx.store.egress.setLink(link);
    return { ...link, created: new Date().toISOString() };
  }
  return undefined;
}

async function currentAttributes(ctx: DeliveryContext, groupId: string): Promise<GroupAttributes | undefined> {
  const g = await ctx.store.getGroup(ctx.batch.tenant, groupId);
  if (!g) return undefined;
  const description = typeof g.resource.description === 'string' ? g.resource.description : undefined;
  return { id: g.id, displayName: g.displayName, externalId: g.externalId, description };
}

/**
 * Maps SCIM user ids to the target's ids: stored links first, then the target's e-mail lookup (remembered). A user
 * the target cannot be asked about, or does not have, is left out: a recorded skip when it was to be added (or its
 * access withdrawn: `skipUnknown`), silently for an ordinary removal.
 */
async function remoteUsers(ctx: DeliveryContext, api: GroupApi, userIds: string[], skipUnknown: (id: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const userId of userIds) {
    const link = await ctx.store.egress.getLink(ctx.target.name, 'user', userId);
    if (link) {
      out.push(link.remoteId);
      continue;
    }
    const user = await ctx.store.getUser(ctx.batch.tenant, userId);
    const email = user ? lookupEmail(user) : undefined;
    if (!email) {
      if (skipUnknown(userId)) ctx.noteSkip(`user ${userId} has no e-mail address to find it at the target`);
      continue;
    }
    const remoteId = await api.findUser(ctx, email);
    if (remoteId === undefined) {
      // Not an error of the event: the user may be provisioned at the target later; replaying retries it.
      if (skipUnknown(userId)) ctx.noteSkip(`user ${userId} was not found at the target`);
      continue;
    }
    await ctx.store.egress.setLink({ target: ctx.target.name, kind: 'user', scimId: userId, tenant: ctx.batch.tenant, remoteId, source: 'lookup' });
    out.push(remoteId);
  }
  return out;
}

const always = () => true;

/** With deprovisioning, inactive users get no target membership: the ids of active users only. */
async function activeOnly(ctx: DeliveryContext, ids: string[]): Promise<string[]> {
  if (ctx.target.deactivated !== 'remove' || !ids.length) return ids;
  const inactive = new Set(await ctx.store.inactiveUsers(ctx.batch.tenant, ids));
  return inactive.size ? ids.filter((id) => !inactive.has(id)) : ids;
}

export async function deliverGroupBatch(ctx: DeliveryContext, api: GroupApi): Promise<void> {
  const set = coalesce(ctx.batch.aggregate, ctx.batch.events, { deprovision: ctx.target.deactivated === 'remove' });
  let link = await groupLink(ctx);

  if (set.deleted) {
    if (!link) throw skip('the group is not linked to this target');
    await api.deleteGroup(ctx, link.remoteId);
    await ctx.store.egress.removeLink(ctx.target.name, 'group', set.groupId);
    return;
  }

  let createdNow = false;
  if (!link) {
    if (!ctx.target.createGroups) throw skip('the group is not linked to this target (no mapping, and createGroups is off)');
    const attrs = set.attributes ?? (await currentAttributes(ctx, set.groupId));
    if (!attrs) throw skip('the group no longer exists');
    const remoteId = await api.createGroup(ctx, attrs);
    await ctx.store.egress.setLink({ target: ctx.target.name, kind: 'group', scimId: set.groupId, tenant: ctx.batch.tenant, remoteId, source: 'created' });
    link = { target: ctx.target.name, kind: 'group', scimId: set.groupId, tenant: ctx.batch.tenant, remoteId, source: 'created', created: '' };
    createdNow = true;
  }

  if (set.changed.size && !createdNow) {
    const attrs = set.attributes ?? (await currentAttributes(ctx, set.groupId));
    if (attrs) await api.updateGroup(ctx, link.remoteId, attrs, set.changed);
  }

  // The target's membership is the SCIM membership without inactive users (the state as of delivery: every later
  // change of a user's `active` queues its own event for this group).
  if (api.setMembers && (set.add.length || set.remove.length)) {
    const members = await activeOnly(ctx, (await ctx.store.listMembers(ctx.batch.tenant, set.groupId)).map((m) => m.value));
    await api.setMembers(ctx, link.remoteId, await remoteUsers(ctx, api, members, always));
    if (set.withdrawn.length) ctx.noteDeprovisioned(set.withdrawn.length);
    return;
  }
  const add = await activeOnly(ctx, set.add);
  if (add.length) {
    const ids = await remoteUsers(ctx, api, add, always);
    if (ids.length) await api.addMembers(ctx, link.remoteId, ids);
  }
  if (set.remove.length) {
    const withdrawn = new Set(set.withdrawn);
    const ordinary = set.remove.filter((id) => !withdrawn.has(id));
    const ids = await remoteUsers(ctx, api, ordinary, () => false);
    const gone = await remoteUsers(ctx, api, set.withdrawn, always);
    if (ids.length || gone.length) await api.removeMembers(ctx, link.remoteId, [...ids, ...gone]);
    if (gone.length) ctx.noteDeprovisioned(gone.length);
  }
}
