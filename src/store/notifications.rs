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
use crate::domain::ids::{IncidentId, NotificationRuleId, ServiceId, UserId};
use crate::domain::incident::Status as IncidentStatus;
use crate::domain::notification::{Contact, Planned, RecentSend, Status};
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
    /// The provider's reference of the message that carried it (Twilio's CallSid, the
    /// e-mail's Message-ID): shared by the notifications one bundled message carried.
    pub provider_ref: Option<String>,
}

impl Notification {
    pub fn contact(&self) -> Contact {
        Contact {
            user: self.user_id.clone(),
            channel: self.channel,
            address: self.address.clone(),
        }
    }
}

/// The rows of the planned notifications of an escalation step (`step`: the incident's
/// version after it).
pub fn rows(
    incident: &IncidentId,
    step: i64,
    planned: &[Planned],
    now: NaiveDateTime,
) -> Vec<Notification> {
    planned
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
            provider_ref: None,
        })
        .collect()
}

/// Writes notification rows (see `rows`). A row already there for the same (incident,
/// person, rule, step) stays.
pub fn insert(conn: &mut DbConnection, rows: &[Notification]) -> AppResult<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    // PostgreSQL in one statement; SQLite cannot batch an upsert of optional columns, and
    // its statements cost no round trip.
    Ok(match conn {
        DbConnection::Postgres(c) => diesel::insert_into(notifications::table)
            .values(rows)
            .on_conflict_do_nothing()
            .execute(c)?,
        DbConnection::Sqlite(c) => {
            let mut n = 0;
            for row in rows {
                n += diesel::insert_into(notifications::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
            }
            n
        }
    })
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

/// Claims up to `limit` due notifications on `channels` (those with a provider configured)
/// for `lease`: pending, due, and not held by another dispatcher (its lease ran out if it
/// died). Then also claims every other due notification for the same contacts (up to
/// `limit` more), so one message can carry all of a contact's due notifications instead of
/// a batch boundary splitting them. Returns the claimed rows, and whether the first query
/// filled its limit (more may be due).
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
    lease: Duration,
    channels: &[ContactKind],
) -> AppResult<(Vec<Notification>, bool)> {
    let due = || {
        notifications::table
            .filter(notifications::status.eq(Status::Pending))
            .filter(notifications::channel.eq_any(channels.to_vec()))
            .filter(notifications::next_attempt_at.le(now))
            .filter(
                notifications::claimed_until
                    .is_null()
                    .or(notifications::claimed_until.lt(now)),
            )
            .order((notifications::next_attempt_at, notifications::id))
    };
    // `users`: only theirs, leaving out the rows `have` (claimed by the first query).
    let lock = |conn: &mut DbConnection,
                users: Option<(Vec<UserId>, Vec<String>)>|
     -> AppResult<Vec<Notification>> {
        Ok(match (conn, users) {
            (DbConnection::Postgres(c), None) => due()
                .limit(limit)
                .select(Notification::as_select())
                .for_update()
                .skip_locked()
                .load(c)?,
            (DbConnection::Postgres(c), Some((users, have))) => due()
                .filter(notifications::user_id.eq_any(users))
                .filter(notifications::id.ne_all(have))
                .limit(limit)
                .select(Notification::as_select())
                .for_update()
                .skip_locked()
                .load(c)?,
            (DbConnection::Sqlite(c), None) => due()
                .limit(limit)
                .select(Notification::as_select())
                .load(c)?,
            (DbConnection::Sqlite(c), Some((users, have))) => due()
                .filter(notifications::user_id.eq_any(users))
                .filter(notifications::id.ne_all(have))
                .limit(limit)
                .select(Notification::as_select())
                .load(c)?,
        })
    };
    let mut rows = lock(conn, None)?;
    let full = rows.len() as i64 == limit;
    if !rows.is_empty() {
        let contacts: std::collections::HashSet<Contact> =
            rows.iter().map(Notification::contact).collect();
        let mut users: Vec<UserId> = contacts.iter().map(|c| c.user.clone()).collect();
        users.sort();
        users.dedup();
        let have: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let more = lock(conn, Some((users, have)))?;
        rows.extend(more.into_iter().filter(|r| contacts.contains(&r.contact())));
    }
    let ids: Vec<&String> = rows.iter().map(|r| &r.id).collect();
    diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
        .set(notifications::claimed_until.eq(Some(now + lease)))
        .execute(conn)?;
    Ok((rows, full))
}

/// Records that one message carried the notifications `ids` (`provider_ref`: its
/// reference at the provider).
pub fn mark_sent(
    conn: &mut DbConnection,
    ids: &[&str],
    now: NaiveDateTime,
    provider_ref: Option<&str>,
) -> AppResult<()> {
    diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
        .set((
            notifications::status.eq(Status::Sent),
            notifications::sent_at.eq(Some(now)),
            notifications::attempts.eq(notifications::attempts + 1),
            notifications::claimed_until.eq(None::<NaiveDateTime>),
            notifications::provider_ref.eq(provider_ref),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or given up (`None`).
pub fn mark_failed(
    conn: &mut DbConnection,
    ids: &[&str],
    error: &str,
    retry_at: Option<NaiveDateTime>,
) -> AppResult<()> {
    let error: String = error.chars().take(1_000).collect();
    let status = if retry_at.is_some() {
        Status::Pending
    } else {
        Status::Failed
    };
    let q = diesel::update(notifications::table.filter(notifications::id.eq_any(ids)));
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

pub fn mark_cancelled(conn: &mut DbConnection, ids: &[&str]) -> AppResult<()> {
    diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
        .set((
            notifications::status.eq(Status::Cancelled),
            notifications::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Extends the claims on `ids` to `until` (a dispatcher still working through its batch).
pub fn extend_claims(conn: &mut DbConnection, ids: &[&str], until: NaiveDateTime) -> AppResult<()> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq_any(ids))
            .filter(notifications::status.eq(Status::Pending)),
    )
    .set(notifications::claimed_until.eq(Some(until)))
    .execute(conn)?;
    Ok(())
}

/// Frees every claim: only for a dispatcher that knows it is the only one (SQLite, whose
/// `rota serve` holds the file's serve lock), at start, so a crash's claims are sent at
/// once rather than when their lease runs out. Returns how many were held.
pub fn release_claims(conn: &mut DbConnection) -> AppResult<usize> {
    Ok(diesel::update(
        notifications::table
            .filter(notifications::status.eq(Status::Pending))
            .filter(notifications::claimed_until.is_not_null()),
    )
    .set(notifications::claimed_until.eq(None::<NaiveDateTime>))
    .execute(conn)?)
}

/// Holds claimed notifications back until `until` (storm throttling: not an attempt).
pub fn hold(conn: &mut DbConnection, ids: &[&str], until: NaiveDateTime) -> AppResult<()> {
    diesel::update(notifications::table.filter(notifications::id.eq_any(ids)))
        .set((
            notifications::next_attempt_at.eq(until),
            notifications::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The service of each incident named.
pub fn services_of(
    conn: &mut DbConnection,
    ids: &[&IncidentId],
) -> AppResult<std::collections::HashMap<IncidentId, ServiceId>> {
    Ok(incidents::table
        .filter(incidents::id.eq_any(ids))
        .select((incidents::id, incidents::service_id))
        .load::<(IncidentId, ServiceId)>(conn)?
        .into_iter()
        .collect())
}

/// What was sent to these people since `since`, with each incident's service (storm
/// throttling, `domain::notification::dispatch`).
pub fn recent_sends(
    conn: &mut DbConnection,
    users: &[&UserId],
    since: NaiveDateTime,
) -> AppResult<Vec<RecentSend>> {
    let rows: Vec<(
        UserId,
        ContactKind,
        String,
        ServiceId,
        Option<NaiveDateTime>,
    )> = notifications::table
        .inner_join(incidents::table)
        .filter(notifications::user_id.eq_any(users))
        .filter(notifications::status.eq(Status::Sent))
        .filter(notifications::sent_at.ge(since))
        .select((
            notifications::user_id,
            notifications::channel,
            notifications::address,
            incidents::service_id,
            notifications::sent_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(user, channel, address, service, sent_at)| {
            Some(RecentSend {
                contact: Contact {
                    user,
                    channel,
                    address,
                },
                service,
                sent_at: sent_at?,
            })
        })
        .collect())
}

/// The contact method a rule notifies (`None`: the rule was deleted since).
pub fn method_of_rule(
    conn: &mut DbConnection,
    rule: &NotificationRuleId,
) -> AppResult<Option<crate::domain::ids::ContactMethodId>> {
    use super::schema::notification_rules;
    Ok(notification_rules::table
        .find(rule)
        .select(notification_rules::contact_method_id)
        .first(conn)
        .optional()?)
}

pub fn find(conn: &mut DbConnection, id: &str) -> AppResult<Option<Notification>> {
    Ok(notifications::table
        .find(id)
        .select(Notification::as_select())
        .first(conn)
        .optional()?)
}

/// The notifications one message carried (same provider reference, same person).
pub fn carried_by(
    conn: &mut DbConnection,
    provider_ref: &str,
    user: &UserId,
) -> AppResult<Vec<Notification>> {
    Ok(notifications::table
        .filter(notifications::provider_ref.eq(provider_ref))
        .filter(notifications::user_id.eq(user))
        .order(notifications::id)
        .select(Notification::as_select())
        .load(conn)?)
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

/// Held across a send: the incidents it names that are triggered now stay so until the
/// guard is dropped. On PostgreSQL this opens a transaction on `conn` (ended by
/// `SendGuard::finish_with`).
pub struct SendGuard {
    _local: Vec<RwLockReadGuard<'static, ()>>,
    transaction: bool,
}

impl SendGuard {
    /// Guards a send about `incidents`; returns the ones still triggered (`None`: all were
    /// acknowledged or resolved; do not send).
    pub fn take(
        conn: &mut DbConnection,
        incidents: &[&IncidentId],
    ) -> AppResult<Option<(SendGuard, Vec<IncidentId>)>> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        match conn {
            DbConnection::Postgres(c) => {
                AnsiTransactionManager::begin_transaction(c)?;
                let found: Vec<IncidentId> = match incidents::table
                    .filter(incidents::id.eq_any(incidents))
                    .filter(incidents::status.eq(IncidentStatus::Triggered))
                    .order(incidents::id)
                    .select(incidents::id)
                    .for_share()
                    .load(c)
                {
                    Ok(found) => found,
                    Err(e) => {
                        // Never hand the connection back with the transaction open.
                        let _ = AnsiTransactionManager::rollback_transaction(c);
                        return Err(e.into());
                    }
                };
                if found.is_empty() {
                    AnsiTransactionManager::rollback_transaction(c)?;
                    return Ok(None);
                }
                Ok(Some((
                    SendGuard {
                        _local: Vec::new(),
                        transaction: true,
                    },
                    found,
                )))
            }
            DbConnection::Sqlite(c) => {
                // Read guards in stripe order, like `change_guards`' write guards.
                let mut stripes: Vec<usize> = incidents.iter().map(|i| stripe_of(i)).collect();
                stripes.sort_unstable();
                stripes.dedup();
                let local = stripes
                    .into_iter()
                    .map(|i| STRIPED[i].read().unwrap_or_else(|p| p.into_inner()))
                    .collect();
                let found: Vec<IncidentId> = incidents::table
                    .filter(incidents::id.eq_any(incidents))
                    .filter(incidents::status.eq(IncidentStatus::Triggered))
                    .select(incidents::id)
                    .load(c)?;
                Ok((!found.is_empty()).then_some((
                    SendGuard {
                        _local: local,
                        transaction: false,
                    },
                    found,
                )))
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

/// One notification as the demo's outbox page lists it: with its incident's number and title
/// and the person's name.
pub struct Listed {
    pub notification: Notification,
    pub incident_number: i64,
    pub incident_title: String,
    pub person: String,
}

/// The newest `limit` notifications, whatever their state (`rota serve --demo`'s outbox).
pub fn newest(conn: &mut DbConnection, limit: i64) -> AppResult<Vec<Listed>> {
    use super::schema::users;
    let rows: Vec<(Notification, i64, String, String)> = notifications::table
        .inner_join(incidents::table)
        .inner_join(users::table.on(users::id.eq(notifications::user_id)))
        .order((notifications::created_at.desc(), notifications::id.desc()))
        .limit(limit)
        .select((
            Notification::as_select(),
            incidents::number,
            incidents::title,
            users::name,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(notification, incident_number, incident_title, person)| Listed {
                notification,
                incident_number,
                incident_title,
                person,
            },
        )
        .collect())
}
