//! The SCIM 2.0 service provider at `/scim/v2` (RFC 7643/7644) that Microsoft Entra ID's
//! provisioning service pushes users and groups to. Errors use the SCIM error schema; a SCIM
//! token (`rota token create --kind scim`) authenticates, and the audit trail names it.

mod discovery;
pub mod groups;
pub mod users;

use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::TokenId;
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
use serde_json::{Value, json};

pub const SCIM_JSON: &str = "application/scim+json";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/scim/v2")
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
    let params = users::ListParams::from_map(&body)?;
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
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": status.as_u16().to_string(),
            "detail": self.error.message(),
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t.as_str());
        }
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
        res.content_type(SCIM_JSON).body(body.to_string())
    }
}

/// A resource in a response: SCIM media type, its version as ETag, and for a creation the
/// Location header.
pub fn resource_response(status: StatusCode, resource: Value) -> HttpResponse {
    with_resource_headers(scim_json(status, &resource), status, &resource)
}

/// A 200 with `attributes`/`excludedAttributes` applied to the body; the ETag still comes
/// from the whole resource.
pub fn projected_response(resource: Value, params: &users::ListParams) -> HttpResponse {
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
    &users::ListParams,
) -> Result<(Vec<Value>, i64), AppError>;

/// `GET` on a collection: a filtered, paged list of one resource type.
pub fn list_route(page: PageFn) -> actix_web::Route {
    web::get().to(move |state: web::Data<crate::http::AppState>, _caller: ScimCaller, req: HttpRequest| async move {
        list_page(state, users::ListParams::from_query(req.query_string())?, page).await
    })
}

/// `POST {collection}/.search`: the same list, with the parameters in a SearchRequest body.
pub fn search_route(page: PageFn) -> actix_web::Route {
    web::post().to(
        move |state: web::Data<crate::http::AppState>,
              _caller: ScimCaller,
              body: web::Json<Value>| async move {
            list_page(state, users::ListParams::from_map(&body)?, page).await
        },
    )
}

/// A PATCH body's error, as the `AppError` whose field picks the scimType.
pub fn invalid_patch((field, reason): crate::domain::scim_patch::PatchError) -> AppError {
    AppError::invalid(field, reason)
}

/// Answers a list or .search request for one resource type with a ListResponse.
pub async fn list_page(
    state: web::Data<crate::http::AppState>,
    params: users::ListParams,
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
        Box::pin(async move {
            let token = authenticate(&presented, TokenKind::Scim).await?;
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
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
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
