-- Calendar feeds (iCalendar): a secret URL per person (their own shifts) or per schedule
-- (everyone's shifts). Only the SHA-256 of the secret is kept; the URL is shown once.
-- Regenerating replaces the row, so the old URL stops working at once.
CREATE TABLE calendar_feeds (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT REFERENCES users (id),
    schedule_id TEXT REFERENCES schedules (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    -- Exactly one owner.
    CHECK ((user_id IS NULL) <> (schedule_id IS NULL))
);
-- One feed per owner (NULLs do not collide on either backend).
CREATE UNIQUE INDEX calendar_feeds_user ON calendar_feeds (user_id);
CREATE UNIQUE INDEX calendar_feeds_schedule ON calendar_feeds (schedule_id);
