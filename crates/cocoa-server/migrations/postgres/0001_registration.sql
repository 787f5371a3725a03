-- Processing numbers (only their HMAC), server secrets, and diagnosis keys.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY NOT NULL,
    value BYTEA NOT NULL
);

CREATE TABLE processing_numbers (
    number_hmac BYTEA PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    symptom_onset_day BIGINT,
    test_day BIGINT,
    used_at BIGINT,
    request_hash BYTEA,
    idempotency_hash BYTEA
);
CREATE INDEX processing_numbers_expires_at ON processing_numbers (expires_at);

CREATE TABLE diagnosis_keys (
    id BIGSERIAL PRIMARY KEY,
    region TEXT NOT NULL,
    key_data BYTEA NOT NULL CHECK (octet_length(key_data) = 16),
    rolling_start BIGINT NOT NULL CHECK (rolling_start >= 0),
    rolling_period BIGINT NOT NULL CHECK (rolling_period BETWEEN 1 AND 144),
    report_type BIGINT NOT NULL CHECK (report_type BETWEEN 0 AND 5),
    days_since_onset BIGINT NOT NULL CHECK (days_since_onset BETWEEN -14 AND 14),
    release_at BIGINT NOT NULL
);
CREATE INDEX diagnosis_keys_release_at ON diagnosis_keys (release_at);
