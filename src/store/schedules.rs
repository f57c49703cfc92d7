//! Schedules: their layers with every version (history is kept), teams and overrides.
//! Rows are read into the engine's terms here (`Layer<UserId>`, `Override<UserId>`), once.

use super::schema::{
    calendar_feeds, schedule_layer_versions, schedule_layers, schedule_overrides, schedule_teams,
    schedules, users,
};
use super::{DbConnection, Page, contains_pattern};
use crate::clock::{instant, stored_instant};
use crate::domain::ids::{LayerId, OverrideId, ScheduleId, TeamId, UserId};
use crate::domain::paging::PageRequest;
use crate::domain::schedule::edit::{LayerKey, LayersPlan, Placed, StoredLayer};
use crate::domain::schedule::{Layer, Override, Restriction, WallClock, Zone};
use crate::domain::seat_policy::Licence;
use crate::domain::seats::{NotOnCall, may_be_on_call};
use crate::error::{AppResult, OptionExt};
use crate::store::column::Json;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = schedules, treat_none_as_null = true)]
pub struct Schedule {
    pub id: ScheduleId,
    pub name: String,
    pub name_key: String,
    pub description: Option<String>,
    pub time_zone: Zone,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = schedule_layers)]
pub struct LayerRow {
    pub id: LayerId,
    pub schedule_id: ScheduleId,
    pub position: i32,
    pub name: String,
    pub removed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schedule_layer_versions)]
struct VersionRow {
    layer_id: LayerId,
    seq: i32,
    starts_at: NaiveDateTime,
    ends_at: Option<NaiveDateTime>,
    rotation_virtual_start: WallClock,
    turn_length_seconds: i64,
    users: Json<Vec<UserId>>,
    restrictions: Json<Vec<Restriction>>,
}

impl VersionRow {
    fn of(layer_id: LayerId, seq: i32, v: &Layer<UserId>) -> VersionRow {
        VersionRow {
            layer_id,
            seq,
            starts_at: stored_instant(v.start),
            ends_at: v.end.map(stored_instant),
            rotation_virtual_start: WallClock(v.rotation_virtual_start),
            turn_length_seconds: v.turn_length.as_secs(),
            users: Json(v.users.clone()),
            restrictions: Json(v.restrictions.clone()),
        }
    }

    fn layer(self) -> Layer<UserId> {
        Layer {
            start: instant(self.starts_at),
            end: self.ends_at.map(instant),
            rotation_virtual_start: self.rotation_virtual_start.0,
            turn_length: jiff::SignedDuration::from_secs(self.turn_length_seconds),
            users: self.users.0,
            restrictions: self.restrictions.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = schedule_overrides)]
pub struct OverrideRow {
    pub id: OverrideId,
    pub schedule_id: ScheduleId,
    pub user_id: UserId,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

impl OverrideRow {
    pub fn engine(&self) -> Override<UserId> {
        Override {
            user: self.user_id.clone(),
            start: instant(self.starts_at),
            end: instant(self.ends_at),
        }
    }
}

/// What a schedule shows of a person, and what decides whether they may be on call.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Person {
    pub id: UserId,
    pub name: String,
    pub email: Option<String>,
    pub locale: Option<String>,
    /// IANA zone their e-mails write times in.
    pub time_zone: String,
    pub active: bool,
    pub licence: Option<Licence>,
    pub deleted_at: Option<NaiveDateTime>,
}

impl Person {
    /// Whether they may be on call now (`domain::seats::may_be_on_call`); deleted counts as
    /// deactivated.
    pub fn on_call(&self) -> Result<(), NotOnCall> {
        may_be_on_call(self.active && self.deleted_at.is_none(), self.licence)
    }
}

/// How many committed changes "who is on call" has seen (`oncall_changes`, bumped by the
/// database's triggers on schedules, escalation policies, overrides and people): equal
/// counts mean nothing a final schedule or an on-call reads has changed in between.
pub fn oncall_changes(conn: &mut DbConnection) -> AppResult<i64> {
    use crate::store::schema::oncall_changes;
    Ok(oncall_changes::table
        .find(1)
        .select(oncall_changes::n)
        .first(conn)?)
}

/// The people with these ids, deleted ones included (a schedule's history names them).
pub fn people(conn: &mut DbConnection, ids: &[UserId]) -> AppResult<HashMap<UserId, Person>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        let rows: Vec<Person> = users::table
            .filter(users::id.eq_any(chunk))
            .select(Person::as_select())
            .load(conn)?;
        out.extend(rows.into_iter().map(|p| (p.id.clone(), p)));
    }
    Ok(out)
}

/// Live people named by id or by e-mail address (a roster's `user` column): each key sent
/// with the id it names.
pub fn find_people(conn: &mut DbConnection, keys: &[String]) -> AppResult<HashMap<String, UserId>> {
    let folded: Vec<String> = keys
        .iter()
        .map(|k| crate::domain::caseless::key(k))
        .collect();
    let rows: Vec<(UserId, Option<String>)> = users::table
        .filter(users::deleted_at.is_null())
        .filter(users::id.eq_any(keys).or(users::email_key.eq_any(&folded)))
        .select((users::id, users::email_key))
        .load(conn)?;
    let mut out = HashMap::new();
    for key in keys {
        let folded = crate::domain::caseless::key(key);
        let found = rows.iter().find(|(id, _)| id.as_str() == key).or_else(|| {
            rows.iter()
                .find(|(_, e)| e.as_deref() == Some(folded.as_str()))
        });
        if let Some((id, _)) = found {
            out.insert(key.clone(), id.clone());
        }
    }
    Ok(out)
}

/// A layer with its versions, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedLayer {
    pub row: LayerRow,
    pub versions: Vec<(i32, Layer<UserId>)>,
}

impl LoadedLayer {
    pub fn stored(&self) -> StoredLayer<LayerId, UserId> {
        StoredLayer {
            id: self.row.id.clone(),
            name: self.row.name.clone(),
            versions: self.versions.clone(),
        }
    }

    /// Its versions, for the engine.
    pub fn engine(&self) -> Vec<Layer<UserId>> {
        self.versions.iter().map(|(_, v)| v.clone()).collect()
    }
}

/// A schedule with its teams and layers: live ones in precedence order (the last wins),
/// then the removed ones (kept for history).
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub schedule: Schedule,
    pub teams: Vec<TeamId>,
    pub layers: Vec<LoadedLayer>,
}

impl Loaded {
    pub fn live(&self) -> impl Iterator<Item = &LoadedLayer> {
        self.layers.iter().filter(|l| l.row.removed_at.is_none())
    }

    /// Every layer for rendering, in precedence order: the removed ones first (they count
    /// only before their removal, and rank below every live layer), then the live ones.
    /// The live layers' rendered entries are the last `live().count()` of the result.
    pub fn for_render(&self) -> Vec<Vec<Layer<UserId>>> {
        let removed = self.layers.iter().filter(|l| l.row.removed_at.is_some());
        removed.chain(self.live()).map(|l| l.engine()).collect()
    }

    /// Everyone any version of any layer lists.
    pub fn people(&self) -> Vec<UserId> {
        let mut out: Vec<UserId> = self
            .layers
            .iter()
            .flat_map(|l| l.versions.iter().flat_map(|(_, v)| v.users.iter().cloned()))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

pub fn insert(conn: &mut DbConnection, schedule: &Schedule) -> AppResult<()> {
    diesel::insert_into(schedules::table)
        .values(schedule)
        .execute(conn)?;
    Ok(())
}

/// Saves every column of `schedule`; optimistic like `users::update`.
pub fn update(conn: &mut DbConnection, schedule: &Schedule) -> AppResult<()> {
    let saved = diesel::update(
        schedules::table
            .find(&schedule.id)
            .filter(schedules::version.eq(schedule.version - 1)),
    )
    .set(schedule)
    .execute(conn)?;
    if saved == 0 {
        return Err(super::changed_meanwhile("schedule", schedule.id.as_str()));
    }
    Ok(())
}

pub fn set_teams(conn: &mut DbConnection, id: &ScheduleId, teams: &[TeamId]) -> AppResult<()> {
    diesel::delete(schedule_teams::table.filter(schedule_teams::schedule_id.eq(id)))
        .execute(conn)?;
    let rows: Vec<_> = teams
        .iter()
        .map(|t| {
            (
                schedule_teams::schedule_id.eq(id),
                schedule_teams::team_id.eq(t),
            )
        })
        .collect();
    if !rows.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(schedule_teams::table).values(&rows).execute(c))?;
    }
    Ok(())
}

/// Writes a layers plan (`domain::schedule::edit`) for schedule `id` at `at`.
pub fn apply_layers(
    conn: &mut DbConnection,
    id: &ScheduleId,
    plan: &LayersPlan<LayerId, UserId>,
    at: NaiveDateTime,
) -> AppResult<()> {
    let mut new_ids: HashMap<usize, LayerId> = HashMap::new();
    for (position, placed) in plan.order.iter().enumerate() {
        let position = position as i32;
        match placed {
            Placed::Stored { id: layer, name } => {
                diesel::update(schedule_layers::table.find(layer))
                    .set((
                        schedule_layers::position.eq(position),
                        schedule_layers::name.eq(name),
                    ))
                    .execute(conn)?;
            }
            Placed::New { name } => {
                let layer = LayerId::generate();
                diesel::insert_into(schedule_layers::table)
                    .values(&LayerRow {
                        id: layer.clone(),
                        schedule_id: id.clone(),
                        position,
                        name: name.clone(),
                        removed_at: None,
                    })
                    .execute(conn)?;
                new_ids.insert(position as usize, layer);
            }
        }
    }
    for (layer, seq, end) in &plan.ended {
        diesel::update(schedule_layer_versions::table.find((layer, seq)))
            .set(schedule_layer_versions::ends_at.eq(Some(stored_instant(*end))))
            .execute(conn)?;
    }
    for (layer, seq) in &plan.dropped {
        diesel::delete(schedule_layer_versions::table.find((layer, seq))).execute(conn)?;
    }
    if !plan.removed.is_empty() {
        diesel::update(schedule_layers::table.filter(schedule_layers::id.eq_any(&plan.removed)))
            .set(schedule_layers::removed_at.eq(Some(at)))
            .execute(conn)?;
    }
    let rows: Vec<VersionRow> = plan
        .added
        .iter()
        .filter_map(|(key, seq, v)| {
            let layer = match key {
                LayerKey::Stored(l) => l.clone(),
                LayerKey::New(i) => new_ids.get(i)?.clone(),
            };
            Some(VersionRow::of(layer, *seq, v))
        })
        .collect();
    if !rows.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(schedule_layer_versions::table).values(&rows).execute(c))?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &ScheduleId) -> AppResult<Schedule> {
    schedules::table
        .find(id)
        .select(Schedule::as_select())
        .first(conn)
        .optional()?
        .not_found("schedule", id.as_str())
}

/// One schedule with its teams and layers.
pub fn load(conn: &mut DbConnection, id: &ScheduleId) -> AppResult<Loaded> {
    let schedule = find(conn, id)?;
    Ok(load_all(conn, vec![schedule], false)?.remove(0))
}

/// Schedules by id (`None`: all), each with its teams and layers, in four queries per
/// `IDS_PER_STATEMENT` ids (each id is a bound parameter; the backends cap how many one
/// statement takes).
pub fn load_many(conn: &mut DbConnection, ids: Option<&[ScheduleId]>) -> AppResult<Vec<Loaded>> {
    let Some(ids) = ids else {
        let rows = schedules::table
            .order(schedules::id.asc())
            .select(Schedule::as_select())
            .load(conn)?;
        return load_all(conn, rows, true);
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        let rows = schedules::table
            .filter(schedules::id.eq_any(chunk))
            .order(schedules::id.asc())
            .select(Schedule::as_select())
            .load(conn)?;
        out.extend(load_all(conn, rows, false)?);
    }
    Ok(out)
}

/// The stored version of each of these schedules (`None`: of all); deleted ones are absent.
pub fn versions(
    conn: &mut DbConnection,
    ids: Option<&[ScheduleId]>,
) -> AppResult<Vec<(ScheduleId, i64)>> {
    let Some(ids) = ids else {
        return Ok(schedules::table
            .select((schedules::id, schedules::version))
            .load(conn)?);
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
        out.extend(
            schedules::table
                .filter(schedules::id.eq_any(chunk))
                .select((schedules::id, schedules::version))
                .load::<(ScheduleId, i64)>(conn)?,
        );
    }
    Ok(out)
}

/// `every`: `rows` are all the schedules, so their layers are read without a filter.
fn load_all(conn: &mut DbConnection, rows: Vec<Schedule>, every: bool) -> AppResult<Vec<Loaded>> {
    let ids: Vec<&ScheduleId> = rows.iter().map(|s| &s.id).collect();
    let mut teams_q = schedule_teams::table.into_boxed();
    let mut layers_q = schedule_layers::table.into_boxed();
    let mut versions_q = schedule_layer_versions::table.into_boxed();
    if !every {
        teams_q = teams_q.filter(schedule_teams::schedule_id.eq_any(ids.clone()));
        layers_q = layers_q.filter(schedule_layers::schedule_id.eq_any(ids.clone()));
        // By the schedules' ids, not the layers': three times fewer bound parameters.
        versions_q = versions_q.filter(
            schedule_layer_versions::layer_id.eq_any(
                schedule_layers::table
                    .filter(schedule_layers::schedule_id.eq_any(ids.clone()))
                    .select(schedule_layers::id),
            ),
        );
    }
    let team_rows: Vec<(ScheduleId, TeamId)> = teams_q
        .select((schedule_teams::schedule_id, schedule_teams::team_id))
        .load(conn)?;
    let layer_rows: Vec<LayerRow> = layers_q
        .order((schedule_layers::schedule_id, schedule_layers::position))
        .select(LayerRow::as_select())
        .load(conn)?;
    let version_rows: Vec<VersionRow> = versions_q
        .order((
            schedule_layer_versions::layer_id,
            schedule_layer_versions::starts_at,
        ))
        .select(VersionRow::as_select())
        .load(conn)?;
    let mut versions: HashMap<LayerId, Vec<(i32, Layer<UserId>)>> = HashMap::new();
    for v in version_rows {
        versions
            .entry(v.layer_id.clone())
            .or_default()
            .push((v.seq, v.layer()));
    }
    let mut teams: HashMap<ScheduleId, Vec<TeamId>> = HashMap::new();
    for (s, t) in team_rows {
        teams.entry(s).or_default().push(t);
    }
    let mut layers: HashMap<ScheduleId, Vec<LoadedLayer>> = HashMap::new();
    for row in layer_rows {
        let versions = versions.remove(&row.id).unwrap_or_default();
        layers
            .entry(row.schedule_id.clone())
            .or_default()
            .push(LoadedLayer { row, versions });
    }
    Ok(rows
        .into_iter()
        .map(|schedule| {
            let mut ls = layers.remove(&schedule.id).unwrap_or_default();
            // Live layers in precedence order first, then the removed ones.
            ls.sort_by_key(|l| (l.row.removed_at.is_some(), l.row.position));
            Loaded {
                teams: teams.remove(&schedule.id).unwrap_or_default(),
                layers: ls,
                schedule,
            }
        })
        .collect())
}

pub fn list(
    conn: &mut DbConnection,
    text: Option<&str>,
    page: &PageRequest,
) -> AppResult<Page<Schedule>> {
    let filtered = || {
        let mut q = schedules::table.into_boxed();
        if let Some(text) = text.filter(|t| !t.trim().is_empty()) {
            q = q.filter(
                schedules::name_key
                    .like(contains_pattern(text.trim()))
                    .escape('\\'),
            );
        }
        q
    };
    let rows = filtered()
        .order((schedules::name_key.asc(), schedules::id.asc()))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(Schedule::as_select())
        .load(conn)?;
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page { rows, more, total })
}

/// Deletes a schedule with its layers, versions, overrides and calendar feed (a targeted
/// schedule is refused before: `escalation::targeting_schedule`).
pub fn delete(conn: &mut DbConnection, id: &ScheduleId) -> AppResult<()> {
    let layers = schedule_layers::table
        .filter(schedule_layers::schedule_id.eq(id))
        .select(schedule_layers::id);
    diesel::delete(
        schedule_layer_versions::table.filter(schedule_layer_versions::layer_id.eq_any(layers)),
    )
    .execute(conn)?;
    diesel::delete(schedule_layers::table.filter(schedule_layers::schedule_id.eq(id)))
        .execute(conn)?;
    diesel::delete(schedule_overrides::table.filter(schedule_overrides::schedule_id.eq(id)))
        .execute(conn)?;
    diesel::delete(schedule_teams::table.filter(schedule_teams::schedule_id.eq(id)))
        .execute(conn)?;
    // Its calendar feed goes with it (the foreign key cascades too; this says so here).
    diesel::delete(calendar_feeds::table.filter(calendar_feeds::schedule_id.eq(id)))
        .execute(conn)?;
    diesel::delete(schedules::table.find(id)).execute(conn)?;
    Ok(())
}

pub fn insert_overrides(conn: &mut DbConnection, rows: &[OverrideRow]) -> AppResult<()> {
    if !rows.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(schedule_overrides::table).values(rows).execute(c))?;
    }
    Ok(())
}

/// Overrides of the schedules (`None`: all) that overlap `[since, until)`, in creation order
/// (the last created wins).
pub fn overrides_in(
    conn: &mut DbConnection,
    ids: Option<&[ScheduleId]>,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> AppResult<Vec<OverrideRow>> {
    let mut q = schedule_overrides::table
        .filter(schedule_overrides::ends_at.gt(since))
        .filter(schedule_overrides::starts_at.lt(until))
        .into_boxed();
    if let Some(ids) = ids {
        q = q.filter(schedule_overrides::schedule_id.eq_any(ids));
    }
    Ok(
        q.order((schedule_overrides::created_at, schedule_overrides::id))
            .select(OverrideRow::as_select())
            .load(conn)?,
    )
}

pub fn find_override(
    conn: &mut DbConnection,
    schedule: &ScheduleId,
    id: &OverrideId,
) -> AppResult<OverrideRow> {
    schedule_overrides::table
        .find(id)
        .filter(schedule_overrides::schedule_id.eq(schedule))
        .select(OverrideRow::as_select())
        .first(conn)
        .optional()?
        .not_found("override", id.as_str())
}

pub fn delete_override(conn: &mut DbConnection, id: &OverrideId) -> AppResult<()> {
    diesel::delete(schedule_overrides::table.find(id)).execute(conn)?;
    Ok(())
}

pub fn end_override(conn: &mut DbConnection, id: &OverrideId, end: NaiveDateTime) -> AppResult<()> {
    diesel::update(schedule_overrides::table.find(id))
        .set(schedule_overrides::ends_at.eq(end))
        .execute(conn)?;
    Ok(())
}
