DROP INDEX tokens_user;
ALTER TABLE tokens DROP COLUMN user_id;
DROP TABLE server_keys;
DROP TABLE break_glass_accounts;
DROP TABLE sign_in_attempts;
DROP TABLE sessions;
