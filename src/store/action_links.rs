//! Acknowledge/resolve links in e-mails: the key that signs them (a row of `server_keys`, made
//! on first use like the cookie key, shared by every instance) and the links already used
//! (`used_action_links`, one row per `jti`). What a link says is `domain::action_link`.

use super::schema::{server_keys, used_action_links};
use super::{DbConnection, on_backend};
use crate::domain::ids::IncidentId;
use crate::error::{AppError, AppResult, ResultExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// The key that signs action links.
pub fn key(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Vec<u8>> {
    server_key(conn, "action_links", now)
}

/// The key webhook contact methods' signing secrets are derived from
/// (`domain::notification::webhook_secret`).
pub fn webhook_key(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Vec<u8>> {
    server_key(conn, "webhooks", now)
}

/// The key unsubscribe links are signed with (`domain::subscription::unsubscribe_token`).
pub fn subscription_key(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Vec<u8>> {
    server_key(conn, "subscriptions", now)
}

/// A server key (64 random bytes, hex in `server_keys`): made by whichever instance needs it
/// first, then read by all. The insert does nothing when another instance won the race (and
/// so does not spoil a PostgreSQL transaction the caller may be in).
fn server_key(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> AppResult<Vec<u8>> {
    let read = |conn: &mut DbConnection| -> AppResult<Option<String>> {
        Ok(server_keys::table
            .find(name)
            .select(server_keys::secret)
            .first(conn)
            .optional()?)
    };
    let secret = match read(conn)? {
        Some(s) => s,
        None => {
            let mut random = [0u8; 64];
            rand::fill(&mut random);
            let row = (
                server_keys::name.eq(name),
                server_keys::secret.eq(hex::encode(random)),
                server_keys::created_at.eq(now),
            );
            on_backend!(conn, c => diesel::insert_into(server_keys::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(c))?;
            read(conn)?.ok_or_else(|| AppError::internal("server key missing"))?
        }
    };
    hex::decode(secret).internal("server key")
}

/// Whether the link `jti` was used already.
pub fn was_used(conn: &mut DbConnection, jti: &str) -> AppResult<bool> {
    Ok(used_action_links::table
        .filter(used_action_links::jti.eq(jti))
        .select(used_action_links::jti)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

/// Records that the link `jti` is being used; false when it was used already. Call it in the
/// transaction that acts on the link: on PostgreSQL a second use racing the first waits for
/// its commit, then finds the row.
pub fn record_use(
    tx: &mut DbConnection,
    jti: &str,
    incident: &IncidentId,
    now: NaiveDateTime,
) -> AppResult<bool> {
    let row = (
        used_action_links::jti.eq(jti),
        used_action_links::incident_id.eq(incident.as_str()),
        used_action_links::used_at.eq(now),
    );
    let n = on_backend!(tx, c => diesel::insert_into(used_action_links::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}
