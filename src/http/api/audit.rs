//! `/api/v2/audit/records`: the audit trail in PagerDuty's audit-record shape, newest first,
//! with cursor pagination; also per user and per team.

use super::{ApiCaller, ApiResult, Links, Params, resource};
use crate::authz::{Action, Resource};
use crate::domain::audit::{ActorKind, Cursor, FieldChange, changed_fields};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::audit::{self, AuditEvent, AuditQuery};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit/records").route(web::get().to(list)))
        .service(resource("/users/{id}/audit/records").route(web::get().to(for_user)))
        .service(resource("/teams/{id}/audit/records").route(web::get().to(for_team)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecordList {
    pub records: Vec<AuditRecord>,
    pub limit: i64,
    /// Pass as `cursor` to read the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub response_metadata: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRecord {
    pub id: String,
    pub execution_time: DateTime<Utc>,
    pub execution_context: ExecutionContext,
    pub actors: Vec<ActorReference>,
    pub method: Method,
    pub root_resource: super::Reference,
    /// create, update, delete, add_member, update_member, remove_member, …
    pub action: String,
    pub details: Details,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionContext {
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorReference {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub summary: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Method {
    /// api_token, scim_token, cli, browser or job.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Details {
    pub fields: Vec<FieldChange>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

fn collection(target_type: &str) -> String {
    format!("{target_type}s")
}

fn render(base: &str, e: AuditEvent) -> AuditRecord {
    let links = Links(base);
    let before: Option<Value> = e
        .before_state
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let after: Option<Value> = e
        .after_state
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let (actor_ref, method) = match e.actor_type {
        ActorKind::User => ("user_reference", "browser"),
        ActorKind::ApiToken => ("api_key_reference", "api_token"),
        ActorKind::ScimToken => ("api_key_reference", "scim_token"),
        ActorKind::Cli => ("cli_reference", "cli"),
        ActorKind::Job => ("job_reference", "job"),
    };
    let kind: &'static str = match e.target_type.as_str() {
        "user" => "user_reference",
        "team" => "team_reference",
        "token" => "api_key_reference",
        _ => "reference",
    };
    AuditRecord {
        execution_time: e.occurred_at.and_utc(),
        execution_context: ExecutionContext {
            request_id: e.request_id,
        },
        actors: vec![ActorReference {
            id: e.actor_id,
            kind: actor_ref.into(),
            summary: e.actor_name,
        }],
        method: Method {
            kind: method.into(),
        },
        root_resource: links.reference(
            &collection(&e.target_type),
            kind,
            &e.target_id,
            &e.target_name,
        ),
        action: e.action,
        details: Details {
            fields: changed_fields(before.as_ref(), after.as_ref()),
            before,
            after,
        },
        id: e.id.0,
    }
}

fn query_from(params: &Params) -> AppResult<AuditQuery> {
    let since = params.time("since")?;
    let until = params.time("until")?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(AppError::invalid("since", "must be before until"));
    }
    let actor_type = params
        .one("actor_type")
        .map(|t| {
            ActorKind::parse(t).ok_or_else(|| {
                AppError::invalid(
                    "actor_type",
                    format!("is '{t}'; use user, api_token, scim_token, cli or job"),
                )
            })
        })
        .transpose()?;
    Ok(AuditQuery {
        since: since.map(crate::clock::stored),
        until: until.map(crate::clock::stored),
        actor_type,
        actor_id: params.one("actor_id").map(str::to_owned),
        target_types: params
            .all("root_resource_types")
            .into_iter()
            .map(|t| t.trim_end_matches('s').to_string())
            .collect(),
        target_id: params.one("root_resource_id").map(str::to_owned),
        actions: params.all("actions"),
    })
}

/// Reads one page of records; `root` narrows it to one user's or team's records.
async fn respond(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    root: Option<(&'static str, String)>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadAudit,
        &Resource::Account,
        "read the audit trail",
    )?;
    let mut query = query_from(&params)?;
    if let Some((kind, id)) = root {
        query.target_types = vec![kind.into()];
        query.target_id = Some(id);
    }
    let limit = params.page()?.limit;
    let cursor = params
        .one("cursor")
        .map(|c| {
            Cursor::decode(c)
                .ok_or_else(|| AppError::invalid("cursor", "is not a cursor this API returned"))
        })
        .transpose()?;
    let (rows, next) = state
        .db
        .run(move |conn| audit::list(conn, &query, limit, cursor.as_ref()))
        .await?;
    let records = rows
        .into_iter()
        .map(|e| render(&state.public_url, e))
        .collect();
    Ok(HttpResponse::Ok().json(AuditRecordList {
        records,
        limit,
        next_cursor: next.map(|c| c.encode()),
        response_metadata: None,
    }))
}

/// List audit records
///
/// Newest first. Filter by actor (`actor_type`, `actor_id`), target (`root_resource_types[]`,
/// `root_resource_id`), `actions[]` and time (`since` inclusive, `until` exclusive).
#[utoipa::path(get, path = "/api/v2/audit/records", tag = "Audit",
    params(
        ("since" = Option<String>, Query), ("until" = Option<String>, Query),
        ("actor_type" = Option<String>, Query), ("actor_id" = Option<String>, Query),
        ("root_resource_types[]" = Option<Vec<String>>, Query), ("root_resource_id" = Option<String>, Query),
        ("actions[]" = Option<Vec<String>>, Query), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query),
    ),
    responses((status = 200, body = AuditRecordList), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    respond(state, caller, params, None).await
}

/// List a user's audit records
#[utoipa::path(get, path = "/api/v2/users/{id}/audit/records", tag = "Audit", params(("id" = String, Path), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AuditRecordList)), security(("api_token" = [])))]
pub async fn for_user(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    respond(state, caller, params, Some(("user", id.into_inner()))).await
}

/// List a team's audit records
#[utoipa::path(get, path = "/api/v2/teams/{id}/audit/records", tag = "Audit", params(("id" = String, Path), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AuditRecordList)), security(("api_token" = [])))]
pub async fn for_team(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    respond(state, caller, params, Some(("team", id.into_inner()))).await
}
