//! A fake of Twilio's Voice API, built from Twilio's documented requests (no real Twilio
//! can run here): `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with HTTP Basic auth
//! (Account SID, Auth Token) and form parameters `To`, `From`, `Twiml`, `StatusCallback`,
//! answered `201` with the call resource (`sid` "CA…", `status` "queued"), or Twilio's error
//! object (`code`, `message`, `more_info`, `status`): 20003 for bad credentials, 21211 for
//! a `To` that is not a valid number. It records each call, and plays back what Twilio does
//! next as Twilio documents it: the `<Gather action>` request with `Digits` and the status
//! callback with `CallStatus`, both form-encoded and signed with `X-Twilio-Signature`
//! (HMAC-SHA1 of the URL and the sorted parameters, keyed by the Auth Token).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "f00dfeedf00dfeedf00dfeedf00dfeed";
pub const FROM: &str = "+14155550100";

/// A call as Twilio received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub twiml: String,
    pub status_callback: String,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    /// Answer this many next requests with 503 (Twilio down).
    unavailable: usize,
}

pub struct TwilioFake {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    server: actix_web::dev::ServerHandle,
    http: reqwest::Client,
}

fn error(status: u16, code: u32, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(
        serde_json::json!({
            "code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status
        }),
    )
}

async fn create_call(
    state: web::Data<Arc<Mutex<State>>>,
    account: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    {
        let mut s = state.lock().unwrap();
        if s.unavailable > 0 {
            s.unavailable -= 1;
            return error(503, 20500, "Service Unavailable");
        }
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if account.as_str() != ACCOUNT_SID || auth != Some(expected.as_str()) {
        return error(401, 20003, "Authenticate");
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let to = get("To");
    let valid = to
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    // +999 is no country's code: Twilio answers such a number with 21211 too.
    if !valid || to.starts_with("+999") {
        return error(
            400,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if get("Twiml").is_empty() || get("From").is_empty() {
        return error(400, 21205, "Url or Twiml parameter is required.");
    }
    let sid = format!("CA{}", uuid::Uuid::now_v7().simple());
    let call = Call {
        sid: sid.clone(),
        to: to.clone(),
        from: get("From"),
        twiml: get("Twiml"),
        status_callback: get("StatusCallback"),
    };
    state.lock().unwrap().calls.push(call);
    HttpResponse::Created().json(serde_json::json!({
        "sid": sid, "account_sid": ACCOUNT_SID, "to": to, "from": get("From"),
        "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json")
    }))
}

impl TwilioFake {
    pub fn start() -> TwilioFake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new().app_data(data.clone()).route(
                "/2010-04-01/Accounts/{account}/Calls.json",
                web::post().to(create_call),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TwilioFake {
            base_url,
            state,
            server: handle,
            http: reqwest::Client::new(),
        }
    }

    /// Rota's configuration for this fake.
    pub fn config(&self) -> rota::config::TwilioConfig {
        rota::config::TwilioConfig {
            account_sid: ACCOUNT_SID.into(),
            auth_token: rota::config::Secret(AUTH_TOKEN.into()),
            from: FROM.into(),
            base_url: self.base_url.clone(),
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The next `n` requests get a 503.
    pub fn go_down(&self, n: usize) {
        self.state.lock().unwrap().unavailable = n;
    }

    /// The parameters Twilio sends with every voice request.
    fn params(call: &Call, more: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = [
            ("AccountSid", ACCOUNT_SID),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", call.sid.as_str()),
            ("Direction", "outbound-api"),
            ("From", call.from.as_str()),
            ("To", call.to.as_str()),
            ("Called", call.to.as_str()),
            ("Caller", call.from.as_str()),
        ]
        .iter()
        .chain(more)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        p.rotate_left(3); // Not sorted: the signature sorts them.
        p
    }

    /// Sends a signed form POST to `url` (`token`: the key it is signed with).
    pub async fn post_signed(
        &self,
        url: &str,
        params: &[(String, String)],
        token: &str,
    ) -> reqwest::Response {
        let signature = rota::notify::voice::signature(token, url, params);
        self.http
            .post(url)
            .header("X-Twilio-Signature", signature)
            .form(params)
            .send()
            .await
            .unwrap()
    }

    /// The person presses `digits`: Twilio posts them to the `<Gather action>` of the
    /// call's TwiML. Returns the status and the TwiML Rota answered.
    pub async fn press(&self, call: &Call, digits: &str) -> (u16, String) {
        let action = gather_action(&call.twiml);
        let params = Self::params(
            call,
            &[
                ("CallStatus", "in-progress"),
                ("Digits", digits),
                ("FinishedOnKey", ""),
            ],
        );
        let res = self.post_signed(&action, &params, AUTH_TOKEN).await;
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// The call ends with `status` (completed, busy, no-answer, failed): Twilio posts to the
    /// status callback.
    pub async fn end(&self, call: &Call, status: &str) -> u16 {
        let params = Self::params(call, &[("CallStatus", status), ("CallDuration", "12")]);
        self.post_signed(&call.status_callback, &params, AUTH_TOKEN)
            .await
            .status()
            .as_u16()
    }

    /// The gather request of `call`, with the parameters as Twilio would send them.
    pub fn gather_request(&self, call: &Call, digits: &str) -> (String, Vec<(String, String)>) {
        (
            gather_action(&call.twiml),
            Self::params(call, &[("CallStatus", "in-progress"), ("Digits", digits)]),
        )
    }
}

/// The `action` of the TwiML's `<Gather>`, read with an XML parser (as Twilio reads it).
pub fn gather_action(twiml: &str) -> String {
    let mut reader = quick_xml::Reader::from_str(twiml);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.name().as_ref() == "Gather" =>
            {
                let a = e
                    .try_get_attribute("action")
                    .unwrap()
                    .expect("Gather has an action");
                return quick_xml::escape::unescape(&a.value).unwrap().into_owned();
            }
            quick_xml::events::Event::Eof => panic!("no <Gather> in {twiml}"),
            _ => {}
        }
    }
}

/// The text the TwiML says (`<Say>` contents, unescaped).
pub fn said(twiml: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(twiml);
    let mut out = Vec::new();
    let mut in_say = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == "Say" => {
                in_say = true;
                out.push(String::new());
            }
            quick_xml::events::Event::End(e) if e.name().as_ref() == "Say" => in_say = false,
            quick_xml::events::Event::Text(t) if in_say => {
                out.last_mut().unwrap().push_str(&t.into_inner())
            }
            // Entities (&amp;, &apos;) come as references of their own.
            quick_xml::events::Event::GeneralRef(r) if in_say => {
                let entity = format!("&{};", r.into_inner());
                out.last_mut()
                    .unwrap()
                    .push_str(&quick_xml::escape::unescape(&entity).unwrap());
            }
            quick_xml::events::Event::Eof => return out,
            _ => {}
        }
    }
}

impl Drop for TwilioFake {
    fn drop(&mut self) {
        let server = self.server.clone();
        actix_web::rt::spawn(async move { server.stop(false).await });
    }
}
