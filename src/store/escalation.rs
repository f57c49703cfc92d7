//! Escalation policies: their levels (rules) and each level's targets, people or schedules.

use super::schema::{
    escalation_policies, escalation_policy_teams, escalation_rules, escalation_targets,
};
use super::{DbConnection, Page, contains_pattern};
use crate::domain::escalation::{HandoffNotifications, Policy, Rule, Target};
use crate::domain::ids::{EscalationPolicyId, EscalationRuleId, ScheduleId, TeamId, UserId};
use crate::domain::paging::PageRequest;
use crate::error::{AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = escalation_policies, treat_none_as_null = true)]
pub struct EscalationPolicy {
    pub id: EscalationPolicyId,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub num_loops: i32,
    pub handoff_notifications: HandoffNotifications,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = escalation_rules)]
struct RuleRow {
    id: EscalationRuleId,
    policy_id: EscalationPolicyId,
    position: i32,
    delay_minutes: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = escalation_targets)]
struct TargetRow {
    rule_id: EscalationRuleId,
    position: i32,
    user_id: Option<UserId>,
    schedule_id: Option<ScheduleId>,
}

/// A level with its id, as loaded.
type Level = (EscalationRuleId, Rule<UserId, ScheduleId>);

/// A policy with its teams and levels (each level's id with it, for the API).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedPolicy {
    pub policy: EscalationPolicy,
    pub teams: Vec<TeamId>,
    pub rule_ids: Vec<EscalationRuleId>,
    #[serde(skip)]
    pub rules: Policy<UserId, ScheduleId>,
}

pub fn insert(conn: &mut DbConnection, policy: &EscalationPolicy) -> AppResult<()> {
    diesel::insert_into(escalation_policies::table)
        .values(policy)
        .execute(conn)?;
    Ok(())
}

/// Saves every column; optimistic like `users::update`.
pub fn update(conn: &mut DbConnection, policy: &EscalationPolicy) -> AppResult<()> {
    let saved = diesel::update(
        escalation_policies::table
            .find(&policy.id)
            .filter(escalation_policies::version.eq(policy.version - 1)),
    )
    .set(policy)
    .execute(conn)?;
    if saved == 0 {
        return Err(super::changed_meanwhile(
            "escalation policy",
            policy.id.as_str(),
        ));
    }
    Ok(())
}

/// Replaces the policy's levels and teams.
pub fn set_rules(
    conn: &mut DbConnection,
    id: &EscalationPolicyId,
    rules: &Policy<UserId, ScheduleId>,
    teams: &[TeamId],
) -> AppResult<Vec<EscalationRuleId>> {
    let old = escalation_rules::table
        .filter(escalation_rules::policy_id.eq(id))
        .select(escalation_rules::id);
    diesel::delete(escalation_targets::table.filter(escalation_targets::rule_id.eq_any(old)))
        .execute(conn)?;
    diesel::delete(escalation_rules::table.filter(escalation_rules::policy_id.eq(id)))
        .execute(conn)?;
    diesel::delete(
        escalation_policy_teams::table.filter(escalation_policy_teams::policy_id.eq(id)),
    )
    .execute(conn)?;
    let mut rule_rows = Vec::with_capacity(rules.rules.len());
    let mut target_rows = Vec::new();
    for (i, rule) in rules.rules.iter().enumerate() {
        let rule_id = EscalationRuleId::generate();
        for (j, t) in rule.targets.iter().enumerate() {
            let (user_id, schedule_id) = match t {
                Target::User(u) => (Some(u.clone()), None),
                Target::Schedule(s) => (None, Some(s.clone())),
            };
            target_rows.push(TargetRow {
                rule_id: rule_id.clone(),
                position: j as i32,
                user_id,
                schedule_id,
            });
        }
        rule_rows.push(RuleRow {
            id: rule_id,
            policy_id: id.clone(),
            position: i as i32,
            delay_minutes: rule.delay_minutes as i32,
        });
    }
    let ids = rule_rows.iter().map(|r| r.id.clone()).collect();
    super::on_backend!(conn, c => diesel::insert_into(escalation_rules::table).values(&rule_rows).execute(c))?;
    super::on_backend!(conn, c => diesel::insert_into(escalation_targets::table).values(&target_rows).execute(c))?;
    let team_rows: Vec<_> = teams
        .iter()
        .map(|t| {
            (
                escalation_policy_teams::policy_id.eq(id),
                escalation_policy_teams::team_id.eq(t),
            )
        })
        .collect();
    if !team_rows.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(escalation_policy_teams::table).values(&team_rows).execute(c))?;
    }
    Ok(ids)
}

pub fn find(conn: &mut DbConnection, id: &EscalationPolicyId) -> AppResult<EscalationPolicy> {
    escalation_policies::table
        .find(id)
        .select(EscalationPolicy::as_select())
        .first(conn)
        .optional()?
        .not_found("escalation policy", id.as_str())
}

pub fn load(conn: &mut DbConnection, id: &EscalationPolicyId) -> AppResult<LoadedPolicy> {
    let policy = find(conn, id)?;
    Ok(load_all(conn, vec![policy], false)?.remove(0))
}

/// Policies by id (`None`: all), with their levels and teams, in name order: four queries
/// per `IDS_PER_STATEMENT` ids.
pub fn load_many(
    conn: &mut DbConnection,
    ids: Option<&[EscalationPolicyId]>,
) -> AppResult<Vec<LoadedPolicy>> {
    let ordered = || {
        escalation_policies::table
            .order((escalation_policies::name_key, escalation_policies::id))
            .select(EscalationPolicy::as_select())
    };
    let Some(ids) = ids else {
        let rows = ordered().load(conn)?;
        return load_all(conn, rows, true);
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        let rows = ordered()
            .filter(escalation_policies::id.eq_any(chunk))
            .load(conn)?;
        out.extend(load_all(conn, rows, false)?);
    }
    out.sort_by(|a, b| (&a.policy.name_key, &a.policy.id).cmp(&(&b.policy.name_key, &b.policy.id)));
    Ok(out)
}

/// The stored version of each of these policies (`None`: of all); deleted ones are absent.
pub fn versions(
    conn: &mut DbConnection,
    ids: Option<&[EscalationPolicyId]>,
) -> AppResult<Vec<(EscalationPolicyId, i64)>> {
    let all =
        escalation_policies::table.select((escalation_policies::id, escalation_policies::version));
    let Some(ids) = ids else {
        return Ok(all.load(conn)?);
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        out.extend(
            all.filter(escalation_policies::id.eq_any(chunk))
                .load::<(EscalationPolicyId, i64)>(conn)?,
        );
    }
    Ok(out)
}

/// A page of policies with their levels.
pub fn list(
    conn: &mut DbConnection,
    text: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<LoadedPolicy>> {
    let filtered = || {
        let mut q = escalation_policies::table.into_boxed();
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            q = q.filter(
                escalation_policies::name_key
                    .like(contains_pattern(text.trim()))
                    .escape('\\'),
            );
        }
        q
    };
    let rows = filtered()
        .order((
            escalation_policies::name_key.asc(),
            escalation_policies::id.asc(),
        ))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(EscalationPolicy::as_select())
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page {
        rows: load_all(conn, rows, false)?,
        more,
        total,
    })
}

fn load_all(
    conn: &mut DbConnection,
    rows: Vec<EscalationPolicy>,
    every: bool,
) -> AppResult<Vec<LoadedPolicy>> {
    let ids: Vec<&EscalationPolicyId> = rows.iter().map(|p| &p.id).collect();
    let mut rules_q = escalation_rules::table.into_boxed();
    let mut teams_q = escalation_policy_teams::table.into_boxed();
    if !every {
        rules_q = rules_q.filter(escalation_rules::policy_id.eq_any(ids.clone()));
        teams_q = teams_q.filter(escalation_policy_teams::policy_id.eq_any(ids.clone()));
    }
    let rule_rows: Vec<RuleRow> = rules_q
        .order((escalation_rules::policy_id, escalation_rules::position))
        .select(RuleRow::as_select())
        .load(conn)?;
    let mut targets_q = escalation_targets::table.into_boxed();
    if !every {
        // By the policies' ids, not the rules': fewer bound parameters.
        targets_q = targets_q.filter(
            escalation_targets::rule_id.eq_any(
                escalation_rules::table
                    .filter(escalation_rules::policy_id.eq_any(ids.clone()))
                    .select(escalation_rules::id),
            ),
        );
    }
    let target_rows: Vec<TargetRow> = targets_q
        .order((escalation_targets::rule_id, escalation_targets::position))
        .select(TargetRow::as_select())
        .load(conn)?;
    let team_rows: Vec<(EscalationPolicyId, TeamId)> = teams_q
        .select((
            escalation_policy_teams::policy_id,
            escalation_policy_teams::team_id,
        ))
        .load(conn)?;
    let mut targets: HashMap<EscalationRuleId, Vec<Target<UserId, ScheduleId>>> = HashMap::new();
    for t in target_rows {
        let target = match (t.user_id, t.schedule_id) {
            (Some(u), _) => Target::User(u),
            (None, Some(s)) => Target::Schedule(s),
            // The table's CHECK makes this impossible.
            (None, None) => continue,
        };
        targets.entry(t.rule_id).or_default().push(target);
    }
    let mut rules: HashMap<EscalationPolicyId, Vec<Level>> = HashMap::new();
    for r in rule_rows {
        let rule = Rule {
            delay_minutes: r.delay_minutes.max(1) as u32,
            targets: targets.remove(&r.id).unwrap_or_default(),
        };
        rules.entry(r.policy_id).or_default().push((r.id, rule));
    }
    let mut teams: HashMap<EscalationPolicyId, Vec<TeamId>> = HashMap::new();
    for (p, t) in team_rows {
        teams.entry(p).or_default().push(t);
    }
    Ok(rows
        .into_iter()
        .map(|policy| {
            let (rule_ids, levels) = rules
                .remove(&policy.id)
                .unwrap_or_default()
                .into_iter()
                .unzip();
            LoadedPolicy {
                teams: teams.remove(&policy.id).unwrap_or_default(),
                rule_ids,
                rules: Policy {
                    rules: levels,
                    num_loops: policy.num_loops.max(0) as u32,
                },
                policy,
            }
        })
        .collect())
}

/// Deletes a policy with its levels.
pub fn delete(conn: &mut DbConnection, id: &EscalationPolicyId) -> AppResult<()> {
    let old = escalation_rules::table
        .filter(escalation_rules::policy_id.eq(id))
        .select(escalation_rules::id);
    diesel::delete(escalation_targets::table.filter(escalation_targets::rule_id.eq_any(old)))
        .execute(conn)?;
    diesel::delete(escalation_rules::table.filter(escalation_rules::policy_id.eq(id)))
        .execute(conn)?;
    diesel::delete(
        escalation_policy_teams::table.filter(escalation_policy_teams::policy_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(escalation_policies::table.find(id)).execute(conn)?;
    Ok(())
}

/// The policies (id, name) with a rule targeting the person.
pub fn targeting_user(
    conn: &mut DbConnection,
    id: &UserId,
) -> AppResult<Vec<(EscalationPolicyId, String)>> {
    Ok(escalation_targets::table
        .inner_join(escalation_rules::table.inner_join(escalation_policies::table))
        .filter(escalation_targets::user_id.eq(id))
        .select((escalation_policies::id, escalation_policies::name))
        .distinct()
        .order(escalation_policies::name)
        .load(conn)?)
}

/// The policies (id, name) with a rule targeting the schedule.
pub fn targeting_schedule(
    conn: &mut DbConnection,
    id: &ScheduleId,
) -> AppResult<Vec<(EscalationPolicyId, String)>> {
    Ok(escalation_targets::table
        .inner_join(escalation_rules::table.inner_join(escalation_policies::table))
        .filter(escalation_targets::schedule_id.eq(id))
        .select((escalation_policies::id, escalation_policies::name))
        .distinct()
        .order(escalation_policies::name)
        .load(conn)?)
}

/// The updated time of a policy, for its `version` bump.
pub fn touch(policy: &mut EscalationPolicy, now: NaiveDateTime) {
    policy.version += 1;
    policy.updated_at = now;
}

/// The names of these policies, by id: one query.
pub fn names(
    conn: &mut DbConnection,
    ids: &[EscalationPolicyId],
) -> AppResult<HashMap<EscalationPolicyId, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        out.extend(
            escalation_policies::table
                .filter(escalation_policies::id.eq_any(chunk))
                .select((escalation_policies::id, escalation_policies::name))
                .load::<(EscalationPolicyId, String)>(conn)?,
        );
    }
    Ok(out)
}
