//! Who is calling the REST API: an API token (a service token with its own role, or a
//! personal token acting as its user), or a person signed in with a session cookie (whose
//! state changes must carry the session's CSRF token). Holds the request's id and time, ready
//! for the audit trail.

use super::ApiError;
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::{SessionId, TokenId, UserId};
use crate::domain::role::Role;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::auth::{Presented, authenticate};
use crate::http::sign_in::session;
use crate::store::audit::AuditContext;
use crate::store::users;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;

/// The principal behind a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    /// A service token: acts in its own name with its own role.
    Token { id: TokenId, name: String },
    /// A person: through a session, or a personal token.
    User {
        id: UserId,
        name: String,
        session: Option<SessionId>,
    },
}

pub struct ApiCaller {
    pub principal: Principal,
    pub role: Role,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl ApiCaller {
    pub fn audit(&self) -> AuditContext {
        let actor = match &self.principal {
            Principal::Token { id, name } => Actor {
                kind: ActorKind::ApiToken,
                id: Some(id.0.clone()),
                name: name.clone(),
            },
            Principal::User { id, name, .. } => Actor {
                kind: ActorKind::User,
                id: Some(id.0.clone()),
                name: name.clone(),
            },
        };
        AuditContext {
            actor,
            request_id: self.request_id.clone(),
            at: self.at,
        }
    }

    /// The person calling, if it is one.
    pub fn user_id(&self) -> Option<&UserId> {
        match &self.principal {
            Principal::User { id, .. } => Some(id),
            Principal::Token { .. } => None,
        }
    }

    /// Refuses with 403 unless `allowed`; `what` completes "your role (x) may not …".
    pub fn require(&self, allowed: bool, what: &str) -> AppResult<()> {
        if allowed {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "your role ({}) may not {what}",
                self.role.as_str()
            )))
        }
    }
}

fn is_safe(method: &actix_web::http::Method) -> bool {
    use actix_web::http::Method;
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<ApiCaller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = Presented::read(req);
        let req = req.clone();
        Box::pin(async move {
            if presented.header.is_none()
                && let Some(current) = session::current(&req).await?
            {
                if !is_safe(req.method()) {
                    let state = req
                        .app_data::<web::Data<AppState>>()
                        .ok_or_else(|| AppError::internal("application state missing"))?;
                    current.check_csrf(&req, None, &state.public_url)?;
                }
                let role = Role::parse(&current.user.role).ok_or_else(|| {
                    AppError::internal(format!("user {} has no valid role", current.user.id))
                })?;
                return Ok(ApiCaller {
                    principal: Principal::User {
                        id: current.user.id,
                        name: current.user.name,
                        session: Some(current.session.id),
                    },
                    role,
                    request_id: presented.request_id,
                    at: presented
                        .state
                        .as_ref()
                        .map(|s| s.clock.now())
                        .unwrap_or_else(Utc::now),
                });
            }
            let token = authenticate(&presented, TokenKind::Api).await?;
            if let Some(user_id) = token.user_id {
                let state = presented
                    .state
                    .clone()
                    .ok_or_else(|| AppError::internal("application state missing"))?;
                let id = user_id.clone();
                let user = state
                    .db
                    .run(move |conn| users::find(conn, &id))
                    .await
                    .ok()
                    .filter(|u| u.active)
                    .ok_or_else(|| {
                        AppError::unauthorized(format!(
                            "the personal token '{}' belongs to a user who is deactivated or deleted",
                            token.name
                        ))
                    })?;
                let role = Role::parse(&user.role).ok_or_else(|| {
                    AppError::internal(format!("user {} has no valid role", user.id))
                })?;
                return Ok(ApiCaller {
                    principal: Principal::User {
                        id: user.id,
                        name: user.name,
                        session: None,
                    },
                    role,
                    request_id: presented.request_id,
                    at: token.at,
                });
            }
            let role = token.role.as_deref().and_then(Role::parse).ok_or_else(|| {
                AppError::internal(format!("token {} has no valid role", token.name))
            })?;
            Ok(ApiCaller {
                principal: Principal::Token {
                    id: token.id,
                    name: token.name,
                },
                role,
                request_id: presented.request_id,
                at: token.at,
            })
        })
    }
}
