-- Services: what events are sent to, each with an escalation policy, its teams and how
-- urgent its incidents are. An integration holds the SHA-256 of its routing key, never the
-- key (shown once, when made).
CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT,
    -- No cascade: deleting a policy a service uses is refused (the API names the services).
    escalation_policy_id TEXT NOT NULL REFERENCES escalation_policies (id),
    urgency_rule TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX services_name ON services (name_key, id);
CREATE INDEX services_escalation_policy ON services (escalation_policy_id);

CREATE TABLE service_teams (
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (service_id, team_id)
);
CREATE INDEX service_teams_team ON service_teams (team_id);

CREATE TABLE service_integrations (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX service_integrations_service ON service_integrations (service_id);
