//! Configuration: an optional `rota.toml`, overridden key by key by `ROTA_*` environment
//! variables. Every value is checked before anything starts; a bad one stops start-up with a
//! message that names the key (as the operator wrote it) and what is wrong.

use crate::domain::chat_hosts::ChatHosts;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use lettre::message::Mailbox;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// The keys we read; `ROTA_` plus the upper-cased key is the environment variable.
const KEYS: [&str; 24] = [
    "database_url",
    "listen",
    "public_url",
    "log_format",
    "db_pool_size",
    "policy_dir",
    "smtp_url",
    "smtp_from",
    "oidc_issuer",
    "oidc_client_id",
    "oidc_client_secret",
    "entra_tenant_id",
    "entra_allowed_tenants",
    "bootstrap_owners",
    "session_idle_minutes",
    "session_max_hours",
    "seats_full",
    "seats_stakeholder",
    "events_per_minute",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_from",
    "twilio_base_url",
    "chat_hosts",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    database_url: Option<String>,
    listen: Option<String>,
    public_url: Option<String>,
    log_format: Option<String>,
    db_pool_size: Option<u32>,
    policy_dir: Option<String>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_client_secret: Option<String>,
    entra_tenant_id: Option<String>,
    entra_allowed_tenants: Option<String>,
    bootstrap_owners: Option<String>,
    session_idle_minutes: Option<u32>,
    session_max_hours: Option<u32>,
    seats_full: Option<i64>,
    seats_stakeholder: Option<i64>,
    events_per_minute: Option<u32>,
    twilio_account_sid: Option<String>,
    twilio_auth_token: Option<String>,
    twilio_from: Option<String>,
    twilio_base_url: Option<String>,
    chat_hosts: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub listen: SocketAddr,
    /// Where people and Entra reach us, without a trailing slash.
    pub public_url: String,
    pub log_format: LogFormat,
    pub db_pool_size: u32,
    pub policies: PolicySource,
    /// The SMTP server emails go through; without one they stay queued in the database.
    pub smtp_url: Option<SmtpUrl>,
    /// The sender of every email.
    pub smtp_from: Mailbox,
    /// Sign-in with Entra ID; `None` when no issuer is configured (break-glass still works).
    pub oidc: Option<OidcConfig>,
    /// userNames that are made owners when they sign in: how the first people get in.
    pub bootstrap_owners: Vec<String>,
    pub sessions: SessionLimits,
    pub seats: SeatCaps,
    /// Events taken per routing key per minute (a burst of that many, refilled evenly);
    /// more are answered 429 with Retry-After, as PagerDuty's Events API does.
    pub events_per_minute: u32,
    /// Phone calls through Twilio; `None` when no account is configured (phone
    /// notifications then wait in the outbox, as e-mails do without SMTP).
    pub twilio: Option<TwilioConfig>,
    /// Where chat webhooks may point: Slack's and Microsoft's own hosts, plus those added
    /// (`chat_hosts`, comma-separated), which may also be on a private network.
    pub chat_hosts: ChatHosts,
}

/// Twilio's REST API as Rota calls it: the account, its auth token (which also signs
/// Twilio's callbacks to us), the number calls come from, and where the API is
/// (`https://api.twilio.com` unless a test or a regional edge says otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    pub base_url: String,
}

/// Twilio's own API.
pub const TWILIO_API: &str = "https://api.twilio.com";

/// Events per routing key per minute unless configured: far above what Alertmanager's
/// grouping sends, low enough that one runaway monitor cannot take the database.
pub const DEFAULT_EVENTS_PER_MINUTE: u32 = 3_000;

/// The licences bought: how many full and stakeholder seats (`None`: unlimited). Applied at
/// start when they differ from the values applied last; licence owners may change the caps
/// through the API in between.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeatCaps {
    pub full: Option<i64>,
    pub stakeholder: Option<i64>,
}

impl SeatCaps {
    /// The configuration key of a licence's cap, as the operator set it.
    pub fn key(licence: crate::domain::seat_policy::Licence) -> String {
        key_as_set(&format!("seats_{}", licence.as_str()))
    }
}

/// The key to name in a message about a configuration value: the `ROTA_*` variable when it
/// is set (it overrides the file), else the `rota.toml` key.
pub fn key_as_set(file_key: &str) -> String {
    let var = format!("ROTA_{}", file_key.to_ascii_uppercase());
    if std::env::var_os(&var).is_some() {
        var
    } else {
        file_key.to_string()
    }
}

/// Where the authorization policies come from: `policy_dir` when set, else `./policies` when
/// it exists, else the copy compiled into the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    Dir(PathBuf),
    Builtin,
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Dir(dir) => {
                let shown = dir.display().to_string();
                if shown.ends_with('/') {
                    f.write_str(&shown)
                } else {
                    write!(f, "{shown}/")
                }
            }
            PolicySource::Builtin => f.write_str("built in"),
        }
    }
}

/// The relying party's settings for Entra ID (or any OIDC provider shaped like it).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Exactly as the provider writes `iss`, e.g. `https://login.microsoftonline.com/{tenant}/v2.0`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Tenants whose people may sign in: `entra_tenant_id` first, then the allow-list.
    pub tenants: Vec<String>,
}

/// How long a browser session lasts: it ends after `idle` without use, and at `max` regardless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: chrono::Duration,
    pub max: chrono::Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: chrono::Duration::hours(8),
            max: chrono::Duration::days(7),
        }
    }
}

/// A secret from configuration: never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite { path: PathBuf },
    Postgres { url: String },
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(
                    "names no file: write sqlite://rota.db or sqlite:///var/lib/rota/rota.db"
                        .into(),
                );
            }
            if path == ":memory:" {
                return Err("an in-memory database would be lost at exit; name a file such as sqlite://rota.db".into());
            }
            return Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let url = Url::parse(raw).map_err(|e| format!("is not a valid PostgreSQL URL: {e}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err("names no host: write postgres://USER@HOST:5432/DATABASE".into());
            }
            return Ok(DatabaseUrl::Postgres {
                url: raw.to_string(),
            });
        }
        let scheme = raw.split_once(':').map(|(s, _)| s).unwrap_or(raw);
        Err(format!(
            "has the unknown scheme '{scheme}': use sqlite://FILE or postgres://USER@HOST/DATABASE"
        ))
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite { .. })
    }
}

/// Shows the URL with any password replaced, so it can go into logs and messages.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres { url } => match Url::parse(url) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    // libpq also takes the password as a query parameter.
                    let pairs: Vec<(String, String)> = u
                        .query_pairs()
                        .map(|(k, v)| {
                            (
                                k.to_string(),
                                if k == "password" {
                                    "***".to_string()
                                } else {
                                    v.to_string()
                                },
                            )
                        })
                        .collect();
                    if !pairs.is_empty() {
                        u.query_pairs_mut().clear().extend_pairs(pairs);
                    }
                    f.write_str(u.as_str())
                }
                Err(_) => f.write_str("postgres://(unparsable URL)"),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where emails are sent: `smtps://USER:PASSWORD@HOST[:465]` (TLS), or `smtp://…[:25]`, plain
/// unless `?tls=required` or `?tls=opportunistic` asks for STARTTLS. A path names the EHLO
/// host. The URL may carry a password: `Display` and `Debug` show it as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<SmtpUrl, String> {
        let raw = raw.trim();
        let url = Url::parse(raw).map_err(|e| {
            format!("is not a URL ({e}); write it like smtps://USER:PASSWORD@smtp.example.com")
        })?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(format!(
                "has the scheme '{}'; use smtps:// (TLS) or smtp:// (add ?tls=required for STARTTLS)",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("names no host: write smtps://USER:PASSWORD@smtp.example.com".into());
        }
        if let Some((_, tls)) = url.query_pairs().find(|(k, _)| k == "tls")
            && !matches!(&*tls, "required" | "opportunistic")
        {
            return Err(format!(
                "has tls={tls}; use tls=required or tls=opportunistic (or smtps:// for TLS from the start)"
            ));
        }
        // The transport is built from the same URL later; whatever it refuses is refused here.
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(raw)
            .map_err(|e| format!("cannot be used: {e}"))?;
        Ok(SmtpUrl(raw.to_string()))
    }

    /// The URL with its password, for building the transport only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Shows the URL with any password replaced, so it can go into logs and messages.
impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                f.write_str(u.as_str())
            }
            Err(_) => f.write_str("smtp://(unparsable URL)"),
        }
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn parse_mailbox(raw: &str) -> Result<Mailbox, String> {
    raw.trim().parse().map_err(|e| {
        format!("is '{raw}', not a mailbox ({e}); write it like Rota <rota@example.com>")
    })
}

/// `Rota <rota@HOST>` with the host of the public URL (`localhost` when that is an IP address,
/// which a mailbox cannot name plainly).
fn default_from(public_url: &str) -> Mailbox {
    let host = Url::parse(public_url)
        .ok()
        .and_then(|u| match u.host() {
            Some(url::Host::Domain(d)) => Some(d.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "localhost".into());
    parse_mailbox(&format!("Rota <rota@{host}>"))
        .or_else(|_| parse_mailbox("Rota <rota@localhost>"))
        .expect("rota@localhost is a mailbox")
}

/// A configuration value that cannot be used.
#[derive(Debug)]
pub struct ConfigError {
    /// The key as the operator set it: `ROTA_LISTEN` or `listen (in rota.toml)`.
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {} {}", self.key, self.reason)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// What an empty `rota.toml` and no `ROTA_*` variables give, on `database` and `listen`
    /// (the tests' app starts from this).
    pub fn defaults(database: DatabaseUrl, listen: SocketAddr) -> Config {
        let public_url = default_public_url(listen);
        Config {
            db_pool_size: default_pool_size(&database),
            database,
            listen,
            smtp_from: default_from(&public_url),
            public_url,
            log_format: LogFormat::Text,
            policies: PolicySource::Builtin,
            smtp_url: None,
            oidc: None,
            bootstrap_owners: Vec::new(),
            sessions: SessionLimits::default(),
            seats: SeatCaps::default(),
            events_per_minute: DEFAULT_EVENTS_PER_MINUTE,
            twilio: None,
            chat_hosts: ChatHosts::default(),
        }
    }

    /// Reads `file` (when given it must exist; otherwise `rota.toml` is read if present) and
    /// the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("rota.toml"), false),
        };
        if required && !path.exists() {
            return Err(ConfigError {
                key: "--config".into(),
                reason: format!("names {}, which does not exist", path.display()),
            });
        }
        let mut figment = Figment::new();
        if path.exists() {
            figment = figment.merge(Toml::file_exact(&path));
        }
        let figment = figment.merge(Env::prefixed("ROTA_").only(&KEYS));
        let raw: RawConfig = figment.extract().map_err(|e| {
            let key = e
                .path
                .first()
                .map(|k| source_of(k, &path))
                .unwrap_or_else(|| path.display().to_string());
            ConfigError {
                key,
                reason: format!("is invalid: {}", e.kind),
            }
        })?;
        Self::from_raw(raw, &path)
    }

    fn from_raw(raw: RawConfig, file: &Path) -> Result<Config, ConfigError> {
        let bad = |key: &str, reason: String| ConfigError {
            key: source_of(key, file),
            reason,
        };
        let database =
            DatabaseUrl::parse(raw.database_url.as_deref().unwrap_or("sqlite://rota.db"))
                .map_err(|r| bad("database_url", r))?;
        let listen = parse_listen(raw.listen.as_deref().unwrap_or("127.0.0.1:8080"))
            .map_err(|r| bad("listen", r))?;
        let oidc = oidc_config(&raw).map_err(|(key, r)| bad(key, r))?;
        let twilio = twilio_config(&raw).map_err(|(key, r)| bad(key, r))?;
        let public_url = match raw.public_url {
            Some(u) => parse_public_url(&u).map_err(|r| bad("public_url", r))?,
            None => default_public_url(listen),
        };
        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("log_format", format!("is '{other}'; use text or json"))),
        };
        let db_pool_size = raw
            .db_pool_size
            .unwrap_or_else(|| default_pool_size(&database));
        if !(1..=512).contains(&db_pool_size) {
            return Err(bad(
                "db_pool_size",
                format!("is {db_pool_size}; use 1 to 512"),
            ));
        }
        let policies = match raw.policy_dir {
            Some(dir) => {
                let dir = PathBuf::from(dir.trim());
                if !dir.is_dir() {
                    return Err(bad(
                        "policy_dir",
                        format!(
                            "names {}, which is not a directory; point it at a folder of .cedar \
                             policies and rota.cedarschema, or unset it for the built-in policies",
                            dir.display()
                        ),
                    ));
                }
                PolicySource::Dir(dir)
            }
            None if Path::new("policies").is_dir() => PolicySource::Dir("policies".into()),
            None => PolicySource::Builtin,
        };
        let smtp_url = raw
            .smtp_url
            .as_deref()
            .map(SmtpUrl::parse)
            .transpose()
            .map_err(|r| bad("smtp_url", r))?;
        let smtp_from = match raw.smtp_from.as_deref() {
            Some(from) => parse_mailbox(from).map_err(|r| bad("smtp_from", r))?,
            None => default_from(&public_url),
        };
        let bootstrap_owners = list(raw.bootstrap_owners.as_deref());
        let defaults = SessionLimits::default();
        let idle_minutes = raw
            .session_idle_minutes
            .unwrap_or(defaults.idle.num_minutes() as u32);
        if !(5..=7 * 24 * 60).contains(&idle_minutes) {
            return Err(bad(
                "session_idle_minutes",
                format!("is {idle_minutes}; use 5 to 10080 (a week)"),
            ));
        }
        let max_hours = raw
            .session_max_hours
            .unwrap_or(defaults.max.num_hours() as u32);
        if !(1..=90 * 24).contains(&max_hours)
            || i64::from(max_hours) * 60 < i64::from(idle_minutes)
        {
            return Err(bad(
                "session_max_hours",
                format!(
                    "is {max_hours}; use 1 to 2160 (90 days), and no less than the idle timeout"
                ),
            ));
        }
        let cap = |key: &str, v: Option<i64>| match v {
            Some(n) if !(0..=10_000_000).contains(&n) => Err(bad(
                key,
                format!(
                    "is {n}; give the number of seats bought (0 to 10000000), or leave it out for unlimited"
                ),
            )),
            other => Ok(other),
        };
        let seats = SeatCaps {
            full: cap("seats_full", raw.seats_full)?,
            stakeholder: cap("seats_stakeholder", raw.seats_stakeholder)?,
        };
        let events_per_minute = raw.events_per_minute.unwrap_or(DEFAULT_EVENTS_PER_MINUTE);
        if !(1..=10_000_000).contains(&events_per_minute) {
            return Err(bad(
                "events_per_minute",
                format!("is {events_per_minute}; use 1 to 10000000"),
            ));
        }
        let chat_hosts = ChatHosts::with_added(&list(raw.chat_hosts.as_deref()))
            .map_err(|r| bad("chat_hosts", r))?;
        Ok(Config {
            chat_hosts,
            seats,
            events_per_minute,
            twilio,
            database,
            listen,
            public_url,
            log_format,
            db_pool_size,
            policies,
            smtp_url,
            smtp_from,
            oidc,
            bootstrap_owners,
            sessions: SessionLimits {
                idle: chrono::Duration::minutes(idle_minutes.into()),
                max: chrono::Duration::hours(max_hours.into()),
            },
        })
    }
}

/// A comma- or whitespace-separated list, empty items dropped.
fn list(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Entra tenant ids are GUIDs; a typo here would lock everybody out, so say so at start-up.
fn is_guid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok() && s.len() == 36
}

/// Sign-in settings: all or nothing, so a half-configured deployment fails at start, not at
/// the first sign-in. The tenant defaults to the GUID in an Entra issuer URL.
fn oidc_config(raw: &RawConfig) -> Result<Option<OidcConfig>, (&'static str, String)> {
    let Some(issuer) = raw.oidc_issuer.as_deref().map(str::trim) else {
        for key in ["oidc_client_id", "oidc_client_secret", "entra_tenant_id"] {
            let set = match key {
                "oidc_client_id" => raw.oidc_client_id.is_some(),
                "oidc_client_secret" => raw.oidc_client_secret.is_some(),
                _ => raw.entra_tenant_id.is_some(),
            };
            if set {
                return Err((
                    "oidc_issuer",
                    format!(
                        "is not set (ROTA_OIDC_ISSUER), but {key} is: set the issuer, e.g. https://login.microsoftonline.com/<tenant id>/v2.0"
                    ),
                ));
            }
        }
        return Ok(None);
    };
    let url = Url::parse(issuer).map_err(|e| {
        (
            "oidc_issuer",
            format!("is not a URL ({e}); write https://login.microsoftonline.com/<tenant id>/v2.0"),
        )
    })?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err((
            "oidc_issuer",
            "must be an https URL (http only for a provider on this machine)".into(),
        ));
    }
    let client_id = raw
        .oidc_client_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or((
            "oidc_client_id",
            "is not set (ROTA_OIDC_CLIENT_ID): it is the application (client) id of Rota's app registration".to_string(),
        ))?;
    let client_secret = raw
        .oidc_client_secret
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or((
            "oidc_client_secret",
            "is not set (ROTA_OIDC_CLIENT_SECRET): create a client secret in Rota's app registration".to_string(),
        ))?;
    let from_issuer = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|s| is_guid(s))
        .map(str::to_ascii_lowercase);
    let tenant = match raw.entra_tenant_id.as_deref().map(str::trim) {
        Some(t) if is_guid(t) => t.to_ascii_lowercase(),
        Some(t) => {
            return Err((
                "entra_tenant_id",
                format!("is '{t}', which is not a tenant id (a GUID)"),
            ));
        }
        None => from_issuer.ok_or((
            "entra_tenant_id",
            "is not set (ROTA_ENTRA_TENANT_ID) and the issuer names no tenant: set the directory (tenant) id".to_string(),
        ))?,
    };
    let mut tenants = vec![tenant];
    for t in list(raw.entra_allowed_tenants.as_deref()) {
        if !is_guid(&t) {
            return Err((
                "entra_allowed_tenants",
                format!("has '{t}', which is not a tenant id (a GUID)"),
            ));
        }
        let t = t.to_ascii_lowercase();
        if !tenants.contains(&t) {
            tenants.push(t);
        }
    }
    Ok(Some(OidcConfig {
        issuer: issuer.to_string(),
        client_id: client_id.to_string(),
        client_secret: Secret(client_secret.to_string()),
        tenants,
    }))
}

/// Twilio's keys: none set (no calls), or the account, token and number all set and
/// well-formed; the base URL is optional.
fn twilio_config(raw: &RawConfig) -> Result<Option<TwilioConfig>, (&'static str, String)> {
    let trimmed = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (sid, token, from, base) = (
        trimmed(&raw.twilio_account_sid),
        trimmed(&raw.twilio_auth_token),
        trimmed(&raw.twilio_from),
        trimmed(&raw.twilio_base_url),
    );
    let Some(sid) = sid else {
        for (key, set) in [
            ("twilio_auth_token", token.is_some()),
            ("twilio_from", from.is_some()),
            ("twilio_base_url", base.is_some()),
        ] {
            if set {
                return Err((
                    "twilio_account_sid",
                    format!(
                        "is not set (ROTA_TWILIO_ACCOUNT_SID), but {key} is: set the Account SID from Twilio's console (AC followed by 32 hex digits)"
                    ),
                ));
            }
        }
        return Ok(None);
    };
    let hex32 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !(sid.starts_with("AC") && hex32(&sid[2..])) {
        return Err((
            "twilio_account_sid",
            "is not an Account SID: it is AC followed by 32 hex digits (Twilio console, Account Info)".into(),
        ));
    }
    let token = token.ok_or((
        "twilio_auth_token",
        "is not set (ROTA_TWILIO_AUTH_TOKEN): the account's Auth Token authenticates calls and signs Twilio's callbacks".to_string(),
    ))?;
    if !hex32(&token) {
        return Err((
            "twilio_auth_token",
            "is not an Auth Token: it is 32 hex digits (Twilio console, Account Info)".into(),
        ));
    }
    let from = from.ok_or((
        "twilio_from",
        "is not set (ROTA_TWILIO_FROM): the Twilio number calls come from, in E.164 (+14155550100)"
            .to_string(),
    ))?;
    let from = crate::domain::contact::phone(&from).map_err(|reason| {
        (
            "twilio_from",
            format!("{reason}: give a Twilio number in E.164 (+14155550100)"),
        )
    })?;
    let base_url = match base {
        None => TWILIO_API.to_string(),
        Some(b) => {
            let url = Url::parse(&b).map_err(|e| {
                (
                    "twilio_base_url",
                    format!("is not a URL ({e}); leave it unset for {TWILIO_API}"),
                )
            })?;
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                return Err((
                    "twilio_base_url",
                    "must be an https URL (http only for a server on this machine)".into(),
                ));
            }
            url.as_str().trim_end_matches('/').to_string()
        }
    };
    Ok(Some(TwilioConfig {
        account_sid: sid,
        auth_token: Secret(token),
        from,
        base_url,
    }))
}

/// Says where a key's value came from, so the operator knows what to edit.
fn source_of(key: &str, file: &Path) -> String {
    let var = format!("ROTA_{}", key.to_ascii_uppercase());
    if std::env::var_os(&var).is_some() {
        var
    } else {
        format!("{key} (in {})", file.display())
    }
}

fn parse_listen(raw: &str) -> Result<SocketAddr, String> {
    let (host, port) = raw
        .rsplit_once(':')
        .ok_or_else(|| format!("is '{raw}'; write HOST:PORT such as 127.0.0.1:8080"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("has the port '{port}'; a port is a number from 0 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let ip: std::net::IpAddr = ip.parse().map_err(|_| {
        format!("has the host '{host}'; give an IP address such as 0.0.0.0 or 127.0.0.1")
    })?;
    Ok(SocketAddr::new(ip, port))
}

fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim())
        .map_err(|e| format!("is not a URL ({e}); write it like https://rota.example.com"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "has the scheme '{}'; use https (or http for local testing)",
            url.scheme()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The pool size when the configuration sets none.
fn default_pool_size(database: &DatabaseUrl) -> u32 {
    if database.is_sqlite() { 8 } else { 16 }
}

fn default_public_url(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("http://localhost:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_configuration_means_sqlite_rota_db_on_localhost_8080() {
        let config = Config::from_raw(RawConfig::default(), Path::new("rota.toml")).unwrap();
        assert_eq!(
            config.database,
            DatabaseUrl::Sqlite {
                path: "rota.db".into()
            }
        );
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.db_pool_size, 8);
        assert_eq!(config.smtp_url, None);
        assert_eq!(config.smtp_from.to_string(), "Rota <rota@localhost>");
        assert!(config.oidc.is_none());
        assert_eq!(config.sessions, SessionLimits::default());
        assert_eq!(config.seats, SeatCaps::default());
    }

    #[test]
    fn chat_hosts_are_added_to_the_providers_and_a_bad_one_is_named() {
        let raw = RawConfig {
            chat_hosts: Some("127.0.0.1, chat.example.com".into()),
            ..RawConfig::default()
        };
        let c = Config::from_raw(raw, Path::new("rota.toml")).unwrap();
        assert!(c.chat_hosts.added(&url::Host::Ipv4([127, 0, 0, 1].into())));
        assert!(
            c.chat_hosts
                .added(&url::Host::Domain("hooks.chat.example.com"))
        );
        let raw = RawConfig {
            chat_hosts: Some("https://chat.example.com/".into()),
            ..RawConfig::default()
        };
        let e = Config::from_raw(raw, Path::new("rota.toml")).unwrap_err();
        assert_eq!(e.key, "chat_hosts (in rota.toml)");
        assert!(e.reason.contains("not a host"), "{}", e.reason);
    }

    #[test]
    fn seat_caps_are_counts() {
        let raw = RawConfig {
            seats_full: Some(50),
            ..RawConfig::default()
        };
        let c = Config::from_raw(raw, Path::new("rota.toml")).unwrap();
        assert_eq!(c.seats.full, Some(50));
        assert_eq!(c.seats.stakeholder, None);
        let raw = RawConfig {
            seats_stakeholder: Some(-1),
            ..RawConfig::default()
        };
        let e = Config::from_raw(raw, Path::new("rota.toml")).unwrap_err();
        assert_eq!(e.key, "seats_stakeholder (in rota.toml)");
    }

    #[test]
    fn twilio_is_all_or_nothing_and_named_by_key() {
        let sid = format!("AC{}", "a".repeat(32));
        let token = "0123456789abcdef0123456789abcdef".to_string();
        let with =
            |sid: Option<&str>, token: Option<&str>, from: Option<&str>, base: Option<&str>| {
                let raw = RawConfig {
                    twilio_account_sid: sid.map(str::to_owned),
                    twilio_auth_token: token.map(str::to_owned),
                    twilio_from: from.map(str::to_owned),
                    twilio_base_url: base.map(str::to_owned),
                    ..RawConfig::default()
                };
                Config::from_raw(raw, Path::new("rota.toml"))
            };
        assert_eq!(with(None, None, None, None).unwrap().twilio, None);
        let t = with(Some(&sid), Some(&token), Some("+1 (415) 555-0100"), None)
            .unwrap()
            .twilio
            .unwrap();
        assert_eq!(
            (t.from.as_str(), t.base_url.as_str()),
            ("+14155550100", TWILIO_API)
        );
        assert!(
            !format!("{t:?}").contains(&token),
            "the token is never logged"
        );
        let key_of = |r: Result<Config, ConfigError>| r.unwrap_err().key;
        assert!(key_of(with(None, Some(&token), None, None)).starts_with("twilio_account_sid"));
        assert!(
            key_of(with(Some("AC12"), Some(&token), Some("+14155550100"), None))
                .starts_with("twilio_account_sid")
        );
        assert!(
            key_of(with(Some(&sid), None, Some("+14155550100"), None))
                .starts_with("twilio_auth_token")
        );
        assert!(
            key_of(with(Some(&sid), Some("secret"), Some("+14155550100"), None))
                .starts_with("twilio_auth_token")
        );
        assert!(key_of(with(Some(&sid), Some(&token), None, None)).starts_with("twilio_from"));
        assert!(
            key_of(with(Some(&sid), Some(&token), Some("0312345678"), None))
                .starts_with("twilio_from")
        );
        let base = |b: &str| with(Some(&sid), Some(&token), Some("+14155550100"), Some(b));
        assert!(key_of(base("http://api.example.com")).starts_with("twilio_base_url"));
        assert!(key_of(base("not a url")).starts_with("twilio_base_url"));
        assert_eq!(
            base("http://127.0.0.1:9/")
                .unwrap()
                .twilio
                .unwrap()
                .base_url,
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn smtp_urls() {
        for ok in [
            "smtps://rota:secret@mail.example.com",
            "smtp://mail.example.com:587?tls=required",
            "smtp://127.0.0.1:2525?tls=opportunistic",
            "smtp://localhost:25/rota.example.com",
        ] {
            assert!(SmtpUrl::parse(ok).is_ok(), "{ok}");
        }
        let shown = SmtpUrl::parse("smtps://rota:secret@mail.example.com")
            .unwrap()
            .to_string();
        assert_eq!(shown, "smtps://rota:***@mail.example.com");
        let debug = format!(
            "{:?}",
            SmtpUrl::parse("smtp://u:hunter2@m.example.com").unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
        for (bad, reason) in [
            ("mail.example.com", "not a URL"),
            ("https://mail.example.com", "scheme 'https'"),
            ("smtp://", "names no host"),
            ("smtp://mail.example.com?tls=always", "tls=always"),
        ] {
            let err = SmtpUrl::parse(bad).unwrap_err();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    fn with_oidc(issuer: &str, tenant: Option<&str>) -> RawConfig {
        RawConfig {
            oidc_issuer: Some(issuer.into()),
            oidc_client_id: Some("client".into()),
            oidc_client_secret: Some("secret".into()),
            entra_tenant_id: tenant.map(Into::into),
            ..RawConfig::default()
        }
    }

    #[test]
    fn senders() {
        assert_eq!(
            default_from("https://rota.example.com").to_string(),
            "Rota <rota@rota.example.com>"
        );
        assert_eq!(
            default_from("http://[::1]:8080").to_string(),
            "Rota <rota@localhost>"
        );
        assert_eq!(
            parse_mailbox("On call <oncall@example.com>")
                .unwrap()
                .to_string(),
            "On call <oncall@example.com>"
        );
        assert!(parse_mailbox("oncall").is_err());
    }

    #[test]
    fn sign_in_settings() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let entra = format!("https://login.microsoftonline.com/{t}/v2.0");
        let c = Config::from_raw(with_oidc(&entra, None), Path::new("rota.toml")).unwrap();
        let oidc = c.oidc.unwrap();
        assert_eq!(oidc.tenants, vec![t.to_string()]);
        assert!(!format!("{oidc:?}").contains("secret\""), "{oidc:?}");
        let err = |raw| {
            Config::from_raw(raw, Path::new("rota.toml"))
                .unwrap_err()
                .key
        };
        assert_eq!(
            err(with_oidc("http://idp.example.com/x", Some(t))),
            "oidc_issuer (in rota.toml)"
        );
        assert_eq!(
            err(with_oidc("https://idp.example.com/", None)),
            "entra_tenant_id (in rota.toml)"
        );
        assert_eq!(
            err(with_oidc(&entra, Some("contoso"))),
            "entra_tenant_id (in rota.toml)"
        );
        let mut half = with_oidc(&entra, None);
        half.oidc_client_secret = None;
        assert_eq!(err(half), "oidc_client_secret (in rota.toml)");
        let orphan = RawConfig {
            oidc_client_id: Some("x".into()),
            ..RawConfig::default()
        };
        assert_eq!(err(orphan), "oidc_issuer (in rota.toml)");
        let local = with_oidc(&format!("http://127.0.0.1:4000/{t}/v2.0"), None);
        assert!(Config::from_raw(local, Path::new("rota.toml")).is_ok());
    }

    #[test]
    fn policy_dir_must_be_a_directory() {
        let raw = RawConfig {
            policy_dir: Some("/no/such/rota/policies".into()),
            ..RawConfig::default()
        };
        let e = Config::from_raw(raw, Path::new("rota.toml")).unwrap_err();
        assert_eq!(e.key, "policy_dir (in rota.toml)");
        assert!(e.reason.contains("not a directory"), "{}", e.reason);
        let dir = tempfile::tempdir().unwrap();
        let raw = RawConfig {
            policy_dir: Some(dir.path().display().to_string()),
            ..RawConfig::default()
        };
        let config = Config::from_raw(raw, Path::new("rota.toml")).unwrap();
        assert_eq!(config.policies, PolicySource::Dir(dir.path().into()));
        assert_eq!(PolicySource::Builtin.to_string(), "built in");
        assert_eq!(
            PolicySource::Dir("policies".into()).to_string(),
            "policies/"
        );
    }

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://rota.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "rota.db".into()
            }
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/x.db").unwrap(),
            DatabaseUrl::Sqlite {
                path: "/var/x.db".into()
            }
        );
        assert!(DatabaseUrl::parse("postgres://u:p@db:5432/rota").is_ok());
        assert!(
            DatabaseUrl::parse("mysql://x")
                .unwrap_err()
                .contains("unknown scheme 'mysql'")
        );
        assert!(DatabaseUrl::parse("postgres://").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        let shown = DatabaseUrl::parse("postgres://u:secret@db/rota")
            .unwrap()
            .to_string();
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("127.0.0.1:8080").unwrap().port(), 8080);
        assert!(parse_listen("[::1]:80").is_ok());
        assert!(
            parse_listen("127.0.0.1:99999")
                .unwrap_err()
                .contains("port")
        );
        assert!(parse_listen("8080").is_err());
        assert!(parse_listen("nowhere:80").unwrap_err().contains("host"));
    }

    #[test]
    fn public_urls() {
        assert_eq!(
            parse_public_url("https://rota.example.com/").unwrap(),
            "https://rota.example.com"
        );
        assert!(parse_public_url("ftp://x").is_err());
        assert!(parse_public_url("not a url").is_err());
        assert_eq!(
            default_public_url("0.0.0.0:9000".parse().unwrap()),
            "http://localhost:9000"
        );
    }
}
