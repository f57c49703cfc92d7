//! `/api/v2/teams`: teams and their members, for organisations that do not provision by SCIM.

use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::role::TeamRole;
use crate::domain::user as rules;
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store;
use crate::store::audit;
use crate::store::teams::{self, Team};
use crate::use_cases;
use crate::use_cases::teams::target;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/teams")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/teams/{id}")
            .route(web::get().to(show))
            .route(web::put().to(update))
            .route(web::delete().to(remove)),
    )
    .service(resource("/teams/{id}/members").route(web::get().to(members)))
    .service(
        resource("/teams/{id}/users/{user_id}")
            .route(web::put().to(put_member))
            .route(web::delete().to(remove_member)),
    );
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "team")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub description: Option<String>,
    /// Teams are flat in Rota; always null.
    pub parent: Option<Reference>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamResponse {
    pub team: TeamObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    pub teams: Vec<TeamObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TeamFields {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TeamRequest {
    pub team: TeamFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user: Reference,
    pub role: TeamRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MembershipRequest {
    /// observer, responder or manager; default responder.
    pub role: Option<String>,
}

fn render(base: &str, t: Team) -> TeamObject {
    let links = Links(base);
    TeamObject {
        self_url: links.api("teams", t.id.as_str()),
        html_url: links.html("teams", t.id.as_str()),
        kind: "team",
        summary: t.name.clone(),
        parent: None,
        created_at: t.created_at.and_utc(),
        updated_at: t.updated_at.and_utc(),
        id: t.id.0,
        name: t.name,
        description: t.description,
    }
}

fn name(raw: &str) -> AppResult<String> {
    rules::display_name(raw).invalid_field("name")
}

fn description(raw: Option<&str>) -> AppResult<Option<String>> {
    rules::optional_text(raw, 1000).invalid_field("description")
}

/// List teams
#[utoipa::path(get, path = "/api/v2/teams", tag = "Teams",
    params(("query" = Option<String>, Query, description = "Part of the team name"), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = TeamList), (status = 401, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadDirectory,
        &Resource::Account,
        "read the directory",
    )?;
    let page = params.page()?;
    let text = params.one("query").map(str::to_owned);
    let found = state
        .db
        .run(move |conn| teams::list(conn, text.as_deref(), &page))
        .await?;
    let (more, total) = (found.more, found.total);
    let teams = found
        .rows
        .into_iter()
        .map(|t| render(&state.public_url, t))
        .collect();
    Ok(HttpResponse::Ok().json(TeamList {
        teams,
        pagination: Pagination::new(&page, more, total),
    }))
}

/// Create a team
#[utoipa::path(post, path = "/api/v2/teams", tag = "Teams", request_body = TeamRequest,
    responses((status = 201, body = TeamResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<TeamRequest>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::CreateTeam, &Resource::Account, "create teams")?;
    let input = body.into_inner().team;
    let name = name(input.name.as_deref().unwrap_or(""))?;
    let now = crate::clock::stored(caller.at);
    let team = Team {
        id: TeamId::generate(),
        name_key: rules::name_key(&name),
        name,
        description: description(input.description.as_deref())?,
        external_id: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let team = state
        .db
        .run(move |conn| {
            store::write(conn, |tx| {
                teams::insert(tx, &team)?;
                audit::record(
                    tx,
                    &caller.audit(),
                    "create",
                    target(&team),
                    None::<&Team>,
                    Some(&team),
                )?;
                Ok(team)
            })
        })
        .await?;
    let team = render(&state.public_url, team);
    Ok(HttpResponse::Created()
        .insert_header(("Location", team.self_url.clone()))
        .json(TeamResponse { team }))
}

/// Get a team
#[utoipa::path(get, path = "/api/v2/teams/{id}", tag = "Teams", params(("id" = String, Path)),
    responses((status = 200, body = TeamResponse), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadDirectory,
        &Resource::Account,
        "read the directory",
    )?;
    let id = TeamId(id.into_inner());
    let team = state.db.run(move |conn| teams::find(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(TeamResponse {
        team: render(&state.public_url, team),
    }))
}

/// Update a team
///
/// The name of a team provisioned by Microsoft Entra ID (SCIM) is Entra's: renaming it here
/// is refused (400).
#[utoipa::path(put, path = "/api/v2/teams/{id}", tag = "Teams", params(("id" = String, Path)), request_body = TeamRequest,
    responses((status = 200, body = TeamResponse), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<TeamRequest>,
) -> ApiResult<HttpResponse> {
    let id = TeamId(id.into_inner());
    caller.may(
        Action::UpdateTeam,
        &Resource::Team(id.clone()),
        "change this team",
    )?;
    let input = body.into_inner().team;
    let new_name = input.name.as_deref().map(name).transpose()?;
    let new_description = input
        .description
        .as_deref()
        .map(|d| description(Some(d)))
        .transpose()?;
    let team = state
        .db
        .run(move |conn| {
            store::write(conn, |tx| {
                let before = teams::find(tx, &id)?;
                let mut team = before.clone();
                if let Some(n) = new_name
                    && n != before.name
                {
                    // Seat rules match the names Entra gives its groups: a name set here
                    // could otherwise make a team's members admins.
                    if let Some(group) = &before.external_id {
                        return Err(AppError::invalid(
                            "name",
                            format!(
                                "of {} comes from Microsoft Entra ID (SCIM group {group}), which is its source of truth: rename the group in Entra",
                                before.name
                            ),
                        ));
                    }
                    team.name_key = rules::name_key(&n);
                    team.name = n;
                }
                if let Some(d) = new_description {
                    team.description = d;
                }
                if team != before {
                    team.version += 1;
                    team.updated_at = crate::clock::stored(caller.at);
                    teams::update(tx, &team)?;
                    audit::record(
                        tx,
                        &caller.audit(),
                        "update",
                        target(&team),
                        Some(&before),
                        Some(&team),
                    )?;
                }
                // Seats need no second look: only teams from Entra count for seat rules,
                // and those keep the name Entra gave them.
                Ok(team)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(TeamResponse {
        team: render(&state.public_url, team),
    }))
}

/// Delete a team
#[utoipa::path(delete, path = "/api/v2/teams/{id}", tag = "Teams", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = TeamId(id.into_inner());
    caller.may(
        Action::DeleteTeam,
        &Resource::Team(id.clone()),
        "delete teams",
    )?;
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            use_cases::teams::delete(conn, app.seats(), &caller.audit(), &id, |_| Ok(()))
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a team's members
#[utoipa::path(get, path = "/api/v2/teams/{id}/members", tag = "Teams",
    params(("id" = String, Path), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = MemberList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn members(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadDirectory,
        &Resource::Account,
        "read the directory",
    )?;
    let page = params.page()?;
    let id = TeamId(id.into_inner());
    let found = state
        .db
        .run(move |conn| {
            teams::find(conn, &id)?;
            teams::members(conn, &id, &page)
        })
        .await?;
    let (rows, more, total) = (found.rows, found.more, found.total);
    let links = Links(&state.public_url);
    let members = rows
        .into_iter()
        .map(|(user_id, user_name, role)| Member {
            user: links.reference("users", "user_reference", user_id.as_str(), &user_name),
            role,
        })
        .collect();
    Ok(HttpResponse::Ok().json(MemberList {
        members,
        pagination: Pagination::new(&page, more, total),
    }))
}

/// Add a user to a team, or change their team role
#[utoipa::path(put, path = "/api/v2/teams/{id}/users/{user_id}", tag = "Teams",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body(content = Option<MembershipRequest>),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn put_member(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    let (team_id, user_id) = (TeamId(team_id), UserId(user_id));
    caller.may(
        Action::ManageTeamMembers,
        &Resource::Team(team_id.clone()),
        "change this team's members",
    )?;
    // The body is optional (PagerDuty clients often send none), but when sent it must parse.
    let request: MembershipRequest = super::optional_json(&req, body).await?;
    let raw_role = request.role.unwrap_or_else(|| "responder".into());
    let role = TeamRole::parse(&raw_role).ok_or_else(|| {
        AppError::invalid(
            "role",
            format!("is '{raw_role}'; use observer, responder or manager"),
        )
    })?;
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            let ctx = caller.audit();
            use_cases::teams::put_member(conn, app.seats(), &ctx, &team_id, &user_id, role)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a user from a team
#[utoipa::path(delete, path = "/api/v2/teams/{id}/users/{user_id}", tag = "Teams",
    params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove_member(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (team_id, user_id) = path.into_inner();
    let (team_id, user_id) = (TeamId(team_id), UserId(user_id));
    caller.may(
        Action::ManageTeamMembers,
        &Resource::Team(team_id.clone()),
        "change this team's members",
    )?;
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            let ctx = caller.audit();
            use_cases::teams::remove_member(conn, app.seats(), &ctx, &team_id, &user_id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
