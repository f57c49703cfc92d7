//! Time to acknowledge and to resolve, per service and per team, over the incidents created
//! in a window (`POST /api/v2/analytics/metrics/incidents/services` and `…/teams`). Reads
//! only: the figures are `domain::analytics`, the reading `store::analytics`.

use crate::domain::analytics::{self, Figures};
use crate::domain::ids::{ServiceId, TeamId};
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::analytics::{self as store, Filter};

/// One service's figures, with its name and first team (by name) if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub service: ServiceId,
    pub name: String,
    pub team: Option<(TeamId, String)>,
    pub figures: Figures,
}

/// One team's figures: the incidents of its services.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRow {
    pub team: TeamId,
    pub name: String,
    pub figures: Figures,
}

/// The services with incidents the filter covers, in name order.
pub fn by_service(conn: &mut DbConnection, filter: &Filter) -> AppResult<Vec<ServiceRow>> {
    let loaded = store::load(conn, filter)?;
    let mut rows: Vec<ServiceRow> = analytics::per_service(&loaded.incidents)
        .into_iter()
        .map(|(service, figures)| {
            let names = loaded.services.get(&service);
            ServiceRow {
                name: names.map_or_else(|| service.to_string(), |s| s.name.clone()),
                team: names.and_then(|s| s.teams.first().cloned()),
                service,
                figures,
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.name, &a.service).cmp(&(&b.name, &b.service)));
    Ok(rows)
}

/// The teams with incidents the filter covers, in name order; with `team_ids`, only those
/// teams (an incident of a service of two teams counts for both).
pub fn by_team(conn: &mut DbConnection, filter: &Filter) -> AppResult<Vec<TeamRow>> {
    let loaded = store::load(conn, filter)?;
    let mut rows: Vec<TeamRow> = analytics::per_team(&loaded.incidents)
        .into_iter()
        .filter(|(team, _)| filter.team_ids.is_empty() || filter.team_ids.contains(team))
        .map(|(team, figures)| TeamRow {
            name: loaded
                .services
                .values()
                .flat_map(|s| s.teams.iter())
                .find(|(t, _)| *t == team)
                .map_or_else(|| team.to_string(), |(_, n)| n.clone()),
            team,
            figures,
        })
        .collect();
    rows.sort_by(|a, b| (&a.name, &a.team).cmp(&(&b.name, &b.team)));
    Ok(rows)
}
