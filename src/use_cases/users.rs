//! User use cases shared by REST (`/api/v2/users`) and SCIM (`/scim/v2/Users`).

use super::{Seats, changing_seats};
use crate::domain::ids::UserId;
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::audit::{self, AuditContext};
use crate::store::users::{self, User};

/// Deletes a person (soft: the audit trail keeps their history) and removes them from every
/// team; their seat goes to whoever waits for it. `check` sees the user first and may refuse
/// (REST's authorization, SCIM's `If-Match`).
pub fn delete(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    id: &UserId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<()> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let user = users::find(tx, id)?;
        check(&user)?;
        let policies = crate::store::escalation::targeting_user(tx, id)?;
        if !policies.is_empty() {
            return Err(crate::error::AppError::invalid(
                "id",
                format!(
                    "{} is a target of escalation {} {}; take them out of {} first",
                    user.name,
                    if policies.len() == 1 {
                        "policy"
                    } else {
                        "policies"
                    },
                    super::schedules::named(&policies),
                    if policies.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
        users::delete(tx, &user, crate::clock::stored(ctx.at))?;
        audit::record(
            tx,
            ctx,
            "delete",
            user.audit_target(),
            Some(&user),
            None::<&User>,
        )?;
        settling.settle(tx, std::slice::from_ref(id))?;
        Ok(())
    })
}
