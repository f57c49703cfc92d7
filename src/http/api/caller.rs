//! Who is calling the REST API: the API token presented in `Authorization`, its role, and the
//! request's id and time, ready to be written into the audit trail.

use super::ApiError;
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::TokenId;
use crate::domain::role::Role;
use crate::domain::token::{self, CredentialError, TokenKind};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::observe::RequestId;
use crate::store::audit::AuditContext;
use crate::store::tokens;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;

/// Record a token's use at most this often, so reads stay reads.
const TOUCH_INTERVAL_SECS: i64 = 60;

pub struct ApiCaller {
    pub token_id: TokenId,
    pub token_name: String,
    pub role: Role,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl ApiCaller {
    pub fn audit(&self) -> AuditContext {
        AuditContext {
            actor: Actor {
                kind: ActorKind::ApiToken,
                id: Some(self.token_id.0.clone()),
                name: self.token_name.clone(),
            },
            request_id: self.request_id.clone(),
            at: self.at,
        }
    }

    /// Refuses with 403 unless `allowed`; `what` completes "this token's role (x) may not …".
    pub fn require(&self, allowed: bool, what: &str) -> AppResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this token's role ({}) may not {what}",
                self.role.as_str()
            )))
        }
    }
}

async fn authenticate(
    state: web::Data<AppState>,
    header: Option<String>,
) -> AppResult<(TokenId, String, Role)> {
    let secret = token::secret_from_header(header.as_deref()).map_err(|e| match e {
        CredentialError::Missing => AppError::unauthorized("no API token: send the header Authorization: Token token=<your API token>"),
        CredentialError::Malformed => {
            AppError::unauthorized("the Authorization header is malformed: use Authorization: Token token=<token> or Authorization: Bearer <token>")
        }
    })?;
    let hash = token::hash_secret(secret);
    let now = state.clock.now();
    let found = state
        .db
        .run(move |conn| {
            let found = tokens::find_live_by_hash(conn, &hash)?;
            if let Some(t) = &found {
                let stale = t
                    .last_used_at
                    .is_none_or(|at| (now.naive_utc() - at).num_seconds() >= TOUCH_INTERVAL_SECS);
                // Best effort: a busy database must not fail the request over a statistic.
                if stale && let Err(e) = tokens::touch(conn, &t.id, crate::clock::stored(now)) {
                    tracing::warn!(error = %e, token = %t.name, "could not record token use");
                }
            }
            Ok(found)
        })
        .await?;
    let t = found.ok_or_else(|| {
        AppError::unauthorized("the API token is not valid: it is unknown or was revoked")
    })?;
    if TokenKind::parse(&t.kind) != Some(TokenKind::Api) {
        return Err(AppError::unauthorized(format!(
            "'{}' is a {} token; the REST API takes API tokens (rota token create --kind api)",
            t.name, t.kind
        )));
    }
    let role = t
        .role
        .as_deref()
        .and_then(Role::parse)
        .ok_or_else(|| AppError::internal(format!("token {} has no valid role", t.name)))?;
    Ok((t.id, t.name, role))
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<ApiCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal("application state missing"))?;
            let (token_id, token_name, role) = authenticate(state.clone(), header).await?;
            Ok(ApiCaller {
                token_id,
                token_name,
                role,
                request_id,
                at: state.clock.now(),
            })
        })
    }
}
