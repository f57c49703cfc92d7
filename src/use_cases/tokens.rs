//! A person's own personal API tokens: listed (never their secrets), made (the secret comes
//! back once) and revoked, each in one transaction with its audit event, through
//! `store::tokens` as `rota token` and the identity page make and revoke tokens. A personal
//! token acts as its holder with their role at each use (`http::api::caller`), so a
//! stakeholder's only reads. The caller's rights are a `check` closure that sees the person
//! as stored (`ManagePersonalTokens`: themselves only).

use super::contact_methods::person;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::token::{self, TokenKind};
use crate::error::{AppError, AppResult, ResultExt};
use crate::store::audit::AuditContext;
use crate::store::tokens::{self as store, Holder, Token, Which};
use crate::store::users::{self, User};
use crate::store::{self as db, DbConnection};

/// Live personal tokens one person may hold: enough for every machine and script, few
/// enough that a leaked session cannot mint an unbounded supply.
pub const MAX_PERSONAL_TOKENS: usize = 20;

/// The person's live personal tokens, oldest first.
pub fn list(
    conn: &mut DbConnection,
    user: &UserId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<Vec<Token>> {
    person(conn, user, check)?;
    store::personal_of(conn, user)
}

/// Makes a personal token called `name` for the person; the token and its secret, which
/// exists nowhere else. Names are the person's own (another person may use the same one);
/// at most `MAX_PERSONAL_TOKENS` live at once, counted under a lock on the person.
pub fn create(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    name: &str,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(Token, String)> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let name = token::name(name).invalid_field("token.name")?;
        users::lock(tx, user)?;
        let live = store::personal_of(tx, user)?;
        if live.iter().any(|t| t.name == name) {
            return Err(AppError::conflict(
                "token.name",
                format!(
                    "'{name}' is already the name of one of your live tokens; pick another name or revoke that one first"
                ),
            ));
        }
        if live.len() >= MAX_PERSONAL_TOKENS {
            return Err(AppError::conflict(
                "token",
                format!(
                    "you hold {} live personal tokens, the most one person may; revoke one you no longer use first",
                    live.len()
                ),
            ));
        }
        store::issue_in(tx, ctx, TokenKind::Api, &name, Holder::User(user.clone()))
    })
}

/// Revokes one of the person's own live personal tokens (anyone else's is not found);
/// the token as it was.
pub fn revoke(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    id: &TokenId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<Token> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        store::revoke_audited_in(tx, ctx, Which::Personal(user, id))
    })
}
