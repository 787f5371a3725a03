-- The failure budget shared by replicas: per window of the rate limit, how many wrong
-- processing numbers were evaluated (failures) and how many attempts are being evaluated now
-- (in_flight). One row per window, no client data: the per-client limit lives in each process.
CREATE TABLE failure_budget (
    window_start BIGINT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL DEFAULT 0 CHECK (failures >= 0),
    in_flight BIGINT NOT NULL DEFAULT 0 CHECK (in_flight >= 0)
);
