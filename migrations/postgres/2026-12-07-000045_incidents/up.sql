-- Incidents and what opens them: alerts (one per open dedup key and integration), the
-- incident's timeline (log entries), its notes, the people it is assigned to, and change
-- events (deploys and the like) on a service's timeline.
CREATE SEQUENCE incident_numbers;

CREATE TABLE incidents (
    id TEXT PRIMARY KEY NOT NULL,
    number BIGINT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    urgency TEXT NOT NULL,
    incident_key TEXT NOT NULL,
    -- Deleting a service deletes its incidents, as PagerDuty does.
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    -- The policy it escalates through, as it was when it opened (no reference: a policy
    -- can later be deleted, and the incident's history names it by id).
    escalation_policy_id TEXT NOT NULL,
    -- 1-based level reached, and times the policy has been gone round.
    escalation_level INTEGER NOT NULL,
    escalation_loops INTEGER NOT NULL,
    -- When the next escalation step is due (none once acknowledged, resolved, or low urgency).
    escalate_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_status_change_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX incidents_created ON incidents (created_at, id);
CREATE INDEX incidents_status ON incidents (status, created_at);
CREATE INDEX incidents_service ON incidents (service_id, created_at);
CREATE INDEX incidents_due ON incidents (escalate_at) WHERE escalate_at IS NOT NULL;

CREATE TABLE incident_assignments (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assigned_at TIMESTAMP NOT NULL,
    PRIMARY KEY (incident_id, user_id)
);
CREATE INDEX incident_assignments_user ON incident_assignments (user_id);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    service_id TEXT NOT NULL,
    -- Follow-up events match an alert only through the integration that opened it.
    integration_id TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT,
    summary TEXT NOT NULL,
    source TEXT,
    component TEXT,
    alert_group TEXT,
    class TEXT,
    custom_details TEXT,
    -- links, images, client, client_url, and the monitor's timestamp
    extras TEXT NOT NULL,
    event_count BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_event_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP
);
-- One open alert per key and integration: two triggers racing for a new key meet here.
CREATE UNIQUE INDEX alerts_open_key ON alerts (integration_id, dedup_key) WHERE resolved_at IS NULL;
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE incident_log_entries (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Who did it: a user, an API token, an integration, or Rota itself.
    agent_kind TEXT NOT NULL,
    agent_id TEXT,
    agent_name TEXT NOT NULL,
    channel TEXT NOT NULL,
    summary TEXT NOT NULL,
    details TEXT
);
CREATE INDEX incident_log_entries_incident ON incident_log_entries (incident_id, created_at, id);
CREATE INDEX incident_log_entries_created ON incident_log_entries (created_at, id);

CREATE TABLE incident_notes (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id TEXT,
    user_name TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX incident_notes_incident ON incident_notes (incident_id, created_at, id);

CREATE TABLE change_events (
    id TEXT PRIMARY KEY NOT NULL,
    service_id TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL,
    summary TEXT NOT NULL,
    source TEXT,
    happened_at TIMESTAMP NOT NULL,
    custom_details TEXT,
    links TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX change_events_service ON change_events (service_id, happened_at);

-- The escalation engine's steps are version 1 of its processing (`domain::processing`).
INSERT INTO processing_versions (job, version) VALUES ('escalation', 1);
