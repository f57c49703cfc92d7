//! Notifications (pure): what the outbox holds for a person a level reaches, planned from
//! their notification rules for the incident's urgency, and what an incident e-mail says,
//! in the person's language, from the message catalogue the hand-off e-mails use.

use super::contact::ContactKind;
use super::ids::{ContactMethodId, NotificationRuleId, UserId};
use chrono::{Duration, NaiveDateTime};

/// A notification's state in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Due at `next_attempt_at` (first try or a retry).
    Pending,
    Sent,
    /// Given up: a permanent failure, or too many attempts.
    Failed,
    /// The incident was acknowledged or resolved before it went out.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "pending" => Some(Status::Pending),
            "sent" => Some(Status::Sent),
            "failed" => Some(Status::Failed),
            "cancelled" => Some(Status::Cancelled),
            _ => None,
        }
    }
}

crate::domain::shown_by_name!(Status);

/// One of a person's rules, with where it notifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: NotificationRuleId,
    pub method: ContactMethodId,
    pub channel: ContactKind,
    pub address: String,
    pub start_delay_in_minutes: i32,
}

/// A notification to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub user: UserId,
    pub rule: NotificationRuleId,
    pub channel: ContactKind,
    pub address: String,
    pub due_at: NaiveDateTime,
}

/// The channels the dispatcher delivers. Rules on other channels are kept (people set them
/// up ahead) and planned once their channel is delivered.
pub fn delivered(channel: ContactKind) -> bool {
    matches!(channel, ContactKind::Email)
}

/// What the people reached at `now` are sent: each of their rules, due after its delay.
/// People with no rules for the urgency get nothing (the timeline of the level says whom it
/// reached).
pub fn plan<'a>(
    reached: &[UserId],
    rules_of: impl Fn(&UserId) -> &'a [Rule],
    now: NaiveDateTime,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for user in reached {
        for rule in rules_of(user) {
            if !delivered(rule.channel) {
                continue;
            }
            out.push(Planned {
                user: user.clone(),
                rule: rule.id.clone(),
                channel: rule.channel,
                address: rule.address.clone(),
                due_at: now + Duration::minutes(i64::from(rule.start_delay_in_minutes.max(0))),
            });
        }
    }
    out
}

/// An address as the timeline shows it: enough to tell which, not the whole of it.
pub fn masked(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => {
            let n = address.chars().count();
            let tail: String = address.chars().skip(n.saturating_sub(4)).collect();
            format!("***{tail}")
        }
    }
}

/// What an incident e-mail names, already written for the person (times in their zone).
pub struct IncidentText<'a> {
    pub name: &'a str,
    pub number: i64,
    pub title: &'a str,
    pub service: &'a str,
    pub urgency: &'a str,
    pub opened: &'a str,
    pub details: &'a str,
    pub incident_url: &'a str,
    pub acknowledge_url: &'a str,
    pub resolve_url: &'a str,
}

/// An incident e-mail: (subject, body), in `lang` (`handoff::language`).
pub fn incident_email(lang: &str, t: &IncidentText<'_>) -> (String, String) {
    let number = t.number.to_string();
    let subject = rust_i18n::t!(
        "incident.triggered.subject",
        locale = lang,
        number = number,
        title = t.title,
        service = t.service
    );
    let body = rust_i18n::t!(
        "incident.triggered.body",
        locale = lang,
        name = t.name,
        number = number,
        title = t.title,
        service = t.service,
        urgency = t.urgency,
        opened = t.opened,
        details = t.details,
        incident_url = t.incident_url,
        acknowledge_url = t.acknowledge_url,
        resolve_url = t.resolve_url
    );
    (subject.into_owned(), body.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, channel: ContactKind, delay: i32) -> Rule {
        Rule {
            id: NotificationRuleId(id.into()),
            method: ContactMethodId(format!("m-{id}")),
            channel,
            address: format!("{id}@example.com"),
            start_delay_in_minutes: delay,
        }
    }

    #[test]
    fn each_rule_of_each_person_reached_is_due_after_its_delay() {
        let now = chrono::DateTime::UNIX_EPOCH.naive_utc();
        let ada = vec![
            rule("e0", ContactKind::Email, 0),
            rule("e5", ContactKind::Email, 5),
        ];
        let none: Vec<Rule> = Vec::new();
        let users = [UserId("ada".into()), UserId("bo".into())];
        let planned = plan(&users, |u| if u.0 == "ada" { &ada } else { &none }, now);
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[1].due_at, now + Duration::minutes(5));
        assert!(planned.iter().all(|p| p.user.0 == "ada"));
    }

    #[test]
    fn addresses_are_masked_on_the_timeline() {
        assert_eq!(masked("ada@example.com"), "a***@example.com");
        assert_eq!(masked("+81312345678"), "***5678");
    }

    #[test]
    fn the_email_is_in_the_persons_language() {
        let t = IncidentText {
            name: "Ada",
            number: 7,
            title: "Disk full",
            service: "Checkout",
            urgency: "high",
            opened: "2026-01-05 18:00 JST",
            details: "free: 3%",
            incident_url: "https://rota/incidents/1",
            acknowledge_url: "https://rota/act/a",
            resolve_url: "https://rota/act/r",
        };
        let (subject, body) = incident_email("en", &t);
        assert!(
            subject.contains("#7") && subject.contains("Disk full"),
            "{subject}"
        );
        assert!(
            body.contains("https://rota/act/a") && body.contains("https://rota/act/r"),
            "{body}"
        );
        let (subject, body) = incident_email("ja", &t);
        assert!(subject.contains("インシデント"), "{subject}");
        assert!(body.contains("確認"), "{body}");
    }
}
