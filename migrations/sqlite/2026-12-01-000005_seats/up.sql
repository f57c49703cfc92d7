-- Licence-capped seats. `users.licence` is the seat a person holds (NULL: none); `licences`
-- keeps each licence's cap and how many are held, the database refusing any write that would
-- exceed a cap; `seats` says since when, why and by whom a seat is held, who waits for one
-- (the queue, first come first served), a licence owner's manual choice, and the role a
-- seat-policy rule gave (taken back when the rule no longer matches).
CREATE TABLE licences (
    id TEXT PRIMARY KEY NOT NULL,
    cap BIGINT,
    held BIGINT NOT NULL DEFAULT 0,
    warned_percent INTEGER,
    configured_cap TEXT,
    updated_at TIMESTAMP NOT NULL,
    CONSTRAINT licences_cap_not_exceeded CHECK (cap IS NULL OR held <= cap),
    CONSTRAINT licences_held_not_negative CHECK (held >= 0)
);

CREATE TABLE seats (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since TIMESTAMP,
    reason TEXT,
    allocated_by TEXT,
    wanted TEXT,
    queued_at TIMESTAMP,
    queue_reason TEXT,
    pinned TEXT,
    ruled_role TEXT,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX seats_queue ON seats (queued_at, user_id) WHERE wanted IS NOT NULL;

-- One row per UTC day and licence: what the licence owners' history shows.
CREATE TABLE licence_usage_days (
    day TEXT NOT NULL,
    licence TEXT NOT NULL,
    cap BIGINT,
    held BIGINT NOT NULL,
    peak_held BIGINT NOT NULL,
    queued BIGINT NOT NULL,
    PRIMARY KEY (day, licence)
);

-- Runs of periodic jobs: the key makes each run happen once, whichever instance claims it.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    run_key TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    summary TEXT,
    PRIMARY KEY (job, run_key)
);

-- The team role a member had before losing their full seat, given back with it.
ALTER TABLE team_members ADD COLUMN demoted_role TEXT;
-- Entra app role values (from sign-in's roles claim or SCIM roles), which seat rules match.
ALTER TABLE users ADD COLUMN app_roles TEXT NOT NULL DEFAULT '[]';

-- Everyone already here keeps a seat (there were no caps before).
UPDATE users SET licence = NULL;
UPDATE users SET licence = CASE
        WHEN role IN ('observer', 'read_only_user', 'read_only_limited_user', 'license_owner')
        THEN 'stakeholder' ELSE 'full' END
    WHERE deleted_at IS NULL AND active = 1;
INSERT INTO seats (user_id, since, reason, allocated_by, updated_at)
    SELECT id, created_at, 'existing account', 'migration', created_at FROM users
    WHERE licence IS NOT NULL;
INSERT INTO licences (id, held, updated_at)
    SELECT 'full', COUNT(*), CURRENT_TIMESTAMP FROM users WHERE licence = 'full';
INSERT INTO licences (id, held, updated_at)
    SELECT 'stakeholder', COUNT(*), CURRENT_TIMESTAMP FROM users WHERE licence = 'stakeholder';
