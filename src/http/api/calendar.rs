//! Calendar feeds over HTTP. The API makes and takes away the secret URLs:
//! `POST`/`DELETE /api/v2/users/me/calendar_feed` (the caller's own shifts) and
//! `POST`/`DELETE /api/v2/schedules/{id}/calendar_feed` (a schedule's). The feed itself,
//! `GET /calendar/<secret>.ics` ([`feed`], wired in `http::routes` beside the other pages
//! outside `/api`), needs no other credentials: the URL is the secret. Calendar clients
//! read no JSON errors, so it answers plain text, and 404 for anything that is not a live
//! feed's URL.

use super::{ApiCaller, ApiResult, resource};
use crate::authz::{Action, Resource};
use crate::domain::calendar;
use crate::domain::ids::{ScheduleId, UserId};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::calendar::Owner;
use crate::store::schedules::Loaded;
use crate::use_cases::calendar::{self as cases, Issued};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/users/me/calendar_feed")
            .route(web::post().to(create_mine))
            .route(web::delete().to(delete_mine)),
    )
    .service(
        resource("/schedules/{id}/calendar_feed")
            .route(web::post().to(create_for_schedule))
            .route(web::delete().to(delete_for_schedule)),
    );
}

/// A calendar feed just made.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedObject {
    /// The secret iCalendar URL to subscribe to from Outlook or Google Calendar. Shown only
    /// now: Rota keeps only a hash. Anyone holding it reads the calendar.
    #[schema(example = "https://rota.example.com/calendar/rota_cal_0123….ics")]
    pub url: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeedResponse {
    pub calendar_feed: CalendarFeedObject,
}

fn me(caller: &ApiCaller) -> AppResult<UserId> {
    caller.user_id().cloned().ok_or_else(|| {
        AppError::invalid(
            "Authorization",
            "is a service token, which is nobody: a personal calendar feed needs a signed-in person or a personal token",
        )
    })
}

/// 403 unless the caller may manage the schedule (a schedule's feed is shared by everyone
/// subscribed to it: making it anew or deleting it ends their subscriptions).
pub(crate) fn may_change(caller: &ApiCaller, loaded: &Loaded) -> AppResult<()> {
    caller.may(
        Action::ManageSchedule,
        &super::schedules::schedule_resource(loaded),
        "change this schedule's calendar feed",
    )
}

async fn issue(state: &AppState, caller: ApiCaller, owner: Owner) -> ApiResult<HttpResponse> {
    let ctx = caller.audit();
    let Issued { secret, created_at } = state
        .db
        .run(move |conn| cases::issue(conn, &ctx, &owner, |s| may_change(&caller, s)))
        .await?;
    Ok(HttpResponse::Created().json(CalendarFeedResponse {
        calendar_feed: CalendarFeedObject {
            url: format!(
                "{}/calendar/{secret}{}",
                state.public_url,
                calendar::FILE_SUFFIX
            ),
            created_at: created_at.and_utc(),
        },
    }))
}

async fn revoke(state: &AppState, caller: ApiCaller, owner: Owner) -> ApiResult<HttpResponse> {
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| cases::revoke(conn, &ctx, &owner, |s| may_change(&caller, s)))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Make my calendar feed
///
/// A secret iCalendar URL of the caller's own on-call shifts in every schedule's final
/// schedule, from 30 days ago to 180 days ahead. Asking again makes a new URL and the old
/// one stops working. Needs a signed-in person or a personal token.
#[utoipa::path(post, path = "/api/v2/users/me/calendar_feed", tag = "Calendar",
    responses((status = 201, body = CalendarFeedResponse), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn create_mine(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read who is on call",
    )?;
    let owner = Owner::Person(me(&caller)?);
    issue(&state, caller, owner).await
}

/// Delete my calendar feed
///
/// Its URL answers 404 from now on. 404 when the caller has no feed.
#[utoipa::path(delete, path = "/api/v2/users/me/calendar_feed", tag = "Calendar",
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn delete_mine(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult<HttpResponse> {
    let owner = Owner::Person(me(&caller)?);
    revoke(&state, caller, owner).await
}

/// Make a schedule's calendar feed
///
/// A secret iCalendar URL of everyone's shifts in the schedule's final schedule, from 30
/// days ago to 180 days ahead. A schedule has one feed: asking again makes a new URL and
/// the old one stops working for everyone subscribed: whoever manages the schedule may (its
/// teams' managers, admins, owners).
#[utoipa::path(post, path = "/api/v2/schedules/{id}/calendar_feed", tag = "Calendar", params(("id" = String, Path)),
    responses((status = 201, body = CalendarFeedResponse), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn create_for_schedule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "make a schedule's calendar feed",
    )?;
    let owner = Owner::Schedule(ScheduleId(id.into_inner()));
    issue(&state, caller, owner).await
}

/// Delete a schedule's calendar feed
///
/// Its URL answers 404 from now on. 404 when the schedule has no feed.
#[utoipa::path(delete, path = "/api/v2/schedules/{id}/calendar_feed", tag = "Calendar", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn delete_for_schedule(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "delete a schedule's calendar feed",
    )?;
    let owner = Owner::Schedule(ScheduleId(id.into_inner()));
    revoke(&state, caller, owner).await
}

/// `GET /calendar/{file}`: the feed whose secret the file name holds (`<secret>.ics`).
/// Anything else under `/calendar/` and any secret that is not a live feed's is a plain
/// 404, the same answer either way, before the database is asked when the name is not even
/// well formed.
pub async fn feed(state: web::Data<AppState>, file: web::Path<String>) -> HttpResponse {
    let Some(secret) = calendar::secret_of_file_name(&file).map(str::to_owned) else {
        return not_found();
    };
    let now = crate::clock::jiff_now(state.clock.now());
    let finals = state.finals.clone();
    match state
        .db
        .run(move |conn| cases::render(conn, &finals, &secret, now))
        .await
    {
        Ok(Some(ics)) => HttpResponse::Ok()
            .content_type("text/calendar; charset=utf-8")
            // A secret URL's answer is for its holder only: no shared cache keeps it.
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("X-Robots-Tag", "noindex"))
            .body(ics),
        Ok(None) => not_found(),
        Err(e) => {
            e.log();
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body("The calendar could not be read just now; try again later.\n")
        }
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body("No calendar feed here: the link may have been replaced or deleted.\n")
}
