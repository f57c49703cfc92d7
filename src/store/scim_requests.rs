//! The SCIM request log (`scim_requests`): one row per request to `/scim/v2` with its outcome,
//! for the identity admins' SCIM status. Requests refused for their token are logged at most
//! once a minute (anyone can send those); rows older than `KEPT_DAYS` go as new ones come.

use super::DbConnection;
use super::schema::scim_requests;
use crate::domain::ids::TokenId;
use crate::error::AppResult;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

/// How long requests are kept.
pub const KEPT_DAYS: i64 = 30;
/// The longest path and error detail stored (longer ones are cut, on a character boundary).
const PATH_CHARS: usize = 300;
const DETAIL_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = scim_requests)]
pub struct ScimRequest {
    pub id: String,
    pub at: NaiveDateTime,
    /// The SCIM token that made it; `None` when it was refused for its token, or needs none
    /// (discovery).
    pub token_id: Option<TokenId>,
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub status: i32,
    /// The SCIM error's `scimType` (RFC 7644 §3.12), when it has one.
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

impl ScimRequest {
    pub fn failed(&self) -> bool {
        self.status >= 400
    }
}

fn cut(text: &str, chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(chars)
        .collect()
}

/// Writes one request's outcome and trims the log. A request refused for its token (401) is
/// dropped when another was logged in the last minute.
pub fn record(conn: &mut DbConnection, mut request: ScimRequest) -> AppResult<()> {
    request.path = cut(&request.path, PATH_CHARS);
    request.detail = request.detail.as_deref().map(|d| cut(d, DETAIL_CHARS));
    if request.status == 401 {
        let recent = scim_requests::table
            .filter(scim_requests::status.eq(401))
            .filter(scim_requests::at.gt(request.at - Duration::minutes(1)))
            .select(scim_requests::id)
            .first::<String>(conn)
            .optional()?;
        if recent.is_some() {
            return Ok(());
        }
    }
    let cutoff = request.at - Duration::days(KEPT_DAYS);
    diesel::insert_into(scim_requests::table)
        .values(&request)
        .execute(conn)?;
    diesel::delete(scim_requests::table.filter(scim_requests::at.lt(cutoff))).execute(conn)?;
    Ok(())
}

/// The latest `limit` requests, the failed ones among them first (newest first within each).
pub fn latest(conn: &mut DbConnection, limit: i64) -> AppResult<Vec<ScimRequest>> {
    let mut rows: Vec<ScimRequest> = scim_requests::table
        .order((scim_requests::at.desc(), scim_requests::id.desc()))
        .limit(limit)
        .select(ScimRequest::as_select())
        .load(conn)?;
    // Stable: each group keeps its newest-first order.
    rows.sort_by_key(|r| !r.failed());
    Ok(rows)
}
