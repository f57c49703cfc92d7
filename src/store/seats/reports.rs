//! What licence owners read: allocations (the listing and the CSV's rows), the queue, use
//! per team, the daily history, and whom seat warnings go to.

use crate::domain::ids::{TeamId, UserId};
use crate::domain::role::Role;
use crate::domain::seat_policy::Licence;
use crate::domain::seats::{Pin, day_peak};
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::schema::{licence_usage_days, seats, team_members, teams, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// The people told about seats: licence owners, or the owners when no licence owner has an
/// e-mail address.
pub fn licence_owner_addresses(tx: &mut DbConnection) -> AppResult<Vec<String>> {
    for role in [Role::LicenseOwner, Role::Owner] {
        let found: Vec<Option<String>> = users::table
            .filter(users::role.eq(role.as_str()))
            .filter(users::active.eq(true))
            .filter(users::deleted_at.is_null())
            .filter(users::email.is_not_null())
            .select(users::email)
            .load(tx)?;
        let found: Vec<String> = found.into_iter().flatten().collect();
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(Vec::new())
}

/// One allocation as the licence owners' view lists it.
#[derive(Debug, Clone, Queryable)]
pub struct Allocation {
    pub user_id: UserId,
    pub name: String,
    pub user_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub licence: Option<Licence>,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub since: Option<NaiveDateTime>,
    pub reason: Option<String>,
    pub allocated_by: Option<String>,
    pub pinned: Option<Pin>,
    pub wanted: Option<Licence>,
    pub queued_at: Option<NaiveDateTime>,
    pub queue_reason: Option<String>,
}

/// Which allocations to list.
#[derive(Debug, Default, Clone)]
pub struct AllocationQuery {
    pub licence: Option<Licence>,
    /// Only full seats unused since before this instant (idle).
    pub idle_before: Option<NaiveDateTime>,
}

type AllocationColumns = (
    users::id,
    users::name,
    users::user_name,
    users::email,
    users::role,
    users::licence,
    users::last_sign_in_at,
    users::created_at,
    diesel::helper_types::Nullable<seats::since>,
    diesel::helper_types::Nullable<seats::reason>,
    diesel::helper_types::Nullable<seats::allocated_by>,
    diesel::helper_types::Nullable<seats::pinned>,
    diesel::helper_types::Nullable<seats::wanted>,
    diesel::helper_types::Nullable<seats::queued_at>,
    diesel::helper_types::Nullable<seats::queue_reason>,
);

fn allocation_columns() -> AllocationColumns {
    (
        users::id,
        users::name,
        users::user_name,
        users::email,
        users::role,
        users::licence,
        users::last_sign_in_at,
        users::created_at,
        seats::since.nullable(),
        seats::reason.nullable(),
        seats::allocated_by.nullable(),
        seats::pinned.nullable(),
        seats::wanted.nullable(),
        seats::queued_at.nullable(),
        seats::queue_reason.nullable(),
    )
}

/// Seats held, ordered by name; `limit` `None` reads them all (the CSV export).
pub fn allocations(
    conn: &mut DbConnection,
    q: &AllocationQuery,
    offset: i64,
    limit: Option<i64>,
) -> AppResult<(Vec<Allocation>, i64)> {
    let filtered = || {
        let mut query = users::table
            .left_join(seats::table)
            .filter(users::licence.is_not_null())
            .into_boxed();
        if let Some(l) = q.licence {
            query = query.filter(users::licence.eq(l.as_str()));
        }
        if let Some(before) = q.idle_before {
            query = query
                .filter(users::licence.eq(Licence::Full.as_str()))
                .filter(
                    users::last_sign_in_at.lt(before).or(users::last_sign_in_at
                        .is_null()
                        .and(users::created_at.lt(before))),
                );
        }
        query
    };
    let mut query = filtered()
        .order((users::name.asc(), users::id.asc()))
        .select(allocation_columns());
    // SQLite takes OFFSET only after a LIMIT.
    if let Some(l) = limit {
        query = query.offset(offset).limit(l);
    }
    let rows = query.load(conn)?;
    let total = filtered().count().get_result(conn)?;
    Ok((rows, total))
}

/// Everyone waiting for a seat, in queue order.
pub fn waiting(conn: &mut DbConnection) -> AppResult<Vec<Allocation>> {
    Ok(users::table
        .inner_join(seats::table)
        .filter(seats::wanted.is_not_null())
        .order((seats::queued_at.asc(), seats::user_id.asc()))
        .select(allocation_columns())
        .load(conn)?)
}

/// Seats held and people waiting in one team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSeats {
    pub team: TeamId,
    pub name: String,
    pub full: i64,
    pub stakeholder: i64,
    pub waiting: i64,
}

/// Seats held and people waiting per team, by team name; people in several teams count in
/// each. One query.
pub fn usage_by_team(conn: &mut DbConnection) -> AppResult<Vec<TeamSeats>> {
    let rows: Vec<(TeamId, String, Option<Licence>, Option<Licence>)> = team_members::table
        .inner_join(teams::table)
        .inner_join(users::table.left_join(seats::table))
        .filter(users::deleted_at.is_null())
        .select((
            teams::id,
            teams::name,
            users::licence,
            seats::wanted.nullable(),
        ))
        .load(conn)?;
    let mut out: BTreeMap<(String, TeamId), (i64, i64, i64)> = BTreeMap::new();
    for (id, name, licence, wanted) in rows {
        let e = out.entry((name, id)).or_default();
        match licence {
            Some(Licence::Full) => e.0 += 1,
            Some(Licence::Stakeholder) => e.1 += 1,
            None => {}
        }
        if wanted.is_some() {
            e.2 += 1;
        }
    }
    Ok(out
        .into_iter()
        .map(|((name, team), (full, stakeholder, waiting))| TeamSeats {
            team,
            name,
            full,
            stakeholder,
            waiting,
        })
        .collect())
}

/// A day of the usage history.
#[derive(Debug, Clone, Queryable, Serialize)]
pub struct UsageDay {
    pub day: String,
    pub licence: Licence,
    pub cap: Option<i64>,
    pub held: i64,
    pub peak_held: i64,
    pub queued: i64,
}

/// The usage history between two days (inclusive, `YYYY-MM-DD`), oldest first. The latest
/// row of each licence is completed from its counter: free seats taken since that row was
/// written raised only the counter (`domain::seats::day_peak`).
pub fn usage_history(
    conn: &mut DbConnection,
    since: &str,
    until: &str,
) -> AppResult<Vec<UsageDay>> {
    let counters = super::licences(conn)?;
    let mut days = recorded_history(conn, since, until)?;
    for day in &mut days {
        if let Some(c) = counters
            .iter()
            .find(|c| c.id == day.licence && c.peak_day.as_deref() == Some(day.day.as_str()))
        {
            // Only free seats taken have changed it since: what is held now is what it
            // holds (or ended that day with).
            day.held = c.held;
            day.peak_held = day_peak(day.peak_held, &day.day, c.peak_day.as_deref(), c.day_peak);
        }
    }
    Ok(days)
}

fn recorded_history(conn: &mut DbConnection, since: &str, until: &str) -> AppResult<Vec<UsageDay>> {
    licence_usage_days::table
        .filter(licence_usage_days::day.ge(since))
        .filter(licence_usage_days::day.le(until))
        .order((
            licence_usage_days::day.asc(),
            licence_usage_days::licence.asc(),
        ))
        .select((
            licence_usage_days::day,
            licence_usage_days::licence,
            licence_usage_days::cap,
            licence_usage_days::held,
            licence_usage_days::peak_held,
            licence_usage_days::queued,
        ))
        .load(conn)
        .map_err(crate::store::column::read_from("licence_usage_days"))
}
