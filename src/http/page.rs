//! Plain HTML pages for people who reach a URL in a browser: errors outside the APIs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

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
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t} · Rota</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{t}</h1>{inner_html}</body></html>",
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

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    error_page(
        StatusCode::NOT_FOUND,
        "Page not found",
        &format!("There is nothing at {} {}.", req.method(), req.path()),
    )
}
