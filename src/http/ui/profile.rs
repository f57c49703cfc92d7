//! My profile (`/profile`): the visitor's contact methods (directory-made ones read-only,
//! each with a button that sends a test), notification rules by urgency, hand-off
//! notifications, language and time zone, their calendar link, and their personal API
//! tokens. Each form calls what the REST endpoint under `/api/v2/users/{id}/…` calls, with
//! the same check (`api::contact_methods::may_manage`, `api::tokens::may_manage`,
//! `api::users::change`, `use_cases::calendar::issue`,
//! `use_cases::oncalls::set_notification_settings`); a refused form is shown again with what
//! was typed. Form bodies are read with `form::config` (an oversized one is a 413 page).

use super::form::{Refused, text_field};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::calendar;
use crate::domain::contact::{self, ContactKind, ContactSource};
use crate::domain::handoff::{HandoffSetting, MAX_REMINDER_HOURS, Settings};
use crate::domain::ids::{ContactMethodId, NotificationRuleId, TokenId, UserId};
use crate::domain::service::Urgency;
use crate::error::{AppError, AppResult, ErrorKind};
use crate::http::AppState;
use crate::http::api::caller::ApiCaller;
use crate::http::api::contact_methods::{
    ContactMethodFields, ContactMethodRef, NotificationRuleFields, draft, may_manage, rule_draft,
};
use crate::http::api::tokens as token_api;
use crate::http::api::users::UserChanges;
use crate::store::DbConnection;
use crate::store::audit::AuditContext;
use crate::store::calendar::Owner;
use crate::store::contact_methods::{ContactMethod, NotificationRule};
use crate::store::tokens::Token;
use crate::use_cases::calendar as feeds;
use crate::use_cases::contact_methods as cases;
use crate::use_cases::tokens as personal_tokens;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/profile")
            .app_data(super::form::config())
            .service(web::resource("").route(web::get().to(show)))
            .service(web::resource("/contact_methods").route(web::post().to(add_method)))
            .service(
                web::resource("/contact_methods/{id}/delete").route(web::post().to(delete_method)),
            )
            .service(web::resource("/contact_methods/{id}/test").route(web::post().to(test_method)))
            .service(web::resource("/notification_rules").route(web::post().to(add_rule)))
            .service(
                web::resource("/notification_rules/{id}/delete").route(web::post().to(delete_rule)),
            )
            .service(web::resource("/tokens").route(web::post().to(make_token)))
            .service(web::resource("/tokens/{id}/revoke").route(web::post().to(revoke_token)))
            .service(web::resource("/settings").route(web::post().to(settings)))
            .service(web::resource("/handoff").route(web::post().to(handoff)))
            .service(web::resource("/calendar").route(web::post().to(regenerate))),
    );
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

#[derive(Deserialize, Default)]
struct RuleForm {
    csrf_token: Option<String>,
    #[serde(default)]
    rule_method: String,
    #[serde(default)]
    delay: String,
    #[serde(default)]
    urgency: String,
}

#[derive(Deserialize)]
struct TokenForm {
    csrf_token: Option<String>,
    #[serde(default)]
    token_name: String,
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
    /// A secret to show once (a new calendar URL, a webhook's signing secret, a token).
    once: Option<(String, String)>,
    /// The notification rule form as typed.
    rule: RuleForm,
    /// The token form's name as typed.
    token_name: String,
    /// Why a contact method's test was not sent, shown beside it.
    test_refused: Option<(ContactMethodId, String)>,
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
        Some("rule_added") => Some(t!("ui.profile.rule_added", locale = v.lang).to_string()),
        Some("rule_deleted") => Some(t!("ui.profile.rule_deleted", locale = v.lang).to_string()),
        Some("token_revoked") => Some(t!("ui.profile.token_revoked", locale = v.lang).to_string()),
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
    let (methods, rules, handoff, tokens) = state
        .db
        .run(move |conn| {
            let (rules, methods) = cases::rules(conn, &me, None, may_manage(&caller))?;
            let handoff = crate::use_cases::oncalls::notification_settings(conn, &me)?;
            let tokens = personal_tokens::list(conn, &me, token_api::may_manage(&caller))?;
            Ok((methods, rules, handoff, tokens))
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
        (methods_section(v, &methods, &extra, refused_for("add")))
        (rules_section(v, &rules, &methods, &extra.rule, refused_for("rule")))
        (handoff_section(v, handoff))
        (settings_section(v, refused_for("settings")))
        h2 { (t!("ui.profile.calendar", locale = lang)) }
        p { (t!("ui.profile.calendar_about", locale = lang)) }
        form.inline method="post" action="/profile/calendar" {
            (v.csrf())
            button type="submit" { (t!("ui.profile.regenerate", locale = lang)) }
        }
        (tokens_section(v, &tokens, &extra.token_name, refused_for("token")))
    };
    let title = t!("ui.profile.title", locale = lang).to_string();
    Ok(shell::page(v, status, "/profile", &title, body))
}

fn methods_section(
    v: &Visitor,
    methods: &[ContactMethod],
    extra: &Extra,
    refused: &Refused,
) -> Markup {
    let lang = v.lang;
    let add = &extra.add;
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
                                form.inline method="post" action=(format!("/profile/contact_methods/{}/test", m.id)) {
                                    (v.csrf())
                                    button.secondary type="submit" {
                                        (t!("ui.profile.test", locale = lang))
                                        span.visually-hidden { " " (m.label) }
                                    }
                                }
                                @if let Some((id, why)) = &extra.test_refused {
                                    @if *id == m.id { p.field-error role="alert" { (why) } }
                                }
                                " "
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

/// "At once" or "After 5 min".
fn after(minutes: i32, lang: &str) -> String {
    if minutes == 0 {
        t!("ui.profile.at_once", locale = lang).into_owned()
    } else {
        t!("ui.profile.after_minutes", locale = lang, minutes = minutes).into_owned()
    }
}

fn rules_section(
    v: &Visitor,
    rules: &[NotificationRule],
    methods: &[ContactMethod],
    typed: &RuleForm,
    refused: &Refused,
) -> Markup {
    let lang = v.lang;
    let label_of = |r: &NotificationRule| {
        methods
            .iter()
            .find(|m| m.id == r.contact_method_id)
            .map(|m| format!("{} ({})", m.label, kind_name(m.kind, lang)))
            .unwrap_or_default()
    };
    let urgency = if typed.urgency.is_empty() {
        "high"
    } else {
        typed.urgency.as_str()
    };
    let delay = if typed.delay.is_empty() && refused.is_empty() {
        "0"
    } else {
        typed.delay.as_str()
    };
    html! {
        h2 { (t!("ui.profile.rules", locale = lang)) }
        p { (t!("ui.profile.rules_about", locale = lang)) }
        @for (level, heading, none) in [
            (Urgency::High, "ui.profile.rules_high", "ui.profile.rules_high_none"),
            (Urgency::Low, "ui.profile.rules_low", "ui.profile.rules_low_none"),
        ] {
            h3 { (t!(heading, locale = lang)) }
            @let mine: Vec<&NotificationRule> = rules.iter().filter(|r| r.urgency == level).collect();
            @if mine.is_empty() {
                p.muted { (t!(none, locale = lang)) }
            } @else {
                div.table-wrap { table {
                    caption { (t!(heading, locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.profile.when", locale = lang)) }
                        th scope="col" { (t!("ui.profile.through", locale = lang)) }
                        th scope="col" { (t!("ui.profile.actions", locale = lang)) }
                    } }
                    tbody { @for r in mine { tr {
                        td { (after(r.start_delay_in_minutes, lang)) }
                        td { (label_of(r)) }
                        td {
                            form.inline method="post" action=(format!("/profile/notification_rules/{}/delete", r.id)) {
                                (v.csrf())
                                button.secondary type="submit" {
                                    (t!("ui.profile.delete", locale = lang))
                                    span.visually-hidden { " " (after(r.start_delay_in_minutes, lang)) " " (label_of(r)) }
                                }
                            }
                        }
                    } } }
                } }
            }
        }
        h3 { (t!("ui.profile.add_rule", locale = lang)) }
        (refused.summary(lang))
        form.stack method="post" action="/profile/notification_rules" {
            (v.csrf())
            div {
                label for="rule_method" { (t!("ui.profile.through", locale = lang)) }
                select id="rule_method" name="rule_method" aria-invalid=[refused.invalid("rule_method")]
                    aria-describedby=[refused.fields.contains_key("rule_method").then_some("rule_method-error")] {
                    @for m in methods {
                        option value=(m.id) selected[typed.rule_method == m.id.as_str()] {
                            (m.label) " (" (kind_name(m.kind, lang)) ")"
                        }
                    }
                }
                (refused.under("rule_method"))
            }
            (text_field("delay", &t!("ui.profile.delay", locale = lang, max = contact::MAX_START_DELAY_MINUTES), "number", delay, refused))
            div {
                label for="urgency" { (t!("ui.profile.urgency", locale = lang)) }
                select id="urgency" name="urgency" aria-invalid=[refused.invalid("urgency")]
                    aria-describedby=[refused.fields.contains_key("urgency").then_some("urgency-error")] {
                    option value="high" selected[urgency == "high"] { (t!("ui.profile.urgency_high", locale = lang)) }
                    option value="low" selected[urgency == "low"] { (t!("ui.profile.urgency_low", locale = lang)) }
                }
                (refused.under("urgency"))
            }
            div { button type="submit" { (t!("ui.profile.add", locale = lang)) } }
        }
    }
}

fn tokens_section(v: &Visitor, tokens: &[Token], typed: &str, refused: &Refused) -> Markup {
    let lang = v.lang;
    html! {
        h2 { (t!("ui.profile.tokens", locale = lang)) }
        p { (t!("ui.profile.tokens_about", locale = lang)) }
        @if tokens.is_empty() {
            p.muted { (t!("ui.profile.tokens_none", locale = lang)) }
        } @else {
            div.table-wrap { table {
                caption { (t!("ui.profile.tokens", locale = lang)) }
                thead { tr {
                    th scope="col" { (t!("ui.profile.token_name", locale = lang)) }
                    th scope="col" { (t!("ui.profile.created", locale = lang)) }
                    th scope="col" { (t!("ui.profile.last_used", locale = lang)) }
                    th scope="col" { (t!("ui.profile.actions", locale = lang)) }
                } }
                tbody { @for tok in tokens { tr {
                    th scope="row" { (tok.name) " " code { (tok.hint) } }
                    td { (v.time(tok.created_at)) }
                    td { @match tok.last_used_at {
                        Some(at) => { (v.time(at)) }
                        None => { (t!("ui.profile.never", locale = lang)) }
                    } }
                    td {
                        form.inline method="post" action=(format!("/profile/tokens/{}/revoke", tok.id)) {
                            (v.csrf())
                            button.secondary type="submit" {
                                (t!("ui.profile.revoke", locale = lang))
                                span.visually-hidden { " " (tok.name) }
                            }
                        }
                    }
                } } }
            } }
        }
        h3 { (t!("ui.profile.make_token", locale = lang)) }
        (refused.summary(lang))
        form.stack method="post" action="/profile/tokens" {
            (v.csrf())
            (text_field("token_name", &t!("ui.profile.token_name", locale = lang), "text", typed, refused))
            p.muted { (t!("ui.profile.token_help", locale = lang, max = personal_tokens::MAX_PERSONAL_TOKENS)) }
            div { button type="submit" { (t!("ui.profile.make", locale = lang)) } }
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
    let id = ContactMethodId(id.into_inner());
    act_on(
        &req,
        &state,
        &sent,
        "deleted",
        move |conn, ctx, me, caller| cases::delete(conn, ctx, me, &id, may_manage(caller)),
    )
    .await
}

/// A button's post about one of the visitor's things: `act` runs the use case as the
/// visitor, then the page is shown again with the notice `done`.
async fn act_on(
    req: &HttpRequest,
    state: &AppState,
    sent: &CsrfOnly,
    done: &str,
    act: impl FnOnce(&mut DbConnection, &AuditContext, &UserId, &ApiCaller) -> AppResult<()>
    + Send
    + 'static,
) -> PageResult {
    let v = Visitor::posting(req, state, sent.csrf_token.as_deref()).await?;
    let me = me(&v)?;
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    state
        .db
        .run(move |conn| act(conn, &ctx, &me, &caller))
        .await?;
    Ok(saved(done))
}

/// Sends a test to one of the visitor's contact methods (`use_cases::contact_methods::test`,
/// what `POST …/contact_methods/{id}/test` calls); within a minute of the last, the page
/// says so beside the method (429).
async fn test_method(
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
    let method = id.clone();
    let tested = state
        .db
        .run(move |conn| cases::test(conn, &ctx, &me, &method, may_manage(&caller)))
        .await;
    let lang = v.lang;
    match tested {
        Ok((test, method)) => {
            crate::http::api::contact_methods::wake(&state, &test);
            let notice = t!(
                "ui.profile.test_queued",
                locale = lang,
                label = method.label,
                address = test.address
            );
            let extra = Extra {
                notice: Some(notice.into_owned()),
                ..Extra::default()
            };
            render(&state, &v, extra, StatusCode::OK).await
        }
        Err(e) => {
            let ErrorKind::TooManyRequests {
                retry_after_secs, ..
            } = e.kind
            else {
                return Err(e.into());
            };
            let why = t!(
                "ui.profile.test_wait",
                locale = lang,
                seconds = retry_after_secs
            );
            let extra = Extra {
                test_refused: Some((id, why.into_owned())),
                ..Extra::default()
            };
            let mut page = render(&state, &v, extra, StatusCode::TOO_MANY_REQUESTS).await?;
            page.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(retry_after_secs),
            );
            Ok(page)
        }
    }
}

/// Adds a notification rule (`use_cases::contact_methods::create_rule`, what
/// `POST …/notification_rules` calls); a refusal is shown beside its field, keeping what was
/// typed, a delay that is no number included.
async fn add_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<RuleForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    let sent = sent.into_inner();
    let me = me(&v)?;
    let refused = match sent.delay.trim().parse::<i64>() {
        Err(_) => Refused::field(
            "delay",
            t!(
                "ui.profile.delay_number",
                locale = v.lang,
                max = contact::MAX_START_DELAY_MINUTES
            ),
        ),
        Ok(minutes) => {
            let fields = NotificationRuleFields {
                kind: None,
                start_delay_in_minutes: Some(minutes),
                contact_method: Some(ContactMethodRef {
                    id: Some(sent.rule_method.clone()),
                    kind: None,
                }),
                urgency: Some(sent.urgency.clone()),
            };
            let caller = v.caller.clone();
            let ctx = v.caller.audit();
            let made = match rule_draft(fields) {
                Ok(d) => state
                    .db
                    .run(move |conn| cases::create_rule(conn, &ctx, &me, d, may_manage(&caller)))
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            match made {
                Ok(()) => return Ok(saved("rule_added")),
                Err(e) => Refused::from(
                    e,
                    &[
                        ("notification_rule.contact_method", "rule_method"),
                        ("notification_rule.start_delay_in_minutes", "delay"),
                        ("notification_rule.urgency", "urgency"),
                    ],
                )?,
            }
        }
    };
    let extra = Extra {
        rule: sent,
        refused,
        refused_form: Some("rule"),
        ..Extra::default()
    };
    render(&state, &v, extra, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn delete_rule(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    sent: web::Form<CsrfOnly>,
) -> PageResult {
    let id = NotificationRuleId(id.into_inner());
    act_on(
        &req,
        &state,
        &sent,
        "rule_deleted",
        move |conn, ctx, me, caller| cases::delete_rule(conn, ctx, me, &id, may_manage(caller)),
    )
    .await
}

/// Makes a personal API token (`use_cases::tokens::create`, what `POST
/// /api/v2/users/me/tokens` calls) and shows its secret once.
async fn make_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    sent: web::Form<TokenForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, sent.csrf_token.as_deref()).await?;
    let name = sent.into_inner().token_name;
    let me = me(&v)?;
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let typed = name.clone();
    let made = state
        .db
        .run(move |conn| {
            personal_tokens::create(conn, &ctx, &me, &typed, token_api::may_make(&caller))
        })
        .await;
    let extra = match made {
        Ok((token, secret)) => {
            let what = t!("ui.profile.token_once", locale = v.lang, name = token.name);
            let extra = Extra {
                once: Some((what.into_owned(), secret)),
                ..Extra::default()
            };
            return render(&state, &v, extra, StatusCode::OK).await;
        }
        Err(e) => Extra {
            refused: Refused::from(e, &[("token", "token_name")])?,
            refused_form: Some("token"),
            token_name: name,
            ..Extra::default()
        },
    };
    render(&state, &v, extra, StatusCode::UNPROCESSABLE_ENTITY).await
}

async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    sent: web::Form<CsrfOnly>,
) -> PageResult {
    let id = TokenId(id.into_inner());
    act_on(
        &req,
        &state,
        &sent,
        "token_revoked",
        move |conn, ctx, me, caller| {
            personal_tokens::revoke(conn, ctx, me, &id, token_api::may_manage(caller)).map(|_| ())
        },
    )
    .await
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
