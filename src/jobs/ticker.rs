//! The one ticker periodic jobs run on (`tokio-cron-scheduler`): the seat reconcile looks
//! each minute whether the day's run is due, and the hand-off job makes a pass each minute.
//! What is due is decided from the database, not from the ticker, so a missed tick (a
//! restart, a slow pass) is made up at the next one, and several instances share the work
//! (run keys and claimed notices). A pass still running when its next tick comes is not
//! started twice.

use crate::jobs::handoffs::HandoffJob;
use crate::jobs::seat_reconcile::{Reconciler, day_key};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// The running ticker of `rota serve`.
pub struct Ticker {
    scheduler: Option<JobScheduler>,
}

type Pass = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A job on `cron` (with seconds) running `pass`, skipped while its previous run goes on.
fn job(
    cron: &str,
    pass: impl Fn() -> Pass + Send + Sync + 'static,
) -> Result<Job, JobSchedulerError> {
    let busy = Arc::new(tokio::sync::Mutex::new(()));
    let pass = Arc::new(pass);
    Job::new_async(cron, move |_, _| {
        let (busy, pass) = (busy.clone(), pass.clone());
        Box::pin(async move {
            let Ok(_running) = busy.try_lock() else {
                return;
            };
            pass().await;
        })
    })
}

impl Ticker {
    /// Starts the ticker on the current runtime. If it cannot start, that is logged and
    /// the service runs on without periodic jobs (requests still work).
    pub async fn start(reconciler: Reconciler, handoffs: HandoffJob) -> Ticker {
        match Ticker::schedule(reconciler, handoffs).await {
            Ok(scheduler) => Ticker {
                scheduler: Some(scheduler),
            },
            Err(e) => {
                tracing::error!(error = %e, "the job ticker did not start: no seat reconcile or hand-off notices until a restart");
                Ticker { scheduler: None }
            }
        }
    }

    async fn schedule(
        reconciler: Reconciler,
        handoffs: HandoffJob,
    ) -> Result<JobScheduler, JobSchedulerError> {
        let scheduler = JobScheduler::new().await?;
        scheduler
            .add(job("0 * * * * *", move || {
                let reconciler = reconciler.clone();
                Box::pin(async move {
                    let key = day_key(reconciler.clock.now());
                    if let Err(e) = reconciler.run_once(&key).await {
                        tracing::error!(error = %e, "seat reconcile failed; trying again in a minute");
                    }
                })
            })?)
            .await?;
        scheduler
            .add(job("30 * * * * *", move || {
                let handoffs = handoffs.clone();
                Box::pin(async move {
                    match handoffs.run_once().await {
                        Ok(p) if p.sent + p.too_late > 0 => {
                            tracing::info!(sent = p.sent, too_late = p.too_late, "hand-off notices")
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "hand-off pass failed; trying again in a minute")
                        }
                    }
                })
            })?)
            .await?;
        scheduler.start().await?;
        Ok(scheduler)
    }

    /// Stops ticking; a pass in progress finishes its transaction.
    pub async fn stop(self) {
        if let Some(mut scheduler) = self.scheduler
            && let Err(e) = scheduler.shutdown().await
        {
            tracing::warn!(error = %e, "the job ticker did not stop cleanly");
        }
    }
}
