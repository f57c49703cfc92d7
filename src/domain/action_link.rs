//! Acknowledge and resolve links in notification e-mails (pure): the signed token a link
//! carries (`/act/{token}`), HS256 with a server key, naming who acts, on which incident,
//! what they do, until when, and a `jti` that the store records when the link is used (single
//! use is the store's job, not this module's). The token is the credential: no sign-in is
//! needed, so it works on a phone. No I/O and no clock: `now` is passed in.

use super::ids::{IncidentId, UserId};
use super::incident::Change;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

/// How long a link works after its e-mail was written.
pub const LIFETIME_SECONDS: i64 = 24 * 60 * 60;

/// Clocks of instances drift a little; a link this far past `exp` still works.
pub const LEEWAY_SECONDS: i64 = 5;

/// The longest token taken from a URL: a real one is about 330 characters; anything much
/// longer is not ours and is refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 1024;

/// What a link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    Acknowledge,
    Resolve,
}

impl Act {
    pub fn change(self) -> Change {
        match self {
            Act::Acknowledge => Change::Acknowledge,
            Act::Resolve => Change::Resolve,
        }
    }

    /// The verb on the page's button ("Acknowledge").
    pub fn verb(self) -> &'static str {
        match self {
            Act::Acknowledge => "Acknowledge",
            Act::Resolve => "Resolve",
        }
    }

    /// What it did ("Acknowledged").
    pub fn done(self) -> &'static str {
        match self {
            Act::Acknowledge => "Acknowledged",
            Act::Resolve => "Resolved",
        }
    }
}

/// What a link's token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The person acting.
    pub sub: UserId,
    /// The incident.
    pub inc: IncidentId,
    pub act: Act,
    /// Seconds since the epoch.
    pub exp: i64,
    pub iat: i64,
    /// This link's id, recorded when it is used.
    pub jti: String,
}

impl Claims {
    /// A new link's claims: working from `now` (seconds since the epoch) for
    /// `LIFETIME_SECONDS`; `jti` is the caller's fresh random id.
    pub fn new(user: UserId, incident: IncidentId, act: Act, jti: String, now: i64) -> Claims {
        Claims {
            sub: user,
            inc: incident,
            act,
            exp: now + LIFETIME_SECONDS,
            iat: now,
            jti,
        }
    }
}

/// Why a link does not work, in words for the person who followed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("This link has expired: links in notification e-mails work for 24 hours")]
    Expired,
    #[error(
        "This link is not valid: it may have been cut short or changed; open it again from the e-mail"
    )]
    Invalid,
}

/// The token for `claims`, signed with `key`.
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let key = EncodingKey::from_secret(key).expect("the action link key is never empty");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
        .expect("HS256 signing of plain claims cannot fail")
}

/// The claims of `token` if `key` signed it with HS256 and it has not expired at `now`
/// (seconds since the epoch). Whether it was used already is for the caller to check.
pub fn verify(key: &[u8], token: &str, now: i64) -> Result<Claims, LinkError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(LinkError::Invalid);
    }
    let key = DecodingKey::from_secret(key).map_err(|_| LinkError::Invalid)?;
    // Only HS256 (no `none`, no other family); expiry is checked below against `now`, since
    // time is an input here, not the system clock.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data =
        jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => LinkError::Expired,
            _ => LinkError::Invalid,
        })?;
    let claims = data.claims;
    if claims.exp + LEEWAY_SECONDS < now {
        return Err(LinkError::Expired);
    }
    // Issued in the future, or living longer than we ever issue: not one of ours.
    if claims.iat > now + LEEWAY_SECONDS || claims.exp - claims.iat > LIFETIME_SECONDS {
        return Err(LinkError::Invalid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base64url without padding, as JWTs write their parts.
    fn b64(bytes: impl AsRef<[u8]>) -> String {
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = bytes.as_ref();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_800_000_000;

    fn claims(act: Act) -> Claims {
        let mut random = [0u8; 16];
        rand::fill(&mut random);
        Claims::new(
            UserId("u1".into()),
            IncidentId("i1".into()),
            act,
            hex::encode(random),
            NOW,
        )
    }

    #[test]
    fn action_link_round_trips_its_claims() {
        let c = claims(Act::Resolve);
        let token = sign(KEY, &c);
        assert!(token.len() < MAX_TOKEN_LEN);
        assert_eq!(verify(KEY, &token, NOW + 60), Ok(c.clone()));
        // Still good at the last second of its life, and within the leeway after.
        assert_eq!(verify(KEY, &token, NOW + LIFETIME_SECONDS), Ok(c.clone()));
        assert_eq!(
            verify(KEY, &token, NOW + LIFETIME_SECONDS + LEEWAY_SECONDS),
            Ok(c)
        );
    }

    #[test]
    fn action_link_jti_differs_between_links() {
        assert_ne!(claims(Act::Acknowledge).jti, claims(Act::Acknowledge).jti);
    }

    #[test]
    fn action_link_expires_after_its_lifetime() {
        let token = sign(KEY, &claims(Act::Acknowledge));
        assert_eq!(
            verify(KEY, &token, NOW + LIFETIME_SECONDS + LEEWAY_SECONDS + 1),
            Err(LinkError::Expired)
        );
        assert_eq!(
            verify(KEY, &token, NOW + 25 * 3600),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn action_link_tampered_claims_are_refused() {
        let token = sign(KEY, &claims(Act::Acknowledge));
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(Act::Resolve);
        forged.jti = "other".into();
        let payload = b64(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verify(KEY, &tampered, NOW), Err(LinkError::Invalid));
        // A changed signature, a cut token, rubbish, and one too long.
        let mut sig = parts[2].to_owned();
        let last = if sig.ends_with('A') { 'B' } else { 'A' };
        sig.pop();
        sig.push(last);
        let resigned = format!("{}.{}.{sig}", parts[0], parts[1]);
        assert_eq!(verify(KEY, &resigned, NOW), Err(LinkError::Invalid));
        assert_eq!(
            verify(KEY, &token[..token.len() - 10], NOW),
            Err(LinkError::Invalid)
        );
        assert_eq!(verify(KEY, "not-a-token", NOW), Err(LinkError::Invalid));
        assert_eq!(verify(KEY, "", NOW), Err(LinkError::Invalid));
        let long = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(verify(KEY, &long, NOW), Err(LinkError::Invalid));
    }

    #[test]
    fn action_link_signed_with_another_key_is_refused() {
        let token = sign(
            b"another key entirely, also long enough",
            &claims(Act::Resolve),
        );
        assert_eq!(verify(KEY, &token, NOW), Err(LinkError::Invalid));
    }

    #[test]
    fn action_link_with_alg_none_or_another_hmac_is_refused() {
        let c = claims(Act::Resolve);
        let payload = b64(serde_json::to_vec(&c).unwrap());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"alg":"None"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
        ] {
            let header = b64(header);
            assert_eq!(
                verify(KEY, &format!("{header}.{payload}."), NOW),
                Err(LinkError::Invalid),
                "{header}"
            );
        }
        // HS512 with the right key is still not HS256.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &c,
            &EncodingKey::from_secret(KEY).unwrap(),
        )
        .unwrap();
        assert_eq!(verify(KEY, &hs512, NOW), Err(LinkError::Invalid));
    }

    #[test]
    fn action_link_missing_or_overlong_claims_are_refused() {
        let key = EncodingKey::from_secret(KEY).unwrap();
        let header = Header::new(Algorithm::HS256);
        let no_jti = serde_json::json!({"sub": "u1", "inc": "i1", "act": "resolve",
            "exp": NOW + 60, "iat": NOW});
        let token = jsonwebtoken::encode(&header, &no_jti, &key).unwrap();
        assert_eq!(verify(KEY, &token, NOW), Err(LinkError::Invalid));
        let unknown_act = serde_json::json!({"sub": "u1", "inc": "i1", "act": "delete",
            "exp": NOW + 60, "iat": NOW, "jti": "j"});
        let token = jsonwebtoken::encode(&header, &unknown_act, &key).unwrap();
        assert_eq!(verify(KEY, &token, NOW), Err(LinkError::Invalid));
        // A week-long link was never issued by us.
        let mut long = claims(Act::Acknowledge);
        long.exp = NOW + 7 * LIFETIME_SECONDS;
        assert_eq!(verify(KEY, &sign(KEY, &long), NOW), Err(LinkError::Invalid));
    }
}
