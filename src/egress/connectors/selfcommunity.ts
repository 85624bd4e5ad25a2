// SelfCommunity API v2 (shared/egress-targets.md §A). Auth `Authorization: Bearer <token>` (docs/api/authentication/
// intro.md, jwt.md, oauth.md); JSON bodies, as the official SDK (selfcommunity/community-js) sends them. Ids are
// integers and are sent as numbers. Doc pages: https://developers.selfcommunity.com/docs/apireference/v2/<page>.
//   create  POST   /api/v2/group/ {name, privacy[, description]} → 201 Group          group/create_a_group, schemas/group
//   update  PATCH  /api/v2/group/{id}/ only the changed fields (name, description)    group/patch_a_group
//   delete  DELETE /api/v2/group/{id}/ → 204                                         group/delete_a_group
//   add     POST   /api/v2/group/{id}/subscribe/ {users:[int]} → 204 (manager)       group/subscribe_or_accept_invite_to_group
//   remove  DELETE /api/v2/group/{id}/subscribe/?user=<int> → 204, one per call      group/unsubscribe_from_group
//           (the doc table says "In: path"; the SDK's RemoveUserFromGroup sends the query parameter)
//   lookup  GET    /api/v2/account/search/?email=<email> → 200 User, 404 none        account/search_an_account
//   read    GET    /api/v2/group/{id}/ → 200 Group; 404                                group/get_group_info
//   members GET    /api/v2/group/{id}/subscribe/?limit=&offset= → {count,next,previous,results:[{id,…}]}
//                                                                                     group/get_group_subscribed_users
import type { Connector, GroupReader } from '../connector';
import { groupTargetEvents, remoteGroupOf } from '../connector';
import { permanent } from '../errors';
import { deliverGroupBatch, type GroupApi } from '../group-sync';
import type { GroupAttributes } from '../plan';
import type { TargetConfig } from '../targets';

const seg = encodeURIComponent;

/** SelfCommunity ids are integers; a link or mapping that is not one can never work (dead letter, not a retry). */
function int(id: string, what: string): number {
  if (!/^\d+$/.test(id)) throw permanent(`${what} "${id}" is not a SelfCommunity integer id`);
  return Number(id);
}

function idOf(body: { id?: unknown } | undefined, request: string): string {
  if (typeof body?.id !== 'number' || !Number.isInteger(body.id)) throw permanent(`${request} answered without an integer id`);
  return String(body.id);
}

export function selfcommunityConnector(target: TargetConfig): Connector {
  const privacy = target.options.privacy === 'public' ? 'public' : 'private';
  const groupPath = (id: string) => `/api/v2/group/${seg(String(int(id, 'group id')))}/`;

  const api: GroupApi = {
    async createGroup(ctx, attrs: GroupAttributes) {
      const body = { name: attrs.displayName, privacy, ...(attrs.description !== undefined ? { description: attrs.description } : {}) };
      const res = await ctx.call({ method: 'POST', path: '/api/v2/group/', body });
      return idOf(res.json(), 'POST /api/v2/group/');
    },
    async updateGroup(ctx, remoteId, attrs, changed) {
      const body: Record<string, unknown> = {};
      if (changed.has('displayName')) body.name = attrs.displayName;
      if (changed.has('description')) body.description = attrs.description ?? null;
      if (Object.keys(body).length === 0) return;
      await ctx.call({ method: 'PATCH', path: groupPath(remoteId), body });
    },
    async deleteGroup(ctx, remoteId) {
      // Already gone (a repeated delivery after a lost answer) is the state we want.
      await ctx.call({ method: 'DELETE', path: groupPath(remoteId), alsoOk: (s) => s === 404 });
    },
    async addMembers(ctx, remoteId, userIds) {
      await ctx.call({ method: 'POST', path: `${groupPath(remoteId)}subscribe/`, body: { users: userIds.map((u) => int(u, 'user id')) } });
    },
    async removeMembers(ctx, remoteId, userIds) {
      for (const u of userIds) {
        await ctx.call({ method: 'DELETE', path: `${groupPath(remoteId)}subscribe/?user=${seg(String(int(u, 'user id')))}` });
      }
    },
    async findUser(ctx, email) {
      const res = await ctx.call({ method: 'GET', path: `/api/v2/account/search/?email=${seg(email)}`, returnStatuses: [404] });
      if (res.status === 404) return undefined;
      return idOf(res.json(), 'GET /api/v2/account/search/');
    },
  };

  const reader: GroupReader = {
    describes: true,
    async readGroup(ctx, remoteId) {
      const res = await ctx.call({ method: 'GET', path: groupPath(remoteId), returnStatuses: [404] });
      return res.status === 404 ? undefined : remoteGroupOf(res.json(), 'name');
    },
    // Limit/offset pages (DRF): each page's ids, until `next` is null.
    async *members(ctx, remoteId, pageSize = 100) {
      for (let offset = 0; ;) {
        const res = await ctx.call({ method: 'GET', path: `${groupPath(remoteId)}subscribe/?limit=${pageSize}&offset=${offset}` });
        const body = res.json<{ results?: { id?: unknown }[]; next?: unknown }>();
        const results = Array.isArray(body?.results) ? body!.results : [];
        yield results.map((u) => u?.id).filter((id) => Number.isInteger(id)).map(String);
        offset += results.length;
        if (!body?.next || !results.length) return;
      }
    },
  };

  return {
    types: groupTargetEvents(target),
    authHeaders: () => ({ authorization: `Bearer ${target.credential}` }),
    deliver: (ctx) => deliverGroupBatch(ctx, api),
    reader,
  };
}
