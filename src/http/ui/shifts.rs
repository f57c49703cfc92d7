//! My On-Call Shifts (`/shifts`): the visitor's next 90 days of on-call across every schedule
//! and escalation policy (`use_cases::oncalls::list` through `state.finals`, as
//! `GET /api/v2/users/me/oncalls` reads them), as a list or a month (`?view=month&month=`),
//! in their time zone; and the take and give forms (`/shifts/take`, `/shifts/give`), which
//! place an override through the same function as `POST /api/v2/schedules/{id}/overrides`
//! (`api::schedules::place_overrides`: the policies' take and give rights, checked by the use
//! case). Buttons are shown only where the policies would allow them; a forged post is a 403.

use super::form::Refused;
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::ids::{ScheduleId, UserId};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::api::schedules::{place_overrides, schedule_resource};
use crate::store::schedules::{Loaded, Person};
use crate::use_cases::finals::Known;
use crate::use_cases::oncalls::{self as cases, MAX_WINDOW_DAYS, Query};
use crate::use_cases::schedules::OverrideDraft;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/shifts").route(web::get().to(shifts)))
        .service(
            web::resource("/shifts/take")
                .route(web::get().to(take_page))
                .route(web::post().to(take)),
        )
        .service(
            web::resource("/shifts/give")
                .route(web::get().to(give_page))
                .route(web::post().to(give)),
        );
}

#[derive(Deserialize)]
struct ShiftsQuery {
    view: Option<String>,
    month: Option<String>,
    done: Option<String>,
}

/// A take or give form as sent (or as a link prefills it).
#[derive(Deserialize, Default, Clone)]
struct ShiftForm {
    csrf_token: Option<String>,
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    user: String,
}

/// One of the visitor's shifts: a span of a schedule's final schedule, with the policies
/// (and levels) that page through it.
struct Shift {
    schedule: ScheduleId,
    start: Timestamp,
    end: Timestamp,
    policies: Vec<(String, usize)>,
}

/// A schedule the page names, with what the visitor may do on it.
struct OnSchedule {
    name: String,
    take: bool,
    give: bool,
    /// Who may be given a shift: the schedule's people who may be on call, by name.
    colleagues: Vec<(UserId, String)>,
}

/// Everything a shifts page shows.
struct Mine {
    shifts: Vec<Shift>,
    /// Policies that page the visitor directly (always on call): name and level.
    direct: Vec<(String, usize)>,
    schedules: HashMap<ScheduleId, OnSchedule>,
    /// Other people's shifts on the schedules whose layers list the visitor (month view).
    others: Vec<(ScheduleId, String, Timestamp, Timestamp)>,
}

fn zone_of(v: &Visitor) -> TimeZone {
    TimeZone::get(&v.zone).unwrap_or(TimeZone::UTC)
}

fn me(v: &Visitor) -> PageResult<UserId> {
    Ok(v.caller
        .user_id()
        .cloned()
        .ok_or_else(|| AppError::forbidden("pages are for people"))?)
}

/// What the visitor may do on a schedule, asked of the policies as the use case will.
fn rights(v: &Visitor, loaded: &Loaded) -> (bool, bool) {
    let resource = schedule_resource(loaded);
    let manage = v.caller.allows(Action::ManageSchedule, &resource);
    (
        manage || v.caller.may_change_shift(&resource, true, false),
        manage || v.caller.may_change_shift(&resource, false, true),
    )
}

fn on_schedule(
    v: &Visitor,
    me: &UserId,
    known: &Known,
    people: &HashMap<UserId, Arc<Person>>,
) -> OnSchedule {
    let (take, give) = rights(v, &known.loaded);
    let mut colleagues: Vec<(UserId, String)> = known
        .loaded
        .people()
        .into_iter()
        .filter(|u| u != me)
        .filter_map(|u| {
            let p = people.get(&u).filter(|p| p.on_call().is_ok())?;
            Some((u, p.name.clone()))
        })
        .collect();
    colleagues.sort_by(|a, b| a.1.cmp(&b.1));
    OnSchedule {
        name: known.loaded.schedule.name.clone(),
        take,
        give,
        colleagues,
    }
}

/// The visitor's shifts over `[since, until)`; with `others`, their colleagues' shifts on
/// the schedules that list them too.
async fn load(
    state: &AppState,
    v: &Visitor,
    since: Timestamp,
    until: Timestamp,
    others: bool,
) -> PageResult<Mine> {
    let me = me(v)?;
    let finals = state.finals.clone();
    let who = me.clone();
    let (found, theirs, people) = state
        .db
        .run(move |conn| {
            let q = Query {
                since: Some(since),
                until: Some(until),
                user_ids: vec![who.clone()],
                ..Query::default()
            };
            let found = cases::list(conn, &finals, &q, since, until)?;
            let theirs = if others {
                let mine: Vec<ScheduleId> = finals
                    .schedules(conn, None)?
                    .iter()
                    .filter(|k| k.loaded.people().binary_search(&who).is_ok())
                    .map(|k| k.loaded.schedule.id.clone())
                    .collect();
                Some(finals.final_schedules(conn, &mine, &[], since, until)?)
            } else {
                None
            };
            // Everyone the schedules list, for the colleagues a shift may be given to.
            let named: Vec<UserId> = found
                .finals
                .schedules
                .iter()
                .chain(theirs.iter().flat_map(|t| t.schedules.iter()))
                .flat_map(|k| k.loaded.people())
                .collect();
            let people = finals.people(conn, &named)?;
            Ok((found, theirs, people))
        })
        .await?;
    let mut mine = Mine {
        shifts: Vec::new(),
        direct: Vec::new(),
        schedules: HashMap::new(),
        others: Vec::new(),
    };
    let policy_name = |id| {
        found
            .policies
            .get(id)
            .map_or_else(String::new, |p| p.policy.name.clone())
    };
    let mut at: HashMap<(ScheduleId, Timestamp, Timestamp), usize> = HashMap::new();
    for row in &found.rows {
        let named = (policy_name(&row.policy), row.call.level);
        match (&row.call.schedule, row.call.start, row.call.end) {
            (Some(s), Some(start), Some(end)) => {
                let i = *at.entry((s.clone(), start, end)).or_insert_with(|| {
                    mine.shifts.push(Shift {
                        schedule: s.clone(),
                        start,
                        end,
                        policies: Vec::new(),
                    });
                    mine.shifts.len() - 1
                });
                mine.shifts[i].policies.push(named);
            }
            _ => mine.direct.push(named),
        }
    }
    mine.shifts
        .sort_by(|a, b| (a.start, &a.schedule).cmp(&(b.start, &b.schedule)));
    let mut known: Vec<Arc<Known>> = found.finals.schedules.clone();
    if let Some(theirs) = theirs {
        for (id, entries) in &theirs.entries {
            for e in entries.iter().filter(|e| e.user != me) {
                let name = people.get(&e.user).map_or("", |p| p.name.as_str());
                mine.others
                    .push((id.clone(), name.to_owned(), e.start, e.end));
            }
        }
        known.extend(theirs.schedules.iter().cloned());
    }
    for k in &known {
        mine.schedules
            .entry(k.loaded.schedule.id.clone())
            .or_insert_with(|| on_schedule(v, &me, k, &people));
    }
    Ok(mine)
}

/// A time as a `datetime-local` field holds it, in `tz`.
fn field_time(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// A time as the visitor reads it.
fn shown(v: &Visitor, at: Timestamp) -> String {
    v.time(crate::clock::stored_instant(at))
}

/// A form's time: a `datetime-local` value in the visitor's zone, or an instant with an
/// offset.
fn read_time(text: &str, tz: &TimeZone) -> Option<Timestamp> {
    let text = text.trim();
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    civil
        .to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

fn take_link(schedule: &ScheduleId, start: Timestamp, end: Timestamp, tz: &TimeZone) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("schedule", schedule.as_str())
        .append_pair("start", &field_time(start, tz))
        .append_pair("end", &field_time(end, tz))
        .finish();
    format!("/shifts/take?{query}")
}

async fn shifts(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ShiftsQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    v.caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read who is on call",
    )?;
    let lang = v.lang;
    let tz = zone_of(&v);
    let now = crate::clock::jiff_now(v.caller.at);
    let title = t!("ui.shifts.title", locale = lang).to_string();
    let notice = match query.done.as_deref() {
        Some("taken") => Some(t!("ui.shifts.taken", locale = lang)),
        Some("given") => Some(t!("ui.shifts.given", locale = lang)),
        _ => None,
    };
    let month_view = query.view.as_deref() == Some("month");
    let views = html! {
        nav.actions aria-label=(t!("ui.shifts.views", locale = lang)) {
            @if month_view {
                a href="/shifts" { (t!("ui.shifts.list_view", locale = lang)) }
                span aria-current="page" { (t!("ui.shifts.month_view", locale = lang)) }
            } @else {
                span aria-current="page" { (t!("ui.shifts.list_view", locale = lang)) }
                a href="/shifts?view=month" { (t!("ui.shifts.month_view", locale = lang)) }
            }
        }
        @if let Some(n) = &notice { p.notice role="status" { (n) } }
    };
    let body = if month_view {
        let today = now.to_zoned_datetime(tz.clone()).date();
        let first = match query.month.as_deref().filter(|m| !m.is_empty()) {
            None => today.first_of_month(),
            Some(m) => match Date::strptime("%Y-%m-%d", format!("{m}-01")) {
                Ok(d) => d,
                Err(_) => {
                    return Err(AppError::invalid(
                        "month",
                        format!("'{m}' is not a month (such as 2026-12)"),
                    )
                    .into());
                }
            },
        };
        month(&state, &v, &tz, first).await?
    } else {
        let until = now + SignedDuration::from_hours(24 * MAX_WINDOW_DAYS);
        let mine = load(&state, &v, now, until, false).await?;
        list(&v, &tz, &mine)
    };
    Ok(shell::ok(&v, "/shifts", &title, html! { (views) (body) }))
}

/// The list view: one row per shift, with its give form.
fn list(v: &Visitor, tz: &TimeZone, mine: &Mine) -> Markup {
    let lang = v.lang;
    html! {
        @if !mine.direct.is_empty() {
            h2 { (t!("ui.shifts.always", locale = lang)) }
            ul {
                @for (policy, level) in &mine.direct {
                    li { (t!("ui.shifts.policy_level", locale = lang, policy = policy, level = level)) }
                }
            }
        }
        h2 { (t!("ui.shifts.next_days", locale = lang, days = MAX_WINDOW_DAYS)) }
        @if mine.shifts.is_empty() {
            p.muted { (t!("ui.shifts.none", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.shifts.caption", locale = lang, zone = v.zone)) }
                    thead { tr {
                        th scope="col" { (t!("ui.shifts.schedule", locale = lang)) }
                        th scope="col" { (t!("ui.shifts.start", locale = lang)) }
                        th scope="col" { (t!("ui.shifts.end", locale = lang)) }
                        th scope="col" { (t!("ui.shifts.policies", locale = lang)) }
                        th scope="col" { (t!("ui.shifts.actions", locale = lang)) }
                    } }
                    tbody {
                        @for (i, s) in mine.shifts.iter().enumerate() {
                            @let on = mine.schedules.get(&s.schedule);
                            tr {
                                td { a href=(format!("/schedules/{}", s.schedule)) { (on.map_or(s.schedule.as_str(), |o| o.name.as_str())) } }
                                td { (shown(v, s.start)) }
                                td { (shown(v, s.end)) }
                                td {
                                    @for (policy, level) in &s.policies {
                                        div { (t!("ui.shifts.policy_level", locale = lang, policy = policy, level = level)) }
                                    }
                                }
                                td {
                                    @if let Some(on) = on.filter(|o| o.give && !o.colleagues.is_empty()) {
                                        (give_row(v, i, s, on, tz))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A row's give-away form: the whole shift to a colleague picked from the schedule's people.
fn give_row(v: &Visitor, i: usize, s: &Shift, on: &OnSchedule, tz: &TimeZone) -> Markup {
    let lang = v.lang;
    let id = format!("give-{i}");
    let more: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("schedule", s.schedule.as_str())
        .append_pair("start", &field_time(s.start, tz))
        .append_pair("end", &field_time(s.end, tz))
        .finish();
    html! {
        form.filters method="post" action="/shifts/give" {
            (v.csrf())
            input type="hidden" name="schedule" value=(s.schedule);
            input type="hidden" name="start" value=(field_time(s.start, tz));
            input type="hidden" name="end" value=(field_time(s.end, tz));
            div {
                label for=(id) { (t!("ui.shifts.give_to", locale = lang)) }
                select id=(id) name="user" {
                    @for (u, name) in &on.colleagues { option value=(u) { (name) } }
                }
            }
            button type="submit" { (t!("ui.shifts.give", locale = lang)) }
        }
        a href=(format!("/shifts/give?{more}")) { (t!("ui.shifts.give_part", locale = lang)) }
    }
}

/// The month view: weeks as rows (Monday first), each day listing the shifts in it.
async fn month(state: &AppState, v: &Visitor, tz: &TimeZone, first: Date) -> PageResult<Markup> {
    let lang = v.lang;
    let next = first.last_of_month().tomorrow().map_err(bad_month)?;
    let previous = first.yesterday().map_err(bad_month)?.first_of_month();
    let start_of = |d: Date| -> PageResult<Timestamp> {
        Ok(d.to_zoned_datetime(tz.clone())
            .map_err(bad_month)?
            .timestamp())
    };
    let (since, until) = (start_of(first)?, start_of(next)?);
    let mine = load(state, v, since, until, true).await?;
    let mut grid_start = first;
    for _ in 0..jiff::civil::Weekday::Monday.until(first.weekday()) {
        grid_start = grid_start.yesterday().map_err(bad_month)?;
    }
    let mut weeks: Vec<Vec<Date>> = Vec::new();
    let mut day = grid_start;
    while day < next {
        let mut week = Vec::with_capacity(7);
        for _ in 0..7 {
            week.push(day);
            day = day.tomorrow().map_err(bad_month)?;
        }
        weeks.push(week);
    }
    let label = |d: Date| d.strftime("%Y-%m").to_string();
    let hm = |at: Timestamp, edge: Timestamp| {
        if at == edge && at != since {
            "24:00".to_owned()
        } else {
            at.to_zoned_datetime(tz.clone())
                .strftime("%H:%M")
                .to_string()
        }
    };
    let weekdays = [
        "ui.shifts.mon",
        "ui.shifts.tue",
        "ui.shifts.wed",
        "ui.shifts.thu",
        "ui.shifts.fri",
        "ui.shifts.sat",
        "ui.shifts.sun",
    ];
    let mut cells: Vec<Vec<Markup>> = Vec::new();
    for week in &weeks {
        let mut row = Vec::new();
        for d in week {
            let (from, to) = (start_of(*d)?, start_of(d.tomorrow().map_err(bad_month)?)?);
            let in_month = d.month() == first.month();
            let mine_today: Vec<&Shift> = mine
                .shifts
                .iter()
                .filter(|s| in_month && s.start < to && s.end > from)
                .collect();
            let others_today: Vec<_> = mine
                .others
                .iter()
                .filter(|o| in_month && o.2 < to && o.3 > from)
                .collect();
            let name = |id: &ScheduleId| {
                mine.schedules
                    .get(id)
                    .map_or(id.to_string(), |o| o.name.clone())
            };
            row.push(html! {
                td class=[(!in_month).then_some("muted")] {
                    div.day { (d.day()) }
                    @if !mine_today.is_empty() || !others_today.is_empty() {
                        ul.shifts-day {
                            @for s in mine_today {
                                li.mine {
                                    (name(&s.schedule)) " "
                                    (hm(s.start.max(from), from)) "–" (hm(s.end.min(to), to))
                                }
                            }
                            @for (id, who, start, end) in others_today {
                                li {
                                    (name(id)) " · " (who) " "
                                    (hm((*start).max(from), from)) "–" (hm((*end).min(to), to))
                                    @if mine.schedules.get(id).is_some_and(|o| o.take) && *end > crate::clock::jiff_now(v.caller.at) {
                                        " "
                                        a href=(take_link(id, *start, *end, tz)) {
                                            (t!("ui.shifts.take", locale = lang))
                                            span.visually-hidden { " " (t!("ui.shifts.take_of", locale = lang, who = who, when = shown(v, *start))) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            });
        }
        cells.push(row);
    }
    Ok(html! {
        nav.actions aria-label=(t!("ui.shifts.months", locale = lang)) {
            a href=(format!("/shifts?view=month&month={}", label(previous))) rel="prev" { "← " (t!("ui.common.previous", locale = lang)) " (" (label(previous)) ")" }
            a href=(format!("/shifts?view=month&month={}", label(next))) rel="next" { (t!("ui.common.next", locale = lang)) " (" (label(next)) ") →" }
        }
        h2 { (label(first)) }
        div.table-wrap {
            table.month {
                caption { (t!("ui.shifts.month_caption", locale = lang, month = label(first), zone = v.zone)) }
                thead { tr { @for w in weekdays { th scope="col" { (t!(w, locale = lang)) } } } }
                tbody { @for row in cells { tr { @for c in row { (c) } } } }
            }
        }
    })
}

fn bad_month(e: jiff::Error) -> AppError {
    AppError::invalid("month", format!("is out of range: {e}"))
}

/// Which form: taking a shift (the visitor put on call) or giving one (a colleague).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Take,
    Give,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Take => "/shifts/take",
            Kind::Give => "/shifts/give",
        }
    }
}

/// The schedule a form names, as the cache holds it, with what the visitor may do on it;
/// 403 when the policies give them neither right, as the API would refuse every item.
async fn schedule_for(
    state: &AppState,
    v: &Visitor,
    id: &str,
    kind: Kind,
) -> PageResult<(Arc<Known>, OnSchedule)> {
    let me = me(v)?;
    let finals = state.finals.clone();
    let ids = vec![ScheduleId(id.to_owned())];
    let (known, people) = state
        .db
        .run(move |conn| {
            let known = finals.schedules(conn, Some(&ids))?;
            let named: Vec<UserId> = known.iter().flat_map(|k| k.loaded.people()).collect();
            let people = finals.people(conn, &named)?;
            Ok((known, people))
        })
        .await?;
    let Some(known) = known.into_iter().next() else {
        return Err(AppError::not_found("schedule", id).into());
    };
    let on = on_schedule(v, &me, &known, &people);
    let allowed = match kind {
        Kind::Take => on.take,
        Kind::Give => on.give,
    };
    if !allowed {
        return Err(AppError::forbidden(format!(
            "your role ({}) may not change shifts on this schedule",
            v.caller.role.as_str()
        ))
        .into());
    }
    Ok((known, on))
}

async fn take_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ShiftForm>,
) -> PageResult {
    form_page(req, state, query.into_inner(), Kind::Take).await
}

async fn give_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ShiftForm>,
) -> PageResult {
    form_page(req, state, query.into_inner(), Kind::Give).await
}

async fn form_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: ShiftForm,
    kind: Kind,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    v.caller
        .may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let (_, on) = schedule_for(&state, &v, &sent.schedule, kind).await?;
    Ok(form(
        &v,
        kind,
        &on,
        &sent,
        &Refused::default(),
        StatusCode::OK,
    ))
}

async fn take(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<ShiftForm>,
) -> PageResult {
    perform(req, state, sent.into_inner(), Kind::Take).await
}

async fn give(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<ShiftForm>,
) -> PageResult {
    perform(req, state, sent.into_inner(), Kind::Give).await
}

/// Places the override the form asks for; a refusal shows the form again with what was sent.
async fn perform(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: ShiftForm,
    kind: Kind,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    v.caller
        .may(Action::ReadOnCall, &Resource::Account, "read schedules")?;
    let (known, on) = schedule_for(&state, &v, &sent.schedule, kind).await?;
    let tz = zone_of(&v);
    let lang = v.lang;
    let mut refused = Refused::default();
    let start = read_time(&sent.start, &tz);
    let end = read_time(&sent.end, &tz);
    if start.is_none() {
        refused.fields.insert(
            "start".into(),
            t!("ui.shifts.bad_time", locale = lang).into(),
        );
    }
    if end.is_none() {
        refused
            .fields
            .insert("end".into(), t!("ui.shifts.bad_time", locale = lang).into());
    }
    let user = match kind {
        Kind::Take => me(&v)?,
        Kind::Give => UserId(sent.user.trim().to_owned()),
    };
    if kind == Kind::Give && user.as_str().is_empty() {
        refused.fields.insert(
            "user".into(),
            t!("ui.shifts.pick_someone", locale = lang).into(),
        );
    }
    if let (true, Some(start), Some(end)) = (refused.is_empty(), start, end) {
        let id = known.loaded.schedule.id.clone();
        let caller = v.caller.clone();
        let draft = OverrideDraft { user, start, end };
        let outcome = state
            .db
            .run(move |conn| place_overrides(conn, &caller, &id, vec![Ok(draft)], false))
            .await?
            .into_iter()
            .next();
        match outcome {
            Some(Ok(_)) => {
                let done = match kind {
                    Kind::Take => "taken",
                    Kind::Give => "given",
                };
                return Ok(HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/shifts?done={done}")))
                    .finish());
            }
            Some(Err(reasons)) => refused.general = reasons,
            None => {}
        }
    }
    Ok(form(
        &v,
        kind,
        &on,
        &sent,
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}

/// The take or give form, with what was sent and why it was refused.
fn form(
    v: &Visitor,
    kind: Kind,
    on: &OnSchedule,
    sent: &ShiftForm,
    refused: &Refused,
    status: StatusCode,
) -> HttpResponse {
    let lang = v.lang;
    let title = match kind {
        Kind::Take => t!("ui.shifts.take_title", locale = lang, schedule = on.name),
        Kind::Give => t!("ui.shifts.give_title", locale = lang, schedule = on.name),
    };
    let time = |name: &str, key: &str, value: &str| {
        html! {
            div {
                label for=(name) { (t!(key, locale = lang)) }
                input type="datetime-local" id=(name) name=(name) value=(value) required
                    aria-invalid=[refused.invalid(name)]
                    aria-describedby=[refused.fields.contains_key(name).then(|| format!("{name}-error"))];
                (refused.under(name))
            }
        }
    };
    let unknown =
        !sent.user.is_empty() && !on.colleagues.iter().any(|(u, _)| u.as_str() == sent.user);
    let body = html! {
        p { (t!("ui.shifts.times_in", locale = lang, zone = v.zone)) }
        (refused.summary(lang))
        form.stack method="post" action=(kind.path()) {
            (v.csrf())
            input type="hidden" name="schedule" value=(sent.schedule);
            (time("start", "ui.shifts.start", &sent.start))
            (time("end", "ui.shifts.end", &sent.end))
            @if kind == Kind::Give {
                div {
                    label for="user" { (t!("ui.shifts.give_to", locale = lang)) }
                    select id="user" name="user"
                        aria-invalid=[refused.invalid("user")]
                        aria-describedby=[refused.fields.contains_key("user").then_some("user-error")] {
                        @if unknown { option value=(sent.user) selected { (sent.user) } }
                        @for (u, name) in &on.colleagues {
                            option value=(u) selected[u.as_str() == sent.user] { (name) }
                        }
                    }
                    (refused.under("user"))
                }
            }
            div.actions {
                button type="submit" {
                    @match kind {
                        Kind::Take => (t!("ui.shifts.take", locale = lang)),
                        Kind::Give => (t!("ui.shifts.give", locale = lang)),
                    }
                }
                a href="/shifts" { (t!("ui.shifts.back", locale = lang)) }
            }
        }
    };
    shell::page(v, status, "/shifts", &title, body)
}
