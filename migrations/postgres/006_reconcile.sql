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
);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_operation_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_operation_check
  CHECK (operation IN ('create', 'replace', 'patch', 'delete', 'reconcile'));
