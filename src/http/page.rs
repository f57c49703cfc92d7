//! Plain HTML pages for people who reach a URL in a browser: errors outside the APIs, and the
//! one stylesheet (served from the binary: the Content-Security-Policy allows no inline style).

use crate::error::{AppError, ErrorKind};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// Where the stylesheet is served.
pub const STYLESHEET: &str = "/assets/rota.css";

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("rota.css"))
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A small, self-contained page around `inner_html` (which the caller has escaped).
pub fn layout(status: StatusCode, title: &str, inner_html: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t} · Rota</title>\
         <link rel=\"stylesheet\" href=\"{STYLESHEET}\"></head>\
         <body><main><h1>{t}</h1>{inner_html}</main></body></html>",
        t = escape(title),
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // Pages that carry CSRF tokens or personal data are not for caches.
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(body)
}

/// A small, self-contained error page.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    layout(
        status,
        title,
        &format!(
            "<p>{}</p><p><a href=\"/\">Rota home</a></p>",
            escape(detail)
        ),
    )
}

/// An error on a browser page, in words for a person; faults are logged with the request id.
pub fn app_error_page(e: AppError) -> HttpResponse {
    error_response(&e)
}

/// `app_error_page` for an error that is only borrowed (a `ResponseError`).
pub fn error_response(e: &AppError) -> HttpResponse {
    e.log();
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = match e.kind {
        ErrorKind::Invalid { .. }
        | ErrorKind::Conflict { .. }
        | ErrorKind::StaleVersion(_)
        | ErrorKind::InvalidFilter(_)
        | ErrorKind::InvalidSort(_) => "That did not work",
        ErrorKind::TooManyRequests { .. } => "Too many attempts",
        ErrorKind::PayloadTooLarge { .. } => "Too much sent",
        ErrorKind::NotFound { .. } => "Page not found",
        ErrorKind::Unauthorized(_) => "Not signed in",
        ErrorKind::Forbidden(_) => "Not allowed",
        _ => "Something went wrong",
    };
    let mut res = error_page(status, title, &e.message());
    if let Some(secs) = e.retry_after()
        && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string())
    {
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
    res
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        &format!("There is nothing at {} {}.", req.method(), req.path()),
    )
}
