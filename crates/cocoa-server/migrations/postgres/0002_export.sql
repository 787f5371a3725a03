-- Export files: each holds keys of one region and key day; padding stored for regeneration.
CREATE TABLE export_files (
    id BIGSERIAL PRIMARY KEY,
    region TEXT NOT NULL,
    key_day BIGINT NOT NULL,
    start_timestamp BIGINT NOT NULL,
    end_timestamp BIGINT NOT NULL,
    shuffle_seed BIGINT NOT NULL,
    padding BYTEA NOT NULL,
    real_keys BIGINT NOT NULL,
    created_ms BIGINT
);
CREATE INDEX export_files_region ON export_files (region, id);

ALTER TABLE diagnosis_keys ADD COLUMN export_file_id BIGINT;
-- Pending keys by region and day, in id order: what planning a file reads.
CREATE INDEX diagnosis_keys_pending ON diagnosis_keys (region, rolling_start, id) WHERE export_file_id IS NULL;
CREATE INDEX diagnosis_keys_file ON diagnosis_keys (export_file_id);

CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Nothing looks keys up by release time alone: the pending index serves export planning.
DROP INDEX diagnosis_keys_release_at;
