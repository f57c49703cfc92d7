//! Chat channels (Teams and Slack incoming webhooks of a service or a team) and the chat
//! outbox. A post is queued in the transaction that writes the timeline entry it tells of
//! (`queue_for_entries`, called by `incidents::insert_log`), so it exists exactly when the
//! change committed; `jobs::chat` claims due posts under a lease, builds the card from the
//! incident as it is then, posts it, and records the outcome (sent, retried with backoff, or
//! given up), each on the incident's timeline. The URL is the channel's credential: it never
//! leaves `store/` and the job, never in a log or an answer (only `url_hint`).

use super::column::Json;
use super::schema::{chat_channels, chat_posts, incidents, service_teams};
use super::{DbConnection, insert_rows};
use crate::clock::stored;
use crate::domain::chat::{ChatEvent, ChatKind};
use crate::domain::ids::{IncidentId, ServiceId, TeamId};
use crate::domain::incident::{Details, LogKind};
use crate::error::AppResult;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use std::collections::HashMap;

/// A channel. Its `Debug` shows `url_hint` in place of the URL.
#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = chat_channels)]
pub struct Channel {
    pub id: String,
    pub kind: ChatKind,
    pub name: String,
    pub url: String,
    /// What may be shown of the URL: its host and last characters.
    pub url_hint: String,
    /// The language its messages are written in (`en`, `ja`).
    pub language: String,
    pub service_id: Option<ServiceId>,
    pub team_id: Option<TeamId>,
    pub created_at: NaiveDateTime,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("url_hint", &self.url_hint)
            .field("language", &self.language)
            .field("service_id", &self.service_id)
            .field("team_id", &self.team_id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = chat_posts)]
pub struct Post {
    pub id: String,
    pub channel_id: String,
    pub incident_id: IncidentId,
    pub event: Json<ChatEvent>,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub claimed_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
    pub failed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
}

pub fn insert_channel(conn: &mut DbConnection, channel: &Channel) -> AppResult<()> {
    diesel::insert_into(chat_channels::table)
        .values(channel)
        .execute(conn)?;
    Ok(())
}

pub fn find_channel(conn: &mut DbConnection, id: &str) -> AppResult<Option<Channel>> {
    Ok(chat_channels::table
        .find(id)
        .select(Channel::as_select())
        .first(conn)
        .optional()?)
}

pub fn delete_channel(conn: &mut DbConnection, id: &str) -> AppResult<bool> {
    Ok(diesel::delete(chat_channels::table.find(id)).execute(conn)? > 0)
}

/// The channels of a service or a team (exactly one given), oldest first.
pub fn channels_of(
    conn: &mut DbConnection,
    service: Option<&ServiceId>,
    team: Option<&TeamId>,
) -> AppResult<Vec<Channel>> {
    // The one not given is compared with NULL, which matches nothing.
    Ok(chat_channels::table
        .filter(
            chat_channels::service_id
                .eq(service)
                .or(chat_channels::team_id.eq(team)),
        )
        .order((chat_channels::created_at, chat_channels::id))
        .select(Channel::as_select())
        .load(conn)?)
}

/// What a timeline entry tells a channel, if anything: an incident opening (its first
/// alert), an escalation, an acknowledgement, a resolution.
fn told(kind: LogKind, details: Option<&Details>, agent: &str) -> Option<ChatEvent> {
    match (kind, details) {
        (LogKind::Trigger, Some(Details::Alert { first: true, .. })) => Some(ChatEvent::Triggered),
        (LogKind::Escalate, Some(Details::Reached { level, .. })) => {
            Some(ChatEvent::Escalated { level: *level })
        }
        (LogKind::Acknowledge, _) => Some(ChatEvent::Acknowledged {
            by: agent.to_owned(),
        }),
        (LogKind::Resolve, _) => Some(ChatEvent::Resolved {
            by: agent.to_owned(),
        }),
        _ => None,
    }
}

/// Queues a post to every channel of each incident's service and of the service's teams for
/// each entry that tells something. One cheap query when no channel exists at all, so the
/// timeline's writers pay nothing for a feature nobody set up.
pub fn queue_for_entries(
    conn: &mut DbConnection,
    entries: &[super::incidents::LogEntry],
) -> AppResult<usize> {
    let telling: Vec<(&IncidentId, ChatEvent, NaiveDateTime)> = entries
        .iter()
        .filter_map(|e| {
            told(e.kind, e.details.as_ref().map(|d| &d.0), &e.agent_name)
                .map(|t| (&e.incident_id, t, e.created_at))
        })
        .collect();
    if telling.is_empty() {
        return Ok(0);
    }
    let any: Option<String> = chat_channels::table
        .select(chat_channels::id)
        .first(conn)
        .optional()?;
    if any.is_none() {
        return Ok(0);
    }
    let ids: Vec<&IncidentId> = telling.iter().map(|(i, _, _)| *i).collect();
    let posts = posts_for(conn, &ids, |incident, channels, out| {
        for (i, told, at) in &telling {
            if *i == incident {
                for c in channels {
                    out.push(new_post(&c.id, incident, told.clone(), *at));
                }
            }
        }
    })?;
    insert_rows!(conn, chat_posts::table, &posts);
    Ok(posts.len())
}

/// Queues the incident's summary to its channels; how many posts.
pub fn queue_summary(
    conn: &mut DbConnection,
    incident: &IncidentId,
    at: DateTime<Utc>,
) -> AppResult<usize> {
    let posts = posts_for(conn, &[incident], |i, channels, out| {
        for c in channels {
            out.push(new_post(
                &c.id,
                i,
                ChatEvent::Summary { lines: Vec::new() },
                stored(at),
            ));
        }
    })?;
    insert_rows!(conn, chat_posts::table, &posts);
    Ok(posts.len())
}

/// When a summary of `incident` was last queued for its channels, if since `since`.
pub fn last_summary_since(
    conn: &mut DbConnection,
    incident: &IncidentId,
    since: DateTime<Utc>,
) -> AppResult<Option<NaiveDateTime>> {
    let recent: Vec<(NaiveDateTime, Json<ChatEvent>)> = chat_posts::table
        .filter(chat_posts::incident_id.eq(incident))
        .filter(chat_posts::created_at.ge(stored(since)))
        .order(chat_posts::created_at.desc())
        .select((chat_posts::created_at, chat_posts::event))
        .load(conn)?;
    Ok(recent
        .into_iter()
        .find(|(_, e)| matches!(e.0, ChatEvent::Summary { .. }))
        .map(|(at, _)| at))
}

fn new_post(channel: &str, incident: &IncidentId, told: ChatEvent, at: NaiveDateTime) -> Post {
    Post {
        id: uuid::Uuid::now_v7().to_string(),
        channel_id: channel.to_owned(),
        incident_id: incident.clone(),
        event: Json(told),
        created_at: at,
        next_attempt_at: at,
        attempts: 0,
        claimed_until: None,
        sent_at: None,
        failed_at: None,
        last_error: None,
    }
}

/// The posts `make` builds for each incident from the channels of its service and the
/// service's teams (each channel once).
fn posts_for(
    conn: &mut DbConnection,
    ids: &[&IncidentId],
    mut make: impl FnMut(&IncidentId, &[&Channel], &mut Vec<Post>),
) -> AppResult<Vec<Post>> {
    let services: Vec<(IncidentId, ServiceId)> = incidents::table
        .filter(incidents::id.eq_any(ids))
        .select((incidents::id, incidents::service_id))
        .load(conn)?;
    let service_ids: Vec<&ServiceId> = services.iter().map(|(_, s)| s).collect();
    let teams: Vec<(ServiceId, TeamId)> = service_teams::table
        .filter(service_teams::service_id.eq_any(&service_ids))
        .select((service_teams::service_id, service_teams::team_id))
        .load(conn)?;
    let team_ids: Vec<&TeamId> = teams.iter().map(|(_, t)| t).collect();
    let channels: Vec<Channel> = chat_channels::table
        .filter(
            chat_channels::service_id
                .eq_any(&service_ids)
                .or(chat_channels::team_id.eq_any(&team_ids)),
        )
        .order((chat_channels::created_at, chat_channels::id))
        .select(Channel::as_select())
        .load(conn)?;
    let mut out = Vec::new();
    let by_incident: HashMap<&IncidentId, &ServiceId> =
        services.iter().map(|(i, s)| (i, s)).collect();
    let mut seen = std::collections::HashSet::new();
    for id in ids {
        if !seen.insert(*id) {
            continue;
        }
        let Some(service) = by_incident.get(id) else {
            continue;
        };
        let mine: Vec<&Channel> = channels
            .iter()
            .filter(|c| {
                c.service_id.as_ref() == Some(*service)
                    || c.team_id
                        .as_ref()
                        .is_some_and(|t| teams.iter().any(|(s, team)| s == *service && team == t))
            })
            .collect();
        make(id, &mine, &mut out);
    }
    Ok(out)
}

/// Claims up to `limit` due posts for `lease`, oldest due first (`store::claim_outbox`).
/// Run it in `store::write`.
pub fn claim_due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: i64,
    lease: Duration,
) -> AppResult<Vec<Post>> {
    let mut claimed: Vec<Post> = super::claim_outbox(conn, "chat_posts", now, limit, lease)?;
    claimed.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    Ok(claimed)
}

/// Records the outcome of an attempt: sent; or failed, tried again at `retry_at`, or given
/// up when that is `None`.
pub fn record(
    conn: &mut DbConnection,
    id: &str,
    now: DateTime<Utc>,
    outcome: Result<(), (&str, Option<DateTime<Utc>>)>,
) -> AppResult<()> {
    let target = chat_posts::table
        .filter(chat_posts::id.eq(id))
        .filter(chat_posts::sent_at.is_null());
    let common = (
        chat_posts::claimed_until.eq(None::<NaiveDateTime>),
        chat_posts::attempts.eq(chat_posts::attempts + 1),
    );
    match outcome {
        Ok(()) => diesel::update(target)
            .set((common, chat_posts::sent_at.eq(Some(stored(now)))))
            .execute(conn)?,
        Err((error, retry)) => {
            let error: String = error.chars().take(1_000).collect();
            match retry {
                Some(at) => diesel::update(target)
                    .set((
                        common,
                        chat_posts::last_error.eq(Some(error)),
                        chat_posts::next_attempt_at.eq(stored(at)),
                    ))
                    .execute(conn)?,
                None => diesel::update(target)
                    .set((
                        common,
                        chat_posts::last_error.eq(Some(error)),
                        chat_posts::failed_at.eq(Some(stored(now))),
                    ))
                    .execute(conn)?,
            }
        }
    };
    Ok(())
}
