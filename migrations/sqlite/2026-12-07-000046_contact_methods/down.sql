DROP TABLE notification_rules;
DROP INDEX contact_methods_address;
ALTER TABLE contact_methods DROP COLUMN country_code;
ALTER TABLE contact_methods DROP COLUMN source;
