//! What makes a valid user and team record: names, e-mail addresses, time zones, the
//! case-folded keys that make user names and team names unique regardless of case, and the
//! one rule for which characters a name may hold (sign-in, REST and SCIM all ask it).

/// Longest display name we accept (PagerDuty's limit is 100 characters).
pub const MAX_NAME_CHARS: usize = 100;

/// The uniqueness key for user names and team names: Entra treats them case-insensitively.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

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

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
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

/// Optional free text (job title, description): trimmed; empty means absent.
pub fn optional_text(raw: Option<&str>, max_chars: usize) -> Result<Option<String>, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max_chars => {
            Err(format!("is longer than {max_chars} characters"))
        }
        Some(v) => Ok(Some(v.to_string())),
    }
}

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
}
