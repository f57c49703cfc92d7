//! Paging by phone and webhook end to end, on SQLite and PostgreSQL: a real SMTP server
//! (aiosmtpd) and a Twilio fake built from Twilio's documented requests (no real Twilio can
//! run here). A trigger e-mails and calls level 1; pressing 4 on the call acknowledges as
//! the person called; a forged callback is refused and changes nothing; nothing is sent
//! after the acknowledgement; unanswered, level 2 is reached after the delay. Also: a
//! national number is a permanent failure on the timeline and the next rule still fires;
//! Twilio down is retried; a storm of 50 incidents makes a few bundled calls and e-mails,
//! not 50; webhooks are signed.

mod support;

use chrono::Duration;
use rota::jobs::notifications::NotificationJob;
use serde_json::{Value, json};
use support::smtp::SmtpServer;
use support::twilio::{self, TwilioFake};
use support::{TestApp, TestDatabase, send};

struct Setup {
    ada: String,
    bo: String,
    key: String,
    /// Another service with Ada at level 1.
    search: String,
}

async fn add_phone(app: &TestApp, user: &str, number: &str, delay: i64) -> String {
    let (status, body) = app
        .post(
            &format!("/api/v2/users/{user}/contact_methods"),
            json!({"contact_method": {"type": "phone_contact_method", "label": "Mobile", "address": number}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cm = body["contact_method"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v2/users/{user}/notification_rules"),
            json!({"notification_rule": {"type": "assignment_notification_rule", "urgency": "high",
                "start_delay_in_minutes": delay, "contact_method": {"id": cm, "type": "phone_contact_method"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    cm
}

async fn setup(app: &TestApp) -> Setup {
    let ada = app.user("Ada Lovelace", "ada@example.com").await;
    let bo = app.user("Bo Sato", "bo@example.com").await;
    add_phone(app, &ada, "+81 90-1234-5678", 0).await;
    Setup {
        key: app.paging_service("Checkout", &[&ada, &bo]).await,
        search: app.paging_service("Search", &[&ada]).await,
        ada,
        bo,
    }
}

async fn trigger(app: &TestApp, key: &str, dedup: &str) -> String {
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&json!({
        "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": format!("Checkout errors {dedup}"), "source": "web-1", "severity": "critical"}})))
    .await;
    assert_eq!(status, 202, "{body}");
    let (_, found) = app
        .get(&format!(
            "/api/v2/incidents?incident_key={dedup}&date_range=all"
        ))
        .await;
    found["incidents"][0]["id"].as_str().unwrap().to_owned()
}

fn dispatcher(app: &TestApp, smtp: &SmtpServer) -> NotificationJob {
    NotificationJob {
        mailer: Some(smtp.mailer()),
        ..app.app.notifications.clone()
    }
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (_, body) = app.get(&format!("/api/v2/incidents/{id}")).await;
    body["incident"]["status"].as_str().unwrap().to_owned()
}

async fn log(app: &TestApp, id: &str) -> Vec<Value> {
    let (_, body) = app
        .get(&format!("/api/v2/incidents/{id}/log_entries"))
        .await;
    body["log_entries"].as_array().unwrap().clone()
}

async fn voice_app(db: TestDatabase) -> (TestApp, TwilioFake) {
    let fake = TwilioFake::start();
    let app = TestApp::builder().twilio(fake.config()).start(db).await;
    (app, fake)
}

async fn press_four_acknowledges_as_the_person_called(db: TestDatabase) {
    let (app, fake) = voice_app(db).await;
    let smtp = SmtpServer::start();
    let s = setup(&app).await;
    let id = trigger(&app, &s.key, "e2e").await;
    let job = dispatcher(&app, &smtp);
    let report = job.run_once().await.unwrap();
    assert_eq!((report.sent, report.messages), (2, 2), "{report:?}");
    let mail = smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mail[0].rcpt_to, ["ada@example.com"]);
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call.to.as_str(), call.from.as_str()),
        ("+819012345678", twilio::FROM)
    );
    let said = twilio::said(&call.twiml).join(" ");
    assert!(
        said.contains("Ada Lovelace")
            && said.contains("Checkout errors e2e")
            && said.contains("Press 4"),
        "{said}"
    );
    assert!(
        call.status_callback.starts_with(&app.base),
        "{}",
        call.status_callback
    );

    // A forged keypress: signed with another key, or not at all, or replayed onto another
    // URL. Each is a 403 and the incident stays triggered.
    let (url, params) = fake.gather_request(call, "4");
    let forged = fake
        .post_signed(&url, &params, "0000000000000000000000000000beef")
        .await;
    assert_eq!(forged.status(), 403);
    let unsigned = app.http.post(&url).form(&params).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    let mut tampered = params.clone();
    tampered.iter_mut().find(|(k, _)| k == "Digits").unwrap().1 = "6".into();
    let sig = rota::notify::voice::signature(twilio::AUTH_TOKEN, &url, &params);
    let res = app
        .http
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(&tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "a signature over other digits does not pass"
    );
    // Signed for real but naming another call: refused too.
    let mut other = call.clone();
    other.sid = "CA00000000000000000000000000000000".into();
    let (status, _) = fake.press(&other, "4").await;
    assert_eq!(status, 403);
    // A correctly signed callback padded past the 16 KB cap is refused unread.
    let mut padded = params.clone();
    padded.push(("Padding".into(), "x".repeat(20 * 1024)));
    let big = fake.post_signed(&url, &padded, twilio::AUTH_TOKEN).await;
    assert_eq!(big.status(), 413);
    assert_eq!(status_of(&app, &id).await, "triggered");

    // 4 acknowledges, as Ada, through the phone.
    let (status, twiml) = fake.press(call, "4").await;
    assert_eq!(status, 200, "{twiml}");
    assert_eq!(twilio::said(&twiml), ["Acknowledged: 1. Goodbye."]);
    assert_eq!(status_of(&app, &id).await, "acknowledged");
    let entries = log(&app, &id).await;
    let ack = entries
        .iter()
        .find(|e| e["type"] == "acknowledge_log_entry")
        .expect("acknowledged");
    assert_eq!(ack["agent"]["id"], s.ada.as_str());
    assert_eq!(ack["channel"]["type"], "phone");
    let notified: Vec<&str> = entries
        .iter()
        .filter(|e| e["type"] == "notify_log_entry")
        .map(|e| e["summary"].as_str().unwrap())
        .collect();
    assert!(
        notified
            .iter()
            .any(|s| s.contains("by phone (***5678): called")),
        "{notified:?}"
    );
    // Pressing again: nothing more to do.
    let (_, twiml) = fake.press(call, "4").await;
    assert!(
        twilio::said(&twiml)[0].starts_with("Nothing to do"),
        "{twiml}"
    );
    // Another key is asked again, with the gather.
    let (_, twiml) = fake.press(call, "9").await;
    assert!(twiml.contains("<Gather"), "{twiml}");
    // Twilio reports the call's end: on the timeline.
    assert_eq!(fake.end(call, "completed").await, 204);
    let entries = log(&app, &id).await;
    assert!(
        entries
            .iter()
            .any(|e| e["summary"].as_str().unwrap().ends_with("answered")),
        "{entries:?}"
    );

    // Nothing after the acknowledgement: no escalation, no call, no e-mail.
    app.clock.advance(Duration::minutes(30));
    assert_eq!(app.app.escalation.run_once().await.unwrap(), 0);
    assert_eq!(job.run_once().await.unwrap().sent, 0);
    assert_eq!(fake.calls().len(), 1);
    assert_eq!(
        smtp.messages(1, std::time::Duration::from_millis(300))
            .len(),
        1
    );

    // Unanswered: level 2 (Bo, e-mail only) after the delay; 6 on the old call resolves.
    let second = trigger(&app, &s.key, "unanswered").await;
    assert_eq!(job.run_once().await.unwrap().sent, 2);
    let call2 = fake.calls().pop().unwrap();
    assert_eq!(fake.end(&call2, "no-answer").await, 204);
    app.clock.advance(Duration::minutes(10));
    assert_eq!(app.app.escalation.run_once().await.unwrap(), 1);
    assert_eq!(job.run_once().await.unwrap().sent, 1);
    let mail = smtp.wait_for(3, std::time::Duration::from_secs(5)).await;
    assert_eq!(mail[2].rcpt_to, ["bo@example.com"]);
    let entries = log(&app, &second).await;
    assert!(
        entries
            .iter()
            .any(|e| e["summary"].as_str().unwrap().ends_with("not answered")),
        "{entries:?}"
    );
    let (_, twiml) = fake.press(&call2, "6").await;
    assert_eq!(twilio::said(&twiml), ["Resolved: 1. Goodbye."]);
    assert_eq!(status_of(&app, &second).await, "resolved");
    let _ = s.bo;
}

async fn a_national_number_fails_for_good_and_twilio_down_is_retried(db: TestDatabase) {
    let (app, fake) = voice_app(db).await;
    let smtp = SmtpServer::start();
    let s = setup(&app).await;
    let job = dispatcher(&app, &smtp);
    // Twilio is down for the first try: retried with backoff, the e-mail unaffected.
    fake.go_down(1);
    let id = trigger(&app, &s.key, "down").await;
    let report = job.run_once().await.unwrap();
    assert_eq!((report.sent, report.retrying), (1, 1), "{report:?}");
    let entries = log(&app, &id).await;
    assert!(
        entries
            .iter()
            .any(|e| e["summary"].as_str().unwrap().contains("trying again")),
        "{entries:?}"
    );
    app.clock.advance(Duration::seconds(31));
    assert_eq!(job.run_once().await.unwrap().sent, 1);
    assert_eq!(fake.calls().len(), 1);

    // A national number SCIM kept (Entra holds what people typed): Rota does not guess its
    // country. The call fails for good, on the timeline; Carl's e-mail still goes.
    let (status, carl) = app
        .scim()
        .send_json(
            reqwest::Method::POST,
            "/Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "carl@example.com", "displayName": "Carl Jung", "active": true,
            "emails": [{"value": "carl@example.com", "type": "work", "primary": true}],
            "phoneNumbers": [{"value": "03-1234-5678", "type": "mobile"}]}),
        )
        .await;
    assert_eq!(status, 201, "{carl}");
    let carl = carl["id"].as_str().unwrap().to_owned();
    let key = app.paging_service("Billing", &[&carl]).await;
    let id = trigger(&app, &key, "national").await;
    let report = job.run_once().await.unwrap();
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
    let entries = log(&app, &id).await;
    let failed: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["summary"].as_str())
        .filter(|s| s.contains("gave up"))
        .collect();
    assert!(
        failed.len() == 1 && failed[0].contains("E.164"),
        "{entries:?}"
    );
    assert_eq!(fake.calls().len(), 1, "never dialled");

    // Twilio itself refuses a number (error 21211): given up, said why.
    let dora = app.user("Dora Maar", "dora@example.com").await;
    add_phone(&app, &dora, "+999123456789", 0).await;
    let key = app.paging_service("Ledger", &[&dora]).await;
    let id = trigger(&app, &key, "refused").await;
    let report = job.run_once().await.unwrap();
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
    let entries = log(&app, &id).await;
    assert!(
        entries
            .iter()
            .filter_map(|e| e["summary"].as_str())
            .any(|s| s.contains("21211") && s.ends_with("gave up")),
        "{entries:?}"
    );
}

async fn a_storm_makes_a_few_bundled_messages_not_fifty(db: TestDatabase) {
    let (app, fake) = voice_app(db).await;
    let smtp = SmtpServer::start();
    let s = setup(&app).await;
    let job = dispatcher(&app, &smtp);
    // 50 incidents on one service within a minute, the dispatcher running as they come.
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(trigger(&app, &s.key, &format!("storm-{i}")).await);
        if i % 10 == 0 {
            job.run_once().await.unwrap();
        }
        app.clock.advance(Duration::seconds(1));
    }
    job.run_once().await.unwrap();
    // Another service's first incident is not held behind the storm.
    let calls_before = fake.calls().len();
    trigger(&app, &s.search, "search-down").await;
    let r = job.run_once().await.unwrap();
    assert_eq!(
        r.messages, 2,
        "Search's first incident is called and e-mailed at once: {r:?}"
    );
    assert_eq!(fake.calls().len(), calls_before + 1);
    assert!(
        twilio::said(&fake.calls().last().unwrap().twiml)
            .join(" ")
            .contains("search-down")
    );
    // The rest of the storm goes out when its windows end.
    app.clock.advance(Duration::minutes(3));
    job.run_once().await.unwrap();
    let calls = fake.calls();
    let mail = smtp.messages(1, std::time::Duration::from_secs(2));
    // One call and one e-mail each: the storm's first incident, Search's, the other 49.
    assert_eq!(calls.len(), 3, "calls for 51 incidents");
    assert_eq!(mail.len(), 3, "e-mails for 51 incidents");
    // Every incident was named by an e-mail.
    let written: String = mail.iter().map(|m| m.body.clone()).collect();
    for id in &ids {
        let (_, body) = app.get(&format!("/api/v2/incidents/{id}")).await;
        let number = body["incident"]["incident_number"].as_i64().unwrap();
        assert!(
            written.contains(&format!("#{number} ")),
            "incident #{number} is in an e-mail"
        );
    }
    // A bundled call's 4 acknowledges every incident it named.
    let bundled = calls
        .iter()
        .rev()
        .find(|c| {
            twilio::said(&c.twiml)
                .join(" ")
                .contains("incidents need you")
        })
        .expect("a bundled call");
    let (_, twiml) = fake.press(bundled, "4").await;
    let reply = twilio::said(&twiml).join(" ");
    let n: usize = reply
        .trim_start_matches("Acknowledged: ")
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{reply}"));
    assert_eq!(n, 49, "{reply}");
    for id in &ids[1..] {
        assert_eq!(status_of(&app, id).await, "acknowledged");
    }
    assert_eq!(status_of(&app, &ids[0]).await, "triggered");
}

/// A webhook contact method to `url`, with a rule that uses it at once: its signing secret.
async fn webhook_method(app: &TestApp, user: &str, url: &str) -> String {
    let (status, body) = app
        .post(
            &format!("/api/v2/users/{user}/contact_methods"),
            json!({"contact_method": {"type": "webhook_contact_method", "label": "Bridge", "address": url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let cm = body["contact_method"]["id"].as_str().unwrap().to_owned();
    let (status, rule) = app
        .post(
            &format!("/api/v2/users/{user}/notification_rules"),
            json!({"notification_rule": {"type": "assignment_notification_rule", "urgency": "high",
                "start_delay_in_minutes": 0, "contact_method": {"id": cm, "type": "webhook_contact_method"}}}),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    body["contact_method"]["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A person's webhook may point anywhere public, but not into the service's own network: a
/// loopback receiver gets nothing unless the operator added its host, and the notification is
/// given up (not retried) saying why.
async fn a_webhook_to_a_private_address_is_refused_unless_its_host_was_added(db: TestDatabase) {
    let (app, _fake) = voice_app(db).await;
    let s = setup(&app).await;
    let receiver = support::webhook::Receiver::start();
    webhook_method(&app, &s.ada, receiver.url()).await;
    let localhost = receiver.url().replace("127.0.0.1", "localhost");
    webhook_method(&app, &s.ada, &localhost).await;
    let id = trigger(&app, &s.key, "hook").await;
    let report = app.app.notifications.run_once().await.unwrap();
    assert_eq!(
        (report.sent, report.failed, report.retrying),
        (1, 2, 0),
        "the call goes, the two webhooks are given up: {report:?}"
    );
    assert!(
        receiver.received().is_empty(),
        "nothing reached the loopback receiver"
    );
    let mut conn = app.db.get().unwrap();
    let sent =
        rota::store::notifications::of_incident(&mut conn, &rota::domain::ids::IncidentId(id))
            .unwrap();
    let hooks: Vec<_> = sent
        .iter()
        .filter(|n| n.channel == rota::domain::contact::ContactKind::Webhook)
        .collect();
    assert_eq!(hooks.len(), 2);
    for n in hooks {
        assert_eq!(n.status, rota::domain::notification::Status::Failed);
        assert!(
            n.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("private, loopback or link-local"),
            "{n:?}"
        );
    }
}

async fn webhooks_are_signed_with_the_secret_shown_once(db: TestDatabase) {
    let fake = TwilioFake::start();
    // The receiver listens on 127.0.0.1: added, as an operator would add an internal host.
    let app = TestApp::builder()
        .twilio(fake.config())
        .chat_hosts(&["127.0.0.1"])
        .start(db)
        .await;
    let s = setup(&app).await;
    let receiver = support::webhook::Receiver::start();
    let (status, body) = app
        .post(
            &format!("/api/v2/users/{}/contact_methods", s.ada),
            json!({"contact_method": {"type": "webhook_contact_method", "label": "Bridge", "address": receiver.url()}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["contact_method"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let cm = body["contact_method"]["id"].as_str().unwrap().to_owned();
    let (_, again) = app
        .get(&format!("/api/v2/users/{}/contact_methods/{cm}", s.ada))
        .await;
    assert!(
        again["contact_method"].get("secret").is_none(),
        "shown once: {again}"
    );
    let (status, body) = app
        .post(
            &format!("/api/v2/users/{}/notification_rules", s.ada),
            json!({"notification_rule": {"type": "assignment_notification_rule", "urgency": "high",
                "start_delay_in_minutes": 0, "contact_method": {"id": cm, "type": "webhook_contact_method"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = trigger(&app, &s.key, "hook").await;
    // No SMTP and no mailer: the webhook (and the call) still go.
    let report = app.app.notifications.run_once().await.unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let (signature, body) = &got[0];
    assert_eq!(*signature, rota::notify::webhook::signature(&secret, body));
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event"]["event_type"], "incident.triggered");
    assert_eq!(event["event"]["data"]["id"], id.as_str());
    assert!(
        event["event"]["data"]["acknowledge_url"]
            .as_str()
            .unwrap()
            .contains("/act/")
    );
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(#[actix_web::test] async fn $name() { super::$name(super::TestDatabase::sqlite()).await })* }
        mod postgres { $(#[actix_web::test] async fn $name() { super::$name(super::TestDatabase::postgres()).await })* }
    };
}

both!(
    press_four_acknowledges_as_the_person_called,
    a_national_number_fails_for_good_and_twilio_down_is_retried,
    a_storm_makes_a_few_bundled_messages_not_fifty,
    webhooks_are_signed_with_the_secret_shown_once,
    a_webhook_to_a_private_address_is_refused_unless_its_host_was_added,
);
