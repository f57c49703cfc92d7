//! `GET /api/v2/incidents/{id}/related_incidents` (PagerDuty's name and shape): resolved
//! incidents like this one, best first, with what responders ask of each (when it happened,
//! how long it lasted, who resolved it, its postmortem) and how many similar ones there were.

use super::incidents::may_read;
use super::{ApiCaller, ApiResult, Links, Params, Reference, resource};
use crate::domain::ids::IncidentId;
use crate::error::AppError;
use crate::http::AppState;
use crate::use_cases::related::{MAX_LIMIT, Similar};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/incidents/{id}/related_incidents").route(web::get().to(list)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Relationship {
    /// PagerDuty's: `machine_learning_inferred` (here: computed locally, from text).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub metadata: RelationshipMetadata,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelationshipMetadata {
    #[schema(example = "similar_contents")]
    pub grouping_classification: &'static str,
    /// Rota's: how alike, from 0 to 1.
    pub similarity: f32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedIncidentObject {
    pub incident: Reference,
    pub relationships: Vec<Relationship>,
    pub incident_number: i64,
    pub title: String,
    pub service: Reference,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// How long it lasted.
    pub duration_seconds: Option<i64>,
    /// Who resolved it (a person's name, an integration, Rota).
    pub resolved_by: Option<String>,
    /// Its postmortem, when one was written.
    pub postmortem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RelatedIncidentList {
    pub related_incidents: Vec<RelatedIncidentObject>,
    /// Rota's: resolved incidents at least this alike there were in all (up to 1,000).
    pub similar_count: usize,
}

fn render(base: &str, s: &Similar) -> RelatedIncidentObject {
    let links = Links(base);
    let i = &s.incident;
    RelatedIncidentObject {
        incident: links.reference("incidents", "incident_reference", i.id.as_str(), &i.title),
        relationships: vec![Relationship {
            kind: "machine_learning_inferred",
            metadata: RelationshipMetadata {
                grouping_classification: "similar_contents",
                similarity: s.similarity,
            },
        }],
        incident_number: i.number,
        title: i.title.clone(),
        service: links.reference(
            "services",
            "service_reference",
            i.service_id.as_str(),
            &s.service_name,
        ),
        created_at: i.created_at.and_utc(),
        resolved_at: i.resolved_at.map(|t| t.and_utc()),
        duration_seconds: i.resolved_at.map(|r| (r - i.created_at).num_seconds()),
        resolved_by: s.resolved_by.clone(),
        postmortem: s
            .has_postmortem
            .then(|| format!("{base}/api/v2/incidents/{}/postmortem", i.id)),
    }
}

/// Similar past incidents
///
/// Resolved incidents ranked by how alike their titles, summaries, sources, components,
/// classes and custom-detail keys are (BM25 over words; Japanese by character pairs),
/// computed locally from Rota's own data. `limit` up to 50 (default 10).
#[utoipa::path(get, path = "/api/v2/incidents/{id}/related_incidents", tag = "Incidents", params(("id" = String, Path), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = RelatedIncidentList), (status = 400, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    may_read(&caller)?;
    let limit = match params.int("limit")? {
        None => 10,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(
                AppError::invalid("limit", format!("must be from 1 to {MAX_LIMIT}")).into(),
            );
        }
    };
    let id = IncidentId(id.into_inner());
    let related = state.related.clone();
    let found = state
        .db
        .run(move |conn| related.search(conn, &id, limit))
        .await?;
    Ok(HttpResponse::Ok().json(RelatedIncidentList {
        related_incidents: found
            .similar
            .iter()
            .map(|s| render(&state.public_url, s))
            .collect(),
        similar_count: found.similar_count,
    }))
}
