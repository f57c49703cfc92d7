//! The test app: the real service on a random port over a fresh database (a temp SQLite file or
//! a new PostgreSQL database), a manual clock, and HTTP clients holding tokens.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use diesel::Connection;
use rota::authz::Policies;
use rota::clock::ManualClock;
use rota::config::DatabaseUrl;
use rota::domain::audit::{Actor, ActorKind};
use rota::domain::role::Role;
use rota::domain::seat_policy::SeatPolicy;
use rota::domain::token::TokenKind;
use rota::http::sign_in::{SignInConfig, SignInSettings};
use rota::http::{AppState, metrics::Metrics};
use rota::jobs::email_delivery::{self, DeliveryReport, Wakeup};
use rota::jobs::seat_reconcile::Reconciler;
use rota::store::{self, Db, audit::AuditContext, tokens};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub mod oidc_provider;
pub mod scim;
pub mod smtp;

/// Runs each listed test against SQLite and against PostgreSQL:
/// `on_both_backends! { async fn name(app) { … } }` makes `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(#[actix_web::test] async fn $name() { let $app = $crate::support::TestApp::sqlite().await; $body })*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(#[actix_web::test] async fn $name() { let $app = $crate::support::TestApp::postgres().await; $body })*
        }
    };
}

/// The PostgreSQL server tests use; CI and developer machines run one on 127.0.0.1:5432.
pub fn postgres_admin_url() -> String {
    std::env::var("ROTA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The repository's `policies/` folder.
pub fn policy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// The repository's policies, loaded once per test binary as `rota serve` loads them.
pub fn repo_policies() -> Policies {
    static POLICIES: OnceLock<Policies> = OnceLock::new();
    POLICIES
        .get_or_init(|| Policies::load(&policy_dir()).unwrap_or_else(|e| panic!("{e}")))
        .clone()
}

/// A database made for one test and dropped after it.
pub enum TestDatabase {
    Sqlite {
        _dir: tempfile::TempDir,
        url: DatabaseUrl,
    },
    Postgres {
        name: String,
        url: DatabaseUrl,
    },
}

impl TestDatabase {
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::Sqlite {
            path: dir.path().join("rota.db"),
        };
        TestDatabase::Sqlite { _dir: dir, url }
    }

    pub fn postgres() -> TestDatabase {
        let admin = postgres_admin_url();
        let name = format!("rota_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is needed for the postgres tests (ROTA_TEST_POSTGRES_URL={admin}): {e}"
            )
        });
        diesel::RunQueryDsl::execute(
            diesel::sql_query(format!("CREATE DATABASE {name}")),
            &mut conn,
        )
        .expect("create database");
        let mut url = url::Url::parse(&admin).expect("admin url");
        url.set_path(&name);
        TestDatabase::Postgres {
            name,
            url: DatabaseUrl::Postgres {
                url: url.to_string(),
            },
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    /// The URL as `ROTA_DATABASE_URL` takes it.
    pub fn env_url(&self) -> String {
        match self.url() {
            DatabaseUrl::Sqlite { path } => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres { url } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name, .. } = self
            && let Ok(mut conn) = diesel::PgConnection::establish(&postgres_admin_url())
        {
            let _ = diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                &mut conn,
            );
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    /// An owner's API token.
    pub token: String,
    pub database: TestDatabase,
    /// The app's handle for poking email delivery; no loop runs unless a test starts one
    /// (`email_delivery::Delivery::start`) or runs a pass (`deliver_emails`).
    pub email_delivery: Wakeup,
    /// Runs the seat reconcile on demand (`run_once(key)`), as the daily loop would.
    pub reconciler: Reconciler,
    server: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        Self::start(TestDatabase::sqlite()).await
    }

    pub async fn postgres() -> TestApp {
        Self::start(TestDatabase::postgres()).await
    }

    pub async fn start(database: TestDatabase) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::start_with(database, listener, None, Vec::new()).await
    }

    /// The app with this seat policy (the text of a `seats.toml`) instead of the shipped one.
    pub async fn with_seat_policy(database: TestDatabase, seat_policy: &str) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::start_full(database, listener, None, Vec::new(), seat_policy).await
    }

    /// The app on `listener`, with sign-in through `oidc` when given (its client registered
    /// for this listener's callback URL) and these bootstrap owners.
    pub async fn start_with(
        database: TestDatabase,
        listener: TcpListener,
        oidc: Option<rota::config::OidcConfig>,
        bootstrap_owners: Vec<String>,
    ) -> TestApp {
        let shipped = include_str!("../../policies/seats.toml");
        Self::start_full(database, listener, oidc, bootstrap_owners, shipped).await
    }

    pub async fn start_full(
        database: TestDatabase,
        listener: TcpListener,
        oidc: Option<rota::config::OidcConfig>,
        bootstrap_owners: Vec<String>,
        seat_policy: &str,
    ) -> TestApp {
        let db = Db::connect(database.url(), 4).expect("connect");
        store::migrate(&mut db.get().expect("conn")).expect("migrate");
        // Sign-in tests validate real tokens from a real provider, so their clock is real time
        // (still moved by hand from there).
        let start = if oidc.is_some() {
            Utc::now()
        } else {
            Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
        };
        let clock = Arc::new(ManualClock::new(start));
        let base = format!("http://{}", listener.local_addr().unwrap());
        let cookie_key =
            store::sessions::cookie_key(&mut db.get().expect("conn"), rota::clock::stored(start))
                .expect("cookie key");
        let sign_in = SignInSettings::new(
            SignInConfig {
                oidc,
                public_url: base.clone(),
                sessions: rota::config::SessionLimits::default(),
                bootstrap_owners,
            },
            SeatPolicy::parse(seat_policy).expect("seat policy"),
            &cookie_key,
        )
        .expect("sign-in settings");
        let email_delivery = Wakeup::default();
        let reconciler = Reconciler {
            db: db.clone(),
            policy: sign_in.seat_policy.clone(),
            bootstrap_owners: sign_in.bootstrap_owners.clone(),
            clock: clock.clone(),
            emails: email_delivery.clone(),
        };
        let state = actix_web::web::Data::new(AppState {
            db: db.clone(),
            clock: clock.clone(),
            public_url: base.clone(),
            metrics: Metrics::new(),
            sign_in,
            email_delivery: email_delivery.clone(),
            policies: repo_policies(),
            throttle: Default::default(),
        });
        let server = rota::http::server(state, listener, Some(1)).expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let mut app = TestApp {
            base,
            db,
            clock,
            http: reqwest::Client::new(),
            token: String::new(),
            database,
            email_delivery,
            reconciler,
            server: handle,
        };
        app.token = app.issue_token(TokenKind::Api, "owner", Some(Role::Owner));
        app
    }

    /// Who the audit trail names for what a test does directly in the store, as the CLI would.
    pub fn cli_audit(&self) -> AuditContext {
        AuditContext {
            actor: Actor {
                kind: ActorKind::Cli,
                id: None,
                name: "test".into(),
            },
            request_id: None,
            at: rota::clock::Clock::now(&*self.clock),
        }
    }

    /// Makes a token directly in the store, as `rota token create` does.
    pub fn issue_token(&self, kind: TokenKind, name: &str, role: Option<Role>) -> String {
        let ctx = self.cli_audit();
        tokens::issue(
            &mut self.db.get().unwrap(),
            &ctx,
            kind,
            name,
            tokens::Holder::Role(role),
        )
        .expect("issue token")
    }

    /// A personal API token of the user `user_id`, made in the store as `rota token create
    /// --kind api --user` does: it acts as that person, with their role.
    pub fn personal_token(&self, user_id: &str) -> String {
        let ctx = self.cli_audit();
        tokens::issue(
            &mut self.db.get().unwrap(),
            &ctx,
            TokenKind::Api,
            &format!("personal {user_id}"),
            tokens::Holder::User(rota::domain::ids::UserId(user_id.into())),
        )
        .expect("issue personal token")
    }

    /// Runs one email delivery pass now, through `smtp`.
    pub async fn deliver_emails(&self, smtp: &smtp::SmtpServer) -> DeliveryReport {
        email_delivery::run_once(&self.db, &smtp.mailer(), &*self.clock)
            .await
            .expect("email delivery pass")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the owner's token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.as_token(&self.token, method, path)
    }

    pub fn as_token(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("Token token={token}"))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.req(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.req(reqwest::Method::PUT, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        send(self.req(reqwest::Method::DELETE, path)).await
    }

    /// Creates a user through the API and returns its id.
    pub async fn user(&self, name: &str, email: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v2/users",
                serde_json::json!({"user": {"name": name, "email": email}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["user"]["id"].as_str().unwrap().to_string()
    }

    /// The newest audit records (up to 100) with this action.
    pub async fn audit_records(&self, action: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!(
                "/api/v2/audit/records?limit=100&actions[]={action}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body["records"].as_array().cloned().unwrap_or_default()
    }

    pub async fn team(&self, name: &str) -> String {
        let (status, body) = self
            .post("/api/v2/teams", serde_json::json!({"team": {"name": name}}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["team"]["id"].as_str().unwrap().to_string()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and close the pool before the database is dropped.
        drop(self.server.stop(false));
    }
}

/// Sends and reads the body as JSON (Null when empty, a string when not JSON).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    read(req.send().await.expect("request")).await
}

/// A response's status and body as JSON (Null when empty, a string when not JSON).
pub async fn read(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}
