//! Per-request observation: a request id (the caller's `X-Request-Id` when it is sane, else a
//! new UUID v7) on the response and on every log line of the request, one access-log line,
//! and the route's metrics.

use super::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %logged_path(req.path()));
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16();
    if let Some(state) = state {
        // Only standard methods become label values: any other token would add a series.
        let label = match method.as_str() {
            m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
            _ => "OTHER",
        };
        state
            .metrics
            .observe(label, &route, status, elapsed.as_secs_f64());
    }
    span.in_scope(
        || tracing::info!(status, route = %route, micros = elapsed.as_micros() as u64, "served"),
    );
    Ok(res)
}

/// The path as logged: a calendar feed's path is its secret (`/calendar/rota_cal_….ics`), so
/// only its prefix is written.
fn logged_path(path: &str) -> &str {
    if path.starts_with("/calendar/") {
        "/calendar/…"
    } else {
        path
    }
}

#[cfg(test)]
mod logged_path_tests {
    #[test]
    fn a_feed_secret_is_never_logged() {
        assert_eq!(
            super::logged_path("/calendar/rota_cal_0123.ics"),
            "/calendar/…"
        );
        assert_eq!(super::logged_path("/api/v2/users"), "/api/v2/users");
    }
}
