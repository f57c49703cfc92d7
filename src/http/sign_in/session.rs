//! The browser side of sessions: encrypted cookies (AES-256-GCM via the `cookie` crate's
//! private jar; HttpOnly, SameSite=Lax, Secure on https), finding the signed-in person for a
//! request, and the CSRF check that every cookie-authenticated state change passes.

use crate::domain::sign_in::{csrf_token, session_end};
use crate::domain::token::hash_secret;
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::sessions::{self, Session, SessionUser};
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::{HttpRequest, web};
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "rota_session";
/// Binds a login in flight to the browser that started it (holds the state).
pub const LOGIN_COOKIE: &str = "rota_login";
/// The break-glass form's double-submit token.
pub const FORM_COOKIE: &str = "rota_form";
/// Header a script sends the CSRF token in; HTML forms send the field `csrf_token`.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// Record a session's use at most this often, so reads stay reads.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Seals and opens our cookies.
#[derive(Clone)]
pub struct Cookies {
    key: Key,
    secure: bool,
}

impl Cookies {
    pub fn new(key_bytes: &[u8], public_url: &str) -> Cookies {
        Cookies {
            key: Key::from(key_bytes),
            secure: public_url.starts_with("https://"),
        }
    }

    /// An encrypted, HttpOnly cookie for the whole site.
    pub fn seal(
        &self,
        name: &'static str,
        value: String,
        max_age: chrono::Duration,
    ) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        let cookie = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(
                max_age.num_seconds(),
            ))
            .finish();
        jar.private_mut(&self.key).add(cookie);
        jar.delta().next().cloned().expect("the cookie just added")
    }

    /// The decrypted value of our cookie `name`, if present and intact.
    pub fn open(&self, req: &HttpRequest, name: &str) -> Option<String> {
        let raw = req.cookie(name)?;
        let mut jar = CookieJar::new();
        jar.add_original(raw.into_owned());
        jar.private(&self.key)
            .get(name)
            .map(|c| c.value().to_string())
    }

    /// A cookie that makes the browser forget `name`.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = Cookie::build(name, "")
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        c.make_removal();
        c
    }
}

/// The signed-in person behind a request's session cookie.
pub struct Current {
    pub session: Session,
    pub user: SessionUser,
    secret: String,
}

impl Current {
    /// The CSRF token pages embed for this session.
    pub fn csrf(&self) -> String {
        csrf_token(&self.secret)
    }

    /// Refuses a state change unless it carries this session's CSRF token (header or form
    /// field) and, when the browser says where it comes from, comes from our own origin.
    pub fn check_csrf(
        &self,
        req: &HttpRequest,
        form_token: Option<&str>,
        public_url: &str,
    ) -> AppResult<()> {
        check_origin(req, public_url)?;
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .or(form_token)
            .unwrap_or("");
        if bool::from(sent.as_bytes().ct_eq(self.csrf().as_bytes())) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this change needs the session's CSRF token in the {CSRF_HEADER} header (or the csrf_token form field); reload the page and try again"
            )))
        }
    }
}

/// Browsers send `Origin` on cross-site POSTs; one that is not ours is refused outright.
pub fn check_origin(req: &HttpRequest, public_url: &str) -> AppResult<()> {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return Ok(());
    };
    let ours = url::Url::parse(public_url).map(|u| u.origin().ascii_serialization());
    let theirs = origin.to_str().unwrap_or("");
    if ours.as_deref() == Ok(theirs) {
        Ok(())
    } else {
        Err(AppError::forbidden(format!(
            "requests from {theirs} may not change anything here"
        )))
    }
}

/// The live session of this request, if any: the cookie decrypts, the session exists, is not
/// revoked, idle or expired, and its user is active. Anything else is "not signed in".
pub async fn current(req: &HttpRequest) -> AppResult<Option<Current>> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal("application state missing"))?;
    let Some(secret) = state.sign_in.cookies.open(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let limits = state.sign_in.sessions;
    let hash = hash_secret(&secret);
    state
        .db
        .run(move |conn| {
            let Some((session, user)) = sessions::find_by_hash(conn, &hash)? else {
                return Ok(None);
            };
            let utc = |t: chrono::NaiveDateTime| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc);
            let ended = session_end(
                utc(session.last_seen_at),
                utc(session.expires_at),
                session.revoked_at.is_some(),
                limits.idle,
                now,
            );
            if ended.is_some() || !user.active || user.deleted_at.is_some() {
                return Ok(None);
            }
            if (now - utc(session.last_seen_at)).num_seconds() >= TOUCH_INTERVAL_SECS
                && let Err(e) = crate::store::write(conn, |c| {
                    sessions::touch(c, &session.id, crate::clock::stored(now))
                })
            {
                // Best effort: a busy database must not fail the request over a timestamp.
                tracing::warn!(error = %e, "could not record session use");
            }
            Ok(Some(Current {
                session,
                user,
                secret,
            }))
        })
        .await
}
