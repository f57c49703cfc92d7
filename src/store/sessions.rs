//! Browser sessions, kept server-side so they can be revoked: the cookie carries a random
//! secret (encrypted), the table only its SHA-256. Also the key that encrypts cookies, made on
//! first start and shared by every instance through the database.

use super::DbConnection;
use super::schema::{server_keys, sessions, users};
use crate::domain::ids::{SessionId, UserId};
use crate::domain::role::Role;
use crate::domain::seat_policy::Licence;
use crate::domain::token::hash_secret;
use crate::error::AppResult;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// What a signed-in request (a session cookie or a personal token) needs of its user: who
/// they are, whether they may still get in, and their role and seat. Loaded on every such
/// request, so it leaves out the rest of the row (the SCIM document Entra sent, addresses,
/// the caseless keys).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct SessionUser {
    pub id: UserId,
    pub user_name: String,
    pub name: String,
    pub role: Role,
    pub licence: Option<Licence>,
    pub active: bool,
    pub deleted_at: Option<NaiveDateTime>,
    /// Pages show times in this IANA zone, and words in `locale` (else SCIM's
    /// `preferredLanguage`, else the browser's).
    pub time_zone: String,
    pub locale: Option<String>,
    pub preferred_language: Option<String>,
}

/// The user a personal token acts for, unless deleted.
pub fn acting_user(conn: &mut DbConnection, id: &UserId) -> AppResult<Option<SessionUser>> {
    Ok(users::table
        .find(id)
        .select(SessionUser::as_select())
        .first(conn)
        .optional()?
        .filter(|u: &SessionUser| u.deleted_at.is_none()))
}

/// How a session was opened.
pub const METHOD_OIDC: &str = "oidc";
pub const METHOD_BREAK_GLASS: &str = "break_glass";
/// `rota serve --demo`'s sample sign-in (loopback only).
pub const METHOD_DEMO: &str = "demo";

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: SessionId,
    pub secret_hash: String,
    pub user_id: UserId,
    pub method: String,
    pub user_agent: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
}

/// Opens a session for `user_id`; returns it and the secret for the cookie (the only copy).
pub fn open(
    conn: &mut DbConnection,
    user_id: &UserId,
    method: &str,
    user_agent: Option<&str>,
    now: NaiveDateTime,
    lifetime: Duration,
) -> AppResult<(Session, String)> {
    let mut random = [0u8; 32];
    rand::fill(&mut random);
    let secret = hex::encode(random);
    let session = Session {
        id: SessionId::generate(),
        secret_hash: hash_secret(&secret),
        user_id: user_id.clone(),
        method: method.into(),
        user_agent: user_agent.map(|ua| ua.chars().take(300).collect()),
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetime,
        revoked_at: None,
        revoked_reason: None,
    };
    diesel::insert_into(sessions::table)
        .values(&session)
        .execute(conn)?;
    Ok((session, secret))
}

/// The session whose secret hashes to `hash`, with its user, whatever its state: the caller
/// decides whether it still lets anyone in.
pub fn find_by_hash(
    conn: &mut DbConnection,
    hash: &str,
) -> AppResult<Option<(Session, SessionUser)>> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::secret_hash.eq(hash))
        .select((Session::as_select(), SessionUser::as_select()))
        .first(conn)
        .optional()?)
}

/// Records that the session was used, which keeps it from going idle.
pub fn touch(conn: &mut DbConnection, id: &SessionId, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(sessions::table.find(id))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn revoke(
    conn: &mut DbConnection,
    id: &SessionId,
    reason: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::revoked_at.is_null()),
    )
    .set((
        sessions::revoked_at.eq(now),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(())
}

/// Signs the user out everywhere; returns how many sessions were still open.
pub fn revoke_all_of(
    conn: &mut DbConnection,
    user_id: &UserId,
    reason: &str,
    now: NaiveDateTime,
) -> AppResult<usize> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now)),
    )
    .set((
        sessions::revoked_at.eq(now),
        sessions::revoked_reason.eq(reason),
    ))
    .execute(conn)?)
}

/// The user's sessions that are neither revoked nor past their absolute end, newest first.
pub fn open_sessions_of(
    conn: &mut DbConnection,
    user_id: &UserId,
    now: NaiveDateTime,
) -> AppResult<Vec<Session>> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order(sessions::created_at.desc())
        .select(Session::as_select())
        .load(conn)?)
}

/// The key that encrypts cookies (64 random bytes, hex): made by whichever instance starts
/// first, then read by all, so a session survives restarts and works on every instance.
pub fn cookie_key(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Vec<u8>> {
    const NAME: &str = "cookie";
    let read = |conn: &mut DbConnection| -> AppResult<Option<String>> {
        Ok(server_keys::table
            .find(NAME)
            .select(server_keys::secret)
            .first(conn)
            .optional()?)
    };
    let secret = match read(conn)? {
        Some(s) => s,
        None => {
            let mut random = [0u8; 64];
            rand::fill(&mut random);
            // Another instance may win the race; then we use its key.
            let _ = diesel::insert_into(server_keys::table)
                .values((
                    server_keys::name.eq(NAME),
                    server_keys::secret.eq(hex::encode(random)),
                    server_keys::created_at.eq(now),
                ))
                .execute(conn);
            read(conn)?.ok_or_else(|| crate::error::AppError::internal("cookie key missing"))?
        }
    };
    crate::error::ResultExt::internal(hex::decode(secret), "cookie key")
}
