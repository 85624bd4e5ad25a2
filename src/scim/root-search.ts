// POST /.search at the root (RFC 7644 §3.4.3): one search over Users and Groups through the same filter → SQL path
// as /Users/.search and /Groups/.search, with paging, attributes and the tenant's scope; Users come first, then
// Groups. sortBy is refused (there is no one order over two resource types here), and a filter that names an
// attribute only one of the types has searches that type only.
import type { NextFunction, Request, Response } from 'express';
import type { ScimContext } from './context';
import { badRequest, ScimHttpError } from './errors';
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

/** One type's page, or undefined when the filter names attributes that type does not have. */
async function page(kind: Lister, ctx: ScimContext, startIndex: number, count: number): Promise<Listed | undefined> {
  const params: Record<string, string> = {};
  if (ctx.query.attributes) params.attributes = ctx.query.attributes;
  if (ctx.query.excludedAttributes) params.excludedAttributes = ctx.query.excludedAttributes;
  const query = { ...ctx.query, startIndex: String(startIndex), count: String(count) };
  try {
    return await new kind(params as never).read({ ...ctx, query, error: undefined }) as Listed;
  } catch (e) {
    if (e instanceof ScimHttpError && e.scimType === 'invalidFilter' && /is not supported in filters for/.test(e.message)) return undefined;
    throw e;
  }
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
    const users = await page(ScimUser, ctx, startIndex, count);
    const nUsers = users?.totalResults ?? 0;
    const shown = users?.Resources ?? [];
    const groups = await page(ScimGroup, ctx, Math.max(1, startIndex - nUsers), count - shown.length);
    if (!users && !groups) throw badRequest('invalidFilter', 'The filter names attributes neither Users nor Groups have');
    res.json(listResponse([...shown, ...(groups?.Resources ?? [])], nUsers + (groups?.totalResults ?? 0), startIndex));
  } catch (e) {
    ctx.error = e as Error;
    next(e);
  }
}
