//! Settling: load the state of the people concerned, ask `domain::seats::plan` for the
//! writes, apply them. [`settle`] plans first on what is committed, without the book's lock:
//! most changes leave seats as they are, and a newcomer taking a free seat needs no queue
//! (see the parent module on locking); anything else is planned again under the lock
//! ([`apply_locked`]).

use super::{
    CHUNK, LicenceRow, Scope, SeatRow, SeatRules, Settlement, licence_states, lock_book, write_rows,
};
use crate::domain::ids::UserId;
use crate::domain::role::{Role, TeamRole};
use crate::domain::seat_policy::{EntraTeams, Licence, group_id_key};
use crate::domain::seats::Book;
use crate::domain::seats::plan::{
    self, Acting, LicenceState, Loaded, Notice, Person, SeatPlan, TeamRoles, Waiting,
};
use crate::domain::user::UserNameSource;
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::audit::{self, AuditContext, AuditEvent, Target};
use crate::store::column::Json;
use crate::store::emails::{self, NewEmail};
use crate::store::schema::{licence_usage_days, licences, seats, team_members, teams, users};
use chrono::NaiveDateTime;
use diesel::connection::{Connection, TransactionManager};
use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What the seat rules need to know of a person, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct PersonRow {
    id: UserId,
    name: String,
    user_name_key: String,
    user_name_source: UserNameSource,
    role: Role,
    licence: Option<Licence>,
    active: bool,
    deleted_at: Option<NaiveDateTime>,
    app_roles: Json<Vec<String>>,
    last_sign_in_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

fn load_people(tx: &mut DbConnection, scope: Scope<'_>) -> AppResult<Vec<PersonRow>> {
    match scope {
        Scope::Everyone => Ok(users::table
            .filter(users::deleted_at.is_null().or(users::licence.is_not_null()))
            .select(PersonRow::as_select())
            .load(tx)?),
        Scope::Users(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                out.extend(
                    users::table
                        .filter(users::id.eq_any(chunk))
                        .select(PersonRow::as_select())
                        .load(tx)?,
                );
            }
            Ok(out)
        }
    }
}

/// Each person's Entra teams as the policy matches them (group ids and names apart), and
/// who responds on a team or has a team role kept aside.
#[derive(Default)]
struct Teams {
    keys: HashMap<UserId, EntraTeams>,
    responding: HashSet<UserId>,
    demoted: HashSet<UserId>,
}

fn team_keys(tx: &mut DbConnection, scope: Scope<'_>) -> AppResult<Teams> {
    /// (user, team name key, team's Entra id, team role, team role kept while demoted)
    type Membership = (UserId, String, Option<String>, TeamRole, Option<TeamRole>);
    let mut rows: Vec<Membership> = Vec::new();
    let q = || {
        team_members::table.inner_join(teams::table).select((
            team_members::user_id,
            teams::name_key,
            teams::external_id,
            team_members::role,
            team_members::demoted_role,
        ))
    };
    match scope {
        Scope::Everyone => rows = q().load(tx)?,
        Scope::Users(ids) => {
            for chunk in ids.chunks(CHUNK) {
                rows.extend(q().filter(team_members::user_id.eq_any(chunk)).load(tx)?);
            }
        }
    }
    let mut out = Teams::default();
    for (user, name, external, role, demoted) in rows {
        if role != TeamRole::Observer {
            out.responding.insert(user.clone());
        }
        if demoted.is_some() {
            out.demoted.insert(user.clone());
        }
        // Only teams from Entra (SCIM groups) count: a team anyone made in Rota with a rule's
        // name must not hand out that rule's role. Their names are Entra's: the REST API
        // cannot rename them.
        if let Some(x) = external {
            let keys = out.keys.entry(user).or_default();
            keys.names.insert(name);
            keys.group_ids.insert(group_id_key(&x));
        }
    }
    Ok(out)
}

fn seat_rows(tx: &mut DbConnection, scope: Scope<'_>) -> AppResult<Vec<SeatRow>> {
    let mut rows: Vec<SeatRow> = Vec::new();
    match scope {
        Scope::Everyone => rows = seats::table.select(SeatRow::as_select()).load(tx)?,
        Scope::Users(ids) => {
            for chunk in ids.chunks(CHUNK) {
                rows.extend(
                    seats::table
                        .filter(seats::user_id.eq_any(chunk))
                        .select(SeatRow::as_select())
                        .load(tx)?,
                );
            }
        }
    }
    Ok(rows)
}

/// Everyone waiting, with their name and the seat they hold meanwhile.
fn waiting(tx: &mut DbConnection) -> AppResult<HashMap<UserId, Waiting>> {
    let rows: Vec<(SeatRow, String, Option<Licence>)> = seats::table
        .inner_join(users::table)
        .filter(seats::wanted.is_not_null())
        .select((SeatRow::as_select(), users::name, users::licence))
        .load(tx)?;
    Ok(rows
        .into_iter()
        .map(|(row, name, held)| {
            let w = Waiting {
                name,
                held,
                seat: row.into(),
            };
            (w.seat.user_id.clone(), w)
        })
        .collect())
}

/// The state a plan reads, for `scope`, with the book as `book` says.
fn load(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    scope: Scope<'_>,
    book: &[LicenceRow],
) -> AppResult<Loaded> {
    let everyone = matches!(scope, Scope::Everyone);
    let rows = load_people(tx, scope)?;
    let mut teams = team_keys(tx, scope)?;
    let seats = seat_rows(tx, scope)?;
    let waiting = if everyone {
        HashMap::new()
    } else {
        waiting(tx)?
    };
    let loaded: HashSet<&UserId> = rows.iter().map(|p| &p.id).collect();
    let unseated_responders = everyone && teams.responding.iter().any(|u| !loaded.contains(u));
    let people = rows
        .into_iter()
        .map(|p| Person {
            responding: teams.responding.contains(&p.id),
            demoted: teams.demoted.contains(&p.id),
            teams: teams.keys.remove(&p.id).unwrap_or_default(),
            // A bootstrap owner is named by user name: only a name Entra or an admin set counts.
            bootstrap_owner: p.user_name_source.vouched()
                && r.bootstrap_owners.contains(&p.user_name_key),
            // The stored role always parses (`store::column`): a person read here has one.
            role: Some(p.role),
            held: p.licence,
            active: p.active,
            deleted: p.deleted_at.is_some(),
            app_roles: p.app_roles.0,
            last_sign_in_at: p.last_sign_in_at,
            created_at: p.created_at,
            name: p.name,
            id: p.id,
        })
        .collect();
    Ok(Loaded {
        licences: licence_states(book),
        people,
        seats: seats
            .into_iter()
            .map(|s| (s.user_id.clone(), s.into()))
            .collect(),
        waiting,
        everyone,
        unseated_responders,
    })
}

fn settlement(plan: &SeatPlan, emails: usize) -> Settlement {
    Settlement {
        seats_changed: plan.seats_changed,
        roles_changed: plan.roles_changed,
        emails,
        outcome: plan.outcome.clone(),
    }
}

/// Brings the people in `scope` to what the seat policy says about them now (role and seat),
/// serving the queue with any seat freed. Call inside a write transaction, after the change
/// that may alter their needs (their teams, app roles, activity) is written.
pub fn settle(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    scope: Scope<'_>,
) -> AppResult<Settlement> {
    let now = crate::clock::stored(ctx.at);
    let Scope::Users(ids) = scope else {
        return apply_locked(tx, r, ctx, scope, now);
    };
    let mut unique: Vec<UserId> = ids.to_vec();
    unique.sort();
    unique.dedup();
    if unique.is_empty() {
        return Ok(Settlement::default());
    }
    let scope = Scope::Users(&unique);
    // Plan on what is committed, without the lock (a caller in `seats::write` holds it).
    let book = super::licences(tx)?;
    let loaded = load(tx, r, scope, &book)?;
    let acting = Acting {
        actor: &ctx.actor.name,
        now,
    };
    let planned = plan::plan(&loaded, r.policy, acting);
    if !planned.changes_seats() {
        // New memberships may still need their team role fitted to the seat.
        fit_team_roles(tx, &planned.team_roles, now)?;
        return Ok(settlement(&planned, 0));
    }
    if planned.free_seats_only
        && let Some(done) = take_free_seats(tx, r, ctx, &loaded, &planned)?
    {
        return Ok(done);
    }
    apply_locked(tx, r, ctx, scope, now)
}

/// Locks the book, loads, plans and applies.
pub(super) fn apply_locked(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    scope: Scope<'_>,
    now: NaiveDateTime,
) -> AppResult<Settlement> {
    let book = lock_book(tx)?;
    let loaded = load(tx, r, scope, &book)?;
    let acting = Acting {
        actor: &ctx.actor.name,
        now,
    };
    let planned = plan::plan(&loaded, r.policy, acting);
    write_people(tx, ctx, &planned, now)?;
    for &(l, _, held) in &planned.held {
        diesel::update(licences::table.find(l.as_str()))
            .set((licences::held.eq(held), licences::updated_at.eq(now)))
            .execute(tx)?;
    }
    record_day(tx, &planned.book, &planned.history, now)?;
    let emails = write_notices(tx, ctx, &planned.warned, &planned.emails)?;
    Ok(settlement(&planned, emails))
}

/// Applies a plan that only hands free seats to people who held and waited for nothing,
/// without the book's lock: the people's rows first, then each counter raised by one
/// conditional `UPDATE`, so the `licences` rows are locked only from there to the commit.
/// `None` (and nothing written) when a counter found its cap filled meanwhile: plan again
/// under the lock, which queues them.
fn take_free_seats(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    loaded: &Loaded,
    planned: &SeatPlan,
) -> AppResult<Option<Settlement>> {
    let now = crate::clock::stored(ctx.at);
    // A savepoint, to undo the people's rows if a seat is gone.
    <DbConnection as Connection>::TransactionManager::begin_transaction(tx)?;
    let taken = (|| -> AppResult<bool> {
        write_people(tx, ctx, planned, now)?;
        // In licence order, as `lock_book` locks them: no deadlock with a locked settlement.
        for &(l, before, after) in &planned.held {
            let n = after - before;
            let raised = diesel::update(
                licences::table.find(l.as_str()).filter(
                    licences::cap
                        .is_null()
                        .or((licences::held + n).le(licences::cap.assume_not_null())),
                ),
            )
            .set((
                licences::held.eq(licences::held + n),
                licences::updated_at.eq(now),
            ))
            .execute(tx)?;
            if raised == 0 {
                return Ok(false);
            }
        }
        Ok(true)
    })();
    match taken {
        Ok(true) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(tx)?;
        }
        other => {
            <DbConnection as Connection>::TransactionManager::rollback_transaction(tx)?;
            return other.map(|_| None);
        }
    }
    // The counters are locked now: warn from what they hold, not from the snapshot planned on.
    let touched: Vec<&str> = planned.held.iter().map(|(l, _, _)| l.as_str()).collect();
    let fresh: Vec<LicenceRow> = licences::table
        .filter(licences::id.eq_any(touched))
        .select(LicenceRow::as_select())
        .load(tx)?;
    let fresh = licence_states(&fresh);
    let book: Vec<LicenceState> = loaded
        .licences
        .iter()
        .map(|s| *fresh.iter().find(|f| f.licence == s.licence).unwrap_or(s))
        .collect();
    let true_book = plan::book_of(&book);
    // Nobody waits for a licence that had a free seat (the queue is served whenever a seat
    // frees), so the queue lengths planned stand.
    record_day(tx, &true_book, &planned.history, now)?;
    let (warned, mails) = plan::notices(r.policy, &fresh, &true_book, &[]);
    let emails = write_notices(tx, ctx, &warned, &mails)?;
    Ok(Some(settlement(planned, emails)))
}

/// The people's side of a plan: roles, seats held, seat rows, team roles, audit events.
fn write_people(
    tx: &mut DbConnection,
    ctx: &AuditContext,
    planned: &SeatPlan,
    now: NaiveDateTime,
) -> AppResult<()> {
    let mut by_role: BTreeMap<&str, Vec<&UserId>> = BTreeMap::new();
    for (id, role) in &planned.roles {
        by_role.entry(role.as_str()).or_default().push(id);
    }
    for (role, ids) in &by_role {
        for chunk in ids.chunks(CHUNK) {
            diesel::update(users::table.filter(users::id.eq_any(chunk)))
                .set((
                    users::role.eq(*role),
                    users::version.eq(users::version + 1),
                    users::updated_at.eq(now),
                ))
                .execute(tx)?;
        }
    }
    let mut by_licence: BTreeMap<Option<&str>, Vec<&UserId>> = BTreeMap::new();
    for (id, l) in &planned.licences {
        by_licence
            .entry(l.map(Licence::as_str))
            .or_default()
            .push(id);
    }
    for (licence, ids) in &by_licence {
        for chunk in ids.chunks(CHUNK) {
            diesel::update(users::table.filter(users::id.eq_any(chunk)))
                .set(users::licence.eq(*licence))
                .execute(tx)?;
        }
    }
    let rows: Vec<SeatRow> = planned.seats.iter().map(SeatRow::from).collect();
    write_rows(tx, &rows)?;
    fit_team_roles(tx, &planned.team_roles, now)?;
    let events = planned
        .events
        .iter()
        .map(|e| {
            let target = Target {
                kind: "user",
                id: e.user_id.as_str(),
                name: &e.name,
            };
            audit::event(ctx, e.action, target, Some(&e.before), Some(&e.after))
        })
        .collect::<AppResult<Vec<AuditEvent>>>()?;
    audit::record_all(tx, &events)
}

/// Stores the warning thresholds reached and queues the e-mails to licence owners. Returns
/// the number of e-mails queued.
fn write_notices(
    tx: &mut DbConnection,
    ctx: &AuditContext,
    warned: &[(Licence, Option<u8>)],
    mails: &[Notice],
) -> AppResult<usize> {
    for (l, reached) in warned {
        diesel::update(licences::table.find(l.as_str()))
            .set(licences::warned_percent.eq(reached.map(i32::from)))
            .execute(tx)?;
    }
    if mails.is_empty() {
        return Ok(0);
    }
    let to = super::licence_owner_addresses(tx)?;
    let emails: Vec<NewEmail> = mails
        .iter()
        .flat_map(|(subject, body, reason)| {
            to.iter().map(move |to| NewEmail {
                to: to.clone(),
                subject: subject.clone(),
                body: body.clone(),
                reason,
            })
        })
        .collect();
    if to.is_empty() {
        tracing::warn!(
            "seat warnings are due, but no licence owner or owner has an e-mail address"
        );
    }
    emails::enqueue(tx, &emails, ctx.at)?;
    Ok(emails.len())
}

/// Fits team roles as the plan says.
fn fit_team_roles(tx: &mut DbConnection, who: &TeamRoles, now: NaiveDateTime) -> AppResult<()> {
    match who {
        TeamRoles::Nobody => Ok(()),
        TeamRoles::People(ids) => fix_team_roles(tx, Scope::Users(ids), now),
        TeamRoles::Everyone => fix_team_roles(tx, Scope::Everyone, now),
    }
}

/// Keeps "stakeholders are never responders": members without a full seat become observers
/// (remembering their team role), and get it back with a full seat.
fn fix_team_roles(tx: &mut DbConnection, scope: Scope<'_>, now: NaiveDateTime) -> AppResult<()> {
    let observer = TeamRole::Observer.as_str();
    let demote = |tx: &mut DbConnection, ids: &[UserId]| -> AppResult<()> {
        diesel::update(team_members::table)
            .filter(team_members::role.ne(observer))
            .filter(team_members::user_id.eq_any(ids))
            .set((
                team_members::demoted_role.eq(team_members::role.nullable()),
                team_members::role.eq(observer),
                team_members::updated_at.eq(now),
            ))
            .execute(tx)?;
        Ok(())
    };
    let restore = |tx: &mut DbConnection, ids: &[UserId]| -> AppResult<()> {
        diesel::update(team_members::table)
            .filter(team_members::demoted_role.is_not_null())
            .filter(team_members::user_id.eq_any(ids))
            .set((
                team_members::role.eq(team_members::demoted_role.assume_not_null()),
                team_members::demoted_role.eq(None::<String>),
                team_members::updated_at.eq(now),
            ))
            .execute(tx)?;
        Ok(())
    };
    match scope {
        Scope::Everyone => {
            // Everyone: let the database join (one statement each way).
            let without_full = users::table
                .filter(users::licence.is_null().or(users::licence.ne("full")))
                .select(users::id);
            diesel::update(team_members::table)
                .filter(team_members::role.ne(observer))
                .filter(team_members::user_id.eq_any(without_full))
                .set((
                    team_members::demoted_role.eq(team_members::role.nullable()),
                    team_members::role.eq(observer),
                    team_members::updated_at.eq(now),
                ))
                .execute(tx)?;
            let with_full = users::table
                .filter(users::licence.eq("full"))
                .select(users::id);
            diesel::update(team_members::table)
                .filter(team_members::demoted_role.is_not_null())
                .filter(team_members::user_id.eq_any(with_full))
                .set((
                    team_members::role.eq(team_members::demoted_role.assume_not_null()),
                    team_members::demoted_role.eq(None::<String>),
                    team_members::updated_at.eq(now),
                ))
                .execute(tx)?;
        }
        Scope::Users(ids) => {
            // A few people: read their seats by primary key rather than have the database
            // match them against every user's (PostgreSQL scanned `users` for each request).
            for chunk in ids.chunks(CHUNK) {
                let seats: Vec<(UserId, Option<String>)> = users::table
                    .filter(users::id.eq_any(chunk))
                    .select((users::id, users::licence))
                    .load(tx)?;
                let (full, other): (Vec<_>, Vec<_>) = seats
                    .into_iter()
                    .partition(|(_, l)| l.as_deref() == Some(Licence::Full.as_str()));
                let ids = |v: Vec<(UserId, Option<String>)>| -> Vec<UserId> {
                    v.into_iter().map(|(id, _)| id).collect()
                };
                let (full, other) = (ids(full), ids(other));
                if !other.is_empty() {
                    demote(tx, &other)?;
                }
                if !full.is_empty() {
                    restore(tx, &full)?;
                }
            }
        }
    }
    Ok(())
}

/// Today's row of the usage history for the licences whose use or queue changed (with the
/// queue's length now): use now, the day's peak, the cap, the queue.
fn record_day(
    tx: &mut DbConnection,
    book: &Book,
    changed: &[(Licence, i64)],
    now: NaiveDateTime,
) -> AppResult<()> {
    let day = now.date().to_string();
    for &(l, queued) in changed {
        let pool = book.pool(l);
        let peak: Option<i64> = licence_usage_days::table
            .find((&day, l.as_str()))
            .select(licence_usage_days::peak_held)
            .first(tx)
            .optional()?;
        match peak {
            Some(peak) => {
                diesel::update(licence_usage_days::table.find((&day, l.as_str())))
                    .set((
                        licence_usage_days::held.eq(pool.held),
                        licence_usage_days::peak_held.eq(peak.max(pool.held)),
                        licence_usage_days::cap.eq(pool.cap),
                        licence_usage_days::queued.eq(queued),
                    ))
                    .execute(tx)?;
            }
            None => {
                diesel::insert_into(licence_usage_days::table)
                    .values((
                        licence_usage_days::day.eq(&day),
                        licence_usage_days::licence.eq(l.as_str()),
                        licence_usage_days::held.eq(pool.held),
                        licence_usage_days::peak_held.eq(pool.held),
                        licence_usage_days::cap.eq(pool.cap),
                        licence_usage_days::queued.eq(queued),
                    ))
                    .execute(tx)?;
            }
        }
    }
    Ok(())
}
