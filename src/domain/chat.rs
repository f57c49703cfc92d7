//! Chat messages about incidents: a Microsoft Teams channel through a Workflows incoming
//! webhook (an Adaptive Card), and a Slack channel through an incoming webhook (Block Kit).
//! Each says that an incident triggered, escalated, was acknowledged or resolved, or carries
//! its `/summary` text on demand, with buttons to the signed acknowledge and resolve links
//! while those actions are still open. Pure: `notify/` posts what these build, and retries.
//!
//! Text from people and monitoring tools never becomes markup:
//! - Teams: it goes in `TextRun`s (a `RichTextBlock`'s inlines), which Adaptive Cards show as
//!   written ("Markdown is not supported"); `TextBlock`, which reads Markdown, only holds the
//!   catalogue's own words.
//! - Slack: `&`, `<` and `>` are written as `&amp;`, `&lt;`, `&gt;`, as Slack's "Formatting
//!   text" asks, so no link, mention or `<!channel>` can be made; every text is cut to the
//!   Block Kit limit of its place, counted after escaping.

use crate::domain::incident::Status;
use crate::domain::postmortem::format_at;
use crate::domain::service::Urgency;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

/// Where a service's or team's incidents are posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    Teams,
    Slack,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Teams => "teams",
            ChatKind::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Option<ChatKind> {
        match s {
            "teams" => Some(ChatKind::Teams),
            "slack" => Some(ChatKind::Slack),
            _ => None,
        }
    }
}

crate::domain::shown_by_name!(ChatKind);

/// What a message tells; stored as JSON in the chat outbox (`store::chat`), where a summary's
/// lines are left empty and read when the message is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    Triggered,
    /// Reached this escalation level (1 is the first).
    Escalated {
        level: u32,
    },
    Acknowledged {
        by: String,
    },
    Resolved {
        by: String,
    },
    /// The incident's `/summary` text, a line each, posted on demand.
    Summary {
        lines: Vec<String>,
    },
}

/// The incident as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardFacts {
    pub number: i64,
    pub title: String,
    pub service: String,
    pub urgency: Urgency,
    /// Its status now (after the event).
    pub status: Status,
    pub incident_url: String,
    /// The acknowledge and resolve pages (the visitor signs in and acts as themselves);
    /// `None`: not offered in this message (the button is left out).
    pub acknowledge_url: Option<String>,
    pub resolve_url: Option<String>,
    /// When the event happened (UTC).
    pub at: NaiveDateTime,
}

/// Summary lines a message carries at most; past them it says how many more there are.
pub const MAX_SUMMARY_LINES: usize = 40;

/// The buttons a message has: (acknowledge, resolve) links, each only while the incident can
/// still take that action and the link was made.
fn open_actions<'a>(event: &ChatEvent, f: &'a CardFacts) -> (Option<&'a str>, Option<&'a str>) {
    if matches!(event, ChatEvent::Resolved { .. }) || f.status == Status::Resolved {
        return (None, None);
    }
    let acknowledge = f
        .acknowledge_url
        .as_deref()
        .filter(|_| f.status == Status::Triggered);
    (acknowledge, f.resolve_url.as_deref())
}

/// The first line of a message: what happened.
fn headline(event: &ChatEvent, f: &CardFacts, lang: &str) -> String {
    let number = f.number.to_string();
    match event {
        ChatEvent::Triggered => rust_i18n::t!("chat.triggered", locale = lang, number = number),
        ChatEvent::Escalated { level } => rust_i18n::t!(
            "chat.escalated",
            locale = lang,
            number = number,
            level = level
        ),
        ChatEvent::Acknowledged { by } => rust_i18n::t!(
            "chat.acknowledged",
            locale = lang,
            number = number,
            name = by
        ),
        ChatEvent::Resolved { by } => {
            rust_i18n::t!("chat.resolved", locale = lang, number = number, name = by)
        }
        ChatEvent::Summary { .. } => rust_i18n::t!("chat.summary", locale = lang, number = number),
    }
    .into_owned()
}

fn fallback(event: &ChatEvent, f: &CardFacts, lang: &str) -> String {
    rust_i18n::t!(
        "chat.fallback",
        locale = lang,
        headline = headline(event, f, lang),
        title = f.title,
        service = f.service
    )
    .into_owned()
}

/// (label, value) of the facts every message shows.
fn facts(f: &CardFacts, lang: &str) -> Vec<(String, String)> {
    let t = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
    let urgency = match f.urgency {
        Urgency::High => t("chat.urgency.high"),
        Urgency::Low => t("chat.urgency.low"),
    };
    let status = t(&format!("chat.status.{}", f.status.as_str()));
    vec![
        (t("chat.field.service"), f.service.clone()),
        (t("chat.field.urgency"), urgency),
        (t("chat.field.status"), status),
        (t("chat.field.at"), format_at(f.at)),
    ]
}

/// A summary's lines as posted: at most `MAX_SUMMARY_LINES`, then a line counting the rest.
fn summary_lines<'a>(lines: &'a [String], lang: &str) -> Vec<std::borrow::Cow<'a, str>> {
    let mut out: Vec<std::borrow::Cow<'a, str>> = lines
        .iter()
        .take(MAX_SUMMARY_LINES)
        .map(|l| l.as_str().into())
        .collect();
    if lines.len() > MAX_SUMMARY_LINES {
        out.push(
            rust_i18n::t!(
                "chat.summary.more",
                locale = lang,
                count = lines.len() - MAX_SUMMARY_LINES
            )
            .into_owned()
            .into(),
        );
    }
    out
}

/// `text` cut to at most `max` characters, an ellipsis saying it was cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------
// Microsoft Teams: a Workflows webhook's message with one Adaptive Card.

/// The body a Teams Workflows incoming webhook takes: a message with one Adaptive Card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamsMessage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attachments: Vec<TeamsAttachment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsAttachment {
    pub content_type: &'static str,
    /// Always null: the card is inline (Workflows' "Post card" template reads `content`).
    pub content_url: Option<String>,
    pub content: AdaptiveCard,
}

/// Adaptive Card schema version: 1.4 is what Teams renders in every client and what the
/// Workflows "post a card" action accepts.
pub const CARD_VERSION: &str = "1.4";
pub const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The longest text of one run: Teams refuses messages past about 28 KB in all.
pub const MAX_RUN_CHARS: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdaptiveCard {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub version: &'static str,
    /// The card's language (ISO 639-1), for dates and speech.
    pub lang: String,
    /// Shown by a client that cannot render the card.
    pub fallback_text: String,
    pub body: Vec<CardElement>,
    pub actions: Vec<CardAction>,
}

/// A body element. Text from outside only ever goes in `RichTextBlock`s.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum CardElement {
    TextBlock(TextBlock),
    RichTextBlock(RichTextBlock),
}

/// The catalogue's words only: a `TextBlock` reads Markdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextBlock {
    pub text: String,
    pub wrap: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<FontSize>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_subtle: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RichTextBlock {
    pub inlines: Vec<Inline>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Inline {
    TextRun(TextRun),
}

/// Text shown as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextRun {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<FontSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<FontWeight>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FontSize {
    Small,
    Medium,
    Large,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FontWeight {
    Bolder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Color {
    Accent,
    Good,
    Warning,
    Attention,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum CardAction {
    #[serde(rename = "Action.OpenUrl")]
    OpenUrl(OpenUrl),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenUrl {
    pub title: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<ActionStyle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionStyle {
    Positive,
    Destructive,
}

fn run(text: &str) -> TextRun {
    TextRun {
        text: cut(text, MAX_RUN_CHARS),
        size: None,
        weight: None,
        color: None,
    }
}

fn rich(inlines: Vec<TextRun>) -> CardElement {
    CardElement::RichTextBlock(RichTextBlock {
        inlines: inlines.into_iter().map(Inline::TextRun).collect(),
    })
}

/// The Teams message for `event`, in `lang`.
pub fn teams_message(event: &ChatEvent, f: &CardFacts, lang: &str) -> TeamsMessage {
    let t = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
    let color = match event {
        ChatEvent::Triggered => Color::Attention,
        ChatEvent::Escalated { .. } => Color::Warning,
        ChatEvent::Acknowledged { .. } => Color::Accent,
        ChatEvent::Resolved { .. } => Color::Good,
        ChatEvent::Summary { .. } => Color::Accent,
    };
    let mut body = vec![
        rich(vec![TextRun {
            size: Some(FontSize::Large),
            weight: Some(FontWeight::Bolder),
            color: Some(color),
            ..run(&headline(event, f, lang))
        }]),
        rich(vec![TextRun {
            size: Some(FontSize::Medium),
            weight: Some(FontWeight::Bolder),
            ..run(&f.title)
        }]),
    ];
    for (label, value) in facts(f, lang) {
        body.push(rich(vec![
            TextRun {
                weight: Some(FontWeight::Bolder),
                ..run(&format!("{label}: "))
            },
            run(&value),
        ]));
    }
    if let ChatEvent::Summary { lines } = event {
        for line in summary_lines(lines, lang) {
            body.push(rich(vec![run(&line)]));
        }
    }
    let (acknowledge, resolve) = open_actions(event, f);
    let mut actions = Vec::new();
    if let Some(url) = acknowledge {
        actions.push(CardAction::OpenUrl(OpenUrl {
            title: t("chat.action.acknowledge"),
            url: url.to_string(),
            style: Some(ActionStyle::Positive),
        }));
    }
    if let Some(url) = resolve {
        actions.push(CardAction::OpenUrl(OpenUrl {
            title: t("chat.action.resolve"),
            url: url.to_string(),
            style: None,
        }));
    }
    if !actions.is_empty() {
        body.push(CardElement::TextBlock(TextBlock {
            text: t("chat.links_note"),
            wrap: true,
            size: Some(FontSize::Small),
            is_subtle: true,
        }));
    }
    actions.push(CardAction::OpenUrl(OpenUrl {
        title: t("chat.action.open"),
        url: f.incident_url.clone(),
        style: None,
    }));
    TeamsMessage {
        kind: "message",
        attachments: vec![TeamsAttachment {
            content_type: CARD_CONTENT_TYPE,
            content_url: None,
            content: AdaptiveCard {
                schema: CARD_SCHEMA,
                kind: "AdaptiveCard",
                version: CARD_VERSION,
                lang: lang.to_string(),
                fallback_text: cut(&fallback(event, f, lang), MAX_RUN_CHARS),
                body,
                actions,
            },
        }],
    }
}

// ---------------------------------------------------------------------------------------
// Slack: an incoming webhook's message with Block Kit blocks.

/// Block Kit's limits (Slack's block and element reference), in characters.
pub mod slack_limits {
    pub const BLOCKS: usize = 50;
    pub const HEADER_TEXT: usize = 150;
    pub const SECTION_TEXT: usize = 3_000;
    pub const FIELDS: usize = 10;
    pub const FIELD_TEXT: usize = 2_000;
    pub const CONTEXT_ELEMENTS: usize = 10;
    pub const ACTION_ELEMENTS: usize = 25;
    pub const BUTTON_TEXT: usize = 75;
    pub const BUTTON_URL: usize = 3_000;
    pub const ACTION_ID: usize = 255;
    /// The top-level `text` (the notification and fallback); Slack cuts at 40,000, we
    /// keep it to a section's worth.
    pub const MESSAGE_TEXT: usize = 3_000;
}

/// The body a Slack incoming webhook takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    /// What notifications and clients without blocks show.
    pub text: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: SlackText,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<SlackText>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<SlackText>,
    },
    Actions {
        elements: Vec<Button>,
    },
    Context {
        elements: Vec<SlackText>,
    },
}

/// A text object. Both kinds are escaped (`slack_escape`): Slack parses `&`, `<`, `>` in
/// each.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SlackText {
    PlainText { text: String },
    Mrkdwn { text: String },
}

/// A link button (`"type": "button"` with a `url`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Button {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: SlackText,
    pub url: String,
    /// Unique in the message.
    pub action_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<ButtonStyle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    Primary,
    Danger,
}

/// `text` with Slack's three control characters written as entities.
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text, usize::MAX);
    out
}

/// Appends `text` escaped, stopping before the escaped text would pass `max` characters;
/// returns whether all of it fit.
fn push_escaped(out: &mut String, text: &str, max: usize) -> bool {
    let mut len = out.chars().count();
    for c in text.chars() {
        let piece = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            _ => {
                if len + 1 > max {
                    return false;
                }
                out.push(c);
                len += 1;
                continue;
            }
        };
        if len + piece.len() > max {
            return false;
        }
        out.push_str(piece);
        len += piece.len();
    }
    true
}

/// `text` escaped and cut to `max` characters (escaped), an ellipsis saying it was cut.
/// An entity is never split.
fn slack_fit(text: &str, max: usize) -> String {
    let mut out = String::new();
    if push_escaped(&mut out, text, max) {
        return out;
    }
    out.clear();
    push_escaped(&mut out, text, max.saturating_sub(1));
    out.push('…');
    out
}

fn plain(text: &str, max: usize) -> SlackText {
    SlackText::PlainText {
        text: slack_fit(text, max),
    }
}

/// The Slack message for `event`, in `lang`.
pub fn slack_message(event: &ChatEvent, f: &CardFacts, lang: &str) -> SlackMessage {
    use slack_limits as max;
    let t = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
    let mut blocks = vec![
        Block::Header {
            text: plain(&headline(event, f, lang), max::HEADER_TEXT),
        },
        Block::Section {
            text: Some(plain(&f.title, max::SECTION_TEXT)),
            fields: facts(f, lang)
                .into_iter()
                .map(|(label, value)| {
                    // The label is ours (bold); the value escaped, so it stays text.
                    let label = slack_fit(&label, 100);
                    SlackText::Mrkdwn {
                        text: format!(
                            "*{label}*\n{}",
                            slack_fit(&value, max::FIELD_TEXT - label.chars().count() - 3)
                        ),
                    }
                })
                .collect(),
        },
    ];
    if let ChatEvent::Summary { lines } = event {
        // Lines packed into sections of at most a section's text each.
        let mut chunk = String::new();
        let mut chunks = Vec::new();
        for line in summary_lines(lines, lang) {
            let line = slack_fit(&line, max::SECTION_TEXT);
            if !chunk.is_empty()
                && chunk.chars().count() + 1 + line.chars().count() > max::SECTION_TEXT
            {
                chunks.push(std::mem::take(&mut chunk));
            }
            if !chunk.is_empty() {
                chunk.push('\n');
            }
            chunk.push_str(&line);
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        // Room is left for the actions and context blocks.
        for text in chunks.into_iter().take(max::BLOCKS - 4) {
            blocks.push(Block::Section {
                text: Some(SlackText::PlainText { text }),
                fields: Vec::new(),
            });
        }
    }
    let (acknowledge, resolve) = open_actions(event, f);
    // A link longer than a button takes would arrive cut, and broken: it is left out.
    let fits = |url: &&str| url.chars().count() <= max::BUTTON_URL;
    let mut buttons = Vec::new();
    if let Some(url) = acknowledge.filter(fits) {
        buttons.push(Button {
            kind: "button",
            text: plain(&t("chat.action.acknowledge"), max::BUTTON_TEXT),
            url: url.to_string(),
            action_id: "rota_acknowledge",
            style: Some(ButtonStyle::Primary),
        });
    }
    if let Some(url) = resolve.filter(fits) {
        buttons.push(Button {
            kind: "button",
            text: plain(&t("chat.action.resolve"), max::BUTTON_TEXT),
            url: url.to_string(),
            action_id: "rota_resolve",
            style: None,
        });
    }
    let signed_links = !buttons.is_empty();
    if fits(&f.incident_url.as_str()) {
        buttons.push(Button {
            kind: "button",
            text: plain(&t("chat.action.open"), max::BUTTON_TEXT),
            url: f.incident_url.clone(),
            action_id: "rota_open",
            style: None,
        });
    }
    if !buttons.is_empty() {
        blocks.push(Block::Actions { elements: buttons });
    }
    if signed_links {
        blocks.push(Block::Context {
            elements: vec![plain(&t("chat.links_note"), max::SECTION_TEXT)],
        });
    }
    SlackMessage {
        text: slack_fit(&fallback(event, f, lang), max::MESSAGE_TEXT),
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn facts() -> CardFacts {
        CardFacts {
            number: 42,
            title: "Checkout returns 502".into(),
            service: "Checkout".into(),
            urgency: Urgency::High,
            status: Status::Triggered,
            incident_url: "https://rota.example/incidents/inc-1".into(),
            acknowledge_url: Some("https://rota.example/incidents/inc-1/acknowledge".into()),
            resolve_url: Some("https://rota.example/incidents/inc-1/resolve".into()),
            at: NaiveDateTime::parse_from_str("2026-12-07 14:03:00", "%Y-%m-%d %H:%M:%S").unwrap(),
        }
    }

    fn teams(event: &ChatEvent, f: &CardFacts, lang: &str) -> Value {
        serde_json::to_value(teams_message(event, f, lang)).unwrap()
    }

    fn slack(event: &ChatEvent, f: &CardFacts, lang: &str) -> Value {
        serde_json::to_value(slack_message(event, f, lang)).unwrap()
    }

    fn action_titles(card: &Value) -> Vec<String> {
        card["attachments"][0]["content"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["title"].as_str().unwrap().to_string())
            .collect()
    }

    fn button_ids(msg: &Value) -> Vec<String> {
        msg["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().unwrap().clone())
            .map(|e| e["action_id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_teams_trigger_is_a_workflows_message_with_one_adaptive_card() {
        let v = teams(&ChatEvent::Triggered, &facts(), "en");
        assert_eq!(v["type"], "message");
        let a = &v["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["contentUrl"], Value::Null);
        assert_eq!(v["attachments"].as_array().unwrap().len(), 1);
        let card = &a["content"];
        assert_eq!(
            card["$schema"],
            "http://adaptivecards.io/schemas/adaptive-card.json"
        );
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.4");
        assert_eq!(
            card["body"][0],
            json!({"type": "RichTextBlock", "inlines": [{"type": "TextRun",
                "text": "Incident #42 triggered", "size": "large", "weight": "bolder",
                "color": "attention"}]})
        );
        assert_eq!(
            card["body"][1]["inlines"][0]["text"],
            "Checkout returns 502"
        );
        assert_eq!(
            card["body"][2]["inlines"],
            json!([{"type": "TextRun", "text": "Service: ", "weight": "bolder"},
                {"type": "TextRun", "text": "Checkout"}])
        );
        assert_eq!(
            card["body"][5]["inlines"][1]["text"],
            "2026-12-07 14:03 UTC"
        );
        assert_eq!(
            card["actions"],
            json!([
                {"type": "Action.OpenUrl", "title": "Acknowledge",
                 "url": "https://rota.example/incidents/inc-1/acknowledge", "style": "positive"},
                {"type": "Action.OpenUrl", "title": "Resolve",
                 "url": "https://rota.example/incidents/inc-1/resolve"},
                {"type": "Action.OpenUrl", "title": "Open in Rota",
                 "url": "https://rota.example/incidents/inc-1"},
            ])
        );
        assert_eq!(
            card["fallbackText"],
            "Incident #42 triggered: Checkout returns 502 (Checkout)"
        );
    }

    #[test]
    fn buttons_follow_what_the_incident_can_still_do() {
        let mut f = facts();
        let all = ["Acknowledge", "Resolve", "Open in Rota"];
        assert_eq!(action_titles(&teams(&ChatEvent::Triggered, &f, "en")), all);
        assert_eq!(
            button_ids(&slack(&ChatEvent::Escalated { level: 2 }, &f, "en")),
            ["rota_acknowledge", "rota_resolve", "rota_open"]
        );

        f.status = Status::Acknowledged;
        let ack = ChatEvent::Acknowledged { by: "Ann".into() };
        assert_eq!(
            action_titles(&teams(&ack, &f, "en")),
            ["Resolve", "Open in Rota"]
        );
        assert_eq!(
            button_ids(&slack(&ack, &f, "en")),
            ["rota_resolve", "rota_open"]
        );

        f.status = Status::Resolved;
        let res = ChatEvent::Resolved { by: "Bo".into() };
        assert_eq!(action_titles(&teams(&res, &f, "en")), ["Open in Rota"]);
        assert_eq!(button_ids(&slack(&res, &f, "en")), ["rota_open"]);
        // No signed links, no note about them.
        let s = slack(&res, &f, "en");
        assert!(
            s["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["type"] != "context")
        );

        // A link not made is a button not shown.
        let mut f = facts();
        f.acknowledge_url = None;
        assert_eq!(
            action_titles(&teams(&ChatEvent::Triggered, &f, "en")),
            ["Resolve", "Open in Rota"]
        );
    }

    #[test]
    fn a_slack_trigger_has_header_fields_buttons_and_context() {
        let v = slack(&ChatEvent::Triggered, &facts(), "en");
        assert_eq!(
            v["text"],
            "Incident #42 triggered: Checkout returns 502 (Checkout)"
        );
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(
            blocks[0],
            json!({"type": "header", "text": {"type": "plain_text", "text": "Incident #42 triggered"}})
        );
        assert_eq!(
            blocks[1]["text"],
            json!({"type": "plain_text", "text": "Checkout returns 502"})
        );
        assert_eq!(
            blocks[1]["fields"][1],
            json!({"type": "mrkdwn", "text": "*Urgency*\nHigh"})
        );
        assert_eq!(
            blocks[2]["elements"][0],
            json!({"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"},
                "url": "https://rota.example/incidents/inc-1/acknowledge", "action_id": "rota_acknowledge",
                "style": "primary"})
        );
        assert_eq!(blocks[3]["type"], "context");
        assert_eq!(blocks.len(), 4);
    }

    #[test]
    fn slack_text_from_people_cannot_make_links_or_mentions() {
        let mut f = facts();
        f.title = "<!channel> & <https://evil.invalid|click>".into();
        f.service = "a>b".into();
        let v = slack(
            &ChatEvent::Acknowledged {
                by: "<@U123>".into(),
            },
            &f,
            "en",
        );
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "&lt;!channel&gt; &amp; &lt;https://evil.invalid|click&gt;"
        );
        assert_eq!(v["blocks"][1]["fields"][0]["text"], "*Service*\na&gt;b");
        assert_eq!(
            v["blocks"][0]["text"]["text"],
            "Incident #42 acknowledged by &lt;@U123&gt;"
        );
        let text = v["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
    }

    #[test]
    fn teams_text_from_people_goes_only_in_text_runs() {
        let mut f = facts();
        f.title = "[click](javascript:alert(1)) **bold**".into();
        f.status = Status::Acknowledged;
        let v = teams(&ChatEvent::Acknowledged { by: "# Ann".into() }, &f, "en");
        let body = v["attachments"][0]["content"]["body"].as_array().unwrap();
        // Markdown is read in a TextBlock: the one there holds the catalogue's words only.
        let text_blocks: Vec<&Value> = body.iter().filter(|e| e["type"] == "TextBlock").collect();
        assert_eq!(text_blocks.len(), 1);
        assert_eq!(
            text_blocks[0]["text"],
            rust_i18n::t!("chat.links_note", locale = "en").as_ref()
        );
        assert!(
            body.iter()
                .all(|e| e["type"] == "TextBlock" || e["type"] == "RichTextBlock")
        );
        assert_eq!(body[1]["inlines"][0]["text"], f.title);
        assert_eq!(
            body[0]["inlines"][0]["text"],
            "Incident #42 acknowledged by # Ann"
        );
    }

    #[test]
    fn slack_texts_stay_within_block_kit_limits_counted_after_escaping() {
        use slack_limits as max;
        let mut f = facts();
        f.title = "&".repeat(5_000);
        f.service = "<".repeat(5_000);
        let long_name = "x".repeat(500);
        let v = slack(&ChatEvent::Acknowledged { by: long_name }, &f, "en");
        let header = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), max::HEADER_TEXT);
        assert!(header.ends_with('…'));
        let title = v["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(title.chars().count() <= max::SECTION_TEXT);
        // Whole entities only, then the ellipsis.
        assert!(title.ends_with("&amp;…"), "{}", &title[title.len() - 20..]);
        for field in v["blocks"][1]["fields"].as_array().unwrap() {
            assert!(field["text"].as_str().unwrap().chars().count() <= max::FIELD_TEXT);
        }
        assert!(v["text"].as_str().unwrap().chars().count() <= max::MESSAGE_TEXT);
    }

    #[test]
    fn a_summary_carries_its_lines_and_counts_the_rest() {
        let lines: Vec<String> = (1..=45).map(|i| format!("line {i} <b>")).collect();
        let event = ChatEvent::Summary { lines };
        let v = slack(&event, &facts(), "en");
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= slack_limits::BLOCKS);
        let text: String = blocks
            .iter()
            .skip(2)
            .filter(|b| b["type"] == "section")
            .map(|b| b["text"]["text"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.starts_with("line 1 &lt;b&gt;\nline 2 &lt;b&gt;"),
            "{text}"
        );
        assert!(text.contains("line 40 &lt;b&gt;"));
        assert!(!text.contains("line 41"));
        assert!(text.ends_with("… and 5 more lines in Rota."), "{text}");

        let t = teams(&event, &facts(), "ja");
        let body = t["attachments"][0]["content"]["body"].as_array().unwrap();
        assert_eq!(body[0]["inlines"][0]["text"], "インシデント #42 の概要");
        assert_eq!(body[6]["inlines"][0]["text"], "line 1 <b>");
        assert!(
            body.iter()
                .any(|b| b["inlines"][0]["text"] == "…ほか 5 行は Rota で見られます。")
        );
    }

    #[test]
    fn a_long_summary_is_packed_into_sections_within_the_limits() {
        let lines: Vec<String> = (0..40)
            .map(|i| format!("{i}:{}", "y".repeat(1_500)))
            .collect();
        let v = slack(&ChatEvent::Summary { lines }, &facts(), "en");
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() <= slack_limits::BLOCKS);
        for b in blocks.iter().filter(|b| b["type"] == "section") {
            if let Some(text) = b["text"]["text"].as_str() {
                assert!(text.chars().count() <= slack_limits::SECTION_TEXT);
            }
        }
    }

    #[test]
    fn messages_are_in_japanese_for_ja() {
        let mut f = facts();
        f.status = Status::Acknowledged;
        let v = slack(&ChatEvent::Acknowledged { by: "Ann".into() }, &f, "ja");
        assert_eq!(
            v["blocks"][0]["text"]["text"],
            "インシデント #42 を Ann が確認しました"
        );
        assert_eq!(v["blocks"][1]["fields"][2]["text"], "*状態*\n確認済み");
        let t = teams(&ChatEvent::Escalated { level: 2 }, &facts(), "ja");
        assert_eq!(t["attachments"][0]["content"]["lang"], "ja");
        assert_eq!(
            action_titles(&t),
            ["確認（アクノレッジ）", "解決", "Rota で開く"]
        );
    }

    #[test]
    fn chat_kinds_have_names() {
        for k in [ChatKind::Teams, ChatKind::Slack] {
            assert_eq!(ChatKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(ChatKind::parse("discord"), None);
    }

    #[test]
    fn slack_escaping_is_exactly_the_three_characters() {
        assert_eq!(
            slack_escape("a & b < c > d *e* _f_"),
            "a &amp; b &lt; c &gt; d *e* _f_"
        );
        assert_eq!(slack_escape("&amp;"), "&amp;amp;");
        assert_eq!(slack_fit("<<<", 9), "&lt;&lt;…");
        assert_eq!(slack_fit("<<<", 12), "&lt;&lt;&lt;");
        assert_eq!(slack_fit("日本語テキスト", 4), "日本語…");
    }
}
