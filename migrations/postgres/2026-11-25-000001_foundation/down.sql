DROP TABLE audit_events;
DROP TABLE tokens;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE contact_methods;
DROP TABLE users;
