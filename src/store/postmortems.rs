//! Postmortems: one per incident, the document kept as typed JSON (`domain::postmortem`) with
//! its status beside it, and its action items mirrored as rows (written in the transaction
//! that writes the document) so the open ones can be listed across incidents. Updates are
//! optimistic on `version`.

use super::column::Json;
use super::schema::{incidents, postmortem_action_items, postmortems, service_teams};
use super::{DbConnection, Page, insert_rows};
use crate::domain::ids::{IncidentId, TeamId, UserId};
use crate::domain::paging::PageRequest;
use crate::domain::postmortem::{ActionStatus, Postmortem, Status};
use crate::error::{AppResult, OptionExt};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

/// A stored postmortem.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = postmortems)]
pub struct Stored {
    pub incident_id: IncidentId,
    /// The document's status, kept as a column too (what lists filter by).
    pub status: Status,
    pub document: Json<Postmortem>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl Stored {
    /// A new postmortem of `incident` (version 1).
    pub fn new(incident: IncidentId, document: Postmortem, at: NaiveDateTime) -> Stored {
        Stored {
            incident_id: incident,
            status: document.status,
            document: Json(document),
            created_at: at,
            updated_at: at,
            version: 1,
        }
    }
}

/// An action item as a row: what the list across incidents reads.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = postmortem_action_items)]
pub struct ItemRow {
    pub incident_id: IncidentId,
    pub item_id: String,
    pub description: String,
    pub owner_id: Option<UserId>,
    pub due: Option<NaiveDate>,
    pub status: ActionStatus,
}

/// A row of a list across incidents, with its incident's number and title.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub row: T,
    pub incident_number: i64,
    pub incident_title: String,
}

/// A page of `rows` (one beyond it fetched) read with their incident's number and title;
/// `count` counts them all when the page asks for the total.
fn listed<T>(
    page: &PageRequest,
    rows: Vec<(T, i64, String)>,
    count: impl FnOnce() -> QueryResult<i64>,
) -> AppResult<Page<Listed<T>>> {
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(count()?)
    } else {
        None
    };
    Ok(Page {
        rows: rows
            .into_iter()
            .map(|(row, incident_number, incident_title)| Listed {
                row,
                incident_number,
                incident_title,
            })
            .collect(),
        more,
        total,
    })
}

/// Which action items to list.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Any of these statuses; empty: any.
    pub statuses: Vec<ActionStatus>,
    /// Owned by any of these; empty: anyone's (or no one's).
    pub owners: Vec<UserId>,
    /// Due before this day (items without a due date are left out).
    pub due_before: Option<NaiveDate>,
}

pub fn insert(conn: &mut DbConnection, row: &Stored) -> AppResult<()> {
    diesel::insert_into(postmortems::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Option<Stored>> {
    Ok(postmortems::table
        .find(incident)
        .select(Stored::as_select())
        .first(conn)
        .optional()?)
}

/// The postmortem of `incident`, or 404.
pub fn get(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Stored> {
    find(conn, incident)?.not_found("postmortem", incident.as_str())
}

/// Saves every column if the stored version is `row.version - 1`; a stale write is refused.
pub fn update(conn: &mut DbConnection, row: &Stored) -> AppResult<()> {
    let saved = diesel::update(
        postmortems::table
            .find(&row.incident_id)
            .filter(postmortems::version.eq(row.version - 1)),
    )
    .set(row)
    .execute(conn)?;
    if saved == 0 {
        return Err(super::changed_meanwhile(
            "postmortem",
            row.incident_id.as_str(),
        ));
    }
    Ok(())
}

/// Replaces the action-item rows of `row`'s postmortem with its document's items.
pub fn replace_items(conn: &mut DbConnection, row: &Stored) -> AppResult<()> {
    diesel::delete(
        postmortem_action_items::table
            .filter(postmortem_action_items::incident_id.eq(&row.incident_id)),
    )
    .execute(conn)?;
    let items: Vec<ItemRow> = row
        .document
        .action_items
        .iter()
        .map(|a| ItemRow {
            incident_id: row.incident_id.clone(),
            item_id: a.id.clone(),
            description: a.description.clone(),
            owner_id: a.owner.clone(),
            due: a.due,
            status: a.status,
        })
        .collect();
    // At most `MAX_ACTION_ITEMS` (200) rows of 6 values: within both backends' limits.
    insert_rows!(conn, postmortem_action_items::table, &items);
    Ok(())
}

/// A page of action items across incidents, those due soonest first (no due date last),
/// then by incident and id.
pub fn items(
    conn: &mut DbConnection,
    filter: &ItemFilter,
    page: &PageRequest,
) -> AppResult<Page<Listed<ItemRow>>> {
    let filtered = || {
        let mut q = postmortem_action_items::table
            .inner_join(incidents::table.on(incidents::id.eq(postmortem_action_items::incident_id)))
            .into_boxed();
        if !filter.statuses.is_empty() {
            q = q.filter(postmortem_action_items::status.eq_any(filter.statuses.clone()));
        }
        if !filter.owners.is_empty() {
            q = q.filter(postmortem_action_items::owner_id.eq_any(filter.owners.clone()));
        }
        if let Some(day) = filter.due_before {
            q = q.filter(postmortem_action_items::due.lt(day));
        }
        q
    };
    let rows: Vec<(ItemRow, i64, String)> = filtered()
        .order((
            postmortem_action_items::due.is_null(),
            postmortem_action_items::due,
            postmortem_action_items::incident_id,
            postmortem_action_items::item_id,
        ))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select((ItemRow::as_select(), incidents::number, incidents::title))
        .load(conn)?;
    listed(page, rows, || filtered().count().get_result(conn))
}

/// A page of the postmortems of incidents on `team`'s services, newest incident first.
pub fn of_team(
    conn: &mut DbConnection,
    team: &TeamId,
    page: &PageRequest,
) -> AppResult<Page<Listed<Stored>>> {
    let filtered = || {
        let services = service_teams::table
            .filter(service_teams::team_id.eq(team))
            .select(service_teams::service_id);
        postmortems::table
            .inner_join(incidents::table.on(incidents::id.eq(postmortems::incident_id)))
            .filter(incidents::service_id.eq_any(services))
            .into_boxed()
    };
    let rows: Vec<(Stored, i64, String)> = filtered()
        .order((incidents::created_at.desc(), incidents::id.desc()))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select((Stored::as_select(), incidents::number, incidents::title))
        .load(conn)?;
    listed(page, rows, || filtered().count().get_result(conn))
}
