//! `rota serve --demo`'s own pages. They answer only once the demo is seeded
//! (`AppState::demo`), and only to a loopback peer; anywhere else they are the ordinary 404.
//! - `/demo`: the sample sign-in: pick a person (a team member, a manager, a licence owner, an
//!   admin, a stakeholder) and see Rota as them. A double-submit token and the `Origin` check
//!   keep another site from signing a visitor in.
//! - `/demo/outbox`: what would have been e-mailed, called or texted (the demo has no
//!   provider), and a form that triggers a sample alert on the demo's own service through the
//!   same intake as the Events API, so a visitor watches it escalate level by level.

use super::AppState;
use super::api::status_updates::browser_language;
use super::page;
use super::sign_in::{form_token, form_token_matches, signed_in};
use super::ui::{PageResult, Visitor, shell};
use crate::demo::Demo;
use crate::domain::audit::{Actor, ActorKind};
use crate::error::AppError;
use crate::store::audit::AuditContext;
use crate::store::{self, emails, notifications, sessions};
use crate::use_cases::incidents::Ingested;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use rust_i18n::t;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/demo", web::get().to(sample_sign_in))
        .route("/demo/sign-in", web::post().to(sign_in_as))
        .route("/demo/outbox", web::get().to(outbox))
        .route("/demo/alert", web::post().to(sample_alert));
}

/// How many of the newest e-mails and notifications the outbox shows.
const OUTBOX_ROWS: i64 = 50;

/// The demo, when this server is one and the visitor is on this machine.
fn demo_for<'a>(req: &HttpRequest, state: &'a AppState) -> Option<&'a Demo> {
    let local = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    state.demo.get().filter(|_| local)
}

fn not_found() -> HttpResponse {
    page::error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page at this address.",
    )
}

/// The signed-out home page of a demo: where the sample sign-in is.
pub fn signed_out_home(req: &HttpRequest, state: &AppState) -> HttpResponse {
    if demo_for(req, state).is_none() {
        return not_found();
    }
    let lang = browser_language(req);
    shell::signed_out(
        lang,
        StatusCode::OK,
        "Rota",
        html! {
            p { (t!("demo.intro", locale = lang)) }
            p { a.lead href="/demo" { (t!("demo.pick", locale = lang)) } }
        },
    )
}

async fn sample_sign_in(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(demo) = demo_for(&req, &state) else {
        return not_found();
    };
    let lang = browser_language(&req);
    let (token, cookie) = form_token(&state);
    let mut response = shell::signed_out(
        lang,
        StatusCode::OK,
        &t!("demo.title", locale = lang),
        html! {
            p.notice { (t!("demo.intro", locale = lang)) }
            p { (t!("demo.explain", locale = lang)) }
            ul.personas {
                @for person in &demo.personas {
                    li {
                        form method="post" action="/demo/sign-in" {
                            input type="hidden" name="csrf_token" value=(token);
                            input type="hidden" name="user" value=(person.user_id.as_str());
                            button type="submit" {
                                (t!("demo.sign_in_as", locale = lang, name = person.name))
                            }
                        }
                        @let about = format!("demo.persona.{}", person.kind);
                        p { (t!(about.as_str(), locale = lang)) }
                    }
                }
            }
        },
    );
    let _ = response.add_cookie(&cookie);
    response
}

#[derive(Deserialize)]
struct SignInForm {
    csrf_token: String,
    user: String,
}

async fn sign_in_as(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignInForm>,
) -> HttpResponse {
    let Some(demo) = demo_for(&req, &state) else {
        return not_found();
    };
    let form = form.into_inner();
    if !form_token_matches(&req, &state, &form.csrf_token) {
        return page::error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form was not sent from this page, or it is too old. Open the sample sign-in again.",
        );
    }
    // Only the people the page offers.
    let Some(person) = demo
        .personas
        .iter()
        .find(|p| p.user_id.as_str() == form.user)
    else {
        return page::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not a sample person",
            "Pick one of the people on the sample sign-in page.",
        );
    };
    let user_id = person.user_id.clone();
    let name = person.name.clone();
    let now = state.clock.now();
    let lifetime = state.sign_in.sessions.max;
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let opened = state
        .db
        .run(move |conn| {
            store::write(conn, |tx| {
                let (session, secret) = sessions::open(
                    tx,
                    &user_id,
                    sessions::METHOD_DEMO,
                    user_agent.as_deref(),
                    crate::clock::stored(now),
                    lifetime,
                )?;
                let ctx = AuditContext {
                    actor: Actor {
                        kind: ActorKind::User,
                        id: Some(user_id.0.clone()),
                        name: name.clone(),
                    },
                    request_id: None,
                    at: now,
                };
                let details =
                    serde_json::json!({"method": session.method, "session_id": session.id});
                store::audit::record(
                    tx,
                    &ctx,
                    "sign_in",
                    store::audit::Target {
                        kind: "user",
                        id: &user_id.0,
                        name: &name,
                    },
                    None::<&()>,
                    Some(&details),
                )?;
                Ok(secret)
            })
        })
        .await;
    match opened {
        Ok(secret) => signed_in(&state, secret, "/"),
        Err(e) => page::app_error_page(e),
    }
}

async fn outbox(req: HttpRequest, state: web::Data<AppState>) -> PageResult {
    if demo_for(&req, &state).is_none() {
        return Ok(not_found());
    }
    let v = Visitor::of(&req, &state).await?;
    let (sent, calls) = state
        .db
        .run(|conn| {
            Ok((
                emails::newest(conn, OUTBOX_ROWS)?,
                notifications::newest(conn, OUTBOX_ROWS)?,
            ))
        })
        .await?;
    let lang = v.lang;
    let body = html! {
        p.notice { (t!("demo.outbox.explain", locale = lang)) }
        form method="post" action="/demo/alert" {
            (v.csrf())
            button type="submit" { (t!("demo.outbox.trigger", locale = lang)) }
        }
        p { a href="/demo/outbox" { (t!("demo.outbox.refresh", locale = lang)) } }
        h2 { (t!("demo.outbox.notifications", locale = lang)) }
        @if calls.is_empty() {
            p { (t!("demo.outbox.none", locale = lang)) }
        } @else {
            table {
                thead { tr {
                    th scope="col" { (t!("demo.outbox.when", locale = lang)) }
                    th scope="col" { (t!("demo.outbox.incident", locale = lang)) }
                    th scope="col" { (t!("demo.outbox.to", locale = lang)) }
                    th scope="col" { (t!("demo.outbox.how", locale = lang)) }
                    th scope="col" { (t!("demo.outbox.state", locale = lang)) }
                } }
                tbody {
                    @for c in &calls {
                        @let channel = format!("demo.outbox.channel.{}", c.notification.channel.as_str());
                        @let state = format!("demo.outbox.status.{}", c.notification.status.as_str());
                        tr {
                            td { (v.time(c.notification.due_at)) }
                            td { a href=(format!("/incidents/{}", c.notification.incident_id.as_str())) {
                                "#" (c.incident_number) " " (c.incident_title)
                            } }
                            td { (c.person) " (" (c.notification.address) ")" }
                            td { (t!(channel.as_str(), locale = lang)) }
                            td { (t!(state.as_str(), locale = lang)) }
                        }
                    }
                }
            }
        }
        h2 { (t!("demo.outbox.emails", locale = lang)) }
        @if sent.is_empty() {
            p { (t!("demo.outbox.none", locale = lang)) }
        } @else {
            @for e in &sent {
                details {
                    summary { (v.time(e.created_at)) " · " (e.to_address) " · " (e.subject) }
                    pre { (e.body) }
                }
            }
        }
    };
    Ok(shell::ok(
        &v,
        "/demo/outbox",
        &t!("demo.outbox.title", locale = lang),
        body,
    ))
}

#[derive(Deserialize)]
struct AlertForm {
    csrf_token: Option<String>,
}

/// Samples a visitor can trigger, taken in turn.
const SAMPLES: &[(&str, &str, &str)] = &[
    ("Checkout latency p99 above 2 s", "checkout-7", "critical"),
    ("Node not ready: node-9 (eu-west)", "node-9", "error"),
    ("HTTP 5xx rate above 2% on www", "web-4", "critical"),
];

async fn sample_alert(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<AlertForm>,
) -> PageResult {
    let Some(demo) = demo_for(&req, &state) else {
        return Ok(not_found());
    };
    Visitor::posting(&req, &state, form.csrf_token.as_deref()).await?;
    let n = uuid::Uuid::now_v7();
    let (summary, source, severity) = SAMPLES[usize::from(n.as_bytes()[15]) % SAMPLES.len()];
    let event = serde_json::json!({
        "routing_key": demo.sample_key, "event_action": "trigger",
        "dedup_key": format!("sample-{}", n.simple()),
        "payload": {"summary": summary, "source": source, "severity": severity,
            "component": "demo", "group": "sample"},
    });
    let outcome = super::events::receive(&state, event)
        .await
        .map_err(|e| match e {
            super::events::EventsError::App(e) => e,
            super::events::EventsError::Invalid(errors) => {
                AppError::internal(format!("the sample alert was refused: {errors:?}"))
            }
        })?;
    let to = match outcome.ingested {
        Ingested::Opened(id) => format!("/incidents/{}", id.as_str()),
        _ => "/demo/outbox".to_owned(),
    };
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", to))
        .finish())
}
