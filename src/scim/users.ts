// The User resource: scimmy validates and shapes; the store keeps it. Declared to scimmy as "User".
import SCIMMY from 'scimmy';
import type { UserInput, UserRecord } from '../store/types';
import { USER_SORT } from '../store/filter';
import { StoreError } from '../store/errors';
import { etagOf, LOCATION_BASE, type ScimContext } from './context';
import { badRequest, notFound } from './errors';
import { listQuery, listResponse } from './list';
import { ENTERPRISE, normaliseResource } from './normalize';
import { normaliseUserPatch } from './user-patch';
import { withKeyLock } from './keyed-lock';
import { guard, ifVersion, plainJson, requireObjectBody, validForWrite, withSchemas } from './shared';

function userBase(): string {
  return `${LOCATION_BASE}/Users`;
}

/** The stored record as a SCIM resource (before scimmy's outbound shaping). */
function userObject(rec: UserRecord): Record<string, unknown> {
  return {
    ...rec.resource,
    id: rec.id,
    meta: { resourceType: 'User', created: rec.created, lastModified: rec.modified, version: etagOf(rec.version) },
  };
}

/**
 * A validated inbound user (scimmy schema instance) → what the store writes. `previousActive`: set for a PATCH, where
 * `remove` of `active` leaves it unassigned (RFC 7644 §3.5.2.2) — stored so, while deprovisioning keeps the user's
 * state as it was (a deactivated user is not given access back by having `active` removed).
 */
function userInput(valid: object, previousActive?: boolean): UserInput {
  const resource = plainJson(valid);
  for (const k of ['id', 'meta', 'schemas', 'password', 'groups']) delete resource[k];
  const emails = Array.isArray(resource.emails) ? (resource.emails as { value?: unknown; type?: unknown; primary?: unknown }[]) : [];
  if (typeof resource.userName !== 'string' || resource.userName.trim() === '') {
    throw badRequest('invalidValue', 'userName is required and must be a non-empty string');
  }
  // RFC 7643 gives "active" no default; we treat an absent value as active and say so in the resource, so that
  // what a GET shows and what `active eq true` finds agree.
  if (resource.active === undefined && previousActive === undefined) resource.active = true;
  return {
    userName: resource.userName,
    externalId: typeof resource.externalId === 'string' ? resource.externalId : undefined,
    displayName: typeof resource.displayName === 'string' ? resource.displayName : undefined,
    active: resource.active === undefined ? previousActive ?? true : resource.active === true,
    emails: emails.filter((e) => typeof e?.value === 'string').map((e) => ({
      value: e.value as string, type: typeof e.type === 'string' ? e.type : undefined, primary: e.primary === true,
    })),
    resource,
  };
}

export class ScimUser extends SCIMMY.Resources.User {
  static override basepath(path?: string): any {
    // One constant base: the per-mount location is written into each response by mount.ts.
    return path === undefined ? userBase() : ScimUser;
  }

  private out(ctx: ScimContext, rec: UserRecord, attributes?: unknown): object {
    if (ctx.bodyless) return { id: rec.id, meta: { version: etagOf(rec.version) } };
    // With attributes/excludedAttributes, the definition's coerce gives the filtered resource. scimmy's User
    // constructor would re-assign it and throw (a TypeError wrapped as 400) when the filtered result keeps extension
    // data but drops "schemas", e.g. attributes=emails.value on a user with enterprise attributes.
    if (attributes) {
      const schemas = [SCIMMY.Schemas.User.definition.id, ...(rec.resource[ENTERPRISE] !== undefined ? [ENTERPRISE] : [])];
      return withSchemas(plainJson(SCIMMY.Schemas.User.definition.coerce(userObject(rec), 'out', userBase(), attributes as never)), schemas);
    }
    return new SCIMMY.Schemas.User(userObject(rec), 'out', userBase());
  }

  override async read(c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      if (this.id) {
        const rec = await ctx.store.getUser(ctx.tenant, this.id);
        if (!rec) throw notFound(`User ${this.id} not found`);
        return this.out(ctx, rec, this.attributes);
      }
      const q = listQuery('User', ctx, USER_SORT);
      const { total, rows } = await ctx.store.listUsers(ctx.tenant, q);
      return listResponse(rows.map((r) => this.out(ctx, r, this.attributes)), total, q.startIndex);
    });
  }

  override async write(instance: any, c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      requireObjectBody(instance, this.id ? 'PUT' : 'POST');
      normaliseResource('User', instance);
      const input = userInput(validForWrite(SCIMMY.Schemas.User, instance as Record<string, unknown>));
      const rec = this.id
        ? await ctx.store.replaceUser(ctx.tenant, this.id, input, {
          ifVersion: await ifVersion(ctx, () => ctx.store.getUser(ctx.tenant, this.id!)), actor: ctx.actor,
        })
        : await ctx.store.createUser(ctx.tenant, input, { actor: ctx.actor });
      return this.out(ctx, rec, this.attributes);
    });
  }

  override async patch(message: any, c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      if (!this.id) throw notFound('PATCH must name a User');
      requireObjectBody(message, 'PATCH');
      return withKeyLock(`user:${ctx.tenant}:${this.id}`, () => this.applyPatch(ctx, message));
    });
  }

  /** scimmy's PatchOp on the stored user, written back only if the version is still the one read. */
  private async applyPatch(ctx: ScimContext, message: unknown): Promise<object> {
    const id = this.id!;
    for (let attempt = 0; ; attempt++) {
      const rec = await ctx.store.getUser(ctx.tenant, id);
      if (!rec) throw notFound(`User ${id} not found`);
      const expected = await ifVersion(ctx, async () => rec);
      const current = new SCIMMY.Schemas.User(userObject(rec), 'out', userBase());
      const normalised = normaliseUserPatch(message, userObject(rec));
      // Every operation was a no-op (removing an extension the user does not have): nothing to write.
      if (!normalised) return this.out(ctx, rec, this.attributes);
      const op = new SCIMMY.Messages.PatchOp(normalised as never);
      const patched = await op.apply(current as never, async (target: object) => target);
      if (!patched) return this.out(ctx, rec, this.attributes);
      const input = userInput(validForWrite(SCIMMY.Schemas.User, plainJson(patched)), rec.active);
      try {
        const saved = await ctx.store.replaceUser(ctx.tenant, id, input, { ifVersion: expected ?? rec.version, actor: ctx.actor });
        return this.out(ctx, saved, this.attributes);
      } catch (e) {
        // Another process wrote between our read and write: re-apply on the new state, unless the client pinned a version.
        if (e instanceof StoreError && e.code === 'version_mismatch' && expected === undefined && attempt < 20) continue;
        throw e;
      }
    }
  }

  override async dispose(c?: unknown): Promise<any> {
    const ctx = c as ScimContext;
    return guard(ctx, async () => {
      if (!this.id) throw notFound('DELETE must name a User');
      await ctx.store.deleteUser(ctx.tenant, this.id, {
        ifVersion: await ifVersion(ctx, () => ctx.store.getUser(ctx.tenant, this.id!)), actor: ctx.actor,
      });
    });
  }
}

