-- Contact methods people manage themselves, and notification rules (PagerDuty's shapes).
-- `contact_methods` already holds what SCIM and sign-in gave each person; `source` says who
-- made a row: `scim` rows follow the directory, `user` rows are never touched by SCIM.
-- `country_code` is kept when a phone number was sent in PagerDuty's split form.
ALTER TABLE contact_methods ADD COLUMN source TEXT NOT NULL DEFAULT 'scim';
ALTER TABLE contact_methods ADD COLUMN country_code INTEGER;
-- One row per address of a kind: SCIM could list an address twice (as work and other).
DELETE FROM contact_methods WHERE id NOT IN (
    SELECT MIN(id) FROM contact_methods GROUP BY user_id, kind, address
);
CREATE UNIQUE INDEX contact_methods_address ON contact_methods (user_id, kind, address);

CREATE TABLE notification_rules (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A rule goes with its contact method.
    contact_method_id TEXT NOT NULL REFERENCES contact_methods (id) ON DELETE CASCADE,
    urgency TEXT NOT NULL,
    start_delay_in_minutes INTEGER NOT NULL
        CHECK (start_delay_in_minutes BETWEEN 0 AND 1440),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX notification_rules_step
    ON notification_rules (contact_method_id, urgency, start_delay_in_minutes);
CREATE INDEX notification_rules_user ON notification_rules (user_id, urgency);

-- People who exist already get the rules a newcomer gets (domain::contact::default_rules):
-- their e-mail at once at both urgencies, their first phone at once at high urgency.
INSERT INTO notification_rules
    (id, user_id, contact_method_id, urgency, start_delay_in_minutes, created_at, updated_at)
SELECT gen_random_uuid()::text, m.user_id, m.id, u.urgency, 0, m.created_at, m.created_at
FROM (
    SELECT c.id, c.user_id, c.kind, c.created_at FROM contact_methods c
    WHERE c.id IN (
        SELECT MIN(c2.id) FROM contact_methods c2
        JOIN users us ON us.id = c2.user_id
        WHERE c2.kind = 'email' AND c2.address = us.email
        GROUP BY c2.user_id
    ) OR c.id IN (
        SELECT MIN(c3.id) FROM contact_methods c3 WHERE c3.kind = 'phone' GROUP BY c3.user_id
    )
) m
JOIN (SELECT 'high' AS urgency UNION ALL SELECT 'low') u
    ON m.kind = 'email' OR u.urgency = 'high';
