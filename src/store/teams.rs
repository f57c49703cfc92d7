//! Teams and their members.

use super::schema::{team_members, teams, users};
use super::{DbConnection, Page, contains_pattern, unique_violation};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::paging::PageRequest;
use crate::domain::role::TeamRole;
use crate::error::{AppError, AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = teams, treat_none_as_null = true)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = team_members)]
pub struct TeamMember {
    pub team_id: TeamId,
    pub user_id: UserId,
    pub role: TeamRole,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

fn taken(name: &str) -> String {
    format!("'{name}' is already taken by another team")
}

pub fn insert(conn: &mut DbConnection, team: &Team) -> AppResult<()> {
    diesel::insert_into(teams::table)
        .values(team)
        .execute(conn)
        .map_err(unique_violation("name", taken(&team.name)))?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &TeamId) -> AppResult<Team> {
    teams::table
        .find(id)
        .select(Team::as_select())
        .first(conn)
        .optional()?
        .not_found("team", id.as_str())
}

/// Saves every column of `team`; optimistic like `users::update`.
pub fn update(conn: &mut DbConnection, team: &Team) -> AppResult<()> {
    let saved = diesel::update(
        teams::table
            .find(&team.id)
            .filter(teams::version.eq(team.version - 1)),
    )
    .set(team)
    .execute(conn)
    .map_err(unique_violation("name", taken(&team.name)))?;
    if saved == 0 {
        return Err(super::changed_meanwhile("team", team.id.as_str()));
    }
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &TeamId) -> AppResult<()> {
    use super::schema::{escalation_policies, escalation_policy_teams, schedule_teams, schedules};
    // The team leaves its schedules and policies (the foreign keys cascade): a new version
    // of each, so copies kept by version (`use_cases::finals`) are read again.
    diesel::update(
        schedules::table.filter(
            schedules::id.eq_any(
                schedule_teams::table
                    .filter(schedule_teams::team_id.eq(id))
                    .select(schedule_teams::schedule_id),
            ),
        ),
    )
    .set(schedules::version.eq(schedules::version + 1))
    .execute(conn)?;
    diesel::update(
        escalation_policies::table.filter(
            escalation_policies::id.eq_any(
                escalation_policy_teams::table
                    .filter(escalation_policy_teams::team_id.eq(id))
                    .select(escalation_policy_teams::policy_id),
            ),
        ),
    )
    .set(escalation_policies::version.eq(escalation_policies::version + 1))
    .execute(conn)?;
    diesel::delete(team_members::table.filter(team_members::team_id.eq(id))).execute(conn)?;
    diesel::delete(teams::table.find(id)).execute(conn)?;
    Ok(())
}

pub fn list(
    conn: &mut DbConnection,
    text: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<Team>> {
    let filtered = || {
        let mut q = teams::table.into_boxed();
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            // `name_key` is the trimmed name's caseless key, and names are stored trimmed.
            q = q.filter(
                teams::name_key
                    .like(contains_pattern(text.trim()))
                    .escape('\\'),
            );
        }
        q
    };
    let rows = filtered()
        .order((teams::name.asc(), teams::id.asc()))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(Team::as_select())
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page { rows, more, total })
}

pub fn membership(
    conn: &mut DbConnection,
    team_id: &TeamId,
    user_id: &UserId,
) -> AppResult<Option<TeamMember>> {
    Ok(team_members::table
        .find((team_id, user_id))
        .select(TeamMember::as_select())
        .first(conn)
        .optional()?)
}

/// Adds the user to the team with `role`, or changes their role if already a member (a role
/// given explicitly replaces one kept while they had no full seat).
pub fn put_member(conn: &mut DbConnection, member: &TeamMember) -> AppResult<()> {
    let updated = diesel::update(team_members::table.find((&member.team_id, &member.user_id)))
        .set((
            team_members::role.eq(&member.role),
            team_members::demoted_role.eq(None::<TeamRole>),
            team_members::updated_at.eq(member.updated_at),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(team_members::table)
            .values(member)
            .execute(conn)?;
    }
    Ok(())
}

pub fn remove_member(
    conn: &mut DbConnection,
    team_id: &TeamId,
    user_id: &UserId,
) -> AppResult<bool> {
    let removed = diesel::delete(team_members::table.find((team_id, user_id))).execute(conn)?;
    Ok(removed > 0)
}

/// One page of a team's members with their names, ordered by name.
pub fn members(
    conn: &mut DbConnection,
    team_id: &TeamId,
    page: &PageRequest,
) -> AppResult<Page<(UserId, String, TeamRole)>> {
    let rows = team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq(team_id))
        .order((users::name.asc(), users::id.asc()))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select((users::id, users::name, team_members::role))
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(
            team_members::table
                .filter(team_members::team_id.eq(team_id))
                .count()
                .get_result(conn)?,
        )
    } else {
        None
    };
    Ok(Page { rows, more, total })
}

/// Teams by id (order not kept).
pub fn find_many(conn: &mut DbConnection, ids: &[TeamId]) -> AppResult<Vec<Team>> {
    Ok(teams::table
        .filter(teams::id.eq_any(ids))
        .select(Team::as_select())
        .load(conn)?)
}

/// Every member of the teams in `ids`: (team, user, user's name), ordered by name.
pub fn members_of(
    conn: &mut DbConnection,
    ids: &[TeamId],
) -> AppResult<Vec<(TeamId, UserId, String)>> {
    Ok(team_members::table
        .inner_join(users::table)
        .filter(team_members::team_id.eq_any(ids))
        .order((users::name.asc(), users::id.asc()))
        .select((team_members::team_id, users::id, users::name))
        .load(conn)?)
}

/// Rows per multi-row statement: well under SQLite's and PostgreSQL's bind-parameter limits.
const CHUNK: usize = 2_000;

/// Adds `user_ids` to the team with `role`, skipping current members; one look-up and one
/// multi-row insert per 2,000 users. Unknown or deleted users are refused by name.
pub fn add_members(
    conn: &mut DbConnection,
    team_id: &TeamId,
    user_ids: &[UserId],
    role: TeamRole,
    now: NaiveDateTime,
) -> AppResult<Vec<UserId>> {
    let mut added = Vec::new();
    for chunk in user_ids.chunks(CHUNK) {
        // Deleted rows are dropped here, not in SQL (see `users::find`).
        let live: std::collections::HashSet<UserId> = users::table
            .filter(users::id.eq_any(chunk))
            .select((users::id, users::deleted_at))
            .load::<(UserId, Option<NaiveDateTime>)>(conn)?
            .into_iter()
            .filter_map(|(id, deleted)| deleted.is_none().then_some(id))
            .collect();
        if let Some(unknown) = chunk.iter().find(|id| !live.contains(*id)) {
            return Err(AppError::invalid(
                "members",
                format!("names {unknown}, which is not a user here"),
            ));
        }
        let present: std::collections::HashSet<UserId> = team_members::table
            .filter(team_members::team_id.eq(team_id))
            .filter(team_members::user_id.eq_any(chunk))
            .select(team_members::user_id)
            .load::<UserId>(conn)?
            .into_iter()
            .collect();
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<TeamMember> = chunk
            .iter()
            .filter(|id| !present.contains(*id) && seen.insert((*id).clone()))
            .map(|id| TeamMember {
                team_id: team_id.clone(),
                user_id: id.clone(),
                role,
                created_at: now,
                updated_at: now,
            })
            .collect();
        if !rows.is_empty() {
            super::on_backend!(conn, c => diesel::insert_into(team_members::table).values(&rows).execute(c))?;
        }
        added.extend(rows.into_iter().map(|r| r.user_id));
    }
    Ok(added)
}

/// Removes `user_ids` from the team in one statement per 2,000; returns how many left.
pub fn remove_members(
    conn: &mut DbConnection,
    team_id: &TeamId,
    user_ids: &[UserId],
) -> AppResult<usize> {
    let mut removed = 0;
    for chunk in user_ids.chunks(CHUNK) {
        removed += diesel::delete(
            team_members::table
                .filter(team_members::team_id.eq(team_id))
                .filter(team_members::user_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(removed)
}

/// The team's member ids.
pub fn member_ids(conn: &mut DbConnection, team_id: &TeamId) -> AppResult<Vec<UserId>> {
    Ok(team_members::table
        .filter(team_members::team_id.eq(team_id))
        .select(team_members::user_id)
        .load(conn)?)
}

/// The teams this user is a member of (any team role).
pub fn of_member(conn: &mut DbConnection, user_id: &UserId) -> AppResult<Vec<TeamId>> {
    Ok(team_members::table
        .filter(team_members::user_id.eq(user_id))
        .select(team_members::team_id)
        .load(conn)?)
}

/// The teams on which this user's team role is manager.
pub fn managed_by(conn: &mut DbConnection, user_id: &UserId) -> AppResult<Vec<TeamId>> {
    Ok(team_members::table
        .filter(team_members::user_id.eq(user_id))
        .filter(team_members::role.eq(TeamRole::Manager))
        .select(team_members::team_id)
        .load(conn)?)
}
