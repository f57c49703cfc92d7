-- Incident communication: status updates and who subscribes to them, chat channels (Microsoft
-- Teams, Slack) with their outbox, and postmortems with their action items.

-- What responders tell stakeholders; each one is e-mailed to the subscribers.
CREATE TABLE status_updates (
    id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    author_id TEXT,
    author_name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX status_updates_incident ON status_updates (incident_id, created_at, id);

-- A person subscribed to the updates of one incident, a service's incidents or a team's.
-- One reference column per kind so deleting what was followed deletes the subscription.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    incident_id TEXT REFERENCES incidents (id) ON DELETE CASCADE,
    service_id TEXT REFERENCES services (id) ON DELETE CASCADE,
    team_id TEXT REFERENCES teams (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    CHECK (num_nonnulls(incident_id, service_id, team_id) = 1)
);
CREATE UNIQUE INDEX subscriptions_incident ON subscriptions (incident_id, user_id) WHERE incident_id IS NOT NULL;
CREATE UNIQUE INDEX subscriptions_service ON subscriptions (service_id, user_id) WHERE service_id IS NOT NULL;
CREATE UNIQUE INDEX subscriptions_team ON subscriptions (team_id, user_id) WHERE team_id IS NOT NULL;
CREATE INDEX subscriptions_user ON subscriptions (user_id);

-- A Teams or Slack incoming webhook a service's or a team's incidents are posted to. The URL
-- is the credential (whoever has it can post): never logged, never shown again after it is
-- set, only its hint.
CREATE TABLE chat_channels (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    url_hint TEXT NOT NULL,
    language TEXT NOT NULL,
    service_id TEXT REFERENCES services (id) ON DELETE CASCADE,
    team_id TEXT REFERENCES teams (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    CHECK (num_nonnulls(service_id, team_id) = 1)
);
CREATE INDEX chat_channels_service ON chat_channels (service_id) WHERE service_id IS NOT NULL;
CREATE INDEX chat_channels_team ON chat_channels (team_id) WHERE team_id IS NOT NULL;

-- The chat outbox: one row per (channel, incident event), written in the transaction of the
-- change it tells of; the card is built when it is sent, from the incident as it is then.
CREATE TABLE chat_posts (
    id TEXT PRIMARY KEY NOT NULL,
    channel_id TEXT NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX chat_posts_due ON chat_posts (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX chat_posts_incident ON chat_posts (incident_id);

-- A postmortem per incident: the document (typed JSON, `domain::postmortem`) and, beside
-- it, its action items as rows so open ones can be listed across incidents.
CREATE TABLE postmortems (
    incident_id TEXT PRIMARY KEY NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE TABLE postmortem_action_items (
    incident_id TEXT NOT NULL REFERENCES postmortems (incident_id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    description TEXT NOT NULL,
    owner_id TEXT,
    due DATE,
    status TEXT NOT NULL,
    PRIMARY KEY (incident_id, item_id)
);
CREATE INDEX postmortem_action_items_open ON postmortem_action_items (status, due);

-- Resolved incidents in order, for the similar-incidents index to catch up on.
CREATE INDEX incidents_resolved ON incidents (resolved_at, id) WHERE resolved_at IS NOT NULL;

INSERT INTO processing_versions (job, version) VALUES ('chat_delivery', 1);
