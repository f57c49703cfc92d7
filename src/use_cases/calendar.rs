//! Calendar feeds: make (or remake) a person's or a schedule's secret feed URL, take it
//! away, and answer a feed fetch with the `.ics` of the final schedules from 30 days ago to
//! 180 days ahead. Making and taking away are audited (never with the secret or its hash);
//! fetching is a read.
//!
//! The feed's shifts are the final schedules' (`finals::Cache::final_schedules`), so whoever may
//! not be on call now (no full seat, deactivated) has no events, as on the schedule pages.

use super::finals::Cache;
use crate::domain::calendar::{self, CalendarFeedId, Shift, Subject};
use crate::domain::ids::{ScheduleId, UserId};
use crate::domain::token::{self, SECRET_BYTES};
use crate::error::{AppError, AppResult, ErrorKind};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::calendar::{self as store, CalendarFeed, Owner};
use crate::store::{self as db, DbConnection, schedules, users};
use chrono::NaiveDateTime;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// How far back a feed reaches: last month's shifts stay in the calendar.
pub const PAST_DAYS: i64 = 30;
/// How far ahead a feed reaches.
pub const AHEAD_DAYS: i64 = 180;

/// A feed just made: its secret, which exists nowhere else once this is answered.
pub struct Issued {
    pub secret: String,
    pub created_at: NaiveDateTime,
}

/// What the audit trail keeps of a feed: which one and when it was made.
#[derive(Serialize)]
struct FeedView<'a> {
    id: &'a CalendarFeedId,
    created_at: NaiveDateTime,
}

fn view(feed: &CalendarFeed) -> FeedView<'_> {
    FeedView {
        id: &feed.id,
        created_at: feed.created_at,
    }
}

/// The owner as the audit trail names it (the person or the schedule, so the record shows
/// on their trail); 404 when there is no such live owner.
struct Named {
    kind: &'static str,
    id: String,
    name: String,
}

impl Named {
    fn target(&self) -> Target<'_> {
        Target {
            kind: self.kind,
            id: &self.id,
            name: &self.name,
        }
    }
}

/// The feed's owner as the audit trail names it. A schedule's feed is everyone's who
/// subscribed to it, so `may_change` sees the schedule (its teams): making it anew or
/// deleting it is for whoever manages the schedule.
fn named(
    tx: &mut DbConnection,
    owner: &Owner,
    may_change: impl FnOnce(&schedules::Loaded) -> AppResult<()>,
) -> AppResult<Named> {
    Ok(match owner {
        Owner::Person(id) => Named {
            kind: "user",
            id: id.to_string(),
            name: users::find(tx, id)?.name,
        },
        Owner::Schedule(id) => {
            let loaded = schedules::load(tx, id)?;
            may_change(&loaded)?;
            Named {
                kind: "schedule",
                id: id.to_string(),
                name: loaded.schedule.name,
            }
        }
    })
}

/// Makes the owner's feed with a fresh secret; one made before is replaced, and its URL
/// stops working in the same transaction. Audited as `create_calendar_feed` or
/// `regenerate_calendar_feed`. `may_change` sees a schedule owner (`named`).
pub fn issue(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    owner: &Owner,
    may_change: impl FnOnce(&schedules::Loaded) -> AppResult<()>,
) -> AppResult<Issued> {
    let mut random = [0u8; SECRET_BYTES];
    rand::fill(&mut random);
    let secret = calendar::format_secret(&random);
    let (user_id, schedule_id) = match owner {
        Owner::Person(id) => (Some(id.clone()), None),
        Owner::Schedule(id) => (None, Some(id.clone())),
    };
    let feed = CalendarFeed {
        id: CalendarFeedId::generate(),
        secret_hash: token::hash_secret(&secret),
        user_id,
        schedule_id,
        created_at: crate::clock::stored(ctx.at),
    };
    db::write(conn, |tx| {
        let named = named(tx, owner, may_change)?;
        let before = store::find(tx, owner)?;
        if let Some(old) = &before {
            store::delete(tx, &old.id)?;
        }
        store::insert(tx, &feed)?;
        let action = if before.is_some() {
            "regenerate_calendar_feed"
        } else {
            "create_calendar_feed"
        };
        audit::record(
            tx,
            ctx,
            action,
            named.target(),
            before.as_ref().map(view).as_ref(),
            Some(&view(&feed)),
        )
    })?;
    Ok(Issued {
        secret,
        created_at: feed.created_at,
    })
}

/// Takes the owner's feed away (its URL answers 404 from now on); 404 when it has none.
/// Audited as `delete_calendar_feed`.
pub fn revoke(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    owner: &Owner,
    may_change: impl FnOnce(&schedules::Loaded) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        let named = named(tx, owner, may_change)?;
        let feed = store::find(tx, owner)?.ok_or_else(|| {
            AppError::not_found("calendar feed", format!("of {} {}", named.kind, named.id))
        })?;
        store::delete(tx, &feed.id)?;
        audit::record(
            tx,
            ctx,
            "delete_calendar_feed",
            named.target(),
            Some(&view(&feed)),
            None::<&()>,
        )
    })
}

/// The `.ics` text of the feed whose secret is `secret`, made at `now`; `None` when no feed
/// has that secret, or its person is deactivated or deleted (their URL stops with them).
pub fn render(
    conn: &mut DbConnection,
    cache: &Cache,
    secret: &str,
    now: Timestamp,
) -> AppResult<Option<String>> {
    let Some(feed) = store::find_by_hash(conn, &token::hash_secret(secret))? else {
        return Ok(None);
    };
    let since = now - SignedDuration::from_hours(24 * PAST_DAYS);
    let until = now + SignedDuration::from_hours(24 * AHEAD_DAYS);
    let (subject, shifts) = match feed.owner() {
        None => return Ok(None),
        Some(Owner::Person(id)) => {
            let people = schedules::people(conn, std::slice::from_ref(&id))?;
            let Some(person) = people
                .get(&id)
                .filter(|p| p.active && p.deleted_at.is_none())
            else {
                return Ok(None);
            };
            let subject = Subject::Person {
                name: person.name.clone(),
            };
            let ids = store::schedule_ids(conn)?;
            (
                subject,
                shifts_of(conn, cache, &ids, Some(&id), since, until)?,
            )
        }
        Some(Owner::Schedule(id)) => {
            let schedule = match schedules::find(conn, &id) {
                Ok(s) => s,
                Err(e) if matches!(e.kind, ErrorKind::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let subject = Subject::Schedule {
                name: schedule.name,
            };
            let ids = [id];
            (subject, shifts_of(conn, cache, &ids, None, since, until)?)
        }
    };
    Ok(Some(calendar::document(&subject, &shifts, now)))
}

/// The final schedules' entries of `ids` overlapping `[since, until]` (whole shifts), only
/// `user`'s when given, in time order.
fn shifts_of(
    conn: &mut DbConnection,
    cache: &Cache,
    ids: &[ScheduleId],
    user: Option<&UserId>,
    since: Timestamp,
    until: Timestamp,
) -> AppResult<Vec<Shift>> {
    let users: Vec<UserId> = user.into_iter().cloned().collect();
    let finals = cache.final_schedules(conn, ids, &users, since, until)?;
    let mut shifts: Vec<Shift> = finals
        .entries
        .iter()
        .flat_map(|(schedule, entries)| entries.iter().map(move |e| (schedule, e)))
        .filter(|(_, e)| user.is_none_or(|u| &e.user == u))
        .map(|(schedule, e)| Shift {
            schedule: schedule.clone(),
            schedule_name: finals
                .name(schedule)
                .map_or_else(|| schedule.to_string(), str::to_owned),
            user: e.user.clone(),
            person_name: finals
                .people
                .get(&e.user)
                .map_or_else(|| e.user.to_string(), |p| p.name.clone()),
            start: e.start,
            end: e.end,
        })
        .collect();
    shifts.sort_by(|a, b| (a.start, &a.schedule, &a.user).cmp(&(b.start, &b.schedule, &b.user)));
    Ok(shifts)
}
