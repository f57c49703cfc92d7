//! API and SCIM tokens. Only the SHA-256 of a secret is stored; a presented secret is hashed
//! and looked up by that hash, then compared again in constant time.

use super::DbConnection;
use super::schema::tokens;
use crate::domain::ids::{TokenId, UserId};
use crate::domain::role::Role;
use crate::domain::token::{self, SECRET_BYTES, TokenKind};
use crate::error::{AppError, AppResult, OptionExt, ResultExt};
use crate::store::audit::{self, AuditContext, Target};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct Token {
    pub id: TokenId,
    pub kind: TokenKind,
    pub name: String,
    pub role: Option<Role>,
    pub secret_hash: String,
    pub hint: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    /// Set for a personal token: it acts as this user, with the user's current role.
    pub user_id: Option<UserId>,
}

pub fn insert(conn: &mut DbConnection, token: &Token) -> AppResult<()> {
    diesel::insert_into(tokens::table)
        .values(token)
        .execute(conn)
        .map_err(super::unique_violation(
            "name",
            format!(
                "'{}' is already used by a live token; pick another name or revoke that one first",
                token.name
            ),
        ))?;
    Ok(())
}

/// The live token whose secret hashes to `hash`, if any.
pub fn find_live_by_hash(conn: &mut DbConnection, hash: &str) -> AppResult<Option<Token>> {
    let found = tokens::table
        .filter(tokens::secret_hash.eq(hash))
        .filter(tokens::revoked_at.is_null())
        .select(Token::as_select())
        .first(conn)
        .optional()
        .map_err(super::column::read_from("tokens"))?;
    // The index look-up already matched; this keeps the final comparison constant-time too.
    Ok(found.filter(|t| bool::from(t.secret_hash.as_bytes().ct_eq(hash.as_bytes()))))
}

pub fn touch(conn: &mut DbConnection, id: &TokenId, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(tokens::table.find(id))
        .set(tokens::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn list(conn: &mut DbConnection) -> AppResult<Vec<Token>> {
    tokens::table
        .order((tokens::created_at.asc(), tokens::id.asc()))
        .select(Token::as_select())
        .load(conn)
        .map_err(super::column::read_from("tokens"))
}

pub fn live_count(conn: &mut DbConnection) -> AppResult<i64> {
    Ok(tokens::table
        .filter(tokens::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}

/// A person's live personal tokens, oldest first.
pub fn personal_of(conn: &mut DbConnection, user: &UserId) -> AppResult<Vec<Token>> {
    tokens::table
        .filter(tokens::user_id.eq(user))
        .filter(tokens::revoked_at.is_null())
        .order((tokens::created_at.asc(), tokens::id.asc()))
        .select(Token::as_select())
        .load(conn)
        .map_err(super::column::read_from("tokens"))
}

/// Which live token to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Which<'a> {
    /// The one live token with this name (`rota token revoke NAME`). Personal tokens are
    /// named by the people who hold them, so a name can be several people's: refused then.
    Named(&'a str),
    /// The live token with this id.
    Id(&'a TokenId),
    /// One of this person's own live personal tokens; anyone else's is not found.
    Personal(&'a UserId, &'a TokenId),
}

/// Revokes the live token `which` names; returns it as it was.
pub fn revoke(conn: &mut DbConnection, which: Which<'_>, now: NaiveDateTime) -> AppResult<Token> {
    let live = tokens::table
        .filter(tokens::revoked_at.is_null())
        .select(Token::as_select())
        .into_boxed();
    let (found, shown) = match which {
        Which::Named(name) => (live.filter(tokens::name.eq(name)), name),
        Which::Id(id) => (live.filter(tokens::id.eq(id)), id.as_str()),
        Which::Personal(user, id) => (
            live.filter(tokens::id.eq(id))
                .filter(tokens::user_id.eq(user)),
            id.as_str(),
        ),
    };
    let mut found: Vec<Token> = found
        .limit(2)
        .load(conn)
        .map_err(super::column::read_from("tokens"))?;
    if found.len() > 1 {
        return Err(AppError::conflict(
            "name",
            format!(
                "several live tokens are called '{shown}' (personal tokens are named by the people who hold them): name the person too"
            ),
        ));
    }
    let token = found.pop().not_found("live token", shown)?;
    diesel::update(tokens::table.find(&token.id))
        .set(tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(token)
}

/// What the audit trail keeps of a token: never its hash.
#[derive(serde::Serialize)]
struct TokenView<'a> {
    kind: TokenKind,
    name: &'a str,
    role: Option<Role>,
    hint: &'a str,
    user_id: Option<&'a str>,
}

impl Token {
    fn view(&self) -> TokenView<'_> {
        TokenView {
            kind: self.kind,
            name: &self.name,
            role: self.role,
            hint: &self.hint,
            user_id: self.user_id.as_ref().map(UserId::as_str),
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            kind: "token",
            id: self.id.as_str(),
            name: &self.name,
        }
    }
}

/// Who a new token speaks for: a role (service tokens), or one user (personal tokens, which
/// take that user's role at each use, so a demotion applies to their tokens at once).
#[derive(Debug, Clone)]
pub enum Holder {
    Role(Option<Role>),
    User(UserId),
}

/// Makes a token with a fresh random secret, stores its hash, audits it, and returns the
/// secret: the only time it exists outside the caller's hands.
pub fn issue(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    kind: TokenKind,
    name: &str,
    holder: Holder,
) -> AppResult<String> {
    super::write(conn, |tx| issue_in(tx, ctx, kind, name, holder)).map(|(_, secret)| secret)
}

/// `issue` inside the caller's transaction: the token as stored, and its secret.
pub fn issue_in(
    tx: &mut DbConnection,
    ctx: &AuditContext,
    kind: TokenKind,
    name: &str,
    holder: Holder,
) -> AppResult<(Token, String)> {
    let name = token::name(name).invalid_field("name")?;
    let mut random = [0u8; SECRET_BYTES];
    rand::fill(&mut random);
    let secret = token::format_secret(kind, &random);
    let token = Token {
        id: TokenId::generate(),
        kind,
        name,
        role: match &holder {
            Holder::Role(role) => *role,
            Holder::User(_) => None,
        },
        secret_hash: token::hash_secret(&secret),
        hint: token::hint(&secret),
        created_at: crate::clock::stored(ctx.at),
        last_used_at: None,
        revoked_at: None,
        user_id: match holder {
            Holder::Role(_) => None,
            Holder::User(id) => Some(id),
        },
    };
    insert(tx, &token)?;
    audit::record(
        tx,
        ctx,
        "create",
        token.target(),
        None::<&()>,
        Some(&token.view()),
    )?;
    Ok((token, secret))
}

/// Revokes the live token `which` names, audited.
pub fn revoke_audited(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    which: Which<'_>,
) -> AppResult<()> {
    super::write(conn, |tx| revoke_audited_in(tx, ctx, which).map(|_| ()))
}

/// `revoke_audited` inside the caller's transaction; the token as it was.
pub fn revoke_audited_in(
    tx: &mut DbConnection,
    ctx: &AuditContext,
    which: Which<'_>,
) -> AppResult<Token> {
    let token = revoke(tx, which, crate::clock::stored(ctx.at))?;
    audit::record(
        tx,
        ctx,
        "revoke",
        token.target(),
        Some(&token.view()),
        None::<&()>,
    )?;
    Ok(token)
}
