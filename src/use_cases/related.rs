//! Similar past incidents (`GET /incidents/{id}/related_incidents`): an in-memory index of
//! resolved incidents (`domain::similarity`, one per process on `AppState::related`) kept up to
//! date as incidents resolve, and what each match shows: when it happened, how long it lasted,
//! who resolved it, its postmortem, and how many similar incidents there were.
//!
//! The index follows `incidents.resolved_at` (index `incidents_resolved`): the first search
//! reads every resolved incident, later ones read only those resolved since the last look
//! (at most once a second), so an incident resolved by any instance is found within a second
//! or so, and nothing is scanned per search. An incident deleted since it was indexed drops
//! out when its match is read back.

use crate::domain::ids::{IncidentId, ServiceId};
use crate::domain::incident::LogKind;
use crate::domain::similarity::{self, Document, Index, Match};
use crate::error::AppResult;
use crate::store::incidents::{self as store, Alert, Incident};
use crate::store::schema::{incident_log_entries, incidents, postmortems, services};
use crate::store::{DbConnection, IDS_PER_STATEMENT};
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::Instant;

/// Matches listed at most.
pub const MAX_LIMIT: usize = 50;

/// Matches counted at most for "how many similar incidents there were".
const COUNTED: usize = 1_000;

/// Incidents read per statement while catching up.
const BATCH: i64 = 2_000;

/// How far back each catch-up looks again: a transaction that resolved an incident a little
/// earlier may commit after a later one was read. Inserting an incident twice replaces it.
const OVERLAP_SECONDS: i64 = 120;

/// How often a search looks for newly resolved incidents.
const REFRESH_MILLIS: u128 = 1_000;

/// The index of resolved incidents and how far it has read.
#[derive(Default)]
pub struct Related {
    index: RwLock<Index>,
    /// The last catch-up, if one ran.
    seen: Mutex<Option<Look>>,
}

/// A catch-up: the latest `resolved_at` it read (none when nothing was resolved yet), and
/// when it ran.
#[derive(Debug, Clone, Copy)]
struct Look {
    latest: Option<NaiveDateTime>,
    at: Instant,
}

/// A similar past incident, with what people ask of it.
#[derive(Debug, Clone)]
pub struct Similar {
    pub incident: Incident,
    pub service_name: String,
    pub similarity: f32,
    pub resolved_by: Option<String>,
    pub has_postmortem: bool,
}

/// What a search found.
#[derive(Debug, Clone)]
pub struct Found {
    pub similar: Vec<Similar>,
    /// Resolved incidents at least `similarity::SIMILAR` alike (all of them, up to 1,000).
    pub similar_count: usize,
}

impl Related {
    /// Resolved incidents in the index.
    pub fn len(&self) -> usize {
        self.index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads incidents resolved since the last look into the index (all of them the first
    /// time), unless it looked less than a second ago. Only one request catches up at a
    /// time; the others search the index as it stands rather than wait (the first build
    /// takes seconds at 100,000 incidents).
    pub fn catch_up(&self, conn: &mut DbConnection) -> AppResult<()> {
        let mut seen = match self.seen.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
        };
        if let Some(Look { at, .. }) = *seen
            && at.elapsed().as_millis() < REFRESH_MILLIS
        {
            return Ok(());
        }
        // The latest `resolved_at` read so far, if any was.
        let mut latest = seen.and_then(|l| l.latest);
        // Keyset paging on (resolved_at, id): incidents sharing an instant are never skipped.
        let mut after: Option<(NaiveDateTime, IncidentId)> = latest.map(|t| {
            (
                t.checked_sub_signed(Duration::seconds(OVERLAP_SECONDS))
                    .unwrap_or(t),
                IncidentId(String::new()),
            )
        });
        loop {
            let mut q = incidents::table
                .filter(incidents::resolved_at.is_not_null())
                .into_boxed();
            if let Some((t, id)) = &after {
                q = q.filter(
                    incidents::resolved_at.gt(*t).or(incidents::resolved_at
                        .eq(*t)
                        .and(incidents::id.gt(id.clone()))),
                );
            }
            let batch: Vec<Incident> = q
                .order((incidents::resolved_at, incidents::id))
                .limit(BATCH)
                .select(Incident::as_select())
                .load(conn)?;
            let docs = documents(conn, &batch)?;
            {
                let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
                for i in &batch {
                    if let Some(doc) = docs.get(&i.id) {
                        index.insert(i.id.as_str(), doc);
                    }
                }
            }
            if let Some(last) = batch.last()
                && let Some(t) = last.resolved_at
            {
                latest = latest.max(Some(t));
                after = Some((t, last.id.clone()));
            }
            if (batch.len() as i64) < BATCH {
                break;
            }
        }
        *seen = Some(Look {
            latest,
            at: Instant::now(),
        });
        Ok(())
    }

    /// Resolved incidents like `id`, best first, at most `limit`.
    pub fn search(
        &self,
        conn: &mut DbConnection,
        id: &IncidentId,
        limit: usize,
    ) -> AppResult<Found> {
        let incident = store::find(conn, id)?;
        self.catch_up(conn)?;
        let query = documents(conn, std::slice::from_ref(&incident))?
            .remove(&incident.id)
            .unwrap_or_default();
        let matches: Vec<Match> = self
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .search(&query, COUNTED, Some(id.as_str()));
        let similar_count = matches
            .iter()
            .filter(|m| m.similarity >= similarity::SIMILAR)
            .count();
        // A few more than asked, for matches deleted since they were indexed.
        let wanted: Vec<&Match> = matches.iter().take(limit + 10).collect();
        let ids: Vec<IncidentId> = wanted.iter().map(|m| IncidentId(m.id.clone())).collect();
        let found: HashMap<IncidentId, Incident> = incidents::table
            .filter(incidents::id.eq_any(&ids))
            .select(Incident::as_select())
            .load::<Incident>(conn)?
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        let service_ids: Vec<&ServiceId> = found.values().map(|i| &i.service_id).collect();
        let names: HashMap<ServiceId, String> = services::table
            .filter(services::id.eq_any(service_ids))
            .select((services::id, services::name))
            .load(conn)?
            .into_iter()
            .collect();
        let resolvers: HashMap<IncidentId, String> = incident_log_entries::table
            .filter(incident_log_entries::incident_id.eq_any(&ids))
            .filter(incident_log_entries::kind.eq(LogKind::Resolve))
            .order(incident_log_entries::created_at)
            .select((
                incident_log_entries::incident_id,
                incident_log_entries::agent_name,
            ))
            .load(conn)?
            .into_iter()
            .collect();
        let written: Vec<IncidentId> = postmortems::table
            .filter(postmortems::incident_id.eq_any(&ids))
            .select(postmortems::incident_id)
            .load(conn)?;
        let similar = wanted
            .into_iter()
            .filter_map(|m| {
                let incident = found.get(&IncidentId(m.id.clone()))?.clone();
                Some(Similar {
                    service_name: names.get(&incident.service_id).cloned().unwrap_or_default(),
                    resolved_by: resolvers.get(&incident.id).cloned(),
                    has_postmortem: written.contains(&incident.id),
                    similarity: m.similarity,
                    incident,
                })
            })
            .take(limit)
            .collect();
        Ok(Found {
            similar,
            similar_count,
        })
    }
}

/// What each incident says about itself: its title, its service's name, and its alerts'
/// summaries, sources, components, classes and custom-detail keys.
fn documents(
    conn: &mut DbConnection,
    found: &[Incident],
) -> AppResult<HashMap<IncidentId, Document>> {
    let mut docs: HashMap<IncidentId, Document> = HashMap::with_capacity(found.len());
    let service_ids: Vec<&ServiceId> = found.iter().map(|i| &i.service_id).collect();
    let names: HashMap<ServiceId, String> = services::table
        .filter(services::id.eq_any(service_ids))
        .select((services::id, services::name))
        .load(conn)?
        .into_iter()
        .collect();
    for i in found {
        docs.insert(
            i.id.clone(),
            Document {
                title: i.title.clone(),
                service: names.get(&i.service_id).cloned().unwrap_or_default(),
                ..Document::default()
            },
        );
    }
    let ids: Vec<&IncidentId> = found.iter().map(|i| &i.id).collect();
    for chunk in ids.chunks(IDS_PER_STATEMENT) {
        use crate::store::schema::alerts;
        let rows: Vec<Alert> = alerts::table
            .filter(alerts::incident_id.eq_any(chunk))
            .select(Alert::as_select())
            .load(conn)?;
        for a in rows {
            let Some(doc) = docs.get_mut(&a.incident_id) else {
                continue;
            };
            doc.summaries.push(a.summary);
            doc.sources.extend(a.source);
            doc.components.extend(a.component);
            doc.classes.extend(a.class);
            if let Some(serde_json::Value::Object(map)) = a.custom_details.map(|d| d.0) {
                doc.detail_keys.extend(map.keys().cloned());
            }
        }
    }
    Ok(docs)
}
