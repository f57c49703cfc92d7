//! Acknowledge/resolve links in notification e-mails, over HTTP on SQLite and PostgreSQL: the
//! page a `GET` shows changes nothing (a mail scanner's prefetch), a `POST` acts as the
//! person through the e-mail channel, once; expired, changed and reused links, and links of
//! people who may no longer respond, get a 4xx page saying why.

mod support;

use chrono::Duration;
use rota::domain::ids::{IncidentId, UserId};
use serde_json::{Value, json};
use support::{TestApp, send};

struct Setup {
    first: String,
    key: String,
}

/// A one-level policy (Ada) on a service with an Events API v2 integration.
async fn setup(app: &TestApp) -> Setup {
    let first = app.user("Ada First", "ada@example.com").await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": "Payments", "escalation_rules": [
                {"escalation_delay_in_minutes": 10, "targets": [{"id": first, "type": "user_reference"}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            "/api/v2/services",
            json!({"service": {"name": "Checkout", "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                "incident_urgency_rule": {"type": "constant", "urgency": "high"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let service = body["service"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v2/services/{service}/integrations"),
            json!({"integration": {"type": "events_api_v2_inbound_integration", "name": "Prometheus"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = body["integration"]["integration_key"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup { first, key }
}

/// Opens an incident through the Events API; its id.
async fn incident(app: &TestApp, key: &str, dedup: &str) -> String {
    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": format!("Disk <full> on {dedup}"), "source": "db-1.example", "severity": "critical"}});
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = app
        .get("/api/v2/incidents?statuses[]=triggered&limit=100")
        .await;
    assert_eq!(status, 200, "{body}");
    let found: Vec<&Value> = body["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["incident_key"] == dedup)
        .collect();
    assert_eq!(found.len(), 1, "{body}");
    found[0]["id"].as_str().unwrap().to_owned()
}

/// The acknowledge and resolve links (paths) for `user` on `incident`, issued now.
fn links(app: &TestApp, user: &str, incident: &str) -> (String, String) {
    let (ack, resolve) = rota::use_cases::action_links::issue(
        &mut app.db.get().unwrap(),
        "https://rota.example/",
        &UserId(user.into()),
        &IncidentId(incident.into()),
        rota::clock::Clock::now(&*app.clock),
    )
    .expect("issue links");
    let path = |url: String| {
        url.strip_prefix("https://rota.example")
            .unwrap_or_else(|| panic!("{url}"))
            .to_owned()
    };
    assert!(ack.starts_with("https://rota.example/act/"), "{ack}");
    (path(ack), path(resolve))
}

/// A page: status, content type and body, anonymously (no token, no cookie).
async fn page(app: &TestApp, method: reqwest::Method, path: &str) -> (u16, String, String) {
    let res = app
        .http
        .request(method, app.url(path))
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let csp = res
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    (status, kind, res.text().await.unwrap())
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let (status, kind, body) = page(app, reqwest::Method::GET, path).await;
    assert!(kind.starts_with("text/html"), "{kind}");
    (status, body)
}

/// Posts the confirmation form as a browser would (an empty form body).
async fn post(app: &TestApp, path: &str) -> (u16, String) {
    let res = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", app.base.clone())
        .body("")
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn status_of(app: &TestApp, id: &str) -> String {
    let (status, body) = app.get(&format!("/api/v2/incidents/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["incident"]["status"].as_str().unwrap().to_owned()
}

async fn log_entries(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v2/incidents/{id}/log_entries"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["log_entries"].as_array().unwrap().clone()
}

on_both_backends! {
    async fn the_page_confirms_first_and_the_post_acknowledges_once(app) {
        let s = setup(&app).await;
        let id = incident(&app, &s.key, "disk/db-1").await;
        let (ack, _) = links(&app, &s.first, &id);

        // A GET (a scanner's prefetch, or the person opening it) only shows the form.
        for _ in 0..2 {
            let (status, body) = get(&app, &ack).await;
            assert_eq!(status, 200, "{body}");
            assert!(body.contains("Acknowledge incident #"), "{body}");
            assert!(body.contains("Disk &lt;full&gt; on disk/db-1"), "title escaped: {body}");
            assert!(body.contains("is triggered"), "{body}");
            assert!(body.contains("Ada First"), "{body}");
            assert!(body.contains(&format!("<form method=\"post\" action=\"{ack}\">")), "{body}");
            assert!(!body.contains("<script"), "{body}");
        }
        assert_eq!(status_of(&app, &id).await, "triggered");

        let (status, body) = post(&app, &ack).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Acknowledged"), "{body}");
        assert!(body.contains("is acknowledged"), "{body}");
        assert_eq!(status_of(&app, &id).await, "acknowledged");
        let entries = log_entries(&app, &id).await;
        let acked = entries
            .iter()
            .find(|e| e["type"] == "acknowledge_log_entry")
            .unwrap_or_else(|| panic!("{entries:?}"));
        assert_eq!(acked["channel"]["type"], "email", "{acked}");
        assert_eq!(acked["agent"]["id"], s.first.as_str(), "{acked}");
        assert_eq!(acked["agent"]["type"], "user_reference", "{acked}");

        // Once only: both the page and the post now say so, and nothing more is logged.
        let (status, body) = post(&app, &ack).await;
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("already used"), "{body}");
        let (status, body) = get(&app, &ack).await;
        assert_eq!(status, 409, "{body}");
        assert!(body.contains("already used"), "{body}");
        let acks = log_entries(&app, &id).await.iter().filter(|e| e["type"] == "acknowledge_log_entry").count();
        assert_eq!(acks, 1);
    }

    async fn a_resolve_link_resolves_and_an_acknowledge_link_then_changes_nothing(app) {
        let s = setup(&app).await;
        let id = incident(&app, &s.key, "disk/db-2").await;
        let (ack, resolve) = links(&app, &s.first, &id);
        let (status, body) = get(&app, &resolve).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Resolve incident #"), "{body}");
        let (status, body) = post(&app, &resolve).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Resolved"), "{body}");
        assert_eq!(status_of(&app, &id).await, "resolved");
        let entries = log_entries(&app, &id).await;
        let resolved = entries.iter().find(|e| e["type"] == "resolve_log_entry").unwrap_or_else(|| panic!("{entries:?}"));
        assert_eq!(resolved["channel"]["type"], "email", "{resolved}");
        assert_eq!(resolved["agent"]["id"], s.first.as_str(), "{resolved}");

        // The acknowledge link of a resolved incident: the page offers nothing, the post
        // changes nothing, and neither is an error.
        let (status, body) = get(&app, &ack).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Already resolved") && !body.contains("<form"), "{body}");
        let (status, body) = post(&app, &ack).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("resolved meanwhile"), "{body}");
        assert_eq!(status_of(&app, &id).await, "resolved");
        assert!(!log_entries(&app, &id).await.iter().any(|e| e["type"] == "acknowledge_log_entry"));
    }

    async fn expired_changed_and_foreign_links_get_a_page_saying_why(app) {
        let s = setup(&app).await;
        let id = incident(&app, &s.key, "disk/db-3").await;
        let (ack, resolve) = links(&app, &s.first, &id);

        // Changed: one character of the signature, or of the claims.
        let mut forged = ack.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        for path in [forged, ack.replacen('.', ".e", 1), "/act/not-a-token".to_owned(), format!("/act/{}", "A".repeat(5000))] {
            let (status, body) = get(&app, &path).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert!(body.contains("This link does not work"), "{body}");
            let (status, body) = post(&app, &path).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
        assert_eq!(status_of(&app, &id).await, "triggered");

        // Expired: a day and an hour later.
        app.clock.advance(Duration::hours(25));
        let (status, body) = get(&app, &resolve).await;
        assert_eq!(status, 410, "{body}");
        assert!(body.contains("expired"), "{body}");
        let (status, body) = post(&app, &ack).await;
        assert_eq!(status, 410, "{body}");
        assert_eq!(status_of(&app, &id).await, "triggered");
    }

    async fn a_link_of_someone_deactivated_is_refused(app) {
        let s = setup(&app).await;
        let id = incident(&app, &s.key, "disk/db-4").await;
        let (ack, _) = links(&app, &s.first, &id);
        {
            use diesel::prelude::*;
            use rota::store::schema::users;
            let mut conn = app.db.get().unwrap();
            diesel::update(users::table.filter(users::id.eq(&s.first)))
                .set(users::active.eq(false))
                .execute(&mut *conn)
                .unwrap();
        }
        let (status, body) = get(&app, &ack).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("can no longer respond"), "{body}");
        let (status, body) = post(&app, &ack).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(status_of(&app, &id).await, "triggered");
    }
}
