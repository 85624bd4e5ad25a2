// POST /.search at the root (RFC 7644 §3.4.3): one search over Users and Groups through the same filter → SQL path
// as /Users/.search and /Groups/.search, with paging, attributes and the tenant's scope; Users come first, then
// Groups. sortBy is refused (there is no one order over two resource types here). An attribute only one of the types
// has is unassigned in the other (filter.ts filterForType): `userName eq "x"` finds no Group, and
// `displayName eq "x" or userName eq "y"` finds Groups by displayName. An attribute neither type has is refused.
import type { NextFunction, Request, Response } from 'express';
import type { ScimContext } from './context';
import { badRequest } from './errors';
import type { Filter } from '../store/filter';
import { filterForType, parseFilterText, type ResourceKind } from './filter';
import { ScimGroup } from './groups';
import { listResponse } from './list';
import { ScimUser } from './users';

type Lister = typeof ScimUser | typeof ScimGroup;

interface Listed { Resources: object[]; totalResults: number }

function intOf(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw badRequest('invalidValue', `${name} must be an integer, got "${raw}"`);
  return Number(raw.trim());
}

/** One type's page with the filter as it reads for that type; undefined when it can match no resource of it. */
async function page(kind: Lister, filter: Filter | boolean | undefined, ctx: ScimContext, startIndex: number, count: number): Promise<Listed | undefined> {
  if (filter === false) return undefined;
  const params: Record<string, string> = {};
  if (ctx.query.attributes) params.attributes = ctx.query.attributes;
  if (ctx.query.excludedAttributes) params.excludedAttributes = ctx.query.excludedAttributes;
  const query = { ...ctx.query, filter: undefined, startIndex: String(startIndex), count: String(count) };
  const resolvedFilter = typeof filter === 'object' ? filter : undefined;
  return await new kind(params as never).read({ ...ctx, query, resolvedFilter, error: undefined }) as Listed;
}

/** The filter for each type, and a 400 for an attribute neither has. */
function filters(ctx: ScimContext): Record<ResourceKind, Filter | boolean | undefined> {
  const text = ctx.query.filter;
  if (text === undefined) return { User: undefined, Group: undefined };
  const parsed = parseFilterText(text, { maxLength: ctx.limits.maxFilterLength, maxDepth: ctx.limits.maxFilterDepth });
  const user = filterForType('User', parsed);
  const group = filterForType('Group', parsed);
  const neither = [...user.missing].filter((a) => group.missing.has(a));
  if (neither.length) throw badRequest('invalidFilter', `The filter names attributes neither Users nor Groups have: ${neither.join(', ')}`);
  return { User: user.filter, Group: group.filter };
}

export async function rootSearch(_req: Request, res: Response, next: NextFunction): Promise<void> {
  // Only a POST /.search reaches here (router.ts turns it into this GET); anything else is scimmy's to answer.
  if (!res.locals.rootSearch) return next();
  const ctx = res.locals.scim as ScimContext;
  try {
    if (ctx.query.sortBy !== undefined) {
      throw badRequest('invalidValue', 'sortBy is not supported when searching every resource type: search /Users/.search or /Groups/.search');
    }
    const startIndex = Math.max(1, intOf(ctx.query.startIndex, 'startIndex') ?? 1);
    const count = Math.min(Math.max(0, intOf(ctx.query.count, 'count') ?? ctx.maxResults), ctx.maxResults);
    // One list per type: each answers its total with its page (a page past the end is empty), so the Groups' page
    // starts where the Users' total leaves off.
    const filter = filters(ctx);
    const users = await page(ScimUser, filter.User, ctx, startIndex, count);
    const nUsers = users?.totalResults ?? 0;
    const shown = users?.Resources ?? [];
    const groups = await page(ScimGroup, filter.Group, ctx, Math.max(1, startIndex - nUsers), count - shown.length);
    res.json(listResponse([...shown, ...(groups?.Resources ?? [])], nUsers + (groups?.totalResults ?? 0), startIndex));
  } catch (e) {
    ctx.error = e as Error;
    next(e);
  }
}
