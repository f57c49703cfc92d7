//! `/identity`: for identity admins (owners, admins: `ReadAudit`). SCIM status (the latest
//! SCIM requests with their outcome, failed ones first, from `store::scim_requests`; then the
//! changes SCIM tokens made, from the audit trail), API and SCIM tokens with their last use,
//! made (the secret shown once, on the answer to the form) and revoked by `store::tokens` as
//! `rota token` does, each asked of the policies (`ManageTokens`: admins make no owner
//! token); `/identity/sign-in` checks the sign-in configuration against the provider now
//! (`Provider::check`); `/identity/audit` reads the audit trail as `/api/v2/audit/records`
//! does, with its filters and cursor.

use super::form::{Refused, text_field};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::audit::{ActorKind, Cursor, changed_fields};
use crate::domain::role::Role;
use crate::domain::schedule::local_time;
use crate::domain::token::TokenKind;
use crate::error::AppError;
use crate::http::AppState;
use crate::http::sign_in::provider::{CheckName, Finding};
use crate::store::audit::{self, AuditEvent, AuditQuery};
use crate::store::scim_requests::{self, ScimRequest};
use crate::store::tokens::{self, Holder, Token};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use maud::{Markup, html};
use rust_i18n::t;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/identity", web::get().to(overview))
        .route("/identity/tokens", web::post().to(create_token))
        .route("/identity/tokens/revoke", web::post().to(revoke_token))
        .route("/identity/sign-in", web::get().to(sign_in_check))
        .route("/identity/audit", web::get().to(audit_log));
}

/// SCIM changes shown on the overview.
const SCIM_SHOWN: i64 = 20;
/// SCIM requests shown on the overview.
const REQUESTS_SHOWN: i64 = 50;
/// Audit records per page.
const AUDIT_PAGE: i64 = 50;

async fn admin(req: &HttpRequest, state: &AppState) -> PageResult<Visitor> {
    let v = Visitor::of(req, state).await?;
    v.caller
        .may(Action::ReadAudit, &Resource::Account, "administer identity")?;
    Ok(v)
}

/// What the token form was sent with, kept when it is refused.
#[derive(Deserialize, Default)]
struct TokenForm {
    csrf_token: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

/// The answer to a token form: a new secret (shown once), or why it was refused.
#[derive(Default)]
struct Outcome {
    secret: Option<(String, String)>,
    refused: Refused,
    typed: TokenForm,
}

async fn overview(req: HttpRequest, state: web::Data<AppState>) -> PageResult {
    let v = admin(&req, &state).await?;
    show(&state, &v, Outcome::default()).await
}

async fn show(state: &AppState, v: &Visitor, outcome: Outcome) -> PageResult {
    let scim_query = AuditQuery {
        actor_type: Some(ActorKind::ScimToken),
        ..AuditQuery::default()
    };
    let (requests, scim, tokens) = state
        .db
        .run(move |conn| {
            let (scim, _) = audit::list(conn, &scim_query, SCIM_SHOWN, None)?;
            Ok((
                scim_requests::latest(conn, REQUESTS_SHOWN)?,
                scim,
                tokens::list(conn)?,
            ))
        })
        .await?;
    let status = if outcome.refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let lang = v.lang;
    let body = html! {
        nav.actions aria-label=(t!("ui.identity.more", locale = lang)) {
            a href="/identity/sign-in" { (t!("ui.identity.check_title", locale = lang)) }
            a href="/identity/audit" { (t!("ui.identity.audit_title", locale = lang)) }
        }
        @if let Some((name, secret)) = &outcome.secret {
            div.notice.secret role="status" {
                p { (t!("ui.identity.secret_once", locale = lang, name = name)) }
                p { code #new-secret { (secret) } }
            }
        }
        h2 #scim { (t!("ui.identity.scim", locale = lang)) }
        p.muted { (t!("ui.identity.requests_source", locale = lang, days = scim_requests::KEPT_DAYS)) }
        (requests_table(v, &requests, &tokens))
        h3 { (t!("ui.identity.changes", locale = lang)) }
        p.muted { (t!("ui.identity.scim_source", locale = lang)) }
        (scim_table(v, &scim))
        h2 #tokens { (t!("ui.identity.tokens", locale = lang)) }
        (token_table(v, &tokens))
        h3 { (t!("ui.identity.new_token", locale = lang)) }
        (token_form(v, &outcome))
    };
    let title = t!("ui.identity.title", locale = lang);
    Ok(shell::page(v, status, "/identity", &title, body))
}

/// The latest SCIM requests with their outcome, failed ones first.
fn requests_table(v: &Visitor, rows: &[ScimRequest], tokens: &[Token]) -> Markup {
    let lang = v.lang;
    let token_name = |r: &ScimRequest| match &r.token_id {
        Some(id) => tokens
            .iter()
            .find(|t| &t.id == id)
            .map_or_else(|| id.0.clone(), |t| t.name.clone()),
        None if r.status == 401 => t!("ui.identity.token_refused", locale = lang).into_owned(),
        None => "—".to_owned(),
    };
    html! {
        @if rows.is_empty() {
            p { (t!("ui.identity.requests_none", locale = lang)) }
        } @else {
            div.table-wrap { table.scim-requests {
                caption { (t!("ui.identity.requests_caption", locale = lang,
                    count = rows.len(), failed = rows.iter().filter(|r| r.failed()).count())) }
                thead { tr {
                    th scope="col" { (t!("ui.identity.when", locale = lang)) }
                    th scope="col" { (t!("ui.identity.token", locale = lang)) }
                    th scope="col" { (t!("ui.identity.request", locale = lang)) }
                    th scope="col" { (t!("ui.identity.outcome", locale = lang)) }
                } }
                tbody { @for r in rows { tr {
                    td { (v.time(r.at)) }
                    td { (token_name(r)) }
                    td { code { (r.method) " " (r.path) } }
                    td {
                        @if r.failed() {
                            span.badge.triggered { (r.status) }
                            " " (r.scim_type.as_deref().unwrap_or("")) " " (r.detail.as_deref().unwrap_or(""))
                        } @else {
                            span.badge.resolved { (r.status) }
                        }
                    }
                } } }
            } }
        }
    }
}

fn scim_table(v: &Visitor, rows: &[AuditEvent]) -> Markup {
    let lang = v.lang;
    html! {
        @if rows.is_empty() {
            p { (t!("ui.identity.scim_none", locale = lang)) }
        } @else {
            div.table-wrap { table.scim {
                caption { (t!("ui.identity.scim_caption", locale = lang, count = rows.len())) }
                thead { tr {
                    th scope="col" { (t!("ui.identity.when", locale = lang)) }
                    th scope="col" { (t!("ui.identity.token", locale = lang)) }
                    th scope="col" { (t!("ui.identity.action", locale = lang)) }
                    th scope="col" { (t!("ui.identity.resource", locale = lang)) }
                    th scope="col" { (t!("ui.identity.outcome", locale = lang)) }
                } }
                tbody { @for e in rows { tr {
                    td { (v.time(e.occurred_at)) }
                    td { (e.actor_name) }
                    td { (e.action) }
                    td { (resource_link(e)) }
                    td { span.badge.resolved { (t!("ui.identity.applied", locale = lang)) } }
                } } }
            } }
        }
    }
}

fn never_or(v: &Visitor, at: Option<NaiveDateTime>) -> String {
    match at {
        Some(t) => v.time(t),
        None => t!("ui.identity.never", locale = v.lang).into_owned(),
    }
}

/// The service and SCIM tokens (personal tokens belong to their holder's profile).
fn token_table(v: &Visitor, all: &[Token]) -> Markup {
    let lang = v.lang;
    let shown: Vec<&Token> = all.iter().filter(|t| t.user_id.is_none()).collect();
    html! {
        @if shown.is_empty() {
            p { (t!("ui.identity.no_tokens", locale = lang)) }
        } @else {
            div.table-wrap { table.tokens {
                caption { (t!("ui.identity.tokens", locale = lang)) }
                thead { tr {
                    th scope="col" { (t!("ui.identity.name", locale = lang)) }
                    th scope="col" { (t!("ui.identity.kind", locale = lang)) }
                    th scope="col" { (t!("ui.identity.role", locale = lang)) }
                    th scope="col" { (t!("ui.identity.hint", locale = lang)) }
                    th scope="col" { (t!("ui.identity.created", locale = lang)) }
                    th scope="col" { (t!("ui.identity.last_used", locale = lang)) }
                    th scope="col" { (t!("ui.identity.state", locale = lang)) }
                } }
                tbody { @for tok in shown { tr {
                    th scope="row" { (tok.name) }
                    td { code { (tok.kind.as_str()) } }
                    td { @match tok.role { Some(r) => code { (r.as_str()) }, None => "—" } }
                    td { code { (tok.hint) } }
                    td { (v.time(tok.created_at)) }
                    td.last-used { (never_or(v, tok.last_used_at)) }
                    td {
                        @if let Some(at) = tok.revoked_at {
                            (t!("ui.identity.revoked", locale = lang, at = v.time(at)))
                        } @else if v.caller.may_manage_token(token_grant(tok)).is_ok() {
                            form.inline method="post" action="/identity/tokens/revoke" {
                                (v.csrf())
                                input type="hidden" name="name" value=(tok.name);
                                button.secondary type="submit" {
                                    (t!("ui.identity.revoke", locale = lang))
                                    span.sr-only { " " (tok.name) }
                                }
                            }
                        } @else {
                            (t!("ui.identity.live", locale = lang))
                        }
                    }
                } } }
            } }
        }
    }
}

/// What a token acts with, as the policies ask it: a SCIM token provisions anyone.
fn token_grant(t: &Token) -> Option<Role> {
    match t.kind {
        TokenKind::Scim => None,
        TokenKind::Api => Some(t.role.unwrap_or(Role::Owner)),
    }
}

fn token_form(v: &Visitor, outcome: &Outcome) -> Markup {
    let lang = v.lang;
    let r = &outcome.refused;
    let typed = &outcome.typed;
    let kind = typed.kind.as_deref().unwrap_or("scim");
    let role = typed.role.as_deref().unwrap_or("");
    html! {
        (r.summary(lang))
        form.stack method="post" action="/identity/tokens" {
            (v.csrf())
            div {
                label for="kind" { (t!("ui.identity.kind", locale = lang)) }
                select #kind name="kind" aria-invalid=[r.invalid("kind")] {
                    option value="scim" selected[kind == "scim"] { (t!("ui.identity.kind_scim", locale = lang)) }
                    option value="api" selected[kind == "api"] { (t!("ui.identity.kind_api", locale = lang)) }
                }
                (r.under("kind"))
            }
            (text_field("name", &t!("ui.identity.name", locale = lang), "text",
                typed.name.as_deref().unwrap_or(""), r))
            div {
                label for="role" { (t!("ui.identity.role_for_api", locale = lang)) }
                select #role name="role" aria-invalid=[r.invalid("role")]
                    aria-describedby=[r.fields.contains_key("role").then_some("role-error")] {
                    option value="" selected[role.is_empty()] { "—" }
                    @for each in Role::ALL {
                        option value=(each.as_str()) selected[role == each.as_str()] { (each.as_str()) }
                    }
                }
                (r.under("role"))
            }
            div { button type="submit" { (t!("ui.identity.create", locale = lang)) } }
        }
    }
}

async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<TokenForm>>,
) -> PageResult {
    let form = form.map(|f| f.into_inner()).unwrap_or_default();
    let v = admin(&req, &state).await?;
    v.check_form(&req, form.csrf_token.as_deref(), &state)?;
    let lang = v.lang;
    let refuse = |refused: Refused, typed: TokenForm| Outcome {
        secret: None,
        refused,
        typed,
    };
    let Some(kind) = form.kind.as_deref().and_then(TokenKind::parse) else {
        let why = t!("ui.identity.kind_unknown", locale = lang);
        return show(&state, &v, refuse(Refused::field("kind", why), form)).await;
    };
    let role = match (kind, form.role.as_deref().unwrap_or("")) {
        (TokenKind::Scim, _) => None,
        (TokenKind::Api, raw) => match Role::parse(raw) {
            Some(role) => Some(role),
            None => {
                let why = t!("ui.identity.role_needed", locale = lang);
                return show(&state, &v, refuse(Refused::field("role", why), form)).await;
            }
        },
    };
    v.caller.may_manage_token(role)?;
    let name = form.name.clone().unwrap_or_default();
    let ctx = v.caller.audit();
    let issued = {
        let name = name.clone();
        state
            .db
            .run(move |conn| tokens::issue(conn, &ctx, kind, &name, Holder::Role(role)))
            .await
    };
    match issued {
        Ok(secret) => {
            let outcome = Outcome {
                secret: Some((name.trim().to_owned(), secret)),
                ..Outcome::default()
            };
            show(&state, &v, outcome).await
        }
        Err(e) => {
            let refused = Refused::from(e, &[("name", "name")])?;
            show(&state, &v, refuse(refused, form)).await
        }
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf_token: Option<String>,
    name: Option<String>,
}

async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<RevokeForm>>,
) -> PageResult {
    let form = form.map(|f| f.into_inner());
    let v = admin(&req, &state).await?;
    v.check_form(
        &req,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
        &state,
    )?;
    let name = form.and_then(|f| f.name).unwrap_or_default();
    let live = {
        let name = name.clone();
        state
            .db
            .run(move |conn| {
                Ok(tokens::list(conn)?
                    .into_iter()
                    .find(|t| t.name == name && t.revoked_at.is_none() && t.user_id.is_none()))
            })
            .await?
    };
    let token = live.ok_or_else(|| AppError::not_found("live token", &name))?;
    v.caller.may_manage_token(token_grant(&token))?;
    let ctx = v.caller.audit();
    state
        .db
        .run(move |conn| tokens::revoke_audited(conn, &ctx, tokens::Which::Id(&token.id)))
        .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/identity#tokens"))
        .finish())
}

/// The sign-in configuration checked against the provider now.
async fn sign_in_check(req: HttpRequest, state: web::Data<AppState>) -> PageResult {
    let v = admin(&req, &state).await?;
    let lang = v.lang;
    let checks = match &state.sign_in.provider {
        Some(p) => Some(p.check().await),
        None => None,
    };
    let body = html! {
        p { a href="/identity" { (t!("ui.identity.back", locale = lang)) } }
        @match &checks {
            None => p.notice { (t!("ui.identity.no_provider", locale = lang)) },
            Some(checks) => {
                @let failed = checks.iter().filter(|c| !c.passed).count();
                p.lead role="status" {
                    @if failed == 0 { (t!("ui.identity.all_passed", locale = lang)) }
                    @else { (t!("ui.identity.some_failed", locale = lang, count = failed)) }
                }
                div.table-wrap { table.checks {
                    caption { (t!("ui.identity.check_title", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.identity.check", locale = lang)) }
                        th scope="col" { (t!("ui.identity.outcome", locale = lang)) }
                        th scope="col" { (t!("ui.identity.reason", locale = lang)) }
                    } }
                    tbody { @for c in checks {
                        tr id=(format!("check-{}", c.name.as_str())) {
                            th scope="row" { (check_name(c.name, lang)) }
                            td {
                                @if c.passed { span.badge.resolved { (t!("ui.identity.passed", locale = lang)) } }
                                @else { span.badge.triggered { (t!("ui.identity.failed", locale = lang)) } }
                            }
                            td { (finding(&c.finding, lang)) }
                        }
                    } }
                } }
            }
        }
    };
    let title = t!("ui.identity.check_title", locale = lang);
    Ok(shell::ok(&v, "/identity", &title, body))
}

/// What a check found, in the visitor's words; the HTTP client's own error is English.
fn finding(f: &Finding, lang: &str) -> Markup {
    let error = |e: &str| html! { " " span lang="en" { (e) } };
    match f {
        Finding::IssuerNotUrl { issuer, error: e } => html! {
            (t!("ui.identity.found_issuer_not_url", locale = lang, issuer = issuer)) (error(e))
        },
        Finding::DiscoveryUnread { url, error: e } => html! {
            (t!("ui.identity.found_discovery_unread", locale = lang, url = url)) (error(e))
        },
        Finding::Discovered {
            issuer,
            authorization,
        } => {
            html! { (t!("ui.identity.found_discovered", locale = lang, issuer = issuer, authorization = authorization)) }
        }
        Finding::Keys { count, from } => {
            html! { (t!("ui.identity.found_keys", locale = lang, count = count, from = from)) }
        }
        Finding::KeysNotFetched => {
            html! { (t!("ui.identity.found_keys_not_fetched", locale = lang)) }
        }
        Finding::Redirect { uri } => {
            html! { (t!("ui.identity.found_redirect", locale = lang, uri = uri)) }
        }
        Finding::RedirectNotHttps { uri } => {
            html! { (t!("ui.identity.found_redirect_not_https", locale = lang, uri = uri)) }
        }
        Finding::NoTenant => html! { (t!("ui.identity.found_no_tenant", locale = lang)) },
        Finding::TenantNotAllowed { named, allowed } => html! {
            (t!("ui.identity.found_tenant_not_allowed", locale = lang, named = named, allowed = allowed))
        },
        Finding::TenantsAllowed { allowed } => {
            html! { (t!("ui.identity.found_tenants_allowed", locale = lang, allowed = allowed)) }
        }
    }
}

fn check_name(name: CheckName, lang: &str) -> String {
    match name {
        CheckName::Issuer => t!("ui.identity.check_issuer", locale = lang),
        CheckName::Keys => t!("ui.identity.check_keys", locale = lang),
        CheckName::RedirectUri => t!("ui.identity.check_redirect_uri", locale = lang),
        CheckName::Tenant => t!("ui.identity.check_tenant", locale = lang),
    }
    .into_owned()
}

/// The audit log's filters as the form sends them (every field text, so nothing fails to
/// parse before it can be shown back).
#[derive(Deserialize, Default, Clone)]
struct AuditFilters {
    actor_type: Option<String>,
    actor_id: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The start of `day` (`YYYY-MM-DD`) in `zone`, as stored (UTC).
fn day_start(day: &str, zone: &str, days_after: i64) -> Option<NaiveDateTime> {
    let date = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()?
        .checked_add_signed(chrono::Duration::days(days_after))?;
    let civil = jiff::civil::date(
        i16::try_from(chrono::Datelike::year(&date)).ok()?,
        i8::try_from(chrono::Datelike::month(&date)).ok()?,
        i8::try_from(chrono::Datelike::day(&date)).ok()?,
    );
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = local_time::start(&tz, civil.to_datetime(jiff::civil::Time::midnight()));
    chrono::DateTime::from_timestamp_micros(at.as_microsecond()).map(|t| t.naive_utc())
}

/// The store's query for the filters, or the field that is wrong and why.
fn audit_query(f: &AuditFilters, v: &Visitor) -> Result<AuditQuery, (&'static str, String)> {
    let lang = v.lang;
    let actor_type = given(&f.actor_type)
        .map(|t| {
            ActorKind::parse(t).ok_or((
                "actor_type",
                t!("ui.identity.bad_actor_type", locale = lang).into_owned(),
            ))
        })
        .transpose()?;
    let day = |key: &'static str, raw: Option<&str>, after: i64| {
        raw.map(|d| {
            day_start(d, &v.zone, after)
                .ok_or((key, t!("ui.identity.bad_day", locale = lang).into_owned()))
        })
        .transpose()
    };
    let since = day("since", given(&f.since), 0)?;
    let until = day("until", given(&f.until), 1)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err((
            "until",
            t!("ui.identity.bad_range", locale = lang).into_owned(),
        ));
    }
    Ok(AuditQuery {
        since,
        until,
        actor_type,
        actor_id: given(&f.actor_id).map(str::to_owned),
        target_types: given(&f.resource_type)
            .map(|t| vec![t.to_owned()])
            .unwrap_or_default(),
        target_id: given(&f.resource_id).map(str::to_owned),
        actions: given(&f.action)
            .map(|a| vec![a.to_owned()])
            .unwrap_or_default(),
    })
}

/// The filters as a query string, with `more` added (for links that narrow or page).
fn filter_link(f: &AuditFilters, more: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("actor_type", &f.actor_type),
        ("actor_id", &f.actor_id),
        ("action", &f.action),
        ("resource_type", &f.resource_type),
        ("resource_id", &f.resource_id),
        ("since", &f.since),
        ("until", &f.until),
    ] {
        if more.iter().any(|(k, _)| *k == key) {
            continue;
        }
        if let Some(v) = given(value) {
            out.append_pair(key, v);
        }
    }
    for (k, v) in more {
        out.append_pair(k, v);
    }
    format!("/identity/audit?{}", out.finish())
}

/// The page a record's resource is shown on, if it has one.
fn resource_page(e: &AuditEvent) -> Option<String> {
    let id = &e.target_id;
    match e.target_type.as_str() {
        "user" => Some(format!("/users/{id}")),
        "team" => Some(format!("/teams/{id}")),
        "schedule" => Some(format!("/schedules/{id}")),
        "escalation_policy" => Some(format!("/escalation_policies/{id}")),
        "service" => Some(format!("/services/{id}")),
        "incident" => Some(format!("/incidents/{id}")),
        "license" => Some("/seats".into()),
        "token" => Some("/identity#tokens".into()),
        _ => None,
    }
}

fn resource_link(e: &AuditEvent) -> Markup {
    html! {
        span.muted { (e.target_type) " " }
        @match resource_page(e) {
            Some(href) => a href=(href) { (e.target_name) },
            None => (e.target_name),
        }
    }
}

async fn audit_log(
    req: HttpRequest,
    state: web::Data<AppState>,
    filters: web::Query<AuditFilters>,
) -> PageResult {
    let v = admin(&req, &state).await?;
    let f = filters.into_inner();
    let lang = v.lang;
    let mut refused = Refused::default();
    let query = audit_query(&f, &v).unwrap_or_else(|(field, why)| {
        refused = Refused::field(field, why);
        AuditQuery::default()
    });
    let cursor = match given(&f.cursor) {
        None => None,
        Some(c) => match Cursor::decode(c) {
            Some(c) => Some(c),
            None => {
                refused
                    .general
                    .push(t!("ui.identity.bad_cursor", locale = lang).into_owned());
                None
            }
        },
    };
    let (rows, next) = if refused.is_empty() {
        state
            .db
            .run(move |conn| audit::list(conn, &query, AUDIT_PAGE, cursor.as_ref()))
            .await?
    } else {
        (Vec::new(), None)
    };
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = audit_body(&v, &f, &refused, &rows, next);
    let title = t!("ui.identity.audit_title", locale = lang);
    Ok(shell::page(&v, status, "/identity", &title, body))
}

fn audit_body(
    v: &Visitor,
    f: &AuditFilters,
    r: &Refused,
    rows: &[AuditEvent],
    next: Option<Cursor>,
) -> Markup {
    let lang = v.lang;
    let actor_type = given(&f.actor_type).unwrap_or("");
    let kinds = [
        ActorKind::User,
        ActorKind::ApiToken,
        ActorKind::ScimToken,
        ActorKind::Cli,
        ActorKind::Job,
    ];
    let text = |name: &str, key: &str, value: &Option<String>, kind: &str| {
        text_field(
            name,
            &t!(key, locale = lang),
            kind,
            value.as_deref().unwrap_or(""),
            r,
        )
    };
    html! {
        p { a href="/identity" { (t!("ui.identity.back", locale = lang)) } }
        (r.summary(lang))
        form.filters method="get" action="/identity/audit" {
            div {
                label for="actor_type" { (t!("ui.identity.actor_type", locale = lang)) }
                select #actor_type name="actor_type" aria-invalid=[r.invalid("actor_type")] {
                    option value="" selected[actor_type.is_empty()] { (t!("ui.identity.any", locale = lang)) }
                    @for k in kinds {
                        option value=(k.as_str()) selected[actor_type == k.as_str()] { (k.as_str()) }
                    }
                }
                (r.under("actor_type"))
            }
            (text("actor_id", "ui.identity.actor_id", &f.actor_id, "text"))
            (text("action", "ui.identity.action", &f.action, "text"))
            (text("resource_type", "ui.identity.resource_type", &f.resource_type, "text"))
            (text("resource_id", "ui.identity.resource_id", &f.resource_id, "text"))
            (text("since", "ui.identity.since", &f.since, "date"))
            (text("until", "ui.identity.until", &f.until, "date"))
            div { button type="submit" { (t!("ui.identity.filter", locale = lang)) } }
            div { a href="/identity/audit" { (t!("ui.identity.clear", locale = lang)) } }
        }
        @if rows.is_empty() {
            p { (t!("ui.identity.audit_none", locale = lang)) }
        } @else {
            div.table-wrap { table.audit {
                caption { (t!("ui.identity.audit_caption", locale = lang, zone = v.zone)) }
                thead { tr {
                    th scope="col" { (t!("ui.identity.when", locale = lang)) }
                    th scope="col" { (t!("ui.identity.actor", locale = lang)) }
                    th scope="col" { (t!("ui.identity.action", locale = lang)) }
                    th scope="col" { (t!("ui.identity.resource", locale = lang)) }
                    th scope="col" { (t!("ui.identity.changed", locale = lang)) }
                } }
                tbody { @for e in rows {
                    @let before = e.before_state.as_deref().and_then(|s| serde_json::from_str(s).ok());
                    @let after = e.after_state.as_deref().and_then(|s| serde_json::from_str(s).ok());
                    tr.record {
                        td { (v.time(e.occurred_at)) }
                        td {
                            @match &e.actor_id {
                                Some(id) => a href=(filter_link(f, &[("actor_id", id)])) { (e.actor_name) },
                                None => (e.actor_name),
                            }
                            br; code.muted { (e.actor_type.as_str()) }
                        }
                        td.action { code { a href=(filter_link(f, &[("action", &e.action)])) { (e.action) } } }
                        td {
                            (resource_link(e))
                            " "
                            a.muted href=(filter_link(f, &[("resource_type", &e.target_type), ("resource_id", &e.target_id)])) {
                                (t!("ui.identity.its_records", locale = lang))
                            }
                        }
                        td { code { (changed_fields(before.as_ref(), after.as_ref()).iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")) } }
                    }
                } }
            } }
        }
        @if let Some(next) = next {
            p { a rel="next" href=(filter_link(f, &[("cursor", &next.encode())])) { (t!("ui.identity.older", locale = lang)) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_local_midnight() {
        let utc = day_start("2026-01-05", "UTC", 0).unwrap();
        assert_eq!(utc.to_string(), "2026-01-05 00:00:00");
        let tokyo = day_start("2026-01-05", "Asia/Tokyo", 0).unwrap();
        assert_eq!(tokyo.to_string(), "2026-01-04 15:00:00");
        assert_eq!(
            day_start("2026-01-05", "UTC", 1).unwrap().to_string(),
            "2026-01-06 00:00:00"
        );
        assert!(day_start("yesterday", "UTC", 0).is_none());
    }
}
