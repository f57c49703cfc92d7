//! What time-to-acknowledge and time-to-resolve figures read: the incidents created in a
//! window (with their first acknowledgement, from the timeline), and the names and teams of
//! their services. Two queries for any number of incidents; the figures are
//! `domain::analytics`.

use super::DbConnection;
use super::schema::{incident_log_entries, incidents, service_teams, services, teams};
use crate::domain::analytics::IncidentTimes;
use crate::domain::ids::{ServiceId, TeamId};
use crate::domain::incident::LogKind;
use crate::domain::service::Urgency;
use crate::error::AppResult;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashMap;

/// Which incidents: created in `[since, until)`, of this urgency, of these services, of
/// services of these teams (an empty list: any).
#[derive(Debug, Clone)]
pub struct Filter {
    pub since: NaiveDateTime,
    pub until: NaiveDateTime,
    pub urgency: Option<Urgency>,
    pub service_ids: Vec<ServiceId>,
    pub team_ids: Vec<TeamId>,
}

/// The incidents, and the services they belong to.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub incidents: Vec<IncidentTimes>,
    pub services: HashMap<ServiceId, ServiceNames>,
}

/// A service's name and its teams (id, name), in team name order.
#[derive(Debug, Clone, Default)]
pub struct ServiceNames {
    pub name: String,
    pub teams: Vec<(TeamId, String)>,
}

pub fn load(conn: &mut DbConnection, f: &Filter) -> AppResult<Loaded> {
    // The first acknowledgement of each incident: the earliest acknowledge entry (an
    // incident reassigned after one is triggered again and may be acknowledged again).
    let mut q = incidents::table
        .left_join(
            incident_log_entries::table.on(incident_log_entries::incident_id
                .eq(incidents::id)
                .and(incident_log_entries::kind.eq(LogKind::Acknowledge))),
        )
        .group_by(incidents::id)
        .select((
            incidents::service_id,
            incidents::created_at,
            incidents::resolved_at,
            diesel::dsl::min(incident_log_entries::created_at.nullable()),
        ))
        .filter(incidents::created_at.ge(f.since))
        .filter(incidents::created_at.lt(f.until))
        .into_boxed();
    if let Some(urgency) = f.urgency {
        q = q.filter(incidents::urgency.eq(urgency));
    }
    if !f.service_ids.is_empty() {
        q = q.filter(incidents::service_id.eq_any(f.service_ids.clone()));
    }
    if !f.team_ids.is_empty() {
        q = q.filter(
            incidents::service_id.eq_any(
                service_teams::table
                    .filter(service_teams::team_id.eq_any(f.team_ids.clone()))
                    .select(service_teams::service_id),
            ),
        );
    }
    type Row = (
        ServiceId,
        NaiveDateTime,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<Row> = q.load(conn)?;

    // Every service the filter allows, with its teams: services are few, and reading them
    // all spares a list of ids bound into the statement.
    let mut s = services::table
        .left_join(service_teams::table.left_join(teams::table))
        .select((
            services::id,
            services::name,
            teams::id.nullable(),
            teams::name.nullable(),
        ))
        .order((services::id, teams::name, teams::id))
        .into_boxed();
    if !f.service_ids.is_empty() {
        s = s.filter(services::id.eq_any(f.service_ids.clone()));
    }
    let named: Vec<(ServiceId, String, Option<TeamId>, Option<String>)> = s.load(conn)?;
    let mut services: HashMap<ServiceId, ServiceNames> = HashMap::new();
    for (id, name, team, team_name) in named {
        let entry = services.entry(id).or_insert_with(|| ServiceNames {
            name,
            teams: Vec::new(),
        });
        if let (Some(team), Some(team_name)) = (team, team_name) {
            entry.teams.push((team, team_name));
        }
    }

    let incidents = rows
        .into_iter()
        .map(
            |(service, created_at, resolved_at, first_acknowledged_at)| IncidentTimes {
                teams: services
                    .get(&service)
                    .map(|s| s.teams.iter().map(|(t, _)| t.clone()).collect())
                    .unwrap_or_default(),
                service,
                created_at,
                first_acknowledged_at,
                resolved_at,
            },
        )
        .collect();
    Ok(Loaded {
        incidents,
        services,
    })
}
