//! Similar past incidents end to end, on SQLite and PostgreSQL (release build):
//! `GET /api/v2/incidents/{id}/related_incidents` over HTTP with 100,000 resolved incidents
//! in the database (target p99 < 20 ms), one client at a time. The first request builds the
//! index from the database (reported on its own); the rest search it and read their matches
//! back. Incidents are written straight into the store, worded from the labelled fixtures
//! (`tests/fixtures/related_incidents.json`) with varied hosts and numbers.
//!
//! Run with `cargo bench --bench related_incidents_http` (ROTA_BENCH_BACKENDS picks).

use chrono::{Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rota::config::DatabaseUrl;
use rota::domain::events::Extras;
use rota::domain::ids::{AlertId, EscalationPolicyId, IncidentId, IntegrationId, ServiceId};
use rota::domain::incident::{AlertStatus, Status};
use rota::domain::role::Role;
use rota::domain::service::Urgency;
use rota::store::column::Json;
use rota::store::incidents::{self, Alert, Incident};
use rota::store::{self, Db};
use serde_json::{Value, json};
use std::time::Instant;

mod common;

const PAST: usize = 100_000;
const QUERIES: usize = 1_000;
const BATCH: usize = 1_000;

fn main() {
    println!(
        "machine: {}, {PAST} resolved incidents, {QUERIES} searches one at a time",
        common::machine()
    );
    common::for_each_backend(run);
}

struct Wording {
    title: String,
    summary: String,
    source: String,
    component: String,
    class: String,
    keys: Vec<String>,
}

fn fixtures() -> Vec<Wording> {
    let doc: Value =
        serde_json::from_str(include_str!("../tests/fixtures/related_incidents.json")).unwrap();
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    doc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Wording {
            title: text(i, "title"),
            summary: text(i, "summary"),
            source: text(i, "source"),
            component: text(i, "component"),
            class: text(i, "class"),
            keys: i["detail_keys"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// A service to hang the incidents on, made through the API: (service, policy).
async fn service(base: &str, token: &str) -> (ServiceId, EscalationPolicyId) {
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("Authorization", format!("Token token={token}"))
            .json(&body)
            .send()
    };
    let user: Value = post(
        "/api/v2/users",
        json!({"user": {"name": "On Call", "email": "oncall@example.com"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let policy: Value = post("/api/v2/escalation_policies", json!({"escalation_policy": {"name": "Bench", "escalation_rules": [
        {"escalation_delay_in_minutes": 30, "targets": [{"id": user["user"]["id"], "type": "user_reference"}]}]}}))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let policy = policy["escalation_policy"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let svc: Value = post("/api/v2/services", json!({"service": {"name": "Bench", "escalation_policy": {"id": policy, "type": "escalation_policy_reference"}}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        ServiceId(svc["service"]["id"].as_str().unwrap().to_owned()),
        EscalationPolicyId(policy),
    )
}

/// Writes `PAST` resolved incidents, one alert each; their ids.
fn seed(db: &Db, service: &ServiceId, policy: &EscalationPolicyId) -> Vec<IncidentId> {
    let words = fixtures();
    let mut rng = StdRng::seed_from_u64(15);
    let start = rota::clock::stored(Utc::now() - Duration::days(400));
    let mut ids = Vec::with_capacity(PAST);
    let mut conn = db.get().unwrap();
    for batch in 0..PAST / BATCH {
        let mut rows = Vec::with_capacity(BATCH);
        let mut alerts = Vec::with_capacity(BATCH);
        for j in 0..BATCH {
            let n = batch * BATCH + j;
            let w = &words[rng.random_range(0..words.len())];
            let host = format!("{}-{:02}", w.source, rng.random_range(1..60));
            let opened = start + Duration::minutes(n as i64 * 5);
            let resolved = opened + Duration::minutes(rng.random_range(3..240));
            let id = IncidentId::generate();
            rows.push(Incident {
                id: id.clone(),
                number: n as i64 + 1,
                title: format!("{} ({host})", w.title),
                status: Status::Resolved,
                urgency: Urgency::High,
                incident_key: format!("bench-{n}"),
                service_id: service.clone(),
                escalation_policy_id: policy.clone(),
                escalation_level: 1,
                escalation_loops: 0,
                escalate_at: None,
                created_at: opened,
                updated_at: resolved,
                last_status_change_at: resolved,
                resolved_at: Some(resolved),
                version: 1,
            });
            let details: serde_json::Map<String, Value> =
                w.keys.iter().map(|k| (k.clone(), json!(n % 97))).collect();
            alerts.push(Alert {
                id: AlertId::generate(),
                incident_id: id.clone(),
                service_id: service.clone(),
                integration_id: IntegrationId("bench".into()),
                dedup_key: format!("bench-{n}"),
                status: AlertStatus::Resolved,
                severity: None,
                summary: format!("{} on {host}", w.summary),
                source: Some(host),
                component: Some(w.component.clone()),
                alert_group: None,
                class: Some(w.class.clone()),
                custom_details: Some(Json(Value::Object(details))),
                extras: Json(Extras::default()),
                event_count: 1,
                created_at: opened,
                last_event_at: opened,
                resolved_at: Some(resolved),
            });
            ids.push(id);
        }
        store::write(&mut conn, |tx| {
            incidents::insert(tx, &rows)?;
            incidents::insert_alerts(tx, &alerts)?;
            Ok(())
        })
        .unwrap();
    }
    ids
}

fn run(label: &str, url: DatabaseUrl) {
    let server = common::Server::start(&url);
    let db = Db::connect(&url, 2).unwrap();
    let token = common::token(&db, Role::Admin);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (service, policy) = rt.block_on(service(&server.base, &token));
    let began = Instant::now();
    let ids = seed(&db, &service, &policy);
    let seeded = began.elapsed();
    let client = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(16);
    let get = |id: &IncidentId| {
        let req = client
            .get(format!(
                "{}/api/v2/incidents/{id}/related_incidents",
                server.base
            ))
            .header("Authorization", format!("Token token={token}"));
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.status());
            let body: Value = res.json().await.unwrap();
            body["related_incidents"].as_array().map_or(0, Vec::len)
        }
    };
    let first = Instant::now();
    let found = rt.block_on(get(&ids[0]));
    let first = first.elapsed();
    let mut h = common::histogram();
    let mut results = 0;
    for _ in 0..QUERIES {
        let id = &ids[rng.random_range(0..ids.len())];
        let t = Instant::now();
        results += rt.block_on(get(id));
        h.record(t.elapsed().as_micros() as u64).unwrap();
    }
    println!(
        "{label:<9} seeded {PAST} in {:.1} s | first search (builds the index) {:.2} s, {found} results",
        seeded.as_secs_f64(),
        first.as_secs_f64()
    );
    println!(
        "{label:<9} GET related_incidents x{QUERIES}: {} ({:.1} results each)",
        common::latency(&h),
        results as f64 / QUERIES as f64
    );
    server.stop();
}
