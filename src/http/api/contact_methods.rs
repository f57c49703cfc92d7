//! `/api/v2/users/{id}/contact_methods` and `/notification_rules` in PagerDuty's shapes: a
//! person's ways to be reached and when each is used. `{id}` may be `me`. Addresses are
//! checked by kind (`domain::contact`): phone numbers become E.164 (from either PagerDuty's
//! split form or a `+` number), webhooks are https. Reading someone's addresses is managing
//! them (`ManageContactMethods`): a phone number is not directory information.
//! `…/contact_methods/{id}/test` (a Rota extension) queues a test notification.

use super::{ApiCaller, ApiResult, Links, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::contact::{self, ContactKind, ContactSource};
use crate::domain::ids::{ContactMethodId, NotificationRuleId, UserId};
use crate::domain::service::Urgency;
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::contact_methods::{ContactMethod, NotificationRule};
use crate::store::contact_tests::ContactTest;
use crate::store::users::User;
use crate::use_cases::contact_methods::{self as cases, Draft, RuleDraft};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/users/{id}/contact_methods")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/users/{id}/contact_methods/{contact_method_id}")
            .route(web::get().to(show))
            .route(web::put().to(update))
            .route(web::delete().to(remove)),
    )
    .service(
        resource("/users/{id}/contact_methods/{contact_method_id}/test")
            .route(web::post().to(test)),
    )
    .service(
        resource("/users/{id}/notification_rules")
            .route(web::get().to(list_rules))
            .route(web::post().to(create_rule)),
    )
    .service(
        resource("/users/{id}/notification_rules/{notification_rule_id}")
            .route(web::get().to(show_rule))
            .route(web::put().to(update_rule))
            .route(web::delete().to(remove_rule)),
    );
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactMethodFields {
    /// `email_contact_method`, `phone_contact_method` or `webhook_contact_method` (Rota's:
    /// an https URL that is POSTed the notification).
    #[serde(rename = "type")]
    #[schema(example = "phone_contact_method")]
    pub kind: Option<String>,
    #[schema(example = "Mobile")]
    pub label: Option<String>,
    /// An e-mail address, a phone number (E.164 such as `+14255550100`, or the national
    /// number with `country_code`), or an https URL.
    #[schema(example = "+14255550100")]
    pub address: Option<String>,
    /// For phone numbers in PagerDuty's split form: the country calling code (1–1999).
    pub country_code: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactMethodRequest {
    pub contact_method: ContactMethodFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMethodObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "phone_contact_method")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: Option<String>,
    pub label: String,
    /// As stored: phone numbers in E.164.
    pub address: String,
    /// When the number was sent in PagerDuty's split form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<i32>,
    /// `scim`: follows the directory (Entra, or the user's e-mail), changed there; `user`:
    /// made through this API, never touched by SCIM.
    #[schema(example = "user")]
    pub source: ContactSource,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Webhooks only, and only in the answer that creates one: the secret its deliveries
    /// are signed with (`X-Rota-Signature: v1=<hex HMAC-SHA256 of the body>`). Keep it;
    /// it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_3f1c…")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMethodResponse {
    pub contact_method: ContactMethodObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMethodList {
    pub contact_methods: Vec<ContactMethodObject>,
}

/// A test notification just queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMethodTestObject {
    pub id: String,
    /// The contact method tested.
    pub contact_method: Reference,
    /// Where the test goes, as stored.
    pub address: String,
    /// `queued`: in the e-mail outbox (e-mail) or the notification dispatcher's (phone,
    /// webhook), which send it within seconds, retrying as they retry pages.
    #[schema(example = "queued")]
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    /// The earliest time this contact method may be tested again.
    pub next_test_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactMethodTestResponse {
    pub contact_method_test: ContactMethodTestObject,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ContactMethodRef {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NotificationRuleFields {
    /// `assignment_notification_rule`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 0 to 1440.
    pub start_delay_in_minutes: Option<i64>,
    pub contact_method: Option<ContactMethodRef>,
    /// `high` or `low`.
    #[schema(example = "high")]
    pub urgency: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NotificationRuleRequest {
    pub notification_rule: NotificationRuleFields,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRuleObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "assignment_notification_rule")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: Option<String>,
    pub start_delay_in_minutes: i32,
    pub contact_method: Reference,
    pub urgency: Urgency,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRuleResponse {
    pub notification_rule: NotificationRuleObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationRuleList {
    pub notification_rules: Vec<NotificationRuleObject>,
}

/// The person a path names: an id, or `me` for the caller.
pub(crate) fn person(caller: &ApiCaller, raw: String) -> AppResult<UserId> {
    if raw != "me" {
        return Ok(UserId(raw));
    }
    caller.user_id().cloned().ok_or_else(|| {
        AppError::invalid(
            "id",
            "is me, but a service token is nobody: name the user by id, or use a personal token",
        )
    })
}

/// The person and the contact method a `…/contact_methods/{contact_method_id}` path names.
fn method_path(
    caller: &ApiCaller,
    path: web::Path<(String, String)>,
) -> AppResult<(UserId, ContactMethodId)> {
    let (user, method) = path.into_inner();
    Ok((person(caller, user)?, ContactMethodId(method)))
}

/// The check a use case runs on the person as stored: themselves, or an owner or admin.
pub(crate) fn may_manage(caller: &ApiCaller) -> impl FnOnce(&User) -> AppResult<()> + '_ {
    move |user| {
        caller.may(
            Action::ManageContactMethods,
            &Resource::User {
                id: user.id.clone(),
                role: user.role,
            },
            "see or change this user's contact methods and notification rules",
        )
    }
}

fn methods_of(user: &UserId) -> String {
    format!("users/{user}/contact_methods")
}

fn rules_of(user: &UserId) -> String {
    format!("users/{user}/notification_rules")
}

fn render(base: &str, m: &ContactMethod) -> ContactMethodObject {
    ContactMethodObject {
        id: m.id.to_string(),
        kind: m.kind.pd_type(),
        summary: m.label.clone(),
        self_url: Links(base).api(&methods_of(&m.user_id), m.id.as_str()),
        html_url: None,
        label: m.label.clone(),
        address: m.address.clone(),
        country_code: m.country_code,
        source: m.source,
        created_at: m.created_at.and_utc(),
        updated_at: m.updated_at.and_utc(),
        secret: None,
    }
}

fn method_reference(links: &Links<'_>, m: &ContactMethod) -> Reference {
    Reference {
        html_url: None,
        ..links.reference(
            &methods_of(&m.user_id),
            m.kind.pd_reference_type(),
            m.id.as_str(),
            &m.label,
        )
    }
}

fn render_test(base: &str, t: &ContactTest, m: &ContactMethod) -> ContactMethodTestObject {
    ContactMethodTestObject {
        id: t.id.to_string(),
        contact_method: method_reference(&Links(base), m),
        address: t.address.clone(),
        status: "queued",
        created_at: t.created_at.and_utc(),
        next_test_at: t.created_at.and_utc()
            + chrono::Duration::seconds(crate::domain::contact_test::COOLDOWN_SECONDS),
    }
}

/// Wakes what sends a test just queued (after its commit): the e-mail delivery or the
/// notification dispatcher.
pub(crate) fn wake(state: &AppState, test: &ContactTest) {
    match test.channel {
        ContactKind::Email => state.email_delivery.poke(),
        ContactKind::Phone | ContactKind::Webhook => state.notifications.poke(),
    }
}

fn render_rule(base: &str, r: &NotificationRule, m: &ContactMethod) -> NotificationRuleObject {
    let links = Links(base);
    NotificationRuleObject {
        id: r.id.to_string(),
        kind: contact::RULE_TYPE,
        summary: format!(
            "{} urgency, {} after {} minutes",
            r.urgency.as_str(),
            m.label,
            r.start_delay_in_minutes
        ),
        self_url: links.api(&rules_of(&r.user_id), r.id.as_str()),
        html_url: None,
        start_delay_in_minutes: r.start_delay_in_minutes,
        contact_method: method_reference(&links, m),
        urgency: r.urgency,
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    }
}

/// A contact method as sent, checked by kind; errors name the field.
pub(crate) fn draft(fields: ContactMethodFields) -> AppResult<Draft> {
    let sent = fields.kind.as_deref().unwrap_or("");
    let kind = ContactKind::from_pd_type(sent).ok_or_else(|| {
        AppError::invalid(
            "contact_method.type",
            format!(
                "is '{sent}': email_contact_method, phone_contact_method or webhook_contact_method"
            ),
        )
    })?;
    let label = contact::label(fields.label.as_deref().unwrap_or(""))
        .invalid_field("contact_method.label")?;
    let country_code = match (kind, fields.country_code) {
        (ContactKind::Phone, code) => code,
        (_, None) => None,
        (_, Some(_)) => {
            return Err(AppError::invalid(
                "contact_method.country_code",
                "is only for phone contact methods",
            ));
        }
    };
    if let Some(code) = country_code
        && !(1..=1999).contains(&code)
    {
        return Err(AppError::invalid(
            "contact_method.country_code",
            format!("is {code}: from 1 to 1999"),
        ));
    }
    let address = contact::address(kind, fields.address.as_deref().unwrap_or(""), country_code)
        .invalid_field("contact_method.address")?;
    Ok(Draft {
        kind,
        label,
        address,
        country_code: country_code.map(|c| c as i32),
    })
}

fn urgency(raw: &str, field: &str) -> AppResult<Urgency> {
    Urgency::parse(raw).ok_or_else(|| AppError::invalid(field, format!("is '{raw}': high or low")))
}

pub(crate) fn rule_draft(fields: NotificationRuleFields) -> AppResult<RuleDraft> {
    if let Some(kind) = fields.kind.as_deref()
        && kind != contact::RULE_TYPE
    {
        return Err(AppError::invalid(
            "notification_rule.type",
            format!("is '{kind}': {}", contact::RULE_TYPE),
        ));
    }
    let method = fields.contact_method.and_then(|m| m.id).ok_or_else(|| {
        AppError::invalid("notification_rule.contact_method.id", "can't be blank")
    })?;
    let start_delay_in_minutes = contact::start_delay(fields.start_delay_in_minutes.unwrap_or(0))
        .invalid_field("notification_rule.start_delay_in_minutes")?;
    Ok(RuleDraft {
        contact_method: ContactMethodId(method),
        urgency: urgency(
            fields.urgency.as_deref().unwrap_or(""),
            "notification_rule.urgency",
        )?,
        start_delay_in_minutes,
    })
}

/// List a user's contact methods
///
/// `{id}` may be `me`. The person themselves, owners and admins.
#[utoipa::path(get, path = "/api/v2/users/{id}/contact_methods", tag = "Users", params(("id" = String, Path)),
    responses((status = 200, body = ContactMethodList), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let user = person(&caller, id.into_inner())?;
    let methods = state
        .db
        .run(move |conn| cases::list(conn, &user, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::Ok().json(ContactMethodList {
        contact_methods: methods
            .iter()
            .map(|m| render(&state.public_url, m))
            .collect(),
    }))
}

/// Create a contact method
///
/// Phone numbers: E.164 (`+14255550100`, formatting ignored) or PagerDuty's `country_code`
/// with the national number. Webhooks: https URLs; the answer carries the `secret` that
/// signs their deliveries, once.
#[utoipa::path(post, path = "/api/v2/users/{id}/contact_methods", tag = "Users", params(("id" = String, Path)), request_body = ContactMethodRequest,
    responses((status = 201, body = ContactMethodResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<ContactMethodRequest>,
) -> ApiResult<HttpResponse> {
    let user = person(&caller, id.into_inner())?;
    let draft = draft(body.into_inner().contact_method)?;
    let ctx = caller.audit();
    let (method, secret) = state
        .db
        .run(move |conn| cases::create(conn, &ctx, &user, draft, may_manage(&caller)))
        .await?;
    let contact_method = ContactMethodObject {
        secret,
        ..render(&state.public_url, &method)
    };
    Ok(HttpResponse::Created()
        .insert_header(("Location", contact_method.self_url.clone()))
        .json(ContactMethodResponse { contact_method }))
}

/// Get a contact method
#[utoipa::path(get, path = "/api/v2/users/{id}/contact_methods/{contact_method_id}", tag = "Users",
    params(("id" = String, Path), ("contact_method_id" = String, Path)),
    responses((status = 200, body = ContactMethodResponse), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (user, method) = method_path(&caller, path)?;
    let method = state
        .db
        .run(move |conn| cases::show(conn, &user, &method, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::Ok().json(ContactMethodResponse {
        contact_method: render(&state.public_url, &method),
    }))
}

/// Update a contact method
///
/// Only the person's own (`source` `user`): those that follow the directory change there.
/// The type stays.
#[utoipa::path(put, path = "/api/v2/users/{id}/contact_methods/{contact_method_id}", tag = "Users",
    params(("id" = String, Path), ("contact_method_id" = String, Path)), request_body = ContactMethodRequest,
    responses((status = 200, body = ContactMethodResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<ContactMethodRequest>,
) -> ApiResult<HttpResponse> {
    let (user, method) = method_path(&caller, path)?;
    let draft = draft(body.into_inner().contact_method)?;
    let ctx = caller.audit();
    let method = state
        .db
        .run(move |conn| cases::update(conn, &ctx, &user, &method, draft, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::Ok().json(ContactMethodResponse {
        contact_method: render(&state.public_url, &method),
    }))
}

/// Delete a contact method
///
/// Its notification rules go with it.
#[utoipa::path(delete, path = "/api/v2/users/{id}/contact_methods/{contact_method_id}", tag = "Users",
    params(("id" = String, Path), ("contact_method_id" = String, Path)),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (user, method) = method_path(&caller, path)?;
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| cases::delete(conn, &ctx, &user, &method, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Send a test notification to a contact method
///
/// A Rota extension. Queues a test through the method's real delivery: an e-mail through
/// the e-mail outbox, a call through Twilio (it says it is a test and hangs up), or a signed
/// POST of a `pagey.ping` event to a webhook. No incident is opened and nothing about the
/// method changes, so directory-made methods can be tested too. At most one test per method
/// a minute: 429 with `Retry-After` until then. The person themselves, owners and admins.
#[utoipa::path(post, path = "/api/v2/users/{id}/contact_methods/{contact_method_id}/test", tag = "Users",
    params(("id" = String, Path), ("contact_method_id" = String, Path)),
    responses((status = 202, body = ContactMethodTestResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody),
        (status = 429, body = super::ErrorBody, description = "This method was tested less than a minute ago; Retry-After says when")), security(("api_token" = [])))]
pub async fn test(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (user, method) = method_path(&caller, path)?;
    let ctx = caller.audit();
    let (test, method) = state
        .db
        .run(move |conn| cases::test(conn, &ctx, &user, &method, may_manage(&caller)))
        .await?;
    wake(&state, &test);
    Ok(HttpResponse::Accepted().json(ContactMethodTestResponse {
        contact_method_test: render_test(&state.public_url, &test, &method),
    }))
}

/// List a user's notification rules
///
/// `urgency`: `high`, `low` or `any` (the default). Ordered by urgency, delay, then id.
#[utoipa::path(get, path = "/api/v2/users/{id}/notification_rules", tag = "Users",
    params(("id" = String, Path), ("urgency" = Option<String>, Query, description = "high, low or any")),
    responses((status = 200, body = NotificationRuleList), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list_rules(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    params: Params,
) -> ApiResult<HttpResponse> {
    let user = person(&caller, id.into_inner())?;
    let wanted =
        match params.one("urgency") {
            None | Some("any") => None,
            Some(raw) => Some(urgency(raw, "urgency").map_err(|_| {
                AppError::invalid("urgency", format!("is '{raw}': high, low or any"))
            })?),
        };
    let (rules, methods) = state
        .db
        .run(move |conn| cases::rules(conn, &user, wanted, may_manage(&caller)))
        .await?;
    let by_id: HashMap<&ContactMethodId, &ContactMethod> =
        methods.iter().map(|m| (&m.id, m)).collect();
    Ok(HttpResponse::Ok().json(NotificationRuleList {
        notification_rules: rules
            .iter()
            .filter_map(|r| {
                let m = by_id.get(&r.contact_method_id)?;
                Some(render_rule(&state.public_url, r, m))
            })
            .collect(),
    }))
}

/// Create a notification rule
///
/// Its `contact_method` must be one of the same user's.
#[utoipa::path(post, path = "/api/v2/users/{id}/notification_rules", tag = "Users", params(("id" = String, Path)), request_body = NotificationRuleRequest,
    responses((status = 201, body = NotificationRuleResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create_rule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<NotificationRuleRequest>,
) -> ApiResult<HttpResponse> {
    let user = person(&caller, id.into_inner())?;
    let draft = rule_draft(body.into_inner().notification_rule)?;
    let ctx = caller.audit();
    let (rule, method) = state
        .db
        .run(move |conn| cases::create_rule(conn, &ctx, &user, draft, may_manage(&caller)))
        .await?;
    let notification_rule = render_rule(&state.public_url, &rule, &method);
    Ok(HttpResponse::Created()
        .insert_header(("Location", notification_rule.self_url.clone()))
        .json(NotificationRuleResponse { notification_rule }))
}

/// Get a notification rule
#[utoipa::path(get, path = "/api/v2/users/{id}/notification_rules/{notification_rule_id}", tag = "Users",
    params(("id" = String, Path), ("notification_rule_id" = String, Path)),
    responses((status = 200, body = NotificationRuleResponse), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn show_rule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (user, rule) = path.into_inner();
    let user = person(&caller, user)?;
    let rule = NotificationRuleId(rule);
    let (rule, method) = state
        .db
        .run(move |conn| cases::show_rule(conn, &user, &rule, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::Ok().json(NotificationRuleResponse {
        notification_rule: render_rule(&state.public_url, &rule, &method),
    }))
}

/// Update a notification rule
#[utoipa::path(put, path = "/api/v2/users/{id}/notification_rules/{notification_rule_id}", tag = "Users",
    params(("id" = String, Path), ("notification_rule_id" = String, Path)), request_body = NotificationRuleRequest,
    responses((status = 200, body = NotificationRuleResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 409, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn update_rule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
    body: web::Json<NotificationRuleRequest>,
) -> ApiResult<HttpResponse> {
    let (user, rule) = path.into_inner();
    let user = person(&caller, user)?;
    let rule = NotificationRuleId(rule);
    let draft = rule_draft(body.into_inner().notification_rule)?;
    let ctx = caller.audit();
    let (rule, method) = state
        .db
        .run(move |conn| cases::update_rule(conn, &ctx, &user, &rule, draft, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::Ok().json(NotificationRuleResponse {
        notification_rule: render_rule(&state.public_url, &rule, &method),
    }))
}

/// Delete a notification rule
#[utoipa::path(delete, path = "/api/v2/users/{id}/notification_rules/{notification_rule_id}", tag = "Users",
    params(("id" = String, Path), ("notification_rule_id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove_rule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (user, rule) = path.into_inner();
    let user = person(&caller, user)?;
    let rule = NotificationRuleId(rule);
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| cases::delete_rule(conn, &ctx, &user, &rule, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
