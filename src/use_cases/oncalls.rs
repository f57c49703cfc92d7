//! Who is on call (`GET /oncalls`, My On-Call Shifts): for each escalation policy, each
//! level's people, directly or through a schedule's final schedule, over a window.

use crate::domain::escalation::{self, OnCall};
use crate::domain::ids::{EscalationPolicyId, ScheduleId, UserId};
use crate::domain::schedule::{self, Entry};
use crate::domain::seats::NotOnCall;
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::escalation::{self as policies, LoadedPolicy};
use crate::store::schedules::{self, Loaded, OverrideRow, Person};
use jiff::{SignedDuration, Timestamp};
use std::collections::{HashMap, HashSet};

/// The longest window `GET /oncalls` answers for (PagerDuty's limit).
pub const MAX_WINDOW_DAYS: i64 = 90;

/// How far past the window a shift is followed to give its real start and end: a shift
/// that runs longer than this beyond the window shows cut at this distance.
const SHIFT_REACH: SignedDuration = SignedDuration::from_hours(24 * 35);

/// How far past the window one schedule is rendered: its longest turn and a day (a shift
/// is at most a turn unless one person has consecutive turns, or an override), at most
/// `SHIFT_REACH`. Rendering all of `SHIFT_REACH` for every schedule would make "who is on
/// call now" across thousands of schedules cost weeks of turns each.
fn reach(s: &Loaded) -> SignedDuration {
    let longest = s
        .layers
        .iter()
        .flat_map(|l| l.versions.iter().map(|(_, v)| v.turn_length))
        .max()
        .unwrap_or(SignedDuration::ZERO);
    (longest + SignedDuration::from_hours(24)).min(SHIFT_REACH)
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    pub earliest: bool,
    pub user_ids: Vec<UserId>,
    pub schedule_ids: Vec<ScheduleId>,
    pub policy_ids: Vec<EscalationPolicyId>,
}

/// One on-call: a person at a level of a policy, through a schedule or directly.
#[derive(Debug, Clone)]
pub struct Row {
    pub policy: EscalationPolicyId,
    pub call: OnCall<UserId, ScheduleId>,
}

/// The on-calls with what they name.
pub struct OnCalls {
    pub rows: Vec<Row>,
    pub policies: HashMap<EscalationPolicyId, LoadedPolicy>,
    pub schedules: HashMap<ScheduleId, String>,
    pub people: HashMap<UserId, Person>,
}

/// Lists who is on call for `[since, until]` (an instant when they are equal). Policies
/// in name order, then level, then time.
pub fn list(
    conn: &mut DbConnection,
    q: &Query,
    since: Timestamp,
    until: Timestamp,
) -> AppResult<OnCalls> {
    let filter = |ids: &[EscalationPolicyId]| (!ids.is_empty()).then(|| ids.to_vec());
    let loaded = policies::load_many(conn, filter(&q.policy_ids).as_deref())?;
    let wanted_schedules: HashSet<&ScheduleId> = q.schedule_ids.iter().collect();
    let mut targeted: Vec<ScheduleId> = loaded
        .iter()
        .flat_map(|p| p.rules.rules.iter().flat_map(|r| r.targets.iter()))
        .filter_map(|t| match t {
            escalation::Target::Schedule(s) => Some(s.clone()),
            escalation::Target::User(_) => None,
        })
        .filter(|s| wanted_schedules.is_empty() || wanted_schedules.contains(s))
        .collect();
    targeted.sort();
    targeted.dedup();
    let finals = final_schedules(conn, &targeted, &q.user_ids, since, until)?;
    let wanted_users: HashSet<&UserId> = q.user_ids.iter().collect();
    let mut rows = Vec::new();
    let mut named: HashSet<UserId> = HashSet::new();
    for p in &loaded {
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
            named.insert(call.user.clone());
            rows.push(Row {
                policy: p.policy.id.clone(),
                call,
            });
        }
    }
    let named: Vec<UserId> = named.into_iter().collect();
    let mut people = finals.people;
    let missing: Vec<UserId> = named
        .into_iter()
        .filter(|u| !people.contains_key(u))
        .collect();
    people.extend(schedules::people(conn, &missing)?);
    // A person targeted directly who may not be on call now is not on call.
    rows.retain(|r| {
        r.call.schedule.is_some()
            || people
                .get(&r.call.user)
                .is_some_and(|p| p.on_call().is_ok())
    });
    Ok(OnCalls {
        rows,
        policies: loaded
            .into_iter()
            .map(|p| (p.policy.id.clone(), p))
            .collect(),
        schedules: finals.names,
        people,
    })
}

/// Final schedules of several schedules over a window.
pub struct Finals {
    pub entries: HashMap<ScheduleId, Vec<Entry<UserId>>>,
    pub names: HashMap<ScheduleId, String>,
    pub people: HashMap<UserId, Person>,
}

/// The final schedules of `ids` for `[since, until]`, each entry with its whole shift
/// (followed up to `SHIFT_REACH` past the window). With `users`, only schedules where one of
/// them is on a layer or an override are rendered.
pub fn final_schedules(
    conn: &mut DbConnection,
    ids: &[ScheduleId],
    users: &[UserId],
    since: Timestamp,
    until: Timestamp,
) -> AppResult<Finals> {
    if ids.is_empty() {
        return Ok(Finals {
            entries: HashMap::new(),
            names: HashMap::new(),
            people: HashMap::new(),
        });
    }
    let from = since - SHIFT_REACH;
    let to = until + SHIFT_REACH;
    let loaded = schedules::load_many(conn, Some(ids))?;
    let overrides = schedules::overrides_in(
        conn,
        Some(ids),
        crate::clock::stored_instant(from),
        crate::clock::stored_instant(to),
    )?;
    render_all(conn, loaded, overrides, users, (since, until))
}

fn render_all(
    conn: &mut DbConnection,
    loaded: Vec<Loaded>,
    overrides: Vec<OverrideRow>,
    users: &[UserId],
    (since, until): (Timestamp, Timestamp),
) -> AppResult<Finals> {
    let mut by_schedule: HashMap<&ScheduleId, Vec<schedule::Override<UserId>>> = HashMap::new();
    for o in &overrides {
        by_schedule
            .entry(&o.schedule_id)
            .or_default()
            .push(o.engine());
    }
    let wanted: HashSet<&UserId> = users.iter().collect();
    let relevant: Vec<&Loaded> = loaded
        .iter()
        .filter(|s| {
            wanted.is_empty()
                || s.people().iter().any(|u| wanted.contains(u))
                || by_schedule
                    .get(&s.schedule.id)
                    .is_some_and(|os| os.iter().any(|o| wanted.contains(&o.user)))
        })
        .collect();
    let mut ids: Vec<UserId> = relevant.iter().flat_map(|s| s.people()).collect();
    ids.extend(overrides.iter().map(|o| o.user_id.clone()));
    ids.sort();
    ids.dedup();
    let people = schedules::people(conn, &ids)?;
    let mut entries = HashMap::with_capacity(relevant.len());
    for s in &relevant {
        let os = by_schedule
            .get(&s.schedule.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (from, to) = (since - reach(s), until + reach(s));
        let (rendered, _) = schedule::render_skipping(
            &s.for_render(),
            os,
            s.schedule.time_zone.tz(),
            from,
            to,
            |u| match people.get(u) {
                Some(p) => p.on_call().err(),
                None => Some(NotOnCall::Deactivated),
            },
        );
        let overlapping: Vec<Entry<UserId>> = rendered
            .final_schedule
            .into_iter()
            .filter(|e| e.end > since && (e.start < until || (since == until && e.start <= since)))
            .collect();
        entries.insert(s.schedule.id.clone(), overlapping);
    }
    Ok(Finals {
        entries,
        names: loaded
            .into_iter()
            .map(|s| (s.schedule.id, s.schedule.name))
            .collect(),
        people,
    })
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
