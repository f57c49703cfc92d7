//! Break-glass accounts: owners who may sign in with a password when Entra ID is down. Off
//! by default; `rota owner break-glass USERNAME` turns it on for one owner and prints a new
//! random password once. Only the argon2id hash is stored.

use super::schema::break_glass_accounts;
use super::users::User;
use super::{DbConnection, audit, write};
use crate::domain::ids::UserId;
use crate::domain::role::Role;
use crate::error::{AppError, AppResult, OptionExt, ResultExt};
use crate::store::audit::AuditContext;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// Checked when the user name is unknown, so a wrong name costs as long as a wrong password.
static DECOY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash("decoy").unwrap_or_default());

fn hash(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .internal("argon2")
}

fn verifies(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Turns break-glass sign-in on for the owner `user_name` with a new password (replacing any
/// earlier one), audited; returns the password.
pub fn enable(conn: &mut DbConnection, ctx: &AuditContext, user_name: &str) -> AppResult<String> {
    let user = live_user(conn, user_name)?;
    if user.role != Role::Owner {
        return Err(AppError::invalid(
            "USERNAME",
            format!(
                "{} is a {}, not an owner; break-glass sign-in is for owners only",
                user.user_name, user.role
            ),
        ));
    }
    let mut random = [0u8; 18];
    rand::fill(&mut random);
    // 144 bits in base32-ish groups: long enough, and readable over the phone in an incident.
    let password = hex::encode(random)
        .as_bytes()
        .chunks(6)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-");
    let password_hash = hash(&password)?;
    let now = crate::clock::stored(ctx.at);
    write(conn, |tx| {
        diesel::delete(break_glass_accounts::table.find(&user.id)).execute(tx)?;
        diesel::insert_into(break_glass_accounts::table)
            .values((
                break_glass_accounts::user_id.eq(&user.id),
                break_glass_accounts::password_hash.eq(&password_hash),
                break_glass_accounts::enabled_at.eq(now),
            ))
            .execute(tx)?;
        audit::record(
            tx,
            ctx,
            "enable_break_glass",
            user.audit_target(),
            None::<&()>,
            None::<&()>,
        )
    })?;
    Ok(password)
}

/// Turns break-glass sign-in off for `user_name`, audited.
pub fn disable(conn: &mut DbConnection, ctx: &AuditContext, user_name: &str) -> AppResult<()> {
    let user = live_user(conn, user_name)?;
    write(conn, |tx| {
        let removed = diesel::delete(break_glass_accounts::table.find(&user.id)).execute(tx)?;
        if removed == 0 {
            return Err(AppError::not_found("break-glass account", &user.user_name));
        }
        audit::record(
            tx,
            ctx,
            "disable_break_glass",
            user.audit_target(),
            None::<&()>,
            None::<&()>,
        )
    })
}

/// An account that may sign in with a break-glass password, and its stored hash.
pub struct Candidate {
    pub user: User,
    password_hash: String,
}

/// The live account with break-glass enabled under this user name, if any. Read, then let the
/// connection go: the password check (`verify`) takes tens of milliseconds of a core and must
/// not hold a pooled connection meanwhile.
pub fn candidate(conn: &mut DbConnection, user_name: &str) -> AppResult<Option<Candidate>> {
    let key = crate::domain::user::name_key(user_name);
    let found = super::schema::users::table
        .inner_join(break_glass_accounts::table)
        .filter(super::schema::users::user_name_key.eq(&key))
        // As the partial unique index says, so that it is used.
        .filter(super::schema::users::deleted_at.is_null())
        .select((User::as_select(), break_glass_accounts::password_hash))
        .load::<(User, String)>(conn)?
        .into_iter()
        .find(|(u, _)| u.deleted_at.is_none())
        .map(|(user, password_hash)| Candidate {
            user,
            password_hash,
        });
    Ok(found)
}

/// Checks the password (argon2id: run it on the blocking pool). The account must still be an
/// active owner. Without a candidate it checks a decoy, so a wrong name costs as long as a
/// wrong password.
pub fn verify(candidate: Option<Candidate>, password: &str) -> Option<User> {
    let Some(Candidate {
        user,
        password_hash,
    }) = candidate
    else {
        verifies(password, &DECOY_HASH);
        return None;
    };
    let ok = verifies(password, &password_hash) && user.active && user.role == Role::Owner;
    ok.then_some(user)
}

pub fn record_use(conn: &mut DbConnection, user_id: &UserId, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(break_glass_accounts::table.find(user_id))
        .set(break_glass_accounts::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

fn live_user(conn: &mut DbConnection, user_name: &str) -> AppResult<User> {
    super::users::find_by_user_name(conn, user_name)?.not_found("user", user_name)
}

/// Owners' e-mail addresses, to tell them about a break-glass sign-in, and their names, for
/// "who to ask" on refusal pages.
pub fn owners(conn: &mut DbConnection) -> AppResult<Vec<User>> {
    let rows: Vec<User> = super::schema::users::table
        .filter(super::schema::users::role.eq(Role::Owner.as_str()))
        .filter(super::schema::users::active.eq(true))
        .order(super::schema::users::name.asc())
        .select(User::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|u| u.deleted_at.is_none())
        .collect())
}
