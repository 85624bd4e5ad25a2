// Konstantly OpenAPI v1, docs marked beta (shared/egress-targets.md §C). Base `https://<site>.konstant.ly/openapi/v1`,
// auth `X-API-KEY: <key>`, JSON in and out: https://docs.konstantly.com/api-reference/introduction. Group ids are
// integers; users are referenced by their "User API ID" (a string). Pages under https://docs.konstantly.com:
//   create  POST   /groups {name[, description]} → Group                          /api-reference/groups/create-group
//   update  PATCH  /groups/{groupId} — `name` REQUIRED on every PATCH, so it is    /api-reference/groups/update-group
//           always sent, with `description` when known → 200; 400 {status,message,errors}; 404
//   delete  DELETE /groups/{groupId} → empty body; 404                            /api-reference/groups/delete-group
//   add     POST   /groups/{groupId}/users {users:["id",…]} → {users}; 400 "e.g., /api-reference/groups/group-users
//           users already in group": the users named there are dropped and the rest sent again
//   remove  DELETE /groups/{groupId}/users/{userId} → {}; 404 "group or user not  /api-reference/groups/remove-user-from-group
//           found" (the user is not in the group: the state we want, so done)
//   lookup  GET    /users/byEmail/{userEmail} → User; 404 none                    /api-reference/users/get-user
//   read    GET    /groups/{groupId} → Group {name, description, usersCount, …}; 404  /api-reference/groups/get-group
//           The API documents no way to list a group's members (only usersCount): reconciliation compares the name
//           and description, and its repair re-sends the whole member list through the add endpoint.
// Other 4xx answers are dead letters carrying the answer body ({status, message, errors} for 400).
import type { Connector, GroupReader } from '../connector';
import { groupTargetEvents, remoteGroupOf } from '../connector';
import { permanent } from '../errors';
import { deliverGroupBatch, type GroupApi } from '../group-sync';
import type { TargetConfig } from '../targets';

const seg = encodeURIComponent;
const BASE = '/openapi/v1';

function messages(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(messages);
  if (v && typeof v === 'object') return Object.values(v).flatMap(messages);
  return [];
}

/**
 * The users a 400 names as already in the group, when that is all it says (every message is `… "<id>" … already
 * in … group` for an id we sent); undefined for any other 400, which stays a failure.
 */
export function alreadyInGroup(text: string, sent: string[]): string[] | undefined {
  let body: { errors?: unknown } | undefined;
  try {
    body = JSON.parse(text) as { errors?: unknown };
  } catch {
    return undefined;
  }
  const msgs = messages(body?.errors);
  if (!msgs.length) return undefined;
  const ids: string[] = [];
  for (const m of msgs) {
    const id = /"([^"]+)"/.exec(m)?.[1];
    if (!/already\b.*\bgroup/i.test(m) || id === undefined || !sent.includes(id)) return undefined;
    ids.push(id);
  }
  return ids;
}

export function konstantlyConnector(target: TargetConfig): Connector {
  const groupPath = (id: string) => `${BASE}/groups/${seg(id)}`;

  const api: GroupApi = {
    async createGroup(ctx, attrs) {
      const body = { name: attrs.displayName, ...(attrs.description !== undefined ? { description: attrs.description } : {}) };
      const res = await ctx.call({ method: 'POST', path: `${BASE}/groups`, body });
      const id = res.json<{ id?: unknown }>()?.id;
      if (typeof id !== 'number' && typeof id !== 'string') throw permanent(`POST ${BASE}/groups answered without an id`);
      return String(id);
    },
    async updateGroup(ctx, remoteId, attrs, changed) {
      if (!changed.has('displayName') && !changed.has('description')) return;
      if (attrs.displayName === undefined) throw permanent('Konstantly requires the group name on every update and the group has none');
      const description = attrs.description ?? (changed.has('description') ? null : undefined);
      await ctx.call({
        method: 'PATCH', path: groupPath(remoteId),
        body: { name: attrs.displayName, ...(description !== undefined ? { description } : {}) },
      });
    },
    async deleteGroup(ctx, remoteId) {
      // Already gone (a repeated delivery after a lost answer) is the state we want.
      await ctx.call({ method: 'DELETE', path: groupPath(remoteId), alsoOk: (s) => s === 404 });
    },
    async addMembers(ctx, remoteId, userIds) {
      let pending = [...new Set(userIds)];
      // Each round drops at least one user, so this ends; usually one or two calls.
      while (pending.length) {
        const sent = pending;
        const res = await ctx.call({
          method: 'POST', path: `${groupPath(remoteId)}/users`, body: { users: sent },
          alsoOk: (s, text) => s === 400 && alreadyInGroup(text, sent) !== undefined,
        });
        if (res.status !== 400) return;
        const present = new Set(alreadyInGroup(res.text, sent));
        pending = sent.filter((u) => !present.has(u));
      }
    },
    async removeMembers(ctx, remoteId, userIds) {
      for (const u of userIds) {
        await ctx.call({ method: 'DELETE', path: `${groupPath(remoteId)}/users/${seg(u)}`, alsoOk: (s) => s === 404 });
      }
    },
    async findUser(ctx, email) {
      const res = await ctx.call({ method: 'GET', path: `${BASE}/users/byEmail/${seg(email)}`, returnStatuses: [404] });
      if (res.status === 404) return undefined;
      const id = res.json<{ id?: unknown }>()?.id;
      if (typeof id !== 'string' && typeof id !== 'number') throw permanent(`GET ${BASE}/users/byEmail answered without an id`);
      return String(id);
    },
  };

  const reader: GroupReader = {
    describes: true,
    async readGroup(ctx, remoteId) {
      const res = await ctx.call({ method: 'GET', path: groupPath(remoteId), returnStatuses: [404] });
      return res.status === 404 ? undefined : remoteGroupOf(res.json(), 'name');
    },
  };

  return {
    types: groupTargetEvents(target),
    authHeaders: () => ({ 'x-api-key': target.credential }),
    deliver: (ctx) => deliverGroupBatch(ctx, api),
    reader,
  };
}
