//! Incidents, their alerts, assignments, timeline (log entries) and notes, and services'
//! change events. Rows are typed here (statuses, kinds, JSON details); the rules that
//! decide what to write are `domain::incident` and `use_cases::incidents`.

use super::column::Json;
use super::schema::{
    alerts, change_events, incident_assignments, incident_log_entries, incident_notes, incidents,
    service_teams,
};
use super::{DbConnection, Page, insert_rows};
use crate::domain::events::{Extras, Link};
use crate::domain::ids::{
    AlertId, ChangeEventId, EscalationPolicyId, IncidentId, IntegrationId, LogEntryId, NoteId,
    ServiceId, TeamId, UserId,
};
use crate::domain::incident::{AgentKind, AlertStatus, Channel, Details, LogKind, Status};
use crate::domain::paging::PageRequest;
use crate::domain::service::{Severity, Urgency};
use crate::error::{AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = incidents, treat_none_as_null = true)]
pub struct Incident {
    pub id: IncidentId,
    pub number: i64,
    pub title: String,
    pub status: Status,
    pub urgency: Urgency,
    pub incident_key: String,
    pub service_id: ServiceId,
    pub escalation_policy_id: EscalationPolicyId,
    pub escalation_level: i32,
    pub escalation_loops: i32,
    pub escalate_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_status_change_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = alerts)]
pub struct Alert {
    pub id: AlertId,
    pub incident_id: IncidentId,
    pub service_id: ServiceId,
    pub integration_id: IntegrationId,
    pub dedup_key: String,
    pub status: AlertStatus,
    pub severity: Option<Severity>,
    pub summary: String,
    pub source: Option<String>,
    pub component: Option<String>,
    pub alert_group: Option<String>,
    pub class: Option<String>,
    pub custom_details: Option<Json<Value>>,
    pub extras: Json<Extras>,
    pub event_count: i64,
    pub created_at: NaiveDateTime,
    pub last_event_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_log_entries)]
pub struct LogEntry {
    pub id: LogEntryId,
    pub incident_id: IncidentId,
    pub kind: LogKind,
    pub created_at: NaiveDateTime,
    pub agent_kind: AgentKind,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub channel: Channel,
    pub summary: String,
    pub details: Option<Json<Details>>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_notes)]
pub struct Note {
    pub id: NoteId,
    pub incident_id: IncidentId,
    pub user_id: Option<UserId>,
    pub user_name: String,
    pub content: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = change_events)]
pub struct ChangeEvent {
    pub id: ChangeEventId,
    pub service_id: ServiceId,
    pub integration_id: IntegrationId,
    pub summary: String,
    pub source: Option<String>,
    pub happened_at: NaiveDateTime,
    pub custom_details: Option<Json<Value>>,
    pub links: Json<Vec<Link>>,
    pub created_at: NaiveDateTime,
}

/// An assignment: who an incident is assigned to, since when.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = incident_assignments)]
pub struct Assignment {
    pub incident_id: IncidentId,
    pub user_id: UserId,
    pub assigned_at: NaiveDateTime,
}

/// An incident with what its answer shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedIncident {
    pub incident: Incident,
    pub assignments: Vec<Assignment>,
    /// Acknowledge entries, oldest first.
    pub acknowledgements: Vec<LogEntry>,
    pub first_trigger: Option<LogEntryId>,
    pub alerts: AlertCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertCounts {
    pub triggered: i64,
    pub resolved: i64,
}

/// The next `n` incident numbers, in order: PostgreSQL's sequence, or past the highest
/// under SQLite's single writer (call inside `store::write`).
pub fn next_numbers(conn: &mut DbConnection, n: usize) -> AppResult<Vec<i64>> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    Ok(match conn {
        DbConnection::Postgres(c) => {
            diesel::sql_query("SELECT nextval('incident_numbers') AS n FROM generate_series(1, $1)")
                .bind::<diesel::sql_types::BigInt, _>(count)
                .load::<N>(c)?
                .into_iter()
                .map(|r| r.n)
                .collect()
        }
        DbConnection::Sqlite(c) => {
            let top: N = diesel::sql_query("SELECT COALESCE(MAX(number), 0) AS n FROM incidents")
                .get_result(c)?;
            (1..=count).map(|i| top.n + i).collect()
        }
    })
}

/// Inserts new incidents: one statement on PostgreSQL; row by row on SQLite (see
/// `insert_log`).
pub fn insert(conn: &mut DbConnection, rows: &[Incident]) -> AppResult<()> {
    insert_rows!(conn, incidents::table, rows);
    Ok(())
}

/// Saves every column, if nobody saved the incident since it was read (`version` is the new
/// one): `false` when somebody did.
pub fn update(conn: &mut DbConnection, incident: &Incident) -> AppResult<bool> {
    let saved = diesel::update(
        incidents::table
            .find(&incident.id)
            .filter(incidents::version.eq(incident.version - 1)),
    )
    .set(incident)
    .execute(conn)?;
    Ok(saved == 1)
}

/// Inserts alerts; a unique violation means another event opened one with the same key
/// meanwhile (the caller retries as a follow-up).
pub fn insert_alerts(conn: &mut DbConnection, rows: &[Alert]) -> Result<(), diesel::result::Error> {
    insert_rows!(conn, alerts::table, rows);
    Ok(())
}

/// Counts one more event on the open alert with this key from this integration: whether
/// there was one. One statement, outside any transaction, so a storm of repeats costs one
/// row update each.
pub fn repeat_open_alert(
    conn: &mut DbConnection,
    integration: &IntegrationId,
    dedup_key: &str,
    at: NaiveDateTime,
) -> AppResult<bool> {
    super::write_alone(conn, |c| {
        repeat_open_alert_n(c, integration, dedup_key, 1, at)
    })
}

/// As `repeat_open_alert`, for `events` events, inside a transaction.
pub fn repeat_open_alert_n(
    conn: &mut DbConnection,
    integration: &IntegrationId,
    dedup_key: &str,
    events: i64,
    at: NaiveDateTime,
) -> AppResult<bool> {
    let n = diesel::update(
        alerts::table
            .filter(alerts::integration_id.eq(integration))
            .filter(alerts::dedup_key.eq(dedup_key))
            .filter(alerts::resolved_at.is_null()),
    )
    .set((
        alerts::event_count.eq(alerts::event_count + events),
        alerts::last_event_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// Which of these (integration, key) pairs have an open alert. At most
/// `IDS_PER_STATEMENT` pairs.
pub fn open_alert_keys(
    conn: &mut DbConnection,
    pairs: &[(&IntegrationId, &str)],
) -> AppResult<Vec<(IntegrationId, String)>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    // Both columns, so the lookup walks the open-key index (integration first) rather than
    // every open alert; a pair the two lists make that was not asked for is dropped here.
    let integrations: Vec<&IntegrationId> = pairs.iter().map(|(i, _)| *i).collect();
    let keys: Vec<&str> = pairs.iter().map(|(_, k)| *k).collect();
    let found: Vec<(IntegrationId, String)> = alerts::table
        .filter(alerts::integration_id.eq_any(&integrations))
        .filter(alerts::dedup_key.eq_any(&keys))
        .filter(alerts::resolved_at.is_null())
        .select((alerts::integration_id, alerts::dedup_key))
        .load(conn)?;
    Ok(found
        .into_iter()
        .filter(|(i, k)| pairs.contains(&(i, k.as_str())))
        .collect())
}

/// The open alert with this key from this integration.
pub fn open_alert(
    conn: &mut DbConnection,
    integration: &IntegrationId,
    dedup_key: &str,
) -> AppResult<Option<Alert>> {
    Ok(alerts::table
        .filter(alerts::integration_id.eq(integration))
        .filter(alerts::dedup_key.eq(dedup_key))
        .filter(alerts::resolved_at.is_null())
        .select(Alert::as_select())
        .first(conn)
        .optional()?)
}

/// Resolves every open alert of the incident.
pub fn resolve_alerts(
    conn: &mut DbConnection,
    incident: &IncidentId,
    at: NaiveDateTime,
) -> AppResult<()> {
    diesel::update(
        alerts::table
            .filter(alerts::incident_id.eq(incident))
            .filter(alerts::resolved_at.is_null()),
    )
    .set((
        alerts::status.eq(AlertStatus::Resolved),
        alerts::resolved_at.eq(Some(at)),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn alerts_of(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<Alert>> {
    Ok(alerts::table
        .filter(alerts::incident_id.eq(incident))
        .order((alerts::created_at, alerts::id))
        .select(Alert::as_select())
        .load(conn)?)
}

/// Writes timeline entries, and queues a chat post for each that a service's or team's
/// channels are told of (an opening, an escalation, an acknowledgement, a resolution): every
/// writer of the timeline goes through here, so no path forgets the channels.
pub fn insert_log(conn: &mut DbConnection, entries: &[LogEntry]) -> AppResult<()> {
    insert_rows!(conn, incident_log_entries::table, entries);
    super::chat::queue_for_entries(conn, entries)?;
    Ok(())
}

/// Replaces who the incident is assigned to.
pub fn assign(
    conn: &mut DbConnection,
    incident: &IncidentId,
    users: &[UserId],
    at: NaiveDateTime,
) -> AppResult<()> {
    diesel::delete(
        incident_assignments::table.filter(incident_assignments::incident_id.eq(incident)),
    )
    .execute(conn)?;
    add_assignments(conn, &assignments(incident, users, at))
}

/// The assignments of `users` to an incident, from `at`.
pub fn assignments(incident: &IncidentId, users: &[UserId], at: NaiveDateTime) -> Vec<Assignment> {
    users
        .iter()
        .map(|user| Assignment {
            incident_id: incident.clone(),
            user_id: user.clone(),
            assigned_at: at,
        })
        .collect()
}

/// Inserts assignments of incidents that had none (new ones), in one statement.
pub fn add_assignments(conn: &mut DbConnection, rows: &[Assignment]) -> AppResult<()> {
    if !rows.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(incident_assignments::table)
            .values(rows)
            .execute(c))?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &IncidentId) -> AppResult<Incident> {
    incidents::table
        .find(id)
        .select(Incident::as_select())
        .first(conn)
        .optional()?
        .not_found("incident", id.as_str())
}

/// The incident, locked for this transaction on PostgreSQL (SQLite's writer holds the
/// whole database already): two responders acknowledging at once are taken in turn.
pub fn find_for_update(conn: &mut DbConnection, id: &IncidentId) -> AppResult<Incident> {
    let found = match conn {
        DbConnection::Postgres(c) => incidents::table
            .find(id)
            .select(Incident::as_select())
            .for_update()
            .first(c)
            .optional()?,
        DbConnection::Sqlite(c) => incidents::table
            .find(id)
            .select(Incident::as_select())
            .first(c)
            .optional()?,
    };
    found.not_found("incident", id.as_str())
}

/// Incidents whose next escalation step is due by `now`, earliest first, at most `limit`.
pub fn due(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> AppResult<Vec<Incident>> {
    Ok(incidents::table
        .filter(incidents::escalate_at.le(now))
        .filter(incidents::status.eq(Status::Triggered))
        .order((incidents::escalate_at, incidents::id))
        .limit(limit)
        .select(Incident::as_select())
        .load(conn)?)
}

/// Claims a due step of the incident as it was read (`version`): the row, locked for this
/// transaction, if it is still that version, triggered and due, and no other instance holds
/// it (`SKIP LOCKED` on PostgreSQL; SQLite has one writer). `None`: someone else took the
/// step, or the incident moved on (acknowledged, resolved, escalated by hand).
pub fn claim_due(
    conn: &mut DbConnection,
    id: &IncidentId,
    version: i64,
    now: NaiveDateTime,
) -> AppResult<Option<Incident>> {
    let q = || {
        incidents::table
            .find(id)
            .filter(incidents::version.eq(version))
            .filter(incidents::status.eq(Status::Triggered))
            .filter(incidents::escalate_at.le(now))
    };
    Ok(match conn {
        DbConnection::Postgres(c) => q()
            .select(Incident::as_select())
            .for_update()
            .skip_locked()
            .first(c)
            .optional()?,
        DbConnection::Sqlite(c) => q().select(Incident::as_select()).first(c).optional()?,
    })
}

pub fn load(conn: &mut DbConnection, id: &IncidentId) -> AppResult<LoadedIncident> {
    let incident = find(conn, id)?;
    Ok(load_all(conn, vec![incident])?.remove(0))
}

/// What to list (`GET /incidents`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<Status>,
    pub urgencies: Vec<Urgency>,
    pub service_ids: Vec<ServiceId>,
    pub team_ids: Vec<TeamId>,
    pub user_ids: Vec<UserId>,
    pub incident_key: Option<String>,
    /// Created in `[since, until)`; `None`: no bound.
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub sort: Vec<(SortKey, bool)>,
}

/// What incidents sort by (`sort_by=created_at:desc`); `true` is descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    IncidentNumber,
    CreatedAt,
    ResolvedAt,
    Urgency,
}

pub fn list(
    conn: &mut DbConnection,
    f: &Filter,
    page: &PageRequest,
) -> AppResult<Page<LoadedIncident>> {
    let filtered = || {
        let mut q = incidents::table.into_boxed();
        if !f.statuses.is_empty() {
            q = q.filter(incidents::status.eq_any(f.statuses.clone()));
        }
        if !f.urgencies.is_empty() {
            q = q.filter(incidents::urgency.eq_any(f.urgencies.clone()));
        }
        if !f.service_ids.is_empty() {
            q = q.filter(incidents::service_id.eq_any(f.service_ids.clone()));
        }
        if !f.team_ids.is_empty() {
            q = q.filter(
                incidents::service_id.eq_any(
                    service_teams::table
                        .filter(service_teams::team_id.eq_any(f.team_ids.clone()))
                        .select(service_teams::service_id),
                ),
            );
        }
        if !f.user_ids.is_empty() {
            q = q.filter(
                incidents::id.eq_any(
                    incident_assignments::table
                        .filter(incident_assignments::user_id.eq_any(f.user_ids.clone()))
                        .select(incident_assignments::incident_id),
                ),
            );
        }
        if let Some(key) = &f.incident_key {
            q = q.filter(incidents::incident_key.eq(key.clone()));
        }
        if let Some(since) = f.since {
            q = q.filter(incidents::created_at.ge(since));
        }
        if let Some(until) = f.until {
            q = q.filter(incidents::created_at.lt(until));
        }
        q
    };
    let mut q = filtered();
    for (key, desc) in &f.sort {
        q = match (key, desc) {
            (SortKey::IncidentNumber, false) => q.then_order_by(incidents::number.asc()),
            (SortKey::IncidentNumber, true) => q.then_order_by(incidents::number.desc()),
            (SortKey::CreatedAt, false) => q.then_order_by(incidents::created_at.asc()),
            (SortKey::CreatedAt, true) => q.then_order_by(incidents::created_at.desc()),
            (SortKey::ResolvedAt, false) => q.then_order_by(incidents::resolved_at.asc()),
            (SortKey::ResolvedAt, true) => q.then_order_by(incidents::resolved_at.desc()),
            // "high" < "low" as text: high first when ascending, as PagerDuty lists them.
            (SortKey::Urgency, false) => q.then_order_by(incidents::urgency.asc()),
            (SortKey::Urgency, true) => q.then_order_by(incidents::urgency.desc()),
        };
    }
    let rows = q
        .then_order_by(incidents::number.asc())
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(Incident::as_select())
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page {
        rows: load_all(conn, rows)?,
        more,
        total,
    })
}

/// Assignments, acknowledgements, first triggers and alert counts of these incidents:
/// four queries.
fn load_all(conn: &mut DbConnection, rows: Vec<Incident>) -> AppResult<Vec<LoadedIncident>> {
    let ids: Vec<&IncidentId> = rows.iter().map(|i| &i.id).collect();
    let mut assignments: HashMap<IncidentId, Vec<Assignment>> = HashMap::new();
    for a in incident_assignments::table
        .filter(incident_assignments::incident_id.eq_any(ids.clone()))
        .order((
            incident_assignments::assigned_at,
            incident_assignments::user_id,
        ))
        .select(Assignment::as_select())
        .load(conn)?
    {
        assignments
            .entry(a.incident_id.clone())
            .or_default()
            .push(a);
    }
    let mut acks: HashMap<IncidentId, Vec<LogEntry>> = HashMap::new();
    for e in incident_log_entries::table
        .filter(incident_log_entries::incident_id.eq_any(ids.clone()))
        .filter(incident_log_entries::kind.eq(LogKind::Acknowledge))
        .order((incident_log_entries::created_at, incident_log_entries::id))
        .select(LogEntry::as_select())
        .load(conn)?
    {
        acks.entry(e.incident_id.clone()).or_default().push(e);
    }
    let mut first: HashMap<IncidentId, LogEntryId> = HashMap::new();
    let triggers: Vec<(IncidentId, LogEntryId)> = incident_log_entries::table
        .filter(incident_log_entries::incident_id.eq_any(ids.clone()))
        .filter(incident_log_entries::kind.eq(LogKind::Trigger))
        .order((
            incident_log_entries::incident_id,
            incident_log_entries::created_at.desc(),
            incident_log_entries::id.desc(),
        ))
        .select((incident_log_entries::incident_id, incident_log_entries::id))
        .load(conn)?;
    for (incident, entry) in triggers {
        // Newest first per incident: the last one written wins.
        first.insert(incident, entry);
    }
    let mut counts: HashMap<IncidentId, AlertCounts> = HashMap::new();
    let alert_rows: Vec<(IncidentId, AlertStatus, i64)> = alerts::table
        .filter(alerts::incident_id.eq_any(ids))
        .group_by((alerts::incident_id, alerts::status))
        .select((
            alerts::incident_id,
            alerts::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    for (incident, status, n) in alert_rows {
        let c = counts.entry(incident).or_default();
        match status {
            AlertStatus::Triggered => c.triggered = n,
            AlertStatus::Resolved => c.resolved = n,
        }
    }
    Ok(rows
        .into_iter()
        .map(|incident| LoadedIncident {
            assignments: assignments.remove(&incident.id).unwrap_or_default(),
            acknowledgements: acks.remove(&incident.id).unwrap_or_default(),
            first_trigger: first.remove(&incident.id),
            alerts: counts.remove(&incident.id).unwrap_or_default(),
            incident,
        })
        .collect())
}

/// Log entries, oldest first: one incident's, or every incident's (`GET /log_entries`),
/// created in `[since, until)`.
pub fn log_entries(
    conn: &mut DbConnection,
    incident: Option<&IncidentId>,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    page: &PageRequest,
) -> AppResult<Page<LogEntry>> {
    let filtered = || {
        let mut q = incident_log_entries::table.into_boxed();
        if let Some(id) = incident {
            q = q.filter(incident_log_entries::incident_id.eq(id.clone()));
        }
        if let Some(since) = since {
            q = q.filter(incident_log_entries::created_at.ge(since));
        }
        if let Some(until) = until {
            q = q.filter(incident_log_entries::created_at.lt(until));
        }
        q
    };
    let rows = filtered()
        .order((incident_log_entries::created_at, incident_log_entries::id))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(LogEntry::as_select())
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page { rows, more, total })
}

/// The most of an incident's timeline read at once (a summary or a postmortem reads it all;
/// an incident with more is one that something went badly wrong with, and its first entries
/// and latest are what matter).
pub const TIMELINE_MAX: i64 = 5_000;

/// Of a timeline longer than `TIMELINE_MAX`, how many of the latest entries are kept (the
/// rest are the first ones): the acknowledgement and resolution are among them.
pub const TIMELINE_LATEST: i64 = 1_000;

/// An incident's timeline, oldest first: all of it, or when longer than `TIMELINE_MAX` its
/// first `TIMELINE_MAX - TIMELINE_LATEST` entries and its latest `TIMELINE_LATEST`.
pub fn timeline(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<LogEntry>> {
    let mut head: Vec<LogEntry> = incident_log_entries::table
        .filter(incident_log_entries::incident_id.eq(incident))
        .order((incident_log_entries::created_at, incident_log_entries::id))
        .limit(TIMELINE_MAX)
        .select(LogEntry::as_select())
        .load(conn)?;
    if (head.len() as i64) < TIMELINE_MAX {
        return Ok(head);
    }
    let mut latest: Vec<LogEntry> = incident_log_entries::table
        .filter(incident_log_entries::incident_id.eq(incident))
        .order((
            incident_log_entries::created_at.desc(),
            incident_log_entries::id.desc(),
        ))
        .limit(TIMELINE_LATEST)
        .select(LogEntry::as_select())
        .load(conn)?;
    latest.reverse();
    head.truncate((TIMELINE_MAX - TIMELINE_LATEST) as usize);
    // The two reads are separate statements: whatever is written between them, no entry is
    // kept twice.
    let kept: std::collections::HashSet<LogEntryId> = head.iter().map(|e| e.id.clone()).collect();
    head.extend(latest.into_iter().filter(|e| !kept.contains(&e.id)));
    Ok(head)
}

pub fn find_log_entry(conn: &mut DbConnection, id: &LogEntryId) -> AppResult<LogEntry> {
    incident_log_entries::table
        .find(id)
        .select(LogEntry::as_select())
        .first(conn)
        .optional()?
        .not_found("log_entry", id.as_str())
}

pub fn insert_note(conn: &mut DbConnection, note: &Note) -> AppResult<()> {
    diesel::insert_into(incident_notes::table)
        .values(note)
        .execute(conn)?;
    Ok(())
}

/// An incident's notes, oldest first.
pub fn notes(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<Note>> {
    Ok(incident_notes::table
        .filter(incident_notes::incident_id.eq(incident))
        .order((incident_notes::created_at, incident_notes::id))
        .select(Note::as_select())
        .load(conn)?)
}

pub fn insert_change_event(conn: &mut DbConnection, event: &ChangeEvent) -> AppResult<()> {
    diesel::insert_into(change_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

/// A service's change events that happened in `[since, until)`, newest first, at most
/// `limit`.
pub fn change_events(
    conn: &mut DbConnection,
    service: &ServiceId,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    limit: i64,
) -> AppResult<Vec<ChangeEvent>> {
    let mut q = change_events::table
        .filter(change_events::service_id.eq(service))
        .into_boxed();
    if let Some(since) = since {
        q = q.filter(change_events::happened_at.ge(since));
    }
    if let Some(until) = until {
        q = q.filter(change_events::happened_at.lt(until));
    }
    Ok(
        q.order((change_events::happened_at.desc(), change_events::id.desc()))
            .limit(limit)
            .select(ChangeEvent::as_select())
            .load(conn)?,
    )
}
