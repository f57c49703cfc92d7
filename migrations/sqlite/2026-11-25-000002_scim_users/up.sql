-- SCIM 2.0 user attributes (RFC 7643 core + enterprise extension) and soft deletion: a
-- deleted user keeps their row for history, and their userName becomes free again.
ALTER TABLE users ADD COLUMN name_formatted TEXT;
ALTER TABLE users ADD COLUMN middle_name TEXT;
ALTER TABLE users ADD COLUMN honorific_prefix TEXT;
ALTER TABLE users ADD COLUMN honorific_suffix TEXT;
ALTER TABLE users ADD COLUMN nick_name TEXT;
ALTER TABLE users ADD COLUMN user_type TEXT;
ALTER TABLE users ADD COLUMN preferred_language TEXT;
ALTER TABLE users ADD COLUMN addresses TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN scim_roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN employee_number TEXT;
ALTER TABLE users ADD COLUMN cost_center TEXT;
ALTER TABLE users ADD COLUMN organization TEXT;
ALTER TABLE users ADD COLUMN division TEXT;
ALTER TABLE users ADD COLUMN department TEXT;
ALTER TABLE users ADD COLUMN manager_id TEXT;
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMP;
-- The user as the identity provider last described it, echoed back on SCIM reads.
ALTER TABLE users ADD COLUMN scim_document TEXT;
DROP INDEX users_user_name_key;
DROP INDEX users_entra_identity;
CREATE UNIQUE INDEX users_user_name_key ON users (user_name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_entra_identity ON users (tenant_id, object_id) WHERE deleted_at IS NULL;
