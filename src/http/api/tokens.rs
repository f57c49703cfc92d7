//! `/api/v2/users/me/tokens` (a Rota extension): the caller's own personal API tokens,
//! listed (name, hint, made, last used; never the secret), made (the secret in the answer,
//! once) and revoked (`use_cases::tokens`, `ManagePersonalTokens`: themselves only). A token
//! acts as its holder with their role at each use. Only a signed-in person makes one: a
//! token that could mint tokens would outlive its own revocation.

use super::{ApiCaller, ApiResult, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::TokenId;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::tokens::Token;
use crate::store::users::User;
use crate::use_cases::tokens as cases;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/users/me/tokens")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/users/me/tokens/{token_id}").route(web::delete().to(revoke)));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalTokenObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "personal_api_token")]
    pub kind: &'static str,
    #[schema(example = "laptop")]
    pub name: String,
    /// The secret's last characters, to tell tokens apart.
    #[schema(example = "…9f3a")]
    pub hint: String,
    pub created_at: DateTime<Utc>,
    /// Written at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Only in the answer that makes the token: use it as `Authorization: Token
    /// token=<secret>`. Rota keeps only its hash; it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalTokenResponse {
    pub token: PersonalTokenObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalTokenList {
    pub tokens: Vec<PersonalTokenObject>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PersonalTokenFields {
    /// 1 to 100 printable characters, unlike the names of your other live tokens.
    #[schema(example = "laptop")]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PersonalTokenRequest {
    pub token: PersonalTokenFields,
}

fn render(t: &Token) -> PersonalTokenObject {
    PersonalTokenObject {
        id: t.id.to_string(),
        kind: "personal_api_token",
        name: t.name.clone(),
        hint: t.hint.clone(),
        created_at: t.created_at.and_utc(),
        last_used_at: t.last_used_at.map(|at| at.and_utc()),
        secret: None,
    }
}

/// The check a use case runs on the person as stored: only themselves.
pub(crate) fn may_manage(caller: &ApiCaller) -> impl FnOnce(&User) -> AppResult<()> + '_ {
    move |user| {
        caller.may(
            Action::ManagePersonalTokens,
            &Resource::User {
                id: user.id.clone(),
                role: user.role,
            },
            "see or change this user's personal API tokens",
        )
    }
}

/// `may_manage`, and a person signed in: a token never makes another.
pub(crate) fn may_make(caller: &ApiCaller) -> impl FnOnce(&User) -> AppResult<()> + '_ {
    move |user| {
        if !caller.has_session() {
            return Err(AppError::forbidden(
                "make personal tokens signed in (your profile page, or this API with the session): a token may not make another",
            ));
        }
        may_manage(caller)(user)
    }
}

/// List your personal API tokens
///
/// A Rota extension. Your live personal tokens, oldest first: never their secrets.
#[utoipa::path(get, path = "/api/v2/users/me/tokens", tag = "Users",
    responses((status = 200, body = PersonalTokenList), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult<HttpResponse> {
    let me = super::contact_methods::person(&caller, "me".into())?;
    let tokens = state
        .db
        .run(move |conn| cases::list(conn, &me, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::Ok().json(PersonalTokenList {
        tokens: tokens.iter().map(render).collect(),
    }))
}

/// Make a personal API token
///
/// A Rota extension. The token acts as you, with your role at each use (a stakeholder's
/// only reads). Only a signed-in person (session cookie and `X-CSRF-Token`) makes one; at
/// most 20 live at once (400, as every conflict). The answer carries the `secret`, once.
#[utoipa::path(post, path = "/api/v2/users/me/tokens", tag = "Users", request_body = PersonalTokenRequest,
    responses((status = 201, body = PersonalTokenResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<PersonalTokenRequest>,
) -> ApiResult<HttpResponse> {
    let me = super::contact_methods::person(&caller, "me".into())?;
    let name = body.into_inner().token.name.unwrap_or_default();
    let ctx = caller.audit();
    let (token, secret) = state
        .db
        .run(move |conn| cases::create(conn, &ctx, &me, &name, may_make(&caller)))
        .await?;
    Ok(HttpResponse::Created().json(PersonalTokenResponse {
        token: PersonalTokenObject {
            secret: Some(secret),
            ..render(&token)
        },
    }))
}

/// Revoke one of your personal API tokens
///
/// A Rota extension. It stops working at once. Anyone else's token is not found.
#[utoipa::path(delete, path = "/api/v2/users/me/tokens/{token_id}", tag = "Users", params(("token_id" = String, Path)),
    responses((status = 204), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let me = super::contact_methods::person(&caller, "me".into())?;
    let id = TokenId(id.into_inner());
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| cases::revoke(conn, &ctx, &me, &id, may_manage(&caller)))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
