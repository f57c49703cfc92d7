//! Test notifications (pure): how often a contact method may be tested, and what a test says
//! on each channel, in the person's language (`locales/contact-tests.yml`). A test goes out
//! the way a page would (the e-mail outbox, a Twilio call, a signed webhook POST) but names
//! no incident, so nothing can be acknowledged or resolved from it.

use crate::domain::contact::ContactKind;
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use rust_i18n::t;

/// A contact method is tested at most once in this many seconds: a test is a real e-mail,
/// call or POST to an address, and a button pressed in a loop must not become a flood.
pub const COOLDOWN_SECONDS: i64 = 60;

/// How long until a method last tested at `last` may be tested again (`None`: now).
pub fn wait(last: Option<NaiveDateTime>, now: NaiveDateTime) -> Option<Duration> {
    let next = last? + Duration::seconds(COOLDOWN_SECONDS);
    (next > now).then(|| next - now)
}

/// The words of a test, for the person called `name`, about their method `label`.
pub struct Words<'a> {
    pub lang: &'a str,
    pub name: &'a str,
    pub label: &'a str,
}

/// The e-mail's subject and plain-text body.
pub fn email(w: &Words<'_>, address: &str) -> (String, String) {
    let subject = t!("contact_test.email.subject", locale = w.lang).into_owned();
    let body = t!(
        "contact_test.email.body",
        locale = w.lang,
        name = w.name,
        label = w.label,
        address = address
    )
    .into_owned();
    (subject, body)
}

/// What the test call says before it hangs up.
pub fn call(w: &Words<'_>) -> String {
    t!(
        "contact_test.call",
        locale = w.lang,
        name = w.name,
        label = w.label
    )
    .into_owned()
}

/// The body of a webhook test, shaped like PagerDuty's V3 `pagey.ping` event: a receiver
/// checks the signature and the shape without anything to act on.
pub fn webhook_body(
    test_id: &str,
    method_id: &str,
    user_id: &str,
    at: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "event": {
            "id": test_id,
            "event_type": "pagey.ping",
            "resource_type": "pagey",
            "occurred_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "agent": {"type": "service_reference", "summary": "Rota"},
            "data": {
                "type": "ping",
                "message": "A test notification from Rota: this contact method works.",
                "contact_method": {"id": method_id, "type": ContactKind::Webhook.pd_reference_type()},
                "user": {"id": user_id, "type": "user_reference"},
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn a_method_is_tested_at_most_once_a_minute() {
        assert_eq!(wait(None, at(0)), None);
        assert_eq!(wait(Some(at(0)), at(0)), Some(Duration::seconds(60)));
        assert_eq!(wait(Some(at(0)), at(59)), Some(Duration::seconds(1)));
        assert_eq!(wait(Some(at(0)), at(60)), None);
        assert_eq!(wait(Some(at(0)), at(3_600)), None);
    }

    #[test]
    fn the_words_are_in_english_and_japanese() {
        let en = Words {
            lang: "en",
            name: "Ada",
            label: "Work",
        };
        let ja = Words { lang: "ja", ..en };
        let (subject, body) = email(&en, "ada@example.com");
        assert!(subject.contains("test"), "{subject}");
        assert!(
            body.contains("Ada") && body.contains("Work") && body.contains("ada@example.com"),
            "{body}"
        );
        let (subject_ja, body_ja) = email(&ja, "ada@example.com");
        assert_ne!(subject, subject_ja);
        assert!(
            body_ja.contains("テスト") && body_ja.contains("Work"),
            "{body_ja}"
        );
        assert!(call(&en).contains("Ada") && call(&ja).contains("テスト"));
    }

    #[test]
    fn a_webhook_test_names_the_method_and_no_incident() {
        let body = webhook_body("t1", "m1", "u1", chrono::DateTime::UNIX_EPOCH);
        assert_eq!(body["event"]["event_type"], "pagey.ping");
        assert_eq!(body["event"]["data"]["contact_method"]["id"], "m1");
        assert!(body.to_string().find("incident").is_none(), "{body}");
    }
}
