// What a verified token says about its bearer. Everything past auth works with this, never with the raw JWT.
export interface Principal {
  tenant: string;
  scopes: ReadonlySet<string>;
  /** `sub` claim, for audit; may be absent. */
  subject?: string;
  /** `jti` claim; tokens without one cannot be revoked individually. */
  jti?: string;
}

export const DEFAULT_TENANT = 'default';
export const DEFAULT_SCOPES = ['scim:read', 'scim:write'] as const;
