//! Periodic and background work that runs beside the HTTP server: what is due is read from
//! the database, so several instances share the work, and every job can be run once on demand
//! (tests do that instead of waiting for a tick).

pub mod chat;
pub mod email_delivery;
pub mod escalation;
pub mod handoffs;
pub mod notifications;
pub mod processing;
pub mod seat_reconcile;
pub mod ticker;
