//! Who is calling the REST API: an API token (a service token with its own role, or a
//! personal token acting as its user), or a person signed in with a session cookie (whose
//! state changes must carry the session's CSRF token). Holds the request's id and time, ready
//! for the audit trail.

use super::ApiError;
use crate::authz::{self, Action, Policies, PrincipalId, Resource};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::{SessionId, TeamId, TokenId, UserId};
use crate::domain::role::Role;
use crate::domain::token::TokenKind;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::auth::{Presented, authenticate};
use crate::http::sign_in::session;
use crate::store::audit::AuditContext;
use crate::store::sessions::{self, SessionUser};
use crate::store::teams;
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

#[derive(Clone)]
pub struct ApiCaller {
    pub principal: Principal,
    pub role: Role,
    /// Teams this person manages (team role manager); none for service tokens.
    pub manages: Vec<TeamId>,
    pub request_id: Option<String>,
    pub at: DateTime<Utc>,
    policies: Policies,
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

    /// Whether the caller is a person signed in with a session (not a token).
    pub fn has_session(&self) -> bool {
        matches!(
            &self.principal,
            Principal::User {
                session: Some(_),
                ..
            }
        )
    }

    fn as_principal(&self) -> authz::Principal {
        authz::Principal {
            id: match &self.principal {
                Principal::Token { id, .. } => PrincipalId::ApiToken(id.clone()),
                Principal::User { id, .. } => PrincipalId::User(id.clone()),
            },
            role: self.role,
            manages: self.manages.clone(),
        }
    }

    fn refused(&self, what: &str) -> AppError {
        AppError::forbidden(format!("your role ({}) may not {what}", self.role.as_str()))
    }

    /// Asks the authorization policies; 403 unless they permit. `what` completes "your role
    /// (x) may not …".
    pub fn may(&self, action: Action, resource: &Resource, what: &str) -> AppResult<()> {
        if self
            .policies
            .authorize(&self.as_principal(), action, resource)
        {
            Ok(())
        } else {
            Err(self.refused(what))
        }
    }

    /// 403 unless the caller may `action` on a team-owned resource both as stored
    /// (`before`, none for a new one) and as it will be (`after`): a team's manager can
    /// neither take something from a team they don't manage nor give it to one.
    pub fn may_move(
        &self,
        action: Action,
        before: Option<&Resource>,
        after: &Resource,
        what: &str,
    ) -> AppResult<()> {
        if let Some(before) = before {
            self.may(action, before, &format!("change this {what}"))?;
        }
        self.may(action, after, &format!("manage {what}s of these teams"))
    }

    /// Whether the policies permit, without an error: for rights asked inside a use case.
    pub fn allows(&self, action: Action, resource: &Resource) -> bool {
        self.policies
            .authorize(&self.as_principal(), action, resource)
    }

    /// May this caller take a shift (`takes`) or give their own away (`gives`) on the
    /// schedule `resource`?
    pub fn may_change_shift(&self, resource: &Resource, takes: bool, gives: bool) -> bool {
        self.policies
            .authorize_shift(&self.as_principal(), resource, takes, gives)
    }

    /// May this caller set the sign-in name (`user_name`) of the user `resource`? That is the
    /// power to make an account with that name, so it takes what creating users takes (owners
    /// and admins, as the policies say) and the right to change this user; and never one's
    /// own, or a person could claim whoever's name they liked before that person's first
    /// sign-in.
    pub fn may_set_sign_in_name(&self, resource: &Resource) -> bool {
        let own = matches!(
            (&self.principal, resource),
            (Principal::User { id, .. }, Resource::User { id: target, .. }) if id == target
        );
        let principal = self.as_principal();
        !own && self
            .policies
            .authorize(&principal, Action::CreateUser, &Resource::Account)
            && self
                .policies
                .authorize(&principal, Action::UpdateUser, resource)
    }

    /// Asks the policies whether this caller may give `resource` the account role `granted`.
    /// May the caller create or revoke a token acting with `granted` (`None`: a SCIM token)?
    pub fn may_manage_token(&self, granted: Option<Role>) -> AppResult<()> {
        if self.policies.authorize_token(&self.as_principal(), granted) {
            Ok(())
        } else {
            Err(self.refused(&match granted {
                Some(role) => format!("manage API tokens with the role {}", role.as_str()),
                None => "manage SCIM tokens".to_string(),
            }))
        }
    }

    pub fn may_grant(&self, resource: &Resource, granted: Role) -> AppResult<()> {
        if self
            .policies
            .authorize_grant(&self.as_principal(), resource, granted)
        {
            Ok(())
        } else {
            Err(self.refused(&format!("give this user the role {}", granted.as_str())))
        }
    }
}

impl ApiCaller {
    async fn new(
        state: &AppState,
        principal: Principal,
        role: Role,
        request_id: Option<String>,
        at: DateTime<Utc>,
    ) -> AppResult<ApiCaller> {
        let manages = match &principal {
            Principal::User { id, .. } => {
                let id = id.clone();
                state
                    .db
                    .run(move |conn| teams::managed_by(conn, &id))
                    .await?
            }
            Principal::Token { .. } => Vec::new(),
        };
        Ok(ApiCaller {
            principal,
            role,
            manages,
            request_id,
            at,
            policies: state.policies.clone(),
        })
    }

    /// The caller a web page acts as: the signed-in person of `current`, with the role their
    /// seat allows. The page checks its form's CSRF token itself (`Current::check_csrf`).
    pub async fn of_session(
        state: &AppState,
        current: &session::Current,
        request_id: Option<String>,
    ) -> AppResult<ApiCaller> {
        let role = role_of(state, &current.user)?;
        let principal = Principal::User {
            id: current.user.id.clone(),
            name: current.user.name.clone(),
            session: Some(current.session.id.clone()),
        };
        ApiCaller::new(state, principal, role, request_id, state.clock.now()).await
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
            let state = presented
                .state
                .clone()
                .ok_or_else(|| AppError::internal("application state missing"))?;
            let (principal, role, at) = identify(&req, &presented, &state).await?;
            Ok(ApiCaller::new(&state, principal, role, presented.request_id, at).await?)
        })
    }
}

/// The role a person acts with: their account role as far as the seat they hold allows
/// (a stakeholder seat is read-only); without a seat, nothing.
fn role_of(state: &AppState, user: &SessionUser) -> AppResult<Role> {
    state
        .sign_in
        .seat_policy
        .effective_role(user.role, user.licence)
        .ok_or_else(|| {
            AppError::forbidden(format!(
                "{} holds no Rota seat yet (every licence is in use; they wait in the queue), so cannot use Rota until one is freed",
                user.name
            ))
        })
}

/// Who is calling: the session (when no Authorization header is sent; state changes need the
/// CSRF token), else the API token (a personal one stands for its user, who must be active).
async fn identify(
    req: &HttpRequest,
    presented: &Presented,
    state: &web::Data<AppState>,
) -> AppResult<(Principal, Role, DateTime<Utc>)> {
    if presented.header.is_none()
        && let Some(current) = session::current(req).await?
    {
        if !is_safe(req.method()) {
            current.check_csrf(req, None, &state.public_url)?;
        }
        let role = role_of(state, &current.user)?;
        let principal = Principal::User {
            id: current.user.id,
            name: current.user.name,
            session: Some(current.session.id),
        };
        return Ok((principal, role, state.clock.now()));
    }
    let token = authenticate(presented, TokenKind::Api).await?;
    if let Some(user_id) = token.user_id {
        // Only a missing user makes the token useless: any other failure (a stored value that
        // does not parse, the database down) is that failure, not a refused credential.
        let found = state
            .db
            .run(move |conn| sessions::acting_user(conn, &user_id))
            .await?;
        let user = found.filter(|u| u.active).ok_or_else(|| {
            AppError::unauthorized(format!(
                "the personal token '{}' belongs to a user who is deactivated or deleted",
                token.name
            ))
        })?;
        let role = role_of(state, &user)?;
        let principal = Principal::User {
            id: user.id,
            name: user.name,
            session: None,
        };
        return Ok((principal, role, token.at));
    }
    // A service token always has a role (a personal one, handled above, has none).
    let role = token
        .role
        .ok_or_else(|| AppError::internal(format!("token {} has no valid role", token.name)))?;
    let principal = Principal::Token {
        id: token.id,
        name: token.name,
    };
    Ok((principal, role, token.at))
}
