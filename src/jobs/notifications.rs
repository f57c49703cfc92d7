//! The notification dispatcher: claims due notifications from the outbox under a lease, on
//! the channels it can deliver (e-mail with SMTP, phone with Twilio, webhooks always);
//! applies storm control (`domain::notification::dispatch`: per contact, a service heard
//! from within the window waits, the rest go out as one message listing them); sends each
//! message under the incidents' send guard (`store::notifications::SendGuard`: nothing goes
//! out once an acknowledgement has committed); and records the outcome on the rows and on
//! each incident's timeline: sent; failed and tried again with backoff (`domain::retry`);
//! or failed for good, when the person's next rule still fires on its own. A trigger wakes
//! it (`Wakeup`); otherwise it looks every second, which is also how retries and held
//! notifications fall due. Each pass first sends the phone and webhook tests people asked
//! for (`store::contact_tests`: no incident, so no guard and no storm control).

use crate::clock::SharedClock;
use crate::domain::contact::{self, ContactKind};
use crate::domain::contact_test;
use crate::domain::handoff::language;
use crate::domain::ids::{EmailId, IncidentId};
use crate::domain::incident::{Channel, LogKind};
use crate::domain::notification::{self, Due, IncidentText, masked};
use crate::domain::retry;
use crate::error::{AppError, AppResult};
use crate::jobs::email_delivery::Wakeup;
use crate::jobs::processing::Gate;
use crate::notify::Failure;
use crate::notify::email::Mailer;
use crate::notify::voice::{self, Voice};
use crate::notify::webhook::Webhooks;
use crate::store::contact_tests::{self as tests, ContactTest};
use crate::store::emails::Email;
use crate::store::incidents::{self, Incident};
use crate::store::notifications::{self as outbox, Notification, SendGuard};
use crate::store::schedules::Person;
use crate::store::{self, Db, DbConnection, action_links, schedules, services};
use crate::use_cases::incidents::Agent;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

/// Notifications claimed at a time.
const BATCH: i64 = 50;
/// Messages sent at once, at most. Each holds a pooled connection while it is sent (the send
/// guard), so a pass takes a quarter of the pool: 2 with SQLite's 8, 4 with PostgreSQL's
/// 16, 1 with a pool of 4 or fewer.
pub const MAX_CONCURRENCY: usize = 4;

fn concurrency(db: &Db) -> usize {
    let (_, _, max) = db.pool_state();
    (max as usize / 4).clamp(1, MAX_CONCURRENCY)
}
/// How long a claim holds: a dispatcher that dies mid-send loses its claims after this (on
/// PostgreSQL; SQLite's one server frees them at start). Renewed after each message, so a
/// long batch keeps its claims however slow its peers are (each send times out first).
const LEASE: Duration = Duration::seconds(45);
/// How often the loop looks when nobody wakes it.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What one pass did (counted in notifications, not messages).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Not sent: the incident was acknowledged or resolved first.
    pub cancelled: usize,
    /// Held back by storm control; they go out bundled when their window ends.
    pub held: usize,
    /// Messages that carried the sent ones (fewer when bundled).
    pub messages: usize,
    /// Test calls and webhook tests sent (`store::contact_tests`).
    pub tested: usize,
}

/// The dispatcher's parts.
#[derive(Clone)]
pub struct NotificationJob {
    pub db: Db,
    pub clock: SharedClock,
    /// `None` without `ROTA_SMTP_URL`: e-mail notifications wait in the outbox.
    pub mailer: Option<Mailer>,
    /// `None` without `ROTA_TWILIO_*`: phone notifications wait in the outbox.
    pub voice: Option<Voice>,
    pub webhooks: Webhooks,
    pub public_url: String,
    pub gate: Gate,
    pub wakeup: Wakeup,
}

/// What a message's send came to.
enum Sent {
    /// Accepted by the provider, with its reference.
    Accepted(Option<String>),
    Refused(Failure),
}

impl NotificationJob {
    /// The channels this instance can deliver.
    fn channels(&self) -> Vec<ContactKind> {
        let mut out = vec![ContactKind::Webhook];
        if self.mailer.is_some() {
            out.push(ContactKind::Email);
        }
        if self.voice.is_some() {
            out.push(ContactKind::Phone);
        }
        out
    }

    /// Sends every notification due now, a batch at a time.
    pub async fn run_once(&self) -> AppResult<Report> {
        let mut report = Report::default();
        let gate = self.gate.clone();
        if !self.db.run(move |c| gate.admits(c)).await? {
            return Ok(report);
        }
        report.tested = self.send_tests().await?;
        let channels = self.channels();
        loop {
            let now = crate::clock::stored(self.clock.now());
            let on = channels.clone();
            let (batch, full, plan) = self
                .db
                .run(move |c| {
                    let (batch, full) =
                        store::write(c, |c| outbox::claim_due(c, now, BATCH, LEASE, &on))?;
                    let plan = storm_plan(c, &batch, now)?;
                    Ok((batch, full, plan))
                })
                .await?;
            let mut held: Vec<(String, chrono::NaiveDateTime)> = Vec::new();
            for (i, until) in plan.held {
                held.push((batch[i].id.clone(), until));
            }
            report.held += held.len();
            if !held.is_empty() {
                self.db
                    .run(move |c| {
                        store::write(c, |tx| {
                            for (id, until) in &held {
                                outbox::hold(tx, &[id.as_str()], *until)?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
            }
            let mut left: Vec<String> = plan
                .messages
                .iter()
                .flatten()
                .map(|&i| batch[i].id.clone())
                .collect();
            // Messages go to different contacts: a few at once, so one slow peer does not
            // hold up everyone else's page.
            for chunk in plan.messages.chunks(concurrency(&self.db)) {
                let sends = chunk.iter().map(|message| {
                    let bundle: Vec<Notification> =
                        message.iter().map(|&i| batch[i].clone()).collect();
                    let job = self.clone();
                    let handle = tokio::runtime::Handle::current();
                    let at = self.clock.now();
                    self.db.run(move |c| deliver(c, &handle, &job, at, bundle))
                });
                for r in futures_util::future::join_all(sends).await {
                    // One message that cannot be built (the database failed under it) does
                    // not stop the others: its rows are tried again when their claim ends.
                    let r = match r {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!(error = %e, "could not send a notification; trying again when its claim ends");
                            continue;
                        }
                    };
                    report.sent += r.sent;
                    report.retrying += r.retrying;
                    report.failed += r.failed;
                    report.cancelled += r.cancelled;
                    report.messages += r.messages;
                }
                left.retain(|id| !chunk.iter().flatten().any(|&i| &batch[i].id == id));
                if !left.is_empty() {
                    let until = crate::clock::stored(self.clock.now()) + LEASE;
                    let ids = left.clone();
                    self.db
                        .run(move |c| {
                            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                            store::write(c, |tx| outbox::extend_claims(tx, &ids, until))
                        })
                        .await?;
                }
            }
            if !full {
                return Ok(report);
            }
        }
    }
}

impl NotificationJob {
    /// Sends the due phone and webhook tests (e-mail tests go through the e-mail outbox);
    /// how many went out.
    async fn send_tests(&self) -> AppResult<usize> {
        let channels: Vec<ContactKind> = self
            .channels()
            .into_iter()
            .filter(|c| *c != ContactKind::Email)
            .collect();
        let now = crate::clock::stored(self.clock.now());
        let claimed = self
            .db
            .run(move |c| store::write(c, |tx| tests::claim_due(tx, now, BATCH, LEASE, &channels)))
            .await?;
        let mut sent = 0;
        for test in claimed {
            let job = self.clone();
            let handle = tokio::runtime::Handle::current();
            let at = self.clock.now();
            match self
                .db
                .run(move |c| send_test(c, &handle, &job, at, test))
                .await
            {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, "could not send a test notification; trying again when its claim ends")
                }
            }
        }
        Ok(sent)
    }
}

/// Calls or POSTs one test (`domain::contact_test`) and records the outcome on its row:
/// sent, tried again with backoff, or given up. `true`: it went out.
fn send_test(
    conn: &mut DbConnection,
    handle: &tokio::runtime::Handle,
    job: &NotificationJob,
    at: DateTime<Utc>,
    test: ContactTest,
) -> AppResult<bool> {
    let now = crate::clock::stored(at);
    let person =
        schedules::people(conn, std::slice::from_ref(&test.user_id))?.remove(&test.user_id);
    let method =
        crate::store::contact_methods::find(conn, &test.user_id, &test.contact_method_id).ok();
    let sent = match (&person, &method) {
        (Some(person), Some(method)) => {
            let words = contact_test::Words {
                lang: language(person.locale.as_deref()),
                name: &person.name,
                label: &method.label,
            };
            match test.channel {
                ContactKind::Phone => test_call(handle, job, &test, &words),
                ContactKind::Webhook => {
                    let key = action_links::webhook_key(conn, now)?;
                    let secret = notification::webhook_secret(&key, &method.id);
                    let body = contact_test::webhook_body(
                        test.id.as_str(),
                        method.id.as_str(),
                        test.user_id.as_str(),
                        at,
                    );
                    let body = serde_json::to_vec(&body)
                        .map_err(|e| AppError::internal(format!("webhook body: {e}")))?;
                    match handle.block_on(job.webhooks.post(&test.address, body, &secret)) {
                        Ok(()) => Sent::Accepted(None),
                        Err(e) => Sent::Refused(e),
                    }
                }
                ContactKind::Email => Sent::Refused(Failure::permanent(
                    "an e-mail test is delivered by the e-mail outbox",
                )),
            }
        }
        _ => Sent::Refused(Failure::permanent(
            "the contact method or its person is gone",
        )),
    };
    match sent {
        Sent::Accepted(reference) => {
            store::write(conn, |tx| {
                tests::mark_sent(tx, &test.id, now, reference.as_deref())
            })?;
            Ok(true)
        }
        Sent::Refused(e) => {
            let retry_at = e
                .retryable
                .then(|| retry::next_attempt(test.attempts + 1, at))
                .flatten()
                .map(crate::clock::stored);
            store::write(conn, |tx| {
                tests::mark_failed(tx, &test.id, &e.reason, retry_at, now)
            })?;
            Ok(false)
        }
    }
}

/// A call that says it is a test and hangs up (nothing to gather: no incident).
fn test_call(
    handle: &tokio::runtime::Handle,
    job: &NotificationJob,
    test: &ContactTest,
    words: &contact_test::Words<'_>,
) -> Sent {
    let Some(voice) = &job.voice else {
        return Sent::Refused(Failure::temporary("no Twilio account is configured"));
    };
    let to = match contact::phone(&test.address) {
        Ok(to) => to,
        Err(e) => return Sent::Refused(Failure::permanent(e)),
    };
    let twiml = voice::say(words.lang, &contact_test::call(words));
    let status = format!(
        "{}/twilio/voice/{}/status",
        job.public_url.trim_end_matches('/'),
        test.id
    );
    match handle.block_on(voice.call(&to, &twiml, &status)) {
        Ok(sid) => Sent::Accepted(Some(sid)),
        Err(e) => Sent::Refused(e),
    }
}

/// Storm control for a claimed batch, from what its people were sent lately.
fn storm_plan(
    conn: &mut DbConnection,
    batch: &[Notification],
    now: chrono::NaiveDateTime,
) -> AppResult<notification::Dispatch> {
    if batch.is_empty() {
        return Ok(notification::Dispatch::default());
    }
    let incidents: Vec<&IncidentId> = batch.iter().map(|n| &n.incident_id).collect();
    let services = outbox::services_of(conn, &incidents)?;
    let users: Vec<_> = batch.iter().map(|n| &n.user_id).collect();
    let longest = ContactKind::ALL
        .iter()
        .map(|c| notification::window(*c))
        .max()
        .unwrap_or_default();
    let recent = outbox::recent_sends(conn, &users, now - longest)?;
    let due: Vec<Due> = batch
        .iter()
        .map(|n| Due {
            contact: n.contact(),
            incident: n.incident_id.clone(),
            // An incident gone since the claim: its own service-less group, cancelled later.
            service: services
                .get(&n.incident_id)
                .cloned()
                .unwrap_or_else(|| crate::domain::ids::ServiceId(String::new())),
        })
        .collect();
    Ok(notification::dispatch(&due, &recent, now))
}

/// One incident as a message names it, written for the person.
struct Described {
    incident: Incident,
    service: String,
    opened: String,
    details: String,
    incident_url: String,
    acknowledge_url: String,
    resolve_url: String,
}

impl Described {
    fn text(&self) -> IncidentText<'_> {
        IncidentText {
            number: self.incident.number,
            title: &self.incident.title,
            service: &self.service,
            urgency: self.incident.urgency.as_str(),
            opened: &self.opened,
            details: &self.details,
            incident_url: &self.incident_url,
            acknowledge_url: &self.acknowledge_url,
            resolve_url: &self.resolve_url,
        }
    }
}

/// The incident, its service and first alert's details, and acknowledge/resolve links for
/// the person, times in their zone.
fn describe(
    conn: &mut DbConnection,
    base: &str,
    at: DateTime<Utc>,
    person: &Person,
    id: &IncidentId,
) -> AppResult<Described> {
    let incident = incidents::find(conn, id)?;
    let service = services::find(conn, &incident.service_id)?.name;
    let mut details = String::new();
    if let Some(a) = incidents::alerts_of(conn, &incident.id)?.into_iter().next() {
        if let Some(source) = &a.source {
            details.push_str(&format!("Source: {source}\n"));
        }
        if let Some(d) = &a.custom_details {
            let text = serde_json::to_string_pretty(&d.0).unwrap_or_default();
            details.extend(text.chars().take(2_000));
        }
    }
    let (acknowledge_url, resolve_url) =
        crate::use_cases::action_links::issue(conn, base, &person.id, &incident.id, at)?;
    let opened = crate::clock::shown_in(incident.created_at, &person.time_zone);
    let incident_url = format!("{}/incidents/{}", base.trim_end_matches('/'), incident.id);
    Ok(Described {
        incident,
        service,
        opened,
        details: details.trim_end().to_string(),
        incident_url,
        acknowledge_url,
        resolve_url,
    })
}

fn channel_words(channel: ContactKind) -> (&'static str, Channel) {
    match channel {
        ContactKind::Email => ("e-mail", Channel::Email),
        ContactKind::Phone => ("phone", Channel::Phone),
        ContactKind::Webhook => ("webhook", Channel::Webhook),
    }
}

/// Sends one message for `bundle` (one contact's notifications; the first names the
/// message) and records what happened.
fn deliver(
    conn: &mut DbConnection,
    handle: &tokio::runtime::Handle,
    job: &NotificationJob,
    at: DateTime<Utc>,
    bundle: Vec<Notification>,
) -> AppResult<Report> {
    let now = crate::clock::stored(at);
    let mut report = Report::default();
    let ids: Vec<&IncidentId> = bundle.iter().map(|n| &n.incident_id).collect();
    let all: Vec<&str> = bundle.iter().map(|n| n.id.as_str()).collect();
    let cancel = |conn: &mut DbConnection, which: &[&str]| -> AppResult<()> {
        store::write(conn, |tx| outbox::mark_cancelled(tx, which))
    };
    let first = &bundle[0];
    let person =
        schedules::people(conn, std::slice::from_ref(&first.user_id))?.remove(&first.user_id);
    let Some(person) = person else {
        // The person is gone: nothing to send.
        cancel(conn, &all)?;
        report.cancelled = all.len();
        return Ok(report);
    };
    // Everything that reads or can fail is done before the guard: on PostgreSQL the guard is
    // an open transaction, which an early return would leave open on a pooled connection.
    let mut described: Vec<Described> = Vec::new();
    for n in &bundle {
        if described.iter().any(|d| d.incident.id == n.incident_id) {
            continue;
        }
        match describe(conn, &job.public_url, at, &person, &n.incident_id) {
            Ok(d) => described.push(d),
            // The incident or its service is gone: nothing to send.
            Err(e) if e.status() == 404 => {
                cancel(conn, &all)?;
                report.cancelled = all.len();
                return Ok(report);
            }
            Err(e) => return Err(e),
        }
    }
    let hook = match first.channel {
        ContactKind::Webhook => Some(webhook_message(conn, at, first, &described[0])?),
        _ => None,
    };
    let Some((guard, triggered)) = SendGuard::take(conn, &ids)? else {
        cancel(conn, &all)?;
        report.cancelled = all.len();
        return Ok(report);
    };
    let (live, gone): (Vec<&Notification>, Vec<&Notification>) = bundle
        .iter()
        .partition(|n| triggered.contains(&n.incident_id));
    let gone: Vec<&str> = gone.iter().map(|n| n.id.as_str()).collect();
    described.retain(|d| triggered.contains(&d.incident.id));
    let first = live[0];
    let lang = language(person.locale.as_deref());
    let sent = match first.channel {
        ContactKind::Email => send_email(handle, job, at, first, &person, lang, &described),
        ContactKind::Phone => send_call(handle, job, first, &person, lang, &described),
        ContactKind::Webhook => match hook {
            Some(Ok((body, secret))) => {
                match handle.block_on(job.webhooks.post(&first.address, body, &secret)) {
                    Ok(()) => Sent::Accepted(None),
                    Err(e) => Sent::Refused(e),
                }
            }
            Some(Err(e)) => Sent::Refused(e),
            None => Sent::Refused(Failure::permanent("no webhook message was prepared")),
        },
    };
    let (how, channel) = channel_words(first.channel);
    let to = masked(&first.address);
    let live_ids: Vec<&str> = live.iter().map(|n| n.id.as_str()).collect();
    let together = if described.len() > 1 {
        format!(" (one message for {} incidents)", described.len())
    } else {
        String::new()
    };
    let attempts = first.attempts + 1;
    // What the rows become, and what the timeline says.
    let (summary, retry_at, error, reference) = match sent {
        Sent::Accepted(reference) => {
            report.sent = live_ids.len();
            report.messages = 1;
            let verb = if first.channel == ContactKind::Phone {
                "called"
            } else {
                "sent"
            };
            (
                format!("Notified {} by {how} ({to}): {verb}{together}", person.name),
                None,
                None,
                reference,
            )
        }
        Sent::Refused(e) => {
            let retry_at = e
                .retryable
                .then(|| retry::next_attempt(attempts, at))
                .flatten();
            let summary = match retry_at {
                Some(when) => {
                    report.retrying = live_ids.len();
                    format!(
                        "Could not notify {} by {how} ({to}): {e}; trying again at {}",
                        person.name,
                        when.format("%H:%M:%S UTC")
                    )
                }
                None => {
                    report.failed = live_ids.len();
                    format!(
                        "Could not notify {} by {how} ({to}): {e}; gave up",
                        person.name
                    )
                }
            };
            (
                summary,
                retry_at.map(crate::clock::stored),
                Some(e.reason),
                None,
            )
        }
    };
    let agent = Agent::rota(channel);
    let entries: Vec<_> = described
        .iter()
        .map(|d| agent.entry(&d.incident.id, LogKind::Notify, now, summary.clone(), None))
        .collect();
    report.cancelled = gone.len();
    guard.finish_with(conn, |tx| {
        match &error {
            None => outbox::mark_sent(tx, &live_ids, now, reference.as_deref())?,
            Some(e) => outbox::mark_failed(tx, &live_ids, e, retry_at)?,
        }
        if !gone.is_empty() {
            outbox::mark_cancelled(tx, &gone)?;
        }
        incidents::insert_log(tx, &entries)
    })?;
    Ok(report)
}

/// One e-mail naming every incident of the bundle, with its links.
fn send_email(
    handle: &tokio::runtime::Handle,
    job: &NotificationJob,
    at: DateTime<Utc>,
    first: &Notification,
    person: &Person,
    lang: &str,
    described: &[Described],
) -> Sent {
    let Some(mailer) = &job.mailer else {
        return Sent::Refused(Failure::temporary("no SMTP server is configured"));
    };
    let texts: Vec<IncidentText<'_>> = described.iter().map(Described::text).collect();
    let (subject, body) = notification::incident_email(lang, &person.name, &texts);
    let now = crate::clock::stored(at);
    let message = Email {
        // The first notification's id makes the Message-ID: a retry keeps it.
        id: EmailId(first.id.clone()),
        to_address: first.address.clone(),
        subject,
        body,
        reason: "incident".into(),
        created_at: now,
        next_attempt_at: now,
        attempts: first.attempts,
        claimed_until: None,
        sent_at: None,
        failed_at: None,
        last_error: None,
        list_unsubscribe: None,
    };
    match handle.block_on(mailer.send(&message)) {
        Ok(()) => Sent::Accepted(Some(first.id.clone())),
        Err(e) => Sent::Refused(Failure {
            retryable: e.is_retryable(),
            reason: e.to_string(),
        }),
    }
}

/// One call naming the bundle's incidents, gathering 4 or 6 for all of them.
fn send_call(
    handle: &tokio::runtime::Handle,
    job: &NotificationJob,
    first: &Notification,
    person: &Person,
    lang: &str,
    described: &[Described],
) -> Sent {
    let Some(voice) = &job.voice else {
        return Sent::Refused(Failure::temporary("no Twilio account is configured"));
    };
    // A number SCIM kept in a national form cannot be dialled from anywhere: say so once.
    let to = match contact::phone(&first.address) {
        Ok(to) => to,
        Err(e) => return Sent::Refused(Failure::permanent(e)),
    };
    let texts: Vec<IncidentText<'_>> = described.iter().map(Described::text).collect();
    let (say, goodbye) = notification::call_text(lang, &person.name, &texts);
    let base = job.public_url.trim_end_matches('/');
    let action = format!("{base}/twilio/voice/{}/gather", first.id);
    let status = format!("{base}/twilio/voice/{}/status", first.id);
    let mut twiml = voice::gather(lang, &say, &action, &goodbye);
    let fitted = voice::fit(&say, twiml.len());
    if fitted.len() < say.len() {
        twiml = voice::gather(lang, &fitted, &action, &goodbye);
    }
    match handle.block_on(voice.call(&to, &twiml, &status)) {
        Ok(sid) => Sent::Accepted(Some(sid)),
        Err(e) => Sent::Refused(e),
    }
}

/// The body and signing secret of a webhook about one incident (webhooks are never
/// bundled), in the shape of PagerDuty's V3 webhook events; a refusal when the rule that
/// asked for it is gone.
fn webhook_message(
    conn: &mut DbConnection,
    at: DateTime<Utc>,
    n: &Notification,
    d: &Described,
) -> AppResult<Result<(Vec<u8>, String), Failure>> {
    let Some(method) = outbox::method_of_rule(conn, &n.rule_id)? else {
        return Ok(Err(Failure::permanent(
            "the notification rule was deleted before it was sent",
        )));
    };
    let key = action_links::webhook_key(conn, crate::clock::stored(at))?;
    let secret = notification::webhook_secret(&key, &method);
    let body = serde_json::json!({
        "event": {
            "id": n.id,
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "agent": {"type": "service_reference", "summary": "Rota"},
            "data": {
                "id": d.incident.id,
                "type": "incident",
                "number": d.incident.number,
                "title": d.incident.title,
                "status": d.incident.status.as_str(),
                "urgency": d.incident.urgency.as_str(),
                "incident_key": d.incident.incident_key,
                "html_url": d.incident_url,
                "created_at": crate::clock::instant(d.incident.created_at).to_string(),
                "service": {"id": d.incident.service_id, "type": "service_reference", "summary": d.service},
                "assignee": {"id": n.user_id, "type": "user_reference"},
                "acknowledge_url": d.acknowledge_url,
                "resolve_url": d.resolve_url,
            }
        }
    });
    let body =
        serde_json::to_vec(&body).map_err(|e| AppError::internal(format!("webhook body: {e}")))?;
    Ok(Ok((body, secret)))
}

/// The dispatcher loop of a running server.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: actix_web::rt::task::JoinHandle<()>,
}

impl Dispatcher {
    /// Starts the loop. On SQLite this server is the only one (`store::ServeLock`), so claims
    /// left by one that crashed are freed first and go out at once.
    pub fn start(job: NotificationJob, only_instance: bool) -> Dispatcher {
        let (stop, mut stopped) = watch::channel(false);
        let task = actix_web::rt::spawn(async move {
            if only_instance {
                match job
                    .db
                    .run(|c| store::write(c, outbox::release_claims))
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(
                        claims = n,
                        "freed notification claims left by a server that stopped mid-send; the one in flight then may arrive twice (with the same Message-ID)"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "could not free old notification claims; they go out when their lease ends")
                    }
                }
            }
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
