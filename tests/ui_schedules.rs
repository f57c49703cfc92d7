//! The managers' pages (issue 16) over HTTP, signed in through the OIDC provider peer, on
//! SQLite and PostgreSQL: a schedule's timeline, the layer editor and its preview, bad input
//! shown beside its field with what was typed, the roster import's per-row results, a
//! responder seeing without edit buttons and refused when forging a post, and an
//! integration key shown once.

mod support;

use serde_json::json;
use support::TestApp;
use support::browser::{Browser, Landing, csrf_in};
use support::oidc_provider::OidcProvider;

/// The value of the input named `name` on a page.
fn value_of(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} on the page: {page}"));
    let tag = &page[at..at + page[at..].find('>').unwrap()];
    let value = tag
        .find("value=\"")
        .unwrap_or_else(|| panic!("no value in {tag}"))
        + 7;
    tag[value..].split('"').next().unwrap().to_owned()
}

/// The date in Tokyo `offset` days from the test clock's today (sign-in tests run on real
/// time), as `2026-01-05`.
fn day(app: &TestApp, offset: i64) -> String {
    let now = rota::clock::Clock::now(&*app.clock) + chrono::Duration::hours(9);
    (now.date_naive() + chrono::Duration::days(offset)).to_string()
}

/// A daily rotation of Ana and Ben from 09:00 Tokyo yesterday.
async fn payments(app: &TestApp) -> (String, String, String, String) {
    let ana = app.user("Ana Ito", "ana@example.com").await;
    let ben = app.user("Ben Ueda", "ben@example.com").await;
    let cleo = app.user("Cleo Sato", "cleo@example.com").await;
    let layer = json!({
        "name": "Primary",
        "start": format!("{}T09:00:00+09:00", day(app, -1)),
        "rotation_virtual_start": format!("{}T09:00:00+09:00", day(app, -1)),
        "rotation_turn_length_seconds": 86_400,
        "users": [{"user": {"id": ana, "type": "user_reference"}}, {"user": {"id": ben, "type": "user_reference"}}],
    });
    let (status, body) = app
        .post(
            "/api/v2/schedules",
            json!({"schedule": {"name": "Payments", "time_zone": "Asia/Tokyo", "schedule_layers": [layer]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["schedule"]["id"].as_str().unwrap().to_owned();
    (id, ana, ben, cleo)
}

/// The editor's fields as the page fills them, with `changes` made.
fn edited(page: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = vec![
        ("csrf_token".into(), csrf_in(page)),
        ("name".into(), value_of(page, "name")),
        ("description".into(), String::new()),
        ("time_zone".into(), value_of(page, "time_zone")),
        ("layer-0-id".into(), value_of(page, "layer-0-id")),
        ("layer-0-name".into(), value_of(page, "layer-0-name")),
        (
            "layer-0-users".into(),
            "ana@example.com\nben@example.com".into(),
        ),
        ("layer-0-turn".into(), value_of(page, "layer-0-turn")),
        ("layer-0-unit".into(), "days".into()),
        ("layer-0-handoff".into(), value_of(page, "layer-0-handoff")),
        ("layer-0-start".into(), value_of(page, "layer-0-start")),
        ("layer-0-restrictions".into(), String::new()),
        // The blank "new layer" the editor offers.
        ("layer-1-id".into(), String::new()),
        ("layer-1-name".into(), String::new()),
        ("layer-1-users".into(), String::new()),
        ("layer-1-turn".into(), "1".into()),
        ("layer-1-unit".into(), "days".into()),
    ];
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(f) => f.1 = (*value).to_owned(),
            None => fields.push(((*name).to_owned(), (*value).to_owned())),
        }
    }
    fields
}

async fn post(browser: &Browser, path: &str, fields: &[(String, String)]) -> Landing {
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    browser.post_form(path, &fields).await
}

/// The people of the final schedule from the API, in order.
async fn final_people(app: &TestApp, id: &str) -> Vec<String> {
    let (status, body) = app
        .get(&format!(
            "/api/v2/schedules/{id}?since={}T00:00:00Z&until={}T00:00:00Z",
            day(app, 0),
            day(app, 8)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["schedule"]["final_schedule"]["rendered_schedule_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["user"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn signed_in(app: &TestApp, login: &str) -> Browser {
    let b = Browser::new(app);
    assert_eq!(b.sign_in(login).await.status, 200);
    b
}

mod pages {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());

        async fn an_admin_previews_a_layer_edit_then_saves_it_and_the_api_agrees(app) {
            let (id, ana, ben, cleo) = payments(&app).await;
            let alice = signed_in(&app, "alice@contoso.example").await;

            let page = alice.get(&format!("/schedules/{id}")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert!(page.body.contains("<svg"), "{}", page.body);
            assert!(page.body.contains("Ana Ito") && page.body.contains("Ben Ueda"));
            assert!(page.body.contains(&format!("/schedules/{id}/edit")));
            let list = alice.get("/schedules").await;
            assert!(list.body.contains(&format!("href=\"/schedules/{id}\"")), "{}", list.body);

            let form = alice.get(&format!("/schedules/{id}/edit")).await;
            assert_eq!(form.status, 200, "{}", form.body);
            assert!(form.body.contains("ana@example.com\nben@example.com"), "{}", form.body);
            assert_eq!(value_of(&form.body, "layer-0-turn"), "1");

            // Cleo joins and turns last two days: the preview shows it, nothing is saved yet.
            let changes = [
                ("layer-0-users", "ana@example.com\nben@example.com\ncleo@example.com"),
                ("layer-0-turn", "2"),
            ];
            let fields = edited(&form.body, &changes);
            let preview = post(&alice, &format!("/schedules/{id}/preview"), &fields).await;
            assert_eq!(preview.status, 200, "{}", preview.body);
            assert!(preview.body.contains("preview-heading"), "{}", preview.body);
            assert!(preview.body.contains("Cleo Sato"), "{}", preview.body);
            assert!(preview.body.contains("ana@example.com\nben@example.com\ncleo@example.com"));
            assert!(!final_people(&app, &id).await.contains(&cleo));

            let saved = post(&alice, &format!("/schedules/{id}/edit"), &fields).await;
            assert_eq!(saved.status, 200, "{}", saved.body);
            assert!(saved.url.ends_with(&format!("/schedules/{id}")), "{}", saved.url);
            assert!(saved.body.contains("Cleo Sato"), "{}", saved.body);
            let (_, body) = app.get(&format!("/api/v2/schedules/{id}")).await;
            let layer = &body["schedule"]["schedule_layers"][0];
            assert_eq!(layer["rotation_turn_length_seconds"], 172_800, "{body}");
            let users: Vec<&str> = layer["users"].as_array().unwrap().iter()
                .map(|u| u["user"]["id"].as_str().unwrap()).collect();
            assert_eq!(users, [ana.as_str(), ben.as_str(), cleo.as_str()]);
            assert!(final_people(&app, &id).await.contains(&cleo));
        }

        async fn a_bad_hand_off_is_refused_beside_its_field_with_what_was_typed(app) {
            let (id, ..) = payments(&app).await;
            let alice = signed_in(&app, "alice@contoso.example").await;
            let form = alice.get(&format!("/schedules/{id}/edit")).await;
            let fields = edited(&form.body, &[
                ("layer-0-handoff", "next tuesday"),
                ("layer-0-users", "ana@example.com\ncleo@example.com"),
            ]);
            let refused = post(&alice, &format!("/schedules/{id}/edit"), &fields).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("id=\"layer-0-handoff-error\""), "{}", refused.body);
            assert!(refused.body.contains("value=\"next tuesday\""), "{}", refused.body);
            assert!(refused.body.contains("ana@example.com\ncleo@example.com"), "{}", refused.body);
            let (_, body) = app.get(&format!("/api/v2/schedules/{id}")).await;
            assert_eq!(body["schedule"]["schedule_layers"][0]["users"].as_array().unwrap().len(), 2);

            // A turn length that is not a number, and one too short for the engine.
            let fields = edited(&form.body, &[("layer-0-turn", "two")]);
            let refused = post(&alice, &format!("/schedules/{id}/edit"), &fields).await;
            assert_eq!(refused.status, 422);
            assert!(refused.body.contains("id=\"layer-0-turn-error\""), "{}", refused.body);
            let fields = edited(&form.body, &[("layer-0-turn", "0.5"), ("layer-0-unit", "hours")]);
            let refused = post(&alice, &format!("/schedules/{id}/edit"), &fields).await;
            assert_eq!(refused.status, 422);
            assert!(refused.body.contains("id=\"layer-0-turn-error\""), "{}", refused.body);

            // Without the CSRF token, nothing is done.
            let mut fields = edited(&form.body, &[("layer-0-turn", "3")]);
            fields.retain(|(n, _)| n != "csrf_token");
            let refused = post(&alice, &format!("/schedules/{id}/edit"), &fields).await;
            assert_eq!(refused.status, 403, "{}", refused.body);
            let (_, body) = app.get(&format!("/api/v2/schedules/{id}")).await;
            assert_eq!(body["schedule"]["schedule_layers"][0]["rotation_turn_length_seconds"], 86_400);
        }

        async fn a_roster_with_one_bad_row_names_it_and_imports_the_rest(app) {
            let (id, _, ben, cleo) = payments(&app).await;
            let alice = signed_in(&app, "alice@contoso.example").await;
            let page = alice.get(&format!("/schedules/{id}")).await;
            let csrf = csrf_in(&page.body);
            let at = |d: i64| format!("{}T09:00:00+09:00", day(&app, d));
            let csv = format!("user,start,end\r\n\
                       cleo@example.com,{},{}\r\n\
                       nobody@example.com,{},{}\r\n\
                       ben@example.com,{},{}\r\n", at(5), at(6), at(6), at(7), at(7), at(8));
            let boundary = "rota-test-boundary";
            let body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"january.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
            );
            let res = alice.http.post(format!("{}/schedules/{id}/roster", app.base))
                .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
                .body(body)
                .send().await.unwrap();
            assert_eq!(res.status(), 200);
            let html = res.text().await.unwrap();
            assert!(html.contains("2 of 3 rows imported, 1 refused"), "{html}");
            let row3 = html.find("<th scope=\"row\">3</th>").unwrap_or_else(|| panic!("{html}"));
            let rest = &html[row3..];
            assert!(rest[..rest.find("</tr>").unwrap()].contains("nobody@example.com"), "{html}");

            let (_, listed) = app.get(&format!(
                "/api/v2/schedules/{id}/overrides?since={}T00:00:00Z&until={}T00:00:00Z", day(&app, 4), day(&app, 9)
            )).await;
            let users: Vec<&str> = listed["overrides"].as_array().unwrap().iter()
                .map(|o| o["user"]["id"].as_str().unwrap()).collect();
            assert_eq!(users, [cleo.as_str(), ben.as_str()], "{listed}");
        }

        async fn a_responder_sees_the_schedule_without_edit_buttons_and_a_forged_post_is_refused(app) {
            let (id, ..) = payments(&app).await;
            let alice = signed_in(&app, "alice@contoso.example").await;
            let form = alice.get(&format!("/schedules/{id}/edit")).await;
            let bob = signed_in(&app, "bob@contoso.example").await;
            let page = bob.get(&format!("/schedules/{id}")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert!(page.body.contains("Ana Ito"));
            assert!(!page.body.contains(&format!("/schedules/{id}/edit")), "{}", page.body);
            assert!(!page.body.contains("/roster"), "{}", page.body);
            assert_eq!(bob.get(&format!("/schedules/{id}/edit")).await.status, 403);

            let mut fields = edited(&form.body, &[("layer-0-turn", "3")]);
            fields[0].1 = csrf_in(&page.body);
            let refused = post(&bob, &format!("/schedules/{id}/edit"), &fields).await;
            assert_eq!(refused.status, 403, "{}", refused.body);
            let refused = post(&bob, &format!("/schedules/{id}/preview"), &fields).await;
            assert_eq!(refused.status, 403, "{}", refused.body);
            let (_, body) = app.get(&format!("/api/v2/schedules/{id}")).await;
            assert_eq!(body["schedule"]["schedule_layers"][0]["rotation_turn_length_seconds"], 86_400);
        }

        async fn a_new_integration_key_is_shown_once_with_how_to_send_events(app) {
            let (_, ana, ..) = payments(&app).await;
            let (status, body) = app.post("/api/v2/escalation_policies",
                json!({"escalation_policy": {"name": "Checkout", "escalation_rules": [
                    {"escalation_delay_in_minutes": 10, "targets": [{"id": ana, "type": "user_reference"}]}]}})).await;
            assert_eq!(status, 201, "{body}");
            let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
            let (service, old_key) = app.service_with_key(&policy, "Checkout").await;

            let alice = signed_in(&app, "alice@contoso.example").await;
            let page = alice.get(&format!("/services/{service}")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert!(!page.body.contains(&old_key));
            assert!(page.body.contains("/v2/enqueue") && page.body.contains("pagerduty_configs"), "{}", page.body);
            let made = alice.post_form(&format!("/services/{service}/integrations"),
                &[("csrf_token", &csrf_in(&page.body)), ("name", "Prometheus")]).await;
            assert_eq!(made.status, 200, "{}", made.body);
            let at = made.body.find("id=\"routing-key\"").unwrap_or_else(|| panic!("{}", made.body));
            let at = at + made.body[at..].find('>').unwrap() + 1;
            let key = made.body[at..at + 32].to_owned();
            assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
            // In the curl and Alertmanager snippets too.
            assert_eq!(made.body.matches(&key).count(), 3, "{}", made.body);
            assert!(made.body.contains("/assets/copy.js"));
            assert_eq!(alice.get("/assets/copy.js").await.status, 200);
            // Shown once: the service's page, and the API, show only its hint.
            let again = alice.get(&format!("/services/{service}")).await;
            assert!(again.body.contains("Prometheus") && !again.body.contains(&key), "{}", again.body);
            let (_, body) = app.get(&format!("/api/v2/services/{service}")).await;
            assert!(!body.to_string().contains(&key));
            // The key works.
            let event = json!({"routing_key": key, "event_action": "trigger",
                "payload": {"summary": "Disk full", "source": "web-1", "severity": "critical"}});
            let (status, body) = support::send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
            assert_eq!(status, 202, "{body}");

            let bob = signed_in(&app, "bob@contoso.example").await;
            let seen = bob.get(&format!("/services/{service}")).await;
            assert_eq!(seen.status, 200);
            assert!(!seen.body.contains("/integrations\""), "{}", seen.body);
            let forged = bob.post_form(&format!("/services/{service}/integrations"),
                &[("csrf_token", &csrf_in(&seen.body)), ("name", "Mine")]).await;
            assert_eq!(forged.status, 403);
        }

        async fn an_escalation_policy_and_a_team_are_edited_from_their_pages(app) {
            let (_, ana, ben, _) = payments(&app).await;
            let (status, body) = app.post("/api/v2/escalation_policies",
                json!({"escalation_policy": {"name": "Checkout", "escalation_rules": [
                    {"escalation_delay_in_minutes": 10, "targets": [{"id": ana, "type": "user_reference"}]}]}})).await;
            assert_eq!(status, 201, "{body}");
            let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
            let alice = signed_in(&app, "alice@contoso.example").await;
            let page = alice.get(&format!("/escalation_policies/{policy}")).await;
            assert!(page.body.contains("Ana Ito"), "{}", page.body);
            let form = alice.get(&format!("/escalation_policies/{policy}/edit")).await;
            assert_eq!(form.status, 200, "{}", form.body);
            let csrf = csrf_in(&form.body);
            let fields = [("csrf_token", csrf.as_str()), ("name", "Checkout"), ("num_loops", "2"),
                ("handoff", "if_has_services"), ("level-0-delay", "15"), ("level-0-targets", "ana@example.com"),
                ("level-1-delay", "5"), ("level-1-targets", "ben@example.com")];
            let saved = alice.post_form(&format!("/escalation_policies/{policy}/edit"), &fields).await;
            assert_eq!(saved.status, 200, "{}", saved.body);
            assert!(saved.body.contains("Ben Ueda"), "{}", saved.body);
            let (_, body) = app.get(&format!("/api/v2/escalation_policies/{policy}")).await;
            let rules = &body["escalation_policy"]["escalation_rules"];
            assert_eq!((rules[0]["escalation_delay_in_minutes"].as_u64(), rules[1]["targets"][0]["id"].as_str()), (Some(15), Some(ben.as_str())), "{body}");
            assert_eq!(body["escalation_policy"]["num_loops"], 2);
            let bad = [("csrf_token", csrf.as_str()), ("name", "Checkout"), ("level-0-delay", "soon"), ("level-0-targets", "ana@example.com")];
            let refused = alice.post_form(&format!("/escalation_policies/{policy}/edit"), &bad).await;
            assert_eq!(refused.status, 422);
            assert!(refused.body.contains("id=\"level-0-delay-error\"") && refused.body.contains("value=\"soon\""), "{}", refused.body);

            let (status, body) = app.post("/api/v2/teams", json!({"team": {"name": "Payments team"}})).await;
            assert_eq!(status, 201, "{body}");
            let team = body["team"]["id"].as_str().unwrap().to_owned();
            let page = alice.get(&format!("/teams/{team}")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let added = alice.post_form(&format!("/teams/{team}/members"),
                &[("csrf_token", &csrf_in(&page.body)), ("user", "ben@example.com"), ("role", "manager")]).await;
            assert_eq!(added.status, 200, "{}", added.body);
            assert!(added.body.contains("Ben Ueda"), "{}", added.body);
            let (_, body) = app.get(&format!("/api/v2/teams/{team}/members")).await;
            assert_eq!(body["members"][0]["user"]["id"], ben.as_str(), "{body}");
            assert_eq!(body["members"][0]["role"], "manager", "{body}");
            let unknown = alice.post_form(&format!("/teams/{team}/members"),
                &[("csrf_token", &csrf_in(&page.body)), ("user", "nobody@example.com"), ("role", "responder")]).await;
            assert_eq!(unknown.status, 422);
            assert!(unknown.body.contains("value=\"nobody@example.com\""));
        }

        async fn the_schedule_pages_speak_japanese_to_a_japanese_reader(app) {
            let (id, ..) = payments(&app).await;
            let alice = signed_in(&app, "alice@contoso.example").await;
            let (_, me) = alice.me().await;
            let me_id = me["user"]["id"].as_str().unwrap().to_owned();
            let (status, body) = app.put(&format!("/api/v2/users/{me_id}"), json!({"user": {"locale": "ja"}})).await;
            assert_eq!(status, 200, "{body}");
            let page = alice.get(&format!("/schedules/{id}")).await;
            assert!(page.body.contains("最終スケジュール"), "{}", page.body);
            assert!(page.body.contains("lang=\"ja\""));
        }
    }
}
