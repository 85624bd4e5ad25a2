-- Egress: what each target has been handed from the outbox, every delivery attempt, and the links between SCIM ids
-- and each target's own ids. Times the worker compares are epoch milliseconds (BIGINT); times people read are ISO text.

-- How far each target has taken events from the outbox. On PostgreSQL the position is a snapshot, not a seq
-- (see src/store/postgres/egress.ts): every event visible in `snap` has been taken. While a large window is being
-- taken a page at a time, `win_snap` is the window's upper snapshot and `win_seq` the last seq taken from it.
-- last_seq is the highest seq taken so far (informational, same meaning as on SQLite).
CREATE TABLE target_cursors (
  target   TEXT PRIMARY KEY,
  last_seq BIGINT NOT NULL,
  snap     pg_snapshot,
  win_snap pg_snapshot,
  win_seq  BIGINT
);

-- One row per (target, outbox event) the target cares about.
CREATE TABLE deliveries (
  target      TEXT    NOT NULL,
  seq         BIGINT  NOT NULL,
  tenant      TEXT    NOT NULL,
  aggregate   TEXT    NOT NULL,
  type        TEXT    NOT NULL,
  state       TEXT    NOT NULL CHECK (state IN ('pending', 'in_flight', 'done', 'skipped', 'dead')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  next_at     BIGINT  NOT NULL,
  lease_until BIGINT,
  last_status INTEGER,
  last_error  TEXT,
  created     TEXT    NOT NULL,
  updated     TEXT    NOT NULL,
  PRIMARY KEY (target, seq)
);
-- The worker's queue: open deliveries of a target, per aggregate in commit order.
CREATE INDEX deliveries_open ON deliveries (target, aggregate, seq) WHERE state IN ('pending', 'in_flight');
CREATE INDEX deliveries_state ON deliveries (target, state, seq);
CREATE INDEX deliveries_aggregate ON deliveries (target, aggregate, seq);

-- Every call made for a delivery batch (first_seq..last_seq of one aggregate), whatever its outcome.
CREATE TABLE delivery_attempts (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  target     TEXT    NOT NULL,
  aggregate  TEXT    NOT NULL,
  first_seq  BIGINT  NOT NULL,
  last_seq   BIGINT  NOT NULL,
  at         TEXT    NOT NULL,
  request    TEXT,                            -- "METHOD /path" (no query string, no body)
  status     INTEGER,
  latency_ms DOUBLE PRECISION,
  outcome    TEXT    NOT NULL CHECK (outcome IN ('success', 'retry', 'permanent', 'skip')),
  error      TEXT                             -- reason, or the target's error body, truncated
);
CREATE INDEX delivery_attempts_batch ON delivery_attempts (target, first_seq, last_seq);

-- SCIM id ↔ target id. Stored by SCIM id, so a rename keeps the link.
CREATE TABLE links (
  target    TEXT NOT NULL,
  kind      TEXT NOT NULL CHECK (kind IN ('group', 'user')),
  scim_id   TEXT NOT NULL,
  tenant    TEXT NOT NULL,
  remote_id TEXT NOT NULL,
  source    TEXT NOT NULL CHECK (source IN ('config', 'admin', 'created', 'lookup')),
  created   TEXT NOT NULL,
  PRIMARY KEY (target, kind, scim_id)
);
