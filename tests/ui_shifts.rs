//! My On-Call Shifts in a browser (reqwest with a cookie jar, signed in through the OIDC
//! provider peer) on SQLite and PostgreSQL: a responder's shifts as a list and a month, giving
//! one to a colleague (the override seen through the API), refusals shown in the form with
//! what was sent, Japanese words, and a stakeholder who sees no buttons and whose forged
//! posts are refused.

mod support;

use chrono::{Duration, DurationRound, Utc};
use serde_json::{Value, json};
use support::TestApp;
use support::browser::{Browser, csrf_in};
use support::oidc_provider::OidcProvider;

/// The first `value` of the input named `name` on a page.
fn value_of(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} on the page: {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// A daily rotation of `users` (in that order) that started yesterday at the hour, paged
/// through a policy: `(schedule id, start of turn 0)`.
async fn daily(app: &TestApp, name: &str, users: &[&str]) -> (String, chrono::DateTime<Utc>) {
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::days(1);
    let written = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let layer = json!({
        "name": "Primary", "start": written, "rotation_virtual_start": written,
        "rotation_turn_length_seconds": 86_400,
        "users": users.iter().map(|u| json!({"user": {"id": u, "type": "user_reference"}})).collect::<Vec<_>>(),
        "restrictions": []
    });
    let (status, body) = app
        .post(
            "/api/v2/schedules",
            json!({"schedule": {"name": name, "type": "schedule", "time_zone": "Asia/Tokyo",
                "schedule_layers": [layer]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let schedule = body["schedule"]["id"].as_str().unwrap().to_owned();
    app.schedule_policy(&format!("{name} policy"), &schedule)
        .await;
    (schedule, start)
}

async fn overrides(app: &TestApp, schedule: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!(
            "/api/v2/schedules/{schedule}/overrides?since={}&until={}",
            (Utc::now() - Duration::days(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            (Utc::now() + Duration::days(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["overrides"].as_array().unwrap().clone()
}

on_both_backends! {
    builder = TestApp::builder().oidc(OidcProvider::shared());
    async fn a_responder_sees_his_shifts_gives_one_away_and_a_stakeholder_may_not(app) {
        let bob = Browser::new(&app);
        assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
        let bob_id = bob.me().await.1["user"]["id"].as_str().unwrap().to_owned();
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let (schedule, _) = daily(&app, "Payments", &[&bob_id, &ana]).await;

        // The list: his shifts in the next 90 days, each with a give-away form naming Ana.
        let page = bob.get("/shifts").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Payments"), "{}", page.body);
        assert!(page.body.contains("Payments policy, level 1"), "{}", page.body);
        assert!(page.body.contains("Give away"), "{}", page.body);
        assert!(page.body.contains(&format!("<option value=\"{ana}\">Ana Ito</option>")), "{}", page.body);
        assert!(page.body.matches("action=\"/shifts/give\"").count() >= 2, "{}", page.body);

        // The month: a calendar table with links to the months around it, Ana's turns with
        // a link to take them.
        let month = bob.get("/shifts?view=month").await;
        assert_eq!(month.status, 200, "{}", month.body);
        assert!(month.body.contains("<table class=\"month\">"), "{}", month.body);
        assert!(month.body.contains("rel=\"prev\"") && month.body.contains("rel=\"next\""), "{}", month.body);
        assert!(month.body.contains("Payments · Ana Ito"), "{}", month.body);
        assert!(month.body.contains(&format!("/shifts/take?schedule={schedule}")), "{}", month.body);
        let december = bob.get("/shifts?view=month&month=2026-12").await;
        assert_eq!(december.status, 200);
        assert!(december.body.contains("month=2026-11") && december.body.contains("month=2027-01"), "{}", december.body);
        let bad = bob.get("/shifts?view=month&month=someday").await;
        assert_eq!(bad.status, 400, "{}", bad.body);

        // He gives his current shift to Ana with the row's form: the API shows the override.
        let csrf = csrf_in(&page.body);
        let (start, end) = (value_of(&page.body, "start"), value_of(&page.body, "end"));
        let done = bob.post_form("/shifts/give", &[("csrf_token", &csrf), ("schedule", &schedule),
            ("start", &start), ("end", &end), ("user", &ana)]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.url.ends_with("/shifts?done=given"), "{}", done.url);
        assert!(done.body.contains("You gave the shift away"), "{}", done.body);
        let made = overrides(&app, &schedule).await;
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!(made[0]["user"]["id"], ana.as_str());
        let (_, shown) = app.get(&format!("/api/v2/schedules/{schedule}")).await;
        let entries = &shown["schedule"]["overrides_subschedule"]["rendered_schedule_entries"];
        assert_eq!(entries[0]["user"]["id"], ana.as_str(), "{shown}");

        // A past range and an unknown person are refused in the form, keeping what was sent.
        let past = bob.post_form("/shifts/give", &[("csrf_token", &csrf), ("schedule", &schedule),
            ("start", "2020-01-01T09:00"), ("end", "2020-01-01T10:00"), ("user", &ana)]).await;
        assert_eq!(past.status, 422, "{}", past.body);
        assert!(past.body.contains("the past is not changed"), "{}", past.body);
        assert!(past.body.contains("value=\"2020-01-01T09:00\"") && past.body.contains("value=\"2020-01-01T10:00\""), "{}", past.body);
        let nobody = bob.post_form("/shifts/give", &[("csrf_token", &csrf), ("schedule", &schedule),
            ("start", &start), ("end", &end), ("user", "nobody")]).await;
        assert_eq!(nobody.status, 422, "{}", nobody.body);
        assert!(nobody.body.contains("'nobody' is not a user"), "{}", nobody.body);
        assert!(nobody.body.contains("<option value=\"nobody\" selected>"), "{}", nobody.body);
        let unreadable = bob.post_form("/shifts/take", &[("csrf_token", &csrf), ("schedule", &schedule),
            ("start", "tomorrow"), ("end", &end)]).await;
        assert_eq!(unreadable.status, 422, "{}", unreadable.body);
        assert!(unreadable.body.contains("id=\"start-error\""), "{}", unreadable.body);
        assert!(unreadable.body.contains("value=\"tomorrow\""), "{}", unreadable.body);
        // Without the CSRF token nothing is done.
        let forged = bob.post_form("/shifts/give", &[("schedule", &schedule),
            ("start", &start), ("end", &end), ("user", &ana)]).await;
        assert!(forged.status.is_client_error(), "{}", forged.status);
        assert_eq!(overrides(&app, &schedule).await.len(), 1);

        // He takes one of Ana's turns back from the month view's link.
        let link = month.body.split(&format!("/shifts/take?schedule={schedule}")).nth(1).unwrap()
            .split('"').next().unwrap().replace("&amp;", "&");
        let form = bob.get(&format!("/shifts/take?schedule={schedule}{link}")).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let taken = bob.post_form("/shifts/take", &[("csrf_token", &csrf_in(&form.body)), ("schedule", &schedule),
            ("start", &value_of(&form.body, "start")), ("end", &value_of(&form.body, "end"))]).await;
        assert!(taken.url.ends_with("/shifts?done=taken"), "{} {}", taken.url, taken.body);
        let made = overrides(&app, &schedule).await;
        assert!(made.iter().any(|o| o["user"]["id"] == bob_id.as_str()), "{made:?}");

        // In Japanese for a person whose language is Japanese.
        let (status, body) = app.put(&format!("/api/v2/users/{bob_id}"), json!({"user": {"locale": "ja"}})).await;
        assert_eq!(status, 200, "{body}");
        let ja = bob.get("/shifts").await;
        assert!(ja.body.contains("<html lang=\"ja\">") && ja.body.contains("シフトを譲る"), "{}", ja.body);

        // Carol, a stakeholder, reads her (empty) shifts; no forms; forged posts are 403.
        let carol = Browser::new(&app);
        assert_eq!(carol.sign_in("carol@contoso.example").await.status, 200);
        let hers = carol.get("/shifts").await;
        assert_eq!(hers.status, 200, "{}", hers.body);
        assert!(!hers.body.contains("/shifts/give") && !hers.body.contains("/shifts/take"), "{}", hers.body);
        let take_form = carol.get(&format!("/shifts/take?schedule={schedule}&start={start}&end={end}")).await;
        assert_eq!(take_form.status, 403, "{}", take_form.body);
        let csrf = csrf_in(&hers.body);
        let carol_id = carol.me().await.1["user"]["id"].as_str().unwrap().to_owned();
        for (path, user) in [("/shifts/give", ana.as_str()), ("/shifts/take", carol_id.as_str())] {
            let refused = carol.post_form(path, &[("csrf_token", &csrf), ("schedule", &schedule),
                ("start", &start), ("end", &end), ("user", user)]).await;
            assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        }
        assert_eq!(overrides(&app, &schedule).await.len(), 2);
    }
}
