//! Settling: load the state of the people concerned, ask `domain::seats::plan` for the
//! writes, apply them. [`settle`] does it holding the licences' lock ([`apply_locked`]);
//! [`admit`] plans a newcomer before their row exists and, when they only take a free seat,
//! writes everything without the lock and raises the counter last.

use super::{
    CHUNK, LicenceRow, Scope, SeatRow, SeatRules, Settlement, licence_states, lock_book, write_rows,
};
use crate::domain::ids::UserId;
use crate::domain::role::{Role, TeamRole};
use crate::domain::seat_policy::{EntraTeams, Licence, group_id_key};
use crate::domain::seats::plan::{
    self, Acting, LicenceState, Loaded, Notice, Person, SeatPlan, TeamRoles, Waiting,
};
use crate::domain::seats::{Book, day_peak};
use crate::domain::user::UserNameSource;
use crate::error::AppResult;
use crate::store::audit::{self, AuditContext, AuditEvent, Target};
use crate::store::column::Json;
use crate::store::emails::{self, NewEmail};
use crate::store::schema::{licence_usage_days, licences, seats, team_members, teams, users};
use crate::store::users::User;
use crate::store::{DbConnection, on_backend};
use chrono::NaiveDateTime;
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
    let rows: Vec<WaitingRow> = seats::table
        .inner_join(users::table)
        .filter(seats::wanted.is_not_null())
        .select((SeatRow::as_select(), users::name, users::licence))
        .load(tx)?;
    Ok(rows.into_iter().map(waiting_person).collect())
}

/// A queued seat row with its person's name and the seat they hold meanwhile.
type WaitingRow = (SeatRow, String, Option<Licence>);

fn waiting_person((row, name, held): WaitingRow) -> (UserId, Waiting) {
    let w = Waiting {
        name,
        held,
        seat: row.into(),
    };
    (w.seat.user_id.clone(), w)
}

/// The first in each licence's queue: all a newcomer's plan needs to know of the queue (a
/// newcomer takes no freed seat, and waits behind anyone waiting for the same licence).
fn waiting_heads(tx: &mut DbConnection) -> AppResult<HashMap<UserId, Waiting>> {
    let mut heads = HashMap::new();
    for l in [Licence::Full, Licence::Stakeholder] {
        let head: Option<WaitingRow> = seats::table
            .inner_join(users::table)
            .filter(seats::wanted.is_not_null())
            .filter(seats::wanted.eq(l))
            .order((seats::queued_at.asc(), seats::user_id.asc()))
            .select((SeatRow::as_select(), users::name, users::licence))
            .first(tx)
            .optional()?;
        heads.extend(head.map(waiting_person));
    }
    Ok(heads)
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
/// that may alter their needs (their teams, app roles, activity) is written; it takes the
/// licences' lock if the caller (`seats::write`) has not.
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
    apply_locked(tx, r, ctx, Scope::Users(&unique), now)
}

/// Locks the book, loads, plans and applies.
pub(super) fn apply_locked(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    scope: Scope<'_>,
    now: NaiveDateTime,
) -> AppResult<Settlement> {
    if let (Scope::Everyone, DbConnection::Postgres(c)) = (scope, &mut *tx) {
        // A pass over everyone runs each statement dozens of times, over chunks of 2,000
        // ids: planning each run for its array of ids (the connection's `force_custom_plan`,
        // see `store::Connector`) made the first reconcile of 100,000 people 20% slower.
        diesel::connection::SimpleConnection::batch_execute(c, "SET LOCAL plan_cache_mode = auto")?;
    }
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
    record_day(tx, &book, &planned.book, &planned.history, now)?;
    let emails = write_notices(tx, ctx, &planned.warned, &planned.emails)?;
    Ok(settlement(&planned, emails))
}

/// How a newcomer was admitted ([`admit`]).
pub enum Admitted {
    Settled(Settlement),
    /// The free seat planned on was taken meanwhile (or the day changed since the counter's
    /// peak was written): nothing this transaction wrote may stand. Roll it back and run it
    /// again holding the licences' lock, which settles the newcomer in the usual way.
    Raced,
}

/// The seat rules' view of a person not yet stored: no team, no seat row, no seat.
fn newcomer(r: SeatRules<'_>, user: &User) -> Person {
    Person {
        id: user.id.clone(),
        name: user.name.clone(),
        role: Some(user.role),
        held: None,
        active: user.active,
        deleted: false,
        app_roles: user.app_roles.0.clone(),
        bootstrap_owner: user.user_name_source.vouched()
            && r.bootstrap_owners.contains(&user.user_name_key),
        last_sign_in_at: user.last_sign_in_at,
        created_at: user.created_at,
        teams: EntraTeams::default(),
        responding: false,
        demoted: false,
    }
}

/// Admits a person being created (SCIM or REST): plans their role and seat on `user` before
/// the row exists, so that `insert` (which writes the row and returns its audit events)
/// writes it with both, and a free seat is taken without the licences' lock. That is the
/// common create, and the shortest: the seat row and every audit event in one statement
/// each, then each counter raised by one conditional `UPDATE` (`held + n <= cap`, on the
/// day of the counter's peak), the last statement before the commit, so the `licences` row
/// is locked only from there to the commit and creates run side by side. When that finds
/// the seat gone, the caller rolls back and runs again with `locked` ([`Admitted::Raced`]).
/// Anything else a newcomer needs (a queue, a full cap, a new day's history row) is settled
/// under the lock after `insert`, as [`settle`] does. Either way `user` ends as stored.
pub fn admit(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    user: &mut User,
    locked: bool,
    insert: impl FnOnce(&mut DbConnection, &User) -> AppResult<Vec<AuditEvent>>,
) -> AppResult<Admitted> {
    let now = crate::clock::stored(ctx.at);
    // The book, and whether anyone waits for each licence (usually nobody: then the queue
    // needs no second look).
    let rows: Vec<(LicenceRow, bool)> = licences::table
        .select((
            LicenceRow::as_select(),
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "EXISTS (SELECT 1 FROM seats WHERE seats.wanted IS NOT NULL AND seats.wanted = licences.id)",
            ),
        ))
        .order(licences::id.asc())
        .load(tx)?;
    let anyone_waits = rows.iter().any(|(_, waits)| *waits);
    let book: Vec<LicenceRow> = rows.into_iter().map(|(row, _)| row).collect();
    let loaded = Loaded {
        licences: licence_states(&book),
        people: vec![newcomer(r, user)],
        seats: HashMap::new(),
        waiting: if anyone_waits {
            waiting_heads(tx)?
        } else {
            HashMap::new()
        },
        everyone: false,
        unseated_responders: false,
    };
    let acting = Acting {
        actor: &ctx.actor.name,
        now,
    };
    let planned = plan::plan(&loaded, r.policy, acting);
    let today = day_of(now);
    let counters_today = planned.held.iter().all(|(l, _, _)| {
        book.iter()
            .any(|b| b.id == *l && b.peak_day.as_deref() == Some(today.as_str()))
    });
    if locked || !planned.free_seats_only || !counters_today {
        let events = insert(tx, user)?;
        audit::record_all(tx, &events)?;
        let settled = settle(tx, r, ctx, Scope::Users(std::slice::from_ref(&user.id)))?;
        if settled.roles_changed + settled.seats_changed > 0 {
            *user = crate::store::users::find(tx, &user.id)?;
        }
        return Ok(Admitted::Settled(settled));
    }
    // On a copy: if the seat is gone at the end, the caller runs again with `user` as it
    // came (a seat written into the row without its counter would slip past the cap).
    let mut admitted = user.clone();
    for (id, role) in &planned.roles {
        if *id == admitted.id {
            admitted.role = *role;
        }
    }
    for (id, l) in &planned.licences {
        if *id == admitted.id {
            admitted.licence = *l;
        }
    }
    let mut events = insert(tx, &admitted)?;
    let rows: Vec<SeatRow> = planned.seats.iter().map(SeatRow::from).collect();
    on_backend!(tx, c => diesel::insert_into(seats::table).values(&rows).execute(c))?;
    events.extend(audit_events(ctx, &planned)?);
    audit::record_all(tx, &events)?;
    // A newcomer is in no team yet: no team role to fit. In licence order, as `lock_book`
    // locks them: no deadlock with a locked settlement.
    let mut fresh: Vec<LicenceRow> = Vec::with_capacity(planned.held.len());
    for &(l, before, after) in &planned.held {
        match raise_counter(tx, l, after - before, &today, now)? {
            Some(row) => fresh.push(row),
            None => return Ok(Admitted::Raced),
        }
    }
    // Warn from what the counters hold now, not from the snapshot planned on.
    let fresh = licence_states(&fresh);
    let states: Vec<LicenceState> = loaded
        .licences
        .iter()
        .map(|s| *fresh.iter().find(|f| f.licence == s.licence).unwrap_or(s))
        .collect();
    let (warned, mails) = plan::notices(r.policy, &fresh, &plan::book_of(&states), &[]);
    let emails = write_notices(tx, ctx, &warned, &mails)?;
    *user = admitted;
    Ok(Admitted::Settled(settlement(&planned, emails)))
}

/// Takes `n` free seats of `l`, raising the day's peak with them, if the cap leaves them and
/// the counter's peak is `today`'s; returns the counter after, or `None` (nothing written).
fn raise_counter(
    tx: &mut DbConnection,
    l: Licence,
    n: i64,
    today: &str,
    now: NaiveDateTime,
) -> AppResult<Option<LicenceRow>> {
    use diesel::dsl::case_when;
    let raised = licences::held + n;
    let row = licences::table
        .find(l.as_str())
        .filter(licences::peak_day.eq(today))
        .filter(
            licences::cap
                .is_null()
                .or(raised.le(licences::cap.assume_not_null())),
        );
    // Both backends compute every SET expression from the row as it was.
    let set = (
        licences::held.eq(raised),
        licences::day_peak
            .eq(case_when(licences::day_peak.lt(raised), raised).otherwise(licences::day_peak)),
        licences::updated_at.eq(now),
    );
    Ok(on_backend!(tx, c => diesel::update(row)
        .set(set)
        .returning(LicenceRow::as_returning())
        .get_result(c)
        .optional())?)
}

/// The day of `now` as the usage history names it.
fn day_of(now: NaiveDateTime) -> String {
    now.date().to_string()
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
    audit::record_all(tx, &audit_events(ctx, planned)?)
}

/// The plan's audit events, to record.
fn audit_events(ctx: &AuditContext, planned: &SeatPlan) -> AppResult<Vec<AuditEvent>> {
    planned
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
        .collect()
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
                list_unsubscribe: None,
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
/// queue's length now): use now, the day's peak, the cap, the queue. Called holding the
/// licences' lock, with `counters` as locked (before this settlement's changes). A counter
/// whose peak belongs to an earlier day (free seats taken since that day's row was written)
/// first closes that day's row; each counter's peak then moves on to today, which lets
/// newcomers take free seats without the lock again ([`admit`]).
fn record_day(
    tx: &mut DbConnection,
    counters: &[LicenceRow],
    book: &Book,
    changed: &[(Licence, i64)],
    now: NaiveDateTime,
) -> AppResult<()> {
    let today = day_of(now);
    let recorded_peak = |tx: &mut DbConnection, day: &str, l: Licence| -> AppResult<Option<i64>> {
        Ok(licence_usage_days::table
            .find((day, l.as_str()))
            .select(licence_usage_days::peak_held)
            .first(tx)
            .optional()?)
    };
    for &(l, queued) in changed {
        let counter = counters.iter().find(|c| c.id == l);
        let counter_day = counter.and_then(|c| c.peak_day.as_deref());
        let counter_peak = counter.map_or(0, |c| c.day_peak);
        if let (Some(c), Some(day)) = (counter, counter_day)
            && day != today
            && let Some(peak) = recorded_peak(tx, day, l)?
        {
            // Nothing has changed since that day but free seats taken: what is held now is
            // what it ended with.
            diesel::update(licence_usage_days::table.find((day, l.as_str())))
                .set((
                    licence_usage_days::held.eq(c.held),
                    licence_usage_days::peak_held.eq(day_peak(
                        peak,
                        day,
                        counter_day,
                        counter_peak,
                    )),
                ))
                .execute(tx)?;
        }
        let pool = book.pool(l);
        let recorded = recorded_peak(tx, &today, l)?;
        let peak =
            day_peak(recorded.unwrap_or(0), &today, counter_day, counter_peak).max(pool.held);
        match recorded {
            Some(_) => {
                diesel::update(licence_usage_days::table.find((&today, l.as_str())))
                    .set((
                        licence_usage_days::held.eq(pool.held),
                        licence_usage_days::peak_held.eq(peak),
                        licence_usage_days::cap.eq(pool.cap),
                        licence_usage_days::queued.eq(queued),
                    ))
                    .execute(tx)?;
            }
            None => {
                diesel::insert_into(licence_usage_days::table)
                    .values((
                        licence_usage_days::day.eq(&today),
                        licence_usage_days::licence.eq(l.as_str()),
                        licence_usage_days::held.eq(pool.held),
                        licence_usage_days::peak_held.eq(peak),
                        licence_usage_days::cap.eq(pool.cap),
                        licence_usage_days::queued.eq(queued),
                    ))
                    .execute(tx)?;
            }
        }
        diesel::update(licences::table.find(l.as_str()))
            .set((licences::peak_day.eq(&today), licences::day_peak.eq(peak)))
            .execute(tx)?;
    }
    Ok(())
}
