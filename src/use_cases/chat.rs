//! Chat channels of services and teams (Teams and Slack incoming webhooks), for every
//! protocol: REST now, the web pages later. Adding one is audited without its URL (the URL
//! lets anyone post to the channel: it is kept, used by `jobs::chat`, and shown only as a
//! hint). Posting a summary on request queues it like any other post.

use crate::domain::chat::ChatKind;
use crate::domain::chat_hosts::{self, ChatHosts};
use crate::domain::contact;
use crate::domain::ids::{IncidentId, ServiceId, TeamId};
use crate::domain::user as rules;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::chat::{self as store, Channel};
use crate::store::{self as db, DbConnection, incidents, services, teams};
use serde::Serialize;

/// Channels a service or a team has at most.
pub const MAX_CHANNELS: usize = 10;

/// Whose incidents a channel is told of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Service(ServiceId),
    Team(TeamId),
}

impl Owner {
    fn parts(&self) -> (Option<&ServiceId>, Option<&TeamId>) {
        match self {
            Owner::Service(s) => (Some(s), None),
            Owner::Team(t) => (None, Some(t)),
        }
    }

    fn exists(&self, conn: &mut DbConnection) -> AppResult<()> {
        match self {
            Owner::Service(s) => services::find(conn, s).map(drop),
            Owner::Team(t) => teams::find(conn, t).map(drop),
        }
    }
}

/// A channel as it is asked for. Its `Debug` shows the URL's hint only.
pub struct NewChannel {
    pub kind: ChatKind,
    pub name: String,
    pub url: String,
    pub language: Option<String>,
}

impl std::fmt::Debug for NewChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewChannel")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("url", &chat_hosts::raw_url_hint(&self.url))
            .field("language", &self.language)
            .finish()
    }
}

/// What the audit trail keeps of a channel: never its URL.
#[derive(Serialize)]
struct Snapshot<'a> {
    id: &'a str,
    kind: &'static str,
    name: &'a str,
    url_hint: &'a str,
    language: &'a str,
    service_id: Option<&'a ServiceId>,
    team_id: Option<&'a TeamId>,
}

fn snapshot(c: &Channel) -> Snapshot<'_> {
    Snapshot {
        id: &c.id,
        kind: c.kind.as_str(),
        name: &c.name,
        url_hint: &c.url_hint,
        language: &c.language,
        service_id: c.service_id.as_ref(),
        team_id: c.team_id.as_ref(),
    }
}

fn target(c: &Channel) -> Target<'_> {
    Target {
        kind: "chat_channel",
        id: &c.id,
        name: &c.name,
    }
}

/// Adds a channel to a service or a team. Each field is checked here; the URL must name a
/// host `hosts` allows for its kind (`domain::chat_hosts`). The URL's refusal never repeats
/// the URL (an error is logged, and the URL is a secret).
pub fn add(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    hosts: &ChatHosts,
    owner: &Owner,
    asked: NewChannel,
) -> AppResult<Channel> {
    let name = rules::optional_text(Some(&asked.name), 200)
        .map_err(|r| AppError::invalid("chat_channel.name", r))?
        .ok_or_else(|| AppError::invalid("chat_channel.name", "can't be blank"))?;
    let url = contact::webhook(&asked.url)
        .ok()
        .and_then(|u| url::Url::parse(&u).ok())
        .ok_or_else(|| {
            AppError::invalid(
                "chat_channel.url",
                "must be the channel's incoming webhook: an https URL without a user name (http only to localhost or 127.0.0.1)",
            )
        })?;
    if !url.host().is_some_and(|h| hosts.allows(asked.kind, &h)) {
        return Err(AppError::invalid(
            "chat_channel.url",
            match asked.kind {
                ChatKind::Slack => {
                    "must be a Slack incoming webhook (https://hooks.slack.com/…) or at a host added in ROTA_CHAT_HOSTS"
                }
                ChatKind::Teams => {
                    "must be a Teams Workflows webhook (a host ending in .logic.azure.com or .environment.api.powerplatform.com, or a legacy .webhook.office.com one) or at a host added in ROTA_CHAT_HOSTS"
                }
            },
        ));
    }
    let language = match asked.language.as_deref().map(str::trim) {
        None | Some("") | Some("en") => "en",
        Some("ja") => "ja",
        Some(other) => {
            return Err(AppError::invalid(
                "chat_channel.language",
                format!(
                    "'{}' is not a language Rota writes: use en or ja",
                    crate::domain::text::clean(other, 20)
                ),
            ));
        }
    };
    db::write(conn, |tx| {
        owner.exists(tx)?;
        let (service, team) = owner.parts();
        if store::channels_of(tx, service, team)?.len() >= MAX_CHANNELS {
            return Err(AppError::invalid(
                "chat_channel",
                format!("at most {MAX_CHANNELS} channels each"),
            ));
        }
        let channel = Channel {
            id: uuid::Uuid::now_v7().to_string(),
            kind: asked.kind,
            name: name.clone(),
            url_hint: chat_hosts::url_hint(&url),
            url: url.to_string(),
            language: language.to_owned(),
            service_id: service.cloned(),
            team_id: team.cloned(),
            created_at: crate::clock::stored(ctx.at),
        };
        store::insert_channel(tx, &channel)?;
        audit::record(
            tx,
            ctx,
            "create",
            target(&channel),
            None::<&()>,
            Some(&snapshot(&channel)),
        )?;
        Ok(channel)
    })
}

/// The channels of a service or a team.
pub fn list(conn: &mut DbConnection, owner: &Owner) -> AppResult<Vec<Channel>> {
    owner.exists(conn)?;
    let (service, team) = owner.parts();
    store::channels_of(conn, service, team)
}

/// Removes a channel of a service or a team (posts not yet sent go with it).
pub fn remove(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    owner: &Owner,
    id: &str,
) -> AppResult<()> {
    db::write(conn, |tx| {
        let (service, team) = owner.parts();
        let channel = store::find_channel(tx, id)?
            .filter(|c| c.service_id.as_ref() == service && c.team_id.as_ref() == team)
            .ok_or_else(|| AppError::not_found("chat_channel", id))?;
        store::delete_channel(tx, id)?;
        audit::record(
            tx,
            ctx,
            "delete",
            target(&channel),
            Some(&snapshot(&channel)),
            None::<&()>,
        )
    })
}

/// Queues the incident's current summary to the channels of its service and teams; how many
/// posts (none: no channel to post to, which the caller says).
pub fn post_summary(
    conn: &mut DbConnection,
    incident: &IncidentId,
    at: chrono::DateTime<chrono::Utc>,
) -> AppResult<usize> {
    db::write(conn, |tx| {
        incidents::find(tx, incident)?;
        let cooldown = chrono::Duration::seconds(SUMMARY_COOLDOWN_SECONDS);
        if let Some(last) = store::last_summary_since(tx, incident, at - cooldown)? {
            let wait = last.and_utc() + cooldown - at;
            return Err(AppError::too_many(
                format!(
                    "a summary of this incident was posted to its channels less than {SUMMARY_COOLDOWN_SECONDS} seconds ago"
                ),
                wait,
            ));
        }
        store::queue_summary(tx, incident, at)
    })
}

/// How long after a summary was posted to an incident's channels the next may be: a channel
/// is read by many, and a button pressed twice should not post twice.
pub const SUMMARY_COOLDOWN_SECONDS: i64 = 60;
