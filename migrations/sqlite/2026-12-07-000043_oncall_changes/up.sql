-- One number that grows with every committed change to what "who is on call" reads:
-- schedules (their version moves with every change of layers, teams or zone), escalation
-- policies (likewise with their levels and teams), overrides, and the people columns a
-- final schedule depends on (name, e-mail, locale, zone, active, seat, deleted). Each
-- instance's `use_cases::finals::Cache` reads it first: unchanged, it answers from what it
-- holds with this one query instead of re-checking thousands of versions. The database
-- bumps it, not the code: no write path can forget to. (SQLite has one writer at a time, so
-- plain row triggers do; PostgreSQL's are deferred to commit.)
CREATE TABLE oncall_changes (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO oncall_changes (id, n) VALUES (1, 0);
CREATE TRIGGER schedules_insert_oncall_changed AFTER INSERT ON schedules
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schedules_update_oncall_changed AFTER UPDATE ON schedules
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schedules_delete_oncall_changed AFTER DELETE ON schedules
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER escalation_policies_insert_oncall_changed AFTER INSERT ON escalation_policies
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER escalation_policies_update_oncall_changed AFTER UPDATE ON escalation_policies
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER escalation_policies_delete_oncall_changed AFTER DELETE ON escalation_policies
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schedule_overrides_insert_oncall_changed AFTER INSERT ON schedule_overrides
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schedule_overrides_update_oncall_changed AFTER UPDATE ON schedule_overrides
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER schedule_overrides_delete_oncall_changed AFTER DELETE ON schedule_overrides
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER users_insert_oncall_changed AFTER INSERT ON users
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER users_delete_oncall_changed AFTER DELETE ON users
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
-- Sign-ins and SCIM writes that leave these columns as they were change nothing here.
CREATE TRIGGER users_update_oncall_changed AFTER UPDATE ON users
WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email OR OLD.locale IS NOT NEW.locale
    OR OLD.time_zone IS NOT NEW.time_zone OR OLD.active IS NOT NEW.active
    OR OLD.licence IS NOT NEW.licence OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN UPDATE oncall_changes SET n = n + 1 WHERE id = 1; END;
