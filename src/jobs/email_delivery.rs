//! Delivers the email outbox: claims due emails in batches, sends a few at a time through the
//! `Mailer`, and records each outcome: sent, failed and tried again later (backoff from
//! `domain::retry`), or given up. `rota serve` runs it as a loop that wakes every few seconds
//! and at once when a request handler pokes it after committing an email; `run_once` is one
//! pass, for tests and for that loop.
//!
//! An email is sent at most once unless an instance stops between the server accepting it and
//! the outcome being stored; after its lease runs out another pass sends it again.

use crate::clock::{Clock, SharedClock};
use crate::domain::retry;
use crate::error::AppResult;
use crate::jobs::processing::Gate;
use crate::notify::email::{Mailer, SendError};
use crate::store::emails::{self, Email};
use crate::store::{self, Db};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Emails claimed per statement.
pub const BATCH: i64 = 32;
/// Emails sent at the same time.
const CONCURRENCY: usize = 4;
/// How long a claim holds an email: well beyond a batch's worst case (8 rounds of 30 s
/// timeouts), so no other pass takes an email that is still being sent.
pub const LEASE: chrono::Duration = chrono::Duration::minutes(10);
/// How often the loop looks for due emails when nobody pokes it (retries fall due this way).
const POLL: Duration = Duration::from_secs(5);
/// How long shutdown waits for a pass in progress.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Pokes the delivery loop so that an email enqueued by a request goes out now rather than at
/// the next tick. Cheap to clone; a poke with no loop running (no SMTP configured) is dropped.
#[derive(Clone, Default)]
pub struct Wakeup(Arc<Notify>);

impl Wakeup {
    /// Call after the transaction that enqueued emails has committed.
    pub fn poke(&self) {
        self.0.notify_one();
    }

    /// Pokes when a committed transaction queued `emails` (a count the seat store reports);
    /// nothing to deliver, no wake-up.
    pub fn poke_if(&self, emails: usize) {
        if emails > 0 {
            self.poke();
        }
    }

    /// Waits for the next poke (a loop's wake-up).
    pub async fn poked(&self) {
        self.0.notified().await
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed this time, to be tried again.
    pub retrying: usize,
    /// Failed for the last time.
    pub given_up: usize,
}

impl DeliveryReport {
    pub fn is_empty(&self) -> bool {
        *self == DeliveryReport::default()
    }
}

enum Outcome {
    Sent,
    Retrying,
    GivenUp,
}

/// Sends every email that is due now, a batch at a time, until none is left; sends nothing
/// while the schema requires a newer delivery than this code's (`gate`).
pub async fn run_once(
    db: &Db,
    mailer: &Mailer,
    clock: &dyn Clock,
    gate: &Gate,
) -> AppResult<DeliveryReport> {
    let mut report = DeliveryReport::default();
    let gate = gate.clone();
    if !db.run(move |c| gate.admits(c)).await? {
        return Ok(report);
    }
    loop {
        let now = clock.now();
        let batch = db
            .run(move |c| store::write(c, |c| emails::claim_due(c, now, BATCH, LEASE)))
            .await?;
        let full = batch.len() as i64 == BATCH;
        let outcomes: Vec<AppResult<Outcome>> = futures_util::stream::iter(batch)
            .map(|email| deliver(db, mailer, clock, email))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome? {
                Outcome::Sent => report.sent += 1,
                Outcome::Retrying => report.retrying += 1,
                Outcome::GivenUp => report.given_up += 1,
            }
        }
        if !full {
            return Ok(report);
        }
    }
}

/// Sends one claimed email and records the outcome.
async fn deliver(db: &Db, mailer: &Mailer, clock: &dyn Clock, email: Email) -> AppResult<Outcome> {
    let result = mailer.send(&email).await;
    let now = clock.now();
    let id = email.id.clone();
    match result {
        Ok(()) => {
            db.run(move |c| store::write(c, |c| emails::mark_sent(c, &id, now)))
                .await?;
            tracing::info!(email = %email.id, reason = %email.reason, "sent an email");
            Ok(Outcome::Sent)
        }
        Err(e) => {
            let attempts = email.attempts + 1;
            let retry_at = if e.is_retryable() {
                retry::next_attempt(attempts, now)
            } else {
                None
            };
            let error = e.to_string();
            db.run(move |c| {
                store::write(c, |c| emails::mark_failed(c, &id, now, &error, retry_at))
            })
            .await?;
            log_failure(&email, attempts, &e, retry_at);
            Ok(match retry_at {
                Some(_) => Outcome::Retrying,
                None => Outcome::GivenUp,
            })
        }
    }
}

fn log_failure(
    email: &Email,
    attempts: i32,
    error: &SendError,
    retry_at: Option<chrono::DateTime<chrono::Utc>>,
) {
    match retry_at {
        Some(at) => tracing::warn!(
            email = %email.id, reason = %email.reason, attempts, error = %error, retry_at = %at,
            "could not send an email; trying again later"
        ),
        None => tracing::error!(
            email = %email.id, to = %email.to_address, reason = %email.reason, attempts,
            error = %error, "gave up sending an email"
        ),
    }
}

/// The delivery loop of a running server.
pub struct Delivery {
    stop: watch::Sender<bool>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Delivery {
    /// Starts the loop on the current runtime.
    pub fn start(
        db: Db,
        mailer: Mailer,
        clock: SharedClock,
        wakeup: Wakeup,
        gate: Gate,
    ) -> Delivery {
        let (stop, stopped) = watch::channel(false);
        let task = actix_web::rt::spawn(run(db, mailer, clock, wakeup, gate, stopped));
        Delivery { stop, task }
    }

    /// Lets a pass in progress finish (for a while), then ends the loop. An email whose send
    /// was cut short keeps its claim until the lease runs out and is then sent again.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
            tracing::warn!("stopped email delivery in the middle of a pass");
        }
    }
}

async fn run(
    db: Db,
    mailer: Mailer,
    clock: SharedClock,
    wakeup: Wakeup,
    gate: Gate,
    mut stopped: watch::Receiver<bool>,
) {
    tracing::info!(server = %mailer.server(), from = %mailer.from(), "delivering email");
    while !*stopped.borrow() {
        match run_once(&db, &mailer, &*clock, &gate).await {
            Ok(report) if !report.is_empty() => tracing::debug!(?report, "email delivery pass"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "email delivery pass failed"),
        }
        tokio::select! {
            _ = wakeup.0.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stopped.changed() => {}
        }
    }
}
