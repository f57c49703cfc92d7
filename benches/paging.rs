//! Paging by e-mail end to end against the release server on each backend (`cargo bench
//! --bench paging`), with the dispatcher and the escalation engine running as `rota serve`
//! runs them and a real SMTP server (aiosmtpd, `tests/peers/smtp/server.py`, which names each
//! message it accepts after the instant it received it, before it answers 250):
//!
//! - trigger → e-mail: LATENCY_TRIGGERS triggers through `/v2/enqueue` at a steady
//!   TRIGGERS_PER_SECOND (open loop: each is sent at its instant whatever the others do),
//!   each opening an incident that pages its own person by e-mail; the time from sending the
//!   trigger to the SMTP server accepting that incident's e-mail. Target: p99 under 1 s,
//!   aiming for 100 ms.
//! - escalation lateness: ESCALATIONS incidents on two-level policies with the smallest
//!   delay allowed (1 minute), triggered over a few seconds; how late each level-2 step is
//!   after its `escalate_at`: by its timeline entry (stamped with the instant the engine's
//!   pass began) and by the level-2 e-mail's acceptance at the SMTP server. Target: under 1 s.
//!
//! Each incident has people of its own, so no one gets a storm of pages (what is measured is
//! the path of one page, not how a storm to one person is bundled). Printed: p50, p90, p99
//! and max of each.

#[path = "common/mod.rs"]
mod common;

use diesel::prelude::*;
use hdrhistogram::Histogram;
use rota::config::DatabaseUrl;
use rota::domain::role::Role;
use rota::store::schema::{incident_log_entries, incidents};
use rota::store::{Db, DbConnection};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LATENCY_TRIGGERS: usize = 300;
const TRIGGERS_PER_SECOND: u64 = 20;
const ESCALATIONS: usize = 50;
/// The escalation incidents are triggered over this long.
const ESCALATION_SPREAD: Duration = Duration::from_secs(5);
/// Requests at once while setting up.
const SETUP_CLIENTS: usize = 8;

fn main() {
    println!(
        "machine: {}; release server in-process with its jobs (dispatcher, escalation every \
         250 ms), aiosmtpd on 127.0.0.1",
        common::machine()
    );
    common::for_each_backend(run);
}

fn run(label: &str, url: DatabaseUrl) {
    let smtp = Smtp::start();
    let server = common::Server::start_with(&url, Some(&smtp.url()));
    let db = Db::connect(&url, 2).unwrap();
    let token = common::token(&db, Role::Owner);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let api = Arc::new(Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
        token,
    });
    let run_id = uuid::Uuid::now_v7().simple().to_string();

    // Trigger → e-mail.
    let started = Instant::now();
    let routes = rt.block_on(seed_routes(&api, "lat", LATENCY_TRIGGERS, 1, 30, &run_id));
    println!(
        "{label:<9} set up {} services, policies and people in {:.1}s",
        routes.len(),
        started.elapsed().as_secs_f64()
    );
    let sent = rt.block_on(steady(&api, &routes, "lat", TRIGGERS_PER_SECOND, &run_id));
    let accepted = smtp.wait_for("[lat-", LATENCY_TRIGGERS, Duration::from_secs(120));
    let (mut h, mut answered, mut after) = (
        common::histogram(),
        common::histogram(),
        common::histogram(),
    );
    let mut missing = 0;
    for (i, (at, answer)) in sent.iter().enumerate() {
        answered.record(micros_between(*at, *answer)).unwrap();
        match accepted.get(&format!("[lat-{i:04}]")) {
            Some(got) => {
                h.record(micros_between(*at, *got)).unwrap();
                after.record(micros_between(*answer, *got)).unwrap();
            }
            None => missing += 1,
        }
    }
    println!(
        "{label:<9} trigger -> e-mail accepted, {LATENCY_TRIGGERS} triggers at \
         {TRIGGERS_PER_SECOND}/s: {} | {} e-mails, {missing} missing",
        figures(&h),
        accepted.len()
    );
    println!(
        "{label:<9}   split: trigger answered 202: {}",
        figures(&answered)
    );
    println!(
        "{label:<9}   split: 202 -> e-mail accepted: {}",
        figures(&after)
    );

    // Escalation lateness.
    let routes = rt.block_on(seed_routes(&api, "esc", ESCALATIONS, 2, 1, &run_id));
    let per_second = (ESCALATIONS as f64 / ESCALATION_SPREAD.as_secs_f64()).ceil() as u64;
    rt.block_on(steady(&api, &routes, "esc", per_second, &run_id));
    let due = escalate_at(&db, &run_id);
    assert_eq!(
        due.len(),
        ESCALATIONS,
        "every escalation incident has a step due"
    );
    let last = due.values().max().copied().unwrap();
    let wait = (last.and_utc() - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    println!(
        "{label:<9} waiting {:.0}s for the level-2 steps to fall due",
        wait.as_secs_f64()
    );
    std::thread::sleep(wait);
    let level2 = smtp.wait_for("[esc-", 2 * ESCALATIONS, Duration::from_secs(60));
    let stamped = escalated_at(&db, &run_id);
    let (mut by_entry, mut by_email) = (common::histogram(), common::histogram());
    let mut missing = 0;
    for (key, at) in &due {
        let due_at = SystemTime::from(at.and_utc());
        match stamped.get(key) {
            Some(entry) => by_entry
                .record(micros_between(due_at, SystemTime::from(entry.and_utc())))
                .unwrap(),
            None => missing += 1,
        }
        // The level-2 person's e-mail: the later of the incident's two.
        let n: usize = key
            .trim_start_matches(&format!("{run_id}-esc-"))
            .parse()
            .unwrap();
        if let Some(got) = level2.get(&format!("[esc-{n:04}]#l2")) {
            by_email.record(micros_between(due_at, *got)).unwrap();
        }
    }
    println!(
        "{label:<9} escalation step late by (timeline entry), {ESCALATIONS} steps: {} | {missing} \
         not taken",
        figures(&by_entry)
    );
    println!(
        "{label:<9} escalation step late by (level-2 e-mail accepted): {} | {} e-mails",
        figures(&by_email),
        by_email.len()
    );
    drop(rt);
    db.close();
    server.stop();
}

/// Microseconds from `from` to `to` (at least 1: the histogram's lowest value).
fn micros_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
        .max(1)
}

/// "p50 … | p90 … | p99 … | max …" from a histogram of microseconds.
fn figures(h: &Histogram<u64>) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "p50 {:.1} ms | p90 {:.1} ms | p99 {:.1} ms | max {:.1} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Token token={}", self.token))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

/// One route per incident: a service on a policy of its own whose `levels` levels each page
/// a person of their own (e-mail `{tag}{i}-l{level}@example.com`). Its routing key.
async fn seed_routes(
    api: &Arc<Api>,
    tag: &str,
    n: usize,
    levels: usize,
    delay_minutes: u32,
    run_id: &str,
) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    let mut keys = vec![String::new(); n];
    for i in 0..n {
        if set.len() >= SETUP_CLIENTS {
            let (i, key) = set.join_next().await.unwrap().unwrap();
            keys[i] = key;
        }
        let (api, tag, run_id) = (api.clone(), tag.to_owned(), run_id.to_owned());
        set.spawn(async move {
            let mut rules = Vec::new();
            for level in 1..=levels {
                let user = api
                    .post(
                        "/api/v2/users",
                        json!({"user": {"name": format!("{tag} {i} L{level}"),
                            "email": format!("{tag}{i}-l{level}-{run_id}@example.com")}}),
                    )
                    .await;
                rules.push(json!({"escalation_delay_in_minutes": delay_minutes,
                    "targets": [{"id": user["user"]["id"], "type": "user_reference"}]}));
            }
            let policy = api
                .post(
                    "/api/v2/escalation_policies",
                    json!({"escalation_policy": {"name": format!("{tag} {i} {run_id}"),
                        "escalation_rules": rules}}),
                )
                .await;
            let service = api
                .post(
                    "/api/v2/services",
                    json!({"service": {"name": format!("{tag} {i} {run_id}"),
                        "escalation_policy": {"id": policy["escalation_policy"]["id"],
                            "type": "escalation_policy_reference"},
                        "incident_urgency_rule": {"type": "constant", "urgency": "high"}}}),
                )
                .await;
            let id = service["service"]["id"].as_str().unwrap().to_owned();
            let made = api
                .post(
                    &format!("/api/v2/services/{id}/integrations"),
                    json!({"integration": {"type": "events_api_v2_inbound_integration"}}),
                )
                .await;
            (
                i,
                made["integration"]["integration_key"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        });
    }
    while let Some(done) = set.join_next().await {
        let (i, key) = done.unwrap();
        keys[i] = key;
    }
    keys
}

/// Triggers incident `i` on `keys[i]` (summary `[{tag}-NNNN] …`, dedup key
/// `{run_id}-{tag}-NNNN`) at `per_second`, each at its own instant; the instants each trigger
/// was sent and answered (202).
async fn steady(
    api: &Arc<Api>,
    keys: &[String],
    tag: &str,
    per_second: u64,
    run_id: &str,
) -> Vec<(SystemTime, SystemTime)> {
    let every = Duration::from_micros(1_000_000 / per_second);
    let start = tokio::time::Instant::now();
    let tasks: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let (api, key, tag, run_id) =
                (api.clone(), key.clone(), tag.to_owned(), run_id.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep_until(start + every * i as u32).await;
                let at = SystemTime::now();
                let res = api
                    .http
                    .post(format!("{}/v2/enqueue", api.base))
                    .json(&json!({"routing_key": key, "event_action": "trigger",
                        "dedup_key": format!("{run_id}-{tag}-{i:04}"),
                        "payload": {"summary": format!("[{tag}-{i:04}] checkout down"),
                            "source": "bench", "severity": "critical"}}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                let body = res.text().await.unwrap();
                assert_eq!(status, 202, "{body}");
                (at, SystemTime::now())
            })
        })
        .collect();
    let mut sent = Vec::with_capacity(keys.len());
    for t in tasks {
        sent.push(t.await.unwrap());
    }
    sent
}

/// The escalation incidents' dedup keys and when their next step is due.
fn escalate_at(db: &Db, run_id: &str) -> HashMap<String, chrono::NaiveDateTime> {
    let prefix = format!("{run_id}-esc-%");
    let mut conn = db.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    incidents::table
        .filter(incidents::incident_key.like(prefix))
        .filter(incidents::escalate_at.is_not_null())
        .select((incidents::incident_key, incidents::escalate_at))
        .load::<(String, Option<chrono::NaiveDateTime>)>(conn)
        .unwrap()
        .into_iter()
        .map(|(k, at)| (k, at.unwrap()))
        .collect()
}

/// The escalation incidents' dedup keys and the instant their escalation entry was stamped.
fn escalated_at(db: &Db, run_id: &str) -> HashMap<String, chrono::NaiveDateTime> {
    let prefix = format!("{run_id}-esc-%");
    let mut conn = db.get().unwrap();
    let conn: &mut DbConnection = &mut conn;
    incident_log_entries::table
        .inner_join(incidents::table)
        .filter(incidents::incident_key.like(prefix))
        .filter(incident_log_entries::kind.eq("escalate"))
        .select((incidents::incident_key, incident_log_entries::created_at))
        .load::<(String, chrono::NaiveDateTime)>(conn)
        .unwrap()
        .into_iter()
        .collect()
}

/// The tests' SMTP server (`tests/peers/smtp/server.py`, with the tests' Python venv), read
/// here for the instant it accepted each message: it names each file
/// `{time.time_ns():020}.{uuid}.json` when the message has arrived, before it answers 250.
struct Smtp {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    dir: tempfile::TempDir,
}

impl Smtp {
    fn start() -> Smtp {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = venv(root);
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = tempfile::tempdir().unwrap();
            let mut child = Command::new(&python)
                .arg(root.join("tests/peers/smtp/server.py"))
                .arg(port.to_string())
                .arg(dir.path())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start aiosmtpd");
            let stdin = child.stdin.take().unwrap();
            let mut line = String::new();
            let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
            if line.trim() == "ready" {
                return Smtp {
                    child,
                    _stdin: stdin,
                    port,
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("aiosmtpd did not start");
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits until `expect` messages whose subject holds `tag` were accepted (or `deadline`);
    /// each such message's `[tag-NNNN]` (followed by `#l2` for a second message on the same
    /// incident) and when it was accepted.
    fn wait_for(
        &self,
        tag: &str,
        expect: usize,
        deadline: Duration,
    ) -> HashMap<String, SystemTime> {
        let until = Instant::now() + deadline;
        loop {
            let found = self.accepted(tag);
            if found.len() >= expect || Instant::now() >= until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn accepted(&self, tag: &str) -> HashMap<String, SystemTime> {
        let mut names: Vec<PathBuf> = match std::fs::read_dir(self.dir.path().join("new")) {
            Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(_) => return HashMap::new(),
        };
        names.sort();
        let mut out = HashMap::new();
        for path in names {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let ns: u64 = name[..20].parse().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let message: Value = serde_json::from_str(&text).unwrap();
            let subject = message["subject"].as_str().unwrap_or_default();
            let Some(start) = subject.find(tag) else {
                continue;
            };
            let Some(len) = subject[start..].find(']') else {
                continue;
            };
            let mut key = subject[start..=start + len].to_owned();
            if out.contains_key(&key) {
                key.push_str("#l2");
            }
            out.insert(key, UNIX_EPOCH + Duration::from_nanos(ns));
        }
        out
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tests' Python venv with aiosmtpd (`tests/peers/python-venv`, made on first use under
/// the lock the tests take).
fn venv(root: &Path) -> PathBuf {
    let target = root.join("target");
    std::fs::create_dir_all(&target).unwrap();
    let lock = std::fs::File::create(target.join("test-venv.lock")).unwrap();
    lock.lock().unwrap();
    let venv = target.join("test-venv");
    let status = Command::new("bash")
        .arg(root.join("tests/peers/python-venv"))
        .arg(&venv)
        .arg(root.join("tests/peers/requirements.txt"))
        .status()
        .expect("run tests/peers/python-venv");
    assert!(status.success(), "tests/peers/python-venv failed: {status}");
    drop(lock);
    venv.join("bin/python")
}
