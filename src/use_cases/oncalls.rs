//! Who is on call (`GET /oncalls`, My On-Call Shifts): for each escalation policy, each
//! level's people, directly or through a schedule's final schedule, over a window.

use super::finals::{Cache, Finals};
use crate::domain::escalation::{self, OnCall};
use crate::domain::ids::{EscalationPolicyId, ScheduleId, UserId};
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::escalation::LoadedPolicy;
use crate::store::schedules::Person;
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The longest window `GET /oncalls` answers for (PagerDuty's limit).
pub const MAX_WINDOW_DAYS: i64 = 90;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub earliest: bool,
    pub user_ids: Vec<UserId>,
    pub schedule_ids: Vec<ScheduleId>,
    pub policy_ids: Vec<EscalationPolicyId>,
    /// Stop once this many rows are found (a page's offset + limit + 1: enough to say
    /// whether there are more); `None`: every row (a total was asked for).
    pub enough: Option<usize>,
}

/// One on-call: a person at a level of a policy, through a schedule or directly.
#[derive(Debug, Clone)]
pub struct Row {
    pub policy: EscalationPolicyId,
    pub call: OnCall<UserId, ScheduleId>,
}

/// The on-calls with what they name.
pub struct OnCalls {
    /// In order; only the first `Query::enough` when that was given.
    pub rows: Vec<Row>,
    pub policies: HashMap<EscalationPolicyId, Arc<LoadedPolicy>>,
    /// The final schedules read (`schedules` names them; their people are in `people`).
    pub finals: Finals,
    pub people: HashMap<UserId, Arc<Person>>,
}

/// Policies read in one go before looking whether enough rows were found; each next go
/// reads four times as many.
const FIRST_POLICIES: usize = 32;

/// Lists who is on call for `[since, until]` (an instant when they are equal). Policies
/// in name order, then level, then time. With `Query::enough`, policies are read in that
/// order only until enough rows are found: a page of one person's on-calls across a
/// thousand policies renders the schedules of the first few.
pub fn list(
    conn: &mut DbConnection,
    cache: &Cache,
    q: &Query,
    since: Timestamp,
    until: Timestamp,
) -> AppResult<OnCalls> {
    let filter = |ids: &[EscalationPolicyId]| (!ids.is_empty()).then(|| ids.to_vec());
    let loaded = cache.policies(conn, filter(&q.policy_ids).as_deref())?;
    let wanted_schedules: HashSet<&ScheduleId> = q.schedule_ids.iter().collect();
    let wanted_users: HashSet<&UserId> = q.user_ids.iter().collect();
    let mut found = OnCalls {
        rows: Vec::new(),
        policies: HashMap::new(),
        finals: Finals::default(),
        people: HashMap::new(),
    };
    let (mut from, mut step) = (0, FIRST_POLICIES);
    while from < loaded.len() && q.enough.is_none_or(|n| found.rows.len() < n) {
        let part = &loaded[from..(from + step).min(loaded.len())];
        (from, step) = (from + part.len(), step * 4);
        let mut targeted: Vec<ScheduleId> = part
            .iter()
            .flat_map(|p| p.rules.rules.iter().flat_map(|r| r.targets.iter()))
            .filter_map(|t| match t {
                escalation::Target::Schedule(s) => Some(s.clone()),
                escalation::Target::User(_) => None,
            })
            .filter(|s| wanted_schedules.is_empty() || wanted_schedules.contains(s))
            .collect();
        targeted.sort_unstable();
        targeted.dedup();
        let finals = cache.final_schedules(conn, &targeted, &q.user_ids, since, until)?;
        let mut rows = Vec::new();
        for p in part {
            let calls = escalation::on_calls(
                &p.rules,
                |s: &ScheduleId| finals.entries.get(s).map(Vec::as_slice),
                q.earliest,
            );
            for call in calls {
                if call.schedule.is_none() && !wanted_schedules.is_empty() {
                    continue;
                }
                if !wanted_users.is_empty() && !wanted_users.contains(&call.user) {
                    continue;
                }
                rows.push(Row {
                    policy: p.policy.id.clone(),
                    call,
                });
            }
        }
        found.finals.extend(finals);
        let mut missing: Vec<UserId> = rows
            .iter()
            .map(|r| &r.call.user)
            .filter(|u| !found.finals.people.contains_key(*u))
            .cloned()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        found.people.extend(cache.people(conn, &missing)?);
        // A person targeted directly who may not be on call now is not on call.
        rows.retain(|r| {
            r.call.schedule.is_some()
                || found
                    .people
                    .get(&r.call.user)
                    .is_some_and(|p| p.on_call().is_ok())
        });
        found.rows.extend(rows);
        found
            .policies
            .extend(part.iter().map(|p| (p.policy.id.clone(), p.clone())));
    }
    if let Some(n) = q.enough {
        found.rows.truncate(n);
    }
    let people = std::mem::take(&mut found.finals.people);
    found.people.extend(people);
    Ok(found)
}

/// What a person wants to hear about their shifts, as stored (default when never set).
pub fn notification_settings(
    conn: &mut DbConnection,
    user: &UserId,
) -> AppResult<crate::domain::handoff::Settings> {
    crate::store::users::find(conn, user)?;
    crate::store::handoffs::settings_of(conn, user)
}

/// Sets what a person wants to hear about their shifts, audited. `check` sees the person
/// (the caller's right to change them).
pub fn set_notification_settings(
    conn: &mut DbConnection,
    ctx: &crate::store::audit::AuditContext,
    user: &UserId,
    settings: crate::domain::handoff::Settings,
    check: impl FnOnce(&crate::store::users::User) -> AppResult<()>,
) -> AppResult<crate::domain::handoff::Settings> {
    use crate::store::{audit, handoffs, users};
    crate::store::write(conn, |tx| {
        let person = users::find(tx, user)?;
        check(&person)?;
        let before = handoffs::settings_of(tx, user)?;
        handoffs::set_settings(tx, user, settings, crate::clock::stored(ctx.at))?;
        let shown = |s: crate::domain::handoff::Settings| serde_json::json!({"handoff": s.handoff.as_str(), "reminder_hours": s.reminder_hours});
        audit::record(
            tx,
            ctx,
            "update_oncall_notifications",
            person.audit_target(),
            Some(&shown(before)),
            Some(&shown(settings)),
        )?;
        Ok(settings)
    })
}
