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
    /// The provider answered with an error, or could not be reached.
    ProviderError(String),
    /// The login's state is unknown, used already, or too old; or the state cookie is missing.
    ExpiredOrReplayed,
    /// The ID token failed validation (signature, issuer, audience, expiry, nonce, algorithm).
    InvalidToken(String),
    /// The userName belongs to an account linked to another Entra identity.
    IdentityConflict { user_name: String },
    /// Sign-in with Entra ID is not configured on this server.
    NotConfigured,
    /// Every seat the person could use is taken: their account exists and they wait in the
    /// queue (for this licence, at this place), but they cannot sign in yet.
    NoSeat {
        waiting: Option<(crate::domain::seat_policy::Licence, usize)>,
    },
}

impl Refusal {
    /// A stable word for the audit trail and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::WrongTenant { .. } => "wrong_tenant",
            Refusal::Deactivated => "deactivated",
            Refusal::ProviderError(_) => "provider_error",
            Refusal::ExpiredOrReplayed => "expired_or_replayed",
            Refusal::InvalidToken(_) => "invalid_token",
            Refusal::IdentityConflict { .. } => "identity_conflict",
            Refusal::NotConfigured => "not_configured",
            Refusal::NoSeat { .. } => "no_seat",
        }
    }

    /// The technical detail, for the audit trail.
    pub fn detail(&self) -> String {
        match self {
            Refusal::WrongTenant { tenant } => format!("tenant {tenant} is not allowed"),
            Refusal::ProviderError(e) | Refusal::InvalidToken(e) => e.clone(),
            Refusal::IdentityConflict { user_name } => {
                format!("{user_name} is linked to another Entra identity")
            }
            other => other.title().to_string(),
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Refusal::WrongTenant { .. } => "This account is from another organisation",
            Refusal::Deactivated => "Your Rota account is deactivated",
            Refusal::ProviderError(_) => "Microsoft sign-in did not complete",
            Refusal::ExpiredOrReplayed => "This sign-in link has expired",
            Refusal::InvalidToken(_) => "The sign-in could not be verified",
            Refusal::IdentityConflict { .. } => "Your account needs an administrator",
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
            Refusal::ExpiredOrReplayed => "Sign-in links work once, for ten minutes, in the browser that started them. Start again from the Rota home page.".into(),
            Refusal::InvalidToken(_) => "The identity token did not pass Rota's checks, so nobody was signed in. Try again; if it keeps failing, tell your Rota administrator (the audit trail has the details).".into(),
            Refusal::IdentityConflict { user_name } => format!("The Rota account {user_name} is already linked to a different Microsoft identity. Ask your Rota administrator to check the account."),
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
    fn csrf_tokens_differ_per_session() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert_eq!(csrf_token("a"), csrf_token("a"));
    }
}
