ALTER TABLE emails DROP COLUMN list_unsubscribe;
