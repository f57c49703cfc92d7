-- Fails while two live tokens share a name (revoke one first).
DROP INDEX tokens_live_personal_name;
DROP INDEX tokens_live_name;
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
