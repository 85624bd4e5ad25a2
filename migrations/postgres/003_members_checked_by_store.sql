-- Numbered to match migrations/sqlite/003. PostgreSQL keeps its foreign keys on group_members: its checks are
-- set-based and cheap, and they guard writes from several replicas at once. Nothing to change here.
SELECT 1;
