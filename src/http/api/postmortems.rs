//! Postmortems over REST: an incident's postmortem (`/incidents/{id}/postmortem`: drafted by
//! `POST`, read as JSON or Markdown, edited by `PUT`), the draft it would get now
//! (`…/postmortem/draft`, not stored), the action items across incidents
//! (`/postmortem_action_items`) and a team's postmortems (`/teams/{id}/postmortems`).
//!
//! Bodies are read here field by field (`serde_path_to_error`), so a bad value is refused
//! naming its path (`postmortem.action_items[0].due`), not a line and column.

use super::incidents::{acting, may_read};
use super::status_updates::{asked_language, named_language};
use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, body_bytes, resource};
use crate::domain::ids::{IncidentId, TeamId, UserId};
use crate::domain::postmortem::{self, ActionStatus, Postmortem, Status};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::postmortems::{ItemFilter, ItemRow, Listed, Stored};
use crate::use_cases::postmortems as cases;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/incidents/{id}/postmortem")
            .route(web::get().to(show))
            .route(web::post().to(create))
            .route(web::put().to(update)),
    )
    .service(resource("/incidents/{id}/postmortem/draft").route(web::get().to(draft)))
    .service(resource("/postmortem_action_items").route(web::get().to(action_items)))
    .service(resource("/teams/{id}/postmortems").route(web::get().to(of_team)));
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemCreateRequest {
    /// `en` or `ja`; else the author's locale.
    pub language: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostmortemEdit {
    /// The whole document. What `GET` adds to it (`incident_id`, `version`, `created_at`,
    /// `updated_at`, `prompts`) may be sent back and is ignored, but for `version`.
    pub postmortem: Postmortem,
    /// The version the edit was made from; a postmortem changed since is refused (400).
    /// Without it, the `version` inside `postmortem` counts; without either, the edit wins.
    pub version: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostmortemObject {
    #[serde(flatten)]
    pub document: Postmortem,
    pub incident_id: String,
    /// Absent from a draft that is not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The question shown for each section still empty, by its field name (`root_causes`,
    /// `went_well`…), in the reader's language.
    pub prompts: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostmortemResponse {
    pub postmortem: PostmortemObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionItemObject {
    /// The action item's id in its postmortem.
    pub id: String,
    pub description: String,
    pub owner: Option<String>,
    pub due: Option<NaiveDate>,
    pub status: ActionStatus,
    pub incident: Reference,
    /// Its postmortem.
    pub postmortem: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionItemList {
    pub action_items: Vec<ActionItemObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostmortemSummary {
    pub title: String,
    pub status: Status,
    pub date: NaiveDate,
    pub incident: Reference,
    #[serde(rename = "self")]
    pub self_url: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostmortemList {
    pub postmortems: Vec<PostmortemSummary>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

/// `value` read as a `T`; a refusal names the path of the value that is wrong.
fn read<T: DeserializeOwned>(value: Value) -> AppResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "request body".to_owned()
        } else {
            path
        };
        AppError::invalid(field, format!("is not what it takes: {}", e.into_inner()))
    })
}

/// The body as JSON (`None` when empty).
async fn json_body(payload: web::Payload) -> AppResult<Option<Value>> {
    let bytes = body_bytes(payload).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| AppError::invalid("request body", format!("is not JSON: {e}")))
}

/// An edit: the fields `GET` adds dropped from the document (its `version` kept as the
/// expected one), then read field by field.
fn edit(mut body: Value) -> AppResult<(Postmortem, Option<i64>)> {
    let mut inner_version = None;
    if let Some(doc) = body.get_mut("postmortem").and_then(Value::as_object_mut) {
        inner_version = doc.remove("version");
        for shown in ["incident_id", "created_at", "updated_at", "prompts"] {
            doc.remove(shown);
        }
    }
    let request: PostmortemEdit = read(body)?;
    let inner: Option<i64> = match inner_version {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            read(v)
                .map_err(|_| AppError::invalid("postmortem.version", "must be a whole number"))?,
        ),
    };
    Ok((request.postmortem, request.version.or(inner)))
}

/// The prompts of the sections of `p` nobody has written yet.
fn open_prompts(p: &Postmortem, lang: &str) -> BTreeMap<&'static str, String> {
    let all = postmortem::prompts(lang);
    let l = &p.lessons;
    [
        ("summary", p.summary.is_none(), all.summary),
        ("impact", p.impact.is_none(), all.impact),
        ("root_causes", p.root_causes.is_none(), all.root_causes),
        ("trigger", p.trigger.is_none(), all.trigger),
        ("resolution", p.resolution.is_none(), all.resolution),
        ("detection", p.detection.is_none(), all.detection),
        ("action_items", p.action_items.is_empty(), all.action_items),
        ("went_well", l.went_well.is_none(), all.went_well),
        ("went_wrong", l.went_wrong.is_none(), all.went_wrong),
        ("got_lucky", l.got_lucky.is_none(), all.got_lucky),
    ]
    .into_iter()
    .filter(|(_, empty, _)| *empty)
    .map(|(field, _, prompt)| (field, prompt))
    .collect()
}

/// Whether the request asks for Markdown (`Accept: text/markdown`).
fn wants_markdown(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/markdown"))
        })
}

/// A document as the request asks: Markdown, or JSON with the prompts of its empty sections.
fn render(
    req: &HttpRequest,
    lang: &str,
    status: actix_web::http::StatusCode,
    incident: &IncidentId,
    document: Postmortem,
    stored: Option<&Stored>,
) -> HttpResponse {
    if wants_markdown(req) {
        return HttpResponse::build(status)
            .content_type("text/markdown; charset=utf-8")
            .body(postmortem::to_markdown(&document, lang));
    }
    HttpResponse::build(status).json(PostmortemResponse {
        postmortem: PostmortemObject {
            prompts: open_prompts(&document, lang),
            document,
            incident_id: incident.to_string(),
            version: stored.map(|s| s.version),
            created_at: stored.map(|s| s.created_at.and_utc()),
            updated_at: stored.map(|s| s.updated_at.and_utc()),
        },
    })
}

fn render_stored(
    req: &HttpRequest,
    lang: &str,
    status: actix_web::http::StatusCode,
    row: Stored,
) -> HttpResponse {
    render(
        req,
        lang,
        status,
        &row.incident_id,
        row.document.0.clone(),
        Some(&row),
    )
}

/// Draft an incident's postmortem
///
/// Made from the incident's timeline, alerts, notifications and notes, in the shape of the
/// SRE book's example postmortem; what needs judgement (root causes, lessons, action items)
/// is left empty with a prompt. In `language` (en or ja), else the author's locale. An
/// incident has one postmortem: a second `POST` is refused. Needs a full user (a service
/// token names them in `From`).
#[utoipa::path(post, path = "/api/v2/incidents/{id}/postmortem", tag = "Incidents", params(("id" = String, Path), ("From" = Option<String>, Header, description = "The acting user's e-mail (service tokens)")), request_body(content = Option<PostmortemCreateRequest>),
    responses((status = 201, body = PostmortemResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body: PostmortemCreateRequest = json_body(payload)
        .await?
        .map(read)
        .transpose()?
        .unwrap_or_default();
    let lang = body
        .language
        .as_deref()
        .map(|l| named_language("language", l))
        .transpose()?;
    let (_, user) = acting(&state, &caller, &req, "write postmortems").await?;
    let user = user.ok_or_else(|| AppError::forbidden("a postmortem is written by a person"))?;
    let id = IncidentId(id.into_inner());
    let at = caller.at;
    let (row, shown) = state
        .db
        .run(move |conn| cases::create(conn, &id, &user, lang, at))
        .await?;
    Ok(render_stored(
        &req,
        shown,
        actix_web::http::StatusCode::CREATED,
        row,
    ))
}

/// Read an incident's postmortem
///
/// JSON, or Markdown with `Accept: text/markdown` (the prompts in `language`, else
/// `Accept-Language`). An incident without one answers 404 saying so: a draft can be made by
/// `POST` (for any incident, however small), and `GET …/postmortem/draft` shows it first.
#[utoipa::path(get, path = "/api/v2/incidents/{id}/postmortem", tag = "Incidents", params(("id" = String, Path), ("language" = Option<String>, Query, description = "en or ja")),
    responses((status = 200, description = "JSON, or Markdown with `Accept: text/markdown`", content((PostmortemResponse = "application/json"), (String = "text/markdown"))), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let lang = asked_language(&params, &req)?;
    let id = IncidentId(id.into_inner());
    let row = state.db.run(move |conn| cases::get(conn, &id)).await?;
    Ok(render_stored(
        &req,
        lang,
        actix_web::http::StatusCode::OK,
        row,
    ))
}

/// Preview the draft postmortem of an incident
///
/// The draft `POST` would store now, for any incident (resolved or not), in the caller's name;
/// nothing is stored. A separate resource rather than a flag on `GET …/postmortem`, so that
/// one is always the stored document. JSON, or Markdown with `Accept: text/markdown`; in
/// `language`, else the caller's locale. Needs a person (a personal token or a session).
#[utoipa::path(get, path = "/api/v2/incidents/{id}/postmortem/draft", tag = "Incidents", params(("id" = String, Path), ("language" = Option<String>, Query, description = "en or ja")),
    responses((status = 200, description = "JSON, or Markdown with `Accept: text/markdown`", content((PostmortemResponse = "application/json"), (String = "text/markdown"))), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn draft(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let lang = params
        .one("language")
        .map(|l| named_language("language", l))
        .transpose()?;
    let user: UserId = caller.user_id().cloned().ok_or_else(|| {
        AppError::forbidden("a draft is written in a person's name: use a personal token")
    })?;
    let id = IncidentId(id.into_inner());
    let shown_id = id.clone();
    let (document, shown) = state
        .db
        .run(move |conn| cases::preview(conn, &id, &user, lang))
        .await?;
    Ok(render(
        &req,
        shown,
        actix_web::http::StatusCode::OK,
        &shown_id,
        document,
        None,
    ))
}

/// Edit an incident's postmortem
///
/// The whole document is sent back (what `GET` returned may be sent as it was); it is
/// checked field by field, and its action items become what the list across incidents shows.
/// With a `version`, an edit of a postmortem changed since is refused.
#[utoipa::path(put, path = "/api/v2/incidents/{id}/postmortem", tag = "Incidents", params(("id" = String, Path), ("language" = Option<String>, Query, description = "en or ja: the prompts' language")), request_body = PostmortemEdit,
    responses((status = 200, body = PostmortemResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    params: Params,
    id: web::Path<String>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let lang = asked_language(&params, &req)?;
    acting(&state, &caller, &req, "edit postmortems").await?;
    let body = json_body(payload)
        .await?
        .ok_or_else(|| AppError::invalid("postmortem", "is required"))?;
    let (document, version) = edit(body)?;
    let id = IncidentId(id.into_inner());
    let at = caller.at;
    let row = state
        .db
        .run(move |conn| cases::update(conn, &id, document, version, at))
        .await?;
    Ok(render_stored(
        &req,
        lang,
        actix_web::http::StatusCode::OK,
        row,
    ))
}

fn item_statuses(params: &Params) -> AppResult<Vec<ActionStatus>> {
    let asked = params.all("statuses");
    if asked.is_empty() {
        return Ok(vec![ActionStatus::Open]);
    }
    asked
        .iter()
        .map(|s| {
            ActionStatus::parse(s)
                .ok_or_else(|| AppError::invalid("statuses", format!("'{s}' is not open or done")))
        })
        .collect()
}

/// A listed row's incident, as a reference, and the URL of its postmortem.
fn incident_of<T>(base: &str, id: &IncidentId, listed: &Listed<T>) -> (Reference, String) {
    let links = Links(base);
    (
        links.reference(
            "incidents",
            "incident_reference",
            id.as_str(),
            &format!("#{} {}", listed.incident_number, listed.incident_title),
        ),
        format!("{}/postmortem", links.api("incidents", id.as_str())),
    )
}

fn render_item(base: &str, listed: &Listed<ItemRow>) -> ActionItemObject {
    let item = &listed.row;
    let (incident, postmortem) = incident_of(base, &item.incident_id, listed);
    ActionItemObject {
        id: item.item_id.clone(),
        description: item.description.clone(),
        owner: item.owner_id.as_ref().map(UserId::to_string),
        due: item.due,
        status: item.status,
        incident,
        postmortem,
    }
}

/// List postmortem action items across incidents
///
/// The open ones by default (`statuses[]=done` for the others), soonest due first (those with
/// no due date last). `owner_ids[]` (or `me`) narrows to their owners, `due_before` (a date)
/// to the overdue.
#[utoipa::path(get, path = "/api/v2/postmortem_action_items", tag = "Incidents",
    params(("statuses[]" = Option<Vec<String>>, Query, description = "open (default) or done"), ("owner_ids[]" = Option<Vec<String>>, Query), ("due_before" = Option<NaiveDate>, Query), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = ActionItemList), (status = 400, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn action_items(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let page = params.page()?;
    let owners = params
        .all("owner_ids")
        .into_iter()
        .map(|o| match (o.as_str(), caller.user_id()) {
            ("me", Some(me)) => Ok(me.clone()),
            ("me", None) => Err(AppError::invalid(
                "owner_ids",
                "'me' needs a personal token or a signed-in user",
            )),
            _ => Ok(UserId(o)),
        })
        .collect::<AppResult<Vec<_>>>()?;
    let due_before = params
        .one("due_before")
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                AppError::invalid("due_before", format!("'{d}' is not a date (YYYY-MM-DD)"))
            })
        })
        .transpose()?;
    let filter = ItemFilter {
        statuses: item_statuses(&params)?,
        owners,
        due_before,
    };
    let found = state
        .db
        .run(move |conn| cases::action_items(conn, &filter, &page))
        .await?;
    Ok(HttpResponse::Ok().json(ActionItemList {
        action_items: found
            .rows
            .iter()
            .map(|i| render_item(&state.public_url, i))
            .collect(),
        pagination: Pagination::of(&page, &found),
    }))
}

fn render_summary(base: &str, listed: &Listed<Stored>) -> PostmortemSummary {
    let p = &listed.row;
    let (incident, self_url) = incident_of(base, &p.incident_id, listed);
    PostmortemSummary {
        title: p.document.title.clone(),
        status: p.status,
        date: p.document.date,
        incident,
        self_url,
        version: p.version,
        created_at: p.created_at.and_utc(),
        updated_at: p.updated_at.and_utc(),
    }
}

/// List a team's postmortems
///
/// The postmortems of the incidents of the team's services, newest incident first.
#[utoipa::path(get, path = "/api/v2/teams/{id}/postmortems", tag = "Teams",
    params(("id" = String, Path), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = PostmortemList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn of_team(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let page = params.page()?;
    let team = TeamId(id.into_inner());
    let found = state
        .db
        .run(move |conn| cases::of_team(conn, &team, &page))
        .await?;
    Ok(HttpResponse::Ok().json(PostmortemList {
        postmortems: found
            .rows
            .iter()
            .map(|p| render_summary(&state.public_url, p))
            .collect(),
        pagination: Pagination::of(&page, &found),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_get_adds_may_be_sent_back_and_its_version_counts() {
        let body = json!({"postmortem": {"incident_id": "x", "version": 3, "prompts": {},
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "title": "t", "date": "2026-01-01", "authors": [], "status": "draft",
            "summary": null, "impact": null, "root_causes": null, "trigger": null,
            "resolution": null, "detection": null, "action_items": [], "lessons": {},
            "timeline": [], "figures": {"time_to_acknowledge_seconds": null,
            "time_to_resolve_seconds": null, "alerts": 0, "events": 0, "responders": 0,
            "notifications": {"email": 0, "phone": 0, "webhook": 0, "chat": 0}}}});
        let (doc, version) = edit(body.clone()).unwrap();
        assert_eq!((doc.title.as_str(), version), ("t", Some(3)));
        let mut outer = body.clone();
        outer["version"] = json!(5);
        assert_eq!(edit(outer).unwrap().1, Some(5));
        let mut bad = body;
        bad["postmortem"]["action_items"] = json!([{"id": "A", "description": "d",
            "status": "open", "due": "2026-13-40"}]);
        let err = edit(bad).unwrap_err();
        assert!(
            err.message().starts_with("postmortem.action_items[0].due "),
            "{}",
            err.message()
        );
    }
}
