//! Rota: self-hosted on-call and access service. See ARCHITECTURE.md for the layers:
//! `domain` (pure) ← `store` ← `use_cases` (one function per action, for every protocol) ←
//! `http`; `config`, `error`, `clock` and `authz` (the Cedar policies) are shared by all;
//! `app` is the composition root that `cli::serve` and the tests start through; `demo` seeds
//! a sample organisation for `rota serve --demo`.

// The message catalogue (`locales/*.yml`), compiled in; `t!` falls back to English.
rust_i18n::i18n!("locales", fallback = "en");

pub mod app;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod notify;
pub mod store;
pub mod use_cases;

// Many short-lived allocations per request (rows, JSON); mimalloc handles them with less
// contention between worker threads than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
