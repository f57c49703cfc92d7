//! `/scim/v2/Groups`: Entra groups as Rota teams. Members are direct members only (Entra sends
//! no nested groups). Member changes are set operations done in bulk statements, so a PATCH
//! that adds or removes thousands of members stays one round of queries, never a loop.

use super::{
    ListParams, ScimCaller, ScimResult, base, check_if_match, if_match, projected_response,
    query_params, resource_response,
};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::scim_group::{MemberOp, member_ids, read, split};
use crate::domain::scim_patch::{self, get};
use crate::domain::scim_resource::{Group, Member};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::DbConnection;
use crate::store::scim::{self as search, Resource};
use crate::store::teams::{self, Team};
use crate::use_cases;
use crate::use_cases::teams::TeamChange;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use std::collections::HashMap;

pub use crate::domain::scim_schema::GROUP_SCHEMA;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Groups")
            .route(super::list_route(page))
            .route(web::post().to(create)),
    )
    .service(web::resource("/Groups/.search").route(super::search_route(page)))
    .service(
        web::resource("/Groups/{id}")
            .route(web::get().to(show))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(remove)),
    );
}

fn resource(team: &Team, members: &[(UserId, String)], public_url: &str) -> Value {
    let base = base(public_url);
    let group = Group {
        schemas: vec![GROUP_SCHEMA.to_string()],
        id: team.id.0.clone(),
        display_name: team.name.clone(),
        members: members
            .iter()
            .map(|(id, _)| Member {
                value: id.0.clone(),
                kind: "User".into(),
                reference: format!("{base}/Users/{id}"),
            })
            .collect(),
        meta: super::meta(
            "Group",
            team.created_at,
            team.updated_at,
            team.version,
            format!("{base}/Groups/{}", team.id),
        ),
        external_id: team.external_id.clone(),
    };
    json!(group)
}

fn render(
    conn: &mut DbConnection,
    public_url: &str,
    rows: &[Team],
    with_members: bool,
) -> AppResult<Vec<Value>> {
    let mut members: HashMap<TeamId, Vec<(UserId, String)>> = HashMap::new();
    if with_members {
        let ids: Vec<TeamId> = rows.iter().map(|t| t.id.clone()).collect();
        for (team, user, name) in teams::members_of(conn, &ids)? {
            members.entry(team).or_default().push((user, name));
        }
    }
    Ok(rows
        .iter()
        .map(|t| {
            resource(
                t,
                members.get(&t.id).map(Vec::as_slice).unwrap_or(&[]),
                public_url,
            )
        })
        .collect())
}

/// Renders one group (the resource a write or a read by id answers with).
fn render_one(
    conn: &mut DbConnection,
    public_url: &str,
    team: &Team,
    with_members: bool,
) -> AppResult<Value> {
    render(conn, public_url, std::slice::from_ref(team), with_members)?
        .pop()
        .ok_or_else(|| AppError::internal("rendering a SCIM group returned nothing"))
}

async fn create(
    state: web::Data<AppState>,
    caller: ScimCaller,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let (name, external_id) = read(&body).map_err(super::invalid)?;
    let members = member_ids(get(&body, "members")).map_err(super::invalid)?;
    let public_url = state.public_url.clone();
    let app = state.clone();
    let out = state
        .db
        .run(move |conn| {
            let ctx = caller.audit();
            let team = use_cases::teams::create_with_members(
                conn,
                app.seats(),
                &ctx,
                name,
                external_id,
                &members,
            )?;
            render_one(conn, &public_url, &team, true)
        })
        .await?;
    Ok(resource_response(StatusCode::CREATED, out))
}

async fn show(
    state: web::Data<AppState>,
    _caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let params = query_params(&req)?;
    let with_members = wants_members(&params);
    let id = TeamId(id.into_inner());
    let public_url = state.public_url.clone();
    let out = state
        .db
        .run(move |conn| {
            let team = teams::find(conn, &id)?;
            render_one(conn, &public_url, &team, with_members)
        })
        .await?;
    Ok(projected_response(out, &params))
}

/// Whether members are asked for: Entra lists groups with `excludedAttributes=members`, and
/// skipping them saves loading every membership.
pub(super) fn wants_members(p: &ListParams) -> bool {
    let named = |list: &[String]| {
        list.iter().any(|a| {
            a.eq_ignore_ascii_case("members") || a.to_ascii_lowercase().starts_with("members.")
        })
    };
    if !p.attributes.is_empty() {
        named(&p.attributes)
    } else {
        !named(&p.excluded)
    }
}

async fn patch(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let ops = scim_patch::parse(&body).map_err(super::invalid)?;
    let (members, rest) = split(ops).map_err(super::invalid)?;
    let expected = if_match(&req);
    let id = TeamId(id.into_inner());
    let params = query_params(&req)?;
    update(
        state,
        caller,
        id,
        expected,
        move |team| {
            let mut doc = json!({"displayName": team.name, "externalId": team.external_id});
            scim_patch::apply(&mut doc, &rest).map_err(super::invalid)?;
            let (name, external_id) = read(&doc).map_err(super::invalid)?;
            Ok(TeamChange {
                name,
                external_id,
                members,
            })
        },
        params,
    )
    .await
}

async fn replace(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let (name, external_id) = read(&body).map_err(super::invalid)?;
    let change = TeamChange {
        name,
        external_id,
        members: vec![MemberOp::Replace(
            member_ids(get(&body, "members")).map_err(super::invalid)?,
        )],
    };
    let expected = if_match(&req);
    let id = TeamId(id.into_inner());
    let params = query_params(&req)?;
    update(state, caller, id, expected, move |_| Ok(change), params).await
}

/// PUT and PATCH: new attributes and a member change, in one transaction, audited.
async fn update<F>(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: TeamId,
    expected: Option<String>,
    decide: F,
    params: ListParams,
) -> ScimResult<HttpResponse>
where
    F: FnOnce(&Team) -> AppResult<TeamChange> + Send + 'static,
{
    let public_url = state.public_url.clone();
    let with_members = wants_members(&params);
    let app = state.clone();
    let out = state
        .db
        .run(move |conn| {
            let team = use_cases::teams::set_members(
                conn,
                app.seats(),
                &caller.audit(),
                &id,
                |team| check_if_match(expected.as_deref(), team.version),
                decide,
            )?;
            render_one(conn, &public_url, &team, with_members)
        })
        .await?;
    Ok(projected_response(out, &params))
}

async fn remove(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let id = TeamId(id.into_inner());
    let expected = if_match(&req);
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            use_cases::teams::delete(conn, app.seats(), &caller.audit(), &id, |team| {
                check_if_match(expected.as_deref(), team.version)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One page of groups matching `q`, rendered (members only when asked for), and the number of
/// matches.
pub(super) fn page(
    conn: &mut DbConnection,
    public_url: &str,
    q: &search::Query<'_>,
    params: &ListParams,
) -> AppResult<(Vec<Value>, i64)> {
    let (ids, total) = search::search(conn, Resource::Group, q)?;
    let ids: Vec<TeamId> = ids.into_iter().map(TeamId).collect();
    let mut rows = teams::find_many(conn, &ids)?;
    let position: HashMap<&TeamId, usize> = ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    rows.sort_by_key(|t| position.get(&t.id).copied().unwrap_or(usize::MAX));
    Ok((
        render(conn, public_url, &rows, wants_members(params))?,
        total,
    ))
}
