-- The operator console's throughput/backlog chart (issue 15): the worker writes each target's delivery counts once
-- per sampling interval (at rounded down to it, so replicas sampling at once write one row), kept for a day.
CREATE TABLE target_samples (
  target    TEXT    NOT NULL,
  at        TEXT    NOT NULL,
  pending   INTEGER NOT NULL,
  in_flight INTEGER NOT NULL,
  dead      INTEGER NOT NULL,
  done      INTEGER NOT NULL,
  skipped   INTEGER NOT NULL,
  PRIMARY KEY (target, at)
);
