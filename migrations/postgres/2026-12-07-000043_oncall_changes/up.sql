-- One number that grows with every committed change to what "who is on call" reads:
-- schedules (their version moves with every change of layers, teams or zone), escalation
-- policies (likewise with their levels and teams), overrides, and the people columns a
-- final schedule depends on (name, e-mail, locale, zone, active, seat, deleted). Each
-- instance's `use_cases::finals::Cache` reads it first: unchanged, it answers from what it
-- holds with this one query instead of re-checking thousands of versions.
--
-- The database bumps it, not the code: no write path can forget to. On PostgreSQL the
-- triggers are deferred to commit, so the row lock on the counter is the last lock a
-- transaction takes (no deadlock with the rows it wrote), and a transaction bumps it once
-- (a transaction-local setting remembers it did).
CREATE TABLE oncall_changes (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO oncall_changes (id, n) VALUES (1, 0);

CREATE FUNCTION oncall_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('rota.oncall_changed', true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE oncall_changes SET n = n + 1 WHERE id = 1;
        PERFORM set_config('rota.oncall_changed', txid_current()::text, true);
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER schedules_oncall_changed
    AFTER INSERT OR UPDATE OR DELETE ON schedules
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION oncall_changed();
CREATE CONSTRAINT TRIGGER escalation_policies_oncall_changed
    AFTER INSERT OR UPDATE OR DELETE ON escalation_policies
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION oncall_changed();
CREATE CONSTRAINT TRIGGER schedule_overrides_oncall_changed
    AFTER INSERT OR UPDATE OR DELETE ON schedule_overrides
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION oncall_changed();
CREATE CONSTRAINT TRIGGER users_added_oncall_changed
    AFTER INSERT OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION oncall_changed();
-- Sign-ins and SCIM writes that leave these columns as they were change nothing here.
CREATE CONSTRAINT TRIGGER users_oncall_changed
    AFTER UPDATE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email
        OR OLD.locale IS DISTINCT FROM NEW.locale OR OLD.time_zone IS DISTINCT FROM NEW.time_zone
        OR OLD.active IS DISTINCT FROM NEW.active OR OLD.licence IS DISTINCT FROM NEW.licence
        OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION oncall_changed();
