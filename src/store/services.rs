//! Services, their teams and their integrations. An integration holds the SHA-256 of its
//! routing key (`token::hash_secret`), never the key; `find_by_routing_key` hashes what an
//! event presents and looks it up.

use super::schema::{service_integrations, service_teams, services};
use super::{DbConnection, Page, contains_pattern, unique_violation};
use crate::domain::ids::{EscalationPolicyId, IntegrationId, ServiceId, TeamId};
use crate::domain::paging::PageRequest;
use crate::domain::service::{IntegrationKind, UrgencyRule};
use crate::domain::token;
use crate::error::{AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = services, treat_none_as_null = true)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub escalation_policy_id: EscalationPolicyId,
    pub urgency_rule: UrgencyRule,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// An integration. `key_hash` never leaves `store/` and `use_cases/` (nor the audit trail).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_integrations)]
pub struct Integration {
    pub id: IntegrationId,
    pub service_id: ServiceId,
    pub kind: IntegrationKind,
    pub name: String,
    pub key_hash: String,
    pub key_hint: String,
    pub created_at: NaiveDateTime,
}

/// A service with its teams and integrations.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedService {
    pub service: Service,
    pub teams: Vec<TeamId>,
    pub integrations: Vec<Integration>,
}

pub fn insert(conn: &mut DbConnection, service: &Service) -> AppResult<()> {
    diesel::insert_into(services::table)
        .values(service)
        .execute(conn)?;
    Ok(())
}

/// Saves every column; optimistic like `escalation::update`.
pub fn update(conn: &mut DbConnection, service: &Service) -> AppResult<()> {
    let saved = diesel::update(
        services::table
            .find(&service.id)
            .filter(services::version.eq(service.version - 1)),
    )
    .set(service)
    .execute(conn)?;
    if saved == 0 {
        return Err(super::changed_meanwhile("service", service.id.as_str()));
    }
    Ok(())
}

/// Replaces the service's teams.
pub fn set_teams(conn: &mut DbConnection, id: &ServiceId, teams: &[TeamId]) -> AppResult<()> {
    diesel::delete(service_teams::table.filter(service_teams::service_id.eq(id))).execute(conn)?;
    let rows: Vec<_> = teams
        .iter()
        .map(|t| {
            (
                service_teams::service_id.eq(id),
                service_teams::team_id.eq(t),
            )
        })
        .collect();
    if !rows.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(service_teams::table).values(&rows).execute(c))?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &ServiceId) -> AppResult<Service> {
    services::table
        .find(id)
        .select(Service::as_select())
        .first(conn)
        .optional()?
        .not_found("service", id.as_str())
}

pub fn load(conn: &mut DbConnection, id: &ServiceId) -> AppResult<LoadedService> {
    let service = find(conn, id)?;
    Ok(load_all(conn, vec![service])?.remove(0))
}

/// A page of services, in name order, with their teams and integrations.
pub fn list(
    conn: &mut DbConnection,
    text: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<LoadedService>> {
    let filtered = || {
        let mut q = services::table.into_boxed();
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            q = q.filter(
                services::name_key
                    .like(contains_pattern(text.trim()))
                    .escape('\\'),
            );
        }
        q
    };
    let rows = filtered()
        .order((services::name_key.asc(), services::id.asc()))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(Service::as_select())
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page {
        rows: load_all(conn, rows)?,
        more,
        total,
    })
}

/// Teams and integrations of these services: two queries.
fn load_all(conn: &mut DbConnection, rows: Vec<Service>) -> AppResult<Vec<LoadedService>> {
    let ids: Vec<&ServiceId> = rows.iter().map(|s| &s.id).collect();
    let team_rows: Vec<(ServiceId, TeamId)> = service_teams::table
        .filter(service_teams::service_id.eq_any(ids.clone()))
        .select((service_teams::service_id, service_teams::team_id))
        .load(conn)?;
    let integration_rows: Vec<Integration> = service_integrations::table
        .filter(service_integrations::service_id.eq_any(ids))
        .order((service_integrations::service_id, service_integrations::id))
        .select(Integration::as_select())
        .load(conn)?;
    let mut teams: HashMap<ServiceId, Vec<TeamId>> = HashMap::new();
    for (s, t) in team_rows {
        teams.entry(s).or_default().push(t);
    }
    let mut integrations: HashMap<ServiceId, Vec<Integration>> = HashMap::new();
    for i in integration_rows {
        integrations
            .entry(i.service_id.clone())
            .or_default()
            .push(i);
    }
    Ok(rows
        .into_iter()
        .map(|service| LoadedService {
            teams: teams.remove(&service.id).unwrap_or_default(),
            integrations: integrations.remove(&service.id).unwrap_or_default(),
            service,
        })
        .collect())
}

/// Deletes a service; its teams and integrations (their keys) go with it.
pub fn delete(conn: &mut DbConnection, id: &ServiceId) -> AppResult<()> {
    diesel::delete(service_integrations::table.filter(service_integrations::service_id.eq(id)))
        .execute(conn)?;
    diesel::delete(service_teams::table.filter(service_teams::service_id.eq(id))).execute(conn)?;
    diesel::delete(services::table.find(id)).execute(conn)?;
    Ok(())
}

/// The services (id, name) using the escalation policy.
pub fn using_policy(
    conn: &mut DbConnection,
    id: &EscalationPolicyId,
) -> AppResult<Vec<(ServiceId, String)>> {
    Ok(services::table
        .filter(services::escalation_policy_id.eq(id))
        .select((services::id, services::name))
        .order((services::name_key, services::id))
        .load(conn)?)
}

/// The services (id, name) using each of these policies, in name order: one query per
/// `IDS_PER_STATEMENT` policies.
pub fn using_policies(
    conn: &mut DbConnection,
    ids: &[EscalationPolicyId],
) -> AppResult<HashMap<EscalationPolicyId, Vec<(ServiceId, String)>>> {
    let mut out: HashMap<EscalationPolicyId, Vec<(ServiceId, String)>> = HashMap::new();
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        let rows: Vec<(EscalationPolicyId, ServiceId, String)> = services::table
            .filter(services::escalation_policy_id.eq_any(chunk))
            .select((services::escalation_policy_id, services::id, services::name))
            .order((services::name_key, services::id))
            .load(conn)?;
        for (p, s, name) in rows {
            out.entry(p).or_default().push((s, name));
        }
    }
    Ok(out)
}

/// Stores a new integration. Two keys hashing alike (never, for 128 random bits) would lose
/// on the unique index.
pub fn insert_integration(conn: &mut DbConnection, integration: &Integration) -> AppResult<()> {
    diesel::insert_into(service_integrations::table)
        .values(integration)
        .execute(conn)
        .map_err(unique_violation(
            "integration",
            "a key like this one exists; ask again".into(),
        ))?;
    Ok(())
}

/// The service's integration with this id.
pub fn find_integration(
    conn: &mut DbConnection,
    service: &ServiceId,
    id: &IntegrationId,
) -> AppResult<Integration> {
    service_integrations::table
        .find(id)
        .filter(service_integrations::service_id.eq(service))
        .select(Integration::as_select())
        .first(conn)
        .optional()?
        .not_found("integration", id.as_str())
}

/// Deletes an integration: its key stops working.
pub fn delete_integration(conn: &mut DbConnection, id: &IntegrationId) -> AppResult<()> {
    diesel::delete(service_integrations::table.find(id)).execute(conn)?;
    Ok(())
}

/// The service and integration a routing key belongs to, if it is a live one.
pub fn find_by_routing_key(
    conn: &mut DbConnection,
    key: &str,
) -> AppResult<Option<(ServiceId, IntegrationId)>> {
    let hash = token::hash_secret(key);
    let found: Option<(ServiceId, IntegrationId, String)> = service_integrations::table
        .filter(service_integrations::key_hash.eq(&hash))
        .select((
            service_integrations::service_id,
            service_integrations::id,
            service_integrations::key_hash,
        ))
        .first(conn)
        .optional()?;
    // The index look-up already matched; this keeps the final comparison constant-time too.
    Ok(found
        .filter(|(_, _, stored)| bool::from(stored.as_bytes().ct_eq(hash.as_bytes())))
        .map(|(s, i, _)| (s, i)))
}
