//! The seat reconcile: once a UTC day (at the ticker's first minute after midnight, or at start if the
//! day's run has not happened), and when `rota serve` starts (so a changed seat policy is
//! applied to everyone at once), every person's role and seat is decided again from the policy
//! (`store::seats::reconcile`): idle seats are downgraded, drift is healed, the queue is served,
//! the day's usage is recorded. Each run has a key (`day-2026-12-01`, `start-<id>`) claimed in
//! the database, so with several instances on one PostgreSQL each day's run happens once.

use crate::clock::SharedClock;
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::seat_policy::SeatPolicy;
use crate::error::AppResult;
use crate::jobs::email_delivery::Wakeup;
use crate::jobs::processing::Gate;
use crate::store::audit::AuditContext;
use crate::store::seats::{self, SeatRules, Settlement};
use crate::store::{self, Db};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The key of the day's run.
pub fn day_key(now: DateTime<Utc>) -> String {
    format!("day-{}", now.date_naive())
}

/// What the reconcile needs, shared with the loop.
#[derive(Clone)]
pub struct Reconciler {
    pub db: Db,
    pub policy: Arc<SeatPolicy>,
    pub bootstrap_owners: Arc<Vec<String>>,
    pub clock: SharedClock,
    pub emails: Wakeup,
    /// Skips the pass while the schema requires a newer reconcile than this code's.
    pub gate: Gate,
}

impl Reconciler {
    /// Runs the reconcile under `key` unless some instance already did, or the schema requires
    /// a newer reconcile than this code's (the key then stays unclaimed); `None` then.
    pub async fn run_once(&self, key: &str) -> AppResult<Option<Settlement>> {
        let at = self.clock.now();
        let ctx = AuditContext {
            actor: Actor {
                kind: ActorKind::Job,
                id: None,
                name: "seat reconcile".into(),
            },
            request_id: None,
            at,
        };
        let key = key.to_string();
        let (policy, owners) = (self.policy.clone(), self.bootstrap_owners.clone());
        let gate = self.gate.clone();
        let started = std::time::Instant::now();
        let done = self
            .db
            .run(move |conn| {
                if !gate.admits(conn)? || seats::reconciled(conn, &key)? {
                    return Ok(None);
                }
                let rules = SeatRules {
                    policy: &policy,
                    bootstrap_owners: &owners,
                };
                store::seats::write(conn, |tx| seats::reconcile(tx, rules, &ctx, &key))
            })
            .await?;
        if let Some(s) = &done {
            tracing::info!(
                seats_changed = s.seats_changed,
                roles_changed = s.roles_changed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "reconciled seats"
            );
            if s.emails > 0 {
                self.emails.poke();
            }
        }
        Ok(done)
    }
}
