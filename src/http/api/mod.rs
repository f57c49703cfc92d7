//! The REST API at `/api/v2`, shaped like PagerDuty's REST API v2 so its clients and migration
//! scripts work: root-keyed objects, references, offset pagination, PagerDuty error objects,
//! `Authorization: Token token=…` (or `Bearer …`).

pub mod analytics;
pub mod audit;
pub mod calendar;
pub mod caller;
pub mod chat;
pub mod contact_methods;
pub mod escalation_policies;
pub mod incidents;
pub mod licences;
pub mod oncalls;
pub mod openapi;
pub mod params;
pub mod postmortems;
pub mod related;
pub mod schedules;
pub mod services;
pub mod status_updates;
pub mod teams;
pub mod tokens;
pub mod users;

pub use caller::ApiCaller;
pub use params::Params;

use crate::error::{AppError, ErrorKind};
use crate::http::MAX_BODY_BYTES;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(openapi::swagger_ui()).service(
        web::scope("/api/v2")
            .app_data(json_config())
            .app_data(
                web::PathConfig::default().error_handler(|e, _| {
                    ApiError(AppError::invalid("path", e.to_string())).into()
                }),
            )
            .configure(oncalls::routes)
            .configure(users::routes)
            .configure(contact_methods::routes)
            .configure(teams::routes)
            .configure(audit::routes)
            .configure(licences::routes)
            .configure(schedules::routes)
            .configure(escalation_policies::routes)
            .configure(services::routes)
            .configure(incidents::routes)
            .configure(status_updates::routes)
            .configure(related::routes)
            .configure(chat::routes)
            .configure(postmortems::routes)
            .configure(analytics::routes)
            .configure(calendar::routes)
            .configure(tokens::routes)
            .default_service(web::to(unknown_route)),
    );
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|e, _| {
            use actix_web::error::JsonPayloadError as J;
            let err = match e {
                J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
                    AppError::new(ErrorKind::PayloadTooLarge { limit })
                }
                J::ContentType => AppError::invalid("Content-Type", "must be application/json"),
                J::Deserialize(e) => AppError::invalid(
                    "request body",
                    format!("is not what this endpoint takes: {e}"),
                ),
                other => AppError::invalid("request body", format!("could not be read: {other}")),
            };
            ApiError(err).into()
        })
}

/// The whole body, up to the limit, with errors in PagerDuty's format (`web::Bytes` answers
/// a body over the limit with actix's plain-text 413). For bodies that are not JSON, which
/// `http::edge` does not read.
pub async fn body_bytes(payload: web::Payload) -> Result<web::Bytes, AppError> {
    payload
        .to_bytes_limited(MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            AppError::new(ErrorKind::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            })
        })?
        .map_err(|e| AppError::invalid("request body", format!("could not be read: {e}")))
}

/// Reads a JSON body that may be absent (then `T::default()`), with the same size limit,
/// content type and error format as `web::Json`.
pub async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, AppError> {
    let bytes = body_bytes(payload).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = actix_web::HttpMessage::mime_type(req)
        .ok()
        .flatten()
        .is_some_and(|m| m.subtype() == actix_web::mime::JSON);
    if !json {
        return Err(AppError::invalid(
            "Content-Type",
            "must be application/json",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        AppError::invalid(
            "request body",
            format!("is not what this endpoint takes: {e}"),
        )
    })
}

/// A resource whose unsupported methods answer 405 in PagerDuty's error format.
pub fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|req: HttpRequest| async move {
        ApiResult::<HttpResponse>::Err(ApiError(AppError::new(ErrorKind::MethodNotAllowed {
            method: req.method().to_string(),
            path: req.path().to_string(),
        })))
    }))
}

async fn unknown_route(req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError(AppError::not_found(
        "route",
        format!("{} {}", req.method(), req.path()),
    )))
}

/// An error rendered as PagerDuty renders them: `{"error": {"message", "code", "errors"}}`.
pub struct ApiError(pub AppError);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// PagerDuty's error object.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A short title, the same for every error of a kind.
    pub message: &'static str,
    /// PagerDuty's error code.
    pub code: u32,
    /// What exactly is wrong and how to fix it.
    pub errors: Vec<String>,
}

impl ApiError {
    fn title_and_code(&self) -> (StatusCode, &'static str, u32) {
        match self.0.kind {
            // PagerDuty answers both bad input and duplicates with 400 "Invalid Input Provided".
            ErrorKind::Invalid { .. }
            | ErrorKind::Conflict { .. }
            | ErrorKind::StaleVersion(_)
            | ErrorKind::InvalidFilter(_)
            | ErrorKind::InvalidSort(_) => {
                (StatusCode::BAD_REQUEST, "Invalid Input Provided", 2001)
            }
            ErrorKind::NotFound { .. } => (StatusCode::NOT_FOUND, "Not Found", 2100),
            ErrorKind::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Authentication failed", 2006),
            ErrorKind::Forbidden(_) => (StatusCode::FORBIDDEN, "Access Denied", 2010),
            ErrorKind::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", 2001)
            }
            ErrorKind::PreconditionFailed(_) => {
                (StatusCode::PRECONDITION_FAILED, "Precondition Failed", 2001)
            }
            ErrorKind::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
                2001,
            ),
            ErrorKind::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests", 2020)
            }
            ErrorKind::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", 2000)
            }
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Error", 2000),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.title_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let (status, message, code) = self.title_and_code();
        let mut res = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Token realm=\"rota\", Bearer realm=\"rota\""),
            ));
        }
        if let Some(secs) = self.0.retry_after() {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        res.json(ErrorBody {
            error: ErrorDetail {
                message,
                code,
                errors: vec![self.0.message()],
            },
        })
    }
}

/// A reference to another object, as PagerDuty embeds them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reference {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: Option<String>,
}

/// Builds links from the configured public URL.
pub struct Links<'a>(pub &'a str);

impl Links<'_> {
    /// `collection` is the API path segment (`users`), `kind` the reference type (`user_reference`).
    pub fn reference(
        &self,
        collection: &str,
        kind: &'static str,
        id: &str,
        summary: &str,
    ) -> Reference {
        Reference {
            id: id.to_string(),
            kind,
            summary: summary.to_string(),
            self_url: self.api(collection, id),
            html_url: Some(self.html(collection, id)),
        }
    }

    pub fn api(&self, collection: &str, id: &str) -> String {
        format!("{}/api/v2/{collection}/{id}", self.0)
    }

    pub fn html(&self, collection: &str, id: &str) -> String {
        format!("{}/{collection}/{id}", self.0)
    }
}

/// The pagination fields of every classic list response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub offset: i64,
    pub limit: i64,
    pub more: bool,
    /// Only when the request asked for `total=true`.
    pub total: Option<i64>,
}

impl Pagination {
    /// The answer's paging for `page`: whether rows follow it, and the total when asked.
    pub fn new(
        page: &crate::domain::paging::PageRequest,
        more: bool,
        total: Option<i64>,
    ) -> Pagination {
        Pagination {
            offset: page.offset,
            limit: page.limit,
            more,
            total,
        }
    }

    /// The paging of a page the store read.
    pub fn of<T>(
        page: &crate::domain::paging::PageRequest,
        found: &crate::store::Page<T>,
    ) -> Pagination {
        Pagination::new(page, found.more, found.total)
    }
}
