//! The Events API v2, compatible with PagerDuty's: `POST /v2/enqueue` (alert events),
//! `POST /v2/change/enqueue` (change events), and Azure Monitor's common alert schema at
//! `POST /integrations/azure-monitor/{routing_key}`. The routing key in the body (or the
//! URL) is the credential. Answers are PagerDuty's: 202 `{status, message, dedup_key}`,
//! 400 `{status, message, errors}`, 413 above 512 KB, 429 with `Retry-After` above
//! `events_per_minute` per routing key. Nothing malformed opens anything, and nothing a
//! sender can put in a body is a 5xx.

use crate::domain::attempts::Admission;
use crate::domain::events::{self, Errors, MAX_BODY_BYTES};
use crate::error::{AppError, ErrorKind};
use crate::http::AppState;
use crate::store::{DbConnection, services};
use crate::use_cases::incidents::{self as cases, Ingest, Ingested, Route};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v2/enqueue").route(web::post().to(enqueue)))
        .service(web::resource("/v2/change/enqueue").route(web::post().to(change_enqueue)))
        .service(
            web::resource("/integrations/azure-monitor/{routing_key}")
                .route(web::post().to(azure_monitor)),
        );
}

/// Whether a path is answered in this API's shape (for errors raised before a handler).
pub fn owns(path: &str) -> bool {
    path.starts_with("/v2/") || path.starts_with("/integrations/")
}

/// The Events API's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[schema(example = "Event processed")]
    pub message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup_key: Option<String>,
}

/// The Events API's refusal.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventErrorBody {
    #[schema(example = "invalid event")]
    pub status: &'static str,
    #[schema(example = "Event object is invalid")]
    pub message: &'static str,
    pub errors: Vec<String>,
}

/// An error in the Events API's shape.
#[derive(Debug)]
pub enum EventsError {
    /// The event is malformed: PagerDuty's 400 with one string per thing to fix.
    Invalid(Errors),
    App(AppError),
}

impl From<AppError> for EventsError {
    fn from(e: AppError) -> Self {
        EventsError::App(e)
    }
}

impl std::fmt::Display for EventsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventsError::Invalid(errors) => write!(f, "invalid event: {}", errors.join("; ")),
            EventsError::App(e) => write!(f, "{}", e.message()),
        }
    }
}

impl ResponseError for EventsError {
    fn status_code(&self) -> StatusCode {
        match self {
            EventsError::Invalid(_) => StatusCode::BAD_REQUEST,
            EventsError::App(e) => match e.kind {
                ErrorKind::Invalid { .. } | ErrorKind::NotFound { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut res = HttpResponse::build(status);
        let (state, message, errors) = match self {
            EventsError::Invalid(errors) => {
                ("invalid event", "Event object is invalid", errors.clone())
            }
            EventsError::App(e) => {
                e.log();
                if let Some(secs) = e.retry_after() {
                    res.insert_header((header::RETRY_AFTER, secs));
                }
                match e.kind {
                    ErrorKind::Invalid { .. } | ErrorKind::NotFound { .. } => (
                        "invalid event",
                        "Event object is invalid",
                        vec![e.message()],
                    ),
                    ErrorKind::PayloadTooLarge { .. } => (
                        "invalid event",
                        "Request Entity Too Large",
                        vec![format!("the event is larger than {MAX_BODY_BYTES} bytes")],
                    ),
                    ErrorKind::TooManyRequests { .. } => (
                        "throttle event",
                        "Requests for this routing key are being throttled",
                        vec![e.message()],
                    ),
                    _ => ("error", "Event could not be processed", vec![e.message()]),
                }
            }
        };
        res.json(EventErrorBody {
            status: state,
            message,
            errors,
        })
    }
}

type EventsResult<T> = Result<T, EventsError>;

/// The body as JSON, up to 512 KB (PagerDuty's limit).
async fn json_body(payload: web::Payload) -> EventsResult<Value> {
    let bytes = payload
        .to_bytes_limited(MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            AppError::new(ErrorKind::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })
        })?
        .map_err(|e| AppError::invalid("body", format!("could not be read: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| EventsError::Invalid(vec![format!("Event object is not valid JSON: {e}")]))
}

/// The integration a routing key belongs to, after its rate limit.
/// The route of a routing key, admitted by its rate limit. Runs on the caller's connection,
/// so an event costs one trip to the database pool, not two.
fn route(conn: &mut DbConnection, state: &AppState, key: &str) -> EventsResult<Route> {
    let Some((service, integration)) = services::find_by_routing_key(conn, key)? else {
        return Err(EventsError::Invalid(vec![
            "'routing_key' is not the integration key of any service".to_owned(),
        ]));
    };
    match state
        .throttle
        .admit_event(integration.as_str(), state.clock.now())
    {
        Admission::Allowed => Ok(Route {
            service,
            integration,
        }),
        Admission::Wait(wait) => Err(AppError::too_many(
            "too many events for this routing key; slow down and send again",
            wait,
        )
        .into()),
    }
}

async fn alert(state: web::Data<AppState>, body: Value) -> EventsResult<HttpResponse> {
    let outcome = receive(&state, body).await?;
    let message = match outcome.ingested {
        Ingested::Opened(_) | Ingested::Repeated => "Event processed",
        Ingested::Acknowledged(_) | Ingested::Resolved(_) => "Event processed",
        Ingested::Nothing => "Event processed (no open alert with this dedup_key)",
    };
    Ok(HttpResponse::Accepted().json(EventResponse {
        status: "success",
        message,
        dedup_key: Some(outcome.dedup_key),
    }))
}

/// An alert event read and acted on, whoever sent it: the Events API, Azure Monitor's webhook,
/// the demo's sample alert.
pub async fn receive(state: &web::Data<AppState>, body: Value) -> EventsResult<cases::Outcome> {
    let event = events::alert_event(&body).map_err(EventsError::Invalid)?;
    let at = state.clock.now();
    let shared = state.clone();
    let step = state
        .db
        .run(move |conn| {
            Ok(route(conn, &shared, &event.routing_key)
                .and_then(|r| Ok(cases::ingest(conn, at, &r, event)?)))
        })
        .await??;
    let outcome = match step {
        Ingest::Done(outcome) => outcome,
        Ingest::Open(trigger) => state.intake.open(*trigger).await?,
    };
    match &outcome.ingested {
        Ingested::Opened(_) => state.notifications.poke(),
        Ingested::Acknowledged(id) | Ingested::Resolved(id) => {
            state
                .metrics
                .incidents_committed(&state.db, vec![id.clone()], at)
                .await
        }
        Ingested::Repeated | Ingested::Nothing => {}
    }
    Ok(outcome)
}

/// Send an alert event
///
/// Triggers, acknowledges or resolves an alert, as PagerDuty's Events API v2 does.
#[utoipa::path(post, path = "/v2/enqueue", tag = "Events API v2",
    request_body(content = Object, description = "An Events API v2 event: routing_key, event_action, dedup_key, payload {summary, source, severity, timestamp, component, group, class, custom_details}, links, images, client, client_url"),
    responses((status = 202, body = EventResponse), (status = 400, body = EventErrorBody), (status = 413, body = EventErrorBody), (status = 429, body = EventErrorBody)))]
pub async fn enqueue(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> EventsResult<HttpResponse> {
    let body = json_body(payload).await?;
    alert(state, body).await
}

/// Send a change event
///
/// Records a change (a deploy, say) on the service's timeline; it opens nothing.
#[utoipa::path(post, path = "/v2/change/enqueue", tag = "Events API v2",
    request_body(content = Object, description = "routing_key, payload {summary, source, timestamp, custom_details}, links"),
    responses((status = 202, body = EventResponse), (status = 400, body = EventErrorBody), (status = 429, body = EventErrorBody)))]
pub async fn change_enqueue(
    state: web::Data<AppState>,
    payload: web::Payload,
) -> EventsResult<HttpResponse> {
    let body = json_body(payload).await?;
    let event = events::change_event(&body).map_err(EventsError::Invalid)?;
    let at = state.clock.now();
    let shared = state.clone();
    state
        .db
        .run(move |conn| {
            Ok(route(conn, &shared, &event.routing_key)
                .and_then(|r| Ok(cases::record_change(conn, at, &r, event)?)))
        })
        .await??;
    Ok(HttpResponse::Accepted().json(EventResponse {
        status: "success",
        message: "Change event processed",
        dedup_key: None,
    }))
}

/// Azure Monitor alert
///
/// An action group's webhook with the common alert schema: Fired triggers and Resolved
/// resolves (the alert id is the dedup key); Sev0–Sev4 become critical, error, warning,
/// info and info.
#[utoipa::path(post, path = "/integrations/azure-monitor/{routing_key}", tag = "Events API v2",
    params(("routing_key" = String, Path, description = "The integration key of an Events API v2 integration")),
    request_body(content = Object, description = "Azure Monitor's common alert schema"),
    responses((status = 202, body = EventResponse), (status = 400, body = EventErrorBody), (status = 429, body = EventErrorBody)))]
pub async fn azure_monitor(
    state: web::Data<AppState>,
    key: web::Path<String>,
    payload: web::Payload,
) -> EventsResult<HttpResponse> {
    let body = json_body(payload).await?;
    let event =
        events::from_azure_monitor(&body, &key.into_inner()).map_err(EventsError::Invalid)?;
    alert(state, event).await
}
