//! Who is on call, from the store, on SQLite and PostgreSQL (release build):
//! - now, across 10,000 schedules (3 layers of 8 people each, weekly and daily turns, one
//!   layer with weekday restrictions, overrides on every tenth): `finals::Cache::final_schedules`,
//!   the function `GET /oncalls` and the calendar feeds read through (target < 100 ms), with
//!   nothing kept yet and as a running server asks it;
//! - one year of one schedule's final schedule, read and rendered (`schedules::view` as
//!   `GET /schedules/{id}` calls it,
//!   target < 5 ms);
//! - `GET /api/v2/oncalls?user_ids[]=…&since=now&until=now+60d` over HTTP for one person on
//!   1,000 schedules, each the first level of its own escalation policy (target p99 < 20 ms),
//!   4 clients: the first page of 100, and with `total=true` (every row found and counted).
//!
//! Run with `cargo bench --bench oncall` (ROTA_BENCH_BACKENDS=sqlite|postgres picks).

use chrono::Utc;
use hdrhistogram::Histogram;
use rota::config::DatabaseUrl;
use rota::domain::escalation::{HandoffNotifications, Policy, Rule, Target};
use rota::domain::ids::{EscalationPolicyId, OverrideId, ScheduleId, UserId};
use rota::domain::role::Role;
use rota::domain::schedule::edit::new_layers;
use rota::domain::schedule::{Layer, Restriction, Zone};
use rota::domain::seat_policy::Licence;
use rota::domain::token::TokenKind;
use rota::store::schedules::{self, OverrideRow, Schedule};
use rota::store::{self, Db, escalation, tokens, users};
use rota::use_cases::finals::Cache;
use std::time::{Duration, Instant};

mod common;

const SCHEDULES: usize = 10_000;
const PEOPLE: usize = 400;
/// Schedules the HTTP bench's person is on (each targeted by its own policy).
const MINE: usize = 1_000;
const CLIENTS: usize = 4;
const MEASURE: Duration = Duration::from_secs(10);
const WARMUP: Duration = Duration::from_secs(2);

fn main() {
    println!(
        "machine: {}, {SCHEDULES} schedules x 3 layers x 8 people ({PEOPLE} people), overrides on every 10th",
        common::machine()
    );
    common::for_each_backend(run);
}

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn seed(db: &Db) -> (Vec<ScheduleId>, UserId, String) {
    let mut conn = db.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let now = rota::clock::stored(Utc::now());
    store::write(&mut conn, |tx| {
        let mut people = Vec::new();
        for i in 0..PEOPLE {
            let email = format!("p{i:04}@example.com");
            let user = users::User {
                email: Some(email.clone()),
                role: Role::User,
                licence: Some(Licence::Full),
                ..users::User::new(
                    &email,
                    format!("Person {i:04}"),
                    rota::domain::user::ProvisionedBy::Api,
                    now,
                )
            };
            users::insert(tx, &user)?;
            people.push(user.id);
        }
        let me = people[0].clone();
        let zones = [
            "Asia/Tokyo",
            "Europe/London",
            "America/New_York",
            "Australia/Sydney",
        ];
        let weekdays: Vec<Restriction> = (1..=5)
            .map(|d| Restriction::Weekly {
                day: jiff::civil::Weekday::from_monday_one_offset(d).unwrap(),
                start: jiff::civil::time(9, 0, 0, 0),
                duration: jiff::SignedDuration::from_hours(9),
            })
            .collect();
        let mut ids = Vec::with_capacity(SCHEDULES);
        for s in 0..SCHEDULES {
            let id = ScheduleId::generate();
            schedules::insert(
                tx,
                &Schedule {
                    id: id.clone(),
                    name: format!("Schedule {s:05}"),
                    name_key: format!("schedule {s:05}"),
                    description: None,
                    time_zone: Zone::parse(zones[s % zones.len()]).unwrap(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            let crew = |layer: usize| -> Vec<UserId> {
                (0..8)
                    .map(|k| {
                        // The bench's person is on the first MINE schedules' first layer.
                        if s < MINE && layer == 0 && k == 0 {
                            me.clone()
                        } else {
                            people[1 + (s * 7 + layer * 31 + k * 13) % (PEOPLE - 1)].clone()
                        }
                    })
                    .collect()
            };
            let v = |text: &str| text.parse::<jiff::civil::DateTime>().unwrap();
            let layers = vec![
                (
                    "Weekly".to_string(),
                    Layer {
                        start: t("2026-01-01T00:00:00Z"),
                        end: None,
                        rotation_virtual_start: v("2026-01-05T09:00"),
                        turn_length: jiff::SignedDuration::from_hours(24 * 7),
                        users: crew(0),
                        restrictions: vec![],
                    },
                ),
                (
                    "Business hours".to_string(),
                    Layer {
                        start: t("2026-01-01T00:00:00Z"),
                        end: None,
                        rotation_virtual_start: v("2026-01-05T09:00"),
                        turn_length: jiff::SignedDuration::from_hours(24),
                        users: crew(1),
                        restrictions: weekdays.clone(),
                    },
                ),
                (
                    "Nights".to_string(),
                    Layer {
                        start: t("2026-01-01T00:00:00Z"),
                        end: None,
                        rotation_virtual_start: v("2026-01-05T18:00"),
                        turn_length: jiff::SignedDuration::from_hours(12),
                        users: crew(2),
                        restrictions: vec![Restriction::Daily {
                            start: jiff::civil::time(18, 0, 0, 0),
                            duration: jiff::SignedDuration::from_hours(12),
                        }],
                    },
                ),
            ];
            schedules::apply_layers(tx, &id, &new_layers(layers), now)?;
            if s % 10 == 0 {
                let start = rota::clock::stored(Utc::now() - chrono::Duration::hours(2));
                let rows: Vec<OverrideRow> = (0..2)
                    .map(|k| OverrideRow {
                        id: OverrideId::generate(),
                        schedule_id: id.clone(),
                        user_id: people[1 + (s + k) % (PEOPLE - 1)].clone(),
                        starts_at: start + chrono::Duration::hours(k as i64 * 6),
                        ends_at: start + chrono::Duration::hours(k as i64 * 6 + 4),
                        created_at: now,
                    })
                    .collect();
                schedules::insert_overrides(tx, &rows)?;
            }
            if s < MINE {
                let policy = escalation::EscalationPolicy {
                    id: EscalationPolicyId::generate(),
                    name: format!("Policy {s:05}"),
                    name_key: format!("policy {s:05}"),
                    description: None,
                    num_loops: 0,
                    handoff_notifications: HandoffNotifications::IfHasServices,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                escalation::insert(tx, &policy)?;
                let rules = Policy {
                    num_loops: 0,
                    rules: vec![
                        Rule {
                            delay_minutes: 30,
                            targets: vec![Target::Schedule(id.clone())],
                        },
                        Rule {
                            delay_minutes: 30,
                            targets: vec![Target::User(people[1 + s % (PEOPLE - 1)].clone())],
                        },
                    ],
                };
                escalation::set_rules(tx, &policy.id, &rules, &[])?;
            }
            ids.push(id);
        }
        Ok((ids, me))
    })
    .map(|(ids, me)| {
        let token = tokens::issue(
            &mut conn,
            &common::cli_context(),
            TokenKind::Api,
            "bench",
            tokens::Holder::Role(Some(Role::Admin)),
        )
        .unwrap();
        (ids, me, token)
    })
    .unwrap()
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> Histogram<u64> {
    let mut h = common::histogram();
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f());
        h.record(started.elapsed().as_micros().max(1) as u64)
            .unwrap();
    }
    h
}

fn run(label: &str, url: DatabaseUrl) {
    let db = Db::connect(&url, common::pool_size(&url)).unwrap();
    let started = Instant::now();
    let (ids, me, token) = seed(&db);
    println!(
        "{label:<9} seeded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let now = jiff::Timestamp::now();
    {
        let mut conn = db.get().unwrap();
        let cache = Cache::default();
        let finals = cache
            .final_schedules(&mut conn, &ids, &[], now, now)
            .unwrap();
        let covered = finals.entries.values().filter(|e| !e.is_empty()).count();
        assert!(
            covered > SCHEDULES / 2,
            "{covered} schedules have someone on call"
        );
        let h = timed(5, || {
            Cache::default()
                .final_schedules(&mut conn, &ids, &[], now, now)
                .unwrap()
        });
        println!(
            "{label:<9} on call now, {SCHEDULES} schedules, nothing kept yet (load + render, {covered} with someone on call): {}",
            common::latency(&h)
        );
        let h = timed(20, || {
            cache
                .final_schedules(&mut conn, &ids, &[], now, now)
                .unwrap()
        });
        println!(
            "{label:<9} on call now, {SCHEDULES} schedules, as the server asks it (versions checked, pieces kept): {}",
            common::latency(&h)
        );
        let q = rota::use_cases::oncalls::Query {
            user_ids: vec![me.clone()],
            ..Default::default()
        };
        let until = now + jiff::SignedDuration::from_hours(24 * 60);
        let h = timed(200, || {
            rota::use_cases::oncalls::list(&mut conn, &cache, &q, now, until).unwrap()
        });
        let rows = rota::use_cases::oncalls::list(&mut conn, &cache, &q, now, until)
            .unwrap()
            .rows
            .len();
        println!(
            "{label:<9} /oncalls' use case alone, one person on {MINE} schedules, 60 days, every row ({rows}, as total=true asks), one caller: {}",
            common::latency(&h)
        );
        let page = rota::use_cases::oncalls::Query {
            enough: Some(101),
            ..q.clone()
        };
        let h = timed(200, || {
            rota::use_cases::oncalls::list(&mut conn, &cache, &page, now, until).unwrap()
        });
        println!(
            "{label:<9} /oncalls' use case alone, the same, first page of 100, one caller: {}",
            common::latency(&h)
        );
        let year = jiff::SignedDuration::from_hours(24 * 365);
        let h = timed(50, || {
            rota::use_cases::schedules::view(&mut conn, Some(&cache), &ids[10], now, now + year)
                .unwrap()
        });
        let entries =
            rota::use_cases::schedules::view(&mut conn, Some(&cache), &ids[10], now, now + year)
                .unwrap()
                .rendered
                .final_schedule
                .len();
        println!(
            "{label:<9} one year of one schedule (load + render, {entries} entries): {}",
            common::latency(&h)
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    {
        // The hand-off pass as each instance runs it every minute: the first (nothing kept,
        // the notices of the last day claimed) and the ones after (nothing new to tell).
        let job = rota::jobs::handoffs::HandoffJob {
            db: db.clone(),
            finals: Default::default(),
            clock: std::sync::Arc::new(rota::clock::SystemClock),
            emails: Default::default(),
            gate: rota::jobs::processing::Gate::new(
                rota::domain::processing::Job::HandoffNotices,
                rota::http::metrics::Metrics::new().skipped_passes(),
            ),
        };
        let started = Instant::now();
        let first = rt.block_on(job.run_once()).unwrap();
        let first_took = started.elapsed();
        let h = timed(10, || rt.block_on(job.run_once()).unwrap());
        println!(
            "{label:<9} hand-off pass, {SCHEDULES} schedules: first {:.0} ms ({} told, {} too late to tell) | then {}",
            first_took.as_secs_f64() * 1000.0,
            first.sent,
            first.too_late,
            common::latency(&h)
        );
    }
    let server = common::Server::start(&url);
    for (what, extra) in [
        ("first page of 100", ""),
        ("with total=true", "&total=true"),
    ] {
        let (h, n) = rt.block_on(load(&server.base, &token, &me, extra));
        println!(
            "{label:<9} GET /api/v2/oncalls?user_ids[]=<one person on {MINE} schedules>, 60 days, {what}, {CLIENTS} clients: {:.0} req/s | {} | {n} requests",
            n as f64 / MEASURE.as_secs_f64(),
            common::latency(&h)
        );
    }
    drop(rt);
    server.stop();
}

async fn load(base: &str, token: &str, me: &UserId, extra: &str) -> (Histogram<u64>, u64) {
    let client = reqwest::Client::new();
    // Every schedule's first layer has the same phase, so the person is on call in all of
    // them or none at a given instant: ask for the next 60 days (My On-Call Shifts' view).
    let since = jiff::Timestamp::now();
    let until = since + jiff::SignedDuration::from_hours(24 * 60);
    let url = format!(
        "{base}/api/v2/oncalls?user_ids[]={me}&since={since}&until={until}&limit=100{extra}"
    );
    let first: serde_json::Value = client
        .get(&url)
        .header("Authorization", format!("Token token={token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found = first["oncalls"].as_array().map_or(0, Vec::len);
    assert!(found > 0, "{first}");
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + MEASURE;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, url, auth) = (client.clone(), url.clone(), format!("Token token={token}"));
            tokio::spawn(async move {
                let mut h = common::histogram();
                let mut n = 0;
                loop {
                    let at = Instant::now();
                    if at >= end {
                        break;
                    }
                    let res = client
                        .get(&url)
                        .header("Authorization", &auth)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    res.bytes().await.unwrap();
                    if at >= measure_from {
                        h.record(at.elapsed().as_micros() as u64).unwrap();
                        n += 1;
                    }
                }
                (h, n)
            })
        })
        .collect();
    let mut total = common::histogram();
    let mut count = 0;
    for t in tasks {
        let (h, n) = t.await.unwrap();
        total.add(h).unwrap();
        count += n;
    }
    (total, count)
}
