//! The intake: triggers that open incidents are written by a writer thread (one on SQLite,
//! two on PostgreSQL), a lot at a time (group commit). Opening an incident writes six
//! tables; written one event per transaction, the commits, and under SQLite the wait for its
//! one write lock, cost more than the rows.
//! Under load, the triggers that arrive while a lot is being written form the next lot, so
//! the lots grow with the load and a quiet system still opens each incident at once.
//!
//! Repeats, acknowledgements and resolves never come here: `incidents::ingest` applies them
//! on the request's own connection.

use super::finals::Cache;
use super::incidents::{self, Outcome, Trigger};
use crate::error::{AppError, AppResult};
use crate::store::Db;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use tokio::sync::oneshot;

/// Triggers written in one transaction at most: a lot's rows fit well under the backends'
/// limits on bound parameters, and no trigger waits behind more than this many.
const MAX_LOT: usize = 64;

/// Writers on PostgreSQL. Two keep the database busy while a lot's rows are built; more
/// would only queue on the same cores.
const POSTGRES_WRITERS: usize = 2;

struct Queued {
    trigger: Trigger,
    answer: oneshot::Sender<AppResult<Outcome>>,
}

/// Where the request handlers hand their triggers. Clones share the writers; they stop when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<Queued>,
}

impl Intake {
    /// Starts the writer threads: one on SQLite (it has one writer anyway); on PostgreSQL
    /// `POSTGRES_WRITERS`, so one lot's round trips overlap the next one's.
    pub fn start(db: Db, cache: Arc<Cache>) -> Intake {
        let (queue, lots) = mpsc::channel();
        let lots = Arc::new(Mutex::new(lots));
        let writers = if db.url().is_sqlite() {
            1
        } else {
            POSTGRES_WRITERS
        };
        for n in 0..writers {
            let (db, cache, lots) = (db.clone(), cache.clone(), lots.clone());
            std::thread::Builder::new()
                .name(format!("rota-intake-{n}"))
                .spawn(move || write_lots(&db, &cache, &lots))
                .expect("start the intake thread");
        }
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

/// Takes the next lot: waits for one trigger, then takes what else is queued. `None` once
/// every `Intake` is dropped.
fn next_lot(lots: &Mutex<mpsc::Receiver<Queued>>) -> Option<Vec<Queued>> {
    let lots = lots.lock().unwrap_or_else(PoisonError::into_inner);
    let mut lot = vec![lots.recv().ok()?];
    while lot.len() < MAX_LOT {
        match lots.try_recv() {
            Ok(next) => lot.push(next),
            Err(_) => break,
        }
    }
    Some(lot)
}

fn write_lots(db: &Db, cache: &Cache, lots: &Mutex<mpsc::Receiver<Queued>>) {
    while let Some(lot) = next_lot(lots) {
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
