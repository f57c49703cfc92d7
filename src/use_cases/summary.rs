//! An incident's current summary ("what is going on?"), read from the store and put in words by
//! `domain::summary`. REST answers it; chat channels are sent it on request.

use crate::domain::ids::IncidentId;
use crate::domain::incident::LogKind;
use crate::domain::summary::{self, Facts, Summary, Written};
use crate::error::AppResult;
use crate::store::{DbConnection, incidents, schedules, services, status_updates};
use chrono::{DateTime, Utc};

/// What the summary of `id` is made of, as stored now.
pub fn facts(conn: &mut DbConnection, id: &IncidentId) -> AppResult<Facts> {
    let loaded = incidents::load(conn, id)?;
    let inc = &loaded.incident;
    let service = services::find(conn, &inc.service_id)?;
    let assigned: Vec<_> = loaded
        .assignments
        .iter()
        .map(|a| a.user_id.clone())
        .collect();
    let people = schedules::people(conn, &assigned)?;
    let assignees = assigned
        .iter()
        .filter_map(|u| people.get(u).map(|p| p.name.clone()))
        .collect();
    let timeline = incidents::timeline(conn, id)?;
    let resolved_by = timeline
        .iter()
        .rev()
        .find(|e| e.kind == LogKind::Resolve)
        .map(|e| e.agent_name.clone());
    let alerts = incidents::alerts_of(conn, id)?;
    let mut notes = incidents::notes(conn, id)?;
    notes.reverse();
    notes.truncate(summary::NOTES_SHOWN);
    let last_update = status_updates::latest(conn, id)?;
    Ok(Facts {
        number: inc.number,
        title: inc.title.clone(),
        service: service.name,
        status: inc.status,
        urgency: inc.urgency,
        opened_at: inc.created_at,
        resolved_at: inc.resolved_at,
        assignees,
        acknowledged: loaded
            .acknowledgements
            .iter()
            .map(|e| (e.agent_name.clone(), e.created_at))
            .collect(),
        resolved_by,
        last_update: last_update.map(|u| Written {
            author: u.author_name,
            at: u.created_at,
            text: u.message,
        }),
        notes: notes
            .into_iter()
            .map(|n| Written {
                author: n.user_name,
                at: n.created_at,
                text: n.content,
            })
            .collect(),
        escalation_level: inc.escalation_level,
        alerts: alerts.len() as i64,
        events: alerts.iter().map(|a| a.event_count).sum(),
    })
}

/// The summary of `id` now, in `lang`.
pub fn current(
    conn: &mut DbConnection,
    id: &IncidentId,
    lang: &'static str,
    at: DateTime<Utc>,
) -> AppResult<Summary> {
    let f = facts(conn, id)?;
    Ok(summary::summarize(lang, &f, crate::clock::stored(at)))
}
