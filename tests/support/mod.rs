//! The test app: the real service on a random port over a fresh database (a temp SQLite file or
//! a new PostgreSQL database), a manual clock, and HTTP clients holding tokens.
#![allow(dead_code)]

use chrono::{TimeZone, Utc};
use rota::authz::Policies;
use rota::clock::ManualClock;
use rota::config::{Config, DatabaseUrl, OidcConfig, PolicySource, SeatCaps, Secret};
use rota::domain::audit::{Actor, ActorKind};
use rota::domain::role::Role;
use rota::domain::seat_policy::SeatPolicy;
use rota::domain::token::TokenKind;
use rota::jobs::email_delivery::{self, DeliveryReport, Wakeup};
use rota::jobs::seat_reconcile::Reconciler;
use rota::store::{Db, audit::AuditContext, tokens};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub mod alertmanager;
pub mod browser;
pub mod chat;
pub mod chromium;
pub mod oidc_provider;
pub mod postgres;
pub mod scim;
pub mod smtp;
pub mod twilio;
pub mod webhook;

/// The `rota` binary run as an operator would, in `dir`, with only these variables set.
pub fn rota_command(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rota"));
    cmd.current_dir(dir)
        .env_clear()
        .env("USER", "tester")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs each listed test against SQLite and against PostgreSQL:
/// `on_both_backends! { async fn name(app) { … } }` makes `sqlite::name` and `postgres::name`
/// with the default app; `on_both_backends! { builder = TestApp::builder().seat_policy(P);
/// async fn name(app) { … } }` makes them with that builder (evaluated once per test, inside
/// the `sqlite`/`postgres` modules, so it may name the file's items).
#[macro_export]
macro_rules! on_both_backends {
    (builder = $builder:expr; $(async fn $name:ident($app:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(#[actix_web::test] async fn $name() { let $app = ($builder).sqlite().await; $body })*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(#[actix_web::test] async fn $name() { let $app = ($builder).postgres().await; $body })*
        }
    };
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $crate::on_both_backends! { builder = $crate::support::TestApp::builder(); $(async fn $name($app) $body)* }
    };
}

/// The PostgreSQL server tests use (`postgres::admin_url`: `ROTA_TEST_POSTGRES_URL`, else
/// 127.0.0.1:5432, else a throwaway cluster started for this test binary).
pub fn postgres_admin_url() -> String {
    postgres::admin_url()
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

/// The repository's policies with one more file, `deployment.cedar`, holding `cedar`.
fn policies_with(cedar: &str) -> Policies {
    let dir = tempfile::tempdir().expect("policy dir");
    for entry in std::fs::read_dir(policy_dir()).expect("read policies/") {
        let path = entry.expect("policies/ entry").path();
        if path
            .extension()
            .is_some_and(|x| x == "cedar" || x == "cedarschema")
        {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).expect("copy policy");
        }
    }
    std::fs::write(dir.path().join("deployment.cedar"), cedar).expect("write policy");
    Policies::load(dir.path()).unwrap_or_else(|e| panic!("{e}"))
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
        let mut conn = rota::store::establish_postgres(&admin).unwrap_or_else(|e| {
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
            && let Ok(mut conn) = rota::store::establish_postgres(&postgres_admin_url())
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
    /// The app's handle for poking email delivery; no loop runs unless a test starts the
    /// jobs (`start_jobs`) or runs a pass (`deliver_emails`).
    pub email_delivery: Wakeup,
    /// Runs the seat reconcile on demand (`run_once(key)`), as the daily loop would.
    pub reconciler: Reconciler,
    /// The wired application (`rota::app::assemble`), as `rota serve` has it.
    pub app: rota::app::App,
    server: actix_web::dev::ServerHandle,
}

/// How a test app is made: `TestApp::builder().seat_policy(..).caps(..).sqlite().await`.
/// Everything left out is what `rota serve` has with an empty configuration, except the
/// authorization policies (the repository's `policies/`) and the clock (a manual one).
#[derive(Default)]
pub struct TestAppBuilder {
    seat_policy: Option<String>,
    caps: SeatCaps,
    oidc: Option<Oidc>,
    bootstrap_owners: Vec<String>,
    events_per_minute: Option<u32>,
    twilio: Option<rota::config::TwilioConfig>,
    chat_hosts: Vec<String>,
    /// One more `.cedar` file beside the repository's policies.
    policy: Option<String>,
}

enum Oidc {
    /// A client registered at the shared provider for this app's callback URL.
    Provider(&'static oidc_provider::OidcProvider),
    /// This configuration as it is.
    Config(OidcConfig),
}

impl TestAppBuilder {
    /// The app with this seat policy (the text of a `seats.toml`) instead of the shipped one.
    pub fn seat_policy(mut self, text: impl Into<String>) -> Self {
        self.seat_policy = Some(text.into());
        self
    }

    /// The seat caps of the configuration (`ROTA_SEATS_FULL`, `ROTA_SEATS_STAKEHOLDER`),
    /// applied at start-up as `rota serve` applies them.
    pub fn caps(mut self, full: Option<i64>, stakeholder: Option<i64>) -> Self {
        self.caps = SeatCaps { full, stakeholder };
        self
    }

    /// The repository's policies and one more file with this Cedar text (a deployment's own
    /// rule, such as a `forbid`), loaded and validated as `rota serve` loads a policy folder.
    pub fn policy(mut self, cedar: impl Into<String>) -> Self {
        self.policy = Some(cedar.into());
        self
    }

    /// Sign-in through `provider`, with a client registered for this app.
    pub fn oidc(mut self, provider: &'static oidc_provider::OidcProvider) -> Self {
        self.oidc = Some(Oidc::Provider(provider));
        self
    }

    /// Sign-in with this configuration as it is (say, an issuer nobody answers at).
    pub fn oidc_config(mut self, config: OidcConfig) -> Self {
        self.oidc = Some(Oidc::Config(config));
        self
    }

    /// userNames made owners when they sign in.
    pub fn bootstrap_owners(mut self, names: &[&str]) -> Self {
        self.bootstrap_owners = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Events taken per routing key per minute (`ROTA_EVENTS_PER_MINUTE`).
    /// Phone calls through this Twilio (the fake, `twilio::TwilioFake::config`).
    pub fn twilio(mut self, config: rota::config::TwilioConfig) -> Self {
        self.twilio = Some(config);
        self
    }

    /// Hosts chat webhooks may point at besides Slack's and Microsoft's (`ROTA_CHAT_HOSTS`):
    /// `&["127.0.0.1"]` for the chat fakes (`chat::ChatFake`).
    pub fn chat_hosts(mut self, hosts: &[&str]) -> Self {
        self.chat_hosts = hosts.iter().map(|h| h.to_string()).collect();
        self
    }

    pub fn events_per_minute(mut self, n: u32) -> Self {
        self.events_per_minute = Some(n);
        self
    }

    pub async fn sqlite(self) -> TestApp {
        self.start(TestDatabase::sqlite()).await
    }

    pub async fn postgres(self) -> TestApp {
        self.start(TestDatabase::postgres()).await
    }

    /// Starts the app over `database` through `rota::app::assemble` (migrations, the seat
    /// caps, the start-up reconcile), listening on a random port.
    pub async fn start(self, database: TestDatabase) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().unwrap();
        let base = format!("http://{address}");
        let oidc = match self.oidc {
            None => None,
            Some(Oidc::Config(config)) => Some(config),
            Some(Oidc::Provider(provider)) => {
                let (client_id, client_secret) = provider
                    .register_client(&format!("{base}/auth/oidc/callback"), &format!("{base}/"))
                    .await;
                Some(OidcConfig {
                    issuer: provider.issuer.clone(),
                    client_id,
                    client_secret: Secret(client_secret),
                    tenants: vec![provider.tenant.clone()],
                })
            }
        };
        // Sign-in tests validate real tokens from a real provider, so their clock is real time
        // (still moved by hand from there).
        let start = if oidc.is_some() {
            Utc::now()
        } else {
            Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
        };
        let clock = Arc::new(ManualClock::new(start));
        let mut config = Config::defaults(database.url().clone(), address);
        config.db_pool_size = 4;
        config.policies = PolicySource::Dir(policy_dir());
        config.oidc = oidc;
        config.bootstrap_owners = self.bootstrap_owners;
        config.seats = self.caps;
        if let Some(n) = self.events_per_minute {
            config.events_per_minute = n;
        }
        config.twilio = self.twilio;
        config.chat_hosts = rota::domain::chat_hosts::ChatHosts::with_added(&self.chat_hosts)
            .unwrap_or_else(|e| panic!("chat hosts: {e}"));
        let seat_policy = self
            .seat_policy
            .as_deref()
            .unwrap_or(include_str!("../../policies/seats.toml"));
        let policies = match &self.policy {
            None => repo_policies(),
            Some(cedar) => policies_with(cedar),
        };
        let app = rota::app::assemble(
            &config,
            policies,
            SeatPolicy::parse(seat_policy).expect("seat policy"),
            clock.clone(),
        )
        .unwrap_or_else(|e| panic!("start-up: {e}"));
        app.start_up().await;
        let server = rota::http::server(app.state.clone(), listener, Some(1)).expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let mut test_app = TestApp {
            base,
            db: app.db.clone(),
            clock,
            http: reqwest::Client::new(),
            token: String::new(),
            database,
            email_delivery: app.email_delivery.clone(),
            reconciler: app.reconciler.clone(),
            app,
            server: handle,
        };
        test_app.token = test_app.issue_token(TokenKind::Api, "owner", Some(Role::Owner));
        test_app
    }
}

/// A REST API client: with an API token (`TestApp::api_as`), or none (`TestApp::anonymous`).
pub struct Api<'a> {
    pub app: &'a TestApp,
    /// `None`: no Authorization header.
    pub token: Option<String>,
}

impl Api<'_> {
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.app.http.request(method, self.app.url(path));
        match &self.token {
            Some(token) => req.header("Authorization", format!("Token token={token}")),
            None => req,
        }
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
}

impl TestApp {
    /// The builder; `TestApp::sqlite()` and `TestApp::postgres()` are its defaults.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    pub async fn sqlite() -> TestApp {
        Self::builder().sqlite().await
    }

    pub async fn postgres() -> TestApp {
        Self::builder().postgres().await
    }

    /// Entra's provisioning client, with a new SCIM token; every answer is checked against
    /// the server's own schemas (`scim::Scim`).
    pub fn scim(&self) -> scim::Scim<'_> {
        scim::Scim::new(self)
    }

    /// The REST API with a new API token of `role`.
    pub fn api_as(&self, role: Role) -> Api<'_> {
        Api {
            app: self,
            token: Some(self.issue_token(
                TokenKind::Api,
                &format!("{} {}", role.as_str(), uuid::Uuid::now_v7().simple()),
                Some(role),
            )),
        }
    }

    /// The REST API without credentials.
    pub fn anonymous(&self) -> Api<'_> {
        Api {
            app: self,
            token: None,
        }
    }

    /// Starts the background jobs as `rota serve` does (the daily reconcile; delivery only
    /// with an SMTP server configured, which test apps have not).
    pub async fn start_jobs(&self) -> rota::app::Jobs {
        self.app.start_jobs().await
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
        email_delivery::run_once(&self.db, &smtp.mailer(), &*self.clock, &self.app.email_gate)
            .await
            .expect("email delivery pass")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The REST API with the owner's token.
    pub fn owner(&self) -> Api<'_> {
        Api {
            app: self,
            token: Some(self.token.clone()),
        }
    }

    /// A request with the owner's token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.owner().req(method, path)
    }

    /// A request with this API token.
    pub fn as_token(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        Api {
            app: self,
            token: Some(token.to_string()),
        }
        .req(method, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.owner().get(path).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.owner().post(path, body).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.owner().put(path, body).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.owner().delete(path).await
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

    /// A service named `name` whose escalation policy has one level per user of `levels`
    /// (10 minutes each), with an Events API v2 integration; returns its routing key.
    pub async fn paging_service(&self, name: &str, levels: &[&str]) -> String {
        let rules: Vec<Value> = levels
            .iter()
            .map(|u| serde_json::json!({"escalation_delay_in_minutes": 10, "targets": [{"id": u, "type": "user_reference"}]}))
            .collect();
        let (status, body) = self
            .post(
                "/api/v2/escalation_policies",
                serde_json::json!({"escalation_policy": {"name": name, "escalation_rules": rules}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
        self.service_with_key(&policy, name).await.1
    }

    /// An escalation policy `name` whose one level (10 minutes) pages whoever is on call on
    /// `schedule`; its id.
    pub async fn schedule_policy(&self, name: &str, schedule: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v2/escalation_policies",
                serde_json::json!({"escalation_policy": {"name": name, "escalation_rules": [
                    {"escalation_delay_in_minutes": 10, "targets": [{"id": schedule, "type": "schedule_reference"}]}]}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["escalation_policy"]["id"].as_str().unwrap().to_owned()
    }

    /// A service on `policy` with an Events API v2 integration: its id and routing key.
    pub async fn service_with_key(&self, policy: &str, name: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/api/v2/services",
                serde_json::json!({"service": {"name": name, "escalation_policy": {"id": policy, "type": "escalation_policy_reference"}}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let service = body["service"]["id"].as_str().unwrap().to_owned();
        let (status, body) = self
            .post(
                &format!("/api/v2/services/{service}/integrations"),
                serde_json::json!({"integration": {"type": "events_api_v2_inbound_integration"}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let key = body["integration"]["integration_key"]
            .as_str()
            .unwrap()
            .to_owned();
        (service, key)
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
        // Stop accepting and close the pool before the database is dropped: once the
        // database is gone, r2d2 keeps opening connections on its own threads to refill the
        // pool, and one still opening when the test binary exits crashes it in OpenSSL's
        // clean-up (SIGSEGV after every test passed; see `Db::close`).
        drop(self.server.stop(false));
        self.db.close();
    }
}

/// A request with a person's token (`TestApp::personal_token`), with a JSON body or none.
pub async fn as_person(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = app.as_token(token, method, path);
    send(match body {
        Some(b) => req.json(&b),
        None => req,
    })
    .await
}

/// Sends and reads the body as JSON (Null when empty, a string when not JSON).
/// A 400 in PagerDuty's shape (code 2001) whose first error says `field_and_reason`.
pub fn assert_refused(status: u16, body: &Value, field_and_reason: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], 2001, "{body}");
    let detail = body["error"]["errors"][0].as_str().unwrap_or_default();
    assert!(
        detail.contains(field_and_reason),
        "expected {field_and_reason:?} in {body}"
    );
}

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
