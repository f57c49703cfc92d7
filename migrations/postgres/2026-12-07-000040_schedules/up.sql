-- On-call schedules and escalation policies (PagerDuty's layer-based schedules).
--
-- A layer keeps its history: an edit ends the version in force at the edit's time and
-- starts a new one (`schedule_layer_versions`), so what was on call in the past never
-- changes. A layer taken out of a schedule keeps its rows (`removed_at`) for the same reason.
-- Instants are UTC; `rotation_virtual_start` is the schedule's wall-clock time (civil, as
-- `2026-01-05T09:00:00`), since turns are counted in local time.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT,
    time_zone TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX schedules_name ON schedules (name_key, id);

CREATE TABLE schedule_teams (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (schedule_id, team_id)
);
CREATE INDEX schedule_teams_team ON schedule_teams (team_id);

CREATE TABLE schedule_layers (
    id TEXT PRIMARY KEY NOT NULL,
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    -- 0 is the lowest precedence; the last layer wins.
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    removed_at TIMESTAMP
);
CREATE INDEX schedule_layers_schedule ON schedule_layers (schedule_id, position);

CREATE TABLE schedule_layer_versions (
    layer_id TEXT NOT NULL REFERENCES schedule_layers (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP,
    rotation_virtual_start TEXT NOT NULL,
    turn_length_seconds BIGINT NOT NULL,
    -- JSON: the people in rotation order (user ids), and the restrictions.
    users TEXT NOT NULL,
    restrictions TEXT NOT NULL,
    PRIMARY KEY (layer_id, seq)
);

CREATE TABLE schedule_overrides (
    id TEXT PRIMARY KEY NOT NULL,
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX schedule_overrides_window ON schedule_overrides (schedule_id, ends_at);
CREATE INDEX schedule_overrides_user ON schedule_overrides (user_id, ends_at);

CREATE TABLE escalation_policies (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    description TEXT,
    num_loops INTEGER NOT NULL DEFAULT 0,
    handoff_notifications TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX escalation_policies_name ON escalation_policies (name_key, id);

CREATE TABLE escalation_policy_teams (
    policy_id TEXT NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    PRIMARY KEY (policy_id, team_id)
);
CREATE INDEX escalation_policy_teams_team ON escalation_policy_teams (team_id);

CREATE TABLE escalation_rules (
    id TEXT PRIMARY KEY NOT NULL,
    policy_id TEXT NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    delay_minutes INTEGER NOT NULL
);
CREATE INDEX escalation_rules_policy ON escalation_rules (policy_id, position);

-- Exactly one of user_id and schedule_id. The references keep a targeted schedule from
-- being deleted underneath a policy (the API refuses first, naming the policies).
CREATE TABLE escalation_targets (
    rule_id TEXT NOT NULL REFERENCES escalation_rules (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    user_id TEXT REFERENCES users (id),
    schedule_id TEXT REFERENCES schedules (id),
    PRIMARY KEY (rule_id, position),
    CHECK ((user_id IS NULL) <> (schedule_id IS NULL))
);
CREATE INDEX escalation_targets_user ON escalation_targets (user_id);
CREATE INDEX escalation_targets_schedule ON escalation_targets (schedule_id);
