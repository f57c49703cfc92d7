-- Sign-in: browser sessions (revocable server-side), logins in flight (single use), break-glass
-- passwords, the key that encrypts cookies, and tokens that act as one user.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    method TEXT NOT NULL,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE UNIQUE INDEX sessions_secret_hash ON sessions (secret_hash);
CREATE INDEX sessions_user ON sessions (user_id, revoked_at);

CREATE TABLE sign_in_attempts (
    state_hash TEXT PRIMARY KEY NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_attempts_created ON sign_in_attempts (created_at);

CREATE TABLE break_glass_accounts (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    enabled_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);

CREATE TABLE server_keys (
    name TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Users are only ever soft-deleted, and a token of a deleted user is refused when used.
ALTER TABLE tokens ADD COLUMN user_id TEXT;
CREATE INDEX tokens_user ON tokens (user_id);
