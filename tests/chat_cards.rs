//! The chat messages Rota builds (`domain::chat`) against the fakes of Teams and Slack
//! (`support::chat`): every event's message is valid for its receiver, in both languages and
//! with hostile text, and the fakes' checks refuse broken messages, so they can fail.

mod support;

use chrono::NaiveDateTime;
use rota::domain::chat::{CardFacts, ChatEvent, slack_message, teams_message};
use rota::domain::incident::Status;
use rota::domain::service::Urgency;
use serde_json::{Value, json};
use support::chat::{ChatFake, slack_problems, teams_problems};

fn facts(status: Status) -> CardFacts {
    CardFacts {
        number: 42,
        title: "Checkout returns 502 <b>&</b> [x](javascript:alert(1))".into(),
        service: "Checkout | <!channel>".into(),
        urgency: Urgency::High,
        status,
        incident_url: "https://rota.example/incidents/0190a6c2".into(),
        acknowledge_url: Some("https://rota.example/act/eyJhbGciOiJIUzI1NiJ9.ack".into()),
        resolve_url: Some("https://rota.example/act/eyJhbGciOiJIUzI1NiJ9.res".into()),
        at: NaiveDateTime::parse_from_str("2026-12-07 14:03:00", "%Y-%m-%d %H:%M:%S").unwrap(),
    }
}

/// The five events, each with the incident's status after it.
fn events() -> Vec<(ChatEvent, Status)> {
    vec![
        (ChatEvent::Triggered, Status::Triggered),
        (ChatEvent::Escalated { level: 2 }, Status::Triggered),
        (
            ChatEvent::Acknowledged {
                by: "Ann <@U1> Lee".into(),
            },
            Status::Acknowledged,
        ),
        (
            ChatEvent::Resolved {
                by: "Bo & Co".into(),
            },
            Status::Resolved,
        ),
        (
            ChatEvent::Summary {
                lines: (0..60)
                    .map(|i| format!("{i}: {}", "status <ok> & more ".repeat(20)))
                    .collect(),
            },
            Status::Acknowledged,
        ),
    ]
}

async fn post(url: &str, body: &Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[actix_web::test]
async fn every_event_makes_a_card_teams_would_show() {
    let teams = ChatFake::teams();
    for lang in ["en", "ja"] {
        for (event, status) in events() {
            let body = serde_json::to_value(teams_message(&event, &facts(status), lang)).unwrap();
            let (code, _) = post(teams.url(), &body).await;
            assert_eq!(code, 202);
        }
    }
    let received = teams.received();
    assert_eq!(received.len(), 10);
    for r in received {
        assert!(r.problems.is_empty(), "{:#?}\n{}", r.problems, r.body);
    }
}

#[actix_web::test]
async fn every_event_makes_a_message_slack_would_take() {
    let slack = ChatFake::slack();
    for lang in ["en", "ja"] {
        for (event, status) in events() {
            let body = serde_json::to_value(slack_message(&event, &facts(status), lang)).unwrap();
            let (code, answer) = post(slack.url(), &body).await;
            assert_eq!((code, answer.as_str()), (200, "ok"), "{body}");
        }
    }
    for r in slack.received() {
        assert!(r.problems.is_empty(), "{:#?}\n{}", r.problems, r.body);
    }
}

#[actix_web::test]
async fn the_teams_fake_sees_broken_cards_though_it_answers_202_like_workflows() {
    let teams = ChatFake::teams();
    let good = serde_json::to_value(teams_message(
        &ChatEvent::Triggered,
        &facts(Status::Triggered),
        "en",
    ))
    .unwrap();
    assert!(teams_problems(&good).is_empty());

    let broken: Vec<(Value, &str)> = vec![
        (
            {
                let mut v = good.clone();
                v["type"] = json!("AdaptiveCard");
                v
            },
            "not \"message\"",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["contentType"] = json!("application/json");
                v
            },
            "contentType",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["content"]["body"][0]["type"] = json!("Marquee");
                v
            },
            "/body/0",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["content"]["actions"][0]["type"] = json!("Action.Submit");
                v
            },
            "/actions/0",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["content"]["actions"][0]["url"] = json!("javascript:alert(1)");
                v
            },
            "/actions/0/url",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["content"]["body"][0]["inlines"][0]["colour"] = json!("red");
                v
            },
            "/body/0/inlines/0",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["content"]["body"][0]["inlines"][0]["size"] = json!("huge");
                v
            },
            "/body/0/inlines/0",
        ),
        (
            {
                let mut v = good.clone();
                v["attachments"][0]["content"]
                    .as_object_mut()
                    .unwrap()
                    .remove("version");
                v
            },
            "version",
        ),
    ];
    for (body, expect) in &broken {
        let (code, _) = post(teams.url(), body).await;
        assert_eq!(code, 202);
        let problems = teams_problems(body);
        assert!(
            problems.iter().any(|p| p.contains(expect)),
            "expected a problem with {expect:?}, got {problems:#?}"
        );
    }
    let received = teams.received();
    assert_eq!(received.len(), broken.len());
    assert!(received.iter().all(|r| !r.problems.is_empty()));

    // Past 28 KB.
    let mut big = good.clone();
    big["attachments"][0]["content"]["body"][1]["inlines"][0]["text"] = json!("x".repeat(30_000));
    post(teams.url(), &big).await;
    let last = teams.received().pop().unwrap();
    assert!(
        last.problems.iter().any(|p| p.contains("28 KB")),
        "{:?}",
        last.problems
    );

    // Not JSON at all.
    let response = reqwest::Client::new()
        .post(teams.url())
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[actix_web::test]
async fn the_slack_fake_refuses_what_slack_refuses() {
    let slack = ChatFake::slack();
    let good = serde_json::to_value(slack_message(
        &ChatEvent::Triggered,
        &facts(Status::Triggered),
        "en",
    ))
    .unwrap();
    assert!(slack_problems(&good).is_empty());

    let (code, answer) = post(slack.url(), &json!({"blocks": []})).await;
    assert_eq!((code, answer.as_str()), (400, "no_text"));

    let broken: Vec<(Value, &str)> = vec![
        (
            {
                let mut v = good.clone();
                v["blocks"][0]["text"]["text"] = json!("h".repeat(151));
                v
            },
            "blocks[0].text.text has 151",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][0]["text"]["type"] = json!("mrkdwn");
                v
            },
            "blocks[0].text must be plain_text",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][2]["elements"][1]["action_id"] = json!("rota_acknowledge");
                v
            },
            "not unique",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][2]["elements"][0]["url"] = json!("javascript:alert(1)");
                v
            },
            "url must be an http(s) URL",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][2]["elements"][0]["style"] = json!("green");
                v
            },
            "neither primary nor danger",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][1]["fields"] = json!(vec![json!({"type": "mrkdwn", "text": "x"}); 11]);
                v
            },
            "fields must hold 1 to 10",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][1]["text"]["text"] = json!("<!channel> wake up");
                v
            },
            "unescaped",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][0]["type"] = json!("banner");
                v
            },
            "\"banner\"",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"] = json!(vec![json!({"type": "divider"}); 51]);
                v
            },
            "51 blocks",
        ),
        (
            {
                let mut v = good.clone();
                v["blocks"][2]["elements"][0]["text"]["text"] = json!("b".repeat(76));
                v
            },
            "76 characters",
        ),
    ];
    for (body, expect) in &broken {
        let (code, answer) = post(slack.url(), body).await;
        assert_eq!((code, answer.as_str()), (400, "invalid_blocks"), "{expect}");
        let problems = slack_problems(body);
        assert!(
            problems.iter().any(|p| p.contains(expect)),
            "expected a problem with {expect:?}, got {problems:#?}"
        );
    }
}

#[actix_web::test]
async fn the_fakes_fail_the_next_posts_when_asked_and_then_take_them_again() {
    let slack = ChatFake::slack();
    let body = serde_json::to_value(slack_message(
        &ChatEvent::Triggered,
        &facts(Status::Triggered),
        "en",
    ))
    .unwrap();
    slack.fail_next(2, 429);
    let response = reqwest::Client::new()
        .post(slack.url())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(post(slack.url(), &body).await.0, 429);
    assert_eq!(post(slack.url(), &body).await, (200, "ok".to_string()));
    let statuses: Vec<u16> = slack.received().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 200]);

    let teams = ChatFake::teams();
    let body = serde_json::to_value(teams_message(
        &ChatEvent::Triggered,
        &facts(Status::Triggered),
        "en",
    ))
    .unwrap();
    teams.fail_next(1, 500);
    assert_eq!(post(teams.url(), &body).await.0, 500);
    assert_eq!(post(teams.url(), &body).await.0, 202);
}
