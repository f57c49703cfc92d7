//! Events API v2 ingestion over HTTP against the release server on each backend (`cargo
//! bench --bench events`):
//! - distinct: triggers with new dedup keys over 10 routing keys, each opening an incident
//!   (the alert, the incident, its timeline and assignment in one transaction);
//! - dedup storm: 100,000 triggers on 100 dedup keys (the first of each opens an incident,
//!   the rest count on its alert);
//! - resolve: a resolve for each incident the storm opened.
//!
//! Printed: events per second and the latency of each POST, with CLIENTS at once. Targets:
//! at least 5,000 events/s on SQLite and 3,000/s on PostgreSQL from one instance.

#[path = "common/mod.rs"]
mod common;

use rota::config::DatabaseUrl;
use rota::domain::role::Role;
use rota::store::Db;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const CLIENTS: usize = 32;
const ROUTING_KEYS: usize = 10;
const DISTINCT: usize = 20_000;
const STORM: usize = 100_000;
const STORM_KEYS: usize = 100;

fn main() {
    println!(
        "machine: {}, {CLIENTS} clients at once over HTTP/1.1 keep-alive",
        common::machine()
    );
    common::for_each_backend(run);
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    let res = client
        .post(url)
        .header("Authorization", format!("Token token={token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{status} {body}");
    body
}

/// A policy, a service and ROUTING_KEYS integrations; the routing keys.
async fn seed(base: &str, token: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let user = post(
        &client,
        &format!("{base}/api/v2/users"),
        token,
        json!({"user": {"name": "On Call", "email": "oncall@example.com"}}),
    )
    .await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let policy = post(
        &client,
        &format!("{base}/api/v2/escalation_policies"),
        token,
        json!({"escalation_policy": {"name": "Bench", "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": user, "type": "user_reference"}]}]}}),
    )
    .await["escalation_policy"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let service = post(
        &client,
        &format!("{base}/api/v2/services"),
        token,
        json!({"service": {"name": "Bench", "escalation_policy": {"id": policy, "type": "escalation_policy_reference"}}}),
    )
    .await["service"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut keys = Vec::new();
    for _ in 0..ROUTING_KEYS {
        let made = post(
            &client,
            &format!("{base}/api/v2/services/{service}/integrations"),
            token,
            json!({"integration": {"type": "events_api_v2_inbound_integration"}}),
        )
        .await;
        keys.push(
            made["integration"]["integration_key"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    keys
}

/// Sends `total` events (`event(i)` is the i-th) from CLIENTS tasks; prints the rate.
async fn blast(
    label: &str,
    what: &str,
    base: &str,
    total: usize,
    event: Arc<dyn Fn(usize) -> Value + Send + Sync>,
) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/v2/enqueue");
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, next, event) =
                (client.clone(), url.clone(), next.clone(), event.clone());
            tokio::spawn(async move {
                let mut h = common::histogram();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let at = Instant::now();
                    let res = client.post(&url).json(&event(i)).send().await.unwrap();
                    let status = res.status();
                    let body = res.bytes().await.unwrap();
                    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
                    h.record(at.elapsed().as_micros().max(1) as u64).unwrap();
                }
                h
            })
        })
        .collect();
    let mut total_h = common::histogram();
    for t in tasks {
        total_h.add(t.await.unwrap()).unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label:<9} {what:<34} {total:>7} events in {secs:6.2}s = {:>6.0} events/s | {}",
        total as f64 / secs,
        common::latency(&total_h)
    );
}

fn trigger(key: &str, dedup: String) -> Value {
    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": "CPU high on web", "source": "web-1.example", "severity": "critical",
            "custom_details": {"load": 9.5}}})
}

fn run(label: &str, url: DatabaseUrl) {
    let server = common::Server::start(&url);
    let db = Db::connect(&url, 2).unwrap();
    let token = common::token(&db, Role::Admin);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys = Arc::new(rt.block_on(seed(&server.base, &token)));
    let run_id = uuid::Uuid::now_v7().simple().to_string();

    let k = keys.clone();
    let r = run_id.clone();
    rt.block_on(blast(
        label,
        "distinct (each opens an incident)",
        &server.base,
        DISTINCT,
        Arc::new(move |i| trigger(&k[i % ROUTING_KEYS], format!("{r}-d{i}"))),
    ));
    let k = keys.clone();
    let r = run_id.clone();
    rt.block_on(blast(
        label,
        "dedup storm (100 keys)",
        &server.base,
        STORM,
        Arc::new(move |i| trigger(&k[0], format!("{r}-s{}", i % STORM_KEYS))),
    ));
    let k = keys.clone();
    let r = run_id.clone();
    rt.block_on(blast(
        label,
        "resolve (each resolves one)",
        &server.base,
        STORM_KEYS,
        Arc::new(move |i| {
            json!({"routing_key": k[0], "event_action": "resolve", "dedup_key": format!("{r}-s{i}")})
        }),
    ));
    drop(rt);
    server.stop();
}
