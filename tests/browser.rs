//! The pages in a real browser (headless Chromium through chromedriver, `support::chromium`),
//! on SQLite and PostgreSQL: signing in through the OIDC provider peer lands on the home page;
//! a paged responder acknowledges an incident from its page; a responder takes a colleague's
//! shift from My On-Call Shifts and the schedule shows the override; a manager previews a
//! layer edit (nothing saved) then saves it; a roster with a bad row names it; a licence owner
//! reads the usage chart; a stakeholder sees no edit buttons and a forged post is refused; the
//! main pages in English and in Japanese. Every page visited passes axe-core (no serious or
//! critical violation) and is screenshotted into `target/screenshots/`. Last, over plain HTTP:
//! the navigation shows a link exactly when its page opens, under a deployment's own policy.

mod support;

use chrono::{DateTime, Duration, DurationRound, NaiveDateTime, Utc};
use serde_json::{Value, json};
use support::browser::Browser;
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

/// A service "Checkout" paging `user` whose event opened one incident; its id.
async fn paged_incident(app: &TestApp, user: &str, summary: &str) -> String {
    paged_incident_on(app, "Checkout", user, summary).await
}

/// A service `service` paging `user` whose event opened one incident; its id.
async fn paged_incident_on(app: &TestApp, service: &str, user: &str, summary: &str) -> String {
    let key = app.paging_service(service, &[user]).await;
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

/// Alice (an admin) signed in to `window`; Ana, Ben and Cleo; and "Payments", a daily
/// rotation of Ana and Ben: (schedule id, [Ana's, Ben's, Cleo's ids]).
async fn managed_by_alice(app: &TestApp, window: &Window) -> (String, [String; 3]) {
    window.sign_in("alice@contoso.example").await;
    let ana = app.user("Ana Ito", "ana@example.com").await;
    let ben = app.user("Ben Ueda", "ben@example.com").await;
    let cleo = app.user("Cleo Sato", "cleo@example.com").await;
    let (schedule, _) = daily_schedule(app, "Payments", "Payments policy", &[&ana, &ben]).await;
    (schedule, [ana, ben, cleo])
}

/// `at` as the API takes it.
fn written(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A daily rotation `name` of `users` in Tokyo (turn 0 from yesterday at the hour), paged
/// through the escalation policy `policy`: (schedule id, policy id).
async fn daily_schedule(
    app: &TestApp,
    name: &str,
    policy: &str,
    users: &[&str],
) -> (String, String) {
    let now = rota::clock::Clock::now(&*app.clock);
    let start = written(now.duration_trunc(Duration::hours(1)).unwrap() - Duration::days(1));
    let layer = json!({
        "name": "Primary", "start": start, "rotation_virtual_start": start,
        "rotation_turn_length_seconds": 86_400,
        "users": users.iter().map(|u| json!({"user": {"id": u, "type": "user_reference"}})).collect::<Vec<_>>(),
    });
    let (status, body) = app
        .post(
            "/api/v2/schedules",
            json!({"schedule": {"name": name, "time_zone": "Asia/Tokyo", "schedule_layers": [layer]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let schedule = body["schedule"]["id"].as_str().unwrap().to_owned();
    let policy = app.schedule_policy(policy, &schedule).await;
    (schedule, policy)
}

/// The schedule's overrides from two days ago to a month ahead, by the API.
async fn overrides(app: &TestApp, schedule: &str) -> Vec<Value> {
    let now = rota::clock::Clock::now(&*app.clock);
    let (status, body) = app
        .get(&format!(
            "/api/v2/schedules/{schedule}/overrides?since={}&until={}",
            written(now - Duration::days(2)),
            written(now + Duration::days(30))
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["overrides"].as_array().unwrap().clone()
}

/// The schedule as the API has it: its first layer's people (ids) and turn length.
async fn first_layer(app: &TestApp, schedule: &str) -> (Vec<String>, i64) {
    let (status, body) = app.get(&format!("/api/v2/schedules/{schedule}")).await;
    assert_eq!(status, 200, "{body}");
    let layer = &body["schedule"]["schedule_layers"][0];
    let users = layer["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"]["id"].as_str().unwrap().to_owned())
        .collect();
    (
        users,
        layer["rotation_turn_length_seconds"].as_i64().unwrap(),
    )
}

/// An instant of the API as a schedule page in Tokyo writes it in its timeline
/// (`06-01 09:00`).
fn in_tokyo(at: &Value) -> String {
    let at: DateTime<Utc> = at.as_str().unwrap().parse().unwrap();
    (at + Duration::hours(9)).format("%m-%d %H:%M").to_string()
}

/// How long a row of a page's table lasts: its start and end cells (`2026-06-01 09:00`).
fn lasts(row: &[String]) -> Duration {
    let at = |cell: &str| {
        NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M")
            .unwrap_or_else(|e| panic!("{cell:?} in {row:?}: {e}"))
    };
    at(&row[2]) - at(&row[1])
}

/// Alice (an admin, who sees every page) signs in with a browser in `language` and opens each
/// page of the navigation and the pages they lead to, with something on each: every one
/// answers 200 with an h1, in Japanese for a Japanese browser, passes axe-core and is
/// screenshotted.
async fn tour(app: &TestApp, language: Language) {
    let Some(window) = Window::open_in(app, language).await else {
        return;
    };
    window.sign_in("alice@contoso.example").await;
    let alice = user_id(app, "Alice Example").await;
    let ana = app.user("Ana Ito", "ana@example.com").await;
    // What people call things, in their language.
    let (schedule, policy, service, summary, team) = match language {
        Language::English => (
            "Payments",
            "Payments policy",
            "Checkout",
            "CPU high on web-1",
            "Payments team",
        ),
        Language::Japanese => (
            "決済",
            "決済のエスカレーション",
            "決済サービス",
            "web-1 の CPU 使用率が高い",
            "決済チーム",
        ),
    };
    let (schedule, policy) = daily_schedule(app, schedule, policy, &[&alice, &ana]).await;
    let incident = paged_incident_on(app, service, &alice, summary).await;
    let (_, services) = app.get("/api/v2/services").await;
    let service = services["services"][0]["id"].as_str().unwrap().to_owned();
    let team = app.team(team).await;
    let (status, body) = app
        .put(
            &format!("/api/v2/teams/{team}/users/{ana}"),
            json!({"role": "responder"}),
        )
        .await;
    assert!(status < 300, "{status} {body}");

    let pages = [
        ("/".to_owned(), "home"),
        ("/shifts".to_owned(), "shifts"),
        ("/shifts?view=month".to_owned(), "shifts-month"),
        ("/incidents".to_owned(), "incidents"),
        (format!("/incidents/{incident}"), "incident"),
        ("/profile".to_owned(), "profile"),
        ("/schedules".to_owned(), "schedules"),
        (format!("/schedules/{schedule}"), "schedule"),
        (format!("/schedules/{schedule}/edit"), "schedule-editor"),
        ("/escalation_policies".to_owned(), "escalation-policies"),
        (
            format!("/escalation_policies/{policy}"),
            "escalation-policy",
        ),
        ("/services".to_owned(), "services"),
        (format!("/services/{service}"), "service"),
        ("/teams".to_owned(), "teams"),
        (format!("/teams/{team}"), "team"),
        ("/seats".to_owned(), "seats"),
        ("/identity".to_owned(), "identity"),
        ("/identity/audit".to_owned(), "identity-audit"),
        ("/identity/sign-in".to_owned(), "identity-sign-in"),
    ];
    window.visit("/").await;
    for link in window.hrefs("header nav a").await {
        assert!(
            pages.iter().any(|(p, _)| *p == link),
            "the tour misses {link}"
        );
    }
    let mut untranslated = Vec::new();
    for (path, name) in &pages {
        window.visit(path).await;
        assert_eq!(
            window.status().await,
            200,
            "{path}: {}",
            window.text().await
        );
        assert!(!window.h1().await.trim().is_empty(), "{path} has no h1");
        if language == Language::Japanese {
            window.assert_japanese().await;
            let english = english_in(&window.prose().await);
            if !english.is_empty() {
                untranslated.push(format!("{path}: {english:?}"));
            }
        }
        window.assert_accessible(name).await;
        window.screenshot(name).await;
    }
    window.close().await;
    assert!(
        untranslated.is_empty(),
        "English on Japanese pages:\n{}",
        untranslated.join("\n")
    );
}

/// Names a Japanese page may show in Latin letters: people's, and products'.
const NOT_ENGLISH: &[&str] = &[
    "Alice Example",
    "Ana Ito",
    "Rota",
    "Prometheus Alertmanager",
];

/// Runs of two or more English words in `text` (a Japanese page's), once the names of
/// `NOT_ENGLISH` and addresses are taken out: words a page forgot to translate. Japanese, digits and
/// symbols end a run; spaces and punctuation between words do not.
fn english_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        // Addresses and paths are not words.
        let mut line = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || "@/._-+:".contains(c)))
            .filter(|chunk| chunk.contains(['@', '/']))
            .fold(line.to_owned(), |line, address| line.replace(address, "|"));
        for name in NOT_ENGLISH {
            line = line.replace(name, "|");
        }
        let mut run: Vec<String> = Vec::new();
        let mut word = String::new();
        let close = |run: &mut Vec<String>, found: &mut Vec<String>| {
            if run.len() > 1 {
                found.push(run.join(" "));
            }
            run.clear();
        };
        for c in line.chars().chain(std::iter::once('|')) {
            if c.is_ascii_alphabetic() || (matches!(c, '\'' | '-') && !word.is_empty()) {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                if word.len() > 1 && word.chars().any(|c| c.is_ascii_lowercase()) {
                    run.push(std::mem::take(&mut word));
                } else {
                    word.clear();
                    close(&mut run, &mut found);
                }
            }
            if !(c.is_whitespace() || ",.;:!?()\"".contains(c)) {
                close(&mut run, &mut found);
            }
        }
    }
    found
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
            // Who is signed in, and on which seat, in Japanese too.
            window.assert_shows("Bob Example（bob@contoso.example）としてサインインしています。ロール user、フルライセンス。").await;
            assert!(!window.shows("Signed in as").await, "{}", window.text().await);
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
        async fn a_responder_takes_a_colleagues_shift_and_the_schedule_shows_the_override(app) {
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("bob@contoso.example").await;
            let bob = user_id(&app, "Bob Example").await;
            let ana = app.user("Ana Ito", "ana@example.com").await;
            let (schedule, _) = daily_schedule(&app, "Payments", "Payments policy", &[&bob, &ana]).await;

            // His shifts: every turn of his in the next 90 days, as the API renders them.
            window.visit("/shifts").await;
            assert_eq!(window.h1().await, "My On-Call Shifts");
            let now = rota::clock::Clock::now(&*app.clock);
            let (_, rendered) = app.get(&format!("/api/v2/schedules/{schedule}?since={}&until={}",
                written(now), written(now + Duration::days(90)))).await;
            let his = rendered["schedule"]["final_schedule"]["rendered_schedule_entries"].as_array().unwrap()
                .iter().filter(|e| e["user"]["id"] == bob.as_str()).count();
            let rows = window.rows("main table").await;
            assert!(his >= 40, "{rendered}");
            assert_eq!(rows.len(), his, "{rows:?}");
            assert!(rows.iter().all(|r| r[0] == "Payments" && r[3] == "Payments policy, level 1"), "{rows:?}");
            window.assert_accessible("shifts").await;
            window.screenshot("shifts").await;

            // The month shows Ana's turns, with a link to take one: he takes her turn now.
            window.click_link("Month").await;
            window.assert_shows("Payments · Ana Ito").await;
            window.assert_accessible("shifts (month)").await;
            window.screenshot("shifts-month").await;
            let take = format!("a[href^='/shifts/take?schedule={schedule}']");
            assert!(window.count(&take).await >= 1, "no link to take Ana's shift");
            assert!(overrides(&app, &schedule).await.is_empty());
            let first = window.find(thirtyfour::By::Css(take.as_str()), "a take link").await;
            window.follow(first, "the first take link").await;
            assert_eq!(window.h1().await, "Take a shift on Payments");
            window.assert_accessible("take a shift").await;
            window.screenshot("take-shift").await;
            window.click_button("Take this shift").await;
            window.assert_shows("You took the shift").await;
            assert_eq!(window.path().await, "/shifts?done=taken");

            // The API has the override: Bob, over Ana's turn (from now, the past being kept).
            let made = overrides(&app, &schedule).await;
            assert_eq!(made.len(), 1, "{made:?}");
            assert_eq!(made[0]["user"]["id"], bob.as_str(), "{made:?}");
            let (start, end) = (in_tokyo(&made[0]["start"]), in_tokyo(&made[0]["end"]));
            // The schedule's page: the overrides table lists it, and the timeline draws Bob in
            // that span on the overrides row and on the final schedule.
            window.visit(&format!("/schedules/{schedule}")).await;
            let listed = window.rows("#overrides ~ .table-wrap table").await;
            assert_eq!(listed.len(), 1, "{listed:?}");
            assert_eq!(listed[0][0], "Bob Example", "{listed:?}");
            // (The final schedule joins it to his own next turn.)
            let titles = window.texts("svg.timeline g > title").await;
            let bar = format!("Bob Example: {start} – {end}");
            assert_eq!(titles.iter().filter(|t| **t == bar).count(), 1, "{bar:?} on the overrides row: {titles:?}");
            let from = format!("Bob Example: {start} – ");
            assert_eq!(titles.iter().filter(|t| t.starts_with(&from)).count(), 2, "{from:?} on the final row too: {titles:?}");
            window.assert_accessible("schedule with an override").await;
            window.screenshot("schedule-override").await;
            window.close().await;
        }

        async fn a_manager_previews_a_layer_edit_that_saves_nothing_until_saved(app) {
            let Some(window) = Window::open(&app).await else { return };
            let (schedule, [ana, ben, cleo]) = managed_by_alice(&app, &window).await;

            window.visit(&format!("/schedules/{schedule}")).await;
            let before = window.rows("table.final-schedule").await;
            assert_eq!(lasts(&before[1]), Duration::days(1), "{before:?}");
            window.click_link("Edit layers").await;
            assert_eq!(window.h1().await, "Edit Payments");
            window.assert_accessible("schedule editor").await;
            window.screenshot("schedule-editor").await;

            // Cleo joins and a turn lasts two days: the preview shows it.
            window.fill("People, in turn order", "ana@example.com\nben@example.com\ncleo@example.com").await;
            window.fill("Turn length", "2").await;
            window.click_button("Preview").await;
            window.assert_shows("Not saved yet").await;
            let preview = window.rows("section.preview table.final-schedule").await;
            let cleos = preview.iter().find(|r| r[0] == "Cleo Sato").unwrap();
            assert_eq!(lasts(cleos), Duration::days(2), "{preview:?}");
            assert_eq!(
                window.field("People, in turn order").await.prop("value").await.unwrap().as_deref(),
                Some("ana@example.com\nben@example.com\ncleo@example.com"),
                "the form keeps what was typed"
            );
            window.assert_accessible("schedule editor (preview)").await;
            window.screenshot("schedule-preview").await;
            // Nothing is saved yet.
            assert_eq!(first_layer(&app, &schedule).await, (vec![ana.clone(), ben.clone()], 86_400));

            window.click_button("Save").await;
            window.assert_shows("Cleo Sato").await;
            assert_eq!(window.path().await, format!("/schedules/{schedule}"));
            assert_eq!(first_layer(&app, &schedule).await, (vec![ana, ben, cleo], 172_800));
            let after = window.rows("table.final-schedule").await;
            let cleos = after.iter().find(|r| r[0] == "Cleo Sato").unwrap_or_else(|| panic!("{after:?}"));
            assert_eq!(lasts(cleos), Duration::days(2), "{after:?}");
            window.close().await;
        }

        async fn a_roster_with_a_bad_row_names_the_row_and_imports_the_rest(app) {
            let Some(window) = Window::open(&app).await else { return };
            let (schedule, [_, ben, cleo]) = managed_by_alice(&app, &window).await;
            let day = rota::clock::Clock::now(&*app.clock).duration_trunc(Duration::days(1)).unwrap();
            let at = |d: i64| written(day + Duration::days(d));
            let file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
            std::fs::write(file.path(), format!(
                "user,start,end\ncleo@example.com,{},{}\nnobody@example.com,{},{}\nben@example.com,{},{}\n",
                at(5), at(6), at(6), at(7), at(7), at(8))).unwrap();

            window.visit(&format!("/schedules/{schedule}")).await;
            window.attach("Roster file (CSV or JSON)", file.path()).await;
            window.click_button("Import").await;
            window.assert_shows("2 of 3 rows imported, 1 refused").await;
            // Row 1 is the header: the bad row is row 3, named with its reason.
            let rows = window.rows("table.roster").await;
            let outcome: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
            assert_eq!(outcome, [("2", "Accepted"), ("3", "Refused"), ("4", "Accepted")], "{rows:?}");
            assert!(rows[1][2].contains("nobody@example.com"), "{rows:?}");
            window.assert_accessible("roster import").await;
            window.screenshot("roster-import").await;
            let users: Vec<Value> = overrides(&app, &schedule).await.iter().map(|o| o["user"]["id"].clone()).collect();
            assert_eq!(users, [json!(cleo), json!(ben)]);
            window.close().await;
        }

        async fn a_licence_owner_reads_the_usage_chart_a_dot_per_recorded_day(app) {
            // Four days of history: one person made on each (a day's first change writes its
            // row of the history).
            app.clock.advance(-Duration::days(4));
            for name in ["ann", "ben", "cy", "dee"] {
                app.user(name, &format!("{name}@example.com")).await;
                app.clock.advance(Duration::days(1));
            }
            OidcProvider::shared()
                .upsert_account(json!({"login": "lena@contoso.example", "name": "Lena Owner",
                    "roles": ["Rota.LicenseOwner"]}))
                .await;
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("lena@contoso.example").await;
            window.click_link("Seats").await;
            assert_eq!(window.h1().await, "Seats");

            let (_, history) = app.get("/api/v2/licenses/usage_history").await;
            let dates = |licence: &str| -> Vec<String> {
                history["days"].as_array().unwrap().iter()
                    .filter(|d| d["license_id"] == licence)
                    .map(|d| d["date"].as_str().unwrap().to_owned())
                    .collect()
            };
            let today = rota::clock::Clock::now(&*app.clock).date_naive();
            let set_up: Vec<String> = (1..=4).rev().map(|d| (today - Duration::days(d)).to_string()).collect();
            let full = dates("full");
            assert!(set_up.iter().all(|d| full.contains(d)), "{set_up:?} in {history}");
            assert_eq!(window.count("svg#usage-chart[role=img]").await, 1);
            assert_eq!(window.count("#usage-chart circle.point").await, history["days"].as_array().unwrap().len());
            // Each full-seat dot names its day, and the days are the history's.
            let dots: Vec<String> = window.texts("#usage-chart circle.point.full > title").await
                .iter().map(|t| t.split(':').next().unwrap().to_owned()).collect();
            assert_eq!(dots, full, "one dot per recorded day");
            assert_eq!(window.count("#usage-chart circle.point.stakeholder").await, dates("stakeholder").len());
            window.assert_accessible("seats").await;
            window.screenshot("seats").await;
            window.close().await;
        }

        async fn a_stakeholder_sees_no_edit_buttons_and_a_forged_post_is_refused(app) {
            let ana = app.user("Ana Ito", "ana@example.com").await;
            let incident = paged_incident(&app, &ana, "CPU high on web-1").await;
            let (schedule, _) = daily_schedule(&app, "Payments", "Payments policy", &[&ana]).await;
            let Some(window) = Window::open(&app).await else { return };
            window.sign_in("carol@contoso.example").await;

            // The incident: she reads it and may subscribe; nothing else is offered.
            window.visit(&format!("/incidents/{incident}")).await;
            window.assert_shows("CPU high on web-1").await;
            assert_eq!(window.count("main form[method=post][action$='/subscribe']").await, 1);
            assert_eq!(window.count("main form[method=post]:not([action$='/subscribe'])").await, 0);
            window.assert_accessible("incident (stakeholder)").await;
            window.screenshot("incident-stakeholder").await;
            // Acknowledging anyway, with her own session and CSRF token: the 403 page.
            let csrf = window.csrf().await;
            window.submit_form(&format!("/incidents/{incident}/acknowledge"), &[("csrf_token", &csrf), ("from", "incident")]).await;
            assert_eq!(window.status().await, 403);
            assert_eq!(window.h1().await, "Not allowed");
            window.assert_accessible("403").await;
            window.screenshot("forbidden").await;
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "triggered", "{now}");

            // The schedule: read-only.
            window.visit(&format!("/schedules/{schedule}")).await;
            window.assert_shows("Ana Ito").await;
            assert_eq!(window.count("main form[method=post]").await, 0);
            assert_eq!(window.count(&format!("a[href='/schedules/{schedule}/edit']")).await, 0);
            window.assert_accessible("schedule (stakeholder)").await;
            window.screenshot("schedule-stakeholder").await;
            let now = rota::clock::Clock::now(&*app.clock);
            let (start, end) = (written(now + Duration::days(1)), written(now + Duration::days(2)));
            window.submit_form(&format!("/schedules/{schedule}/overrides"),
                &[("csrf_token", &csrf), ("user", "carol@contoso.example"), ("start", &start), ("end", &end)]).await;
            assert_eq!(window.status().await, 403);
            assert_eq!(window.h1().await, "Not allowed");
            window.visit(&format!("/schedules/{schedule}")).await;
            window.submit_form(&format!("/schedules/{schedule}/edit"),
                &[("csrf_token", &csrf), ("name", "Mine"), ("time_zone", "UTC"), ("layer-0-name", "Primary"),
                  ("layer-0-users", "carol@contoso.example"), ("layer-0-turn", "1"), ("layer-0-unit", "days"),
                  ("layer-0-handoff", "2026-01-01T09:00"), ("layer-0-start", "2026-01-01T09:00")]).await;
            assert_eq!(window.status().await, 403);
            assert!(overrides(&app, &schedule).await.is_empty());
            assert_eq!(first_layer(&app, &schedule).await, (vec![ana], 86_400));
            let (_, body) = app.get(&format!("/api/v2/schedules/{schedule}")).await;
            assert_eq!(body["schedule"]["name"], "Payments");
            window.close().await;
        }

        async fn the_main_pages_in_english(app) {
            tour(&app, Language::English).await;
        }

        async fn the_main_pages_in_japanese(app) {
            tour(&app, Language::Japanese).await;
        }
    }
}

/// A deployment that keeps its directory (people, teams) from read-only seats.
const DIRECTORY_FOR_FULL_SEATS: &str = r#"
forbid (
  principal,
  action == Rota::Action::"ReadDirectory",
  resource
)
when { principal.role == "stakeholder" };
"#;

/// The links of a page's navigation (`<nav aria-label=…>` in its header).
fn nav_links(page: &str) -> Vec<String> {
    let nav = &page[page.find("<header").expect("a header")..];
    let nav = &nav[..nav.find("</nav>").expect("a nav")];
    nav.split("href=\"")
        .skip(1)
        .map(|l| l[..l.find('"').unwrap()].to_owned())
        .collect()
}

mod navigation {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared()).policy(DIRECTORY_FOR_FULL_SEATS);

        async fn every_link_shown_opens_and_teams_are_shown_to_whoever_may_read_them(app) {
            for (login, reads_teams) in [("bob@contoso.example", true), ("carol@contoso.example", false)] {
                let person = Browser::new(&app);
                assert_eq!(person.sign_in(login).await.status, 200);
                let home = person.get("/").await;
                let links = nav_links(&home.body);
                assert!(links.contains(&"/schedules".to_owned()), "{login}: {links:?}");
                assert_eq!(links.contains(&"/teams".to_owned()), reads_teams, "{login}: {links:?}");
                for link in &links {
                    let page = person.get(link).await;
                    assert_eq!(page.status, 200, "{login} is shown {link}: {}", page.body);
                }
                if !reads_teams {
                    assert_eq!(person.get("/teams").await.status, 403);
                }
            }
        }
    }
}
