//! Hand-off notices claimed once each (`handoff_notices`), and what people want to hear
//! about their shifts (`oncall_notification_settings`).

use super::DbConnection;
use super::schema::{
    escalation_rules, escalation_targets, handoff_notices, oncall_notification_settings, services,
    team_members,
};
use crate::domain::handoff::{Fate, HandoffSetting, NoticeKind, Settings};
use crate::domain::ids::TeamId;
use crate::domain::ids::{ScheduleId, UserId};
use crate::domain::role::TeamRole;
use crate::error::AppResult;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::{HashMap, HashSet};

/// One notice as claimed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = handoff_notices)]
pub struct NoticeRow {
    pub schedule_id: ScheduleId,
    pub user_id: UserId,
    pub kind: NoticeKind,
    pub at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub fate: Fate,
    pub created_at: NaiveDateTime,
}

/// What identifies a notice.
pub type NoticeKey = (ScheduleId, UserId, NoticeKind, NaiveDateTime);

impl NoticeRow {
    pub fn key(&self) -> NoticeKey {
        (
            self.schedule_id.clone(),
            self.user_id.clone(),
            self.kind,
            self.at,
        )
    }
}

/// The notices claimed (sent or skipped) that fell due after `since`.
pub fn claimed_since(
    conn: &mut DbConnection,
    since: NaiveDateTime,
) -> AppResult<HashSet<NoticeKey>> {
    let rows: Vec<NoticeRow> = handoff_notices::table
        .filter(handoff_notices::due_at.gt(since))
        .select(NoticeRow::as_select())
        .load(conn)?;
    Ok(rows.iter().map(NoticeRow::key).collect())
}

/// Forgets the claims of notices due before `before` (no pass looks back that far); how
/// many went.
pub fn forget_before(conn: &mut DbConnection, before: NaiveDateTime) -> AppResult<usize> {
    Ok(
        diesel::delete(handoff_notices::table.filter(handoff_notices::due_at.lt(before)))
            .execute(conn)?,
    )
}

/// Claims these notices: those another pass (another instance) claimed first are left out
/// of the answer. PostgreSQL takes a thousand in a statement; SQLite (one writer, in-process)
/// one at a time, as diesel's SQLite batch insert cannot skip a conflict and return the rest.
pub fn claim(conn: &mut DbConnection, rows: &[NoticeRow]) -> AppResult<HashSet<NoticeKey>> {
    let mut claimed = HashSet::with_capacity(rows.len());
    match conn {
        DbConnection::Sqlite(c) => {
            for row in rows {
                let inserted = diesel::insert_into(handoff_notices::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(c)?;
                if inserted == 1 {
                    claimed.insert(row.key());
                }
            }
        }
        // Seven columns a row: well under the bound-parameter limit.
        DbConnection::Postgres(c) => {
            for chunk in rows.chunks(1_000) {
                let keys: Vec<NoticeKey> = diesel::insert_into(handoff_notices::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .returning((
                        handoff_notices::schedule_id,
                        handoff_notices::user_id,
                        handoff_notices::kind,
                        handoff_notices::at,
                    ))
                    .get_results(c)?;
                claimed.extend(keys);
            }
        }
    }
    Ok(claimed)
}

/// Everyone's settings that differ from the default (`Settings::default()`).
pub fn settings(conn: &mut DbConnection) -> AppResult<HashMap<UserId, Settings>> {
    let rows: Vec<(UserId, HandoffSetting, Option<i32>)> = oncall_notification_settings::table
        .select((
            oncall_notification_settings::user_id,
            oncall_notification_settings::handoff,
            oncall_notification_settings::reminder_hours,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(u, handoff, reminder_hours)| {
            (
                u,
                Settings {
                    handoff,
                    reminder_hours,
                },
            )
        })
        .collect())
}

pub fn settings_of(conn: &mut DbConnection, user: &UserId) -> AppResult<Settings> {
    let row: Option<(HandoffSetting, Option<i32>)> = oncall_notification_settings::table
        .find(user)
        .select((
            oncall_notification_settings::handoff,
            oncall_notification_settings::reminder_hours,
        ))
        .first(conn)
        .optional()?;
    Ok(
        row.map_or_else(Settings::default, |(handoff, reminder_hours)| Settings {
            handoff,
            reminder_hours,
        }),
    )
}

pub fn set_settings(
    conn: &mut DbConnection,
    user: &UserId,
    settings: Settings,
    now: NaiveDateTime,
) -> AppResult<()> {
    diesel::delete(oncall_notification_settings::table.find(user)).execute(conn)?;
    diesel::insert_into(oncall_notification_settings::table)
        .values((
            oncall_notification_settings::user_id.eq(user),
            oncall_notification_settings::handoff.eq(settings.handoff),
            oncall_notification_settings::reminder_hours.eq(settings.reminder_hours),
            oncall_notification_settings::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The schedules that page people: targets of an escalation policy some service uses
/// (PagerDuty's "has services", which `if_has_services` hand-off settings ask about).
pub fn paging_schedules(conn: &mut DbConnection) -> AppResult<HashSet<ScheduleId>> {
    let ids: Vec<Option<ScheduleId>> = escalation_targets::table
        .inner_join(escalation_rules::table)
        .filter(
            escalation_rules::policy_id
                .eq_any(services::table.select(services::escalation_policy_id)),
        )
        .filter(escalation_targets::schedule_id.is_not_null())
        .select(escalation_targets::schedule_id)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// Each team's managers (they hear of gaps and skipped people on the team's schedules).
pub fn managers(conn: &mut DbConnection) -> AppResult<HashMap<TeamId, Vec<UserId>>> {
    let rows: Vec<(TeamId, UserId)> = team_members::table
        .filter(team_members::role.eq(TeamRole::Manager))
        .select((team_members::team_id, team_members::user_id))
        .load(conn)?;
    let mut out: HashMap<TeamId, Vec<UserId>> = HashMap::new();
    for (t, u) in rows {
        out.entry(t).or_default().push(u);
    }
    Ok(out)
}
