//! Seats in the database. `users.licence` is the seat a person holds; `licences` holds each
//! licence's cap and use (a CHECK refuses any write past a cap); `seats` holds since when, why
//! and by whom, the queue, and licence owners' pins.
//!
//! Every change goes through [`settle`] (or [`set_cap`], [`pin`], [`reconcile`]) inside the
//! caller's write transaction: the seat policy decides each person's role and target seat, the
//! pure core (`domain::seats`) decides who gets what, and this module writes the difference in
//! bulk with its audit events, the daily history, team-role demotions and warning e-mails.
//! Allocations lock the `licences` rows first (`FOR UPDATE` on PostgreSQL; SQLite's writer
//! lock does it there), so two instances never hand out the same last seat.

use super::audit::{self, AuditContext, AuditEvent, Target};
use super::column::Json;
use super::emails::{self, NewEmail};
use super::schema::{job_runs, licence_usage_days, licences, seats, team_members, teams, users};
use super::{DbConnection, on_backend};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::role::{Role, TeamRole};
use crate::domain::seat_policy::{EntraTeams, Facts, Licence, SeatPolicy, group_id_key};
use crate::domain::seats::{self as rules, Book, Holding, Pin, Pool, SeatEvent, SeatFacts};
use crate::domain::user::UserNameSource;
use crate::error::{AppError, AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A place in the queue: when the request was made, then the user id.
pub type QueueKey = (NaiveDateTime, UserId);

// `treat_none_as_default_value = false`: a `None` is bound as NULL rather than written as
// DEFAULT, so a batch of rows is one multi-row INSERT on SQLite too (diesel inserts rows
// holding DEFAULT one statement at a time there). No column of `seats` has another default.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = seats, treat_none_as_default_value = false)]
pub struct SeatRow {
    pub user_id: UserId,
    /// When the seat held was allocated.
    pub since: Option<NaiveDateTime>,
    /// Why: the policy rule, `manual`, `idle`, `default`, `queue`, …
    pub reason: Option<String>,
    /// Who (the actor's name: an admin, `SCIM`, the person signing in, a job).
    pub allocated_by: Option<String>,
    /// The licence waited for, if queued.
    pub wanted: Option<Licence>,
    pub queued_at: Option<NaiveDateTime>,
    pub queue_reason: Option<String>,
    /// A licence owner's choice (`full`, `stakeholder`, `none`), overriding the policy.
    pub pinned: Option<Pin>,
    /// The role a seat-policy rule gave, while it gives it.
    pub ruled_role: Option<Role>,
    pub updated_at: NaiveDateTime,
}

impl SeatRow {
    fn empty(user_id: UserId, now: NaiveDateTime) -> SeatRow {
        SeatRow {
            user_id,
            since: None,
            reason: None,
            allocated_by: None,
            wanted: None,
            queued_at: None,
            queue_reason: None,
            pinned: None,
            ruled_role: None,
            updated_at: now,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = licences)]
pub struct LicenceRow {
    pub id: Licence,
    pub cap: Option<i64>,
    pub held: i64,
    pub warned_percent: Option<i32>,
    pub configured_cap: Option<String>,
    pub updated_at: NaiveDateTime,
}

/// What the seat rules need to know of a person.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
struct Person {
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

/// The seat policy and who the bootstrap owners are: what decides a person's role and seat.
#[derive(Clone, Copy)]
pub struct SeatRules<'a> {
    pub policy: &'a SeatPolicy,
    /// Case-folded user names made owners.
    pub bootstrap_owners: &'a [String],
}

/// Whom to settle.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Users(&'a [UserId]),
    Everyone,
}

/// What a settlement did.
#[derive(Debug, Default)]
pub struct Settlement {
    /// People whose seat or place in the queue changed.
    pub seats_changed: usize,
    /// People whose role the policy changed.
    pub roles_changed: usize,
    /// Warning e-mails queued: poke the delivery job after commit.
    pub emails: usize,
    /// For each person settled: where they stand now.
    pub outcome: HashMap<UserId, Outcome>,
}

/// The seat a person holds, and the licence they wait for with their place in that queue
/// (1 = next).
pub type Outcome = (Option<Licence>, Option<(Licence, usize)>);

const CHUNK: usize = 2_000;

fn load_people(tx: &mut DbConnection, scope: Scope<'_>) -> AppResult<Vec<Person>> {
    match scope {
        Scope::Everyone => Ok(users::table
            .filter(users::deleted_at.is_null().or(users::licence.is_not_null()))
            .select(Person::as_select())
            .load(tx)?),
        Scope::Users(ids) => {
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(CHUNK) {
                out.extend(
                    users::table
                        .filter(users::id.eq_any(chunk))
                        .select(Person::as_select())
                        .load(tx)?,
                );
            }
            Ok(out)
        }
    }
}

/// Each person's Entra teams as the policy matches them (group ids and names apart), and
/// whether any of their memberships breaks "only full seats respond" as their seat stands
/// (a responder without a full seat, or a kept team role with one).
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
    let mut out = Teams {
        keys: HashMap::new(),
        responding: HashSet::new(),
        demoted: HashSet::new(),
    };
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

fn seat_rows(tx: &mut DbConnection, scope: Scope<'_>) -> AppResult<HashMap<UserId, SeatRow>> {
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
    Ok(rows.into_iter().map(|r| (r.user_id.clone(), r)).collect())
}

fn holding(licence: Option<Licence>, row: Option<&SeatRow>) -> Holding<QueueKey> {
    let wanted = row.and_then(|r| r.wanted);
    Holding {
        held: licence,
        wanted,
        queued_at: row
            .filter(|_| wanted.is_some())
            .and_then(|r| r.queued_at.map(|t| (t, r.user_id.clone()))),
    }
}

/// What the policy decides for one person.
struct Decision {
    role_before: Role,
    role: Role,
    /// The role if a rule gave it.
    ruled_role: Option<Role>,
    target: rules::Target,
}

fn decide(
    r: SeatRules<'_>,
    p: &Person,
    teams: &EntraTeams,
    row: Option<&SeatRow>,
    now: NaiveDateTime,
) -> Decision {
    let pin = row.and_then(|r| r.pinned);
    let from_rule = row.and_then(|r| r.ruled_role) == Some(p.role);
    let facts = Facts {
        app_roles: &p.app_roles,
        teams,
        // A bootstrap owner is named by user name: only a name Entra or an admin set counts.
        bootstrap_owner: p.user_name_source.vouched()
            && r.bootstrap_owners.contains(&p.user_name_key),
    };
    // The stored role always parses (`store::column`): a person read here has one.
    let access = r.policy.decide(&facts, Some(p.role), from_rule);
    let reason = access.rule.map(|rule| rule.describe()).unwrap_or_else(|| {
        if facts.bootstrap_owner {
            "bootstrap owner".to_string()
        } else {
            format!("role {}", access.role.as_str())
        }
    });
    let seat_facts = SeatFacts {
        active: p.active && p.deleted_at.is_none(),
        pin,
        owner: access.role == Role::Owner,
        last_sign_in_at: p.last_sign_in_at,
        created_at: p.created_at,
    };
    Decision {
        role_before: p.role,
        role: access.role,
        ruled_role: access.rule.map(|_| access.role),
        target: rules::target(&seat_facts, access.licence, &reason, &r.policy.idle, now),
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
    let mut unique: Vec<UserId> = Vec::new();
    let scope = match scope {
        Scope::Users(ids) => {
            unique.extend(ids.iter().cloned());
            unique.sort();
            unique.dedup();
            Scope::Users(&unique)
        }
        everyone => everyone,
    };
    if let Scope::Users(ids) = scope {
        if ids.is_empty() {
            return Ok(Settlement::default());
        }
        // Most changes leave seats as they are: find that out without taking the lock.
        let people = load_people(tx, scope)?;
        let teams = team_keys(tx, scope)?;
        let rows = seat_rows(tx, scope)?;
        let no_teams = EntraTeams::default();
        let settled = people.iter().all(|p| {
            let row = rows.get(&p.id);
            let d = decide(r, p, teams.keys.get(&p.id).unwrap_or(&no_teams), row, now);
            d.role == d.role_before
                && row.and_then(|r| r.ruled_role) == d.ruled_role
                && holding(p.licence, row).satisfies(d.target.licence)
        });
        if settled {
            // New memberships may still need their team role fitted to the seat.
            let misfit = people.iter().any(|p| {
                let full = p.licence == Some(Licence::Full);
                (!full && teams.responding.contains(&p.id))
                    || (full && teams.demoted.contains(&p.id))
            });
            if misfit {
                fix_team_roles(tx, scope, now)?;
            }
            let anyone_waits = rows.values().any(|r| r.wanted.is_some());
            let waiting = if anyone_waits { queue(tx)? } else { Vec::new() };
            let places = places(&waiting);
            let mut out = Settlement::default();
            for p in &people {
                let h = holding(p.licence, rows.get(&p.id));
                out.outcome
                    .insert(p.id.clone(), (h.held, places.get(&p.id).copied()));
            }
            return Ok(out);
        }
    }
    apply(tx, r, ctx, scope, now)
}

/// A write transaction that may change seats: it takes the licences' lock first, before any
/// row it writes, so every such transaction locks in the same order (no deadlocks between a
/// SCIM change, a sign-in, a cap change and the reconcile) and reads what the one before it
/// committed.
pub fn write<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> AppResult<T>,
) -> AppResult<T> {
    super::write(conn, |tx| {
        lock_book(tx)?;
        f(tx)
    })
}

/// Everyone waiting, in queue order: (user, wanted, queued at).
fn queue(tx: &mut DbConnection) -> AppResult<Vec<(UserId, Licence)>> {
    let rows: Vec<(UserId, Option<Licence>)> = seats::table
        .filter(seats::wanted.is_not_null())
        .order((seats::queued_at.asc(), seats::user_id.asc()))
        .select((seats::user_id, seats::wanted))
        .load(tx)?;
    Ok(rows
        .into_iter()
        .filter_map(|(u, w)| w.map(|l| (u, l)))
        .collect())
}

/// Each waiting person's place (1 = next) among those waiting for the same licence, from
/// the queue in order. One pass: looking everyone up in it stays linear (a search of the
/// queue per person took 0.5 s of a reconcile of 100,000 people with 3,000 waiting).
fn places(waiting: &[(UserId, Licence)]) -> HashMap<&UserId, (Licence, usize)> {
    let (mut full, mut stakeholder) = (0, 0);
    let mut out = HashMap::with_capacity(waiting.len());
    for (user, l) in waiting {
        let n = match l {
            Licence::Full => &mut full,
            Licence::Stakeholder => &mut stakeholder,
        };
        *n += 1;
        out.entry(user).or_insert((*l, *n));
    }
    out
}

/// Takes the licences' lock and reads the book.
fn lock_book(tx: &mut DbConnection) -> AppResult<Vec<LicenceRow>> {
    let rows = match tx {
        DbConnection::Postgres(c) => licences::table
            .select(LicenceRow::as_select())
            .order(licences::id.asc())
            .for_update()
            .load(c)?,
        DbConnection::Sqlite(c) => licences::table
            .select(LicenceRow::as_select())
            .order(licences::id.asc())
            .load(c)?,
    };
    if rows.len() != 2 {
        return Err(AppError::internal(
            "the licences table does not have its two rows",
        ));
    }
    Ok(rows)
}

fn book_of(rows: &[LicenceRow]) -> Book {
    let pool = |id: Licence| {
        rows.iter()
            .find(|r| r.id == id)
            .map(|r| Pool {
                cap: r.cap,
                held: r.held,
            })
            .unwrap_or(Pool { cap: None, held: 0 })
    };
    Book {
        full: pool(Licence::Full),
        stakeholder: pool(Licence::Stakeholder),
    }
}

/// The locked part: decide, settle, write.
fn apply(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    scope: Scope<'_>,
    now: NaiveDateTime,
) -> AppResult<Settlement> {
    let licence_rows = lock_book(tx)?;
    let mut book = book_of(&licence_rows);
    let people = load_people(tx, scope)?;
    let teams = team_keys(tx, scope)?;
    let mut rows = seat_rows(tx, scope)?;
    let no_teams = EntraTeams::default();
    let decisions: Vec<(usize, Decision)> = people
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                i,
                decide(
                    r,
                    p,
                    teams.keys.get(&p.id).unwrap_or(&no_teams),
                    rows.get(&p.id),
                    now,
                ),
            )
        })
        .collect();
    let mut holdings: BTreeMap<UserId, Holding<QueueKey>> = BTreeMap::new();
    for p in &people {
        holdings.insert(p.id.clone(), holding(p.licence, rows.get(&p.id)));
    }
    if matches!(scope, Scope::Everyone) {
        // Count what is held rather than trusting the counters: reconcile heals drift.
        for l in Licence::ALL {
            let held = holdings.values().filter(|h| h.held == Some(l)).count() as i64;
            let pool = match l {
                Licence::Full => &mut book.full,
                Licence::Stakeholder => &mut book.stakeholder,
            };
            pool.held = held;
        }
    } else {
        // Everyone waiting must be in the book, with what they hold.
        let waiting: Vec<(SeatRow, Option<Licence>)> = seats::table
            .inner_join(users::table)
            .filter(seats::wanted.is_not_null())
            .select((SeatRow::as_select(), users::licence))
            .load(tx)?;
        for (row, licence) in waiting {
            holdings
                .entry(row.user_id.clone())
                .or_insert_with(|| holding(licence, Some(&row)));
            rows.entry(row.user_id.clone()).or_insert(row);
        }
    }
    let before = holdings.clone();
    let targets: Vec<(UserId, Option<Licence>)> = decisions
        .iter()
        .map(|(i, d)| (people[*i].id.clone(), d.target.licence))
        .collect();
    // New queue entries go after every earlier one, whatever the clocks of the instances
    // that queued them said.
    let last_queued = holdings
        .values()
        .filter_map(|h| h.queued_at.as_ref().map(|(t, _)| *t))
        .max();
    let stamp = match last_queued {
        Some(last) if last >= now => last + chrono::Duration::microseconds(1),
        _ => now,
    };
    let changed = rules::settle(&mut book, &mut holdings, &targets, |k| (stamp, k.clone()));

    let mut out = Settlement::default();
    let mut events: Vec<AuditEvent> = Vec::new();
    let names: HashMap<&UserId, &str> = people.iter().map(|p| (&p.id, p.name.as_str())).collect();
    let ruled_of: HashMap<&UserId, &Option<Role>> = decisions
        .iter()
        .map(|(i, d)| (&people[*i].id, &d.ruled_role))
        .collect();
    let reason_of: HashMap<&UserId, &str> = decisions
        .iter()
        .map(|(i, d)| (&people[*i].id, d.target.reason.as_str()))
        .collect();

    // Roles the policy changed.
    let mut by_role: BTreeMap<&str, Vec<UserId>> = BTreeMap::new();
    for (i, d) in &decisions {
        let p = &people[*i];
        if d.role != d.role_before && p.deleted_at.is_none() {
            by_role
                .entry(d.role.as_str())
                .or_default()
                .push(p.id.clone());
            let target = Target {
                kind: "user",
                id: p.id.as_str(),
                name: &p.name,
            };
            events.push(audit::event(
                ctx,
                "update",
                target,
                Some(&serde_json::json!({"role": d.role_before.as_str()})),
                Some(&serde_json::json!({"role": d.role.as_str(), "reason": d.target.reason})),
            )?);
            out.roles_changed += 1;
        }
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

    // Seats that changed.
    let mut by_licence: BTreeMap<Option<&str>, Vec<UserId>> = BTreeMap::new();
    let mut new_rows: Vec<SeatRow> = Vec::with_capacity(changed.len());
    let mut newly_queued: Vec<(String, Licence)> = Vec::new();
    let mut missing_names: Vec<UserId> = Vec::new();
    for key in &changed {
        let (b, a) = (&before[key], &holdings[key]);
        let mut row = rows
            .get(key)
            .cloned()
            .unwrap_or_else(|| SeatRow::empty(key.clone(), now));
        let reason = reason_of
            .get(key)
            .map(|s| s.to_string())
            .or_else(|| row.queue_reason.clone())
            .unwrap_or_else(|| "queue".into());
        if b.held != a.held {
            by_licence
                .entry(a.held.map(Licence::as_str))
                .or_default()
                .push(key.clone());
            row.since = a.held.map(|_| now);
            row.reason = a.held.map(|_| reason.clone());
            row.allocated_by = a.held.map(|_| ctx.actor.name.clone());
        }
        if b.wanted != a.wanted || b.queued_at != a.queued_at {
            row.wanted = a.wanted;
            row.queued_at = a.queued_at.as_ref().map(|(t, _)| *t);
            row.queue_reason = a.wanted.map(|_| reason.clone());
        }
        if let Some(ruled) = ruled_of.get(key) {
            row.ruled_role = **ruled;
        }
        row.updated_at = now;
        let name = names.get(key).copied();
        if name.is_none() {
            missing_names.push(key.clone());
        }
        for e in rules::events(b, a) {
            if let SeatEvent::Queued(l) = e {
                newly_queued.push((name.unwrap_or(key.as_str()).to_string(), l));
            }
            let target = Target {
                kind: "user",
                id: key.as_str(),
                name: name.unwrap_or(key.as_str()),
            };
            events.push(audit::event(
                ctx,
                e.action(),
                target,
                Some(&seat_state(b)),
                Some(&serde_json::json!({
                    "licence": a.held.map(Licence::as_str),
                    "waiting_for": a.wanted.map(Licence::as_str),
                    "reason": reason,
                })),
            )?);
        }
        new_rows.push(row);
    }
    // Queue entries are named after their user in the audit trail.
    if !missing_names.is_empty() {
        let found: HashMap<UserId, String> = users::table
            .filter(users::id.eq_any(&missing_names))
            .select((users::id, users::name))
            .load::<(UserId, String)>(tx)?
            .into_iter()
            .collect();
        for e in events.iter_mut() {
            if let Some(n) = found.get(&UserId(e.target_id.clone())) {
                e.target_name = n.clone();
            }
        }
        for (name, _) in newly_queued.iter_mut() {
            if let Some(n) = found.get(&UserId(name.clone())) {
                *name = n.clone();
            }
        }
    }
    // Rules that started or stopped giving someone their role, with no seat change.
    let changed_set: HashSet<&UserId> = changed.iter().collect();
    for (i, d) in &decisions {
        let id = &people[*i].id;
        let row = rows.get(id);
        if !changed_set.contains(id) && row.and_then(|r| r.ruled_role) != d.ruled_role {
            let mut row = row
                .cloned()
                .unwrap_or_else(|| SeatRow::empty(id.clone(), now));
            row.ruled_role = d.ruled_role;
            row.updated_at = now;
            new_rows.push(row);
        }
    }
    for (licence, ids) in &by_licence {
        for chunk in ids.chunks(CHUNK) {
            diesel::update(users::table.filter(users::id.eq_any(chunk)))
                .set(users::licence.eq(*licence))
                .execute(tx)?;
        }
    }
    write_rows(tx, &new_rows)?;
    out.seats_changed = changed.len();
    let stored_held = |id: Licence| {
        licence_rows
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.held)
            .unwrap_or(0)
    };
    for l in Licence::ALL {
        let held = book.pool(l).held;
        if held != stored_held(l) {
            diesel::update(licences::table.find(l.as_str()))
                .set((licences::held.eq(held), licences::updated_at.eq(now)))
                .execute(tx)?;
        }
    }
    // Fit team roles to the seats now held. With everyone in scope, the memberships read above
    // say whether any membership misfits (anyone not loaded holds no seat); on a quiet night
    // none does, and the two statements over every membership (0.2 s for 100,000) are skipped.
    let everyone = matches!(scope, Scope::Everyone);
    let misfits = |id: &UserId| {
        let full = holdings.get(id).and_then(|h| h.held) == Some(Licence::Full);
        (!full && teams.responding.contains(id)) || (full && teams.demoted.contains(id))
    };
    if everyone {
        if teams.responding.iter().chain(&teams.demoted).any(misfits) {
            fix_team_roles(tx, scope, now)?;
        }
    } else if let Scope::Users(ids) = scope {
        // Those in scope and those the queue moved, in one pass.
        let mut concerned: Vec<UserId> = ids.iter().chain(&changed).cloned().collect();
        concerned.sort();
        concerned.dedup();
        fix_team_roles(tx, Scope::Users(&concerned), now)?;
    }
    audit::record_all(tx, &events)?;
    // Everyone waiting is in `holdings`: count the queues here rather than in the database.
    let queued = |h: &BTreeMap<UserId, Holding<QueueKey>>, l: Licence| {
        h.values().filter(|x| x.wanted == Some(l)).count() as i64
    };
    let day_changed: Vec<(Licence, i64)> = Licence::ALL
        .into_iter()
        .filter(|l| {
            everyone
                || book.pool(*l).held != stored_held(*l)
                || queued(&holdings, *l) != queued(&before, *l)
        })
        .map(|l| (l, queued(&holdings, l)))
        .collect();
    record_day(tx, &book, &day_changed, now)?;
    out.emails += warn(tx, r.policy, &licence_rows, &book, &newly_queued, ctx)?;
    let waiting: Vec<(UserId, Licence)> = {
        let mut w: Vec<(&QueueKey, &UserId, Licence)> = holdings
            .iter()
            .filter_map(|(k, h)| Some((h.queued_at.as_ref()?, k, h.wanted?)))
            .collect();
        w.sort();
        w.into_iter().map(|(_, k, l)| (k.clone(), l)).collect()
    };
    let places = places(&waiting);
    for p in &people {
        let h = &holdings[&p.id];
        out.outcome
            .insert(p.id.clone(), (h.held, places.get(&p.id).copied()));
    }
    Ok(out)
}

fn seat_state(h: &Holding<QueueKey>) -> serde_json::Value {
    serde_json::json!({
        "licence": h.held.map(Licence::as_str),
        "waiting_for": h.wanted.map(Licence::as_str),
    })
}

/// Replaces the seat rows of these people with `rows`.
fn write_rows(tx: &mut DbConnection, rows: &[SeatRow]) -> AppResult<()> {
    // 10 columns a row: 20,000 bound values a statement, below SQLite's limit of 32,766.
    for chunk in rows.chunks(CHUNK) {
        let ids: Vec<&UserId> = chunk.iter().map(|r| &r.user_id).collect();
        diesel::delete(seats::table.filter(seats::user_id.eq_any(ids))).execute(tx)?;
        on_backend!(tx, c => diesel::insert_into(seats::table).values(chunk).execute(c))?;
    }
    Ok(())
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

/// E-mails licence owners when a cap's threshold is newly reached, and when people started
/// waiting; records the thresholds reached. Returns the number of e-mails queued.
fn warn(
    tx: &mut DbConnection,
    policy: &SeatPolicy,
    rows: &[LicenceRow],
    book: &Book,
    queued: &[(String, Licence)],
    ctx: &AuditContext,
) -> AppResult<usize> {
    let mut mails: Vec<(String, String, &'static str)> = Vec::new();
    for row in rows {
        let l = row.id;
        let pool = book.pool(l);
        let warned = row.warned_percent.map(|w| w.clamp(0, 100) as u8);
        let (reached, crossed) = rules::warning(&policy.warn_at, warned, pool);
        if reached != warned {
            diesel::update(licences::table.find(&row.id))
                .set(licences::warned_percent.eq(reached.map(i32::from)))
                .execute(tx)?;
        }
        if let Some(p) = crossed {
            mails.push(rules::cap_warning(l, p, pool));
        }
    }
    if !queued.is_empty() {
        mails.push(rules::queue_notice(queued, book));
    }
    if mails.is_empty() {
        return Ok(0);
    }
    let to = licence_owner_addresses(tx)?;
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

/// Reads the licences without locking.
pub fn licences(conn: &mut DbConnection) -> AppResult<Vec<LicenceRow>> {
    Ok(licences::table
        .select(LicenceRow::as_select())
        .order(licences::id.asc())
        .load(conn)?)
}

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
    apply(tx, r, ctx, Scope::Users(&[]), now)
}

/// A licence owner's choice for one person (`None`: follow the seat policy again), applied at
/// once. A pinned seat that cannot be had now is refused (nothing changes).
pub fn pin(
    tx: &mut DbConnection,
    r: SeatRules<'_>,
    ctx: &AuditContext,
    user: &super::users::User,
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
            let book = book_of(&licences(tx)?);
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
    let out = apply(tx, r, ctx, Scope::Everyone, now)?;
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

/// The usage history between two days (inclusive, `YYYY-MM-DD`), oldest first.
pub fn usage_history(
    conn: &mut DbConnection,
    since: &str,
    until: &str,
) -> AppResult<Vec<UsageDay>> {
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
        .map_err(super::column::read_from("licence_usage_days"))
}
