//! Postmortems, for every protocol: the facts of an incident read from the store, a draft made
//! from them (`domain::postmortem::draft`) and stored, read, previewed without storing, edited
//! (checked, optimistic on `version`, its action items mirrored as rows in the same
//! transaction), the open action items across incidents, and a team's postmortems.
//!
//! Not audited: like notes and status updates, a postmortem is the incident's record, not a
//! change to configuration; who wrote it is in its `authors`.

use crate::domain::contact::ContactKind;
use crate::domain::handoff::language;
use crate::domain::ids::{IncidentId, TeamId, UserId};
use crate::domain::incident::{AgentKind, LogKind};
use crate::domain::notification::Status as NotificationStatus;
use crate::domain::paging::PageRequest;
use crate::domain::postmortem::{
    self, Act, AlertFact, Facts, LogFact, NoteFact, Notifications, Person, Postmortem,
    StatusUpdateFact,
};
use crate::error::{AppError, AppResult};
use crate::store::postmortems::{self as store, ItemFilter, ItemRow, Listed, Stored};
use crate::store::schema::chat_posts;
use crate::store::{
    self as db, DbConnection, Page, incidents, notifications, schedules, services, status_updates,
    teams,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::collections::HashMap;

/// Who writes a draft: a person, their name and the language they read.
fn author(conn: &mut DbConnection, id: &UserId) -> AppResult<(Person, &'static str)> {
    let found = schedules::people(conn, std::slice::from_ref(id))?
        .remove(id)
        .ok_or_else(|| AppError::forbidden("the acting user no longer exists"))?;
    Ok((
        Person {
            id: found.id,
            name: found.name,
        },
        language(found.locale.as_deref()),
    ))
}

/// What the store knows about `incident`, for a draft by `author`.
pub fn facts(conn: &mut DbConnection, incident: &IncidentId, author: Person) -> AppResult<Facts> {
    let loaded = incidents::load(conn, incident)?;
    let inc = &loaded.incident;
    let service = services::load(conn, &inc.service_id)?;
    let log = incidents::timeline(conn, incident)?;
    let notes = incidents::notes(conn, incident)?;
    let alerts = incidents::alerts_of(conn, incident)?;
    let updates = status_updates::of_incident(conn, incident)?;

    // Responders: whoever is assigned, acted as themselves or wrote a note, in the order
    // they first appear.
    let mut responder_ids: Vec<UserId> = Vec::new();
    let acted = log
        .iter()
        .filter(|e| e.agent_kind == AgentKind::User)
        .filter_map(|e| e.agent_id.clone().map(UserId));
    let assigned = loaded.assignments.iter().map(|a| a.user_id.clone());
    let wrote = notes.iter().filter_map(|n| n.user_id.clone());
    for id in assigned.chain(acted).chain(wrote) {
        if !responder_ids.contains(&id) {
            responder_ids.push(id);
        }
    }
    let people = schedules::people(conn, &responder_ids)?;
    let responders = responder_ids
        .into_iter()
        .filter_map(|id| {
            people
                .get(&id)
                .map(|p| p.name.clone())
                .map(|name| Person { id, name })
        })
        .collect();

    let acknowledged = log
        .iter()
        .find(|e| e.kind == LogKind::Acknowledge)
        .map(|e| Act {
            at: e.created_at,
            by: e.agent_name.clone(),
        });
    let resolved = inc.resolved_at.map(|at| Act {
        at,
        by: log
            .iter()
            .rev()
            .find(|e| e.kind == LogKind::Resolve)
            .map_or_else(|| "Rota".to_owned(), |e| e.agent_name.clone()),
    });
    let integrations: HashMap<_, _> = service
        .integrations
        .iter()
        .map(|i| (&i.id, i.name.as_str()))
        .collect();

    Ok(Facts {
        incident_id: inc.id.clone(),
        number: inc.number,
        title: inc.title.clone(),
        service: service.service.name.clone(),
        urgency: inc.urgency,
        opened_at: inc.created_at,
        acknowledged,
        resolved,
        responders,
        alerts: alerts
            .iter()
            .map(|a| AlertFact {
                summary: a.summary.clone(),
                source: integrations
                    .get(&a.integration_id)
                    .map_or_else(|| a.source.clone().unwrap_or_default(), |n| (*n).to_owned()),
                severity: a.severity,
                event_count: a.event_count,
                created_at: a.created_at,
            })
            .collect(),
        timeline: log
            .iter()
            .map(|e| LogFact {
                at: e.created_at,
                kind: e.kind,
                agent: (e.agent_kind != AgentKind::Rota).then(|| e.agent_name.clone()),
                summary: e.summary.clone(),
            })
            .collect(),
        notes: notes
            .into_iter()
            .map(|n| NoteFact {
                at: n.created_at,
                author: n.user_name,
                content: n.content,
            })
            .collect(),
        status_updates: updates
            .into_iter()
            .map(|u| StatusUpdateFact {
                at: u.created_at,
                author: u.author_name,
                message: u.message,
            })
            .collect(),
        notifications: sent(conn, incident)?,
        author,
    })
}

/// Notifications that went out for `incident`, by channel; chat posts delivered.
fn sent(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Notifications> {
    let mut counts = Notifications::default();
    for n in notifications::of_incident(conn, incident)? {
        if n.status != NotificationStatus::Sent {
            continue;
        }
        match n.channel {
            ContactKind::Email => counts.email += 1,
            ContactKind::Phone => counts.phone += 1,
            ContactKind::Webhook => counts.webhook += 1,
        }
    }
    let chat: i64 = chat_posts::table
        .filter(chat_posts::incident_id.eq(incident))
        .filter(chat_posts::sent_at.is_not_null())
        .count()
        .get_result(conn)?;
    counts.chat = u32::try_from(chat).unwrap_or(u32::MAX);
    Ok(counts)
}

/// The draft `author` would get for `incident` now, in `lang` (else their language), not
/// stored: offered for any incident, resolved or not. With the language it is written in.
pub fn preview(
    conn: &mut DbConnection,
    incident: &IncidentId,
    author_id: &UserId,
    lang: Option<&'static str>,
) -> AppResult<(Postmortem, &'static str)> {
    let (person, theirs) = author(conn, author_id)?;
    let facts = facts(conn, incident, person)?;
    let lang = lang.unwrap_or(theirs);
    Ok((postmortem::draft(&facts, lang), lang))
}

/// Drafts and stores the postmortem of `incident` by `author_id`, in `lang` (else the
/// author's language). An incident has one postmortem: a second is refused. With the
/// language it is written in.
pub fn create(
    conn: &mut DbConnection,
    incident: &IncidentId,
    author_id: &UserId,
    lang: Option<&'static str>,
    at: DateTime<Utc>,
) -> AppResult<(Stored, &'static str)> {
    db::write(conn, |tx| {
        if store::find(tx, incident)?.is_some() {
            return Err(AppError::conflict(
                "incident",
                format!("{incident} has a postmortem already: edit it with PUT"),
            ));
        }
        let (document, lang) = preview(tx, incident, author_id, lang)?;
        let row = Stored::new(incident.clone(), document, crate::clock::stored(at));
        store::insert(tx, &row)?;
        store::replace_items(tx, &row)?;
        Ok((row, lang))
    })
}

/// The postmortem of `incident`. 404 when it has none; for an incident that exists, the
/// message says a draft can be made.
pub fn get(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Stored> {
    if let Some(found) = store::find(conn, incident)? {
        return Ok(found);
    }
    let inc = incidents::find(conn, incident)?;
    Err(AppError::not_found(
        "postmortem",
        format!(
            "of incident {} (none written yet: POST /api/v2/incidents/{}/postmortem drafts one from its timeline and notes)",
            inc.id, inc.id
        ),
    ))
}

/// Replaces the document of `incident`'s postmortem with `new`, checked first (a refusal
/// names the field under `postmortem.`). With `expected_version`, a postmortem changed since
/// is refused as stale. Owners must be users; an owner's name is filled in when left out.
pub fn update(
    conn: &mut DbConnection,
    incident: &IncidentId,
    mut new: Postmortem,
    expected_version: Option<i64>,
    at: DateTime<Utc>,
) -> AppResult<Stored> {
    postmortem::check(&new)
        .map_err(|e| AppError::invalid(format!("postmortem.{}", e.field), e.reason))?;
    let owners: Vec<UserId> = new
        .action_items
        .iter()
        .filter_map(|a| a.owner.clone())
        .collect();
    db::write(conn, |tx| {
        let stored = store::get(tx, incident)?;
        if expected_version.is_some_and(|v| v != stored.version) {
            return Err(db::changed_meanwhile("postmortem", incident.as_str()));
        }
        let people = schedules::people(tx, &owners)?;
        for (i, item) in new.action_items.iter_mut().enumerate() {
            let Some(owner) = &item.owner else { continue };
            let person = people
                .get(owner)
                .filter(|p| p.deleted_at.is_none())
                .ok_or_else(|| {
                    AppError::invalid(
                        format!("postmortem.action_items[{i}].owner"),
                        format!("'{owner}' is not a user"),
                    )
                })?;
            if item.owner_name.is_none() {
                item.owner_name = Some(person.name.clone());
            }
        }
        let row = Stored {
            incident_id: stored.incident_id,
            status: new.status,
            document: db::column::Json(new),
            created_at: stored.created_at,
            updated_at: crate::clock::stored(at),
            version: stored.version + 1,
        };
        store::update(tx, &row)?;
        store::replace_items(tx, &row)?;
        Ok(row)
    })
}

/// A page of action items across incidents.
pub fn action_items(
    conn: &mut DbConnection,
    filter: &ItemFilter,
    page: &PageRequest,
) -> AppResult<Page<Listed<ItemRow>>> {
    store::items(conn, filter, page)
}

/// A page of the postmortems of `team`'s services' incidents (404 for no such team).
pub fn of_team(
    conn: &mut DbConnection,
    team: &TeamId,
    page: &PageRequest,
) -> AppResult<Page<Listed<Stored>>> {
    teams::find(conn, team)?;
    store::of_team(conn, team, page)
}
