//! `contact_tests`: one row per test notification a person asked for. The last row of a
//! contact method is what the once-a-minute limit reads (`last_of`, under `lock_method`, so
//! two instances cannot both let a test through). Phone and webhook tests are an outbox the
//! notification dispatcher claims under a lease (`claim_due`), sends and marks; an e-mail
//! test is queued in `emails` (`email_id`) and never claimed here.

use super::DbConnection;
use super::schema::{contact_methods, contact_tests};
use crate::domain::contact::ContactKind;
use crate::domain::ids::{ContactMethodId, ContactTestId, EmailId, UserId};
use crate::error::AppResult;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = contact_tests)]
pub struct ContactTest {
    pub id: ContactTestId,
    pub user_id: UserId,
    pub contact_method_id: ContactMethodId,
    pub channel: ContactKind,
    pub address: String,
    /// An e-mail test: its row in the e-mail outbox, which delivers it.
    pub email_id: Option<EmailId>,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub claimed_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub failed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    /// Twilio's CallSid of a test call.
    pub provider_ref: Option<String>,
}

/// Holds the contact method's row until the transaction ends, so two tests of it asked at
/// once are decided one after the other (PostgreSQL; SQLite's writer lock already does).
pub fn lock_method(conn: &mut DbConnection, id: &ContactMethodId) -> AppResult<()> {
    if let DbConnection::Postgres(c) = conn {
        contact_methods::table
            .find(id)
            .select(contact_methods::id)
            .for_no_key_update()
            .load::<String>(c)?;
    }
    Ok(())
}

/// When the contact method was last tested.
pub fn last_of(conn: &mut DbConnection, id: &ContactMethodId) -> AppResult<Option<NaiveDateTime>> {
    Ok(contact_tests::table
        .filter(contact_tests::contact_method_id.eq(id))
        .select(diesel::dsl::max(contact_tests::created_at))
        .first(conn)?)
}

pub fn insert(conn: &mut DbConnection, test: &ContactTest) -> AppResult<()> {
    diesel::insert_into(contact_tests::table)
        .values(test)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &ContactTestId) -> AppResult<Option<ContactTest>> {
    Ok(contact_tests::table
        .find(id)
        .select(ContactTest::as_select())
        .first(conn)
        .optional()?)
}

/// Claims up to `limit` due phone and webhook tests on `channels` for `lease`: unsent, not
/// given up, due, not held by another dispatcher (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
/// SQLite runs it under its writer lock). Run it in `store::write`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
    lease: Duration,
    channels: &[ContactKind],
) -> AppResult<Vec<ContactTest>> {
    let due = || {
        contact_tests::table
            .filter(contact_tests::email_id.is_null())
            .filter(contact_tests::sent_at.is_null())
            .filter(contact_tests::failed_at.is_null())
            .filter(contact_tests::channel.eq_any(channels.to_vec()))
            .filter(contact_tests::next_attempt_at.le(now))
            .filter(
                contact_tests::claimed_until
                    .is_null()
                    .or(contact_tests::claimed_until.lt(now)),
            )
            .order((contact_tests::next_attempt_at, contact_tests::id))
            .limit(limit)
    };
    let rows = match conn {
        DbConnection::Postgres(c) => due()
            .select(ContactTest::as_select())
            .for_update()
            .skip_locked()
            .load(c)?,
        DbConnection::Sqlite(c) => due().select(ContactTest::as_select()).load(c)?,
    };
    let ids: Vec<&ContactTestId> = rows.iter().map(|r| &r.id).collect();
    diesel::update(contact_tests::table.filter(contact_tests::id.eq_any(ids)))
        .set(contact_tests::claimed_until.eq(Some(now + lease)))
        .execute(conn)?;
    Ok(rows)
}

/// The test went out (`provider_ref`: the call's SID).
pub fn mark_sent(
    conn: &mut DbConnection,
    id: &ContactTestId,
    now: NaiveDateTime,
    provider_ref: Option<&str>,
) -> AppResult<()> {
    diesel::update(contact_tests::table.find(id))
        .set((
            contact_tests::sent_at.eq(Some(now)),
            contact_tests::attempts.eq(contact_tests::attempts + 1),
            contact_tests::claimed_until.eq(None::<NaiveDateTime>),
            contact_tests::provider_ref.eq(provider_ref),
        ))
        .execute(conn)?;
    Ok(())
}

/// A failed attempt: tried again at `retry_at`, or given up at `now` (`None`).
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &ContactTestId,
    error: &str,
    retry_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let error: String = error.chars().take(1_000).collect();
    diesel::update(contact_tests::table.find(id))
        .set((
            contact_tests::attempts.eq(contact_tests::attempts + 1),
            contact_tests::last_error.eq(Some(error)),
            contact_tests::claimed_until.eq(None::<NaiveDateTime>),
            contact_tests::next_attempt_at.eq(retry_at.unwrap_or(now)),
            contact_tests::failed_at.eq(retry_at.is_none().then_some(now)),
        ))
        .execute(conn)?;
    Ok(())
}
