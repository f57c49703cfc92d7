-- A personal token's name is its holder's own: two people may each call theirs "laptop".
-- Service and SCIM tokens keep one name across the account (`rota token revoke NAME`).
DROP INDEX tokens_live_name;
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL AND user_id IS NULL;
CREATE UNIQUE INDEX tokens_live_personal_name ON tokens (user_id, name)
    WHERE revoked_at IS NULL AND user_id IS NOT NULL;
