//! The notification outbox (`notifications`): written with the assignment that calls for it,
//! claimed under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), then sent, retried or
//! given up; pending ones are cancelled when their incident is acknowledged or resolved.
//!
//! The send itself happens under a guard on the incident (`SendGuard`), which an
//! acknowledgement also takes: on PostgreSQL a `FOR SHARE` row lock held across the send
//! (the acknowledging `FOR UPDATE` waits for it); on SQLite, whose one writer makes one
//! instance, a lock in this process. Either way nothing is sent after the acknowledgement
//! commits.

use super::DbConnection;
use super::schema::{incidents, notifications};
use crate::domain::contact::ContactKind;
use crate::domain::ids::{IncidentId, NotificationRuleId, UserId};
use crate::domain::incident::Status as IncidentStatus;
use crate::domain::notification::{Planned, Status};
use crate::error::AppResult;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use std::sync::{LazyLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: String,
    pub incident_id: IncidentId,
    pub user_id: UserId,
    pub rule_id: NotificationRuleId,
    pub step: i64,
    pub channel: ContactKind,
    pub address: String,
    pub due_at: NaiveDateTime,
    pub status: Status,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub claimed_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Writes the planned notifications of an escalation step (`step`: the incident's version
/// after it). A row already there for the same (incident, person, rule, step) stays.
pub fn insert(
    conn: &mut DbConnection,
    incident: &IncidentId,
    step: i64,
    planned: &[Planned],
    now: NaiveDateTime,
) -> AppResult<usize> {
    let rows: Vec<Notification> = planned
        .iter()
        .map(|p| Notification {
            id: uuid::Uuid::now_v7().to_string(),
            incident_id: incident.clone(),
            user_id: p.user.clone(),
            rule_id: p.rule.clone(),
            step,
            channel: p.channel,
            address: p.address.clone(),
            due_at: p.due_at,
            status: Status::Pending,
            attempts: 0,
            next_attempt_at: p.due_at,
            claimed_until: None,
            sent_at: None,
            last_error: None,
            created_at: now,
        })
        .collect();
    let mut n = 0;
    for row in &rows {
        n += super::on_backend!(conn, c => diesel::insert_into(notifications::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
    }
    Ok(n)
}

/// Cancels the incident's notifications not yet sent (it was acknowledged or resolved).
pub fn cancel_pending(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<usize> {
    Ok(diesel::update(
        notifications::table
            .filter(notifications::incident_id.eq(incident))
            .filter(notifications::status.eq(Status::Pending)),
    )
    .set(notifications::status.eq(Status::Cancelled))
    .execute(conn)?)
}

/// Claims up to `limit` due notifications for `lease`: pending, due, and not held by
/// another dispatcher (its lease ran out if it died).
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
    lease: Duration,
) -> AppResult<Vec<Notification>> {
    let due = || {
        notifications::table
            .filter(notifications::status.eq(Status::Pending))
            .filter(notifications::next_attempt_at.le(now))
            .filter(
                notifications::claimed_until
                    .is_null()
                    .or(notifications::claimed_until.lt(now)),
            )
            .order((notifications::next_attempt_at, notifications::id))
            .limit(limit)
    };
    let rows: Vec<Notification> = match conn {
        DbConnection::Postgres(c) => due()
            .select(Notification::as_select())
            .for_update()
            .skip_locked()
            .load(c)?,
        DbConnection::Sqlite(c) => due().select(Notification::as_select()).load(c)?,
    };
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
        .set(notifications::claimed_until.eq(Some(now + lease)))
        .execute(conn)?;
    Ok(rows)
}

pub fn mark_sent(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(notifications::table.find(id))
        .set((
            notifications::status.eq(Status::Sent),
            notifications::sent_at.eq(Some(now)),
            notifications::attempts.eq(notifications::attempts + 1),
            notifications::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or given up (`None`).
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> AppResult<()> {
    let error: String = error.chars().take(1_000).collect();
    let status = if retry_at.is_some() {
        Status::Pending
    } else {
        Status::Failed
    };
    let q = diesel::update(notifications::table.find(id));
    match retry_at {
        Some(at) => q
            .set((
                notifications::status.eq(status),
                notifications::attempts.eq(notifications::attempts + 1),
                notifications::last_error.eq(Some(error)),
                notifications::next_attempt_at.eq(at),
                notifications::claimed_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
        None => q
            .set((
                notifications::status.eq(status),
                notifications::attempts.eq(notifications::attempts + 1),
                notifications::last_error.eq(Some(error)),
                notifications::claimed_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
    };
    Ok(())
}

pub fn mark_cancelled(conn: &mut DbConnection, id: &str) -> AppResult<()> {
    diesel::update(notifications::table.find(id))
        .set((
            notifications::status.eq(Status::Cancelled),
            notifications::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// An incident's notifications, oldest first (for tests and the timeline's details).
pub fn of_incident(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<Notification>> {
    Ok(notifications::table
        .filter(notifications::incident_id.eq(incident))
        .order((notifications::created_at, notifications::id))
        .select(Notification::as_select())
        .load(conn)?)
}

/// Stripes of the in-process guard SQLite uses (`SendGuard`).
const STRIPES: usize = 64;

static STRIPED: LazyLock<Vec<RwLock<()>>> =
    LazyLock::new(|| (0..STRIPES).map(|_| RwLock::new(())).collect());

fn stripe_of(incident: &IncidentId) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    incident.hash(&mut h);
    (h.finish() as usize) % STRIPES
}

fn stripe(incident: &IncidentId) -> &'static RwLock<()> {
    &STRIPED[stripe_of(incident)]
}

/// Held by whatever changes incidents' status (acknowledge, resolve) while it writes: waits
/// for sends in progress on SQLite (PostgreSQL's row lock does this there). Take it before
/// the write transaction, never inside one. Stripes are taken once each, in order, so two
/// bulk changes never wait on each other in a circle.
pub fn change_guards(incidents: &[&IncidentId]) -> Vec<RwLockWriteGuard<'static, ()>> {
    let mut stripes: Vec<usize> = incidents.iter().map(|i| stripe_of(i)).collect();
    stripes.sort_unstable();
    stripes.dedup();
    stripes
        .into_iter()
        .map(|i| STRIPED[i].write().unwrap_or_else(|p| p.into_inner()))
        .collect()
}

/// Held across a send: the incident is triggered now and stays so until the guard is
/// dropped. `None`: it is acknowledged or resolved; do not send. On PostgreSQL this opens a
/// transaction on `conn` (ended by `SendGuard::finish`).
pub struct SendGuard {
    _local: Option<RwLockReadGuard<'static, ()>>,
    transaction: bool,
}

impl SendGuard {
    pub fn take(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Option<SendGuard>> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        match conn {
            DbConnection::Postgres(c) => {
                AnsiTransactionManager::begin_transaction(c)?;
                let found: Option<String> = incidents::table
                    .find(incident)
                    .filter(incidents::status.eq(IncidentStatus::Triggered))
                    .select(incidents::id)
                    .for_share()
                    .first(c)
                    .optional()?;
                if found.is_none() {
                    AnsiTransactionManager::rollback_transaction(c)?;
                    return Ok(None);
                }
                Ok(Some(SendGuard {
                    _local: None,
                    transaction: true,
                }))
            }
            DbConnection::Sqlite(c) => {
                let local = stripe(incident).read().unwrap_or_else(|p| p.into_inner());
                let triggered: Option<String> = incidents::table
                    .find(incident)
                    .filter(incidents::status.eq(IncidentStatus::Triggered))
                    .select(incidents::id)
                    .first(c)
                    .optional()?;
                Ok(triggered.map(|_| SendGuard {
                    _local: Some(local),
                    transaction: false,
                }))
            }
        }
    }

    /// Records the send's outcome with `f` and ends the guard: on PostgreSQL inside the
    /// share lock's transaction (committed with it), on SQLite in a write transaction taken
    /// while the local guard is still held.
    pub fn finish_with(
        self,
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> AppResult<()>,
    ) -> AppResult<()> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        if !self.transaction {
            return super::write(conn, f);
        }
        match f(conn) {
            Ok(()) => {
                if let DbConnection::Postgres(c) = conn {
                    AnsiTransactionManager::commit_transaction(c)?;
                }
                Ok(())
            }
            Err(e) => {
                if let DbConnection::Postgres(c) = conn {
                    let _ = AnsiTransactionManager::rollback_transaction(c);
                }
                Err(e)
            }
        }
    }
}
