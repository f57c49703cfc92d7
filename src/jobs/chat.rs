//! The chat poster: claims due posts of the chat outbox (`store::chat`), builds each card
//! from the incident as it is now (`domain::chat`, in the channel's language), posts it
//! (`notify::chat`) and records the outcome on the incident's timeline: posted, failed and
//! tried again (with `domain::retry`'s backoff), or given up. It is its own loop with its own
//! HTTP client and timeouts, so a slow or failing webhook never holds up e-mails and calls.

use super::processing::Gate;
use crate::clock::SharedClock;
use crate::domain::chat::{self, CardFacts, ChatEvent, ChatKind};
use crate::domain::chat_hosts::ChatHosts;
use crate::domain::incident::{Channel as Via, LogKind};
use crate::domain::retry;
use crate::error::AppResult;
use crate::store::chat::{self as outbox, Post};
use crate::store::{self, Db, DbConnection, incidents, services};
use crate::use_cases::incidents::Agent;
use futures_util::StreamExt;
use std::sync::Arc;
use tokio::sync::watch;

/// Posts claimed per pass, and sent at once.
const BATCH: i64 = 32;
const CONCURRENCY: usize = 4;

/// How long a claim holds: past the HTTP client's 10 s timeout.
const LEASE_SECONDS: i64 = 45;

/// How often the poster looks for due posts.
const POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub retrying: usize,
    pub given_up: usize,
}

#[derive(Clone)]
pub struct ChatJob {
    pub db: Db,
    pub clock: SharedClock,
    /// `notify::chat::client(hosts)`: its resolver refuses private addresses.
    pub http: reqwest::Client,
    /// Where webhooks may point, checked again on every post.
    pub hosts: Arc<ChatHosts>,
    pub public_url: String,
    pub gate: Gate,
}

impl ChatJob {
    /// The job with its own guarded client (`notify::chat::client`).
    pub fn new(
        db: Db,
        clock: SharedClock,
        hosts: Arc<ChatHosts>,
        public_url: String,
        gate: Gate,
    ) -> ChatJob {
        ChatJob {
            db,
            clock,
            http: crate::notify::chat::client(hosts.clone()),
            hosts,
            public_url,
            gate,
        }
    }
}

/// A post ready to go: where, and the body. Its `Debug` shows the URL's hint only.
struct Ready {
    post: Post,
    kind: ChatKind,
    name: String,
    url: String,
    url_hint: String,
    body: Vec<u8>,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("post", &self.post.id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("url_hint", &self.url_hint)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl ChatJob {
    /// Claims and posts everything due now.
    pub async fn run_once(&self) -> AppResult<Report> {
        let mut report = Report::default();
        let gate = self.gate.clone();
        if !self.db.run(move |c| gate.admits(c)).await? {
            return Ok(report);
        }
        loop {
            let now = self.clock.now();
            let base = self.public_url.clone();
            let ready = self
                .db
                .run(move |c| {
                    let claimed = store::write(c, |tx| {
                        outbox::claim_due(tx, now, BATCH, chrono::Duration::seconds(LEASE_SECONDS))
                    })?;
                    let mut ready = Vec::with_capacity(claimed.len());
                    for p in claimed {
                        let (id, attempts) = (p.id.clone(), p.attempts);
                        match prepare(c, &base, p, now) {
                            Ok(r) => ready.push(r),
                            Err(e) => {
                                // One post that cannot be built must not hold up those
                                // behind it: it is recorded as a failed attempt.
                                tracing::error!(error = %e, post = %id, "could not build a chat message");
                                let retry = retry::next_attempt(attempts + 1, now);
                                store::write(c, |tx| {
                                    outbox::record(
                                        tx,
                                        &id,
                                        now,
                                        Err(("Rota could not build the message", retry)),
                                    )
                                })?;
                            }
                        }
                    }
                    Ok(ready)
                })
                .await?;
            let full = ready.len() as i64 == BATCH;
            let outcomes: Vec<AppResult<Outcome>> = futures_util::stream::iter(ready)
                .filter_map(|r| async move { r })
                .map(|r| self.deliver(r))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for outcome in outcomes {
                match outcome? {
                    Outcome::Sent => report.sent += 1,
                    Outcome::Retrying => report.retrying += 1,
                    Outcome::GivenUp => report.given_up += 1,
                }
            }
            if !full {
                return Ok(report);
            }
        }
    }

    async fn deliver(&self, r: Ready) -> AppResult<Outcome> {
        let result =
            crate::notify::chat::post(&self.http, &self.hosts, r.kind, &r.url, r.body).await;
        let now = self.clock.now();
        let attempts = r.post.attempts + 1;
        let (outcome, summary, recorded) = match &result {
            Ok(()) => (
                Outcome::Sent,
                format!("Posted to {} channel '{}'", label(r.kind), r.name),
                Ok(()),
            ),
            Err(f) => {
                let retry_at = if f.retryable {
                    retry::next_attempt(attempts, now)
                } else {
                    None
                };
                match retry_at {
                    Some(at) => (
                        Outcome::Retrying,
                        format!(
                            "Posting to {} channel '{}' failed ({}); trying again at {}",
                            label(r.kind),
                            r.name,
                            f.reason,
                            at.format("%H:%M:%S UTC")
                        ),
                        Err((f.reason.clone(), Some(at))),
                    ),
                    None => (
                        Outcome::GivenUp,
                        format!(
                            "Posting to {} channel '{}' failed ({}); given up after {attempts} attempt(s)",
                            label(r.kind),
                            r.name,
                            f.reason
                        ),
                        Err((f.reason.clone(), None)),
                    ),
                }
            }
        };
        let post = r.post;
        self.db
            .run(move |c| {
                store::write(c, |tx| {
                    outbox::record(
                        tx,
                        &post.id,
                        now,
                        recorded
                            .as_ref()
                            .map(|_| ())
                            .map_err(|(e, at)| (e.as_str(), *at)),
                    )?;
                    let entry = Agent::rota(Via::Webhook).entry(
                        &post.incident_id,
                        LogKind::Notify,
                        crate::clock::stored(now),
                        summary,
                        None,
                    );
                    incidents::insert_log(tx, &[entry])
                })
            })
            .await?;
        Ok(outcome)
    }
}

enum Outcome {
    Sent,
    Retrying,
    GivenUp,
}

fn label(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::Teams => "Microsoft Teams",
        ChatKind::Slack => "Slack",
    }
}

/// The card of a claimed post, or `None` when its channel or incident has gone meanwhile
/// (the rows cascade away; nothing to send).
fn prepare(
    conn: &mut DbConnection,
    base: &str,
    post: Post,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<Option<Ready>> {
    let Some(channel) = outbox::find_channel(conn, &post.channel_id)? else {
        return Ok(None);
    };
    let incident = match incidents::find(conn, &post.incident_id) {
        Ok(i) => i,
        Err(e) if matches!(e.kind, crate::error::ErrorKind::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let service = services::find(conn, &incident.service_id)?;
    let lang = crate::domain::handoff::language(Some(&channel.language));
    let event = match &post.event.0 {
        ChatEvent::Summary { .. } => {
            let s = crate::use_cases::summary::current(conn, &incident.id, lang, now)?;
            ChatEvent::Summary { lines: s.lines }
        }
        told => told.clone(),
    };
    let base = base.trim_end_matches('/');
    let facts = CardFacts {
        number: incident.number,
        title: incident.title.clone(),
        service: service.name,
        urgency: incident.urgency,
        status: incident.status,
        incident_url: format!("{base}/incidents/{}", incident.id),
        // A channel's links name nobody: whoever follows one signs in and acts as themselves
        // (`http::ui::incidents`).
        acknowledge_url: Some(format!("{base}/incidents/{}/acknowledge", incident.id)),
        resolve_url: Some(format!("{base}/incidents/{}/resolve", incident.id)),
        at: post.created_at,
    };
    let body = match channel.kind {
        ChatKind::Teams => serde_json::to_vec(&chat::teams_message(&event, &facts, lang)),
        ChatKind::Slack => serde_json::to_vec(&chat::slack_message(&event, &facts, lang)),
    }
    .map_err(|e| crate::error::AppError::internal(format!("chat message: {e}")))?;
    Ok(Some(Ready {
        post,
        kind: channel.kind,
        name: channel.name,
        url: channel.url,
        url_hint: channel.url_hint,
        body,
    }))
}

/// The poster's loop, run by `rota serve`.
pub struct Poster {
    stop: watch::Sender<bool>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Poster {
    pub fn start(job: ChatJob) -> Poster {
        let (stop, mut stopped) = watch::channel(false);
        let task = actix_web::rt::spawn(async move {
            while !*stopped.borrow() {
                match job.run_once().await {
                    Ok(r) if r != Report::default() => tracing::debug!(?r, "chat pass"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "chat pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        Poster { stop, task }
    }

    /// Lets a pass in progress finish, then ends the loop.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_post_shows_no_url_in_debug() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let url = "https://hooks.slack.com/services/T000/B000/topsecretXYZW";
        let ready = Ready {
            post: Post {
                id: "post-1".into(),
                channel_id: "channel-1".into(),
                incident_id: crate::domain::ids::IncidentId("inc-1".into()),
                event: crate::store::column::Json(ChatEvent::Triggered),
                created_at: at,
                next_attempt_at: at,
                attempts: 0,
                claimed_until: None,
                sent_at: None,
                failed_at: None,
                last_error: None,
            },
            kind: ChatKind::Slack,
            name: "#ops".into(),
            url: url.into(),
            url_hint: crate::domain::chat_hosts::raw_url_hint(url),
            body: b"{}".to_vec(),
        };
        let shown = format!("{ready:?} {ready:#?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(shown.contains("hooks.slack.com…XYZW"), "{shown}");
    }
}
