//! Licence owners' changes, once for the REST API and the seats page: a licence's cap and a
//! person's pin (reclaiming a seat is pinning it to none). Each runs in a seat transaction
//! (`changing_seats`), audited by the store function it calls. Reads stay in
//! `store::seats::reports`.

use super::{Seats, changing_seats};
use crate::domain::ids::UserId;
use crate::domain::seat_policy::Licence;
use crate::domain::seats::Pin;
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::audit::AuditContext;
use crate::store::seats::{self, Settlement};
use crate::store::users::{self, User};

/// Sets `licence`'s cap (`None`: unlimited) and serves the queue; a cap below the seats held
/// is refused (`cap`).
pub fn set_cap(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    licence: Licence,
    cap: Option<i64>,
) -> AppResult<()> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let settled = seats::set_cap(tx, settling.rules(), ctx, licence, cap, None)?;
        settling.settled(&settled);
        Ok(())
    })
}

/// Pins person `id`'s seat (`None`: follow the seat policy again); a seat that is not free
/// is refused (`license`). The person and where they stand now.
pub fn pin(
    conn: &mut DbConnection,
    seats: Seats<'_>,
    ctx: &AuditContext,
    id: &UserId,
    choice: Option<Pin>,
) -> AppResult<(User, Settlement)> {
    changing_seats(conn, seats, ctx, |tx, settling| {
        let user = users::find(tx, id)?;
        let settled = seats::pin(tx, settling.rules(), ctx, &user, choice)?;
        settling.settled(&settled);
        Ok((user, settled))
    })
}
