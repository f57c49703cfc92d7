//! API and SCIM tokens: their format, how they are stored (SHA-256 only: the secret is shown
//! once and never kept) and how callers present them in an `Authorization` header.

use sha2::{Digest, Sha256};

/// What a token opens: the REST API or the SCIM endpoint. A token of one kind is refused by
/// the other, so a leaked provisioning secret cannot read incidents and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Api,
    Scim,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Scim => "scim",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "api" => Some(TokenKind::Api),
            "scim" => Some(TokenKind::Scim),
            _ => None,
        }
    }
}

/// Bytes of randomness in a secret: 256 bits, far beyond guessing.
pub const SECRET_BYTES: usize = 32;

/// Formats a secret from random bytes: `rota_<kind>_<64 hex digits>`. The prefix lets secret
/// scanners recognise leaked Rota tokens and tells a person which kind they hold.
pub fn format_secret(kind: TokenKind, random: &[u8; SECRET_BYTES]) -> String {
    format!("rota_{}_{}", kind.as_str(), hex::encode(random))
}

/// The stored form of a secret: hex SHA-256. Secrets are high-entropy, so a fast hash is the
/// right tool (a password hash would only slow every request down).
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A token's name: trimmed, 1 to 100 characters, none of them control or bidi characters.
pub fn name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > 100
        || name.chars().any(crate::domain::text::is_unprintable)
    {
        return Err("must be 1 to 100 printable characters".into());
    }
    Ok(name.to_owned())
}

/// A short, non-secret reminder of which token this is, shown in listings and audit records.
pub fn hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum CredentialError {
    Missing,
    Malformed,
}

/// Reads the secret out of an `Authorization` header value. PagerDuty clients send
/// `Token token=SECRET`; SCIM clients and most others send `Bearer SECRET`.
pub fn secret_from_header(value: Option<&str>) -> Result<&str, CredentialError> {
    let value = value.ok_or(CredentialError::Missing)?.trim();
    if value.is_empty() {
        return Err(CredentialError::Missing);
    }
    let (scheme, rest) = value.split_once(' ').ok_or(CredentialError::Malformed)?;
    let rest = rest.trim();
    let secret = if scheme.eq_ignore_ascii_case("bearer") {
        rest
    } else if scheme.eq_ignore_ascii_case("token") {
        let (key, v) = rest.split_once('=').ok_or(CredentialError::Malformed)?;
        if !key.trim().eq_ignore_ascii_case("token") {
            return Err(CredentialError::Malformed);
        }
        let v = v.trim();
        v.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
    } else {
        return Err(CredentialError::Malformed);
    };
    let well_formed = !secret.is_empty()
        && secret.len() <= 256
        && secret
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b',');
    if well_formed {
        Ok(secret)
    } else {
        Err(CredentialError::Malformed)
    }
}

super::shown_by_name!(TokenKind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_header_styles_yield_the_secret() {
        assert_eq!(secret_from_header(Some("Token token=abc")), Ok("abc"));
        assert_eq!(secret_from_header(Some("token token=\"abc\"")), Ok("abc"));
        assert_eq!(secret_from_header(Some("Bearer abc")), Ok("abc"));
        assert_eq!(secret_from_header(Some("bearer   abc ")), Ok("abc"));
    }

    #[test]
    fn bad_headers_are_told_apart_from_missing_ones() {
        assert_eq!(secret_from_header(None), Err(CredentialError::Missing));
        assert_eq!(
            secret_from_header(Some("  ")),
            Err(CredentialError::Missing)
        );
        assert_eq!(
            secret_from_header(Some("Basic dXNlcjpwYXNz")),
            Err(CredentialError::Malformed)
        );
        assert_eq!(
            secret_from_header(Some("Token abc")),
            Err(CredentialError::Malformed)
        );
        assert_eq!(
            secret_from_header(Some("Bearer")),
            Err(CredentialError::Malformed)
        );
        assert_eq!(
            secret_from_header(Some("Bearer a b")),
            Err(CredentialError::Malformed)
        );
    }

    #[test]
    fn secrets_have_kind_prefix_and_stable_hash() {
        let s = format_secret(TokenKind::Scim, &[7u8; SECRET_BYTES]);
        assert!(s.starts_with("rota_scim_"));
        assert_eq!(s.len(), "rota_scim_".len() + 64);
        assert_eq!(hash_secret(&s), hash_secret(&s));
        assert_ne!(hash_secret(&s), hash_secret("rota_scim_other"));
        assert_eq!(hint("rota_api_0123abcd"), "…abcd");
    }
}
