-- The end-of-use survey: one row per answer, holding nothing that identifies a device, an
-- address or a moment finer than a day. Days are days since 1970-01-01 (UTC).
-- id_hash: hex SHA-256 of the idempotency key and the entry's canonical JSON (a retry is
-- stored once). q1, q2: NULL = "no answer". start_day: NULL = not consented.
-- days: NULL = daily data not consented; otherwise one 4-byte big-endian unsigned integer per
-- day, ascending, of (day * 2 + exposure_detected). In the row rather than a table of days:
-- at thousands of answers a second with 200 days each, a row per day would be a million
-- inserts a second.
CREATE TABLE survey_responses (
    id_hash TEXT PRIMARY KEY NOT NULL CHECK (length(id_hash) = 64),
    received_day BIGINT NOT NULL,
    q1 BIGINT CHECK (q1 BETWEEN 1 AND 9),
    q2 BIGINT CHECK (q2 BETWEEN 1 AND 3),
    start_day BIGINT,
    days BYTEA CHECK (octet_length(days) % 4 = 0)
);
