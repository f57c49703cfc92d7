//! Team use cases: deletion, shared by REST (`/api/v2/teams`) and SCIM (`/scim/v2/Groups`);
//! teams and members as the directory sends them (SCIM today, sign-in's groups next).

use super::{Seats, changing_seats};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::role::TeamRole;
use crate::domain::scim_group::{self, MemberOp};
use crate::domain::seats::may_be_on_call;
use crate::domain::user as rules;
use crate::error::{AppError, AppResult};
use crate::store::DbConnection;
use crate::store::audit::{self, AuditContext, Target};
use crate::store::teams::{self, Team, TeamMember};
use crate::store::users;
use serde_json::json;

/// A schedule's or escalation policy's `teams`: each must be a team (400 naming the
/// first that is not).
pub fn must_exist(tx: &mut DbConnection, ids: &[TeamId]) -> AppResult<()> {
    for (i, id) in ids.iter().enumerate() {
        if teams::find(tx, id).is_err() {
            return Err(AppError::invalid(
                format!("teams[{i}].id"),
                format!("'{id}' is not a team"),
            ));
        }
    }
    Ok(())
}

/// Whether two lists name the same teams, in any order.
pub fn same(a: &[TeamId], b: &[TeamId]) -> bool {
    let sorted = |ids: &[TeamId]| {
        let mut v = ids.to_vec();
        v.sort();
        v
    };
    sorted(a) == sorted(b)
}

/// How the audit trail names a team.
pub fn target(team: &Team) -> Target<'_> {
    Target {
        kind: "team",
        id: team.id.as_str(),
        name: &team.name,
    }
}

/// Deletes a team: its memberships go with it, the deletion is audited, and its former
/// members' seats are decided again (team rules may have given them theirs). `check` sees the
/// team first and may refuse (SCIM's `If-Match`).
pub fn delete(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    id: &TeamId,
    check: impl FnOnce(&Team) -> AppResult<()>,
) -> AppResult<()> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let team = teams::find(tx, id)?;
        check(&team)?;
        let members = teams::member_ids(tx, id)?;
        teams::delete(tx, id)?;
        audit::record(tx, ctx, "delete", target(&team), Some(&team), None::<&Team>)?;
        settling.settle(tx, &members)?;
        Ok(())
    })
}

/// The team role a member added by the directory (SCIM, later sign-in's groups) gets.
pub const DIRECTORY_MEMBER_ROLE: TeamRole = TeamRole::Responder;

/// A team the directory sends: its name, external id and members. Creates it with them,
/// audited with who joined, and decides their seats (team rules may match it).
pub fn create_with_members(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    name: String,
    external_id: Option<String>,
    members: &[UserId],
) -> AppResult<Team> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let now = crate::clock::stored(ctx.at);
        let team = Team {
            id: TeamId::generate(),
            name_key: rules::name_key(&name),
            name,
            description: None,
            external_id,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        teams::insert(tx, &team)?;
        let added = teams::add_members(tx, &team.id, members, DIRECTORY_MEMBER_ROLE, now)?;
        audit::record(
            tx,
            ctx,
            "create",
            target(&team),
            None::<&Team>,
            Some(&json!({"team": team, "members": added})),
        )?;
        settling.settle(tx, &added)?;
        Ok(team)
    })
}

/// A change to a team: its new name and external id, and member operations in order.
pub struct TeamChange {
    pub name: String,
    pub external_id: Option<String>,
    pub members: Vec<MemberOp>,
}

/// Changes a team's name, external id and members in one transaction (SCIM's PUT and PATCH
/// on a group). `decide` sees the team as stored (after `check`, e.g. `If-Match`) and says
/// what it becomes; the members change as planned by `scim_group::plan`, in two bulk
/// statements. Nothing changed, nothing written; otherwise one audit record with who joined
/// and who left. Seat rules match team names and group ids, so a renamed team's members are
/// decided again, as are those who joined or left. Returns the team as it is now.
pub fn set_members(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    id: &TeamId,
    check: impl FnOnce(&Team) -> AppResult<()>,
    decide: impl FnOnce(&Team) -> AppResult<TeamChange>,
) -> AppResult<Team> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let before = teams::find(tx, id)?;
        check(&before)?;
        let change = decide(&before)?;
        let now = crate::clock::stored(ctx.at);
        let mut team = before.clone();
        team.name_key = rules::name_key(&change.name);
        team.name = change.name;
        team.external_id = change.external_id;
        let (added, removed) = if change.members.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let current = teams::member_ids(tx, id)?;
            let plan = scim_group::plan(&current, change.members);
            if !plan.remove.is_empty() {
                teams::remove_members(tx, id, &plan.remove)?;
            }
            let added = teams::add_members(tx, id, &plan.add, DIRECTORY_MEMBER_ROLE, now)?;
            (added, plan.remove)
        };
        let mut concerned: Vec<UserId> = added.iter().chain(&removed).cloned().collect();
        if team.name_key != before.name_key || team.external_id != before.external_id {
            concerned.extend(teams::member_ids(tx, id)?);
        }
        if team != before || !added.is_empty() || !removed.is_empty() {
            team.version += 1;
            team.updated_at = now;
            teams::update(tx, &team)?;
            audit::record(
                tx,
                ctx,
                "update",
                target(&team),
                Some(&before),
                Some(&json!({"team": team, "members_added": added, "members_removed": removed})),
            )?;
        }
        settling.settle(tx, &concerned)?;
        Ok(team)
    })
}

/// Adds a person to a team made in Rota, or changes their team role in any team. Seat rules
/// may match the team, so their seat is decided again before the role is checked against
/// it: a stakeholder seat cannot be on call, so only an observer role fits one.
pub fn put_member(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    team_id: &TeamId,
    user_id: &UserId,
    role: TeamRole,
) -> AppResult<()> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let team = teams::find(tx, team_id)?;
        let user = users::find(tx, user_id)?;
        let before = teams::membership(tx, team_id, user_id)?;
        if before.as_ref().is_some_and(|m| m.role == role) {
            return Ok(());
        }
        if before.is_none() {
            entra_members_only(&team)?;
        }
        let now = crate::clock::stored(ctx.at);
        let member = TeamMember {
            team_id: team.id.clone(),
            user_id: user.id.clone(),
            role,
            created_at: before.as_ref().map_or(now, |m| m.created_at),
            updated_at: now,
        };
        teams::put_member(tx, &member)?;
        let action = if before.is_some() {
            "update_member"
        } else {
            "add_member"
        };
        audit::record(
            tx,
            ctx,
            action,
            target(&team),
            before.as_ref(),
            Some(&member),
        )?;
        // Seat rules may match the team: settle first, then check the seat.
        settling.settle(tx, std::slice::from_ref(&user.id))?;
        let user = users::find(tx, &user.id)?;
        if role != TeamRole::Observer {
            let held = user.licence;
            may_be_on_call(user.active, held).map_err(|why| {
                AppError::invalid(
                    "role",
                    format!(
                        "{} for {} ({}): {} {}",
                        role.as_str(),
                        user.name,
                        user.user_name,
                        user.name,
                        why.explain()
                    ),
                )
            })?;
        }
        Ok(())
    })
}

/// Removes a person from a team made in Rota; their seat is decided again.
pub fn remove_member(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    team_id: &TeamId,
    user_id: &UserId,
) -> AppResult<()> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let team = teams::find(tx, team_id)?;
        let member = teams::membership(tx, team_id, user_id)?
            .ok_or_else(|| AppError::not_found("team member", user_id.as_str()))?;
        entra_members_only(&team)?;
        teams::remove_member(tx, team_id, user_id)?;
        audit::record(
            tx,
            ctx,
            "remove_member",
            target(&team),
            Some(&member),
            None::<&TeamMember>,
        )?;
        settling.settle(tx, std::slice::from_ref(user_id))?;
        Ok(())
    })
}

/// Who is in a team that comes from Entra (a SCIM group) is Entra's to say: seat rules match
/// such teams, so a member added here would take the rule's role. Team roles are Rota's.
fn entra_members_only(team: &Team) -> AppResult<()> {
    match &team.external_id {
        Some(group) => Err(AppError::invalid(
            "user_id",
            format!(
                "cannot join or leave {} here: its members come from Microsoft Entra ID (SCIM group {group}). Change the group's members in Entra; a member's team role can be changed here",
                team.name
            ),
        )),
        None => Ok(()),
    }
}
