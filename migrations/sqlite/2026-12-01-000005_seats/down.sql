ALTER TABLE users DROP COLUMN app_roles;
ALTER TABLE team_members DROP COLUMN demoted_role;
DROP TABLE job_runs;
DROP TABLE licence_usage_days;
DROP TABLE seats;
DROP TABLE licences;
