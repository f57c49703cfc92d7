-- The email outbox: a row is written in the transaction whose change calls for the email, so
-- it exists exactly when that change committed; the delivery job claims due rows (a lease in
-- claimed_until), sends them, and records the outcome or the next attempt.
CREATE TABLE emails (
    id TEXT PRIMARY KEY NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
-- What is due: unsent, not given up, by when it is next tried.
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
