-- Test notifications a person asked for (`POST /api/v2/users/{id}/contact_methods/{id}/test`,
-- the profile page's button): one row per test. The rows are what the once-a-minute limit
-- reads (so it holds across instances), and for phones and webhooks the outbox the
-- notification dispatcher sends from (claimed under a lease, retried with backoff); an
-- e-mail test is queued in `emails` and names that row (`email_id`). Not `notifications`:
-- those are an incident's pages, sent under its send guard, held by storm control per
-- service, and a call's keypress acts on their incidents; a test has no incident.
CREATE TABLE contact_tests (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_method_id TEXT NOT NULL REFERENCES contact_methods (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    email_id TEXT,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT,
    provider_ref TEXT
);
CREATE INDEX contact_tests_method ON contact_tests (contact_method_id, created_at);
CREATE INDEX contact_tests_due ON contact_tests (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL AND email_id IS NULL;
