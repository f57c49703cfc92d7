//! API and SCIM tokens. Only the SHA-256 of a secret is stored; a presented secret is hashed
//! and looked up by that hash, then compared again in constant time.

use super::DbConnection;
use super::schema::tokens;
use crate::domain::ids::TokenId;
use crate::error::{AppError, AppResult};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct Token {
    pub id: TokenId,
    pub kind: String,
    pub name: String,
    pub role: Option<String>,
    pub secret_hash: String,
    pub hint: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
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
        .optional()?;
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
    Ok(tokens::table
        .order((tokens::created_at.asc(), tokens::id.asc()))
        .select(Token::as_select())
        .load(conn)?)
}

pub fn live_count(conn: &mut DbConnection) -> AppResult<i64> {
    Ok(tokens::table
        .filter(tokens::revoked_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Revokes the live token called `name`; returns it as it was.
pub fn revoke(conn: &mut DbConnection, name: &str, now: NaiveDateTime) -> AppResult<Token> {
    let token = tokens::table
        .filter(tokens::name.eq(name))
        .filter(tokens::revoked_at.is_null())
        .select(Token::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found("live token", name))?;
    diesel::update(tokens::table.find(&token.id))
        .set(tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(token)
}
