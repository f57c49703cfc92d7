//! Pages for people in a browser, signed in with a session: the second client of the same use
//! cases the REST API calls, allowed or refused by the same policies (`ApiCaller::may`). A
//! visitor without a session is sent to sign in and comes back to the page they asked for;
//! every form carries the session's CSRF token. Handlers return `PageResult`: an error is a
//! page (or the way to sign in), never JSON.

pub mod chart;
pub mod escalation;
pub mod form;
pub mod home;
pub mod identity;
pub mod incidents;
pub mod listing;
pub mod profile;
pub mod schedules;
pub mod seats;
pub mod services;
pub mod shell;
pub mod shifts;
pub mod teams;
pub mod timeline;
pub mod upload;

use super::AppState;
use super::api::caller::ApiCaller;
use super::page;
use super::sign_in::session::{self, Current};
use crate::error::AppError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(incidents::routes);
    cfg.configure(schedules::routes);
    cfg.configure(services::routes);
    cfg.configure(escalation::routes);
    cfg.configure(teams::routes);
    cfg.configure(seats::routes);
    cfg.configure(identity::routes);
    cfg.configure(shifts::routes);
    cfg.configure(profile::routes);
}

/// Why a page is not shown.
#[derive(Debug)]
pub enum PageError {
    /// No live session: sign in, then come back to this path (and query).
    SignIn { back_to: String },
    /// Refused, not found, or a fault: an error page in words for a person.
    App(AppError),
}

pub type PageResult<T = HttpResponse> = Result<T, PageError>;

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError::App(e)
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::SignIn { back_to } => write!(f, "sign in to see {back_to}"),
            PageError::App(e) => e.fmt(f),
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::App(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // A form post is returned to as its page (GET), so nothing is done before the
            // person sees it again.
            PageError::SignIn { back_to } => {
                let back: String =
                    url::form_urlencoded::byte_serialize(back_to.as_bytes()).collect();
                HttpResponse::SeeOther()
                    .insert_header(("Location", format!("/auth/oidc/login?return_to={back}")))
                    .insert_header(("Cache-Control", "no-store"))
                    .finish()
            }
            PageError::App(e) => page::error_response(e),
        }
    }
}

/// The signed-in person a page is for.
pub struct Visitor {
    pub current: Current,
    pub caller: ApiCaller,
    /// The language pages are written in for them: `en` or `ja`.
    pub lang: &'static str,
    /// Their IANA time zone: every time on a page is shown in it.
    pub zone: String,
    /// `rota serve --demo`: the navigation shows the outbox.
    pub demo: bool,
}

impl Visitor {
    /// The page's visitor: without a live session, the way to sign in and back; with a seat
    /// that lets them in nowhere, a 403 page.
    pub async fn of(req: &HttpRequest, state: &AppState) -> PageResult<Visitor> {
        let Some(current) = session::current(req).await? else {
            let back_to = req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            return Err(PageError::SignIn { back_to });
        };
        let request_id = crate::http::auth::Presented::read(req).request_id;
        let caller = ApiCaller::of_session(state, &current, request_id).await?;
        let user = &current.user;
        let lang = match user
            .locale
            .as_deref()
            .or(user.preferred_language.as_deref())
        {
            Some(tag) => crate::domain::handoff::language(Some(tag)),
            None => crate::http::api::status_updates::browser_language(req),
        };
        let zone = user.time_zone.clone();
        Ok(Visitor {
            current,
            caller,
            lang,
            zone,
            demo: state.demo.get().is_some(),
        })
    }

    /// The visitor of a form post: `of`, then `check_form` with the form's CSRF token.
    pub async fn posting(
        req: &HttpRequest,
        state: &AppState,
        csrf_token: Option<&str>,
    ) -> PageResult<Visitor> {
        let v = Visitor::of(req, state).await?;
        v.check_form(req, csrf_token, state)?;
        Ok(v)
    }

    /// Refuses a form post that lacks this session's CSRF token or comes from another origin.
    pub fn check_form(
        &self,
        req: &HttpRequest,
        csrf_token: Option<&str>,
        state: &AppState,
    ) -> PageResult<()> {
        Ok(self
            .current
            .check_csrf(req, csrf_token, &state.public_url)?)
    }

    /// A stored instant as this visitor reads it (`2026-12-07 19:00 JST`).
    pub fn time(&self, stored: chrono::NaiveDateTime) -> String {
        crate::clock::shown_in(stored, &self.zone)
    }

    /// The hidden field every form of this visitor carries.
    pub fn csrf(&self) -> maud::Markup {
        maud::html! { input type="hidden" name="csrf_token" value=(self.current.csrf()); }
    }

    /// `csrf` as HTML text, for pages not written with maud.
    pub fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\">",
            self.current.csrf()
        )
    }
}
