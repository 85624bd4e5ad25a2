// The Group resource. Membership never passes through scimmy: member lists are validated here and applied by
// the store as set operations; scimmy validates and patches everything else. Declared to scimmy as "Group".
import SCIMMY from 'scimmy';
import { GROUP_SORT } from '../store/filter';
import { StoreError } from '../store/errors';
import type { GroupInput, GroupRecord, MemberOp, MemberRecord } from '../store/types';
import { etagOf, LOCATION_BASE, type ScimContext } from './context';
import { badRequest, notFound } from './errors';
import { memberIds, PATCH_SCHEMA, planGroupPatch, type GroupPatchPlan } from './group-patch';
import { withKeyLock } from './keyed-lock';
import { listQuery, listResponse } from './list';
import { guard, ifVersion, plainJson, requireObjectBody, validForWrite, withSchemas } from './shared';

export function groupBase(): string {
  return `${LOCATION_BASE}/Groups`;
}

export function groupObject(rec: GroupRecord): Record<string, unknown> {
  return {
    ...rec.resource,
    id: rec.id,
    meta: { resourceType: 'Group', created: rec.created, lastModified: rec.modified, version: etagOf(rec.version) },
  };
}

function groupInput(valid: object): GroupInput {
  const resource = plainJson(valid);
  for (const k of ['id', 'meta', 'schemas', 'members']) delete resource[k];
  if (typeof resource.displayName !== 'string' || resource.displayName.trim() === '') {
    throw badRequest('invalidValue', 'displayName is required and must be a non-empty string');
  }
  return {
    displayName: resource.displayName,
    externalId: typeof resource.externalId === 'string' ? resource.externalId : undefined,
    resource,
  };
}

function listed(csv: string | undefined): string[] {
  return (csv ?? '').split(',').map((s) => s.trim().toLowerCase().replace(/^urn:ietf:params:scim:schemas:core:2\.0:group:/, ''))
    .filter(Boolean);
}

/** Whether the response carries members, from attributes / excludedAttributes (RFC 7644 §3.9). */
export function wantsMembers(query: ScimContext['query']): boolean {
  const attributes = listed(query.attributes);
  if (attributes.length) return attributes.some((a) => a === 'members' || a.startsWith('members.'));
  return !listed(query.excludedAttributes).includes('members');
}

function memberJson(m: MemberRecord) {
  return { value: m.value, $ref: `${LOCATION_BASE}/Users/${m.value}`, type: 'User', ...(m.display !== undefined ? { display: m.display } : {}) };
}

/** The body's member list, taken out of the body before scimmy sees it (scimmy is slow on large lists). */
function takeMembers(body: Record<string, unknown>): string[] | undefined {
  const key = Object.keys(body).find((k) => k.toLowerCase() === 'members');
  if (!key) return undefined;
  const value = body[key];
  delete body[key];
  if (value === null) return [];
  // A lone member object is read as a one-member list, like every multi-valued attribute (normalize.ts).
  if (!Array.isArray(value) && typeof value !== 'object') throw badRequest('invalidValue', '"members" must be an array');
  return memberIds(value, 'members');
}

/** Member values one request may carry (MAX_MEMBERS_PER_REQUEST; advertised in /ServiceProviderConfig). */
function capMembers(ctx: ScimContext, count: number): void {
  const max = ctx.limits.maxMembersPerRequest;
  if (count > max) {
    throw badRequest('invalidValue', `This request names ${count} members; at most ${max} per request are accepted. Send larger changes as several PATCH requests.`);
  }
}

/** The group as answered: scimmy shapes its attributes; members come from the member table when wanted. */
async function groupOut(ctx: ScimContext, rec: GroupRecord, attributes: unknown): Promise<object> {
  if (ctx.bodyless) return { id: rec.id, meta: { version: etagOf(rec.version) } };
  const shaped = withSchemas(plainJson(new SCIMMY.Schemas.Group(groupObject(rec), 'out', groupBase(), attributes as never)), [SCIMMY.Schemas.Group.definition.id]);
  if (wantsMembers(ctx.query)) {
    const members = await ctx.store.listMembers(ctx.tenant, rec.id);
    if (members.length) shaped.members = members.map(memberJson);
  }
  return shaped;
}

/**
 * Group PATCH: membership as set operations in one store transaction with any attribute change. Answers the
 * group (200) when the client asked to see it, else undefined (204). Also served directly by the mount's own
 * route, so the hot path does not pay for scimmy-routers' dispatch.
 */
export async function patchGroup(ctx: ScimContext, id: string | undefined, message: unknown, attributes?: unknown): Promise<object | undefined> {
  return guard(ctx, async () => {
    if (!id) throw notFound('PATCH must name a Group');
    requireObjectBody(message, 'PATCH');
    const plan = planGroupPatch(message);
    capMembers(ctx, plan.memberOps.reduce((n, op) => n + (op.op === 'removeAll' ? 0 : op.ids.length), 0));
    // Pure membership changes need no read: the store applies them as set operations and reports a missing group.
    const mustRead = plan.attributeOps.length > 0 || ctx.ifMatch !== undefined;
    const run = () => applyPlan(ctx, id, plan, mustRead, attributes);
    return plan.attributeOps.length ? withKeyLock(`group:${ctx.tenant}:${id}`, run) : run();
  });
}

async function applyPlan(ctx: ScimContext, id: string, plan: GroupPatchPlan, mustRead: boolean, attributes: unknown): Promise<object | undefined> {
  for (let attempt = 0; ; attempt++) {
    const rec = mustRead ? await ctx.store.getGroup(ctx.tenant, id) : undefined;
    if (mustRead && !rec) throw notFound(`Group ${id} not found`);
    const expected = rec ? await ifVersion(ctx, async () => rec) : undefined;
    let changed: GroupInput | undefined;
    if (rec && plan.attributeOps.length) {
      const current = new SCIMMY.Schemas.Group(groupObject(rec), 'out', groupBase());
      const op = new SCIMMY.Messages.PatchOp({ schemas: [PATCH_SCHEMA], Operations: plan.attributeOps } as never);
      const patched = await op.apply(current as never, async (target: object) => target);
      if (patched) {
        const body = plainJson(patched);
        if ('members' in body) throw badRequest('invalidPath', 'members cannot be changed through this operation');
        changed = groupInput(validForWrite(SCIMMY.Schemas.Group, body));
      }
    }
    try {
      // Attribute changes are read-modify-write, so they need the version read; member set operations do not.
      const pin = expected ?? (changed ? rec!.version : undefined);
      const { group } = await ctx.store.changeGroup(ctx.tenant, id, { attributes: changed, members: plan.memberOps }, { ifVersion: pin, actor: ctx.actor });
      ctx.etag = etagOf(group.version);
      const answer = plan.dronahq || ctx.query.attributes !== undefined || ctx.query.excludedAttributes !== undefined;
      return answer ? groupOut(ctx, group, attributes ?? attributeFilter(ctx.query)) : undefined;
    } catch (e) {
      if (e instanceof StoreError && e.code === 'version_mismatch' && expected === undefined && attempt < 20) continue;
      throw e;
    }
  }
}

/** The attribute filter scimmy builds from attributes / excludedAttributes, for requests served without scimmy. */
function attributeFilter(query: ScimContext['query']): unknown {
  if (query.attributes) return new SCIMMY.Types.Filter(query.attributes.split(',').map((a) => `${a.trim()} pr`).join(' and '));
  if (query.excludedAttributes) return new SCIMMY.Types.Filter(query.excludedAttributes.split(',').map((a) => `${a.trim()} np`).join(' and '));
  return undefined;
}

export class ScimGroup extends SCIMMY.Resources.Group {
  static override basepath(path?: string): any {
    return path === undefined ? groupBase() : ScimGroup;
  }

  private out(ctx: ScimContext, rec: GroupRecord): Promise<object> {
    return groupOut(ctx, rec, this.attributes);
  }

  override async read(c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      if (this.id) {
        const rec = await ctx.store.getGroup(ctx.tenant, this.id);
        if (!rec) throw notFound(`Group ${this.id} not found`);
        return this.out(ctx, rec);
      }
      const q = listQuery('Group', ctx, GROUP_SORT);
      const { total, rows } = await ctx.store.listGroups(ctx.tenant, q);
      const resources: object[] = [];
      for (const r of rows) resources.push(await this.out(ctx, r));
      return listResponse(resources, total, q.startIndex);
    });
  }

  override async write(instance: any, c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      requireObjectBody(instance, this.id ? 'PUT' : 'POST');
      const body = { ...(instance as Record<string, unknown>) };
      const ids = takeMembers(body);
      capMembers(ctx, ids?.length ?? 0);
      const input = groupInput(validForWrite(SCIMMY.Schemas.Group, body));
      if (!this.id) {
        const { group } = await ctx.store.createGroup(ctx.tenant, input, ids ?? [], { actor: ctx.actor });
        return this.out(ctx, group);
      }
      // PUT without "members" keeps the membership (RFC 7644 §3.5.1 lets omitted attributes stand); with it, the
      // stored list becomes exactly the given one, diffed in SQL.
      const members: MemberOp[] = ids === undefined ? [] : [{ op: 'replace', ids }];
      const expected = await ifVersion(ctx, () => ctx.store.getGroup(ctx.tenant, this.id!));
      const { group } = await ctx.store.changeGroup(ctx.tenant, this.id, { attributes: input, members }, { ifVersion: expected, actor: ctx.actor });
      return this.out(ctx, group);
    });
  }

  override async patch(message: any, c?: unknown): Promise<any> {
    return patchGroup(c as ScimContext, this.id, message, this.attributes);
  }

  override async dispose(c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      if (!this.id) throw notFound('DELETE must name a Group');
      await ctx.store.deleteGroup(ctx.tenant, this.id, {
        ifVersion: await ifVersion(ctx, () => ctx.store.getGroup(ctx.tenant, this.id!)), actor: ctx.actor,
      });
    });
  }
}
