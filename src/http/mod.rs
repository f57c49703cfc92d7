//! The HTTP edge: the actix application, its middleware, and one module per protocol. Handlers
//! are thin: extract, authorize, one transaction of domain and store calls, render.

pub mod act;
pub mod api;
pub mod auth;
pub mod demo;
pub mod edge;
pub mod events;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod page;
pub mod scim;
pub mod sign_in;
pub mod throttle;
pub mod twilio;
pub mod ui;
pub mod unsubscribe;

use crate::authz::Policies;
use crate::clock::SharedClock;
use crate::jobs::email_delivery;
use crate::store::Db;
use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;

/// Largest request body we read (SCIM bulk membership changes fit comfortably).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub clock: SharedClock,
    /// Base of the links we hand out, without a trailing slash.
    pub public_url: String,
    pub metrics: metrics::Metrics,
    pub sign_in: sign_in::SignInSettings,
    /// Poke after committing a transaction that enqueued emails, so they go out now.
    pub email_delivery: email_delivery::Wakeup,
    /// Poke after committing a transaction that wrote notifications (a trigger, an
    /// escalation, a reassignment), so they go out now.
    pub notifications: email_delivery::Wakeup,
    /// The authorization policies, loaded and validated at start-up.
    pub policies: Policies,
    /// Limits on attempts at what can be guessed or flooded without signing in.
    pub throttle: throttle::Throttle,
    /// Schedules and final schedules kept between requests (`use_cases::finals`).
    pub finals: std::sync::Arc<crate::use_cases::finals::Cache>,
    /// Resolved incidents indexed for "similar past incidents" (`use_cases::related`).
    pub related: std::sync::Arc<crate::use_cases::related::Related>,
    /// Where triggers that open incidents are written, many at a time.
    pub intake: crate::use_cases::intake::Intake,
    /// Phone calls, when Twilio is configured: its Auth Token checks Twilio's callbacks.
    pub voice: Option<crate::notify::voice::Voice>,
    /// Where chat webhooks may point (`chat_hosts`): checked when a channel is added.
    pub chat_hosts: std::sync::Arc<crate::domain::chat_hosts::ChatHosts>,
    /// Set by `rota serve --demo` once its organisation is seeded: the sample sign-in and the
    /// outbox page (`demo`) answer only then. Never set otherwise.
    pub demo: std::sync::OnceLock<crate::demo::Demo>,
}

impl AppState {
    /// The seat policy and bootstrap owners, as the seat store takes them.
    pub fn seat_rules(&self) -> crate::store::seats::SeatRules<'_> {
        crate::store::seats::SeatRules {
            policy: &self.sign_in.seat_policy,
            bootstrap_owners: &self.sign_in.bootstrap_owners,
        }
    }

    /// What the use cases need to decide seats: the rules, and the e-mail delivery to wake.
    pub fn seats(&self) -> crate::use_cases::Seats<'_> {
        crate::use_cases::Seats {
            rules: self.seat_rules(),
            wakeup: &self.email_delivery,
        }
    }
}

/// Routes of the whole service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/docs").route(web::get().to(to_docs)))
        .route(page::STYLESHEET, web::get().to(page::stylesheet))
        .configure(sign_in::routes)
        // `rota serve --demo` only: the sample sign-in and the outbox (404 otherwise).
        .configure(demo::routes)
        .configure(health::routes)
        // Calendar feeds: the secret URL is the credential (`api::calendar::feed`).
        .route("/calendar/{file:.*}", web::get().to(api::calendar::feed))
        .configure(api::routes)
        // E-mail acknowledge/resolve links: the signed token is the credential (`act`).
        .configure(act::routes)
        // Unsubscribe links in status-update e-mails: the signed token is the credential.
        .configure(unsubscribe::routes)
        // Pages for people signed in with a session (`ui`).
        .configure(ui::routes)
        .configure(events::routes)
        // Twilio's callbacks: its signature is the credential (`twilio`).
        .configure(twilio::routes)
        .configure(scim::routes)
        .default_service(web::to(page::not_found));
}

async fn to_docs() -> HttpResponse {
    HttpResponse::Found()
        .insert_header(("Location", "/api/docs/"))
        .finish()
}

/// The largest form a page posts (a note, a status update, a layer's people); the roster
/// import is a multipart upload with its own limit.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// How the pages' forms are read: up to `MAX_FORM_BYTES`, and a form that cannot be read is
/// an error page (413 when too large, 400 when malformed), as every page's errors are.
fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(MAX_FORM_BYTES)
        .error_handler(|e, _| {
            use actix_web::error::UrlencodedError as U;
            let error = match e {
                U::Overflow { .. } => {
                    crate::error::AppError::new(crate::error::ErrorKind::PayloadTooLarge {
                        limit: MAX_FORM_BYTES,
                    })
                }
                other => {
                    crate::error::AppError::invalid("form", format!("could not be read: {other}"))
                }
            };
            let page = page::error_response(&error);
            actix_web::error::InternalError::from_response(error, page).into()
        })
}

/// Builds the server on an already-bound listener (tests bind port 0 and read the port).
/// Requests that are in flight finish on SIGTERM/SIGINT, up to `shutdown_timeout`.
pub fn server(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: Option<usize>,
) -> std::io::Result<Server> {
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .app_data(form_config())
            .wrap(actix_web::middleware::from_fn(edge::edge))
            .wrap(actix_web::middleware::from_fn(observe::observe))
            .configure(routes)
    })
    .shutdown_timeout(30)
    .listen(listener)?;
    if let Some(n) = workers {
        server = server.workers(n);
    }
    Ok(server.run())
}
