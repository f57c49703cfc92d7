//! Escalation policy use cases: create, change and delete, with their targets checked
//! (people who may be on call, schedules that exist) and every change audited.

use super::schedules::check_people;
use crate::domain::escalation::{HandoffNotifications, Policy, Target as Level};
use crate::domain::ids::{EscalationPolicyId, ScheduleId, TeamId, UserId};
use crate::domain::user as rules;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::escalation::{self as store, EscalationPolicy, LoadedPolicy};
use crate::store::{self as db, DbConnection, schedules};
use serde::Serialize;

/// A policy as sent, with target ids as sent.
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub description: Option<String>,
    pub handoff_notifications: HandoffNotifications,
    pub teams: Vec<TeamId>,
    pub rules: Policy<UserId, ScheduleId>,
}

pub fn target(p: &EscalationPolicy) -> Target<'_> {
    Target {
        kind: "escalation_policy",
        id: p.id.as_str(),
        name: &p.name,
    }
}

#[derive(Serialize)]
struct Snapshot<'a> {
    policy: &'a EscalationPolicy,
    teams: &'a [TeamId],
    rules: Vec<(u32, Vec<String>)>,
}

fn snapshot(p: &LoadedPolicy) -> Snapshot<'_> {
    Snapshot {
        policy: &p.policy,
        teams: &p.teams,
        rules: p
            .rules
            .rules
            .iter()
            .map(|r| {
                let targets = r
                    .targets
                    .iter()
                    .map(|t| match t {
                        Level::User(u) => format!("user:{u}"),
                        Level::Schedule(s) => format!("schedule:{s}"),
                    })
                    .collect();
                (r.delay_minutes, targets)
            })
            .collect(),
    }
}

/// Every target must be a person who may be on call now or a schedule; teams must exist.
fn check(tx: &mut DbConnection, draft: &Draft) -> AppResult<()> {
    super::teams::must_exist(tx, &draft.teams)?;
    let mut people = Vec::new();
    for (i, rule) in draft.rules.rules.iter().enumerate() {
        for (j, t) in rule.targets.iter().enumerate() {
            let field = format!("escalation_rules[{i}].targets[{j}].id");
            match t {
                Level::User(u) => people.push((field, u.clone())),
                Level::Schedule(s) => {
                    if schedules::find(tx, s).is_err() {
                        return Err(AppError::invalid(field, format!("'{s}' is not a schedule")));
                    }
                }
            }
        }
    }
    check_people(tx, &people)?;
    Ok(())
}

pub fn create(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    draft: Draft,
) -> AppResult<LoadedPolicy> {
    db::write(conn, |tx| {
        check(tx, &draft)?;
        let now = crate::clock::stored(ctx.at);
        let policy = EscalationPolicy {
            id: EscalationPolicyId::generate(),
            name_key: rules::name_key(&draft.name),
            name: draft.name,
            description: draft.description,
            num_loops: draft.rules.num_loops as i32,
            handoff_notifications: draft.handoff_notifications,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        store::insert(tx, &policy)?;
        store::set_rules(tx, &policy.id, &draft.rules, &draft.teams)?;
        let loaded = store::load(tx, &policy.id)?;
        audit::record(
            tx,
            ctx,
            "create",
            target(&loaded.policy),
            None::<&()>,
            Some(&snapshot(&loaded)),
        )?;
        Ok(loaded)
    })
}

/// Replaces a policy's fields, teams and levels. `check_rights` sees it as stored.
pub fn update(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &EscalationPolicyId,
    draft: Draft,
    check_rights: impl FnOnce(&LoadedPolicy) -> AppResult<()>,
) -> AppResult<LoadedPolicy> {
    db::write(conn, |tx| {
        let before = store::load(tx, id)?;
        check_rights(&before)?;
        check(tx, &draft)?;
        let mut policy = before.policy.clone();
        policy.name_key = rules::name_key(&draft.name);
        policy.name = draft.name;
        policy.description = draft.description;
        policy.num_loops = draft.rules.num_loops as i32;
        policy.handoff_notifications = draft.handoff_notifications;
        if policy == before.policy
            && draft.rules == before.rules
            && super::teams::same(&draft.teams, &before.teams)
        {
            return Ok(before);
        }
        policy.version += 1;
        policy.updated_at = crate::clock::stored(ctx.at);
        store::update(tx, &policy)?;
        store::set_rules(tx, id, &draft.rules, &draft.teams)?;
        let after = store::load(tx, id)?;
        audit::record(
            tx,
            ctx,
            "update",
            target(&after.policy),
            Some(&snapshot(&before)),
            Some(&snapshot(&after)),
        )?;
        Ok(after)
    })
}

pub fn delete(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &EscalationPolicyId,
    check_rights: impl FnOnce(&LoadedPolicy) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        let before = store::load(tx, id)?;
        check_rights(&before)?;
        let services = crate::store::services::using_policy(tx, id)?;
        if !services.is_empty() {
            let one = services.len() == 1;
            return Err(AppError::invalid(
                "id",
                format!(
                    "escalation policy {} is used by {} {}; give {} another policy first",
                    before.policy.name,
                    if one { "service" } else { "services" },
                    super::schedules::named(&services),
                    if one { "it" } else { "them" },
                ),
            ));
        }
        store::delete(tx, id)?;
        audit::record(
            tx,
            ctx,
            "delete",
            target(&before.policy),
            Some(&snapshot(&before)),
            None::<&()>,
        )?;
        Ok(())
    })
}
