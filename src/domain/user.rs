//! What makes a valid user and team record: names, e-mail addresses, time zones, the
//! case-folded keys that make user names and team names unique regardless of case, the one
//! rule for which characters a name may hold (sign-in, REST and SCIM all ask it), and who may
//! have set a user's sign-in name.

use crate::domain::text::is_bidi_control;

use serde::Serialize;

/// Longest display name we accept (PagerDuty's limit is 100 characters).
pub const MAX_NAME_CHARS: usize = 100;

/// The uniqueness key for user names and team names: Entra treats them case-insensitively.
/// SCIM filters on userName and a group's displayName compare it (see `caseless`).
pub fn name_key(name: &str) -> String {
    super::caseless::key(name.trim())
}

/// Longest sign-in name we accept (an Entra userPrincipalName has at most 113 characters).
pub const MAX_USER_NAME_CHARS: usize = 256;

/// Whether a name is safe to store, show and log: no control character (C0, DEL or C1: a
/// newline or an ANSI escape forges log lines and garbles pages) and no bidirectional
/// embedding, override or isolate (U+202A–U+202E, U+2066–U+2069), which makes text display
/// in another order than it is stored. Sign-in, the REST API and SCIM all ask this one rule.
pub fn safe_name(name: &str) -> Result<(), String> {
    let unsafe_char = |c: &char| c.is_control() || is_bidi_control(*c);
    match name.chars().find(unsafe_char) {
        None => Ok(()),
        Some(c) if c.is_control() => Err(format!(
            "must not contain control characters (it has U+{:04X})",
            c as u32
        )),
        Some(c) => Err(format!(
            "must not contain bidirectional override characters (it has U+{:04X})",
            c as u32
        )),
    }
}

/// A person's or a team's display name: trimmed, not empty, safe (see [`safe_name`]).
pub fn display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("can't be blank".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    safe_name(name)?;
    Ok(name.to_string())
}

/// A sign-in name (Entra's userPrincipalName): trimmed, not empty, safe.
pub fn user_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("can't be blank".into());
    }
    if name.chars().count() > MAX_USER_NAME_CHARS {
        return Err(format!("is longer than {MAX_USER_NAME_CHARS} characters"));
    }
    safe_name(name)?;
    Ok(name.to_string())
}

/// Who set a user's sign-in name (`user_name`, the key first sign-in and Entra's SCIM
/// matching look people up by). Only a name that Entra or an administrator set is trusted
/// to say whose account it is: linking by name never adopts any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserNameSource {
    /// Entra's provisioning service, over SCIM.
    EntraScim,
    /// A validated Entra ID token's `preferred_username`, at sign-in.
    EntraSignIn,
    /// An owner or admin, through the REST API, for someone other than themselves.
    Admin,
    /// Nobody we can vouch for: set before this rule existed, when a person could move their
    /// own sign-in name by changing their e-mail address.
    Unverified,
}

impl UserNameSource {
    pub const ALL: [UserNameSource; 4] = [
        UserNameSource::EntraScim,
        UserNameSource::EntraSignIn,
        UserNameSource::Admin,
        UserNameSource::Unverified,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserNameSource::EntraScim => "entra_scim",
            UserNameSource::EntraSignIn => "entra_sign_in",
            UserNameSource::Admin => "admin",
            UserNameSource::Unverified => "unverified",
        }
    }

    pub fn parse(s: &str) -> Option<UserNameSource> {
        UserNameSource::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// May linking by name (first sign-in, Entra's SCIM matching) take this account to be the
    /// person the identity provider names?
    pub fn vouched(self) -> bool {
        self != UserNameSource::Unverified
    }
}

/// What made an account: Entra over SCIM, a first sign-in, or an admin through the REST API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionedBy {
    Scim,
    SignIn,
    Api,
}

impl ProvisionedBy {
    pub const ALL: [ProvisionedBy; 3] = [
        ProvisionedBy::Scim,
        ProvisionedBy::SignIn,
        ProvisionedBy::Api,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionedBy::Scim => "scim",
            ProvisionedBy::SignIn => "sign_in",
            ProvisionedBy::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<ProvisionedBy> {
        ProvisionedBy::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Who set the user name of an account this made: Entra (over SCIM or in its token) or
    /// the admin who made it.
    pub fn name_source(self) -> UserNameSource {
        match self {
            ProvisionedBy::Scim => UserNameSource::EntraScim,
            ProvisionedBy::SignIn => UserNameSource::EntraSignIn,
            ProvisionedBy::Api => UserNameSource::Admin,
        }
    }
}

/// How a contact method reaches a person: kept with contact methods (`domain::contact`).
pub use super::contact::ContactKind;

/// Whether `s` holds a bidirectional override or isolate (U+202A–U+202E, U+2066–U+2069), which
/// can make a name display as another ("\u{202E}nimda" reads as "admin").
pub fn has_bidi_override(s: &str) -> bool {
    s.chars().any(is_bidi_control)
}

/// An e-mail address, as stored: trimmed, syntax checked (RFC 5322 address spec).
pub fn email(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Err("can't be blank".into());
    }
    if !email_address::EmailAddress::is_valid(value) {
        return Err(format!("'{value}' is not a valid e-mail address"));
    }
    Ok(value.to_string())
}

/// An IANA time zone name, such as `Asia/Tokyo`.
pub fn time_zone(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    match jiff::tz::db().get(value) {
        Ok(_) => Ok(value.to_string()),
        Err(_) => Err(format!(
            "'{value}' is not an IANA time zone name such as Asia/Tokyo or Etc/UTC"
        )),
    }
}

/// A person's locale, a BCP 47 language tag (`ja-JP`, `en`): it picks the language of their
/// e-mails. Empty clears it.
pub fn locale(raw: &str) -> Result<Option<String>, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match language_tags::LanguageTag::parse(value) {
        Ok(tag) if value.len() <= 35 => Ok(Some(tag.to_string())),
        _ => Err(format!(
            "'{}' is not a language tag such as ja-JP or en-US",
            crate::domain::text::clean(value, 40)
        )),
    }
}

/// Optional free text (job title, description): trimmed; empty means absent.
pub fn optional_text(raw: Option<&str>, max_chars: usize) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max_chars => {
            Err(format!("is longer than {max_chars} characters"))
        }
        // Line breaks and tabs lay out a description; other control characters and bidi
        // overrides only hide or disguise text (see `safe_name`).
        Some(v) => {
            safe_name(&v.replace(['\n', '\r', '\t'], " "))?;
            Ok(Some(v.to_string()))
        }
    }
}

super::shown_by_name!(ProvisionedBy, UserNameSource);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_ignore_case_and_padding() {
        assert_eq!(
            name_key(" Alice@Contoso.com "),
            name_key("alice@contoso.COM")
        );
    }

    #[test]
    fn validation_rejects_what_it_should() {
        assert!(display_name("  ").is_err());
        assert!(display_name(&"x".repeat(101)).is_err());
        assert!(display_name("a\u{0}b").is_err());
        assert!(user_name(" ").is_err());
        assert_eq!(user_name(" ada@example.com ").unwrap(), "ada@example.com");
        assert_eq!(display_name(" Ada ").unwrap(), "Ada");
        assert!(email("not-an-address").is_err());
        assert_eq!(email(" ada@example.com").unwrap(), "ada@example.com");
        assert!(time_zone("Mars/Olympus").is_err());
        assert_eq!(time_zone("Asia/Tokyo").unwrap(), "Asia/Tokyo");
        assert_eq!(optional_text(Some("  "), 10).unwrap(), None);
        assert!(optional_text(Some("abcdefghijk"), 10).is_err());
    }

    #[test]
    fn names_with_controls_or_bidi_overrides_are_unsafe() {
        for bad in [
            "Eve\nAdmin",
            "Eve\r\n2026-01-01 INFO forged",
            "\u{1b}[31mred",
            "tab\there",
            "del\u{7f}",
            "c1\u{85}next-line",
            "c1\u{9b}31m",
            "evil\u{202E}moc.elpmaxe",
            "lre\u{202A}x",
            "isolate\u{2066}x\u{2069}",
            "fsi\u{2068}x",
        ] {
            assert!(safe_name(bad).is_err(), "{bad:?}");
            assert!(display_name(bad).is_err(), "{bad:?}");
            assert!(user_name(bad).is_err(), "{bad:?}");
        }
        assert!(safe_name("evil\u{202E}x").unwrap_err().contains("U+202E"));
        for good in [
            "Åsa Öberg",
            "山田 太郎",
            "Jürgen Groß",
            "עברית",
            "O'Brien-Smith",
        ] {
            assert_eq!(safe_name(good), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn only_an_unverified_sign_in_name_is_not_vouched_for() {
        for source in UserNameSource::ALL {
            assert_eq!(UserNameSource::parse(source.as_str()), Some(source));
            assert_eq!(source.vouched(), source != UserNameSource::Unverified);
        }
        assert_eq!(UserNameSource::parse("self"), None);
    }

    #[test]
    fn provisioners_and_contact_kinds_round_trip_their_names() {
        for p in ProvisionedBy::ALL {
            assert_eq!(ProvisionedBy::parse(p.as_str()), Some(p));
            assert!(p.name_source().vouched());
        }
        for k in ContactKind::ALL {
            assert_eq!(ContactKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ContactKind::parse("pager"), None);
    }

    #[test]
    fn bidi_overrides_and_isolates_are_found() {
        for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
            assert!(has_bidi_override(&format!("ad{c}min")), "{c:?}");
        }
        // Right-to-left text itself, and the marks that only nudge it, are names like any other.
        assert!(!has_bidi_override("שרה כהן"));
        assert!(!has_bidi_override("a\u{200F}b"));
        assert!(!has_bidi_override("\u{2029}x\u{206A}"));
    }
}
