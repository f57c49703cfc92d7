//! `/teams`: the list and a team's members with their team roles. A team provisioned by SCIM
//! (it has an `external_id`) follows the directory and says so; members of other teams are
//! added and removed through `use_cases::teams::put_member` / `remove_member`, with
//! `ManageTeamMembers` asked of the team, as `/api/v2/teams/{id}/users/{user_id}` does.
//! Reading needs `ReadDirectory`, as `/api/v2/teams` does.

use super::form::{Refused, text_field};
use super::listing::{CsrfForm, ListQuery, see_other};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::paging::PageRequest;
use crate::domain::role::TeamRole;
use crate::http::AppState;
use crate::store::{schedules as schedule_store, teams as store};
use crate::use_cases::teams as cases;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use maud::html;
use rust_i18n::t;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/teams").route(web::get().to(list)))
        .service(web::resource("/teams/{id}").route(web::get().to(show)))
        .service(web::resource("/teams/{id}/members").route(web::post().to(add)))
        .service(web::resource("/teams/{id}/members/{user}/remove").route(web::post().to(remove)));
}

/// Members a team's page lists.
const MEMBERS_SHOWN: i64 = 100;

fn reads(v: &Visitor) -> PageResult<()> {
    Ok(v.caller
        .may(Action::ReadDirectory, &Resource::Account, "read teams")?)
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    let lang = v.lang;
    let page = q.page();
    let text = q.text();
    let found = state
        .db
        .run(move |conn| store::list(conn, Some(text.as_str()), &page))
        .await?;
    let body = html! {
        (q.search("/teams", &t!("ui.teams.search", locale = lang), lang))
        @if found.rows.is_empty() {
            p.muted { (t!("ui.teams.none", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.shell.teams", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.teams.name", locale = lang)) }
                        th scope="col" { (t!("ui.teams.source", locale = lang)) }
                    } }
                    tbody {
                        @for team in &found.rows {
                            tr {
                                td { a href=(format!("/teams/{}", team.id)) { (team.name) } }
                                td { @if team.external_id.is_some() { (t!("ui.teams.from_directory", locale = lang)) } @else { (t!("ui.teams.made_here", locale = lang)) } }
                            }
                        }
                    }
                }
            }
        }
        (q.pager("/teams", found.more, &t!("ui.teams.pages", locale = lang), lang))
    };
    Ok(shell::ok(
        &v,
        "/teams",
        &t!("ui.shell.teams", locale = lang),
        body,
    ))
}

fn role_words(role: TeamRole, lang: &str) -> String {
    match role {
        TeamRole::Manager => t!("ui.teams.role_manager", locale = lang),
        TeamRole::Responder => t!("ui.teams.role_responder", locale = lang),
        TeamRole::Observer => t!("ui.teams.role_observer", locale = lang),
    }
    .into_owned()
}

async fn show(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    team_page(
        &v,
        &state,
        TeamId(id.into_inner()),
        &MemberForm::default(),
        &Refused::default(),
    )
    .await
}

#[derive(Deserialize, Default)]
struct MemberForm {
    csrf_token: Option<String>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
}

async fn team_page(
    v: &Visitor,
    state: &AppState,
    id: TeamId,
    typed: &MemberForm,
    refused: &Refused,
) -> PageResult {
    let lang = v.lang;
    let page = PageRequest {
        offset: 0,
        limit: MEMBERS_SHOWN,
        want_total: false,
    };
    let (team, members) = state
        .db
        .run(move |conn| {
            let team = store::find(conn, &id)?;
            let members = store::members(conn, &team.id, &page)?;
            Ok((team, members))
        })
        .await?;
    let scim = team.external_id.is_some();
    let manage = !scim
        && v.caller
            .allows(Action::ManageTeamMembers, &Resource::Team(team.id.clone()));
    let path = format!("/teams/{}", team.id);
    let body = html! {
        @if let Some(d) = &team.description { p { (d) } }
        @if scim { p.notice { (t!("ui.teams.scim_managed", locale = lang)) } }
        h2 { (t!("ui.teams.members", locale = lang)) }
        @if members.rows.is_empty() {
            p.muted { (t!("ui.teams.no_members", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.teams.members", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.teams.name", locale = lang)) }
                        th scope="col" { (t!("ui.teams.role", locale = lang)) }
                        @if manage { th scope="col" { span.visually-hidden { (t!("ui.teams.actions", locale = lang)) } } }
                    } }
                    tbody {
                        @for (user, name, role) in &members.rows {
                            tr {
                                td { (name) }
                                td { (role_words(*role, lang)) }
                                @if manage {
                                    td {
                                        form.inline method="post" action=(format!("{path}/members/{user}/remove")) {
                                            (v.csrf())
                                            button.secondary type="submit" { (t!("ui.teams.remove", locale = lang)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if members.more { p.muted { (t!("ui.teams.more_members", locale = lang, count = MEMBERS_SHOWN)) } }
        }
        @if manage {
            h3 { (t!("ui.teams.add", locale = lang)) }
            (refused.summary(lang))
            form.stack method="post" action=(format!("{path}/members")) {
                (v.csrf())
                (text_field("user", &t!("ui.teams.user", locale = lang), "email", &typed.user, refused))
                div {
                    label for="role" { (t!("ui.teams.role", locale = lang)) }
                    select #role name="role" aria-invalid=[refused.invalid("role")] {
                        @for (value, role) in [("responder", TeamRole::Responder), ("manager", TeamRole::Manager), ("observer", TeamRole::Observer)] {
                            option value=(value) selected[typed.role == value] { (role_words(role, lang)) }
                        }
                    }
                    (refused.under("role"))
                }
                div { button type="submit" { (t!("ui.teams.add", locale = lang)) } }
            }
        }
    };
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(shell::page(v, status, "/teams", &team.name, body))
}

async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<MemberForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, form.csrf_token.as_deref()).await?;
    let id = TeamId(id.into_inner());
    v.caller.may(
        Action::ManageTeamMembers,
        &Resource::Team(id.clone()),
        "change this team's members",
    )?;
    let form = form.into_inner();
    let role = TeamRole::parse(&form.role).unwrap_or(TeamRole::Responder);
    let key = form.user.trim().to_owned();
    let ctx = v.caller.audit();
    let app = state.clone();
    let id2 = id.clone();
    let lang = v.lang;
    let outcome = state
        .db
        .run(move |conn| {
            let found = schedule_store::find_people(conn, std::slice::from_ref(&key))?;
            let Some(user) = found.get(&key).cloned() else {
                return Ok(Err(Refused::field(
                    "user",
                    t!("ui.teams.unknown_user", locale = lang, user = key),
                )));
            };
            match cases::put_member(conn, app.seats(), &ctx, &id2, &user, role) {
                Ok(()) => Ok(Ok(())),
                Err(e) => Refused::from(e, &[("role", "role"), ("id", "user")]).map(Err),
            }
        })
        .await?;
    match outcome {
        Ok(()) => Ok(see_other(&format!("/teams/{id}"))),
        Err(refused) => team_page(&v, &state, id, &form, &refused).await,
    }
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: Option<web::Form<CsrfForm>>,
) -> PageResult {
    let v = Visitor::posting(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let (id, user) = path.into_inner();
    let (id, user) = (TeamId(id), UserId(user));
    v.caller.may(
        Action::ManageTeamMembers,
        &Resource::Team(id.clone()),
        "change this team's members",
    )?;
    let ctx = v.caller.audit();
    let app = state.clone();
    let id2 = id.clone();
    state
        .db
        .run(move |conn| cases::remove_member(conn, app.seats(), &ctx, &id2, &user))
        .await?;
    Ok(see_other(&format!("/teams/{id}")))
}
