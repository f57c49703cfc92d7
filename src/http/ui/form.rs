//! Forms on pages: a refused post shows the form again with what was typed and each field's
//! error beside it (and a summary at the top), never a 5xx. The use case's `AppError::Invalid`
//! names the field (`override.start`); `Refused::from` keeps it for the field that matches.

use super::PageError;
use crate::error::{AppError, ErrorKind};
use actix_web::web;
use maud::{Markup, html};
use std::collections::HashMap;

/// Why a form post was refused, by field; `general` holds what names no field of the form.
#[derive(Debug, Default)]
pub struct Refused {
    pub fields: HashMap<String, String>,
    pub general: Vec<String>,
}

impl Refused {
    /// The refusal of a use case, placed at the form field it names: `fields` maps the API's
    /// field paths (`schedule.name`) to the form's field names (`name`). A fault (not a
    /// refusal of the input) is no form error: it is returned for the error page.
    pub fn from(e: AppError, fields: &[(&str, &str)]) -> Result<Refused, AppError> {
        let (field, reason) = match &e.kind {
            ErrorKind::Invalid { field, reason } | ErrorKind::Conflict { field, reason } => {
                (field.clone(), reason.clone())
            }
            ErrorKind::InvalidFilter(_)
            | ErrorKind::InvalidSort(_)
            | ErrorKind::StaleVersion(_) => {
                return Ok(Refused {
                    general: vec![e.message()],
                    ..Refused::default()
                });
            }
            _ => return Err(e),
        };
        let mut refused = Refused::default();
        match fields.iter().find(|(api, _)| {
            field == *api
                || field.starts_with(&format!("{api}."))
                || field.starts_with(&format!("{api}["))
        }) {
            Some((_, form)) => {
                refused.fields.insert((*form).to_owned(), reason);
            }
            None => refused.general.push(e.message()),
        }
        Ok(refused)
    }

    /// One field's error.
    pub fn field(name: &str, reason: impl Into<String>) -> Refused {
        let mut r = Refused::default();
        r.fields.insert(name.to_owned(), reason.into());
        r
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// The summary at the top of a refused form (`role="alert"`, so a screen reader says it).
    pub fn summary(&self, lang: &str) -> Markup {
        html! {
            @if !self.is_empty() {
                div.errors role="alert" {
                    p { (rust_i18n::t!("ui.common.fix_fields", locale = lang)) }
                    ul {
                        @for g in &self.general { li { (g) } }
                        @for (name, reason) in &self.fields {
                            li { a href=(format!("#{name}")) { (reason) } }
                        }
                    }
                }
            }
        }
    }

    /// The error under field `name`, if any (its id is `{name}-error`, for
    /// `aria-describedby`).
    pub fn under(&self, name: &str) -> Markup {
        html! {
            @if let Some(reason) = self.fields.get(name) {
                p.field-error id=(format!("{name}-error")) { (reason) }
            }
        }
    }

    /// Whether field `name` is in error (for `aria-invalid`).
    pub fn invalid(&self, name: &str) -> Option<&'static str> {
        self.fields.contains_key(name).then_some("true")
    }
}

/// A labelled text input keeping what was typed, with its error under it.
pub fn text_field(name: &str, label: &str, kind: &str, value: &str, refused: &Refused) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            input type=(kind) id=(name) name=(name) value=(value)
                aria-invalid=[refused.invalid(name)]
                aria-describedby=[refused.fields.contains_key(name).then(|| format!("{name}-error"))];
            (refused.under(name))
        }
    }
}

/// A labelled text area (form field `text`, id `id`) keeping what was typed, its error under it.
pub fn text_area(id: &str, label: &str, value: &str, refused: &Refused) -> Markup {
    html! {
        div {
            label for=(id) { (label) }
            textarea id=(id) name="text" rows="3"
                aria-invalid=[refused.invalid(id)]
                aria-describedby=[refused.fields.contains_key(id).then(|| format!("{id}-error"))] { (value) }
            (refused.under(id))
        }
    }
}

/// The most a page's form body may hold: text fields, never files (`upload` reads those).
pub const FORM_BYTES: usize = 16 * 1024;

/// How pages read form bodies: one that cannot be read (too large, not a form, a field of
/// the wrong shape) is an error page in words (413, 400), never actix's plain text.
pub fn config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(FORM_BYTES)
        .error_handler(|e, _| {
            use actix_web::error::UrlencodedError as U;
            let refused = match e {
                U::Overflow { limit, .. } => AppError::new(ErrorKind::PayloadTooLarge { limit }),
                other => AppError::invalid("form", format!("could not be read: {other}")),
            };
            PageError::App(refused).into()
        })
}
