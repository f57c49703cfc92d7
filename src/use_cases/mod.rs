//! One function per action, written once for every protocol: REST, SCIM and, later, the web
//! pages and jobs call these, so a handler only parses, authorizes, calls one and renders.
//! A use case runs its own transaction and audits inside it; what may change who needs which
//! seat settles the people concerned in that same transaction (`changing_seats`), and after
//! the commit wakes the e-mail delivery when seat warnings were queued.
//!
//! Protocol details stay with the caller through a `check` closure run on the loaded row
//! inside the transaction (REST's authorization, SCIM's `If-Match`), so both protocols reach
//! the same function. Pure decisions stay in `domain/`; queries stay in `store/`.

pub mod action_links;
pub mod analytics;
pub mod calendar;
pub mod calls;
pub mod chat;
pub mod contact_methods;
pub mod escalation;
pub mod finals;
pub mod incidents;
pub mod intake;
pub mod licences;
pub mod oncalls;
pub mod postmortems;
pub mod related;
pub mod schedules;
pub mod services;
pub mod status_updates;
pub mod summary;
pub mod teams;
pub mod tokens;
pub mod users;

use crate::domain::ids::UserId;
use crate::error::{AppError, AppResult};
use crate::jobs::email_delivery::Wakeup;
use crate::store::audit::{AuditContext, AuditEvent};
use crate::store::seats::{self, Admitted, SeatRules, Settlement};
use crate::store::users::User;
use crate::store::{self, DbConnection};

/// What deciding seats needs from the running service: the rules, and whom to wake when
/// warning e-mails were queued (`AppState::seats`).
#[derive(Clone, Copy)]
pub struct Seats<'a> {
    pub rules: SeatRules<'a>,
    pub wakeup: &'a Wakeup,
}

/// Settles seats inside a use case's transaction, counting the warning e-mails queued.
pub struct Settling<'a> {
    rules: SeatRules<'a>,
    ctx: &'a AuditContext,
    emails: usize,
    /// The transaction holds the licences' lock (`seats::write`).
    locked: bool,
    /// A newcomer's free seat was taken meanwhile: run the transaction again, locked.
    raced: bool,
}

impl Settling<'_> {
    /// Decides again the seats of `people` (a shortage queues them, never fails the request).
    pub fn settle(&mut self, tx: &mut DbConnection, people: &[UserId]) -> AppResult<Settlement> {
        let settled = seats::settle(tx, self.rules, self.ctx, seats::Scope::Users(people))?;
        self.emails += settled.emails;
        Ok(settled)
    }

    /// Admits a person being created: `insert` writes `user` (given the role and seat the
    /// policy plans for them) and returns the audit events of the create, recorded with the
    /// seat's (`seats::admit`).
    pub fn admit(
        &mut self,
        tx: &mut DbConnection,
        user: &mut User,
        insert: impl FnOnce(&mut DbConnection, &User) -> AppResult<Vec<AuditEvent>>,
    ) -> AppResult<Settlement> {
        match seats::admit(tx, self.rules, self.ctx, user, self.locked, insert)? {
            Admitted::Settled(settled) => {
                self.emails += settled.emails;
                Ok(settled)
            }
            Admitted::Raced => {
                self.raced = true;
                Err(AppError::internal(
                    "the free seat planned for a newcomer was taken meanwhile",
                ))
            }
        }
    }

    /// Counts a settlement another seat function made (a cap, a pin).
    pub fn settled(&mut self, settlement: &Settlement) {
        self.emails += settlement.emails;
    }

    /// The seat rules, for the seat functions that settle by themselves.
    pub fn rules(&self) -> SeatRules<'_> {
        self.rules
    }
}

/// Runs `change` in a seat transaction (`store::seats::write`: the `licences` rows locked
/// before anything else, so these never deadlock), then wakes delivery if it queued warnings.
pub fn changing_seats<T>(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    change: impl FnOnce(&mut DbConnection, &mut Settling<'_>) -> AppResult<T>,
) -> AppResult<T> {
    let mut change = Some(change);
    settled_after(conn, seats, ctx, true, |tx, settling| match change.take() {
        Some(change) => change(tx, settling),
        // A locked transaction is never run again (`settled_after`).
        None => Err(AppError::internal("a seat change ran twice")),
    })
}

/// `changing_seats` for a transaction that makes a brand-new person (`Settling::admit`):
/// nobody else can hold a lock on their rows, so it runs without the licences' lock, and a
/// free seat is taken at the end with one conditional counter update. If that finds the
/// seat gone, everything is rolled back and `change` runs once more, holding the lock from
/// the start (so it must not consume what it captures).
pub fn adding_person<T>(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    change: impl FnMut(&mut DbConnection, &mut Settling<'_>) -> AppResult<T>,
) -> AppResult<T> {
    settled_after(conn, seats, ctx, false, change)
}

fn settled_after<T>(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    lock_first: bool,
    mut change: impl FnMut(&mut DbConnection, &mut Settling<'_>) -> AppResult<T>,
) -> AppResult<T> {
    let mut locked = lock_first;
    loop {
        let mut settling = Settling {
            rules: seats.rules,
            ctx,
            emails: 0,
            locked,
            raced: false,
        };
        let work = |tx: &mut DbConnection| change(tx, &mut settling);
        let out = if locked {
            seats::write(conn, work)
        } else {
            store::write(conn, work)
        };
        if settling.raced && !locked {
            locked = true;
            continue;
        }
        let out = out?;
        // After the commit: the delivery loop must find the e-mails when it wakes.
        seats.wakeup.poke_if(settling.emails);
        return Ok(out);
    }
}
