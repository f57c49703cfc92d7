//! What every request passes through before its handler, whatever the protocol:
//! - text that no stored field can hold (a NUL character: PostgreSQL refuses it in text, SQLite
//!   would keep it and cut names short in C code) is refused where it enters — the path, a query
//!   parameter, a JSON or form body — with a 400 in the caller's protocol naming the field, so
//!   both backends behave alike and nothing reaches the database;
//! - `HEAD` is answered wherever `GET` is (the server sends the headers without the body);
//! - every response carries the security headers, and HTML pages a strict Content-Security-Policy.

use super::{AppState, MAX_BODY_BYTES};
use crate::error::{AppError, ErrorKind};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, ResponseError, mime};
use futures_util::StreamExt;
use serde_json::Value;

/// Our own pages: nothing from elsewhere, no script, our stylesheet, forms back to us (and, on
/// sign-out, on to the identity provider).
const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";
/// Swagger UI (served from the binary): its own scripts and styles, and calls to our API.
const DOCS_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub async fn edge(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if req.method() == Method::HEAD {
        // The codec remembers the request was HEAD and leaves the body out of the answer.
        req.head_mut().method = Method::GET;
    }
    if let Err(e) = refuse_nul_in_url(req.path(), req.query_string()) {
        let res = error_response(req.request(), e);
        return Ok(secured(req.into_response(res).map_into_right_body()));
    }
    if let Some(kind) = body_kind(&req) {
        let bytes = match read_body(req.take_payload()).await {
            Ok(bytes) => bytes,
            Err(e) => {
                let res = error_response(req.request(), e);
                return Ok(secured(req.into_response(res).map_into_right_body()));
            }
        };
        if let Err(e) = refuse_nul_in_body(kind, &bytes) {
            let res = error_response(req.request(), e);
            return Ok(secured(req.into_response(res).map_into_right_body()));
        }
        req.set_payload(Payload::from(bytes));
    }
    let res = next.call(req).await?;
    Ok(secured(res.map_into_left_body()))
}

/// The headers every response carries; HTML gets a Content-Security-Policy unless its handler
/// set one.
fn secured<B>(mut res: ServiceResponse<B>) -> ServiceResponse<B> {
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let policy = if res.request().path().starts_with("/api/docs") {
        DOCS_POLICY.to_string()
    } else {
        page_policy(res.request())
    };
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: browsers then send `Origin: null` on our own forms, which the
    // same-origin check must refuse.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if is_html
        && !headers.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_str(&policy)
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// Our pages' policy: forms may post to us, and sign-out continues to the identity provider.
fn page_policy(req: &HttpRequest) -> String {
    let issuer = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.sign_in.provider.as_ref().map(|p| p.issuer_origin()));
    match issuer {
        Some(origin) => format!("{PAGE_POLICY}; form-action 'self' {origin}"),
        None => format!("{PAGE_POLICY}; form-action 'self'"),
    }
}

/// The error in the protocol of the path it answers: SCIM, PagerDuty REST, or an HTML page.
pub fn error_response(req: &HttpRequest, e: AppError) -> HttpResponse {
    let path = req.path();
    if path.starts_with("/scim/") {
        super::scim::ScimError::from(e).error_response()
    } else if path.starts_with("/api/v2") {
        super::api::ApiError(e).error_response()
    } else if super::events::owns(path) {
        super::events::EventsError::App(e).error_response()
    } else {
        super::page::app_error_page(e)
    }
}

#[derive(Clone, Copy)]
enum BodyKind {
    Json,
    Form,
}

/// Bodies we look into: JSON (REST, SCIM) and forms (sign-in pages).
fn body_kind(req: &ServiceRequest) -> Option<BodyKind> {
    if matches!(
        *req.method(),
        Method::GET | Method::DELETE | Method::OPTIONS
    ) {
        return None;
    }
    let mime = req.mime_type().ok().flatten()?;
    if mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON) {
        Some(BodyKind::Json)
    } else if mime.essence_str() == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else {
        None
    }
}

/// The whole body, up to the limit every handler has anyway.
async fn read_body(mut payload: Payload) -> Result<Bytes, AppError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| AppError::invalid("request body", format!("could not be read: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(AppError::new(ErrorKind::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

fn nul_error(field: &str) -> AppError {
    AppError::invalid(
        crate::domain::text::escape_unprintable(field).into_owned(),
        "contains a NUL character (U+0000), which no text here can hold",
    )
}

/// A percent-encoded NUL (`%00`) in the path or a query parameter (name or value).
fn refuse_nul_in_url(path: &str, query: &str) -> Result<(), AppError> {
    if path.contains("%00") {
        return Err(nul_error("path"));
    }
    if query.contains("%00") {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if has_nul(&name) || has_nul(&value) {
                return Err(nul_error(&format!("query parameter {name}")));
            }
        }
    }
    Ok(())
}

fn refuse_nul_in_body(kind: BodyKind, body: &[u8]) -> Result<(), AppError> {
    match kind {
        BodyKind::Form => {
            for (name, value) in url::form_urlencoded::parse(body) {
                if has_nul(&name) || has_nul(&value) {
                    return Err(nul_error(&name));
                }
            }
            Ok(())
        }
        // JSON can only carry NUL as the escape `\u0000`; parse only when that is there. An
        // invalid document goes on to its handler, which says what is wrong with it.
        BodyKind::Json if escapes_nul(body) => match serde_json::from_slice::<Value>(body) {
            Ok(doc) => match nul_at(&doc, &mut Vec::new()) {
                Some(field) => Err(nul_error(&field)),
                None => Ok(()),
            },
            Err(_) => Ok(()),
        },
        BodyKind::Json => Ok(()),
    }
}

/// Does the JSON text hold the escape `\u0000` (not an escaped backslash before `u0000`)?
fn escapes_nul(body: &[u8]) -> bool {
    let mut backslashes = 0usize;
    for (i, &b) in body.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if backslashes % 2 == 1
            && b == b'u'
            && body.get(i + 1..i + 5).is_some_and(|hex| hex == b"0000")
        {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// The dotted path (`user.name`, `Operations[0].value`) of the first key or string with NUL.
fn nul_at(value: &Value, path: &mut Vec<String>) -> Option<String> {
    let here = |path: &Vec<String>| {
        if path.is_empty() {
            "request body".to_string()
        } else {
            path.concat().trim_start_matches('.').to_string()
        }
    };
    match value {
        Value::String(s) if has_nul(s) => Some(here(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(format!("[{i}]"));
            let found = nul_at(item, path);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            path.push(format!(".{key}"));
            let found = if has_nul(key) {
                Some(here(path))
            } else {
                nul_at(item, path)
            };
            path.pop();
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nul_escape_but_not_an_escaped_backslash() {
        assert!(escapes_nul(br#"{"a":"x\u0000"}"#));
        assert!(!escapes_nul(br#"{"a":"x\\u0000"}"#));
        assert!(escapes_nul(br#"{"a":"x\\\u0000"}"#));
        assert!(escapes_nul(br#"{"a":"\u00001"}"#));
    }

    #[test]
    fn names_the_field_holding_nul() {
        let doc: Value =
            serde_json::from_str(r#"{"user":{"name":"ok","emails":[{"value":"a\u0000b"}]}}"#)
                .unwrap();
        assert_eq!(
            nul_at(&doc, &mut Vec::new()).as_deref(),
            Some("user.emails[0].value")
        );
        let e = refuse_nul_in_url("/api/v2/users", "query=a%00b").unwrap_err();
        assert_eq!(
            e.message(),
            "query parameter query contains a NUL character (U+0000), which no text here can hold"
        );
        assert!(refuse_nul_in_url("/scim/v2/Users/a%00", "").is_err());
        assert!(refuse_nul_in_url("/scim/v2/Users/a%2500", "").is_ok());
    }
}
