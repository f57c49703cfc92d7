//! Seats in the database. `users.licence` is the seat a person holds; `licences` holds each
//! licence's cap and use (a CHECK refuses any write past a cap); `seats` holds since when, why
//! and by whom, the queue, and licence owners' pins.
//!
//! Load, plan, apply: the rules live in `domain::seats` ([`plan`](crate::domain::seats::plan)
//! takes the loaded state and returns every write); this module only loads that state and
//! applies the plan in the caller's write transaction, audit events included. The schedule
//! and escalation engines follow the same shape.
//! - [`settle`](settle::settle) (the `settle` module): bring some people (or everyone) to
//!   what the policy says; the one way seats change ([`admit`] for a person being created).
//! - `admin`: a licence's cap ([`set_cap`]), a licence owner's pin ([`pin`]), the nightly
//!   [`reconcile`].
//! - `reports`: the licence owners' listings, the CSV's rows, usage per team and the daily
//!   history.
//!
//! Locking: a newcomer who only takes a free seat ([`admit`], the common SCIM create) takes
//! no queue and needs no lock: their rows are written, then each counter is raised with one
//! conditional `UPDATE` (`held + n <= cap`), the last statement before commit, so the
//! `licences` row is locked only from there to the commit. That statement also raises the
//! day's peak kept on the counter (`licences.day_peak`), so no second row (today's history
//! row) is locked per create; the next locked settlement writes it into the history. Any
//! other change locks the `licences` rows first (`FOR UPDATE` on PostgreSQL; SQLite's
//! writer lock does it there), so two instances never hand out the same last seat and the
//! queue is served in order.

mod admin;
mod reports;
mod settle;

pub use admin::{pin, reconcile, reconciled, set_cap};
pub use reports::{
    Allocation, AllocationQuery, TeamSeats, UsageDay, allocations, licence_owner_addresses,
    usage_by_team, usage_history, waiting,
};
pub use settle::{Admitted, admit, settle};

pub use crate::domain::seats::plan::{Outcome, QueueKey};

use super::schema::{licences, seats};
use super::{DbConnection, on_backend};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::domain::seat_policy::{Licence, SeatPolicy};
use crate::domain::seats::Pin;
use crate::domain::seats::plan::{LicenceState, Seat};
use crate::error::{AppError, AppResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

// `treat_none_as_default_value = false`: a `None` is bound as NULL rather than written as
// DEFAULT, so a batch of rows is one multi-row INSERT on SQLite too (diesel inserts rows
// holding DEFAULT one statement at a time there). No column of `seats` has another default.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = seats, treat_none_as_default_value = false)]
pub struct SeatRow {
    pub user_id: UserId,
    /// When the seat held was allocated.
    pub since: Option<NaiveDateTime>,
    /// Why: the policy rule, `manual`, `idle`, `default`, `queue`, …
    pub reason: Option<String>,
    /// Who (the actor's name: an admin, `SCIM`, the person signing in, a job).
    pub allocated_by: Option<String>,
    /// The licence waited for, if queued.
    pub wanted: Option<Licence>,
    pub queued_at: Option<NaiveDateTime>,
    pub queue_reason: Option<String>,
    /// A licence owner's choice (`full`, `stakeholder`, `none`), overriding the policy.
    pub pinned: Option<Pin>,
    /// The role a seat-policy rule gave, while it gives it.
    pub ruled_role: Option<Role>,
    pub updated_at: NaiveDateTime,
}

impl SeatRow {
    fn empty(user_id: UserId, now: NaiveDateTime) -> SeatRow {
        SeatRow::from(&Seat::empty(user_id, now))
    }
}

impl From<SeatRow> for Seat {
    fn from(r: SeatRow) -> Seat {
        Seat {
            user_id: r.user_id,
            since: r.since,
            reason: r.reason,
            allocated_by: r.allocated_by,
            wanted: r.wanted,
            queued_at: r.queued_at,
            queue_reason: r.queue_reason,
            pinned: r.pinned,
            ruled_role: r.ruled_role,
            updated_at: r.updated_at,
        }
    }
}

impl From<&Seat> for SeatRow {
    fn from(s: &Seat) -> SeatRow {
        SeatRow {
            user_id: s.user_id.clone(),
            since: s.since,
            reason: s.reason.clone(),
            allocated_by: s.allocated_by.clone(),
            wanted: s.wanted,
            queued_at: s.queued_at,
            queue_reason: s.queue_reason.clone(),
            pinned: s.pinned,
            ruled_role: s.ruled_role,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = licences)]
pub struct LicenceRow {
    pub id: Licence,
    pub cap: Option<i64>,
    pub held: i64,
    pub warned_percent: Option<i32>,
    pub configured_cap: Option<String>,
    pub updated_at: NaiveDateTime,
    /// The day (`YYYY-MM-DD`, UTC) whose peak use `day_peak` is (`domain::seats::day_peak`).
    pub peak_day: Option<String>,
    pub day_peak: i64,
}

/// The book as the plan reads it.
fn licence_states(rows: &[LicenceRow]) -> Vec<LicenceState> {
    rows.iter()
        .map(|r| LicenceState {
            licence: r.id,
            cap: r.cap,
            held: r.held,
            warned_percent: r.warned_percent.map(|w| w.clamp(0, 100) as u8),
        })
        .collect()
}

/// The seat policy and who the bootstrap owners are: what decides a person's role and seat.
#[derive(Clone, Copy)]
pub struct SeatRules<'a> {
    pub policy: &'a SeatPolicy,
    /// Case-folded user names made owners.
    pub bootstrap_owners: &'a [String],
}

/// Whom to settle.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Users(&'a [UserId]),
    Everyone,
}

/// What a settlement did.
#[derive(Debug, Default)]
pub struct Settlement {
    /// People whose seat or place in the queue changed.
    pub seats_changed: usize,
    /// People whose role the policy changed.
    pub roles_changed: usize,
    /// Warning e-mails queued: poke the delivery job after commit.
    pub emails: usize,
    /// For each person settled: where they stand now.
    pub outcome: HashMap<UserId, Outcome>,
}

/// Rows per statement when a statement names people: 10 columns a seat row make 20,000
/// bound values, below SQLite's limit of 32,766.
const CHUNK: usize = 2_000;

/// A write transaction that may change seats: it takes the licences' lock first, before any
/// row it writes, so every such transaction locks in the same order (no deadlocks between a
/// SCIM change, a sign-in, a cap change and the reconcile) and reads what the one before it
/// committed.
pub fn write<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    super::write(conn, |tx| {
        lock_book(tx)?;
        f(tx)
    })
}

/// Takes the licences' lock and reads the book.
fn lock_book(tx: &mut DbConnection) -> AppResult<Vec<LicenceRow>> {
    let rows = match tx {
        DbConnection::Postgres(c) => licences::table
            .select(LicenceRow::as_select())
            .order(licences::id.asc())
            .for_update()
            .load(c)?,
        DbConnection::Sqlite(c) => licences::table
            .select(LicenceRow::as_select())
            .order(licences::id.asc())
            .load(c)?,
    };
    if rows.len() != 2 {
        return Err(AppError::internal(
            "the licences table does not have its two rows",
        ));
    }
    Ok(rows)
}

/// Reads the licences without locking.
pub fn licences(conn: &mut DbConnection) -> AppResult<Vec<LicenceRow>> {
    Ok(licences::table
        .select(LicenceRow::as_select())
        .order(licences::id.asc())
        .load(conn)?)
}

/// Replaces the seat rows of these people with `rows`.
fn write_rows(tx: &mut DbConnection, rows: &[SeatRow]) -> AppResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let ids: Vec<&UserId> = chunk.iter().map(|r| &r.user_id).collect();
        diesel::delete(seats::table.filter(seats::user_id.eq_any(ids))).execute(tx)?;
        on_backend!(tx, c => diesel::insert_into(seats::table).values(chunk).execute(c))?;
    }
    Ok(())
}
