-- Who set each user's sign-in name (user_name): 'entra_scim', 'entra_sign_in', 'admin', or
-- 'unverified'. First sign-in and Entra's SCIM matching link accounts by this name, so only
-- a name that Entra or an administrator set may be adopted.
--
-- Accounts made by SCIM or by sign-in always had their name from Entra (the REST API never
-- changed it for them). Accounts made through the REST API are 'unverified': until now the
-- person themselves could move their name by changing their e-mail address, and nothing
-- records whether they did. Such an account still signs in by its linked Entra identity,
-- which confirms the name when it matches the token; otherwise an administrator confirms it.
ALTER TABLE users ADD COLUMN user_name_source TEXT NOT NULL DEFAULT 'unverified';
UPDATE users SET user_name_source = CASE provisioned_by
        WHEN 'scim' THEN 'entra_scim'
        WHEN 'sign_in' THEN 'entra_sign_in'
        ELSE 'unverified' END;

-- An externalId belongs to one live user. Databases from before this rule may hold
-- duplicates, which a plain unique index would refuse to build: the oldest live holder of
-- each keeps it under the index; the others are marked shared, exempt until SCIM gives them
-- another externalId, and sign-in by a shared externalId is refused until it is resolved.
ALTER TABLE users ADD COLUMN external_id_shared BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE users SET external_id_shared = TRUE
    WHERE deleted_at IS NULL AND external_id IS NOT NULL AND EXISTS (
        SELECT 1 FROM users older
        WHERE older.external_id = users.external_id AND older.deleted_at IS NULL
          AND (older.created_at < users.created_at
               OR (older.created_at = users.created_at AND older.id < users.id)));
CREATE UNIQUE INDEX users_live_external_id ON users (external_id)
    WHERE deleted_at IS NULL AND NOT external_id_shared;
