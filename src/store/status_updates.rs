//! Status updates on incidents and the subscriptions that receive them (`domain::subscription`).
//! A subscription row has one reference column per kind of target, so deleting an incident,
//! a service or a team deletes who followed it.

use super::DbConnection;
use super::schema::{incidents, service_teams, status_updates, subscriptions, users};
use crate::domain::ids::{IncidentId, ServiceId, TeamId, UserId};
use crate::domain::subscription::Target;
use crate::error::AppResult;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = status_updates)]
pub struct StatusUpdate {
    pub id: String,
    pub incident_id: IncidentId,
    pub message: String,
    pub author_id: Option<UserId>,
    pub author_name: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct Subscription {
    pub id: String,
    pub user_id: UserId,
    pub incident_id: Option<IncidentId>,
    pub service_id: Option<ServiceId>,
    pub team_id: Option<TeamId>,
    pub created_at: NaiveDateTime,
}

impl Subscription {
    pub fn new(user: UserId, target: &Target, at: NaiveDateTime) -> Subscription {
        let (incident, service, team) = columns(target);
        Subscription {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user,
            incident_id: incident.cloned(),
            service_id: service.cloned(),
            team_id: team.cloned(),
            created_at: at,
        }
    }

    /// What it follows (exactly one column is set: the table checks it).
    pub fn target(&self) -> Target {
        match (&self.incident_id, &self.service_id, &self.team_id) {
            (Some(i), _, _) => Target::Incident(i.clone()),
            (_, Some(s), _) => Target::Service(s.clone()),
            (_, _, Some(t)) => Target::Team(t.clone()),
            _ => unreachable!("the table's CHECK keeps exactly one target"),
        }
    }
}

pub fn insert(conn: &mut DbConnection, update: &StatusUpdate) -> AppResult<()> {
    diesel::insert_into(status_updates::table)
        .values(update)
        .execute(conn)?;
    Ok(())
}

/// An incident's status updates, oldest first.
pub fn of_incident(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<StatusUpdate>> {
    Ok(status_updates::table
        .filter(status_updates::incident_id.eq(incident))
        .order((status_updates::created_at, status_updates::id))
        .select(StatusUpdate::as_select())
        .load(conn)?)
}

/// The latest status update of an incident.
pub fn latest(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Option<StatusUpdate>> {
    Ok(status_updates::table
        .filter(status_updates::incident_id.eq(incident))
        .order((status_updates::created_at.desc(), status_updates::id.desc()))
        .select(StatusUpdate::as_select())
        .first(conn)
        .optional()?)
}

/// The target's three reference columns, one of them set.
fn columns(target: &Target) -> (Option<&IncidentId>, Option<&ServiceId>, Option<&TeamId>) {
    match target {
        Target::Incident(id) => (Some(id), None, None),
        Target::Service(id) => (None, Some(id), None),
        Target::Team(id) => (None, None, Some(id)),
    }
}

/// Subscribes each of `people` to `target`; those already subscribed stay as they are.
/// Returns the people newly subscribed.
pub fn subscribe(
    conn: &mut DbConnection,
    target: &Target,
    people: &[UserId],
    at: NaiveDateTime,
) -> AppResult<Vec<UserId>> {
    let already: Vec<UserId> = subscribers_of(conn, target)?
        .into_iter()
        .map(|s| s.user_id)
        .collect();
    let mut added = Vec::new();
    for person in people {
        if already.contains(person) || added.contains(person) {
            continue;
        }
        // A subscribe racing this one for the same person meets the unique index: theirs
        // stands, and this one adds nothing.
        let row = Subscription::new(person.clone(), target, at);
        let inserted = super::on_backend!(conn, c => diesel::insert_into(subscriptions::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted > 0 {
            added.push(person.clone());
        }
    }
    Ok(added)
}

/// Ends the subscriptions of `people` to `target`; returns whose ended.
pub fn unsubscribe(
    conn: &mut DbConnection,
    target: &Target,
    people: &[UserId],
) -> AppResult<Vec<UserId>> {
    let ending: Vec<Subscription> = subscribers_of(conn, target)?
        .into_iter()
        .filter(|s| people.contains(&s.user_id))
        .collect();
    let ids: Vec<&str> = ending.iter().map(|s| s.id.as_str()).collect();
    diesel::delete(subscriptions::table.filter(subscriptions::id.eq_any(ids))).execute(conn)?;
    Ok(ending.into_iter().map(|s| s.user_id).collect())
}

/// Who subscribes to `target` itself (not through its service or team), oldest first.
pub fn subscribers_of(conn: &mut DbConnection, target: &Target) -> AppResult<Vec<Subscription>> {
    // Two of the three columns are compared with NULL, which matches nothing.
    let (incident, service, team) = columns(target);
    Ok(subscriptions::table
        .filter(
            subscriptions::incident_id
                .eq(incident)
                .or(subscriptions::service_id.eq(service))
                .or(subscriptions::team_id.eq(team)),
        )
        .order((subscriptions::created_at, subscriptions::id))
        .select(Subscription::as_select())
        .load(conn)?)
}

/// A subscription by id.
pub fn find(conn: &mut DbConnection, id: &str) -> AppResult<Option<Subscription>> {
    Ok(subscriptions::table
        .find(id)
        .select(Subscription::as_select())
        .first(conn)
        .optional()?)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> AppResult<bool> {
    Ok(diesel::delete(subscriptions::table.find(id)).execute(conn)? > 0)
}

/// Everyone an update on `incident` goes to: subscribers of the incident, of its service and
/// of the service's teams, each person once (by their subscription to the incident first,
/// then the service's, then a team's: the link in their e-mail ends that one).
pub fn audience(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<Subscription>> {
    let service: ServiceId = incidents::table
        .find(incident)
        .select(incidents::service_id)
        .first(conn)?;
    let teams: Vec<TeamId> = service_teams::table
        .filter(service_teams::service_id.eq(&service))
        .select(service_teams::team_id)
        .load(conn)?;
    let rows: Vec<Subscription> = subscriptions::table
        .inner_join(users::table)
        .filter(
            subscriptions::incident_id
                .eq(incident)
                .or(subscriptions::service_id.eq(&service))
                .or(subscriptions::team_id.eq_any(&teams)),
        )
        .filter(users::deleted_at.is_null())
        .select(Subscription::as_select())
        .load(conn)?;
    let rank = |s: &Subscription| match s.target() {
        Target::Incident(_) => 0,
        Target::Service(_) => 1,
        Target::Team(_) => 2,
    };
    let mut rows = rows;
    rows.sort_by(|a, b| (rank(a), &a.id).cmp(&(rank(b), &b.id)));
    let mut seen = std::collections::HashSet::new();
    rows.retain(|s| seen.insert(s.user_id.clone()));
    Ok(rows)
}

/// What `user` subscribes to.
pub fn of_user(conn: &mut DbConnection, user: &UserId) -> AppResult<Vec<Subscription>> {
    Ok(subscriptions::table
        .filter(subscriptions::user_id.eq(user))
        .order((subscriptions::created_at, subscriptions::id))
        .select(Subscription::as_select())
        .load(conn)?)
}
