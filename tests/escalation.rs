//! The escalation engine with the manual clock, on SQLite and PostgreSQL: level 1 at once,
//! level 2 after the delay, round again `num_loops` times, then exhausted; an
//! acknowledgement stops it; low urgency stays at level 1; a schedule target pages whoever
//! is on call at that moment; someone who may not be on call is skipped and the timeline
//! says so; two instances taking due steps at once take each step once.

mod support;

use chrono::Duration;
use serde_json::{Value, json};
use support::{TestApp, send};

async fn policy(app: &TestApp, levels: &[&str], loops: u32, delay: u32) -> String {
    let rules: Vec<Value> = levels
        .iter()
        .map(|t| {
            let (kind, id) = t.split_once(':').unwrap();
            json!({"escalation_delay_in_minutes": delay, "targets": [{"id": id, "type": kind}]})
        })
        .collect();
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": format!("P {}", uuid::Uuid::now_v7().simple()),
                "num_loops": loops, "escalation_rules": rules}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["escalation_policy"]["id"].as_str().unwrap().to_owned()
}

/// A service on `policy` with an integration: its routing key.
async fn service(app: &TestApp, policy: &str, urgency: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v2/services",
            json!({"service": {"name": format!("S {}", uuid::Uuid::now_v7().simple()),
                "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                "incident_urgency_rule": {"type": "constant", "urgency": urgency}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["service"]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v2/services/{id}/integrations"),
            json!({"integration": {"type": "events_api_v2_inbound_integration"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["integration"]["integration_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Triggers an incident; its id.
async fn trigger(app: &TestApp, key: &str, dedup: &str, severity: &str) -> String {
    let (status, body) = send(
        app.http.post(app.url("/v2/enqueue")).json(&json!({
        "routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": format!("Alert {dedup}"), "source": "host", "severity": severity}})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let (_, found) = app
        .get(&format!(
            "/api/v2/incidents?incident_key={dedup}&date_range=all"
        ))
        .await;
    found["incidents"][0]["id"].as_str().unwrap().to_owned()
}

async fn incident(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v2/incidents/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["incident"].clone()
}

fn assignees(incident: &Value) -> Vec<String> {
    incident["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["assignee"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn log(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let (_, body) = app
        .get(&format!("/api/v2/incidents/{id}/log_entries"))
        .await;
    body["log_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn step(app: &TestApp, minutes: i64) -> usize {
    app.clock.advance(Duration::minutes(minutes));
    app.app.escalation.run_once().await.unwrap()
}

on_both_backends! {
    async fn levels_then_loops_then_exhausted_and_an_acknowledgement_stops_it(app) {
        let a = app.user("Ada", "ada@example.com").await;
        let b = app.user("Bo", "bo@example.com").await;
        let p = policy(&app, &[&format!("user_reference:{a}"), &format!("user_reference:{b}")], 1, 10).await;
        let key = service(&app, &p, "high").await;
        let id = trigger(&app, &key, "loop", "critical").await;
        assert_eq!(assignees(&incident(&app, &id).await), vec![a.clone()], "level 1 at once");
        assert_eq!(step(&app, 9).await, 0, "not before the delay");
        assert_eq!(step(&app, 1).await, 1);
        let i = incident(&app, &id).await;
        assert_eq!((i["escalation_level"].as_i64(), assignees(&i)), (Some(2), vec![b.clone()]));
        assert_eq!(step(&app, 10).await, 1, "round again");
        let i = incident(&app, &id).await;
        assert_eq!((i["escalation_level"].as_i64(), assignees(&i)), (Some(1), vec![a.clone()]));
        assert_eq!(step(&app, 10).await, 1);
        assert_eq!(step(&app, 10).await, 1, "exhausted");
        assert_eq!(step(&app, 60).await, 0, "nothing after exhaustion");
        let i = incident(&app, &id).await;
        assert_eq!(assignees(&i), vec![b.clone()], "it stays with the last level");
        assert_eq!(i["pending_actions"], json!([]));
        let kinds: Vec<String> = log(&app, &id).await.into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, ["trigger_log_entry", "assign_log_entry", "escalate_log_entry",
            "repeat_escalation_path_log_entry", "escalate_log_entry", "escalate_log_entry",
            "exhaust_escalation_path_log_entry"]);

        // An acknowledgement stops it.
        let id = trigger(&app, &key, "acked", "critical").await;
        let ada = app.personal_token(&a);
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &format!("/api/v2/incidents/{id}"))
            .json(&json!({"incident": {"status": "acknowledged"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(step(&app, 30).await, 0);
        assert_eq!(incident(&app, &id).await["escalation_level"], 1);
    }

    async fn low_urgency_stays_and_schedules_page_whoever_is_on_call_then(app) {
        let a = app.user("Ana", "ana@example.com").await;
        let b = app.user("Ben", "ben@example.com").await;
        let (status, body) = app.post("/api/v2/schedules", json!({"schedule": {"name": "Daily", "type": "schedule",
            "time_zone": "Asia/Tokyo", "schedule_layers": [{"name": "Primary", "start": "2026-01-05T09:00:00+09:00",
            "rotation_virtual_start": "2026-01-05T09:00:00+09:00", "rotation_turn_length_seconds": 86400,
            "users": [{"user": {"id": a, "type": "user_reference"}}, {"user": {"id": b, "type": "user_reference"}}],
            "restrictions": []}]}})).await;
        assert_eq!(status, 201, "{body}");
        let schedule = body["schedule"]["id"].as_str().unwrap().to_owned();
        let p = policy(&app, &[&format!("schedule_reference:{schedule}"), &format!("user_reference:{b}")], 0, 5).await;
        let key = service(&app, &p, "severity_based").await;
        let first = trigger(&app, &key, "day1", "critical").await;
        assert_eq!(assignees(&incident(&app, &first).await), vec![a.clone()], "Ana is on call on day one");
        let low = trigger(&app, &key, "low", "warning").await;
        assert_eq!(step(&app, 60 * 24).await, 1, "only the high-urgency incident escalates");
        let low_now = incident(&app, &low).await;
        assert_eq!((low_now["escalation_level"].as_i64(), assignees(&low_now)), (Some(1), vec![a.clone()]));
        let second = trigger(&app, &key, "day2", "critical").await;
        assert_eq!(assignees(&incident(&app, &second).await), vec![b.clone()], "Ben is on call on day two");
    }

    async fn someone_who_may_not_be_on_call_is_skipped_and_the_timeline_says_so(app) {
        let a = app.user("Ada", "ada@example.com").await;
        let b = app.user("Bo", "bo@example.com").await;
        let p = policy(&app, &[&format!("user_reference:{a}"), &format!("user_reference:{b}")], 0, 5).await;
        let key = service(&app, &p, "high").await;
        {
            use diesel::prelude::*;
            use rota::store::schema::users;
            let mut conn = app.db.get().unwrap();
            diesel::update(users::table.filter(users::id.eq(&b)))
                .set(users::active.eq(false))
                .execute(&mut *conn)
                .unwrap();
        }
        let id = trigger(&app, &key, "skip", "critical").await;
        assert_eq!(step(&app, 5).await, 1);
        let i = incident(&app, &id).await;
        assert_eq!(i["escalation_level"], 2);
        assert_eq!(assignees(&i), Vec::<String>::new(), "nobody reachable at level 2");
        let entries = log(&app, &id).await;
        let skipped = entries.iter().find(|(k, _)| k == "skip_log_entry").unwrap_or_else(|| panic!("{entries:?}"));
        assert!(skipped.1.contains("Bo") && skipped.1.contains("deactivated"), "{skipped:?}");
        assert!(entries.iter().any(|(k, s)| k == "escalate_log_entry" && s.contains("nobody")), "{entries:?}");
    }

    async fn two_instances_take_each_due_step_once(app) {
        let a = app.user("Ada", "ada@example.com").await;
        let b = app.user("Bo", "bo@example.com").await;
        let p = policy(&app, &[&format!("user_reference:{a}"), &format!("user_reference:{b}")], 0, 5).await;
        let key = service(&app, &p, "high").await;
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(trigger(&app, &key, &format!("twice{i}"), "critical").await);
        }
        app.clock.advance(Duration::minutes(5));
        // Two engines over one database, as two instances would run: each with its own
        // final-schedule cache and connections.
        let at = rota::clock::Clock::now(&*app.clock);
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let db = app.db.clone();
                std::thread::spawn(move || {
                    let cache = rota::use_cases::finals::Cache::default();
                    let mut conn = db.get().unwrap();
                    rota::use_cases::incidents::escalate_all_due(&mut conn, &cache, at).unwrap()
                })
            })
            .collect();
        let taken: usize = runs.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(taken, 30, "every step once between the two");
        for id in &ids {
            let escalations = log(&app, id).await.into_iter().filter(|(k, _)| k == "escalate_log_entry").count();
            assert_eq!(escalations, 1, "{id}");
        }
    }
}
