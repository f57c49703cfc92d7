//! `/api/v2/oncalls`: who is on call, per policy and level, PagerDuty's way; and
//! `/api/v2/users/me/oncalls`, My On-Call Shifts.

use super::schedules::written;
use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{EscalationPolicyId, ScheduleId, UserId};
use crate::domain::schedule::input;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::use_cases::oncalls::{self as cases, MAX_WINDOW_DAYS, OnCalls, Query};
use actix_web::{HttpResponse, web};
use jiff::SignedDuration;
use jiff::tz::TimeZone;
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/oncalls").route(web::get().to(list)))
        .service(resource("/users/me/oncalls").route(web::get().to(mine)))
        .service(
            resource("/users/{id}/oncall_notifications")
                .route(web::get().to(notifications))
                .route(web::put().to(set_notifications)),
        );
}

/// What a person hears about their shifts.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct NotificationSettings {
    /// `always`, `if_has_services` (only schedules that page people: an escalation policy
    /// some service uses targets them) or `off`.
    pub handoff: String,
    /// Hours before each shift a reminder goes (1 to 72); null: none.
    pub reminder_hours: Option<i32>,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct NotificationSettingsBody {
    pub oncall_notifications: NotificationSettings,
}

fn settings_body(s: crate::domain::handoff::Settings) -> NotificationSettingsBody {
    NotificationSettingsBody {
        oncall_notifications: NotificationSettings {
            handoff: s.handoff.as_str().to_owned(),
            reminder_hours: s.reminder_hours,
        },
    }
}

/// The person `id` names: `me` is the caller.
fn person_id(caller: &ApiCaller, id: String) -> AppResult<UserId> {
    if id == "me" {
        return caller
            .user_id()
            .cloned()
            .ok_or_else(|| AppError::invalid("id", "an API token is nobody: name the user"));
    }
    Ok(UserId(id))
}

/// The check `set_notification_settings` runs on the person as stored: themselves, or
/// anyone the caller may change (admins, owners).
pub(crate) fn may_change(
    caller: &ApiCaller,
) -> impl FnOnce(&crate::store::users::User) -> AppResult<()> + '_ {
    move |person| {
        caller.may(
            Action::UpdateUser,
            &Resource::User {
                id: person.id.clone(),
                role: person.role,
            },
            "change this person's notifications",
        )
    }
}

/// Get on-call notification settings
#[utoipa::path(get, path = "/api/v2/users/{id}/oncall_notifications", tag = "On-Calls", params(("id" = String, Path, description = "A user id, or me")),
    responses((status = 200, body = NotificationSettingsBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn notifications(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read on-call settings",
    )?;
    let id = person_id(&caller, id.into_inner())?;
    let s = state
        .db
        .run(move |conn| cases::notification_settings(conn, &id))
        .await?;
    Ok(HttpResponse::Ok().json(settings_body(s)))
}

/// Set on-call notification settings
///
/// Hand-off e-mails (`always`, `if_has_services`, `off`) and a reminder N hours before each
/// shift. Yourself, or anyone you may change (admins, owners).
#[utoipa::path(put, path = "/api/v2/users/{id}/oncall_notifications", tag = "On-Calls", params(("id" = String, Path, description = "A user id, or me")),
    request_body = NotificationSettingsBody,
    responses((status = 200, body = NotificationSettingsBody), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn set_notifications(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<NotificationSettingsBody>,
) -> ApiResult<HttpResponse> {
    use crate::domain::handoff::{HandoffSetting, MAX_REMINDER_HOURS, Settings};
    let id = person_id(&caller, id.into_inner())?;
    let sent = body.into_inner().oncall_notifications;
    let handoff = HandoffSetting::parse(&sent.handoff).ok_or_else(|| {
        AppError::invalid(
            "oncall_notifications.handoff",
            format!("is '{}': always, if_has_services or off", sent.handoff),
        )
    })?;
    if let Some(h) = sent.reminder_hours
        && !(1..=MAX_REMINDER_HOURS).contains(&h)
    {
        return Err(AppError::invalid(
            "oncall_notifications.reminder_hours",
            format!("is {h}: from 1 to {MAX_REMINDER_HOURS} hours, or null for none"),
        )
        .into());
    }
    let settings = Settings {
        handoff,
        reminder_hours: sent.reminder_hours,
    };
    let ctx = caller.audit();
    let s = state
        .db
        .run(move |conn| {
            cases::set_notification_settings(conn, &ctx, &id, settings, may_change(&caller))
        })
        .await?;
    Ok(HttpResponse::Ok().json(settings_body(s)))
}

/// A person in an on-call, with `include[]=users`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallUser {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum UserField {
    Reference(Reference),
    User(OnCallUser),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallObject {
    pub escalation_policy: Reference,
    /// 1-based.
    pub escalation_level: usize,
    /// Null for a person targeted directly.
    pub schedule: Option<Reference>,
    pub user: UserField,
    /// Null (with `end`) for a person targeted directly: always on call.
    pub start: Option<String>,
    pub end: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallList {
    pub oncalls: Vec<OnCallObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

fn query(
    params: &Params,
    now: jiff::Timestamp,
) -> AppResult<(Query, jiff::Timestamp, jiff::Timestamp)> {
    let read = |key: &str| {
        params
            .one(key)
            .map(|v| input::instant(key, v).map_err(|i| AppError::invalid(i.field, i.reason)))
            .transpose()
    };
    let since = read("since")?.unwrap_or(now);
    let until = read("until")?.unwrap_or(since);
    if until < since {
        return Err(AppError::invalid("until", "must not be before since"));
    }
    if until.duration_since(since) > SignedDuration::from_hours(24 * MAX_WINDOW_DAYS) {
        return Err(AppError::invalid(
            "until",
            format!("the window from since to until is at most {MAX_WINDOW_DAYS} days"),
        ));
    }
    let q = Query {
        since: Some(since),
        until: Some(until),
        earliest: params.flag("earliest")?,
        user_ids: params.all("user_ids").into_iter().map(UserId).collect(),
        schedule_ids: params
            .all("schedule_ids")
            .into_iter()
            .map(ScheduleId)
            .collect(),
        policy_ids: params
            .all("escalation_policy_ids")
            .into_iter()
            .map(EscalationPolicyId)
            .collect(),
        enough: None,
    };
    Ok((q, since, until))
}

fn zone(params: &Params) -> AppResult<TimeZone> {
    match params.one("time_zone") {
        Some(name) => {
            input::time_zone("time_zone", name).map_err(|i| AppError::invalid(i.field, i.reason))
        }
        None => Ok(TimeZone::UTC),
    }
}

async fn answer(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    me: Option<UserId>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read who is on call",
    )?;
    let now = crate::clock::jiff_now(caller.at);
    let (mut q, since, mut until) = query(&params, now)?;
    if let Some(me) = me {
        // My On-Call Shifts: the next 90 days unless a window is given.
        if params.one("until").is_none() {
            until = since + SignedDuration::from_hours(24 * MAX_WINDOW_DAYS);
        }
        q.user_ids = vec![me];
    }
    let page = params.page()?;
    // Enough rows to fill the page and say whether more follow; all of them for a total.
    q.enough = (!page.want_total)
        .then(|| page.offset.saturating_add(page.limit).saturating_add(1) as usize);
    let tz = zone(&params)?;
    let include_users = params.all("include").iter().any(|i| i == "users");
    let finals = state.finals.clone();
    let found = state
        .db
        .run(move |conn| cases::list(conn, &finals, &q, since, until))
        .await?;
    Ok(HttpResponse::Ok().json(render(&state.public_url, found, &tz, include_users, &page)))
}

fn render(
    base: &str,
    found: OnCalls,
    tz: &TimeZone,
    include_users: bool,
    page: &crate::domain::paging::PageRequest,
) -> OnCallList {
    let links = Links(base);
    let total = found.rows.len() as i64;
    let rows = found
        .rows
        .iter()
        .skip(page.offset as usize)
        .take(page.limit as usize);
    let oncalls = rows
        .map(|r| {
            let policy_name = found
                .policies
                .get(&r.policy)
                .map_or(r.policy.as_str(), |p| p.policy.name.as_str());
            let user_name = found
                .people
                .get(&r.call.user)
                .map_or(r.call.user.as_str(), |p| p.name.as_str());
            let user = if include_users {
                UserField::User(OnCallUser {
                    id: r.call.user.to_string(),
                    kind: "user",
                    summary: user_name.to_owned(),
                    self_url: links.api("users", r.call.user.as_str()),
                    html_url: links.html("users", r.call.user.as_str()),
                    name: user_name.to_owned(),
                    email: found.people.get(&r.call.user).and_then(|p| p.email.clone()),
                })
            } else {
                UserField::Reference(links.reference(
                    "users",
                    "user_reference",
                    r.call.user.as_str(),
                    user_name,
                ))
            };
            OnCallObject {
                escalation_policy: links.reference(
                    "escalation_policies",
                    "escalation_policy_reference",
                    r.policy.as_str(),
                    policy_name,
                ),
                escalation_level: r.call.level,
                schedule: r.call.schedule.as_ref().map(|s| {
                    links.reference(
                        "schedules",
                        "schedule_reference",
                        s.as_str(),
                        found.finals.name(s).unwrap_or(s.as_str()),
                    )
                }),
                user,
                start: r.call.start.map(|t| written(t, tz)),
                end: r.call.end.map(|t| written(t, tz)),
            }
        })
        .collect();
    OnCallList {
        oncalls,
        pagination: Pagination::new(
            page,
            // `rows` holds one past the page when more follow (`Query::enough`).
            page.offset + page.limit < total,
            page.want_total.then_some(total),
        ),
    }
}

/// List on-calls
///
/// One entry per (person, escalation policy, level, schedule) overlapping `[since, until]`
/// (default: now), with the whole shift's `start`/`end` (null for a person targeted
/// directly). The window is at most 90 days. `earliest=true`: only each person's earliest
/// on-call per policy and level. Filters: `user_ids[]`, `schedule_ids[]`,
/// `escalation_policy_ids[]`; `include[]=users`; `time_zone` for the times written.
#[utoipa::path(get, path = "/api/v2/oncalls", tag = "On-Calls",
    params(("since" = Option<String>, Query), ("until" = Option<String>, Query), ("earliest" = Option<bool>, Query), ("time_zone" = Option<String>, Query),
        ("user_ids[]" = Option<Vec<String>>, Query), ("schedule_ids[]" = Option<Vec<String>>, Query), ("escalation_policy_ids[]" = Option<Vec<String>>, Query),
        ("include[]" = Option<Vec<String>>, Query), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query), ("total" = Option<bool>, Query)),
    responses((status = 200, body = OnCallList), (status = 400, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    answer(state, caller, params, None).await
}

/// My on-call shifts
///
/// The caller's on-calls across every policy and schedule, for the next 90 days unless
/// `until` is given.
#[utoipa::path(get, path = "/api/v2/users/me/oncalls", tag = "On-Calls",
    params(("since" = Option<String>, Query), ("until" = Option<String>, Query), ("time_zone" = Option<String>, Query), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = OnCallList), (status = 400, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn mine(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    let me = caller.user_id().cloned().ok_or_else(|| {
        AppError::invalid(
            "user",
            "an API token is nobody: ask /oncalls?user_ids[]= instead",
        )
    })?;
    answer(state, caller, params, Some(me)).await
}
