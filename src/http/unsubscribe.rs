//! `/unsubscribe/{token}`: the link in every status-update e-mail. Like `/act/{token}`, the
//! signed token is the credential (no sign-in) and `GET` only asks, so a mail scanner that
//! fetches links unsubscribes nobody; `POST` ends the subscription. The same URL is the
//! e-mails' RFC 8058 `List-Unsubscribe` header, so a mail client's one-click POST (body
//! `List-Unsubscribe=One-Click`, no cookie) ends it too: `POST` reads no body and asks for
//! no session or CSRF token, since the signed token in the URL is the credential and only the
//! subscriber's own mailbox holds it.

use super::AppState;
use super::page::{self, escape};
use crate::domain::handoff::language;
use crate::use_cases::status_updates::{self as cases, Named};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/unsubscribe/{token}")
            .route(web::get().to(confirm))
            .route(web::post().to(perform)),
    );
}

/// The page's language: the subscriber's, else what the browser asks for.
fn lang_of(named: Option<&Named>, req: &HttpRequest) -> &'static str {
    match named.and_then(|n| n.locale.as_deref()) {
        Some(locale) => language(Some(locale)),
        None => super::api::status_updates::browser_language(req),
    }
}

/// Runs `f` (looking at or using the link `token`) and answers with `page` in the page's
/// language, or the "gone" page when the link names no live subscription.
async fn answer(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: String,
    f: fn(
        &mut crate::store::DbConnection,
        &str,
        chrono::DateTime<chrono::Utc>,
    ) -> crate::error::AppResult<Option<Named>>,
    page: impl FnOnce(&'static str, &Named) -> HttpResponse,
) -> HttpResponse {
    let now = state.clock.now();
    let named = match state.db.run(move |conn| f(conn, &token, now)).await {
        Ok(n) => n,
        Err(e) => return page::app_error_page(e),
    };
    let lang = lang_of(named.as_ref(), &req);
    match named {
        Some(named) => page(lang, &named),
        None => gone(lang),
    }
}

fn gone(lang: &str) -> HttpResponse {
    page::error_page(
        StatusCode::NOT_FOUND,
        &rust_i18n::t!("unsubscribe.title", locale = lang),
        &rust_i18n::t!("unsubscribe.gone", locale = lang),
    )
}

async fn confirm(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    let token = token.into_inner();
    let form_token = token.clone();
    answer(state, req, token, cases::look, move |lang, named| {
        let ask = rust_i18n::t!(
            "unsubscribe.ask",
            locale = lang,
            name = named.person.as_str(),
            what = named.what.as_str()
        );
        page::layout(
            StatusCode::OK,
            &rust_i18n::t!("unsubscribe.title", locale = lang),
            &format!(
                "<p>{}</p><form method=\"post\" action=\"/unsubscribe/{}\">\
                 <p><button type=\"submit\">{}</button></p></form>",
                escape(&ask),
                escape(&form_token),
                escape(&rust_i18n::t!("unsubscribe.button", locale = lang)),
            ),
        )
    })
    .await
}

async fn perform(
    state: web::Data<AppState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> HttpResponse {
    answer(
        state,
        req,
        token.into_inner(),
        cases::unsubscribe_by_link,
        |lang, named| {
            let done = rust_i18n::t!(
                "unsubscribe.done",
                locale = lang,
                name = named.person.as_str(),
                what = named.what.as_str()
            );
            page::layout(
                StatusCode::OK,
                &rust_i18n::t!("unsubscribe.title", locale = lang),
                &format!("<p>{}</p>", escape(&done)),
            )
        },
    )
    .await
}
