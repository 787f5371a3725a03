-- Processing numbers (only their HMAC), server secrets, and diagnosis keys.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE processing_numbers (
    number_hmac BLOB PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    symptom_onset_day INTEGER,
    test_day INTEGER,
    used_at INTEGER,
    request_hash BLOB,
    idempotency_hash BLOB
);
CREATE INDEX processing_numbers_expires_at ON processing_numbers (expires_at);

CREATE TABLE diagnosis_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    region TEXT NOT NULL,
    key_data BLOB NOT NULL CHECK (length(key_data) = 16),
    rolling_start INTEGER NOT NULL CHECK (rolling_start >= 0),
    rolling_period INTEGER NOT NULL CHECK (rolling_period BETWEEN 1 AND 144),
    report_type INTEGER NOT NULL CHECK (report_type BETWEEN 0 AND 5),
    days_since_onset INTEGER NOT NULL CHECK (days_since_onset BETWEEN -14 AND 14),
    release_at INTEGER NOT NULL
);
CREATE INDEX diagnosis_keys_release_at ON diagnosis_keys (release_at);
