//! The pages in a real browser (headless Chromium through chromedriver, `support::chromium`),
//! on SQLite and PostgreSQL: signing in through the OIDC provider peer lands on the home page;
//! a paged responder acknowledges an incident from its page; a Japanese browser asks for
//! Japanese. Every page visited passes axe-core (no serious or critical violation) and is
//! screenshotted into `target/screenshots/`.

mod support;

use serde_json::json;
use support::chromium::{Language, Window};
use support::oidc_provider::OidcProvider;
use support::{TestApp, send};

/// Bob's user id, once he has signed in (his account is made then).
async fn user_id(app: &TestApp, name: &str) -> String {
    let (status, body) = app.get("/api/v2/users?limit=100").await;
    assert_eq!(status, 200, "{body}");
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("no user {name:?} in {body}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A service paging `user` whose event opened one incident; its id.
async fn paged_incident(app: &TestApp, user: &str, summary: &str) -> String {
    let key = app.paging_service("Checkout", &[user]).await;
    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "cpu",
        "payload": {"summary": summary, "source": "web-1", "severity": "critical"}});
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
    assert_eq!(status, 202, "{body}");
    let (_, list) = app.get("/api/v2/incidents").await;
    list["incidents"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no incident opened: {list}"))
        .to_owned()
}

mod pages {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());

        async fn signing_in_through_the_provider_lands_on_the_home_page_with_the_name(app) {
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("bob@contoso.example").await;
            assert_eq!(window.path().await, "/");
            assert_eq!(window.h1().await, "Home");
            window.assert_shows("Signed in as Bob Example").await;
            window.assert_accessible("home").await;
            window.screenshot("home").await;
            window.close().await;
        }

        async fn a_paged_responder_acknowledges_from_the_incident_page(app) {
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("bob@contoso.example").await;
            let bob = user_id(&app, "Bob Example").await;
            let incident = paged_incident(&app, &bob, "CPU high on web-1").await;

            window.visit(&format!("/incidents/{incident}/acknowledge")).await;
            assert_eq!(window.h1().await, "Acknowledge incident #1?");
            window.assert_shows("CPU high on web-1").await;
            window.assert_accessible("acknowledge").await;
            window.screenshot("acknowledge").await;
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "triggered", "opening the page changes nothing");

            window.click_button("Acknowledge").await;
            window.assert_shows("Acknowledged").await;
            window.assert_accessible("acknowledged").await;
            window.screenshot("acknowledged").await;
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "acknowledged", "{now}");
            assert_eq!(now["incident"]["acknowledgements"][0]["acknowledger"]["id"], bob.as_str());
            window.close().await;
        }

        async fn an_event_opens_an_incident_that_is_acknowledged_and_noted_from_its_page(app) {
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("bob@contoso.example").await;
            let bob = user_id(&app, "Bob Example").await;
            let incident = paged_incident(&app, &bob, "Checkout latency over 2 s").await;
            // Home lists it; the list leads to it.
            window.visit("/").await;
            window.assert_shows("Checkout latency over 2 s").await;
            window.visit("/incidents").await;
            window.assert_accessible("incidents").await;
            window.screenshot("incidents").await;
            window.click_link("Checkout latency over 2 s").await;
            assert_eq!(window.path().await, format!("/incidents/{incident}"));
            window.assert_accessible("incident").await;
            window.screenshot("incident").await;
            window.click_button("Acknowledge").await;
            window.fill("Note", "Rolled back the 14:02 deploy.").await;
            window.click_button("Add a note").await;
            window.assert_shows("Rolled back the 14:02 deploy.").await;
            window.assert_accessible("incident (acknowledged, noted)").await;
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "acknowledged", "{now}");
            let (_, notes) = app.get(&format!("/api/v2/incidents/{incident}/notes")).await;
            assert_eq!(notes["notes"][0]["content"], "Rolled back the 14:02 deploy.", "{notes}");
            window.close().await;
        }

        async fn the_pages_are_japanese_for_a_person_whose_language_is_japanese(app) {
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("bob@contoso.example").await;
            let bob = user_id(&app, "Bob Example").await;
            let (status, body) = app.put(&format!("/api/v2/users/{bob}"), json!({"user": {"locale": "ja"}})).await;
            assert_eq!(status, 200, "{body}");
            let incident = paged_incident(&app, &bob, "CPU high on web-1").await;
            window.visit("/").await;
            window.assert_japanese().await;
            window.assert_accessible("home (ja)").await;
            window.screenshot("home-person").await;
            window.visit(&format!("/incidents/{incident}")).await;
            assert_eq!(window.lang().await, "ja");
            window.assert_shows("タイムライン").await;
            window.assert_accessible("incident (ja)").await;
            window.screenshot("incident-person").await;
            window.close().await;
        }

        async fn a_japanese_browser_asks_for_japanese(app) {
            let Some(window) = Window::open_in(&app, Language::Japanese).await else { return };
            window.sign_in("bob@contoso.example").await;
            assert_eq!(window.path().await, "/");
            // The home page loads; once it is translated, `window.assert_japanese()` here.
            assert!(!window.h1().await.is_empty());
            assert!(!window.lang().await.is_empty(), "<html> names its language");
            window.assert_accessible("home (ja)").await;
            window.screenshot("home").await;
            // The browser really sends `Accept-Language: ja`: the incident summary, which
            // picks its language by that header, answers in Japanese.
            let bob = user_id(&app, "Bob Example").await;
            let incident = paged_incident(&app, &bob, "CPU high on web-1").await;
            window.visit(&format!("/api/v2/incidents/{incident}/summary")).await;
            window.assert_shows("未対応").await;
            window.close().await;
        }
    }
}
