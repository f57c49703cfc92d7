DELETE FROM processing_versions WHERE job = 'handoff_notices';
DROP TABLE oncall_notification_settings;
DROP TABLE handoff_notices;
