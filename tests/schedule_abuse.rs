//! Schedules, overrides and escalation policies tried as an attacker (or a careless script)
//! would, on both backends: control characters and overlong text in names, rosters past the
//! row limit, broken CSV, another schedule's override ids, and bodies past the size cap. Each
//! refusal is a 4xx in PagerDuty's error shape naming the field or the CSV line, never a 500,
//! and nothing is written; what is accepted comes back unchanged in JSON, iCalendar and
//! e-mail subjects.

mod support;

use serde_json::{Value, json};
use support::TestApp;

/// The test clock starts at 2026-01-05T09:00:00Z (a Monday), 18:00 in Tokyo.
fn layer(name: &str, users: &[&str]) -> Value {
    json!({
        "name": name,
        "start": "2026-01-05T09:00:00+09:00",
        "rotation_virtual_start": "2026-01-05T09:00:00+09:00",
        "rotation_turn_length_seconds": 86_400,
        "users": users.iter().map(|u| json!({"user": {"id": u, "type": "user_reference"}})).collect::<Vec<_>>(),
        "restrictions": []
    })
}

fn schedule(name: &str, layers: Vec<Value>) -> Value {
    json!({"schedule": {"name": name, "type": "schedule", "time_zone": "Asia/Tokyo", "schedule_layers": layers}})
}

fn policy(name: &str, user: &str) -> Value {
    json!({"escalation_policy": {"name": name, "type": "escalation_policy", "escalation_rules": [
        {"escalation_delay_in_minutes": 30, "targets": [{"id": user, "type": "user_reference"}]}
    ]}})
}

/// A 400 in PagerDuty's shape whose one error starts with the field and gives the reason.
#[track_caller]
fn assert_refused(status: u16, body: &Value, field: &str, reason: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["message"], "Invalid Input Provided", "{body}");
    assert_eq!(body["error"]["code"], 2001, "{body}");
    let errors = body["error"]["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{body}");
    let detail = errors[0].as_str().unwrap_or_default();
    assert!(
        detail.starts_with(field) && detail.contains(reason),
        "expected '{field} …{reason}…' in {body}"
    );
}

/// A daily rotation in Tokyo from 2026-01-05 09:00.
async fn daily(app: &TestApp, name: &str, users: &[&str]) -> String {
    let (status, body) = app
        .post(
            "/api/v2/schedules",
            schedule(name, vec![layer("Primary", users)]),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["schedule"]["id"].as_str().unwrap().to_owned()
}

async fn total(app: &TestApp, collection: &str) -> u64 {
    let (status, body) = app.get(&format!("/api/v2/{collection}?total=true")).await;
    assert_eq!(status, 200, "{body}");
    body["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total in {body}"))
}

/// Overrides stored, on any schedule (deleted ones' included, if any were left behind).
fn overrides_stored(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    rota::store::schema::schedule_overrides::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap()
}

fn emails_queued(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    rota::store::schema::emails::table
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap()
}

/// A roster sent as CSV to `/schedules/{id}/overrides/import{query}`.
async fn import_csv(
    app: &TestApp,
    id: &str,
    query: &str,
    csv: impl Into<reqwest::Body>,
) -> (u16, Value) {
    support::send(
        app.req(
            reqwest::Method::POST,
            &format!("/api/v2/schedules/{id}/overrides/import{query}"),
        )
        .header("Content-Type", "text/csv")
        .body(csv),
    )
    .await
}

/// `n` CSV rows (no header) putting `email` on call for an hour each, from 2026-02-01.
fn hourly_rows(email: &str, n: usize) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").unwrap();
    (0..n)
        .map(|i| {
            let s = start + chrono::Duration::hours(i as i64);
            let e = s + chrono::Duration::hours(1);
            format!("{email},{},{}\n", s.to_rfc3339(), e.to_rfc3339())
        })
        .collect()
}

/// `text` padded with `pad` to exactly `chars` characters.
fn padded(text: &str, pad: char, chars: usize) -> String {
    let mut out = text.to_owned();
    while out.chars().count() < chars {
        out.push(pad);
    }
    out
}

on_both_backends! {
    async fn control_characters_and_overlong_names_are_refused_naming_the_field(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let long = "x".repeat(101);
        // (name, layer name, description) → the field and reason refused.
        let cases: Vec<(String, String, Option<String>, &str, &str)> = vec![
            ("Pay\nments".into(), "Primary".into(), None, "name", "control characters (it has U+000A)"),
            ("Pay\u{1b}[2Jments".into(), "Primary".into(), None, "name", "control characters (it has U+001B)"),
            ("Pay\u{85}ments".into(), "Primary".into(), None, "name", "control characters (it has U+0085)"),
            ("Pay\u{202E}stnem".into(), "Primary".into(), None, "name", "bidirectional override characters (it has U+202E)"),
            (long.clone(), "Primary".into(), None, "name", "is longer than 100 characters"),
            // A layer name holding a header line, as a forged e-mail or iCalendar property would.
            ("Payments".into(), "Night\r\nBcc: all@example.com".into(), None, "schedule_layers[0].name", "control characters (it has U+000D)"),
            ("Payments".into(), long.clone(), None, "schedule_layers[0].name", "is longer than 100 characters"),
            ("Payments".into(), "Primary".into(), Some("d".repeat(1_001)), "description", "is longer than 1000 characters"),
            // A description keeps line breaks and tabs, nothing else that hides or disguises.
            ("Payments".into(), "Primary".into(), Some("Call \u{1b}[2Jus".into()), "description", "control characters (it has U+001B)"),
            ("Payments".into(), "Primary".into(), Some("Runbook: \u{2066}evil\u{2069}".into()), "description", "bidirectional override characters (it has U+2066)"),
            // NUL is refused before any handler (http::edge), naming the JSON path.
            ("Pay\u{0}ments".into(), "Primary".into(), None, "schedule.name", "contains a NUL character"),
            ("Payments".into(), "Pri\u{0}mary".into(), None, "schedule.schedule_layers[0].name", "contains a NUL character"),
        ];
        for (name, layer_name, description, field, reason) in &cases {
            let mut body = schedule(name, vec![layer(layer_name, &[&ana])]);
            if let Some(d) = description {
                body["schedule"]["description"] = json!(d);
            }
            let (status, answer) = app.post("/api/v2/schedules", body.clone()).await;
            assert_refused(status, &answer, field, reason);
            let (status, answer) = app.post("/api/v2/schedules/preview", body).await;
            assert_refused(status, &answer, field, reason);
        }
        assert_eq!(total(&app, "schedules").await, 0, "nothing half-written");

        // The same names refused on an update, and the schedule kept as it was.
        let id = daily(&app, "Payments", &[&ana]).await;
        for (name, layer_name, description, field, reason) in &cases {
            let mut body = schedule(name, vec![layer(layer_name, &[&ana])]);
            if let Some(d) = description {
                body["schedule"]["description"] = json!(d);
            }
            let (status, answer) = app.put(&format!("/api/v2/schedules/{id}"), body).await;
            assert_refused(status, &answer, field, reason);
        }
        let (_, kept) = app.get(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(kept["schedule"]["name"], "Payments", "{kept}");
        assert_eq!(kept["schedule"]["schedule_layers"][0]["name"], "Primary", "{kept}");
        assert!(app.audit_records("update").await.iter().all(|r| !r.to_string().contains(&id)));

        // Escalation policies: the same rule for their names.
        let policy_cases: Vec<(Value, &str, &str)> = vec![
            (policy("On\ncall", &ana), "name", "control characters (it has U+000A)"),
            (policy("On\u{2066}call", &ana), "name", "bidirectional override characters (it has U+2066)"),
            (policy(&long, &ana), "name", "is longer than 100 characters"),
            (policy("On\u{0}call", &ana), "escalation_policy.name", "contains a NUL character"),
            (policy("  ", &ana), "name", "can't be blank"),
        ];
        for (body, field, reason) in policy_cases {
            let (status, answer) = app.post("/api/v2/escalation_policies", body).await;
            assert_refused(status, &answer, field, reason);
        }
        let mut described = policy("On call", &ana);
        described["escalation_policy"]["description"] = json!("d".repeat(1_001));
        let (status, answer) = app.post("/api/v2/escalation_policies", described).await;
        assert_refused(status, &answer, "description", "is longer than 1000 characters");
        assert_eq!(total(&app, "escalation_policies").await, 0, "nothing half-written");
    }

    async fn names_at_the_limit_come_back_unchanged_in_json_icalendar_and_e_mail_subjects(app) {
        // 100 characters each, multi-byte and full of what iCalendar escapes (, ; \) and JSON
        // escapes (" \): accepted, and nothing downstream may fold, cut or unescape them wrongly.
        let person = padded("Åsa \"Nightowl\" Öberg; ops, eu\\jp ", '夜', 100);
        let name = padded("Payments, EU; nights \\ \"primary\" ", '勤', 100);
        let layer_name = padded("Weeknights; 18:00, Tokyo \\ ", '層', 100);
        // Free text keeps its line breaks and tabs (descriptions are never headers).
        let description = "Line one\nLine two\twith a tab, \"quotes\" and </script>\r\n🙂";
        let (status, body) = app
            .post("/api/v2/users", json!({"user": {"name": person, "email": "asa@example.com"}}))
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["user"]["name"], person.as_str());
        let asa = body["user"]["id"].as_str().unwrap().to_owned();
        let ben = app.user("Ben Ueda", "ben@example.com").await;

        let mut sent = schedule(&name, vec![layer(&layer_name, &[&ben])]);
        sent["schedule"]["description"] = json!(description);
        let (status, body) = app.post("/api/v2/schedules", sent).await;
        assert_eq!(status, 201, "{body}");
        let id = body["schedule"]["id"].as_str().unwrap().to_owned();
        let (status, body) = app.get(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["schedule"]["name"], name.as_str());
        assert_eq!(body["schedule"]["summary"], name.as_str());
        assert_eq!(body["schedule"]["description"], description);
        assert_eq!(body["schedule"]["schedule_layers"][0]["name"], layer_name.as_str());
        let (status, body) = app.post("/api/v2/escalation_policies", policy(&name, &ben)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["escalation_policy"]["name"], name.as_str());

        // Åsa takes two days of Ben's turns (2026-01-06/07 UTC): the e-mails name both.
        let (status, body) = app
            .post(&format!("/api/v2/schedules/{id}/overrides"), json!({"overrides": [
                {"start": "2026-01-06T00:00:00Z", "end": "2026-01-08T00:00:00Z", "user": {"id": asa, "type": "user_reference"}}
            ]}))
            .await;
        assert_eq!((status, body[0]["status"].as_u64()), (201, Some(201)), "{body}");
        let subjects: Vec<String> = {
            use diesel::prelude::*;
            use rota::store::schema::emails;
            emails::table
                .filter(emails::reason.like("override_%"))
                .select(emails::subject)
                .load(&mut *app.db.get().unwrap())
                .unwrap()
        };
        assert_eq!(subjects.len(), 2, "{subjects:?}");
        for subject in &subjects {
            assert!(subject.contains(&name), "{subject}");
            assert!(!subject.contains(['\r', '\n']), "one header line: {subject:?}");
        }
        assert!(subjects.iter().any(|s| s.starts_with(&format!("{person} covers your shift on {name}"))), "{subjects:?}");

        // The schedule's calendar feed: lines folded at 75 octets on character boundaries,
        // and the names read back exactly.
        let (status, body) = support::send(app.req(reqwest::Method::POST, &format!("/api/v2/schedules/{id}/calendar_feed"))).await;
        assert_eq!(status, 201, "{body}");
        let url = body["calendar_feed"]["url"].as_str().unwrap().to_owned();
        let res = app.http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert!(text.ends_with("\r\n"), "{text:?}");
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "a line of {} octets: {line:?}", line.len());
            assert!(!line.contains(['\r', '\n']), "a bare line break: {line:?}");
        }
        let calendar: icalendar::Calendar = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(calendar.property_value("X-WR-CALNAME"), Some(format!("{name}: on call (Rota)").as_str()), "{text}");
        use icalendar::Component;
        let summaries: Vec<&str> = calendar.events().filter_map(|e| e.get_summary()).collect();
        assert!(summaries.contains(&format!("{person} on call").as_str()), "{summaries:?}\n{text}");
        assert!(summaries.contains(&"Ben Ueda on call"), "{summaries:?}");
    }

    async fn a_roster_over_a_thousand_rows_is_refused_whole_and_a_thousand_are_read(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let id = daily(&app, "Payments", &[&ana]).await;
        let emails_before = emails_queued(&app);

        let csv = format!("user,start,end\n{}", hourly_rows("ana@example.com", 1_001));
        for query in ["", "?all_or_nothing=true"] {
            let (status, body) = import_csv(&app, &id, query, csv.clone()).await;
            assert_refused(status, &body, "rows", "at most 1000 a roster");
        }
        let rows: Vec<Value> = (0..1_001)
            .map(|i| {
                let s = chrono::DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").unwrap() + chrono::Duration::hours(i);
                json!({"user": ana, "start": s.to_rfc3339(), "end": (s + chrono::Duration::hours(1)).to_rfc3339()})
            })
            .collect();
        let (status, body) = app.post(&format!("/api/v2/schedules/{id}/overrides/import"), json!({"rows": rows})).await;
        assert_refused(status, &body, "rows", "at most 1000 a roster");
        // The batch endpoint has the same limit.
        let items: Vec<Value> = rows
            .iter()
            .map(|r| json!({"start": r["start"], "end": r["end"], "user": {"id": ana, "type": "user_reference"}}))
            .collect();
        let (status, body) = app.post(&format!("/api/v2/schedules/{id}/overrides"), json!({"overrides": items})).await;
        assert_refused(status, &body, "overrides", "at most 1000 a request");

        // Exactly 1,000 rows are read; the last one's end is before its start, so with
        // all_or_nothing none is written and the refusal names its line (1,001: after the header).
        let mut csv = format!("user,start,end\n{}", hourly_rows("ana@example.com", 999));
        csv.push_str("ana@example.com,2026-03-01T10:00:00Z,2026-03-01T09:00:00Z\n");
        let (status, body) = import_csv(&app, &id, "?all_or_nothing=true", csv).await;
        assert_refused(status, &body, "rows", "none were created (all or nothing): row 1001: Override must end after its start");

        assert_eq!(overrides_stored(&app), 0, "nothing written");
        assert!(app.audit_records("create_override").await.is_empty());
        assert_eq!(emails_queued(&app), emails_before, "nobody told of overrides that were not made");
    }

    async fn broken_csv_names_the_line_writes_nothing_and_is_never_a_server_error(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        app.user("Ben Ueda", "ben@example.com").await;
        let id = daily(&app, "Payments", &[&ana]).await;
        let good = |user: &str, day: u32| format!("{user},2026-02-{day:02}T09:00:00+09:00,2026-02-{:02}T09:00:00+09:00", day + 1);

        // Whole-file faults: refused before anything is checked, with or without all_or_nothing.
        let broken: Vec<(String, &str, &str)> = vec![
            // An unterminated quote swallows the rest of the file into one field.
            (format!("user,start,end\n{}\n\"ben@example.com,2026-02-03T09:00:00+09:00,2026-02-04T09:00:00+09:00\n{}\n", good("ana@example.com", 1), good("ana@example.com", 5)),
             "row 3", "cannot be read: it has 1 field where the header has 3 (quote a field"),
            (format!("user,start,end\n{}\nben@example.com,2026-02-03T09:00:00+09:00\n", good("ana@example.com", 1)),
             "row 3", "cannot be read: it has 2 fields where the header has 3"),
            // CRLF line ends (csv's own line count is one short there), a blank line between.
            (format!("user,start,end\r\n{}\r\n\r\n{},extra\r\n", good("ana@example.com", 1), good("ben@example.com", 3)),
             "row 4", "cannot be read: it has 4 fields where the header has 3"),
            // Old Mac line ends (CR alone).
            (format!("user,start,end\r{}\r{},extra\r", good("ana@example.com", 1), good("ben@example.com", 3)),
             "row 3", "cannot be read: it has 4 fields where the header has 3"),
            ("user;start;end\nana@example.com;2026-02-01T09:00:00+09:00;2026-02-02T09:00:00+09:00\n".into(),
             "row 1", "the header needs a column user"),
            (String::new(), "row 1", "the header needs a column user"),
        ];
        for (csv, field, reason) in &broken {
            for query in ["", "?all_or_nothing=true"] {
                let (status, body) = import_csv(&app, &id, query, csv.clone()).await;
                assert_refused(status, &body, field, reason);
            }
        }
        // Bytes that are not UTF-8 in a row.
        let mut latin1 = format!("user,start,end\n{}\n", good("ana@example.com", 1)).into_bytes();
        latin1.extend_from_slice(b"\xd6berg@example.com,2026-02-03T09:00:00+09:00,2026-02-04T09:00:00+09:00\n");
        let (status, body) = import_csv(&app, &id, "", latin1).await;
        assert_refused(status, &body, "row 3", "cannot be read: it is not UTF-8 text");
        assert_eq!(overrides_stored(&app), 0, "nothing written");

        // Row faults with all_or_nothing: each bad row named by its line, nothing written.
        // A UTF-8 byte order mark (Excel's "CSV UTF-8"), CRLF line ends, and a quoted field
        // running over two lines (so row 4 is on line 5).
        let csv = format!(
            "\u{feff}user,start,end\r\n{}\r\n\"nobody\r\n@example.com\",2026-02-03T09:00:00+09:00,2026-02-04T09:00:00+09:00\r\n{}\r\nana@example.com,2026-02-09T09:00:00+09:00,yesterday\r\n",
            good("ana@example.com", 1),
            good("BEN@example.com", 5),
        );
        let (status, body) = import_csv(&app, &id, "?all_or_nothing=true", csv.clone()).await;
        assert_refused(status, &body, "rows", "none were created (all or nothing): row 3: user: 'nobody\r\n@example.com' is neither");
        let detail = body["error"]["errors"][0].as_str().unwrap();
        assert!(detail.contains(" | row 6: end "), "{detail}");
        assert!(!detail.contains("row 2") && !detail.contains("row 5"), "{detail}");
        assert_eq!(overrides_stored(&app), 0, "all or nothing wrote nothing");

        // Without all_or_nothing the good rows are made, each row's status under its line.
        let (status, body) = import_csv(&app, &id, "", csv).await;
        assert_eq!(status, 200, "{body}");
        let lines: Vec<(u64, u64)> = body["rows"].as_array().unwrap().iter()
            .map(|r| (r["row"].as_u64().unwrap(), r["status"].as_u64().unwrap()))
            .collect();
        assert_eq!(lines, [(2, 201), (3, 400), (5, 201), (6, 400)], "{body}");
        assert_eq!((body["created"].as_u64(), body["refused"].as_u64()), (Some(2), Some(2)), "{body}");
        assert_eq!(overrides_stored(&app), 2);

        // A NUL byte in a CSV field (the edge refuses NUL in JSON bodies, but does not read
        // CSV) refuses the file naming its line, as the edge would: PostgreSQL cannot hold it
        // in text, and looking the person up with it was a 500 there.
        let csv = format!("user,start,end\n{}\nana\0@example.com,2026-02-11T09:00:00+09:00,2026-02-12T09:00:00+09:00\n", good("ana@example.com", 9));
        for query in ["", "?all_or_nothing=true"] {
            let (status, body) = import_csv(&app, &id, query, csv.clone()).await;
            assert_refused(status, &body, "row 3", "contains a NUL character (U+0000)");
        }
        assert_eq!(overrides_stored(&app), 2, "nothing more written");
    }

    async fn an_override_id_from_another_schedule_or_a_deleted_one_is_not_found_and_kept(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let ben = app.user("Ben Ueda", "ben@example.com").await;
        let a = daily(&app, "Payments", &[&ana]).await;
        let b = daily(&app, "Search", &[&ana]).await;
        let c = daily(&app, "Retired", &[&ana]).await;
        let place = |schedule: String, start: &'static str, end: &'static str| {
            let app = &app;
            let ben = ben.clone();
            async move {
                let (status, body) = app
                    .post(&format!("/api/v2/schedules/{schedule}/overrides"), json!({"overrides": [
                        {"start": start, "end": end, "user": {"id": ben, "type": "user_reference"}}
                    ]}))
                    .await;
                assert_eq!((status, body[0]["status"].as_u64()), (201, Some(201)), "{body}");
                body[0]["override"]["id"].as_str().unwrap().to_owned()
            }
        };
        // On B: one in the future, one running (from now, 09:00Z, for two hours).
        let b_future = place(b.clone(), "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z").await;
        let b_running = place(b.clone(), "2026-01-05T09:00:00Z", "2026-01-05T11:00:00Z").await;
        let c_future = place(c.clone(), "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z").await;
        app.clock.advance(chrono::Duration::minutes(30));

        for o in [&b_future, &b_running] {
            let (status, body) = app.delete(&format!("/api/v2/schedules/{a}/overrides/{o}")).await;
            assert_eq!(status, 404, "{body}");
            assert_eq!(body["error"]["code"], 2100, "{body}");
            assert_eq!(body["error"]["errors"][0], format!("override {o} was not found"), "{body}");
        }
        let (status, listed) = app
            .get(&format!("/api/v2/schedules/{b}/overrides?since=2026-01-05T00:00:00Z&until=2026-01-12T00:00:00Z&overflow=true"))
            .await;
        assert_eq!(status, 200, "{listed}");
        let kept: Vec<(&str, &str)> = listed["overrides"].as_array().unwrap().iter()
            .map(|o| (o["id"].as_str().unwrap(), o["end"].as_str().unwrap()))
            .collect();
        assert_eq!(kept.len(), 2, "{listed}");
        assert!(kept.contains(&(b_future.as_str(), "2026-01-11T09:00:00+09:00")), "{listed}");
        assert!(kept.contains(&(b_running.as_str(), "2026-01-05T20:00:00+09:00")), "not cut: {listed}");

        // A deleted schedule's override: gone with it, not found through it or through another.
        let (status, _) = app.delete(&format!("/api/v2/schedules/{c}")).await;
        assert_eq!(status, 204);
        let (status, body) = app.delete(&format!("/api/v2/schedules/{c}/overrides/{c_future}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["errors"][0], format!("schedule {c} was not found"), "{body}");
        let (status, body) = app.delete(&format!("/api/v2/schedules/{a}/overrides/{c_future}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["errors"][0], format!("override {c_future} was not found"), "{body}");
        let (status, body) = app.get(&format!("/api/v2/schedules/{c}/overrides")).await;
        assert_eq!(status, 404, "{body}");

        assert_eq!(overrides_stored(&app), 2, "B's two, nothing else");
        assert!(app.audit_records("delete_override").await.is_empty());
        // Through its own schedule it still goes.
        let (status, _) = app.delete(&format!("/api/v2/schedules/{b}/overrides/{b_future}")).await;
        assert_eq!(status, 204);
    }

    async fn a_body_over_the_size_cap_is_a_413_in_pagerduty_shape_and_writes_nothing(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let over = rota::http::MAX_BODY_BYTES + 10;
        let mut big = schedule("Payments", vec![layer("Primary", &[&ana])]);
        big["schedule"]["description"] = json!("d".repeat(over));
        let assert_too_large = |status: u16, body: &Value| {
            assert_eq!(status, 413, "{body}");
            assert_eq!(body["error"]["code"], 2001, "{body}");
            assert_eq!(body["error"]["message"], "Request Entity Too Large", "{body}");
            assert_eq!(
                body["error"]["errors"][0],
                format!("the request body is larger than the {}-byte limit", rota::http::MAX_BODY_BYTES),
                "{body}"
            );
        };
        let (status, body) = app.post("/api/v2/schedules", big.clone()).await;
        assert_too_large(status, &body);
        // The same body under another content type: refused for that or its size, never a 500.
        let (status, body) = support::send(
            app.req(reqwest::Method::POST, "/api/v2/schedules")
                .header("Content-Type", "text/plain")
                .body(big.to_string()),
        )
        .await;
        assert!(status == 413 || status == 400, "{status} {body}");
        assert_eq!(body["error"]["code"], 2001, "{body}");
        assert_eq!(total(&app, "schedules").await, 0, "nothing written");

        // JSON nested far past any parser's depth (200 KB, under the cap): refused, and the
        // server, whose handlers would recurse through it, still answers.
        let id = daily(&app, "Payments", &[&ana]).await;
        let nested = |key: &str| format!("{{\"{key}\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        for (path, key, reason) in [
            ("/api/v2/schedules".to_owned(), "schedule", "invalid type"),
            (format!("/api/v2/schedules/{id}/overrides"), "overrides", "recursion limit exceeded"),
        ] {
            let (status, body) = support::send(
                app.req(reqwest::Method::POST, &path)
                    .header("Content-Type", "application/json")
                    .body(nested(key)),
            )
            .await;
            assert_refused(status, &body, "request body", reason);
        }
        assert_eq!(total(&app, "schedules").await, 1);

        // A roster file past the cap: the same 413 (the edge reads only JSON bodies).
        let csv = format!("user,start,end\n{}", "ana@example.com,2026-02-01T09:00:00+09:00,2026-02-02T09:00:00+09:00\n".repeat(over / 60));
        assert!(csv.len() > rota::http::MAX_BODY_BYTES);
        let (status, body) = import_csv(&app, &id, "", csv).await;
        assert_too_large(status, &body);
        assert_eq!(overrides_stored(&app), 0, "nothing written");
    }
}
