//! End-to-end load benchmark: `GET /api/v2/users?limit=100` over HTTP against the release
//! build, with 10,000 users, 32 concurrent clients, on SQLite and on PostgreSQL.
//!
//! Run with `cargo bench --bench api_users` (PostgreSQL from ROTA_TEST_POSTGRES_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; set ROTA_BENCH_BACKENDS=sqlite to skip it).
//! Client and server share this machine's cores, so figures are a floor, not a ceiling.

use chrono::Utc;
use diesel::Connection;
use hdrhistogram::Histogram;
use rota::clock::{Clock, SystemClock};
use rota::config::DatabaseUrl;
use rota::domain::audit::{Actor, ActorKind};
use rota::domain::ids::TeamId;
use rota::domain::role::Role;
use rota::domain::token::TokenKind;
use rota::http::{AppState, metrics::Metrics};
use rota::store::{self, Db, audit::AuditContext, teams, tokens, users};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USERS: usize = 10_000;
const TEAMS: usize = 50;
const CLIENTS: usize = 32;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);
/// Aggregate request rate of the paced run (spread evenly over the clients).
const PACED_RATE: u64 = 320;

fn main() {
    let backends =
        std::env::var("ROTA_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!(
        "machine: {} cores ({}), {} users, {CLIENTS} clients, {}s measured after {}s warm-up",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH,
        USERS,
        MEASURE.as_secs(),
        WARMUP.as_secs()
    );
    for backend in backends.split(',') {
        match backend.trim() {
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap();
                run(
                    "sqlite",
                    DatabaseUrl::Sqlite {
                        path: dir.path().join("bench.db"),
                    },
                );
            }
            "postgres" => {
                let admin = std::env::var("ROTA_TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let name = format!("rota_bench_{}", uuid::Uuid::now_v7().simple());
                let mut conn = diesel::PgConnection::establish(&admin)
                    .expect("PostgreSQL for the postgres bench");
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!("CREATE DATABASE {name}")),
                    &mut conn,
                )
                .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                run(
                    "postgres",
                    DatabaseUrl::Postgres {
                        url: url.to_string(),
                    },
                );
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")),
                    &mut conn,
                )
                .unwrap();
            }
            other => panic!("unknown backend {other}"),
        }
    }
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
                ..users::User::new(&email, format!("User {i:05}"), "api", now)
            };
            users::insert(tx, &user)?;
            users::set_primary_email(tx, &user.id, &email, now)?;
            teams::put_member(
                tx,
                &teams::TeamMember {
                    team_id: team_ids[i % TEAMS].clone(),
                    user_id: user.id,
                    role: "responder".into(),
                    created_at: now,
                    updated_at: now,
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
    let ctx = AuditContext {
        actor: Actor {
            kind: ActorKind::Cli,
            id: None,
            name: "bench".into(),
        },
        request_id: None,
        at: SystemClock.now(),
    };
    tokens::issue(&mut conn, &ctx, TokenKind::Api, "bench", Some(Role::Admin)).unwrap()
}

fn run(label: &str, url: DatabaseUrl) {
    let pool_size = if matches!(url, DatabaseUrl::Sqlite { .. }) {
        8
    } else {
        16
    };
    let db = Db::connect(&url, pool_size).unwrap();
    let started = Instant::now();
    let token = seed(&db);
    let seeded = started.elapsed();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = actix_web::web::Data::new(AppState {
        db,
        clock: Arc::new(SystemClock),
        public_url: base.clone(),
        metrics: Metrics::new(),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let server_thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = rota::http::server(state, listener, Some(2)).unwrap();
            tx.send(server.handle()).unwrap();
            server.await.unwrap();
        })
    });
    let handle = rx.recv().unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{label:<9} seeded {USERS} users in {:.1}s",
        seeded.as_secs_f64()
    );
    for pace in [None, Some(PACED_RATE)] {
        let (histogram, requests, elapsed) = rt.block_on(load(&base, &token, pace));
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        let mode = match pace {
            None => "saturated (each client sends as soon as its last answer arrives)".to_string(),
            Some(rate) => format!("paced at {rate} req/s in all"),
        };
        println!(
            "{label:<9} GET /api/v2/users?limit=100, {mode}: {:.0} req/s | p50 {:.2} ms | p99 {:.2} ms | max {:.2} ms | {requests} requests",
            requests as f64 / elapsed.as_secs_f64(),
            ms(0.50),
            ms(0.99),
            histogram.max() as f64 / 1000.0
        );
    }
    rt.block_on(handle.stop(true));
    server_thread.join().unwrap();
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
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
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
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut count = 0;
    for t in tasks {
        let (h, c) = t.await.unwrap();
        total.add(h).unwrap();
        count += c;
    }
    (total, count, MEASURE)
}
