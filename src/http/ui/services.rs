//! `/services`: the list and a service's page: its escalation policy, urgency rule and
//! integrations (by key hint), a new integration's routing key shown once (selectable text,
//! and a copy button from `/assets/copy.js` where scripts run), and how to send events with
//! it: an Events API v2 `curl` and an Alertmanager `webhook_configs` entry. Reading needs
//! `ReadOnCall`; integrations are added and removed through `use_cases::services` with
//! `ManageService` asked of the service as stored, as `/api/v2/services` does.

use super::form::{Refused, text_field};
use super::listing::{CsrfForm, ListQuery, see_other};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::ids::{IntegrationId, ServiceId};
use crate::domain::service::{IntegrationKind, Urgency, UrgencyRule};
use crate::domain::user as rules;
use crate::error::ResultExt;
use crate::http::AppState;
use crate::http::api::services::{may_change, service_resource};
use crate::store::escalation;
use crate::store::services::{self as store, LoadedService};
use crate::use_cases::services as cases;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/services").route(web::get().to(list)))
        .service(web::resource("/services/{id}").route(web::get().to(show)))
        .service(web::resource("/services/{id}/integrations").route(web::post().to(add)))
        .service(
            web::resource("/services/{id}/integrations/{integration}/delete")
                .route(web::post().to(remove)),
        )
        .service(web::resource(COPY_SCRIPT).route(web::get().to(copy_script)));
}

/// The copy button's script: it only copies the text of the element the button names.
const COPY_SCRIPT: &str = "/assets/copy.js";

async fn copy_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("copy.js"))
}

fn reads(v: &Visitor) -> PageResult<()> {
    Ok(v.caller
        .may(Action::ReadOnCall, &Resource::Account, "read services")?)
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    let lang = v.lang;
    let page = q.page();
    let text = q.text();
    let found = state
        .db
        .run(move |conn| store::list(conn, Some(text.as_str()), &page))
        .await?;
    let body = html! {
        (q.search("/services", &t!("ui.services.search", locale = lang), lang))
        @if found.rows.is_empty() {
            p.muted { (t!("ui.services.none", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.shell.services", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.services.name", locale = lang)) }
                        th scope="col" { (t!("ui.services.urgency", locale = lang)) }
                        th scope="col" { (t!("ui.services.integrations", locale = lang)) }
                    } }
                    tbody {
                        @for s in &found.rows {
                            tr {
                                td { a href=(format!("/services/{}", s.service.id)) { (s.service.name) } }
                                td { (urgency_words(s.service.urgency_rule, lang)) }
                                td { (s.integrations.len()) }
                            }
                        }
                    }
                }
            }
        }
        (q.pager("/services", found.more, &t!("ui.services.pages", locale = lang), lang))
    };
    Ok(shell::ok(
        &v,
        "/services",
        &t!("ui.shell.services", locale = lang),
        body,
    ))
}

fn urgency_words(rule: UrgencyRule, lang: &str) -> String {
    match rule {
        UrgencyRule::Constant(Urgency::High) => t!("ui.services.urgency_high", locale = lang),
        UrgencyRule::Constant(Urgency::Low) => t!("ui.services.urgency_low", locale = lang),
        UrgencyRule::SeverityBased => t!("ui.services.urgency_severity", locale = lang),
    }
    .into_owned()
}

async fn show(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    service_page(
        &v,
        &state,
        ServiceId(id.into_inner()),
        None,
        &Refused::default(),
        "",
    )
    .await
}

/// A key just made: shown this once.
struct NewKey {
    name: String,
    key: String,
}

async fn service_page(
    v: &Visitor,
    state: &AppState,
    id: ServiceId,
    made: Option<NewKey>,
    refused: &Refused,
    typed_name: &str,
) -> PageResult {
    let lang = v.lang;
    let (s, policy) = state
        .db
        .run(move |conn| {
            let s = store::load(conn, &id)?;
            let policy =
                escalation::names(conn, std::slice::from_ref(&s.service.escalation_policy_id))?
                    .remove(&s.service.escalation_policy_id);
            Ok((s, policy))
        })
        .await?;
    let manage = v
        .caller
        .allows(Action::ManageService, &service_resource(&s));
    let path = format!("/services/{}", s.service.id);
    let placeholder = t!("ui.services.key_placeholder", locale = lang).into_owned();
    let key = made
        .as_ref()
        .map_or(placeholder.as_str(), |m| m.key.as_str());
    let body = html! {
        @if let Some(d) = &s.service.description { p { (d) } }
        dl {
            dt { (t!("ui.services.policy", locale = lang)) }
            dd { a href=(format!("/escalation_policies/{}", s.service.escalation_policy_id)) {
                (policy.unwrap_or_else(|| s.service.escalation_policy_id.to_string())) } }
            dt { (t!("ui.services.urgency", locale = lang)) }
            dd { (urgency_words(s.service.urgency_rule, lang)) }
        }
        @if let Some(m) = &made {
            section.notice.new-key aria-labelledby="new-key" role="status" {
                h2 #new-key { (t!("ui.services.key_made", locale = lang, name = m.name)) }
                p { (t!("ui.services.key_once", locale = lang)) }
                p { code #routing-key.secret { (m.key) } }
                button.secondary type="button" data-copy="routing-key" data-copied=(t!("ui.services.copied", locale = lang)) hidden { (t!("ui.services.copy", locale = lang)) }
                script src=(COPY_SCRIPT) defer {}
            }
        }
        h2 { (t!("ui.services.integrations", locale = lang)) }
        @if s.integrations.is_empty() {
            p.muted { (t!("ui.services.no_integrations", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.services.integrations", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.services.name", locale = lang)) }
                        th scope="col" { (t!("ui.services.key_hint", locale = lang)) }
                        th scope="col" { (t!("ui.services.created", locale = lang)) }
                        @if manage { th scope="col" { span.visually-hidden { (t!("ui.services.actions", locale = lang)) } } }
                    } }
                    tbody {
                        @for i in &s.integrations {
                            tr {
                                td { (i.name) }
                                td { code { (i.key_hint) } }
                                td { (v.time(i.created_at)) }
                                @if manage {
                                    td {
                                        form.inline method="post" action=(format!("{path}/integrations/{}/delete", i.id)) {
                                            (v.csrf())
                                            button.secondary type="submit" { (t!("ui.services.delete", locale = lang)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if manage {
            h3 { (t!("ui.services.add_integration", locale = lang)) }
            (refused.summary(lang))
            form.stack method="post" action=(format!("{path}/integrations")) {
                (v.csrf())
                (text_field("name", &t!("ui.services.integration_name", locale = lang), "text", typed_name, refused))
                div { button type="submit" { (t!("ui.services.add_integration", locale = lang)) } }
            }
        }
        h2 { (t!("ui.services.sending", locale = lang)) }
        (snippets(state, key, lang))
    };
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut res = shell::page(v, status, "/services", &s.service.name, body);
    if made.is_some() {
        // The copy button's script (ours only); everything else as every page.
        res.headers_mut().insert(
            actix_web::http::header::CONTENT_SECURITY_POLICY,
            actix_web::http::header::HeaderValue::from_static(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
    }
    Ok(res)
}

/// How to send an event with `key`: curl to `/v2/enqueue`, and Alertmanager's receiver.
fn snippets(state: &AppState, key: &str, lang: &str) -> Markup {
    let base = state.public_url.trim_end_matches('/');
    let curl = format!(
        "curl -X POST {base}/v2/enqueue \\\n  -H 'Content-Type: application/json' \\\n  -d '{{\"routing_key\": \"{key}\", \"event_action\": \"trigger\", \"dedup_key\": \"disk-web-1\",\n       \"payload\": {{\"summary\": \"Disk full on web-1\", \"source\": \"web-1\", \"severity\": \"critical\"}}}}'"
    );
    // Alertmanager's PagerDuty receiver speaks the Events API v2 (`tests/alertmanager.rs`).
    let alertmanager = format!(
        "receivers:\n  - name: rota\n    pagerduty_configs:\n      - routing_key: {key}\n        url: {base}/v2/enqueue\n        send_resolved: true"
    );
    html! {
        h3 { (t!("ui.services.curl", locale = lang)) }
        pre { code { (curl) } }
        h3 { (t!("ui.services.alertmanager", locale = lang)) }
        pre { code { (alertmanager) } }
    }
}

#[derive(Deserialize)]
struct IntegrationForm {
    csrf_token: Option<String>,
    #[serde(default)]
    name: String,
}

async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<IntegrationForm>,
) -> PageResult {
    let v = Visitor::posting(&req, &state, form.csrf_token.as_deref()).await?;
    reads(&v)?;
    let id = ServiceId(id.into_inner());
    let typed = form.name.clone();
    let name = if typed.trim().is_empty() {
        Ok("Events API V2".to_owned())
    } else {
        rules::display_name(&typed).invalid_field("integration.name")
    };
    let name = match name {
        Ok(n) => n,
        Err(e) => {
            let refused = Refused::from(e, &[("integration.name", "name")])?;
            return service_page(&v, &state, id, None, &refused, &typed).await;
        }
    };
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let id2 = id.clone();
    let (integration, key) = state
        .db
        .run(move |conn| {
            cases::add_integration(
                conn,
                &ctx,
                &id2,
                IntegrationKind::EventsApiV2InboundIntegration,
                name,
                |s: &LoadedService| may_change(&caller, s, "add integrations to this service"),
            )
        })
        .await?;
    let made = NewKey {
        name: integration.name,
        key,
    };
    service_page(&v, &state, id, Some(made), &Refused::default(), "").await
}

async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: Option<web::Form<CsrfForm>>,
) -> PageResult {
    let v = Visitor::posting(
        &req,
        &state,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
    )
    .await?;
    reads(&v)?;
    let (id, integration) = path.into_inner();
    let (id, integration) = (ServiceId(id), IntegrationId(integration));
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let id2 = id.clone();
    state
        .db
        .run(move |conn| {
            cases::delete_integration(conn, &ctx, &id2, &integration, |s| {
                may_change(&caller, s, "remove integrations of this service")
            })
        })
        .await?;
    Ok(see_other(&format!("/services/{id}")))
}
