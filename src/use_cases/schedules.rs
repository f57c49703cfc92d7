//! Schedule use cases: create, change (history kept), delete, render, and overrides (one or
//! a batch, taking and giving shifts). REST calls these; the web pages and the hand-off job
//! will too.

use crate::domain::ids::{LayerId, OverrideId, ScheduleId, TeamId, UserId};
use crate::domain::schedule::edit::{SentLayer, StoredLayer, new_layers, replace_layers};
use crate::domain::schedule::{self, Layer, Rendered, Skipped, Zone};
use crate::domain::seats::NotOnCall;
use crate::domain::user as rules;
use crate::error::{AppError, AppResult, OptionExt};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::emails::{self, NewEmail};
use crate::store::schedules::{self as store, Loaded, OverrideRow, Person, Schedule};
use crate::store::{self as db, DbConnection, escalation};
use jiff::Timestamp;
use serde::Serialize;
use std::collections::HashMap;

/// A schedule as sent: its fields and layers (people by id, as sent).
#[derive(Debug, Clone)]
pub struct Draft {
    pub name: String,
    pub description: Option<String>,
    pub zone: Zone,
    pub teams: Vec<TeamId>,
    pub layers: Vec<SentLayer<LayerId, UserId>>,
}

/// How the audit trail names a schedule.
pub fn target(s: &Schedule) -> Target<'_> {
    Target {
        kind: "schedule",
        id: s.id.as_str(),
        name: &s.name,
    }
}

/// The schedule and its live layers, as the audit trail keeps them.
#[derive(Serialize)]
struct Snapshot<'a> {
    schedule: &'a Schedule,
    teams: &'a [TeamId],
    layers: Vec<LayerSnapshot<'a>>,
}

#[derive(Serialize)]
struct LayerSnapshot<'a> {
    id: &'a LayerId,
    name: &'a str,
    start: String,
    end: Option<String>,
    rotation_virtual_start: String,
    rotation_turn_length_seconds: i64,
    users: &'a [UserId],
    restrictions: &'a [schedule::Restriction],
}

fn snapshot(loaded: &Loaded, at: Timestamp) -> Snapshot<'_> {
    let layers = loaded
        .live()
        .filter_map(|l| {
            let stored = &l.versions;
            let found = stored
                .iter()
                .find(|(_, v)| v.start <= at && v.end.is_none_or(|e| e > at))
                .or_else(|| stored.last())?;
            let v = &found.1;
            Some(LayerSnapshot {
                id: &l.row.id,
                name: &l.row.name,
                start: v.start.to_string(),
                end: v.end.map(|e| e.to_string()),
                rotation_virtual_start: v.rotation_virtual_start.to_string(),
                rotation_turn_length_seconds: v.turn_length.as_secs(),
                users: &v.users,
                restrictions: &v.restrictions,
            })
        })
        .collect();
    Snapshot {
        schedule: &loaded.schedule,
        teams: &loaded.teams,
        layers,
    }
}

/// Checks that every person may be on call now: known, active, with a full seat. `fields`
/// name each person in the request (`schedule_layers[0].users[1].user.id`).
pub fn check_people(
    tx: &mut DbConnection,
    fields: &[(String, UserId)],
) -> AppResult<HashMap<UserId, Person>> {
    let mut ids: Vec<UserId> = fields.iter().map(|(_, u)| u.clone()).collect();
    ids.sort();
    ids.dedup();
    let people = store::people(tx, &ids)?;
    for (field, id) in fields {
        let person = people
            .get(id)
            .filter(|p| p.deleted_at.is_none())
            .ok_or_else(|| AppError::invalid(field, format!("'{id}' is not a user")))?;
        person
            .on_call()
            .map_err(|why| refused_person(field, person, why))?;
    }
    Ok(people)
}

fn refused_person(field: &str, p: &Person, why: NotOnCall) -> AppError {
    AppError::invalid(
        field,
        format!(
            "{} ({}) {}; only people with a full seat can be on call",
            p.name,
            p.id,
            why.explain()
        ),
    )
}

fn layer_people(layers: &[SentLayer<LayerId, UserId>]) -> Vec<(String, UserId)> {
    layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.layer.users.iter().enumerate().map(move |(j, u)| {
                (
                    format!("schedule_layers[{i}].users[{j}].user.id"),
                    u.clone(),
                )
            })
        })
        .collect()
}

fn check_draft(tx: &mut DbConnection, draft: &Draft) -> AppResult<()> {
    super::teams::must_exist(tx, &draft.teams)?;
    check_people(tx, &layer_people(&draft.layers))?;
    Ok(())
}

/// Creates a schedule, audited.
pub fn create(conn: &mut DbConnection, ctx: &AuditContext, draft: Draft) -> AppResult<Loaded> {
    db::write(conn, |tx| {
        check_draft(tx, &draft)?;
        let now = crate::clock::stored(ctx.at);
        let schedule = Schedule {
            id: ScheduleId::generate(),
            name_key: rules::name_key(&draft.name),
            name: draft.name,
            description: draft.description,
            time_zone: draft.zone,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        store::insert(tx, &schedule)?;
        store::set_teams(tx, &schedule.id, &draft.teams)?;
        let plan = new_layers(
            draft
                .layers
                .into_iter()
                .map(|l| (l.name, l.layer))
                .collect(),
        );
        store::apply_layers(tx, &schedule.id, &plan, now)?;
        let loaded = store::load(tx, &schedule.id)?;
        let at = crate::clock::jiff_now(ctx.at);
        audit::record(
            tx,
            ctx,
            "create",
            target(&loaded.schedule),
            None::<&()>,
            Some(&snapshot(&loaded, at)),
        )?;
        Ok(loaded)
    })
}

/// Changes a schedule at `ctx.at`: its fields, teams, and layers (`edit::replace_layers`:
/// the past never changes). `check` sees the schedule as stored and may refuse (the
/// caller's right to change it). Nothing changed, nothing written.
pub fn update(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ScheduleId,
    draft: Draft,
    check: impl FnOnce(&Loaded) -> AppResult<()>,
) -> AppResult<Loaded> {
    db::write(conn, |tx| {
        let before = store::load(tx, id)?;
        check(&before)?;
        check_draft(tx, &draft)?;
        let at = crate::clock::jiff_now(ctx.at);
        let now = crate::clock::stored(ctx.at);
        let stored: Vec<StoredLayer<LayerId, UserId>> = before.live().map(|l| l.stored()).collect();
        let names_changed = draft
            .layers
            .iter()
            .zip(before.live())
            .any(|(s, l)| s.name != l.row.name || s.id.as_ref() != Some(&l.row.id));
        let plan = replace_layers(&stored, draft.layers, at);
        let mut schedule = before.schedule.clone();
        schedule.name_key = rules::name_key(&draft.name);
        schedule.name = draft.name;
        schedule.description = draft.description;
        schedule.time_zone = draft.zone;
        let changed = plan.changes_anything()
            || names_changed
            || plan.order.len() != stored.len()
            || schedule != before.schedule
            || !super::teams::same(&draft.teams, &before.teams);
        if !changed {
            return Ok(before);
        }
        schedule.version += 1;
        schedule.updated_at = now;
        store::update(tx, &schedule)?;
        store::set_teams(tx, id, &draft.teams)?;
        store::apply_layers(tx, id, &plan, now)?;
        let after = store::load(tx, id)?;
        audit::record(
            tx,
            ctx,
            "update",
            target(&after.schedule),
            Some(&snapshot(&before, at)),
            Some(&snapshot(&after, at)),
        )?;
        Ok(after)
    })
}

/// Deletes a schedule with its history and overrides; refused while an escalation policy
/// targets it (the 400 names the policies).
pub fn delete(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ScheduleId,
    check: impl FnOnce(&Loaded) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        let before = store::load(tx, id)?;
        check(&before)?;
        let policies = escalation::targeting_schedule(tx, id)?;
        if !policies.is_empty() {
            return Err(AppError::invalid(
                "id",
                format!(
                    "schedule {} is a target of escalation {} {}; take it out of {} first",
                    before.schedule.name,
                    if policies.len() == 1 {
                        "policy"
                    } else {
                        "policies"
                    },
                    named(&policies),
                    if policies.len() == 1 { "it" } else { "them" },
                ),
            ));
        }
        store::delete(tx, id)?;
        let at = crate::clock::jiff_now(ctx.at);
        audit::record(
            tx,
            ctx,
            "delete",
            target(&before.schedule),
            Some(&snapshot(&before, at)),
            None::<&()>,
        )?;
        Ok(())
    })
}

/// `'Payments' (P1), 'Core' (P2)`.
pub fn named<I: std::fmt::Display>(items: &[(I, String)]) -> String {
    items
        .iter()
        .map(|(id, name)| format!("'{name}' ({id})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A schedule rendered for a window, with the people it names.
pub struct View {
    pub loaded: Loaded,
    pub rendered: Rendered<UserId>,
    /// Where someone would have been on call but may not be (lost their full seat, was
    /// deactivated), and why.
    pub skipped: Vec<Skipped<UserId, NotOnCall>>,
    /// The overrides in the window, as stored (ids for the API).
    pub overrides: Vec<OverrideRow>,
    pub people: HashMap<UserId, Person>,
}

/// Renders the stored schedule `id` for `[since, until)`.
/// `cache`: read the schedule through this instance's copy (`finals::Cache`; never inside
/// a write transaction, so `None` there).
pub fn view(
    conn: &mut DbConnection,
    cache: Option<&super::finals::Cache>,
    id: &ScheduleId,
    since: Timestamp,
    until: Timestamp,
) -> AppResult<View> {
    let loaded = match cache {
        Some(cache) => cache
            .schedules(conn, Some(std::slice::from_ref(id)))?
            .first()
            .map(|k| k.loaded.clone())
            .not_found("schedule", id.as_str())?,
        None => store::load(conn, id)?,
    };
    let overrides = store::overrides_in(
        conn,
        Some(std::slice::from_ref(id)),
        crate::clock::stored_instant(since),
        crate::clock::stored_instant(until),
    )?;
    render_view(conn, loaded, overrides, since, until)
}

/// Renders a schedule that is not stored (`POST /schedules/preview`): the people must exist
/// and may be on call, as for a create.
pub fn preview(
    conn: &mut DbConnection,
    draft: Draft,
    since: Timestamp,
    until: Timestamp,
    now: chrono::NaiveDateTime,
) -> AppResult<View> {
    check_draft(conn, &draft)?;
    let id = ScheduleId("preview".into());
    let layers = draft
        .layers
        .into_iter()
        .enumerate()
        .map(|(i, l)| store::LoadedLayer {
            row: store::LayerRow {
                id: l.id.unwrap_or_else(|| LayerId(format!("preview-{i}"))),
                schedule_id: id.clone(),
                position: i as i32,
                name: l.name,
                removed_at: None,
            },
            versions: vec![(1, l.layer)],
        })
        .collect();
    let loaded = Loaded {
        schedule: Schedule {
            id,
            name_key: rules::name_key(&draft.name),
            name: draft.name,
            description: draft.description,
            time_zone: draft.zone,
            version: 0,
            created_at: now,
            updated_at: now,
        },
        teams: draft.teams,
        layers,
    };
    render_view(conn, loaded, Vec::new(), since, until)
}

fn render_view(
    conn: &mut DbConnection,
    loaded: Loaded,
    overrides: Vec<OverrideRow>,
    since: Timestamp,
    until: Timestamp,
) -> AppResult<View> {
    let mut ids = loaded.people();
    ids.extend(overrides.iter().map(|o| o.user_id.clone()));
    ids.sort();
    ids.dedup();
    let people = store::people(conn, &ids)?;
    let engine_overrides: Vec<_> = overrides.iter().map(OverrideRow::engine).collect();
    let (rendered, skipped) = schedule::render_skipping(
        &loaded.for_render(),
        &engine_overrides,
        loaded.schedule.time_zone.tz(),
        since,
        until,
        |u| match people.get(u) {
            Some(p) => p.on_call().err(),
            None => Some(NotOnCall::Deactivated),
        },
    );
    Ok(View {
        loaded,
        rendered,
        skipped,
        overrides,
        people,
    })
}

/// One override as sent: who, and when.
#[derive(Debug, Clone)]
pub struct OverrideDraft {
    pub user: UserId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// What the caller may do with overrides on a schedule (asked of the schedule as stored,
/// inside the transaction): place anyone (`manage`), or only change their own shifts
/// (`shift(schedule, takes, gives)`, as the policies say).
pub struct OverrideRights<'a> {
    pub caller: Option<&'a UserId>,
    pub manage: &'a dyn Fn(&Loaded) -> bool,
    pub shift: &'a dyn Fn(&Loaded, bool, bool) -> bool,
}

/// Creates overrides on schedule `id`, each checked on its own: an item refused (end before
/// start, unknown person, no full seat, in the past, not the caller's to give) gets its
/// reasons and the others are created, unless `all_or_nothing`, when one refusal refuses
/// them all and nothing is written. Past time is not changed: an override that has ended is
/// refused, one that has started counts from now. The person put on call and the people
/// whose time it takes are told by e-mail (not the caller). Each created override is audited.
pub fn add_overrides(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ScheduleId,
    items: Vec<Result<OverrideDraft, String>>,
    all_or_nothing: bool,
    rights: &OverrideRights<'_>,
) -> AppResult<Vec<Result<OverrideRow, Vec<String>>>> {
    add_overrides_from(conn, ctx, id, items, 0, all_or_nothing, rights)
}

/// `add_overrides` of items that follow `first` others of the same batch (sent earlier in
/// their own transactions): later items still win.
fn add_overrides_from(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ScheduleId,
    items: Vec<Result<OverrideDraft, String>>,
    first: usize,
    all_or_nothing: bool,
    rights: &OverrideRights<'_>,
) -> AppResult<Vec<Result<OverrideRow, Vec<String>>>> {
    db::write(conn, |tx| {
        let loaded = store::load(tx, id)?;
        let manage = (rights.manage)(&loaded);
        let now = crate::clock::jiff_now(ctx.at);
        let mut ids: Vec<UserId> = items
            .iter()
            .filter_map(|i| i.as_ref().ok().map(|d| d.user.clone()))
            .collect();
        ids.sort();
        ids.dedup();
        let people = store::people(tx, &ids)?;
        let mut out: Vec<Result<OverrideRow, Vec<String>>> = Vec::with_capacity(items.len());
        let mut rows = Vec::new();
        let mut notices = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let checked = item
                .map_err(|e| vec![e])
                .and_then(|d| check_override(tx, &loaded, &people, d, now, rights, manage));
            match checked {
                Ok((d, replaced)) => {
                    let row = OverrideRow {
                        id: OverrideId::generate(),
                        schedule_id: id.clone(),
                        user_id: d.user.clone(),
                        starts_at: crate::clock::stored_instant(d.start),
                        ends_at: crate::clock::stored_instant(d.end),
                        // Later items of one batch win over earlier ones, as if sent one by one.
                        created_at: crate::clock::stored(ctx.at)
                            + chrono::Duration::microseconds((first + index) as i64),
                    };
                    notices.push((row.clone(), replaced));
                    rows.push(row.clone());
                    out.push(Ok(row));
                }
                Err(errors) => out.push(Err(errors)),
            }
        }
        if all_or_nothing && out.iter().any(Result::is_err) {
            let errors: Vec<String> = out
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    r.as_ref()
                        .err()
                        .map(|e| format!("overrides[{i}]: {}", e.join("; ")))
                })
                .collect();
            return Err(AppError::invalid(
                "overrides",
                format!("none were created (all or nothing): {}", errors.join(" | ")),
            ));
        }
        store::insert_overrides(tx, &rows)?;
        let mut emails = Vec::new();
        for (row, replaced) in &notices {
            audit::record(
                tx,
                ctx,
                "create_override",
                target(&loaded.schedule),
                None::<&()>,
                Some(row),
            )?;
            emails.extend(override_emails(
                &loaded.schedule,
                row,
                replaced,
                rights.caller,
                &people,
            ));
        }
        if !emails.is_empty() {
            emails::enqueue(tx, &emails, ctx.at)?;
        }
        Ok(out)
    })
}

/// One row of a month's roster, as typed: its number in the file (a CSV line, or the index
/// from 1 in JSON), the person (e-mail address or id) and the override's start and end.
#[derive(Debug, Clone)]
pub struct RosterEntry {
    pub row: usize,
    pub user: String,
    pub start: String,
    pub end: String,
}

/// Rows of a roster written in one transaction (when not all or nothing): a large file
/// holds the writer lock for a chunk at a time, and a fault keeps the chunks before it.
pub const ROSTER_CHUNK: usize = 200;

/// What a roster import did: each row's outcome by its number, and how many transactions
/// (chunks) wrote them.
pub struct RosterImport {
    pub rows: Vec<(usize, Result<OverrideRow, Vec<String>>)>,
    pub chunks: usize,
}

/// Imports a roster as overrides on schedule `id` (`add_overrides` per chunk of
/// `ROSTER_CHUNK` rows, each its own transaction): every row is accepted or refused with its
/// reasons. `all_or_nothing`: one transaction, and one refused row refuses them all (the
/// error names rows by their number).
pub fn import_roster(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    id: &ScheduleId,
    entries: &[RosterEntry],
    all_or_nothing: bool,
    rights: &OverrideRights<'_>,
) -> AppResult<RosterImport> {
    let keys: Vec<String> = entries.iter().map(|r| r.user.trim().to_owned()).collect();
    let found = store::find_people(conn, &keys)?;
    let item = |r: &RosterEntry| -> Result<OverrideDraft, String> {
        let user = found
            .get(r.user.trim())
            .ok_or_else(|| format!("user: '{}' is neither a user's e-mail nor id", r.user))?;
        let start = schedule::input::instant("start", r.start.trim()).map_err(|i| i.to_string())?;
        let end = schedule::input::instant("end", r.end.trim()).map_err(|i| i.to_string())?;
        Ok(OverrideDraft {
            user: user.clone(),
            start,
            end,
        })
    };
    let size = if all_or_nothing {
        entries.len().max(1)
    } else {
        ROSTER_CHUNK
    };
    let mut rows = Vec::with_capacity(entries.len());
    let mut chunks = 0;
    for (n, chunk) in entries.chunks(size).enumerate() {
        let items = chunk.iter().map(item).collect();
        let numbers: Vec<usize> = chunk.iter().map(|r| r.row).collect();
        let outcomes = add_overrides_from(conn, ctx, id, items, n * size, all_or_nothing, rights)
            .map_err(|e| name_rows(e, &numbers))?;
        rows.extend(numbers.into_iter().zip(outcomes));
        chunks += 1;
    }
    Ok(RosterImport { rows, chunks })
}

/// An all-or-nothing refusal names rows by their number in the file, not their index.
fn name_rows(e: AppError, numbers: &[usize]) -> AppError {
    let message = e.message();
    if !message.contains("overrides[") {
        return e;
    }
    let mut named = message;
    for (i, n) in numbers.iter().enumerate().rev() {
        named = named.replace(&format!("overrides[{i}]"), &format!("row {n}"));
    }
    AppError::invalid("rows", named.trim_start_matches("overrides ").to_owned())
}

/// One override's checks; with the people whose time it takes (for their e-mail).
fn check_override(
    tx: &mut DbConnection,
    loaded: &Loaded,
    people: &HashMap<UserId, Person>,
    mut d: OverrideDraft,
    now: Timestamp,
    rights: &OverrideRights<'_>,
    manage: bool,
) -> Result<(OverrideDraft, Vec<Person>), Vec<String>> {
    let mut errors = Vec::new();
    if d.end <= d.start {
        errors.push("Override must end after its start".to_string());
    } else if d.end <= now {
        errors.push("Override has ended: the past is not changed".to_string());
    } else if d.end.duration_since(d.start) > jiff::SignedDuration::from_hours(24 * 366) {
        errors.push("Override lasts at most a year".to_string());
    }
    match people.get(&d.user).filter(|p| p.deleted_at.is_none()) {
        None => errors.push(format!("user '{}' is not a user", d.user)),
        Some(p) => {
            if let Err(why) = p.on_call() {
                errors.push(format!(
                    "user {} ({}) {}; only people with a full seat can be on call",
                    p.name,
                    p.id,
                    why.explain()
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    d.start = d.start.max(now);
    // Who is on call in that span now (overrides included), to tell them and to decide
    // whether the caller is giving their own time away.
    let overrides = store::overrides_in(
        tx,
        Some(std::slice::from_ref(&loaded.schedule.id)),
        crate::clock::stored_instant(d.start),
        crate::clock::stored_instant(d.end),
    )
    .map_err(|e| vec![e.message()])?;
    let engine: Vec<_> = overrides.iter().map(OverrideRow::engine).collect();
    let rendered = schedule::render(
        &loaded.for_render(),
        &engine,
        loaded.schedule.time_zone.tz(),
        d.start,
        d.end,
    );
    if !manage {
        let takes = rights.caller == Some(&d.user);
        let gives = rights.caller.is_some_and(|me| {
            rendered.gaps.is_empty() && rendered.final_schedule.iter().all(|e| &e.user == me)
        });
        if !(rights.shift)(loaded, takes, gives) {
            return Err(vec![
                "you may put only yourself on call (take a shift) or give away a span of your own on-call time; \
                 managers of the schedule's teams and admins place anyone"
                    .to_string(),
            ]);
        }
    }
    let mut replaced: Vec<UserId> = rendered
        .final_schedule
        .iter()
        .map(|e| e.user.clone())
        .filter(|u| u != &d.user)
        .collect();
    replaced.sort();
    replaced.dedup();
    let replaced = store::people(tx, &replaced)
        .map_err(|e| vec![e.message()])?
        .into_values()
        .collect();
    Ok((d, replaced))
}

/// The e-mails an override sends: to the person put on call and to those whose time it
/// takes, unless they made it themselves.
fn override_emails(
    schedule: &Schedule,
    row: &OverrideRow,
    replaced: &[Person],
    caller: Option<&UserId>,
    people: &HashMap<UserId, Person>,
) -> Vec<NewEmail> {
    let when = format!(
        "from {} to {} (UTC)",
        row.starts_at.format("%Y-%m-%d %H:%M"),
        row.ends_at.format("%Y-%m-%d %H:%M")
    );
    let on_call = people.get(&row.user_id);
    let mut out = Vec::new();
    if let Some(p) = on_call.filter(|p| Some(&p.id) != caller)
        && let Some(to) = &p.email
    {
        out.push(NewEmail {
            to: to.clone(),
            subject: format!("You are on call for {} {when}", schedule.name),
            body: format!(
                "Hello {},\n\nAn override puts you on call for the schedule {} {when}.\n",
                p.name, schedule.name
            ),
            reason: "override_on_call",
            list_unsubscribe: None,
        });
    }
    let by = on_call.map_or_else(|| row.user_id.to_string(), |p| p.name.clone());
    for p in replaced.iter().filter(|p| Some(&p.id) != caller) {
        if let Some(to) = &p.email {
            out.push(NewEmail {
                to: to.clone(),
                subject: format!("{by} covers your shift on {} {when}", schedule.name),
                body: format!(
                    "Hello {},\n\n{by} is on call instead of you for the schedule {} {when}.\n",
                    p.name, schedule.name
                ),
                reason: "override_replaced",
                list_unsubscribe: None,
            });
        }
    }
    out
}

/// What deleting an override did.
pub enum Removed {
    /// It had not started: gone.
    Deleted,
    /// It was running: it now ends at the deletion.
    Cut(OverrideRow),
}

/// Deletes an override: one that has not started goes, one running is cut at now, one that
/// has ended is refused (the past is not changed).
pub fn delete_override(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    schedule_id: &ScheduleId,
    id: &OverrideId,
    may: impl FnOnce(&Loaded, &OverrideRow) -> AppResult<()>,
) -> AppResult<Removed> {
    db::write(conn, |tx| {
        let loaded = store::load(tx, schedule_id)?;
        let row = store::find_override(tx, schedule_id, id)?;
        may(&loaded, &row)?;
        let now = crate::clock::stored(ctx.at);
        let removed = if row.ends_at <= now {
            return Err(AppError::invalid(
                "override_id",
                format!("override {id} has ended; past overrides are kept as they were"),
            ));
        } else if row.starts_at < now {
            store::end_override(tx, id, now)?;
            let mut cut = row.clone();
            cut.ends_at = now;
            Removed::Cut(cut)
        } else {
            store::delete_override(tx, id)?;
            Removed::Deleted
        };
        let after = match &removed {
            Removed::Cut(cut) => Some(cut),
            Removed::Deleted => None,
        };
        audit::record(
            tx,
            ctx,
            "delete_override",
            target(&loaded.schedule),
            Some(&row),
            after,
        )?;
        Ok(removed)
    })
}

/// A layer of a draft, for the engine: `Layer<UserId>` from the ids as sent.
pub fn sent_layer(
    id: Option<String>,
    name: String,
    layer: Layer<String>,
) -> SentLayer<LayerId, UserId> {
    SentLayer {
        id: id.map(LayerId),
        name,
        layer: Layer {
            start: layer.start,
            end: layer.end,
            rotation_virtual_start: layer.rotation_virtual_start,
            turn_length: layer.turn_length,
            users: layer.users.into_iter().map(UserId).collect(),
            restrictions: layer.restrictions,
        },
    }
}
