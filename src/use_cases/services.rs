//! Service use cases: create, change and delete a service (its escalation policy and teams
//! checked), and add or revoke its integrations. Every change is audited; an integration's
//! routing key is returned once, when made, and never recorded (nor its hash).

use crate::domain::ids::{EscalationPolicyId, IntegrationId, ServiceId, TeamId};
use crate::domain::service::{self, IntegrationKind, UrgencyRule};
use crate::domain::token;
use crate::domain::user as rules;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::services::{self as store, Integration, LoadedService, Service};
use crate::store::{self as db, DbConnection, escalation};
use serde::Serialize;

/// A service as sent.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub description: Option<String>,
    pub escalation_policy: EscalationPolicyId,
    pub urgency_rule: UrgencyRule,
    pub teams: Vec<TeamId>,
}

pub fn target(s: &Service) -> Target<'_> {
    Target {
        kind: "service",
        id: s.id.as_str(),
        name: &s.name,
    }
}

/// An integration as the audit trail keeps it: no key, no hash.
#[derive(Serialize)]
struct IntegrationSnapshot<'a> {
    id: &'a IntegrationId,
    kind: &'static str,
    name: &'a str,
}

fn integration_snapshot(i: &Integration) -> IntegrationSnapshot<'_> {
    IntegrationSnapshot {
        id: &i.id,
        kind: i.kind.as_str(),
        name: &i.name,
    }
}

#[derive(Serialize)]
struct Snapshot<'a> {
    service: &'a Service,
    urgency_rule: &'static str,
    teams: &'a [TeamId],
    integrations: Vec<IntegrationSnapshot<'a>>,
}

fn snapshot(s: &LoadedService) -> Snapshot<'_> {
    Snapshot {
        service: &s.service,
        urgency_rule: s.service.urgency_rule.as_str(),
        teams: &s.teams,
        integrations: s.integrations.iter().map(integration_snapshot).collect(),
    }
}

/// The policy and the teams must exist.
fn check(tx: &mut DbConnection, draft: &Draft) -> AppResult<()> {
    if escalation::find(tx, &draft.escalation_policy).is_err() {
        return Err(AppError::invalid(
            "escalation_policy.id",
            format!("'{}' is not an escalation policy", draft.escalation_policy),
        ));
    }
    super::teams::must_exist(tx, &draft.teams)
}

pub fn create(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    draft: Draft,
) -> AppResult<LoadedService> {
    db::write(conn, |tx| {
        check(tx, &draft)?;
        let now = crate::clock::stored(ctx.at);
        let service = Service {
            id: ServiceId::generate(),
            name_key: rules::name_key(&draft.name),
            name: draft.name,
            description: draft.description,
            escalation_policy_id: draft.escalation_policy,
            urgency_rule: draft.urgency_rule,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        store::insert(tx, &service)?;
        store::set_teams(tx, &service.id, &draft.teams)?;
        let loaded = store::load(tx, &service.id)?;
        audit::record(
            tx,
            ctx,
            "create",
            target(&loaded.service),
            None::<&()>,
            Some(&snapshot(&loaded)),
        )?;
        Ok(loaded)
    })
}

/// Replaces a service's fields and teams. `check_rights` sees it as stored.
pub fn update(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ServiceId,
    draft: Draft,
    check_rights: impl FnOnce(&LoadedService) -> AppResult<()>,
) -> AppResult<LoadedService> {
    db::write(conn, |tx| {
        let before = store::load(tx, id)?;
        check_rights(&before)?;
        check(tx, &draft)?;
        let mut service = before.service.clone();
        service.name_key = rules::name_key(&draft.name);
        service.name = draft.name;
        service.description = draft.description;
        service.escalation_policy_id = draft.escalation_policy;
        service.urgency_rule = draft.urgency_rule;
        if service == before.service && super::teams::same(&draft.teams, &before.teams) {
            return Ok(before);
        }
        service.version += 1;
        service.updated_at = crate::clock::stored(ctx.at);
        store::update(tx, &service)?;
        store::set_teams(tx, id, &draft.teams)?;
        let after = store::load(tx, id)?;
        audit::record(
            tx,
            ctx,
            "update",
            target(&after.service),
            Some(&snapshot(&before)),
            Some(&snapshot(&after)),
        )?;
        Ok(after)
    })
}

/// Deletes a service; its integrations' keys stop working.
pub fn delete(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ServiceId,
    check_rights: impl FnOnce(&LoadedService) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        let before = store::load(tx, id)?;
        check_rights(&before)?;
        store::delete(tx, id)?;
        audit::record(
            tx,
            ctx,
            "delete",
            target(&before.service),
            Some(&snapshot(&before)),
            None::<&()>,
        )?;
        Ok(())
    })
}

fn integration_target<'a>(i: &'a Integration) -> Target<'a> {
    Target {
        kind: "integration",
        id: i.id.as_str(),
        name: &i.name,
    }
}

/// Adds an integration to the service: the integration and its routing key, which is
/// shown this once.
pub fn add_integration(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ServiceId,
    kind: IntegrationKind,
    name: String,
    check_rights: impl FnOnce(&LoadedService) -> AppResult<()>,
) -> AppResult<(Integration, String)> {
    let mut random = [0u8; service::KEY_BYTES];
    rand::fill(&mut random);
    let key = service::format_key(&random);
    db::write(conn, |tx| {
        let owner = store::load(tx, id)?;
        check_rights(&owner)?;
        let integration = Integration {
            id: IntegrationId::generate(),
            service_id: id.clone(),
            kind,
            name: name.clone(),
            key_hash: token::hash_secret(&key),
            key_hint: service::key_hint(&key),
            created_at: crate::clock::stored(ctx.at),
        };
        store::insert_integration(tx, &integration)?;
        audit::record(
            tx,
            ctx,
            "create",
            integration_target(&integration),
            None::<&()>,
            Some(&integration_snapshot(&integration)),
        )?;
        Ok((integration, key.clone()))
    })
}

/// Deletes an integration, revoking its key.
pub fn delete_integration(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ServiceId,
    integration: &IntegrationId,
    check_rights: impl FnOnce(&LoadedService) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        let owner = store::load(tx, id)?;
        check_rights(&owner)?;
        let before = store::find_integration(tx, id, integration)?;
        store::delete_integration(tx, integration)?;
        audit::record(
            tx,
            ctx,
            "delete",
            integration_target(&before),
            Some(&integration_snapshot(&before)),
            None::<&()>,
        )?;
        Ok(())
    })
}
