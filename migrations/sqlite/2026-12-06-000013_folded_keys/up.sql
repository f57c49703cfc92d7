-- Caseless keys for every text that SCIM filters and REST searches compare case-insensitively
-- (RFC 7643 `caseExact: false`), computed in Rust (domain::caseless): SQLite's lower() folds
-- only ASCII and PostgreSQL's depends on the database's locale, so the backends disagreed on
-- any other letter. The lower() below is provisional, right for ASCII; `store::migrate`
-- recomputes every key in Rust when `key_folding.version` is behind domain::caseless::VERSION
-- (0 here), user_name_key and teams.name_key included.
ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN given_name_key TEXT;
ALTER TABLE users ADD COLUMN family_name_key TEXT;
ALTER TABLE users ADD COLUMN name_formatted_key TEXT;
ALTER TABLE users ADD COLUMN middle_name_key TEXT;
ALTER TABLE users ADD COLUMN nick_name_key TEXT;
ALTER TABLE users ADD COLUMN job_title_key TEXT;
ALTER TABLE users ADD COLUMN user_type_key TEXT;
ALTER TABLE users ADD COLUMN preferred_language_key TEXT;
ALTER TABLE users ADD COLUMN locale_key TEXT;
ALTER TABLE users ADD COLUMN time_zone_key TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN employee_number_key TEXT;
ALTER TABLE users ADD COLUMN cost_center_key TEXT;
ALTER TABLE users ADD COLUMN organization_key TEXT;
ALTER TABLE users ADD COLUMN division_key TEXT;
ALTER TABLE users ADD COLUMN department_key TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET name_key = lower(name), given_name_key = lower(given_name), family_name_key = lower(family_name), name_formatted_key = lower(name_formatted), middle_name_key = lower(middle_name), nick_name_key = lower(nick_name), job_title_key = lower(job_title), user_type_key = lower(user_type), preferred_language_key = lower(preferred_language), locale_key = lower(locale), time_zone_key = lower(time_zone), employee_number_key = lower(employee_number), cost_center_key = lower(cost_center), organization_key = lower(organization), division_key = lower(division), department_key = lower(department), email_key = lower(email);
ALTER TABLE contact_methods ADD COLUMN address_key TEXT NOT NULL DEFAULT '';
ALTER TABLE contact_methods ADD COLUMN label_key TEXT NOT NULL DEFAULT '';
UPDATE contact_methods SET address_key = lower(address), label_key = lower(label);
CREATE TABLE key_folding (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO key_folding (id, version) VALUES (1, 0);
