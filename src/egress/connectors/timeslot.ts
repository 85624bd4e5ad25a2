// Timeslot v1 groups (shared/egress-targets.md §B; repo fmaymone/timeslot-api, rspec_api_documentation output in
// doc/api/v1/, integer-id docs @ 07d8bb69). Auth `Authorization: Token token=<authToken>` (application_controller.rb);
// JSON bodies. User ids are integers and are sent as numbers. Group `description` does not exist in the v1 docs this
// follows (it came with the 2016 UUID API), so description changes are not sent.
//   create  POST   /v1/groups {name} (max 255) → 201 Group            groups/create_a_new_group.markdown
//   rename  PATCH  /v1/groups/:id {name} (max 255) → 200; 422        groups/update_data_for_existing_group.markdown
//   delete  DELETE /v1/groups/:id → 200 (soft delete; 404 afterwards) groups/delete_group.markdown
//   add     POST   /v1/groups/:id/members {invitees:[int]} → 201      groups/invite_multiple_users_to_group.markdown,
//                                                                    add_multiple_users_to_group.markdown (2016+)
//   remove  DELETE /v1/groups/:id/members/:user_id → 200; 422 when   groups/removekick_other_user_from_own_group.markdown
//           the user has no membership (the state we want: done)
//   lookup  GET    /v1/search/user?query=<email>&attr=email → 200 [User]; 404 "if query is invalid"
//                                                                    search/search_by_custom_attribute.markdown
//   read    GET    /v1/groups/:id → 200 Group; 404                  groups/get_group_data.markdown
//   members GET    /v1/groups/:id/members → {groupId,size,members:[{userId,…}]} (active members, one answer)
//                                                                    groups/get_group_members.markdown
import type { Connector, GroupReader } from '../connector';
import { groupTargetEvents, remoteGroupOf } from '../connector';
import { permanent } from '../errors';
import { deliverGroupBatch, type GroupApi } from '../group-sync';
import type { TargetConfig } from '../targets';

const seg = encodeURIComponent;
const TIMESLOT_MAX_NAME = 255;

/** The name to send, or a dead letter when Timeslot would refuse it (Rails counts characters, not UTF-16 units). */
function checkedName(name: string | undefined): string {
  if (name === undefined || name.trim() === '') throw permanent('Timeslot requires a group name and the group has none');
  const length = [...name].length;
  if (length > TIMESLOT_MAX_NAME) {
    throw permanent(`the group name has ${length} characters; Timeslot allows at most ${TIMESLOT_MAX_NAME}`);
  }
  return name;
}

function int(id: string): number {
  if (!/^\d+$/.test(id)) throw permanent(`user id "${id}" is not a Timeslot integer id`);
  return Number(id);
}

export function timeslotConnector(target: TargetConfig): Connector {
  const groupPath = (id: string) => `/v1/groups/${seg(id)}`;

  const api: GroupApi = {
    async createGroup(ctx, attrs) {
      const res = await ctx.call({ method: 'POST', path: '/v1/groups', body: { name: checkedName(attrs.displayName) } });
      const id = res.json<{ id?: unknown }>()?.id;
      if (typeof id !== 'number' && typeof id !== 'string') throw permanent('POST /v1/groups answered without an id');
      return String(id);
    },
    async updateGroup(ctx, remoteId, attrs, changed) {
      if (!changed.has('displayName')) return;
      await ctx.call({ method: 'PATCH', path: groupPath(remoteId), body: { name: checkedName(attrs.displayName) } });
    },
    async deleteGroup(ctx, remoteId) {
      // A deleted group answers 404: a repeated delivery after a lost answer finds the state it wants.
      await ctx.call({ method: 'DELETE', path: groupPath(remoteId), alsoOk: (s) => s === 404 });
    },
    async addMembers(ctx, remoteId, userIds) {
      await ctx.call({ method: 'POST', path: `${groupPath(remoteId)}/members`, body: { invitees: userIds.map(int) } });
    },
    async removeMembers(ctx, remoteId, userIds) {
      for (const u of userIds) {
        await ctx.call({ method: 'DELETE', path: `${groupPath(remoteId)}/members/${seg(u)}`, alsoOk: (s) => s === 422 });
      }
    },
    async findUser(ctx, email) {
      const res = await ctx.call({ method: 'GET', path: `/v1/search/user?query=${seg(email)}&attr=email`, returnStatuses: [404] });
      if (res.status === 404) return undefined;
      const found = res.json<{ id?: unknown }[]>();
      const id = Array.isArray(found) ? found[0]?.id : undefined;
      return typeof id === 'number' || typeof id === 'string' ? String(id) : undefined;
    },
  };

  const reader: GroupReader = {
    // The v1 groups these docs describe have no description.
    describes: false,
    async readGroup(ctx, remoteId) {
      const res = await ctx.call({ method: 'GET', path: groupPath(remoteId), returnStatuses: [404] });
      return res.status === 404 ? undefined : remoteGroupOf(res.json(), 'name');
    },
    async *members(ctx, remoteId) {
      const res = await ctx.call({ method: 'GET', path: `${groupPath(remoteId)}/members` });
      const members = res.json<{ members?: { userId?: unknown }[] }>()?.members;
      yield (Array.isArray(members) ? members : []).map((m) => m?.userId).filter((id) => typeof id === 'number' || typeof id === 'string').map(String);
    },
  };

  return {
    types: groupTargetEvents(target),
    authHeaders: () => ({ authorization: `Token token=${target.credential}` }),
    deliver: (ctx) => deliverGroupBatch(ctx, api),
    reader,
  };
}
