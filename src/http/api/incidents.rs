//! `/api/v2/incidents` in PagerDuty's shape: list with filters, show, acknowledge and
//! resolve (one or many), reassign, escalate; their log entries, notes, alerts and the
//! service's recent change events. A service token names the person it acts for in the
//! `From` header, as PagerDuty asks.

use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{IncidentId, LogEntryId, ServiceId, TeamId, UserId};
use crate::domain::incident::{AgentKind, Change, Channel, Details, Status};
use crate::domain::service::Urgency;
use crate::domain::user as rules;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::incidents::{
    self as store, Alert, ChangeEvent, Filter, LoadedIncident, LogEntry, Note, SortKey,
};
use crate::store::{DbConnection, escalation, services, users};
use crate::use_cases::incidents::{self as cases, Agent};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/incidents")
            .route(web::get().to(list))
            .route(web::put().to(update_many)),
    )
    .service(
        resource("/incidents/{id}")
            .route(web::get().to(show))
            .route(web::put().to(update)),
    )
    .service(resource("/incidents/{id}/log_entries").route(web::get().to(incident_log_entries)))
    .service(resource("/incidents/{id}/alerts").route(web::get().to(alerts)))
    .service(
        resource("/incidents/{id}/notes")
            .route(web::get().to(notes))
            .route(web::post().to(create_note)),
    )
    .service(
        resource("/incidents/{id}/related_change_events").route(web::get().to(related_changes)),
    )
    .service(resource("/log_entries").route(web::get().to(all_log_entries)))
    .service(resource("/log_entries/{id}").route(web::get().to(show_log_entry)))
    .service(resource("/services/{id}/change_events").route(web::get().to(service_changes)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assignment {
    pub at: DateTime<Utc>,
    pub assignee: Reference,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledgement {
    pub at: DateTime<Utc>,
    pub acknowledger: Reference,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertCounts {
    pub all: i64,
    pub triggered: i64,
    pub resolved: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "incident")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub incident_number: i64,
    pub title: String,
    pub description: String,
    pub status: Status,
    pub urgency: Urgency,
    /// The dedup key of the alert that opened it.
    pub incident_key: String,
    pub service: Reference,
    pub escalation_policy: Reference,
    /// Rota's: the level of the policy reached (1-based).
    pub escalation_level: i32,
    pub teams: Vec<Reference>,
    pub assignments: Vec<Assignment>,
    #[schema(example = "escalation_policy")]
    pub assigned_via: &'static str,
    pub acknowledgements: Vec<Acknowledgement>,
    pub first_trigger_log_entry: Option<Reference>,
    pub alert_counts: AlertCounts,
    pub pending_actions: Vec<PendingAction>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_status_change_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// What will happen by itself (PagerDuty's `pending_actions`): the next escalation.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingAction {
    #[serde(rename = "type")]
    #[schema(example = "escalate")]
    pub kind: &'static str,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentResponse {
    pub incident: IncidentObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssigneeInput {
    pub assignee: crate::domain::schedule::input::Reference,
}

/// What `PUT /incidents/{id}` changes: its status, its assignees, or its level.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IncidentFields {
    /// For the bulk `PUT /incidents`.
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `acknowledged` or `resolved`.
    pub status: Option<String>,
    pub assignments: Option<Vec<AssigneeInput>>,
    pub escalation_level: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IncidentRequest {
    pub incident: IncidentFields,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IncidentsRequest {
    pub incidents: Vec<IncidentFields>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentsResponse {
    pub incidents: Vec<IncidentObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelObject {
    #[serde(rename = "type")]
    #[schema(example = "api")]
    pub kind: Channel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntryObject {
    pub id: String,
    /// `trigger_log_entry`, `acknowledge_log_entry`, … (PagerDuty's names; `skip_log_entry`
    /// is Rota's: a person skipped because they may not be on call).
    #[serde(rename = "type")]
    pub kind: String,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub created_at: DateTime<Utc>,
    pub agent: Reference,
    pub channel: ChannelObject,
    pub incident: Reference,
    pub service: Option<Reference>,
    /// What the entry holds beyond its kind: the alert, the people reached or skipped, the note.
    #[schema(value_type = Object)]
    pub details: Option<Details>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntryList {
    pub log_entries: Vec<LogEntryObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntryResponse {
    pub log_entry: LogEntryObject,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteFields {
    pub content: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteRequest {
    pub note: NoteFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteObject {
    pub id: String,
    pub user: Option<Reference>,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteResponse {
    pub note: NoteObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteList {
    pub notes: Vec<NoteObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "alert")]
    pub kind: &'static str,
    pub summary: String,
    pub status: String,
    pub alert_key: String,
    pub severity: Option<String>,
    pub service: Reference,
    pub incident: Reference,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Events received for it (repeats of its dedup key included).
    pub event_count: i64,
    pub last_event_at: DateTime<Utc>,
    /// PagerDuty's `body`: the event's payload and what came with it.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEventObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "change_event")]
    pub kind: &'static str,
    pub summary: String,
    pub source: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub service: Reference,
    #[schema(value_type = Object)]
    pub custom_details: Option<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub links: Vec<crate::domain::events::Link>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeEventList {
    pub change_events: Vec<ChangeEventObject>,
}

/// Names of what incidents point at, for their references.
#[derive(Default)]
pub(crate) struct Names {
    pub services: HashMap<ServiceId, String>,
    pub policies: HashMap<crate::domain::ids::EscalationPolicyId, String>,
    pub users: HashMap<UserId, String>,
    pub teams: HashMap<ServiceId, Vec<(TeamId, String)>>,
}

pub(crate) fn names(conn: &mut DbConnection, found: &[LoadedIncident]) -> AppResult<Names> {
    let mut service_ids: Vec<ServiceId> = found
        .iter()
        .map(|i| i.incident.service_id.clone())
        .collect();
    service_ids.sort();
    service_ids.dedup();
    let mut policy_ids: Vec<_> = found
        .iter()
        .map(|i| i.incident.escalation_policy_id.clone())
        .collect();
    policy_ids.sort();
    policy_ids.dedup();
    let mut user_ids: Vec<UserId> = found
        .iter()
        .flat_map(|i| i.assignments.iter().map(|a| a.user_id.clone()))
        .chain(found.iter().flat_map(|i| {
            i.acknowledgements
                .iter()
                .filter(|e| e.agent_kind == AgentKind::User)
                .filter_map(|e| e.agent_id.clone().map(UserId))
        }))
        .collect();
    user_ids.sort();
    user_ids.dedup();
    let mut teams: HashMap<ServiceId, Vec<(TeamId, String)>> = HashMap::new();
    let mut team_ids = Vec::new();
    let mut service_names = HashMap::new();
    for id in &service_ids {
        if let Ok(s) = services::load(conn, id) {
            service_names.insert(id.clone(), s.service.name.clone());
            team_ids.extend(s.teams.iter().cloned());
            teams.insert(
                id.clone(),
                s.teams.iter().map(|t| (t.clone(), String::new())).collect(),
            );
        }
    }
    team_ids.sort();
    team_ids.dedup();
    let team_names: HashMap<TeamId, String> = crate::store::teams::find_many(conn, &team_ids)?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    for list in teams.values_mut() {
        for (t, name) in list.iter_mut() {
            *name = team_names.get(t).cloned().unwrap_or_else(|| t.to_string());
        }
    }
    Ok(Names {
        services: service_names,
        policies: escalation::names(conn, &policy_ids)?,
        users: users::find_many(conn, &user_ids)?
            .into_iter()
            .map(|u| (u.id.clone(), u.name.clone()))
            .collect(),
        teams,
    })
}

fn user_ref(links: &Links, id: &str, names: &Names) -> Reference {
    let name = names
        .users
        .get(&UserId(id.to_owned()))
        .map_or(id, String::as_str);
    links.reference("users", "user_reference", id, name)
}

fn incident_ref(links: &Links, id: &IncidentId, title: &str) -> Reference {
    links.reference("incidents", "incident_reference", id.as_str(), title)
}

fn service_ref(links: &Links, id: &ServiceId, names: &Names) -> Reference {
    let name = names.services.get(id).map_or(id.as_str(), String::as_str);
    links.reference("services", "service_reference", id.as_str(), name)
}

fn log_entry_kind(e: &LogEntry) -> String {
    format!("{}_log_entry", e.kind.as_str())
}

fn agent_ref(links: &Links, e: &LogEntry, service: &ServiceId) -> Reference {
    let id = e.agent_id.as_deref().unwrap_or("rota");
    match e.agent_kind {
        AgentKind::User => links.reference("users", "user_reference", id, &e.agent_name),
        AgentKind::ApiToken => Reference {
            id: id.to_owned(),
            kind: "api_token_reference",
            summary: e.agent_name.clone(),
            self_url: links.api("tokens", id),
            html_url: None,
        },
        AgentKind::Integration => links.reference(
            &format!("services/{service}/integrations"),
            "events_api_v2_inbound_integration_reference",
            id,
            &e.agent_name,
        ),
        AgentKind::Rota => Reference {
            id: "rota".to_owned(),
            kind: "service_reference",
            summary: e.agent_name.clone(),
            self_url: links.api("services", service.as_str()),
            html_url: None,
        },
    }
}

fn render_log_entry(
    base: &str,
    e: &LogEntry,
    incident_title: &str,
    service: &ServiceId,
    names: &Names,
) -> LogEntryObject {
    let links = Links(base);
    LogEntryObject {
        id: e.id.to_string(),
        kind: log_entry_kind(e),
        summary: e.summary.clone(),
        self_url: links.api("log_entries", e.id.as_str()),
        created_at: e.created_at.and_utc(),
        agent: agent_ref(&links, e, service),
        channel: ChannelObject { kind: e.channel },
        incident: incident_ref(&links, &e.incident_id, incident_title),
        service: Some(service_ref(&links, service, names)),
        details: e.details.as_ref().map(|d| d.0.clone()),
    }
}

fn render(base: &str, i: &LoadedIncident, names: &Names) -> IncidentObject {
    let links = Links(base);
    let inc = &i.incident;
    let id = inc.id.as_str();
    let policy = &inc.escalation_policy_id;
    IncidentObject {
        id: id.to_owned(),
        kind: "incident",
        summary: format!("[#{}] {}", inc.number, inc.title),
        self_url: links.api("incidents", id),
        html_url: links.html("incidents", id),
        incident_number: inc.number,
        title: inc.title.clone(),
        description: inc.title.clone(),
        status: inc.status,
        urgency: inc.urgency,
        incident_key: inc.incident_key.clone(),
        service: service_ref(&links, &inc.service_id, names),
        escalation_policy: links.reference(
            "escalation_policies",
            "escalation_policy_reference",
            policy.as_str(),
            names
                .policies
                .get(policy)
                .map_or(policy.as_str(), String::as_str),
        ),
        escalation_level: inc.escalation_level,
        teams: names
            .teams
            .get(&inc.service_id)
            .map(|ts| {
                ts.iter()
                    .map(|(t, n)| links.reference("teams", "team_reference", t.as_str(), n))
                    .collect()
            })
            .unwrap_or_default(),
        assignments: i
            .assignments
            .iter()
            .map(|a| Assignment {
                at: a.assigned_at.and_utc(),
                assignee: user_ref(&links, a.user_id.as_str(), names),
            })
            .collect(),
        assigned_via: "escalation_policy",
        acknowledgements: i
            .acknowledgements
            .iter()
            .map(|e| Acknowledgement {
                at: e.created_at.and_utc(),
                acknowledger: agent_ref(&links, e, &inc.service_id),
            })
            .collect(),
        first_trigger_log_entry: i.first_trigger.as_ref().map(|e| Reference {
            id: e.to_string(),
            kind: "trigger_log_entry_reference",
            summary: inc.title.clone(),
            self_url: links.api("log_entries", e.as_str()),
            html_url: None,
        }),
        alert_counts: AlertCounts {
            all: i.alerts.triggered + i.alerts.resolved,
            triggered: i.alerts.triggered,
            resolved: i.alerts.resolved,
        },
        pending_actions: inc
            .escalate_at
            .filter(|_| inc.status == Status::Triggered)
            .map(|at| PendingAction {
                kind: "escalate",
                at: at.and_utc(),
            })
            .into_iter()
            .collect(),
        created_at: inc.created_at.and_utc(),
        updated_at: inc.updated_at.and_utc(),
        last_status_change_at: inc.last_status_change_at.and_utc(),
        resolved_at: inc.resolved_at.map(|t| t.and_utc()),
    }
}

pub(super) fn may_read(caller: &ApiCaller) -> AppResult<()> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read incidents")
}

/// Who acts: the person calling, or for a service token the person its `From` header
/// names (PagerDuty's rule). They must be someone who may respond: active, with a full seat.
pub(crate) async fn acting(
    state: &web::Data<AppState>,
    caller: &ApiCaller,
    req: &HttpRequest,
    doing: &str,
) -> AppResult<(Agent, Option<UserId>)> {
    caller.may(Action::RespondToIncident, &Resource::Account, doing)?;
    let person = match caller.user_id() {
        Some(id) => {
            let id = id.clone();
            state
                .db
                .run(move |conn| {
                    Ok(
                        crate::store::schedules::people(conn, std::slice::from_ref(&id))?
                            .remove(&id),
                    )
                })
                .await?
        }
        None => {
            let from = req
                .headers()
                .get("From")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    AppError::invalid(
                        "From",
                        "header is required: the e-mail address of the person this token acts for",
                    )
                })?
                .to_owned();
            let shown = from.clone();
            state
                .db
                .run(move |conn| users::person_by_email(conn, &from))
                .await?
                .ok_or_else(|| {
                    AppError::invalid("From", format!("'{shown}' is not the e-mail of a user"))
                })
                .map(Some)?
        }
    };
    let person = person.ok_or_else(|| AppError::forbidden("the acting user no longer exists"))?;
    person.on_call().map_err(|why| {
        AppError::forbidden(format!(
            "{} {}: only full users respond to incidents",
            person.name,
            why.explain()
        ))
    })?;
    Ok((
        Agent::user(&person.id, &person.name, Channel::Api),
        Some(person.id),
    ))
}

fn statuses(params: &Params) -> AppResult<Vec<Status>> {
    params
        .all("statuses")
        .iter()
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                AppError::invalid(
                    "statuses[]",
                    format!("'{s}' is not triggered, acknowledged or resolved"),
                )
            })
        })
        .collect()
}

fn urgencies(params: &Params) -> AppResult<Vec<Urgency>> {
    params
        .all("urgencies")
        .iter()
        .map(|s| {
            Urgency::parse(s).ok_or_else(|| {
                AppError::invalid("urgencies[]", format!("'{s}' is not high or low"))
            })
        })
        .collect()
}

fn sort(params: &Params) -> AppResult<Vec<(SortKey, bool)>> {
    let mut out = Vec::new();
    for item in params.all("sort_by") {
        let (field, dir) = item.split_once(':').unwrap_or((item.as_str(), "asc"));
        let key = match field {
            "incident_number" => SortKey::IncidentNumber,
            "created_at" => SortKey::CreatedAt,
            "resolved_at" => SortKey::ResolvedAt,
            "urgency" => SortKey::Urgency,
            other => {
                return Err(AppError::invalid(
                    "sort_by",
                    format!("'{other}' is not incident_number, created_at, resolved_at or urgency"),
                ));
            }
        };
        let desc = match dir {
            "asc" => false,
            "desc" => true,
            other => {
                return Err(AppError::invalid(
                    "sort_by",
                    format!("'{other}' is not asc or desc"),
                ));
            }
        };
        out.push((key, desc));
    }
    if out.len() > 2 {
        return Err(AppError::invalid("sort_by", "takes at most two fields"));
    }
    if out.is_empty() {
        out.push((SortKey::CreatedAt, false));
    }
    Ok(out)
}

/// The longest window `since`/`until` may span (PagerDuty's: six months).
const MAX_RANGE_DAYS: i64 = 183;
/// The window without `since`/`until` (PagerDuty's: a month).
const DEFAULT_RANGE_DAYS: i64 = 30;

pub(crate) fn filter(params: &Params, now: DateTime<Utc>) -> AppResult<Filter> {
    let all = match params.one("date_range") {
        None => false,
        Some("all") => true,
        Some(other) => {
            return Err(AppError::invalid(
                "date_range",
                format!("'{other}' is not all"),
            ));
        }
    };
    let (since, until) = if all {
        (None, None)
    } else {
        let until = params.time("until")?;
        let since = params.time("since")?;
        let until_at = until.unwrap_or(now + Duration::seconds(1));
        let since_at = since.unwrap_or(until_at - Duration::days(DEFAULT_RANGE_DAYS));
        if since_at > until_at {
            return Err(AppError::invalid("since", "must be before until"));
        }
        if until_at - since_at > Duration::days(MAX_RANGE_DAYS) {
            return Err(AppError::invalid(
                "until",
                "the range is longer than six months; narrow it or ask date_range=all",
            ));
        }
        (
            Some(crate::clock::stored(since_at)),
            Some(crate::clock::stored(until_at)),
        )
    };
    Ok(Filter {
        statuses: statuses(params)?,
        urgencies: urgencies(params)?,
        service_ids: params
            .all("service_ids")
            .into_iter()
            .map(ServiceId)
            .collect(),
        team_ids: params.all("team_ids").into_iter().map(TeamId).collect(),
        user_ids: params.all("user_ids").into_iter().map(UserId).collect(),
        incident_key: params.one("incident_key").map(str::to_owned),
        since,
        until,
        sort: sort(params)?,
    })
}

/// List incidents
#[utoipa::path(get, path = "/api/v2/incidents", tag = "Incidents",
    params(("statuses[]" = Option<Vec<String>>, Query), ("urgencies[]" = Option<Vec<String>>, Query), ("service_ids[]" = Option<Vec<String>>, Query), ("team_ids[]" = Option<Vec<String>>, Query), ("user_ids[]" = Option<Vec<String>>, Query), ("incident_key" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("date_range" = Option<String>, Query, description = "all: ignore since and until"), ("sort_by" = Option<String>, Query, description = "incident_number, created_at, resolved_at or urgency, with :asc or :desc"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = IncidentList), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let page = params.page()?;
    let filter = filter(&params, caller.at)?;
    let (found, names) = state
        .db
        .run(move |conn| {
            let found = store::list(conn, &filter, &page)?;
            let names = names(conn, &found.rows)?;
            Ok((found, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(IncidentList {
        incidents: found
            .rows
            .iter()
            .map(|i| render(&state.public_url, i, &names))
            .collect(),
        pagination: Pagination::of(&page, &found),
    }))
}

async fn load_named(
    state: &web::Data<AppState>,
    id: IncidentId,
) -> AppResult<(LoadedIncident, Names)> {
    state
        .db
        .run(move |conn| {
            let i = store::load(conn, &id)?;
            let names = names(conn, std::slice::from_ref(&i))?;
            Ok((i, names))
        })
        .await
}

/// Get an incident
#[utoipa::path(get, path = "/api/v2/incidents/{id}", tag = "Incidents", params(("id" = String, Path)),
    responses((status = 200, body = IncidentResponse), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let (i, names) = load_named(&state, IncidentId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(IncidentResponse {
        incident: render(&state.public_url, &i, &names),
    }))
}

/// What one `PUT` asks of an incident.
enum Asked {
    Status(Change),
    Reassign(Vec<UserId>),
    Escalate(usize),
}

fn asked(fields: &IncidentFields, at: &str) -> AppResult<Asked> {
    if let Some(kind) = fields.kind.as_deref()
        && kind != "incident"
        && kind != "incident_reference"
    {
        return Err(AppError::invalid(
            format!("{at}.type"),
            format!("is '{kind}': incident"),
        ));
    }
    let mut asked = Vec::new();
    if let Some(status) = fields.status.as_deref() {
        asked.push(match status {
            "acknowledged" => Asked::Status(Change::Acknowledge),
            "resolved" => Asked::Status(Change::Resolve),
            other => {
                return Err(AppError::invalid(
                    format!("{at}.status"),
                    format!("is '{other}': acknowledged or resolved"),
                ));
            }
        });
    }
    if let Some(assignments) = &fields.assignments {
        if assignments.is_empty() {
            return Err(AppError::invalid(
                format!("{at}.assignments"),
                "name at least one assignee",
            ));
        }
        asked.push(Asked::Reassign(
            assignments
                .iter()
                .map(|a| UserId(a.assignee.id.clone()))
                .collect(),
        ));
    }
    if let Some(level) = fields.escalation_level {
        if level < 1 {
            return Err(AppError::invalid(
                format!("{at}.escalation_level"),
                "must be 1 or more",
            ));
        }
        asked.push(Asked::Escalate(level as usize));
    }
    match asked.len() {
        1 => Ok(asked.remove(0)),
        0 => Err(AppError::invalid(
            at,
            "say what to change: status, assignments or escalation_level",
        )),
        _ => Err(AppError::invalid(
            at,
            "change one of status, assignments or escalation_level at a time",
        )),
    }
}

async fn apply(
    state: &web::Data<AppState>,
    agent: Agent,
    at: DateTime<Utc>,
    id: IncidentId,
    asked: Asked,
) -> AppResult<LoadedIncident> {
    let cache = state.finals.clone();
    state
        .db
        .run(move |conn| match asked {
            Asked::Status(change) => {
                Ok(cases::change_status(conn, &agent, at, &[id], change)?.remove(0))
            }
            Asked::Reassign(users) => cases::reassign(conn, &agent, at, &id, users),
            Asked::Escalate(level) => cases::escalate(conn, &cache, &agent, at, &id, level),
        })
        .await
}

/// Update an incident
///
/// Acknowledge or resolve it (`status`), reassign it (`assignments`) or escalate it to a
/// level (`escalation_level`). A service token names the acting person in `From`.
#[utoipa::path(put, path = "/api/v2/incidents/{id}", tag = "Incidents", params(("id" = String, Path), ("From" = Option<String>, Header, description = "The acting user's e-mail (service tokens)")), request_body = IncidentRequest,
    responses((status = 200, body = IncidentResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<IncidentRequest>,
) -> ApiResult<HttpResponse> {
    let asked = asked(&body.incident, "incident")?;
    let (agent, _) = acting(&state, &caller, &req, "update incidents").await?;
    let id = IncidentId(id.into_inner());
    let done = apply(&state, agent, caller.at, id, asked).await?;
    state
        .metrics
        .incidents_changed(std::slice::from_ref(&done), caller.at);
    state.notifications.poke();
    let names = {
        let done = done.clone();
        state
            .db
            .run(move |conn| names(conn, std::slice::from_ref(&done)))
            .await?
    };
    Ok(HttpResponse::Ok().json(IncidentResponse {
        incident: render(&state.public_url, &done, &names),
    }))
}

/// Most incidents one bulk update takes (PagerDuty's limit).
const MAX_BULK: usize = 250;

/// Update several incidents
///
/// Acknowledges or resolves each listed incident, all or none.
#[utoipa::path(put, path = "/api/v2/incidents", tag = "Incidents", params(("From" = Option<String>, Header, description = "The acting user's e-mail (service tokens)")), request_body = IncidentsRequest,
    responses((status = 200, body = IncidentsResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update_many(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Json<IncidentsRequest>,
) -> ApiResult<HttpResponse> {
    let items = body.into_inner().incidents;
    if items.is_empty() || items.len() > MAX_BULK {
        return Err(
            AppError::invalid("incidents", format!("list 1 to {MAX_BULK} incidents")).into(),
        );
    }
    let mut ids = Vec::new();
    let mut change = None;
    for (i, item) in items.iter().enumerate() {
        let at = format!("incidents[{i}]");
        let id = item
            .id
            .clone()
            .ok_or_else(|| AppError::invalid(format!("{at}.id"), "can't be blank"))?;
        match asked(item, &at)? {
            Asked::Status(c) if change.is_none_or(|seen| seen == c) => change = Some(c),
            Asked::Status(_) => {
                return Err(AppError::invalid(
                    format!("{at}.status"),
                    "one bulk update sets one status for all",
                )
                .into());
            }
            _ => {
                return Err(AppError::invalid(
                    format!("{at}.status"),
                    "a bulk update acknowledges or resolves; reassign or escalate one incident at a time",
                )
                .into());
            }
        }
        ids.push(IncidentId(id));
    }
    let change = change.unwrap_or(Change::Acknowledge);
    let (agent, _) = acting(&state, &caller, &req, "update incidents").await?;
    let at = caller.at;
    let (done, names) = state
        .db
        .run(move |conn| {
            let done = cases::change_status(conn, &agent, at, &ids, change)?;
            let names = names(conn, &done)?;
            Ok((done, names))
        })
        .await?;
    state.metrics.incidents_changed(&done, at);
    Ok(HttpResponse::Ok().json(IncidentsResponse {
        incidents: done
            .iter()
            .map(|i| render(&state.public_url, i, &names))
            .collect(),
    }))
}

fn render_entries(
    state: &AppState,
    rows: &[LogEntry],
    incidents: &HashMap<IncidentId, (String, ServiceId)>,
    names: &Names,
) -> Vec<LogEntryObject> {
    rows.iter()
        .filter_map(|e| {
            let (title, service) = incidents.get(&e.incident_id)?;
            Some(render_log_entry(
                &state.public_url,
                e,
                title,
                service,
                names,
            ))
        })
        .collect()
}

async fn log_entries(
    state: web::Data<AppState>,
    params: Params,
    incident: Option<IncidentId>,
) -> ApiResult<HttpResponse> {
    let page = params.page()?;
    let since = params.time("since")?.map(crate::clock::stored);
    let until = params.time("until")?.map(crate::clock::stored);
    let (found, incidents, names) = state
        .db
        .run(move |conn| {
            if let Some(id) = &incident {
                store::find(conn, id)?;
            }
            let found = store::log_entries(conn, incident.as_ref(), since, until, &page)?;
            let (incidents, names) = entry_context(conn, &found.rows)?;
            Ok((found, incidents, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(LogEntryList {
        log_entries: render_entries(&state, &found.rows, &incidents, &names),
        pagination: Pagination::of(&page, &found),
    }))
}

type EntryContext = (HashMap<IncidentId, (String, ServiceId)>, Names);

/// The incidents (title, service) and names log entries show.
fn entry_context(conn: &mut DbConnection, rows: &[LogEntry]) -> AppResult<EntryContext> {
    let mut ids: Vec<IncidentId> = rows.iter().map(|e| e.incident_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut incidents = HashMap::new();
    let mut loaded = Vec::new();
    for id in ids {
        let i = store::find(conn, &id)?;
        incidents.insert(id, (i.title.clone(), i.service_id.clone()));
        loaded.push(LoadedIncident {
            incident: i,
            assignments: Vec::new(),
            acknowledgements: Vec::new(),
            first_trigger: None,
            alerts: Default::default(),
        });
    }
    let names = names(conn, &loaded)?;
    Ok((incidents, names))
}

/// List an incident's log entries
#[utoipa::path(get, path = "/api/v2/incidents/{id}/log_entries", tag = "Incidents", params(("id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = LogEntryList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn incident_log_entries(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    log_entries(state, params, Some(IncidentId(id.into_inner()))).await
}

/// List log entries
#[utoipa::path(get, path = "/api/v2/log_entries", tag = "Incidents", params(("since" = Option<String>, Query), ("until" = Option<String>, Query), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = LogEntryList)), security(("api_token" = [])))]
pub async fn all_log_entries(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    log_entries(state, params, None).await
}

/// Get a log entry
#[utoipa::path(get, path = "/api/v2/log_entries/{id}", tag = "Incidents", params(("id" = String, Path)),
    responses((status = 200, body = LogEntryResponse), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show_log_entry(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let id = LogEntryId(id.into_inner());
    let (entry, incidents, names) = state
        .db
        .run(move |conn| {
            let entry = store::find_log_entry(conn, &id)?;
            let (incidents, names) = entry_context(conn, std::slice::from_ref(&entry))?;
            Ok((entry, incidents, names))
        })
        .await?;
    let log_entry = render_entries(&state, std::slice::from_ref(&entry), &incidents, &names)
        .pop()
        .ok_or_else(|| AppError::not_found("log_entry", entry.id.as_str()))?;
    Ok(HttpResponse::Ok().json(LogEntryResponse { log_entry }))
}

fn render_note(base: &str, n: &Note) -> NoteObject {
    let links = Links(base);
    NoteObject {
        id: n.id.to_string(),
        user: n
            .user_id
            .as_ref()
            .map(|u| links.reference("users", "user_reference", u.as_str(), &n.user_name)),
        content: n.content.clone(),
        created_at: n.created_at.and_utc(),
    }
}

/// List an incident's notes
#[utoipa::path(get, path = "/api/v2/incidents/{id}/notes", tag = "Incidents", params(("id" = String, Path)),
    responses((status = 200, body = NoteList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn notes(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let id = IncidentId(id.into_inner());
    let found = state
        .db
        .run(move |conn| {
            store::find(conn, &id)?;
            store::notes(conn, &id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(NoteList {
        notes: found
            .iter()
            .map(|n| render_note(&state.public_url, n))
            .collect(),
    }))
}

/// Add a note to an incident
///
/// The running record a scribe keeps; each note is on the timeline too.
#[utoipa::path(post, path = "/api/v2/incidents/{id}/notes", tag = "Incidents", params(("id" = String, Path), ("From" = Option<String>, Header, description = "The acting user's e-mail (service tokens)")), request_body = NoteRequest,
    responses((status = 201, body = NoteResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create_note(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<NoteRequest>,
) -> ApiResult<HttpResponse> {
    let content = body.into_inner().note.content.unwrap_or_default();
    // Blank or too long is refused before who acts is looked up (a 400 before a 403).
    rules::optional_text(Some(&content), cases::MAX_NOTE_CHARS)
        .map_err(|r| AppError::invalid("note.content", r))?;
    let (agent, user) = acting(&state, &caller, &req, "add notes").await?;
    let id = IncidentId(id.into_inner());
    let at = caller.at;
    let note = state
        .db
        .run(move |conn| cases::add_note(conn, &agent, user.as_ref(), at, &id, &content))
        .await?;
    Ok(HttpResponse::Created().json(NoteResponse {
        note: render_note(&state.public_url, &note),
    }))
}

fn render_alert(base: &str, a: &Alert, title: &str, names: &Names) -> AlertObject {
    let links = Links(base);
    AlertObject {
        id: a.id.to_string(),
        kind: "alert",
        summary: a.summary.clone(),
        status: a.status.as_str().to_owned(),
        alert_key: a.dedup_key.clone(),
        severity: a.severity.map(|s| s.as_str().to_owned()),
        service: service_ref(&links, &a.service_id, names),
        incident: incident_ref(&links, &a.incident_id, title),
        created_at: a.created_at.and_utc(),
        resolved_at: a.resolved_at.map(|t| t.and_utc()),
        event_count: a.event_count,
        last_event_at: a.last_event_at.and_utc(),
        body: serde_json::json!({
            "type": "alert_body",
            "contexts": a.extras.links.iter().map(|l| serde_json::json!({"type": "link", "href": l.href, "text": l.text})).collect::<Vec<_>>(),
            "cef_details": {
                "summary": a.summary,
                "source_origin": a.source,
                "severity": a.severity.map(|s| s.as_str()),
                "event_class": a.class,
                "source_component": a.component,
                "service_group": a.alert_group,
                "client": a.extras.client,
                "client_url": a.extras.client_url,
                "creation_time": a.extras.timestamp.map(|t| t.to_string()),
                "details": a.custom_details.as_ref().map(|d| d.0.clone()),
                "images": a.extras.images,
            },
            "details": a.custom_details.as_ref().map(|d| d.0.clone()),
        }),
    }
}

/// List an incident's alerts
#[utoipa::path(get, path = "/api/v2/incidents/{id}/alerts", tag = "Incidents", params(("id" = String, Path)),
    responses((status = 200, body = AlertList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn alerts(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let id = IncidentId(id.into_inner());
    let (incident, found, names) = state
        .db
        .run(move |conn| {
            let i = store::load(conn, &id)?;
            let found = store::alerts_of(conn, &id)?;
            let names = names(conn, std::slice::from_ref(&i))?;
            Ok((i, found, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(AlertList {
        alerts: found
            .iter()
            .map(|a| render_alert(&state.public_url, a, &incident.incident.title, &names))
            .collect(),
    }))
}

fn render_change(base: &str, c: &ChangeEvent, service_name: &str) -> ChangeEventObject {
    let links = Links(base);
    ChangeEventObject {
        id: c.id.to_string(),
        kind: "change_event",
        summary: c.summary.clone(),
        source: c.source.clone(),
        timestamp: c.happened_at.and_utc(),
        service: links.reference(
            "services",
            "service_reference",
            c.service_id.as_str(),
            service_name,
        ),
        custom_details: c.custom_details.as_ref().map(|d| d.0.clone()),
        links: c.links.0.clone(),
    }
}

/// List the changes before an incident
///
/// The change events of the incident's service in the day before it opened, newest first.
#[utoipa::path(get, path = "/api/v2/incidents/{id}/related_change_events", tag = "Incidents", params(("id" = String, Path)),
    responses((status = 200, body = ChangeEventList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn related_changes(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let id = IncidentId(id.into_inner());
    let (found, service_name) = state
        .db
        .run(move |conn| {
            let i = store::find(conn, &id)?;
            let name = services::find(conn, &i.service_id)?.name;
            Ok((cases::recent_changes(conn, &i)?, name))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChangeEventList {
        change_events: found
            .iter()
            .map(|c| render_change(&state.public_url, c, &service_name))
            .collect(),
    }))
}

/// List a service's change events
#[utoipa::path(get, path = "/api/v2/services/{id}/change_events", tag = "Services", params(("id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = ChangeEventList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn service_changes(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let page = params.page()?;
    let since = params.time("since")?.map(crate::clock::stored);
    let until = params.time("until")?.map(crate::clock::stored);
    let id = ServiceId(id.into_inner());
    let (found, service_name) = state
        .db
        .run(move |conn| {
            let name = services::find(conn, &id)?.name;
            Ok((
                store::change_events(conn, &id, since, until, page.limit)?,
                name,
            ))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ChangeEventList {
        change_events: found
            .iter()
            .map(|c| render_change(&state.public_url, c, &service_name))
            .collect(),
    }))
}
