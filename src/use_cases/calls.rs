//! What Twilio tells us about a call we placed (`notify::voice`), once `http::twilio` has
//! checked its signature: a key pressed (4 acknowledges, 6 resolves, every incident the call
//! named, as the person called) and how the call ended (on the timeline).

use super::incidents::{self, Agent};
use crate::domain::handoff::language;
use crate::domain::ids::ContactTestId;
use crate::domain::incident::{self as rules, Change, Channel, LogKind};
use crate::domain::notification::{KeyOutcome, masked};
use crate::error::{AppError, AppResult};
use crate::store::contact_tests;
use crate::store::incidents as incident_store;
use crate::store::incidents::LoadedIncident;
use crate::store::notifications::{self as outbox, Notification};
use crate::store::{self, DbConnection, schedules};
use chrono::{DateTime, Utc};

/// The notifications a callback is about: the one its URL names, and every other the same
/// call carried. A callback whose CallSid is not that call's is refused: a valid signature
/// over another call does not act on this one.
fn carried(
    conn: &mut DbConnection,
    notification: &str,
    call_sid: &str,
) -> AppResult<Vec<Notification>> {
    let n = outbox::find(conn, notification)?
        .ok_or_else(|| AppError::not_found("notification", notification))?;
    if n.provider_ref.as_deref() != Some(call_sid) {
        return Err(AppError::forbidden("the callback names another call"));
    }
    outbox::carried_by(conn, call_sid, &n.user_id)
}

/// What a key pressed did, in the person's language, and the incidents it changed.
pub struct Pressed {
    pub outcome: KeyOutcome,
    pub lang: &'static str,
    pub changed: Vec<LoadedIncident>,
}

/// A key pressed on the call.
pub fn key_pressed(
    conn: &mut DbConnection,
    notification: &str,
    call_sid: &str,
    digits: &str,
    at: DateTime<Utc>,
) -> AppResult<Pressed> {
    let carried = carried(conn, notification, call_sid)?;
    let user = carried[0].user_id.clone();
    let person = schedules::people(conn, std::slice::from_ref(&user))?
        .remove(&user)
        .ok_or_else(|| AppError::not_found("user", user.as_str()))?;
    let lang = language(person.locale.as_deref());
    let done = |outcome, changed| {
        Ok(Pressed {
            outcome,
            lang,
            changed,
        })
    };
    let change = match digits.trim() {
        "4" => Change::Acknowledge,
        "6" => Change::Resolve,
        _ => return done(KeyOutcome::Unknown, Vec::new()),
    };
    // Someone who lost their seat since the call cannot act through it (as with links).
    if person.on_call().is_err() {
        return done(KeyOutcome::Nothing, Vec::new());
    }
    let mut open = Vec::new();
    for n in &carried {
        let i = incident_store::find(conn, &n.incident_id)?;
        if matches!(rules::next_status(i.status, change), Ok(Some(_))) && !open.contains(&i.id) {
            open.push(i.id);
        }
    }
    if open.is_empty() {
        return done(KeyOutcome::Nothing, Vec::new());
    }
    let agent = Agent::user(&person.id, &person.name, Channel::Phone);
    let changed = match incidents::change_status(conn, &agent, at, &open, change) {
        Ok(changed) => changed,
        // Someone else changed one meanwhile: nothing more for this key.
        Err(e) if e.status() == 409 || e.status() == 400 => {
            return done(KeyOutcome::Nothing, Vec::new());
        }
        Err(e) => return Err(e),
    };
    let outcome = match change {
        Change::Acknowledge => KeyOutcome::Acknowledged(changed.len()),
        Change::Resolve => KeyOutcome::Resolved(changed.len()),
    };
    done(outcome, changed)
}

/// How a call ended (Twilio's `CallStatus`), on the timeline of each incident it named:
/// answered, or not (busy, no answer, failed) — the person's next rule fires on its own.
pub fn call_ended(
    conn: &mut DbConnection,
    notification: &str,
    call_sid: &str,
    call_status: &str,
    at: DateTime<Utc>,
) -> AppResult<()> {
    if outbox::find(conn, notification)?.is_none()
        && let Some(test) = contact_tests::find(conn, &ContactTestId(notification.to_owned()))?
        && test.provider_ref.as_deref() == Some(call_sid)
    {
        // A test call (`store::contact_tests`) is on no incident's timeline.
        return Ok(());
    }
    let carried = carried(conn, notification, call_sid)?;
    let user = carried[0].user_id.clone();
    let name = schedules::people(conn, std::slice::from_ref(&user))?
        .remove(&user)
        .map_or_else(|| user.to_string(), |p| p.name);
    let to = masked(&carried[0].address);
    let outcome = match call_status {
        "completed" => "answered".to_string(),
        "busy" => "busy".to_string(),
        "no-answer" => "not answered".to_string(),
        "failed" => "could not be connected".to_string(),
        "canceled" => "cancelled".to_string(),
        // In-progress statuses are not asked for; anything else is shown as sent.
        other => crate::domain::text::clean(other, 40),
    };
    let now = crate::clock::stored(at);
    let agent = Agent::rota(Channel::Phone);
    let mut entries = Vec::new();
    let mut seen = Vec::new();
    for n in &carried {
        if seen.contains(&&n.incident_id) {
            continue;
        }
        seen.push(&n.incident_id);
        entries.push(agent.entry(
            &n.incident_id,
            LogKind::Notify,
            now,
            format!("Call to {name} ({to}): {outcome}"),
            None,
        ));
    }
    store::write(conn, |tx| incident_store::insert_log(tx, &entries))
}
