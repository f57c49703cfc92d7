//! Incident use cases: events in (open, repeat, acknowledge, resolve by dedup key), change
//! events, and what responders do (acknowledge, resolve, reassign, escalate, note). Each is
//! one transaction with its timeline entries; the REST API, the Events API, e-mail links
//! and phone keypresses all come through here.

use super::finals::Cache;
use crate::domain::escalation::{self, Target};
use crate::domain::events::{Action, AlertEvent, ChangeEvent as ChangeInput, Extras, Payload};
use crate::domain::ids::{
    AlertId, ChangeEventId, EscalationPolicyId, IncidentId, IntegrationId, LogEntryId, NoteId,
    ScheduleId, ServiceId, UserId,
};
use crate::domain::incident::{
    self as rules, AgentKind, AlertStatus, Change, Channel, Details, LogKind, Status,
};
use crate::domain::notification;
use crate::domain::service::{self, Urgency};
use crate::error::{AppError, AppResult};
use crate::store::column::Json;
use crate::store::incidents::{
    self as store, Alert, ChangeEvent, Incident, LoadedIncident, LogEntry, Note,
};
use crate::store::{self as db, DbConnection, notifications, services};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};

/// Who acts on an incident, and through what.
#[derive(Debug, Clone)]
pub struct Agent {
    pub kind: AgentKind,
    pub id: Option<String>,
    pub name: String,
    pub channel: Channel,
}

impl Agent {
    pub fn user(id: &UserId, name: &str, channel: Channel) -> Agent {
        Agent {
            kind: AgentKind::User,
            id: Some(id.to_string()),
            name: name.to_owned(),
            channel,
        }
    }

    /// Rota itself (an escalation timeout, say).
    pub fn rota(channel: Channel) -> Agent {
        Agent {
            kind: AgentKind::Rota,
            id: None,
            name: "Rota".to_owned(),
            channel,
        }
    }

    /// A timeline entry by this agent.
    pub fn entry(
        &self,
        incident: &IncidentId,
        kind: LogKind,
        at: NaiveDateTime,
        summary: String,
        details: Option<Details>,
    ) -> LogEntry {
        LogEntry {
            id: LogEntryId::generate(),
            incident_id: incident.clone(),
            kind,
            created_at: at,
            agent_kind: self.kind,
            agent_id: self.id.clone(),
            agent_name: self.name.clone(),
            channel: self.channel,
            summary,
            details: details.map(Json),
        }
    }
}

/// Where an event goes: the integration its routing key belongs to.
#[derive(Debug, Clone)]
pub struct Route {
    pub service: ServiceId,
    pub integration: IntegrationId,
}

impl Route {
    fn agent(&self) -> Agent {
        Agent {
            kind: AgentKind::Integration,
            id: Some(self.integration.to_string()),
            name: "Events API".to_owned(),
            channel: Channel::EventsApi,
        }
    }
}

/// What an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new alert opened a new incident.
    Opened(IncidentId),
    /// One more event on an open alert.
    Repeated,
    Acknowledged(IncidentId),
    Resolved(IncidentId),
    /// Acknowledge or resolve of a key with no open alert, or of one already there: PagerDuty
    /// accepts and drops these.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub dedup_key: String,
    pub ingested: Ingested,
}

/// Who a level of a policy reaches at an instant: the people on call through its schedule
/// targets, and its user targets who may be on call; the others are skipped, with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reach {
    pub users: Vec<UserId>,
    pub skipped: Vec<(UserId, &'static str)>,
    /// Minutes before the next level.
    pub delay_minutes: u32,
    pub levels: usize,
}

/// Who `level` (1-based) of the policy reaches at `at`. Reads through the final-schedule
/// cache: call it outside a write transaction.
pub fn reach(
    conn: &mut DbConnection,
    cache: &Cache,
    policy: &EscalationPolicyId,
    level: usize,
    at: DateTime<Utc>,
) -> AppResult<Reach> {
    let Some(loaded) = cache
        .policies(conn, Some(std::slice::from_ref(policy)))?
        .into_iter()
        .next()
    else {
        return Ok(Reach::default());
    };
    let rules = &loaded.rules;
    let Some(rule) = rules.rules.get(level.wrapping_sub(1)) else {
        return Ok(Reach {
            levels: rules.rules.len(),
            ..Reach::default()
        });
    };
    let schedules: Vec<ScheduleId> = rule
        .targets
        .iter()
        .filter_map(|t| match t {
            Target::Schedule(s) => Some(s.clone()),
            Target::User(_) => None,
        })
        .collect();
    let now = crate::clock::jiff_now(at);
    let finals = cache.final_schedules(conn, &schedules, &[], now, now)?;
    let single = escalation::Policy {
        rules: vec![rule.clone()],
        num_loops: 0,
    };
    let calls = escalation::on_calls(
        &single,
        |s: &ScheduleId| finals.entries.get(s).map(Vec::as_slice),
        true,
    );
    let direct: Vec<UserId> = calls
        .iter()
        .filter(|c| c.schedule.is_none())
        .map(|c| c.user.clone())
        .collect();
    let people = cache.people(conn, &direct)?;
    let mut out = Reach {
        delay_minutes: rule.delay_minutes,
        levels: rules.rules.len(),
        ..Reach::default()
    };
    for call in calls {
        if out.users.contains(&call.user) {
            continue;
        }
        if call.schedule.is_none() {
            match people.get(&call.user).map(|p| p.on_call()) {
                Some(Ok(())) => {}
                Some(Err(why)) => {
                    out.skipped.push((call.user.clone(), why.explain()));
                    continue;
                }
                None => continue,
            }
        }
        out.users.push(call.user);
    }
    Ok(out)
}

/// Timeline entries for a level reached: who it assigns, who it skips.
fn reached_entries(
    agent: &Agent,
    incident: &IncidentId,
    kind: LogKind,
    level: usize,
    reach: &Reach,
    names: &dyn Fn(&UserId) -> String,
    at: NaiveDateTime,
) -> Vec<LogEntry> {
    let who = if reach.users.is_empty() {
        "nobody (no one is on call at this level)".to_owned()
    } else {
        reach.users.iter().map(names).collect::<Vec<_>>().join(", ")
    };
    let verb = match kind {
        LogKind::Escalate => "Escalated",
        _ => "Assigned",
    };
    let mut out = vec![agent.entry(
        incident,
        kind,
        at,
        format!("{verb} to {who} (level {level})"),
        Some(Details::Reached {
            level: level as u32,
            users: reach.users.clone(),
        }),
    )];
    for (user, why) in &reach.skipped {
        out.push(Agent::rota(Channel::Auto).entry(
            incident,
            LogKind::Skip,
            at,
            format!("Skipped {}: {why}", names(user)),
            Some(Details::Skipped {
                user: user.clone(),
                reason: (*why).to_owned(),
            }),
        ));
    }
    out
}

fn display_names(
    conn: &mut DbConnection,
    cache: &Cache,
    reach: &Reach,
) -> AppResult<std::collections::HashMap<UserId, String>> {
    let ids: Vec<UserId> = reach
        .users
        .iter()
        .chain(reach.skipped.iter().map(|(u, _)| u))
        .cloned()
        .collect();
    Ok(cache
        .people(conn, &ids)?
        .into_iter()
        .map(|(id, p)| (id, p.name.clone()))
        .collect())
}

/// The notification rules of these people for an urgency, as `notification::plan` takes
/// them.
type RulesOf = std::collections::HashMap<UserId, Vec<notification::Rule>>;

fn rules_of(tx: &mut DbConnection, users: &[UserId], urgency: Urgency) -> AppResult<RulesOf> {
    if users.is_empty() {
        return Ok(RulesOf::new());
    }
    let found = crate::store::contact_methods::rules_for(tx, users, urgency)?;
    Ok(found
        .into_iter()
        .map(|(u, rs)| {
            let rules = rs
                .into_iter()
                .map(|(r, m)| notification::Rule {
                    id: r.id,
                    method: m.id,
                    channel: m.kind,
                    address: m.address,
                    start_delay_in_minutes: r.start_delay_in_minutes,
                })
                .collect();
            (u, rules)
        })
        .collect())
}

/// The notifications of the people a step reached (their rules for the incident's
/// urgency); `incident` is as saved (its version is the step).
fn notifications_of(
    rules: &RulesOf,
    incident: &Incident,
    users: &[UserId],
    now: NaiveDateTime,
) -> Vec<notifications::Notification> {
    let planned = notification::plan(users, |u| rules.get(u).map_or(&[][..], Vec::as_slice), now);
    notifications::rows(&incident.id, incident.version, &planned, now)
}

/// Writes the notifications of the people a step reached, inside the step's transaction.
fn notify_reached(
    tx: &mut DbConnection,
    incident: &Incident,
    users: &[UserId],
    now: NaiveDateTime,
) -> AppResult<usize> {
    let rules = rules_of(tx, users, incident.urgency)?;
    notifications::insert(tx, &notifications_of(&rules, incident, users, now))
}

fn new_dedup_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Times a trigger is tried alone when other events open its key meanwhile.
const OPEN_ATTEMPTS: usize = 3;

/// What `ingest` leaves to do.
#[derive(Debug)]
pub enum Ingest {
    Done(Outcome),
    /// A trigger of a key with no open alert: it opens an incident through `open`, which
    /// the intake (`use_cases::intake`) runs for many triggers at once.
    Open(Box<Trigger>),
}

/// A trigger that opens an incident, unless its key is open by the time it is written.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub route: Route,
    pub key: String,
    /// The sender named the key: an event before it may have opened it. A key made up for
    /// the trigger is new.
    named_key: bool,
    payload: Payload,
    extras: Extras,
    pub at: DateTime<Utc>,
}

/// Applies an alert event that came through `route`'s routing key: a repeat, an
/// acknowledgement or a resolve here; a trigger of a key with no open alert is left to
/// `open`.
pub fn ingest(
    conn: &mut DbConnection,
    at: DateTime<Utc>,
    route: &Route,
    event: AlertEvent,
) -> AppResult<Ingest> {
    let now = crate::clock::stored(at);
    match event.action {
        Action::Trigger => {
            let named_key = event.dedup_key.is_some();
            let key = event.dedup_key.unwrap_or_else(new_dedup_key);
            // A repeat is one row update, a statement of its own (atomic without a
            // transaction around it): a dedup storm never reads a schedule.
            if named_key && store::repeat_open_alert(conn, &route.integration, &key, now)? {
                return Ok(Ingest::Done(Outcome {
                    dedup_key: key,
                    ingested: Ingested::Repeated,
                }));
            }
            let Some(payload) = event.payload else {
                return Err(AppError::invalid(
                    "payload",
                    "is required for trigger events",
                ));
            };
            Ok(Ingest::Open(Box::new(Trigger {
                route: route.clone(),
                key,
                named_key,
                payload,
                extras: event.extras,
                at,
            })))
        }
        Action::Acknowledge | Action::Resolve => {
            let key = event.dedup_key.clone().unwrap_or_default();
            let change = if event.action == Action::Acknowledge {
                Change::Acknowledge
            } else {
                Change::Resolve
            };
            let agent = route.agent();
            // The guard comes before the transaction (see `store::notifications`).
            let Some(seen) = store::open_alert(conn, &route.integration, &key)? else {
                return Ok(Ingest::Done(Outcome {
                    dedup_key: key,
                    ingested: Ingested::Nothing,
                }));
            };
            let _guards = notifications::change_guards(&[&seen.incident_id]);
            let done = db::write(conn, |tx| {
                let Some(alert) = store::open_alert(tx, &route.integration, &key)? else {
                    return Ok(None);
                };
                let incident = store::find_for_update(tx, &alert.incident_id)?;
                match rules::next_status(incident.status, change) {
                    Ok(Some(_)) => {
                        set_status(tx, &agent, now, incident, change)?;
                        Ok(Some(alert.incident_id))
                    }
                    Ok(None) | Err(_) => Ok(None),
                }
            })?;
            Ok(Ingest::Done(Outcome {
                dedup_key: key,
                ingested: match (done, change) {
                    (Some(id), Change::Acknowledge) => Ingested::Acknowledged(id),
                    (Some(id), Change::Resolve) => Ingested::Resolved(id),
                    (None, _) => Ingested::Nothing,
                },
            }))
        }
    }
}

/// Opens an incident for each trigger, all in one transaction when they can be (one commit,
/// and each table written in one statement on PostgreSQL, for the lot). Triggers of one key
/// open one incident: the first; the others count on its alert, as does a trigger whose key
/// was opened by the time it is written. If the lot cannot be written together (another
/// server opened one of its keys meanwhile, say), each is opened alone, so one trigger's
/// trouble is nobody else's.
pub fn open(
    conn: &mut DbConnection,
    cache: &Cache,
    triggers: &[Trigger],
) -> Vec<AppResult<Outcome>> {
    if triggers.len() > 1 {
        match open_together(conn, cache, triggers) {
            Ok(out) => return out.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::debug!(error = %e, count = triggers.len(), "opening triggers together failed; opening each alone")
            }
        }
    }
    triggers
        .iter()
        .map(|t| open_alone(conn, cache, t))
        .collect()
}

fn open_alone(conn: &mut DbConnection, cache: &Cache, trigger: &Trigger) -> AppResult<Outcome> {
    for _ in 0..OPEN_ATTEMPTS {
        match open_together(conn, cache, std::slice::from_ref(trigger)) {
            Ok(mut out) => return Ok(out.remove(0)),
            // Another event opened the key between the check and the insert (PostgreSQL):
            // nothing was written; the next try counts on theirs.
            Err(e) if matches!(e.kind, crate::error::ErrorKind::StaleVersion(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Err(AppError::unavailable(
        "events with this dedup_key keep colliding; send it again",
    ))
}

/// What a service's new incidents start with: its policy's first level, read before the
/// transaction (through the final-schedule cache).
struct Opening {
    service: services::Service,
    reach: Reach,
    names: std::collections::HashMap<UserId, String>,
}

fn open_together(
    conn: &mut DbConnection,
    cache: &Cache,
    triggers: &[Trigger],
) -> AppResult<Vec<Outcome>> {
    use std::collections::{HashMap, HashSet};
    // The first trigger of each key opens it; `events[i]`: how many triggers it stands for.
    let mut lead_of_key: HashMap<(&IntegrationId, &str), usize> = HashMap::new();
    let mut lead = Vec::with_capacity(triggers.len());
    let mut events = vec![0_i64; triggers.len()];
    for (i, t) in triggers.iter().enumerate() {
        let l = *lead_of_key
            .entry((&t.route.integration, t.key.as_str()))
            .or_insert(i);
        events[l] += 1;
        lead.push(l);
    }
    let mut openers: Vec<usize> = lead_of_key.into_values().collect();
    openers.sort_unstable();
    let mut openings: HashMap<&ServiceId, Opening> = HashMap::new();
    for &i in &openers {
        let t = &triggers[i];
        if openings.contains_key(&t.route.service) {
            continue;
        }
        let service = services::find(conn, &t.route.service)?;
        let reach = reach(conn, cache, &service.escalation_policy_id, 1, t.at)?;
        let names = display_names(conn, cache, &reach)?;
        openings.insert(
            &t.route.service,
            Opening {
                service,
                reach,
                names,
            },
        );
    }
    let mut reached: Vec<UserId> = openings
        .values()
        .flat_map(|o| o.reach.users.iter().cloned())
        .collect();
    reached.sort_unstable();
    reached.dedup();
    let opened: HashMap<usize, IncidentId> = db::write(conn, |tx| {
        // Named keys opened since `ingest` looked (by a lot written just before, or another
        // server) count on those alerts.
        let named: Vec<(&IntegrationId, &str)> = openers
            .iter()
            .filter(|&&i| triggers[i].named_key)
            .map(|&i| (&triggers[i].route.integration, triggers[i].key.as_str()))
            .collect();
        let open_now: HashSet<(IntegrationId, String)> =
            store::open_alert_keys(tx, &named)?.into_iter().collect();
        let mut new = Vec::with_capacity(openers.len());
        for &i in &openers {
            let t = &triggers[i];
            if t.named_key && open_now.contains(&(t.route.integration.clone(), t.key.clone())) {
                store::repeat_open_alert_n(
                    tx,
                    &t.route.integration,
                    &t.key,
                    events[i],
                    crate::clock::stored(t.at),
                )?;
            } else {
                new.push(i);
            }
        }
        let numbers = store::next_numbers(tx, new.len())?;
        let mut incidents = Vec::with_capacity(new.len());
        let mut alerts = Vec::with_capacity(new.len());
        let mut entries = Vec::new();
        let mut assignments = Vec::new();
        let mut opened = HashMap::new();
        for (&i, number) in new.iter().zip(numbers) {
            let t = &triggers[i];
            let o = &openings[&t.route.service];
            let (incident, alert, mut timeline) = new_incident(t, o, number, events[i]);
            assignments.extend(store::assignments(
                &incident.id,
                &o.reach.users,
                incident.created_at,
            ));
            entries.append(&mut timeline);
            opened.insert(i, incident.id.clone());
            incidents.push(incident);
            alerts.push(alert);
        }
        store::insert(tx, &incidents)?;
        store::insert_alerts(tx, &alerts).map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => AppError::stale("dedup_key opened meanwhile"),
            e => e.into(),
        })?;
        store::insert_log(tx, &entries)?;
        store::add_assignments(tx, &assignments)?;
        let mut rules: HashMap<Urgency, RulesOf> = HashMap::new();
        let mut rows = Vec::new();
        for incident in &incidents {
            if let std::collections::hash_map::Entry::Vacant(e) = rules.entry(incident.urgency) {
                e.insert(rules_of(tx, &reached, incident.urgency)?);
            }
            let users = &openings[&incident.service_id].reach.users;
            rows.extend(notifications_of(
                &rules[&incident.urgency],
                incident,
                users,
                incident.created_at,
            ));
        }
        notifications::insert(tx, &rows)?;
        Ok(opened)
    })?;
    Ok(triggers
        .iter()
        .enumerate()
        .map(|(i, t)| Outcome {
            dedup_key: t.key.clone(),
            ingested: match opened.get(&i) {
                Some(id) => Ingested::Opened(id.clone()),
                None => Ingested::Repeated,
            },
        })
        .collect())
}

/// The rows of an incident a trigger opens: the incident, its alert (standing for `events`
/// triggers of its key) and its first timeline entries.
fn new_incident(
    t: &Trigger,
    o: &Opening,
    number: i64,
    events: i64,
) -> (Incident, Alert, Vec<LogEntry>) {
    let now = crate::clock::stored(t.at);
    let payload = &t.payload;
    let urgency = service::urgency_of(o.service.urgency_rule, Some(payload.severity));
    let id = IncidentId::generate();
    let alert = Alert {
        id: AlertId::generate(),
        incident_id: id.clone(),
        service_id: t.route.service.clone(),
        integration_id: t.route.integration.clone(),
        dedup_key: t.key.clone(),
        status: AlertStatus::Triggered,
        severity: Some(payload.severity),
        summary: payload.summary.clone(),
        source: Some(payload.source.clone()),
        component: payload.component.clone(),
        alert_group: payload.group.clone(),
        class: payload.class.clone(),
        custom_details: payload.custom_details.clone().map(Json),
        extras: Json(Extras {
            timestamp: payload.timestamp,
            ..t.extras.clone()
        }),
        event_count: events,
        created_at: now,
        last_event_at: now,
        resolved_at: None,
    };
    let incident = Incident {
        id: id.clone(),
        number,
        title: payload.summary.clone(),
        status: Status::Triggered,
        urgency,
        incident_key: t.key.clone(),
        service_id: t.route.service.clone(),
        escalation_policy_id: o.service.escalation_policy_id.clone(),
        escalation_level: 1,
        escalation_loops: 0,
        escalate_at: next_step_at(urgency, &o.reach, now),
        created_at: now,
        updated_at: now,
        last_status_change_at: now,
        resolved_at: None,
        version: 1,
    };
    let name_of = |u: &UserId| o.names.get(u).cloned().unwrap_or_else(|| u.to_string());
    let mut entries = vec![t.route.agent().entry(
        &id,
        LogKind::Trigger,
        now,
        format!("Triggered through the Events API: {}", payload.summary),
        Some(Details::Alert {
            alert_id: alert.id.to_string(),
            dedup_key: t.key.clone(),
            summary: payload.summary.clone(),
            severity: Some(payload.severity.as_str().to_owned()),
            first: true,
        }),
    )];
    entries.extend(reached_entries(
        &Agent::rota(Channel::Auto),
        &id,
        LogKind::Assign,
        1,
        &o.reach,
        &name_of,
        now,
    ));
    (incident, alert, entries)
}

/// When the next escalation step is due: never for low urgency (it notifies level 1 and
/// stays), else after the level's delay.
fn next_step_at(urgency: Urgency, reach: &Reach, now: NaiveDateTime) -> Option<NaiveDateTime> {
    (urgency == Urgency::High && reach.levels > 0)
        .then(|| now + Duration::minutes(i64::from(reach.delay_minutes.max(1))))
}

/// Moves a (locked) incident's status and writes the timeline entry; resolving resolves
/// its alerts and ends its escalation.
fn set_status(
    tx: &mut DbConnection,
    agent: &Agent,
    now: NaiveDateTime,
    mut incident: Incident,
    change: Change,
) -> AppResult<Incident> {
    let Some(status) = rules::next_status(incident.status, change)
        .map_err(|r| AppError::invalid("incident.status", r.0))?
    else {
        return Ok(incident);
    };
    incident.status = status;
    incident.last_status_change_at = now;
    incident.updated_at = now;
    incident.escalate_at = None;
    incident.version += 1;
    let (kind, verb) = match status {
        Status::Acknowledged => (LogKind::Acknowledge, "Acknowledged"),
        _ => (LogKind::Resolve, "Resolved"),
    };
    notifications::cancel_pending(tx, &incident.id)?;
    if status == Status::Resolved {
        incident.resolved_at = Some(now);
        store::resolve_alerts(tx, &incident.id, now)?;
        store::assign(tx, &incident.id, &[], now)?;
    }
    if !store::update(tx, &incident)? {
        return Err(crate::store::changed_meanwhile(
            "incident",
            incident.id.as_str(),
        ));
    }
    let entry = agent.entry(
        &incident.id,
        kind,
        now,
        format!("{verb} by {}", agent.name),
        None,
    );
    store::insert_log(tx, &[entry])?;
    Ok(incident)
}

/// Acknowledges or resolves these incidents, all or none (`PUT /incidents`, a link, a
/// keypress). Already there is no change; acknowledging a resolved one is refused,
/// naming its place in the list.
pub fn change_status(
    conn: &mut DbConnection,
    agent: &Agent,
    at: DateTime<Utc>,
    ids: &[IncidentId],
    change: Change,
) -> AppResult<Vec<LoadedIncident>> {
    let _guards = notifications::change_guards(&ids.iter().collect::<Vec<_>>());
    db::write(conn, |tx| change_status_in(tx, agent, at, ids, change))
}

/// `change_status` inside the caller's write transaction (an e-mail link records its use
/// in the same one). Take `store::notifications::change_guards` for `ids` before that
/// transaction begins, as `change_status` does.
pub fn change_status_in(
    tx: &mut DbConnection,
    agent: &Agent,
    at: DateTime<Utc>,
    ids: &[IncidentId],
    change: Change,
) -> AppResult<Vec<LoadedIncident>> {
    let now = crate::clock::stored(at);
    for (i, id) in ids.iter().enumerate() {
        let incident = store::find_for_update(tx, id)?;
        if let Err(r) = rules::next_status(incident.status, change) {
            let field = if ids.len() == 1 {
                "incident.status".to_owned()
            } else {
                format!("incidents[{i}].status")
            };
            return Err(AppError::invalid(field, r.0));
        }
        set_status(tx, agent, now, incident, change)?;
    }
    ids.iter().map(|id| store::load(tx, id)).collect()
}

/// Assigns the incident to these people instead (each must exist and may be on call); it
/// is triggered again, as PagerDuty does, so the new assignees are told.
pub fn reassign(
    conn: &mut DbConnection,
    agent: &Agent,
    at: DateTime<Utc>,
    id: &IncidentId,
    users: Vec<UserId>,
) -> AppResult<LoadedIncident> {
    let now = crate::clock::stored(at);
    db::write(conn, |tx| {
        let mut incident = store::find_for_update(tx, id)?;
        if incident.status == Status::Resolved {
            return Err(AppError::invalid(
                "incident.assignments",
                "the incident is resolved: there is nobody to reassign",
            ));
        }
        let people = crate::store::schedules::people(tx, &users)?;
        let mut names = Vec::new();
        for (i, u) in users.iter().enumerate() {
            let field = format!("incident.assignments[{i}].assignee.id");
            let p = people
                .get(u)
                .ok_or_else(|| AppError::invalid(field.clone(), format!("'{u}' is not a user")))?;
            p.on_call()
                .map_err(|why| AppError::invalid(field, format!("{} {}", p.name, why.explain())))?;
            names.push(p.name.clone());
        }
        if incident.status != Status::Triggered {
            incident.status = Status::Triggered;
            incident.last_status_change_at = now;
        }
        incident.updated_at = now;
        incident.version += 1;
        if !store::update(tx, &incident)? {
            return Err(crate::store::changed_meanwhile("incident", id.as_str()));
        }
        store::assign(tx, id, &users, now)?;
        notify_reached(tx, &incident, &users, now)?;
        let entry = agent.entry(
            id,
            LogKind::Assign,
            now,
            format!("Reassigned to {} by {}", names.join(", "), agent.name),
            Some(Details::Reached {
                level: incident.escalation_level as u32,
                users: users.clone(),
            }),
        );
        store::insert_log(tx, &[entry])?;
        store::load(tx, id)
    })
}

/// Escalates the incident to `level` (1-based) of its policy now: whoever that level reaches
/// is assigned, and the next step is due after that level's delay. Low urgency incidents do
/// not escalate (PagerDuty's rule); reassign them instead.
pub fn escalate(
    conn: &mut DbConnection,
    cache: &Cache,
    agent: &Agent,
    at: DateTime<Utc>,
    id: &IncidentId,
    level: usize,
) -> AppResult<LoadedIncident> {
    let now = crate::clock::stored(at);
    let seen = store::find(conn, id)?;
    if seen.status == Status::Resolved {
        return Err(AppError::invalid(
            "escalation_level",
            "the incident is resolved",
        ));
    }
    if seen.urgency == Urgency::Low {
        return Err(AppError::invalid(
            "escalation_level",
            "a low-urgency incident does not escalate; reassign it instead",
        ));
    }
    let reach = reach(conn, cache, &seen.escalation_policy_id, level, at)?;
    if level == 0 || level > reach.levels {
        return Err(AppError::invalid(
            "escalation_level",
            format!(
                "must be between 1 and {} (the policy's levels)",
                reach.levels
            ),
        ));
    }
    let names = display_names(conn, cache, &reach)?;
    let name_of = |u: &UserId| names.get(u).cloned().unwrap_or_else(|| u.to_string());
    db::write(conn, |tx| {
        let mut incident = store::find_for_update(tx, id)?;
        if incident.status == Status::Resolved {
            return Err(AppError::invalid(
                "escalation_level",
                "the incident is resolved",
            ));
        }
        incident.status = Status::Triggered;
        if seen.status != Status::Triggered {
            incident.last_status_change_at = now;
        }
        incident.escalation_level = level as i32;
        incident.escalate_at = next_step_at(incident.urgency, &reach, now);
        incident.updated_at = now;
        incident.version += 1;
        if !store::update(tx, &incident)? {
            return Err(crate::store::changed_meanwhile("incident", id.as_str()));
        }
        store::assign(tx, id, &reach.users, now)?;
        notify_reached(tx, &incident, &reach.users, now)?;
        let entries = reached_entries(agent, id, LogKind::Escalate, level, &reach, &name_of, now);
        store::insert_log(tx, &entries)?;
        store::load(tx, id)
    })
}

/// Longest note.
pub const MAX_NOTE_CHARS: usize = 25_000;

/// Adds a note to the incident's running record, and an entry on its timeline.
pub fn add_note(
    conn: &mut DbConnection,
    agent: &Agent,
    user: Option<&UserId>,
    at: DateTime<Utc>,
    id: &IncidentId,
    content: &str,
) -> AppResult<Note> {
    let content = crate::domain::user::optional_text(Some(content), MAX_NOTE_CHARS)
        .map_err(|r| AppError::invalid("note.content", r))?
        .ok_or_else(|| AppError::invalid("note.content", "can't be blank"))?;
    let now = crate::clock::stored(at);
    db::write(conn, |tx| {
        store::find(tx, id)?;
        let note = Note {
            id: NoteId::generate(),
            incident_id: id.clone(),
            user_id: user.cloned(),
            user_name: agent.name.clone(),
            content,
            created_at: now,
        };
        store::insert_note(tx, &note)?;
        let entry = agent.entry(
            id,
            LogKind::Annotate,
            now,
            format!("Note added by {}", agent.name),
            Some(Details::Note {
                note_id: note.id.to_string(),
            }),
        );
        store::insert_log(tx, &[entry])?;
        Ok(note)
    })
}

/// Records a change event on the service's timeline.
pub fn record_change(
    conn: &mut DbConnection,
    at: DateTime<Utc>,
    route: &Route,
    event: ChangeInput,
) -> AppResult<ChangeEvent> {
    let now = crate::clock::stored(at);
    let change = ChangeEvent {
        id: ChangeEventId::generate(),
        service_id: route.service.clone(),
        integration_id: route.integration.clone(),
        summary: event.summary,
        source: event.source,
        happened_at: event.timestamp.map_or(now, crate::clock::stored_instant),
        custom_details: event.custom_details.map(Json),
        links: Json(event.links),
        created_at: now,
    };
    db::write(conn, |tx| store::insert_change_event(tx, &change))?;
    Ok(change)
}

/// How far back an incident's "recent changes" look (PagerDuty keeps change events 90
/// days; an incident shows those of the day before it opened).
pub const RECENT_CHANGES_HOURS: i64 = 24;

/// The change events of the incident's service in the day before it opened, newest first.
pub fn recent_changes(conn: &mut DbConnection, incident: &Incident) -> AppResult<Vec<ChangeEvent>> {
    store::change_events(
        conn,
        &incident.service_id,
        Some(incident.created_at - Duration::hours(RECENT_CHANGES_HOURS)),
        Some(incident.created_at + Duration::seconds(1)),
        100,
    )
}

/// Takes the escalation step that fell due on `seen` (as read by the escalation job): the
/// next level is reached, or the policy is gone round again, or it is exhausted. Who a level
/// reaches is read before the transaction (through the final-schedule cache); the step is
/// then written only if the incident is still that version and triggered, so two instances
/// (or a responder acknowledging meanwhile) never make it happen twice. Whether it happened.
pub fn escalate_due(
    conn: &mut DbConnection,
    cache: &Cache,
    at: DateTime<Utc>,
    seen: &Incident,
) -> AppResult<bool> {
    let now = crate::clock::stored(at);
    let policy = cache
        .policies(conn, Some(std::slice::from_ref(&seen.escalation_policy_id)))?
        .into_iter()
        .next();
    let (levels, num_loops) = policy
        .as_ref()
        .map_or((0, 0), |p| (p.rules.rules.len(), p.rules.num_loops));
    let step = rules::next_step(
        seen.escalation_level.max(1) as usize,
        seen.escalation_loops.max(0) as u32,
        levels,
        num_loops,
    );
    let target = match step {
        rules::Step::Escalate { level } => Some((level, seen.escalation_loops)),
        rules::Step::Repeat { loops } => Some((1, loops as i32)),
        rules::Step::Exhausted => None,
    };
    let reached = match target {
        Some((level, _)) => Some(reach(conn, cache, &seen.escalation_policy_id, level, at)?),
        None => None,
    };
    let names = match &reached {
        Some(r) => display_names(conn, cache, r)?,
        None => Default::default(),
    };
    let name_of = |u: &UserId| names.get(u).cloned().unwrap_or_else(|| u.to_string());
    let timeout = Agent::rota(Channel::Timeout);
    db::write(conn, |tx| {
        let Some(mut incident) = store::claim_due(tx, &seen.id, seen.version, now)? else {
            return Ok(false);
        };
        let mut entries = Vec::new();
        match (target, &reached) {
            (Some((level, loops)), Some(reach)) => {
                if let rules::Step::Repeat { loops } = step {
                    entries.push(timeout.entry(
                        &incident.id,
                        LogKind::RepeatEscalationPath,
                        now,
                        format!("Nobody acknowledged: going round the escalation policy again (round {})", loops + 1),
                        None,
                    ));
                }
                incident.escalation_level = level as i32;
                incident.escalation_loops = loops;
                incident.escalate_at = next_step_at(incident.urgency, reach, now);
                entries.extend(reached_entries(
                    &timeout,
                    &incident.id,
                    LogKind::Escalate,
                    level,
                    reach,
                    &name_of,
                    now,
                ));
                store::assign(tx, &incident.id, &reach.users, now)?;
            }
            _ => {
                incident.escalate_at = None;
                entries.push(timeout.entry(
                    &incident.id,
                    LogKind::ExhaustEscalationPath,
                    now,
                    "Nobody acknowledged after the last level of the last round: escalation stops here".to_owned(),
                    None,
                ));
            }
        }
        incident.updated_at = now;
        incident.version += 1;
        if !store::update(tx, &incident)? {
            return Ok(false);
        }
        store::insert_log(tx, &entries)?;
        if let Some(reach) = &reached {
            notify_reached(tx, &incident, &reach.users, now)?;
        }
        Ok(true)
    })
}

/// Steps one escalation pass takes at most; the rest wait for the next pass (a second).
pub const STEPS_PER_PASS: i64 = 200;

/// One escalation pass at `at`: every step due, each at most once. How many were taken.
pub fn escalate_all_due(
    conn: &mut DbConnection,
    cache: &Cache,
    at: DateTime<Utc>,
) -> AppResult<usize> {
    let due = store::due(conn, crate::clock::stored(at), STEPS_PER_PASS)?;
    let mut taken = 0;
    for incident in &due {
        if escalate_due(conn, cache, at, incident)? {
            taken += 1;
        }
    }
    Ok(taken)
}
