-- Export files: each holds keys of one region and key day; padding stored for regeneration.
CREATE TABLE export_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    region TEXT NOT NULL,
    key_day INTEGER NOT NULL,
    start_timestamp INTEGER NOT NULL,
    end_timestamp INTEGER NOT NULL,
    shuffle_seed INTEGER NOT NULL,
    padding BLOB NOT NULL,
    real_keys INTEGER NOT NULL,
    created_ms INTEGER
);
CREATE INDEX export_files_region ON export_files (region, id);

ALTER TABLE diagnosis_keys ADD COLUMN export_file_id INTEGER;
-- Pending keys by region and day, in id order: what planning a file reads.
CREATE INDEX diagnosis_keys_pending ON diagnosis_keys (region, rolling_start, id) WHERE export_file_id IS NULL;
CREATE INDEX diagnosis_keys_file ON diagnosis_keys (export_file_id);

CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Nothing looks keys up by release time alone: the pending index serves export planning.
DROP INDEX diagnosis_keys_release_at;
