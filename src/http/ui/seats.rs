//! `/seats`: the licence owners' dashboard. Caps and use per licence (with the cap form), use
//! over time as a server-drawn SVG chart from the usage history (its numbers in a table
//! beside it), use by team, idle full seats (reclaim), the queue with places, every seat held
//! with a pin form, and `/seats/export.csv`. Reads are `store::seats::reports`, changes are
//! `use_cases::licences` — what `/api/v2/licenses…` calls — under the same policies
//! (`ReadLicences` to see, `ManageLicences` to change).

use super::chart::{self, Series};
use super::form::Refused;
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::ids::UserId;
use crate::domain::seat_policy::Licence;
use crate::domain::seats::Pin;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::api::licences::{
    allocations_csv_file, history_range, idle_before, idleness, in_queue_order,
};
use crate::store::seats::{self, Allocation, AllocationQuery, LicenceRow, TeamSeats, UsageDay};
use crate::use_cases;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDate;
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/seats", web::get().to(dashboard))
        .route("/seats/export.csv", web::get().to(export))
        .route("/seats/licences/{id}/cap", web::post().to(change_cap))
        .route("/seats/people/{id}/pin", web::post().to(pin))
        .route("/seats/people/{id}/reclaim", web::post().to(reclaim));
}

/// Rows per page of the seats held and of the idle seats.
const PAGE: i64 = 25;

#[derive(Deserialize, Default)]
struct Shown {
    since: Option<String>,
    until: Option<String>,
    offset: Option<String>,
}

/// Everything the dashboard shows, read in one go.
struct Board {
    licences: Vec<LicenceRow>,
    waiting: Vec<Allocation>,
    history: Vec<UsageDay>,
    teams: Vec<TeamSeats>,
    idle: Option<(Vec<Allocation>, i64)>,
    held: (Vec<Allocation>, i64),
}

/// A form refused on the way back: its errors and what was typed, by field id.
#[derive(Default)]
struct Typed {
    refused: Refused,
    values: HashMap<String, String>,
}

async fn load(
    state: &AppState,
    v: &Visitor,
    since: NaiveDate,
    until: NaiveDate,
    offset: i64,
) -> AppResult<Board> {
    let now = crate::clock::stored(v.caller.at);
    let idle_from = idle_before(&state.sign_in.seat_policy, now);
    state
        .db
        .run(move |conn| {
            let idle = match idle_from {
                Some(before) => Some(seats::allocations(
                    conn,
                    &AllocationQuery {
                        licence: None,
                        idle_before: Some(before),
                    },
                    0,
                    Some(PAGE),
                )?),
                None => None,
            };
            Ok(Board {
                licences: seats::licences(conn)?,
                waiting: seats::waiting(conn)?,
                history: seats::usage_history(conn, &since.to_string(), &until.to_string())?,
                teams: seats::usage_by_team(conn)?,
                idle,
                held: seats::allocations(conn, &AllocationQuery::default(), offset, Some(PAGE))?,
            })
        })
        .await
}

async fn dashboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Shown>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    v.caller
        .may(Action::ReadLicences, &Resource::Account, "see licences")?;
    show(&state, &v, &query, Typed::default()).await
}

/// The dashboard, with a refused form's errors if any (then 422; a bad range alone is 400).
async fn show(state: &AppState, v: &Visitor, query: &Shown, mut typed: Typed) -> PageResult {
    let today = v.caller.at.date_naive();
    let since = query.since.as_deref().filter(|s| !s.is_empty());
    let until = query.until.as_deref().filter(|s| !s.is_empty());
    let mut status = if typed.refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let (from, to) = match history_range(today, since, until) {
        Ok(range) => range,
        Err(e) => {
            let refused = Refused::from(e, &[("since", "since"), ("until", "until")])?;
            typed.refused.fields.extend(refused.fields);
            typed.refused.general.extend(refused.general);
            status = StatusCode::BAD_REQUEST;
            history_range(today, None, None)?
        }
    };
    for (key, value) in [("since", since), ("until", until)] {
        typed
            .values
            .entry(key.into())
            .or_insert_with(|| value.unwrap_or_default().to_owned());
    }
    let offset = query
        .offset
        .as_deref()
        .and_then(|o| o.parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(0, i64::MAX / 2);
    let board = load(state, v, from, to, offset).await?;
    let title = t!("ui.seats.title", locale = v.lang);
    let body = render(state, v, &board, (from, to), offset, &typed);
    Ok(shell::page(v, status, "/seats", &title, body))
}

fn licence_name(l: Licence, lang: &str) -> String {
    match l {
        Licence::Full => t!("ui.seats.full", locale = lang).into_owned(),
        Licence::Stakeholder => t!("ui.seats.stakeholder", locale = lang).into_owned(),
    }
}

fn pin_name(p: Option<Pin>, lang: &str) -> String {
    match p {
        None => t!("ui.seats.follow_policy", locale = lang).into_owned(),
        Some(Pin::Seat(l)) => licence_name(l, lang),
        Some(Pin::NoSeat) => t!("ui.seats.no_seat", locale = lang).into_owned(),
    }
}

fn render(
    state: &AppState,
    v: &Visitor,
    b: &Board,
    range: (NaiveDate, NaiveDate),
    offset: i64,
    typed: &Typed,
) -> Markup {
    let lang = v.lang;
    let manages = v.caller.allows(Action::ManageLicences, &Resource::Account);
    let now = crate::clock::stored(v.caller.at);
    let policy = &state.sign_in.seat_policy;
    let r = &typed.refused;
    html! {
        (r.summary(lang))
        p.actions {
            a href="/seats/export.csv" download { (t!("ui.seats.export", locale = lang)) }
        }
        h2 #licences { (t!("ui.seats.licences", locale = lang)) }
        div.cards {
            @for row in &b.licences {
                @let queued = b.waiting.iter().filter(|w| w.wanted == Some(row.id)).count();
                @let field = format!("cap-{}", row.id.as_str());
                section.card aria-labelledby=(format!("{field}-h")) {
                    h3 id=(format!("{field}-h")) { (licence_name(row.id, lang)) }
                    dl.figures {
                        dt { (t!("ui.seats.held", locale = lang)) } dd.held { (row.held) }
                        dt { (t!("ui.seats.cap", locale = lang)) }
                        dd.cap { @match row.cap { Some(c) => (c), None => (t!("ui.seats.unlimited", locale = lang)) } }
                        dt { (t!("ui.seats.free", locale = lang)) }
                        dd { @match row.cap { Some(c) => ((c - row.held).max(0)), None => "—" } }
                        dt { (t!("ui.seats.queued", locale = lang)) } dd { (queued) }
                    }
                    @if manages {
                        form.stack method="post" action=(format!("/seats/licences/{}/cap", row.id.as_str())) {
                            (v.csrf())
                            div {
                                label for=(field) { (t!("ui.seats.new_cap", locale = lang)) }
                                input type="text" inputmode="numeric" id=(field) name="cap"
                                    value=(typed.values.get(&field).cloned().unwrap_or_else(|| row.cap.map(|c| c.to_string()).unwrap_or_default()))
                                    aria-invalid=[r.invalid(&field)]
                                    aria-describedby=(format!("{field}-hint{}", if r.fields.contains_key(&field) { format!(" {field}-error") } else { String::new() }));
                                p.muted id=(format!("{field}-hint")) { (t!("ui.seats.cap_hint", locale = lang)) }
                                (r.under(&field))
                            }
                            div { button type="submit" { (t!("ui.seats.change_cap", locale = lang)) } }
                        }
                    }
                }
            }
        }

        h2 #usage { (t!("ui.seats.usage", locale = lang)) }
        form.filters method="get" action="/seats#usage" {
            @for (key, label) in [("since", t!("ui.seats.since", locale = lang)), ("until", t!("ui.seats.until", locale = lang))] {
                div {
                    label for=(key) { (label) }
                    input type="date" id=(key) name=(key)
                        value=(typed.values.get(key).cloned().unwrap_or_default())
                        aria-invalid=[r.invalid(key)]
                        aria-describedby=[r.fields.contains_key(key).then(|| format!("{key}-error"))];
                    (r.under(key))
                }
            }
            div { button type="submit" { (t!("ui.seats.show", locale = lang)) } }
        }
        (usage_chart(lang, &b.history, range))

        h2 #teams { (t!("ui.seats.by_team", locale = lang)) }
        @if b.teams.is_empty() {
            p.muted { (t!("ui.seats.no_teams", locale = lang)) }
        } @else {
            div.table-wrap { table {
                caption { (t!("ui.seats.by_team", locale = lang)) }
                thead { tr {
                    th scope="col" { (t!("ui.seats.team", locale = lang)) }
                    th scope="col" { (t!("ui.seats.full", locale = lang)) }
                    th scope="col" { (t!("ui.seats.stakeholder", locale = lang)) }
                    th scope="col" { (t!("ui.seats.waiting", locale = lang)) }
                } }
                tbody { @for team in &b.teams { tr {
                    th scope="row" { a href=(format!("/teams/{}", team.team.as_str())) { (team.name) } }
                    td { (team.full) } td { (team.stakeholder) } td { (team.waiting) }
                } } }
            } }
        }

        h2 #idle { (t!("ui.seats.idle", locale = lang)) }
        @match &b.idle {
            None => p.muted { (t!("ui.seats.idle_off", locale = lang)) },
            Some((rows, total)) => {
                p { (t!("ui.seats.idle_rule", locale = lang, days = policy.idle.flag_after_days.unwrap_or_default(), count = total)) }
                @if !rows.is_empty() {
                    div.table-wrap { table.idle {
                        caption { (t!("ui.seats.idle", locale = lang)) }
                        thead { tr {
                            th scope="col" { (t!("ui.seats.person", locale = lang)) }
                            th scope="col" { (t!("ui.seats.last_sign_in", locale = lang)) }
                            th scope="col" { (t!("ui.seats.idle_days", locale = lang)) }
                            @if manages { th scope="col" { (t!("ui.seats.action", locale = lang)) } }
                        } }
                        tbody { @for a in rows { tr {
                            th scope="row" { (a.name) }
                            td { @match a.last_sign_in_at { Some(t) => (v.time(t)), None => (t!("ui.seats.never", locale = lang)) } }
                            td { (idleness(policy, a, now).0) }
                            @if manages { td {
                                form.inline method="post" action=(format!("/seats/people/{}/reclaim", a.user_id.as_str())) {
                                    (v.csrf())
                                    button.secondary type="submit" {
                                        (t!("ui.seats.reclaim", locale = lang))
                                        span.sr-only { " " (a.name) }
                                    }
                                }
                            } }
                        } } }
                    } }
                }
            }
        }

        h2 #queue { (t!("ui.seats.queue", locale = lang)) }
        @if b.waiting.is_empty() {
            p.muted { (t!("ui.seats.queue_empty", locale = lang)) }
        } @else {
            div.table-wrap { table.queue {
                caption { (t!("ui.seats.queue", locale = lang)) }
                thead { tr {
                    th scope="col" { (t!("ui.seats.position", locale = lang)) }
                    th scope="col" { (t!("ui.seats.person", locale = lang)) }
                    th scope="col" { (t!("ui.seats.waiting_for", locale = lang)) }
                    th scope="col" { (t!("ui.seats.holds", locale = lang)) }
                    th scope="col" { (t!("ui.seats.queued_at", locale = lang)) }
                } }
                tbody { @for (position, wanted, a) in in_queue_order(b.waiting.clone()) { tr {
                    td.position { (position) }
                    th scope="row" { (a.name) }
                    td { (licence_name(wanted, lang)) }
                    td { @match a.licence { Some(l) => (licence_name(l, lang)), None => "—" } }
                    td { @if let Some(t) = a.queued_at { (v.time(t)) } }
                } } }
            } }
        }

        h2 #held { (t!("ui.seats.held_seats", locale = lang)) }
        (held_table(v, &b.held.0, manages, typed))
        (pages(lang, offset, b.held.1))
    }
}

/// The chart of seats held per recorded day, and its numbers.
fn usage_chart(lang: &str, history: &[UsageDay], (since, until): (NaiveDate, NaiveDate)) -> Markup {
    let series: Vec<Series> = Licence::ALL
        .into_iter()
        .map(|l| Series {
            class: l.as_str(),
            label: licence_name(l, lang),
            points: history
                .iter()
                .filter(|d| d.licence == l)
                .filter_map(|d| Some((NaiveDate::parse_from_str(&d.day, "%Y-%m-%d").ok()?, d.held)))
                .collect(),
        })
        .collect();
    let recorded = series.iter().map(|s| s.points.len()).max().unwrap_or(0);
    let words = chart::Words {
        id: "usage-chart",
        title: t!("ui.seats.chart_title", locale = lang).into_owned(),
        desc: t!(
            "ui.seats.chart_desc",
            locale = lang,
            since = since,
            until = until,
            days = recorded
        )
        .into_owned(),
    };
    html! {
        figure.chart {
            (chart::line_chart(&words, since, until, &series))
            figcaption {
                ul.legend {
                    @for s in &series {
                        li { span class=(format!("swatch {}", s.class)) {} (s.label) }
                    }
                }
            }
        }
        details.chart-data {
            summary { (t!("ui.seats.chart_numbers", locale = lang)) }
            div.table-wrap { table {
                caption { (words.title) " " (since) " – " (until) }
                thead { tr {
                    th scope="col" { (t!("ui.seats.day", locale = lang)) }
                    th scope="col" { (t!("ui.seats.licence", locale = lang)) }
                    th scope="col" { (t!("ui.seats.held", locale = lang)) }
                    th scope="col" { (t!("ui.seats.peak", locale = lang)) }
                    th scope="col" { (t!("ui.seats.cap", locale = lang)) }
                    th scope="col" { (t!("ui.seats.queued", locale = lang)) }
                } }
                tbody { @for d in history { tr.day {
                    th scope="row" { (d.day) }
                    td { (licence_name(d.licence, lang)) }
                    td { (d.held) } td { (d.peak_held) }
                    td { @match d.cap { Some(c) => (c), None => (t!("ui.seats.unlimited", locale = lang)) } }
                    td { (d.queued) }
                } } }
            } }
        }
    }
}

/// Every seat held (a page of them), each with its pin form for a licence owner.
fn held_table(v: &Visitor, rows: &[Allocation], manages: bool, typed: &Typed) -> Markup {
    let lang = v.lang;
    let r = &typed.refused;
    let choices = [
        ("follow", None),
        ("full", Some(Pin::Seat(Licence::Full))),
        ("stakeholder", Some(Pin::Seat(Licence::Stakeholder))),
        ("none", Some(Pin::NoSeat)),
    ];
    html! {
        div.table-wrap { table.held {
            caption { (t!("ui.seats.held_seats", locale = lang)) }
            thead { tr {
                th scope="col" { (t!("ui.seats.person", locale = lang)) }
                th scope="col" { (t!("ui.seats.licence", locale = lang)) }
                th scope="col" { (t!("ui.seats.reason", locale = lang)) }
                th scope="col" { (t!("ui.seats.pinned", locale = lang)) }
                @if manages { th scope="col" { (t!("ui.seats.pin", locale = lang)) } }
            } }
            tbody { @for a in rows {
                @let field = format!("seat-{}", a.user_id.as_str());
                @let chosen = typed.values.get(&field).cloned()
                    .unwrap_or_else(|| a.pinned.map_or("follow", Pin::as_str).to_owned());
                tr {
                    th scope="row" { (a.name) br; span.muted { (a.user_name) } }
                    td { @if let Some(l) = a.licence { (licence_name(l, lang)) } }
                    // The seat engine's reason, in the English the API gives it.
                    td { @if let Some(r) = &a.reason { span lang="en" { (r) } } }
                    td { (pin_name(a.pinned, lang)) }
                    @if manages { td {
                        form.inline method="post" action=(format!("/seats/people/{}/pin", a.user_id.as_str())) {
                            (v.csrf())
                            label.sr-only for=(field) { (t!("ui.seats.seat_of", locale = lang, name = a.name)) }
                            select id=(field) name="seat" aria-invalid=[r.invalid(&field)]
                                aria-describedby=[r.fields.contains_key(&field).then(|| format!("{field}-error"))] {
                                @for (value, pin) in choices {
                                    option value=(value) selected[chosen == value] { (pin_name(pin, lang)) }
                                }
                            }
                            " "
                            button.secondary type="submit" { (t!("ui.seats.set", locale = lang)) }
                            (r.under(&field))
                        }
                    } }
                }
            } }
        } }
    }
}

fn pages(lang: &str, offset: i64, total: i64) -> Markup {
    html! {
        nav.pages aria-label=(t!("ui.seats.pages", locale = lang)) {
            p.muted { (t!("ui.seats.showing", locale = lang, from = (offset + 1).min(total), to = (offset + PAGE).min(total), total = total)) }
            @if offset > 0 {
                a rel="prev" href=(format!("/seats?offset={}#held", (offset - PAGE).max(0))) { (t!("ui.seats.previous", locale = lang)) }
                " "
            }
            @if offset + PAGE < total {
                a rel="next" href=(format!("/seats?offset={}#held", offset + PAGE)) { (t!("ui.seats.next", locale = lang)) }
            }
        }
    }
}

/// `/seats/export.csv`: the allocations CSV of the API, every seat held.
async fn export(req: HttpRequest, state: web::Data<AppState>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    v.caller
        .may(Action::ReadLicences, &Resource::Account, "see licences")?;
    let now = crate::clock::stored(v.caller.at);
    Ok(allocations_csv_file(&state, AllocationQuery::default(), now).await?)
}

#[derive(Deserialize)]
struct CapForm {
    csrf_token: Option<String>,
    cap: Option<String>,
}

/// A changing form's checks: the session's CSRF token, then `ManageLicences`.
async fn changer(req: &HttpRequest, state: &AppState, csrf: Option<&str>) -> PageResult<Visitor> {
    let v = Visitor::of(req, state).await?;
    v.check_form(req, csrf, state)?;
    v.caller.may(
        Action::ManageLicences,
        &Resource::Account,
        "change licences and seats",
    )?;
    Ok(v)
}

/// One form field's post: where its error goes and what was typed into it.
struct Field {
    id: String,
    typed: String,
}

impl Field {
    /// The dashboard again with this field's refusal and what was typed.
    async fn refused(self, state: &AppState, v: &Visitor, refused: Refused) -> PageResult {
        let typed = Typed {
            refused,
            values: HashMap::from([(self.id, self.typed)]),
        };
        show(state, v, &Shown::default(), typed).await
    }

    /// The use case's answer: back to `anchor` on the dashboard, or its refusal of
    /// `api_field` shown at this field.
    async fn outcome<T>(
        self,
        state: &AppState,
        v: &Visitor,
        done: AppResult<T>,
        api_field: &str,
        anchor: &str,
    ) -> PageResult {
        match done {
            Ok(_) => Ok(HttpResponse::SeeOther()
                .insert_header(("Location", format!("/seats#{anchor}")))
                .finish()),
            Err(e) => {
                let refused = Refused::from(e, &[(api_field, &self.id)])?;
                self.refused(state, v, refused).await
            }
        }
    }
}

async fn change_cap(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<CapForm>>,
) -> PageResult {
    let form = form.map(|f| f.into_inner());
    let v = changer(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let licence = Licence::parse(&id).ok_or_else(|| AppError::not_found("license", id.as_str()))?;
    let field = Field {
        id: format!("cap-{}", licence.as_str()),
        typed: form.and_then(|f| f.cap).unwrap_or_default(),
    };
    let cap = match field.typed.trim() {
        "" => None,
        n => match n.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let why = t!("ui.seats.cap_not_number", locale = v.lang);
                let refused = Refused::field(&field.id, why);
                return field.refused(&state, &v, refused).await;
            }
        },
    };
    let app = state.clone();
    let ctx = v.caller.audit();
    let done = state
        .db
        .run(move |conn| use_cases::licences::set_cap(conn, app.seats(), &ctx, licence, cap))
        .await;
    field.outcome(&state, &v, done, "cap", "licences").await
}

#[derive(Deserialize)]
struct PinForm {
    csrf_token: Option<String>,
    seat: Option<String>,
}

async fn pin(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<PinForm>>,
) -> PageResult {
    let form = form.map(|f| f.into_inner());
    let v = changer(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let seat = form.and_then(|f| f.seat).unwrap_or_default();
    let choice = match seat.as_str() {
        "follow" => Some(None),
        other => Pin::parse(other).map(Some),
    };
    set_pin(&state, &v, UserId(id.into_inner()), seat, choice).await
}

async fn reclaim(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Option<web::Form<PinForm>>,
) -> PageResult {
    let v = changer(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    let none = Pin::NoSeat.as_str().to_owned();
    let choice = Some(Some(Pin::NoSeat));
    set_pin(&state, &v, UserId(id.into_inner()), none, choice).await
}

/// Pins (or reclaims: `Some(Pin::NoSeat)`) through the use case; `choice` `None` is a seat
/// that is not one of the form's. A refusal is shown at the person's seat field.
async fn set_pin(
    state: &web::Data<AppState>,
    v: &Visitor,
    id: UserId,
    typed: String,
    choice: Option<Option<Pin>>,
) -> PageResult {
    let field = Field {
        id: format!("seat-{}", id.as_str()),
        typed,
    };
    let Some(choice) = choice else {
        let why = t!("ui.seats.seat_unknown", locale = v.lang);
        let refused = Refused::field(&field.id, why);
        return field.refused(state, v, refused).await;
    };
    let app = state.clone();
    let ctx = v.caller.audit();
    let done = state
        .db
        .run(move |conn| use_cases::licences::pin(conn, app.seats(), &ctx, &id, choice))
        .await;
    field.outcome(state, v, done, "license", "held").await
}
