//! The audit trail: one row per change, written in the same transaction as the change, read
//! newest first with a cursor.

use super::DbConnection;
use super::schema::audit_events;
use crate::domain::audit::ActorKind;
use crate::domain::audit::{Actor, Cursor};
use crate::domain::ids::AuditEventId;
use crate::error::AppResult;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

// `treat_none_as_default_value = false`: a `None` is bound as NULL, not written as DEFAULT,
// so `record_all` is one multi-row INSERT a chunk on SQLite too (diesel inserts rows holding
// DEFAULT one at a time there). No column of `audit_events` has another default.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub occurred_at: NaiveDateTime,
    pub actor_type: ActorKind,
    pub actor_id: Option<String>,
    pub actor_name: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub target_name: String,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub request_id: Option<String>,
}

/// Who is acting, for which request, and when: made once per request or job run.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: Actor,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

/// The record a change touched.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub name: &'a str,
}

/// Writes one audit event. Call it inside the transaction that makes the change, so the
/// change and its record are stored together or not at all.
pub fn record<B: Serialize, A: Serialize>(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    action: &str,
    target: Target<'_>,
    before: Option<&B>,
    after: Option<&A>,
) -> AppResult<()> {
    let event = event(ctx, action, target, before, after)?;
    diesel::insert_into(audit_events::table)
        .values(&event)
        .execute(conn)?;
    Ok(())
}

/// One audit event, to write with others through `record_all`.
pub fn event<B: Serialize, A: Serialize>(
    ctx: &AuditContext,
    action: &str,
    target: Target<'_>,
    before: Option<&B>,
    after: Option<&A>,
) -> AppResult<AuditEvent> {
    Ok(AuditEvent {
        id: AuditEventId::generate(),
        occurred_at: crate::clock::stored(ctx.at),
        actor_type: ctx.actor.kind,
        actor_id: ctx.actor.id.clone(),
        actor_name: ctx.actor.name.clone(),
        action: action.to_string(),
        target_type: target.kind.to_string(),
        target_id: target.id.to_string(),
        target_name: target.name.to_string(),
        before_state: before.map(serde_json::to_string).transpose()?,
        after_state: after.map(serde_json::to_string).transpose()?,
        request_id: ctx.request_id.clone(),
    })
}

/// Writes many events with multi-row inserts (a seat reconcile may make thousands).
pub fn record_all(conn: &mut DbConnection, events: &[AuditEvent]) -> AppResult<()> {
    // 12 columns a row: well below both backends' limits on bound values.
    for chunk in events.chunks(1_000) {
        super::on_backend!(conn, c => diesel::insert_into(audit_events::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Which events to read.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub actor_type: Option<ActorKind>,
    pub actor_id: Option<String>,
    pub target_types: Vec<String>,
    pub target_id: Option<String>,
    pub actions: Vec<String>,
}

/// Up to `limit` events newest first, after `cursor`; and the cursor of the next page.
pub fn list(
    conn: &mut DbConnection,
    q: &AuditQuery,
    limit: i64,
    cursor: Option<&Cursor>,
) -> AppResult<(Vec<AuditEvent>, Option<Cursor>)> {
    let mut query = audit_events::table.into_boxed();
    if let Some(since) = q.since {
        query = query.filter(audit_events::occurred_at.ge(since));
    }
    if let Some(until) = q.until {
        query = query.filter(audit_events::occurred_at.lt(until));
    }
    if let Some(t) = &q.actor_type {
        query = query.filter(audit_events::actor_type.eq(*t));
    }
    if let Some(id) = &q.actor_id {
        query = query.filter(audit_events::actor_id.eq(id.clone()));
    }
    if !q.target_types.is_empty() {
        query = query.filter(audit_events::target_type.eq_any(q.target_types.clone()));
    }
    if let Some(id) = &q.target_id {
        query = query.filter(audit_events::target_id.eq(id.clone()));
    }
    if !q.actions.is_empty() {
        query = query.filter(audit_events::action.eq_any(q.actions.clone()));
    }
    if let Some(c) = cursor {
        let at = DateTime::<Utc>::from_timestamp_micros(c.micros)
            .unwrap_or_default()
            .naive_utc();
        query = query.filter(
            audit_events::occurred_at
                .lt(at)
                .or(audit_events::occurred_at
                    .eq(at)
                    .and(audit_events::id.lt(c.id.clone()))),
        );
    }
    let mut rows: Vec<AuditEvent> = query
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .limit(limit + 1)
        .select(AuditEvent::as_select())
        .load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|e| Cursor {
            micros: e.occurred_at.and_utc().timestamp_micros(),
            id: e.id.0.clone(),
        })
    } else {
        None
    };
    Ok((rows, next))
}
