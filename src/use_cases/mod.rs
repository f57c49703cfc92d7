//! One function per action, written once for every protocol: REST, SCIM and, later, the web
//! pages and jobs call these, so a handler only parses, authorizes, calls one and renders.
//! A use case runs its own transaction and audits inside it; what may change who needs which
//! seat settles the people concerned in that same transaction (`changing_seats`), and after
//! the commit wakes the e-mail delivery when seat warnings were queued.
//!
//! Protocol details stay with the caller through a `check` closure run on the loaded row
//! inside the transaction (REST's authorization, SCIM's `If-Match`), so both protocols reach
//! the same function. Pure decisions stay in `domain/`; queries stay in `store/`.

pub mod teams;
pub mod users;

use crate::domain::ids::UserId;
use crate::error::AppResult;
use crate::jobs::email_delivery::Wakeup;
use crate::store::audit::AuditContext;
use crate::store::seats::{self, SeatRules, Settlement};
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
}

impl Settling<'_> {
    /// Decides again the seats of `people` (a shortage queues them, never fails the request).
    pub fn settle(&mut self, tx: &mut DbConnection, people: &[UserId]) -> AppResult<Settlement> {
        let settled = seats::settle(tx, self.rules, self.ctx, seats::Scope::Users(people))?;
        self.emails += settled.emails;
        Ok(settled)
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
    settled_after(conn, seats, ctx, true, change)
}

/// `changing_seats` for a transaction that makes a brand-new person: nobody else can hold a
/// lock on their rows, so the seat lock waits until their seat is settled (the shorter the
/// lock, the more run at once).
pub fn adding_person<T>(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    change: impl FnOnce(&mut DbConnection, &mut Settling<'_>) -> AppResult<T>,
) -> AppResult<T> {
    settled_after(conn, seats, ctx, false, change)
}

fn settled_after<T>(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    lock_first: bool,
    change: impl FnOnce(&mut DbConnection, &mut Settling<'_>) -> AppResult<T>,
) -> AppResult<T> {
    let mut settling = Settling {
        rules: seats.rules,
        ctx,
        emails: 0,
    };
    let work = |tx: &mut DbConnection| change(tx, &mut settling);
    let out = if lock_first {
        seats::write(conn, work)?
    } else {
        store::write(conn, work)?
    };
    // After the commit: the delivery loop must find the e-mails when it wakes.
    seats.wakeup.poke_if(settling.emails);
    Ok(out)
}
