DELETE FROM processing_versions WHERE job = 'escalation';
DROP TABLE change_events;
DROP TABLE incident_notes;
DROP TABLE incident_log_entries;
DROP TABLE alerts;
DROP TABLE incident_assignments;
DROP TABLE incidents;
