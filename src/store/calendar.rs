//! Calendar feeds: one row per owner (a person or a schedule) holding the SHA-256 of the
//! feed's secret, never the secret. A presented secret is hashed, looked up by that hash,
//! and compared again in constant time. Building the feed is `use_cases::calendar`.

use super::schema::{calendar_feeds, schedules};
use super::{DbConnection, unique_violation};
use crate::domain::calendar::CalendarFeedId;
use crate::domain::ids::{ScheduleId, UserId};
use crate::error::AppResult;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = calendar_feeds)]
pub struct CalendarFeed {
    pub id: CalendarFeedId,
    pub secret_hash: String,
    /// Exactly one of `user_id` and `schedule_id` is set (a CHECK says so).
    pub user_id: Option<UserId>,
    pub schedule_id: Option<ScheduleId>,
    pub created_at: NaiveDateTime,
}

/// Whose feed: a person's own shifts, or a schedule's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Person(UserId),
    Schedule(ScheduleId),
}

impl CalendarFeed {
    pub fn owner(&self) -> Option<Owner> {
        match (&self.user_id, &self.schedule_id) {
            (Some(u), None) => Some(Owner::Person(u.clone())),
            (None, Some(s)) => Some(Owner::Schedule(s.clone())),
            _ => None,
        }
    }
}

/// The owner's feed, if it has one.
pub fn find(conn: &mut DbConnection, owner: &Owner) -> AppResult<Option<CalendarFeed>> {
    let q = calendar_feeds::table.into_boxed();
    let q = match owner {
        Owner::Person(id) => q.filter(calendar_feeds::user_id.eq(id)),
        Owner::Schedule(id) => q.filter(calendar_feeds::schedule_id.eq(id)),
    };
    Ok(q.select(CalendarFeed::as_select()).first(conn).optional()?)
}

/// The feed whose secret hashes to `hash`, if any.
pub fn find_by_hash(conn: &mut DbConnection, hash: &str) -> AppResult<Option<CalendarFeed>> {
    let found = calendar_feeds::table
        .filter(calendar_feeds::secret_hash.eq(hash))
        .select(CalendarFeed::as_select())
        .first(conn)
        .optional()?;
    // The index look-up already matched; this keeps the final comparison constant-time too.
    Ok(found.filter(|f| bool::from(f.secret_hash.as_bytes().ct_eq(hash.as_bytes()))))
}

/// Stores a new feed. Another request making the same owner's feed at the same moment
/// loses on the unique index and is told to ask again.
pub fn insert(conn: &mut DbConnection, feed: &CalendarFeed) -> AppResult<()> {
    diesel::insert_into(calendar_feeds::table)
        .values(feed)
        .execute(conn)
        .map_err(unique_violation(
            "calendar_feed",
            "was made by another request at the same moment; ask again".into(),
        ))?;
    Ok(())
}

pub fn delete(conn: &mut DbConnection, id: &CalendarFeedId) -> AppResult<()> {
    diesel::delete(calendar_feeds::table.find(id)).execute(conn)?;
    Ok(())
}

/// Every schedule's id: a person's feed looks through all of them.
pub fn schedule_ids(conn: &mut DbConnection) -> AppResult<Vec<ScheduleId>> {
    Ok(schedules::table
        .select(schedules::id)
        .order(schedules::id)
        .load(conn)?)
}
