//! Fakes of the two chat receivers, since no real Teams or Slack can be reached from a test:
//! each records every POST and checks it against the receiver's documented request format.
//!
//! - `ChatFake::teams()`: a Workflows "post to a channel when a webhook request is received"
//!   URL. It answers `202 Accepted` to any JSON, as Workflows does (a bad card only fails the
//!   flow later, and the sender is never told), so a test must look at `problems`: the
//!   envelope (`type: message`, one attachment of `application/vnd.microsoft.card.adaptive`,
//!   `contentUrl` null, at most 28 KB) and the card against
//!   `tests/fixtures/adaptive-card-teams.schema.json`.
//! - `ChatFake::slack()`: an incoming webhook. It answers `200 ok` (text/plain) to a valid
//!   message and, like Slack, `400 invalid_payload` (not JSON), `400 no_text` (neither text
//!   nor blocks) or `400 invalid_blocks` (a block breaks Block Kit's rules: known types and
//!   fields, text object types, the length and count limits, unique `action_id`s and
//!   `block_id`s, http(s) button URLs).
//! - `fail_next(n, status)`: the next `n` posts get `status` instead (429s carry
//!   `Retry-After: 1`), for retry tests; they are recorded all the same.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;
use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};

/// One POST the fake got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The body as JSON (`Value::Null` if it was not JSON).
    pub body: Value,
    /// What is wrong with it; empty: the receiver would show it.
    pub problems: Vec<String>,
    /// The status the fake answered.
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Teams,
    Slack,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Posts still to fail, and with which status.
    failures: usize,
    failure_status: u16,
}

type Shared = Arc<Mutex<State>>;

pub struct ChatFake {
    url: String,
    state: Shared,
    server: actix_web::dev::ServerHandle,
}

/// Teams refuses webhook messages past about 28 KB.
pub const TEAMS_MAX_BYTES: usize = 28 * 1024;

async fn receive(
    kind: web::Data<Kind>,
    state: web::Data<Shared>,
    body: web::Bytes,
) -> HttpResponse {
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let problems = match (&parsed, **kind) {
        (None, _) => vec!["the body is not JSON".to_string()],
        (Some(v), Kind::Teams) => {
            let mut p = teams_problems(v);
            if body.len() > TEAMS_MAX_BYTES {
                p.push(format!("{} bytes: past Teams' 28 KB", body.len()));
            }
            p
        }
        (Some(v), Kind::Slack) => slack_problems(v),
    };
    let mut state = state.lock().unwrap();
    let (status, answer) = if state.failures > 0 {
        state.failures -= 1;
        (state.failure_status, "injected failure".to_string())
    } else {
        match **kind {
            Kind::Teams if parsed.is_none() => (400, "the body is not JSON".into()),
            Kind::Teams => (202, String::new()),
            Kind::Slack if parsed.is_none() => (400, "invalid_payload".into()),
            Kind::Slack if problems.iter().any(|p| p.starts_with("no_text")) => {
                (400, "no_text".into())
            }
            Kind::Slack if !problems.is_empty() => (400, "invalid_blocks".into()),
            Kind::Slack => (200, "ok".into()),
        }
    };
    state.received.push(Received {
        body: parsed.unwrap_or(Value::Null),
        problems,
        status,
    });
    let mut response = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    if status == 429 {
        response.insert_header(("Retry-After", "1"));
    }
    response
        .content_type("text/plain; charset=utf-8")
        .body(answer)
}

impl ChatFake {
    pub fn teams() -> ChatFake {
        ChatFake::start(Kind::Teams)
    }

    pub fn slack() -> ChatFake {
        ChatFake::start(Kind::Slack)
    }

    fn start(kind: Kind) -> ChatFake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let path = match kind {
            Kind::Teams => "/workflows/triggers/manual/run",
            Kind::Slack => "/services/T000/B000/XXXX",
        };
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let state: Shared = Arc::default();
        let shared = web::Data::new(state.clone());
        let kind = web::Data::new(kind);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(kind.clone())
                // Any body size: the checks say what is too big.
                .app_data(web::PayloadConfig::new(1 << 20))
                .route(path, web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        ChatFake {
            url,
            state,
            server: handle,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// The next `n` posts are answered `status` (500, 429…).
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut state = self.state.lock().unwrap();
        state.failures = n;
        state.failure_status = status;
    }
}

impl Drop for ChatFake {
    fn drop(&mut self) {
        let server = self.server.clone();
        actix_web::rt::spawn(async move { server.stop(false).await });
    }
}

fn card_schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(include_str!("../fixtures/adaptive-card-teams.schema.json"))
                .unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    })
}

/// What a Teams Workflows webhook would not show of this message.
pub fn teams_problems(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if body["type"] != "message" {
        problems.push(format!("type is {}, not \"message\"", body["type"]));
    }
    let Some(attachments) = body["attachments"].as_array() else {
        problems.push("no attachments array".into());
        return problems;
    };
    if attachments.len() != 1 {
        problems.push(format!(
            "{} attachments: the Workflows template posts one card",
            attachments.len()
        ));
    }
    for (i, a) in attachments.iter().enumerate() {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            problems.push(format!(
                "attachments[{i}].contentType is {}",
                a["contentType"]
            ));
        }
        if !a["contentUrl"].is_null() {
            problems.push(format!("attachments[{i}].contentUrl is not null"));
        }
        if let Some(extra) = a.as_object().and_then(|o| {
            o.keys()
                .find(|k| !["contentType", "contentUrl", "content"].contains(&k.as_str()))
        }) {
            problems.push(format!("attachments[{i}] has an unknown field {extra}"));
        }
        for e in card_schema().iter_errors(&a["content"]) {
            problems.push(format!(
                "attachments[{i}].content{}: {e}",
                e.instance_path()
            ));
        }
    }
    problems
}

/// Block Kit's limits, as Slack's block and element reference gives them.
mod limits {
    pub const BLOCKS: usize = 50;
    pub const HEADER_TEXT: usize = 150;
    pub const SECTION_TEXT: usize = 3_000;
    pub const FIELDS: usize = 10;
    pub const FIELD_TEXT: usize = 2_000;
    pub const CONTEXT_ELEMENTS: usize = 10;
    pub const ACTION_ELEMENTS: usize = 25;
    pub const BUTTON_TEXT: usize = 75;
    pub const BUTTON_URL: usize = 3_000;
    pub const BUTTON_VALUE: usize = 2_000;
    pub const ID: usize = 255;
}

/// What a Slack incoming webhook would refuse in this message. A problem that starts with
/// `no_text` is Slack's `no_text`; any other is `invalid_blocks`.
pub fn slack_problems(body: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(message) = body.as_object() else {
        return vec!["the body is not an object".into()];
    };
    let text = message.get("text").and_then(Value::as_str).unwrap_or("");
    let blocks = match message.get("blocks") {
        None => &Vec::new(),
        Some(Value::Array(blocks)) => blocks,
        Some(_) => return vec!["blocks is not an array".into()],
    };
    if text.trim().is_empty() && blocks.is_empty() {
        p.push("no_text: neither text nor blocks".into());
    }
    if message.get("text").is_some_and(|t| !t.is_string()) {
        p.push("text is not a string".into());
    }
    if blocks.len() > limits::BLOCKS {
        p.push(format!(
            "{} blocks: at most {}",
            blocks.len(),
            limits::BLOCKS
        ));
    }
    let mut action_ids = HashSet::new();
    let mut block_ids = HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let at = format!("blocks[{i}]");
        let Some(b) = block.as_object() else {
            p.push(format!("{at} is not an object"));
            continue;
        };
        if let Some(id) = b.get("block_id") {
            match id.as_str() {
                Some(id) if id.chars().count() <= limits::ID && !id.is_empty() => {
                    if !block_ids.insert(id.to_string()) {
                        p.push(format!("{at}.block_id {id} is not unique"));
                    }
                }
                _ => p.push(format!(
                    "{at}.block_id is not a string of 1 to 255 characters"
                )),
            }
        }
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        let allowed: &[&str] = match kind {
            "header" => &["type", "block_id", "text"],
            "section" => &["type", "block_id", "text", "fields", "accessory", "expand"],
            "actions" => &["type", "block_id", "elements"],
            "context" => &["type", "block_id", "elements"],
            "divider" => &["type", "block_id"],
            other => {
                p.push(format!(
                    "{at}.type {other:?} is not a block Rota's messages may use"
                ));
                continue;
            }
        };
        for key in b.keys().filter(|k| !allowed.contains(&k.as_str())) {
            p.push(format!("{at}: {kind} blocks have no field {key}"));
        }
        match kind {
            "header" => match b.get("text") {
                Some(t) => text_object(
                    t,
                    &format!("{at}.text"),
                    Some("plain_text"),
                    limits::HEADER_TEXT,
                    &mut p,
                ),
                None => p.push(format!("{at}.text is required")),
            },
            "section" => {
                let text = b.get("text");
                let fields = b.get("fields");
                if text.is_none() && fields.is_none() {
                    p.push(format!("{at} needs text or fields"));
                }
                if let Some(t) = text {
                    text_object(t, &format!("{at}.text"), None, limits::SECTION_TEXT, &mut p);
                }
                if let Some(fields) = fields {
                    match fields.as_array() {
                        Some(fields) if !fields.is_empty() && fields.len() <= limits::FIELDS => {
                            for (j, f) in fields.iter().enumerate() {
                                text_object(
                                    f,
                                    &format!("{at}.fields[{j}]"),
                                    None,
                                    limits::FIELD_TEXT,
                                    &mut p,
                                );
                            }
                        }
                        _ => p.push(format!(
                            "{at}.fields must hold 1 to {} text objects",
                            limits::FIELDS
                        )),
                    }
                }
                if let Some(accessory) = b.get("accessory") {
                    button(
                        accessory,
                        &format!("{at}.accessory"),
                        &mut action_ids,
                        &mut p,
                    );
                }
            }
            "actions" => match b.get("elements").and_then(Value::as_array) {
                Some(elements)
                    if !elements.is_empty() && elements.len() <= limits::ACTION_ELEMENTS =>
                {
                    for (j, e) in elements.iter().enumerate() {
                        button(e, &format!("{at}.elements[{j}]"), &mut action_ids, &mut p);
                    }
                }
                _ => p.push(format!(
                    "{at}.elements must hold 1 to {} elements",
                    limits::ACTION_ELEMENTS
                )),
            },
            "context" => match b.get("elements").and_then(Value::as_array) {
                Some(elements)
                    if !elements.is_empty() && elements.len() <= limits::CONTEXT_ELEMENTS =>
                {
                    for (j, e) in elements.iter().enumerate() {
                        // Each element's text is limited only by the message; a section's
                        // limit is a fair bound.
                        text_object(
                            e,
                            &format!("{at}.elements[{j}]"),
                            None,
                            limits::SECTION_TEXT,
                            &mut p,
                        );
                    }
                }
                _ => p.push(format!(
                    "{at}.elements must hold 1 to {} elements",
                    limits::CONTEXT_ELEMENTS
                )),
            },
            _ => {}
        }
    }
    p
}

/// A text object: `plain_text` (with `emoji`) or `mrkdwn` (with `verbatim`), 1 to `max`
/// characters; `only` names the one type the place allows.
fn text_object(t: &Value, at: &str, only: Option<&str>, max: usize, p: &mut Vec<String>) {
    let Some(o) = t.as_object() else {
        p.push(format!("{at} is not a text object"));
        return;
    };
    let kind = o.get("type").and_then(Value::as_str).unwrap_or("");
    let extra: &[&str] = match kind {
        "plain_text" => &["emoji"],
        "mrkdwn" => &["verbatim"],
        other => {
            p.push(format!(
                "{at}.type {other:?} is neither plain_text nor mrkdwn"
            ));
            return;
        }
    };
    if only.is_some_and(|only| only != kind) {
        p.push(format!("{at} must be {}", only.unwrap()));
    }
    for key in o
        .keys()
        .filter(|k| !["type", "text"].contains(&k.as_str()) && !extra.contains(&k.as_str()))
    {
        p.push(format!("{at}: a {kind} text object has no field {key}"));
    }
    match o.get("text").and_then(Value::as_str) {
        Some(text) if !text.is_empty() && text.chars().count() <= max => {
            // Slack parses `<…>` as links and mentions: Rota never sends them in text.
            if text.contains(['<', '>']) {
                p.push(format!("{at}.text holds an unescaped < or >"));
            }
        }
        Some(text) => p.push(format!(
            "{at}.text has {} characters: 1 to {max} are allowed",
            text.chars().count()
        )),
        None => p.push(format!("{at}.text is required")),
    }
}

/// A button element with a link.
fn button(e: &Value, at: &str, action_ids: &mut HashSet<String>, p: &mut Vec<String>) {
    let Some(o) = e.as_object() else {
        p.push(format!("{at} is not an object"));
        return;
    };
    if o.get("type").and_then(Value::as_str) != Some("button") {
        p.push(format!("{at}.type is not button"));
        return;
    }
    for key in o.keys().filter(|k| {
        ![
            "type",
            "text",
            "action_id",
            "url",
            "value",
            "style",
            "confirm",
            "accessibility_label",
        ]
        .contains(&k.as_str())
    }) {
        p.push(format!("{at}: a button has no field {key}"));
    }
    match o.get("text") {
        Some(t) => text_object(
            t,
            &format!("{at}.text"),
            Some("plain_text"),
            limits::BUTTON_TEXT,
            p,
        ),
        None => p.push(format!("{at}.text is required")),
    }
    match o.get("action_id").and_then(Value::as_str) {
        Some(id) if id.is_empty() || id.chars().count() > limits::ID => {
            p.push(format!("{at}.action_id must be 1 to 255 characters"))
        }
        Some(id) if !action_ids.insert(id.to_string()) => {
            p.push(format!("{at}.action_id {id} is not unique in the message"))
        }
        _ => {}
    }
    if let Some(url) = o.get("url") {
        match url.as_str() {
            Some(u)
                if u.chars().count() <= limits::BUTTON_URL
                    && url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) => {
            }
            _ => p.push(format!(
                "{at}.url must be an http(s) URL of at most {} characters",
                limits::BUTTON_URL
            )),
        }
    }
    if let Some(value) = o.get("value")
        && value
            .as_str()
            .is_none_or(|v| v.chars().count() > limits::BUTTON_VALUE)
    {
        p.push(format!(
            "{at}.value must be a string of at most {}",
            limits::BUTTON_VALUE
        ));
    }
    if let Some(style) = o.get("style")
        && style != "primary"
        && style != "danger"
    {
        p.push(format!("{at}.style {style} is neither primary nor danger"));
    }
}
