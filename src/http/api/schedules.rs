//! `/api/v2/schedules`: layer-based schedules in PagerDuty's shape, rendered for a window,
//! their overrides (one, a batch, or a month's roster from CSV or JSON), and who is on them.

use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{OverrideId, ScheduleId, TeamId, UserId};
use crate::domain::schedule::edit::current;
use crate::domain::schedule::input::{self, Invalid, LayerInput, RestrictionInput};
use crate::domain::schedule::{Entry, Zone, coverage_percent, local_time};
use crate::domain::user as rules;
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::schedules::{self as store, Loaded, OverrideRow, Person};
use crate::store::{escalation, teams};
use crate::use_cases::schedules::{self as cases, Draft, OverrideDraft, OverrideRights, View};
use actix_web::{HttpRequest, HttpResponse, web};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/schedules")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/schedules/preview").route(web::post().to(preview)))
    .service(
        resource("/schedules/{id}")
            .route(web::get().to(show))
            .route(web::put().to(update))
            .route(web::delete().to(remove)),
    )
    .service(resource("/schedules/{id}/users").route(web::get().to(users)))
    .service(
        resource("/schedules/{id}/overrides")
            .route(web::get().to(list_overrides))
            .route(web::post().to(create_overrides)),
    )
    .service(resource("/schedules/{id}/overrides/import").route(web::post().to(import_roster)))
    .service(
        resource("/schedules/{id}/overrides/{override_id}")
            .route(web::delete().to(delete_override)),
    );
}

/// The longest window a schedule is rendered for.
const MAX_RENDER_DAYS: i64 = 366;
/// The window when none is given: two weeks from `since` (PagerDuty's default).
const DEFAULT_RENDER_DAYS: i64 = 14;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleFields {
    pub name: Option<String>,
    /// `schedule` (optional).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// An IANA time zone, such as `Asia/Tokyo`.
    pub time_zone: Option<String>,
    pub description: Option<String>,
    /// In precedence order: the last layer wins where layers overlap.
    #[serde(default)]
    pub schedule_layers: Vec<LayerInput>,
    #[serde(default)]
    pub teams: Vec<input::Reference>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScheduleRequest {
    pub schedule: ScheduleFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedEntry {
    pub start: String,
    pub end: String,
    pub user: Reference,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubSchedule {
    /// `Final Schedule` or `Overrides`.
    pub name: &'static str,
    pub rendered_schedule_entries: Vec<RenderedEntry>,
    pub rendered_coverage_percentage: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GapObject {
    pub start: String,
    pub end: String,
}

/// A span someone would be on call but is left out, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedEntry {
    pub start: String,
    pub end: String,
    pub user: Reference,
    /// `deactivated`, `stakeholder_seat` or `no_seat`.
    pub reason: &'static str,
    pub explanation: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayerUserRef {
    pub user: Reference,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LayerObject {
    pub id: String,
    pub name: String,
    /// The start of the version in force (an edit starts a new version).
    pub start: String,
    pub end: Option<String>,
    pub rotation_virtual_start: String,
    pub rotation_turn_length_seconds: i64,
    pub users: Vec<LayerUserRef>,
    pub restrictions: Vec<RestrictionInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered_schedule_entries: Option<Vec<RenderedEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered_coverage_percentage: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "schedule")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub description: Option<String>,
    pub time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_layers: Option<Vec<LayerObject>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_schedule: Option<SubSchedule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides_subschedule: Option<SubSchedule>,
    /// Spans in the window where nobody is on call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gaps: Option<Vec<GapObject>>,
    /// Spans someone would be on call but may not be (no full seat, deactivated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_entries: Option<Vec<SkippedEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation_policies: Option<Vec<Reference>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<Reference>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub teams: Option<Vec<Reference>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleResponse {
    pub schedule: ScheduleObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub schedules: Vec<ScheduleObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideObject {
    pub id: String,
    pub start: String,
    pub end: String,
    pub user: Reference,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideList {
    pub overrides: Vec<OverrideObject>,
}

/// One item of a batch: its status and the override made, or why it was refused (with the
/// item as sent).
#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideOutcome {
    pub status: u16,
    #[schema(value_type = Object)]
    pub r#override: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonObject {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonList {
    pub users: Vec<PersonObject>,
}

/// One roster row's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct RosterRow {
    /// The row: its line in a CSV file (the header is line 1), its index from 1 in JSON.
    pub row: usize,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r#override: Option<OverrideObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RosterResult {
    pub created: usize,
    pub refused: usize,
    pub rows: Vec<RosterRow>,
}

/// A JSON roster: `{"rows": [{"user": "ana@example.com", "start": "…", "end": "…"}]}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RosterRequest {
    pub rows: Vec<RosterInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RosterInput {
    /// The person's e-mail address or id.
    pub user: String,
    pub start: String,
    pub end: String,
}

fn invalid(i: Invalid) -> AppError {
    AppError::invalid(i.field, i.reason)
}

/// A time as PagerDuty writes it, in zone `tz`: `2026-01-05T09:00:00+09:00`.
pub fn written(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// The window `[since, until)` of a render: `since` defaults to now, `until` to two
/// weeks after `since`; at most a year.
pub(crate) fn window(
    params: &Params,
    now: Timestamp,
    max_days: i64,
) -> AppResult<(Timestamp, Timestamp)> {
    let read = |key: &str| {
        params
            .one(key)
            .map(|v| input::instant(key, v).map_err(invalid))
            .transpose()
    };
    let default = SignedDuration::from_hours(24 * DEFAULT_RENDER_DAYS);
    let (since, until) = match (read("since")?, read("until")?) {
        (Some(s), Some(u)) => (s, u),
        (Some(s), None) => (s, s + default),
        (None, Some(u)) => (u - default, u),
        (None, None) => (now, now + default),
    };
    if until <= since {
        return Err(AppError::invalid("until", "must be after since"));
    }
    if until.duration_since(since) > SignedDuration::from_hours(24 * max_days) {
        return Err(AppError::invalid(
            "until",
            format!("the window from since to until is at most {max_days} days"),
        ));
    }
    Ok((since, until))
}

/// The zone answers are written in: `time_zone`, else the schedule's.
fn answer_zone(params: &Params, schedule: &Zone) -> AppResult<TimeZone> {
    match params.one("time_zone") {
        Some(name) => input::time_zone("time_zone", name).map_err(invalid),
        None => Ok(schedule.tz().clone()),
    }
}

/// A schedule as sent, checked field by field.
pub(crate) fn draft(fields: ScheduleFields) -> AppResult<Draft> {
    if let Some(kind) = fields.kind.as_deref()
        && kind != "schedule"
    {
        return Err(AppError::invalid("type", format!("is '{kind}': schedule")));
    }
    let name = rules::display_name(fields.name.as_deref().unwrap_or("")).invalid_field("name")?;
    let description =
        rules::optional_text(fields.description.as_deref(), 1000).invalid_field("description")?;
    let zone_name = fields
        .time_zone
        .ok_or_else(|| AppError::invalid("time_zone", "is required (such as Asia/Tokyo)"))?;
    let tz = input::time_zone("time_zone", &zone_name).map_err(invalid)?;
    let zone = Zone::parse(&zone_name).ok_or_else(|| AppError::invalid("time_zone", "unknown"))?;
    let layers = input::layers(&fields.schedule_layers, &tz).map_err(invalid)?;
    let layers = fields
        .schedule_layers
        .iter()
        .zip(layers)
        .enumerate()
        .map(|(i, (sent, layer))| {
            let name = sent
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| format!("Layer {}", i + 1));
            let name =
                rules::display_name(&name).invalid_field(&format!("schedule_layers[{i}].name"))?;
            Ok(cases::sent_layer(sent.id.clone(), name, layer))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Draft {
        name,
        description,
        zone,
        teams: team_ids(&fields.teams)?,
        layers,
    })
}

pub fn team_ids(refs: &[input::Reference]) -> AppResult<Vec<TeamId>> {
    let mut out: Vec<TeamId> = Vec::new();
    for (i, t) in refs.iter().enumerate() {
        if let Some(kind) = t.kind.as_deref()
            && kind != "team_reference"
            && kind != "team"
        {
            return Err(AppError::invalid(
                format!("teams[{i}].type"),
                format!("is '{kind}': team_reference"),
            ));
        }
        let id = TeamId(t.id.clone());
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

pub(crate) fn schedule_resource(loaded: &Loaded) -> Resource {
    Resource::Schedule {
        id: Some(loaded.schedule.id.to_string()),
        teams: loaded.teams.clone(),
    }
}

/// 403 unless the caller may manage the schedule both as stored and as it will be.
pub(crate) fn may_manage(
    caller: &ApiCaller,
    before: Option<&Loaded>,
    after_teams: &[TeamId],
) -> AppResult<()> {
    let after = Resource::Schedule {
        id: before.map(|b| b.schedule.id.to_string()),
        teams: after_teams.to_vec(),
    };
    let before = before.map(schedule_resource);
    caller.may_move(Action::ManageSchedule, before.as_ref(), &after, "schedule")
}

fn person_ref(links: &Links<'_>, people: &HashMap<UserId, Person>, id: &UserId) -> Reference {
    let name = people.get(id).map_or(id.as_str(), |p| p.name.as_str());
    links.reference("users", "user_reference", id.as_str(), name)
}

fn entries(
    links: &Links<'_>,
    people: &HashMap<UserId, Person>,
    tz: &TimeZone,
    list: &[Entry<UserId>],
) -> Vec<RenderedEntry> {
    list.iter()
        .map(|e| RenderedEntry {
            start: written(e.start, tz),
            end: written(e.end, tz),
            user: person_ref(links, people, &e.user),
        })
        .collect()
}

/// The schedule object; rendered parts when `view` has them.
fn render(
    state: &AppState,
    view: &View,
    tz: &TimeZone,
    window: (Timestamp, Timestamp),
    now: Timestamp,
    related: Option<(Vec<Reference>, Vec<Reference>)>,
) -> ScheduleObject {
    let links = Links(&state.public_url);
    let s = &view.loaded.schedule;
    let (since, until) = window;
    let live: Vec<_> = view.loaded.live().collect();
    let skip = view.rendered.layers.len() - live.len();
    let layers = live
        .iter()
        .zip(&view.rendered.layers[skip..])
        .filter_map(|(l, rendered)| {
            let (_, v) = current(&l.stored(), now)?.clone();
            let zone = s.time_zone.tz();
            Some(LayerObject {
                id: l.row.id.to_string(),
                name: l.row.name.clone(),
                start: written(v.start, tz),
                end: v.end.map(|e| written(e, tz)),
                rotation_virtual_start: written(
                    local_time::start(zone, v.rotation_virtual_start),
                    tz,
                ),
                rotation_turn_length_seconds: v.turn_length.as_secs(),
                users: v
                    .users
                    .iter()
                    .map(|u| LayerUserRef {
                        user: person_ref(&links, &view.people, u),
                    })
                    .collect(),
                restrictions: v.restrictions.iter().map(|r| (*r).into()).collect(),
                rendered_coverage_percentage: Some(coverage_percent(rendered, since, until)),
                rendered_schedule_entries: Some(entries(&links, &view.people, tz, rendered)),
            })
        })
        .collect();
    let mut users: Vec<UserId> = live
        .iter()
        .filter_map(|l| current(&l.stored(), now).map(|(_, v)| v.users.clone()))
        .flatten()
        .collect();
    users.sort();
    users.dedup();
    let (policies, teams) = related.unwrap_or_default();
    ScheduleObject {
        self_url: links.api("schedules", s.id.as_str()),
        html_url: links.html("schedules", s.id.as_str()),
        id: s.id.to_string(),
        kind: "schedule",
        summary: s.name.clone(),
        name: s.name.clone(),
        description: s.description.clone(),
        time_zone: s.time_zone.name().to_owned(),
        schedule_layers: Some(layers),
        final_schedule: Some(SubSchedule {
            name: "Final Schedule",
            rendered_coverage_percentage: coverage_percent(
                &view.rendered.final_schedule,
                since,
                until,
            ),
            rendered_schedule_entries: entries(
                &links,
                &view.people,
                tz,
                &view.rendered.final_schedule,
            ),
        }),
        overrides_subschedule: Some(SubSchedule {
            name: "Overrides",
            rendered_coverage_percentage: coverage_percent(&view.rendered.overrides, since, until),
            rendered_schedule_entries: entries(&links, &view.people, tz, &view.rendered.overrides),
        }),
        gaps: Some(
            view.rendered
                .gaps
                .iter()
                .map(|g| GapObject {
                    start: written(g.start, tz),
                    end: written(g.end, tz),
                })
                .collect(),
        ),
        skipped_entries: Some(
            view.skipped
                .iter()
                .map(|k| SkippedEntry {
                    start: written(k.entry.start, tz),
                    end: written(k.entry.end, tz),
                    user: person_ref(&links, &view.people, &k.entry.user),
                    reason: k.reason.as_str(),
                    explanation: k.reason.explain().to_owned(),
                })
                .collect(),
        ),
        escalation_policies: Some(policies),
        users: Some(
            users
                .iter()
                .map(|u| person_ref(&links, &view.people, u))
                .collect(),
        ),
        teams: Some(teams),
    }
}

/// The policies targeting the schedule and its teams, as references.
pub(crate) fn related(
    conn: &mut crate::store::DbConnection,
    base: &str,
    loaded: &Loaded,
) -> AppResult<(Vec<Reference>, Vec<Reference>)> {
    let links = Links(base);
    let policies = escalation::targeting_schedule(conn, &loaded.schedule.id)?
        .into_iter()
        .map(|(id, name)| {
            links.reference(
                "escalation_policies",
                "escalation_policy_reference",
                id.as_str(),
                &name,
            )
        })
        .collect();
    let mut team_refs = Vec::new();
    for id in &loaded.teams {
        let t = teams::find(conn, id)?;
        team_refs.push(links.reference("teams", "team_reference", id.as_str(), &t.name));
    }
    Ok((policies, team_refs))
}

fn now_of(caller: &ApiCaller) -> Timestamp {
    crate::clock::jiff_now(caller.at)
}

/// List schedules
#[utoipa::path(get, path = "/api/v2/schedules", tag = "Schedules",
    params(("query" = Option<String>, Query, description = "Part of the schedule name"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = ScheduleList), (status = 401, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let page = params.page()?;
    let text = params.one("query").map(str::to_owned);
    let found = state
        .db
        .run(move |conn| store::list(conn, text.as_deref(), &page))
        .await?;
    let links = Links(&state.public_url);
    let pagination = Pagination::of(&page, &found);
    let schedules = found
        .rows
        .into_iter()
        .map(|s| ScheduleObject {
            self_url: links.api("schedules", s.id.as_str()),
            html_url: links.html("schedules", s.id.as_str()),
            id: s.id.to_string(),
            kind: "schedule",
            summary: s.name.clone(),
            name: s.name,
            description: s.description,
            time_zone: s.time_zone.name().to_owned(),
            schedule_layers: None,
            final_schedule: None,
            overrides_subschedule: None,
            gaps: None,
            skipped_entries: None,
            escalation_policies: None,
            users: None,
            teams: None,
        })
        .collect();
    Ok(HttpResponse::Ok().json(ScheduleList {
        schedules,
        pagination,
    }))
}

/// Create a schedule
///
/// Everyone on a layer must hold a full seat (400 names the person and why).
#[utoipa::path(post, path = "/api/v2/schedules", tag = "Schedules", request_body = ScheduleRequest,
    responses((status = 201, body = ScheduleResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    body: web::Json<ScheduleRequest>,
) -> ApiResult<HttpResponse> {
    let draft = draft(body.into_inner().schedule)?;
    may_manage(&caller, None, &draft.teams)?;
    let now = now_of(&caller);
    let (since, until) = window(&params, now, MAX_RENDER_DAYS)?;
    let ctx = caller.audit();
    let base = state.public_url.clone();
    let (view, related) = state
        .db
        .run(move |conn| {
            let loaded = cases::create(conn, &ctx, draft)?;
            let related = related(conn, &base, &loaded)?;
            Ok((
                cases::view(conn, None, &loaded.schedule.id, since, until)?,
                related,
            ))
        })
        .await?;
    let tz = answer_zone(&params, &view.loaded.schedule.time_zone)?;
    let schedule = render(&state, &view, &tz, (since, until), now, Some(related));
    Ok(HttpResponse::Created()
        .insert_header(("Location", schedule.self_url.clone()))
        .json(ScheduleResponse { schedule }))
}

/// Preview a schedule
///
/// Renders the schedule sent, without saving it.
#[utoipa::path(post, path = "/api/v2/schedules/preview", tag = "Schedules", request_body = ScheduleRequest,
    params(("since" = Option<String>, Query), ("until" = Option<String>, Query), ("time_zone" = Option<String>, Query)),
    responses((status = 200, body = ScheduleResponse), (status = 400, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn preview(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    body: web::Json<ScheduleRequest>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let draft = draft(body.into_inner().schedule)?;
    let now = now_of(&caller);
    let (since, until) = window(&params, now, MAX_RENDER_DAYS)?;
    let stored_now = crate::clock::stored(caller.at);
    let view = state
        .db
        .run(move |conn| cases::preview(conn, draft, since, until, stored_now))
        .await?;
    let tz = answer_zone(&params, &view.loaded.schedule.time_zone)?;
    let mut schedule = render(&state, &view, &tz, (since, until), now, None);
    schedule.escalation_policies = None;
    schedule.teams = None;
    Ok(HttpResponse::Ok().json(ScheduleResponse { schedule }))
}

/// Get a schedule
///
/// Rendered for `[since, until)` (default: two weeks from now; at most 366 days), in
/// `time_zone` (default: the schedule's).
#[utoipa::path(get, path = "/api/v2/schedules/{id}", tag = "Schedules",
    params(("id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("time_zone" = Option<String>, Query)),
    responses((status = 200, body = ScheduleResponse), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let id = ScheduleId(id.into_inner());
    let now = now_of(&caller);
    let (since, until) = window(&params, now, MAX_RENDER_DAYS)?;
    let base = state.public_url.clone();
    let finals = state.finals.clone();
    let (view, related) = state
        .db
        .run(move |conn| {
            let view = cases::view(conn, Some(&finals), &id, since, until)?;
            let related = related(conn, &base, &view.loaded)?;
            Ok((view, related))
        })
        .await?;
    let tz = answer_zone(&params, &view.loaded.schedule.time_zone)?;
    Ok(HttpResponse::Ok().json(ScheduleResponse {
        schedule: render(&state, &view, &tz, (since, until), now, Some(related)),
    }))
}

/// Update a schedule
///
/// Layers are matched by `id`. A changed layer's version in force ends now and the new one
/// starts now: past on-call never changes. A layer left out ends now (kept for history).
#[utoipa::path(put, path = "/api/v2/schedules/{id}", tag = "Schedules", params(("id" = String, Path)), request_body = ScheduleRequest,
    responses((status = 200, body = ScheduleResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
    body: web::Json<ScheduleRequest>,
) -> ApiResult<HttpResponse> {
    let id = ScheduleId(id.into_inner());
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let draft = draft(body.into_inner().schedule)?;
    let now = now_of(&caller);
    let (since, until) = window(&params, now, MAX_RENDER_DAYS)?;
    let ctx = caller.audit();
    let base = state.public_url.clone();
    let teams = draft.teams.clone();
    let caller = std::sync::Arc::new(caller);
    let asked = caller.clone();
    let (view, related) = state
        .db
        .run(move |conn| {
            let loaded = cases::update(conn, &ctx, &id, draft, |before| {
                may_manage(&asked, Some(before), &teams)
            })?;
            let related = related(conn, &base, &loaded)?;
            Ok((cases::view(conn, None, &id, since, until)?, related))
        })
        .await?;
    let tz = answer_zone(&params, &view.loaded.schedule.time_zone)?;
    Ok(HttpResponse::Ok().json(ScheduleResponse {
        schedule: render(&state, &view, &tz, (since, until), now, Some(related)),
    }))
}

/// Delete a schedule
///
/// Refused (400) while an escalation policy targets it; the error names the policies.
#[utoipa::path(delete, path = "/api/v2/schedules/{id}", tag = "Schedules", params(("id" = String, Path)),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = ScheduleId(id.into_inner());
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| {
            cases::delete(conn, &ctx, &id, |before| {
                caller.may(
                    Action::ManageSchedule,
                    &schedule_resource(before),
                    "delete this schedule",
                )
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List users on call in a schedule
///
/// Everyone in the final schedule in `[since, until)`.
#[utoipa::path(get, path = "/api/v2/schedules/{id}/users", tag = "Schedules",
    params(("id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query)),
    responses((status = 200, body = PersonList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn users(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let id = ScheduleId(id.into_inner());
    let (since, until) = window(&params, now_of(&caller), MAX_RENDER_DAYS)?;
    let finals = state.finals.clone();
    let view = state
        .db
        .run(move |conn| cases::view(conn, Some(&finals), &id, since, until))
        .await?;
    let links = Links(&state.public_url);
    let mut seen: Vec<&UserId> = Vec::new();
    for e in &view.rendered.final_schedule {
        if !seen.contains(&&e.user) {
            seen.push(&e.user);
        }
    }
    let users = seen
        .into_iter()
        .filter_map(|u| view.people.get(u))
        .map(|p| PersonObject {
            id: p.id.to_string(),
            kind: "user",
            summary: p.name.clone(),
            self_url: links.api("users", p.id.as_str()),
            html_url: links.html("users", p.id.as_str()),
            name: p.name.clone(),
            email: p.email.clone(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(PersonList { users }))
}

fn override_object(
    links: &Links<'_>,
    people: &HashMap<UserId, Person>,
    tz: &TimeZone,
    o: &OverrideRow,
) -> OverrideObject {
    OverrideObject {
        id: o.id.to_string(),
        start: written(crate::clock::instant(o.starts_at), tz),
        end: written(crate::clock::instant(o.ends_at), tz),
        user: person_ref(links, people, &o.user_id),
    }
}

/// List overrides
///
/// Overrides overlapping `[since, until)`. `editable=true`: only those not yet ended.
/// `overflow=false` (default) cuts them at the window.
#[utoipa::path(get, path = "/api/v2/schedules/{id}/overrides", tag = "Schedules",
    params(("id" = String, Path), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("editable" = Option<bool>, Query), ("overflow" = Option<bool>, Query), ("time_zone" = Option<String>, Query)),
    responses((status = 200, body = OverrideList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list_overrides(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let id = ScheduleId(id.into_inner());
    let now = now_of(&caller);
    let (since, until) = window(&params, now, MAX_RENDER_DAYS)?;
    let (editable, overflow) = (params.flag("editable")?, params.flag("overflow")?);
    let (schedule, rows, people) = state
        .db
        .run(move |conn| {
            let schedule = store::find(conn, &id)?;
            let rows = store::overrides_in(
                conn,
                Some(std::slice::from_ref(&id)),
                crate::clock::stored_instant(since),
                crate::clock::stored_instant(until),
            )?;
            let ids: Vec<UserId> = rows.iter().map(|o| o.user_id.clone()).collect();
            Ok((schedule, rows, store::people(conn, &ids)?))
        })
        .await?;
    let tz = answer_zone(&params, &schedule.time_zone)?;
    let links = Links(&state.public_url);
    let stored_now = crate::clock::stored(caller.at);
    let overrides = rows
        .into_iter()
        .filter(|o| !editable || o.ends_at > stored_now)
        .map(|mut o| {
            if !overflow {
                o.starts_at = o.starts_at.max(crate::clock::stored_instant(since));
                o.ends_at = o.ends_at.min(crate::clock::stored_instant(until));
            }
            override_object(&links, &people, &tz, &o)
        })
        .collect();
    Ok(HttpResponse::Ok().json(OverrideList { overrides }))
}

/// One override as sent, read on its own so a bad item refuses only itself.
fn override_item(value: &serde_json::Value) -> Result<OverrideDraft, String> {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("{key} is required"))
    };
    let start = input::instant("start", text("start")?).map_err(|i| i.to_string())?;
    let end = input::instant("end", text("end")?).map_err(|i| i.to_string())?;
    let user = value
        .get("user")
        .and_then(|u| u.get("id"))
        .and_then(|v| v.as_str())
        .filter(|id| !id.is_empty())
        .ok_or("user.id is required")?;
    Ok(OverrideDraft {
        user: UserId(user.to_owned()),
        start,
        end,
    })
}

/// Who may place overrides, asked of the schedule as stored.
pub(crate) fn rights_of(
    caller: &ApiCaller,
) -> (
    impl Fn(&Loaded) -> bool + '_,
    impl Fn(&Loaded, bool, bool) -> bool + '_,
) {
    (
        move |l: &Loaded| caller.allows(Action::ManageSchedule, &schedule_resource(l)),
        move |l: &Loaded, takes, gives| {
            caller.may_change_shift(&schedule_resource(l), takes, gives)
        },
    )
}

/// Places overrides on schedule `id` as `caller` (`use_cases::schedules::add_overrides`),
/// with the rights the policies give them (`rights_of`): REST's overrides and the pages'
/// take and give forms come through here; the roster import through `import_roster`.
pub(crate) fn place_overrides(
    conn: &mut crate::store::DbConnection,
    caller: &ApiCaller,
    id: &ScheduleId,
    items: Vec<Result<OverrideDraft, String>>,
    all_or_nothing: bool,
) -> AppResult<Vec<Result<OverrideRow, Vec<String>>>> {
    let (manage, shift) = rights_of(caller);
    let rights = OverrideRights {
        caller: caller.user_id(),
        manage: &manage,
        shift: &shift,
    };
    cases::add_overrides(conn, &caller.audit(), id, items, all_or_nothing, &rights)
}

/// Create overrides
///
/// `{"overrides": [...]}`: each item gets its own status (201, or 400 with `errors`), and
/// the answer is 201 with the list. `all_or_nothing=true`: one refused item refuses the
/// batch (400, nothing created). The legacy `{"override": {...}}` creates one (201 with it,
/// or 400). An override that has started counts from now; one that has ended is refused.
/// A responder may put themselves on call (take a shift) or give a span of their own
/// on-call time to a colleague; managers of the schedule's teams and admins place anyone.
#[utoipa::path(post, path = "/api/v2/schedules/{id}/overrides", tag = "Schedules",
    params(("id" = String, Path), ("all_or_nothing" = Option<bool>, Query)),
    request_body(content = Object, description = "{\"overrides\": [{\"start\", \"end\", \"user\": {\"id\", \"type\": \"user_reference\"}}]}"),
    responses((status = 201, body = Vec<OverrideOutcome>), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create_overrides(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let id = ScheduleId(id.into_inner());
    let body = body.into_inner();
    let (sent, single) = match (body.get("overrides"), body.get("override")) {
        (Some(serde_json::Value::Array(items)), _) => (items.clone(), false),
        (None, Some(one @ serde_json::Value::Object(_))) => (vec![one.clone()], true),
        _ => {
            return Err(AppError::invalid(
                "overrides",
                "is required: a list of overrides ({\"overrides\": [...]})",
            )
            .into());
        }
    };
    if sent.len() > MAX_BATCH {
        return Err(
            AppError::invalid("overrides", format!("at most {MAX_BATCH} a request")).into(),
        );
    }
    let all_or_nothing = single || params.flag("all_or_nothing")?;
    let items: Vec<Result<OverrideDraft, String>> = sent.iter().map(override_item).collect();
    let caller = std::sync::Arc::new(caller);
    let asked = caller.clone();
    let id2 = id.clone();
    let (outcomes, schedule, people) = state
        .db
        .run(move |conn| {
            let outcomes = place_overrides(conn, &asked, &id2, items, all_or_nothing)?;
            let ids: Vec<UserId> = outcomes
                .iter()
                .filter_map(|o| o.as_ref().ok().map(|r| r.user_id.clone()))
                .collect();
            Ok((
                outcomes,
                store::find(conn, &id2)?,
                store::people(conn, &ids)?,
            ))
        })
        .await?;
    let links = Links(&state.public_url);
    let tz = schedule.time_zone.tz();
    if single {
        let made = outcomes.into_iter().next().and_then(Result::ok);
        let Some(o) = made else {
            return Err(AppError::invalid("override", "was refused").into());
        };
        return Ok(HttpResponse::Created()
            .json(serde_json::json!({"override": override_object(&links, &people, tz, &o)})));
    }
    let list: Vec<OverrideOutcome> = outcomes
        .into_iter()
        .zip(sent)
        .map(|(outcome, sent)| match outcome {
            Ok(o) => OverrideOutcome {
                status: 201,
                r#override: serde_json::to_value(override_object(&links, &people, tz, &o))
                    .unwrap_or_default(),
                errors: None,
            },
            Err(errors) => OverrideOutcome {
                status: 400,
                r#override: sent,
                errors: Some(errors),
            },
        })
        .collect();
    Ok(HttpResponse::Created().json(list))
}

/// Overrides a request creates, at most.
const MAX_BATCH: usize = 1_000;

/// Import a roster
///
/// A month's duty table as overrides: CSV (`text/csv`, a header `user,start,end`; `user` is
/// an e-mail address or a user id) or JSON (`{"rows": [...]}`). Each row gets its status;
/// with `all_or_nothing=true` one bad row refuses them all (400 naming each, nothing
/// created).
#[utoipa::path(post, path = "/api/v2/schedules/{id}/overrides/import", tag = "Schedules",
    params(("id" = String, Path), ("all_or_nothing" = Option<bool>, Query)),
    request_body(content = RosterRequest, description = "JSON rows, or CSV with header user,start,end", content_type = "application/json"),
    responses((status = 200, body = RosterResult), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn import_roster(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let id = ScheduleId(id.into_inner());
    let body = super::body_bytes(payload).await?;
    let csv = actix_web::HttpMessage::mime_type(&req)
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == "csv");
    let entries = roster(&body, csv)?;
    let all_or_nothing = params.flag("all_or_nothing")?;
    let caller = std::sync::Arc::new(caller);
    let asked = caller.clone();
    let id2 = id.clone();
    let (import, schedule, people) = state
        .db
        .run(move |conn| {
            let (manage, shift) = rights_of(&asked);
            let rights = OverrideRights {
                caller: asked.user_id(),
                manage: &manage,
                shift: &shift,
            };
            let import = cases::import_roster(
                conn,
                &asked.audit(),
                &id2,
                &entries,
                all_or_nothing,
                &rights,
            )?;
            let ids: Vec<UserId> = import
                .rows
                .iter()
                .filter_map(|(_, o)| o.as_ref().ok().map(|r| r.user_id.clone()))
                .collect();
            Ok((import, store::find(conn, &id2)?, store::people(conn, &ids)?))
        })
        .await?;
    let links = Links(&state.public_url);
    let tz = schedule.time_zone.tz();
    let rows: Vec<RosterRow> = import
        .rows
        .into_iter()
        .map(|(row, o)| match o {
            Ok(o) => RosterRow {
                row,
                status: 201,
                r#override: Some(override_object(&links, &people, tz, &o)),
                errors: None,
            },
            Err(errors) => RosterRow {
                row,
                status: 400,
                r#override: None,
                errors: Some(errors),
            },
        })
        .collect();
    let created = rows.iter().filter(|r| r.status == 201).count();
    Ok(HttpResponse::Ok().json(RosterResult {
        refused: rows.len() - created,
        created,
        rows,
    }))
}

/// A roster file's rows, CSV (`csv`) or JSON, at most `MAX_BATCH`.
pub(crate) fn roster(body: &[u8], csv: bool) -> AppResult<Vec<cases::RosterEntry>> {
    let rows = if csv {
        roster_csv(body)?
    } else {
        roster_json(body)?
    };
    if rows.len() > MAX_BATCH {
        return Err(AppError::invalid(
            "rows",
            format!("at most {MAX_BATCH} a roster"),
        ));
    }
    Ok(rows
        .into_iter()
        .map(|(row, r)| cases::RosterEntry {
            row,
            user: r.user,
            start: r.start,
            end: r.end,
        })
        .collect())
}

/// A CSV roster's rows with their line numbers. A UTF-8 byte order mark (Excel's "CSV UTF-8"
/// writes one) is not part of the header. A row that cannot be read, or holds a NUL (which no
/// stored text can: `http::edge` refuses it in JSON, but does not read CSV), refuses the file.
fn roster_csv(body: &[u8]) -> AppResult<Vec<(usize, RosterInput)>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut lines = Lines::new(body);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| AppError::invalid("row 1", format!("is not a CSV header: {e}")))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .ok_or_else(|| AppError::invalid("row 1", format!("the header needs a column {name}")))
    };
    let (u, s, e) = (column("user")?, column("start")?, column("end")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| lines.of(p.byte()));
            AppError::invalid(
                format!("row {line}"),
                format!("cannot be read: {}", unreadable(&e)),
            )
        })?;
        let line = record
            .position()
            .map_or(out.len() + 2, |p| lines.of(p.byte()));
        if record.iter().any(|field| field.contains('\0')) {
            return Err(AppError::invalid(
                format!("row {line}"),
                "contains a NUL character (U+0000), which no text here can hold",
            ));
        }
        let get = |i: usize| record.get(i).unwrap_or("").to_owned();
        out.push((
            line,
            RosterInput {
                user: get(u),
                start: get(s),
                end: get(e),
            },
        ));
    }
    Ok(out)
}

/// Why a CSV record could not be read, in the file's terms (csv's own message counts records
/// from 0, and lines its own way).
fn unreadable(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "it has {len} field{} where the header has {expected_len} (quote a field that holds a \
             comma or a line break, and close every quote)",
            if *len == 1 { "" } else { "s" }
        ),
        csv::ErrorKind::Utf8 { .. } => "it is not UTF-8 text (save the file as CSV UTF-8)".into(),
        _ => e.to_string(),
    }
}

/// Line numbers (from 1) of CSV records, from where they start. The csv crate counts a line at
/// its LF, and a record after a CRLF starts at that LF: its own `line()` is one short in files
/// with CRLF line ends. A lone CR ends a line too, as it ends a record.
struct Lines<'a> {
    body: &'a [u8],
    /// Where the last record found starts, and its line (records come in order).
    at: usize,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(body: &'a [u8]) -> Lines<'a> {
        Lines {
            body,
            at: 0,
            line: 1,
        }
    }

    /// The line of the first character of the record at byte `start` (line ends before it,
    /// blank lines included, are skipped as the reader skips them).
    fn of(&mut self, start: u64) -> usize {
        let body = self.body;
        let start = usize::try_from(start).map_or(body.len(), |s| s.min(body.len()));
        let first = body[start..]
            .iter()
            .position(|b| !matches!(b, b'\r' | b'\n'))
            .map_or(body.len(), |i| start + i);
        if first < self.at {
            (self.at, self.line) = (0, 1);
        }
        let ends = (self.at..first)
            .filter(|&i| body[i] == b'\n' || (body[i] == b'\r' && body.get(i + 1) != Some(&b'\n')))
            .count();
        (self.at, self.line) = (first, self.line + ends);
        self.line
    }
}

fn roster_json(body: &[u8]) -> AppResult<Vec<(usize, RosterInput)>> {
    let request: RosterRequest = serde_json::from_slice(body).map_err(|e| {
        AppError::invalid(
            "request body",
            format!("is not a roster ({{\"rows\": [...]}}): {e}"),
        )
    })?;
    Ok(request
        .rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i + 1, r))
        .collect())
}

/// 403 unless the caller may remove override `row` of schedule `loaded`: the person it puts
/// on call (if they may change their own shifts), the schedule's managers and admins.
pub(crate) fn may_remove_override(
    caller: &ApiCaller,
    loaded: &Loaded,
    row: &OverrideRow,
) -> AppResult<()> {
    let resource = schedule_resource(loaded);
    let own = caller.user_id() == Some(&row.user_id);
    if caller.allows(Action::ManageSchedule, &resource)
        || (own && caller.may_change_shift(&resource, true, false))
    {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "only the person an override puts on call, the schedule's team managers and admins remove it",
        ))
    }
}

/// Delete an override
///
/// One that has not started is deleted (204); one in progress ends now (200 with it); one
/// that has ended is kept (400).
#[utoipa::path(delete, path = "/api/v2/schedules/{id}/overrides/{override_id}", tag = "Schedules",
    params(("id" = String, Path), ("override_id" = String, Path)),
    responses((status = 204), (status = 200, body = OverrideObject), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn delete_override(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let (id, override_id) = path.into_inner();
    let (id, override_id) = (ScheduleId(id), OverrideId(override_id));
    let ctx = caller.audit();
    let caller = std::sync::Arc::new(caller);
    let asked = caller.clone();
    let (removed, schedule, people) = state
        .db
        .run(move |conn| {
            let removed = cases::delete_override(conn, &ctx, &id, &override_id, |loaded, row| {
                may_remove_override(&asked, loaded, row)
            })?;
            let people = match &removed {
                cases::Removed::Cut(o) => store::people(conn, std::slice::from_ref(&o.user_id))?,
                cases::Removed::Deleted => HashMap::new(),
            };
            Ok((removed, store::find(conn, &id)?, people))
        })
        .await?;
    match removed {
        cases::Removed::Deleted => Ok(HttpResponse::NoContent().finish()),
        cases::Removed::Cut(o) => Ok(HttpResponse::Ok().json(serde_json::json!({
            "override": override_object(&Links(&state.public_url), &people, schedule.time_zone.tz(), &o)
        }))),
    }
}
