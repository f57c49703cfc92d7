DROP TRIGGER users_oncall_changed ON users;
DROP TRIGGER users_added_oncall_changed ON users;
DROP TRIGGER schedule_overrides_oncall_changed ON schedule_overrides;
DROP TRIGGER escalation_policies_oncall_changed ON escalation_policies;
DROP TRIGGER schedules_oncall_changed ON schedules;
DROP FUNCTION oncall_changed();
DROP TABLE oncall_changes;
