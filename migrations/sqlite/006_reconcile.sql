-- Reconciliation (issue 14): repairs are ordinary outbox events addressed to one target; the remote member list a
-- run reads is kept here page by page so that differences are set operations in SQL (memory stays flat whatever the
-- group's size); remote ids are looked up back to SCIM users; the audit trail records runs as 'reconcile'.

-- NULL: every target that takes the event's type; a name: that target only (a reconciliation repair).
ALTER TABLE outbox ADD COLUMN target TEXT;

CREATE INDEX links_remote ON links (target, kind, tenant, remote_id);

CREATE TABLE reconcile_seen (
  run       TEXT NOT NULL,
  remote_id TEXT NOT NULL,
  PRIMARY KEY (run, remote_id)
) WITHOUT ROWID;

-- SQLite cannot change a CHECK constraint in place: the audit table is rebuilt with 'reconcile' allowed.
CREATE TABLE audit_log_next (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  at            TEXT NOT NULL,
  tenant        TEXT NOT NULL,
  subject       TEXT,
  jti           TEXT,
  mount         TEXT NOT NULL,
  operation     TEXT NOT NULL CHECK (operation IN ('create', 'replace', 'patch', 'delete', 'reconcile')),
  resource_type TEXT NOT NULL,
  resource_id   TEXT NOT NULL,
  request_id    TEXT,
  summary       TEXT NOT NULL
);
INSERT INTO audit_log_next SELECT seq, at, tenant, subject, jti, mount, operation, resource_type, resource_id, request_id, summary FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_next RENAME TO audit_log;
CREATE INDEX audit_log_tenant ON audit_log (tenant, seq);
CREATE INDEX audit_log_resource ON audit_log (tenant, resource_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);
