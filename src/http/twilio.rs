//! Twilio's callbacks about the calls Rota places (`notify::voice`): the digit gathered
//! (`/twilio/voice/{notification}/gather`, answered with TwiML) and the call's end
//! (`/twilio/voice/{notification}/status`). No sign-in: each request must carry Twilio's
//! signature (`X-Twilio-Signature`) over our public URL and its parameters, keyed by the
//! Auth Token; anything else is a 403 and changes nothing.

use super::AppState;
use crate::domain::notification::{KeyOutcome, key_reply};
use crate::notify::voice;
use crate::use_cases::calls;
use actix_web::{HttpRequest, HttpResponse, web};

/// Twilio's callbacks are a few hundred bytes of form parameters.
const MAX_CALLBACK_BYTES: usize = 16 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/twilio/voice/{notification}/gather")
            .app_data(web::PayloadConfig::new(MAX_CALLBACK_BYTES))
            .route(web::post().to(gather)),
    )
    .service(
        web::resource("/twilio/voice/{notification}/status")
            .app_data(web::PayloadConfig::new(MAX_CALLBACK_BYTES))
            .route(web::post().to(status)),
    );
}

/// Why a callback is not taken.
enum Refused {
    /// No Twilio account is configured here.
    NotConfigured,
    Forged,
}

impl Refused {
    fn answer(self) -> HttpResponse {
        match self {
            Refused::NotConfigured => {
                HttpResponse::NotFound().body("Phone calls are not configured.\n")
            }
            Refused::Forged => HttpResponse::Forbidden()
                .body("The X-Twilio-Signature header does not match this request.\n"),
        }
    }
}

/// The callback's `CallSid` and its parameter `name`, if Twilio signed it.
fn signed(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    name: &str,
) -> Result<(String, String), Refused> {
    let Some(voice) = &state.voice else {
        return Err(Refused::NotConfigured);
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    // Twilio signs the URL it was given: ours, as people and Twilio reach us.
    let path = req
        .uri()
        .path_and_query()
        .map_or(req.path(), |p| p.as_str());
    let url = format!("{}{path}", state.public_url);
    let header = req
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !voice::verify(voice.auth_token(), &url, &params, header) {
        tracing::warn!(
            path = req.path(),
            "refused a Twilio callback without a valid signature"
        );
        return Err(Refused::Forged);
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    Ok((param("CallSid"), param(name)))
}

fn twiml(xml: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(xml)
}

/// A key pressed on a call (Twilio's `<Gather>` action)
///
/// Twilio posts `CallSid` and `Digits` (form-encoded), signed with `X-Twilio-Signature`. 4
/// acknowledges and 6 resolves every incident the call named, as the person called; the
/// answer is TwiML saying what was done (another key is asked again).
#[utoipa::path(post, path = "/twilio/voice/{notification}/gather", tag = "Twilio callbacks",
    params(("notification" = String, Path, description = "The notification the call was placed for"),
        ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 of the URL and sorted parameters, keyed by the Auth Token")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's voice request parameters: CallSid, AccountSid, From, To, Digits, CallStatus…"),
    responses((status = 200, description = "TwiML", content_type = "text/xml"), (status = 403, description = "Not signed by Twilio, or about another call"), (status = 404, description = "No such notification, or calls are not configured")))]
pub async fn gather(
    state: web::Data<AppState>,
    req: HttpRequest,
    notification: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (call, digits) = match signed(&state, &req, &body, "Digits") {
        Ok(p) => p,
        Err(refused) => return refused.answer(),
    };
    let at = state.clock.now();
    let id = notification.into_inner();
    let action = format!("{}{}", state.public_url, req.path());
    let pressed = match state
        .db
        .run(move |conn| calls::key_pressed(conn, &id, &call, &digits, at))
        .await
    {
        Ok(p) => p,
        Err(e) => return super::page::app_error_page(e),
    };
    state.metrics.incidents_changed(&pressed.changed, at);
    let lang = pressed.lang;
    let reply = key_reply(lang, pressed.outcome);
    if pressed.outcome == KeyOutcome::Unknown {
        let goodbye = crate::domain::notification::call_text(lang, "", &[]).1;
        return twiml(voice::gather(lang, &reply, &action, &goodbye));
    }
    twiml(voice::say(lang, &reply))
}

/// How a call ended (Twilio's status callback)
///
/// `CallStatus` completed, busy, no-answer, failed or canceled goes on the timeline of each
/// incident the call named.
#[utoipa::path(post, path = "/twilio/voice/{notification}/status", tag = "Twilio callbacks",
    params(("notification" = String, Path, description = "The notification the call was placed for"),
        ("X-Twilio-Signature" = String, Header, description = "base64 HMAC-SHA1 of the URL and sorted parameters, keyed by the Auth Token")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's status callback parameters: CallSid, CallStatus, CallDuration…"),
    responses((status = 204, description = "Recorded"), (status = 403, description = "Not signed by Twilio, or about another call"), (status = 404, description = "No such notification, or calls are not configured")))]
pub async fn status(
    state: web::Data<AppState>,
    req: HttpRequest,
    notification: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let (call, ended) = match signed(&state, &req, &body, "CallStatus") {
        Ok(p) => p,
        Err(refused) => return refused.answer(),
    };
    let at = state.clock.now();
    let id = notification.into_inner();
    match state
        .db
        .run(move |conn| calls::call_ended(conn, &id, &call, &ended, at))
        .await
    {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => super::page::app_error_page(e),
    }
}
