-- The processing-version gate (GoAlert's engine/processinglock): per background job, the
-- version of its processing that this schema requires. An instance whose code implements an
-- older version skips that job's passes (during a rolling upgrade, the new instances do the
-- work). A later migration that changes what a job must do raises its row.
CREATE TABLE processing_versions (
    job TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);
INSERT INTO processing_versions (job, version) VALUES ('seat_reconcile', 1), ('email_delivery', 1);
