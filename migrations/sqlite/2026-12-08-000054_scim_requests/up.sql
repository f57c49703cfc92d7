-- What Entra's provisioning asked of the SCIM endpoint and how each request ended: the
-- identity admins' "SCIM status" page lists the latest, errors first. Kept for 30 days
-- (`store::scim_requests::record` trims as it writes). `token_id` is NULL for a request whose
-- token was refused; `scim_type` and `detail` are the SCIM error's (RFC 7644 §3.12).
CREATE TABLE scim_requests (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    token_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    scim_type TEXT,
    detail TEXT,
    request_id TEXT
);
CREATE INDEX scim_requests_at ON scim_requests (at);
CREATE INDEX scim_requests_failed ON scim_requests (at) WHERE status >= 400;
