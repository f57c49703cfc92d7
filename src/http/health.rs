//! Probes and metrics for orchestrators: `/healthz` (the process answers), `/readyz` (the
//! database answers and its schema is current), `/metrics` (Prometheus text).

use super::AppState;
use crate::store;
use actix_web::{HttpResponse, web};
use diesel::r2d2::R2D2Connection;
use serde_json::json;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let check = state
        .db
        .run(|conn| {
            conn.ping()?;
            store::pending_migrations(conn)
        })
        .await;
    match check {
        Ok(0) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(n) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "reason": format!("{n} database migration(s) pending: run `rota migrate`")})),
        Err(e) => {
            e.log();
            HttpResponse::ServiceUnavailable().json(json!({"status": "unavailable", "reason": e.message()}))
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(state.db.pool_state()))
}
