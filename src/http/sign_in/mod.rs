//! Signing people in and out in a browser: the OIDC code flow with Entra ID
//! (`/auth/oidc/login`, `/auth/oidc/callback`), sign-out (`POST /auth/logout`), break-glass
//! sign-in for owners (`/auth/break-glass`), and the home page. Refusals are HTML pages that
//! say what happened and who can help, and each is audited.

pub mod id_token;
pub mod provider;
pub mod session;

use crate::config::SessionLimits;
use crate::domain::attempts::{Admission, describe_wait};
use crate::domain::seat_policy::SeatPolicy;
use crate::domain::sign_in::{
    EntraIdentity, Refusal, break_glass_alert, break_glass_failures_alert, safe_return_to,
};
use crate::domain::token::hash_secret;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::http::observe::RequestId;
use crate::http::page::{self, escape};
use crate::http::throttle;
use crate::store::emails::{self, NewEmail};
use crate::store::{self, break_glass, sessions, sign_in};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::Duration;
use provider::Provider;
use serde::Deserialize;
use session::{Cookies, FORM_COOKIE, LOGIN_COOKIE, SESSION_COOKIE};

/// What sign-in needs, built once at start-up.
pub struct SignInSettings {
    /// `None` when no OIDC issuer is configured.
    pub provider: Option<Provider>,
    pub cookies: Cookies,
    pub sessions: SessionLimits,
    pub seat_policy: std::sync::Arc<SeatPolicy>,
    /// userNames (case-folded) made owners when they sign in.
    pub bootstrap_owners: std::sync::Arc<Vec<String>>,
}

/// What sign-in is configured with (from `Config`, or a test).
pub struct SignInConfig {
    pub oidc: Option<crate::config::OidcConfig>,
    pub public_url: String,
    pub sessions: SessionLimits,
    pub bootstrap_owners: Vec<String>,
}

impl SignInSettings {
    /// Builds the settings; the cookie key comes from the database (see
    /// `store::sessions::cookie_key`).
    pub fn new(
        config: SignInConfig,
        seat_policy: SeatPolicy,
        cookie_key: &[u8],
    ) -> Result<SignInSettings, String> {
        let provider = config
            .oidc
            .map(|oidc| Provider::new(oidc, &config.public_url))
            .transpose()?;
        Ok(SignInSettings {
            provider,
            cookies: Cookies::new(cookie_key, &config.public_url),
            sessions: config.sessions,
            seat_policy: std::sync::Arc::new(seat_policy),
            bootstrap_owners: std::sync::Arc::new(
                config
                    .bootstrap_owners
                    .iter()
                    .map(|n| crate::domain::user::name_key(n))
                    .collect(),
            ),
        })
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/auth/oidc/login", web::get().to(login))
        .route("/auth/oidc/callback", web::get().to(callback))
        .route("/auth/logout", web::post().to(logout))
        .service(
            web::resource("/auth/break-glass")
                .route(web::get().to(break_glass_form))
                .route(web::post().to(break_glass_sign_in)),
        );
}

fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::SeeOther();
    r.insert_header(("Location", location))
        .insert_header(("Cache-Control", "no-store"));
    r
}

/// An internal failure on a browser page: logged with the request id, shown without detail.
fn failure_page(e: AppError) -> HttpResponse {
    e.log();
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page::error_page(status, "Something went wrong", &e.message())
}

/// A short hint in a query string: kept only if it is plain text of sane length.
fn hint(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim)
        .filter(|h| !h.is_empty() && h.len() <= 256 && !h.chars().any(char::is_control))
}

#[derive(Deserialize, Default)]
struct LoginParams {
    return_to: Option<String>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
}

async fn login(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = web::Query::<LoginParams>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    if let Admission::Wait(wait) = state
        .throttle
        .admit_login(&client_address(&req), state.clock.now())
    {
        return page::app_error_page(AppError::too_many(
            format!(
                "Too many sign-ins were started from your address. Try again in {}.",
                describe_wait(wait)
            ),
            wait,
        ));
    }
    let Some(provider) = &state.sign_in.provider else {
        return refused(&state, &req, Refusal::NotConfigured, None).await;
    };
    let auth = match provider
        .authorize(
            hint(params.login_hint.as_deref()),
            hint(params.domain_hint.as_deref()),
        )
        .await
    {
        Ok(a) => a,
        Err(refusal) => return refused(&state, &req, refusal, None).await,
    };
    let attempt = sign_in::Attempt {
        state_hash: hash_secret(&auth.state),
        nonce: auth.nonce,
        pkce_verifier: auth.pkce_verifier,
        return_to: safe_return_to(params.return_to.as_deref()),
        created_at: crate::clock::stored(state.clock.now()),
    };
    if let Err(e) = state
        .db
        .run(move |conn| sign_in::begin(conn, &attempt))
        .await
    {
        return failure_page(e);
    }
    see_other(auth.url.as_str())
        .cookie(state.sign_in.cookies.seal(
            LOGIN_COOKIE,
            auth.state,
            Duration::minutes(sign_in::ATTEMPT_LIFETIME_MINUTES),
        ))
        .finish()
}

#[derive(Deserialize, Default)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Admission::Wait(wait) = state
        .throttle
        .admit_callback(&client_address(&req), state.clock.now())
    {
        return page::app_error_page(AppError::too_many(
            format!(
                "Too many sign-ins from your address were refused. Try again in {}.",
                describe_wait(wait)
            ),
            wait,
        ));
    }
    let params = web::Query::<CallbackParams>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let mut response = match finish_sign_in(&req, &state, params).await {
        Ok((secret, return_to)) => see_other(&return_to)
            .cookie(
                state
                    .sign_in
                    .cookies
                    .seal(SESSION_COOKIE, secret, state.sign_in.sessions.max),
            )
            .finish(),
        Err(Ok((refusal, identity))) => refused(&state, &req, refusal, identity).await,
        Err(Err(e)) => failure_page(e),
    };
    // The login is over either way: its cookie goes.
    let _ = response.add_cookie(&state.sign_in.cookies.removal(LOGIN_COOKIE));
    response
}

type Refused = Result<(Refusal, Option<EntraIdentity>), AppError>;

/// The callback's work: the state must be the one this browser started with and unused; the
/// provider's code becomes a validated ID token; the person is signed in.
async fn finish_sign_in(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    params: CallbackParams,
) -> Result<(String, String), Refused> {
    let provider = state
        .sign_in
        .provider
        .as_ref()
        .ok_or(Ok((Refusal::NotConfigured, None)))?;
    let expired = || Ok((Refusal::ExpiredOrReplayed, None));
    let cookie_state = state
        .sign_in
        .cookies
        .open(req, LOGIN_COOKIE)
        .ok_or_else(expired)?;
    let query_state = params.state.ok_or_else(expired)?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        cookie_state.as_bytes(),
        query_state.as_bytes(),
    )) {
        return Err(expired());
    }
    let now = state.clock.now();
    let state_hash = hash_secret(&query_state);
    let attempt = state
        .db
        .run(move |conn| sign_in::take(conn, &state_hash, crate::clock::stored(now)))
        .await
        .map_err(Err)?
        .ok_or_else(expired)?;
    if let Some(error) = params.error {
        let detail = params.error_description.unwrap_or_default();
        return Err(Ok((Refusal::from_provider_answer(&error, &detail), None)));
    }
    let code = params
        .code
        .ok_or_else(|| Ok((Refusal::ProviderError("no code in the answer".into()), None)))?;
    let raw = provider
        .exchange(&code, &attempt.pkce_verifier)
        .await
        .map_err(|r| Ok((r, None)))?;
    let identity = provider
        .validate(&raw, &attempt.nonce, now)
        .await
        .map_err(|r| Ok((r, None)))?;
    let request = sign_in::SignInRequest {
        bootstrap_owners: state.sign_in.bootstrap_owners.clone(),
        identity,
        policy: state.sign_in.seat_policy.clone(),
        user_agent: user_agent(req),
        request_id: request_id(req),
        now,
        session_lifetime: state.sign_in.sessions.max,
    };
    let outcome = state
        .db
        .run(move |conn| sign_in::sign_in(conn, &request))
        .await
        .map_err(Err)?;
    match outcome {
        Ok(signed_in) => {
            state.email_delivery.poke_if(signed_in.emails);
            Ok((signed_in.secret, attempt.return_to))
        }
        // Already audited inside the sign-in transaction (a queued person was e-mailed about).
        Err(refusal) => {
            if matches!(refusal, Refusal::NoSeat { .. }) {
                state.email_delivery.poke();
            }
            Err(Ok((refusal, None)))
        }
    }
}

/// The refusal page, after auditing the refusal (unless the sign-in transaction did).
///
/// A refusal before anybody was identified (a junk or replayed callback, a provider error, a
/// foreign tenant) is anyone's to cause: those are counted per client address, and the audit
/// trail gets one record when a burst of them starts (with the size of the burst before), not
/// one per request; past the limit the address waits (429) before anything is looked at.
async fn refused(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    refusal: Refusal,
    identity: Option<EntraIdentity>,
) -> HttpResponse {
    let already_audited = matches!(
        refusal,
        Refusal::Deactivated
            | Refusal::IdentityConflict { .. }
            | Refusal::UnverifiedUserName { .. }
            | Refusal::DuplicateExternalId { .. }
            | Refusal::NoSeat { .. }
    );
    let now = state.clock.now();
    state.metrics.sign_in_refused(refusal.code());
    let burst = (!already_audited).then(|| state.throttle.refused(&client_address(req), now));
    let record = burst.as_ref().is_some_and(|b| b.opened);
    if record || already_audited {
        tracing::info!(reason = refusal.code(), detail = %refusal.detail(), "sign-in refused");
    } else {
        tracing::debug!(reason = refusal.code(), detail = %refusal.detail(), "sign-in refused (in a burst already recorded)");
    }
    let rid = request_id(req);
    let r = refusal.clone();
    let previous = burst.and_then(|b| b.previous);
    let owners = state
        .db
        .run(move |conn| {
            if record {
                store::write(conn, |tx| {
                    sign_in::record_refusal(tx, &r, identity.as_ref(), previous.as_ref(), rid, now)
                })?;
            }
            // Only someone Entra vouched for as one of ours sees who the owners are; anybody
            // can reach the other refusals.
            if already_audited {
                break_glass::owners(conn)
            } else {
                Ok(Vec::new())
            }
        })
        .await;
    let owners = match owners {
        Ok(o) => o,
        Err(e) => return failure_page(e),
    };
    let who = if owners.is_empty() {
        "Ask whoever runs Rota in your organisation (Rota's owners and admins).".to_string()
    } else {
        let names: Vec<String> = owners
            .iter()
            .take(3)
            .map(|o| match &o.email {
                Some(e) => format!("{} ({e})", o.name),
                None => o.name.clone(),
            })
            .collect();
        format!("Rota's owners can help: {}.", names.join(", "))
    };
    // Refusals are the caller's 4xx; only trouble reaching or reading the provider is a 502.
    let status = match refusal {
        Refusal::ExpiredOrReplayed | Refusal::CodeRefused(_) => StatusCode::BAD_REQUEST,
        Refusal::ProviderError(_) => StatusCode::BAD_GATEWAY,
        Refusal::NotConfigured => StatusCode::NOT_FOUND,
        _ => StatusCode::FORBIDDEN,
    };
    page::layout(
        status,
        refusal.title(),
        &format!(
            "<p>{}</p><p>{}</p><p><small>Reason: {}</small></p><p><a href=\"/\">Rota home</a></p>",
            escape(&refusal.explanation()),
            escape(&who),
            escape(refusal.code())
        ),
    )
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: Option<String>,
}

async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<CsrfForm>>,
) -> HttpResponse {
    let current = match session::current(&req).await {
        Ok(c) => c,
        Err(e) => return failure_page(e),
    };
    let mut location = "/".to_string();
    if let Some(current) = current {
        let token = form.as_ref().and_then(|f| f.csrf_token.as_deref());
        if let Err(e) = current.check_csrf(&req, token, &state.public_url) {
            return page::error_page(StatusCode::FORBIDDEN, "Not signed out", &e.message());
        }
        let now = crate::clock::stored(state.clock.now());
        let id = current.session.id.clone();
        if let Err(e) = state
            .db
            .run(move |conn| sessions::revoke(conn, &id, "signed out", now))
            .await
        {
            return failure_page(e);
        }
        if current.session.method == sessions::METHOD_OIDC
            && let Some(p) = &state.sign_in.provider
            && let Some(url) = p.end_session_url().await
        {
            location = url.to_string();
        }
    }
    see_other(&location)
        .cookie(state.sign_in.cookies.removal(SESSION_COOKIE))
        .finish()
}

/// The home page: who is signed in, or how to sign in.
async fn home(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let current = match session::current(&req).await {
        Ok(c) => c,
        Err(e) => return failure_page(e),
    };
    let body = match current {
        // Signed in: their home page (`ui::home`).
        Some(_) => {
            return match crate::http::ui::home::page(&req, &state).await {
                Ok(page) => page,
                Err(e) => actix_web::ResponseError::error_response(&e),
            };
        }
        None if state.demo.get().is_some() => {
            return crate::http::demo::signed_out_home(&req, &state);
        }
        None if state.sign_in.provider.is_some() => {
            "<p>Rota is your team's on-call and access service.</p>\
             <p><a class=\"lead\" href=\"/auth/oidc/login\">Sign in with Microsoft</a></p>\
             <p><small>Entra ID down during an incident? Owners can use \
             <a href=\"/auth/break-glass\">break-glass sign-in</a>.</small></p>"
                .to_string()
        }
        None => "<p>Sign-in with Microsoft Entra ID is not configured on this server \
             (set ROTA_OIDC_ISSUER, ROTA_OIDC_CLIENT_ID and ROTA_OIDC_CLIENT_SECRET).</p>\
             <p><a href=\"/api/docs/\">API documentation</a> · \
             <a href=\"/auth/break-glass\">Break-glass sign-in</a></p>"
            .to_string(),
    };
    page::layout(StatusCode::OK, "Rota", &body)
}

/// A sign-in form's token against login CSRF (double submit: the same random value in the form
/// and in a sealed cookie), for a visitor who has no session yet: the value and its cookie.
pub(crate) fn form_token(state: &AppState) -> (String, actix_web::cookie::Cookie<'static>) {
    let mut random = [0u8; 16];
    rand::fill(&mut random);
    let token = hex::encode(random);
    let cookie = state
        .sign_in
        .cookies
        .seal(FORM_COOKIE, token.clone(), Duration::minutes(30));
    (token, cookie)
}

/// Whether a sign-in form came back with its token (compared in constant time) and from this
/// service's own pages (`Origin`).
pub(crate) fn form_token_matches(req: &HttpRequest, state: &AppState, sent: &str) -> bool {
    let expected = state
        .sign_in
        .cookies
        .open(req, FORM_COOKIE)
        .unwrap_or_default();
    !expected.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            sent.as_bytes(),
        ))
        && session::check_origin(req, &state.public_url).is_ok()
}

/// A new session's cookie, and the form token's cookie removed: what a sign-in answers with.
pub(crate) fn signed_in(state: &AppState, secret: String, to: &str) -> HttpResponse {
    see_other(to)
        .cookie(
            state
                .sign_in
                .cookies
                .seal(SESSION_COOKIE, secret, state.sign_in.sessions.max),
        )
        .cookie(state.sign_in.cookies.removal(FORM_COOKIE))
        .finish()
}

/// The break-glass form, with a double-submit token against login CSRF.
async fn break_glass_form(state: web::Data<AppState>) -> HttpResponse {
    let (token, cookie) = form_token(&state);
    let mut response = page::layout(
        StatusCode::OK,
        "Break-glass sign-in",
        &format!(
            "<p>For owners, when Microsoft Entra ID is unavailable. Every use is recorded and \
             e-mailed to all owners.</p>\
             <form method=\"post\" action=\"/auth/break-glass\">\
             <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
             <p><label>User name<br><input name=\"username\" autocomplete=\"username\" required></label></p>\
             <p><label>Break-glass password<br><input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
             <p><button type=\"submit\">Sign in</button></p></form>"
        ),
    );
    let _ = response.add_cookie(&cookie);
    response
}

#[derive(Deserialize)]
struct BreakGlassForm {
    csrf_token: String,
    username: String,
    password: String,
}

async fn break_glass_sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<BreakGlassForm>,
) -> HttpResponse {
    let form = form.into_inner();
    if !form_token_matches(&req, &state, &form.csrf_token) {
        return page::error_page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form was not sent from this page, or it is too old. Open the break-glass page again.",
        );
    }
    match break_glass_session(&req, &state, form).await {
        Ok(Some(secret)) => signed_in(&state, secret, "/"),
        Ok(None) => page::error_page(
            StatusCode::UNAUTHORIZED,
            "Not signed in",
            "The user name or break-glass password is wrong, or break-glass sign-in is not enabled for this owner (rota owner break-glass USERNAME).",
        ),
        Err(e) => page::app_error_page(e),
    }
}

/// The client's address as the limits count it: the peer's, not X-Forwarded-For (a header the
/// caller writes proves nothing).
fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Waits for a turn among the password checks running at once, then checks the password on
/// the blocking pool, with no database connection held.
async fn verify_break_glass(
    state: &web::Data<AppState>,
    candidate: Option<break_glass::Candidate>,
    password: String,
) -> AppResult<Option<crate::store::users::User>> {
    let busy = || {
        AppError::too_many(
            "too many sign-in attempts are being checked right now; try again in a few seconds",
            Duration::seconds(5),
        )
    };
    let _turn = tokio::time::timeout(
        throttle::VERIFICATION_QUEUE,
        state.throttle.verifications.acquire(),
    )
    .await
    .map_err(|_| busy())?
    .map_err(|_| busy())?;
    Ok(web::block(move || break_glass::verify(candidate, &password)).await?)
}

/// Checks the password and opens a session, audited. Attempts are limited per user name and
/// per address with a growing wait; a wrong password for a break-glass account is audited and
/// e-mailed to the owners once per burst of attempts, not once per attempt, and a wrong name
/// is not audited at all (anonymous noise: counted in the metrics and the limits).
async fn break_glass_session(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    form: BreakGlassForm,
) -> AppResult<Option<String>> {
    let now = state.clock.now();
    let address = client_address(req);
    let name_key = crate::domain::user::name_key(&form.username);
    if let Admission::Wait(wait) = state.throttle.admit_break_glass(&name_key, &address, now) {
        return Err(AppError::too_many(
            format!(
                "Too many wrong break-glass passwords for this name or from this address. Try again in {}.",
                describe_wait(wait)
            ),
            wait,
        ));
    }
    let user_name = form.username.clone();
    let candidate = state
        .db
        .run(move |conn| break_glass::candidate(conn, &user_name))
        .await?;
    let account = candidate.as_ref().map(|c| c.user.clone());
    let Some(user) = verify_break_glass(state, candidate, form.password).await? else {
        let failure = state.throttle.break_glass_failed(&name_key, &address, now);
        state.metrics.sign_in_refused("break_glass_bad_credentials");
        if let Some(account) = account
            && failure.opened
        {
            record_break_glass_failures(req, state, account, failure, address).await?;
        }
        return Ok(None);
    };
    let earlier = state.throttle.break_glass_succeeded(&name_key, &address);
    let rid = request_id(req);
    let ua = user_agent(req);
    let lifetime = state.sign_in.sessions.max;
    let public_url = state.public_url.clone();
    let secret = state
        .db
        .run(move |conn| {
            let ctx = store::audit::AuditContext {
                actor: crate::domain::audit::Actor {
                    kind: crate::domain::audit::ActorKind::User,
                    id: Some(user.id.0.clone()),
                    name: user.name.clone(),
                },
                request_id: rid,
                at: now,
            };
            let stored_now = crate::clock::stored(now);
            store::write(conn, |tx| {
                let (session, secret) = sessions::open(
                    tx,
                    &user.id,
                    sessions::METHOD_BREAK_GLASS,
                    ua.as_deref(),
                    stored_now,
                    lifetime,
                )?;
                break_glass::record_use(tx, &user.id, stored_now)?;
                let details = serde_json::json!({
                    "method": session.method,
                    "session_id": session.id,
                    "address": address,
                    "failed_attempts_before": earlier.map(|b| b.failures),
                });
                store::audit::record(
                    tx,
                    &ctx,
                    "sign_in",
                    user.audit_target(),
                    None::<&()>,
                    Some(&details),
                )?;
                let (subject, body) = break_glass_alert(
                    &user.name,
                    &user.user_name,
                    now,
                    Some(&address),
                    ua.as_deref(),
                    &public_url,
                );
                alert_owners(tx, subject, body, "break_glass_sign_in", now)?;
                Ok(secret)
            })
        })
        .await?;
    state.email_delivery.poke();
    Ok(Some(secret))
}

/// The first wrong password of a burst for a break-glass account: one audit record and one
/// e-mail to the owners, carrying how many came in the burst before.
async fn record_break_glass_failures(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    account: crate::store::users::User,
    failure: crate::domain::attempts::Failure,
    address: String,
) -> AppResult<()> {
    let rid = request_id(req);
    let public_url = state.public_url.clone();
    let now = failure.burst.started;
    state
        .db
        .run(move |conn| {
            let ctx = store::audit::AuditContext {
                actor: crate::domain::audit::Actor {
                    kind: crate::domain::audit::ActorKind::User,
                    id: None,
                    name: "unknown (break-glass form)".into(),
                },
                request_id: rid,
                at: now,
            };
            let previous = failure
                .previous
                .as_ref()
                .map(|b| (b.failures, b.started, b.last));
            let details = serde_json::json!({
                "reason": "bad_credentials",
                "method": "break_glass",
                "address": address,
                "burst": "further wrong passwords less than 15 minutes apart are counted, not recorded one by one",
                "previous_burst": previous.map(|(n, from, to)| serde_json::json!({"attempts": n, "from": from, "to": to})),
            });
            store::write(conn, |tx| {
                store::audit::record(
                    tx,
                    &ctx,
                    "sign_in_refused",
                    account.audit_target(),
                    None::<&()>,
                    Some(&details),
                )?;
                let (subject, body) = break_glass_failures_alert(
                    &account.name,
                    &account.user_name,
                    now,
                    Some(&address),
                    previous,
                    &public_url,
                );
                alert_owners(tx, subject, body, "break_glass_failures", now)?;
                Ok(())
            })
        })
        .await?;
    state.email_delivery.poke();
    Ok(())
}

/// Queues one e-mail to every owner who has an address.
fn alert_owners(
    tx: &mut store::DbConnection,
    subject: String,
    body: String,
    reason: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let alerts: Vec<NewEmail> = break_glass::owners(tx)?
        .into_iter()
        .filter_map(|owner| owner.email)
        .map(|to| NewEmail {
            to,
            subject: subject.clone(),
            body: body.clone(),
            reason,
            list_unsubscribe: None,
        })
        .collect();
    emails::enqueue(tx, &alerts, now)?;
    Ok(())
}
