// Store failures with stable codes; the SCIM layer maps each code to an HTTP status and scimType.
export type StoreErrorCode =
  | 'not_found'
  | 'uniqueness'
  | 'version_mismatch'
  | 'invalid_members'
  | 'unavailable';

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** For invalid_members: the member values that name no user of the tenant. */
    readonly values?: string[],
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** A userName another user of the tenant has (compared without case, as SCIM's caseExact: false says). */
export function userNameTaken(userName: string): StoreError {
  return new StoreError('uniqueness', `userName "${userName}" is already taken`);
}

/** invalid_members for the values that name no user of the tenant (the first 20 in the message). */
export function unknownMembers(missing: string[]): StoreError {
  const listed = `${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`;
  return new StoreError('invalid_members', `members name no user of this tenant: ${listed}`, missing);
}
