//! Notifications (pure): what the outbox holds for a person a level reaches, planned from
//! their notification rules for the incident's urgency, and what an incident e-mail says,
//! in the person's language, from the message catalogue the hand-off e-mails use.

use super::contact::ContactKind;
use super::ids::{ContactMethodId, IncidentId, NotificationRuleId, ServiceId, UserId};
use chrono::{Duration, NaiveDateTime};
use std::collections::{BTreeMap, HashMap};

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

/// The channels the dispatcher delivers (all of them; a channel whose provider is not
/// configured waits in the outbox until it is).
pub fn delivered(channel: ContactKind) -> bool {
    matches!(
        channel,
        ContactKind::Email | ContactKind::Phone | ContactKind::Webhook
    )
}

/// How long a contact method hears about one service at most once (storm throttling): a
/// second incident of the same service within it waits for the window's end, then goes out
/// bundled with whatever else waited. Webhooks are machines: never held.
pub fn window(channel: ContactKind) -> Duration {
    match channel {
        ContactKind::Email => Duration::seconds(60),
        ContactKind::Phone => Duration::seconds(120),
        ContactKind::Webhook => Duration::zero(),
    }
}

/// Where a message goes: one person's one address on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Contact {
    pub user: UserId,
    pub channel: ContactKind,
    pub address: String,
}

/// A notification claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub contact: Contact,
    pub incident: IncidentId,
    pub service: ServiceId,
}

/// A message that went to a contact lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentSend {
    pub contact: Contact,
    pub service: ServiceId,
    pub sent_at: NaiveDateTime,
}

/// What to do with claimed notifications (indices into the claimed list).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// Each is one message naming all its notifications' incidents, the first in claim order
    /// first.
    pub messages: Vec<Vec<usize>>,
    /// Held back until the instant: their service reached the contact within the window.
    pub held: Vec<(usize, NaiveDateTime)>,
}

/// Storm control over a claimed batch: per contact, a notification whose service reached
/// the contact within `window(channel)` waits until the window ends; the rest go out now,
/// one message per contact listing them all. A service's first incident is thus never held
/// behind another service's, and 50 incidents of one service in a minute make two or three
/// messages, not 50 calls.
pub fn dispatch(due: &[Due], recent: &[RecentSend], now: NaiveDateTime) -> Dispatch {
    let mut last: HashMap<(&Contact, &ServiceId), NaiveDateTime> = HashMap::new();
    for r in recent {
        let at = last.entry((&r.contact, &r.service)).or_insert(r.sent_at);
        *at = (*at).max(r.sent_at);
    }
    let mut out = Dispatch::default();
    let mut messages: BTreeMap<&Contact, Vec<usize>> = BTreeMap::new();
    for (i, d) in due.iter().enumerate() {
        let w = window(d.contact.channel);
        let held_until = last
            .get(&(&d.contact, &d.service))
            .map(|sent| *sent + w)
            .filter(|until| *until > now);
        match held_until {
            Some(until) => out.held.push((i, until)),
            None if w.is_zero() => out.messages.push(vec![i]),
            None => messages.entry(&d.contact).or_default().push(i),
        }
    }
    out.messages.extend(messages.into_values());
    out.messages.sort_by_key(|m| m[0]);
    out
}

/// The secret a webhook contact method's deliveries are signed with, derived from the
/// server's webhook key so nothing more is stored (and shown once, at creation).
pub fn webhook_secret(root: &[u8], method: &ContactMethodId) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(root).expect("HMAC takes any key length");
    mac.update(b"rota webhook contact method ");
    mac.update(method.as_str().as_bytes());
    format!("whsec_{}", hex::encode(mac.finalize().into_bytes()))
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

/// An incident e-mail to `name`: (subject, body), in `lang` (`handoff::language`). Several
/// incidents (a bundle, `dispatch`) make one e-mail listing each with its own links.
pub fn incident_email(lang: &str, name: &str, items: &[IncidentText<'_>]) -> (String, String) {
    let Some(t) = items.first() else {
        return (String::new(), String::new());
    };
    let number = t.number.to_string();
    if items.len() == 1 {
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
            name = name,
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
        return (subject.into_owned(), body.into_owned());
    }
    let count = items.len().to_string();
    let subject = rust_i18n::t!(
        "incident.bundle.subject",
        locale = lang,
        count = count,
        number = number,
        title = t.title
    );
    let list: Vec<String> = items
        .iter()
        .map(|t| {
            rust_i18n::t!(
                "incident.bundle.item",
                locale = lang,
                number = t.number.to_string(),
                title = t.title,
                service = t.service,
                urgency = t.urgency,
                opened = t.opened,
                incident_url = t.incident_url,
                acknowledge_url = t.acknowledge_url,
                resolve_url = t.resolve_url
            )
            .into_owned()
        })
        .collect();
    let body = rust_i18n::t!(
        "incident.bundle.body",
        locale = lang,
        name = name,
        count = count,
        items = list.join("\n")
    );
    (subject.into_owned(), body.into_owned())
}

/// What a call says to `name` about `items` (the first in full), and what it says when no
/// key was pressed.
pub fn call_text(lang: &str, name: &str, items: &[IncidentText<'_>]) -> (String, String) {
    let goodbye = rust_i18n::t!("incident.call.goodbye", locale = lang).into_owned();
    let Some(t) = items.first() else {
        return (String::new(), goodbye);
    };
    let number = t.number.to_string();
    let text = if items.len() == 1 {
        rust_i18n::t!(
            "incident.call.one",
            locale = lang,
            name = name,
            number = number,
            service = t.service,
            title = t.title
        )
    } else {
        rust_i18n::t!(
            "incident.call.many",
            locale = lang,
            name = name,
            count = items.len().to_string(),
            number = number,
            service = t.service,
            title = t.title
        )
    };
    (text.into_owned(), goodbye)
}

/// What a keypress on a call did, said back to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    Acknowledged(usize),
    Resolved(usize),
    /// Everything the call named was acknowledged or resolved already.
    Nothing,
    /// Not 4 or 6: asked again.
    Unknown,
}

/// The words for a keypress's outcome.
pub fn key_reply(lang: &str, outcome: KeyOutcome) -> String {
    match outcome {
        KeyOutcome::Acknowledged(n) => {
            rust_i18n::t!(
                "incident.call.acknowledged",
                locale = lang,
                count = n.to_string()
            )
        }
        KeyOutcome::Resolved(n) => {
            rust_i18n::t!(
                "incident.call.resolved",
                locale = lang,
                count = n.to_string()
            )
        }
        KeyOutcome::Nothing => rust_i18n::t!("incident.call.nothing", locale = lang),
        KeyOutcome::Unknown => rust_i18n::t!("incident.call.again", locale = lang),
    }
    .into_owned()
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
        let (subject, body) = incident_email("en", "Ada", std::slice::from_ref(&t));
        assert!(
            subject.contains("#7") && subject.contains("Disk full"),
            "{subject}"
        );
        assert!(
            body.contains("https://rota/act/a") && body.contains("https://rota/act/r"),
            "{body}"
        );
        let (subject, body) = incident_email("ja", "Ada", std::slice::from_ref(&t));
        assert!(subject.contains("インシデント"), "{subject}");
        assert!(body.contains("確認"), "{body}");
        let two = [t, two_of(8)];
        let (subject, body) = incident_email("en", "Ada", &two);
        assert!(subject.starts_with("[Rota] 2 incidents"), "{subject}");
        assert!(
            body.contains("#7 Disk full") && body.contains("#8 Disk full"),
            "{body}"
        );
        let (say, _) = call_text("ja", "Ada", &two);
        assert!(say.contains("2 件") && say.contains("4"), "{say}");
        assert_eq!(
            key_reply("en", KeyOutcome::Acknowledged(2)),
            "Acknowledged: 2. Goodbye."
        );
    }

    fn two_of(number: i64) -> IncidentText<'static> {
        IncidentText {
            number,
            title: "Disk full",
            service: "Checkout",
            urgency: "high",
            opened: "2026-01-05 18:00 JST",
            details: "",
            incident_url: "https://rota/incidents/2",
            acknowledge_url: "https://rota/act/a2",
            resolve_url: "https://rota/act/r2",
        }
    }

    fn due(user: &str, channel: ContactKind, service: &str, n: usize) -> Due {
        Due {
            contact: Contact {
                user: UserId(user.into()),
                channel,
                address: format!("{user}-{}", channel.as_str()),
            },
            incident: IncidentId(format!("i{n}")),
            service: ServiceId(service.into()),
        }
    }

    #[test]
    fn a_storm_on_one_service_is_bundled_and_held_but_each_services_first_goes_at_once() {
        let now = chrono::DateTime::UNIX_EPOCH.naive_utc() + Duration::hours(1);
        // Nothing sent lately: everything due for a contact goes out as one message;
        // webhooks one each.
        let batch = vec![
            due("ada", ContactKind::Phone, "db", 0),
            due("ada", ContactKind::Phone, "db", 1),
            due("ada", ContactKind::Phone, "web", 2),
            due("ada", ContactKind::Email, "db", 3),
            due("ada", ContactKind::Webhook, "db", 4),
            due("ada", ContactKind::Webhook, "db", 5),
            due("bo", ContactKind::Phone, "db", 6),
        ];
        let d = dispatch(&batch, &[], now);
        assert!(d.held.is_empty());
        assert_eq!(
            d.messages,
            vec![vec![0, 1, 2], vec![3], vec![4], vec![5], vec![6]]
        );
        // Ada was called about db 30 s ago: db waits until 120 s after that call, web (its
        // first) goes now; her e-mail about db a minute ago no longer holds anything.
        let recent = [
            RecentSend {
                contact: batch[0].contact.clone(),
                service: ServiceId("db".into()),
                sent_at: now - Duration::seconds(30),
            },
            RecentSend {
                contact: batch[3].contact.clone(),
                service: ServiceId("db".into()),
                sent_at: now - Duration::seconds(60),
            },
            RecentSend {
                contact: batch[4].contact.clone(),
                service: ServiceId("db".into()),
                sent_at: now,
            },
        ];
        let d = dispatch(&batch, &recent, now);
        assert_eq!(
            d.held,
            vec![
                (0, now + Duration::seconds(90)),
                (1, now + Duration::seconds(90))
            ]
        );
        assert_eq!(
            d.messages,
            vec![vec![2], vec![3], vec![4], vec![5], vec![6]]
        );
    }

    #[test]
    fn webhook_secrets_differ_per_method_and_key() {
        let a = webhook_secret(b"k1", &ContactMethodId("m1".into()));
        assert!(a.starts_with("whsec_") && a.len() == 6 + 64);
        assert_ne!(a, webhook_secret(b"k1", &ContactMethodId("m2".into())));
        assert_ne!(a, webhook_secret(b"k2", &ContactMethodId("m1".into())));
    }
}
