// Errors the auth layer raises. Messages are ours: jose's messages (and the claim
// payloads some jose errors carry) never reach a client or a log line.

export type AuthErrorCode = 'missing_token' | 'invalid_token' | 'insufficient_scope' | 'revoked';

export class AuthError extends Error {
  /**
   * @param code stable machine code; 'revoked' is answered to clients as invalid_token.
   * @param reason short tag of our own for operator logs (e.g. 'expired', 'signature', 'claim:aud').
   */
  constructor(readonly code: AuthErrorCode, message: string, readonly reason?: string) {
    super(message);
    this.name = 'AuthError';
  }

  /** The RFC 6750 error code a client sees (undefined: send no error attribute). */
  get bearerError(): 'invalid_token' | 'insufficient_scope' | undefined {
    if (this.code === 'missing_token') return undefined;
    return this.code === 'insufficient_scope' ? 'insufficient_scope' : 'invalid_token';
  }
}

/**
 * The configured JWKS endpoint could not be fetched or parsed. Not the client's fault,
 * so it is answered with 503 rather than 401 (a 401 would make an IdP think its
 * credentials were wrong and possibly disable provisioning).
 */
export class KeySetUnavailableError extends Error {
  constructor(message = 'The token signing keys could not be fetched.') {
    super(message);
    this.name = 'KeySetUnavailableError';
  }
}
