//! The processing-version gate in front of each background job's pass: a pass runs only when
//! this code implements the version of the job that the schema requires
//! (`domain::processing`). A skipped pass is counted in
//! `rota_job_passes_skipped_total{job}` and logged once per process, not once per tick.

use crate::domain::processing::{self, Job};
use crate::error::AppResult;
use crate::store::{self, DbConnection};
use prometheus::IntCounterVec;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The gate of one job. Cheap to clone; clones share the "logged already" flag.
#[derive(Clone)]
pub struct Gate {
    job: Job,
    skipped: IntCounterVec,
    logged: Arc<AtomicBool>,
}

impl Gate {
    /// `skipped` counts the skipped passes by job (`Metrics::skipped_passes`).
    pub fn new(job: Job, skipped: IntCounterVec) -> Gate {
        Gate {
            job,
            skipped,
            logged: Arc::default(),
        }
    }

    /// Whether this instance may run a pass of the job now, read on `conn` (inside the pass's
    /// own transaction where it has one, so a migration cannot slip in between).
    pub fn admits(&self, conn: &mut DbConnection) -> AppResult<bool> {
        let required = store::processing::required_version(conn, self.job)?;
        let ours = self.job.version();
        if processing::admits(required, ours) {
            return Ok(true);
        }
        self.skipped.with_label_values(&[self.job.as_str()]).inc();
        if !self.logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                job = self.job.as_str(),
                required = required,
                ours,
                "skipping this job: the database requires a newer version of it than this instance runs; an upgraded instance does the work"
            );
        }
        Ok(false)
    }
}
