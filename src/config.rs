//! Configuration: an optional `rota.toml`, overridden key by key by `ROTA_*` environment
//! variables. Every value is checked before anything starts; a bad one stops start-up with a
//! message that names the key (as the operator wrote it) and what is wrong.

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// The keys we read; `ROTA_` plus the upper-cased key is the environment variable.
const KEYS: [&str; 6] = [
    "database_url",
    "listen",
    "public_url",
    "log_format",
    "db_pool_size",
    "policy_dir",
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
            .unwrap_or(if database.is_sqlite() { 8 } else { 16 });
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
        Ok(Config {
            database,
            listen,
            public_url,
            log_format,
            db_pool_size,
            policies,
        })
    }
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
