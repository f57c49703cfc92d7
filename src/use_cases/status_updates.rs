//! Status updates and subscriptions, for every protocol: REST posts and subscribes, the
//! unsubscribe link ends one, and the web pages will call the same functions. Posting an
//! update queues one e-mail per subscriber, in their language and zone, in the transaction
//! that stores the update: it is sent exactly when the update exists.

use super::incidents::Agent;
use crate::domain::ids::{IncidentId, UserId};
use crate::domain::incident::{Details, LogKind};
use crate::domain::subscription::{self, Target, UnsubscribeUrl, UpdateText};
use crate::domain::{handoff::language, user as rules};
use crate::error::{AppError, AppResult};
use crate::store::emails::{self, NewEmail};
use crate::store::status_updates::{self as store, StatusUpdate, Subscription};
use crate::store::{self as db, DbConnection, action_links, incidents, schedules, services, teams};
use chrono::{DateTime, Utc};

/// What posting an update did.
#[derive(Debug)]
pub struct Posted {
    pub update: StatusUpdate,
    /// E-mails queued (poke the delivery after the commit).
    pub emails: usize,
}

/// Posts `message` on `incident` as `agent` and e-mails it to every subscriber of the
/// incident, its service and its teams (once each). The message is checked here, so every
/// protocol refuses the same things.
pub fn post(
    conn: &mut DbConnection,
    public_url: &str,
    agent: &Agent,
    author: Option<&UserId>,
    at: DateTime<Utc>,
    incident: &IncidentId,
    message: &str,
) -> AppResult<Posted> {
    let message = rules::optional_text(Some(message), subscription::MAX_MESSAGE_CHARS)
        .map_err(|r| AppError::invalid("message", r))?
        .ok_or_else(|| AppError::invalid("message", "can't be blank"))?;
    let now = crate::clock::stored(at);
    let base = public_url.trim_end_matches('/');
    db::write(conn, |tx| {
        let found = incidents::find(tx, incident)?;
        let service = services::find(tx, &found.service_id)?;
        let update = StatusUpdate {
            id: uuid::Uuid::now_v7().to_string(),
            incident_id: incident.clone(),
            message: message.clone(),
            author_id: author.cloned(),
            author_name: agent.name.clone(),
            created_at: now,
        };
        store::insert(tx, &update)?;
        let audience = store::audience(tx, incident)?;
        let ids: Vec<UserId> = audience.iter().map(|s| s.user_id.clone()).collect();
        let people = schedules::people(tx, &ids)?;
        let key = action_links::subscription_key(tx, now)?;
        let incident_url = format!("{base}/incidents/{}", found.id);
        let mut mails = Vec::new();
        for s in &audience {
            let Some(person) = people.get(&s.user_id) else {
                continue;
            };
            let Some(address) = person.email.as_deref().filter(|a| !a.is_empty()) else {
                continue;
            };
            let unsubscribe_url = format!(
                "{base}/unsubscribe/{}",
                subscription::unsubscribe_token(&key, &s.id)
            );
            let shown_at = crate::clock::shown_in(now, &person.time_zone);
            let (subject, body) = subscription::update_email(
                language(person.locale.as_deref()),
                &UpdateText {
                    name: &person.name,
                    number: found.number,
                    title: &found.title,
                    service: &service.name,
                    status: found.status.as_str(),
                    author: &agent.name,
                    message: &message,
                    at: &shown_at,
                    incident_url: &incident_url,
                    unsubscribe_url: &unsubscribe_url,
                },
            );
            mails.push(NewEmail {
                to: address.to_owned(),
                subject,
                body,
                reason: "status_update",
                list_unsubscribe: UnsubscribeUrl::parse(&unsubscribe_url),
            });
        }
        emails::enqueue(tx, &mails, at)?;
        let entry = agent.entry(
            incident,
            LogKind::Annotate,
            now,
            format!("Status update posted by {}", agent.name),
            Some(Details::StatusUpdate {
                status_update_id: update.id.clone(),
                subscribers: mails.len(),
            }),
        );
        incidents::insert_log(tx, &[entry])?;
        Ok(Posted {
            update,
            emails: mails.len(),
        })
    })
}

/// An incident's status updates, oldest first.
pub fn list(conn: &mut DbConnection, incident: &IncidentId) -> AppResult<Vec<StatusUpdate>> {
    incidents::find(conn, incident)?;
    store::of_incident(conn, incident)
}

/// Refuses a target that does not exist (404 naming it).
fn existing(conn: &mut DbConnection, target: &Target) -> AppResult<()> {
    match target {
        Target::Incident(id) => incidents::find(conn, id).map(drop),
        Target::Service(id) => services::find(conn, id).map(drop),
        Target::Team(id) => teams::find(conn, id).map(drop),
    }
}

/// Subscribes `people` (existing, not deleted) to `target`; those already subscribed stay.
/// Returns the people newly subscribed.
pub fn subscribe(
    conn: &mut DbConnection,
    target: &Target,
    people: &[UserId],
    at: DateTime<Utc>,
) -> AppResult<Vec<UserId>> {
    db::write(conn, |tx| {
        existing(tx, target)?;
        let found = schedules::people(tx, people)?;
        for (i, id) in people.iter().enumerate() {
            if found.get(id).is_none_or(|p| p.deleted_at.is_some()) {
                return Err(AppError::invalid(
                    format!("subscribers[{i}].subscriber_id"),
                    format!("'{id}' is not a user"),
                ));
            }
        }
        store::subscribe(tx, target, people, crate::clock::stored(at))
    })
}

/// Ends the subscriptions of `people` to `target`; returns whose ended.
pub fn unsubscribe(
    conn: &mut DbConnection,
    target: &Target,
    people: &[UserId],
) -> AppResult<Vec<UserId>> {
    db::write(conn, |tx| {
        existing(tx, target)?;
        store::unsubscribe(tx, target, people)
    })
}

/// The subscribers of `target` itself.
pub fn subscribers(conn: &mut DbConnection, target: &Target) -> AppResult<Vec<Subscription>> {
    existing(conn, target)?;
    store::subscribers_of(conn, target)
}

/// What an unsubscribe link names, for its confirmation page.
#[derive(Debug, Clone)]
pub struct Named {
    pub subscription: Subscription,
    pub person: String,
    pub locale: Option<String>,
    /// What it follows, as people read it ("incident #12 Checkout errors", "service Checkout").
    pub what: String,
}

/// The subscription an unsubscribe link names, if the link is ours and it still exists.
/// Changes nothing (a mail scanner's prefetch must not unsubscribe anyone).
pub fn look(conn: &mut DbConnection, token: &str, at: DateTime<Utc>) -> AppResult<Option<Named>> {
    let key = action_links::subscription_key(conn, crate::clock::stored(at))?;
    let Some(id) = subscription::verify_unsubscribe(&key, token) else {
        return Ok(None);
    };
    let Some(found) = store::find(conn, &id)? else {
        return Ok(None);
    };
    let person =
        schedules::people(conn, std::slice::from_ref(&found.user_id))?.remove(&found.user_id);
    let what = match found.target() {
        Target::Incident(i) => {
            let i = incidents::find(conn, &i)?;
            format!("#{} {}", i.number, i.title)
        }
        Target::Service(s) => services::find(conn, &s)?.name,
        Target::Team(t) => teams::find(conn, &t)?.name,
    };
    Ok(Some(Named {
        person: person.as_ref().map_or_else(String::new, |p| p.name.clone()),
        locale: person.and_then(|p| p.locale),
        what,
        subscription: found,
    }))
}

/// Ends the subscription an unsubscribe link names. `None` when the link is not ours or the
/// subscription has already ended (a second click is harmless).
pub fn unsubscribe_by_link(
    conn: &mut DbConnection,
    token: &str,
    at: DateTime<Utc>,
) -> AppResult<Option<Named>> {
    let Some(named) = look(conn, token, at)? else {
        return Ok(None);
    };
    let ended = db::write(conn, |tx| store::delete(tx, &named.subscription.id))?;
    Ok(ended.then_some(named))
}
