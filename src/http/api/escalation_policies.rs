//! `/api/v2/escalation_policies`: levels of people and schedules, in PagerDuty's shape.

use super::schedules::team_ids;
use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::escalation::{self, HandoffNotifications, RuleInput, Target};
use crate::domain::ids::{EscalationPolicyId, ScheduleId, ServiceId, TeamId, UserId};
use crate::domain::schedule::input;
use crate::domain::user as rules;
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::escalation::{self as store, LoadedPolicy};
use crate::store::{DbConnection, schedules, services, teams};
use crate::use_cases::escalation::{self as cases, Draft};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/escalation_policies")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/escalation_policies/{id}")
            .route(web::get().to(show))
            .route(web::put().to(update))
            .route(web::delete().to(remove)),
    );
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PolicyFields {
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub description: Option<String>,
    pub num_loops: Option<i64>,
    /// `if_has_services` (default) or `always`.
    pub on_call_handoff_notifications: Option<String>,
    #[serde(default)]
    pub escalation_rules: Vec<RuleInput>,
    #[serde(default)]
    pub teams: Vec<input::Reference>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PolicyRequest {
    pub escalation_policy: PolicyFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleObject {
    pub id: String,
    pub escalation_delay_in_minutes: u32,
    pub targets: Vec<Reference>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "escalation_policy")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub description: Option<String>,
    pub num_loops: i32,
    pub on_call_handoff_notifications: HandoffNotifications,
    pub escalation_rules: Vec<RuleObject>,
    /// The services using this policy.
    pub services: Vec<Reference>,
    pub teams: Vec<Reference>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyResponse {
    pub escalation_policy: PolicyObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    pub escalation_policies: Vec<PolicyObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

pub(crate) fn draft(fields: PolicyFields) -> AppResult<Draft> {
    if let Some(kind) = fields.kind.as_deref()
        && kind != "escalation_policy"
    {
        return Err(AppError::invalid(
            "type",
            format!("is '{kind}': escalation_policy"),
        ));
    }
    let name = rules::display_name(fields.name.as_deref().unwrap_or("")).invalid_field("name")?;
    let description =
        rules::optional_text(fields.description.as_deref(), 1000).invalid_field("description")?;
    let handoff = match fields.on_call_handoff_notifications.as_deref() {
        None => HandoffNotifications::IfHasServices,
        Some(v) => HandoffNotifications::parse(v).ok_or_else(|| {
            AppError::invalid(
                "on_call_handoff_notifications",
                format!("is '{v}': if_has_services or always"),
            )
        })?,
    };
    let policy = escalation::policy(&fields.escalation_rules, fields.num_loops)
        .map_err(|i| AppError::invalid(i.field, i.reason))?;
    let rules = escalation::Policy {
        num_loops: policy.num_loops,
        rules: policy
            .rules
            .into_iter()
            .map(|r| escalation::Rule {
                delay_minutes: r.delay_minutes,
                targets: r
                    .targets
                    .into_iter()
                    .map(|t| match t {
                        Target::User(u) => Target::User(UserId(u)),
                        Target::Schedule(s) => Target::Schedule(ScheduleId(s)),
                    })
                    .collect(),
            })
            .collect(),
    };
    Ok(Draft {
        name,
        description,
        handoff_notifications: handoff,
        teams: team_ids(&fields.teams)?,
        rules,
    })
}

/// Names of what policies point at, for their references.
#[derive(Default)]
pub(crate) struct Names {
    users: HashMap<UserId, String>,
    schedules: HashMap<ScheduleId, String>,
    teams: HashMap<TeamId, String>,
    services: HashMap<EscalationPolicyId, Vec<(ServiceId, String)>>,
}

pub(crate) fn names(conn: &mut DbConnection, policies: &[&LoadedPolicy]) -> AppResult<Names> {
    let mut users = Vec::new();
    let mut scheds = Vec::new();
    let mut team_ids = Vec::new();
    for p in policies {
        team_ids.extend(p.teams.iter().cloned());
        for t in p.rules.rules.iter().flat_map(|r| r.targets.iter()) {
            match t {
                Target::User(u) => users.push(u.clone()),
                Target::Schedule(s) => scheds.push(s.clone()),
            }
        }
    }
    let ids: Vec<EscalationPolicyId> = policies.iter().map(|p| p.policy.id.clone()).collect();
    let mut out = Names {
        services: services::using_policies(conn, &ids)?,
        users: schedules::people(conn, &users)?
            .into_iter()
            .map(|(id, p)| (id, p.name))
            .collect(),
        ..Names::default()
    };
    for s in schedules::load_many(conn, Some(&scheds))?
        .into_iter()
        .map(|l| l.schedule)
    {
        out.schedules.insert(s.id, s.name);
    }
    for t in team_ids {
        if let std::collections::hash_map::Entry::Vacant(v) = out.teams.entry(t) {
            let team = teams::find(conn, v.key())?;
            v.insert(team.name);
        }
    }
    Ok(out)
}

pub(crate) fn render(base: &str, p: &LoadedPolicy, names: &Names) -> PolicyObject {
    let links = Links(base);
    let id = p.policy.id.as_str();
    let rules = p
        .rule_ids
        .iter()
        .zip(&p.rules.rules)
        .map(|(rule_id, r)| RuleObject {
            id: rule_id.to_string(),
            escalation_delay_in_minutes: r.delay_minutes,
            targets: r
                .targets
                .iter()
                .map(|t| match t {
                    Target::User(u) => links.reference(
                        "users",
                        "user_reference",
                        u.as_str(),
                        names.users.get(u).map_or(u.as_str(), String::as_str),
                    ),
                    Target::Schedule(s) => links.reference(
                        "schedules",
                        "schedule_reference",
                        s.as_str(),
                        names.schedules.get(s).map_or(s.as_str(), String::as_str),
                    ),
                })
                .collect(),
        })
        .collect();
    PolicyObject {
        self_url: links.api("escalation_policies", id),
        html_url: links.html("escalation_policies", id),
        id: id.to_owned(),
        kind: "escalation_policy",
        summary: p.policy.name.clone(),
        name: p.policy.name.clone(),
        description: p.policy.description.clone(),
        num_loops: p.policy.num_loops,
        on_call_handoff_notifications: p.policy.handoff_notifications,
        escalation_rules: rules,
        services: names
            .services
            .get(&p.policy.id)
            .into_iter()
            .flatten()
            .map(|(s, name)| links.reference("services", "service_reference", s.as_str(), name))
            .collect(),
        teams: p
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
    }
}

pub(crate) fn policy_resource(p: &LoadedPolicy) -> Resource {
    Resource::EscalationPolicy {
        id: Some(p.policy.id.to_string()),
        teams: p.teams.clone(),
    }
}

pub(crate) fn may_manage(
    caller: &ApiCaller,
    before: Option<&LoadedPolicy>,
    teams: &[TeamId],
) -> AppResult<()> {
    let after = Resource::EscalationPolicy {
        id: before.map(|b| b.policy.id.to_string()),
        teams: teams.to_vec(),
    };
    let before = before.map(policy_resource);
    caller.may_move(
        Action::ManageEscalationPolicy,
        before.as_ref(),
        &after,
        "escalation policy",
    )
}

/// List escalation policies
#[utoipa::path(get, path = "/api/v2/escalation_policies", tag = "Escalation Policies",
    params(("query" = Option<String>, Query, description = "Part of the policy name"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = PolicyList), (status = 401, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read escalation policies",
    )?;
    let page = params.page()?;
    let text = params.one("query").map(str::to_owned);
    let (found, names) = state
        .db
        .run(move |conn| {
            let found = store::list(conn, text.as_deref(), &page)?;
            let names = names(conn, &found.rows.iter().collect::<Vec<_>>())?;
            Ok((found, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(PolicyList {
        escalation_policies: found
            .rows
            .iter()
            .map(|p| render(&state.public_url, p, &names))
            .collect(),
        pagination: Pagination::of(&page, &found),
    }))
}

/// Create an escalation policy
///
/// Targets are people with a full seat (never stakeholders) and schedules.
#[utoipa::path(post, path = "/api/v2/escalation_policies", tag = "Escalation Policies", request_body = PolicyRequest,
    responses((status = 201, body = PolicyResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<PolicyRequest>,
) -> ApiResult<HttpResponse> {
    let draft = draft(body.into_inner().escalation_policy)?;
    may_manage(&caller, None, &draft.teams)?;
    let ctx = caller.audit();
    let (policy, names) = state
        .db
        .run(move |conn| {
            let p = cases::create(conn, &ctx, draft)?;
            let names = names(conn, &[&p])?;
            Ok((p, names))
        })
        .await?;
    let escalation_policy = render(&state.public_url, &policy, &names);
    Ok(HttpResponse::Created()
        .insert_header(("Location", escalation_policy.self_url.clone()))
        .json(PolicyResponse { escalation_policy }))
}

/// Get an escalation policy
#[utoipa::path(get, path = "/api/v2/escalation_policies/{id}", tag = "Escalation Policies", params(("id" = String, Path)),
    responses((status = 200, body = PolicyResponse), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read escalation policies",
    )?;
    let id = EscalationPolicyId(id.into_inner());
    let (policy, names) = state
        .db
        .run(move |conn| {
            let p = store::load(conn, &id)?;
            let names = names(conn, &[&p])?;
            Ok((p, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(PolicyResponse {
        escalation_policy: render(&state.public_url, &policy, &names),
    }))
}

/// Update an escalation policy
#[utoipa::path(put, path = "/api/v2/escalation_policies/{id}", tag = "Escalation Policies", params(("id" = String, Path)), request_body = PolicyRequest,
    responses((status = 200, body = PolicyResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<PolicyRequest>,
) -> ApiResult<HttpResponse> {
    let id = EscalationPolicyId(id.into_inner());
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read escalation policies",
    )?;
    let draft = draft(body.into_inner().escalation_policy)?;
    let teams = draft.teams.clone();
    let ctx = caller.audit();
    let (policy, names) = state
        .db
        .run(move |conn| {
            let p = cases::update(conn, &ctx, &id, draft, |before| {
                may_manage(&caller, Some(before), &teams)
            })?;
            let names = names(conn, &[&p])?;
            Ok((p, names))
        })
        .await?;
    Ok(HttpResponse::Ok().json(PolicyResponse {
        escalation_policy: render(&state.public_url, &policy, &names),
    }))
}

/// Delete an escalation policy
#[utoipa::path(delete, path = "/api/v2/escalation_policies/{id}", tag = "Escalation Policies", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = EscalationPolicyId(id.into_inner());
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| {
            cases::delete(conn, &ctx, &id, |before| {
                caller.may(
                    Action::ManageEscalationPolicy,
                    &policy_resource(before),
                    "delete this escalation policy",
                )
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
