//! How each protocol renders each kind of error (`AppError`): status, the headers that matter
//! and the body, as snapshots (`tests/snapshots/error_rendering__*.snap`), so a change to any
//! wire format shows up in review. The protocol is chosen by path, as `edge::error_response`
//! does for every request: SCIM under `/scim/`, PagerDuty REST under `/api/v2`, HTML pages
//! elsewhere. The CLI's rendering is snapshotted in `src/cli.rs`.

use actix_web::http::header;
use actix_web::test::TestRequest;
use rota::error::{AppError, ErrorKind};
use std::fmt::Write;

/// One error of each kind (and each SCIM `scimType` an `Invalid` can become).
fn every_kind() -> Vec<(&'static str, AppError)> {
    vec![
        ("not_found", AppError::not_found("user", "u1")),
        (
            "conflict",
            AppError::conflict(
                "userName",
                "'ada@contoso.com' is already taken by another user",
            ),
        ),
        (
            "stale_version",
            AppError::stale(
                "of user u1 was changed by another request meanwhile; read it again and retry",
            ),
        ),
        (
            "invalid_filter",
            AppError::invalid_filter("'userName xx \"a\"' is not a SCIM filter"),
        ),
        (
            "invalid_sort",
            AppError::invalid_sort("cannot sort by emails"),
        ),
        (
            "invalid_value",
            AppError::invalid("emails.value", "'x' is not a valid e-mail address"),
        ),
        (
            "invalid_path",
            AppError::invalid("path", "'members[' is not a SCIM path"),
        ),
        (
            "invalid_syntax",
            AppError::invalid("request body", "is not JSON"),
        ),
        (
            "read_only",
            AppError::invalid("id", "is read-only: id cannot be patched"),
        ),
        (
            "unauthorized",
            AppError::unauthorized("the API token is not valid"),
        ),
        (
            "forbidden",
            AppError::forbidden("your role (observer) may not edit users"),
        ),
        (
            "precondition_failed",
            AppError::new(ErrorKind::PreconditionFailed(
                "If-Match names version W/\"3\"; the current version is W/\"4\"".into(),
            )),
        ),
        (
            "method_not_allowed",
            AppError::new(ErrorKind::MethodNotAllowed {
                method: "PATCH".into(),
                path: "/x".into(),
            }),
        ),
        (
            "payload_too_large",
            AppError::new(ErrorKind::PayloadTooLarge { limit: 1024 }),
        ),
        (
            "too_many_requests",
            AppError::too_many("too many attempts", chrono::Duration::seconds(30)),
        ),
        (
            "unavailable",
            AppError::unavailable("the database is busy; try again"),
        ),
        (
            "internal",
            AppError::internal("users.role holds 'boss', not a role"),
        ),
    ]
}

/// Status, the headers a client acts on, and the body (a page's `<main>` only).
async fn rendered(path: &str, e: AppError) -> String {
    let req = TestRequest::with_uri(path).to_http_request();
    let res = rota::http::edge::error_response(&req, e);
    let mut out = format!("{}\n", res.status().as_u16());
    for name in [
        header::CONTENT_TYPE,
        header::WWW_AUTHENTICATE,
        header::RETRY_AFTER,
    ] {
        if let Some(v) = res.headers().get(&name) {
            writeln!(out, "{name}: {}", v.to_str().unwrap()).unwrap();
        }
    }
    let body = actix_web::body::to_bytes(res.into_body()).await.unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let body = match (body.find("<main>"), body.find("</main>")) {
        (Some(start), Some(end)) => body[start..end + "</main>".len()].to_string(),
        _ => match serde_json::from_str::<serde_json::Value>(&body) {
            Ok(json) => serde_json::to_string_pretty(&json).unwrap(),
            Err(_) => body,
        },
    };
    writeln!(out, "\n{body}").unwrap();
    out
}

async fn snapshot_protocol(protocol: &str, path: &str) {
    let mut all = String::new();
    for (name, e) in every_kind() {
        writeln!(all, "== {name}\n{}", rendered(path, e).await).unwrap();
    }
    insta::assert_snapshot!(protocol, all);
}

#[actix_web::test]
async fn rest_renders_each_kind_as_a_pagerduty_error() {
    snapshot_protocol("rest", "/api/v2/users").await;
}

#[actix_web::test]
async fn scim_renders_each_kind_as_an_rfc_7644_error() {
    snapshot_protocol("scim", "/scim/v2/Users").await;
}

#[actix_web::test]
async fn pages_render_each_kind_as_an_html_page() {
    snapshot_protocol("page", "/me").await;
}
