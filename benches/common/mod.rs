//! What the end-to-end benchmarks share: the backends to run on, the release server on a
//! random port, and how figures are printed.
#![allow(dead_code)]

use hdrhistogram::Histogram;
use rota::authz::Policies;
use rota::clock::{Clock, SystemClock};
use rota::config::DatabaseUrl;
use rota::domain::audit::{Actor, ActorKind};
use rota::store::audit::AuditContext;
use std::net::TcpListener;
use std::sync::Arc;

/// "2 cores (x86_64)": the conditions every figure is printed with.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cores} cores ({})", std::env::consts::ARCH)
}

/// Runs `bench` on a fresh SQLite file and a fresh PostgreSQL database (ROTA_BENCH_BACKENDS
/// picks; PostgreSQL from ROTA_TEST_POSTGRES_URL).
pub fn for_each_backend(bench: impl Fn(&str, DatabaseUrl)) {
    let backends =
        std::env::var("ROTA_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for backend in backends.split(',') {
        match backend.trim() {
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap();
                bench(
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
                let mut conn = rota::store::establish_postgres(&admin)
                    .expect("PostgreSQL for the postgres bench");
                diesel::RunQueryDsl::execute(
                    diesel::sql_query(format!("CREATE DATABASE {name}")),
                    &mut conn,
                )
                .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                bench(
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

pub fn pool_size(url: &DatabaseUrl) -> u32 {
    if matches!(url, DatabaseUrl::Sqlite { .. }) {
        8
    } else {
        16
    }
}

/// An API token for `role`, issued as the CLI would.
pub fn token(db: &rota::store::Db, role: rota::domain::role::Role) -> String {
    rota::store::tokens::issue(
        &mut db.get().unwrap(),
        &cli_context(),
        rota::domain::token::TokenKind::Api,
        "bench",
        rota::store::tokens::Holder::Role(Some(role)),
    )
    .unwrap()
}

pub fn cli_context() -> AuditContext {
    AuditContext {
        actor: Actor {
            kind: ActorKind::Cli,
            id: None,
            name: "bench".into(),
        },
        request_id: None,
        at: SystemClock.now(),
    }
}

/// The shipped seat policy, as `rota serve` reads it.
pub fn seat_policy() -> rota::domain::seat_policy::SeatPolicy {
    rota::domain::seat_policy::SeatPolicy::parse(include_str!("../../policies/seats.toml")).unwrap()
}

/// The service on its own actix system thread, as `rota serve` runs it (two workers).
pub struct Server {
    pub base: String,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    /// Wires the service over `url` through `rota::app::assemble`, the composition root
    /// `rota serve` and the tests use, with the shipped policies and the system clock.
    pub fn start(url: &DatabaseUrl) -> Server {
        Server::start_with(url, None)
    }

    /// As `start`; with `smtp`, also sends e-mail through it and runs the background jobs
    /// (`App::start_up`, then `App::start_jobs`), as `rota serve` does.
    pub fn start_with(url: &DatabaseUrl, smtp: Option<&str>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let base = format!("http://{address}");
        let mut config = rota::config::Config::defaults(url.clone(), address);
        config.db_pool_size = pool_size(url);
        // Benchmarks measure throughput, not the per-key limit.
        config.events_per_minute = 10_000_000;
        config.smtp_url = smtp.map(|s| rota::config::SmtpUrl::parse(s).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = rota::app::assemble(
                    &config,
                    Policies::builtin(),
                    seat_policy(),
                    Arc::new(SystemClock),
                )
                .unwrap_or_else(|e| panic!("start-up: {e}"));
                let jobs = match config.smtp_url {
                    Some(_) => {
                        app.start_up().await;
                        Some(app.start_jobs().await)
                    }
                    None => None,
                };
                let server = rota::http::server(app.state.clone(), listener, Some(2)).unwrap();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
                if let Some(jobs) = jobs {
                    jobs.stop().await;
                }
                app.db.close();
            })
        });
        Server {
            base,
            handle: rx.recv().unwrap(),
            thread,
        }
    }

    pub fn stop(self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(self.handle.stop(true));
        self.thread.join().unwrap();
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap()
}

/// "p50 1.23 ms | p99 4.56 ms | max 7.89 ms" from a histogram of microseconds.
pub fn latency(h: &Histogram<u64>) -> String {
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "p50 {:.2} ms | p99 {:.2} ms | max {:.2} ms",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}
