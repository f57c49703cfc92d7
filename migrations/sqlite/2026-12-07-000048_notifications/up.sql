-- The notification outbox: one row per (incident, person, notification rule, escalation
-- step), written in the transaction that assigns the incident to the person, due after the
-- rule's delay; the dispatcher claims due rows under a lease, sends, and records the
-- outcome (retried with backoff, or failed for good, or cancelled once acknowledged).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- No reference: a rule changed or deleted later keeps the record of what it sent.
    rule_id TEXT NOT NULL,
    -- The incident's version when the level reached the person: a new escalation step is a
    -- new row, a retry is the same row.
    step BIGINT NOT NULL,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (incident_id, user_id, rule_id, step)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_incident ON notifications (incident_id, status);

INSERT INTO processing_versions (job, version) VALUES ('notification_delivery', 1);
