// Downstream SCIM 2.0 as RFC 7644 writes it: POST /Groups, PatchOp for rename and membership, DELETE, and user
// lookup by filter. Sources: RFC 7644 §3.3 (create), §3.4.2.2 (filters), §3.5.2 (PATCH: `add` members with a value
// list; `remove` with path `members[value eq "id"]`; `replace` displayName / externalId), §3.6 (DELETE; 404 when
// already gone), §3.12 (409 uniqueness); RFC 7643 §4.2 (Group: displayName, members, externalId; no description).
import type { DeliveryContext } from '../connector';
import type { GroupApi } from '../group-sync';
import type { UserApi } from '../user-sync';
import type { GroupAttributes } from '../plan';
import { permanent } from '../errors';
import { truncate } from '../http';
import { chunks, createdId, eqFilter, GROUP_SCHEMA, groupByName, groupPath, PATCH_SCHEMA, quoted, userByFilter } from './scim-shared';

type Op = { op: 'add' | 'remove' | 'replace'; path: string; value?: unknown };

async function patch(ctx: DeliveryContext, remoteId: string, operations: Op[]): Promise<void> {
  if (!operations.length) return;
  await ctx.call({ method: 'PATCH', path: groupPath(remoteId), body: { schemas: [PATCH_SCHEMA], Operations: operations } });
}

export const rfc7644Api: GroupApi & UserApi = {
  async createGroup(ctx, attrs: GroupAttributes) {
    const displayName = attrs.displayName ?? attrs.id;
    const body = { schemas: [GROUP_SCHEMA], displayName, ...(attrs.externalId !== undefined ? { externalId: attrs.externalId } : {}) };
    const res = await ctx.call({ method: 'POST', path: '/Groups', body, returnStatuses: [409] });
    if (res.status !== 409) return createdId(res, 'POST /Groups');
    // The name is taken downstream: a create of ours whose answer was lost, or a group made there before. Link it.
    const existing = await groupByName(ctx, displayName, eqFilter('displayName', displayName));
    if (existing) return existing;
    throw permanent('POST /Groups answered 409 and no group of that name was found', { status: 409, body: truncate(res.text) });
  },

  async updateGroup(ctx, remoteId, attrs, changed) {
    // description is not an attribute of the core Group schema (RFC 7643 §4.2): not sent.
    const ops: Op[] = [];
    if (changed.has('displayName') && attrs.displayName !== undefined) ops.push({ op: 'replace', path: 'displayName', value: attrs.displayName });
    if (changed.has('externalId')) {
      ops.push(attrs.externalId !== undefined ? { op: 'replace', path: 'externalId', value: attrs.externalId } : { op: 'remove', path: 'externalId' });
    }
    await patch(ctx, remoteId, ops);
  },

  async deleteGroup(ctx, remoteId) {
    await ctx.call({ method: 'DELETE', path: groupPath(remoteId), returnStatuses: [404] });
  },

  async addMembers(ctx, remoteId, remoteUserIds) {
    for (const part of chunks(remoteUserIds)) {
      await patch(ctx, remoteId, [{ op: 'add', path: 'members', value: part.map((value) => ({ value })) }]);
    }
  },

  async removeMembers(ctx, remoteId, remoteUserIds) {
    for (const part of chunks(remoteUserIds)) {
      await patch(ctx, remoteId, part.map((id) => ({ op: 'remove' as const, path: `members[value eq ${quoted(id)}]` })));
    }
  },

  async findUser(ctx, email) {
    return (await userByFilter(ctx, 'userName', email)) ?? (await userByFilter(ctx, 'emails.value', email));
  },

  // RFC 7644 §3.5.2.3: replace of `active`; 404 when the user is gone (§3.12).
  async setUserActive(ctx, remoteUserId, active) {
    const res = await ctx.call({
      method: 'PATCH', path: `/Users/${encodeURIComponent(remoteUserId)}`, returnStatuses: [404],
      body: { schemas: [PATCH_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: active }] },
    });
    return res.status !== 404;
  },
};
