//! Rota: self-hosted on-call and access service. See ARCHITECTURE.md for the layers:
//! `domain` (pure) ← `store` ← `http`; `config`, `error`, `clock` and `authz` (the Cedar
//! policies) are shared by all; `app` is the composition root that `cli::serve` and the tests
//! start through.

pub mod app;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod notify;
pub mod store;

// Many short-lived allocations per request (rows, JSON); mimalloc handles them with less
// contention between worker threads than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
