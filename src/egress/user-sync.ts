// A user's deactivation and reactivation at a downstream SCIM target that has the user (found by e-mail, as group
// members are, and remembered as a user link): `active` is set there too, so the person loses access there as
// well as in its groups. Only the latest of the batch's deactivation or reactivation matters; other user updates
// change nothing here (the gateway does not provision users downstream).
import type { DeliveryContext } from './connector';
import { skip } from './errors';
import { lookupEmail } from './group-sync';

export interface UserApi {
  findUser(ctx: DeliveryContext, email: string): Promise<string | undefined>;
  /** Sets `active` on the target's user; false when the target has no such user (any more). */
  setUserActive(ctx: DeliveryContext, remoteUserId: string, active: boolean): Promise<boolean>;
}

interface UserSummary {
  id: string;
  userName?: string;
  emails?: { value?: string; primary?: boolean }[];
}

/** The `active` the batch leaves the user with, and the user as last committed; undefined when active did not change. */
function desiredActive(ctx: DeliveryContext): { active: boolean; user: UserSummary } | undefined {
  let out: { active: boolean; user: UserSummary } | undefined;
  for (const e of ctx.batch.events) {
    const user = e.payload.user as UserSummary | undefined;
    if (!user) continue;
    if (e.type === 'user.deactivated') out = { active: false, user };
    else if (e.type === 'user.updated' && e.payload.reactivated === true) out = { active: true, user };
  }
  return out;
}

export async function deliverUserBatch(ctx: DeliveryContext, api: UserApi): Promise<void> {
  const want = desiredActive(ctx);
  if (!want) return;
  const { target, batch } = ctx;
  const scimId = want.user.id;
  let remoteId = (await ctx.store.egress.getLink(target.name, 'user', scimId))?.remoteId;
  if (remoteId === undefined) {
    const email = lookupEmail({ userName: want.user.userName ?? '', resource: { emails: want.user.emails ?? [] } });
    if (!email) throw skip(`user ${scimId} has no e-mail address to find it at the target`);
    remoteId = await api.findUser(ctx, email);
    // No access to withdraw there: a recorded skip, not a failure (replaying looks again).
    if (remoteId === undefined) throw skip(`user ${scimId} was not found at the target`);
    await ctx.store.egress.setLink({ target: target.name, kind: 'user', scimId, tenant: batch.tenant, remoteId, source: 'lookup' });
  }
  if (!(await api.setUserActive(ctx, remoteId, want.active))) {
    await ctx.store.egress.removeLink(target.name, 'user', scimId);
    throw skip(`user ${scimId} (target id ${remoteId}) no longer exists at the target`);
  }
}
