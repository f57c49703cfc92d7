-- Acknowledge/resolve links in notification e-mails are single use: a link's `jti` is
-- recorded here in the transaction that acts on it, so a second use meets the primary key.
-- The signing key is a row of `server_keys` (name `action_links`), made on first use.
CREATE TABLE used_action_links (
    jti TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL,
    used_at TIMESTAMP NOT NULL
);
