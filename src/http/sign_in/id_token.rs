//! Validating an Entra ID token: RS256 signature against the provider's keys, exact issuer,
//! our client id as audience, expiry and not-before (with a small skew), the nonce of this
//! login, and a tenant we serve. Entra's own claims (`tid`, `oid`, `groups`, `roles`, overage)
//! are read here, and its names must pass the rule for names. No I/O: the keys are passed in (the provider module caches and refreshes
//! them), so the benchmark measures exactly this.

use crate::domain::sign_in::{EntraIdentity, GroupsClaim, Refusal};
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenVerifier, IssuerUrl,
    Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

/// Clocks drift; tokens a little past expiry or before not-before are still taken.
pub const SKEW: Duration = Duration::minutes(2);

/// The claims Entra adds to the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntraClaims {
    pub tid: Option<String>,
    pub oid: Option<String>,
    pub nbf: Option<i64>,
    pub groups: Option<Vec<String>>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Set instead of `groups` when the person is in too many groups for a token.
    pub hasgroups: Option<bool>,
    pub _claim_names: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AdditionalClaims for EntraClaims {}

pub type EntraIdToken = IdToken<
    EntraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What the token is checked against.
pub struct Expected<'a> {
    pub issuer: &'a IssuerUrl,
    pub client_id: &'a ClientId,
    pub tenants: &'a [String],
    pub nonce: &'a Nonce,
    pub now: DateTime<Utc>,
}

/// Why a token was not taken. `UnknownKey` asks the caller to refresh the keys and try again.
#[derive(Debug)]
pub enum TokenError {
    UnknownKey,
    Refused(Refusal),
}

fn invalid(reason: impl Into<String>) -> TokenError {
    TokenError::Refused(Refusal::InvalidToken(reason.into()))
}

/// Validates `raw` and returns who it names.
pub fn verify(
    raw: &str,
    keys: &CoreJsonWebKeySet,
    expected: &Expected<'_>,
) -> Result<EntraIdentity, TokenError> {
    let token: EntraIdToken = raw
        .parse()
        .map_err(|e| invalid(format!("the ID token is malformed: {e}")))?;
    let now = expected.now;
    let verifier = IdTokenVerifier::new_public_client(
        expected.client_id.clone(),
        expected.issuer.clone(),
        keys.clone(),
    )
    // Entra signs with RS256; anything else (none, HS256 keyed with a public key) is forged.
    .set_allowed_algs([CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256])
    .set_time_fn(move || now - SKEW)
    .set_issue_time_verifier_fn(move |iat| {
        if iat > now + SKEW {
            Err(format!("issued in the future ({iat})"))
        } else {
            Ok(())
        }
    });
    let claims = token
        .claims(&verifier, expected.nonce)
        .map_err(|e| match e {
            ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            ) => TokenError::UnknownKey,
            ClaimsVerificationError::SignatureVerification(s) => {
                invalid(format!("bad signature: {s}"))
            }
            other => invalid(other.to_string()),
        })?;
    let extra = claims.additional_claims();
    if let Some(nbf) = extra.nbf
        && DateTime::from_timestamp(nbf, 0).is_none_or(|nbf| nbf > now + SKEW)
    {
        return Err(invalid(format!("not valid yet (nbf {nbf})")));
    }
    let tenant = extra
        .tid
        .as_deref()
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid("the token has no tid claim"))?;
    if !expected.tenants.contains(&tenant) {
        return Err(TokenError::Refused(Refusal::WrongTenant { tenant }));
    }
    let object_id = extra
        .oid
        .as_deref()
        .filter(|o| uuid::Uuid::try_parse(o).is_ok())
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| invalid("the token has no oid claim (an Entra object id)"))?;
    let user_name = claims
        .preferred_username()
        .map(|u| u.as_str().trim().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("the token has no preferred_username claim"))?;
    let overage = extra.hasgroups == Some(true)
        || extra
            ._claim_names
            .as_ref()
            .is_some_and(|names| names.contains_key("groups"));
    let groups = match (&extra.groups, overage) {
        (_, true) => GroupsClaim::Incomplete,
        (Some(g), false) => {
            GroupsClaim::Complete(g.iter().map(|g| g.to_ascii_lowercase()).collect())
        }
        // The app registration may not emit groups at all: then memberships are SCIM's alone.
        (None, false) => GroupsClaim::Incomplete,
    };
    let identity = EntraIdentity {
        tenant_id: tenant,
        object_id,
        user_name,
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
        email: claims.email().map(|e| e.as_str().to_string()),
        groups,
        app_roles: extra.roles.clone(),
    };
    // A validly signed token may still carry a name we would refuse from anyone else.
    identity.check_names().map_err(TokenError::Refused)?;
    Ok(identity)
}
