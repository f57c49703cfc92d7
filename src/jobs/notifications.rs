//! The notification dispatcher: claims due notifications from the outbox under a lease,
//! sends each under the incident's send guard (`store::notifications::SendGuard`: nothing
//! goes out once an acknowledgement has committed), and records the outcome on the row and
//! on the incident's timeline: sent; failed and tried again with backoff (`domain::retry`);
//! or failed for good, when the person's next rule still fires on its own. A trigger wakes
//! it (`Wakeup`); otherwise it looks every second, which is also how retries fall due.

use crate::clock::SharedClock;
use crate::domain::contact::ContactKind;
use crate::domain::handoff::language;
use crate::domain::ids::EmailId;
use crate::domain::incident::{AgentKind, Channel, LogKind};
use crate::domain::notification::{self, IncidentText, masked};
use crate::domain::retry;
use crate::error::{AppError, AppResult};
use crate::jobs::email_delivery::Wakeup;
use crate::jobs::processing::Gate;
use crate::notify::email::Mailer;
use crate::store::emails::Email;
use crate::store::incidents::{self, LogEntry};
use crate::store::notifications::{self as outbox, Notification, SendGuard};
use crate::store::{self, Db, DbConnection, schedules, services};
use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

/// Notifications claimed at a time.
const BATCH: i64 = 50;
/// How long a claim holds: a dispatcher that dies mid-send loses its claims after this.
const LEASE: Duration = Duration::minutes(2);
/// How often the loop looks when nobody wakes it.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Not sent: the incident was acknowledged or resolved first.
    pub cancelled: usize,
}

/// The dispatcher's parts.
#[derive(Clone)]
pub struct NotificationJob {
    pub db: Db,
    pub clock: SharedClock,
    /// `None` without `ROTA_SMTP_URL`: e-mail notifications wait in the outbox.
    pub mailer: Option<Mailer>,
    pub public_url: String,
    pub gate: Gate,
    pub wakeup: Wakeup,
}

enum Outcome {
    Sent,
    Retrying,
    Failed,
    Cancelled,
}

impl NotificationJob {
    /// Sends every notification due now, a batch at a time.
    pub async fn run_once(&self) -> AppResult<Report> {
        let mut report = Report::default();
        let Some(mailer) = self.mailer.clone() else {
            return Ok(report);
        };
        let gate = self.gate.clone();
        if !self.db.run(move |c| gate.admits(c)).await? {
            return Ok(report);
        }
        loop {
            let now = crate::clock::stored(self.clock.now());
            let batch = self
                .db
                .run(move |c| store::write(c, |c| outbox::claim_due(c, now, BATCH, LEASE)))
                .await?;
            let full = batch.len() as i64 == BATCH;
            for n in batch {
                let (mailer, clock, base) =
                    (mailer.clone(), self.clock.clone(), self.public_url.clone());
                let handle = tokio::runtime::Handle::current();
                let outcome = self
                    .db
                    .run(move |c| deliver(c, &handle, &mailer, &base, clock.now(), n))
                    .await?;
                match outcome {
                    Outcome::Sent => report.sent += 1,
                    Outcome::Retrying => report.retrying += 1,
                    Outcome::Failed => report.failed += 1,
                    Outcome::Cancelled => report.cancelled += 1,
                }
            }
            if !full {
                return Ok(report);
            }
        }
    }
}

/// The e-mail a notification sends: the incident, its service and details, and its
/// acknowledge and resolve links, in the person's language and time zone.
fn email(
    conn: &mut DbConnection,
    base: &str,
    at: DateTime<Utc>,
    n: &Notification,
) -> AppResult<(Email, String)> {
    let incident = incidents::find(conn, &n.incident_id)?;
    let service = services::find(conn, &incident.service_id)?.name;
    let person = schedules::people(conn, std::slice::from_ref(&n.user_id))?
        .remove(&n.user_id)
        .ok_or_else(|| AppError::not_found("user", n.user_id.as_str()))?;
    let alert = incidents::alerts_of(conn, &incident.id)?.into_iter().next();
    let mut details = String::new();
    if let Some(a) = &alert {
        if let Some(source) = &a.source {
            details.push_str(&format!("Source: {source}\n"));
        }
        if let Some(d) = &a.custom_details {
            let text = serde_json::to_string_pretty(&d.0).unwrap_or_default();
            details.extend(text.chars().take(2_000));
        }
    }
    let (acknowledge_url, resolve_url) =
        crate::use_cases::action_links::issue(conn, base, &n.user_id, &incident.id, at)?;
    let zone = jiff::tz::TimeZone::get(&person.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let opened = crate::clock::instant(incident.created_at)
        .to_zoned_datetime(zone)
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    let lang = language(person.locale.as_deref());
    let incident_url = format!("{}/incidents/{}", base.trim_end_matches('/'), incident.id);
    let (subject, body) = notification::incident_email(
        lang,
        &IncidentText {
            name: &person.name,
            number: incident.number,
            title: &incident.title,
            service: &service,
            urgency: incident.urgency.as_str(),
            opened: &opened,
            details: details.trim_end(),
            incident_url: &incident_url,
            acknowledge_url: &acknowledge_url,
            resolve_url: &resolve_url,
        },
    );
    let now = crate::clock::stored(at);
    Ok((
        Email {
            // The notification's id makes the Message-ID: a retry keeps it.
            id: EmailId(n.id.clone()),
            to_address: n.address.clone(),
            subject,
            body,
            reason: "incident".into(),
            created_at: now,
            next_attempt_at: now,
            attempts: n.attempts,
            claimed_until: None,
            sent_at: None,
            failed_at: None,
            last_error: None,
        },
        person.name,
    ))
}

fn channel_words(channel: ContactKind) -> (&'static str, Channel) {
    match channel {
        ContactKind::Email => ("e-mail", Channel::Email),
        ContactKind::Phone => ("phone", Channel::Phone),
        ContactKind::Webhook => ("webhook", Channel::Auto),
    }
}

/// Sends one claimed notification and records what happened.
fn deliver(
    conn: &mut DbConnection,
    handle: &tokio::runtime::Handle,
    mailer: &Mailer,
    base: &str,
    at: DateTime<Utc>,
    n: Notification,
) -> AppResult<Outcome> {
    let now = crate::clock::stored(at);
    let (message, name) = match email(conn, base, at, &n) {
        Ok(built) => built,
        // The incident or person is gone: nothing to send.
        Err(e) if e.status() == 404 => {
            store::write(conn, |tx| outbox::mark_cancelled(tx, &n.id))?;
            return Ok(Outcome::Cancelled);
        }
        Err(e) => return Err(e),
    };
    let Some(guard) = SendGuard::take(conn, &n.incident_id)? else {
        store::write(conn, |tx| outbox::mark_cancelled(tx, &n.id))?;
        return Ok(Outcome::Cancelled);
    };
    let sent = handle.block_on(mailer.send(&message));
    let (how, channel) = channel_words(n.channel);
    let to = masked(&n.address);
    let attempts = n.attempts + 1;
    let (outcome, summary, retry_at) = match &sent {
        Ok(()) => (
            Outcome::Sent,
            format!("Notified {name} by {how} ({to}): sent"),
            None,
        ),
        Err(e) => {
            let retry_at = if e.is_retryable() {
                retry::next_attempt(attempts, at)
            } else {
                None
            };
            match retry_at {
                Some(when) => (
                    Outcome::Retrying,
                    format!(
                        "Could not notify {name} by {how} ({to}): {e}; trying again at {}",
                        when.format("%H:%M:%S UTC")
                    ),
                    Some(crate::clock::stored(when)),
                ),
                None => (
                    Outcome::Failed,
                    format!("Could not notify {name} by {how} ({to}): {e}; gave up"),
                    None,
                ),
            }
        }
    };
    let entry = LogEntry {
        id: crate::domain::ids::LogEntryId::generate(),
        incident_id: n.incident_id.clone(),
        kind: LogKind::Notify,
        created_at: now,
        agent_kind: AgentKind::Rota,
        agent_id: None,
        agent_name: "Rota".into(),
        channel,
        summary,
        details: None,
    };
    let error = sent.as_ref().err().map(ToString::to_string);
    guard.finish_with(conn, |tx| {
        match &error {
            None => outbox::mark_sent(tx, &n.id, now)?,
            Some(e) => outbox::mark_failed(tx, &n.id, e, retry_at)?,
        }
        incidents::insert_log(tx, &[entry])
    })?;
    Ok(outcome)
}

/// The dispatcher loop of a running server.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Dispatcher {
    pub fn start(job: NotificationJob) -> Dispatcher {
        let (stop, mut stopped) = watch::channel(false);
        let task = actix_web::rt::spawn(async move {
            while !*stopped.borrow() {
                match job.run_once().await {
                    Ok(r) if r != Report::default() => tracing::debug!(?r, "notification pass"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "notification pass failed"),
                }
                tokio::select! {
                    _ = job.wakeup.poked() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        Dispatcher { stop, task }
    }

    /// Lets a pass in progress finish, then ends the loop.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
