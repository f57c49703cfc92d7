//! End-to-end load benchmark: `GET /api/v2/users?limit=100` over HTTP against the release
//! build, with 10,000 users, 32 concurrent clients, on SQLite and on PostgreSQL.
//!
//! Run with `cargo bench --bench api_users` (PostgreSQL from ROTA_TEST_POSTGRES_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; set ROTA_BENCH_BACKENDS=sqlite to skip it).
//! Client and server share this machine's cores, so figures are a floor, not a ceiling.

use chrono::Utc;
use hdrhistogram::Histogram;
use rota::config::DatabaseUrl;
use rota::domain::ids::TeamId;
use rota::domain::role::Role;
use rota::domain::token::TokenKind;
use rota::store::{self, Db, teams, tokens, users};
use std::time::{Duration, Instant};

const USERS: usize = 10_000;
const TEAMS: usize = 50;
const CLIENTS: usize = 32;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
/// Aggregate request rate of the paced run (spread evenly over the clients).
const PACED_RATE: u64 = 320;

mod common;

fn main() {
    println!(
        "machine: {}, {USERS} users, {CLIENTS} clients, {}s measured after {}s warm-up",
        common::machine(),
        MEASURE.as_secs(),
        WARMUP.as_secs()
    );
    common::for_each_backend(run);
}

fn seed(db: &Db) -> String {
    let mut conn = db.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let now = rota::clock::stored(Utc::now());
    store::write(&mut conn, |tx| {
        let team_ids: Vec<TeamId> = (0..TEAMS)
            .map(|i| {
                let team = teams::Team {
                    id: TeamId::generate(),
                    name: format!("Team {i:03}"),
                    name_key: format!("team {i:03}"),
                    description: None,
                    external_id: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                teams::insert(tx, &team).map(|_| team.id)
            })
            .collect::<Result<_, _>>()?;
        for i in 0..USERS {
            let email = format!("user{i:05}@example.com");
            let user = users::User {
                email: Some(email.clone()),
                job_title: Some("Engineer".into()),
                time_zone: "Asia/Tokyo".into(),
                ..users::User::new(
                    &email,
                    format!("User {i:05}"),
                    rota::domain::user::ProvisionedBy::Api,
                    now,
                )
            };
            users::insert(tx, &user)?;
            users::set_primary_email(tx, &user.id, &email, now)?;
            teams::put_member(
                tx,
                &teams::TeamMember {
                    team_id: team_ids[i % TEAMS].clone(),
                    user_id: user.id,
                    role: rota::domain::role::TeamRole::Responder,
                    created_at: now,
                    updated_at: now,
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
    tokens::issue(
        &mut conn,
        &common::cli_context(),
        TokenKind::Api,
        "bench",
        tokens::Holder::Role(Some(Role::Admin)),
    )
    .unwrap()
}

fn run(label: &str, url: DatabaseUrl) {
    let db = Db::connect(&url, common::pool_size(&url)).unwrap();
    let started = Instant::now();
    let token = seed(&db);
    println!(
        "{label:<9} seeded {USERS} users in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let server = common::Server::start(&url);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for pace in [None, Some(PACED_RATE)] {
        let (histogram, requests, elapsed) = rt.block_on(load(&server.base, &token, pace));
        let mode = match pace {
            None => "saturated (each client sends as soon as its last answer arrives)".to_string(),
            Some(rate) => format!("paced at {rate} req/s in all"),
        };
        println!(
            "{label:<9} GET /api/v2/users?limit=100, {mode}: {:.0} req/s | {} | {requests} requests",
            requests as f64 / elapsed.as_secs_f64(),
            common::latency(&histogram)
        );
    }
    drop(rt);
    server.stop();
}

/// Drives the server with CLIENTS concurrent clients. Paced: each client sends on a fixed
/// schedule and latency counts from the scheduled time, so a stall is not hidden by the
/// client waiting (no coordinated omission).
async fn load(base: &str, token: &str, pace: Option<u64>) -> (Histogram<u64>, u64, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap();
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + MEASURE;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let client = client.clone();
            let auth = format!("Token token={token}");
            let base = base.to_string();
            tokio::spawn(async move {
                let mut hist = common::histogram();
                let mut count = 0u64;
                let mut i = c;
                let interval =
                    pace.map(|rate| Duration::from_secs_f64(CLIENTS as f64 / rate as f64));
                let mut next = start
                    + interval
                        .map(|d| d.mul_f64(c as f64 / CLIENTS as f64))
                        .unwrap_or_default();
                loop {
                    if interval.is_some() {
                        tokio::time::sleep_until(next.into()).await;
                    }
                    let now = match interval {
                        Some(d) => {
                            let scheduled = next;
                            next += d;
                            scheduled
                        }
                        None => Instant::now(),
                    };
                    if now >= end {
                        break;
                    }
                    let offset = (i * 100) % USERS;
                    i += CLIENTS;
                    let res = client
                        .get(format!("{base}/api/v2/users?limit=100&offset={offset}"))
                        .header("Authorization", &auth)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    let body = res.bytes().await.unwrap();
                    assert!(body.len() > 10_000);
                    if now >= measure_from {
                        hist.record(now.elapsed().as_micros() as u64).unwrap();
                        count += 1;
                    }
                }
                (hist, count)
            })
        })
        .collect();
    let mut total = common::histogram();
    let mut count = 0;
    for t in tasks {
        let (h, c) = t.await.unwrap();
        total.add(h).unwrap();
        count += c;
    }
    (total, count, MEASURE)
}
