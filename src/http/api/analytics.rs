//! `/api/v2/analytics/metrics/incidents/services` and `…/teams` in PagerDuty's shape:
//! aggregated incident data (counts, mean time to first acknowledgement and to resolution)
//! per service or per team over the incidents created in a window, with Rota's p50/p90/p99
//! beside PagerDuty's means. A `POST` that reads, as PagerDuty's is; whoever may read
//! incidents may read these.

use super::{ApiCaller, ApiResult};
use crate::authz::{Action, Resource};
use crate::domain::analytics::{self as rules, Figures, Refusal};
use crate::domain::ids::{ServiceId, TeamId};
use crate::domain::service::Urgency;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::analytics::Filter;
use crate::use_cases::analytics as cases;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/analytics/metrics/incidents/services").route(web::post().to(services)),
    )
    .service(super::resource("/analytics/metrics/incidents/teams").route(web::post().to(teams)));
}

/// Most ids one filter list takes (each is bound into the query).
const MAX_IDS: usize = 1_000;

/// What to aggregate: PagerDuty's `AnalyticsModel`, the filters Rota supports. A filter or
/// option it does not support is refused, not ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsRequest {
    #[serde(default)]
    pub filters: AnalyticsFilters,
    /// A tzdata name (default `Etc/UTC`): the zone of `created_at_start`/`created_at_end`
    /// given without an offset.
    #[schema(example = "Etc/UTC")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsFilters {
    /// Incidents created at or after this ISO 8601 time (default: 30 days before the end).
    #[schema(example = "2026-01-01T00:00:00Z")]
    pub created_at_start: Option<String>,
    /// Incidents created before this ISO 8601 time (default: now). At most a year after the start.
    #[schema(example = "2026-02-01T00:00:00Z")]
    pub created_at_end: Option<String>,
    /// `high` or `low`.
    pub urgency: Option<String>,
    pub service_ids: Option<Vec<String>>,
    /// Incidents of services of these teams.
    pub team_ids: Option<Vec<String>>,
}

/// The filters as applied: the window worked out, the rest as asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedFilters {
    pub created_at_start: DateTime<Utc>,
    pub created_at_end: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub team_ids: Vec<String>,
}

/// A group's figures. Durations are whole seconds, null when no incident of the group was
/// acknowledged (or resolved); percentiles are nearest-rank.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentMetrics {
    /// Incidents created in the window.
    pub total_incident_count: u64,
    /// Of them, those acknowledged (resolving is not acknowledging).
    pub total_incidents_acknowledged: u64,
    /// Rota's: of them, those resolved.
    pub total_incidents_resolved: u64,
    /// From opening to the first acknowledgement, over the acknowledged incidents.
    pub mean_seconds_to_first_ack: Option<i64>,
    pub p50_seconds_to_first_ack: Option<i64>,
    pub p90_seconds_to_first_ack: Option<i64>,
    pub p99_seconds_to_first_ack: Option<i64>,
    /// From opening to resolution, over the resolved incidents.
    pub mean_seconds_to_resolve: Option<i64>,
    pub p50_seconds_to_resolve: Option<i64>,
    pub p90_seconds_to_resolve: Option<i64>,
    pub p99_seconds_to_resolve: Option<i64>,
}

impl From<Figures> for IncidentMetrics {
    fn from(f: Figures) -> Self {
        IncidentMetrics {
            total_incident_count: f.total,
            total_incidents_acknowledged: f.acknowledged,
            total_incidents_resolved: f.resolved,
            mean_seconds_to_first_ack: f.to_first_ack.mean,
            p50_seconds_to_first_ack: f.to_first_ack.p50,
            p90_seconds_to_first_ack: f.to_first_ack.p90,
            p99_seconds_to_first_ack: f.to_first_ack.p99,
            mean_seconds_to_resolve: f.to_resolve.mean,
            p50_seconds_to_resolve: f.to_resolve.p50,
            p90_seconds_to_resolve: f.to_resolve.p90,
            p99_seconds_to_resolve: f.to_resolve.p99,
        }
    }
}

/// A service's figures. A service of several teams names the first by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceMetrics {
    pub service_id: String,
    pub service_name: String,
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    #[serde(flatten)]
    pub metrics: IncidentMetrics,
}

/// A team's figures: the incidents of its services.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamMetrics {
    pub team_id: String,
    pub team_name: String,
    #[serde(flatten)]
    pub metrics: IncidentMetrics,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceMetricsResponse {
    /// The services with incidents in the window, in name order.
    pub data: Vec<ServiceMetrics>,
    pub filters: AppliedFilters,
    pub time_zone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamMetricsResponse {
    /// The teams with incidents in the window, in name order.
    pub data: Vec<TeamMetrics>,
    pub filters: AppliedFilters,
    pub time_zone: String,
}

fn refused(r: Refusal) -> AppError {
    AppError::invalid(r.field, r.reason)
}

fn ids(field: &str, given: Option<Vec<String>>) -> AppResult<Vec<String>> {
    let ids = given.unwrap_or_default();
    if ids.len() > MAX_IDS {
        return Err(AppError::invalid(
            field,
            format!("lists at most {MAX_IDS} ids"),
        ));
    }
    Ok(ids)
}

/// Reads the request: the filter for the store, the filters as applied, the time zone.
fn read(
    request: AnalyticsRequest,
    now: DateTime<Utc>,
) -> AppResult<(Filter, AppliedFilters, String)> {
    let (zone_name, zone) = rules::time_zone(request.time_zone.as_deref()).map_err(refused)?;
    let f = request.filters;
    let window = rules::window(
        f.created_at_start.as_deref(),
        f.created_at_end.as_deref(),
        &zone,
        now,
    )
    .map_err(refused)?;
    let urgency = f
        .urgency
        .as_deref()
        .map(|u| {
            Urgency::parse(u).ok_or_else(|| {
                AppError::invalid("filters.urgency", format!("'{u}' is not high or low"))
            })
        })
        .transpose()?;
    let service_ids = ids("filters.service_ids", f.service_ids)?;
    let team_ids = ids("filters.team_ids", f.team_ids)?;
    let filter = Filter {
        since: crate::clock::stored(window.start),
        until: crate::clock::stored(window.end),
        urgency,
        service_ids: service_ids.iter().cloned().map(ServiceId).collect(),
        team_ids: team_ids.iter().cloned().map(TeamId).collect(),
    };
    let applied = AppliedFilters {
        created_at_start: window.start,
        created_at_end: window.end,
        urgency,
        service_ids,
        team_ids,
    };
    Ok((filter, applied, zone_name))
}

async fn request(
    caller: &ApiCaller,
    req: &HttpRequest,
    body: web::Payload,
) -> AppResult<(Filter, AppliedFilters, String)> {
    // The same right as listing incidents: anyone with a seat, a stakeholder too.
    caller.may(Action::ReadOnCall, &Resource::Account, "read incidents")?;
    let request: AnalyticsRequest = super::optional_json(req, body).await?;
    read(request, caller.at)
}

/// Get aggregated service data
///
/// Per service, over the incidents created in the window (default: the last 30 days; at
/// most a year): how many, how many acknowledged and resolved, and the mean, p50, p90 and
/// p99 seconds from opening to the first acknowledgement and to resolution.
#[utoipa::path(post, path = "/api/v2/analytics/metrics/incidents/services", tag = "Analytics", operation_id = "getAnalyticsMetricsIncidentsService", request_body = Option<AnalyticsRequest>,
    responses((status = 200, body = ServiceMetricsResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn services(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (filter, filters, time_zone) = request(&caller, &req, body).await?;
    let rows = state
        .db
        .run(move |conn| cases::by_service(conn, &filter))
        .await?;
    Ok(HttpResponse::Ok().json(ServiceMetricsResponse {
        data: rows
            .into_iter()
            .map(|r| {
                let (team_id, team_name) = r
                    .team
                    .map(|(id, name)| (Some(id.0), Some(name)))
                    .unwrap_or_default();
                ServiceMetrics {
                    service_id: r.service.0,
                    service_name: r.name,
                    team_id,
                    team_name,
                    metrics: r.figures.into(),
                }
            })
            .collect(),
        filters,
        time_zone,
    }))
}

/// Get aggregated team data
///
/// Per team, over the incidents of its services created in the window (default: the last
/// 30 days; at most a year): the same figures as per service. An incident of a service of
/// two teams counts for both; one of a service without a team for none.
#[utoipa::path(post, path = "/api/v2/analytics/metrics/incidents/teams", tag = "Analytics", operation_id = "getAnalyticsMetricsIncidentsTeam", request_body = Option<AnalyticsRequest>,
    responses((status = 200, body = TeamMetricsResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn teams(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let (filter, filters, time_zone) = request(&caller, &req, body).await?;
    let rows = state
        .db
        .run(move |conn| cases::by_team(conn, &filter))
        .await?;
    Ok(HttpResponse::Ok().json(TeamMetricsResponse {
        data: rows
            .into_iter()
            .map(|r| TeamMetrics {
                team_id: r.team.0,
                team_name: r.name,
                metrics: r.figures.into(),
            })
            .collect(),
        filters,
        time_zone,
    }))
}
