//! The escalation job: steps are stored as due instants (`incidents.escalate_at`); this loop
//! looks for due ones several times a second and takes each (`use_cases::incidents::
//! escalate_due`): the claim (a version check under `FOR UPDATE SKIP LOCKED`) makes every
//! step happen once with several instances on one PostgreSQL, and the processing-version
//! gate keeps an older instance out during a rolling upgrade.

use crate::clock::SharedClock;
use crate::error::AppResult;
use crate::jobs::processing::Gate;
use crate::store::Db;
use crate::use_cases::finals::Cache;
use crate::use_cases::incidents;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the loop looks for due steps: a step fires at most this late (plus the pass).
pub const POLL: Duration = Duration::from_millis(250);

/// The escalation job's parts.
#[derive(Clone)]
pub struct EscalationJob {
    pub db: Db,
    pub finals: Arc<Cache>,
    pub clock: SharedClock,
    pub gate: Gate,
    /// Woken after steps that wrote notifications.
    pub notifications: crate::jobs::email_delivery::Wakeup,
}

impl EscalationJob {
    /// One pass at the clock's now: the steps taken.
    pub async fn run_once(&self) -> AppResult<usize> {
        let at = self.clock.now();
        let (gate, finals) = (self.gate.clone(), self.finals.clone());
        let taken = self
            .db
            .run(move |conn| {
                if !gate.admits(conn)? {
                    return Ok(0);
                }
                incidents::escalate_all_due(conn, &finals, at)
            })
            .await?;
        self.notifications.poke_if(taken);
        Ok(taken)
    }
}

/// The loop of a running server.
pub struct Escalations {
    stop: watch::Sender<bool>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Escalations {
    pub fn start(job: EscalationJob) -> Escalations {
        let (stop, mut stopped) = watch::channel(false);
        let task = actix_web::rt::spawn(async move {
            while !*stopped.borrow() {
                match job.run_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(steps = n, "escalation pass"),
                    Err(e) => tracing::error!(error = %e, "escalation pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        Escalations { stop, task }
    }

    /// Lets a pass in progress finish, then ends the loop.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
