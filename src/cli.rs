//! The `rota` command line: `serve`, `migrate`, `token create|list|revoke`, `owner break-glass`,
//! `policy check`.
//! Configuration errors exit with status 2 and one line naming the key; other failures exit
//! with 1. Broken authorization policies print one `file:line:column: problem` line each and
//! exit with 1 from `policy check`, 2 from `serve` (which refuses to start).

use crate::app;
use crate::authz::{Policies, PolicyError};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::config::{Config, ConfigError, PolicySource};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::role::Role;
use crate::domain::seat_policy::SeatPolicy;
use crate::domain::token::TokenKind;
use crate::error::AppError;
use crate::http;
use crate::store::audit::AuditContext;
use crate::store::{self, Db, ServeLock};
use crate::store::{break_glass, tokens, users};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "rota",
    version,
    about = "Self-hosted on-call and access service"
)]
struct Cli {
    /// Configuration file (default: ./rota.toml when present). ROTA_* variables override it.
    #[arg(long, global = true, env = "ROTA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve {
        /// A first look: a sample organisation on a new SQLite file, a sample sign-in (loopback
        /// only), and an outbox page instead of e-mails and calls.
        #[arg(long)]
        demo: bool,
        /// The demo's database file, which must not exist yet (default: a new file in the
        /// temporary folder).
        #[arg(long, requires = "demo", value_name = "PATH")]
        demo_database: Option<PathBuf>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API and SCIM tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Owner accounts.
    Owner {
        #[command(subcommand)]
        command: OwnerCommand,
    },
    /// Work with the authorization policies (Cedar).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Subcommand)]
enum OwnerCommand {
    /// Let this owner sign in with a password when Entra ID is down: prints a new random
    /// password once (replacing any earlier one). Every use is audited and e-mailed to owners.
    BreakGlass {
        /// The owner's user name (their Entra userPrincipalName).
        username: String,
        /// Turn break-glass sign-in off for this owner instead.
        #[arg(long)]
        disable: bool,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Load the policies and validate them against their schema, as `rota serve` does.
    Check {
        /// A folder of .cedar files and rota.cedarschema (default: policy_dir, else ./policies
        /// when present, else the built-in policies).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret, once, on its own line.
    Create {
        /// api (REST API) or scim (Entra provisioning).
        #[arg(long)]
        kind: String,
        /// A unique name, such as "entra-provisioning" or "terraform".
        #[arg(long)]
        name: String,
        /// For API tokens: owner, admin, user, observer, … (default admin).
        #[arg(long, conflicts_with = "user")]
        role: Option<String>,
        /// For API tokens: a personal token that acts as this user (by user name), with their
        /// role at each use.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke the live token with this name.
    Revoke {
        name: String,
        /// A personal token of this user (by user name): personal tokens are named by the
        /// people who hold them, so two people's may share a name.
        #[arg(long)]
        user: Option<String>,
    },
}

/// Why a command failed, and how the process should exit.
enum Failure {
    Config(ConfigError),
    Usage(String),
    Runtime(String),
    /// The policies cannot be used; exit with the status given.
    Policies {
        source: PolicySource,
        error: PolicyError,
        status: u8,
    },
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e)
    }
}

impl From<app::StartError> for Failure {
    fn from(e: app::StartError) -> Self {
        match e {
            app::StartError::Config(e) => Failure::Config(e),
            app::StartError::Runtime(m) => Failure::Runtime(m),
        }
    }
}

impl From<AppError> for Failure {
    /// What the operator asked for was wrong (exit 2), or something failed (exit 1, with cause).
    fn from(e: AppError) -> Self {
        use crate::error::ErrorKind;
        match e.kind {
            ErrorKind::Invalid { .. }
            | ErrorKind::Conflict { .. }
            | ErrorKind::StaleVersion(_)
            | ErrorKind::InvalidFilter(_)
            | ErrorKind::InvalidSort(_)
            | ErrorKind::NotFound { .. } => Failure::Usage(e.message()),
            _ => Failure::Runtime(e.to_string()),
        }
    }
}

impl Failure {
    /// The exit status and what is written to stderr.
    fn report(&self) -> (u8, String) {
        match self {
            Failure::Config(e) => (2, format!("rota: {e}")),
            Failure::Usage(msg) => (2, format!("rota: {msg}")),
            Failure::Runtime(msg) => (1, format!("rota: {msg}")),
            Failure::Policies {
                source,
                error,
                status,
            } => {
                let n = error.problems.len();
                (
                    *status,
                    format!(
                        "rota: the authorization policies ({source}) have {n} problem{}:\n{error}",
                        if n == 1 { "" } else { "s" }
                    ),
                )
            }
        }
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (status, text) = failure.report();
            eprintln!("{text}");
            ExitCode::from(status)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let config = Config::load(cli.config.as_deref())?;
    crate::logging::init(config.log_format);
    match cli.command {
        Command::Serve { demo: false, .. } => serve(config, None),
        Command::Serve {
            demo: true,
            demo_database,
        } => serve_demo(config, demo_database),
        Command::Migrate => {
            let applied = store::migrate(&mut open_one(&config)?)?;
            if applied.is_empty() {
                println!("The database at {} is up to date.", config.database);
            } else {
                println!(
                    "Applied {} migration(s) to {}: {}",
                    applied.len(),
                    config.database,
                    applied.join(", ")
                );
            }
            Ok(())
        }
        Command::Owner { command } => {
            let mut conn = open_one(&config)?;
            store::migrate(&mut conn)?;
            owner_command(&mut conn, command)
        }
        Command::Token { command } => {
            let mut conn = open_one(&config)?;
            store::migrate(&mut conn)?;
            match command {
                TokenCommand::Create {
                    kind,
                    name,
                    role,
                    user,
                } => create_token(&mut conn, &kind, &name, role.as_deref(), user.as_deref()),
                TokenCommand::List => list_tokens(&mut conn),
                TokenCommand::Revoke { name, user } => {
                    revoke_token(&mut conn, &name, user.as_deref())?;
                    eprintln!("Revoked token '{name}'.");
                    Ok(())
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Check { dir },
        } => {
            let source = match dir {
                Some(dir) if !dir.is_dir() => {
                    return Err(Failure::Usage(format!(
                        "--dir names {}, which is not a directory",
                        dir.display()
                    )));
                }
                Some(dir) => PolicySource::Dir(dir),
                None => config.policies,
            };
            let policies = load_policies(source.clone(), 1)?;
            let (seats, _) = seat_policy(&source, 1)?;
            println!(
                "policies OK: {} policies in {} files and a seat policy with {} rules ({source})",
                policies.policy_count(),
                policies.file_count(),
                seats.rules.len()
            );
            Ok(())
        }
    }
}

/// Loads and validates the policies; on problems, fails with `status`.
fn load_policies(source: PolicySource, status: u8) -> Result<Policies, Failure> {
    match &source {
        PolicySource::Builtin => Ok(Policies::builtin()),
        PolicySource::Dir(dir) => Policies::load(dir).map_err(|error| Failure::Policies {
            source,
            error,
            status,
        }),
    }
}

fn owner_command(conn: &mut store::DbConnection, command: OwnerCommand) -> Result<(), Failure> {
    match command {
        OwnerCommand::BreakGlass {
            username,
            disable: false,
        } => {
            let password = break_glass::enable(conn, &cli_audit(), &username)?;
            eprintln!(
                "Break-glass sign-in is on for {username}, at /auth/break-glass. Store the password below somewhere safe offline: it is not shown again."
            );
            println!("{password}");
        }
        OwnerCommand::BreakGlass {
            username,
            disable: true,
        } => {
            break_glass::disable(conn, &cli_audit(), &username)?;
            eprintln!("Break-glass sign-in is off for {username}.");
        }
    }
    Ok(())
}

/// One connection for a one-shot command, opened and closed on the main thread.
///
/// Not a pool: r2d2 opens connections on background threads that it never joins (to keep
/// `min_idle` after a check-out, say). With PostgreSQL, such a thread inside `PQconnectdb`
/// → `SSL_CTX_new` while the main thread returns from `main` and runs `exit`'s handlers,
/// among them OpenSSL's `OPENSSL_cleanup` (which frees OpenSSL's global locks), crashed
/// about a third of CLI runs with SIGSEGV after their work was done.
fn open_one(config: &Config) -> Result<store::DbConnection, Failure> {
    store::Connector::new(config.database.clone())
        .connect()
        .map_err(|e| {
            unreachable_database(format!(
                "cannot connect to {}: {}",
                config.database,
                e.to_string().trim()
            ))
        })
}

/// The database named by the configuration cannot be used: a configuration error naming the
/// key it came from.
fn unreachable_database(reason: String) -> Failure {
    Failure::Config(ConfigError {
        key: crate::config::key_as_set("database_url"),
        reason,
    })
}

fn cli_audit() -> AuditContext {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    AuditContext {
        actor: Actor {
            kind: ActorKind::Cli,
            id: None,
            name: format!("rota CLI ({who})"),
        },
        request_id: None,
        at: SystemClock.now(),
    }
}

fn revoke_token(
    conn: &mut store::DbConnection,
    name: &str,
    user: Option<&str>,
) -> Result<(), Failure> {
    let refused = |e: crate::error::AppError| Failure::Usage(e.message());
    let Some(user_name) = user else {
        return tokens::revoke_audited(conn, &cli_audit(), tokens::Which::Named(name))
            .map_err(refused);
    };
    let holder = users::find_by_user_name(conn, user_name)?.ok_or_else(|| {
        Failure::Usage(format!("--user names {user_name}, who is not a user here"))
    })?;
    let token = tokens::personal_of(conn, &holder.id)?
        .into_iter()
        .find(|t| t.name == name.trim())
        .ok_or_else(|| {
            Failure::Usage(format!("{user_name} holds no live token called '{name}'"))
        })?;
    tokens::revoke_audited(
        conn,
        &cli_audit(),
        tokens::Which::Personal(&holder.id, &token.id),
    )
    .map_err(refused)
}

fn create_token(
    conn: &mut store::DbConnection,
    kind: &str,
    name: &str,
    role: Option<&str>,
    user: Option<&str>,
) -> Result<(), Failure> {
    let kind = TokenKind::parse(kind)
        .ok_or_else(|| Failure::Usage(format!("--kind is '{kind}'; use api or scim")))?;
    if let Some(user_name) = user {
        if kind != TokenKind::Api {
            return Err(Failure::Usage("--user applies to API tokens only".into()));
        }
        let owner = users::find_by_user_name(conn, user_name)?.ok_or_else(|| {
            Failure::Usage(format!("--user names {user_name}, who is not a user here"))
        })?;
        let secret = tokens::issue(
            conn,
            &cli_audit(),
            kind,
            name,
            tokens::Holder::User(owner.id),
        )
        .map_err(|e| Failure::Usage(e.message()))?;
        eprintln!(
            "Created personal API token '{}' for {user_name}. Store the secret below now: it is not shown again.",
            name.trim()
        );
        println!("{secret}");
        return Ok(());
    }
    let role = match (kind, role) {
        (TokenKind::Scim, Some(_)) => {
            return Err(Failure::Usage(
                "--role applies to API tokens only; SCIM tokens can only provision".into(),
            ));
        }
        (TokenKind::Scim, None) => None,
        (TokenKind::Api, None) => Some(Role::Admin),
        (TokenKind::Api, Some(r)) => Some(Role::parse(r).ok_or_else(|| {
            Failure::Usage(format!("--role is '{r}'; use one of {}", Role::names()))
        })?),
    };
    let secret = tokens::issue(conn, &cli_audit(), kind, name, tokens::Holder::Role(role))
        .map_err(|e| Failure::Usage(e.message()))?;
    let role_note = role
        .map(|r| format!(", role {}", r.as_str()))
        .unwrap_or_default();
    eprintln!(
        "Created {} token '{}'{role_note}. Store the secret below now: it is not shown again.",
        kind.as_str(),
        name.trim()
    );
    println!("{secret}");
    Ok(())
}

fn list_tokens(conn: &mut store::DbConnection) -> Result<(), Failure> {
    let all = tokens::list(conn)?;
    if all.is_empty() {
        eprintln!(
            "No tokens yet. Create one with: rota token create --kind api --name admin --role owner"
        );
        return Ok(());
    }
    println!(
        "{:<24} {:<5} {:<22} {:<8} {:<20} {:<20} STATUS",
        "NAME", "KIND", "ROLE", "SECRET", "CREATED", "LAST USED"
    );
    let when = |t: Option<chrono::NaiveDateTime>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "never".into())
    };
    for t in all {
        let status = if t.revoked_at.is_some() {
            "revoked"
        } else {
            "live"
        };
        println!(
            "{:<24} {:<5} {:<22} {:<8} {:<20} {:<20} {status}",
            t.name,
            t.kind,
            t.role.map_or("-", Role::as_str),
            t.hint,
            when(Some(t.created_at)),
            when(t.last_used_at)
        );
    }
    Ok(())
}

/// The seat policy, `seats.toml` beside the authorization policies (or the built-in copy);
/// a mistake fails with `status` and names the file and line.
fn seat_policy(source: &PolicySource, status: u8) -> Result<(SeatPolicy, String), Failure> {
    let (shown, text) = match source {
        PolicySource::Builtin => (
            "seats.toml (built in)".to_string(),
            include_str!("../policies/seats.toml").to_string(),
        ),
        PolicySource::Dir(dir) => {
            let path = dir.join("seats.toml");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                let msg = format!("{}: cannot read the seat policy: {e}", path.display());
                if status == 2 {
                    Failure::Usage(msg)
                } else {
                    Failure::Runtime(msg)
                }
            })?;
            (path.display().to_string(), text)
        }
    };
    let policy = SeatPolicy::parse(&text).map_err(|reason| {
        let msg = format!("{shown}: {reason}");
        if status == 2 {
            Failure::Usage(msg)
        } else {
            Failure::Runtime(msg)
        }
    })?;
    Ok((policy, text))
}

/// Closes the pool when `serve` returns, whichever way it returns (see `Db::close`).
struct ClosePool(Db);

impl Drop for ClosePool {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// `rota serve --demo`: the configuration with the demo's own database and no provider that
/// would reach anybody, then `serve` with the travelling clock that seeds a month of history.
fn serve_demo(mut config: Config, database: Option<PathBuf>) -> Result<(), Failure> {
    crate::demo::check_listen(config.listen).map_err(|reason| ConfigError {
        key: crate::config::key_as_set("listen"),
        reason,
    })?;
    let path = crate::demo::new_database(database.as_deref()).map_err(|reason| ConfigError {
        key: "--demo-database".into(),
        reason,
    })?;
    config.database = crate::config::DatabaseUrl::Sqlite { path };
    config.smtp_url = None;
    config.twilio = None;
    config.oidc = None;
    println!(
        "Demo: a sample organisation on a new database at {} (e-mails and calls are shown on the outbox page, never sent).",
        config.database
    );
    serve(
        config,
        Some(Arc::new(crate::clock::TravellingClock::default())),
    )
}

/// Runs the service; with a travelling clock, as the demo (seeded before the jobs start).
fn serve(config: Config, demo: Option<Arc<crate::clock::TravellingClock>>) -> Result<(), Failure> {
    // Broken policies are a configuration problem: refuse to start before touching anything.
    let policies = load_policies(config.policies.clone(), 2)?;
    let (seats, _) = seat_policy(&config.policies, 2)?;
    tracing::info!(
        source = %config.policies,
        policies = policies.policy_count(),
        files = policies.file_count(),
        "loaded authorization policies"
    );
    let _lock = match &config.database {
        crate::config::DatabaseUrl::Sqlite { path } => {
            Some(ServeLock::acquire(path).map_err(Failure::Runtime)?)
        }
        crate::config::DatabaseUrl::Postgres { .. } => None,
    };
    let clock: SharedClock = match &demo {
        Some(travelling) => travelling.clone(),
        None => Arc::new(SystemClock),
    };
    let app = app::assemble(&config, policies, seats, clock)?;
    let _close = ClosePool(app.db.clone());
    let live_tokens = tokens::live_count(&mut *app.db.get()?)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(|e| {
        Failure::Config(ConfigError {
            key: crate::config::key_as_set("listen"),
            reason: format!("is {}, where we cannot listen: {e}", config.listen),
        })
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!(
        "Rota is listening on http://{} (public URL {}), database {}",
        config.listen, config.public_url, config.database
    );
    if live_tokens == 0 && demo.is_none() {
        println!(
            "No tokens yet. Create the first owner token with:\n    rota token create --kind api --name admin --role owner"
        );
    }
    println!("API documentation: {}/api/docs/", config.public_url);
    actix_web::rt::System::new()
        .block_on(async move {
            app.start_up().await;
            let server = http::server(app.state.clone(), listener, None)?;
            if let Some(clock) = &demo {
                // The story is told over HTTP, so the server runs while it is; the jobs start
                // after, on real time.
                let handle = server.handle();
                let running = actix_web::rt::spawn(server);
                let base = format!("http://{bound}");
                match crate::demo::seed(&app, clock, &base).await {
                    Ok(seeded) => {
                        let _ = app.state.demo.set(seeded);
                        println!(
                            "Demo ready: open {}/demo and pick a person.",
                            config.public_url
                        );
                    }
                    Err(e) => {
                        handle.stop(false).await;
                        return Err(std::io::Error::other(format!(
                            "the demo organisation could not be seeded: {e}"
                        )));
                    }
                }
                let jobs = app.start_jobs().await;
                let stopped = running.await.map_err(std::io::Error::other)?;
                jobs.stop().await;
                return stopped;
            }
            let jobs = app.start_jobs().await;
            let stopped = server.await;
            jobs.stop().await;
            stopped
        })
        .map_err(|e| Failure::Runtime(format!("the server stopped: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod error_rendering {
    use super::Failure;
    use crate::error::{AppError, ErrorKind};

    /// How a command reports each kind of error: exit status and stderr (the HTTP
    /// protocols' renderings are snapshotted in `tests/error_rendering.rs`).
    #[test]
    fn the_cli_reports_each_kind_with_its_exit_status() {
        let kinds = [
            AppError::not_found("live token", "ci"),
            AppError::conflict("name", "'ci' is already used by a live token"),
            AppError::stale("of user u1 was changed by another request meanwhile"),
            AppError::invalid_filter("'x' is not a SCIM filter"),
            AppError::invalid_sort("cannot sort by emails"),
            AppError::invalid("USERNAME", "ada is a user, not an owner"),
            AppError::unauthorized("the API token is not valid"),
            AppError::forbidden("your role may not do this"),
            AppError::new(ErrorKind::PreconditionFailed("stale If-Match".into())),
            AppError::new(ErrorKind::MethodNotAllowed {
                method: "PATCH".into(),
                path: "/x".into(),
            }),
            AppError::new(ErrorKind::PayloadTooLarge { limit: 1024 }),
            AppError::too_many("too many attempts", chrono::Duration::seconds(3)),
            AppError::unavailable("the database is busy; try again"),
            AppError::internal("users.role holds 'boss', not a role"),
        ];
        let mut out = String::new();
        for e in kinds {
            let kind = format!("{:?}", e.kind);
            let (status, text) = Failure::from(e).report();
            out.push_str(&format!("{kind}\n  exit {status}: {text}\n"));
        }
        insta::assert_snapshot!(out);
    }
}
