//! The email outbox. An email is written by `enqueue` inside the transaction of the change that
//! calls for it, so it exists exactly when that change committed. The delivery job claims due
//! emails under a lease (`claimed_until`), sends them, and records the outcome: sent, or failed
//! with the next attempt, or given up. Sending is `notify::email`; the loop is
//! `jobs::email_delivery`.

use super::schema::emails;
use super::{DbConnection, on_backend};
use crate::clock::stored;
use crate::domain::ids::EmailId;
use crate::domain::subscription::UnsubscribeUrl;
use crate::error::AppResult;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

/// One email in the outbox.
#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = emails)]
pub struct Email {
    pub id: EmailId,
    pub to_address: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// Why it was sent, as a short machine word: `break_glass_sign_in`, `seat_warning`.
    pub reason: String,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    /// Attempts made so far, successful or not.
    pub attempts: i32,
    /// While set and in the future, a delivery job holds the email.
    pub claimed_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    /// Set when delivery was given up.
    pub failed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    /// For an e-mail to a list's subscriber (a status update): where one click unsubscribes
    /// (RFC 8058), sent as `List-Unsubscribe` and `List-Unsubscribe-Post`.
    pub list_unsubscribe: Option<UnsubscribeUrl>,
}

/// An email to send.
#[derive(Debug, Clone)]
pub struct NewEmail {
    /// One address, such as `ada@example.com` or `Ada Lovelace <ada@example.com>`.
    pub to: String,
    pub subject: String,
    /// Plain text.
    pub body: String,
    /// A short machine word saying why: `break_glass_sign_in`, `seat_warning`.
    pub reason: &'static str,
    /// The one-click unsubscribe URL of a subscriber's e-mail (`List-Unsubscribe`).
    pub list_unsubscribe: Option<UnsubscribeUrl>,
}

/// Rows per INSERT: 13 columns each stays below SQLite's limit on bound values.
const INSERT_CHUNK: usize = 1_000;

/// Longest error text kept per email.
const MAX_ERROR_CHARS: usize = 1_000;

/// Queues `emails`, due at once. Call it inside the transaction (`store::write`) of the change
/// that calls for them, and poke the delivery job (`AppState::email_delivery`) after it
/// committed.
pub fn enqueue(
    conn: &mut DbConnection,
    emails: &[NewEmail],
    now: DateTime<Utc>,
) -> AppResult<Vec<EmailId>> {
    let at = stored(now);
    let rows: Vec<Email> = emails
        .iter()
        .map(|e| Email {
            id: EmailId::generate(),
            to_address: e.to.trim().to_string(),
            subject: e.subject.clone(),
            body: e.body.clone(),
            reason: e.reason.to_string(),
            created_at: at,
            next_attempt_at: at,
            attempts: 0,
            claimed_until: None,
            sent_at: None,
            failed_at: None,
            last_error: None,
            list_unsubscribe: e.list_unsubscribe.clone(),
        })
        .collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        on_backend!(conn, c => diesel::insert_into(emails::table).values(chunk).execute(c))?;
    }
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Claims up to `limit` due emails (unsent, not given up, next attempt reached, not held by
/// another job) for `lease`, oldest due first. Every email is claimed by one caller only, also
/// with several instances: on PostgreSQL rows another transaction is claiming are skipped
/// (`FOR UPDATE SKIP LOCKED`) and rows it has just claimed fail the re-checked condition; on
/// SQLite the statement runs under the single write lock. Run it in `store::write`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: i64,
    lease: Duration,
) -> AppResult<Vec<Email>> {
    let mut claimed: Vec<Email> = super::claim_outbox(conn, "emails", now, limit, lease)?;
    claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    Ok(claimed)
}

/// Records that the email was handed to the SMTP server.
pub fn mark_sent(conn: &mut DbConnection, id: &EmailId, now: DateTime<Utc>) -> AppResult<()> {
    diesel::update(
        emails::table
            .filter(emails::id.eq(id))
            .filter(emails::sent_at.is_null()),
    )
    .set((
        emails::sent_at.eq(stored(now)),
        emails::claimed_until.eq(None::<NaiveDateTime>),
        emails::attempts.eq(emails::attempts + 1),
    ))
    .execute(conn)?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or given up when it is `None`.
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &EmailId,
    now: DateTime<Utc>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let target = emails::table
        .filter(emails::id.eq(id))
        .filter(emails::sent_at.is_null());
    let common = (
        emails::claimed_until.eq(None::<NaiveDateTime>),
        emails::attempts.eq(emails::attempts + 1),
        emails::last_error.eq(Some(error)),
    );
    match retry_at {
        Some(at) => diesel::update(target)
            .set((common, emails::next_attempt_at.eq(stored(at))))
            .execute(conn)?,
        None => diesel::update(target)
            .set((common, emails::failed_at.eq(Some(stored(now)))))
            .execute(conn)?,
    };
    Ok(())
}

/// The email with this id, if any.
pub fn find(conn: &mut DbConnection, id: &EmailId) -> AppResult<Option<Email>> {
    Ok(emails::table
        .find(id)
        .select(Email::as_select())
        .first(conn)
        .optional()?)
}

/// The newest `limit` e-mails, sent or not (`rota serve --demo`'s outbox).
pub fn newest(conn: &mut DbConnection, limit: i64) -> AppResult<Vec<Email>> {
    Ok(emails::table
        .order((emails::created_at.desc(), emails::id.desc()))
        .limit(limit)
        .select(Email::as_select())
        .load(conn)?)
}
