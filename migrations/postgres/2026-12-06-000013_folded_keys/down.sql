-- user_name_key and teams.name_key keep the keys domain::caseless made: they differ from
-- lower-cased names only for letters such as ß, and stay unique.
DROP TABLE key_folding;
ALTER TABLE contact_methods DROP COLUMN label_key;
ALTER TABLE contact_methods DROP COLUMN address_key;
ALTER TABLE users DROP COLUMN email_key;
ALTER TABLE users DROP COLUMN department_key;
ALTER TABLE users DROP COLUMN division_key;
ALTER TABLE users DROP COLUMN organization_key;
ALTER TABLE users DROP COLUMN cost_center_key;
ALTER TABLE users DROP COLUMN employee_number_key;
ALTER TABLE users DROP COLUMN time_zone_key;
ALTER TABLE users DROP COLUMN locale_key;
ALTER TABLE users DROP COLUMN preferred_language_key;
ALTER TABLE users DROP COLUMN user_type_key;
ALTER TABLE users DROP COLUMN job_title_key;
ALTER TABLE users DROP COLUMN nick_name_key;
ALTER TABLE users DROP COLUMN middle_name_key;
ALTER TABLE users DROP COLUMN name_formatted_key;
ALTER TABLE users DROP COLUMN family_name_key;
ALTER TABLE users DROP COLUMN given_name_key;
ALTER TABLE users DROP COLUMN name_key;
