//! Licence owners' and the nightly job's changes: a licence's cap, a person's pin, the
//! reconcile over everyone. Each writes its own row, then lets the settlement serve the
//! queue or move people.

use super::settle::apply_locked;
use super::{Scope, SeatRow, SeatRules, Settlement, licence_states, lock_book, settle, write_rows};
use crate::domain::role::Role;
use crate::domain::seat_policy::Licence;
use crate::domain::seats::Pin;
use crate::domain::seats::plan::book_of;
use crate::error::{AppError, AppResult, OptionExt};
use crate::store::DbConnection;
use crate::store::audit::{self, AuditContext, Target};
use crate::store::on_backend;
use crate::store::schema::{job_runs, licences, seats};
use diesel::prelude::*;

/// Changes a licence's cap (`None`: unlimited), then serves the queue. A cap below the seats
/// held now is refused: free seats first. `configured` records a value from configuration.
pub fn set_cap(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    licence: Licence,
    cap: Option<i64>,
    configured: Option<String>,
) -> AppResult<Settlement> {
    let rows = lock_book(tx)?;
    let row = rows
        .iter()
        .find(|x| x.id == licence)
        .not_found("license", licence.as_str())?;
    if let Some(c) = cap {
        if c < 0 {
            return Err(AppError::invalid(
                "cap",
                "must be 0 or more, or null for unlimited",
            ));
        }
        if c < row.held {
            return Err(AppError::invalid(
                "cap",
                format!(
                    "is {c}, but {} {} seats are held now: free {} of them first (release idle seats, or move people to another licence), or set a cap of at least {}",
                    row.held,
                    licence.as_str(),
                    row.held - c,
                    row.held
                ),
            ));
        }
    }
    let now = crate::clock::stored(ctx.at);
    diesel::update(licences::table.find(licence.as_str()))
        .set((
            licences::cap.eq(cap),
            licences::updated_at.eq(now),
            licences::configured_cap.eq(configured.or(row.configured_cap.clone())),
        ))
        .execute(tx)?;
    if cap != row.cap {
        let target = Target {
            kind: "license",
            id: licence.as_str(),
            name: licence.title(),
        };
        audit::record(
            tx,
            ctx,
            "change_cap",
            target,
            Some(&serde_json::json!({"cap": row.cap})),
            Some(&serde_json::json!({"cap": cap})),
        )?;
    }
    apply_locked(tx, r, ctx, Scope::Users(&[]), now)
}

/// A licence owner's choice for one person (`None`: follow the seat policy again), applied at
/// once. A pinned seat that cannot be had now is refused (nothing changes).
pub fn pin(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    user: &crate::store::users::User,
    choice: Option<Pin>,
) -> AppResult<Settlement> {
    let now = crate::clock::stored(ctx.at);
    let owner = user.role == Role::Owner;
    if owner
        && matches!(
            choice,
            Some(Pin::NoSeat) | Some(Pin::Seat(Licence::Stakeholder))
        )
    {
        return Err(AppError::invalid(
            "license",
            format!(
                "{} is an owner, and owners keep their full seat: change their role first",
                user.name
            ),
        ));
    }
    let mut row = seats::table
        .find(&user.id)
        .select(SeatRow::as_select())
        .first(tx)
        .optional()?
        .unwrap_or_else(|| SeatRow::empty(user.id.clone(), now));
    let before = row.pinned;
    row.pinned = choice;
    row.updated_at = now;
    write_rows(tx, std::slice::from_ref(&row))?;
    if before != row.pinned {
        audit::record(
            tx,
            ctx,
            "pin_seat",
            user.audit_target(),
            Some(&serde_json::json!({"pinned": before})),
            Some(&serde_json::json!({"pinned": row.pinned})),
        )?;
    }
    let out = settle(tx, r, ctx, Scope::Users(std::slice::from_ref(&user.id)))?;
    if let Some(Pin::Seat(l)) = choice {
        let held = out.outcome.get(&user.id).and_then(|(h, _)| *h);
        if held != Some(l) {
            let book = book_of(&licence_states(&super::licences(tx)?));
            return Err(AppError::invalid(
                "license",
                format!(
                    "no {} seat is free for {} ({} of {} held{}): raise the cap or free a seat first",
                    l.as_str(),
                    user.name,
                    book.pool(l).held,
                    book.pool(l)
                        .cap
                        .map_or("unlimited".to_string(), |c| c.to_string()),
                    if user.active {
                        ""
                    } else {
                        "; the user is deactivated"
                    }
                ),
            ));
        }
    }
    Ok(out)
}

/// The nightly (and on policy change) pass over everyone, run once per `run_key` whichever
/// instance gets there first: `None` when another instance already did this run.
pub fn reconcile(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    run_key: &str,
) -> AppResult<Option<Settlement>> {
    const JOB: &str = "seat_reconcile";
    let now = crate::clock::stored(ctx.at);
    let run = (
        job_runs::job.eq(JOB),
        job_runs::run_key.eq(run_key),
        job_runs::started_at.eq(now),
    );
    // On PostgreSQL a second instance's insert waits for the first one's commit, then
    // conflicts: the run happens once.
    let claimed = on_backend!(tx, c => diesel::insert_into(job_runs::table)
        .values(run)
        .on_conflict_do_nothing()
        .execute(c))?;
    if claimed == 0 {
        return Ok(None);
    }
    let out = apply_locked(tx, r, ctx, Scope::Everyone, now)?;
    let summary = format!(
        "{} seats changed, {} roles changed",
        out.seats_changed, out.roles_changed
    );
    diesel::update(job_runs::table.find((JOB, run_key)))
        .set(job_runs::summary.eq(summary))
        .execute(tx)?;
    Ok(Some(out))
}

/// Was this run of the reconcile done already?
pub fn reconciled(conn: &mut DbConnection, run_key: &str) -> AppResult<bool> {
    Ok(job_runs::table
        .find(("seat_reconcile", run_key))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}
