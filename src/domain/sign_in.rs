//! Sign-in rules that need no I/O: who a validated ID token says the person is, where a login
//! may send the browser back to, when a session ends, and the CSRF token bound to a session.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// A person as a validated Entra ID token describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct EntraIdentity {
    pub tenant_id: String,
    pub object_id: String,
    /// `preferred_username`: the UPN, which SCIM sends as userName.
    pub user_name: String,
    pub name: Option<String>,
    /// Unverified and mutable: stored as contact data, never used to find or link anyone.
    pub email: Option<String>,
    pub groups: GroupsClaim,
    pub app_roles: Vec<String>,
}

impl EntraIdentity {
    /// The names the token carries, checked with the one rule for names
    /// ([`crate::domain::user::safe_name`]) that the REST API and SCIM apply too: a name
    /// Rota would refuse from an administrator is refused from a token.
    pub fn check_names(&self) -> Result<(), Refusal> {
        let claims = [
            ("preferred_username", Some(self.user_name.as_str())),
            ("name", self.name.as_deref()),
        ];
        for (claim, value) in claims {
            if let Some(Err(reason)) = value.map(crate::domain::user::safe_name) {
                return Err(Refusal::UnsafeName {
                    claim,
                    reason,
                    object_id: self.object_id.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The `groups` claim, which Entra leaves out when a person is in too many groups.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupsClaim {
    /// Every group (object ids, lower case).
    Complete(Vec<String>),
    /// Overage (`hasgroups` or `_claim_names.groups`), or no groups claim at all: memberships
    /// are left as they are.
    Incomplete,
}

impl GroupsClaim {
    pub fn complete(&self) -> Option<&[String]> {
        match self {
            GroupsClaim::Complete(g) => Some(g),
            GroupsClaim::Incomplete => None,
        }
    }
}

/// Why a sign-in was refused: each has a page that says what happened and who can fix it,
/// and an audit event.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The token's `tid` is not one of ours.
    WrongTenant { tenant: String },
    /// SCIM (or an admin) deactivated the account.
    Deactivated,
    /// The provider could not be reached, answered something we cannot read, or failed
    /// itself (`server_error`): a fault between us and it, not a decision about the person.
    ProviderError(String),
    /// The provider answered the login with an error of its own (`access_denied`: the person
    /// cancelled or is not assigned to the app; `consent_required`, …).
    ProviderDenied(String),
    /// The login's state is unknown, used already, or too old; or the state cookie is missing.
    ExpiredOrReplayed,
    /// The provider refused to exchange the code (`invalid_grant`: used already, or expired).
    CodeRefused(String),
    /// The ID token failed validation (signature, issuer, audience, expiry, nonce, algorithm).
    InvalidToken(String),
    /// A name in the token holds a control character or a bidirectional override.
    UnsafeName {
        claim: &'static str,
        reason: String,
        object_id: String,
    },
    /// The userName belongs to an account linked to another Entra identity.
    IdentityConflict { user_name: String },
    /// The userName belongs to an account whose name neither Entra nor an administrator set:
    /// whoever holds it may have chosen it to catch this person's first sign-in.
    UnverifiedUserName { user_name: String },
    /// Several live accounts carry the person's object id as their externalId (left from
    /// before externalIds were unique): which one is theirs is not ours to guess.
    DuplicateExternalId { external_id: String },
    /// Sign-in with Entra ID is not configured on this server.
    NotConfigured,
    /// Every seat the person could use is taken: their account exists and they wait in the
    /// queue (for this licence, at this place), but they cannot sign in yet.
    NoSeat {
        waiting: Option<(crate::domain::seat_policy::Licence, usize)>,
    },
}

impl Refusal {
    /// The refusal for an error answer on the callback (RFC 6749 §4.1.2.1, OIDC §3.1.2.6):
    /// the provider's own trouble (`server_error`, `temporarily_unavailable`) is a fault;
    /// anything else (`access_denied`, `consent_required`, …) is its decision.
    pub fn from_provider_answer(error: &str, description: &str) -> Refusal {
        // Anyone can send a callback with any description: keep it short and printable.
        let text = crate::domain::text::clean(&format!("{error} {description}"), 300);
        match error {
            "server_error" | "temporarily_unavailable" => Refusal::ProviderError(text),
            _ => Refusal::ProviderDenied(text),
        }
    }

    /// A stable word for the audit trail and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::WrongTenant { .. } => "wrong_tenant",
            Refusal::Deactivated => "deactivated",
            Refusal::ProviderError(_) => "provider_error",
            Refusal::ProviderDenied(_) => "provider_denied",
            Refusal::ExpiredOrReplayed => "expired_or_replayed",
            Refusal::CodeRefused(_) => "code_refused",
            Refusal::InvalidToken(_) => "invalid_token",
            Refusal::UnsafeName { .. } => "unsafe_name",
            Refusal::IdentityConflict { .. } => "identity_conflict",
            Refusal::UnverifiedUserName { .. } => "unverified_user_name",
            Refusal::DuplicateExternalId { .. } => "duplicate_external_id",
            Refusal::NotConfigured => "not_configured",
            Refusal::NoSeat { .. } => "no_seat",
        }
    }

    /// The technical detail, for the audit trail.
    pub fn detail(&self) -> String {
        match self {
            Refusal::WrongTenant { tenant } => format!("tenant {tenant} is not allowed"),
            Refusal::ProviderError(e)
            | Refusal::ProviderDenied(e)
            | Refusal::CodeRefused(e)
            | Refusal::InvalidToken(e) => e.clone(),
            Refusal::UnsafeName {
                claim,
                reason,
                object_id,
            } => format!("the ID token's {claim} claim (object id {object_id}) {reason}"),
            Refusal::IdentityConflict { user_name } => {
                format!("{user_name} is linked to another Entra identity")
            }
            Refusal::UnverifiedUserName { user_name } => format!(
                "the account {user_name} has a user name that neither Entra nor an administrator set (user_name_source unverified)"
            ),
            Refusal::DuplicateExternalId { external_id } => {
                format!("several live accounts have the externalId {external_id}")
            }
            other => other.title().to_string(),
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Refusal::WrongTenant { .. } => "This account is from another organisation",
            Refusal::Deactivated => "Your Rota account is deactivated",
            Refusal::ProviderError(_) => "Microsoft sign-in did not complete",
            Refusal::ProviderDenied(_) => "Microsoft did not sign you in",
            Refusal::ExpiredOrReplayed | Refusal::CodeRefused(_) => "This sign-in link has expired",
            Refusal::InvalidToken(_) => "The sign-in could not be verified",
            Refusal::UnsafeName { .. } => "Your name in Microsoft Entra ID cannot be used",
            Refusal::IdentityConflict { .. }
            | Refusal::UnverifiedUserName { .. }
            | Refusal::DuplicateExternalId { .. } => "Your account needs an administrator",
            Refusal::NotConfigured => "Sign-in with Microsoft is not set up",
            Refusal::NoSeat { .. } => "No Rota seat is free for you yet",
        }
    }

    /// What happened and what to do, for the person at the browser.
    pub fn explanation(&self) -> String {
        match self {
            Refusal::WrongTenant { .. } => "You signed in with an account from a Microsoft Entra tenant that this Rota does not serve. Sign out of Microsoft and sign in with your work account, or ask your Rota administrator to allow your tenant.".into(),
            Refusal::Deactivated => "Your account was deactivated, usually by your company's identity provisioning. Ask your identity administrator to assign you to the Rota application again.".into(),
            Refusal::ProviderError(e) => format!("Microsoft Entra ID answered: {e}. Try again; if it keeps failing, tell your Rota administrator."),
            Refusal::ProviderDenied(e) => format!("Microsoft Entra ID did not sign you in ({e}). If you cancelled, start again from the Rota home page; if you should have access, ask your identity administrator to assign you to the Rota application."),
            Refusal::ExpiredOrReplayed | Refusal::CodeRefused(_) => "Sign-in links work once, for ten minutes, in the browser that started them. Start again from the Rota home page.".into(),
            Refusal::InvalidToken(_) => "The identity token did not pass Rota's checks, so nobody was signed in. Try again; if it keeps failing, tell your Rota administrator (the audit trail has the details).".into(),
            Refusal::UnsafeName { claim, .. } => format!("Your {claim} in Microsoft Entra ID contains a control character or a text-direction override, which could disguise who you are on Rota's pages and in its logs, so Rota does not sign you in with it. Ask your identity administrator to correct it."),
            Refusal::IdentityConflict { user_name } => format!("The Rota account {user_name} is already linked to a different Microsoft identity. Ask your Rota administrator to check the account."),
            Refusal::UnverifiedUserName { user_name } => format!("A Rota account named {user_name} exists, but its sign-in name was set neither by Microsoft Entra ID nor by a Rota administrator, so Rota does not hand it to you. Ask a Rota administrator to confirm that the account is yours (by setting its user name) or to remove it, then sign in again."),
            Refusal::DuplicateExternalId { .. } => "More than one Rota account carries your Microsoft Entra object id, so Rota cannot tell which one is yours and signs nobody in. Ask a Rota administrator to remove the duplicate, then sign in again.".into(),
            Refusal::NotConfigured => "This Rota server has no Microsoft Entra ID sign-in configured. Ask your Rota administrator (owners can use break-glass sign-in).".into(),
            Refusal::NoSeat { waiting } => {
                match waiting {
                    Some((licence, n)) => format!("Your Rota account is ready, but every licence your company bought for Rota is in use. You are number {n} in the queue for a {} seat, and get one as soon as it is freed. Rota's licence owners have been told; you do not need to do anything but sign in again later.", licence.as_str()),
                    None => "A licence owner has taken back your Rota seat. Ask Rota's licence owners if you need it again.".into(),
                }
            }
        }
    }
}

/// Where a login may return the browser: our own paths only, never another site (an open
/// redirect would let a phishing link borrow our sign-in page).
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && p.len() <= 2000
                && !p.chars().any(|c| c.is_control() || c == '\\')
                && !p.starts_with("/auth/") =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Why a session no longer lets anyone in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    Idle,
    Expired,
    Revoked,
}

/// Whether a session is still good at `now`: not revoked, used within `idle`, and before its
/// absolute end.
pub fn session_end(
    last_seen: DateTime<Utc>,
    expires: DateTime<Utc>,
    revoked: bool,
    idle: Duration,
    now: DateTime<Utc>,
) -> Option<SessionEnd> {
    if revoked {
        Some(SessionEnd::Revoked)
    } else if now >= expires {
        Some(SessionEnd::Expired)
    } else if now - last_seen >= idle {
        Some(SessionEnd::Idle)
    } else {
        None
    }
}

/// The CSRF token for a session: derived from its secret, so it needs no storage and changes
/// with every new session. Pages embed it; state-changing requests must send it back.
pub fn csrf_token(session_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"rota csrf v1\0");
    h.update(session_secret.as_bytes());
    hex::encode(h.finalize())
}

/// The e-mail every owner gets when someone signs in with a break-glass password: who, when,
/// from where, and how to shut the door if it was not expected.
pub fn break_glass_alert(
    who: &str,
    user_name: &str,
    at: DateTime<Utc>,
    from_address: Option<&str>,
    browser: Option<&str>,
    public_url: &str,
) -> (String, String) {
    let subject = format!("Rota: break-glass sign-in by {who}");
    let body = format!(
        "{who} ({user_name}) signed in to Rota with a break-glass password, bypassing Microsoft Entra ID.\n\n\
         When:    {} UTC\n\
         From:    {}\n\
         Browser: {}\n\n\
         Break-glass sign-in is for when Entra ID is down. If this was not expected:\n\
         1. turn it off:   rota owner break-glass {user_name} --disable\n\
         2. end sessions:  DELETE {public_url}/api/v2/users/<id>/sessions (or ask another owner)\n\
         The audit trail at {public_url}/api/v2/audit/records has the details.\n",
        at.format("%Y-%m-%d %H:%M:%S"),
        from_address.unwrap_or("unknown address"),
        browser.unwrap_or("unknown"),
    );
    (subject, body)
}

/// The e-mail to every owner when wrong break-glass passwords start arriving for an owner's
/// account: once per burst of attempts (`previous`: how many came in the burst before).
pub fn break_glass_failures_alert(
    who: &str,
    user_name: &str,
    at: DateTime<Utc>,
    from_address: Option<&str>,
    previous: Option<(u32, DateTime<Utc>, DateTime<Utc>)>,
    public_url: &str,
) -> (String, String) {
    let subject = format!("Rota: wrong break-glass passwords for {who}");
    let earlier = match previous {
        Some((n, from, to)) => format!(
            "The burst before this one had {n} wrong passwords, from {} to {} UTC.\n",
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M")
        ),
        None => String::new(),
    };
    let body = format!(
        "Someone is trying break-glass passwords for {who} ({user_name}).\n\n\
         First attempt: {} UTC\n\
         From:          {}\n\
         {earlier}\n\
         Further wrong passwords in this burst (attempts less than 15 minutes apart) are not\n\
         e-mailed one by one; each makes the next wait longer. If this is not one of you:\n\
         1. turn break-glass sign-in off:  rota owner break-glass {user_name} --disable\n\
         2. look at the audit trail:       {public_url}/api/v2/audit/records\n",
        at.format("%Y-%m-%d %H:%M:%S"),
        from_address.unwrap_or("unknown address"),
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn return_to_stays_on_our_site() {
        assert_eq!(safe_return_to(Some("/incidents?x=1")), "/incidents?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/a\nb",
            "/auth/oidc/login",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn sessions_end_when_idle_expired_or_revoked() {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
        let idle = Duration::hours(1);
        let expires = t0 + Duration::hours(10);
        assert_eq!(
            session_end(t0, expires, false, idle, t0 + Duration::minutes(59)),
            None
        );
        assert_eq!(
            session_end(t0, expires, false, idle, t0 + Duration::minutes(60)),
            Some(SessionEnd::Idle)
        );
        assert_eq!(
            session_end(
                t0 + Duration::hours(9),
                expires,
                false,
                idle,
                t0 + Duration::hours(10)
            ),
            Some(SessionEnd::Expired)
        );
        assert_eq!(
            session_end(t0, expires, true, idle, t0),
            Some(SessionEnd::Revoked)
        );
    }

    #[test]
    fn the_providers_own_trouble_is_a_fault_and_its_decisions_are_refusals() {
        for (error, code) in [
            ("access_denied", "provider_denied"),
            ("consent_required", "provider_denied"),
            ("invalid_request", "provider_denied"),
            ("server_error", "provider_error"),
            ("temporarily_unavailable", "provider_error"),
        ] {
            assert_eq!(
                Refusal::from_provider_answer(error, "why").code(),
                code,
                "{error}"
            );
        }
        assert_eq!(
            Refusal::from_provider_answer("access_denied", "").detail(),
            "access_denied"
        );
    }

    #[test]
    fn names_in_a_token_follow_the_rule_for_names() {
        let person = EntraIdentity {
            tenant_id: "t".into(),
            object_id: "o".into(),
            user_name: "ada@contoso.example".into(),
            name: Some("Ada Lovelace".into()),
            email: None,
            groups: GroupsClaim::Incomplete,
            app_roles: Vec::new(),
        };
        assert_eq!(person.check_names(), Ok(()));
        let forged = EntraIdentity {
            name: Some("Ada\n2026-01-01 INFO admin signed in".into()),
            ..person.clone()
        };
        assert!(matches!(
            forged.check_names(),
            Err(Refusal::UnsafeName { claim: "name", .. })
        ));
        let reversed = EntraIdentity {
            user_name: "ada\u{202E}moc.elpmaxe@contoso.example".into(),
            ..person
        };
        let refusal = reversed.check_names().unwrap_err();
        assert_eq!(refusal.code(), "unsafe_name");
        assert!(
            refusal.detail().contains("preferred_username"),
            "{}",
            refusal.detail()
        );
    }

    #[test]
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
    }
}
