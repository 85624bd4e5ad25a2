-- Links list in the order they were made. Their created time is kept to the millisecond, so two links made in the
-- same millisecond came back in either order; a sequence breaks the tie. Replacing a link (ON CONFLICT DO UPDATE)
-- keeps its place. SQLite needs no change: its rowid already counts up in insertion order and survives the upsert.
ALTER TABLE links ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
