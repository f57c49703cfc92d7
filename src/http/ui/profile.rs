//! My profile (`/profile`): the visitor's contact methods (directory-made ones read-only),
//! hand-off notifications, language and time zone, and their calendar link. Each form calls
//! what the REST endpoint under `/api/v2/users/{id}/…` calls, with the same check
//! (`api::contact_methods::may_manage`, `api::users::change`, `use_cases::calendar::issue`,
//! `use_cases::oncalls::set_notification_settings`); a refused form is shown again with what
//! was typed.

use super::form::{Refused, text_field};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::calendar;
use crate::domain::contact::{ContactKind, ContactSource};
use crate::domain::handoff::{HandoffSetting, MAX_REMINDER_HOURS, Settings};
use crate::domain::ids::{ContactMethodId, UserId};
use crate::error::AppError;
use crate::http::AppState;
use crate::http::api::contact_methods::{ContactMethodFields, draft, may_manage};
use crate::http::api::users::UserChanges;
use crate::store::calendar::Owner;
use crate::store::contact_methods::ContactMethod;
use crate::use_cases::calendar as feeds;
use crate::use_cases::contact_methods as cases;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/profile").route(web::get().to(show)))
        .service(web::resource("/profile/contact_methods").route(web::post().to(add_method)))
        .service(
            web::resource("/profile/contact_methods/{id}/delete")
                .route(web::post().to(delete_method)),
        )
        .service(web::resource("/profile/settings").route(web::post().to(settings)))
        .service(web::resource("/profile/handoff").route(web::post().to(handoff)))
        .service(web::resource("/profile/calendar").route(web::post().to(regenerate)));
}

#[derive(Deserialize, Default)]
struct MethodForm {
    csrf_token: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    address: String,
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf_token: Option<String>,
}

#[derive(Deserialize)]
struct SettingsForm {
    csrf_token: Option<String>,
    #[serde(default)]
    language: String,
    #[serde(default)]
    time_zone: String,
}

#[derive(Deserialize)]
struct HandoffForm {
    csrf_token: Option<String>,
    #[serde(default)]
    handoff: String,
    #[serde(default)]
    reminder_hours: String,
}

#[derive(Deserialize)]
struct ShowQuery {
    done: Option<String>,
}

/// What a render of the page adds to the stored state: a refused form, a notice, a secret
/// shown once.
#[derive(Default)]
struct Extra {
    add: MethodForm,
    refused: Refused,
    /// Which form `refused` belongs to.
    refused_form: Option<&'static str>,
    notice: Option<String>,
    /// A secret to show once (a new calendar URL, a webhook's signing secret).
    once: Option<(String, String)>,
}

fn me(v: &Visitor) -> PageResult<UserId> {
    Ok(v.caller
        .user_id()
        .cloned()
        .ok_or_else(|| AppError::forbidden("pages are for people"))?)
}

fn kind_name(kind: ContactKind, lang: &str) -> String {
    let key = match kind {
        ContactKind::Email => "ui.profile.email",
        ContactKind::Phone => "ui.profile.phone",
        ContactKind::Webhook => "ui.profile.webhook",
    };
    t!(key, locale = lang).to_string()
}

async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ShowQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    let notice = match query.done.as_deref() {
        Some("saved") => Some(t!("ui.profile.saved", locale = v.lang).to_string()),
        Some("deleted") => Some(t!("ui.profile.deleted", locale = v.lang).to_string()),
        _ => None,
    };
    render(
        &state,
        &v,
        Extra {
            notice,
            ..Extra::default()
        },
        StatusCode::OK,
    )
    .await
}

/// The page, read fresh, with `extra`.
async fn render(
    state: &AppState,
    v: &Visitor,
    extra: Extra,
    status: StatusCode,
) -> PageResult<HttpResponse> {
    let me = me(v)?;
    let caller = v.caller.clone();
    let (methods, handoff) = state
        .db
        .run(move |conn| {
            let methods = cases::list(conn, &me, may_manage(&caller))?;
            let handoff = crate::use_cases::oncalls::notification_settings(conn, &me)?;
            Ok((methods, handoff))
        })
        .await?;
    let lang = v.lang;
    let none = Refused::default();
    let refused_for = |form: &str| {
        if extra.refused_form == Some(form) {
            &extra.refused
        } else {
            &none
        }
    };
    let body = html! {
        @if let Some(n) = &extra.notice { p.notice role="status" { (n) } }
        @if let Some((what, secret)) = &extra.once {
            div.notice role="status" {
                p { (what) }
                p { code { (secret) } }
            }
        }
        (methods_section(v, &methods, &extra.add, refused_for("add")))
        (handoff_section(v, handoff))
        (settings_section(v, refused_for("settings")))
        h2 { (t!("ui.profile.calendar", locale = lang)) }
        p { (t!("ui.profile.calendar_about", locale = lang)) }
        form.inline method="post" action="/profile/calendar" {
            (v.csrf())
            button type="submit" { (t!("ui.profile.regenerate", locale = lang)) }
        }
    };
    let title = t!("ui.profile.title", locale = lang).to_string();
    Ok(shell::page(v, status, "/profile", &title, body))
}

fn methods_section(
    v: &Visitor,
    methods: &[ContactMethod],
    add: &MethodForm,
    refused: &Refused,
) -> Markup {
    let lang = v.lang;
    html! {
        h2 { (t!("ui.profile.contact_methods", locale = lang)) }
        div.table-wrap {
            table {
                caption { (t!("ui.profile.contact_methods_caption", locale = lang)) }
                thead { tr {
                    th scope="col" { (t!("ui.profile.kind", locale = lang)) }
                    th scope="col" { (t!("ui.profile.label", locale = lang)) }
                    th scope="col" { (t!("ui.profile.address", locale = lang)) }
                    th scope="col" { (t!("ui.profile.actions", locale = lang)) }
                } }
                tbody {
                    @for m in methods {
                        tr {
                            td { (kind_name(m.kind, lang)) }
                            td { (m.label) }
                            td { (m.address) }
                            td {
                                @if m.source == ContactSource::Scim {
                                    span.muted { (t!("ui.profile.from_directory", locale = lang)) }
                                } @else {
                                    form.inline method="post" action=(format!("/profile/contact_methods/{}/delete", m.id)) {
                                        (v.csrf())
                                        button.secondary type="submit" {
                                            (t!("ui.profile.delete", locale = lang))
                                            span.visually-hidden { " " (m.label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { (t!("ui.profile.add_method", locale = lang)) }
        (refused.summary(lang))
        form.stack method="post" action="/profile/contact_methods" {
            (v.csrf())
            div {
                label for="kind" { (t!("ui.profile.kind", locale = lang)) }
                select id="kind" name="kind" aria-invalid=[refused.invalid("kind")] {
                    @for kind in [ContactKind::Email, ContactKind::Phone, ContactKind::Webhook] {
                        option value=(kind.as_str()) selected[add.kind == kind.as_str()] { (kind_name(kind, lang)) }
                    }
                }
                (refused.under("kind"))
            }
            (text_field("label", &t!("ui.profile.label", locale = lang), "text", &add.label, refused))
            (text_field("address", &t!("ui.profile.address", locale = lang), "text", &add.address, refused))
            p.muted { (t!("ui.profile.address_help", locale = lang)) }
            div { button type="submit" { (t!("ui.profile.add", locale = lang)) } }
        }
    }
}

fn handoff_section(v: &Visitor, s: Settings) -> Markup {
    let lang = v.lang;
    let hours = s.reminder_hours.map(|h| h.to_string()).unwrap_or_default();
    html! {
        h2 { (t!("ui.profile.handoff", locale = lang)) }
        form.stack method="post" action="/profile/handoff" {
            (v.csrf())
            div {
                label for="handoff" { (t!("ui.profile.handoff_when", locale = lang)) }
                select id="handoff" name="handoff" {
                    @for (value, key) in [("always", "ui.profile.handoff_always"), ("if_has_services", "ui.profile.handoff_services"), ("off", "ui.profile.handoff_off")] {
                        option value=(value) selected[s.handoff.as_str() == value] { (t!(key, locale = lang)) }
                    }
                }
            }
            div {
                label for="reminder_hours" { (t!("ui.profile.reminder", locale = lang, max = MAX_REMINDER_HOURS)) }
                input type="number" id="reminder_hours" name="reminder_hours" min="1" max=(MAX_REMINDER_HOURS) value=(hours);
            }
            div { button type="submit" { (t!("ui.common.save", locale = lang)) } }
        }
    }
}

fn settings_section(v: &Visitor, refused: &Refused) -> Markup {
    let lang = v.lang;
    let mut zones: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_owned())
        .collect();
    zones.sort();
    html! {
        h2 { (t!("ui.profile.language_and_zone", locale = lang)) }
        (refused.summary(lang))
        form.stack method="post" action="/profile/settings" {
            (v.csrf())
            div {
                label for="language" { (t!("ui.profile.language", locale = lang)) }
                select id="language" name="language" {
                    option value="en" lang="en" selected[lang == "en"] { "English" }
                    option value="ja" lang="ja" selected[lang == "ja"] { "日本語" }
                }
            }
            div {
                label for="time_zone" { (t!("ui.profile.time_zone", locale = lang)) }
                select id="time_zone" name="time_zone" aria-invalid=[refused.invalid("time_zone")] {
                    @for z in &zones { option value=(z) selected[*z == v.zone] { (z) } }
                }
                (refused.under("time_zone"))
            }
            div { button type="submit" { (t!("ui.common.save", locale = lang)) } }
        }
    }
}

fn saved(done: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", format!("/profile?done={done}")))
        .finish()
}

async fn add_method(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<MethodForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    let sent = sent.into_inner();
    let kind = ContactKind::parse(&sent.kind);
    let fields = ContactMethodFields {
        kind: Some(kind.map_or(sent.kind.clone(), |k| k.pd_type().to_owned())),
        label: Some(sent.label.clone()),
        address: Some(sent.address.clone()),
        country_code: None,
    };
    let me = me(&v)?;
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let made = match draft(fields) {
        Ok(d) => {
            state
                .db
                .run(move |conn| cases::create(conn, &ctx, &me, d, may_manage(&caller)))
                .await
        }
        Err(e) => Err(e),
    };
    let refused = match made {
        Ok((_, None)) => return Ok(saved("saved")),
        Ok((_, Some(secret))) => {
            let extra = Extra {
                once: Some((
                    t!("ui.profile.webhook_secret", locale = v.lang).to_string(),
                    secret,
                )),
                ..Extra::default()
            };
            return render(&state, &v, extra, StatusCode::OK).await;
        }
        Err(e) => Refused::from(
            e,
            &[
                ("contact_method.type", "kind"),
                ("contact_method.label", "label"),
                ("contact_method.address", "address"),
            ],
        )?,
    };
    let extra = Extra {
        add: sent,
        refused,
        refused_form: Some("add"),
        ..Extra::default()
    };
    render(&state, &v, extra, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn delete_method(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    sent: web::Form<CsrfOnly>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    let me = me(&v)?;
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let id = ContactMethodId(id.into_inner());
    state
        .db
        .run(move |conn| cases::delete(conn, &ctx, &me, &id, may_manage(&caller)))
        .await?;
    Ok(saved("deleted"))
}

async fn settings(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<SettingsForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    let me = me(&v)?;
    let language = match sent.language.as_str() {
        "en" | "ja" => sent.language.clone(),
        other => {
            return Err(AppError::invalid("language", format!("is '{other}': en or ja")).into());
        }
    };
    let changes = UserChanges {
        locale: Some(language),
        time_zone: Some(sent.time_zone.clone()),
        ..UserChanges::default()
    };
    let caller = v.caller.clone();
    let app = state.clone();
    let changed = state
        .db
        .run(move |conn| crate::http::api::users::change(conn, &app, &caller, &me, changes))
        .await;
    match changed {
        Ok(_) => Ok(saved("saved")),
        Err(e) => {
            let refused = Refused::from(e, &[("time_zone", "time_zone"), ("locale", "language")])?;
            let extra = Extra {
                refused,
                refused_form: Some("settings"),
                ..Extra::default()
            };
            render(&state, &v, extra, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

async fn handoff(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<HandoffForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    let me = me(&v)?;
    let handoff = HandoffSetting::parse(&sent.handoff).ok_or_else(|| {
        AppError::invalid(
            "handoff",
            format!("is '{}': always, if_has_services or off", sent.handoff),
        )
    })?;
    let reminder_hours = match sent.reminder_hours.trim() {
        "" => None,
        h => match h.parse::<i32>() {
            Ok(h) if (1..=MAX_REMINDER_HOURS).contains(&h) => Some(h),
            _ => {
                return Err(AppError::invalid(
                    "reminder_hours",
                    format!("is '{h}': from 1 to {MAX_REMINDER_HOURS} hours, or empty for none"),
                )
                .into());
            }
        },
    };
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let settings = Settings {
        handoff,
        reminder_hours,
    };
    state
        .db
        .run(move |conn| {
            crate::use_cases::oncalls::set_notification_settings(
                conn,
                &ctx,
                &me,
                settings,
                crate::http::api::oncalls::may_change(&caller),
            )
        })
        .await?;
    Ok(saved("saved"))
}

/// Makes the visitor's calendar link anew (the old one stops working) and shows it once.
async fn regenerate(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<CsrfOnly>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    v.caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read who is on call",
    )?;
    let owner = Owner::Person(me(&v)?);
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let issued = state
        .db
        .run(move |conn| {
            feeds::issue(conn, &ctx, &owner, |s| {
                crate::http::api::calendar::may_change(&caller, s)
            })
        })
        .await?;
    let url = format!(
        "{}/calendar/{}{}",
        state.public_url,
        issued.secret,
        calendar::FILE_SUFFIX
    );
    let extra = Extra {
        once: Some((
            t!("ui.profile.calendar_once", locale = v.lang).to_string(),
            url,
        )),
        ..Extra::default()
    };
    render(&state, &v, extra, StatusCode::OK).await
}
