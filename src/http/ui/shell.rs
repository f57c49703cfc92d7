//! The frame of every page: `<html lang>`, the one stylesheet, a skip link, the navigation a
//! visitor's role opens (asked of the policies, so a link is never shown to someone the page
//! would refuse), who is signed in and the sign-out form, then the page's own heading and
//! body. Words from `locales/ui.yml`.

use super::Visitor;
use crate::authz::{Action, Resource};
use crate::http::page::STYLESHEET;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use rust_i18n::t;

/// One place in the navigation: its path, its words' key, and the action its page asks of
/// the policies on the account (none: every signed-in person's own page). A link is shown
/// exactly when its page would open, so this must be the page's own check.
struct Place {
    path: &'static str,
    key: &'static str,
    needs: Option<Action>,
}

const PLACES: &[Place] = &[
    Place {
        path: "/",
        key: "ui.shell.home",
        needs: None,
    },
    Place {
        path: "/shifts",
        key: "ui.shell.shifts",
        needs: Some(Action::ReadOnCall),
    },
    Place {
        path: "/incidents",
        key: "ui.shell.incidents",
        needs: Some(Action::ReadOnCall),
    },
    // Teams and their members are the directory (`teams::reads`, as `/api/v2/teams`).
    Place {
        path: "/teams",
        key: "ui.shell.teams",
        needs: Some(Action::ReadDirectory),
    },
    Place {
        path: "/schedules",
        key: "ui.shell.schedules",
        needs: Some(Action::ReadOnCall),
    },
    Place {
        path: "/escalation_policies",
        key: "ui.shell.escalation_policies",
        needs: Some(Action::ReadOnCall),
    },
    Place {
        path: "/services",
        key: "ui.shell.services",
        needs: Some(Action::ReadOnCall),
    },
    Place {
        path: "/seats",
        key: "ui.shell.seats",
        needs: Some(Action::ReadLicences),
    },
    Place {
        path: "/identity",
        key: "ui.shell.identity",
        needs: Some(Action::ReadAudit),
    },
    Place {
        path: "/profile",
        key: "ui.shell.profile",
        needs: None,
    },
];

impl Place {
    fn shown(&self, v: &Visitor) -> bool {
        self.needs
            .is_none_or(|action| v.caller.allows(action, &Resource::Account))
    }
}

/// A whole page for `v`: `title` is its `<h1>` too; `here` the navigation path it belongs to.
pub fn page(
    v: &Visitor,
    status: StatusCode,
    here: &str,
    title: &str,
    body: Markup,
) -> HttpResponse {
    let lang = v.lang;
    let header = html! {
        nav aria-label=(t!("ui.shell.nav_label", locale = lang)) {
            ul {
                @for p in PLACES.iter().filter(|p| p.shown(v)) {
                    li {
                        @if p.path == here {
                            a href=(p.path) aria-current="page" { (t!(p.key, locale = lang)) }
                        } @else {
                            a href=(p.path) { (t!(p.key, locale = lang)) }
                        }
                    }
                }
                @if v.demo {
                    li {
                        @if here == "/demo/outbox" {
                            a href="/demo/outbox" aria-current="page" { (t!("ui.shell.outbox", locale = lang)) }
                        } @else {
                            a href="/demo/outbox" { (t!("ui.shell.outbox", locale = lang)) }
                        }
                    }
                }
            }
        }
        form.sign-out method="post" action="/auth/logout" {
            span { (t!("ui.shell.signed_in_as", locale = lang, name = v.current.user.name)) " " }
            (v.csrf())
            button type="submit" { (t!("ui.shell.sign_out", locale = lang)) }
        }
    };
    document(lang, status, title, header, body)
}

/// A page for someone not signed in (the demo's sample sign-in): the same frame, no
/// navigation.
pub fn signed_out(lang: &str, status: StatusCode, title: &str, body: Markup) -> HttpResponse {
    document(lang, status, title, html! {}, body)
}

fn document(
    lang: &str,
    status: StatusCode,
    title: &str,
    header: Markup,
    body: Markup,
) -> HttpResponse {
    let markup = html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Rota" }
                link rel="stylesheet" href=(STYLESHEET);
            }
            body {
                a.skip href="#main" { (t!("ui.shell.skip", locale = lang)) }
                header.site { (header) }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        // Pages carry CSRF tokens and personal data: not for caches.
        .insert_header(("Cache-Control", "no-store"))
        .body(markup.into_string())
}

/// `page` with 200.
pub fn ok(v: &Visitor, here: &str, title: &str, body: Markup) -> HttpResponse {
    page(v, StatusCode::OK, here, title, body)
}
