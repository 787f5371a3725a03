-- The budget of wrong processing numbers shared by replicas: per window of the rate limit, how
-- many failure slots have been granted to replicas in all. A replica takes slots in small
-- chunks and keeps them in memory; a slot is used up by a wrong number and reused after a right
-- one, so failures evaluated <= granted <= the limit. One row per window, no client data.
CREATE TABLE failure_budget (
    window_start BIGINT PRIMARY KEY NOT NULL,
    granted BIGINT NOT NULL CHECK (granted >= 0)
);
