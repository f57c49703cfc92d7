DROP INDEX notifications_recent;
DROP INDEX notifications_provider_ref;
ALTER TABLE notifications DROP COLUMN provider_ref;
