//! The incident pages over HTTP, signed in through the OIDC provider peer, on SQLite and
//! PostgreSQL: the home page lists a responder's open incidents; the list filters as the API
//! does; an incident's page shows its facts, and its forms (note, status update, reassign,
//! acknowledge) act through the same use cases as the API, keep what was typed when refused,
//! and are refused without the CSRF token or to a stakeholder, who can subscribe instead; a
//! person whose locale is Japanese reads Japanese.

mod support;

use serde_json::json;
use support::browser::{Browser, csrf_in};
use support::oidc_provider::OidcProvider;
use support::{TestApp, send};

/// Bob signed in, paged by a service with one triggered incident; (bob, his id, incident id).
async fn paged(app: &TestApp) -> (Browser, String, String) {
    let bob = Browser::new(app);
    assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
    let bob_id = bob.me().await.1["user"]["id"].as_str().unwrap().to_owned();
    let key = app.paging_service("Checkout", &[&bob_id]).await;
    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "cpu",
        "payload": {"summary": "CPU high on web-1", "source": "web-1", "severity": "critical"}});
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
    assert_eq!(status, 202, "{body}");
    let (_, list) = app.get("/api/v2/incidents").await;
    let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();
    (bob, bob_id, incident)
}

mod pages {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());

        async fn a_responder_works_an_incident_from_its_page(app) {
            let (bob, bob_id, incident) = paged(&app).await;
            // Home: the incident is his.
            let home = bob.get("/").await;
            assert_eq!(home.status, 200);
            assert!(home.body.contains("Open incidents assigned to you") && home.body.contains("CPU high on web-1"), "{}", home.body);
            assert!(home.body.contains("Checkout, level 1, always"), "on call now: {}", home.body);
            // The list, and its filters.
            let list = bob.get("/incidents").await;
            assert!(list.body.contains(&format!("href=\"/incidents/{incident}\"")), "{}", list.body);
            let resolved_only = bob.get("/incidents?statuses[]=resolved").await;
            assert!(!resolved_only.body.contains("CPU high on web-1"), "{}", resolved_only.body);
            let bad = bob.get("/incidents?urgencies[]=extreme").await;
            assert_eq!(bad.status, 400, "{}", bad.body);
            assert!(bad.body.contains("<html"), "an HTML page: {}", bad.body);

            let path = format!("/incidents/{incident}");
            let page = bob.get(&path).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert!(page.body.contains("#1 CPU high on web-1"), "{}", page.body);
            let csrf = csrf_in(&page.body);
            // A blank note is refused beside the field; a long one keeps what was typed.
            let refused = bob.post_form(&format!("{path}/notes"), &[("csrf_token", &csrf), ("text", "   ")]).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("id=\"note-error\""), "{}", refused.body);
            let refused = bob.post_form(&format!("{path}/reassign"), &[("csrf_token", &csrf), ("assign_to", "nobody@nowhere.example")]).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("value=\"nobody@nowhere.example\""), "kept: {}", refused.body);
            assert!(refused.body.contains("No one in Rota has this e-mail address"), "{}", refused.body);
            // Without the CSRF token nothing is added.
            let forged = bob.post_form(&format!("{path}/notes"), &[("text", "forged")]).await;
            assert_eq!(forged.status, 403);
            // A note and a status update, then acknowledge: all seen through the API.
            let noted = bob.post_form(&format!("{path}/notes"), &[("csrf_token", &csrf), ("text", "Looking at web-1 <now>")]).await;
            assert_eq!(noted.status, 200, "{}", noted.body);
            assert!(noted.url.ends_with(&path), "back on the incident: {}", noted.url);
            assert!(noted.body.contains("Looking at web-1 &lt;now&gt;"), "escaped: {}", noted.body);
            let updated = bob.post_form(&format!("{path}/status_updates"), &[("csrf_token", &csrf), ("text", "Failing over.")]).await;
            assert_eq!(updated.status, 200, "{}", updated.body);
            let acked = bob.post_form(&format!("{path}/acknowledge"), &[("csrf_token", &csrf), ("from", "incident")]).await;
            assert_eq!(acked.status, 200, "{}", acked.body);
            assert!(acked.url.ends_with(&path), "back on the incident: {}", acked.url);
            let (_, notes) = app.get(&format!("/api/v2/incidents/{incident}/notes")).await;
            assert_eq!(notes["notes"][0]["content"], "Looking at web-1 <now>");
            assert_eq!(notes["notes"][0]["user"]["id"], bob_id.as_str());
            let (_, updates) = app.get(&format!("/api/v2/incidents/{incident}/status_updates")).await;
            assert_eq!(updates["status_updates"][0]["message"], "Failing over.");
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "acknowledged");
            let page = bob.get(&path).await;
            assert!(!page.body.contains(&format!("action=\"{path}/acknowledge\"")), "no acknowledge button once acknowledged");
            assert!(page.body.contains(&format!("action=\"{path}/resolve\"")));
        }

        async fn a_stakeholder_reads_and_subscribes_but_cannot_respond(app) {
            let (_bob, _, incident) = paged(&app).await;
            let carol = Browser::new(&app);
            assert_eq!(carol.sign_in("carol@contoso.example").await.status, 200);
            let carol_id = carol.me().await.1["user"]["id"].as_str().unwrap().to_owned();
            let path = format!("/incidents/{incident}");
            let page = carol.get(&path).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert!(!page.body.contains("/acknowledge\"") && !page.body.contains("/notes\""), "no edit buttons: {}", page.body);
            let csrf = csrf_in(&page.body);
            let forged = carol.post_form(&format!("{path}/notes"), &[("csrf_token", &csrf), ("text", "hi")]).await;
            assert_eq!(forged.status, 403, "{}", forged.body);
            let forged = carol.post_form(&format!("{path}/acknowledge"), &[("csrf_token", &csrf)]).await;
            assert_eq!(forged.status, 403, "{}", forged.body);
            let subscribed = carol.post_form(&format!("{path}/subscribe"), &[("csrf_token", &csrf)]).await;
            assert_eq!(subscribed.status, 200, "{}", subscribed.body);
            assert!(subscribed.body.contains("You are subscribed"), "{}", subscribed.body);
            let (_, subs) = app.get(&format!("/api/v2/incidents/{incident}/status_updates/subscribers")).await;
            assert_eq!(subs["subscribers"][0]["subscriber_id"], carol_id.as_str(), "{subs}");
        }

        async fn a_person_whose_locale_is_japanese_reads_japanese(app) {
            let (bob, bob_id, incident) = paged(&app).await;
            let (status, body) = app.put(&format!("/api/v2/users/{bob_id}"), json!({"user": {"locale": "ja-JP"}})).await;
            assert_eq!(status, 200, "{body}");
            let page = bob.get(&format!("/incidents/{incident}")).await;
            assert!(page.body.contains("<html lang=\"ja\""), "{}", page.body);
            assert!(page.body.contains("タイムライン") && page.body.contains("未対応"), "{}", page.body);
            let home = bob.get("/").await;
            assert!(home.body.contains("自分が担当する未解決のインシデント"), "{}", home.body);
        }
    }
}
