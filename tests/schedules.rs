//! Schedules, overrides, escalation policies and who is on call, over HTTP on SQLite and
//! PostgreSQL: PagerDuty's shapes, history kept across edits, full seats only, rosters,
//! authorization, and bad input refused by field.

mod support;

use rota::domain::role::Role;
use serde_json::{Value, json};
use support::{TestApp, assert_refused};

/// The test clock starts at 2026-01-05T09:00:00Z (a Monday), 18:00 in Tokyo.
const T0: &str = "2026-01-05T09:00:00Z";

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

fn schedule(name: &str, layers: Vec<Value>) -> Value {
    json!({"schedule": {"name": name, "type": "schedule", "time_zone": "Asia/Tokyo", "schedule_layers": layers}})
}

/// The final schedule's (user, start, end) of a rendered schedule.
fn finals(body: &Value) -> Vec<(String, String, String)> {
    body["schedule"]["final_schedule"]["rendered_schedule_entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no final schedule in {body}"))
        .iter()
        .map(|e| {
            (
                e["user"]["id"].as_str().unwrap().to_owned(),
                e["start"].as_str().unwrap().to_owned(),
                e["end"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn three_people(app: &TestApp) -> (String, String, String) {
    (
        app.user("Ana Ito", "ana@example.com").await,
        app.user("Ben Ueda", "ben@example.com").await,
        app.user("Cleo Sato", "cleo@example.com").await,
    )
}

async fn daily(app: &TestApp, users: &[&str]) -> String {
    let (status, body) = app
        .post(
            "/api/v2/schedules",
            schedule(
                "Payments",
                vec![layer(users, "2026-01-05T09:00:00+09:00", 86_400)],
            ),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["schedule"]["id"].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn a_schedule_rotates_day_by_day_in_its_zone_and_renders_in_pagerduty_shape(app) {
        let (a, b, c) = three_people(&app).await;
        let (status, body) = app
            .post("/api/v2/schedules", schedule("Payments", vec![layer(&[&a, &b, &c], "2026-01-05T09:00:00+09:00", 86_400)]))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = body["schedule"]["id"].as_str().unwrap();
        assert_eq!(body["schedule"]["type"], "schedule");
        assert_eq!(body["schedule"]["time_zone"], "Asia/Tokyo");
        let layer0 = &body["schedule"]["schedule_layers"][0];
        assert_eq!(layer0["rotation_turn_length_seconds"], 86_400);
        assert_eq!(layer0["users"][1]["user"]["id"], b.as_str());
        assert_eq!(layer0["users"][1]["user"]["type"], "user_reference");

        let (status, body) = app
            .get(&format!("/api/v2/schedules/{id}?since=2026-01-05T09:00:00%2B09:00&until=2026-01-08T09:00:00%2B09:00"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            finals(&body),
            vec![
                (a.clone(), "2026-01-05T09:00:00+09:00".into(), "2026-01-06T09:00:00+09:00".into()),
                (b.clone(), "2026-01-06T09:00:00+09:00".into(), "2026-01-07T09:00:00+09:00".into()),
                (c.clone(), "2026-01-07T09:00:00+09:00".into(), "2026-01-08T09:00:00+09:00".into()),
            ]
        );
        assert_eq!(body["schedule"]["final_schedule"]["rendered_coverage_percentage"], 100.0);
        assert_eq!(body["schedule"]["gaps"], json!([]));
        assert_eq!(body["schedule"]["overrides_subschedule"]["name"], "Overrides");
        // Another zone for the answer, the same instants.
        let (_, utc) = app
            .get(&format!("/api/v2/schedules/{id}?since=2026-01-05T00:00:00Z&until=2026-01-06T00:00:00Z&time_zone=UTC"))
            .await;
        assert_eq!(finals(&utc)[0].1, "2026-01-05T00:00:00+00:00");

        let (status, users) = app
            .get(&format!("/api/v2/schedules/{id}/users?since=2026-01-05T00:00:00Z&until=2026-01-06T12:00:00Z"))
            .await;
        assert_eq!(status, 200, "{users}");
        let names: Vec<&str> = users["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Ana Ito", "Ben Ueda"]);

        let (status, list) = app.get("/api/v2/schedules?query=pay&total=true").await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["total"], 1);
        assert_eq!(list["schedules"][0]["id"], id);

        let (status, preview) = app
            .post("/api/v2/schedules/preview?since=2026-01-05T00:00:00Z&until=2026-01-06T00:00:00Z",
                  schedule("Draft", vec![layer(&[&c], "2026-01-01T00:00:00Z", 3_600)]))
            .await;
        assert_eq!(status, 200, "{preview}");
        assert_eq!(finals(&preview).len(), 1);
        let (_, after) = app.get("/api/v2/schedules?total=true").await;
        assert_eq!(after["total"], 1, "a preview is not saved");

        let created = app.audit_records("create").await;
        assert!(created.iter().any(|r| r["target"]["type"] == "schedule" || r.to_string().contains("\"schedule\"")), "{created:?}");
    }

    async fn an_edit_keeps_the_past_and_changes_only_what_follows(app) {
        let (a, b, c) = three_people(&app).await;
        let id = daily(&app, &[&a, &b]).await;
        app.clock.advance(chrono::Duration::days(3));
        let (_, before) = app.get(&format!("/api/v2/schedules/{id}?since=2026-01-05T00:00:00Z")).await;
        let layer_id = before["schedule"]["schedule_layers"][0]["id"].as_str().unwrap().to_owned();
        let mut edited = layer(&[&c], "2026-01-05T09:00:00+09:00", 86_400);
        edited["id"] = json!(layer_id);
        let (status, body) = app.put(&format!("/api/v2/schedules/{id}"), schedule("Payments", vec![edited.clone()])).await;
        assert_eq!(status, 200, "{body}");
        // Sent back unchanged: no new version.
        let (status, _) = app.put(&format!("/api/v2/schedules/{id}"), schedule("Payments", vec![edited])).await;
        assert_eq!(status, 200);
        let (_, after) = app
            .get(&format!("/api/v2/schedules/{id}?since=2026-01-05T09:00:00%2B09:00&until=2026-01-10T09:00:00%2B09:00"))
            .await;
        let f = finals(&after);
        // Jan 5, 6, 7 (Tokyo) as before; the edit at Jan 8 18:00 Tokyo hands over to Cleo.
        assert_eq!(f[0].0, a);
        assert_eq!(f[1].0, b);
        assert_eq!(f[2], (a.clone(), "2026-01-07T09:00:00+09:00".into(), "2026-01-08T09:00:00+09:00".into()));
        assert_eq!(f[3], (b.clone(), "2026-01-08T09:00:00+09:00".into(), "2026-01-08T18:00:00+09:00".into()));
        assert_eq!(f[4], (c.clone(), "2026-01-08T18:00:00+09:00".into(), "2026-01-10T09:00:00+09:00".into()));
        let updates = app.audit_records("update").await;
        let schedule_updates: Vec<&Value> = updates.iter().filter(|r| r.to_string().contains(&id)).collect();
        assert_eq!(schedule_updates.len(), 1, "one change, one record: {updates:?}");
    }

    async fn overrides_win_come_in_batches_and_keep_the_past(app) {
        let (a, b, c) = three_people(&app).await;
        let id = daily(&app, &[&a, &b]).await;
        let (status, body) = app
            .post(&format!("/api/v2/schedules/{id}/overrides"), json!({"overrides": [
                {"start": "2026-01-06T12:00:00+09:00", "end": "2026-01-06T15:00:00+09:00", "user": {"id": c, "type": "user_reference"}},
                {"start": "2026-01-07T12:00:00+09:00", "end": "2026-01-07T11:00:00+09:00", "user": {"id": c, "type": "user_reference"}},
                {"start": "2026-01-08T00:00:00+09:00", "end": "2026-01-09T00:00:00+09:00", "user": {"id": "nobody", "type": "user_reference"}},
                {"start": "2026-01-05T20:00:00+09:00", "end": "2026-01-05T21:00:00+09:00", "user": {"id": c, "type": "user_reference"}}
            ]}))
            .await;
        assert_eq!(status, 201, "{body}");
        let statuses: Vec<u64> = body.as_array().unwrap().iter().map(|i| i["status"].as_u64().unwrap()).collect();
        assert_eq!(statuses, [201, 400, 400, 201]);
        assert!(body[1]["errors"][0].as_str().unwrap().contains("end after its start"), "{body}");
        assert!(body[2]["errors"][0].as_str().unwrap().contains("is not a user"), "{body}");
        let future = body[0]["override"]["id"].as_str().unwrap().to_owned();
        let soon = body[3]["override"]["id"].as_str().unwrap().to_owned();

        let (_, rendered) = app
            .get(&format!("/api/v2/schedules/{id}?since=2026-01-06T09:00:00%2B09:00&until=2026-01-07T09:00:00%2B09:00"))
            .await;
        assert_eq!(
            finals(&rendered),
            vec![
                (b.clone(), "2026-01-06T09:00:00+09:00".into(), "2026-01-06T12:00:00+09:00".into()),
                (c.clone(), "2026-01-06T12:00:00+09:00".into(), "2026-01-06T15:00:00+09:00".into()),
                (b.clone(), "2026-01-06T15:00:00+09:00".into(), "2026-01-07T09:00:00+09:00".into()),
            ]
        );
        let (status, listed) = app
            .get(&format!("/api/v2/schedules/{id}/overrides?since=2026-01-05T00:00:00Z&until=2026-01-10T00:00:00Z"))
            .await;
        assert_eq!(status, 200, "{listed}");
        assert_eq!(listed["overrides"].as_array().unwrap().len(), 2);

        // 18:00 → 20:30 Tokyo: the running override is cut at now, the future one goes.
        app.clock.advance(chrono::Duration::minutes(150));
        let (status, cut) = app.delete(&format!("/api/v2/schedules/{id}/overrides/{soon}")).await;
        assert_eq!(status, 200, "{cut}");
        assert_eq!(cut["override"]["end"], "2026-01-05T20:30:00+09:00");
        let (status, _) = app.delete(&format!("/api/v2/schedules/{id}/overrides/{future}")).await;
        assert_eq!(status, 204);
        let (status, gone) = app.delete(&format!("/api/v2/schedules/{id}/overrides/{future}")).await;
        assert_eq!(status, 404, "{gone}");
        // What has ended stays as it was.
        app.clock.advance(chrono::Duration::hours(1));
        let (status, body) = app.delete(&format!("/api/v2/schedules/{id}/overrides/{soon}")).await;
        assert_refused(status, &body, "has ended");
        let (status, body) = app
            .post(&format!("/api/v2/schedules/{id}/overrides"), json!({"overrides": [
                {"start": "2026-01-05T10:00:00+09:00", "end": "2026-01-05T11:00:00+09:00", "user": {"id": c}}
            ]}))
            .await;
        assert_eq!(status, 201);
        assert_eq!(body[0]["status"], 400, "{body}");
        assert!(body[0]["errors"][0].as_str().unwrap().contains("past"), "{body}");
        let (status, body) = app
            .post(&format!("/api/v2/schedules/{id}/overrides?all_or_nothing=true"), json!({"overrides": [
                {"start": "2026-01-09T10:00:00+09:00", "end": "2026-01-09T11:00:00+09:00", "user": {"id": c}},
                {"start": "2026-01-09T10:00:00+09:00", "end": "2026-01-09T09:00:00+09:00", "user": {"id": c}}
            ]}))
            .await;
        assert_refused(status, &body, "overrides[1]");
        let (_, listed) = app
            .get(&format!("/api/v2/schedules/{id}/overrides?since=2026-01-09T00:00:00Z&until=2026-01-10T00:00:00Z"))
            .await;
        assert_eq!(listed["overrides"], json!([]), "all or nothing wrote nothing");
    }

    async fn a_roster_imports_from_csv_with_a_status_per_row(app) {
        let (a, _, c) = three_people(&app).await;
        let id = daily(&app, &[&a]).await;
        let csv = "user,start,end\n\
                   cleo@example.com,2026-02-01T09:00:00+09:00,2026-02-02T09:00:00+09:00\n\
                   nobody@example.com,2026-02-02T09:00:00+09:00,2026-02-03T09:00:00+09:00\n\
                   ANA@example.com,2026-02-04T09:00:00+09:00,2026-02-03T09:00:00+09:00\n";
        let (status, body) = support::send(
            app.req(reqwest::Method::POST, &format!("/api/v2/schedules/{id}/overrides/import"))
                .header("Content-Type", "text/csv")
                .body(csv),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["created"].as_u64(), body["refused"].as_u64()), (Some(1), Some(2)), "{body}");
        assert_eq!(body["rows"][0]["row"], 2);
        assert_eq!(body["rows"][0]["override"]["user"]["id"], c.as_str());
        assert_eq!(body["rows"][1]["row"], 3);
        assert!(body["rows"][1]["errors"][0].as_str().unwrap().contains("nobody@example.com"), "{body}");
        assert!(body["rows"][2]["errors"][0].as_str().unwrap().contains("end after"), "{body}");

        let (status, body) = app
            .post(&format!("/api/v2/schedules/{id}/overrides/import?all_or_nothing=true"), json!({"rows": [
                {"user": c, "start": "2026-03-01T09:00:00+09:00", "end": "2026-03-02T09:00:00+09:00"},
                {"user": "ghost", "start": "2026-03-02T09:00:00+09:00", "end": "2026-03-03T09:00:00+09:00"}
            ]}))
            .await;
        assert_refused(status, &body, "row 2");
        let (_, listed) = app
            .get(&format!("/api/v2/schedules/{id}/overrides?since=2026-03-01T00:00:00Z&until=2026-03-05T00:00:00Z"))
            .await;
        assert_eq!(listed["overrides"], json!([]));
    }

    async fn bad_input_is_refused_naming_the_field_and_nothing_is_written(app) {
        let (a, _, _) = three_people(&app).await;
        let observer = app.user("Olga Obs", "olga@example.com").await;
        let (status, body) = app.put(&format!("/api/v2/users/{observer}"), json!({"user": {"role": "observer"}})).await;
        assert_eq!(status, 200, "{body}");
        let mut cases: Vec<(Value, &str)> = Vec::new();
        let mut tz = schedule("X", vec![layer(&[&a], T0, 86_400)]);
        tz["schedule"]["time_zone"] = json!("Mars/Olympus");
        cases.push((tz, "time_zone"));
        let mut dow = schedule("X", vec![layer(&[&a], T0, 86_400)]);
        dow["schedule"]["schedule_layers"][0]["restrictions"] = json!([{"type": "weekly_restriction", "start_day_of_week": 8, "start_time_of_day": "09:00:00", "duration_seconds": 3600}]);
        cases.push((dow, "schedule_layers[0].restrictions[0].start_day_of_week"));
        cases.push((schedule("X", vec![layer(&[&a], T0, -86_400)]), "schedule_layers[0].rotation_turn_length_seconds"));
        cases.push((schedule("X", vec![layer(&["PUNKNOWN"], T0, 86_400)]), "schedule_layers[0].users[0].user.id"));
        cases.push((schedule("X", vec![layer(&[&a, &observer], T0, 86_400)]), "stakeholder"));
        cases.push((schedule("X", vec![]), "schedule_layers"));
        cases.push((json!({"schedule": {"name": "X"}}), "time_zone"));
        cases.push((schedule("", vec![layer(&[&a], T0, 86_400)]), "name"));
        let mut huge = schedule("X", vec![layer(&[&a], T0, 86_400)]);
        huge["schedule"]["description"] = json!("d".repeat(5_000));
        cases.push((huge, "description"));
        for (body, needle) in cases {
            let (status, answer) = app.post("/api/v2/schedules", body).await;
            assert_refused(status, &answer, needle);
        }
        let (status, body) = app.post("/api/v2/schedules", json!({"schedule": {"name": "X", "schedule_layers": "no"}})).await;
        assert_eq!(status, 400, "{body}");
        let (_, list) = app.get("/api/v2/schedules?total=true").await;
        assert_eq!(list["total"], 0, "nothing half-written: {list}");

        let id = daily(&app, &[&a]).await;
        let (status, body) = app.get(&format!("/api/v2/schedules/{id}?since=2026-01-01T00:00:00Z&until=2027-06-01T00:00:00Z")).await;
        assert_refused(status, &body, "366 days");
        let (status, body) = app.get(&format!("/api/v2/schedules/{id}?since=yesterday")).await;
        assert_refused(status, &body, "since");
        let (status, body) = app.get("/api/v2/oncalls?since=2026-01-01T00:00:00Z&until=2026-04-15T00:00:00Z").await;
        assert_refused(status, &body, "90 days");
        let (status, body) = app.get("/api/v2/schedules/nope").await;
        assert_eq!(status, 404, "{body}");
        let (status, body) = app.post(&format!("/api/v2/schedules/{id}/overrides"), json!({"overrides": "x"})).await;
        assert_refused(status, &body, "overrides");
        let (status, body) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {"name": "EP", "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": observer, "type": "user_reference"}]}
        ]}})).await;
        assert_refused(status, &body, "stakeholder");
        let (status, body) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {"name": "EP", "escalation_rules": [
            {"escalation_delay_in_minutes": 0, "targets": [{"id": a, "type": "user_reference"}]}
        ]}})).await;
        assert_refused(status, &body, "escalation_rules[0].escalation_delay_in_minutes");
    }

    async fn oncalls_list_levels_from_schedules_and_people_and_refuse_deleting_targets(app) {
        let (a, b, c) = three_people(&app).await;
        let id = daily(&app, &[&a, &b]).await;
        let (status, body) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {
            "name": "Payments", "type": "escalation_policy", "num_loops": 1,
            "escalation_rules": [
                {"escalation_delay_in_minutes": 30, "targets": [{"id": id, "type": "schedule_reference"}]},
                {"escalation_delay_in_minutes": 30, "targets": [{"id": c, "type": "user_reference"}]}
            ]}})).await;
        assert_eq!(status, 201, "{body}");
        let ep = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
        assert_eq!(body["escalation_policy"]["escalation_rules"][0]["targets"][0]["summary"], "Payments");

        let (status, now) = app.get(&format!("/api/v2/oncalls?escalation_policy_ids[]={ep}")).await;
        assert_eq!(status, 200, "{now}");
        let oncalls = now["oncalls"].as_array().unwrap();
        assert_eq!(oncalls.len(), 2, "{now}");
        assert_eq!(oncalls[0]["escalation_level"], 1);
        assert_eq!(oncalls[0]["user"]["id"], a.as_str());
        assert_eq!(oncalls[0]["schedule"]["id"], id.as_str());
        assert_eq!(oncalls[0]["start"], "2026-01-05T00:00:00+00:00");
        assert_eq!(oncalls[0]["end"], "2026-01-06T00:00:00+00:00");
        assert_eq!(oncalls[1]["escalation_level"], 2);
        assert_eq!(oncalls[1]["user"]["id"], c.as_str());
        assert!(oncalls[1]["start"].is_null() && oncalls[1]["end"].is_null() && oncalls[1]["schedule"].is_null());

        let (_, week) = app.get(&format!("/api/v2/oncalls?since=2026-01-05T09:00:00Z&until=2026-01-12T09:00:00Z&user_ids[]={b}&include[]=users")).await;
        let b_calls = week["oncalls"].as_array().unwrap();
        assert_eq!(b_calls.len(), 4, "{week}");
        assert!(b_calls.iter().all(|o| o["user"]["email"] == "ben@example.com"), "{week}");
        let (_, earliest) = app.get(&format!("/api/v2/oncalls?since=2026-01-05T09:00:00Z&until=2026-01-12T09:00:00Z&user_ids[]={b}&earliest=true")).await;
        assert_eq!(earliest["oncalls"].as_array().unwrap().len(), 1, "{earliest}");
        assert_eq!(earliest["oncalls"][0]["start"], "2026-01-06T00:00:00+00:00");

        let mine = app.personal_token(&b);
        let (status, my) = support::send(app.as_token(&mine, reqwest::Method::GET, "/api/v2/users/me/oncalls")).await;
        assert_eq!(status, 200, "{my}");
        // 90 days of every other day.
        assert_eq!(my["oncalls"].as_array().unwrap().len(), 25, "{my}");
        assert!(my["more"].as_bool().unwrap(), "{my}");

        let (status, body) = app.delete(&format!("/api/v2/schedules/{id}")).await;
        assert_refused(status, &body, "'Payments'");
        let (status, body) = app.delete(&format!("/api/v2/users/{c}")).await;
        assert_refused(status, &body, "escalation policy 'Payments'");
        let (status, _) = app.delete(&format!("/api/v2/escalation_policies/{ep}")).await;
        assert_eq!(status, 204);
        let (status, _) = app.delete(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(status, 204);
    }

    async fn who_is_on_call_follows_overrides_seats_and_edits_made_after_it_was_asked(app) {
        // The server keeps schedules and final schedules between requests
        // (`use_cases::finals`): each answer must still follow every change. A second
        // instance's cache, warmed before the changes, is asked too.
        let (a, b, c) = three_people(&app).await;
        let id = daily(&app, &[&a, &b]).await;
        let (status, body) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {
            "name": "Payments", "type": "escalation_policy",
            "escalation_rules": [{"escalation_delay_in_minutes": 30, "targets": [{"id": id, "type": "schedule_reference"}]}]}})).await;
        assert_eq!(status, 201, "{body}");
        let ep = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
        let at = "2026-02-02T01:00:00Z";
        let url = format!("/api/v2/oncalls?since={at}&until={at}&schedule_ids[]={id}");
        let other = rota::use_cases::finals::Cache::default();
        let other_instance = || {
            let mut conn = app.db.get().unwrap();
            let t: jiff::Timestamp = at.parse().unwrap();
            let finals = other.final_schedules(&mut conn, &[rota::domain::ids::ScheduleId(id.clone())], &[], t, t).unwrap();
            finals.entries.values().flatten().map(|e| (e.user.to_string(), e.start.to_string(), e.end.to_string())).collect::<Vec<_>>()
        };
        let on_call = |body: &Value| -> Vec<(String, String, String)> {
            body["oncalls"].as_array().unwrap().iter().map(|o| (
                o["user"]["id"].as_str().unwrap().to_owned(),
                o["start"].as_str().unwrap().to_owned(),
                o["end"].as_str().unwrap().to_owned(),
            )).collect()
        };
        let shift = |u: &str, s: &str, e: &str| vec![(u.to_owned(), s.to_owned(), e.to_owned())];
        let (_, now) = app.get(&url).await;
        assert_eq!(on_call(&now), shift(&a, "2026-02-02T00:00:00+00:00", "2026-02-03T00:00:00+00:00"), "{now}");
        assert_eq!(other_instance(), shift(&a, "2026-02-02T00:00:00Z", "2026-02-03T00:00:00Z"));
        // Someone nobody's schedule names is on call nowhere (not "everyone").
        let (_, nobody) = app.get(&format!("{url}&user_ids[]=made-up-id")).await;
        assert_eq!(nobody["oncalls"], json!([]), "{nobody}");

        let (status, body) = app.post(&format!("/api/v2/schedules/{id}/overrides"), json!({"override": {
            "start": "2026-02-02T00:00:00Z", "end": "2026-02-02T12:00:00Z", "user": {"id": b, "type": "user_reference"}}})).await;
        assert_eq!(status, 201, "{body}");
        let (_, now) = app.get(&url).await;
        // Ben's own turn the day before runs into his override: one shift.
        assert_eq!(on_call(&now), shift(&b, "2026-02-01T00:00:00+00:00", "2026-02-02T12:00:00+00:00"), "{now}");
        assert_eq!(other_instance(), shift(&b, "2026-02-01T00:00:00Z", "2026-02-02T12:00:00Z"));

        let (status, body) = app.put(&format!("/api/v2/users/{b}"), json!({"user": {"role": "observer"}})).await;
        assert_eq!(status, 200, "{body}");
        let (_, now) = app.get(&url).await;
        assert_eq!(on_call(&now), shift(&a, "2026-02-02T00:00:00+00:00", "2026-02-03T00:00:00+00:00"), "{now}");
        assert_eq!(other_instance(), shift(&a, "2026-02-02T00:00:00Z", "2026-02-03T00:00:00Z"));

        let (status, body) = app.put(&format!("/api/v2/schedules/{id}"), schedule("Payments", vec![layer(&[&c], "2026-01-05T09:00:00+09:00", 86_400)])).await;
        assert_eq!(status, 200, "{body}");
        let (_, now) = app.get(&url).await;
        // Cleo's layer has one person: her shift runs on past the window, followed a while.
        assert_eq!(on_call(&now)[0].0, c, "{now}");
        assert_eq!(other_instance()[0].0, c);

        let (status, _) = app.delete(&format!("/api/v2/escalation_policies/{ep}")).await;
        assert_eq!(status, 204);
        let (status, _) = app.delete(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(status, 204);
        assert!(other_instance().is_empty(), "a deleted schedule has nobody");
    }

    async fn the_on_call_change_count_moves_with_each_write_it_vouches_for_and_no_other(app) {
        // Each instance answers "who is on call" from what it read while the database's
        // count of on-call changes stays the same (`use_cases::finals`): every write that
        // can change an answer must move it, in the same transaction; writes that cannot
        // should not, or the copies are thrown away for nothing.
        let count = || {
            let mut conn = app.db.get().unwrap();
            rota::store::schedules::oncall_changes(&mut conn).unwrap()
        };
        let (a, b, c) = three_people(&app).await;
        let mut last = count();
        let mut moved = |what: &str, expected: bool| {
            let now = count();
            assert_eq!(now > last, expected, "{what}: the count went from {last} to {now}");
            last = now;
        };
        let id = daily(&app, &[&a, &b]).await;
        moved("a schedule made", true);
        let (status, body) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {
            "name": "Payments", "type": "escalation_policy",
            "escalation_rules": [{"escalation_delay_in_minutes": 30, "targets": [{"id": id, "type": "schedule_reference"}]}]}})).await;
        assert_eq!(status, 201, "{body}");
        let ep = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
        moved("a policy made", true);
        let (status, body) = app.post(&format!("/api/v2/schedules/{id}/overrides"), json!({"override": {
            "start": "2030-02-02T00:00:00Z", "end": "2030-02-02T12:00:00Z", "user": {"id": c, "type": "user_reference"}}})).await;
        assert_eq!(status, 201, "{body}");
        let o = body["override"]["id"].as_str().unwrap().to_owned();
        moved("an override made", true);
        let (status, _) = app.delete(&format!("/api/v2/schedules/{id}/overrides/{o}")).await;
        assert_eq!(status, 204);
        moved("an override deleted", true);
        let (status, body) = app.put(&format!("/api/v2/users/{a}"), json!({"user": {"name": "Ana Ito-Mori"}})).await;
        assert_eq!(status, 200, "{body}");
        moved("a person renamed", true);
        // The new name shows at once, from this instance's copy too.
        let (_, on) = app.get(&format!("/api/v2/oncalls?since=2026-02-02T01:00:00Z&until=2026-02-02T01:00:00Z&include[]=users&schedule_ids[]={id}")).await;
        assert_eq!(on["oncalls"][0]["user"]["name"], "Ana Ito-Mori", "{on}");
        let (status, body) = app.put(&format!("/api/v2/users/{a}"), json!({"user": {"job_title": "SRE"}})).await;
        assert_eq!(status, 200, "{body}");
        moved("a job title no schedule shows", false);
        let (status, body) = app.put(&format!("/api/v2/users/{a}/oncall_notifications"), json!({"oncall_notifications": {"handoff": "off", "reminder_hours": null}})).await;
        assert_eq!(status, 200, "{body}");
        moved("a hand-off setting", false);
        let (status, body) = app.put(&format!("/api/v2/users/{b}"), json!({"user": {"role": "observer"}})).await;
        assert_eq!(status, 200, "{body}");
        moved("a seat lost", true);
        let (status, body) = app.put(&format!("/api/v2/schedules/{id}"), schedule("Payments", vec![layer(&[&c], "2026-01-05T09:00:00+09:00", 86_400)])).await;
        assert_eq!(status, 200, "{body}");
        moved("a layer edited", true);
        let (status, _) = app.delete(&format!("/api/v2/escalation_policies/{ep}")).await;
        assert_eq!(status, 204);
        moved("a policy deleted", true);
        let (status, _) = app.delete(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(status, 204);
        moved("a schedule deleted", true);
        let (status, _) = app.get("/api/v2/oncalls").await;
        assert_eq!(status, 200);
        moved("a read", false);
    }

    async fn concurrent_writers_each_move_the_change_count_without_waiting_on_each_other(app) {
        // On PostgreSQL every writing transaction updates the one count row at its commit
        // (a deferred trigger): overrides on two schedules and renames of their people, sent
        // at once, must all succeed (no deadlock between the rows they write and the count)
        // and each must move the count.
        let count = || {
            let mut conn = app.db.get().unwrap();
            rota::store::schedules::oncall_changes(&mut conn).unwrap()
        };
        let (a, b, c) = three_people(&app).await;
        let one = daily(&app, &[&a, &b]).await;
        let two = daily(&app, &[&b, &c]).await;
        let before = count();
        let writes = (0..12).map(|i| {
            let (app, one, two, b) = (&app, one.clone(), two.clone(), b.clone());
            async move {
                let start = format!("2030-03-{:02}T00:00:00Z", i + 1);
                let end = format!("2030-03-{:02}T12:00:00Z", i + 1);
                let (path, body) = match i % 3 {
                    0 | 1 => (
                        format!("/api/v2/schedules/{}/overrides", if i % 3 == 0 { &one } else { &two }),
                        json!({"override": {"start": start, "end": end, "user": {"id": b, "type": "user_reference"}}}),
                    ),
                    _ => (String::new(), json!({"user": {"name": format!("Ben Ueda {i}")}})),
                };
                if path.is_empty() {
                    app.put(&format!("/api/v2/users/{b}"), body).await
                } else {
                    app.post(&path, body).await
                }
            }
        });
        for (status, body) in futures_util::future::join_all(writes).await {
            assert!(status == 200 || status == 201, "{status}: {body}");
        }
        assert!(count() >= before + 12, "the count went from {before} to {}", count());
    }

    async fn someone_who_loses_their_full_seat_is_skipped_and_the_entry_says_why(app) {
        let (a, b, _) = three_people(&app).await;
        let id = daily(&app, &[&a, &b]).await;
        let (status, body) = app.put(&format!("/api/v2/users/{b}"), json!({"user": {"role": "observer"}})).await;
        assert_eq!(status, 200, "{body}");
        let (_, rendered) = app
            .get(&format!("/api/v2/schedules/{id}?since=2026-01-05T09:00:00%2B09:00&until=2026-01-07T09:00:00%2B09:00"))
            .await;
        let f = finals(&rendered);
        assert_eq!(f.len(), 1, "{rendered}");
        assert_eq!(f[0].0, a);
        let skipped = &rendered["schedule"]["skipped_entries"];
        assert_eq!(skipped[0]["user"]["id"], b.as_str(), "{rendered}");
        assert_eq!(skipped[0]["reason"], "stakeholder_seat");
        assert_eq!(rendered["schedule"]["gaps"][0]["start"], "2026-01-06T09:00:00+09:00");
        // The layer still lists them in rotation order.
        assert_eq!(rendered["schedule"]["schedule_layers"][0]["rendered_schedule_entries"].as_array().unwrap().len(), 2);
    }

    async fn managers_edit_their_team_s_schedules_responders_take_and_give_their_own_shifts(app) {
        let (a, b, c) = three_people(&app).await;
        let team = app.team("Payments").await;
        let manager = app.user("Mia Mori", "mia@example.com").await;
        let (status, body) = app.put(&format!("/api/v2/teams/{team}/users/{manager}"), json!({"role": "manager"})).await;
        assert!(status == 200 || status == 204, "{status} {body}");
        let mut body = schedule("Payments", vec![layer(&[&a, &b], "2026-01-05T09:00:00+09:00", 86_400)]);
        body["schedule"]["teams"] = json!([{"id": team, "type": "team_reference"}]);
        let as_manager = app.personal_token(&manager);
        let (status, created) = support::send(app.as_token(&as_manager, reqwest::Method::POST, "/api/v2/schedules").json(&body)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["schedule"]["id"].as_str().unwrap().to_owned();
        // Not a manager of another team's schedule.
        let other = daily(&app, &[&a]).await;
        let (status, _) = support::send(app.as_token(&as_manager, reqwest::Method::DELETE, &format!("/api/v2/schedules/{other}"))).await;
        assert_eq!(status, 403);

        let observer = app.api_as(Role::Observer);
        let (status, _) = observer.get(&format!("/api/v2/schedules/{id}")).await;
        assert_eq!(status, 200, "stakeholders read");
        let (status, _) = observer.post("/api/v2/schedules", schedule("Mine", vec![layer(&[&a], T0, 86_400)])).await;
        assert_eq!(status, 403);

        let ana = app.personal_token(&a);
        let ben = app.personal_token(&b);
        // Ben takes part of Ana's shift (Jan 5, Tokyo): allowed, and Ana is told.
        let take = json!({"overrides": [{"start": "2026-01-05T20:00:00+09:00", "end": "2026-01-05T22:00:00+09:00", "user": {"id": b}}]});
        let (status, body) = support::send(app.as_token(&ben, reqwest::Method::POST, &format!("/api/v2/schedules/{id}/overrides")).json(&take)).await;
        assert_eq!((status, body[0]["status"].as_u64()), (201, Some(201)), "{body}");
        // Ana gives part of her own shift to Cleo: allowed.
        let give = json!({"overrides": [{"start": "2026-01-06T06:00:00+09:00", "end": "2026-01-06T08:00:00+09:00", "user": {"id": c}}]});
        let (status, body) = support::send(app.as_token(&ana, reqwest::Method::POST, &format!("/api/v2/schedules/{id}/overrides")).json(&give)).await;
        assert_eq!((status, body[0]["status"].as_u64()), (201, Some(201)), "{body}");
        // Ana cannot give away Ben's shift (Jan 6).
        let not_hers = json!({"overrides": [{"start": "2026-01-06T12:00:00+09:00", "end": "2026-01-06T13:00:00+09:00", "user": {"id": c}}]});
        let (status, body) = support::send(app.as_token(&ana, reqwest::Method::POST, &format!("/api/v2/schedules/{id}/overrides")).json(&not_hers)).await;
        assert_eq!((status, body[0]["status"].as_u64()), (201, Some(400)), "{body}");
        let mails: Vec<(String, String)> = {
            use diesel::prelude::*;
            use rota::store::schema::emails;
            let mut conn = app.db.get().unwrap();
            emails::table.select((emails::to_address, emails::reason)).load(&mut *conn).unwrap()
        };
        assert!(mails.contains(&("ana@example.com".into(), "override_replaced".into())), "{mails:?}");
        assert!(mails.contains(&("cleo@example.com".into(), "override_on_call".into())), "{mails:?}");
        let records = app.audit_records("create_override").await;
        assert_eq!(records.len(), 2, "{records:?}");
    }
}
