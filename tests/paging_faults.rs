//! Paging under faults, with the real `rota serve` and a real SMTP server (aiosmtpd):
//!
//! - killed mid-dispatch (SQLite and PostgreSQL): 40 incidents, each paging its own person by
//!   e-mail, wait in the outbox; a `rota serve` with SMTP starts sending them and is killed
//!   with SIGKILL once some (not all) have been accepted; another `rota serve` is started on
//!   the same database and the outbox drains. Every e-mail arrives, and none twice except
//!   those in flight at the kill (a dispatcher sends up to `MAX_CONCURRENCY` at once):
//!   accepted by the SMTP server before the dead sender could record them, they are sent
//!   again with the same Message-ID (over SMTP nobody can know whether such a message was
//!   delivered; a page may repeat, it must not be lost).
//!
//!   SQLite's one server frees the dead one's claims at start. On PostgreSQL they hold for
//!   the dispatcher's lease (45 s): unless `ROTA_FAULTS_REAL_LEASE` is set the test moves
//!   their expiry to the past right after the kill, which is the database as it is once the
//!   lease has run out; with it set the restarted instance waits the lease out.
//!
//! - two instances on one PostgreSQL: two `rota serve` processes and one SMTP server; 60
//!   incidents triggered through both alternately on two-level policies (each incident its
//!   own two people); level 1 is e-mailed, then every level-2 step is made due at once (its
//!   `escalate_at` moved to now, which is the database a minute later) and both instances'
//!   engines and dispatchers race for them. Every e-mail exactly once, every escalation
//!   step once on each timeline. The same again with two in-process apps (the composition
//!   root `rota serve` runs, sharing nothing but the database) driven by manual clocks.
//!
//! SMTP down for a while is covered in-process by `tests/notifications.rs`.

mod support;

use diesel::prelude::*;
use rota::domain::notification::Status;
use rota::store::notifications::Notification;
use rota::store::schema::{incidents, notifications};
use rota::store::{Db, DbConnection};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::smtp::{ReceivedEmail, SmtpServer};
use support::{TestApp, TestDatabase};

/// Incidents in the SIGKILL test, each paging its own person.
const KILLED: usize = 40;
/// The SIGKILL lands once at least this many e-mails were accepted.
const KILL_AFTER: usize = 12;
/// Incidents in the two-instance tests.
const SHARED: usize = 60;

/// A `rota serve` process; killed (SIGKILL) if the test fails.
struct Serve {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Serve {
    /// Starts `rota serve` on `database` (with SMTP at `smtp` if given) without waiting for it.
    fn spawn(dir: &Path, database: &str, smtp: Option<&str>) -> Serve {
        let port = support::smtp::free_port();
        let listen = format!("127.0.0.1:{port}");
        let log = dir.join(format!("serve-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rota"));
        cmd.current_dir(dir)
            .env_clear()
            .env("USER", "tester")
            .env("ROTA_DATABASE_URL", database)
            .env("ROTA_LISTEN", &listen)
            .env("ROTA_LOG", "info,rota::jobs=debug")
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join(format!("serve-{port}.out"))).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(url) = smtp {
            cmd.env("ROTA_SMTP_URL", url);
        }
        let child = cmd.spawn().expect("start rota serve");
        Serve {
            child,
            base: format!("http://{listen}"),
            log,
        }
    }

    /// `spawn`, then waits until it answers `/healthz`.
    async fn start(dir: &Path, database: &str, smtp: Option<&str>) -> Serve {
        let mut serve = Serve::spawn(dir, database, smtp);
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            if let Ok(res) = http.get(format!("{}/healthz", serve.base)).send().await
                && res.status().is_success()
            {
                return serve;
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!(
                    "rota serve exited early with {status}: {}",
                    serve.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "rota serve did not answer in 60 s"
            );
            pause(50).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL (what `Child::kill` sends on Unix): no clean-up of any kind.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL rota serve");
        self.child.wait().expect("reap rota serve");
    }

    /// SIGTERM, then waits for the clean exit.
    async fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}: {}", self.log_text());
                return;
            }
            assert!(Instant::now() < deadline, "rota serve ignored SIGTERM");
            pause(50).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn pause(ms: u64) {
    actix_web::rt::time::sleep(Duration::from_millis(ms)).await;
}

/// An owner token made by `rota token create`, as an operator makes the first one.
fn owner_token(dir: &Path, database: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rota"))
        .current_dir(dir)
        .env_clear()
        .env("USER", "tester")
        .env("ROTA_DATABASE_URL", database)
        .args([
            "token", "create", "--kind", "api", "--name", "faults", "--role", "owner",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("rota token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned()
}

/// The REST API and the Events API of one instance.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(base: &str, token: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Token token={}", self.token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, body) = support::read(req.send().await.expect("request")).await;
        assert!((200..300).contains(&status), "{path}: {status} {body}");
        body
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, None).await
    }

    /// Triggers the incident `[fault-NNN]` on `key`.
    async fn trigger(&self, key: &str, n: usize) {
        let (status, body) = support::send(self.http.post(format!("{}/v2/enqueue", self.base)).json(
            &json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("fault-{n:03}"),
                "payload": {"summary": title(n), "source": "faults", "severity": "critical"}}),
        ))
        .await;
        assert_eq!(status, 202, "{body}");
    }

    /// The ids of the incident `fault-NNN`.
    async fn incident(&self, n: usize) -> String {
        let found = self
            .get(&format!(
                "/api/v2/incidents?incident_key=fault-{n:03}&date_range=all"
            ))
            .await;
        found["incidents"][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no incident fault-{n:03}: {found}"))
            .to_owned()
    }

    /// How many times each kind of entry is on the incident's timeline.
    async fn timeline(&self, id: &str) -> BTreeMap<String, usize> {
        let body = self
            .get(&format!("/api/v2/incidents/{id}/log_entries?limit=100"))
            .await;
        let mut kinds = BTreeMap::new();
        for e in body["log_entries"].as_array().unwrap() {
            *kinds
                .entry(e["type"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        kinds
    }
}

/// The summary of incident `n`: what its e-mail's subject names.
fn title(n: usize) -> String {
    format!("[fault-{n:03}] checkout down")
}

/// A service of its own for each incident, on a policy of its own whose levels each page one
/// person of their own (so no person gets two pages at once: nothing here depends on how a
/// storm of pages to one person is bundled). Each route's routing key and the e-mail address
/// of its level-1, level-2, … person.
struct Route {
    key: String,
    people: Vec<String>,
}

async fn routes(api: &Api, n: usize, levels: usize, delay_minutes: u32) -> Vec<Route> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut people = Vec::new();
        let mut rules = Vec::new();
        for level in 1..=levels {
            let email = format!("p{i:03}-l{level}@example.com");
            let user = api
                .post(
                    "/api/v2/users",
                    json!({"user": {"name": format!("Person {i} L{level}"), "email": email}}),
                )
                .await;
            let id = user["user"]["id"].as_str().unwrap().to_owned();
            rules.push(json!({"escalation_delay_in_minutes": delay_minutes,
                "targets": [{"id": id, "type": "user_reference"}]}));
            people.push(email);
        }
        let policy = api
            .post(
                "/api/v2/escalation_policies",
                json!({"escalation_policy": {"name": format!("P{i} {run}"), "escalation_rules": rules}}),
            )
            .await;
        let policy = policy["escalation_policy"]["id"].as_str().unwrap();
        let service = api
            .post(
                "/api/v2/services",
                json!({"service": {"name": format!("S{i} {run}"),
                    "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                    "incident_urgency_rule": {"type": "constant", "urgency": "high"}}}),
            )
            .await;
        let service = service["service"]["id"].as_str().unwrap();
        let integration = api
            .post(
                &format!("/api/v2/services/{service}/integrations"),
                json!({"integration": {"type": "events_api_v2_inbound_integration"}}),
            )
            .await;
        out.push(Route {
            key: integration["integration"]["integration_key"]
                .as_str()
                .unwrap()
                .to_owned(),
            people,
        });
    }
    out
}

fn outbox(db: &Db) -> Vec<Notification> {
    let mut conn = db.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    notifications::table
        .order(notifications::id)
        .select(Notification::as_select())
        .load(conn)
        .unwrap()
}

/// `rota serve`'s database from the test's side.
fn open(database: &TestDatabase) -> Db {
    Db::connect(database.url(), 2).expect("open the database")
}

/// Waits until the outbox holds `expect` notifications, none of them pending; the outbox.
async fn drained(db: &Db, expect: usize, deadline: Duration) -> Vec<Notification> {
    let until = Instant::now() + deadline;
    loop {
        let rows = outbox(db);
        if rows.len() >= expect && rows.iter().all(|n| n.status != Status::Pending) {
            return rows;
        }
        assert!(
            Instant::now() < until,
            "the outbox did not drain in {deadline:?}: {:?}",
            counts(&rows)
        );
        pause(100).await;
    }
}

fn counts(rows: &[Notification]) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for n in rows {
        *by.entry(n.status.as_str().to_owned()).or_default() += 1;
    }
    by
}

/// The notification id a Message-ID names (`<ID@domain>`).
fn notification_of(message_id: &str) -> &str {
    message_id
        .trim()
        .trim_start_matches('<')
        .split('@')
        .next()
        .unwrap_or_default()
}

/// Asserts every route's people were each e-mailed about their incident exactly once (for
/// `levels` levels), that no Message-ID came twice, and that each sent notification is one
/// of the e-mails. `what` says which test, for the messages.
fn exactly_once(
    what: &str,
    routes: &[Route],
    levels: usize,
    mail: &[ReceivedEmail],
    rows: &[Notification],
) {
    at_least_once_then_once(what, routes, levels, mail, rows, &[])
}

/// As `exactly_once`, except that the notifications `in_flight` (accepted by the SMTP
/// server when the sender was killed, before it could record the send) may arrive once
/// more, with the same Message-ID: over SMTP nobody can tell whether such a message was
/// delivered, and a page may repeat but must not be lost.
fn at_least_once_then_once(
    what: &str,
    routes: &[Route],
    levels: usize,
    mail: &[ReceivedEmail],
    rows: &[Notification],
    in_flight: &[&str],
) {
    let mut by_id: HashMap<&str, usize> = HashMap::new();
    for m in mail {
        *by_id.entry(m.message_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = by_id
        .iter()
        .filter(|(id, n)| **n > 2 || (**n == 2 && !in_flight.contains(&notification_of(id))))
        .collect();
    let repeated = by_id.values().filter(|n| **n == 2).count();
    let mut per_page: HashMap<(String, String), usize> = HashMap::new();
    for m in mail {
        for to in &m.rcpt_to {
            *per_page.entry((to.clone(), m.subject.clone())).or_default() += 1;
        }
    }
    let mut wrong = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        for person in &r.people[..levels] {
            let got: usize = per_page
                .iter()
                .filter(|((to, subject), _)| to == person && subject.contains(&title(i)))
                .map(|(_, n)| *n)
                .sum();
            if got == 0 || got > 2 || (got == 2 && in_flight.is_empty()) {
                wrong.push(format!("{person} about fault-{i:03}: {got} e-mails"));
            }
        }
    }
    let received: std::collections::HashSet<&str> = mail
        .iter()
        .map(|m| notification_of(&m.message_id))
        .collect();
    let unsent: Vec<_> = rows
        .iter()
        .filter(|n| n.status != Status::Sent || !received.contains(n.id.as_str()))
        .map(|n| format!("{} {} ({})", n.id, n.address, n.status.as_str()))
        .collect();
    assert!(
        twice.is_empty() && wrong.is_empty() && unsent.is_empty(),
        "{what}: {} e-mails for {} notifications ({:?});\n\
         Message-IDs received more than once: {twice:?};\n\
         pages not received exactly once: {wrong:?};\n\
         notifications not sent or not received: {unsent:?}",
        mail.len(),
        rows.len(),
        counts(rows),
    );
    assert_eq!(
        mail.len(),
        routes.len() * levels + repeated,
        "{what}: e-mails"
    );
    assert_eq!(rows.len(), routes.len() * levels, "{what}: notifications");
}

/// Moves the expiry of every claim still held to the past: the database as it is once the
/// lease of a dispatcher that died has run out.
fn expire_claims(db: &Db) -> usize {
    let now = rota::clock::stored(chrono::Utc::now());
    let mut conn = db.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    diesel::update(
        notifications::table
            .filter(notifications::status.eq(Status::Pending))
            .filter(notifications::claimed_until.gt(now)),
    )
    .set(notifications::claimed_until.eq(Some(now - chrono::Duration::seconds(1))))
    .execute(conn)
    .unwrap()
}

/// Makes every step still to come due now: the database as it is once the delay has passed.
fn escalate_now(db: &Db) -> usize {
    let now = rota::clock::stored(chrono::Utc::now());
    let mut conn = db.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    diesel::update(incidents::table.filter(incidents::escalate_at.is_not_null()))
        .set(incidents::escalate_at.eq(Some(now - chrono::Duration::seconds(1))))
        .execute(conn)
        .unwrap()
}

async fn killed_mid_dispatch_then_restarted(database: TestDatabase) {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = database.env_url();
    let db = open(&database);

    // Without SMTP the pages wait in the outbox: set up and trigger through a first server.
    let quiet = Serve::start(dir.path(), &url, None).await;
    let api = Api::new(&quiet.base, &owner_token(dir.path(), &url));
    let routes = routes(&api, KILLED, 1, 30).await;
    for (i, r) in routes.iter().enumerate() {
        api.trigger(&r.key, i).await;
    }
    quiet.terminate().await;
    let waiting = outbox(&db);
    assert_eq!(waiting.len(), KILLED);
    assert!(waiting.iter().all(|n| n.status == Status::Pending));

    // A server with SMTP starts sending them; SIGKILL part-way.
    let doomed = Serve::spawn(dir.path(), &url, Some(&smtp.url()));
    let before = smtp.wait_for(KILL_AFTER, Duration::from_secs(60)).await;
    assert!(
        before.len() >= KILL_AFTER,
        "nothing sent in 60 s: {}",
        doomed.log_text()
    );
    doomed.kill();
    // A message whose end reached the SMTP server just before the kill is still accepted
    // (and filed) after it.
    pause(500).await;
    let at_kill = smtp.messages(0, Duration::ZERO);
    let rows = outbox(&db);
    let recorded: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|n| n.status == Status::Sent)
        .map(|n| n.id.as_str())
        .collect();
    let unrecorded: Vec<&str> = at_kill
        .iter()
        .map(|m| notification_of(&m.message_id))
        .filter(|id| !recorded.contains(id))
        .collect();
    let claimed = rows
        .iter()
        .filter(|n| n.status == Status::Pending && n.claimed_until.is_some())
        .count();
    eprintln!(
        "{}: killed with {} of {KILLED} e-mails accepted by SMTP, {} recorded as sent, {} \
         claimed by the killed instance; accepted but not recorded (sent again after the \
         restart): {unrecorded:?}",
        database.url(),
        at_kill.len(),
        recorded.len(),
        claimed,
    );
    assert!(
        at_kill.len() < KILLED,
        "everything went out before the kill: nothing was tested"
    );

    // The dispatcher sends a few messages at once: at most that many can be in flight.
    assert!(
        unrecorded.len() <= rota::jobs::notifications::MAX_CONCURRENCY,
        "in flight at the kill: {unrecorded:?}"
    );
    // SQLite's one server frees the claims at start: nothing to wait for. On PostgreSQL the
    // claims of an instance that died hold for the lease (45 s), unless
    // ROTA_FAULTS_REAL_LEASE is set the test moves them past it.
    let real_lease = std::env::var_os("ROTA_FAULTS_REAL_LEASE").is_some_and(|v| !v.is_empty());
    if !real_lease && !database.url().is_sqlite() {
        let expired = expire_claims(&db);
        eprintln!("moved the expiry of {expired} claims to the past (the lease ran out)");
    }
    let started = Instant::now();
    let again = Serve::spawn(dir.path(), &url, Some(&smtp.url()));
    let rows = drained(
        &db,
        KILLED,
        Duration::from_secs(if real_lease { 200 } else { 60 }),
    )
    .await;
    eprintln!(
        "the restarted instance drained the outbox in {:?}",
        started.elapsed()
    );
    // Anything sent twice arrives within moments of its row being recorded.
    pause(1_000).await;
    let mail = smtp.messages(KILLED, Duration::from_secs(5));
    again.terminate().await;
    at_least_once_then_once(
        "killed mid-dispatch and restarted",
        &routes,
        1,
        &mail,
        &rows,
        &unrecorded,
    );
}

mod sigkill {
    use super::*;

    #[actix_web::test]
    async fn sqlite_nothing_lost_only_those_in_flight_may_repeat() {
        killed_mid_dispatch_then_restarted(TestDatabase::sqlite()).await;
    }

    #[actix_web::test]
    async fn postgres_nothing_lost_only_those_in_flight_may_repeat() {
        killed_mid_dispatch_then_restarted(TestDatabase::postgres()).await;
    }
}

/// How many of an instance's dispatcher passes sent something and how many escalation
/// passes took steps (from its debug log).
fn passes(serve: &Serve) -> (usize, usize) {
    let log = serve.log_text();
    let count = |what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && !l.contains("sent: 0"))
            .count()
    };
    (count("notification pass"), count("escalation pass"))
}

#[actix_web::test]
async fn two_serve_processes_on_one_postgresql_send_each_page_once_and_escalate_once() {
    let database = TestDatabase::postgres();
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let url = database.env_url();
    let db = open(&database);
    let a = Serve::start(dir.path(), &url, Some(&smtp.url())).await;
    let b = Serve::start(dir.path(), &url, Some(&smtp.url())).await;
    let token = owner_token(dir.path(), &url);
    let (api_a, api_b) = (Api::new(&a.base, &token), Api::new(&b.base, &token));
    let routes = routes(&api_a, SHARED, 2, 1).await;

    // Triggers through both, alternately, from two clients at once.
    let half = |odd: usize| {
        let (api, routes) = (if odd == 0 { &api_a } else { &api_b }, &routes);
        async move {
            for (i, r) in routes.iter().enumerate().filter(|(i, _)| i % 2 == odd) {
                api.trigger(&r.key, i).await;
            }
        }
    };
    tokio::join!(half(0), half(1));
    let level1 = smtp.wait_for(SHARED, Duration::from_secs(60)).await;
    assert_eq!(level1.len(), SHARED, "level 1 e-mailed");

    // Every level-2 step due at once: both engines race for them.
    assert_eq!(escalate_now(&db), SHARED);
    let rows = drained(&db, 2 * SHARED, Duration::from_secs(60)).await;
    pause(1_000).await;
    let mail = smtp.messages(2 * SHARED, Duration::from_secs(5));
    exactly_once("two rota serve", &routes, 2, &mail, &rows);
    for i in 0..SHARED {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        let id = api.incident(i).await;
        let kinds = api.timeline(&id).await;
        assert_eq!(
            kinds.get("escalate_log_entry"),
            Some(&1),
            "fault-{i:03}: {kinds:?}"
        );
        assert_eq!(
            kinds.get("notify_log_entry"),
            Some(&2),
            "fault-{i:03}: {kinds:?}"
        );
    }
    eprintln!(
        "(dispatcher passes that sent, escalation passes that took steps): instance A {:?}, \
         instance B {:?}",
        passes(&a),
        passes(&b)
    );
    a.terminate().await;
    b.terminate().await;
}

/// A second in-process instance on a test app's database, wired as `TestApp` wires its own
/// (`rota::app::assemble`, then the start-up work and the HTTP server) but sharing nothing
/// with it but the database: its own pool, caches, manual clock and jobs.
struct Second {
    base: String,
    clock: std::sync::Arc<rota::clock::ManualClock>,
    app: rota::app::App,
    server: actix_web::dev::ServerHandle,
}

impl Second {
    async fn start(beside: &TestApp) -> Second {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let clock = std::sync::Arc::new(rota::clock::ManualClock::new(rota::clock::Clock::now(
            &*beside.clock,
        )));
        let mut config = rota::config::Config::defaults(beside.database.url().clone(), address);
        config.db_pool_size = 4;
        config.policies = rota::config::PolicySource::Dir(support::policy_dir());
        let app = rota::app::assemble(
            &config,
            support::repo_policies(),
            rota::domain::seat_policy::SeatPolicy::parse(include_str!("../policies/seats.toml"))
                .unwrap(),
            clock.clone(),
        )
        .unwrap_or_else(|e| panic!("start-up: {e}"));
        app.start_up().await;
        let server = rota::http::server(app.state.clone(), listener, Some(1)).unwrap();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Second {
            base: format!("http://{address}"),
            clock,
            app,
            server: handle,
        }
    }
}

impl Drop for Second {
    fn drop(&mut self) {
        drop(self.server.stop(false));
        self.app.db.close();
    }
}

/// The real loops (`Escalations`, `Dispatcher`) of an in-process app, sending through `smtp`.
fn loops(
    app: &rota::app::App,
    smtp: &SmtpServer,
) -> (
    rota::jobs::escalation::Escalations,
    rota::jobs::notifications::Dispatcher,
) {
    (
        rota::jobs::escalation::Escalations::start(app.escalation.clone()),
        rota::jobs::notifications::Dispatcher::start(
            rota::jobs::notifications::NotificationJob {
                mailer: Some(smtp.mailer()),
                ..app.notifications.clone()
            },
            // Two instances share this database: neither may free the other's claims.
            false,
        ),
    )
}

#[actix_web::test]
async fn two_in_process_instances_on_one_postgresql_with_manual_clocks_escalate_once() {
    let smtp = SmtpServer::start();
    let a = TestApp::postgres().await;
    let b = Second::start(&a).await;
    let api_a = Api::new(&a.base, &a.token);
    let api_b = Api::new(&b.base, &a.token);
    let routes = routes(&api_a, SHARED, 2, 1).await;
    let (esc_a, disp_a) = loops(&a.app, &smtp);
    let (esc_b, disp_b) = loops(&b.app, &smtp);

    let half = |odd: usize| {
        let (api, routes) = (if odd == 0 { &api_a } else { &api_b }, &routes);
        async move {
            for (i, r) in routes.iter().enumerate().filter(|(i, _)| i % 2 == odd) {
                api.trigger(&r.key, i).await;
            }
        }
    };
    tokio::join!(half(0), half(1));
    let level1 = smtp.wait_for(SHARED, Duration::from_secs(60)).await;
    assert_eq!(level1.len(), SHARED, "level 1 e-mailed");

    // A minute later on both clocks: every level-2 step is due on both instances.
    a.clock.advance(chrono::Duration::minutes(1));
    b.clock.advance(chrono::Duration::minutes(1));
    let rows = drained(&a.db, 2 * SHARED, Duration::from_secs(60)).await;
    pause(1_500).await;
    let mail = smtp.messages(2 * SHARED, Duration::from_secs(5));
    esc_a.stop().await;
    esc_b.stop().await;
    disp_a.stop().await;
    disp_b.stop().await;
    exactly_once("two in-process instances", &routes, 2, &mail, &rows);
    for i in 0..SHARED {
        let id = api_a.incident(i).await;
        let kinds = api_b.timeline(&id).await;
        assert_eq!(
            kinds.get("escalate_log_entry"),
            Some(&1),
            "fault-{i:03}: {kinds:?}"
        );
    }
    drop(b);
    drop(a);
}
