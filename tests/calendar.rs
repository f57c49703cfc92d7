//! Calendar feeds over HTTP on SQLite and PostgreSQL: a person's and a schedule's secret
//! iCalendar URLs, parsed back with the `icalendar` crate (UTC times, stable UIDs, only the
//! right people's shifts), regenerating and deleting, stakeholders left out, odd paths
//! answered 404, and an audit trail that never holds the secret.

mod support;

use chrono::{DateTime, Duration, TimeZone, Utc};
use icalendar::{CalendarDateTime, Component, DatePerhapsTime};
use rota::domain::role::Role;
use serde_json::{Value, json};
use std::collections::HashMap;
use support::TestApp;

fn layer(users: &[&str], start: &str, turn_seconds: i64) -> Value {
    json!({
        "name": "Primary",
        "start": start,
        "rotation_virtual_start": start,
        "rotation_turn_length_seconds": turn_seconds,
        "users": users.iter().map(|u| json!({"user": {"id": u, "type": "user_reference"}})).collect::<Vec<_>>(),
        "restrictions": []
    })
}

/// A daily rotation in Tokyo whose turn 0 starts 2026-01-05T00:00Z (09:00 in Tokyo).
async fn daily(app: &TestApp, name: &str, users: &[&str]) -> String {
    let body = json!({"schedule": {"name": name, "type": "schedule", "time_zone": "Asia/Tokyo",
        "schedule_layers": [layer(users, "2026-01-05T09:00:00+09:00", 86_400)]}});
    let (status, body) = app.post("/api/v2/schedules", body).await;
    assert_eq!(status, 201, "{body}");
    body["schedule"]["id"].as_str().unwrap().to_owned()
}

async fn three_people(app: &TestApp) -> (String, String, String) {
    (
        app.user("Ana Ito", "ana@example.com").await,
        app.user("Ben Ueda", "ben@example.com").await,
        app.user("Cleo Sato", "cleo@example.com").await,
    )
}

/// Makes a feed with `token` at `path` and returns its URL.
async fn make_feed(app: &TestApp, token: &str, path: &str) -> String {
    let (status, body) = support::send(app.as_token(token, reqwest::Method::POST, path)).await;
    assert_eq!(status, 201, "{body}");
    let url = body["calendar_feed"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/calendar/rota_cal_", app.base)) && url.ends_with(".ics"),
        "{url}"
    );
    assert!(body["calendar_feed"]["created_at"].is_string(), "{body}");
    url
}

/// The secret a feed URL holds.
fn secret_of(url: &str) -> String {
    url.rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".ics")
        .to_owned()
}

/// Fetches a URL with no credentials: status, content type, body.
async fn fetch(app: &TestApp, url: &str) -> (u16, String, String) {
    let res = app.http.get(url).send().await.expect("request");
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, res.text().await.unwrap())
}

/// One event as read back.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    uid: String,
    summary: String,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn utc_of(d: Option<DatePerhapsTime>, raw: &str) -> DateTime<Utc> {
    match d {
        Some(DatePerhapsTime::DateTime(CalendarDateTime::Utc(t))) => t,
        other => panic!("not a UTC date-time: {other:?} in {raw}"),
    }
}

/// Fetches a feed and parses it: the calendar's name and its events in time order.
async fn read_feed(app: &TestApp, url: &str) -> (String, Vec<Event>) {
    let (status, kind, text) = fetch(app, url).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "text/calendar; charset=utf-8");
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    let calendar: icalendar::Calendar = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(calendar.property_value("VERSION"), Some("2.0"));
    assert!(
        calendar
            .property_value("PRODID")
            .is_some_and(|p| p.contains("Rota")),
        "{text}"
    );
    let name = calendar
        .property_value("X-WR-CALNAME")
        .unwrap_or_else(|| panic!("no X-WR-CALNAME in {text}"))
        .to_owned();
    let mut events: Vec<Event> = calendar
        .events()
        .map(|e| {
            assert!(e.get_timestamp().is_some(), "no DTSTAMP in {text}");
            assert!(text.contains(&format!(
                "DTSTART:{}",
                utc_of(e.get_start(), &text).format("%Y%m%dT%H%M%SZ")
            )));
            Event {
                uid: e.get_uid().expect("UID").to_owned(),
                summary: e.get_summary().expect("SUMMARY").to_owned(),
                start: utc_of(e.get_start(), &text),
                end: utc_of(e.get_end(), &text),
            }
        })
        .collect();
    events.sort_by_key(|e| e.start);
    (name, events)
}

fn at(day: u32, month: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 0, 0, 0).unwrap()
}

/// Turn `k` of the daily rotation: 2026-01-05T00:00Z + k days, a day long.
fn turn(k: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = at(5, 1) + Duration::days(k);
    (start, start + Duration::days(1))
}

on_both_backends! {
    async fn a_person_s_feed_holds_their_shifts_in_utc_with_uids_that_stay(app) {
        let (a, b, c) = three_people(&app).await;
        let id = daily(&app, "Payments", &[&a, &b, &c]).await;
        // Another schedule Ana is not on: nothing of it shows.
        daily(&app, "Search", &[&b, &c]).await;
        let ana = app.personal_token(&a);
        let url = make_feed(&app, &ana, "/api/v2/users/me/calendar_feed").await;

        let (name, events) = read_feed(&app, &url).await;
        assert_eq!(name, "On call: Ana Ito (Rota)");
        // Now is 2026-01-05T09:00Z: the feed reaches 180 days ahead (2026-07-04T09:00Z), so
        // Ana's turns are 0, 3, … 180 (the last starts at 00:00 that day), whole.
        let expected: Vec<(DateTime<Utc>, DateTime<Utc>)> = (0..=180).step_by(3).map(turn).collect();
        let got: Vec<(DateTime<Utc>, DateTime<Utc>)> = events.iter().map(|e| (e.start, e.end)).collect();
        assert_eq!(got, expected);
        assert!(events.iter().all(|e| e.summary == "On call: Payments"), "{events:?}");
        let mut uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
        uids.sort();
        uids.dedup();
        assert_eq!(uids.len(), events.len(), "UIDs are unique");

        // Fetched again three days later: the same shifts keep their UIDs; one more at the
        // end (turn 183 starts before 2026-07-07T09:00Z).
        app.clock.advance(Duration::days(3));
        let (_, later) = read_feed(&app, &url).await;
        let before: HashMap<DateTime<Utc>, &str> = events.iter().map(|e| (e.start, e.uid.as_str())).collect();
        let mut kept = 0;
        for e in &later {
            if let Some(uid) = before.get(&e.start) {
                assert_eq!(*uid, e.uid, "the shift from {} changed its UID", e.start);
                kept += 1;
            }
        }
        assert_eq!(kept, events.len());
        assert_eq!(later.last().map(|e| (e.start, e.end)), Some(turn(183)));

        // An override: Ben covers Ana's turn 6; her feed loses that shift.
        let (status, body) = app
            .post(&format!("/api/v2/schedules/{id}/overrides"), json!({"overrides": [
                {"start": "2026-01-11T00:00:00Z", "end": "2026-01-12T00:00:00Z", "user": {"id": b, "type": "user_reference"}}
            ]}))
            .await;
        assert_eq!(status, 201, "{body}");
        let (_, after) = read_feed(&app, &url).await;
        assert!(!after.iter().any(|e| e.start == turn(6).0), "{after:?}");
        assert_eq!(after.len(), later.len() - 1);
    }

    async fn regenerating_replaces_the_url_and_deleting_ends_it_audited_without_the_secret(app) {
        let (a, b, _) = three_people(&app).await;
        daily(&app, "Payments", &[&a, &b]).await;
        let ana = app.personal_token(&a);
        let first = make_feed(&app, &ana, "/api/v2/users/me/calendar_feed").await;
        assert_eq!(fetch(&app, &first).await.0, 200);

        let second = make_feed(&app, &ana, "/api/v2/users/me/calendar_feed").await;
        assert_ne!(first, second);
        let (status, kind, text) = fetch(&app, &first).await;
        assert_eq!(status, 404, "the old URL stops working: {text}");
        assert!(kind.starts_with("text/plain"), "{kind}");
        let (_, events) = read_feed(&app, &second).await;
        assert!(!events.is_empty());

        // A service token is nobody: no personal feed.
        let (status, body) = app.post("/api/v2/users/me/calendar_feed", json!({})).await;
        assert_eq!(status, 400, "{body}");

        let (status, body) = support::send(app.as_token(&ana, reqwest::Method::DELETE, "/api/v2/users/me/calendar_feed")).await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(fetch(&app, &second).await.0, 404);
        let (status, body) = support::send(app.as_token(&ana, reqwest::Method::DELETE, "/api/v2/users/me/calendar_feed")).await;
        assert_eq!(status, 404, "no feed to delete: {body}");

        let secrets = [secret_of(&first), secret_of(&second)];
        let mut records = Vec::new();
        for action in ["create_calendar_feed", "regenerate_calendar_feed", "delete_calendar_feed"] {
            let found = app.audit_records(action).await;
            assert_eq!(found.len(), 1, "{action}: {found:?}");
            assert_eq!(found[0]["root_resource"]["id"], a.as_str(), "{found:?}");
            assert_eq!(found[0]["actors"][0]["id"], a.as_str(), "{found:?}");
            records.extend(found);
        }
        let (status, all) = app.get("/api/v2/audit/records?limit=100").await;
        assert_eq!(status, 200, "{all}");
        let text = format!("{} {}", json!(records), all);
        for secret in &secrets {
            let digits = secret.trim_start_matches("rota_cal_");
            assert!(!text.contains(digits), "the secret is in the audit trail: {text}");
            let hash = rota::domain::token::hash_secret(secret);
            assert!(!text.contains(&hash), "the secret's hash is in the audit trail");
        }
    }

    async fn a_schedule_feed_lists_everyone_s_shifts_but_no_stakeholder_s(app) {
        let (a, b, c) = three_people(&app).await;
        let id = daily(&app, "Payments", &[&a, &b, &c]).await;
        // A schedule's feed is shared by all its subscribers: whoever only reads schedules
        // may neither make it anew (ending everyone's subscription) nor delete it.
        let path = format!("/api/v2/schedules/{id}/calendar_feed");
        for role in [Role::Observer, Role::User] {
            let api = app.api_as(role);
            let (status, body) = api.post(&path, json!({})).await;
            assert_eq!(status, 403, "{role:?}: {body}");
            let (status, body) = api.delete(&path).await;
            assert_eq!(status, 403, "{role:?}: {body}");
        }
        let url = make_feed(&app, &app.token, &path).await;
        let (name, events) = read_feed(&app, &url).await;
        assert_eq!(name, "Payments: on call (Rota)");
        let who = |events: &[Event], k: i64| {
            events.iter().find(|e| e.start == turn(k).0).map(|e| e.summary.clone())
        };
        assert_eq!(who(&events, 0).as_deref(), Some("Ana Ito on call"));
        assert_eq!(who(&events, 1).as_deref(), Some("Ben Ueda on call"));
        assert_eq!(who(&events, 2).as_deref(), Some("Cleo Sato on call"));
        assert_eq!(events.first().map(|e| e.start), Some(turn(0).0));
        assert!(events.iter().all(|e| e.end - e.start == Duration::days(1)), "{events:?}");

        // Ben becomes a stakeholder: his turns leave the final schedule, and the feed.
        let (status, body) = app.put(&format!("/api/v2/users/{b}"), json!({"user": {"role": "observer"}})).await;
        assert_eq!(status, 200, "{body}");
        let (_, events) = read_feed(&app, &url).await;
        assert!(!events.iter().any(|e| e.summary.contains("Ben")), "{events:?}");
        assert_eq!(who(&events, 0).as_deref(), Some("Ana Ito on call"));
        assert_eq!(who(&events, 1), None);
        // His own feed is empty.
        let ben = app.personal_token(&b);
        let his = make_feed(&app, &ben, "/api/v2/users/me/calendar_feed").await;
        let (_, his_events) = read_feed(&app, &his).await;
        assert!(his_events.is_empty(), "{his_events:?}");

        // Regenerating the schedule's feed ends the old URL; deleting ends the new one.
        let again = make_feed(&app, &app.token, &path).await;
        assert_eq!(fetch(&app, &url).await.0, 404);
        assert_eq!(fetch(&app, &again).await.0, 200);
        let (status, _) = app.delete(&path).await;
        assert_eq!(status, 204);
        assert_eq!(fetch(&app, &again).await.0, 404);
        let (status, _) = app.delete(&path).await;
        assert_eq!(status, 404);
        let (status, _) = app.post("/api/v2/schedules/nope/calendar_feed", json!({})).await;
        assert_eq!(status, 404);
        let audited = app.audit_records("create_calendar_feed").await;
        assert!(audited.iter().any(|r| r["root_resource"]["id"] == id.as_str()), "{audited:?}");

        // Deleting the schedule takes its feed with it.
        let last = make_feed(&app, &app.token, &path).await;
        let (status, body) = app.delete(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(fetch(&app, &last).await.0, 404);
    }

    async fn odd_feed_paths_are_a_plain_404(app) {
        let well_formed_unknown = format!("rota_cal_{}.ics", "0".repeat(64));
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let real = make_feed(&app, &app.personal_token(&ana), "/api/v2/users/me/calendar_feed").await;
        let secret = secret_of(&real);
        for path in [
            "/calendar/".to_string(),
            "/calendar/x.ics".into(),
            "/calendar/rota_cal_.ics".into(),
            format!("/calendar/{well_formed_unknown}"),
            format!("/calendar/{secret}"),
            format!("/calendar/{secret}.ICS"),
            format!("/calendar/{}.ics", secret.to_uppercase()),
            format!("/calendar/{secret}.ics/more"),
            format!("/calendar/x/{secret}.ics"),
            format!("/calendar/{secret}%2e%2e%2f.ics"),
            format!("/calendar/{}", "a".repeat(4_000)),
            "/calendar/%e2%80%ae%ff.ics".into(),
        ] {
            let (status, kind, text) = fetch(&app, &app.url(&path)).await;
            assert_eq!(status, 404, "{path}: {text}");
            assert!(kind.starts_with("text/plain"), "{path}: {kind}");
        }
        // The real one answers, with a query string too.
        assert_eq!(fetch(&app, &format!("{real}?x=1")).await.0, 200);
        // Deactivated people's feeds stop with them.
        let (status, body) = app.delete(&format!("/api/v2/users/{ana}")).await;
        assert_eq!(status, 204, "{body}");
        assert_eq!(fetch(&app, &real).await.0, 404);
    }
}
