//! The processing-version gate's rule (GoAlert's `engine/processinglock`): each background job
//! has a version of its processing that this code implements, and the schema records the
//! version it requires (`processing_versions`). During a rolling upgrade the new schema is in
//! place while instances with the old code still run; their passes are skipped, so only code
//! that understands the schema does the work.
//!
//! To change what a job must do in a way older code would get wrong: bump its `version` here
//! and, in the same change, a migration that raises its row in `processing_versions`.

/// A background job that the gate guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    SeatReconcile,
    EmailDelivery,
    HandoffNotices,
    Escalation,
    NotificationDelivery,
    ChatDelivery,
}

impl Job {
    /// Its key in `processing_versions` and its metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::SeatReconcile => "seat_reconcile",
            Job::EmailDelivery => "email_delivery",
            Job::HandoffNotices => "handoff_notices",
            Job::Escalation => "escalation",
            Job::NotificationDelivery => "notification_delivery",
            Job::ChatDelivery => "chat_delivery",
        }
    }

    /// The version of the job's processing that this code implements.
    pub fn version(self) -> i32 {
        match self {
            Job::SeatReconcile => 1,
            Job::EmailDelivery => 1,
            Job::HandoffNotices => 1,
            Job::Escalation => 1,
            Job::NotificationDelivery => 1,
            Job::ChatDelivery => 1,
        }
    }
}

/// Whether code implementing version `ours` may run a pass when the schema requires
/// `required` (`None`: the schema names no version for the job, so nothing newer owns it).
/// Code newer than the schema runs: it came with the migrations that made the schema.
pub fn admits(required: Option<i32>, ours: i32) -> bool {
    required.is_none_or(|r| r <= ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_code_older_than_the_schema_is_refused() {
        assert!(admits(None, 1));
        assert!(admits(Some(1), 1));
        assert!(admits(Some(1), 2));
        assert!(!admits(Some(2), 1));
    }
}
