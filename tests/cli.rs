//! The `rota` binary as operators run it: start-up with no configuration, configuration
//! errors that name the key, the single-server lock on a SQLite file, tokens made and revoked
//! beside a running server, several servers on one PostgreSQL, graceful shutdown, and the
//! authorization policies checked by `rota policy check` and at start-up.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::TestDatabase;

use support::rota_command as rota;

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    rota(dir, env, args)
        .stdin(Stdio::null())
        .output()
        .expect("run rota")
}

/// Stores Olivia, an owner, straight into the database: (her row, the time it was stored at).
fn insert_owner(
    conn: &mut rota::store::DbConnection,
) -> (rota::store::users::User, chrono::NaiveDateTime) {
    use rota::store::users;
    let now = rota::clock::stored(chrono::Utc::now());
    let owner = users::User {
        role: rota::domain::role::Role::Owner,
        ..users::User::new(
            "olivia@example.com",
            "Olivia".into(),
            rota::domain::user::ProvisionedBy::Api,
            now,
        )
    };
    users::insert(conn, &owner).unwrap();
    (owner, now)
}

use support::smtp::free_port;

/// A running `rota serve` that is killed if the test fails.
struct Server {
    child: Child,
    base: String,
    stdout: Vec<String>,
    /// Where its stderr (the log) goes.
    log: std::path::PathBuf,
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut env = env.to_vec();
        env.push(("ROTA_LISTEN", &listen));
        let log = dir.join(format!("serve-{port}.log"));
        let mut child = rota(dir, &env, &["serve"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://{listen}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::blocking_get(&format!("{base}/healthz")).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("rota serve exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "rota serve did not answer within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut stdout = Vec::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            stdout.push(line.trim_end().to_string());
            if line.contains("API documentation") {
                break;
            }
            line.clear();
        }
        Server {
            child,
            base,
            stdout,
            log,
        }
    }

    fn get(&self, path: &str, token: Option<&str>) -> u16 {
        reqwest::blocking_status(&format!("{}{path}", self.base), token)
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "rota serve did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal blocking HTTP for these tests, on a throwaway runtime.
mod reqwest {
    /// Sends JSON with a token; returns the status and the JSON answer.
    pub fn blocking_json(
        method: ::reqwest::Method,
        url: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        runtime().block_on(async {
            let mut req = ::reqwest::Client::new()
                .request(method, url)
                .header("Authorization", format!("Token token={token}"));
            if let Some(b) = body {
                req = req.json(&b);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json().await.unwrap_or_default())
        })
    }

    pub fn blocking_get(url: &str) -> Result<u16, ::reqwest::Error> {
        runtime().block_on(async { Ok(::reqwest::get(url).await?.status().as_u16()) })
    }

    pub fn blocking_status(url: &str, token: Option<&str>) -> u16 {
        runtime().block_on(async {
            let mut req = ::reqwest::Client::new().get(url);
            if let Some(t) = token {
                req = req.header("Authorization", format!("Token token={t}"));
            }
            req.send().await.unwrap().status().as_u16()
        })
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}

#[test]
fn serve_with_no_configuration_then_tokens_beside_it_then_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let banner = server.stdout.join("\n");
    assert!(banner.contains("listening on"), "{banner}");
    assert!(banner.contains("sqlite://rota.db"), "{banner}");
    assert!(
        banner.contains("rota token create --kind api --name admin --role owner"),
        "{banner}"
    );
    assert!(
        dir.path().join("rota.db").exists(),
        "the default database file is created in the working directory"
    );

    // A second server on the same file is refused, clearly.
    let port = free_port().to_string();
    let second = run(
        dir.path(),
        &[("ROTA_LISTEN", &format!("127.0.0.1:{port}"))],
        &["serve"],
    );
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another `rota serve` is already running on rota.db"),
        "{err}"
    );

    // CLI commands work beside it.
    let created = run(
        dir.path(),
        &[],
        &[
            "token", "create", "--kind", "api", "--name", "ci", "--role", "owner",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the secret alone on stdout: {stdout:?}");
    let secret = lines[0];
    assert!(
        secret.starts_with("rota_api_") && secret.len() == 73,
        "{secret}"
    );
    assert_eq!(server.get("/api/v2/users", Some(secret)), 200);

    let migrate = run(dir.path(), &[], &["migrate"]);
    assert!(migrate.status.success());
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("up to date"));

    let list = run(dir.path(), &[], &["token", "list"]);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing.contains("ci") && listing.contains("owner") && listing.contains("live"),
        "{listing}"
    );
    assert!(
        !listing.contains(&secret[9..]),
        "listings never show secrets"
    );

    let revoke = run(dir.path(), &[], &["token", "revoke", "ci"]);
    assert!(revoke.status.success());
    assert_eq!(server.get("/api/v2/users", Some(secret)), 401);
    let again = run(dir.path(), &[], &["token", "revoke", "ci"]);
    assert!(!again.status.success());

    let log_file = server.log.clone();
    assert!(server.terminate().success(), "SIGTERM is a clean stop");
    let log = std::fs::read_to_string(log_file).unwrap();
    assert!(
        log.contains("no SMTP server is configured (ROTA_SMTP_URL)"),
        "said once at start: {log}"
    );
}

#[test]
fn a_second_serve_is_refused_through_a_symlink_or_a_hard_link_to_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    std::os::unix::fs::symlink(dir.path().join("rota.db"), dir.path().join("symlink.db")).unwrap();
    std::fs::hard_link(dir.path().join("rota.db"), dir.path().join("hardlink.db")).unwrap();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::fs::hard_link(
        dir.path().join("rota.db"),
        dir.path().join("elsewhere/other.db"),
    )
    .unwrap();
    for name in ["rota.db", "symlink.db", "hardlink.db", "elsewhere/other.db"] {
        let url = format!("sqlite://{name}");
        let port = free_port().to_string();
        let mut second = rota(
            dir.path(),
            &[
                ("ROTA_DATABASE_URL", &url),
                ("ROTA_LISTEN", &format!("127.0.0.1:{port}")),
            ],
            &["serve"],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        // A refused server exits at once; one that was let in runs until it is stopped.
        let deadline = Instant::now() + Duration::from_secs(30);
        while second.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = second.kill();
                let _ = second.wait();
                panic!("a second `rota serve` started on {name}, beside the first");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let second = second.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&second.stderr);
        assert_eq!(second.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!(
                "another `rota serve` is already running on {name}"
            )),
            "{name}: {err}"
        );
    }
    // The lock is not SQLite's: CLI commands still write beside the server.
    let created = run(
        dir.path(),
        &[],
        &["token", "create", "--kind", "api", "--name", "beside"],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let secret = String::from_utf8(created.stdout).unwrap();
    assert_eq!(server.get("/api/v2/users", Some(secret.trim())), 200);
    assert!(server.terminate().success());
    // Once it has stopped, a server starts through another name.
    let again = Server::start(dir.path(), &[("ROTA_DATABASE_URL", "sqlite://symlink.db")]);
    assert_eq!(again.get("/api/v2/users", Some(secret.trim())), 200);
    assert!(again.terminate().success());
}

/// Every command that opens the database, `runs` times on PostgreSQL, a few at once: each one
/// exits 0. (A pool's connection-opening threads racing OpenSSL's exit handlers used to crash
/// about a third of them with SIGSEGV after their work was done.)
#[test]
fn cli_commands_on_postgresql_always_exit_cleanly() {
    use rota::store;
    let database = TestDatabase::postgres();
    let url = database.env_url();
    {
        let mut conn = store::Connector::new(database.url().clone())
            .connect()
            .unwrap();
        store::migrate(&mut conn).unwrap();
        insert_owner(&mut conn);
    }
    let dir = tempfile::tempdir().unwrap();
    let env = [("ROTA_DATABASE_URL", url.as_str())];
    let runs = 50;
    let mut failures = Vec::new();
    for i in 0..runs {
        let name = format!("t{i}");
        // Two batches: the second undoes the first, so every command succeeds each time.
        let batches: [Vec<Vec<&str>>; 2] = [
            vec![
                vec!["migrate"],
                vec!["token", "create", "--kind", "api", "--name", &name],
                vec!["token", "list"],
                vec!["owner", "break-glass", "olivia@example.com"],
            ],
            vec![
                vec!["token", "revoke", &name],
                vec!["owner", "break-glass", "olivia@example.com", "--disable"],
            ],
        ];
        for batch in batches {
            let children: Vec<(String, Child)> = batch
                .iter()
                .map(|args| {
                    let child = rota(dir.path(), &env, args)
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap();
                    (args.join(" "), child)
                })
                .collect();
            for (command, child) in children {
                let out = child.wait_with_output().unwrap();
                if !out.status.success() {
                    failures.push(format!(
                        "run {i}: `rota {command}` ended with {}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        runs * 6,
        failures.join("\n")
    );
}

#[test]
fn token_create_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["token", "create", "--kind", "ftp", "--name", "x"],
            "--kind is 'ftp'",
        ),
        (
            &[
                "token", "create", "--kind", "scim", "--name", "x", "--role", "owner",
            ],
            "--role applies to API tokens only",
        ),
        (
            &[
                "token", "create", "--kind", "api", "--name", "x", "--role", "god",
            ],
            "--role is 'god'",
        ),
        (
            &["token", "create", "--kind", "api", "--name", " "],
            "name must be 1 to 100",
        ),
    ];
    for (args, needle) in cases {
        let out = run(dir.path(), &[], args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
    assert!(
        run(
            dir.path(),
            &[],
            &["token", "create", "--kind", "scim", "--name", "entra"]
        )
        .status
        .success()
    );
    let dup = run(
        dir.path(),
        &[],
        &["token", "create", "--kind", "api", "--name", "entra"],
    );
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already used by a live token"));
}

type ConfigCase<'a> = (Vec<(&'a str, &'a str)>, Option<&'a str>, &'a str, &'a str);

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    // (environment, rota.toml, the key the message must name, what it must say)
    let cases: Vec<ConfigCase> = vec![
        (
            vec![("ROTA_DATABASE_URL", "mysql://db/rota")],
            None,
            "ROTA_DATABASE_URL",
            "unknown scheme 'mysql'",
        ),
        (
            vec![("ROTA_DATABASE_URL", "postgres://postgres@127.0.0.1:1/rota")],
            None,
            "ROTA_DATABASE_URL",
            "cannot connect",
        ),
        (
            vec![("ROTA_DATABASE_URL", "postgres://")],
            None,
            "ROTA_DATABASE_URL",
            "names no host",
        ),
        (
            vec![("ROTA_DATABASE_URL", "postgres://db:port/x")],
            None,
            "ROTA_DATABASE_URL",
            "not a valid PostgreSQL URL",
        ),
        (
            vec![("ROTA_LISTEN", "127.0.0.1:70000")],
            None,
            "ROTA_LISTEN",
            "port '70000'",
        ),
        (
            vec![("ROTA_LISTEN", "everywhere")],
            None,
            "ROTA_LISTEN",
            "HOST:PORT",
        ),
        (
            vec![("ROTA_LISTEN", &busy_addr)],
            None,
            "ROTA_LISTEN",
            "cannot listen",
        ),
        (
            vec![("ROTA_PUBLIC_URL", "ftp://rota")],
            None,
            "ROTA_PUBLIC_URL",
            "scheme 'ftp'",
        ),
        (
            vec![("ROTA_DB_POOL_SIZE", "many")],
            None,
            "ROTA_DB_POOL_SIZE",
            "invalid",
        ),
        (
            vec![("ROTA_LOG_FORMAT", "xml")],
            None,
            "ROTA_LOG_FORMAT",
            "text or json",
        ),
        (
            vec![("ROTA_POLICY_DIR", "/no/such/policies")],
            None,
            "ROTA_POLICY_DIR",
            "not a directory",
        ),
        (
            vec![],
            Some("listen = \"nowhere:1\"\n"),
            "listen (in rota.toml)",
            "host 'nowhere'",
        ),
        (
            vec![],
            Some("lisen = \"127.0.0.1:1\"\n"),
            "rota.toml",
            "unknown field",
        ),
        (vec![], Some("listen = [\n"), "rota.toml", "invalid"),
        (
            vec![("ROTA_OIDC_ISSUER", "http://login.example.com/x/v2.0")],
            None,
            "ROTA_OIDC_ISSUER",
            "must be an https URL",
        ),
        (
            vec![
                (
                    "ROTA_OIDC_ISSUER",
                    "https://login.microsoftonline.com/3f2b7c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f/v2.0",
                ),
                ("ROTA_OIDC_CLIENT_ID", "rota"),
            ],
            None,
            "ROTA_OIDC_CLIENT_SECRET",
            "is not set",
        ),
        (
            vec![("ROTA_OIDC_CLIENT_ID", "rota")],
            None,
            "ROTA_OIDC_ISSUER",
            "but oidc_client_id is",
        ),
        (
            vec![
                (
                    "ROTA_OIDC_ISSUER",
                    "https://login.microsoftonline.com/3f2b7c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f/v2.0",
                ),
                ("ROTA_OIDC_CLIENT_ID", "rota"),
                ("ROTA_OIDC_CLIENT_SECRET", "s"),
                ("ROTA_ENTRA_ALLOWED_TENANTS", "contoso.com"),
            ],
            None,
            "ROTA_ENTRA_ALLOWED_TENANTS",
            "not a tenant id",
        ),
        (
            vec![("ROTA_SEATS_FULL", "lots")],
            None,
            "ROTA_SEATS_FULL",
            "is invalid",
        ),
        (
            vec![("ROTA_SEATS_STAKEHOLDER", "-5")],
            None,
            "ROTA_SEATS_STAKEHOLDER",
            "give the number of seats bought",
        ),
        (
            vec![("ROTA_SESSION_IDLE_MINUTES", "1")],
            None,
            "ROTA_SESSION_IDLE_MINUTES",
            "use 5 to 10080",
        ),
        (
            vec![("ROTA_SMTP_URL", "mail.example.com")],
            None,
            "ROTA_SMTP_URL",
            "not a URL",
        ),
        (
            vec![("ROTA_SMTP_URL", "https://mail.example.com")],
            None,
            "ROTA_SMTP_URL",
            "scheme 'https'",
        ),
        (
            vec![("ROTA_SMTP_URL", "smtp://mail.example.com?tls=always")],
            None,
            "ROTA_SMTP_URL",
            "tls=always",
        ),
        (
            vec![("ROTA_SMTP_FROM", "Rota at example.com")],
            None,
            "ROTA_SMTP_FROM",
            "not a mailbox",
        ),
        (
            vec![],
            Some("smtp_url = \"smtps://\"\n"),
            "smtp_url (in rota.toml)",
            "names no host",
        ),
    ];
    for (env, toml, key, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        if let Some(t) = toml {
            std::fs::write(dir.path().join("rota.toml"), t).unwrap();
        }
        let out = run(dir.path(), &env, &["serve"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?} {toml:?}: {err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("rota: configuration error"))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            line.contains(key) && line.contains(reason),
            "{env:?} {toml:?}: expected {key} / {reason} in {line}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["--config", "missing.toml", "serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config names missing.toml"));
    drop(busy);
}

#[test]
fn several_servers_share_one_postgresql() {
    let database = TestDatabase::postgres();
    let url = database.env_url();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROTA_DATABASE_URL", url.as_str()),
        ("ROTA_LOG_FORMAT", "json"),
    ];
    let a = Server::start(dir.path(), &env);
    let b = Server::start(dir.path(), &env);
    assert_eq!(a.get("/readyz", None), 200);
    assert_eq!(b.get("/readyz", None), 200);
    let token = run(
        dir.path(),
        &env,
        &["token", "create", "--kind", "api", "--name", "pg"],
    );
    let secret = String::from_utf8(token.stdout).unwrap();
    assert_eq!(a.get("/api/v2/users", Some(secret.trim())), 200);
    assert_eq!(b.get("/api/v2/users", Some(secret.trim())), 200);
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}

#[test]
fn serve_delivers_queued_email_with_the_url_credentials_and_never_logs_the_password() {
    use rota::clock::{Clock, SystemClock};
    use rota::store::{self, emails};
    let smtp = support::smtp::SmtpServer::start_with_login("rota", "s3cr3t-pw");
    let dir = tempfile::tempdir().unwrap();
    let db_url = rota::config::DatabaseUrl::Sqlite {
        path: dir.path().join("rota.db"),
    };
    let db = store::Db::connect(&db_url, 1).unwrap();
    let ids = {
        let mut conn = db.get().unwrap();
        store::migrate(&mut conn).unwrap();
        store::write(&mut conn, |c| {
            emails::enqueue(
                c,
                &[emails::NewEmail {
                    to: "owner@example.com".into(),
                    subject: "Queued before start".into(),
                    body: "Sent by the delivery loop.".into(),
                    reason: "seat_warning",
                    list_unsubscribe: None,
                }],
                SystemClock.now(),
            )
        })
        .unwrap()
    };
    let smtp_url = format!("smtp://rota:s3cr3t-pw@127.0.0.1:{}", smtp.port());
    let server = Server::start(
        dir.path(),
        &[
            ("ROTA_SMTP_URL", &smtp_url),
            ("ROTA_SMTP_FROM", "Rota on call <oncall@example.com>"),
        ],
    );
    let received = smtp.messages(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1, "the loop sends what was queued");
    assert_eq!(received[0].login.as_deref(), Some("rota"));
    assert_eq!(received[0].from, "Rota on call <oncall@example.com>");
    assert_eq!(received[0].subject, "Queued before start");
    let log_file = server.log.clone();
    assert!(server.terminate().success(), "SIGTERM stops delivery too");
    let stored = emails::find(&mut db.get().unwrap(), &ids[0])
        .unwrap()
        .unwrap();
    assert!(stored.sent_at.is_some());
    let log = std::fs::read_to_string(log_file).unwrap();
    assert!(
        log.contains("delivering email") && log.contains("smtp://rota:***@127.0.0.1"),
        "{log}"
    );
    assert!(
        !log.contains("s3cr3t"),
        "the SMTP password is never logged: {log}"
    );
}

/// A copy of the repository's policies with a syntax error on a known line; returns the line.
fn broken_policies(into: &Path) -> usize {
    std::fs::create_dir(into).unwrap();
    for entry in std::fs::read_dir(support::policy_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), into.join(entry.file_name())).unwrap();
    }
    let teams = into.join("teams.cedar");
    let mut text = std::fs::read_to_string(&teams).unwrap();
    let line = text.lines().count() + 1;
    text.push_str("permit (principal, action, resource) when { principal.role = \"owner\" };\n");
    std::fs::write(teams, text).unwrap();
    line
}

#[test]
fn policy_check_passes_the_repository_policies_and_names_file_and_line_of_a_mistake() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = run(repo, &[], &["policy", "check"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.starts_with("policies OK: ") && stdout.trim_end().ends_with("5 rules (policies/)"),
        "{stdout}"
    );

    // With neither policy_dir nor ./policies, the built-in copy is checked.
    let empty = tempfile::tempdir().unwrap();
    let builtin = run(empty.path(), &[], &["policy", "check"]);
    assert!(builtin.status.success());
    assert!(String::from_utf8_lossy(&builtin.stdout).contains("(built in)"));

    let dir = tempfile::tempdir().unwrap();
    let line = broken_policies(&dir.path().join("mine"));
    let bad = run(dir.path(), &[], &["policy", "check", "--dir", "mine"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(bad.stdout.is_empty());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("mine/teams.cedar:{line}:")) && l.contains("'='")),
        "{err}"
    );

    // The same folder through the configuration, then ./policies found on its own.
    let bad = run(
        dir.path(),
        &[("ROTA_POLICY_DIR", "mine")],
        &["policy", "check"],
    );
    assert_eq!(bad.status.code(), Some(1));
    std::fs::rename(dir.path().join("mine"), dir.path().join("policies")).unwrap();
    let bad = run(dir.path(), &[], &["policy", "check"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains(&format!("policies/teams.cedar:{line}:"))
    );

    // A mistake in the seat policy names its file and line too.
    std::fs::write(
        dir.path().join("policies/teams.cedar"),
        std::fs::read_to_string(support::policy_dir().join("teams.cedar")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policies/seats.toml"),
        std::fs::read_to_string(support::policy_dir().join("seats.toml"))
            .unwrap()
            .replace("role = \"user\"\n\n# Rules", "role = \"boss\"\n\n# Rules"),
    )
    .unwrap();
    let bad = run(dir.path(), &[], &["policy", "check"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("policies/seats.toml: line 18: 'boss' is not a role"),
        "{err}"
    );

    let missing = run(dir.path(), &[], &["policy", "check", "--dir", "nowhere"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--dir names nowhere"));
}

#[test]
fn serve_refuses_to_start_with_broken_policies() {
    let dir = tempfile::tempdir().unwrap();
    let line = broken_policies(&dir.path().join("policies"));
    let port = free_port().to_string();
    let out = run(
        dir.path(),
        &[("ROTA_LISTEN", &format!("127.0.0.1:{port}"))],
        &["serve"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the authorization policies (policies/) have 1 problem"),
        "{err}"
    );
    assert!(
        err.contains(&format!("policies/teams.cedar:{line}:")),
        "{err}"
    );
    assert!(
        !dir.path().join("rota.db").exists(),
        "nothing is created before the policies are known to be good"
    );
}

#[test]
fn owner_break_glass_turns_password_sign_in_on_and_off_for_owners_only() {
    use rota::store::{self, users};
    let dir = tempfile::tempdir().unwrap();
    let db_url = rota::config::DatabaseUrl::Sqlite {
        path: dir.path().join("rota.db"),
    };
    {
        let db = store::Db::connect(&db_url, 1).unwrap();
        let mut conn = db.get().unwrap();
        store::migrate(&mut conn).unwrap();
        let (_, now) = insert_owner(&mut conn);
        users::insert(
            &mut conn,
            &users::User::new(
                "rob@example.com",
                "Rob".into(),
                rota::domain::user::ProvisionedBy::Api,
                now,
            ),
        )
        .unwrap();
    }
    let on = run(
        dir.path(),
        &[],
        &["owner", "break-glass", "Olivia@example.com"],
    );
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    let password = String::from_utf8(on.stdout).unwrap();
    assert_eq!(password.lines().count(), 1, "the password alone on stdout");
    assert!(password.trim().len() >= 36, "{password}");
    let again = run(
        dir.path(),
        &[],
        &["owner", "break-glass", "olivia@example.com"],
    );
    assert_ne!(
        String::from_utf8(again.stdout).unwrap(),
        password,
        "a new password each time"
    );

    let responder = run(
        dir.path(),
        &[],
        &["owner", "break-glass", "rob@example.com"],
    );
    assert_eq!(responder.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&responder.stderr).contains("not an owner"));
    assert!(responder.stdout.is_empty());
    let nobody = run(
        dir.path(),
        &[],
        &["owner", "break-glass", "nobody@example.com"],
    );
    assert_eq!(nobody.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("nobody@example.com"));

    let off = run(
        dir.path(),
        &[],
        &["owner", "break-glass", "olivia@example.com", "--disable"],
    );
    assert!(off.status.success());
    let off_again = run(
        dir.path(),
        &[],
        &["owner", "break-glass", "olivia@example.com", "--disable"],
    );
    assert_eq!(off_again.status.code(), Some(2), "nothing to turn off");

    let personal = run(
        dir.path(),
        &[],
        &[
            "token",
            "create",
            "--kind",
            "api",
            "--name",
            "rob's",
            "--user",
            "rob@example.com",
        ],
    );
    assert!(
        personal.status.success(),
        "{}",
        String::from_utf8_lossy(&personal.stderr)
    );
    assert!(
        String::from_utf8(personal.stdout)
            .unwrap()
            .starts_with("rota_api_")
    );
    let unknown = run(
        dir.path(),
        &[],
        &[
            "token",
            "create",
            "--kind",
            "api",
            "--name",
            "x",
            "--user",
            "ghost@example.com",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("ghost@example.com"));

    // A personal token's name is its holder's own: a service token may share it, and then
    // revoking by the name alone is refused until the person is named.
    let service = run(
        dir.path(),
        &[],
        &[
            "token", "create", "--kind", "api", "--name", "rob's", "--role", "observer",
        ],
    );
    assert!(
        service.status.success(),
        "{}",
        String::from_utf8_lossy(&service.stderr)
    );
    let ambiguous = run(dir.path(), &[], &["token", "revoke", "rob's"]);
    assert_eq!(ambiguous.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("name the person"));
    for args in [
        &["token", "revoke", "rob's", "--user", "rob@example.com"][..],
        &["token", "revoke", "rob's"][..],
    ] {
        let revoked = run(dir.path(), &[], args);
        assert!(
            revoked.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&revoked.stderr)
        );
    }
    let none = run(
        dir.path(),
        &[],
        &["token", "revoke", "rob's", "--user", "rob@example.com"],
    );
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn seat_caps_come_from_the_configuration_and_a_cap_below_use_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let token = run(
        dir.path(),
        &[],
        &[
            "token", "create", "--kind", "api", "--name", "admin", "--role", "owner",
        ],
    );
    let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    let server = Server::start(dir.path(), &[("ROTA_SEATS_FULL", "1")]);
    let url = |path: &str| format!("{}{path}", server.base);
    for (name, email) in [("Ann", "ann@x.example"), ("Ben", "ben@x.example")] {
        let (status, body) = reqwest::blocking_json(
            ::reqwest::Method::POST,
            &url("/api/v2/users"),
            &token,
            Some(serde_json::json!({"user": {"name": name, "email": email}})),
        );
        assert_eq!(status, 201, "{body}");
    }
    let (_, body) = reqwest::blocking_json(
        ::reqwest::Method::GET,
        &url("/api/v2/licenses"),
        &token,
        None,
    );
    let full = body["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == "full")
        .unwrap()
        .clone();
    assert_eq!(
        (
            full["cap"].as_i64(),
            full["current_value"].as_i64(),
            full["queued"].as_i64()
        ),
        (Some(1), Some(1), Some(1)),
        "{body}"
    );
    // A licence owner raises the cap through the API; a restart with the same configuration
    // keeps it.
    let (status, _) = reqwest::blocking_json(
        ::reqwest::Method::PUT,
        &url("/api/v2/licenses/full"),
        &token,
        Some(serde_json::json!({"license": {"cap": 3}})),
    );
    assert_eq!(status, 200);
    assert!(server.terminate().success());
    let server = Server::start(dir.path(), &[("ROTA_SEATS_FULL", "1")]);
    let (_, body) = reqwest::blocking_json(
        ::reqwest::Method::GET,
        &format!("{}/api/v2/licenses", server.base),
        &token,
        None,
    );
    assert_eq!(body["licenses"][0]["cap"].as_i64(), Some(3), "{body}");
    assert_eq!(
        body["licenses"][0]["current_value"].as_i64(),
        Some(2),
        "{body}"
    );
    assert!(server.terminate().success());
    // A new configured cap below the seats held: start-up stops, naming the key.
    let out = run(
        dir.path(),
        &[("ROTA_SEATS_FULL", "0"), ("ROTA_LISTEN", "127.0.0.1:0")],
        &["serve"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ROTA_SEATS_FULL is 0, but 2 full seats are held now"),
        "{err}"
    );
}
