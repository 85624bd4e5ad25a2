-- Replicas remember "this token is not revoked" (src/store/postgres/revocation-cache.ts) and forget it when told.
-- Every write to revoked_tokens, by the gateway or by hand, tells every listening replica at its commit. The payload
-- is empty: a replica forgets everything it remembered (revocations are rare), and NOTIFY payloads have a size limit
-- that a long jti could pass.
CREATE FUNCTION scim_revocation_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('scimbridge_revocations', '');
  RETURN NULL;
END
$fn$;

CREATE TRIGGER revoked_tokens_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON revoked_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION scim_revocation_notify();
