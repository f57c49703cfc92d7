//! Chat channels of services and teams (`/services/{id}/chat_channels`,
//! `/teams/{id}/chat_channels`): Microsoft Teams (a Workflows incoming webhook) and Slack (an
//! incoming webhook). Owners and admins set them up (`ConfigureChat`); the URL is taken once
//! and never shown again, only its hint. And `POST /incidents/{id}/summary/post`: the current
//! summary posted to the incident's channels on request.

use super::{ApiCaller, ApiResult, resource};
use crate::authz::{Action, Resource};
use crate::domain::chat::ChatKind;
use crate::domain::ids::{IncidentId, ServiceId, TeamId};
use crate::error::AppError;
use crate::http::AppState;
use crate::store::chat::Channel;
use crate::use_cases::chat::{self as cases, NewChannel, Owner};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for kind in ["services", "teams"] {
        cfg.service(
            resource(&format!("/{kind}/{{id}}/chat_channels"))
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource(&format!("/{kind}/{{id}}/chat_channels/{{channel}}"))
                .route(web::delete().to(remove)),
        );
    }
    cfg.service(resource("/incidents/{id}/summary/post").route(web::post().to(post_summary)));
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatChannelRequest {
    pub chat_channel: ChatChannelFields,
}

// Its `Debug` shows the URL's hint only: the URL is the channel's credential. (Not a doc
// comment: that would become the OpenAPI schema's description.)
#[derive(Deserialize, ToSchema)]
pub struct ChatChannelFields {
    /// `teams` or `slack`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    /// The channel's incoming webhook URL (a secret: never shown again).
    pub url: Option<String>,
    /// `en` (default) or `ja`.
    pub language: Option<String>,
}

impl std::fmt::Debug for ChatChannelFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatChannelFields")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field(
                "url",
                &self
                    .url
                    .as_deref()
                    .map(crate::domain::chat_hosts::raw_url_hint),
            )
            .field("language", &self.language)
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChannelObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "teams")]
    pub kind: &'static str,
    pub name: String,
    /// The webhook's host and last characters.
    pub url_hint: String,
    pub language: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChannelResponse {
    pub chat_channel: ChatChannelObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChannelList {
    pub chat_channels: Vec<ChatChannelObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryPosted {
    /// Posts queued, one per channel.
    pub posts: usize,
}

fn render(c: &Channel) -> ChatChannelObject {
    ChatChannelObject {
        id: c.id.clone(),
        kind: c.kind.as_str(),
        name: c.name.clone(),
        url_hint: c.url_hint.clone(),
        language: c.language.clone(),
        created_at: c.created_at.and_utc(),
    }
}

fn owner_of(req: &HttpRequest, id: String) -> Owner {
    if req
        .match_pattern()
        .unwrap_or_default()
        .starts_with("/api/v2/teams/")
    {
        Owner::Team(TeamId(id))
    } else {
        Owner::Service(ServiceId(id))
    }
}

/// List a service's (or team's) chat channels
#[utoipa::path(get, path = "/api/v2/services/{id}/chat_channels", tag = "Services", params(("id" = String, Path, description = "Also /teams/{id}/chat_channels")),
    responses((status = 200, body = ChatChannelList), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(Action::ReadOnCall, &Resource::Account, "read chat channels")?;
    let owner = owner_of(&req, id.into_inner());
    let found = state.db.run(move |conn| cases::list(conn, &owner)).await?;
    Ok(HttpResponse::Ok().json(ChatChannelList {
        chat_channels: found.iter().map(render).collect(),
    }))
}

/// Post a service's (or team's) incidents to a Teams or Slack channel
///
/// On trigger, escalation, acknowledgement and resolution, with a link to the incident. The
/// URL is the channel's incoming webhook: kept as a secret, never shown again.
#[utoipa::path(post, path = "/api/v2/services/{id}/chat_channels", tag = "Services", params(("id" = String, Path, description = "Also /teams/{id}/chat_channels")), request_body = ChatChannelRequest,
    responses((status = 201, body = ChatChannelResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<ChatChannelRequest>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ConfigureChat,
        &Resource::Account,
        "set up chat channels",
    )?;
    let fields = body.into_inner().chat_channel;
    let kind = fields.kind.as_deref().unwrap_or("");
    let kind = ChatKind::parse(kind)
        .ok_or_else(|| AppError::invalid("chat_channel.type", "must be 'teams' or 'slack'"))?;
    let asked = NewChannel {
        kind,
        name: fields.name.unwrap_or_default(),
        url: fields.url.unwrap_or_default(),
        language: fields.language,
    };
    let owner = owner_of(&req, id.into_inner());
    let ctx = caller.audit();
    let hosts = state.chat_hosts.clone();
    let channel = state
        .db
        .run(move |conn| cases::add(conn, &ctx, &hosts, &owner, asked))
        .await?;
    Ok(HttpResponse::Created().json(ChatChannelResponse {
        chat_channel: render(&channel),
    }))
}

/// Stop posting to a chat channel
#[utoipa::path(delete, path = "/api/v2/services/{id}/chat_channels/{channel}", tag = "Services", params(("id" = String, Path, description = "Also /teams/{id}/chat_channels/{channel}"), ("channel" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)), security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ConfigureChat,
        &Resource::Account,
        "remove chat channels",
    )?;
    let (id, channel) = path.into_inner();
    let owner = owner_of(&req, id);
    let ctx = caller.audit();
    state
        .db
        .run(move |conn| cases::remove(conn, &ctx, &owner, &channel))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Post an incident's current summary to its chat channels
#[utoipa::path(post, path = "/api/v2/incidents/{id}/summary/post", tag = "Incidents", params(("id" = String, Path), ("From" = Option<String>, Header, description = "The acting user's e-mail (service tokens)")),
    responses((status = 202, body = SummaryPosted), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 429, body = super::ErrorBody, description = "A summary was posted less than a minute ago; Retry-After says when")), security(("api_token" = [])))]
pub async fn post_summary(
    state: web::Data<AppState>,
    caller: ApiCaller,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    // A full user acts (a service token names them in `From`), as for any response.
    super::incidents::acting(&state, &caller, &req, "post summaries").await?;
    let id = IncidentId(id.into_inner());
    let at = caller.at;
    let posts = state
        .db
        .run(move |conn| cases::post_summary(conn, &id, at))
        .await?;
    if posts == 0 {
        return Err(AppError::invalid(
            "incident",
            "has no chat channel to post to: add one to its service or team",
        )
        .into());
    }
    Ok(HttpResponse::Accepted().json(SummaryPosted { posts }))
}
