//! `/scim/v2/Groups`: Entra groups as Rota teams. Members are direct members only (Entra sends
//! no nested groups). Member changes are set operations done in bulk statements, so a PATCH
//! that adds or removes thousands of members stays one round of queries, never a loop.

use super::users::ListParams;
use super::{
    ScimCaller, ScimResult, base, check_if_match, etag, if_match, projected_response,
    resource_response,
};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::scim_filter::Filter;
use crate::domain::scim_patch::{self, Op, Operation, get};
use crate::domain::user as rules;
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::audit::{self, Target};
use crate::store::scim::{self as search, Resource};
use crate::store::teams::{self, Team};
use crate::store::{self, DbConnection};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The team role a provisioned member gets.
const MEMBER_ROLE: crate::domain::role::TeamRole = crate::domain::role::TeamRole::Responder;

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
    let mut out = json!({
        "schemas": [GROUP_SCHEMA],
        "id": team.id,
        "displayName": team.name,
        // `display` is left out: it is optional, read-only, and would cost a join per member.
        "members": members.iter().map(|(id, _)| json!({
            "value": id, "type": "User", "$ref": format!("{base}/Users/{id}"),
        })).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "created": team.created_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": team.updated_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "version": etag(team.version),
            "location": format!("{base}/Groups/{}", team.id),
        },
    });
    if let Some(x) = &team.external_id {
        out["externalId"] = json!(x);
    }
    if members.is_empty() {
        out.as_object_mut().map(|o| o.remove("members"));
    }
    out
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

fn target(team: &Team) -> Target<'_> {
    Target {
        kind: "team",
        id: team.id.as_str(),
        name: &team.name,
    }
}

/// displayName and externalId from a body.
fn read(body: &Value) -> AppResult<(String, Option<String>)> {
    let name = match get(body, "displayName") {
        Some(Value::String(s)) if rules::has_bidi_override(s) => {
            return Err(AppError::invalid(
                "displayName",
                "must not contain bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)",
            ));
        }
        Some(Value::String(s)) => rules::display_name(s).invalid_field("displayName")?,
        None | Some(Value::Null) => return Err(AppError::invalid("displayName", "is required")),
        Some(other) => {
            return Err(AppError::invalid(
                "displayName",
                format!("must be a string, not {other}"),
            ));
        }
    };
    let external = match get(body, "externalId") {
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            return Err(AppError::invalid(
                "externalId",
                "must not contain control characters",
            ));
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(other) => {
            return Err(AppError::invalid(
                "externalId",
                format!("must be a string, not {other}"),
            ));
        }
    };
    Ok((name, external))
}

/// User ids out of a `members` value: `[{"value": id}, …]`.
fn member_ids(v: Option<&Value>) -> AppResult<Vec<UserId>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| match get(m, "value") {
                Some(Value::String(id)) => Ok(UserId(id.clone())),
                _ => Err(AppError::invalid(
                    "members",
                    format!("entry {m} has no string value"),
                )),
            })
            .collect(),
        Some(Value::Object(_)) => {
            member_ids(Some(&Value::Array(vec![v.cloned().unwrap_or_default()])))
        }
        Some(other) => Err(AppError::invalid(
            "members",
            format!("must be a list, not {other}"),
        )),
    }
}

async fn create(
    state: web::Data<AppState>,
    caller: ScimCaller,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let (name, external_id) = read(&body)?;
    let members = member_ids(get(&body, "members"))?;
    let public_url = state.public_url.clone();
    let app = state.clone();
    let (out, emails) = state
        .db
        .run(move |conn| {
            store::seats::write(conn, |tx| {
                let now = crate::clock::stored(caller.at);
                let team = Team {
                    id: TeamId::generate(),
                    name_key: rules::name_key(&name),
                    name,
                    description: None,
                    external_id,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                teams::insert(tx, &team)?;
                let added = teams::add_members(tx, &team.id, &members, MEMBER_ROLE, now)?;
                audit::record(
                    tx,
                    &caller.audit(),
                    "create",
                    target(&team),
                    None::<&Team>,
                    Some(&json!({"team": team, "members": added})),
                )?;
                let emails = settle_members(tx, &app, &caller, &added)?;
                Ok((
                    render(tx, &public_url, std::slice::from_ref(&team), true)?.remove(0),
                    emails,
                ))
            })
        })
        .await?;
    crate::http::api::users::poke_if(&state, emails);
    Ok(resource_response(StatusCode::CREATED, out))
}

async fn show(
    state: web::Data<AppState>,
    _caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let params = ListParams::from_query(req.query_string())?;
    let with_members = wants_members(&params);
    let id = TeamId(id.into_inner());
    let public_url = state.public_url.clone();
    let out = state
        .db
        .run(move |conn| {
            let team = teams::find(conn, &id)?;
            Ok(render(conn, &public_url, &[team], with_members)?.remove(0))
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

/// One member operation of a PATCH or PUT, applied in order.
enum MemberOp {
    Add(Vec<UserId>),
    Remove(Vec<UserId>),
    /// `members[…]` with a filter: evaluated against the members at that point.
    RemoveWhere(Filter),
    RemoveAll,
    Replace(Vec<UserId>),
}

/// Splits a PATCH into member operations (in order) and the rest (applied to the group's
/// attributes).
fn split(ops: Vec<Operation>) -> AppResult<(Vec<MemberOp>, Vec<Operation>)> {
    let mut members = Vec::new();
    let mut rest = Vec::new();
    for op in ops {
        if let Some(path) = op
            .path
            .as_ref()
            .filter(|p| p.attr.attr.eq_ignore_ascii_case("members"))
        {
            members.push(match (op.op, &path.filter) {
                (Op::Add, None) => MemberOp::Add(member_ids(op.value.as_ref())?),
                (Op::Replace, None) => MemberOp::Replace(member_ids(op.value.as_ref())?),
                (Op::Remove, None) if op.value.is_some() => {
                    MemberOp::Remove(member_ids(op.value.as_ref())?)
                }
                (Op::Remove, None) => MemberOp::RemoveAll,
                (Op::Remove, Some(f)) => MemberOp::RemoveWhere(f.clone()),
                (_, Some(_)) => {
                    return Err(AppError::invalid(
                        "path",
                        "members[…] only takes remove; add members with path \"members\"",
                    ));
                }
            });
            continue;
        }
        match (&op.path, &op.value) {
            (None, Some(Value::Object(fields)))
                if fields.keys().any(|k| k.eq_ignore_ascii_case("members")) =>
            {
                let mut fields = fields.clone();
                let key = scim_patch::existing_key(&fields, "members").expect("present");
                let ids = member_ids(fields.remove(&key).as_ref())?;
                members.push(if op.op == Op::Replace {
                    MemberOp::Replace(ids)
                } else {
                    MemberOp::Add(ids)
                });
                if !fields.is_empty() {
                    rest.push(Operation {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(fields)),
                    });
                }
            }
            _ => rest.push(op),
        }
    }
    Ok((members, rest))
}

/// Applies member operations in order to the current member set, then writes only the
/// difference (bulk statements). Returns the ids actually added and removed.
fn apply_members(
    conn: &mut DbConnection,
    team: &TeamId,
    ops: Vec<MemberOp>,
    now: chrono::NaiveDateTime,
) -> AppResult<(Vec<UserId>, Vec<UserId>)> {
    if ops.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let current = teams::member_ids(conn, team)?;
    let mut wanted: Vec<UserId> = current.clone();
    let mut present: HashSet<UserId> = current.iter().cloned().collect();
    for op in ops {
        match op {
            MemberOp::Add(ids) => {
                for id in ids {
                    if present.insert(id.clone()) {
                        wanted.push(id);
                    }
                }
            }
            MemberOp::Remove(ids) => {
                let gone: HashSet<UserId> = ids.into_iter().collect();
                wanted.retain(|id| !gone.contains(id));
            }
            MemberOp::RemoveWhere(f) => {
                wanted.retain(|id| !scim_patch::matches(&f, &json!({"value": id})))
            }
            MemberOp::RemoveAll => wanted.clear(),
            MemberOp::Replace(ids) => {
                wanted.clear();
                let mut seen = HashSet::new();
                wanted.extend(ids.into_iter().filter(|id| seen.insert(id.clone())));
            }
        }
        present = wanted.iter().cloned().collect();
    }
    let before: HashSet<&UserId> = current.iter().collect();
    let removed: Vec<UserId> = current
        .iter()
        .filter(|id| !present.contains(*id))
        .cloned()
        .collect();
    let to_add: Vec<UserId> = wanted
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    if !removed.is_empty() {
        teams::remove_members(conn, team, &removed)?;
    }
    let added = teams::add_members(conn, team, &to_add, MEMBER_ROLE, now)?;
    Ok((added, removed))
}

async fn patch(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let ops = scim_patch::parse(&body).map_err(super::invalid_patch)?;
    let (members, rest) = split(ops)?;
    let expected = if_match(&req);
    let id = TeamId(id.into_inner());
    let params = ListParams::from_query(req.query_string())?;
    update(
        state,
        caller,
        id,
        expected,
        move |team| {
            let mut doc = json!({"displayName": team.name, "externalId": team.external_id});
            scim_patch::apply(&mut doc, &rest).map_err(super::invalid_patch)?;
            Ok((read(&doc)?, members))
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
    let fields = read(&body)?;
    let members = vec![MemberOp::Replace(member_ids(get(&body, "members"))?)];
    let expected = if_match(&req);
    let id = TeamId(id.into_inner());
    let params = ListParams::from_query(req.query_string())?;
    update(
        state,
        caller,
        id,
        expected,
        move |_| Ok((fields, members)),
        params,
    )
    .await
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
    F: FnOnce(&Team) -> AppResult<((String, Option<String>), Vec<MemberOp>)> + Send + 'static,
{
    let public_url = state.public_url.clone();
    let with_members = wants_members(&params);
    let app = state.clone();
    let (out, emails) = state
        .db
        .run(move |conn| {
            store::seats::write(conn, |tx| {
                let before = teams::find(tx, &id)?;
                check_if_match(expected.as_deref(), before.version)?;
                let ((name, external_id), change) = decide(&before)?;
                let now = crate::clock::stored(caller.at);
                let mut team = before.clone();
                team.name_key = rules::name_key(&name);
                team.name = name;
                team.external_id = external_id;
                let (added, removed) = apply_members(tx, &team.id, change, now)?;
                // Seat rules match team names and group ids: a renamed team's members are
                // decided again, as are those who joined or left.
                let mut concerned: Vec<UserId> = added.iter().chain(&removed).cloned().collect();
                if team.name_key != before.name_key || team.external_id != before.external_id {
                    concerned.extend(teams::member_ids(tx, &team.id)?);
                }
                if team != before || !added.is_empty() || !removed.is_empty() {
                    team.version += 1;
                    team.updated_at = now;
                    teams::update(tx, &team)?;
                    audit::record(
                        tx,
                        &caller.audit(),
                        "update",
                        target(&team),
                        Some(&before),
                        Some(&json!({"team": team, "members_added": added, "members_removed": removed})),
                    )?;
                }
                let emails = settle_members(tx, &app, &caller, &concerned)?;
                Ok((render(tx, &public_url, std::slice::from_ref(&team), with_members)?.remove(0), emails))
            })
        })
        .await?;
    crate::http::api::users::poke_if(&state, emails);
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
    let emails = state
        .db
        .run(move |conn| {
            store::seats::write(conn, |tx| {
                let team = teams::find(tx, &id)?;
                check_if_match(expected.as_deref(), team.version)?;
                let members = teams::member_ids(tx, &id)?;
                teams::delete(tx, &id)?;
                audit::record(
                    tx,
                    &caller.audit(),
                    "delete",
                    target(&team),
                    Some(&team),
                    None::<&Team>,
                )?;
                settle_members(tx, &app, &caller, &members)
            })
        })
        .await?;
    crate::http::api::users::poke_if(&state, emails);
    Ok(HttpResponse::NoContent().finish())
}

/// Decides the seats of members who joined or left (a shortage queues them, never fails the
/// request); returns the warning e-mails queued.
fn settle_members(
    tx: &mut DbConnection,
    state: &AppState,
    caller: &ScimCaller,
    members: &[UserId],
) -> AppResult<usize> {
    let settled = store::seats::settle(
        tx,
        state.seat_rules(),
        &caller.audit(),
        store::seats::Scope::Users(members),
    )?;
    Ok(settled.emails)
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
