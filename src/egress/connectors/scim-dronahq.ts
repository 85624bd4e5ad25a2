// DronaHQ's SCIM subset (shared/egress-targets.md §D; docs.dronahq.com /reference/scim-2-rest-api/groups/*,
// /users/list-users). What differs from RFC 7644:
// - PATCH /Groups/{id} takes a bare `{"members":[{"value":<int user id>,"display":"<email>"}]}` (no schemas, no
//   Operations). The docs say "members to add or remove" without saying how; like the gateway's dialect fixture
//   (test/fixtures/dialects/dronahq.json) and the emulator, we send the DESIRED list, whole, on every change.
// - No rename and no group externalId are documented: a displayName change is recorded as a skip, not sent.
// - POST /Groups `{displayName, members}` answers 200; a name that exists answers 400 (empty body).
// - Errors have empty bodies and use 400 where RFC 7644 has 404 (an unknown group id answers 400).
// - Users are found with `filter=userEmail eq "…"`; user ids are integers (sent as numbers in `value`).
import type { DeliveryContext } from '../connector';
import { permanent } from '../errors';
import { groupIdOf } from '../plan';
import { lookupEmail, type GroupApi } from '../group-sync';
import type { UserApi } from '../user-sync';
import { createdId, groupByName, groupPath, userByFilter } from './scim-shared';

type Member = { value: number | string; display?: string };

/** DronaHQ's examples send user ids as integers; ids that are not plain integers are sent as given. */
function memberValue(id: string): number | string {
  return /^\d+$/.test(id) && Number.isSafeInteger(Number(id)) ? Number(id) : id;
}

/** display = the user's e-mail (DronaHQ's example), taken from our own record of each linked member. */
async function displays(ctx: DeliveryContext, remoteUserIds: string[]): Promise<Map<string, string>> {
  const wanted = new Set(remoteUserIds);
  const out = new Map<string, string>();
  for (const m of await ctx.store.listMembers(ctx.batch.tenant, groupIdOf(ctx.batch.aggregate))) {
    const link = await ctx.store.egress.getLink(ctx.target.name, 'user', m.value);
    if (!link || !wanted.has(link.remoteId) || out.has(link.remoteId)) continue;
    const user = await ctx.store.getUser(ctx.batch.tenant, m.value);
    const email = user ? lookupEmail(user) : undefined;
    if (email) out.set(link.remoteId, email);
  }
  return out;
}

async function putMembers(ctx: DeliveryContext, remoteId: string, members: Member[]): Promise<void> {
  await ctx.call({ method: 'PATCH', path: groupPath(remoteId), body: { members } });
}

/** The group's members as DronaHQ has them (for the add/remove fallbacks; the shared flow uses setMembers). */
async function currentMembers(ctx: DeliveryContext, remoteId: string): Promise<Member[]> {
  const res = await ctx.call({ method: 'GET', path: groupPath(remoteId) });
  const members = res.json<{ members?: Member[] }>()?.members;
  return Array.isArray(members) ? members.filter((m) => m && (typeof m.value === 'number' || typeof m.value === 'string')) : [];
}

export const dronahqApi: GroupApi & UserApi = {
  async createGroup(ctx, attrs) {
    const displayName = attrs.displayName ?? attrs.id;
    const res = await ctx.call({ method: 'POST', path: '/Groups', body: { displayName, members: [] }, returnStatuses: [400] });
    if (res.status !== 400) return createdId(res, 'POST /Groups');
    // 400 is also DronaHQ's "the group already exists" (e.g. our earlier create whose answer was lost): link it.
    const existing = await groupByName(ctx, displayName);
    if (existing) return existing;
    throw permanent('POST /Groups answered 400', { status: 400, body: res.text });
  },

  async updateGroup(ctx, _remoteId, attrs, changed) {
    // externalId and description are not part of DronaHQ's group: nothing to keep in step.
    if (changed.has('displayName')) {
      ctx.noteSkip(`DronaHQ documents no group rename; the new displayName "${attrs.displayName ?? ''}" was not sent`);
    }
  },

  async deleteGroup(ctx, remoteId) {
    const res = await ctx.call({ method: 'DELETE', path: groupPath(remoteId), returnStatuses: [400, 404] });
    if (res.status < 400) return;
    // DronaHQ answers 400 for an unknown id, and for other refusals: done only when the group is not there.
    const check = await ctx.call({ method: 'GET', path: groupPath(remoteId), returnStatuses: [400, 404] });
    if (check.status >= 400) return;
    throw permanent(`DELETE ${groupPath(remoteId)} answered ${res.status} and the group is still there`, { status: res.status, body: res.text });
  },

  async setMembers(ctx, remoteId, remoteUserIds) {
    const unique = [...new Set(remoteUserIds)];
    const emails = await displays(ctx, unique);
    await putMembers(ctx, remoteId, unique.map((id) => {
      const display = emails.get(id);
      return display !== undefined ? { value: memberValue(id), display } : { value: memberValue(id) };
    }));
  },

  async addMembers(ctx, remoteId, remoteUserIds) {
    const current = await currentMembers(ctx, remoteId);
    const have = new Set(current.map((m) => String(m.value)));
    await putMembers(ctx, remoteId, [...current, ...remoteUserIds.filter((id) => !have.has(id)).map((id) => ({ value: memberValue(id) }))]);
  },

  async removeMembers(ctx, remoteId, remoteUserIds) {
    const gone = new Set(remoteUserIds);
    await putMembers(ctx, remoteId, (await currentMembers(ctx, remoteId)).filter((m) => !gone.has(String(m.value))));
  },

  async findUser(ctx, email) {
    return userByFilter(ctx, 'userEmail', email);
  },

  // "Enable or disable user": PATCH /Users/{id} {"Operations":[{"op":"replace","value":{"active":…}}]} → 200, empty
  // body. An unknown id answers 400 (DronaHQ's 404): gone when a GET of the user also fails.
  async setUserActive(ctx, remoteUserId, active) {
    const path = `/Users/${encodeURIComponent(remoteUserId)}`;
    const res = await ctx.call({ method: 'PATCH', path, body: { Operations: [{ op: 'replace', value: { active } }] }, returnStatuses: [400, 404] });
    if (res.status < 400) return true;
    const check = await ctx.call({ method: 'GET', path, returnStatuses: [400, 404] });
    if (check.status >= 400) return false;
    throw permanent(`PATCH ${path} answered ${res.status}`, { status: res.status, body: res.text });
  },
};
