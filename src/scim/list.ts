// List requests: filter, paging and sorting read from the query, and the ListResponse built around a page the
// store already cut (scimmy's ListResponse would page again, so its counters are set afterwards).
import SCIMMY from 'scimmy';
import type { ListQuery } from '../store/types';
import type { ScimContext } from './context';
import { badRequest } from './errors';
import { parseFilter, resolveSortBy, type ResourceKind } from './filter';

function intParam(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!/^-?\d+$/.test(raw.trim())) throw badRequest('invalidValue', `${name} must be an integer, got "${raw}"`);
  return Number(raw.trim());
}

export function listQuery(kind: ResourceKind, ctx: ScimContext, sortable: string[]): ListQuery {
  const q = ctx.query;
  const startIndex = Math.max(1, intParam('startIndex', q.startIndex) ?? 1);
  // RFC 7644 §3.4.2.4: a negative count is 0; an over-large one is capped by what we advertise.
  const count = Math.min(Math.max(0, intParam('count', q.count) ?? ctx.maxResults), ctx.maxResults);
  const sortOrder = q.sortOrder?.toLowerCase();
  if (sortOrder !== undefined && sortOrder !== 'ascending' && sortOrder !== 'descending') {
    throw badRequest('invalidValue', 'sortOrder must be "ascending" or "descending"');
  }
  return {
    filter: ctx.resolvedFilter ?? (q.filter !== undefined
      ? parseFilter(kind, q.filter, { maxLength: ctx.limits.maxFilterLength, maxDepth: ctx.limits.maxFilterDepth })
      : undefined),
    startIndex,
    count,
    sortBy: resolveSortBy(kind, q.sortBy, sortable),
    sortOrder: sortOrder as ListQuery['sortOrder'],
  };
}

export function listResponse(resources: object[], total: number, startIndex: number): InstanceType<typeof SCIMMY.Messages.ListResponse> {
  const lr = new SCIMMY.Messages.ListResponse(resources as never[], { totalResults: total, startIndex: 1, count: resources.length });
  lr.startIndex = startIndex;
  lr.itemsPerPage = resources.length;
  return lr;
}
