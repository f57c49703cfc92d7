//! `/api/v2/services` and their integrations, in PagerDuty's shape. An integration's routing
//! key is in the answer that makes it, and nowhere else.

use super::schedules::team_ids;
use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{EscalationPolicyId, IntegrationId, ServiceId, TeamId};
use crate::domain::schedule::input;
use crate::domain::service::{IntegrationKind, Urgency, UrgencyRule};
use crate::domain::user as rules;
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::services::{self as store, Integration, LoadedService};
use crate::store::{DbConnection, escalation, teams};
use crate::use_cases::services::{self as cases, Draft};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/services")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/services/{id}")
            .route(web::get().to(show))
            .route(web::put().to(update))
            .route(web::delete().to(remove)),
    )
    .service(resource("/services/{id}/integrations").route(web::post().to(create_integration)))
    .service(
        resource("/services/{id}/integrations/{integration_id}")
            .route(web::get().to(show_integration))
            .route(web::delete().to(remove_integration)),
    );
}

/// `incident_urgency_rule`: `{"type": "constant", "urgency": "high" | "low" |
/// "severity_based"}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct UrgencyRuleObject {
    #[serde(rename = "type")]
    #[schema(example = "constant")]
    pub kind: String,
    #[schema(example = "severity_based")]
    pub urgency: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceFields {
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub escalation_policy: Option<input::Reference>,
    pub incident_urgency_rule: Option<UrgencyRuleObject>,
    #[serde(default)]
    pub teams: Vec<input::Reference>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceRequest {
    pub service: ServiceFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "service")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub description: Option<String>,
    /// Always `active` (maintenance and disabling come later).
    #[schema(example = "active")]
    pub status: &'static str,
    pub escalation_policy: Reference,
    pub teams: Vec<Reference>,
    pub incident_urgency_rule: UrgencyRuleObject,
    pub integrations: Vec<Reference>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceResponse {
    pub service: ServiceObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<ServiceObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IntegrationFields {
    /// `events_api_v2_inbound_integration`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct IntegrationRequest {
    pub integration: IntegrationFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationObject {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: IntegrationKind,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub service: Reference,
    /// The routing key: only in the answer that makes the integration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_key: Option<String>,
    /// The key's last four characters, to tell keys apart.
    pub integration_key_hint: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationResponse {
    pub integration: IntegrationObject,
}

fn urgency_rule(sent: Option<&UrgencyRuleObject>) -> AppResult<UrgencyRule> {
    let Some(sent) = sent else {
        return Ok(UrgencyRule::Constant(Urgency::High));
    };
    if sent.kind != "constant" {
        return Err(AppError::invalid(
            "incident_urgency_rule.type",
            format!("is '{}': constant", sent.kind),
        ));
    }
    let urgency = sent.urgency.as_deref().unwrap_or("");
    UrgencyRule::parse(urgency).ok_or_else(|| {
        AppError::invalid(
            "incident_urgency_rule.urgency",
            format!("is '{urgency}': high, low or severity_based"),
        )
    })
}

fn draft(fields: ServiceFields) -> AppResult<Draft> {
    if let Some(kind) = fields.kind.as_deref()
        && kind != "service"
    {
        return Err(AppError::invalid("type", format!("is '{kind}': service")));
    }
    let name = rules::display_name(fields.name.as_deref().unwrap_or("")).invalid_field("name")?;
    let description =
        rules::optional_text(fields.description.as_deref(), 1000).invalid_field("description")?;
    let policy = fields
        .escalation_policy
        .ok_or_else(|| AppError::invalid("escalation_policy", "can't be blank"))?;
    if let Some(kind) = policy.kind.as_deref()
        && kind != "escalation_policy_reference"
        && kind != "escalation_policy"
    {
        return Err(AppError::invalid(
            "escalation_policy.type",
            format!("is '{kind}': escalation_policy_reference"),
        ));
    }
    Ok(Draft {
        name,
        description,
        escalation_policy: EscalationPolicyId(policy.id),
        urgency_rule: urgency_rule(fields.incident_urgency_rule.as_ref())?,
        teams: team_ids(&fields.teams)?,
    })
}

/// Names of what services point at, for their references.
#[derive(Default)]
struct Names {
    policies: HashMap<EscalationPolicyId, String>,
    teams: HashMap<TeamId, String>,
}

fn names(conn: &mut DbConnection, services: &[LoadedService]) -> AppResult<Names> {
    let mut policies: Vec<_> = services
        .iter()
        .map(|s| s.service.escalation_policy_id.clone())
        .collect();
    policies.sort();
    policies.dedup();
    let mut team_ids: Vec<_> = services.iter().flat_map(|s| s.teams.clone()).collect();
    team_ids.sort();
    team_ids.dedup();
    Ok(Names {
        policies: escalation::names(conn, &policies)?,
        teams: teams::find_many(conn, &team_ids)?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect(),
    })
}

fn integrations_of(service: &ServiceId) -> String {
    format!("services/{service}/integrations")
}

fn render_integration(
    base: &str,
    i: &Integration,
    service_name: &str,
    key: Option<String>,
) -> IntegrationObject {
    let links = Links(base);
    let collection = integrations_of(&i.service_id);
    IntegrationObject {
        id: i.id.to_string(),
        kind: i.kind,
        summary: i.name.clone(),
        self_url: links.api(&collection, i.id.as_str()),
        html_url: links.html(&collection, i.id.as_str()),
        name: i.name.clone(),
        service: links.reference(
            "services",
            "service_reference",
            i.service_id.as_str(),
            service_name,
        ),
        integration_key: key,
        integration_key_hint: i.key_hint.clone(),
        created_at: i.created_at.and_utc(),
    }
}

fn render(base: &str, s: &LoadedService, names: &Names) -> ServiceObject {
    let links = Links(base);
    let id = s.service.id.as_str();
    let policy = &s.service.escalation_policy_id;
    ServiceObject {
        self_url: links.api("services", id),
        html_url: links.html("services", id),
        id: id.to_owned(),
        kind: "service",
        summary: s.service.name.clone(),
        name: s.service.name.clone(),
        description: s.service.description.clone(),
        status: "active",
        escalation_policy: links.reference(
            "escalation_policies",
            "escalation_policy_reference",
            policy.as_str(),
            names
                .policies
                .get(policy)
                .map_or(policy.as_str(), String::as_str),
        ),
        teams: s
            .teams
            .iter()
            .map(|t| {
                links.reference(
                    "teams",
                    "team_reference",
                    t.as_str(),
                    names.teams.get(t).map_or(t.as_str(), String::as_str),
                )
            })
            .collect(),
        incident_urgency_rule: UrgencyRuleObject {
            kind: "constant".into(),
            urgency: Some(s.service.urgency_rule.as_str().into()),
        },
        integrations: s
            .integrations
            .iter()
            .map(|i| {
                links.reference(
                    &integrations_of(&s.service.id),
                    "events_api_v2_inbound_integration_reference",
                    i.id.as_str(),
                    &i.name,
                )
            })
            .collect(),
        created_at: s.service.created_at.and_utc(),
        updated_at: s.service.updated_at.and_utc(),
    }
}

pub(crate) fn service_resource(s: &LoadedService) -> Resource {
    Resource::Service {
        id: Some(s.service.id.to_string()),
        teams: s.teams.clone(),
    }
}

pub(crate) fn may_change(caller: &ApiCaller, s: &LoadedService, doing: &str) -> AppResult<()> {
    caller.may(Action::ManageService, &service_resource(s), doing)
}

fn may_manage(
    caller: &ApiCaller,
    before: Option<&LoadedService>,
    teams: &[TeamId],
) -> AppResult<()> {
    let after = Resource::Service {
        id: before.map(|b| b.service.id.to_string()),
        teams: teams.to_vec(),
    };
    let before = before.map(service_resource);
    caller.may_move(Action::ManageService, before.as_ref(), &after, "service")
}

fn may_read(caller: &ApiCaller) -> AppResult<()> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read services")
}

/// Loads one service and the names its references show.
fn load_named(conn: &mut DbConnection, id: &ServiceId) -> AppResult<(LoadedService, Names)> {
    let s = store::load(conn, id)?;
    let names = names(conn, std::slice::from_ref(&s))?;
    Ok((s, names))
}

/// List services
#[utoipa::path(get, path = "/api/v2/services", tag = "Services",
    params(("query" = Option<String>, Query, description = "Part of the service name"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = ServiceList), (status = 401, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let page = params.page()?;
    let text = params.one("query").map(str::to_owned);
    let (found, names) = state
        .db
        .run(move |conn| {
            let found = store::list(conn, text.as_deref(), &page)?;
            let names = names(conn, &found.rows)?;
            Ok((found, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ServiceList {
        services: found
            .rows
            .iter()
            .map(|s| render(&state.public_url, s, &names))
            .collect(),
        pagination: Pagination::of(&page, &found),
    }))
}

/// Create a service
#[utoipa::path(post, path = "/api/v2/services", tag = "Services", request_body = ServiceRequest,
    responses((status = 201, body = ServiceResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<ServiceRequest>,
) -> ApiResult<HttpResponse> {
    let draft = draft(body.into_inner().service)?;
    may_manage(&caller, None, &draft.teams)?;
    let ctx = caller.audit();
    let (s, names) = state
        .db
        .run(move |conn| {
            let s = cases::create(conn, &ctx, draft)?;
            let names = names(conn, std::slice::from_ref(&s))?;
            Ok((s, names))
        })
        .await?;
    let service = render(&state.public_url, &s, &names);
    Ok(HttpResponse::Created()
        .insert_header(("Location", service.self_url.clone()))
        .json(ServiceResponse { service }))
}

/// Get a service
#[utoipa::path(get, path = "/api/v2/services/{id}", tag = "Services", params(("id" = String, Path)),
    responses((status = 200, body = ServiceResponse), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let id = ServiceId(id.into_inner());
    let (s, names) = state.db.run(move |conn| load_named(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(ServiceResponse {
        service: render(&state.public_url, &s, &names),
    }))
}

/// Update a service
#[utoipa::path(put, path = "/api/v2/services/{id}", tag = "Services", params(("id" = String, Path)), request_body = ServiceRequest,
    responses((status = 200, body = ServiceResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<ServiceRequest>,
) -> ApiResult<HttpResponse> {
    let id = ServiceId(id.into_inner());
    may_read(&caller)?;
    let draft = draft(body.into_inner().service)?;
    let teams = draft.teams.clone();
    let ctx = caller.audit();
    let (s, names) = state
        .db
        .run(move |conn| {
            let s = cases::update(conn, &ctx, &id, draft, |before| {
                may_manage(&caller, Some(before), &teams)
            })?;
            let names = names(conn, std::slice::from_ref(&s))?;
            Ok((s, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(ServiceResponse {
        service: render(&state.public_url, &s, &names),
    }))
}

/// Delete a service
///
/// Its integrations go with it: their routing keys stop working.
#[utoipa::path(delete, path = "/api/v2/services/{id}", tag = "Services", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = ServiceId(id.into_inner());
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| {
            cases::delete(conn, &ctx, &id, |before| {
                may_change(&caller, before, "delete this service")
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Create an integration
///
/// The answer holds `integration_key`, the routing key events are sent with. It is shown
/// this once: keep it.
#[utoipa::path(post, path = "/api/v2/services/{id}/integrations", tag = "Services", params(("id" = String, Path)), request_body = IntegrationRequest,
    responses((status = 201, body = IntegrationResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create_integration(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<IntegrationRequest>,
) -> ApiResult<HttpResponse> {
    let id = ServiceId(id.into_inner());
    may_read(&caller)?;
    let fields = body.into_inner().integration;
    let sent = fields.kind.as_deref().unwrap_or("");
    let kind = IntegrationKind::parse(sent).ok_or_else(|| {
        AppError::invalid(
            "integration.type",
            format!("is '{sent}': events_api_v2_inbound_integration"),
        )
    })?;
    let name = match fields.name.as_deref() {
        None => "Events API V2".to_owned(),
        Some(n) => rules::display_name(n).invalid_field("integration.name")?,
    };
    let ctx = caller.audit();
    let (integration, key, service_name) = state
        .db
        .run(move |conn| {
            let mut service_name = String::new();
            let (i, key) = cases::add_integration(conn, &ctx, &id, kind, name, |s| {
                service_name = s.service.name.clone();
                may_change(&caller, s, "add integrations to this service")
            })?;
            Ok((i, key, service_name))
        })
        .await?;
    let integration = render_integration(&state.public_url, &integration, &service_name, Some(key));
    Ok(HttpResponse::Created()
        .insert_header(("Location", integration.self_url.clone()))
        .json(IntegrationResponse { integration }))
}

/// Get an integration
///
/// Without its key: `integration_key_hint` tells keys apart.
#[utoipa::path(get, path = "/api/v2/services/{id}/integrations/{integration_id}", tag = "Services",
    params(("id" = String, Path), ("integration_id" = String, Path)),
    responses((status = 200, body = IntegrationResponse), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show_integration(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let (id, integration) = path.into_inner();
    let (id, integration) = (ServiceId(id), IntegrationId(integration));
    let (service, integration) = state
        .db
        .run(move |conn| {
            let service = store::find(conn, &id)?;
            let integration = store::find_integration(conn, &id, &integration)?;
            Ok((service, integration))
        })
        .await?;
    Ok(HttpResponse::Ok().json(IntegrationResponse {
        integration: render_integration(&state.public_url, &integration, &service.name, None),
    }))
}

/// Delete an integration
///
/// Revokes its routing key.
#[utoipa::path(delete, path = "/api/v2/services/{id}/integrations/{integration_id}", tag = "Services",
    params(("id" = String, Path), ("integration_id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove_integration(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, integration) = path.into_inner();
    let (id, integration) = (ServiceId(id), IntegrationId(integration));
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| {
            cases::delete_integration(conn, &ctx, &id, &integration, |s| {
                may_change(&caller, s, "remove integrations of this service")
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
