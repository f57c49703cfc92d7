//! Paging by e-mail end to end, on SQLite and PostgreSQL, with a real SMTP server
//! (aiosmtpd): a trigger writes level 1's notifications and the dispatcher sends them with
//! signed acknowledge/resolve links; the link's confirmation page acts only on POST; once
//! acknowledged nothing more is sent (pending ones are cancelled, escalation stops); level 2
//! is e-mailed after the delay; with SMTP down the e-mail is retried and delivered once it
//! is back, and the timeline records each attempt.

mod support;

use chrono::Duration;
use rota::jobs::notifications::{NotificationJob, Report};
use serde_json::{Value, json};
use support::smtp::SmtpServer;
use support::{TestApp, send};

struct Setup {
    ada: String,
    key: String,
}

async fn setup(app: &TestApp) -> Setup {
    let ada = app.user("Ada Lovelace", "ada@example.com").await;
    let bo = app.user("Bo Sato", "bo@example.com").await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": "Payments", "escalation_rules": [
                {"escalation_delay_in_minutes": 10, "targets": [{"id": ada, "type": "user_reference"}]},
                {"escalation_delay_in_minutes": 10, "targets": [{"id": bo, "type": "user_reference"}]}]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
    let (_, key) = app.service_with_key(&policy, "Checkout").await;
    Setup { ada, key }
}

async fn trigger(app: &TestApp, key: &str, dedup: &str) -> String {
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&json!({
        "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": format!("Checkout errors {dedup}"), "source": "web-1", "severity": "critical",
            "custom_details": {"error_rate": "7%"}}})))
    .await;
    assert_eq!(status, 202, "{body}");
    let (_, found) = app
        .get(&format!(
            "/api/v2/incidents?incident_key={dedup}&date_range=all"
        ))
        .await;
    found["incidents"][0]["id"].as_str().unwrap().to_owned()
}

fn dispatcher(app: &TestApp, smtp: Option<&SmtpServer>) -> NotificationJob {
    NotificationJob {
        mailer: Some(match smtp {
            Some(s) => s.mailer(),
            // Nothing listens here: SMTP is down.
            None => rota::notify::email::Mailer::new(
                &rota::config::SmtpUrl::parse(&format!(
                    "smtp://127.0.0.1:{}",
                    support::smtp::free_port()
                ))
                .unwrap(),
                "Rota <rota@example.com>".parse().unwrap(),
            )
            .unwrap(),
        }),
        ..app.app.notifications.clone()
    }
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (_, body) = app.get(&format!("/api/v2/incidents/{id}")).await;
    body["incident"]["status"].as_str().unwrap().to_owned()
}

async fn notify_entries(app: &TestApp, id: &str) -> Vec<String> {
    let (_, body) = app
        .get(&format!("/api/v2/incidents/{id}/log_entries"))
        .await;
    body["log_entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "notify_log_entry")
        .map(|e| e["summary"].as_str().unwrap().to_owned())
        .collect()
}

fn link(body: &str, label: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {body}"))
        .trim()
        .to_owned()
}

on_both_backends! {
    async fn a_trigger_emails_level_one_and_the_link_acknowledges_and_stops_everything(app) {
        let smtp = SmtpServer::start();
        let s = setup(&app).await;
        let id = trigger(&app, &s.key, "e2e").await;
        let job = dispatcher(&app, Some(&smtp));
        let report = job.run_once().await.unwrap();
        assert_eq!(report, Report { sent: 1, messages: 1, ..Report::default() });
        let mail = smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].rcpt_to, ["ada@example.com"]);
        assert!(mail[0].subject.contains("Checkout errors e2e"), "{}", mail[0].subject);
        assert!(mail[0].body.contains("error_rate"), "{}", mail[0].body);
        let sent = notify_entries(&app, &id).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].contains("Ada Lovelace") && sent[0].contains("a***@example.com") && sent[0].ends_with("sent"), "{sent:?}");

        // The link shows a confirmation first: a mail scanner's GET acknowledges nothing.
        let ack = link(&mail[0].body, "Acknowledge:");
        let path = ack.strip_prefix(&app.base).unwrap_or(&ack).to_owned();
        let page = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form"), "{html}");
        assert_eq!(status_of(&app, &id).await, "triggered");
        let done = app.http.post(app.url(&path)).send().await.unwrap();
        assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
        assert_eq!(status_of(&app, &id).await, "acknowledged");
        let again = app.http.post(app.url(&path)).send().await.unwrap();
        assert!(again.status().is_client_error(), "a link works once");

        // Nothing more: no escalation, no e-mail.
        app.clock.advance(Duration::minutes(30));
        assert_eq!(app.app.escalation.run_once().await.unwrap(), 0);
        assert_eq!(job.run_once().await.unwrap(), Report::default());
        assert_eq!(smtp.messages(1, std::time::Duration::from_millis(300)).len(), 1);

        // Acknowledged before the dispatcher got to it: cancelled, never sent.
        let second = trigger(&app, &s.key, "quick").await;
        let ada = app.personal_token(&s.ada);
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &format!("/api/v2/incidents/{second}"))
            .json(&json!({"incident": {"status": "acknowledged"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(job.run_once().await.unwrap(), Report::default());
        assert_eq!(smtp.messages(1, std::time::Duration::from_millis(300)).len(), 1);

        // Unanswered, level 2 is e-mailed after the delay.
        let third = trigger(&app, &s.key, "unanswered").await;
        assert_eq!(job.run_once().await.unwrap().sent, 1);
        app.clock.advance(Duration::minutes(10));
        assert_eq!(app.app.escalation.run_once().await.unwrap(), 1);
        assert_eq!(job.run_once().await.unwrap().sent, 1);
        let mail = smtp.wait_for(3, std::time::Duration::from_secs(5)).await;
        assert_eq!(mail[2].rcpt_to, ["bo@example.com"]);
        assert_eq!(notify_entries(&app, &third).await.len(), 2);
    }

    async fn with_smtp_down_the_email_is_retried_and_delivered_once_it_is_back(app) {
        let s = setup(&app).await;
        let id = trigger(&app, &s.key, "down").await;
        let report = dispatcher(&app, None).run_once().await.unwrap();
        assert_eq!(report, Report { retrying: 1, ..Report::default() });
        let entries = notify_entries(&app, &id).await;
        assert!(entries[0].contains("trying again"), "{entries:?}");
        // Not due yet: nothing to do even with SMTP back.
        let smtp = SmtpServer::start();
        let job = dispatcher(&app, Some(&smtp));
        assert_eq!(job.run_once().await.unwrap(), Report::default());
        app.clock.advance(Duration::seconds(31));
        assert_eq!(job.run_once().await.unwrap().sent, 1);
        let mail = smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(mail.len(), 1);
        let entries: Vec<Value> = notify_entries(&app, &id).await.into_iter().map(Value::from).collect();
        assert_eq!(entries.len(), 2, "{entries:?}");
    }
}
