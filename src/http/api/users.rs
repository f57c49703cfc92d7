//! `/api/v2/users`: list, create, show, update and delete people, in PagerDuty's shapes.

use super::{ApiCaller, ApiResult, Links, Pagination, Params, Reference, resource};
use crate::authz::{Action, Resource};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::role::Role;
use crate::domain::user::{self as rules, ProvisionedBy, UserNameSource};
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::audit;
use crate::store::users::{self, User, UserCard, UserQuery};
use crate::store::{self, DbConnection};
use crate::use_cases;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/users/me").route(web::get().to(me)))
        .service(
            resource("/users/{id}/sessions")
                .route(web::get().to(list_sessions))
                .route(web::delete().to(revoke_sessions)),
        )
        .service(
            resource("/users/{id}/sessions/{type}/{session_id}")
                .route(web::delete().to(revoke_session)),
        )
        .service(
            resource("/users")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(
            resource("/users/{id}")
                .route(web::get().to(show))
                .route(web::put().to(update))
                .route(web::delete().to(remove)),
        );
}

/// A person, as PagerDuty's `user` object, with Rota's identity fields added.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserObject {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub kind: &'static str,
    pub summary: String,
    #[serde(rename = "self")]
    pub self_url: String,
    pub html_url: String,
    pub name: String,
    pub email: Option<String>,
    /// The sign-in name (Entra's userPrincipalName); for users made through this API, the
    /// e-mail they were made with. Set only by Entra (SCIM, sign-in) or by an owner or admin
    /// for someone else; first sign-in and Entra's matching link people to an account by it.
    pub user_name: String,
    /// Who set `user_name`: `entra_scim`, `entra_sign_in`, `admin`, or `unverified` (from
    /// before this rule; sign-in and SCIM do not adopt the account by its name until an
    /// owner or admin confirms it by setting `user_name`).
    pub user_name_source: crate::domain::user::UserNameSource,
    pub time_zone: String,
    pub locale: Option<String>,
    pub role: Role,
    /// The seat held (`full` or `stakeholder`), or null while waiting for one (see
    /// `/api/v2/license_queue`).
    pub license: Option<Reference>,
    pub job_title: Option<String>,
    pub description: Option<String>,
    /// False once deactivated (for example by Entra provisioning): never paged.
    pub active: bool,
    pub invitation_sent: bool,
    /// How the account came to be: `api`, `scim` or `sign_in`.
    pub provisioned_by: String,
    pub teams: Vec<Reference>,
    pub contact_methods: Vec<Reference>,
    pub notification_rules: Vec<Reference>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: UserObject,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserObject>,
    #[serde(flatten)]
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    /// IANA name; default Etc/UTC.
    pub time_zone: Option<String>,
    /// Default `user`.
    pub role: Option<String>,
    pub job_title: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateUserRequest {
    pub user: NewUser,
}

/// Fields to change; absent fields stay as they are, an empty text clears it.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UserChanges {
    pub name: Option<String>,
    /// Contact address. Changing it never changes `user_name`, except when an owner or admin
    /// changes it for a user made through this API who signs in with it.
    pub email: Option<String>,
    /// The sign-in name. Only owners and admins, and not their own: the person it names is
    /// linked to this account at their first sign-in. Setting it (even to its current value)
    /// confirms it (`user_name_source` becomes `admin`).
    pub user_name: Option<String>,
    pub time_zone: Option<String>,
    /// BCP 47 language tag (`ja-JP`, `en-US`): the language of their e-mails. Empty clears it.
    pub locale: Option<String>,
    pub role: Option<String>,
    pub job_title: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    pub user: UserChanges,
}

const TEXT_LIMIT: usize = 1000;

fn role(raw: &str) -> AppResult<Role> {
    Role::parse(raw).ok_or_else(|| {
        AppError::invalid("role", format!("is '{raw}'; use one of {}", Role::names()))
    })
}

/// Renders users with their team and contact-method references: two queries for the page.
pub fn render(
    conn: &mut DbConnection,
    base: &str,
    rows: Vec<UserCard>,
) -> AppResult<Vec<UserObject>> {
    let links = Links(base);
    let ids: Vec<UserId> = rows.iter().map(|u| u.id.clone()).collect();
    let mut teams: HashMap<UserId, Vec<Reference>> = HashMap::new();
    for (user_id, team_id, team_name) in users::team_refs(conn, &ids)? {
        teams.entry(user_id).or_default().push(links.reference(
            "teams",
            "team_reference",
            team_id.as_str(),
            &team_name,
        ));
    }
    let mut contacts: HashMap<UserId, Vec<Reference>> = HashMap::new();
    for m in users::contact_methods_of(conn, &ids)? {
        let kind = m.kind.pd_reference_type();
        let collection = format!("users/{}/contact_methods", m.user_id);
        contacts
            .entry(m.user_id.clone())
            .or_default()
            .push(links.reference(&collection, kind, m.id.as_str(), &m.label));
    }
    Ok(rows
        .into_iter()
        .map(|u| UserObject {
            self_url: links.api("users", u.id.as_str()),
            html_url: links.html("users", u.id.as_str()),
            kind: "user",
            summary: u.name.clone(),
            teams: teams.remove(&u.id).unwrap_or_default(),
            contact_methods: contacts.remove(&u.id).unwrap_or_default(),
            notification_rules: Vec::new(),
            role: u.role,
            license: u
                .licence
                .map(|l| links.reference("licenses", "license_reference", l.as_str(), l.title())),
            invitation_sent: false,
            created_at: u.created_at.and_utc(),
            updated_at: u.updated_at.and_utc(),
            id: u.id.0,
            name: u.name,
            email: u.email,
            user_name: u.user_name,
            time_zone: u.time_zone,
            locale: u.locale,
            job_title: u.job_title,
            description: u.description,
            active: u.active,
            provisioned_by: u.provisioned_by.as_str().to_string(),
            user_name_source: u.user_name_source,
        })
        .collect())
}

fn render_one(conn: &mut DbConnection, base: &str, user: User) -> AppResult<UserObject> {
    render(conn, base, vec![user.into()])?
        .pop()
        .ok_or_else(|| AppError::internal("rendering a user returned nothing"))
}

/// List users
///
/// Ordered by name. `query` matches part of a name, user name or e-mail, in any case.
#[utoipa::path(get, path = "/api/v2/users", tag = "Users",
    params(
        ("query" = Option<String>, Query, description = "Part of a name, user name or e-mail address"),
        ("team_ids[]" = Option<Vec<String>>, Query, description = "Only members of these teams"),
        ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query, description = "1 to 100, default 25"),
        ("total" = Option<bool>, Query, description = "Also count all matches"),
    ),
    responses((status = 200, body = UserList), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: ApiCaller,
    params: Params,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadDirectory,
        &Resource::Account,
        "read the directory",
    )?;
    let page = params.page()?;
    let query = UserQuery {
        text: params.one("query").map(str::to_owned),
        team_ids: params.all("team_ids").into_iter().map(TeamId).collect(),
    };
    let base = state.public_url.clone();
    let (users, more, total) = state
        .db
        .run(move |conn| {
            let found = users::list(conn, &query, &page)?;
            Ok((render(conn, &base, found.rows)?, found.more, found.total))
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserList {
        users,
        pagination: Pagination::new(&page, more, total),
    }))
}

/// Create a user
#[utoipa::path(post, path = "/api/v2/users", tag = "Users", request_body = CreateUserRequest,
    responses((status = 201, body = UserResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: ApiCaller,
    body: web::Json<CreateUserRequest>,
) -> ApiResult<HttpResponse> {
    let input = body.into_inner().user;
    let role = input
        .role
        .as_deref()
        .map(role)
        .transpose()?
        .unwrap_or(Role::User);
    caller.may(Action::CreateUser, &Resource::Account, "create users")?;
    if role != Role::User {
        // A new user starts as `user`; giving them more is a role change like any other.
        let newcomer = Resource::User {
            id: UserId::generate(),
            role: Role::User,
        };
        caller.may_grant(&newcomer, role)?;
    }
    let now = crate::clock::stored(caller.at);
    let email = rules::email(&input.email).invalid_field("email")?;
    let name = rules::display_name(&input.name).invalid_field("name")?;
    // The e-mail becomes the sign-in name: whoever may make this account vouches for it
    // (owners and admins, unless the policies let others create users).
    let newcomer = Resource::User {
        id: UserId::generate(),
        role: Role::User,
    };
    may_give_name(&state.sign_in.bootstrap_owners, &caller, &newcomer, &email)?;
    let user_name_source = if caller.may_set_sign_in_name(&newcomer) {
        UserNameSource::Admin
    } else {
        UserNameSource::Unverified
    };
    let user = User {
        user_name_source,
        email: Some(email.clone()),
        job_title: rules::optional_text(input.job_title.as_deref(), 100)
            .invalid_field("job_title")?,
        description: rules::optional_text(input.description.as_deref(), TEXT_LIMIT)
            .invalid_field("description")?,
        time_zone: rules::time_zone(input.time_zone.as_deref().unwrap_or("Etc/UTC"))
            .invalid_field("time_zone")?,
        role,
        ..User::new(&email, name, ProvisionedBy::Api, now)
    };
    let audit_ctx = caller.audit();
    let base = state.public_url.clone();
    let app = state.clone();
    let object = state
        .db
        .run(move |conn| {
            use_cases::adding_person(conn, app.seats(), &audit_ctx, |tx, settling| {
                let mut user = user.clone();
                settling.admit(tx, &mut user, |tx, user| {
                    users::insert(tx, user)?;
                    users::set_primary_email(tx, &user.id, &email, now)?;
                    crate::store::contact_methods::give_defaults(tx, &user.id, now)?;
                    Ok(vec![audit::event(
                        &audit_ctx,
                        "create",
                        user.audit_target(),
                        None::<&User>,
                        Some(user),
                    )?])
                })?;
                render_one(tx, &base, user)
            })
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", object.self_url.clone()))
        .json(UserResponse { user: object }))
}

/// Get a user
#[utoipa::path(get, path = "/api/v2/users/{id}", tag = "Users", params(("id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn show(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.may(
        Action::ReadDirectory,
        &Resource::Account,
        "read the directory",
    )?;
    user_response(&state, UserId(id.into_inner())).await
}

/// `{"user": …}` for the user with this id.
async fn user_response(state: &web::Data<AppState>, id: UserId) -> ApiResult<HttpResponse> {
    let base = state.public_url.clone();
    let user = state
        .db
        .run(move |conn| {
            let user = users::find(conn, &id)?;
            render_one(conn, &base, user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse { user }))
}

/// Get the current user
///
/// The person behind the request: signed in with a session, or using a personal API token.
#[utoipa::path(get, path = "/api/v2/users/me", tag = "Users",
    responses((status = 200, body = UserResponse), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn me(state: web::Data<AppState>, caller: ApiCaller) -> ApiResult<HttpResponse> {
    let id = caller.user_id().cloned().ok_or_else(|| {
        AppError::invalid(
            "Authorization",
            "is a service token, which is nobody: /users/me needs a signed-in person or a personal token (rota token create --kind api --user USERNAME)",
        )
    })?;
    user_response(&state, id).await
}

/// A signed-in browser session, as PagerDuty lists them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSession {
    pub id: String,
    pub user_id: String,
    /// `browser` (Entra ID sign-in) or `break_glass`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The browser, as it named itself.
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserSessionList {
    pub user_sessions: Vec<UserSession>,
}

fn session_kind(method: &str) -> &'static str {
    if method == crate::store::sessions::METHOD_BREAK_GLASS {
        "break_glass"
    } else {
        "browser"
    }
}

/// The person themselves, owners and admins see and end someone's sessions (the policies say).
async fn may_touch_sessions(
    state: &web::Data<AppState>,
    caller: &ApiCaller,
    id: &UserId,
    action: Action,
) -> AppResult<()> {
    let id = id.clone();
    let user = state.db.run(move |conn| users::find(conn, &id)).await?;
    caller.may(
        action,
        &as_resource(&user),
        "see or end this user's sessions",
    )
}

/// The user as the authorization policies see them.
fn as_resource(user: &User) -> Resource {
    Resource::User {
        id: user.id.clone(),
        role: user.role,
    }
}

/// List a user's sessions
#[utoipa::path(get, path = "/api/v2/users/{id}/sessions", tag = "Users", params(("id" = String, Path)),
    responses((status = 200, body = UserSessionList), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn list_sessions(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    may_touch_sessions(&state, &caller, &id, Action::ReadSessions).await?;
    let now = crate::clock::stored(caller.at);
    let open = state
        .db
        .run(move |conn| {
            users::find(conn, &id)?;
            crate::store::sessions::open_sessions_of(conn, &id, now)
        })
        .await?;
    let utc = |t: chrono::NaiveDateTime| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc);
    Ok(HttpResponse::Ok().json(UserSessionList {
        user_sessions: open
            .into_iter()
            .map(|s| UserSession {
                id: s.id.0,
                user_id: s.user_id.0,
                kind: session_kind(&s.method),
                summary: s.user_agent.unwrap_or_else(|| "unknown browser".into()),
                created_at: utc(s.created_at),
                last_seen_at: utc(s.last_seen_at),
                expires_at: utc(s.expires_at),
            })
            .collect(),
    }))
}

/// End all of a user's sessions
///
/// Signs the person out everywhere at once.
#[utoipa::path(delete, path = "/api/v2/users/{id}/sessions", tag = "Users", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn revoke_sessions(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    may_touch_sessions(&state, &caller, &id, Action::RevokeSessions).await?;
    end_sessions(&state, &caller, id, None).await
}

/// End one of a user's sessions
#[utoipa::path(delete, path = "/api/v2/users/{id}/sessions/{type}/{session_id}", tag = "Users",
    params(("id" = String, Path), ("type" = String, Path), ("session_id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn revoke_session(
    state: web::Data<AppState>,
    caller: ApiCaller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, _kind, session_id) = path.into_inner();
    let id = UserId(id);
    may_touch_sessions(&state, &caller, &id, Action::RevokeSessions).await?;
    end_sessions(
        &state,
        &caller,
        id,
        Some(crate::domain::ids::SessionId(session_id)),
    )
    .await
}

/// Revokes one or all of the user's open sessions, audited.
async fn end_sessions(
    state: &web::Data<AppState>,
    caller: &ApiCaller,
    id: UserId,
    one: Option<crate::domain::ids::SessionId>,
) -> ApiResult<HttpResponse> {
    use crate::store::sessions;
    let ctx = caller.audit();
    let now = crate::clock::stored(caller.at);
    state
        .db
        .run(move |conn| {
            store::write(conn, |tx| {
                let user = users::find(tx, &id)?;
                let reason = format!("ended by {}", ctx.actor.name);
                let ended = match &one {
                    None => sessions::revoke_all_of(tx, &id, &reason, now)?,
                    Some(sid) => {
                        let open = sessions::open_sessions_of(tx, &id, now)?;
                        if !open.iter().any(|s| &s.id == sid) {
                            return Err(AppError::not_found("session", sid.as_str()));
                        }
                        sessions::revoke(tx, sid, &reason, now)?;
                        1
                    }
                };
                let details = serde_json::json!({"sessions_ended": ended, "session_id": one});
                audit::record(
                    tx,
                    &ctx,
                    "end_sessions",
                    user.audit_target(),
                    None::<&()>,
                    Some(&details),
                )
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Applies `changes` to `user`; says whether anything changed.
/// A sign-in name that would make its account a bootstrap owner may be given only by someone
/// who may make owners. The refusal reads like any taken name's, so it does not tell who the
/// bootstrap owners are.
fn may_give_name(
    bootstrap_owners: &[String],
    caller: &ApiCaller,
    resource: &Resource,
    user_name: &str,
) -> AppResult<()> {
    if bootstrap_owners.contains(&rules::name_key(user_name))
        && caller.may_grant(resource, Role::Owner).is_err()
    {
        return Err(AppError::conflict(
            "user_name",
            format!("'{user_name}' is already taken by another user"),
        ));
    }
    Ok(())
}

fn apply(
    user: &mut User,
    changes: UserChanges,
    caller: &ApiCaller,
    bootstrap_owners: &[String],
) -> AppResult<bool> {
    let resource = as_resource(user);
    let before = user.clone();
    let may_set_sign_in_name = caller.may_set_sign_in_name(&resource);
    if let Some(name) = changes.name {
        user.name = rules::display_name(&name).invalid_field("name")?;
    }
    if let Some(email) = changes.email {
        let email = rules::email(&email).invalid_field("email")?;
        // Users made through this API sign in with their e-mail; an admin changing it keeps
        // the two together. A person changing their own only changes where mail goes.
        if may_set_sign_in_name
            && user.provisioned_by == ProvisionedBy::Api
            && user.email.as_deref() == Some(user.user_name.as_str())
        {
            set_sign_in_name(user, &email);
        }
        user.email = Some(email);
    }
    if let Some(user_name) = changes.user_name {
        if !may_set_sign_in_name {
            return Err(AppError::forbidden(
                "set user_name: the sign-in name comes from Microsoft Entra ID, or from an owner or admin for someone other than themselves",
            ));
        }
        let user_name = rules::user_name(&user_name).invalid_field("user_name")?;
        set_sign_in_name(user, &user_name);
    }
    if user.user_name_key != before.user_name_key {
        may_give_name(bootstrap_owners, caller, &resource, &user.user_name)?;
    }
    if let Some(tz) = changes.time_zone {
        user.time_zone = rules::time_zone(&tz).invalid_field("time_zone")?;
    }
    if let Some(locale) = changes.locale {
        user.locale = rules::locale(&locale).invalid_field("locale")?;
    }
    if let Some(new_role) = changes.role {
        let new_role = role(&new_role)?;
        if new_role != user.role {
            caller.may_grant(&resource, new_role)?;
        }
        user.role = new_role;
    }
    if let Some(title) = changes.job_title {
        user.job_title = rules::optional_text(Some(&title), 100).invalid_field("job_title")?;
    }
    if let Some(description) = changes.description {
        user.description =
            rules::optional_text(Some(&description), TEXT_LIMIT).invalid_field("description")?;
    }
    Ok(*user != before)
}

/// The sign-in name as an owner or admin sets (or confirms) it.
fn set_sign_in_name(user: &mut User, user_name: &str) {
    user.user_name = user_name.to_string();
    user.user_name_key = rules::name_key(user_name);
    user.user_name_source = UserNameSource::Admin;
}

/// Changes a user as `caller` (`PUT /users/{id}`, and the profile page's language and time
/// zone): the fields given, audited, the seats settled; the user as stored after.
pub(crate) fn change(
    conn: &mut crate::store::DbConnection,
    app: &AppState,
    caller: &ApiCaller,
    id: &UserId,
    changes: UserChanges,
) -> AppResult<User> {
    let ctx = caller.audit();
    use_cases::changing_seats(conn, app.seats(), &ctx, |tx, settling| {
        let before = users::find(tx, id)?;
        caller.may(
            Action::UpdateUser,
            &as_resource(&before),
            "change this user",
        )?;
        let mut user = before.clone();
        if apply(&mut user, changes, caller, &app.sign_in.bootstrap_owners)? {
            user.version += 1;
            // SCIM reads echo Entra's last document; after a change made here, build
            // them from the row instead, so Entra sees the drift and sets its values.
            user.scim_document = None;
            user.updated_at = crate::clock::stored(caller.at);
            users::update(tx, &user)?;
            if user.email != before.email
                && let Some(email) = &user.email
            {
                users::set_primary_email(tx, &user.id, email, user.updated_at)?;
            }
            audit::record(
                tx,
                &caller.audit(),
                "update",
                user.audit_target(),
                Some(&before),
                Some(&user),
            )?;
        }
        let wanted = user.role;
        settling.settle(tx, std::slice::from_ref(&user.id))?;
        let user = users::find(tx, &user.id)?;
        if user.role != wanted {
            return Err(AppError::invalid(
                "role",
                format!(
                    "of {} is decided by the seat policy (policies/seats.toml), which gives them {}: change the rule or their Entra app role or team instead",
                    user.name, user.role
                ),
            ));
        }
        Ok(user)
    })
}

/// Update a user
///
/// Only the fields given change. `user_name` only by owners and admins, for someone else.
#[utoipa::path(put, path = "/api/v2/users/{id}", tag = "Users", params(("id" = String, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserResponse), (status = 400, body = super::ErrorBody), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
    body: web::Json<UpdateUserRequest>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let changes = body.into_inner().user;
    let base = state.public_url.clone();
    let app = state.clone();
    let user = state
        .db
        .run(move |conn| {
            let user = change(conn, &app, &caller, &id, changes)?;
            render_one(conn, &base, user)
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse { user }))
}

/// Delete a user
///
/// Removes the person from every team; the audit trail keeps their history.
#[utoipa::path(delete, path = "/api/v2/users/{id}", tag = "Users", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)),
    security(("api_token" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: ApiCaller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            use_cases::users::delete(conn, app.seats(), &caller.audit(), &id, |user| {
                caller.may(Action::DeleteUser, &as_resource(user), "delete this user")
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
