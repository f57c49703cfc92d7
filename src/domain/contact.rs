//! Contact methods and notification rules (pure): how a person can be reached (`email`,
//! `phone`, `webhook`), PagerDuty's names for them, the addresses each accepts (a phone number
//! in E.164, a webhook over https), who made a method (SCIM follows the directory; a person's
//! own are never touched by it) and the rules every new person starts with. The rows live in
//! `store::contact_methods`; nothing here reads them.

use super::service::Urgency;
use serde::Serialize;

/// How a contact method reaches a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    Phone,
    /// An https endpoint that is POSTed the notification (our equivalent of PagerDuty's push
    /// and chat channels, for scripts and bridges).
    Webhook,
}

impl ContactKind {
    pub const ALL: [ContactKind; 3] =
        [ContactKind::Email, ContactKind::Phone, ContactKind::Webhook];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactKind::Email => "email",
            ContactKind::Phone => "phone",
            ContactKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<ContactKind> {
        ContactKind::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// PagerDuty's `type` of a contact method of this kind. PagerDuty has no webhook
    /// contact method; `webhook_contact_method` is ours, named the same way.
    pub fn pd_type(self) -> &'static str {
        match self {
            ContactKind::Email => "email_contact_method",
            ContactKind::Phone => "phone_contact_method",
            ContactKind::Webhook => "webhook_contact_method",
        }
    }

    /// The `type` of a reference to a contact method of this kind.
    pub fn pd_reference_type(self) -> &'static str {
        match self {
            ContactKind::Email => "email_contact_method_reference",
            ContactKind::Phone => "phone_contact_method_reference",
            ContactKind::Webhook => "webhook_contact_method_reference",
        }
    }

    /// The kind a PagerDuty `type` names (the method or a reference to one).
    pub fn from_pd_type(s: &str) -> Option<ContactKind> {
        let s = s.strip_suffix("_reference").unwrap_or(s);
        ContactKind::ALL.into_iter().find(|k| k.pd_type() == s)
    }
}

/// Who made a contact method. SCIM-made ones follow the directory (Entra's `emails` and
/// `phoneNumbers`): added, changed and removed with it. A person's own are never touched by
/// SCIM, so a number they added survives the next provisioning cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactSource {
    Scim,
    User,
}

impl ContactSource {
    pub const ALL: [ContactSource; 2] = [ContactSource::Scim, ContactSource::User];

    pub fn as_str(self) -> &'static str {
        match self {
            ContactSource::Scim => "scim",
            ContactSource::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<ContactSource> {
        ContactSource::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

super::shown_by_name!(ContactKind, ContactSource);

/// PagerDuty's `type` of a notification rule.
pub const RULE_TYPE: &str = "assignment_notification_rule";

/// The longest wait before a rule notifies: a day, as PagerDuty allows.
pub const MAX_START_DELAY_MINUTES: i64 = 1440;

/// Longest label (PagerDuty's limit on names).
pub const MAX_LABEL_CHARS: usize = 100;

/// Longest webhook URL we keep.
pub const MAX_URL_CHARS: usize = 2000;

/// A rule's `start_delay_in_minutes`: 0 to a day.
pub fn start_delay(minutes: i64) -> Result<i32, String> {
    if (0..=MAX_START_DELAY_MINUTES).contains(&minutes) {
        Ok(minutes as i32)
    } else {
        Err(format!(
            "is {minutes}: a number of minutes from 0 to {MAX_START_DELAY_MINUTES}"
        ))
    }
}

/// A contact method's label: trimmed, not empty, at most 100 characters, safe to show.
pub fn label(raw: &str) -> Result<String, String> {
    let label = raw.trim();
    if label.is_empty() {
        return Err("can't be blank".into());
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(format!("is longer than {MAX_LABEL_CHARS} characters"));
    }
    super::user::safe_name(label)?;
    Ok(label.to_string())
}

/// A phone number without the characters people format it with (spaces, dashes, dots,
/// parentheses): "+1 (425) 555-0100" becomes "+14255550100". SCIM filters on phone numbers
/// compare this form too, since that is what is stored.
pub fn strip_phone_formatting(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        .collect()
}

/// A phone number in E.164 (`+`, then 8 to 15 digits, the first not 0), once formatting is
/// stripped. Without the leading `+` the country is unknown, and guessing it calls the wrong
/// person, so such a number is refused.
pub fn phone(raw: &str) -> Result<String, String> {
    let number = strip_phone_formatting(raw.trim());
    let shown = super::text::clean(raw.trim(), 40);
    let Some(digits) = number.strip_prefix('+') else {
        return Err(format!(
            "'{shown}' is not an E.164 phone number: it must start with + and the country code, such as +14255550100"
        ));
    };
    let well_formed = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if !well_formed {
        return Err(format!(
            "'{shown}' is not an E.164 phone number: + then 8 to 15 digits, the first not 0, such as +14255550100"
        ));
    }
    Ok(number)
}

/// PagerDuty's split form: `country_code` (1–1999) and the national number as `address`,
/// made into E.164 ("+" country code, national number).
pub fn phone_split(country_code: i64, national: &str) -> Result<String, String> {
    if !(1..=1999).contains(&country_code) {
        return Err(format!("country_code is {country_code}: from 1 to 1999"));
    }
    let national = strip_phone_formatting(national.trim());
    // A number sent already in E.164 must name the same country.
    if let Some(full) = national.strip_prefix('+') {
        if !full.starts_with(&country_code.to_string()) {
            return Err(format!(
                "'+{full}' does not start with the country code {country_code}"
            ));
        }
        return phone(&national);
    }
    phone(&format!("+{country_code}{national}"))
}

/// A webhook's URL: https, or http to this machine (`localhost`, `127.0.0.1`) so tests and
/// local bridges need no certificate. No user name or password in it: they would be shown
/// in every answer.
pub fn webhook(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("is longer than {MAX_URL_CHARS} characters"));
    }
    let shown = super::text::clean(raw, 80);
    let url = url::Url::parse(raw).map_err(|e| format!("'{shown}' is not a URL: {e}"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        _ => {
            return Err(format!(
                "'{shown}' must be an https URL (http only to localhost or 127.0.0.1)"
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("'{shown}' has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold a user name or password".into());
    }
    Ok(url.to_string())
}

/// A contact method's address as stored, by kind: an e-mail address, an E.164 number (from
/// either form), a webhook URL. The error is the reason; which field it names is the caller's.
pub fn address(kind: ContactKind, raw: &str, country_code: Option<i64>) -> Result<String, String> {
    match (kind, country_code) {
        (ContactKind::Email, _) => super::user::email(raw),
        (ContactKind::Phone, Some(code)) => phone_split(code, raw),
        (ContactKind::Phone, None) => phone(raw),
        (ContactKind::Webhook, _) => webhook(raw),
    }
}

/// One rule to make: notify through `method` at `urgency`, `start_delay_in_minutes` after
/// the person is assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStep<T> {
    pub urgency: Urgency,
    pub start_delay_in_minutes: i32,
    pub method: T,
}

/// The rules a new person starts with: at high urgency their e-mail and their phone (if they
/// have one) at once; at low urgency their e-mail at once. PagerDuty starts people the same
/// way, so an incident reaches them before they have opened their settings.
pub fn default_rules<T: Clone>(email: Option<&T>, phone: Option<&T>) -> Vec<RuleStep<T>> {
    let step = |urgency, method: &T| RuleStep {
        urgency,
        start_delay_in_minutes: 0,
        method: method.clone(),
    };
    let mut rules = Vec::new();
    rules.extend(email.map(|m| step(Urgency::High, m)));
    rules.extend(phone.map(|m| step(Urgency::High, m)));
    rules.extend(email.map(|m| step(Urgency::Low, m)));
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_sources_round_trip_their_names() {
        for k in ContactKind::ALL {
            assert_eq!(ContactKind::parse(k.as_str()), Some(k));
            assert_eq!(ContactKind::from_pd_type(k.pd_type()), Some(k));
            assert_eq!(ContactKind::from_pd_type(k.pd_reference_type()), Some(k));
        }
        for s in ContactSource::ALL {
            assert_eq!(ContactSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(ContactKind::from_pd_type("sms_contact_method"), None);
        assert_eq!(ContactKind::parse("pager"), None);
    }

    #[test]
    fn phone_numbers_are_e164_once_formatting_is_stripped() {
        assert_eq!(phone("+1 (425) 555-0100").unwrap(), "+14255550100");
        assert_eq!(phone(" +81 90.1234.5678 ").unwrap(), "+819012345678");
        assert_eq!(phone("+4930123456").unwrap(), "+4930123456");
        for bad in [
            "425-555-0100",
            "0044 20 7946 0000",
            "+0 425 555 0100",
            "+1234567",
            "+1234567890123456",
            "+1 425 555 01OO",
            "+",
            "",
            "++14255550100",
        ] {
            assert!(phone(bad).is_err(), "{bad:?}");
        }
        assert!(
            phone("4255550100")
                .unwrap_err()
                .contains("must start with +")
        );
    }

    #[test]
    fn the_split_form_becomes_e164() {
        assert_eq!(phone_split(1, "(425) 555-0100").unwrap(), "+14255550100");
        assert_eq!(phone_split(81, "90 1234 5678").unwrap(), "+819012345678");
        assert_eq!(
            phone_split(44, "+44 20 7946 0000").unwrap(),
            "+442079460000"
        );
        assert!(phone_split(0, "4255550100").is_err());
        assert!(phone_split(2000, "4255550100").is_err());
        assert!(phone_split(1, "+44 20 7946 0000").is_err());
        assert!(phone_split(1, "12").is_err());
    }

    #[test]
    fn webhooks_are_https_or_local_http() {
        assert_eq!(
            webhook("https://hooks.example.com/rota").unwrap(),
            "https://hooks.example.com/rota"
        );
        assert!(webhook("http://localhost:8080/hook").is_ok());
        assert!(webhook("http://127.0.0.1:9/hook").is_ok());
        for bad in [
            "http://hooks.example.com/rota",
            "ftp://example.com/",
            "hooks.example.com",
            "https://user:secret@example.com/",
            "javascript:alert(1)",
            "",
        ] {
            assert!(webhook(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_checked_by_kind() {
        assert_eq!(
            address(ContactKind::Email, " ada@example.com ", None).unwrap(),
            "ada@example.com"
        );
        assert!(address(ContactKind::Email, "not-an-address", None).is_err());
        assert_eq!(
            address(ContactKind::Phone, "425 555 0100", Some(1)).unwrap(),
            "+14255550100"
        );
        assert!(address(ContactKind::Phone, "425 555 0100", None).is_err());
        assert!(address(ContactKind::Webhook, "http://example.com", None).is_err());
    }

    #[test]
    fn delays_and_labels_are_bounded() {
        assert_eq!(start_delay(0), Ok(0));
        assert_eq!(start_delay(1440), Ok(1440));
        assert!(start_delay(-1).is_err());
        assert!(start_delay(1441).is_err());
        assert_eq!(label(" Work ").unwrap(), "Work");
        assert!(label(" ").is_err());
        assert!(label("a\u{202E}b").is_err());
        assert!(label(&"x".repeat(101)).is_err());
    }

    #[test]
    fn a_new_person_is_paged_by_email_and_phone_at_high_urgency_and_email_at_low() {
        let rules = default_rules(Some(&"e"), Some(&"p"));
        let got: Vec<_> = rules
            .iter()
            .map(|r| (r.urgency, r.start_delay_in_minutes, r.method))
            .collect();
        assert_eq!(
            got,
            vec![
                (Urgency::High, 0, "e"),
                (Urgency::High, 0, "p"),
                (Urgency::Low, 0, "e")
            ]
        );
        assert_eq!(default_rules(Some(&"e"), None).len(), 2);
        assert_eq!(default_rules::<&str>(None, None), vec![]);
    }
}
