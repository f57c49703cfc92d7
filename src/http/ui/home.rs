//! The home page of a signed-in person: their seat, whether they are on call now, their next
//! shift, and the open incidents assigned to them and to their teams. On-calls come from the
//! same `use_cases::oncalls::list` as `GET /api/v2/oncalls`; incidents from the same list as
//! `GET /api/v2/incidents`.

use super::incidents::incident_table;
use super::{PageResult, Visitor, shell};
use crate::domain::incident::Status;
use crate::domain::paging::PageRequest;
use crate::domain::seat_policy::{Licence, SeatPolicy};
use crate::http::AppState;
use crate::http::api::incidents::{self as api_incidents, Names};
use crate::store::incidents::{self as incident_store, Filter, LoadedIncident, SortKey};
use crate::store::sessions::SessionUser;
use crate::store::teams;
use crate::use_cases::oncalls::{self, Query, Row};
use actix_web::{HttpRequest, HttpResponse};
use maud::{Markup, PreEscaped, html};
use rust_i18n::t;

/// Open incidents listed in each of the home page's tables.
const INCIDENTS_SHOWN: i64 = 20;

/// How far ahead the next shift is looked for (as My On-Call Shifts).
const AHEAD_DAYS: i64 = 90;

/// "Signed in as **Ann** (ann@…), role **user**, full seat.": who they are, the role they act
/// with and the seat they hold (or that they wait for one). The catalogue's sentence is filled
/// with escaped markup, so a name never becomes HTML.
fn signed_in_line(policy: &SeatPolicy, user: &SessionUser, lang: &str) -> Markup {
    let role = user.role;
    let held = user.licence;
    let strong = |words: &str| html! { strong { (words) } }.into_string();
    let licence = |l: Licence| match l {
        Licence::Full => t!("ui.home.licence_full", locale = lang),
        Licence::Stakeholder => t!("ui.home.licence_stakeholder", locale = lang),
    };
    let seat = match (policy.effective_role(role, held), held) {
        (Some(acting), Some(l)) if acting != role => t!(
            "ui.home.seat_waiting",
            locale = lang,
            role = strong(acting.as_str()),
            licence = licence(l)
        ),
        (Some(acting), Some(l)) => t!(
            "ui.home.seat",
            locale = lang,
            role = strong(acting.as_str()),
            licence = licence(l)
        ),
        _ => t!("ui.home.no_seat", locale = lang),
    };
    PreEscaped(
        t!(
            "ui.home.signed_in",
            locale = lang,
            name = strong(&user.name),
            login = html! { (user.user_name) }.into_string(),
            seat = seat
        )
        .into_owned(),
    )
}

/// The home page of the signed-in `req` (the sign-in module answers `/` for everyone else).
pub async fn page(req: &HttpRequest, state: &AppState) -> PageResult<HttpResponse> {
    let v = Visitor::of(req, state).await?;
    let lang = v.lang;
    let me = v.current.user.id.clone();
    let now = v.caller.at;
    let since = crate::clock::jiff_now(now);
    let until = since
        .checked_add(jiff::SignedDuration::from_hours(24 * AHEAD_DAYS))
        .unwrap_or(since);
    let finals = state.finals.clone();
    let reads = v.caller.allows(
        crate::authz::Action::ReadOnCall,
        &crate::authz::Resource::Account,
    );
    let (now_rows, next_rows, policies, mine, ours, names) = state
        .db
        .run(move |conn| {
            let q = Query {
                user_ids: vec![me.clone()],
                ..Query::default()
            };
            let current = oncalls::list(conn, &finals, &q, since, since)?;
            let q = Query {
                user_ids: vec![me.clone()],
                earliest: true,
                ..Query::default()
            };
            let ahead = oncalls::list(conn, &finals, &q, since, until)?;
            let mut policies: std::collections::HashMap<_, String> = current
                .policies
                .iter()
                .chain(ahead.policies.iter())
                .map(|(id, p)| (id.clone(), p.policy.name.clone()))
                .collect();
            policies.shrink_to_fit();
            let next: Vec<Row> = ahead
                .rows
                .into_iter()
                .filter(|r| r.call.start.is_some_and(|s| s > since))
                .collect();
            let open = |user_ids, team_ids| Filter {
                statuses: vec![Status::Triggered, Status::Acknowledged],
                user_ids,
                team_ids,
                sort: vec![(SortKey::CreatedAt, true)],
                ..Filter::default()
            };
            let page = PageRequest {
                offset: 0,
                limit: INCIDENTS_SHOWN,
                want_total: false,
            };
            let (mine, ours) = if reads {
                let mine = incident_store::list(conn, &open(vec![me.clone()], vec![]), &page)?.rows;
                let my_teams = teams::of_member(conn, &me)?;
                let ours = if my_teams.is_empty() {
                    None
                } else {
                    Some(incident_store::list(conn, &open(vec![], my_teams), &page)?.rows)
                };
                (mine, ours)
            } else {
                (Vec::new(), None)
            };
            let every: Vec<LoadedIncident> =
                mine.iter().chain(ours.iter().flatten()).cloned().collect();
            let names: Names = api_incidents::names(conn, &every)?;
            Ok((current.rows, next, policies, mine, ours, names))
        })
        .await?;
    let shown = |t: jiff::Timestamp| v.time(crate::clock::stored_instant(t));
    let policy = |r: &Row| policies.get(&r.policy).cloned().unwrap_or_default();
    let body = html! {
        p { (signed_in_line(&state.sign_in.seat_policy, &v.current.user, lang)) }
        div.cards {
            section.card aria-labelledby="now" {
                h2 #now { (t!("ui.home.on_call_now", locale = lang)) }
                @if now_rows.is_empty() {
                    p { (t!("ui.home.not_on_call", locale = lang)) }
                }
                ul {
                    @for r in &now_rows {
                        li {
                            @match r.call.end {
                                Some(end) => (t!("ui.home.on_call_line", locale = lang, policy = policy(r), level = r.call.level, until = shown(end))),
                                None => (t!("ui.home.always", locale = lang, policy = policy(r), level = r.call.level)),
                            }
                        }
                    }
                }
            }
            section.card aria-labelledby="next" {
                h2 #next { (t!("ui.home.next_shift", locale = lang)) }
                @match next_rows.iter().min_by_key(|r| r.call.start) {
                    Some(r) => p { (t!("ui.home.shift_line", locale = lang, policy = policy(r), level = r.call.level,
                        start = r.call.start.map(shown).unwrap_or_default(), end = r.call.end.map(shown).unwrap_or_default())) },
                    None => p { (t!("ui.home.no_next_shift", locale = lang)) },
                }
                p { a href="/shifts" { (t!("ui.home.all_shifts", locale = lang)) } }
            }
        }
        @if reads {
            section aria-labelledby="mine" {
                h2 #mine { (t!("ui.home.mine", locale = lang)) }
                (incident_table(&v, &mine, &names))
            }
            section aria-labelledby="ours" {
                h2 #ours { (t!("ui.home.teams", locale = lang)) }
                @match &ours {
                    Some(rows) => (incident_table(&v, rows, &names)),
                    None => p.muted { (t!("ui.home.no_teams", locale = lang)) },
                }
            }
        }
    };
    Ok(shell::ok(
        &v,
        "/",
        &t!("ui.home.title", locale = lang),
        body,
    ))
}
