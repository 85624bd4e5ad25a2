-- The audit trail: one record per committed SCIM write, written in the same transaction as the write.
CREATE TABLE audit_log (
  seq           BIGSERIAL PRIMARY KEY,
  at            TEXT NOT NULL,                 -- ISO-8601 UTC, the write's timestamp
  tenant        TEXT NOT NULL,
  subject       TEXT,                          -- the token's sub claim
  jti           TEXT,
  mount         TEXT NOT NULL,
  operation     TEXT NOT NULL CHECK (operation IN ('create', 'replace', 'patch', 'delete')),
  resource_type TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  request_id    TEXT,
  summary       JSONB NOT NULL                 -- attributes, membersAdded, membersRemoved, groupsLeft
);
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
CREATE INDEX audit_log_resource ON audit_log (tenant, resource_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);
