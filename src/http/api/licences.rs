//! The licence owners' view: `/api/v2/licenses` and `/api/v2/license_allocations` in
//! PagerDuty's shapes (with Rota's caps, reasons and queue added), the queue, use by team,
//! idle seats, the daily history and a CSV export. Owners, admins and licence owners read;
//! owners and licence owners change caps and people's seats (the policies say).

use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::UserId;
use crate::domain::seat_policy::{Licence, SeatPolicy};
use crate::domain::seats::{Pin, SeatFacts, idle_days};
use crate::error::{AppError, AppResult, OptionExt, ResultExt};
use crate::http::AppState;
use crate::store::seats::{self, Allocation, AllocationQuery, LicenceRow};
use crate::use_cases;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/licenses").route(web::get().to(list)))
        .service(resource("/licenses/usage_by_team").route(web::get().to(usage_by_team)))
        .service(resource("/licenses/usage_history").route(web::get().to(usage_history)))
        .service(resource("/licenses/{id}").route(web::put().to(update)))
        .service(resource("/license_allocations").route(web::get().to(allocations)))
        .service(resource("/license_allocations.csv").route(web::get().to(allocations_csv)))
        .service(
            resource("/license_allocations/{user_id}")
                .route(web::put().to(allocate))
                .route(web::delete().to(reclaim)),
        )
        .service(resource("/license_queue").route(web::get().to(queue)));
}

/// A licence with its use, as PagerDuty's `LicenseWithCounts`, plus Rota's cap and queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseObject {
    /// `full` or `stakeholder`.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "license")]
    pub kind: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub description: String,
    /// `FullUser` or `Stakeholder`.
    pub role_group: &'static str,
    /// The account roles this licence is for (from the seat policy).
    pub valid_roles: Vec<&'static str>,
    /// Seats held now.
    pub current_value: i64,
    /// Seats free; null when unlimited.
    pub allocations_available: Option<i64>,
    /// Seats bought; null when unlimited.
    pub cap: Option<i64>,
    /// People waiting for this licence.
    pub queued: i64,
    /// The highest warning threshold (percent of the cap) reached and e-mailed.
    pub warned_percent: Option<i32>,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseList {
    pub licenses: Vec<LicenseObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseResponse {
    pub license: LicenseObject,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LicenseChanges {
    /// Seats bought; null for unlimited. Lower than the seats held now is refused.
    pub cap: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateLicenseRequest {
    pub license: LicenseChanges,
}

fn licence_param(raw: &str) -> AppResult<Licence> {
    Licence::parse(raw).not_found("license", raw)
}

fn render_licence(
    base: &str,
    policy: &SeatPolicy,
    row: &LicenceRow,
    queued: i64,
) -> Option<LicenseObject> {
    let l = row.id;
    let links = Links(base);
    Some(LicenseObject {
        id: l.as_str().to_string(),
        kind: "license",
        name: l.title(),
        summary: l.title(),
        description: match l {
            Licence::Full => "On call, paged, acknowledges incidents, edits their team".into(),
            Licence::Stakeholder => "Read-only: sees incidents, schedules and status".into(),
        },
        role_group: l.role_group(),
        valid_roles: policy.roles_of(l).into_iter().map(|r| r.as_str()).collect(),
        current_value: row.held,
        allocations_available: row.cap.map(|c| (c - row.held).max(0)),
        cap: row.cap,
        queued,
        warned_percent: row.warned_percent,
        self_url: links.api("licenses", l.as_str()),
        html_url: Some(links.html("licenses", l.as_str())),
    })
}

/// Both licences with their use.
async fn licence_objects(state: &web::Data<AppState>) -> AppResult<Vec<LicenseObject>> {
    let (rows, waiting) = state
        .db
        .run(|conn| Ok((seats::licences(conn)?, seats::waiting(conn)?)))
        .await?;
    let policy = &state.sign_in.seat_policy;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let queued = waiting.iter().filter(|w| w.wanted == Some(r.id)).count() as i64;
            render_licence(&state.public_url, policy, r, queued)
        })
        .collect())
}

/// List licences
///
/// Full and stakeholder licences: seats bought (cap), held, free, and people waiting.
#[utoipa::path(get, path = "/api/v2/licenses", tag = "Licenses",
    responses((status = 200, body = LicenseList), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn list(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadLicences, &Resource::Account, "see licences")?;
    Ok(HttpResponse::Ok().json(LicenseList {
        licenses: licence_objects(&state).await?,
    }))
}

/// Change a licence's cap
///
/// After buying (or giving up) licences. Raising a cap serves the queue at once; a cap below
/// the seats held now is refused. Audited.
#[utoipa::path(put, path = "/api/v2/licenses/{id}", tag = "Licenses", params(("id" = String, Path, description = "full or stakeholder")),
    request_body = UpdateLicenseRequest,
    responses((status = 200, body = LicenseResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<UpdateLicenseRequest>,
) -> ApiResult<HttpResponse> {
    let licence = licence_param(&id)?;
    caller.may(
        Action::ManageLicences,
        &Resource::Account,
        "change licence caps",
    )?;
    let cap = body.into_inner().license.cap;
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            use_cases::licences::set_cap(conn, app.seats(), &caller.audit(), licence, cap)
        })
        .await?;
    let license = licence_objects(&state)
        .await?
        .into_iter()
        .find(|l| l.id == licence.as_str())
        .not_found("license", licence.as_str())?;
    Ok(HttpResponse::Ok().json(LicenseResponse { license }))
}

/// A licence as a reference inside an allocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseReference {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "license_reference")]
    pub kind: &'static str,
    pub summary: &'static str,
    pub role_group: &'static str,
}

fn licence_reference(l: Licence) -> LicenseReference {
    LicenseReference {
        id: l.as_str().into(),
        kind: "license_reference",
        summary: l.title(),
        role_group: l.role_group(),
    }
}

/// Who holds a seat, as PagerDuty lists license allocations, with why and since when.
#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseAllocation {
    pub user: Reference,
    pub license: LicenseReference,
    pub allocated_at: Option<DateTime<Utc>>,
    /// Why: the seat-policy rule, `default`, `manual`, `idle`, `queue`, …
    pub reason: Option<String>,
    /// Who allocated it: an admin, a SCIM token, the person signing in, a job.
    pub allocated_by: Option<String>,
    /// A licence owner's choice that overrides the seat policy (`full`, `stakeholder`, `none`).
    pub pinned: Option<String>,
    /// Also waiting for a full seat (holding this stakeholder seat meanwhile).
    pub waiting_for: Option<String>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// Days since the last sign-in (since the account was made, if never).
    pub idle_days: i64,
    /// Past the seat policy's `flag_after_days`.
    pub idle: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LicenseAllocationList {
    pub license_allocations: Vec<LicenseAllocation>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

fn render_allocation(
    links: &Links<'_>,
    policy: &SeatPolicy,
    a: Allocation,
    now: NaiveDateTime,
) -> Option<LicenseAllocation> {
    let licence = a.licence?;
    let (idle_days, idle) = idleness(policy, &a, now);
    Some(LicenseAllocation {
        user: links.reference("users", "user_reference", a.user_id.as_str(), &a.name),
        license: licence_reference(licence),
        allocated_at: a.since.map(utc),
        reason: a.reason,
        allocated_by: a.allocated_by,
        pinned: a.pinned.map(|p| p.as_str().to_string()),
        waiting_for: a.wanted.map(|l| l.as_str().to_string()),
        last_sign_in_at: a.last_sign_in_at.map(utc),
        idle_days,
        idle,
    })
}

/// Days since the holder last signed in, and whether that makes their full seat idle.
pub fn idleness(policy: &SeatPolicy, a: &Allocation, now: NaiveDateTime) -> (i64, bool) {
    let facts = SeatFacts {
        active: true,
        pin: None,
        owner: false,
        last_sign_in_at: a.last_sign_in_at,
        created_at: a.created_at,
    };
    let full = a.licence == Some(Licence::Full);
    (
        idle_days(&facts, now),
        full && crate::domain::seats::is_idle(&policy.idle, &facts, now),
    )
}

fn allocation_query(
    state: &AppState,
    params: &Params,
    now: NaiveDateTime,
) -> AppResult<AllocationQuery> {
    let licence = params
        .one("license_id")
        .map(|id| {
            Licence::parse(id).ok_or_else(|| {
                AppError::invalid("license_id", format!("is '{id}'; use full or stakeholder"))
            })
        })
        .transpose()?;
    let idle_before = if params.flag("idle")? {
        Some(idle_before(&state.sign_in.seat_policy, now).ok_or_else(|| {
            AppError::invalid(
                "idle",
                "the seat policy sets no [idle] flag_after_days, so no seat counts as idle",
            )
        })?)
    } else {
        None
    };
    Ok(AllocationQuery {
        licence,
        idle_before,
    })
}

/// Full seats unused since before this instant are idle (`None`: the seat policy flags none).
pub fn idle_before(policy: &SeatPolicy, now: NaiveDateTime) -> Option<NaiveDateTime> {
    policy
        .idle
        .flag_after_days
        .map(|days| now - Duration::days(i64::from(days)))
}

/// List licence allocations
///
/// Who holds which seat, by name. `license_id` narrows to one licence; `idle=true` lists only
/// full seats unused for the seat policy's `flag_after_days`.
#[utoipa::path(get, path = "/api/v2/license_allocations", tag = "Licenses",
    params(
        ("license_id" = Option<String>, Query, description = "full or stakeholder"),
        ("idle" = Option<bool>, Query, description = "Only idle full seats"),
        ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query, description = "1 to 100, default 25"),
        ("total" = Option<bool>, Query),
    ),
    responses((status = 200, body = LicenseAllocationList), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn allocations(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadLicences, &Resource::Account, "see licences")?;
    let page = params.page()?;
    let now = crate::clock::stored(caller.at);
    let query = allocation_query(&state, &params, now)?;
    let (rows, total) = state
        .db
        .run(move |conn| seats::allocations(conn, &query, page.offset, Some(page.fetch_limit())))
        .await?;
    let links = Links(&state.public_url);
    let policy = &state.sign_in.seat_policy;
    let rendered: Vec<LicenseAllocation> = rows
        .into_iter()
        .filter_map(|a| render_allocation(&links, policy, a, now))
        .collect();
    let (license_allocations, more) = page.finish(rendered);
    Ok(HttpResponse::Ok().json(LicenseAllocationList {
        license_allocations,
        pagination: Pagination::new(&page, more, page.want_total.then_some(total)),
    }))
}

/// Export licence allocations as CSV
///
/// Every seat held (the same filters as the list), one row each, for spreadsheets.
#[utoipa::path(get, path = "/api/v2/license_allocations.csv", tag = "Licenses",
    params(
        ("license_id" = Option<String>, Query, description = "full or stakeholder"),
        ("idle" = Option<bool>, Query, description = "Only idle full seats"),
    ),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn allocations_csv(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadLicences, &Resource::Account, "see licences")?;
    let now = crate::clock::stored(caller.at);
    let query = allocation_query(&state, &params, now)?;
    Ok(allocations_csv_file(&state, query, now).await?)
}

/// The allocations `query` selects as a CSV attachment (the API's export and the seats
/// page's).
pub async fn allocations_csv_file(
    state: &AppState,
    query: AllocationQuery,
    now: NaiveDateTime,
) -> AppResult<HttpResponse> {
    let (rows, _) = state
        .db
        .run(move |conn| seats::allocations(conn, &query, 0, None))
        .await?;
    // 100,000 rows take a while to format: do it on the blocking pool, not on the event
    // loop that every other request of this worker waits on (and without holding a
    // database connection).
    let policy = state.sign_in.seat_policy.clone();
    let body = web::block(move || allocations_csv_body(&policy, rows, now))
        .await
        .map_err(AppError::from)??;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"rota-license-allocations.csv\"",
        ))
        .body(body))
}

/// The CSV of `rows`, as `allocations_csv` sends it.
fn allocations_csv_body(
    policy: &SeatPolicy,
    rows: Vec<seats::Allocation>,
    now: NaiveDateTime,
) -> AppResult<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160));
    let write = |out: &mut csv::Writer<Vec<u8>>, record: &[&str]| {
        out.write_record(
            record
                .iter()
                .map(|cell| spreadsheet_safe(cell).into_owned()),
        )
        .internal("writing CSV")
    };
    write(
        &mut out,
        &[
            "user_id",
            "name",
            "user_name",
            "email",
            "role",
            "license",
            "allocated_at",
            "reason",
            "allocated_by",
            "pinned",
            "waiting_for",
            "last_sign_in_at",
            "idle_days",
            "idle",
        ],
    )?;
    let time = |t: Option<NaiveDateTime>| {
        t.map(|t| utc(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    for a in rows {
        let (days, idle) = idleness(policy, &a, now);
        let idle_for = days.to_string();
        write(
            &mut out,
            &[
                a.user_id.as_str(),
                &a.name,
                &a.user_name,
                a.email.as_deref().unwrap_or(""),
                a.role.as_str(),
                a.licence.map_or("", Licence::as_str),
                &time(a.since),
                a.reason.as_deref().unwrap_or(""),
                a.allocated_by.as_deref().unwrap_or(""),
                a.pinned.map_or("", Pin::as_str),
                a.wanted.map_or("", Licence::as_str),
                &time(a.last_sign_in_at),
                &idle_for,
                if idle { "true" } else { "false" },
            ],
        )?;
    }
    out.into_inner().internal("writing CSV")
}

/// A cell a spreadsheet will not run as a formula: anyone can name themselves `=HYPERLINK(…)`,
/// and licence owners open this file in a spreadsheet, so such cells get a leading `'`.
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AllocationChange {
    /// The seat to give (`{"id": "full"}` or `{"id": "stakeholder"}`), or null for none: the
    /// choice overrides the seat policy until `follow_policy` is sent.
    #[serde(default, deserialize_with = "present")]
    pub license: Option<Option<LicenseId>>,
    /// True: drop the licence owner's choice and follow the seat policy again.
    #[serde(default)]
    pub follow_policy: bool,
}

/// Tells a `null` apart from a missing field.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LicenseId {
    pub id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AllocationRequest {
    pub license_allocation: AllocationChange,
}

/// A person's seat after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatStatus {
    pub user: Reference,
    /// The seat held, if any.
    pub license: Option<LicenseReference>,
    /// The licence waited for, and the place in its queue (1 = next).
    pub waiting_for: Option<String>,
    pub queue_position: Option<usize>,
    pub pinned: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeatStatusResponse {
    pub license_allocation: SeatStatus,
}

/// Pins a person's seat (or unpins it) and answers with their seat now.
async fn set_pin(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: UserId,
    choice: Option<Pin>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ManageLicences,
        &Resource::Account,
        "change people's seats",
    )?;
    let app = state.clone();
    let (user, settled) = state
        .db
        .run(move |conn| use_cases::licences::pin(conn, app.seats(), &caller.audit(), &id, choice))
        .await?;
    let pinned = choice.map(|p| p.as_str().to_string());
    let (held, waiting) = settled
        .outcome
        .get(&user.id)
        .copied()
        .unwrap_or((None, None));
    let links = Links(&state.public_url);
    Ok(HttpResponse::Ok().json(SeatStatusResponse {
        license_allocation: SeatStatus {
            user: links.reference("users", "user_reference", user.id.as_str(), &user.name),
            license: held.map(licence_reference),
            waiting_for: waiting.map(|(l, _)| l.as_str().to_string()),
            queue_position: waiting.map(|(_, n)| n),
            pinned,
        },
    }))
}

/// Give a person a seat, or take it
///
/// A licence owner's choice that overrides the seat policy: `{"license": {"id": "full"}}`,
/// `{"license": {"id": "stakeholder"}}`, or `{"license": null}` (no seat); or
/// `{"follow_policy": true}` to let the policy decide again. A seat that is not free is refused.
#[utoipa::path(put, path = "/api/v2/license_allocations/{user_id}", tag = "Licenses",
    params(("user_id" = String, Path)), request_body = AllocationRequest,
    responses((status = 200, body = SeatStatusResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn allocate(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<AllocationRequest>,
) -> ApiResult<HttpResponse> {
    let change = body.into_inner().license_allocation;
    let choice = match (change.follow_policy, change.license) {
        (true, None) => None,
        (false, Some(None)) => Some(Pin::NoSeat),
        (false, Some(Some(l))) => Some(Pin::Seat(licence_param(&l.id).map_err(|_| {
            AppError::invalid(
                "license.id",
                format!("is '{}'; use full or stakeholder", l.id),
            )
        })?)),
        (true, Some(_)) => {
            return Err(AppError::invalid(
                "license_allocation",
                "gives both a license and follow_policy; send one",
            )
            .into());
        }
        (false, None) => {
            return Err(AppError::invalid(
                "license_allocation",
                "needs a license ({\"id\": \"full\"}, {\"id\": \"stakeholder\"} or null) or follow_policy: true",
            )
            .into());
        }
    };
    set_pin(state, caller, UserId(id.into_inner()), choice).await
}

/// Reclaim a person's seat
///
/// Takes the seat back (it goes to the next person waiting); the person keeps their account
/// but cannot use Rota until given a seat again (`PUT` with a license or `follow_policy`).
#[utoipa::path(delete, path = "/api/v2/license_allocations/{user_id}", tag = "Licenses",
    params(("user_id" = String, Path)),
    responses((status = 200, body = SeatStatusResponse), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn reclaim(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    set_pin(state, caller, UserId(id.into_inner()), Some(Pin::NoSeat)).await
}

/// One person in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueEntry {
    /// Place in the queue for that licence (1 = next).
    pub position: usize,
    pub user: Reference,
    pub waiting_for: String,
    /// A stakeholder seat held meanwhile, if any.
    pub holds: Option<String>,
    pub queued_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueList {
    pub queue: Vec<QueueEntry>,
}

/// List the seat queue
///
/// Everyone waiting for a seat, first come first served, per licence.
#[utoipa::path(get, path = "/api/v2/license_queue", tag = "Licenses",
    responses((status = 200, body = QueueList), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn queue(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadLicences, &Resource::Account, "see licences")?;
    let rows = state.db.run(seats::waiting).await?;
    let links = Links(&state.public_url);
    let queue = in_queue_order(rows)
        .into_iter()
        .map(|(position, wanted, a)| QueueEntry {
            position,
            user: links.reference("users", "user_reference", a.user_id.as_str(), &a.name),
            waiting_for: wanted.as_str().to_string(),
            holds: a.licence.map(|l| l.as_str().to_string()),
            queued_at: a.queued_at.map(utc),
            reason: a.queue_reason,
        })
        .collect();
    Ok(HttpResponse::Ok().json(QueueList { queue }))
}

/// The people waiting (`seats::waiting`, in queue order) with their place in the queue of
/// the licence they wait for (1 = next).
pub fn in_queue_order(rows: Vec<Allocation>) -> Vec<(usize, Licence, Allocation)> {
    let mut places: std::collections::HashMap<Licence, usize> = Default::default();
    rows.into_iter()
        .filter_map(|a| {
            let wanted = a.wanted?;
            let place = places.entry(wanted).or_default();
            *place += 1;
            Some((*place, wanted, a))
        })
        .collect()
}

/// Seats of one team's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamUsage {
    pub team: Reference,
    pub full: i64,
    pub stakeholder: i64,
    /// Members waiting for a seat.
    pub waiting: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamUsageList {
    pub teams: Vec<TeamUsage>,
}

/// Seat use by team
///
/// Seats held by each team's members (a person in several teams counts in each).
#[utoipa::path(get, path = "/api/v2/licenses/usage_by_team", tag = "Licenses",
    responses((status = 200, body = TeamUsageList), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn usage_by_team(
    state: web::Data<AppState>,
    caller: ApiCaller,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadLicences, &Resource::Account, "see licences")?;
    let rows = state.db.run(seats::usage_by_team).await?;
    let links = Links(&state.public_url);
    Ok(HttpResponse::Ok().json(TeamUsageList {
        teams: rows
            .into_iter()
            .map(|t| TeamUsage {
                team: links.reference("teams", "team_reference", t.team.as_str(), &t.name),
                full: t.full,
                stakeholder: t.stakeholder,
                waiting: t.waiting,
            })
            .collect(),
    }))
}

/// One day of a licence's use.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDay {
    /// UTC day, `YYYY-MM-DD`.
    pub date: String,
    pub license_id: String,
    pub cap: Option<i64>,
    /// Seats held at the day's last change.
    pub current_value: i64,
    /// Most seats held at once that day.
    pub peak_value: i64,
    pub queued: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageHistory {
    pub days: Vec<UsageDay>,
}

fn day(raw: Option<&str>, key: &str, default: chrono::NaiveDate) -> AppResult<chrono::NaiveDate> {
    match raw {
        None => Ok(default),
        Some(v) => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&chrono::Datelike::year(d)))
            .ok_or_else(|| {
                AppError::invalid(key, format!("must be a day such as 2026-01-31, not '{v}'"))
            }),
    }
}

/// The days of the usage history asked for (`YYYY-MM-DD`, inclusive): until today and the
/// 30 days to it unless given; at most ten years.
pub fn history_range(
    today: chrono::NaiveDate,
    since: Option<&str>,
    until: Option<&str>,
) -> AppResult<(chrono::NaiveDate, chrono::NaiveDate)> {
    let until = day(until, "until", today)?;
    let month_before = until
        .checked_sub_days(chrono::Days::new(29))
        .unwrap_or(chrono::NaiveDate::MIN);
    let since = day(since, "since", month_before)?;
    if since > until || (until - since).num_days() > 3660 {
        return Err(AppError::invalid(
            "since",
            "must be on or before until, and at most ten years before it",
        ));
    }
    Ok((since, until))
}

/// Daily seat use
///
/// One entry per UTC day and licence on which seats changed or the reconcile ran; `since` and
/// `until` (days, inclusive) default to the last 30 days.
#[utoipa::path(get, path = "/api/v2/licenses/usage_history", tag = "Licenses",
    params(("since" = Option<String>, Query, description = "YYYY-MM-DD"), ("until" = Option<String>, Query, description = "YYYY-MM-DD")),
    responses((status = 200, body = UsageHistory), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn usage_history(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadLicences, &Resource::Account, "see licences")?;
    let (since, until) = history_range(
        caller.at.date_naive(),
        params.one("since"),
        params.one("until"),
    )?;
    let (since, until) = (since.to_string(), until.to_string());
    let rows = state
        .db
        .run(move |conn| seats::usage_history(conn, &since, &until))
        .await?;
    Ok(HttpResponse::Ok().json(UsageHistory {
        days: rows
            .into_iter()
            .map(|d| UsageDay {
                date: d.day,
                license_id: d.licence.as_str().to_string(),
                cap: d.cap,
                current_value: d.held,
                peak_value: d.peak_held,
                queued: d.queued,
            })
            .collect(),
    }))
}
