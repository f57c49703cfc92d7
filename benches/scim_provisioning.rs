//! SCIM provisioning benchmark over HTTP against the release build, as Entra's provisioning
//! service drives it: for each user, a `userName eq` filter then a create (20,000 users); then
//! 200 groups of 100 members; a `userName eq` look-up with 100,000 users; and one PATCH that
//! adds 1,000 members. Prints requests/s and p50/p99 per phase and backend.
//!
//! Run with `cargo bench --bench scim_provisioning` (ROTA_BENCH_BACKENDS=sqlite to skip
//! PostgreSQL). Client and server share this machine's cores. ROTA_BENCH_CAPS=FULL,STAKEHOLDER
//! configures both licences' caps first (e.g. `25000,5000`: every create takes a capped seat,
//! as in production), so each create settles a seat under a cap.

mod common;

use rota::config::DatabaseUrl;
use rota::domain::seat_policy::Licence;
use rota::domain::token::TokenKind;
use rota::store::{self, Db, tokens, users};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const USERS: usize = 20_000;
const GROUPS: usize = 200;
const MEMBERS_PER_GROUP: usize = 100;
const LOOKUP_POPULATION: usize = 100_000;
const LOOKUPS: usize = 5_000;
const BIG_PATCH: usize = 1_000;

/// Concurrent clients (ROTA_BENCH_CLIENTS, default 8: Entra's provisioning engine works a
/// job with a handful of parallel requests).
fn clients() -> usize {
    std::env::var("ROTA_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// Caps to configure before the run (ROTA_BENCH_CAPS=FULL,STAKEHOLDER), if any.
fn caps() -> Option<(i64, i64)> {
    let v = std::env::var("ROTA_BENCH_CAPS").ok()?;
    let (full, stakeholder) = v.split_once(',').expect("ROTA_BENCH_CAPS=FULL,STAKEHOLDER");
    Some((
        full.trim().parse().unwrap(),
        stakeholder.trim().parse().unwrap(),
    ))
}

fn main() {
    println!(
        "machine: {}, {} concurrent clients, caps {}",
        common::machine(),
        clients(),
        caps().map_or("none".to_string(), |(f, s)| format!(
            "full {f}, stakeholder {s}"
        ))
    );
    common::for_each_backend(run);
}

struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value, u64) {
        let started = Instant::now();
        let mut req = self
            .http
            .request(method, format!("{}/scim/v2{path}", self.base))
            .header("Authorization", &self.auth);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/scim+json")
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (status, body, started.elapsed().as_micros() as u64)
    }
}

fn user_name(i: usize) -> String {
    format!("user{i:06}@contoso.com")
}

fn filter_path(name: &str) -> String {
    let f: String =
        url::form_urlencoded::byte_serialize(format!("userName eq \"{name}\"").as_bytes())
            .collect();
    format!("/Users?filter={f}")
}

/// Runs `work(i)` for i in 0..n over `clients()` concurrent tasks; returns the latency histogram
/// of every request, the number of requests and the wall time.
async fn drive<F, Fut>(n: usize, work: F) -> (hdrhistogram::Histogram<u64>, usize, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Vec<u64>> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients())
        .map(|_| {
            let (work, next) = (work.clone(), next.clone());
            tokio::spawn(async move {
                let mut h = common::histogram();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    for us in work(i).await {
                        h.record(us.max(1)).unwrap();
                    }
                }
                h
            })
        })
        .collect();
    let mut all = common::histogram();
    for t in tasks {
        all.add(t.await.unwrap()).unwrap();
    }
    let count = all.len() as usize;
    (all, count, started.elapsed().as_secs_f64())
}

fn report(label: &str, phase: &str, (h, n, secs): &(hdrhistogram::Histogram<u64>, usize, f64)) {
    println!(
        "{label:<9} {phase}: {n} requests in {secs:.1}s = {:.0} req/s | {}",
        *n as f64 / secs,
        common::latency(h)
    );
}

fn run(label: &str, url: DatabaseUrl) {
    let db = Db::connect(&url, common::pool_size(&url)).unwrap();
    store::migrate(&mut db.get().unwrap()).unwrap();
    let secret = tokens::issue(
        &mut db.get().unwrap(),
        &common::cli_context(),
        TokenKind::Scim,
        "bench",
        tokens::Holder::Role(None),
    )
    .unwrap();
    if let Some((full, stakeholder)) = caps() {
        let policy = common::seat_policy();
        let rules = rota::store::seats::SeatRules {
            policy: &policy,
            bootstrap_owners: &[],
        };
        for (licence, cap) in [(Licence::Full, full), (Licence::Stakeholder, stakeholder)] {
            rota::store::seats::write(&mut db.get().unwrap(), |tx| {
                rota::store::seats::set_cap(
                    tx,
                    rules,
                    &common::cli_context(),
                    licence,
                    Some(cap),
                    None,
                )
            })
            .unwrap();
        }
    }
    let server = common::Server::start(&url);
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(clients())
            .build()
            .unwrap(),
        base: server.base.clone(),
        auth: format!("Bearer {secret}"),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    // 1. Users, as Entra creates them: match by userName, then create.
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); USERS]));
    let (c, ids_w) = (client.clone(), ids.clone());
    let users_phase = rt.block_on(drive(USERS, move |i| {
        let (c, ids) = (c.clone(), ids_w.clone());
        async move {
            let name = user_name(i);
            let (status, found, t1) = c
                .call(reqwest::Method::GET, &filter_path(&name), None)
                .await;
            assert_eq!((status, found["totalResults"].as_i64()), (200, Some(0)));
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "externalId": format!("{i:08}-0000-0000-0000-000000000000"),
                "userName": name, "active": true,
                "name": {"givenName": format!("Given{i}"), "familyName": "Family"},
                "emails": [{"primary": true, "type": "work", "value": name}],
            });
            let (status, created, t2) = c.call(reqwest::Method::POST, "/Users", Some(&body)).await;
            assert_eq!(status, 201, "{created}");
            ids.lock().unwrap()[i] = created["id"].as_str().unwrap().to_string();
            vec![t1, t2]
        }
    }));
    report(
        label,
        &format!("provision {USERS} users (filter + create)"),
        &users_phase,
    );

    // 2. Groups: create, then add 100 members in one PATCH, as Entra batches them.
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().unwrap().clone());
    let (c, ids_r) = (client.clone(), ids.clone());
    let groups_phase = rt.block_on(drive(GROUPS, move |g| {
        let (c, ids) = (c.clone(), ids_r.clone());
        async move {
            let (status, group, t1) = c.call(reqwest::Method::POST, "/Groups", Some(&json!({"displayName": format!("Group {g:03}"), "externalId": format!("g-{g}")}))).await;
            assert_eq!(status, 201);
            let members: Vec<Value> = (0..MEMBERS_PER_GROUP).map(|m| json!({"value": ids[(g * MEMBERS_PER_GROUP + m) % USERS]})).collect();
            let patch = json!({"Operations": [{"op": "Add", "path": "members", "value": members}]});
            let path = format!("/Groups/{}?excludedAttributes=members", group["id"].as_str().unwrap());
            let (status, _, t2) = c.call(reqwest::Method::PATCH, &path, Some(&patch)).await;
            assert_eq!(status, 200);
            vec![t1, t2]
        }
    }));
    report(
        label,
        &format!("{GROUPS} groups of {MEMBERS_PER_GROUP} members (create + PATCH)"),
        &groups_phase,
    );

    // 3. Look-ups by userName among 100,000 users (the rest stored directly, to save time).
    let seeded = Instant::now();
    {
        let mut conn = db.get().unwrap();
        let now = rota::clock::stored(chrono::Utc::now());
        store::write(&mut conn, |tx| {
            for i in USERS..LOOKUP_POPULATION {
                let name = user_name(i);
                users::insert(
                    tx,
                    &users::User {
                        email: Some(name.clone()),
                        ..users::User::new(
                            &name,
                            format!("Given{i} Family"),
                            rota::domain::user::ProvisionedBy::Scim,
                            now,
                        )
                    },
                )?;
            }
            Ok(())
        })
        .unwrap();
        // A population that grew through provisioning has planner statistics; one stored in a
        // single burst gets them from autovacuum a minute later. Gather them now instead.
        if let store::DbConnection::Postgres(pg) = &mut *conn {
            diesel::connection::SimpleConnection::batch_execute(pg, "ANALYZE").unwrap();
        }
    }
    println!(
        "{label:<9} stored {} more users directly in {:.1}s",
        LOOKUP_POPULATION - USERS,
        seeded.elapsed().as_secs_f64()
    );
    let c = client.clone();
    let lookup_phase = rt.block_on(drive(LOOKUPS, move |i| {
        let c = c.clone();
        async move {
            let name = user_name((i * 7919) % LOOKUP_POPULATION);
            let (status, found, t) = c
                .call(reqwest::Method::GET, &filter_path(&name), None)
                .await;
            assert_eq!((status, found["totalResults"].as_i64()), (200, Some(1)));
            vec![t]
        }
    }));
    report(
        label,
        &format!("userName eq look-up among {LOOKUP_POPULATION} users"),
        &lookup_phase,
    );

    // 4. One PATCH adding 1,000 members, five times on fresh groups.
    let mut times = Vec::new();
    for round in 0..5 {
        let c = client.clone();
        let ids = ids.clone();
        let t = rt.block_on(async move {
            let (_, group, _) = c
                .call(
                    reqwest::Method::POST,
                    "/Groups",
                    Some(&json!({"displayName": format!("Big {round}")})),
                )
                .await;
            let members: Vec<Value> = ids[round * BIG_PATCH..(round + 1) * BIG_PATCH]
                .iter()
                .map(|id| json!({"value": id}))
                .collect();
            let patch = json!({"Operations": [{"op": "Add", "path": "members", "value": members}]});
            let (status, _, t) = c
                .call(
                    reqwest::Method::PATCH,
                    &format!(
                        "/Groups/{}?excludedAttributes=members",
                        group["id"].as_str().unwrap()
                    ),
                    Some(&patch),
                )
                .await;
            assert_eq!(status, 200);
            t
        });
        times.push(t as f64 / 1000.0);
    }
    println!(
        "{label:<9} one PATCH adding {BIG_PATCH} members: {} ms",
        times
            .iter()
            .map(|t| format!("{t:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    drop(rt);
    server.stop();
}
