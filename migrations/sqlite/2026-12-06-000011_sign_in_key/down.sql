DROP INDEX users_live_external_id;
ALTER TABLE users DROP COLUMN external_id_shared;
ALTER TABLE users DROP COLUMN user_name_source;
