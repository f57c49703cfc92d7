//! The incident pages: the list with PagerDuty's filters (`/incidents`, the same query
//! parameters as `GET /api/v2/incidents`), an incident (`/incidents/{id}`: what it is, its
//! notes, status updates, timeline and similar past incidents), and the forms that act on it
//! through the same use cases as the REST API, through the web channel.
//!
//! `/incidents/{id}/acknowledge` and `/incidents/{id}/resolve` are also the buttons on Teams
//! and Slack cards. A chat channel is read by many people, so its links name nobody: whoever
//! follows one signs in and acts as themselves, if the policies let them respond. `GET` only
//! asks (a chat client's link preview changes nothing); the form's `POST` does it.

use super::form::{Refused, text_area, text_field};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::action_link::Act;
use crate::domain::ids::{IncidentId, UserId};
use crate::domain::incident::{self as rules, AgentKind, Channel, Details, LogKind, Status};
use crate::domain::paging::PageRequest;
use crate::domain::service::Urgency;
use crate::domain::subscription::Target;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::act::{confirmation, done, nothing_to_do};
use crate::http::api::incidents::{self as api_incidents, Names, acting};
use crate::http::api::params::Params;
use crate::store::DbConnection;
use crate::store::incidents::{self as incident_store, Incident, LoadedIncident, LogEntry};
use crate::store::{services, teams, users};
use crate::use_cases::incidents::{self as cases, Agent};
use crate::use_cases::status_updates;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/incidents", web::get().to(list))
        .route("/incidents/{id}", web::get().to(show))
        .service(
            web::resource("/incidents/{id}/notes")
                .app_data(web::Data::new(Written::Note))
                .route(web::post().to(write)),
        )
        .service(
            web::resource("/incidents/{id}/status_updates")
                .app_data(web::Data::new(Written::Update))
                .route(web::post().to(write)),
        )
        .route("/incidents/{id}/reassign", web::post().to(reassign))
        .route("/incidents/{id}/escalate", web::post().to(escalate))
        .route("/incidents/{id}/subscribe", web::post().to(subscribe));
    for (path, act) in [
        ("/incidents/{id}/acknowledge", Act::Acknowledge),
        ("/incidents/{id}/resolve", Act::Resolve),
    ] {
        cfg.service(
            web::resource(path)
                .app_data(web::Data::new(act))
                .route(web::get().to(confirm))
                .route(web::post().to(perform)),
        );
    }
}

#[derive(Deserialize)]
struct ActForm {
    csrf_token: Option<String>,
    /// `incident` when the button is on the incident's page: back there afterwards, rather
    /// than to the page that says what was done (the chat card's way).
    from: Option<String>,
}

async fn load(state: &AppState, id: IncidentId) -> PageResult<Incident> {
    Ok(state
        .db
        .run(move |conn| incident_store::find(conn, &id))
        .await?)
}

/// Whether `act` would change `incident`.
fn open_to(act: Act, incident: &Incident) -> bool {
    matches!(
        rules::next_status(incident.status, act.change()),
        Ok(Some(_))
    )
}

/// The confirmation page: the incident and a button that posts back here.
async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    act: web::Data<Act>,
    id: web::Path<String>,
) -> PageResult {
    let act = **act;
    let v = Visitor::of(&req, &state).await?;
    v.caller.may(
        Action::RespondToIncident,
        &Resource::Account,
        "respond to incidents",
    )?;
    let incident = load(&state, IncidentId(id.into_inner())).await?;
    if !open_to(act, &incident) {
        return Ok(nothing_to_do(act, &incident));
    }
    Ok(confirmation(
        act,
        &incident,
        &v.current.user.name,
        req.path(),
        &v.csrf_field(),
    ))
}

/// Does it, as the signed-in person.
async fn perform(
    req: HttpRequest,
    state: web::Data<AppState>,
    act: web::Data<Act>,
    id: web::Path<String>,
    form: Option<web::Form<ActForm>>,
) -> PageResult {
    let act = **act;
    let v = Visitor::posting(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let (mut agent, _) = acting(&state, &v.caller, &req, "respond to incidents").await?;
    agent.channel = Channel::Web;
    let id = IncidentId(id.into_inner());
    let from_page = form.as_ref().and_then(|f| f.from.as_deref()) == Some("incident");
    let incident = load(&state, id.clone()).await?;
    if !open_to(act, &incident) {
        return Ok(if from_page {
            back_to(&id)
        } else {
            nothing_to_do(act, &incident)
        });
    }
    let at = state.clock.now();
    let ids = [id.clone()];
    let changed = state
        .db
        .run(move |conn| cases::change_status(conn, &agent, at, &ids, act.change()))
        .await?
        .remove(0);
    state
        .metrics
        .incidents_changed(std::slice::from_ref(&changed), at);
    state.notifications.poke();
    if from_page {
        return Ok(back_to(&id));
    }
    Ok::<HttpResponse, _>(done(act, &changed.incident))
}

// ---- The list ----

/// Lists incidents with the API's filters; with none, the open ones (as PagerDuty's list
/// opens). `mine=1` stands for `user_ids[]=<the visitor>`.
async fn list(req: HttpRequest, state: web::Data<AppState>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    may_read(&v.caller)?;
    let lang = v.lang;
    let mut params = Params::parse(req.query_string());
    let mine = params.one("mine").is_some_and(|m| m == "1");
    if mine && let Some(me) = v.caller.user_id() {
        params.push("user_ids[]", me.as_str());
    }
    if params.all("statuses").is_empty() {
        params.push("statuses[]", "triggered");
        params.push("statuses[]", "acknowledged");
    }
    let page = params.page()?;
    let filter = api_incidents::filter(&params, v.caller.at)?;
    let shown = PageRequest {
        limit: page.limit.min(LIST_LIMIT),
        ..page
    };
    let (found, names, services, teams) = state
        .db
        .run(move |conn| {
            let found = incident_store::list(conn, &filter, &shown)?;
            let names = api_incidents::names(conn, &found.rows)?;
            let first = PageRequest {
                offset: 0,
                limit: CHOICES,
                want_total: false,
            };
            let services = services::list(conn, None, &first)?.rows;
            let teams = teams::list(conn, None, &first)?.rows;
            Ok((found, names, services, teams))
        })
        .await?;
    let chosen = |key: &str, value: &str| params.all(key).iter().any(|v| v == value);
    let body = html! {
        form.filters method="get" action="/incidents" aria-label=(t!("ui.incidents.filters", locale = lang)) {
            fieldset {
                legend { (t!("ui.incidents.status", locale = lang)) }
                @for s in [Status::Triggered, Status::Acknowledged, Status::Resolved] {
                    label.inline {
                        input type="checkbox" name="statuses[]" value=(s.as_str()) checked[chosen("statuses", s.as_str())];
                        " " (status_word(s, lang))
                    }
                }
            }
            fieldset {
                legend { (t!("ui.incidents.urgency", locale = lang)) }
                @for u in [Urgency::High, Urgency::Low] {
                    label.inline {
                        input type="checkbox" name="urgencies[]" value=(u.as_str()) checked[chosen("urgencies", u.as_str())];
                        " " (urgency_word(u, lang))
                    }
                }
            }
            div {
                label for="service" { (t!("ui.incidents.service", locale = lang)) }
                select #service name="service_ids[]" {
                    option value="" { (t!("ui.incidents.any", locale = lang)) }
                    @for s in &services {
                        option value=(s.service.id) selected[chosen("service_ids", s.service.id.as_str())] { (s.service.name) }
                    }
                }
            }
            div {
                label for="team" { (t!("ui.incidents.team", locale = lang)) }
                select #team name="team_ids[]" {
                    option value="" { (t!("ui.incidents.any", locale = lang)) }
                    @for team in &teams {
                        option value=(team.id) selected[chosen("team_ids", team.id.as_str())] { (team.name) }
                    }
                }
            }
            label.inline { input type="checkbox" name="mine" value="1" checked[mine]; " " (t!("ui.incidents.mine", locale = lang)) }
            button type="submit" { (t!("ui.common.filter", locale = lang)) }
        }
        (incident_table(&v, &found.rows, &names))
        nav.pages aria-label="pages" {
            @if shown.offset > 0 {
                a href=(with_offset(&req, (shown.offset - shown.limit).max(0))) rel="prev" { (t!("ui.common.previous", locale = lang)) }
                " "
            }
            @if found.more {
                a href=(with_offset(&req, shown.offset + shown.limit)) rel="next" { (t!("ui.common.next", locale = lang)) }
            }
        }
    };
    Ok(shell::ok(
        &v,
        "/incidents",
        &t!("ui.incidents.title", locale = lang),
        body,
    ))
}

/// Most incidents on one page of the list.
const LIST_LIMIT: i64 = 50;

/// Services and teams offered in the list's filters (the first, by name).
const CHOICES: i64 = 200;

/// This page's URL at another offset, its filters kept.
fn with_offset(req: &HttpRequest, offset: i64) -> String {
    let kept: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(k, _)| k != "offset")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.extend_pairs(kept);
    out.append_pair("offset", &offset.to_string());
    format!("/incidents?{}", out.finish())
}

/// A table of incidents (the list, and the home page's).
pub(crate) fn incident_table(v: &Visitor, rows: &[LoadedIncident], names: &Names) -> Markup {
    let lang = v.lang;
    html! {
        @if rows.is_empty() {
            p.muted { (t!("ui.incidents.none_found", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    thead { tr {
                        th scope="col" { (t!("ui.incidents.number", locale = lang)) }
                        th scope="col" { (t!("ui.incidents.incident", locale = lang)) }
                        th scope="col" { (t!("ui.incidents.status", locale = lang)) }
                        th scope="col" { (t!("ui.incidents.urgency", locale = lang)) }
                        th scope="col" { (t!("ui.incidents.service", locale = lang)) }
                        th scope="col" { (t!("ui.incidents.assigned", locale = lang)) }
                        th scope="col" { (t!("ui.incidents.created", locale = lang)) }
                    } }
                    tbody {
                        @for i in rows {
                            tr {
                                td { (i.incident.number) }
                                td { a href=(format!("/incidents/{}", i.incident.id)) { (i.incident.title) } }
                                td { (status_badge(i.incident.status, lang)) }
                                td { (urgency_badge(i.incident.urgency, lang)) }
                                td { (names.services.get(&i.incident.service_id).map_or("", String::as_str)) }
                                td { (assignees(i, names, lang)) }
                                td { (v.time(i.incident.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn assignees(i: &LoadedIncident, names: &Names, lang: &str) -> String {
    let people: Vec<&str> = i
        .assignments
        .iter()
        .map(|a| {
            names
                .users
                .get(&a.user_id)
                .map_or(a.user_id.as_str(), String::as_str)
        })
        .collect();
    if people.is_empty() {
        t!("ui.incidents.nobody", locale = lang).into_owned()
    } else {
        people.join(", ")
    }
}

fn status_word(s: Status, lang: &str) -> String {
    match s {
        Status::Triggered => t!("ui.incidents.status_triggered", locale = lang),
        Status::Acknowledged => t!("ui.incidents.status_acknowledged", locale = lang),
        Status::Resolved => t!("ui.incidents.status_resolved", locale = lang),
    }
    .into_owned()
}

fn urgency_word(u: Urgency, lang: &str) -> String {
    match u {
        Urgency::High => t!("ui.incidents.urgency_high", locale = lang),
        Urgency::Low => t!("ui.incidents.urgency_low", locale = lang),
    }
    .into_owned()
}

fn status_badge(s: Status, lang: &str) -> Markup {
    html! { span class=(format!("badge {}", s.as_str())) { (status_word(s, lang)) } }
}

fn urgency_badge(u: Urgency, lang: &str) -> Markup {
    html! { span class=(format!("badge {}", u.as_str())) { (urgency_word(u, lang)) } }
}

fn may_read(caller: &crate::http::api::ApiCaller) -> AppResult<()> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read incidents")
}

// ---- One incident ----

/// Timeline entries shown on the page (the API pages through the rest).
const TIMELINE_SHOWN: i64 = 200;

/// Similar past incidents shown.
const SIMILAR_SHOWN: usize = 5;

/// What a refused form on the incident page showed, to show it again.
#[derive(Default)]
struct Typed {
    note: String,
    update: String,
    reassign: String,
}

async fn show(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    incident_page(
        &req,
        &state,
        &v,
        IncidentId(id.into_inner()),
        Typed::default(),
        Refused::default(),
    )
    .await
}

/// The incident page for `v`, with a refused form's values and errors (status 422 then).
async fn incident_page(
    _req: &HttpRequest,
    state: &web::Data<AppState>,
    v: &Visitor,
    id: IncidentId,
    typed: Typed,
    refused: Refused,
) -> PageResult {
    may_read(&v.caller)?;
    let lang = v.lang;
    let related = state.related.clone();
    let finals = state.finals.clone();
    let me = v.caller.user_id().cloned();
    let loaded = state
        .db
        .run(move |conn| {
            let i = incident_store::load(conn, &id)?;
            let names = api_incidents::names(conn, std::slice::from_ref(&i))?;
            let notes = incident_store::notes(conn, &id)?;
            let updates = status_updates::list(conn, &id)?;
            let page = PageRequest {
                offset: 0,
                limit: TIMELINE_SHOWN,
                want_total: true,
            };
            let log = incident_store::log_entries(conn, Some(&id), None, None, &page)?;
            let people = named_in(conn, &log.rows)?;
            let similar = related.search(conn, &id, SIMILAR_SHOWN)?;
            let levels = finals
                .policies(
                    conn,
                    Some(std::slice::from_ref(&i.incident.escalation_policy_id)),
                )?
                .first()
                .map_or(0, |p| p.rules.rules.len());
            let subscribed = match &me {
                Some(me) => status_updates::subscribers(conn, &Target::Incident(id.clone()))?
                    .iter()
                    .any(|s| &s.user_id == me),
                None => false,
            };
            Ok(Shown {
                i,
                names,
                notes,
                updates,
                log,
                people,
                similar,
                levels,
                subscribed,
            })
        })
        .await?;
    let Shown {
        i,
        names,
        notes,
        updates,
        log,
        people,
        similar,
        levels,
        subscribed,
    } = loaded;
    let inc = &i.incident;
    let responds = v
        .caller
        .allows(Action::RespondToIncident, &Resource::Account);
    let subscribes = v.caller.allows(Action::Subscribe, &Resource::Account);
    let base = format!("/incidents/{}", inc.id);
    let body = html! {
        (refused.summary(lang))
        p {
            (status_badge(inc.status, lang)) " " (urgency_badge(inc.urgency, lang))
        }
        dl.facts {
            dt { (t!("ui.incidents.service", locale = lang)) }
            dd { (names.services.get(&inc.service_id).map_or("", String::as_str)) }
            dt { (t!("ui.incidents.created", locale = lang)) }
            dd { (v.time(inc.created_at)) }
            dt { (t!("ui.incidents.assigned", locale = lang)) }
            dd { (assignees(&i, &names, lang)) }
            dt { (t!("ui.incidents.policy", locale = lang)) }
            dd { (names.policies.get(&inc.escalation_policy_id).map_or("", String::as_str)) " · " (t!("ui.incidents.level", locale = lang)) " " (inc.escalation_level) }
            dt { (t!("ui.incidents.alerts", locale = lang)) }
            dd { (i.alerts.triggered + i.alerts.resolved) }
        }
        @if responds {
            div.actions {
                @if inc.status == Status::Triggered {
                    form.inline method="post" action=(format!("{base}/acknowledge")) {
                        (v.csrf())
                        input type="hidden" name="from" value="incident";
                        button type="submit" { (t!("ui.incidents.acknowledge", locale = lang)) }
                    }
                }
                @if inc.status != Status::Resolved {
                    form.inline method="post" action=(format!("{base}/resolve")) {
                        (v.csrf())
                        input type="hidden" name="from" value="incident";
                        button type="submit" { (t!("ui.incidents.resolve", locale = lang)) }
                    }
                }
            }
            @if inc.status != Status::Resolved {
                div.cards {
                    form.stack.card method="post" action=(format!("{base}/reassign")) {
                        h2 { (t!("ui.incidents.reassign", locale = lang)) }
                        (v.csrf())
                        (text_field("assign_to", &t!("ui.incidents.reassign_to", locale = lang), "email", &typed.reassign, &refused))
                        div { button type="submit" { (t!("ui.incidents.reassign", locale = lang)) } }
                    }
                    @if levels > 0 {
                        form.stack.card method="post" action=(format!("{base}/escalate")) {
                            h2 { (t!("ui.incidents.escalate", locale = lang)) }
                            (v.csrf())
                            div {
                                label for="level" { (t!("ui.incidents.escalate_to", locale = lang)) }
                                select #level name="level" {
                                    @for n in 1..=levels {
                                        option value=(n) selected[n as i32 == inc.escalation_level + 1] { (n) }
                                    }
                                }
                            }
                            div { button type="submit" { (t!("ui.incidents.escalate", locale = lang)) } }
                        }
                    }
                }
            }
        } @else {
            p.notice { (t!("ui.incidents.read_only", locale = lang)) }
        }
        @if subscribes && !responds {
            @if subscribed {
                p { (t!("ui.incidents.subscribed", locale = lang)) }
            } @else {
                form method="post" action=(format!("{base}/subscribe")) {
                    (v.csrf())
                    button type="submit" { (t!("ui.incidents.subscribe", locale = lang)) }
                }
            }
        }
        section aria-labelledby="updates" {
            h2 #updates { (t!("ui.incidents.status_updates", locale = lang)) }
            @if updates.is_empty() {
                p.muted { (t!("ui.incidents.no_updates", locale = lang)) }
            }
            ol.timeline {
                @for u in updates.iter().rev() {
                    li { strong { (u.author_name) } " · " (v.time(u.created_at)) br; (u.message) }
                }
            }
            @if responds {
                form.stack method="post" action=(format!("{base}/status_updates")) {
                    (v.csrf())
                    (text_area("update", &t!("ui.incidents.status_update_text", locale = lang), &typed.update, &refused))
                    div { button type="submit" { (t!("ui.incidents.status_update", locale = lang)) } }
                }
            }
        }
        section aria-labelledby="notes" {
            h2 #notes { (t!("ui.incidents.notes", locale = lang)) }
            @if notes.is_empty() {
                p.muted { (t!("ui.incidents.no_notes", locale = lang)) }
            }
            ol.timeline {
                @for n in &notes {
                    li { strong { (n.user_name) } " · " (v.time(n.created_at)) br; (n.content) }
                }
            }
            @if responds {
                form.stack method="post" action=(format!("{base}/notes")) {
                    (v.csrf())
                    (text_area("note", &t!("ui.incidents.note_text", locale = lang), &typed.note, &refused))
                    div { button type="submit" { (t!("ui.incidents.note", locale = lang)) } }
                }
            }
        }
        section aria-labelledby="similar" {
            h2 #similar { (t!("ui.incidents.similar", locale = lang)) }
            @if similar.similar.is_empty() {
                p.muted { (t!("ui.incidents.no_similar", locale = lang)) }
            }
            ul {
                @for s in &similar.similar {
                    li {
                        a href=(format!("/incidents/{}", s.incident.id)) { "#" (s.incident.number) " " (s.incident.title) }
                        " — "
                        (t!("ui.incidents.similar_line", locale = lang,
                            when = s.incident.resolved_at.map(|r| v.time(r)).unwrap_or_default(),
                            minutes = s.incident.resolved_at.map_or(0, |r| (r - s.incident.created_at).num_minutes()),
                            by = s.resolved_by.clone().unwrap_or_default()))
                        @if s.has_postmortem {
                            " · " a href=(format!("/api/v2/incidents/{}/postmortem", s.incident.id)) { (t!("ui.incidents.postmortem", locale = lang)) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="timeline" {
            h2 #timeline { (t!("ui.incidents.timeline", locale = lang)) }
            @if let Some(total) = log.total && total > log.rows.len() as i64 {
                p.muted { (t!("ui.incidents.timeline_more", locale = lang, shown = log.rows.len(), total = total)) }
            }
            ol.timeline {
                @for e in &log.rows {
                    li { (v.time(e.created_at)) " — " (timeline_line(e, &people, lang)) }
                }
            }
        }
    };
    let title = format!("#{} {}", inc.number, inc.title);
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(shell::page(v, status, "/incidents", &title, body))
}

/// The names of everyone the entries reach or skip, by id.
fn named_in(conn: &mut DbConnection, entries: &[LogEntry]) -> AppResult<HashMap<UserId, String>> {
    let mut ids: Vec<UserId> = entries
        .iter()
        .filter_map(|e| e.details.as_ref())
        .flat_map(|d| match &d.0 {
            Details::Reached { users, .. } => users.clone(),
            Details::Skipped { user, .. } => vec![user.clone()],
            _ => Vec::new(),
        })
        .collect();
    ids.sort();
    ids.dedup();
    Ok(users::find_many(conn, &ids)?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect())
}

/// A timeline entry in the visitor's words, made from its kind and details (the stored
/// `summary` is the REST API's English sentence). Free text an entry carries in English (why
/// a person was skipped, how a notification went) is marked `lang="en"`.
fn timeline_line(e: &LogEntry, people: &HashMap<UserId, String>, lang: &str) -> Markup {
    let english = |text: &str| html! { span lang="en" { (text) } };
    let agent = e.agent_name.as_str();
    let who = |users: &[UserId]| {
        if users.is_empty() {
            t!("ui.incidents.log_nobody", locale = lang).into_owned()
        } else {
            users
                .iter()
                .map(|u| people.get(u).cloned().unwrap_or_else(|| u.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let line = match (e.kind, e.details.as_ref().map(|d| &d.0)) {
        (LogKind::Trigger, Some(Details::Alert { summary, first, .. })) => {
            let key = if *first {
                "ui.incidents.log_triggered"
            } else {
                "ui.incidents.log_alert_added"
            };
            t!(key, locale = lang, summary = summary)
        }
        (LogKind::Assign, Some(Details::Reached { users, .. }))
            if matches!(e.agent_kind, AgentKind::User | AgentKind::ApiToken) =>
        {
            t!(
                "ui.incidents.log_reassigned",
                locale = lang,
                who = who(users),
                agent = agent
            )
        }
        (LogKind::Assign, Some(Details::Reached { level, users })) => t!(
            "ui.incidents.log_assigned",
            locale = lang,
            who = who(users),
            level = level
        ),
        (LogKind::Escalate, Some(Details::Reached { level, users })) => t!(
            "ui.incidents.log_escalated",
            locale = lang,
            who = who(users),
            level = level
        ),
        (LogKind::Acknowledge, _) => t!(
            "ui.incidents.log_acknowledged",
            locale = lang,
            agent = agent
        ),
        (LogKind::Resolve, _) => t!("ui.incidents.log_resolved", locale = lang, agent = agent),
        (LogKind::Annotate, Some(Details::Note { .. })) => {
            t!("ui.incidents.log_note", locale = lang, agent = agent)
        }
        (LogKind::Annotate, Some(Details::StatusUpdate { .. })) => {
            t!(
                "ui.incidents.log_status_update",
                locale = lang,
                agent = agent
            )
        }
        (LogKind::RepeatEscalationPath, _) => t!("ui.incidents.log_repeated", locale = lang),
        (LogKind::ExhaustEscalationPath, _) => t!("ui.incidents.log_exhausted", locale = lang),
        (LogKind::Skip, Some(Details::Skipped { user, reason })) => {
            let skipped = t!(
                "ui.incidents.log_skipped",
                locale = lang,
                who = who(std::slice::from_ref(user))
            );
            return html! { (skipped) " " (english(reason)) };
        }
        (LogKind::Notify, _) => {
            return html! { (t!("ui.incidents.log_notified", locale = lang)) " " (english(&e.summary)) };
        }
        _ => return english(&e.summary),
    };
    html! { (line) }
}

/// What the incident page reads, in one trip to the database.
struct Shown {
    i: LoadedIncident,
    names: Names,
    notes: Vec<crate::store::incidents::Note>,
    updates: Vec<crate::store::status_updates::StatusUpdate>,
    log: crate::store::Page<LogEntry>,
    /// The names of the people the timeline's entries reach or skip.
    people: HashMap<UserId, String>,
    similar: crate::use_cases::related::Found,
    levels: usize,
    subscribed: bool,
}

// ---- Forms on the incident page ----

#[derive(Deserialize)]
struct TextForm {
    csrf_token: Option<String>,
    text: Option<String>,
}

#[derive(Deserialize)]
struct ReassignForm {
    csrf_token: Option<String>,
    assign_to: Option<String>,
}

#[derive(Deserialize)]
struct EscalateForm {
    csrf_token: Option<String>,
    level: Option<String>,
}

/// The visitor of a form post on an incident, checked: signed in, CSRF, and someone who may
/// respond (the agent acts through the web channel).
async fn responder(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    csrf: Option<&str>,
) -> PageResult<(Visitor, Agent, Option<UserId>)> {
    let v = Visitor::of(req, state).await?;
    v.check_form(req, csrf, state)?;
    let (mut agent, user) = acting(state, &v.caller, req, "respond to incidents").await?;
    agent.channel = Channel::Web;
    Ok((v, agent, user))
}

/// After a form did its work: back to the incident (303), so a reload posts nothing again.
fn back_to(id: &IncidentId) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", format!("/incidents/{id}")))
        .finish()
}

/// The page again with the refusal by field, or the error page for anything else.
async fn refused_form(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    v: &Visitor,
    id: IncidentId,
    typed: Typed,
    e: AppError,
    fields: &[(&str, &str)],
) -> PageResult {
    let refused = Refused::from(e, fields)?;
    incident_page(req, state, v, id, typed, refused).await
}

/// What a text form on the incident page writes: a note, or a status update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Note,
    Update,
}

/// Adds a note or posts a status update (`Written`, set on the route), through the same use
/// case as the API; a refusal shows the page again with the text kept.
async fn write(
    req: HttpRequest,
    state: web::Data<AppState>,
    written: web::Data<Written>,
    id: web::Path<String>,
    form: Option<web::Form<TextForm>>,
) -> PageResult {
    let written = **written;
    let form = form.map(web::Form::into_inner);
    let (v, agent, user) = responder(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let text = form.and_then(|f| f.text).unwrap_or_default();
    let id = IncidentId(id.into_inner());
    let at = v.caller.at;
    let base = state.public_url.clone();
    let (i, typed_text) = (id.clone(), text.clone());
    let done = state
        .db
        .run(move |conn| match written {
            Written::Note => cases::add_note(conn, &agent, user.as_ref(), at, &i, &text).map(|_| 0),
            Written::Update => {
                status_updates::post(conn, &base, &agent, user.as_ref(), at, &i, &text)
                    .map(|posted| posted.emails)
            }
        })
        .await;
    match done {
        Ok(emails) => {
            state.email_delivery.poke_if(emails);
            Ok(back_to(&id))
        }
        Err(e) => {
            let (typed, fields) = match written {
                Written::Note => (
                    Typed {
                        note: typed_text,
                        ..Typed::default()
                    },
                    [("note.content", "note")],
                ),
                Written::Update => (
                    Typed {
                        update: typed_text,
                        ..Typed::default()
                    },
                    [("message", "update")],
                ),
            };
            refused_form(&req, &state, &v, id, typed, e, &fields).await
        }
    }
}

async fn reassign(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<ReassignForm>>,
) -> PageResult {
    let form = form.map(web::Form::into_inner);
    let (v, agent, _) = responder(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let email = form
        .and_then(|f| f.assign_to)
        .unwrap_or_default()
        .trim()
        .to_owned();
    let id = IncidentId(id.into_inner());
    let at = v.caller.at;
    let unknown = t!("ui.incidents.unknown_person", locale = v.lang).into_owned();
    let (i, address) = (id.clone(), email.clone());
    let done = state
        .db
        .run(move |conn| {
            let Some(person) = users::person_by_email(conn, &address)? else {
                return Err(AppError::invalid("assign_to", unknown));
            };
            cases::reassign(conn, &agent, at, &i, vec![person.id])
        })
        .await;
    match done {
        Ok(changed) => {
            state
                .metrics
                .incidents_changed(std::slice::from_ref(&changed), at);
            state.notifications.poke();
            Ok(back_to(&id))
        }
        Err(e) => {
            let typed = Typed {
                reassign: email,
                ..Typed::default()
            };
            refused_form(
                &req,
                &state,
                &v,
                id,
                typed,
                e,
                &[
                    ("assign_to", "assign_to"),
                    ("incident.assignments", "assign_to"),
                ],
            )
            .await
        }
    }
}

async fn escalate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<EscalateForm>>,
) -> PageResult {
    let form = form.map(web::Form::into_inner);
    let (v, agent, _) = responder(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let id = IncidentId(id.into_inner());
    let Some(level) = form
        .and_then(|f| f.level)
        .and_then(|l| l.trim().parse::<usize>().ok())
    else {
        return refused_form(
            &req,
            &state,
            &v,
            id,
            Typed::default(),
            AppError::invalid("level", "choose a level"),
            &[("level", "level")],
        )
        .await;
    };
    let at = v.caller.at;
    let cache = state.finals.clone();
    let i = id.clone();
    match state
        .db
        .run(move |conn| cases::escalate(conn, &cache, &agent, at, &i, level))
        .await
    {
        Ok(changed) => {
            state
                .metrics
                .incidents_changed(std::slice::from_ref(&changed), at);
            state.notifications.poke();
            Ok(back_to(&id))
        }
        Err(e) => {
            refused_form(
                &req,
                &state,
                &v,
                id,
                Typed::default(),
                e,
                &[("incident.escalation_level", "level")],
            )
            .await
        }
    }
}

/// A stakeholder (or anyone) subscribes themselves to the incident's status updates.
async fn subscribe(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<ActForm>>,
) -> PageResult {
    let v = Visitor::posting(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    v.caller.may(
        Action::Subscribe,
        &Resource::Account,
        "subscribe to status updates",
    )?;
    let me = v.current.user.id.clone();
    let id = IncidentId(id.into_inner());
    let target = Target::Incident(id.clone());
    let at = v.caller.at;
    state
        .db
        .run(move |conn| status_updates::subscribe(conn, &target, &[me], at))
        .await?;
    Ok(back_to(&id))
}
