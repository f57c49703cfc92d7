//! Who is calling the REST API: the API token presented in `Authorization`, its role, and the
//! request's id and time, ready to be written into the audit trail.

use super::ApiError;
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::TokenId;
use crate::domain::role::Role;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult};
use crate::http::auth::{Presented, authenticate};
use crate::store::audit::AuditContext;
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;

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

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<ApiCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = Presented::read(req);
        Box::pin(async move {
            let token = authenticate(&presented, TokenKind::Api).await?;
            let role = token.role.as_deref().and_then(Role::parse).ok_or_else(|| {
                AppError::internal(format!("token {} has no valid role", token.name))
            })?;
            Ok(ApiCaller {
                token_id: token.id,
                token_name: token.name,
                role,
                request_id: presented.request_id,
                at: token.at,
            })
        })
    }
}
