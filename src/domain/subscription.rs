//! Status updates and the people subscribed to them (PagerDuty's stakeholder communication):
//! what a subscription follows, the e-mail an update becomes in the subscriber's language, and
//! the unsubscribe link. Pure: `store::status_updates` keeps them, `use_cases::status_updates`
//! decides with these rules.

use super::ids::{IncidentId, ServiceId, TeamId};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The longest status update (PagerDuty caps a message's length too; an update is read in an
/// e-mail, not a document).
pub const MAX_MESSAGE_CHARS: usize = 10_000;

/// What a subscription follows: one incident, every incident of a service, or of a team's
/// services.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Incident(IncidentId),
    Service(ServiceId),
    Team(TeamId),
}

impl Target {
    /// Its name on the wire (`subscribable_type` in the answers, the `/status_updates/
    /// subscribers` paths).
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Incident(_) => "incident",
            Target::Service(_) => "service",
            Target::Team(_) => "team",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Target::Incident(id) => id.as_str(),
            Target::Service(id) => id.as_str(),
            Target::Team(id) => id.as_str(),
        }
    }
}

/// The unsubscribe token of subscription `id`: the id and an HMAC-SHA256 of it under the
/// server's key. It needs no row of its own and lives as long as the subscription: a new
/// subscription has a new id, so an old e-mail's link never ends a later one.
pub fn unsubscribe_token(key: &[u8], id: &str) -> String {
    format!("{id}.{}", hex::encode(mac(key, id).finalize().into_bytes()))
}

/// The subscription a token names, if its MAC is right (compared in constant time).
pub fn verify_unsubscribe(key: &[u8], token: &str) -> Option<String> {
    // Ids are UUIDs; anything much longer is not ours and is refused before hashing.
    if token.len() > 200 {
        return None;
    }
    let (id, sig) = token.rsplit_once('.')?;
    let sig = hex::decode(sig).ok()?;
    mac(key, id).verify_slice(&sig).ok()?;
    Some(id.to_owned())
}

fn mac(key: &[u8], id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    // The purpose is part of what is signed, so no other token made with this key fits here.
    mac.update(b"unsubscribe:");
    mac.update(id.as_bytes());
    mac
}

/// The URL an e-mail's `List-Unsubscribe` header names, which a mail client POSTs
/// `List-Unsubscribe=One-Click` to (RFC 8058): an absolute http(s) URL, kept as `url` writes
/// it, holding nothing that would end the header's `<…>` or start a second URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubscribeUrl(String);

impl UnsubscribeUrl {
    pub fn parse(raw: &str) -> Option<UnsubscribeUrl> {
        let url = url::Url::parse(raw).ok()?;
        let written = url.as_str();
        let plain = written
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | ','));
        (matches!(url.scheme(), "https" | "http") && url.has_host() && plain)
            .then(|| UnsubscribeUrl(written.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `List-Unsubscribe` header's value: `<URL>`.
    pub fn header_value(&self) -> String {
        format!("<{}>", self.0)
    }
}

/// The body a one-click unsubscribe POSTs, and the `List-Unsubscribe-Post` header's value.
pub const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// What a status update's e-mail says, before it is put in a language.
pub struct UpdateText<'a> {
    pub name: &'a str,
    pub number: i64,
    pub title: &'a str,
    pub service: &'a str,
    pub status: &'a str,
    pub author: &'a str,
    pub message: &'a str,
    /// When it was posted, in the subscriber's zone.
    pub at: &'a str,
    pub incident_url: &'a str,
    pub unsubscribe_url: &'a str,
}

/// (subject, body) of a status update for a subscriber, in `lang` (`locales/communication.yml`).
pub fn update_email(lang: &str, t: &UpdateText) -> (String, String) {
    let subject = rust_i18n::t!(
        "status_update.subject",
        locale = lang,
        number = t.number.to_string(),
        title = t.title
    )
    .into_owned();
    let status = rust_i18n::t!(format!("status.{}", t.status), locale = lang);
    let body = rust_i18n::t!(
        "status_update.body",
        locale = lang,
        name = t.name,
        number = t.number.to_string(),
        title = t.title,
        service = t.service,
        status = status,
        author = t.author,
        at = t.at,
        message = t.message,
        incident_url = t.incident_url,
        unsubscribe_url = t.unsubscribe_url
    )
    .into_owned();
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsubscribe_token_names_its_subscription_and_nothing_else() {
        let key = b"k".repeat(64);
        let token = unsubscribe_token(&key, "0190-sub");
        assert_eq!(
            verify_unsubscribe(&key, &token).as_deref(),
            Some("0190-sub")
        );
        // Another key, another id under the same MAC, a cut MAC, junk: refused.
        assert_eq!(verify_unsubscribe(&b"j".repeat(64), &token), None);
        let (_, sig) = token.rsplit_once('.').unwrap();
        assert_eq!(verify_unsubscribe(&key, &format!("0190-other.{sig}")), None);
        assert_eq!(verify_unsubscribe(&key, &token[..token.len() - 2]), None);
        assert_eq!(verify_unsubscribe(&key, "no-dot"), None);
        assert_eq!(verify_unsubscribe(&key, &"a".repeat(500)), None);
    }

    #[test]
    fn unsubscribe_urls_are_absolute_http_urls_that_fit_in_the_header() {
        let url = UnsubscribeUrl::parse("https://rota.example/unsubscribe/0190-sub.abcd").unwrap();
        assert_eq!(
            url.header_value(),
            "<https://rota.example/unsubscribe/0190-sub.abcd>"
        );
        assert_eq!(
            UnsubscribeUrl::parse("HTTPS://Rota.Example:443/x")
                .unwrap()
                .as_str(),
            "https://rota.example/x"
        );
        // What would end `<…>` is written percent-encoded.
        assert_eq!(
            UnsubscribeUrl::parse("https://rota.example/a>b c")
                .unwrap()
                .as_str(),
            "https://rota.example/a%3Eb%20c"
        );
        for bad in [
            "/unsubscribe/x",
            "mailto:rota@example.com",
            "https://rota.example/a,b",
            "https://rota.example/?a=1,2",
            "",
        ] {
            assert_eq!(UnsubscribeUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_update_is_written_in_the_subscriber_s_language() {
        let t = UpdateText {
            name: "Ada",
            number: 12,
            title: "Checkout errors",
            service: "Checkout",
            status: "acknowledged",
            author: "Bo",
            message: "Rolled back; error rate falling.",
            at: "2026-12-07 10:00 UTC",
            incident_url: "https://rota/incidents/1",
            unsubscribe_url: "https://rota/unsubscribe/x",
        };
        let (subject, body) = update_email("en", &t);
        assert!(
            subject.contains("#12") && subject.contains("Checkout errors"),
            "{subject}"
        );
        assert!(body.contains("Rolled back; error rate falling."), "{body}");
        assert!(
            body.contains("Acknowledged") && body.contains("https://rota/unsubscribe/x"),
            "{body}"
        );
        let (subject, body) = update_email("ja", &t);
        assert!(subject.contains("状況"), "{subject}");
        assert!(
            body.contains("対応中") && body.contains("配信停止"),
            "{body}"
        );
    }
}
