// scimmy's registry and configuration are process-global: declare our resources and build the scimmy-routers
// instance once, and keep everything per-request in the context instead.
import type { Request, Router } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { DEFAULT_BULK_LIMITS } from './bulk-request';
import { canonicalValuesAsSuggestions } from './canonical';
import { ScimGroup } from './groups';
import { ScimUser } from './users';

let routers: Router | undefined;
let maxResultsSet = 0;

/** ServiceProviderConfig: exactly what the gateway supports. */
function configure(maxResults: number): void {
  SCIMMY.Config.set({
    documentationUri: 'https://github.com/scimbridge/scimbridge#readme',
    patch: { supported: true },
    // The limits of each app are written into its answer (router.ts shapeResponses).
    bulk: { supported: true, maxOperations: DEFAULT_BULK_LIMITS.maxOperations, maxPayloadSize: DEFAULT_BULK_LIMITS.maxPayloadSize },
    filter: { supported: true, maxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [],
  });
  SCIMMY.Config.set({
    authenticationSchemes: [{
      type: 'oauthbearertoken',
      name: 'OAuth Bearer Token',
      description: 'A JWT issued by the gateway CLI or your identity platform, sent as "Authorization: Bearer <token>"',
      specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
      primary: true,
    }],
  });
  maxResultsSet = maxResults;
}

/**
 * The Group schema as the gateway applies it: members are users (a member of type Group is refused until nested
 * groups exist), so members.type and members.$ref advertise "User" only.
 */
function membersAreUsers(): void {
  type Attr = { name: string; config: { canonicalValues?: unknown; referenceTypes?: unknown }; subAttributes?: Attr[] };
  const members = (SCIMMY.Schemas.Group.definition.attributes as unknown as Attr[]).find((a) => a.name === 'members');
  for (const sub of members?.subAttributes ?? []) {
    if (sub.name === 'type') sub.config.canonicalValues = ['User'];
    if (sub.name === '$ref') sub.config.referenceTypes = ['User'];
  }
}

export function scimmyRouters(maxResults: number): Router {
  if (!routers) {
    SCIMMY.Resources.declare(ScimUser as never, 'User');
    SCIMMY.Resources.declare(ScimGroup as never, 'Group');
    (ScimUser as unknown as typeof SCIMMY.Resources.User).extend(SCIMMY.Schemas.EnterpriseUser as never, false);
    canonicalValuesAsSuggestions();
    membersAreUsers();
    routers = new SCIMMYRouters({
      type: 'bearer',
      // Authentication already happened in our middleware; this only satisfies scimmy-routers' contract.
      handler: () => 'authenticated',
      context: (req: Request) => req.res!.locals.scim,
      baseUri: () => 'https://scimbridge.invalid',
    }) as unknown as Router;
  }
  if (maxResultsSet !== maxResults) configure(maxResults);
  return routers;
}
