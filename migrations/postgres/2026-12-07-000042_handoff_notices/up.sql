-- Hand-off notices: each one is claimed here before its e-mail is queued (in the same
-- transaction), so with several instances on one database, and across restarts, each is
-- sent once. A notice found too late (the server was down longer than the grace window) is
-- recorded as skipped, so it is logged once too.
CREATE TABLE handoff_notices (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    fate TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (schedule_id, user_id, kind, at)
);
CREATE INDEX handoff_notices_due ON handoff_notices (due_at);

-- What each person wants to hear about their shifts (no row: hand-offs always, no reminder).
CREATE TABLE oncall_notification_settings (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id),
    handoff TEXT NOT NULL,
    reminder_hours INTEGER,
    updated_at TIMESTAMP NOT NULL
);

INSERT INTO processing_versions (job, version) VALUES ('handoff_notices', 1);
