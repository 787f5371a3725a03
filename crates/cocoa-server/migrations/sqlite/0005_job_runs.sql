-- When each scheduled job (export, retention) last completed, on any replica: what /healthz
-- and /metrics compare with the clock. Unix seconds.
CREATE TABLE job_runs (
    name TEXT PRIMARY KEY NOT NULL,
    last_success_at BIGINT NOT NULL
);
