//! `/act/{token}`: the acknowledge and resolve links in notification e-mails. The signed token
//! is the credential (no sign-in, so it works on a phone; no CSRF token, nothing else to
//! steal). `GET` only shows what the link would do, with a button that posts back here, so
//! a mail scanner that fetches links acknowledges nothing; `POST` does it, once. Pages are
//! plain HTML without script (`page::layout`); a link that does not work gets a 4xx page
//! saying why.

use super::AppState;
use super::page::{self, escape};
use crate::domain::action_link::{Act, LinkError};
use crate::domain::incident::{self as rules, Status};
use crate::store::incidents::Incident;
use crate::use_cases::action_links::{self as cases, Refusal};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/act/{token}")
            .route(web::get().to(confirm))
            .route(web::post().to(perform)),
    );
}

/// The confirmation page: what the link does, and the button that does it.
async fn confirm(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let now = state.clock.now();
    let token = token.into_inner();
    let form_token = token.clone();
    let preview = match state
        .db
        .run(move |conn| Ok(cases::look(conn, &token, now)))
        .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(r)) => return refused(r),
        Err(e) => return page::app_error_page(e),
    };
    let i = &preview.incident;
    if !matches!(
        rules::next_status(i.status, preview.act.change()),
        Ok(Some(_))
    ) {
        return nothing_to_do(preview.act, i);
    }
    confirmation(
        preview.act,
        i,
        &preview.person,
        &format!("/act/{form_token}"),
        "",
    )
}

/// The page asking whether to `act` on `i` as `person`: a form posting to `action` with
/// `hidden_html` (already escaped) inside.
pub(crate) fn confirmation(
    act: Act,
    i: &Incident,
    person: &str,
    action: &str,
    hidden_html: &str,
) -> HttpResponse {
    let verb = act.verb();
    page::layout(
        StatusCode::OK,
        &format!("{verb} incident #{}?", i.number),
        &format!(
            "<p>{}</p><p>You are {} as {}.</p>\
             <form method=\"post\" action=\"{}\">{hidden_html}\
             <p><button type=\"submit\">{verb}</button></p></form>",
            describe(i),
            match act {
                Act::Acknowledge => "acknowledging it",
                Act::Resolve => "resolving it",
            },
            escape(person),
            escape(action),
        ),
    )
}

/// The page for an action with nothing left to do on `i`.
pub(crate) fn nothing_to_do(act: Act, i: &Incident) -> HttpResponse {
    let why = match (act, i.status) {
        (Act::Acknowledge, Status::Resolved) => "It was resolved meanwhile; nothing was changed.",
        _ => "It was already so; nothing was changed.",
    };
    page::layout(
        StatusCode::OK,
        &format!("Already {}", i.status.as_str()),
        &format!("<p>{}</p><p>{why}</p>", describe(i)),
    )
}

/// The page after `act` changed `i`.
pub(crate) fn done(act: Act, i: &Incident) -> HttpResponse {
    page::layout(
        StatusCode::OK,
        act.done(),
        &format!("<p>{}</p>", describe(i)),
    )
}

/// Uses the link.
async fn perform(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let now = state.clock.now();
    let token = token.into_inner();
    let acted = match state
        .db
        .run(move |conn| Ok(cases::act(conn, &token, now)))
        .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(r)) => return refused(r),
        Err(e) => return page::app_error_page(e),
    };
    if acted.changed {
        state
            .metrics
            .incidents_committed(&state.db, vec![acted.incident.id.clone()], now)
            .await;
        return done(acted.act, &acted.incident);
    }
    nothing_to_do(acted.act, &acted.incident)
}

/// "Incident #12 (Disk full) is triggered.", escaped.
pub(crate) fn describe(i: &Incident) -> String {
    format!(
        "Incident #{} <strong>{}</strong> is {}.",
        i.number,
        escape(&i.title),
        i.status.as_str()
    )
}

/// Why the link did nothing, as a page.
fn refused(r: Refusal) -> HttpResponse {
    let (status, title, detail) = match r {
        Refusal::Link(e @ LinkError::Expired) => {
            (StatusCode::GONE, "This link has expired", e.to_string())
        }
        Refusal::Link(e @ LinkError::Invalid) => {
            (StatusCode::NOT_FOUND, "This link does not work", e.to_string())
        }
        Refusal::Used => (
            StatusCode::CONFLICT,
            "This link was already used",
            "This link was already used: each link in an e-mail works once. Open the incident in Rota to see where it stands.".to_owned(),
        ),
        Refusal::MayNotRespond => (
            StatusCode::FORBIDDEN,
            "Not allowed",
            "The person this link was sent to can no longer respond to incidents (deactivated, or without a responder seat).".to_owned(),
        ),
        Refusal::App(e) => return page::app_error_page(e),
    };
    page::error_page(status, title, &detail)
}
