//! Team use cases shared by REST (`/api/v2/teams`) and SCIM (`/scim/v2/Groups`).

use super::{Seats, changing_seats};
use crate::domain::ids::TeamId;
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::audit::{self, AuditContext, Target};
use crate::store::teams::{self, Team};

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
