// GET /Groups/{id} with its members, written as a stream: the group's attributes (shaped by scimmy) and then the
// members a page at a time, so a 100,000-member group never exists as one array or one string in memory.
// Pages are read back to back without yielding unless the client is slower than we write; a slow client's
// response may then include changes committed while it streamed (the ETag is the version at the start).
import { once } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import SCIMMY from 'scimmy';
import { etagOf, parseEtagList, type ScimContext } from './context';
import { groupBase, groupObject, wantsMembers } from './groups';
import { rewriteLocations } from './mount';
import { plainJson } from './shared';

const PAGE = 5000;

export async function streamGroup(req: Request, res: Response, next: NextFunction): Promise<void> {
  const ctx = res.locals.scim as ScimContext;
  const base = res.locals.base as string;
  // Attribute selection other than the default goes through scimmy's shaping (members are small there or absent).
  if (ctx.query.attributes !== undefined || ctx.query.excludedAttributes !== undefined || !wantsMembers(ctx.query)) return next();
  const id = String(req.params.id);
  try {
    const rec = await ctx.store.getGroup(ctx.tenant, id);
    if (!rec) return next(); // scimmy answers the 404
    const head = plainJson(new SCIMMY.Schemas.Group(groupObject(rec), 'out', groupBase()));
    rewriteLocations(head, base);
    const etag = etagOf(rec.version);
    const inm = parseEtagList(req.get('if-none-match'));
    res.set('ETag', etag);
    if (inm && (inm.any || inm.versions.includes(rec.version))) {
      res.status(304).end();
      return;
    }
    // Members come from the database as JSON text, a page at a time (no object per member on either side).
    const ref = `${base}/Users/`;
    let page = await ctx.store.pageMemberJson(ctx.tenant, id, ref, { limit: PAGE });
    res.status(200).type('application/scim+json');
    const headJson = JSON.stringify(head);
    if (page.count === 0) {
      res.end(headJson);
      return;
    }
    let chunk = `${headJson.slice(0, -1)},"members":[${page.json}`;
    for (;;) {
      // The next page is asked for before this one is written: PostgreSQL builds it while Node sends this one.
      const next = page.next === undefined ? undefined : ctx.store.pageMemberJson(ctx.tenant, id, ref, { after: page.next, limit: PAGE });
      if (!res.write(chunk)) await once(res, 'drain');
      if (!next) break;
      page = await next;
      chunk = page.count ? `,${page.json}` : '';
    }
    res.end(']}');
  } catch (e) {
    if (res.headersSent) {
      ctx.log.error({ err: e, tenant: ctx.tenant }, 'group stream failed');
      res.destroy();
      return;
    }
    next(e);
  }
}
