//! What makes a valid user and team record: names, e-mail addresses, time zones, and the
//! case-folded keys that make user names and team names unique regardless of case.

/// Longest display name we accept (PagerDuty's limit is 100 characters).
pub const MAX_NAME_CHARS: usize = 100;

/// The uniqueness key for user names and team names: Entra treats them case-insensitively.
/// SCIM filters on userName and a group's displayName compare it (see `caseless`).
pub fn name_key(name: &str) -> String {
    super::caseless::key(name.trim())
}

/// A person's or a team's display name: trimmed, not empty, no control characters.
pub fn display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("can't be blank".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("is longer than {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
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
}
