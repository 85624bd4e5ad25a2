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
import type { MemberJsonPage } from '../store/types';

const PAGE = 5000;
/** Pages asked for before the one being written is done (each holds a pooled connection on PostgreSQL). */
const AHEAD = 3;
const UNLIMITED = 2 ** 31 - 1;

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
    // Members come from the database as JSON text, a page at a time (no object per member on either side). The
    // page boundaries are read first, so several pages are built at once (PostgreSQL on several connections and
    // cores) while Node writes them out in order; at most AHEAD pages are held.
    const ref = `${base}/Users/`;
    const ends = await ctx.store.memberPageEnds(ctx.tenant, id, PAGE);
    const ranges = [...ends, undefined].map((through, i) => ({ after: i ? ends[i - 1] : undefined, through }));
    const pending: Promise<MemberJsonPage>[] = [];
    let asked = 0;
    const askAhead = (): void => {
      while (pending.length < AHEAD && asked < ranges.length) {
        // Pages between boundaries can grow while we stream (concurrent adds): no limit, the range is the page.
        const p = ctx.store.pageMemberJson(ctx.tenant, id, ref, { ...ranges[asked++], limit: UNLIMITED });
        p.catch(() => undefined); // awaited in order below; a failure of a later page must not go unhandled meanwhile
        pending.push(p);
      }
    };
    askAhead();
    const headJson = JSON.stringify(head);
    res.status(200).type('application/scim+json');
    let wrote = false;
    while (pending.length) {
      const page = await pending.shift()!;
      askAhead();
      if (!page.count) continue;
      const chunk = wrote ? `,${page.json}` : `${headJson.slice(0, -1)},"members":[${page.json}`;
      wrote = true;
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end(wrote ? ']}' : headJson);
  } catch (e) {
    if (res.headersSent) {
      ctx.log.error({ err: e, tenant: ctx.tenant }, 'group stream failed');
      res.destroy();
      return;
    }
    next(e);
  }
}
