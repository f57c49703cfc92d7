//! The intake: triggers that open incidents are written by one thread, a lot at a time
//! (group commit). Opening an incident writes six tables; written one event per transaction
//! the commits, and under SQLite the wait for its one write lock, cost more than the rows.
//! Under load, the triggers that arrive while a lot is being written form the next lot, so
//! the lots grow with the load and a quiet system still opens each incident at once.
//!
//! Repeats, acknowledgements and resolves never come here: `incidents::ingest` applies them
//! on the request's own connection.

use super::finals::Cache;
use super::incidents::{self, Outcome, Trigger};
use crate::error::{AppError, AppResult};
use crate::store::Db;
use std::sync::Arc;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Triggers written in one transaction at most: a lot's rows fit well under the backends'
/// limits on bound parameters, and no trigger waits behind more than this many.
const MAX_LOT: usize = 64;

struct Queued {
    trigger: Trigger,
    answer: oneshot::Sender<AppResult<Outcome>>,
}

/// Where the request handlers hand their triggers. Cloning shares the one writer; it stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<Queued>,
}

impl Intake {
    /// Starts the writer thread.
    pub fn start(db: Db, cache: Arc<Cache>) -> Intake {
        let (queue, lots) = mpsc::channel();
        std::thread::Builder::new()
            .name("rota-intake".into())
            .spawn(move || write_lots(&db, &cache, &lots))
            .expect("start the intake thread");
        Intake { queue }
    }

    /// Opens the trigger's incident (or counts it on its key's open alert), with the
    /// triggers that arrive meanwhile.
    pub async fn open(&self, trigger: Trigger) -> AppResult<Outcome> {
        let (answer, outcome) = oneshot::channel();
        self.queue
            .send(Queued { trigger, answer })
            .map_err(|_| AppError::unavailable("the service is shutting down"))?;
        outcome
            .await
            .map_err(|_| AppError::unavailable("the service is shutting down"))?
    }
}

fn write_lots(db: &Db, cache: &Cache, lots: &mpsc::Receiver<Queued>) {
    while let Ok(first) = lots.recv() {
        let mut lot = vec![first];
        while lot.len() < MAX_LOT {
            match lots.try_recv() {
                Ok(next) => lot.push(next),
                Err(_) => break,
            }
        }
        let (triggers, answers): (Vec<Trigger>, Vec<_>) =
            lot.into_iter().map(|q| (q.trigger, q.answer)).unzip();
        let outcomes: Vec<AppResult<Outcome>> = match db.get() {
            Ok(mut conn) => {
                let outcomes = incidents::open(&mut conn, cache, &triggers);
                if outcomes.iter().any(Result::is_err) {
                    conn.failed();
                }
                outcomes
            }
            Err(e) => {
                tracing::warn!(error = %e, "no database connection for the intake");
                triggers
                    .iter()
                    .map(|_| Err(AppError::unavailable("the database is not answering")))
                    .collect()
            }
        };
        for (answer, outcome) in answers.into_iter().zip(outcomes) {
            // A request that gave up (its client went away) no longer listens.
            let _ = answer.send(outcome);
        }
    }
}
