//! `/schedules`: the list, a schedule's page (each layer, the overrides and the final
//! schedule as a timeline over a window, its gaps marked and listed), the layer editor
//! (`/edit`) with its preview (`/preview`, nothing saved), overrides (add, delete) and the
//! month's roster import (CSV or JSON file). Reading needs `ReadOnCall`; changes go through
//! the same use cases and the same policy checks as `/api/v2/schedules` (`ManageSchedule`
//! asked of the schedule as stored). Times are shown and typed in the schedule's zone.

use super::form::{Refused, text_field};
use super::listing::{CsrfForm, ListQuery, see_other};
use super::timeline::{self, Frame, Row};
use super::{PageResult, Visitor, shell, upload};
use crate::authz::{Action, Resource};
use crate::domain::ids::{OverrideId, ScheduleId, UserId};
use crate::domain::schedule::edit::current;
use crate::domain::schedule::input::{LayerInput, LayerUser, Reference, RestrictionInput};
use crate::domain::schedule::{Restriction, Zone};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::api::schedules::{
    self as api, ScheduleFields, may_manage, may_remove_override, rights_of, schedule_resource,
    written,
};
use crate::store::schedules::{self as store, Loaded};
use crate::use_cases::schedules::{self as cases, OverrideDraft, OverrideRights, View};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, PreEscaped, html};
use rust_i18n::t;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/schedules").route(web::get().to(list)))
        .service(web::resource("/schedules/{id}").route(web::get().to(show)))
        .service(
            web::resource("/schedules/{id}/edit")
                .route(web::get().to(edit))
                .route(web::post().to(save)),
        )
        .service(web::resource("/schedules/{id}/preview").route(web::post().to(preview)))
        .service(web::resource("/schedules/{id}/overrides").route(web::post().to(add_override)))
        .service(
            web::resource("/schedules/{id}/overrides/{override_id}/delete")
                .route(web::post().to(delete_override)),
        )
        .service(
            web::resource("/schedules/{id}/roster")
                .app_data(web::PayloadConfig::new(ROSTER_BYTES))
                .route(web::post().to(import_roster)),
        );
}

/// The days a timeline shows, by default and at most.
const DEFAULT_DAYS: i64 = 14;
const MAX_DAYS: i64 = 62;
/// The largest roster file (1,000 rows of a long address and two times fit easily).
const ROSTER_BYTES: usize = 512 * 1024;

fn reads(v: &Visitor) -> PageResult<()> {
    Ok(v.caller
        .may(Action::ReadOnCall, &Resource::Account, "read schedules")?)
}

fn manages(v: &Visitor, loaded: &Loaded) -> bool {
    v.caller
        .allows(Action::ManageSchedule, &schedule_resource(loaded))
}

fn schedule_path(id: &ScheduleId) -> String {
    format!("/schedules/{}", id.as_str())
}

/// A time as typed in a form (`2026-06-01T09:00`) read in `tz`; anything else is passed on
/// as written, for the use case to accept (with an offset) or refuse by its field.
fn typed_instant(text: &str, tz: &TimeZone) -> String {
    let text = text.trim();
    match text.parse::<jiff::civil::DateTime>() {
        Ok(dt) if !text.contains(['+', 'Z', 'z']) && text.matches('-').count() == 2 => tz
            .to_ambiguous_zoned_datetime(dt)
            .compatible()
            .map(|z| written(z.timestamp(), tz))
            .unwrap_or_else(|_| text.to_owned()),
        _ => text.to_owned(),
    }
}

/// An instant as a `datetime-local` field shows it, in `tz`.
fn field_time(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// An instant as a page shows it, in `tz`: `2026-06-01 09:00`.
fn shown(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

// ---- The list ----

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    let page = q.page();
    let text = q.text();
    let found = state
        .db
        .run(move |conn| store::list(conn, Some(text.as_str()), &page))
        .await?;
    let lang = v.lang;
    let body = html! {
        (q.search("/schedules", &t!("ui.schedules.search", locale = lang), lang))
        @if found.rows.is_empty() {
            p.muted { (t!("ui.schedules.none", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.schedules.list_caption", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.schedules.name", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.time_zone", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.description", locale = lang)) }
                    } }
                    tbody {
                        @for s in &found.rows {
                            tr {
                                td { a href=(schedule_path(&s.id)) { (s.name) } }
                                td { (s.time_zone.name()) }
                                td { (s.description.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
        (q.pager("/schedules", found.more, &t!("ui.schedules.pages", locale = lang), lang))
    };
    Ok(shell::ok(
        &v,
        "/schedules",
        &t!("ui.shell.schedules", locale = lang),
        body,
    ))
}

// ---- A schedule's page ----

#[derive(Deserialize, Default)]
struct WindowQuery {
    /// The first day shown (`2026-06-01`, in the schedule's zone).
    since: Option<String>,
    days: Option<i64>,
}

/// The window a page shows: from midnight of `since` (default today) in `tz`, `days` long.
fn page_window(
    q: &WindowQuery,
    tz: &TimeZone,
    now: Timestamp,
) -> AppResult<(jiff::civil::Date, i64, Timestamp, Timestamp)> {
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::invalid(
            "days",
            format!("is {days}: from 1 to {MAX_DAYS}"),
        ));
    }
    let day = match q.since.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => text.parse::<jiff::civil::Date>().map_err(|_| {
            AppError::invalid(
                "since",
                format!("'{text}' is not a date (such as 2026-06-01)"),
            )
        })?,
        None => now.to_zoned_datetime(tz.clone()).date(),
    };
    let bad = |_| AppError::invalid("since", "is out of range");
    let since = day.to_zoned_datetime(tz.clone()).map_err(bad)?.timestamp();
    let until = day
        .checked_add(jiff::Span::new().days(days))
        .map_err(bad)?
        .to_zoned_datetime(tz.clone())
        .map_err(bad)?
        .timestamp();
    Ok((day, days, since, until))
}

fn names(view: &View) -> HashMap<UserId, String> {
    view.people
        .iter()
        .map(|(id, p)| (id.clone(), p.name.clone()))
        .collect()
}

/// The timeline of a rendered schedule, with its own heading's words for the picture.
fn timeline_of(v: &Visitor, view: &View, since: Timestamp, until: Timestamp) -> Markup {
    let lang = v.lang;
    let tz = view.loaded.schedule.time_zone.tz();
    let live: Vec<_> = view.loaded.live().collect();
    let skip = view.rendered.layers.len() - live.len();
    let mut rows: Vec<Row<'_>> = live
        .iter()
        .zip(&view.rendered.layers[skip..])
        .map(|(l, entries)| Row {
            label: l.row.name.clone(),
            entries,
            gaps: &[],
        })
        .collect();
    rows.push(Row {
        label: t!("ui.schedules.overrides", locale = lang).into_owned(),
        entries: &view.rendered.overrides,
        gaps: &[],
    });
    rows.push(Row {
        label: t!("ui.schedules.final", locale = lang).into_owned(),
        entries: &view.rendered.final_schedule,
        gaps: &view.rendered.gaps,
    });
    let people = names(view);
    let frame = Frame {
        since,
        until,
        tz,
        names: &people,
        caption: t!(
            "ui.schedules.timeline_caption",
            locale = lang,
            from = shown(since, tz),
            to = shown(until, tz)
        )
        .into_owned(),
        gap_word: t!("ui.schedules.gap", locale = lang).into_owned(),
    };
    let name = |u: &UserId| people.get(u).cloned().unwrap_or_else(|| u.to_string());
    html! {
        figure.timeline {
            (timeline::svg(&rows, &frame))
            figcaption.muted {
                (t!("ui.schedules.times_in", locale = lang, zone = view.loaded.schedule.time_zone.name()))
                " "
                span.tl-key-gap { (t!("ui.schedules.gap_key", locale = lang)) }
            }
        }
        @if view.rendered.gaps.is_empty() {
            p.notice { (t!("ui.schedules.no_gaps", locale = lang)) }
        } @else {
            div.errors.gaps role="note" {
                p { (t!("ui.schedules.gaps_found", locale = lang, count = view.rendered.gaps.len())) }
                ul {
                    @for g in &view.rendered.gaps {
                        li { (shown(g.start, tz)) " – " (shown(g.end, tz)) }
                    }
                }
            }
        }
        div.table-wrap {
            table.final-schedule {
                caption { (t!("ui.schedules.final", locale = lang)) }
                thead { tr {
                    th scope="col" { (t!("ui.schedules.who", locale = lang)) }
                    th scope="col" { (t!("ui.schedules.start", locale = lang)) }
                    th scope="col" { (t!("ui.schedules.end", locale = lang)) }
                } }
                tbody {
                    @for e in &view.rendered.final_schedule {
                        tr {
                            td { (name(&e.user)) }
                            td { (shown(e.start, tz)) }
                            td { (shown(e.end, tz)) }
                        }
                    }
                }
            }
        }
        @if !view.skipped.is_empty() {
            div.table-wrap {
                table {
                    caption { (t!("ui.schedules.skipped", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.schedules.who", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.start", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.end", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.why", locale = lang)) }
                    } }
                    tbody {
                        @for k in &view.skipped {
                            tr {
                                td { (name(&k.entry.user)) }
                                td { (shown(k.entry.start, tz)) }
                                td { (shown(k.entry.end, tz)) }
                                td { (k.reason.explain()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<WindowQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    schedule_page(
        &v,
        &state,
        ScheduleId(id.into_inner()),
        &q,
        OverrideForm::default(),
        Refused::default(),
    )
    .await
}

/// The override form as typed.
#[derive(Deserialize, Default)]
struct OverrideForm {
    csrf_token: Option<String>,
    #[serde(default)]
    user: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
}

async fn schedule_page(
    v: &Visitor,
    state: &AppState,
    id: ScheduleId,
    q: &WindowQuery,
    typed: OverrideForm,
    refused: Refused,
) -> PageResult {
    let lang = v.lang;
    let now = crate::clock::jiff_now(v.caller.at);
    // The zone is the schedule's: read it first (through the cache) to place the window.
    let finals = state.finals.clone();
    let id2 = id.clone();
    let zone: Zone = state
        .db
        .run(move |conn| {
            Ok(finals
                .schedules(conn, Some(std::slice::from_ref(&id2)))?
                .first()
                .map(|k| k.loaded.schedule.time_zone.clone()))
        })
        .await?
        .ok_or_else(|| AppError::not_found("schedule", id.as_str()))?;
    let (day, days, since, until) = page_window(q, zone.tz(), now)?;
    let finals = state.finals.clone();
    let base = state.public_url.clone();
    let id2 = id.clone();
    let (view, (policies, teams)) = state
        .db
        .run(move |conn| {
            let view = cases::view(conn, Some(&finals), &id2, since, until)?;
            let related = api::related(conn, &base, &view.loaded)?;
            Ok((view, related))
        })
        .await?;
    let tz = view.loaded.schedule.time_zone.tz();
    let manage = manages(v, &view.loaded);
    let s = &view.loaded.schedule;
    let path = schedule_path(&id);
    let step = |d: i64| {
        let to = day
            .checked_add(jiff::Span::new().days(d))
            .unwrap_or(day)
            .to_string();
        format!("{path}?since={to}&days={days}")
    };
    let people = names(&view);
    let name = |u: &UserId| people.get(u).cloned().unwrap_or_else(|| u.to_string());
    let stored_now = crate::clock::stored(v.caller.at);
    let removable = |o: &store::OverrideRow| {
        o.ends_at > stored_now
            && (manage
                || (v.caller.user_id() == Some(&o.user_id)
                    && v.caller
                        .may_change_shift(&schedule_resource(&view.loaded), true, false)))
    };
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = html! {
        p.muted {
            (t!("ui.schedules.time_zone", locale = lang)) ": " (s.time_zone.name())
            @if let Some(d) = &s.description { " · " (d) }
        }
        @if !teams.is_empty() || !policies.is_empty() {
            ul.related {
                @for t in &teams { li { (t!("ui.schedules.team", locale = lang)) ": " a href=(format!("/teams/{}", t.id)) { (t.summary) } } }
                @for p in &policies { li { (t!("ui.schedules.policy", locale = lang)) ": " a href=(format!("/escalation_policies/{}", p.id)) { (p.summary) } } }
            }
        }
        @if manage {
            div.actions {
                a.button href=(format!("{path}/edit")) { (t!("ui.schedules.edit_layers", locale = lang)) }
            }
        }
        h2 { (t!("ui.schedules.timeline", locale = lang)) }
        nav.actions aria-label=(t!("ui.schedules.window", locale = lang)) {
            a href=(step(-days)) rel="prev" { (t!("ui.schedules.earlier", locale = lang, days = days)) }
            a href=(step(days)) rel="next" { (t!("ui.schedules.later", locale = lang, days = days)) }
        }
        (timeline_of(v, &view, since, until))
        h2 #overrides { (t!("ui.schedules.overrides", locale = lang)) }
        @if view.overrides.is_empty() {
            p.muted { (t!("ui.schedules.no_overrides", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.schedules.overrides_in_window", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.schedules.who", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.start", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.end", locale = lang)) }
                        th scope="col" { span.visually-hidden { (t!("ui.schedules.actions", locale = lang)) } }
                    } }
                    tbody {
                        @for o in &view.overrides {
                            tr {
                                td { (name(&o.user_id)) }
                                td { (shown(crate::clock::instant(o.starts_at), tz)) }
                                td { (shown(crate::clock::instant(o.ends_at), tz)) }
                                td {
                                    @if removable(o) {
                                        form.inline method="post" action=(format!("{path}/overrides/{}/delete", o.id)) {
                                            (v.csrf())
                                            button.secondary type="submit" { (t!("ui.schedules.delete_override", locale = lang)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manage {
            h3 { (t!("ui.schedules.add_override", locale = lang)) }
            (refused.summary(lang))
            form.stack method="post" action=(format!("{path}/overrides")) {
                (v.csrf())
                (text_field("user", &t!("ui.schedules.override_user", locale = lang), "text", &typed.user, &refused))
                (text_field("start", &t!("ui.schedules.start", locale = lang), "datetime-local", &typed.start, &refused))
                (text_field("end", &t!("ui.schedules.end", locale = lang), "datetime-local", &typed.end, &refused))
                div { button type="submit" { (t!("ui.schedules.add_override", locale = lang)) } }
            }
            h2 #roster { (t!("ui.schedules.roster", locale = lang)) }
            // The header and the JSON shape are code, in every language.
            p { (PreEscaped(t!("ui.schedules.roster_help", locale = lang,
                header = html! { code { "user,start,end" } }.into_string(),
                json = html! { code { r#"{"rows": [...]}"# } }.into_string()))) }
            pre { "user,start,end\nana@example.com,2026-06-01T09:00:00+09:00,2026-06-02T09:00:00+09:00" }
            form.stack method="post" action=(format!("{path}/roster")) enctype="multipart/form-data" {
                (v.csrf())
                div {
                    label for="roster-file" { (t!("ui.schedules.roster_file", locale = lang)) }
                    input #roster-file type="file" name="roster" accept=".csv,.json,text/csv,application/json" required;
                }
                div { button type="submit" { (t!("ui.schedules.roster_import", locale = lang)) } }
            }
        }
    };
    let title = s.name.clone();
    Ok(shell::page(v, status, "/schedules", &title, body))
}

// ---- Overrides ----

async fn add_override(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<OverrideForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, form.csrf_token.as_deref()).await?;
    reads(&v)?;
    let form = form.into_inner();
    let id = ScheduleId(id.into_inner());
    let loaded = load(&state, &id).await?;
    v.caller.may(
        Action::ManageSchedule,
        &schedule_resource(&loaded),
        "place overrides on this schedule",
    )?;
    let tz = loaded.schedule.time_zone.tz().clone();
    let (user, start, end) = (
        form.user.trim().to_owned(),
        typed_instant(&form.start, &tz),
        typed_instant(&form.end, &tz),
    );
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let id2 = id.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let found = store::find_people(conn, std::slice::from_ref(&user))?;
            let item = (|| {
                let user = found.get(&user).ok_or_else(|| {
                    (
                        "user",
                        format!("'{user}' is neither a user's e-mail nor id"),
                    )
                })?;
                let start = crate::domain::schedule::input::instant("start", &start)
                    .map_err(|i| ("start", i.reason))?;
                let end = crate::domain::schedule::input::instant("end", &end)
                    .map_err(|i| ("end", i.reason))?;
                Ok::<_, (&str, String)>(OverrideDraft {
                    user: user.clone(),
                    start,
                    end,
                })
            })();
            let draft = match item {
                Ok(d) => d,
                Err((field, reason)) => return Ok(Err(Refused::field(field, reason))),
            };
            let (manage, shift) = rights_of(&caller);
            let rights = OverrideRights {
                caller: caller.user_id(),
                manage: &manage,
                shift: &shift,
            };
            let mut out = cases::add_overrides(conn, &ctx, &id2, vec![Ok(draft)], false, &rights)?;
            Ok(match out.remove(0) {
                Ok(_) => Ok(()),
                Err(errors) => Err(Refused {
                    general: errors,
                    ..Refused::default()
                }),
            })
        })
        .await?;
    match outcome {
        Ok(()) => Ok(see_other(&format!("{}#overrides", schedule_path(&id)))),
        Err(refused) => schedule_page(&v, &state, id, &WindowQuery::default(), form, refused).await,
    }
}

async fn delete_override(
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
    reads(&v)?;
    let (id, override_id) = path.into_inner();
    let (id, override_id) = (ScheduleId(id), OverrideId(override_id));
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let id2 = id.clone();
    state
        .db
        .run(move |conn| {
            cases::delete_override(conn, &ctx, &id2, &override_id, |loaded, row| {
                may_remove_override(&caller, loaded, row)
            })
        })
        .await?;
    Ok(see_other(&format!("{}#overrides", schedule_path(&id))))
}

async fn load(state: &AppState, id: &ScheduleId) -> AppResult<Loaded> {
    let id = id.clone();
    state.db.run(move |conn| store::load(conn, &id)).await
}

// ---- The layer editor ----

/// A layer as the editor shows and reads it (text as typed).
#[derive(Debug, Default, Clone)]
struct LayerForm {
    id: String,
    name: String,
    /// One person a line (e-mail address or id), in turn order.
    users: String,
    turn: String,
    /// `hours` or `days`.
    unit: String,
    /// The hand-off: when a turn starts (`datetime-local`, schedule's zone).
    handoff: String,
    start: String,
    /// One a line: `daily 09:00 8` or `weekly 1 09:00 8` (day 1 is Monday; hours).
    restrictions: String,
    remove: bool,
}

#[derive(Debug, Default, Clone)]
struct EditForm {
    name: String,
    description: String,
    time_zone: String,
    layers: Vec<LayerForm>,
}

fn hours_text(seconds: i64) -> String {
    if seconds % 3600 == 0 {
        (seconds / 3600).to_string()
    } else {
        format!("{:.2}", seconds as f64 / 3600.0)
    }
}

fn restriction_line(r: &Restriction) -> String {
    let r = RestrictionInput::from(*r);
    let time = r.start_time_of_day.trim_end_matches(":00").to_owned();
    let time = if time.len() == 2 {
        format!("{time}:00")
    } else {
        time
    };
    match r.start_day_of_week {
        Some(day) => format!("weekly {day} {time} {}", hours_text(r.duration_seconds)),
        None => format!("daily {time} {}", hours_text(r.duration_seconds)),
    }
}

impl EditForm {
    /// The form filled from the schedule as stored (each layer's version in force).
    fn of(loaded: &Loaded, people: &HashMap<UserId, store::Person>, now: Timestamp) -> EditForm {
        let s = &loaded.schedule;
        let tz = s.time_zone.tz();
        let layers = loaded
            .live()
            .filter_map(|l| {
                let (_, v) = current(&l.stored(), now)?.clone();
                let secs = v.turn_length.as_secs();
                let (turn, unit) = if secs % 86_400 == 0 {
                    ((secs / 86_400).to_string(), "days")
                } else {
                    (hours_text(secs), "hours")
                };
                Some(LayerForm {
                    id: l.row.id.to_string(),
                    name: l.row.name.clone(),
                    users: v
                        .users
                        .iter()
                        .map(|u| {
                            people
                                .get(u)
                                .and_then(|p| p.email.clone())
                                .unwrap_or_else(|| u.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    turn,
                    unit: unit.into(),
                    handoff: v
                        .rotation_virtual_start
                        .strftime("%Y-%m-%dT%H:%M")
                        .to_string(),
                    start: field_time(v.start, tz),
                    restrictions: v
                        .restrictions
                        .iter()
                        .map(restriction_line)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    remove: false,
                })
            })
            .collect();
        EditForm {
            name: s.name.clone(),
            description: s.description.clone().unwrap_or_default(),
            time_zone: s.time_zone.name().to_owned(),
            layers,
        }
    }

    /// The form as posted: `layer-{i}-{field}` names each layer's fields.
    fn read(pairs: &[(String, String)]) -> EditForm {
        let mut form = EditForm::default();
        let mut layers: std::collections::BTreeMap<usize, LayerForm> = Default::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value.clone(),
                "description" => form.description = value.clone(),
                "time_zone" => form.time_zone = value.clone(),
                _ => {
                    let Some(rest) = key.strip_prefix("layer-") else {
                        continue;
                    };
                    let Some((i, field)) = rest.split_once('-') else {
                        continue;
                    };
                    let Ok(i) = i.parse::<usize>() else { continue };
                    if i > crate::domain::schedule::input::MAX_LAYERS {
                        continue;
                    }
                    let l = layers.entry(i).or_default();
                    let value = value.clone();
                    match field {
                        "id" => l.id = value,
                        "name" => l.name = value,
                        "users" => l.users = value,
                        "turn" => l.turn = value,
                        "unit" => l.unit = value,
                        "handoff" => l.handoff = value,
                        "start" => l.start = value,
                        "restrictions" => l.restrictions = value,
                        "remove" => l.remove = !value.is_empty(),
                        _ => {}
                    }
                }
            }
        }
        form.layers = layers.into_values().collect();
        form
    }

    /// The layers that are sent: not removed, and not the blank "new layer".
    fn kept(&self) -> impl Iterator<Item = (usize, &LayerForm)> {
        self.layers.iter().enumerate().filter(|(_, l)| {
            let blank = l.id.is_empty() && l.users.trim().is_empty() && l.name.trim().is_empty();
            !l.remove && !blank
        })
    }

    /// Everyone typed (to look their e-mail addresses up).
    fn people(&self) -> Vec<String> {
        self.kept()
            .flat_map(|(_, l)| l.users.lines().map(str::trim).filter(|u| !u.is_empty()))
            .map(str::to_owned)
            .collect()
    }

    /// The API's field paths and this form's fields, for refusals.
    fn fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = ["name", "description", "time_zone"]
            .iter()
            .map(|f| ((*f).to_owned(), (*f).to_owned()))
            .collect();
        for (sent, (i, _)) in self.kept().enumerate() {
            for (api, form) in [
                ("users", "users"),
                ("rotation_turn_length_seconds", "turn"),
                ("rotation_virtual_start", "handoff"),
                ("start", "start"),
                ("end", "start"),
                ("restrictions", "restrictions"),
                ("name", "name"),
            ] {
                out.push((
                    format!("schedule_layers[{sent}].{api}"),
                    format!("layer-{i}-{form}"),
                ));
            }
        }
        out.push(("schedule_layers".into(), "layer-0-users".into()));
        out
    }

    /// What the API would be sent, people by id where their address is known; `tz` reads
    /// the times typed. A value this form reads itself (a number, a restriction line) is
    /// refused here by its field.
    fn schedule(
        &self,
        found: &HashMap<String, UserId>,
        tz: &TimeZone,
        lang: &str,
    ) -> Result<ScheduleFields, Refused> {
        let mut layers = Vec::new();
        for (i, l) in self.kept() {
            let field = |f: &str| format!("layer-{i}-{f}");
            let number = l.turn.trim().parse::<f64>().ok().filter(|n| n.is_finite());
            let Some(number) = number else {
                return Err(Refused::field(
                    &field("turn"),
                    t!(
                        "ui.schedules.turn_not_number",
                        locale = lang,
                        value = l.turn
                    ),
                ));
            };
            let unit = if l.unit == "days" { 86_400.0 } else { 3_600.0 };
            let restrictions = l
                .restrictions
                .lines()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|line| {
                    restriction_input(line).ok_or_else(|| {
                        Refused::field(
                            &field("restrictions"),
                            t!(
                                "ui.schedules.restriction_unreadable",
                                locale = lang,
                                line = line
                            ),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            layers.push(LayerInput {
                id: Some(l.id.clone()).filter(|id| !id.is_empty()),
                name: Some(l.name.clone()),
                start: typed_instant(&l.start, tz),
                end: None,
                rotation_virtual_start: typed_instant(&l.handoff, tz),
                rotation_turn_length_seconds: (number * unit).round() as i64,
                users: l
                    .users
                    .lines()
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(|u| LayerUser {
                        user: Reference {
                            id: found
                                .get(u)
                                .map_or_else(|| u.to_owned(), |id| id.to_string()),
                            kind: Some("user_reference".into()),
                        },
                    })
                    .collect(),
                restrictions,
            });
        }
        Ok(ScheduleFields {
            name: Some(self.name.clone()),
            kind: Some("schedule".into()),
            time_zone: Some(self.time_zone.clone()),
            description: Some(self.description.clone()).filter(|d| !d.trim().is_empty()),
            schedule_layers: layers,
            teams: Vec::new(),
        })
    }
}

/// `daily 09:00 8` / `weekly 1 09:00 8` (or `weekly mon 09:00 8`).
fn restriction_input(line: &str) -> Option<RestrictionInput> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let hours = |w: &str| {
        w.trim_end_matches('h')
            .parse::<f64>()
            .ok()
            .filter(|h| h.is_finite())
            .map(|h| (h * 3600.0).round() as i64)
    };
    let time = |w: &str| {
        if w.len() == 5 {
            format!("{w}:00")
        } else {
            w.to_owned()
        }
    };
    match words.as_slice() {
        [kind, at, length] if kind.eq_ignore_ascii_case("daily") => Some(RestrictionInput {
            kind: "daily_restriction".into(),
            start_time_of_day: time(at),
            duration_seconds: hours(length)?,
            start_day_of_week: None,
        }),
        [kind, day, at, length] if kind.eq_ignore_ascii_case("weekly") => {
            const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let day = day.parse::<i64>().ok().or_else(|| {
                let d = day.to_ascii_lowercase();
                DAYS.iter()
                    .position(|n| d.starts_with(n))
                    .map(|p| p as i64 + 1)
            })?;
            Some(RestrictionInput {
                kind: "weekly_restriction".into(),
                start_time_of_day: time(at),
                duration_seconds: hours(length)?,
                start_day_of_week: Some(day),
            })
        }
        _ => None,
    }
}

/// The schedule and the people on it, if the visitor may change it (403 otherwise).
async fn editable(v: &Visitor, state: &AppState, id: &ScheduleId) -> PageResult<Loaded> {
    reads(v)?;
    let loaded = load(state, id).await?;
    v.caller.may(
        Action::ManageSchedule,
        &schedule_resource(&loaded),
        "change this schedule",
    )?;
    Ok(loaded)
}

async fn edit(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    let id = ScheduleId(id.into_inner());
    let loaded = editable(&v, &state, &id).await?;
    let ids = loaded.people();
    let people = state.db.run(move |conn| store::people(conn, &ids)).await?;
    let now = crate::clock::jiff_now(v.caller.at);
    let mut form = EditForm::of(&loaded, &people, now);
    form.layers
        .push(blank_layer(now, loaded.schedule.time_zone.tz()));
    Ok(editor(
        &v,
        &id,
        &loaded.schedule.name,
        &form,
        &Refused::default(),
        None,
    ))
}

fn blank_layer(now: Timestamp, tz: &TimeZone) -> LayerForm {
    let midnight = now
        .to_zoned_datetime(tz.clone())
        .start_of_day()
        .map_or(now, |z| z.timestamp());
    LayerForm {
        turn: "1".into(),
        unit: "days".into(),
        handoff: field_time(midnight + SignedDuration::from_hours(9), tz),
        start: field_time(now, tz),
        ..LayerForm::default()
    }
}

/// The editor: the form as typed, refusals beside their fields, and the preview if any.
fn editor(
    v: &Visitor,
    id: &ScheduleId,
    name: &str,
    form: &EditForm,
    refused: &Refused,
    preview: Option<Markup>,
) -> HttpResponse {
    let lang = v.lang;
    let path = schedule_path(id);
    let status = if !refused.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let area = |name: &str, label: &str, value: &str, hint: Option<&str>| {
        html! {
            div {
                label for=(name) { (label) }
                @if let Some(h) = hint { p.muted id=(format!("{name}-hint")) { (h) } }
                textarea id=(name) name=(name) rows="4"
                    aria-invalid=[refused.invalid(name)]
                    aria-describedby=[hint.map(|_| format!("{name}-hint"))] { (value) }
                (refused.under(name))
            }
        }
    };
    let body = html! {
        p { a href=(path) { (t!("ui.schedules.back", locale = lang, name = name)) } }
        (refused.summary(lang))
        @if let Some(p) = preview {
            section.preview aria-labelledby="preview-heading" {
                h2 #preview-heading { (t!("ui.schedules.preview", locale = lang)) }
                p.notice { (t!("ui.schedules.preview_note", locale = lang)) }
                (p)
            }
        }
        form.stack.schedule-editor method="post" action=(format!("{path}/edit")) {
            (v.csrf())
            (text_field("name", &t!("ui.schedules.name", locale = lang), "text", &form.name, refused))
            (text_field("description", &t!("ui.schedules.description", locale = lang), "text", &form.description, refused))
            (text_field("time_zone", &t!("ui.schedules.time_zone", locale = lang), "text", &form.time_zone, refused))
            @for (i, l) in form.layers.iter().enumerate() {
                @let f = |name: &str| format!("layer-{i}-{name}");
                fieldset.layer {
                    legend {
                        @if l.id.is_empty() && l.name.is_empty() { (t!("ui.schedules.new_layer", locale = lang)) }
                        @else { (t!("ui.schedules.layer", locale = lang, name = l.name)) }
                    }
                    input type="hidden" name=(f("id")) value=(l.id);
                    (text_field(&f("name"), &t!("ui.schedules.layer_name", locale = lang), "text", &l.name, refused))
                    (area(&f("users"), &t!("ui.schedules.users", locale = lang), &l.users, Some(&t!("ui.schedules.users_hint", locale = lang))))
                    div {
                        label for=(f("turn")) { (t!("ui.schedules.turn", locale = lang)) }
                        input id=(f("turn")) name=(f("turn")) type="text" inputmode="decimal" value=(l.turn)
                            aria-invalid=[refused.invalid(&f("turn"))];
                        label for=(f("unit")) { (t!("ui.schedules.turn_unit", locale = lang)) }
                        select id=(f("unit")) name=(f("unit")) {
                            option value="hours" selected[l.unit != "days"] { (t!("ui.schedules.hours", locale = lang)) }
                            option value="days" selected[l.unit == "days"] { (t!("ui.schedules.days", locale = lang)) }
                        }
                        (refused.under(&f("turn")))
                    }
                    (text_field(&f("handoff"), &t!("ui.schedules.handoff", locale = lang), "datetime-local", &l.handoff, refused))
                    (text_field(&f("start"), &t!("ui.schedules.layer_start", locale = lang), "datetime-local", &l.start, refused))
                    (area(&f("restrictions"), &t!("ui.schedules.restrictions", locale = lang), &l.restrictions, Some(&t!("ui.schedules.restrictions_hint", locale = lang))))
                    @if !l.id.is_empty() {
                        div {
                            input type="checkbox" id=(f("remove")) name=(f("remove")) value="1" checked[l.remove];
                            label.inline for=(f("remove")) { (t!("ui.schedules.remove_layer", locale = lang)) }
                        }
                    }
                }
            }
            div.actions {
                button.secondary type="submit" formaction=(format!("{path}/preview")) { (t!("ui.schedules.preview", locale = lang)) }
                button type="submit" { (t!("ui.common.save", locale = lang)) }
            }
        }
    };
    shell::page(
        v,
        status,
        "/schedules",
        &t!("ui.schedules.edit_title", locale = lang, name = name),
        body,
    )
}

/// Reads the posted editor; checks the CSRF token and the visitor's right to change the
/// schedule before anything else.
async fn posted(
    req: &HttpRequest,
    state: &AppState,
    id: &ScheduleId,
    pairs: &[(String, String)],
) -> PageResult<(Visitor, Loaded, EditForm)> {
    let v = Visitor::of(req, state).await?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, t)| t.as_str());
    v.check_form(req, token, state)?;
    let loaded = editable(&v, state, id).await?;
    let form = EditForm::read(pairs);
    Ok((v, loaded, form))
}

/// The form's schedule, for the use case: its people looked up, its fields read. A refusal
/// is by field.
fn drafted(
    conn: &mut crate::store::DbConnection,
    form: &EditForm,
    loaded: &Loaded,
    lang: &str,
) -> AppResult<Result<cases::Draft, Refused>> {
    let found = store::find_people(conn, &form.people())?;
    let tz = Zone::parse(form.time_zone.trim()).map_or_else(
        || loaded.schedule.time_zone.tz().clone(),
        |z| z.tz().clone(),
    );
    let fields = match form.schedule(&found, &tz, lang) {
        Ok(f) => f,
        Err(r) => return Ok(Err(r)),
    };
    let mut draft = match api::draft(fields) {
        Ok(d) => d,
        Err(e) => return refusal(e, form).map(Err),
    };
    // The editor does not change the schedule's teams.
    draft.teams = loaded.teams.clone();
    Ok(Ok(draft))
}

fn refusal(e: AppError, form: &EditForm) -> AppResult<Refused> {
    let fields = form.fields();
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(a, f)| (a.as_str(), f.as_str()))
        .collect();
    Refused::from(e, &pairs)
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    pairs: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let id = ScheduleId(id.into_inner());
    let (v, loaded, form) = posted(&req, &state, &id, &pairs).await?;
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let lang = v.lang;
    let id2 = id.clone();
    let form2 = form.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let draft = match drafted(conn, &form2, &loaded, lang)? {
                Ok(d) => d,
                Err(r) => return Ok(Err(r)),
            };
            let teams = draft.teams.clone();
            match cases::update(conn, &ctx, &id2, draft, |before| {
                may_manage(&caller, Some(before), &teams)
            }) {
                Ok(_) => Ok(Ok(())),
                Err(e) => refusal(e, &form2).map(Err),
            }
        })
        .await?;
    match outcome {
        Ok(()) => Ok(see_other(&schedule_path(&id))),
        Err(refused) => Ok(editor(&v, &id, &form.name, &form, &refused, None)),
    }
}

async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    pairs: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let id = ScheduleId(id.into_inner());
    let (v, loaded, form) = posted(&req, &state, &id, &pairs).await?;
    let lang = v.lang;
    let now = crate::clock::jiff_now(v.caller.at);
    let stored_now = crate::clock::stored(v.caller.at);
    let (_, _, since, until) =
        page_window(&WindowQuery::default(), loaded.schedule.time_zone.tz(), now)?;
    let form2 = form.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let draft = match drafted(conn, &form2, &loaded, lang)? {
                Ok(d) => d,
                Err(r) => return Ok(Err(r)),
            };
            match cases::preview(conn, draft, since, until, stored_now) {
                Ok(view) => Ok(Ok(view)),
                Err(e) => refusal(e, &form2).map(Err),
            }
        })
        .await?;
    match outcome {
        Ok(view) => {
            let picture = timeline_of(&v, &view, since, until);
            Ok(editor(
                &v,
                &id,
                &form.name,
                &form,
                &Refused::default(),
                Some(picture),
            ))
        }
        Err(refused) => Ok(editor(&v, &id, &form.name, &form, &refused, None)),
    }
}

// ---- The roster ----

async fn import_roster(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    let parts = upload::parts(&req, &body, "roster")?;
    let token = parts
        .iter()
        .find(|p| p.name == "csrf_token")
        .map(|p| String::from_utf8_lossy(&p.body).into_owned());
    v.check_form(&req, token.as_deref(), &state)?;
    reads(&v)?;
    let id = ScheduleId(id.into_inner());
    let loaded = load(&state, &id).await?;
    v.caller.may(
        Action::ManageSchedule,
        &schedule_resource(&loaded),
        "import a roster to this schedule",
    )?;
    let lang = v.lang;
    let file = parts.into_iter().find(|p| p.name == "roster");
    let entries = match &file {
        None => Err(AppError::invalid(
            "roster",
            t!("ui.schedules.roster_missing", locale = lang),
        )),
        Some(f) => {
            let json = f
                .file_name
                .as_deref()
                .is_some_and(|n| n.to_ascii_lowercase().ends_with(".json"))
                || f.body.trim_ascii_start().starts_with(b"{");
            api::roster(&f.body, !json)
        }
    };
    let entries = match entries {
        Ok(entries) => entries,
        Err(e) => {
            let refused = Refused::from(e, &[])?;
            return Ok(roster_page(&v, &loaded, None, &refused));
        }
    };
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let id2 = id.clone();
    let import = state
        .db
        .run(move |conn| {
            let (manage, shift) = rights_of(&caller);
            let rights = OverrideRights {
                caller: caller.user_id(),
                manage: &manage,
                shift: &shift,
            };
            cases::import_roster(conn, &ctx, &id2, &entries, false, &rights)
        })
        .await?;
    Ok(roster_page(&v, &loaded, Some(&import), &Refused::default()))
}

fn roster_page(
    v: &Visitor,
    loaded: &Loaded,
    import: Option<&cases::RosterImport>,
    refused: &Refused,
) -> HttpResponse {
    let lang = v.lang;
    let path = schedule_path(&loaded.schedule.id);
    let tz = loaded.schedule.time_zone.tz();
    let body = html! {
        p { a href=(format!("{path}#roster")) { (t!("ui.schedules.back", locale = lang, name = loaded.schedule.name)) } }
        (refused.summary(lang))
        @if let Some(import) = import {
            @let created = import.rows.iter().filter(|(_, r)| r.is_ok()).count();
            @let total = import.rows.len();
            p.notice role="status" {
                (t!("ui.schedules.roster_counts", locale = lang, created = created, refused = total - created, total = total, chunks = import.chunks))
            }
            div.table-wrap {
                table.roster {
                    caption { (t!("ui.schedules.roster_rows", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.schedules.row", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.result", locale = lang)) }
                        th scope="col" { (t!("ui.schedules.detail", locale = lang)) }
                    } }
                    tbody {
                        @for (row, outcome) in &import.rows {
                            tr {
                                th scope="row" { (row) }
                                @match outcome {
                                    Ok(o) => {
                                        td { span.badge.resolved { (t!("ui.schedules.accepted", locale = lang)) } }
                                        td { (shown(crate::clock::instant(o.starts_at), tz)) " – " (shown(crate::clock::instant(o.ends_at), tz)) }
                                    }
                                    Err(errors) => {
                                        td { span.badge.triggered { (t!("ui.schedules.refused", locale = lang)) } }
                                        td { (errors.join("; ")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    shell::page(
        v,
        status,
        "/schedules",
        &t!(
            "ui.schedules.roster_title",
            locale = lang,
            name = loaded.schedule.name
        ),
        body,
    )
}
