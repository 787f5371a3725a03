-- New positive registrations per UTC day (days since 1970-01-01) and region, for the survey's
-- analysis and GET /api/v1/stats/registrations. Keys are deleted after 14 days; these counts
-- are kept until the survey's deletion date. Updated in the transaction that stores a
-- registration's keys (a retry stores nothing, so it is not counted again); nothing here is
-- per person. registrations: accepted registrations; keys: the keys they stored in the region;
-- symptomatic_registrations: those registered with the symptomatic infectious window.
CREATE TABLE registration_stats (
    day BIGINT NOT NULL,
    region TEXT NOT NULL,
    registrations BIGINT NOT NULL CHECK (registrations >= 0),
    keys BIGINT NOT NULL CHECK (keys >= 0),
    symptomatic_registrations BIGINT NOT NULL
        CHECK (symptomatic_registrations BETWEEN 0 AND registrations),
    PRIMARY KEY (day, region)
);
