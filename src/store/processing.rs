//! The processing versions the schema requires, per background job (`domain::processing`).

use super::DbConnection;
use super::schema::processing_versions;
use crate::domain::processing::Job;
use crate::error::AppResult;
use diesel::prelude::*;

/// The version of `job`'s processing that the schema requires, if it names one.
pub fn required_version(conn: &mut DbConnection, job: Job) -> AppResult<Option<i32>> {
    Ok(processing_versions::table
        .find(job.as_str())
        .select(processing_versions::version)
        .first(conn)
        .optional()?)
}
