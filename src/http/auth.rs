//! Token authentication shared by the REST API and SCIM: reads the `Authorization` header,
//! finds the live token by the hash of its secret, and checks it is of the kind the endpoint
//! takes. Each protocol wraps the result in its own caller type and error format.

use crate::domain::ids::{TokenId, UserId};
use crate::domain::token::{self, CredentialError, TokenKind};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::observe::RequestId;
use crate::store::tokens::{self, Token};
use actix_web::{HttpMessage, HttpRequest, web};
use chrono::{DateTime, Utc};

/// Record a token's use at most this often, so reads stay reads.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// What a request carries, read synchronously before the async look-up.
pub struct Presented {
    pub state: Option<web::Data<AppState>>,
    pub header: Option<String>,
    pub request_id: Option<String>,
}

impl Presented {
    pub fn read(req: &HttpRequest) -> Presented {
        Presented {
            state: req.app_data::<web::Data<AppState>>().cloned(),
            header: req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap_or("\u{0}").to_owned()),
            request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        }
    }
}

/// A live token of the expected kind, and the time of the request.
pub struct Authenticated {
    pub id: TokenId,
    pub name: String,
    pub role: Option<crate::domain::role::Role>,
    /// Set for a personal token.
    pub user_id: Option<UserId>,
    pub at: DateTime<Utc>,
}

pub async fn authenticate(presented: &Presented, kind: TokenKind) -> AppResult<Authenticated> {
    let state = presented
        .state
        .clone()
        .ok_or_else(|| AppError::internal("application state missing"))?;
    let what = match kind {
        TokenKind::Api => "API token",
        TokenKind::Scim => "SCIM token",
    };
    let secret = token::secret_from_header(presented.header.as_deref()).map_err(|e| match e {
        CredentialError::Missing => AppError::unauthorized(format!(
            "no {what}: send the header Authorization: {}",
            if kind == TokenKind::Api { "Token token=<your API token>" } else { "Bearer <your SCIM token>" }
        )),
        CredentialError::Malformed => AppError::unauthorized(
            "the Authorization header is malformed: use Authorization: Token token=<token> or Authorization: Bearer <token>",
        ),
    })?;
    let hash = token::hash_secret(secret);
    let now = state.clock.now();
    let found: Option<Token> = state
        .db
        .run(move |conn| {
            let found = tokens::find_live_by_hash(conn, &hash)?;
            if let Some(t) = &found {
                let stale = t
                    .last_used_at
                    .is_none_or(|at| (now.naive_utc() - at).num_seconds() >= TOUCH_INTERVAL_SECS);
                // Best effort: a busy database must not fail the request over a statistic.
                if stale
                    && let Err(e) = crate::store::write(conn, |c| {
                        tokens::touch(c, &t.id, crate::clock::stored(now))
                    })
                {
                    tracing::warn!(error = %e, token = %t.name, "could not record token use");
                }
            }
            Ok(found)
        })
        .await?;
    let t = found.ok_or_else(|| {
        AppError::unauthorized(format!(
            "the {what} is not valid: it is unknown or was revoked"
        ))
    })?;
    if t.kind != kind {
        return Err(AppError::unauthorized(format!(
            "'{}' is a {} token; this endpoint takes {what}s (rota token create --kind {})",
            t.name,
            t.kind,
            kind.as_str()
        )));
    }
    Ok(Authenticated {
        id: t.id,
        name: t.name,
        role: t.role,
        user_id: t.user_id,
        at: now,
    })
}
