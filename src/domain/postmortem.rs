//! Postmortems: a draft made from what Rota knows about an incident, in the shape of the
//! example postmortem in Google's SRE book (title, date, authors, status, summary, impact,
//! root causes, trigger, resolution, detection, action items, lessons learned, timeline), the
//! checks a person's edit must pass, and the document as Markdown. Pure: `store/` loads the
//! `Facts` and keeps the `Postmortem` as JSON; the handlers choose JSON or Markdown.
//!
//! - What the data knows is filled in, extractively: times, people, alerts, notifications,
//!   time to acknowledge and resolve, the notes in order. Nothing is made up: what needs a
//!   person's judgement (root causes, lessons, action items) stays empty (`None`, `[]`), and
//!   the document shows a prompt from the message catalogue in its place.
//! - Markdown is built as CommonMark events and written by `pulldown-cmark-to-cmark`, which
//!   escapes every piece of text: a note starting with `# `, a `|` in a table cell or a
//!   `[link](javascript:…)` in an alert summary stays text.
//! - Times are UTC (`NaiveDateTime`, as everywhere in Rota) and written `2026-12-07 14:03 UTC`.

use crate::domain::ids::{IncidentId, UserId};
use crate::domain::incident::LogKind;
use crate::domain::schedule::input::Invalid;
use crate::domain::service::{Severity, Urgency};
use crate::domain::text::is_unprintable;
use chrono::{NaiveDate, NaiveDateTime};
use pulldown_cmark::{Alignment, Event, HeadingLevel, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 1024;
/// The longest text of one field (a section, an action item, a timeline line), in bytes.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The longest name (an author, an owner), in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Authors, action items and timeline lines, at most.
pub const MAX_AUTHORS: usize = 50;
pub const MAX_ACTION_ITEMS: usize = 200;
pub const MAX_TIMELINE: usize = 2_000;
/// The longest action item id, in characters (ids are the editor's, e.g. `AI-3` or a UUID).
pub const MAX_ITEM_ID_CHARS: usize = 64;

/// A person, as the store names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: UserId,
    pub name: String,
}

/// Someone did something at an instant (the first acknowledgement, the resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Act {
    pub at: NaiveDateTime,
    /// The person's name, or the integration's, or "Rota" for a timeout.
    pub by: String,
}

/// An alert of the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFact {
    pub summary: String,
    /// Where it came from: the integration's name (Alertmanager, Azure Monitor…).
    pub source: String,
    pub severity: Option<Severity>,
    /// Triggers de-duplicated into this alert, itself included.
    pub event_count: i64,
    pub created_at: NaiveDateTime,
}

/// One entry of the incident's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFact {
    pub at: NaiveDateTime,
    pub kind: LogKind,
    /// Who made it (a person's or an integration's name); `None`: Rota itself.
    pub agent: Option<String>,
    /// What the timeline shows for it ("Notified Ann Lee by e-mail").
    pub summary: String,
}

/// A note on the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteFact {
    pub at: NaiveDateTime,
    pub author: String,
    pub content: String,
}

/// A status update sent to stakeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdateFact {
    pub at: NaiveDateTime,
    pub author: String,
    pub message: String,
}

/// Notifications sent for the incident, by channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    pub email: u32,
    pub phone: u32,
    pub webhook: u32,
    pub chat: u32,
}

/// What the store knows about an incident, which a draft is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub incident_id: IncidentId,
    pub number: i64,
    pub title: String,
    pub service: String,
    pub urgency: Urgency,
    pub opened_at: NaiveDateTime,
    pub acknowledged: Option<Act>,
    pub resolved: Option<Act>,
    pub responders: Vec<Person>,
    /// In the order they were created.
    pub alerts: Vec<AlertFact>,
    /// The log, in order.
    pub timeline: Vec<LogFact>,
    /// In order.
    pub notes: Vec<NoteFact>,
    pub status_updates: Vec<StatusUpdateFact>,
    pub notifications: Notifications,
    /// Who asks for the draft: its first author.
    pub author: Person,
}

/// Where a postmortem is in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = PostmortemStatus)]
pub enum Status {
    Draft,
    InReview,
    Final,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Final => "final",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "draft" => Some(Status::Draft),
            "in_review" => Some(Status::InReview),
            "final" => Some(Status::Final),
            _ => None,
        }
    }
}

/// What an action item does (the SRE book's "Type" column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Mitigate,
    Prevent,
    Process,
    Other,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Mitigate => "mitigate",
            ActionKind::Prevent => "prevent",
            ActionKind::Process => "process",
            ActionKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        match s {
            "mitigate" => Some(ActionKind::Mitigate),
            "prevent" => Some(ActionKind::Prevent),
            "process" => Some(ActionKind::Process),
            "other" => Some(ActionKind::Other),
            _ => None,
        }
    }
}

/// Whether an action item is still to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Open,
    Done,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Open => "open",
            ActionStatus::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<ActionStatus> {
        match s {
            "open" => Some(ActionStatus::Open),
            "done" => Some(ActionStatus::Done),
            _ => None,
        }
    }
}

crate::domain::shown_by_name!(Status, ActionKind, ActionStatus);

/// Something to change so the incident does not happen again, or hurts less.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionItem {
    /// The editor's id for it, unique in the postmortem (the list of open items links by it).
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub kind: Option<ActionKind>,
    /// The user who owns it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub owner: Option<UserId>,
    /// Their name as shown (kept, so the document reads the same if they leave).
    #[serde(default)]
    pub owner_name: Option<String>,
    #[serde(default)]
    pub due: Option<NaiveDate>,
    pub status: ActionStatus,
}

/// The SRE book's three lessons. Judgement only: a draft leaves them empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lessons {
    #[serde(default)]
    pub went_well: Option<String>,
    #[serde(default)]
    pub went_wrong: Option<String>,
    #[serde(default)]
    pub got_lucky: Option<String>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimelineLine {
    pub at: NaiveDateTime,
    pub text: String,
}

/// The figures the data knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Figures {
    /// From opening to the first acknowledgement; `None`: nobody acknowledged it.
    pub time_to_acknowledge_seconds: Option<i64>,
    /// From opening to resolution; `None`: not resolved.
    pub time_to_resolve_seconds: Option<i64>,
    pub alerts: u32,
    pub events: i64,
    pub responders: u32,
    pub notifications: Notifications,
}

/// A postmortem: what is stored (JSON), returned, and sent back edited (`PUT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Postmortem {
    pub title: String,
    pub date: NaiveDate,
    pub authors: Vec<String>,
    pub status: Status,
    /// Text sections; `None`: nobody has written it yet (the document shows a prompt).
    pub summary: Option<String>,
    pub impact: Option<String>,
    pub root_causes: Option<String>,
    pub trigger: Option<String>,
    pub resolution: Option<String>,
    pub detection: Option<String>,
    pub action_items: Vec<ActionItem>,
    pub lessons: Lessons,
    pub timeline: Vec<TimelineLine>,
    pub figures: Figures,
}

/// The questions shown where a section has no text yet, in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Prompts {
    pub summary: String,
    pub impact: String,
    pub root_causes: String,
    pub trigger: String,
    pub resolution: String,
    pub detection: String,
    pub action_items: String,
    pub went_well: String,
    pub went_wrong: String,
    pub got_lucky: String,
}

/// The prompts in `lang` (`handoff::language`).
pub fn prompts(lang: &str) -> Prompts {
    let p = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
    Prompts {
        summary: p("postmortem.prompt.summary"),
        impact: p("postmortem.prompt.impact"),
        root_causes: p("postmortem.prompt.root_causes"),
        trigger: p("postmortem.prompt.trigger"),
        resolution: p("postmortem.prompt.resolution"),
        detection: p("postmortem.prompt.detection"),
        action_items: p("postmortem.prompt.action_items"),
        went_well: p("postmortem.prompt.went_well"),
        went_wrong: p("postmortem.prompt.went_wrong"),
        got_lucky: p("postmortem.prompt.got_lucky"),
    }
}

/// An instant as the documents write it.
pub fn format_at(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A span of time in words: `1 h 05 min`, `4 min 10 s`, `40 s`.
pub fn format_duration(seconds: i64, lang: &str) -> String {
    let s = seconds.max(0);
    let (hours, minutes, secs) = (s / 3600, s % 3600 / 60, s % 60);
    if hours > 0 {
        rust_i18n::t!(
            "postmortem.duration.hours",
            locale = lang,
            hours = hours,
            minutes = format!("{minutes:02}")
        )
        .into_owned()
    } else if minutes > 0 {
        rust_i18n::t!(
            "postmortem.duration.minutes",
            locale = lang,
            minutes = minutes,
            seconds = format!("{secs:02}")
        )
        .into_owned()
    } else {
        rust_i18n::t!("postmortem.duration.seconds", locale = lang, seconds = secs).into_owned()
    }
}

fn urgency_word(urgency: Urgency, lang: &str) -> String {
    match urgency {
        Urgency::High => rust_i18n::t!("postmortem.urgency.high", locale = lang),
        Urgency::Low => rust_i18n::t!("postmortem.urgency.low", locale = lang),
    }
    .into_owned()
}

/// `text` fit to keep: characters that may not be stored (controls other than newline and
/// tab, bidi controls) become spaces, and it is cut at `MAX_TEXT_BYTES` (on a character).
/// Facts come from monitoring tools and people; a draft must pass `check` like any edit.
fn fit(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT_BYTES));
    for c in text.chars() {
        let c = if allowed_in_text(c) { c } else { ' ' };
        if out.len() + c.len_utf8() > MAX_TEXT_BYTES {
            break;
        }
        out.push(c);
    }
    out
}

/// `fit` on one line: line breaks become spaces too (a title, a timeline line).
fn fit_line(text: &str, max_chars: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if is_unprintable(c) { ' ' } else { c })
        .take(max_chars)
        .collect();
    fit(&line)
}

fn allowed_in_text(c: char) -> bool {
    c == '\n' || c == '\t' || !is_unprintable(c)
}

fn seconds_between(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    (to - from).num_seconds()
}

/// A draft postmortem of the incident, in `lang`: what the data knows filled in, the rest
/// left for people to write.
pub fn draft(facts: &Facts, lang: &str) -> Postmortem {
    let urgency = urgency_word(facts.urgency, lang);
    let opened = format_at(facts.opened_at);
    let events: i64 = facts.alerts.iter().map(|a| a.event_count.max(0)).sum();
    let time_to_acknowledge = facts
        .acknowledged
        .as_ref()
        .map(|a| seconds_between(facts.opened_at, a.at));
    let time_to_resolve = facts
        .resolved
        .as_ref()
        .map(|r| seconds_between(facts.opened_at, r.at));
    let number = facts.number.to_string();

    let title = fit_line(
        &rust_i18n::t!(
            "postmortem.title",
            locale = lang,
            number = number,
            title = facts.title
        ),
        MAX_TITLE_CHARS,
    );

    // Summary: the incident, its service and urgency, how long, and its alerts by source.
    let mut summary = match (&facts.resolved, time_to_resolve) {
        (Some(r), Some(secs)) => rust_i18n::t!(
            "postmortem.summary.closed",
            locale = lang,
            number = number,
            title = facts.title,
            service = facts.service,
            urgency = urgency,
            duration = format_duration(secs, lang),
            opened = opened,
            resolved = format_at(r.at)
        ),
        _ => rust_i18n::t!(
            "postmortem.summary.open",
            locale = lang,
            number = number,
            title = facts.title,
            service = facts.service,
            urgency = urgency,
            opened = opened
        ),
    }
    .into_owned();
    let sentence_gap = rust_i18n::t!("postmortem.sentence_gap", locale = lang);
    summary.push_str(&sentence_gap);
    if facts.alerts.is_empty() {
        summary.push_str(&rust_i18n::t!(
            "postmortem.summary.no_alerts",
            locale = lang
        ));
    } else {
        // Sources in the order their first alert came.
        let mut order: Vec<&str> = Vec::new();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &facts.alerts {
            let n = counts.entry(a.source.as_str()).or_insert(0);
            if *n == 0 {
                order.push(&a.source);
            }
            *n += 1;
        }
        let groups: Vec<String> = order
            .iter()
            .map(|source| {
                rust_i18n::t!(
                    "postmortem.summary.alert_group",
                    locale = lang,
                    count = counts[source],
                    source = source
                )
                .into_owned()
            })
            .collect();
        summary.push_str(&rust_i18n::t!(
            "postmortem.summary.alerts",
            locale = lang,
            groups = groups.join(&rust_i18n::t!("postmortem.list_separator", locale = lang))
        ));
    }

    // Impact: the part the data knows (who was affected and how much is people's to add).
    let impact_args = (
        facts.alerts.len().to_string(),
        events.to_string(),
        facts.responders.len().to_string(),
    );
    let impact = match (&facts.resolved, time_to_resolve) {
        (Some(r), Some(secs)) => rust_i18n::t!(
            "postmortem.impact.closed",
            locale = lang,
            service = facts.service,
            opened = opened,
            resolved = format_at(r.at),
            duration = format_duration(secs, lang),
            urgency = urgency,
            alerts = impact_args.0,
            events = impact_args.1,
            responders = impact_args.2
        ),
        _ => rust_i18n::t!(
            "postmortem.impact.open",
            locale = lang,
            service = facts.service,
            opened = opened,
            urgency = urgency,
            alerts = impact_args.0,
            events = impact_args.1,
            responders = impact_args.2
        ),
    }
    .into_owned();

    // Trigger: the first alert; with none, whoever opened the incident by hand.
    let first_alert = facts.alerts.iter().min_by_key(|a| a.created_at);
    let trigger = match first_alert {
        Some(a) => Some(match a.severity {
            Some(sev) => rust_i18n::t!(
                "postmortem.trigger.alert_severity",
                locale = lang,
                summary = a.summary,
                severity = sev.as_str(),
                source = a.source,
                at = format_at(a.created_at)
            ),
            None => rust_i18n::t!(
                "postmortem.trigger.alert",
                locale = lang,
                summary = a.summary,
                source = a.source,
                at = format_at(a.created_at)
            ),
        }),
        None => facts
            .timeline
            .iter()
            .find(|e| e.kind == LogKind::Trigger)
            .and_then(|e| e.agent.as_deref().map(|agent| (e.at, agent)))
            .map(|(at, agent)| {
                rust_i18n::t!(
                    "postmortem.trigger.manual",
                    locale = lang,
                    agent = agent,
                    at = format_at(at)
                )
            }),
    }
    .map(|t| t.into_owned());

    // Detection: what raised it, who heard first, and how long until someone acknowledged.
    let mut detection = Vec::new();
    if let Some(a) = first_alert {
        detection.push(rust_i18n::t!(
            "postmortem.detection.alert",
            locale = lang,
            source = a.source,
            at = format_at(a.created_at)
        ));
    }
    if let Some(n) = facts.timeline.iter().find(|e| e.kind == LogKind::Notify) {
        detection.push(rust_i18n::t!(
            "postmortem.detection.notified",
            locale = lang,
            at = format_at(n.at),
            summary = n.summary.trim_end_matches('.')
        ));
    }
    match (&facts.acknowledged, time_to_acknowledge) {
        (Some(a), Some(secs)) => detection.push(rust_i18n::t!(
            "postmortem.detection.acknowledged",
            locale = lang,
            name = a.by,
            at = format_at(a.at),
            after = format_duration(secs, lang)
        )),
        _ => detection.push(rust_i18n::t!(
            "postmortem.detection.unacknowledged",
            locale = lang
        )),
    }
    let detection = detection.join(&sentence_gap);

    // Resolution: who resolved it and when, and the last note (often how it was fixed).
    let resolution = match (&facts.resolved, time_to_resolve) {
        (Some(r), Some(secs)) => {
            let mut text = rust_i18n::t!(
                "postmortem.resolution.resolved",
                locale = lang,
                name = r.by,
                at = format_at(r.at),
                after = format_duration(secs, lang)
            )
            .into_owned();
            if let Some(note) = facts.notes.iter().rev().find(|n| n.at <= r.at) {
                text.push_str("\n\n");
                text.push_str(&rust_i18n::t!(
                    "postmortem.resolution.last_note",
                    locale = lang,
                    author = note.author,
                    at = format_at(note.at)
                ));
                text.push('\n');
                text.push_str(&note.content);
            }
            Some(text)
        }
        _ => None,
    };

    Postmortem {
        title,
        date: facts.opened_at.date(),
        authors: vec![fit_line(&facts.author.name, MAX_NAME_CHARS)],
        status: Status::Draft,
        summary: Some(fit(&summary)),
        impact: Some(fit(&impact)),
        root_causes: None,
        trigger: trigger.map(|t| fit(&t)),
        resolution: resolution.map(|r| fit(&r)),
        detection: Some(fit(&detection)),
        action_items: Vec::new(),
        lessons: Lessons::default(),
        timeline: timeline(facts, lang),
        figures: Figures {
            time_to_acknowledge_seconds: time_to_acknowledge,
            time_to_resolve_seconds: time_to_resolve,
            alerts: u32::try_from(facts.alerts.len()).unwrap_or(u32::MAX),
            events,
            responders: u32::try_from(facts.responders.len()).unwrap_or(u32::MAX),
            notifications: facts.notifications,
        },
    }
}

/// The log (less its annotations: the notes come in full instead), the notes and the status
/// updates, merged in time order; at the same instant the log comes first, then notes, then
/// updates, each in its own order. Past `MAX_TIMELINE` lines the rest is counted, not shown.
fn timeline(facts: &Facts, lang: &str) -> Vec<TimelineLine> {
    let mut lines: Vec<TimelineLine> = facts
        .timeline
        .iter()
        .filter(|e| e.kind != LogKind::Annotate)
        .map(|e| TimelineLine {
            at: e.at,
            text: e.summary.clone(),
        })
        .chain(facts.notes.iter().map(|n| {
            TimelineLine {
                at: n.at,
                text: rust_i18n::t!(
                    "postmortem.timeline.note",
                    locale = lang,
                    author = n.author,
                    content = n.content
                )
                .into_owned(),
            }
        }))
        .chain(facts.status_updates.iter().map(|u| {
            TimelineLine {
                at: u.at,
                text: rust_i18n::t!(
                    "postmortem.timeline.status_update",
                    locale = lang,
                    author = u.author,
                    message = u.message
                )
                .into_owned(),
            }
        }))
        .collect();
    // Stable: equal instants keep the order above.
    lines.sort_by_key(|l| l.at);
    if lines.len() > MAX_TIMELINE {
        let omitted = lines.len() - (MAX_TIMELINE - 1);
        lines.truncate(MAX_TIMELINE - 1);
        let at = lines.last().map(|l| l.at).unwrap_or(facts.opened_at);
        lines.push(TimelineLine {
            at,
            text: rust_i18n::t!(
                "postmortem.timeline.omitted",
                locale = lang,
                count = omitted
            )
            .into_owned(),
        });
    }
    for l in &mut lines {
        l.text = fit(&l.text);
    }
    lines
}

/// Checks an edited postmortem (a `PUT` body); a refusal names the field, as
/// `action_items[2].due`. Unknown fields were already refused when it was read.
pub fn check(p: &Postmortem) -> Result<(), Invalid> {
    let refuse = |field: String, reason: &str| {
        Err(Invalid {
            field,
            reason: reason.to_string(),
        })
    };
    check_line(&p.title, "title", MAX_TITLE_CHARS)?;
    if p.authors.len() > MAX_AUTHORS {
        return refuse(
            "authors".into(),
            &format!("at most {MAX_AUTHORS} authors are allowed"),
        );
    }
    for (i, a) in p.authors.iter().enumerate() {
        check_line(a, &format!("authors[{i}]"), MAX_NAME_CHARS)?;
    }
    for (field, text) in [
        ("summary", &p.summary),
        ("impact", &p.impact),
        ("root_causes", &p.root_causes),
        ("trigger", &p.trigger),
        ("resolution", &p.resolution),
        ("detection", &p.detection),
        ("lessons.went_well", &p.lessons.went_well),
        ("lessons.went_wrong", &p.lessons.went_wrong),
        ("lessons.got_lucky", &p.lessons.got_lucky),
    ] {
        if let Some(text) = text {
            check_text(text, field)?;
        }
    }
    if p.action_items.len() > MAX_ACTION_ITEMS {
        return refuse(
            "action_items".into(),
            &format!("at most {MAX_ACTION_ITEMS} action items are allowed"),
        );
    }
    let mut ids = HashSet::new();
    for (i, item) in p.action_items.iter().enumerate() {
        let at = |f: &str| format!("action_items[{i}].{f}");
        check_line(&item.id, &at("id"), MAX_ITEM_ID_CHARS)?;
        if !ids.insert(item.id.as_str()) {
            return refuse(at("id"), "another action item has this id");
        }
        check_text(&item.description, &at("description"))?;
        if item.description.trim().is_empty() {
            return refuse(at("description"), "must not be empty");
        }
        if let Some(owner) = &item.owner {
            check_line(owner.as_str(), &at("owner"), MAX_ITEM_ID_CHARS)?;
        }
        if let Some(name) = &item.owner_name {
            check_line(name, &at("owner_name"), MAX_NAME_CHARS)?;
        }
        // A due date before the incident is a slip of the keyboard, not a plan.
        if item.due.is_some_and(|due| due < p.date) {
            return refuse(at("due"), "is before the incident's date");
        }
    }
    if p.timeline.len() > MAX_TIMELINE {
        return refuse(
            "timeline".into(),
            &format!("at most {MAX_TIMELINE} lines are allowed"),
        );
    }
    for (i, line) in p.timeline.iter().enumerate() {
        check_text(&line.text, &format!("timeline[{i}].text"))?;
        if line.text.trim().is_empty() {
            return refuse(format!("timeline[{i}].text"), "must not be empty");
        }
        if i > 0 && line.at < p.timeline[i - 1].at {
            return refuse(
                format!("timeline[{i}].at"),
                "is before the line above it: the timeline is in time order",
            );
        }
    }
    let f = &p.figures;
    for (field, value) in [
        (
            "figures.time_to_acknowledge_seconds",
            f.time_to_acknowledge_seconds,
        ),
        ("figures.time_to_resolve_seconds", f.time_to_resolve_seconds),
        ("figures.events", Some(f.events)),
    ] {
        if value.is_some_and(|v| v < 0) {
            return refuse(field.into(), "must not be negative");
        }
    }
    Ok(())
}

/// A one-line value: not blank, at most `max_chars`, nothing unprintable (no line breaks).
fn check_line(text: &str, field: &str, max_chars: usize) -> Result<(), Invalid> {
    let invalid = |reason: String| {
        Err(Invalid {
            field: field.to_string(),
            reason,
        })
    };
    if text.trim().is_empty() {
        return invalid("must not be empty".into());
    }
    if text.chars().count() > max_chars {
        return invalid(format!("must be at most {max_chars} characters"));
    }
    if let Some(c) = text.chars().find(|&c| is_unprintable(c)) {
        return invalid(format!(
            "must be one line of printable text (found U+{:04X})",
            c as u32
        ));
    }
    Ok(())
}

/// A text: at most `MAX_TEXT_BYTES`, no control characters but newline and tab.
fn check_text(text: &str, field: &str) -> Result<(), Invalid> {
    let invalid = |reason: String| {
        Err(Invalid {
            field: field.to_string(),
            reason,
        })
    };
    if text.len() > MAX_TEXT_BYTES {
        return invalid(format!("must be at most {MAX_TEXT_BYTES} bytes"));
    }
    if let Some(c) = text.chars().find(|&c| !allowed_in_text(c)) {
        return invalid(format!(
            "must not hold control characters other than newline and tab (found U+{:04X})",
            c as u32
        ));
    }
    Ok(())
}

/// The parser features the Markdown is written for (and read back with, in the tests):
/// CommonMark plus GitHub's tables, which the action items use.
pub const MARKDOWN_OPTIONS: pulldown_cmark::Options = pulldown_cmark::Options::ENABLE_TABLES;

/// The document as Markdown, headings in `lang`. Sections nobody wrote show their prompt
/// in italics.
pub fn to_markdown(p: &Postmortem, lang: &str) -> String {
    let prompts = prompts(lang);
    let t = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
    let mut doc = Doc::default();

    doc.heading(HeadingLevel::H1, &p.title);
    // Date, authors and status: one paragraph of labelled lines, as the book's example has.
    doc.start(Tag::Paragraph);
    let status = t(&format!("postmortem.status.{}", p.status.as_str()));
    let authors = p.authors.join(", ");
    let date = p.date.format("%Y-%m-%d").to_string();
    for (i, (label, value)) in [
        (t("postmortem.heading.date"), date.as_str()),
        (t("postmortem.heading.authors"), authors.as_str()),
        (t("postmortem.heading.status"), status.as_str()),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            doc.push(Event::HardBreak);
        }
        doc.strong(&format!("{label}:"));
        doc.text(" ");
        doc.text(value);
    }
    doc.end(TagEnd::Paragraph);

    for (key, text, prompt) in [
        ("summary", &p.summary, &prompts.summary),
        ("impact", &p.impact, &prompts.impact),
        ("root_causes", &p.root_causes, &prompts.root_causes),
        ("trigger", &p.trigger, &prompts.trigger),
        ("resolution", &p.resolution, &prompts.resolution),
        ("detection", &p.detection, &prompts.detection),
    ] {
        doc.heading(HeadingLevel::H2, &t(&format!("postmortem.heading.{key}")));
        doc.section(text.as_deref(), prompt);
    }

    doc.heading(HeadingLevel::H2, &t("postmortem.heading.action_items"));
    if p.action_items.is_empty() {
        doc.section(None, &prompts.action_items);
    } else {
        doc.action_items(&p.action_items, lang);
    }

    doc.heading(HeadingLevel::H2, &t("postmortem.heading.lessons"));
    for (key, text, prompt) in [
        ("went_well", &p.lessons.went_well, &prompts.went_well),
        ("went_wrong", &p.lessons.went_wrong, &prompts.went_wrong),
        ("got_lucky", &p.lessons.got_lucky, &prompts.got_lucky),
    ] {
        doc.heading(HeadingLevel::H3, &t(&format!("postmortem.heading.{key}")));
        doc.section(text.as_deref(), prompt);
    }

    doc.heading(HeadingLevel::H2, &t("postmortem.heading.timeline"));
    if !p.timeline.is_empty() {
        doc.start(Tag::List(None));
        for line in &p.timeline {
            doc.start(Tag::Item);
            doc.strong(&format_at(line.at));
            doc.text(" ");
            doc.lines(&line.text);
            doc.end(TagEnd::Item);
        }
        doc.end(TagEnd::List(false));
    }

    doc.heading(HeadingLevel::H2, &t("postmortem.heading.figures"));
    let f = &p.figures;
    let not_yet = t("postmortem.figure.not_yet");
    let span = |s: Option<i64>| s.map_or(not_yet.clone(), |s| format_duration(s, lang));
    let n = f.notifications;
    doc.start(Tag::List(None));
    for (key, value) in [
        ("time_to_acknowledge", span(f.time_to_acknowledge_seconds)),
        ("time_to_resolve", span(f.time_to_resolve_seconds)),
        ("alerts", f.alerts.to_string()),
        ("events", f.events.to_string()),
        ("responders", f.responders.to_string()),
        (
            "notifications",
            format!("{} / {} / {} / {}", n.email, n.phone, n.webhook, n.chat),
        ),
    ] {
        doc.start(Tag::Item);
        doc.strong(&format!("{}:", t(&format!("postmortem.figure.{key}"))));
        doc.text(" ");
        doc.text(&value);
        doc.end(TagEnd::Item);
    }
    doc.end(TagEnd::List(false));

    doc.finish()
}

/// A Markdown document being built as events. All text goes in as `Event::Text`, so the
/// writer escapes it; nothing here writes Markdown syntax by hand.
#[derive(Default)]
struct Doc {
    events: Vec<Event<'static>>,
}

impl Doc {
    fn push(&mut self, e: Event<'static>) {
        self.events.push(e);
    }

    fn start(&mut self, tag: Tag<'static>) {
        self.push(Event::Start(tag));
    }

    fn end(&mut self, tag: TagEnd) {
        self.push(Event::End(tag));
    }

    fn text(&mut self, text: &str) {
        if !text.is_empty() {
            self.push(Event::Text(text.to_string().into()));
        }
    }

    fn strong(&mut self, text: &str) {
        self.start(Tag::Strong);
        self.text(text);
        self.end(TagEnd::Strong);
    }

    fn heading(&mut self, level: HeadingLevel, text: &str) {
        self.start(Tag::Heading {
            level,
            id: None,
            classes: Vec::new(),
            attrs: Vec::new(),
        });
        self.text(&one_line(text));
        self.end(TagEnd::Heading(level));
    }

    /// Inline text whose line breaks are kept (as hard breaks).
    fn lines(&mut self, text: &str) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.push(Event::HardBreak);
            }
            self.text(line);
        }
    }

    /// A section's text, a paragraph per blank-line-separated block; or its prompt.
    fn section(&mut self, text: Option<&str>, prompt: &str) {
        let paragraphs: Vec<&str> = text
            .map(|t| {
                t.split("\n\n")
                    .map(|p| p.trim_matches('\n'))
                    .filter(|p| !p.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if paragraphs.is_empty() {
            self.start(Tag::Paragraph);
            self.start(Tag::Emphasis);
            self.text(prompt);
            self.end(TagEnd::Emphasis);
            self.end(TagEnd::Paragraph);
            return;
        }
        for p in paragraphs {
            self.start(Tag::Paragraph);
            self.lines(p);
            self.end(TagEnd::Paragraph);
        }
    }

    fn action_items(&mut self, items: &[ActionItem], lang: &str) {
        let t = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
        self.start(Tag::Table(vec![Alignment::None; 5]));
        self.start(Tag::TableHead);
        for key in ["item", "kind", "owner", "due", "status"] {
            self.cell(&t(&format!("postmortem.column.{key}")));
        }
        self.end(TagEnd::TableHead);
        for item in items {
            self.start(Tag::TableRow);
            self.cell(&item.description);
            self.cell(
                &item
                    .kind
                    .map(|k| t(&format!("postmortem.kind.{}", k.as_str())))
                    .unwrap_or_default(),
            );
            let owner = item
                .owner_name
                .clone()
                .or_else(|| item.owner.as_ref().map(|o| o.to_string()))
                .unwrap_or_default();
            self.cell(&owner);
            self.cell(
                &item
                    .due
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            );
            self.cell(&t(&format!(
                "postmortem.item_status.{}",
                item.status.as_str()
            )));
            self.end(TagEnd::TableRow);
        }
        self.end(TagEnd::Table);
    }

    /// A table cell: one line (a table row cannot hold a line break).
    fn cell(&mut self, text: &str) {
        self.start(Tag::TableCell);
        self.text(&one_line(text));
        self.end(TagEnd::TableCell);
    }

    fn finish(self) -> String {
        let mut out = String::new();
        let options = pulldown_cmark_to_cmark::Options {
            list_token: '-',
            ..Default::default()
        };
        // Writing to a String cannot fail, and the events above always nest properly (every
        // start has its end; the tests render every shape), so an error here is a bug.
        pulldown_cmark_to_cmark::cmark_with_options(
            self.events.iter(),
            &mut out,
            MARKDOWN_OPTIONS,
            options,
        )
        .expect("a postmortem's Markdown events are well formed");
        out.push('\n');
        out
    }
}

/// Line breaks (and tabs) as spaces, for places that hold one line.
fn one_line(text: &str) -> Cow<'_, str> {
    if text.contains(['\n', '\t']) {
        Cow::Owned(text.replace(['\n', '\t'], " "))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulldown_cmark::Parser;

    fn at(hms: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(&format!("2026-12-07 {hms}"), "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn person(id: &str, name: &str) -> Person {
        Person {
            id: UserId(id.into()),
            name: name.into(),
        }
    }

    fn log(hms: &str, kind: LogKind, agent: Option<&str>, summary: &str) -> LogFact {
        LogFact {
            at: at(hms),
            kind,
            agent: agent.map(str::to_string),
            summary: summary.into(),
        }
    }

    fn note(hms: &str, author: &str, content: &str) -> NoteFact {
        NoteFact {
            at: at(hms),
            author: author.into(),
            content: content.into(),
        }
    }

    /// An evening outage of checkout: two alerts from Alertmanager and one from Azure
    /// Monitor, Ann acknowledges after 4 min 10 s, Bo resolves after 1 h 2 min.
    fn facts() -> Facts {
        Facts {
            incident_id: IncidentId("inc-1".into()),
            number: 42,
            title: "Checkout returns 502".into(),
            service: "Checkout".into(),
            urgency: Urgency::High,
            opened_at: at("14:03:00"),
            acknowledged: Some(Act {
                at: at("14:07:10"),
                by: "Ann Lee".into(),
            }),
            resolved: Some(Act {
                at: at("15:05:00"),
                by: "Bo Chen".into(),
            }),
            responders: vec![person("u-ann", "Ann Lee"), person("u-bo", "Bo Chen")],
            alerts: vec![
                AlertFact {
                    summary: "HTTP 5xx above 5% on checkout-api".into(),
                    source: "Alertmanager".into(),
                    severity: Some(Severity::Critical),
                    event_count: 7,
                    created_at: at("14:03:00"),
                },
                AlertFact {
                    summary: "p99 latency above 2 s".into(),
                    source: "Azure Monitor".into(),
                    severity: Some(Severity::Warning),
                    event_count: 2,
                    created_at: at("14:05:00"),
                },
                AlertFact {
                    summary: "Pod restarts".into(),
                    source: "Alertmanager".into(),
                    severity: None,
                    event_count: 1,
                    created_at: at("14:06:00"),
                },
            ],
            timeline: vec![
                log(
                    "14:03:00",
                    LogKind::Trigger,
                    Some("Alertmanager"),
                    "Triggered through Alertmanager",
                ),
                log(
                    "14:03:01",
                    LogKind::Notify,
                    None,
                    "Notified Ann Lee by e-mail",
                ),
                log(
                    "14:03:01",
                    LogKind::Notify,
                    None,
                    "Notified Ann Lee by phone",
                ),
                log(
                    "14:07:10",
                    LogKind::Acknowledge,
                    Some("Ann Lee"),
                    "Acknowledged by Ann Lee",
                ),
                log("14:20:00", LogKind::Annotate, Some("Ann Lee"), "Note added"),
                log(
                    "15:05:00",
                    LogKind::Resolve,
                    Some("Bo Chen"),
                    "Resolved by Bo Chen",
                ),
            ],
            notes: vec![
                note("14:20:00", "Ann Lee", "Rolled back release 2026.12.07-3"),
                note(
                    "14:58:00",
                    "Bo Chen",
                    "Error rate back to normal.\nWatching for 5 min.",
                ),
            ],
            status_updates: vec![StatusUpdateFact {
                at: at("14:20:00"),
                author: "Ann Lee".into(),
                message: "Checkout is failing for most users; rolling back.".into(),
            }],
            notifications: Notifications {
                email: 2,
                phone: 1,
                webhook: 0,
                chat: 3,
            },
            author: person("u-ann", "Ann Lee"),
        }
    }

    #[test]
    fn a_draft_holds_the_real_times_people_and_notes_and_invents_no_judgement() {
        let p = draft(&facts(), "en");
        assert_eq!(p.title, "Incident #42: Checkout returns 502");
        assert_eq!(p.date, NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        assert_eq!(p.authors, ["Ann Lee"]);
        assert_eq!(p.status, Status::Draft);
        // Judgement is left to people.
        assert_eq!(p.root_causes, None);
        assert_eq!(p.lessons, Lessons::default());
        assert!(p.action_items.is_empty());

        let summary = p.summary.as_deref().unwrap();
        assert!(summary.contains("Checkout returns 502"), "{summary}");
        assert!(summary.contains("high urgency"), "{summary}");
        assert!(summary.contains("1 h 02 min"), "{summary}");
        assert!(
            summary.contains("2 from Alertmanager, 1 from Azure Monitor"),
            "{summary}"
        );

        let trigger = p.trigger.as_deref().unwrap();
        assert_eq!(
            trigger,
            "HTTP 5xx above 5% on checkout-api (a critical alert from Alertmanager at 2026-12-07 14:03 UTC)."
        );
        let detection = p.detection.as_deref().unwrap();
        assert!(
            detection.contains("Alertmanager raised the first alert at 2026-12-07 14:03 UTC"),
            "{detection}"
        );
        assert!(
            detection.contains("Notified Ann Lee by e-mail"),
            "{detection}"
        );
        assert!(
            detection.contains("Ann Lee acknowledged it at 2026-12-07 14:07 UTC, 4 min 10 s after"),
            "{detection}"
        );
        let resolution = p.resolution.as_deref().unwrap();
        assert!(
            resolution.starts_with("Bo Chen resolved it at 2026-12-07 15:05 UTC, 1 h 02 min after"),
            "{resolution}"
        );
        assert!(
            resolution.ends_with("Error rate back to normal.\nWatching for 5 min."),
            "{resolution}"
        );
        let impact = p.impact.as_deref().unwrap();
        assert!(impact.contains("3 alerts (10 events)"), "{impact}");
        assert!(impact.contains("2 people responded"), "{impact}");

        assert_eq!(
            p.figures,
            Figures {
                time_to_acknowledge_seconds: Some(250),
                time_to_resolve_seconds: Some(3720),
                alerts: 3,
                events: 10,
                responders: 2,
                notifications: facts().notifications,
            }
        );
        check(&p).unwrap();
    }

    #[test]
    fn the_timeline_merges_log_notes_and_updates_in_time_order_without_annotations() {
        let p = draft(&facts(), "en");
        let lines: Vec<(String, &str)> = p
            .timeline
            .iter()
            .map(|l| (l.at.format("%H:%M:%S").to_string(), l.text.as_str()))
            .collect();
        let expected = [
            ("14:03:00", "Triggered through Alertmanager"),
            ("14:03:01", "Notified Ann Lee by e-mail"),
            ("14:03:01", "Notified Ann Lee by phone"),
            ("14:07:10", "Acknowledged by Ann Lee"),
            (
                "14:20:00",
                "Note by Ann Lee: Rolled back release 2026.12.07-3",
            ),
            (
                "14:20:00",
                "Status update by Ann Lee: Checkout is failing for most users; rolling back.",
            ),
            (
                "14:58:00",
                "Note by Bo Chen: Error rate back to normal.\nWatching for 5 min.",
            ),
            ("15:05:00", "Resolved by Bo Chen"),
        ];
        assert_eq!(lines, expected.map(|(t, s)| (t.to_string(), s)).to_vec());
    }

    #[test]
    fn an_open_unacknowledged_incident_leaves_resolution_empty_and_says_nobody_acknowledged() {
        let mut f = facts();
        f.acknowledged = None;
        f.resolved = None;
        let p = draft(&f, "en");
        assert_eq!(p.resolution, None);
        assert!(
            p.summary
                .as_deref()
                .unwrap()
                .contains("is not resolved yet")
        );
        assert!(
            p.detection
                .as_deref()
                .unwrap()
                .ends_with("Nobody acknowledged it.")
        );
        assert_eq!(p.figures.time_to_acknowledge_seconds, None);
        assert_eq!(p.figures.time_to_resolve_seconds, None);
        let md = to_markdown(&p, "en");
        assert!(
            md.contains("*What was done to end it, and by whom?*"),
            "{md}"
        );
    }

    #[test]
    fn an_incident_opened_by_hand_names_who_opened_it_as_the_trigger() {
        let mut f = facts();
        f.alerts.clear();
        f.timeline[0] = log(
            "14:03:00",
            LogKind::Trigger,
            Some("Ann Lee"),
            "Opened by Ann Lee",
        );
        let p = draft(&f, "en");
        assert_eq!(
            p.trigger.as_deref(),
            Some("Opened by Ann Lee at 2026-12-07 14:03 UTC.")
        );
        assert!(
            p.summary
                .as_deref()
                .unwrap()
                .ends_with("No alerts: it was opened by hand.")
        );
    }

    #[test]
    fn control_characters_from_monitoring_tools_are_not_kept_and_the_draft_passes_its_check() {
        let mut f = facts();
        f.title = "Disk\u{1b}[2J full\u{202E}".into();
        f.alerts[0].summary = "bad\0summary".into();
        f.notes[0].content = "x".repeat(MAX_TEXT_BYTES + 10);
        let p = draft(&f, "en");
        assert_eq!(p.title, "Incident #42: Disk [2J full ");
        assert!(p.trigger.as_deref().unwrap().starts_with("bad summary"));
        check(&p).unwrap();
    }

    #[test]
    fn a_long_timeline_is_cut_with_a_count_of_what_was_left_out() {
        let mut f = facts();
        f.timeline = (0..MAX_TIMELINE + 50)
            .map(|i| log("14:30:00", LogKind::Notify, None, &format!("Notified #{i}")))
            .collect();
        let p = draft(&f, "en");
        assert_eq!(p.timeline.len(), MAX_TIMELINE);
        // 2,050 log lines + 2 notes + 1 update, 1,999 kept.
        assert_eq!(
            p.timeline.last().unwrap().text,
            "… 54 more entries are left out."
        );
        check(&p).unwrap();
    }

    fn headings(md: &str) -> Vec<(HeadingLevel, String)> {
        let mut out = Vec::new();
        let mut current: Option<(HeadingLevel, String)> = None;
        for e in Parser::new_ext(md, MARKDOWN_OPTIONS) {
            match e {
                Event::Start(Tag::Heading { level, .. }) => current = Some((level, String::new())),
                Event::Text(t) => {
                    if let Some((_, s)) = current.as_mut() {
                        s.push_str(&t);
                    }
                }
                Event::End(TagEnd::Heading(_)) => out.extend(current.take()),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn markdown_has_the_sre_book_headings_and_prompts_where_nothing_was_written() {
        let md = to_markdown(&draft(&facts(), "en"), "en");
        let found: Vec<String> = headings(&md).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            found,
            [
                "Incident #42: Checkout returns 502",
                "Summary",
                "Impact",
                "Root Causes",
                "Trigger",
                "Resolution",
                "Detection",
                "Action Items",
                "Lessons Learned",
                "What went well",
                "What went wrong",
                "Where we got lucky",
                "Timeline",
                "Supporting information",
            ]
        );
        assert!(md.contains("**Date:** 2026-12-07"), "{md}");
        assert!(md.contains("**Status:** Draft"), "{md}");
        assert!(
            md.contains(&format!("*{}*", prompts("en").root_causes)),
            "{md}"
        );
        assert!(
            md.contains(&format!("*{}*", prompts("en").got_lucky)),
            "{md}"
        );
        assert!(
            md.contains("- **2026-12-07 14:07 UTC** Acknowledged by Ann Lee"),
            "{md}"
        );
        assert!(md.contains("**Time to acknowledge:** 4 min 10 s"), "{md}");
    }

    #[test]
    fn markdown_headings_and_prompts_are_in_japanese_for_ja() {
        let p = draft(&facts(), "ja");
        let md = to_markdown(&p, "ja");
        let found: Vec<String> = headings(&md).into_iter().skip(1).map(|(_, t)| t).collect();
        assert_eq!(
            found,
            [
                "概要",
                "影響",
                "根本原因",
                "きっかけ",
                "解決",
                "検知",
                "アクションアイテム",
                "教訓",
                "うまくいったこと",
                "うまくいかなかったこと",
                "運が良かったこと",
                "タイムライン",
                "補足情報",
            ]
        );
        assert!(p.title.starts_with("インシデント #42"));
        assert!(md.contains("1時間02分"), "{md}");
        assert!(md.contains(&prompts("ja").root_causes), "{md}");
    }

    /// Everything a reader of the Markdown would see as structure: headings, links, images,
    /// raw HTML, tables' cells, list items.
    fn structure(md: &str) -> Vec<String> {
        Parser::new_ext(md, MARKDOWN_OPTIONS)
            .filter_map(|e| match e {
                Event::Start(Tag::Heading { level, .. }) => Some(format!("{level:?}")),
                Event::Start(Tag::Link { dest_url, .. }) => Some(format!("link {dest_url}")),
                Event::Start(Tag::Image { dest_url, .. }) => Some(format!("image {dest_url}")),
                Event::Html(h) | Event::InlineHtml(h) => Some(format!("html {h}")),
                Event::Start(Tag::TableCell) => Some("cell".into()),
                Event::Start(Tag::Item) => Some("item".into()),
                Event::Start(Tag::BlockQuote(_)) => Some("quote".into()),
                Event::Start(Tag::CodeBlock(_)) => Some("code".into()),
                Event::Rule => Some("rule".into()),
                _ => None,
            })
            .collect()
    }

    fn plain_text(md: &str) -> String {
        let mut out = String::new();
        for e in Parser::new_ext(md, MARKDOWN_OPTIONS) {
            match e {
                Event::Text(t) | Event::Code(t) => out.push_str(&t),
                Event::SoftBreak | Event::HardBreak => out.push('\n'),
                Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::TableCell) => {
                    out.push('\n')
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn hostile_text_stays_text_in_the_markdown() {
        let clean = to_markdown(&draft(&facts(), "en"), "en");
        let hostile = [
            "# Not a heading",
            "[click](javascript:alert(1))",
            "<script>alert(1)</script>",
            "| a | b |\n|---|---|\n| c | d |",
            "> quoted\n---\n```\ncode\n```",
            "![img](http://evil.invalid/x.png)",
            "1. list\n- item\n    indented code",
            "<http://evil.invalid>",
            "*not emphasis* _nor this_ `nor code`",
            "Title\n===",
        ];
        for evil in hostile {
            let mut f = facts();
            f.title = evil.into();
            f.alerts[0].summary = evil.into();
            f.notes[1].content = evil.into();
            let mut p = draft(&f, "en");
            p.root_causes = Some(evil.into());
            p.action_items = vec![ActionItem {
                id: "AI-1".into(),
                description: evil.into(),
                kind: Some(ActionKind::Prevent),
                owner: Some(UserId("u-ann".into())),
                owner_name: Some(evil.into()),
                due: NaiveDate::from_ymd_opt(2026, 12, 20),
                status: ActionStatus::Open,
            }];
            let mut base = draft(&facts(), "en");
            base.root_causes = Some("x".into());
            base.action_items = p.action_items.clone();
            base.action_items[0].description = "x".into();
            base.action_items[0].owner_name = Some("x".into());
            let md = to_markdown(&p, "en");
            assert_eq!(
                structure(&md),
                structure(&to_markdown(&base, "en")),
                "{evil:?} changed the document's structure:\n{md}"
            );
            // ... and reads back as the same text.
            let text = plain_text(&md);
            let one = one_line(evil);
            assert!(text.contains(one.as_ref()), "{evil:?} lost in:\n{text}");
            assert!(text.contains(evil), "{evil:?} lost in:\n{text}");
            let _ = &clean;
        }
    }

    #[test]
    fn action_items_show_as_a_table_with_owner_due_and_status() {
        let mut p = draft(&facts(), "en");
        p.action_items = vec![
            ActionItem {
                id: "AI-1".into(),
                description: "Alert on 5xx per pod".into(),
                kind: Some(ActionKind::Prevent),
                owner: Some(UserId("u-ann".into())),
                owner_name: Some("Ann Lee".into()),
                due: NaiveDate::from_ymd_opt(2026, 12, 20),
                status: ActionStatus::Open,
            },
            ActionItem {
                id: "AI-2".into(),
                description: "Roll back faster".into(),
                kind: None,
                owner: None,
                owner_name: None,
                due: None,
                status: ActionStatus::Done,
            },
        ];
        let md = to_markdown(&p, "en");
        let text = plain_text(&md);
        for cell in [
            "Action Item",
            "Type",
            "Owner",
            "Due",
            "Status",
            "Alert on 5xx per pod",
            "prevent",
            "Ann Lee",
            "2026-12-20",
            "open",
            "Roll back faster",
            "done",
        ] {
            assert!(text.lines().any(|l| l == cell), "{cell} missing:\n{md}");
        }
        assert_eq!(
            structure(&md).iter().filter(|s| *s == "cell").count(),
            15,
            "{md}"
        );
    }

    fn refused(p: &Postmortem) -> String {
        check(p).unwrap_err().field
    }

    #[test]
    fn check_refusals_name_the_field() {
        let good = || {
            let mut p = draft(&facts(), "en");
            p.action_items = (0..3)
                .map(|i| ActionItem {
                    id: format!("AI-{i}"),
                    description: "Do a thing".into(),
                    kind: None,
                    owner: None,
                    owner_name: None,
                    due: NaiveDate::from_ymd_opt(2026, 12, 31),
                    status: ActionStatus::Open,
                })
                .collect();
            p
        };
        check(&good()).unwrap();

        let mut p = good();
        p.action_items[2].due = NaiveDate::from_ymd_opt(2026, 12, 6);
        assert_eq!(refused(&p), "action_items[2].due");

        let mut p = good();
        p.action_items[1].id = "AI-0".into();
        assert_eq!(refused(&p), "action_items[1].id");

        let mut p = good();
        p.action_items[0].description = " ".into();
        assert_eq!(refused(&p), "action_items[0].description");

        let mut p = good();
        p.title = "t".repeat(MAX_TITLE_CHARS + 1);
        assert_eq!(refused(&p), "title");
        p.title = "ü".repeat(MAX_TITLE_CHARS);
        check(&p).unwrap();
        p.title = "two\nlines".into();
        assert_eq!(refused(&p), "title");

        let mut p = good();
        p.lessons.went_wrong = Some("a\u{7}bell".into());
        assert_eq!(refused(&p), "lessons.went_wrong");
        p.lessons.went_wrong = Some("lines\n\tand tabs are fine".into());
        check(&p).unwrap();

        let mut p = good();
        p.root_causes = Some("x".repeat(MAX_TEXT_BYTES + 1));
        assert_eq!(refused(&p), "root_causes");
        p.root_causes = Some("x".repeat(MAX_TEXT_BYTES));
        check(&p).unwrap();

        let mut p = good();
        p.action_items = (0..=MAX_ACTION_ITEMS)
            .map(|i| ActionItem {
                id: format!("AI-{i}"),
                ..good().action_items[0].clone()
            })
            .collect();
        assert_eq!(refused(&p), "action_items");

        let mut p = good();
        let line = p.timeline[0].clone();
        p.timeline = vec![line; MAX_TIMELINE + 1];
        assert_eq!(refused(&p), "timeline");

        let mut p = good();
        // The 14:07 line moved above two 14:03 ones: the first of those is out of order.
        p.timeline.swap(1, 4);
        assert_eq!(refused(&p), "timeline[2].at");

        let mut p = good();
        p.timeline[3].text = "\u{202E}evil".into();
        assert_eq!(refused(&p), "timeline[3].text");

        let mut p = good();
        p.authors.push(String::new());
        assert_eq!(refused(&p), "authors[1]");

        let mut p = good();
        p.figures.events = -1;
        assert_eq!(refused(&p), "figures.events");
    }

    #[test]
    fn a_put_body_with_an_unknown_field_is_refused_when_read() {
        let p = draft(&facts(), "en");
        let mut json = serde_json::to_value(&p).unwrap();
        let back: Postmortem = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, p);
        json["lessons"]["went_sideways"] = "x".into();
        let err = serde_json::from_value::<Postmortem>(json).unwrap_err();
        assert!(err.to_string().contains("went_sideways"), "{err}");
        // Judgement fields nobody wrote are null, not made-up text.
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["root_causes"], serde_json::Value::Null);
        assert_eq!(json["lessons"]["got_lucky"], serde_json::Value::Null);
        assert_eq!(json["status"], "draft");
    }

    #[test]
    fn a_value_that_looks_like_a_placeholder_is_not_expanded() {
        let mut f = facts();
        f.title = "%{service} %{number}".into();
        let p = draft(&f, "en");
        assert_eq!(p.title, "Incident #42: %{service} %{number}");
    }

    #[test]
    fn names_round_trip() {
        for s in [Status::Draft, Status::InReview, Status::Final] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for k in [
            ActionKind::Mitigate,
            ActionKind::Prevent,
            ActionKind::Process,
            ActionKind::Other,
        ] {
            assert_eq!(ActionKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for s in [ActionStatus::Open, ActionStatus::Done] {
            assert_eq!(ActionStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Status::parse("published"), None);
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(40, "en"), "40 s");
        assert_eq!(format_duration(250, "en"), "4 min 10 s");
        assert_eq!(format_duration(3720, "en"), "1 h 02 min");
        assert_eq!(format_duration(90_000, "ja"), "25時間00分");
        assert_eq!(format_duration(-5, "en"), "0 s");
    }

    proptest::proptest! {
        /// Whatever a person writes in a section, the Markdown reads back as exactly that
        /// text in paragraphs, with no structure of its own.
        #[test]
        fn any_section_text_reads_back_as_itself(text in "[ -~\u{a0}-\u{ff}あ\n]{1,80}") {
            let mut p = draft(&facts(), "en");
            p.root_causes = Some(text.clone());
            let mut base = p.clone();
            base.root_causes = Some("x".into());
            let md = to_markdown(&p, "en");
            proptest::prop_assert_eq!(structure(&md), structure(&to_markdown(&base, "en")));
            // The paragraphs between the "Root Causes" and "Trigger" headings.
            let mut inside = false;
            let mut got = String::new();
            let mut heading = false;
            for e in Parser::new_ext(&md, MARKDOWN_OPTIONS) {
                match e {
                    Event::Start(Tag::Heading { .. }) => heading = true,
                    Event::End(TagEnd::Heading(_)) => heading = false,
                    Event::Text(t) if heading => inside = &*t == "Root Causes",
                    Event::Text(t) if inside => got.push_str(&t),
                    Event::HardBreak | Event::SoftBreak if inside => got.push('\n'),
                    Event::End(TagEnd::Paragraph) if inside => got.push_str("\n\n"),
                    _ => {}
                }
            }
            // What `section` keeps: blank-line-separated paragraphs, each trimmed of line
            // breaks at its edges (Markdown has no empty paragraphs), and spaces at the end
            // of a line, which Markdown does not show.
            let lines = |p: &str| -> String {
                p.split('\n').map(|l| l.trim_end_matches([' ', '\t'])).collect::<Vec<_>>().join("\n")
            };
            let expected: Vec<String> = text
                .split("\n\n")
                .map(|p| p.trim_matches('\n'))
                .filter(|p| !p.trim().is_empty())
                .map(lines)
                .collect();
            let got: Vec<String> = got.split("\n\n").filter(|p| !p.is_empty()).map(lines).collect();
            if expected.is_empty() {
                let prompt = prompts("en").root_causes;
                proptest::prop_assert_eq!(got, vec![prompt]);
            } else {
                proptest::prop_assert_eq!(got, expected);
            }
        }
    }
}
