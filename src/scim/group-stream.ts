// GET /Groups/{id} with its members, written as a stream: the group's attributes (shaped by scimmy) and then the
// members a chunk at a time, so a 100,000-member group never exists as one array or one string in memory.
// On SQLite pages are read back to back without yielding unless the client is slower than we write; a slow client's
// response may then include changes committed while it streamed (the ETag is the version at the start). PostgreSQL
// reads the members in one statement, from one snapshot.
import type { NextFunction, Request, Response } from 'express';
import SCIMMY from 'scimmy';
import { etagOf, parseEtagList, type ScimContext } from './context';
import { groupBase, groupObject, wantsMembers } from './groups';
import { rewriteLocations } from './mount';
import { plainJson } from './shared';

function drainedOrClosed(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

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
    // Members come from the store as JSON text, a chunk at a time (no object per member on either side); a chunk
    // is written once the previous one is taken, so memory holds about one chunk whatever the group's size.
    // A client that goes away mid-stream never drains: stop reading then (Node marks the response destroyed when its
    // socket closes), so the store lets go of what it holds (on PostgreSQL a pooled connection in the middle of a COPY).
    let wrote = false;
    for await (const chunk of ctx.store.memberJson(ctx.tenant, id, `${base}/Users/`)) {
      if (!wrote) {
        res.status(200).type('application/scim+json');
        res.write(`${JSON.stringify(head).slice(0, -1)},"members":[`);
        wrote = true;
      }
      // The client may have gone while the next chunk was read: then no 'drain' or 'close' is left to wait for.
      if (res.destroyed) return;
      if (!res.write(chunk)) await drainedOrClosed(res);
      if (res.destroyed) return;
    }
    if (wrote) res.end(']}');
    else res.status(200).type('application/scim+json').end(JSON.stringify(head));
  } catch (e) {
    if (res.headersSent) {
      ctx.log.error({ err: e, tenant: ctx.tenant }, 'group stream failed');
      res.destroy();
      return;
    }
    next(e);
  }
}
