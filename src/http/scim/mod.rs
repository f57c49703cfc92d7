//! The SCIM 2.0 service provider at `/scim/v2` (RFC 7643/7644) that Microsoft Entra ID's
//! provisioning service pushes users and groups to. Errors use the SCIM error schema; a SCIM
//! token (`rota token create --kind scim`) authenticates, and the audit trail names it.

mod discovery;
pub mod groups;
pub mod users;

use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::TokenId;
pub use crate::domain::scim_list::{self, ListParams};
use crate::domain::scim_resource::{self, ListResponse};
use crate::domain::token::TokenKind;
use crate::error::{AppError, ErrorKind};
use crate::http::MAX_BODY_BYTES;
use crate::http::auth::{Presented, authenticate};
use crate::store::audit::AuditContext;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

pub const SCIM_JSON: &str = "application/scim+json";
pub use crate::domain::scim_resource::{ERROR_SCHEMA, LIST_SCHEMA};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
            .wrap(actix_web::middleware::from_fn(log_request))
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .content_type(|mime| {
                        mime.essence_str() == "application/json" || mime.essence_str() == SCIM_JSON
                    })
                    .content_type_required(false)
                    .error_handler(|e, _| {
                        use actix_web::error::JsonPayloadError as J;
                        match e {
                            J::Overflow { limit } | J::OverflowKnownLength { limit, .. } => {
                                ScimError::from(AppError::new(ErrorKind::PayloadTooLarge { limit }))
                                    .into()
                            }
                            J::ContentType => ScimError::syntax(AppError::invalid(
                                "Content-Type",
                                "must be application/scim+json or application/json",
                            ))
                            .into(),
                            other => ScimError::syntax(AppError::invalid(
                                "request body",
                                format!("is not valid JSON: {other}"),
                            ))
                            .into(),
                        }
                    }),
            )
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ScimError::syntax(AppError::invalid("path", e.to_string())).into()
            }))
            .route("/.search", web::post().to(search_all))
            .configure(discovery::routes)
            .configure(users::routes)
            .configure(groups::routes)
            .default_service(web::to(|req: HttpRequest| async move {
                Err::<HttpResponse, _>(ScimError::from(AppError::not_found(
                    "endpoint",
                    format!("{} {}", req.method(), req.path()),
                )))
            })),
    );
}

/// `POST /.search` (RFC 7644 §3.4.3): users, then groups, as one list. A filter that names
/// attributes only one resource type has simply matches none of the other.
async fn search_all(
    state: web::Data<crate::http::AppState>,
    _caller: ScimCaller,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let params = search_params(&body)?;
    let public_url = state.public_url.clone();
    let p = params.clone();
    let (filter, sort_by) = (params.filter.clone(), params.sort_by.clone());
    let (descending, offset, count) = (params.descending, params.start_index - 1, params.count);
    let (resources, total) = state
        .db
        .run(move |conn| {
            let not_for_this_type = |e: &AppError| {
                matches!(
                    &e.kind,
                    ErrorKind::InvalidFilter(_) | ErrorKind::InvalidSort(_)
                )
            };
            let q = |offset, count| crate::store::scim::Query {
                filter: filter.as_ref(),
                sort_by: sort_by.as_ref(),
                descending,
                offset,
                count,
            };
            let (mut found, user_total, user_error) =
                match users::page(conn, &public_url, &q(offset, count), &p) {
                    Ok((found, total)) => (found, total, None),
                    Err(e) if not_for_this_type(&e) => (Vec::new(), 0, Some(e)),
                    Err(e) => return Err(e),
                };
            let rest = count - found.len() as i64;
            let group_offset = (offset - user_total).max(0);
            let group_total = match groups::page(conn, &public_url, &q(group_offset, rest), &p) {
                Ok((groups, total)) => {
                    found.extend(groups);
                    total
                }
                // Invalid for both resource types: the caller's filter is wrong.
                Err(e) if not_for_this_type(&e) => match user_error {
                    Some(user_error) => return Err(user_error),
                    None => 0,
                },
                Err(e) => return Err(e),
            };
            Ok((found, user_total + group_total))
        })
        .await?;
    let resources = resources.into_iter().map(|r| params.project(r)).collect();
    Ok(scim_json(
        StatusCode::OK,
        &list_response(resources, total, params.start_index),
    ))
}

/// RFC 7644 §3.12 `scimType` values we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    InvalidPath,
    InvalidValue,
    InvalidSyntax,
    Mutability,
    Uniqueness,
    NoTarget,
}

impl ScimType {
    fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::InvalidPath => "invalidPath",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::Mutability => "mutability",
            ScimType::Uniqueness => "uniqueness",
            ScimType::NoTarget => "noTarget",
        }
    }
}

/// An error rendered per RFC 7644 §3.12: `{"schemas": [Error], "status", "scimType", "detail"}`.
pub struct ScimError {
    pub error: AppError,
    pub scim_type: Option<ScimType>,
}

impl ScimError {
    pub fn typed(error: AppError, scim_type: ScimType) -> ScimError {
        ScimError {
            error,
            scim_type: Some(scim_type),
        }
    }

    pub fn syntax(error: AppError) -> ScimError {
        Self::typed(error, ScimType::InvalidSyntax)
    }
}

impl From<AppError> for ScimError {
    /// Infers the scimType from what the error names: conflicts are uniqueness violations
    /// (a duplicate userName or displayName); bad input names the filter, the path, the body
    /// or a read-only attribute.
    fn from(error: AppError) -> Self {
        let scim_type = match &error.kind {
            // A stale version or a concurrent collision is a plain 409; only duplicates are
            // uniqueness violations.
            ErrorKind::StaleVersion(_) => None,
            ErrorKind::Conflict { .. } => Some(ScimType::Uniqueness),
            ErrorKind::InvalidFilter(_) => Some(ScimType::InvalidFilter),
            ErrorKind::InvalidSort(_) => Some(ScimType::InvalidValue),
            ErrorKind::Invalid { field, reason } => Some(match field.as_str() {
                "path" => ScimType::InvalidPath,
                "request body" | "PatchOp" => ScimType::InvalidSyntax,
                _ if reason.starts_with("is read-only") || reason.starts_with("is immutable") => {
                    ScimType::Mutability
                }
                _ if reason.starts_with("matches nothing") => ScimType::NoTarget,
                _ => ScimType::InvalidValue,
            }),
            _ => None,
        };
        ScimError { error, scim_type }
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

impl std::fmt::Debug for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.error, f)
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        self.error.log();
        let status = self.status_code();
        let body = scim_resource::Error::new(
            status.as_u16(),
            self.error.message(),
            self.scim_type.map(ScimType::as_str),
        );
        let mut res = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rota-scim\""),
            ));
        }
        if let Some(secs) = self.error.retry_after() {
            res.insert_header((header::RETRY_AFTER, secs));
        }
        let mut response = res.content_type(SCIM_JSON).body(json_text(&body));
        response.extensions_mut().insert(Failure {
            scim_type: self.scim_type.map(ScimType::as_str),
            detail: self.error.message(),
        });
        response
    }
}

/// Why a SCIM request failed, left on its response for the request log (`log_request`).
#[derive(Clone)]
struct Failure {
    scim_type: Option<&'static str>,
    detail: String,
}

/// The SCIM token a request was made with, left on the request for the request log.
#[derive(Clone)]
struct TokenUsed(TokenId);

/// Logs every SCIM request with its outcome (`store::scim_requests`), after the answer is
/// made and without holding it up: the write is spawned, and a failure to write is only
/// logged.
async fn log_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let state = req.app_data::<web::Data<crate::http::AppState>>().cloned();
    let request_id = req
        .extensions()
        .get::<crate::http::observe::RequestId>()
        .map(|r| r.0.clone());
    let res = next.call(req).await?;
    if res.status() == StatusCode::UNAUTHORIZED
        && let Some(state) = &state
        && !state.throttle.log_scim_refusal(state.clock.now())
    {
        return Ok(res);
    }
    if let Some(state) = state {
        let failure = res.response().extensions().get::<Failure>().cloned();
        let row = crate::store::scim_requests::ScimRequest {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::clock::stored(state.clock.now()),
            token_id: res
                .request()
                .extensions()
                .get::<TokenUsed>()
                .map(|t| t.0.clone()),
            method,
            path,
            status: i32::from(res.status().as_u16()),
            scim_type: failure
                .as_ref()
                .and_then(|f| f.scim_type.map(str::to_owned)),
            detail: failure.map(|f| f.detail),
            request_id,
        };
        actix_web::rt::spawn(async move {
            if let Err(e) = state
                .db
                .run(move |conn| crate::store::scim_requests::record(conn, row))
                .await
            {
                tracing::warn!(error = %e, "could not log a SCIM request");
            }
        });
    }
    Ok(res)
}

/// A resource in a response: SCIM media type, its version as ETag, and for a creation the
/// Location header.
pub fn resource_response(status: StatusCode, resource: Value) -> HttpResponse {
    with_resource_headers(scim_json(status, &resource), status, &resource)
}

/// A 200 with `attributes`/`excludedAttributes` applied to the body; the ETag still comes
/// from the whole resource.
pub fn projected_response(resource: Value, params: &ListParams) -> HttpResponse {
    let body = params.project(resource.clone());
    with_resource_headers(scim_json(StatusCode::OK, &body), StatusCode::OK, &resource)
}

fn with_resource_headers(
    mut res: HttpResponse,
    status: StatusCode,
    resource: &Value,
) -> HttpResponse {
    if let Some(v) = resource["meta"]["version"]
        .as_str()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(l) = resource["meta"]["location"]
            .as_str()
            .and_then(|v| HeaderValue::from_str(v).ok())
    {
        res.headers_mut().insert(header::LOCATION, l);
    }
    res
}

/// Reads one page of one resource type: (rendered resources, total matches).
pub type PageFn = fn(
    &mut crate::store::DbConnection,
    &str,
    &crate::store::scim::Query<'_>,
    &ListParams,
) -> Result<(Vec<Value>, i64), AppError>;

/// `GET` on a collection: a filtered, paged list of one resource type.
pub fn list_route(page: PageFn) -> actix_web::Route {
    web::get().to(move |state: web::Data<crate::http::AppState>, _caller: ScimCaller, req: HttpRequest| async move {
        list_page(state, query_params(&req)?, page).await
    })
}

/// `POST {collection}/.search`: the same list, with the parameters in a SearchRequest body.
pub fn search_route(page: PageFn) -> actix_web::Route {
    web::post().to(
        move |state: web::Data<crate::http::AppState>,
              _caller: ScimCaller,
              body: web::Json<Value>| async move {
            list_page(state, search_params(&body)?, page).await
        },
    )
}

/// A refusal from the pure SCIM core (a PATCH body, list parameters, a user document): the
/// `AppError` whose field picks the scimType.
pub fn invalid<F: Into<String>>((field, reason): (F, String)) -> AppError {
    AppError::invalid(field, reason)
}

/// The list parameters of a request's query string.
pub fn query_params(req: &HttpRequest) -> Result<ListParams, AppError> {
    ListParams::from_query(req.query_string()).map_err(list_error)
}

/// The list parameters of a SearchRequest body.
pub fn search_params(body: &Value) -> Result<ListParams, AppError> {
    ListParams::from_map(body).map_err(list_error)
}

/// A list parameter that cannot be used: the filter's problems are invalid filters (SCIM's
/// `invalidFilter`), the others bad values of the parameter they name.
fn list_error((field, reason): crate::domain::scim_list::Invalid) -> AppError {
    match field.as_str() {
        scim_list::FILTER => AppError::invalid_filter(reason),
        _ => AppError::invalid(field, reason),
    }
}

/// Answers a list or .search request for one resource type with a ListResponse.
pub async fn list_page(
    state: web::Data<crate::http::AppState>,
    params: ListParams,
    page: PageFn,
) -> ScimResult<HttpResponse> {
    let public_url = state.public_url.clone();
    let p = params.clone();
    let (resources, total) = state
        .db
        .run(move |conn| {
            let q = crate::store::scim::Query {
                filter: p.filter.as_ref(),
                sort_by: p.sort_by.as_ref(),
                descending: p.descending,
                offset: p.start_index - 1,
                count: p.count,
            };
            page(conn, &public_url, &q, &p)
        })
        .await?;
    let resources = resources.into_iter().map(|r| params.project(r)).collect();
    Ok(scim_json(
        StatusCode::OK,
        &list_response(resources, total, params.start_index),
    ))
}

/// A SCIM response body with the SCIM media type.
pub fn scim_json(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(SCIM_JSON)
        .body(body.to_string())
}

/// The provisioning client, authenticated by a SCIM token.
pub struct ScimCaller {
    pub token_id: TokenId,
    pub token_name: String,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl ScimCaller {
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            actor: Actor {
                kind: ActorKind::ScimToken,
                id: Some(self.token_id.0.clone()),
                name: self.token_name.clone(),
            },
            request_id: self.request_id.clone(),
            at: self.at,
        }
    }
}

impl FromRequest for ScimCaller {
    type Error = ScimError;
    type Future = LocalBoxFuture<'static, Result<ScimCaller, ScimError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = Presented::read(req);
        let req = req.clone();
        Box::pin(async move {
            let token = authenticate(&presented, TokenKind::Scim).await?;
            {
                use actix_web::HttpMessage;
                req.extensions_mut().insert(TokenUsed(token.id.clone()));
            }
            Ok(ScimCaller {
                token_id: token.id,
                token_name: token.name,
                request_id: presented.request_id,
                at: token.at,
            })
        })
    }
}

/// The base of SCIM locations.
pub fn base(public_url: &str) -> String {
    format!("{public_url}/scim/v2")
}

/// A ListResponse (RFC 7644 §3.4.2).
pub fn list_response(resources: Vec<Value>, total: i64, start_index: i64) -> Value {
    serde_json::to_value(ListResponse::new(resources, total, start_index)).unwrap_or_default()
}

/// A document as JSON text.
fn json_text(body: &impl serde::Serialize) -> String {
    // Our models hold strings, numbers and JSON values only, which always serialize.
    serde_json::to_string(body).unwrap_or_default()
}

/// A resource's `meta`: its type, times to the millisecond, version as a weak ETag, and its
/// location under the SCIM base.
pub fn meta(
    resource_type: &str,
    created: chrono::NaiveDateTime,
    updated: chrono::NaiveDateTime,
    version: i64,
    location: String,
) -> scim_resource::Meta {
    let time = |t: chrono::NaiveDateTime| {
        t.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    scim_resource::Meta {
        resource_type: resource_type.to_string(),
        created: time(created),
        last_modified: time(updated),
        version: etag(version),
        location,
    }
}

/// `W/"<version>"`, the weak ETag of a resource version.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The `If-Match` header, read before the request's work moves to the database thread.
pub fn if_match(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Refuses the change when `If-Match` names another version (RFC 7644 §3.14).
pub fn check_if_match(header: Option<&str>, version: i64) -> Result<(), AppError> {
    let Some(value) = header else { return Ok(()) };
    let current = etag(version);
    let bare = format!("\"{version}\"");
    if value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag == bare)
    {
        Ok(())
    } else {
        Err(AppError::new(ErrorKind::PreconditionFailed(format!(
            "If-Match is {value}, but the resource is now at version {current}: read it again"
        ))))
    }
}
