//! Stakeholder communication in PagerDuty's shapes: an incident's status updates
//! (`/incidents/{id}/status_updates`), its subscribers (`…/status_updates/subscribers`,
//! `…/status_updates/unsubscribe`), the same subscriber endpoints on services and teams (Rota's
//! equivalent of PagerDuty's business-service and team subscriptions), and the current
//! summary (`/incidents/{id}/summary`).

use super::incidents::{acting, may_read};
use super::{ApiCaller, ApiResult, Links, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{IncidentId, ServiceId, TeamId, UserId};
use crate::domain::subscription::Target;
use crate::domain::summary::Summary;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::status_updates::{StatusUpdate, Subscription};
use crate::use_cases::{status_updates as cases, summary};
use actix_web::http::header::{AcceptLanguage, Header, Preference};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/incidents/{id}/status_updates")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/incidents/{id}/summary").route(web::get().to(show_summary)));
    for kind in ["incidents", "services", "teams"] {
        cfg.service(
            resource(&format!("/{kind}/{{id}}/status_updates/subscribers"))
                .route(web::get().to(subscribers))
                .route(web::post().to(subscribe)),
        )
        .service(
            resource(&format!("/{kind}/{{id}}/status_updates/unsubscribe"))
                .route(web::post().to(unsubscribe)),
        );
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusUpdateRequest {
    /// What is going on, in plain text (e-mailed to every subscriber).
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusUpdateObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "status_update")]
    pub kind: &'static str,
    pub message: String,
    pub sender: Option<Reference>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusUpdateResponse {
    pub status_update: StatusUpdateObject,
    /// Rota's: how many subscribers it was e-mailed to.
    pub subscribers_notified: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusUpdateList {
    pub status_updates: Vec<StatusUpdateObject>,
}

fn render_update(base: &str, u: &StatusUpdate) -> StatusUpdateObject {
    StatusUpdateObject {
        id: u.id.clone(),
        kind: "status_update",
        message: u.message.clone(),
        sender: u
            .author_id
            .as_ref()
            .map(|a| Links(base).reference("users", "user_reference", a.as_str(), &u.author_name)),
        created_at: u.created_at.and_utc(),
    }
}

/// List an incident's status updates
#[utoipa::path(get, path = "/api/v2/incidents/{id}/status_updates", tag = "Incidents", params(("id" = String, Path)),
    responses((status = 200, body = StatusUpdateList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let id = IncidentId(id.into_inner());
    let found = state.db.run(move |conn| cases::list(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(StatusUpdateList {
        status_updates: found
            .iter()
            .map(|u| render_update(&state.public_url, u))
            .collect(),
    }))
}

/// Post a status update
///
/// E-mailed to everyone subscribed to the incident, its service or its teams, in their
/// language. Needs a full user (a service token names them in `From`).
#[utoipa::path(post, path = "/api/v2/incidents/{id}/status_updates", tag = "Incidents", params(("id" = String, Path), ("From" = Option<String>, Header, description = "The acting user's e-mail (service tokens)")), request_body = StatusUpdateRequest,
    responses((status = 201, body = StatusUpdateResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<StatusUpdateRequest>,
) -> ApiResult<HttpResponse> {
    let message = body.into_inner().message.unwrap_or_default();
    let (agent, user) = acting(&state, &caller, &req, "post status updates").await?;
    let id = IncidentId(id.into_inner());
    let at = caller.at;
    let base = state.public_url.clone();
    let posted = state
        .db
        .run(move |conn| cases::post(conn, &base, &agent, user.as_ref(), at, &id, &message))
        .await?;
    state.email_delivery.poke_if(posted.emails);
    Ok(HttpResponse::Created().json(StatusUpdateResponse {
        status_update: render_update(&state.public_url, &posted.update),
        subscribers_notified: posted.emails,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriberRequest {
    pub subscribers: Vec<SubscriberRef>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriberRef {
    /// A user's id (or `me`).
    pub subscriber_id: String,
    #[schema(example = "user")]
    pub subscriber_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResult {
    pub subscribable_id: String,
    #[schema(example = "incident")]
    pub subscribable_type: &'static str,
    pub subscriber_id: String,
    #[schema(example = "user")]
    pub subscriber_type: &'static str,
    /// `success`, or `duplicate` when they were subscribed already.
    pub result: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscribeResponse {
    pub subscriptions: Vec<SubscriptionResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberObject {
    pub subscriber_id: String,
    #[schema(example = "user")]
    pub subscriber_type: &'static str,
    pub subscribed_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriberList {
    pub subscribers: Vec<SubscriberObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnsubscribeResponse {
    pub deleted_count: usize,
    pub non_existent_count: usize,
    /// PagerDuty counts people the caller may not unsubscribe here; Rota refuses the whole
    /// request instead (403), so this is always 0. Kept for clients that read it.
    pub unauthorized_count: usize,
}

/// What the path names: `/incidents|services|teams/{id}/…`.
fn target_of(req: &HttpRequest, id: String) -> Target {
    let path = req.match_pattern().unwrap_or_default();
    if path.contains("/services/") {
        Target::Service(ServiceId(id))
    } else if path.contains("/teams/") {
        Target::Team(TeamId(id))
    } else {
        Target::Incident(IncidentId(id))
    }
}

/// The people a subscribe or unsubscribe names, and the right it needs: oneself needs
/// `Subscribe` (a stakeholder seat is enough), anyone else `SubscribeOthers`.
fn people(caller: &ApiCaller, body: SubscriberRequest, doing: &str) -> AppResult<Vec<UserId>> {
    if body.subscribers.is_empty() {
        return Err(AppError::invalid("subscribers", "can't be empty"));
    }
    if body.subscribers.len() > 100 {
        return Err(AppError::invalid(
            "subscribers",
            "takes at most 100 at a time",
        ));
    }
    let mut out = Vec::with_capacity(body.subscribers.len());
    for (i, s) in body.subscribers.into_iter().enumerate() {
        if s.subscriber_type != "user" {
            return Err(AppError::invalid(
                format!("subscribers[{i}].subscriber_type"),
                format!(
                    "'{}' is not a subscriber type Rota has: use 'user'",
                    s.subscriber_type
                ),
            ));
        }
        let id = match (s.subscriber_id.trim(), caller.user_id()) {
            ("me", Some(me)) => me.clone(),
            ("me", None) => {
                return Err(AppError::invalid(
                    format!("subscribers[{i}].subscriber_id"),
                    "'me' needs a personal token or a signed-in user",
                ));
            }
            ("", _) => {
                return Err(AppError::invalid(
                    format!("subscribers[{i}].subscriber_id"),
                    "can't be blank",
                ));
            }
            (id, _) => UserId(id.to_owned()),
        };
        out.push(id);
    }
    let only_self = out.iter().all(|p| Some(p) == caller.user_id());
    let action = if only_self {
        Action::Subscribe
    } else {
        Action::SubscribeOthers
    };
    caller.may(action, &Resource::Account, doing)?;
    Ok(out)
}

fn render_subscriber(s: &Subscription) -> SubscriberObject {
    SubscriberObject {
        subscriber_id: s.user_id.to_string(),
        subscriber_type: "user",
        subscribed_at: s.created_at.and_utc(),
    }
}

/// List the subscribers of an incident, a service or a team
#[utoipa::path(get, path = "/api/v2/incidents/{id}/status_updates/subscribers", tag = "Incidents", params(("id" = String, Path, description = "Also /services/{id}/… and /teams/{id}/…")),
    responses((status = 200, body = SubscriberList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn subscribers(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let target = target_of(&req, id.into_inner());
    let found = state
        .db
        .run(move |conn| cases::subscribers(conn, &target))
        .await?;
    Ok(HttpResponse::Ok().json(SubscriberList {
        subscribers: found.iter().map(render_subscriber).collect(),
    }))
}

/// Subscribe people to the status updates of an incident, a service or a team
///
/// Anyone may subscribe themselves (a stakeholder seat is enough); responders, admins and
/// owners subscribe others.
#[utoipa::path(post, path = "/api/v2/incidents/{id}/status_updates/subscribers", tag = "Incidents", params(("id" = String, Path, description = "Also /services/{id}/… and /teams/{id}/…")), request_body = SubscriberRequest,
    responses((status = 200, body = SubscribeResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn subscribe(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<SubscriberRequest>,
) -> ApiResult<HttpResponse> {
    let target = target_of(&req, id.into_inner());
    let asked = people(&caller, body.into_inner(), "subscribe people")?;
    let at = caller.at;
    let (kind, target_id) = (target.kind(), target.id().to_owned());
    let added = {
        let asked = asked.clone();
        state
            .db
            .run(move |conn| cases::subscribe(conn, &target, &asked, at))
            .await?
    };
    let subscriptions = asked
        .iter()
        .map(|p| SubscriptionResult {
            subscribable_id: target_id.clone(),
            subscribable_type: kind,
            subscriber_id: p.to_string(),
            subscriber_type: "user",
            result: if added.contains(p) {
                "success"
            } else {
                "duplicate"
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(SubscribeResponse { subscriptions }))
}

/// Unsubscribe people from an incident, a service or a team
#[utoipa::path(post, path = "/api/v2/incidents/{id}/status_updates/unsubscribe", tag = "Incidents", params(("id" = String, Path, description = "Also /services/{id}/… and /teams/{id}/…")), request_body = SubscriberRequest,
    responses((status = 200, body = UnsubscribeResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<SubscriberRequest>,
) -> ApiResult<HttpResponse> {
    let target = target_of(&req, id.into_inner());
    let asked = people(&caller, body.into_inner(), "unsubscribe people")?;
    let n = asked.len();
    let ended = state
        .db
        .run(move |conn| cases::unsubscribe(conn, &target, &asked))
        .await?;
    Ok(HttpResponse::Ok().json(UnsubscribeResponse {
        deleted_count: ended.len(),
        non_existent_count: n - ended.len(),
        unauthorized_count: 0,
    }))
}

/// The language `Accept-Language` asks for, else English.
pub fn browser_language(req: &HttpRequest) -> &'static str {
    let Ok(accept) = AcceptLanguage::parse(req) else {
        return "en";
    };
    for preference in accept.ranked() {
        match preference {
            Preference::Specific(tag) if tag.primary_language() == "ja" => return "ja",
            Preference::Specific(tag) if tag.primary_language() == "en" => return "en",
            _ => {}
        }
    }
    "en"
}

/// The language a request asks for: `?language=`, else `Accept-Language`, else English.
pub(super) fn asked_language(params: &Params, req: &HttpRequest) -> AppResult<&'static str> {
    match params.one("language") {
        None => Ok(browser_language(req)),
        Some(l) => named_language("language", l),
    }
}

/// The language `tag` names (`ja`, `en-GB`), one Rota writes; else refused naming `field`.
pub(super) fn named_language(field: &str, tag: &str) -> AppResult<&'static str> {
    match tag.split(['-', '_']).next().unwrap_or("") {
        "en" => Ok("en"),
        "ja" => Ok("ja"),
        _ => Err(AppError::invalid(
            field,
            format!("'{tag}' is not a language Rota writes: use en or ja"),
        )),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryResponse {
    pub summary: Summary,
    /// The headline and lines as one plain text.
    pub text: String,
}

/// What is going on: an incident's current summary
///
/// A few lines from the incident's own data (status, urgency, age, who is on it, the last
/// status update and notes, the escalation level, alerts grouped); no model, no network.
/// In English or Japanese (`language`, else `Accept-Language`).
#[utoipa::path(get, path = "/api/v2/incidents/{id}/summary", tag = "Incidents", params(("id" = String, Path), ("language" = Option<String>, Query, description = "en or ja")),
    responses((status = 200, body = SummaryResponse), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show_summary(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let lang = asked_language(&params, &req)?;
    let id = IncidentId(id.into_inner());
    let at = caller.at;
    let summary = state
        .db
        .run(move |conn| summary::current(conn, &id, lang, at))
        .await?;
    Ok(HttpResponse::Ok().json(SummaryResponse {
        text: summary.text(),
        summary,
    }))
}
