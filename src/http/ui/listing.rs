//! What the list pages share: a search by name, pages by offset (`?query=&offset=`), and the
//! small pieces every form page needs (a CSRF-only form, the redirect after a post).

use crate::domain::paging::PageRequest;
use actix_web::HttpResponse;
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;

/// Rows a list page shows.
pub const PER_PAGE: i64 = 25;

/// A list page's query string.
#[derive(Deserialize)]
pub struct ListQuery {
    pub query: Option<String>,
    pub offset: Option<i64>,
}

impl ListQuery {
    pub fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).max(0)
    }

    /// The name searched for ("" for none).
    pub fn text(&self) -> String {
        self.query.clone().unwrap_or_default()
    }

    pub fn page(&self) -> PageRequest {
        PageRequest {
            offset: self.offset(),
            limit: PER_PAGE,
            want_total: false,
        }
    }

    /// The search form of the list at `path`, labelled `label`.
    pub fn search(&self, path: &str, label: &str, lang: &str) -> Markup {
        html! {
            form.filters method="get" action=(path) {
                div {
                    label for="query" { (label) }
                    input #query type="text" name="query" value=(self.text());
                }
                button type="submit" { (t!("ui.common.filter", locale = lang)) }
            }
        }
    }

    /// Links to the previous and next pages of the list at `path` (`more`: a next page).
    pub fn pager(&self, path: &str, more: bool, label: &str, lang: &str) -> Markup {
        let offset = self.offset();
        let link = |offset: i64| {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("query", &self.text())
                .append_pair("offset", &offset.to_string())
                .finish();
            format!("{path}?{q}")
        };
        html! {
            nav.actions aria-label=(label) {
                @if offset > 0 {
                    a href=(link((offset - PER_PAGE).max(0))) { (t!("ui.common.previous", locale = lang)) }
                }
                @if more {
                    a href=(link(offset + PER_PAGE)) { (t!("ui.common.next", locale = lang)) }
                }
            }
        }
    }
}

/// A form that only carries the CSRF token (a delete button).
#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf_token: Option<String>,
}

/// Where a successful post sends the browser (303: the page is read again with GET).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_owned()))
        .finish()
}
