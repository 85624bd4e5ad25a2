// Downstream SCIM 2.0 targets: group changes replayed onto another SCIM service provider. `baseUrl` is the SCIM
// base URL (e.g. https://host/api/scim/v2); every call carries `Authorization: Bearer <credential>` (RFC 7644 §2;
// DronaHQ: "Bearer <SCIM Auth Token>"). `options.dialect` picks the calls: 'rfc7644' (default, scim-rfc7644.ts) or
// 'dronahq' (DronaHQ's bare-members PATCH and userEmail filter, scim-dronahq.ts). The flow (links, user lookup,
// coalescing, skips) is the shared one in group-sync.ts.
import { groupTargetEvents, remoteGroupOf, type Connector, type GroupReader, type ReadContext } from '../connector';
import { deliverGroupBatch } from '../group-sync';
import { groupPath } from './scim-shared';
import { deliverUserBatch } from '../user-sync';
import type { TargetConfig } from '../targets';
import { dronahqApi } from './scim-dronahq';
import { rfc7644Api } from './scim-rfc7644';

type ScimDialect = 'rfc7644' | 'dronahq';

function scimDialect(target: TargetConfig): ScimDialect {
  return target.options.dialect === 'dronahq' ? 'dronahq' : 'rfc7644';
}

/** RFC 7644 §3.1/§8.1: SCIM's media type, with plain JSON accepted too. DronaHQ's docs show plain JSON (the default). */
function withScimMediaType<C extends ReadContext>(ctx: C): C {
  return {
    ...ctx,
    call: (spec) => ctx.call({
      ...spec,
      headers: {
        accept: 'application/scim+json, application/json',
        ...(spec.body !== undefined || spec.rawBody !== undefined ? { 'content-type': 'application/scim+json' } : {}),
        ...spec.headers,
      },
    }),
  };
}

export function scimConnector(target: TargetConfig): Connector {
  const dronahq = scimDialect(target) === 'dronahq';
  // Deprovisioning also sets the downstream user's `active` (user.deactivated; user.updated marks a reactivation).
  const types = target.deactivated === 'remove' ? [...groupTargetEvents(target), 'user.deactivated', 'user.updated'] as const : groupTargetEvents(target);
  // GET /Groups/{id} (RFC 7644 §3.4.1; DronaHQ get-group): displayName and members[].value, in one answer.
  const reader: GroupReader = {
    describes: false,
    async readGroup(ctx, remoteId) {
      const c = dronahq ? ctx : withScimMediaType(ctx);
      const res = await c.call({ method: 'GET', path: groupPath(remoteId), returnStatuses: [404] });
      return res.status === 404 ? undefined : remoteGroupOf(res.json(), 'displayName');
    },
    async *members(ctx, remoteId) {
      const c = dronahq ? ctx : withScimMediaType(ctx);
      const members = (await c.call({ method: 'GET', path: groupPath(remoteId) })).json<{ members?: { value?: unknown }[] }>()?.members;
      yield (Array.isArray(members) ? members : []).map((m) => m?.value).filter((v) => typeof v === 'string' || typeof v === 'number').map(String);
    },
  };
  return {
    types,
    reader,
    authHeaders: () => ({ authorization: `Bearer ${target.credential}` }),
    deliver: (ctx) => {
      const api = dronahq ? dronahqApi : rfc7644Api;
      const c = dronahq ? ctx : withScimMediaType(ctx);
      return ctx.batch.aggregate.startsWith('user:') ? deliverUserBatch(c, api) : deliverGroupBatch(c, api);
    },
  };
}
