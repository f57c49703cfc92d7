DROP TABLE service_integrations;
DROP TABLE service_teams;
DROP TABLE services;
