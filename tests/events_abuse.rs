//! The Events API as an attacker or a runaway monitor uses it, on SQLite and PostgreSQL:
//! arbitrary bodies (a fuzz, as for SCIM) never give a 5xx and never open anything from a
//! malformed event; a routing key over its rate gets 429 with Retry-After and the event is
//! not ingested, while another key is unaffected.

mod support;

use serde_json::{Value, json};
use support::{TestApp, send};

async fn integration(app: &TestApp, name: &str) -> (String, String) {
    let person = app
        .user(&format!("{name} Person"), &format!("{name}@example.com"))
        .await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": name, "escalation_rules": [
                {"escalation_delay_in_minutes": 5, "targets": [{"id": person, "type": "user_reference"}]}]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
    app.service_with_key(&policy, name).await
}

async fn count_incidents(app: &TestApp) -> usize {
    let (status, body) = app.get("/api/v2/incidents?date_range=all&limit=100").await;
    assert_eq!(status, 200, "{body}");
    body["incidents"].as_array().unwrap().len()
}

fn trigger(key: &str, dedup: &str) -> Value {
    json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": "Load high", "source": "web-1", "severity": "error"}})
}

on_both_backends! {
    builder = TestApp::builder().events_per_minute(5);

    async fn a_key_over_its_rate_is_told_to_wait_and_others_are_not(app) {
        let (_, key) = integration(&app, "Web").await;
        let (_, other) = integration(&app, "Batch").await;
        for i in 0..5 {
            let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&trigger(&key, &format!("k{i}")))).await;
            assert_eq!(status, 202, "{body}");
        }
        let res = app.http.post(app.url("/v2/enqueue")).json(&trigger(&key, "k5")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 429);
        let wait: u64 = res.headers()["Retry-After"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "throttle event", "{body}");
        assert_eq!(count_incidents(&app).await, 5, "the throttled event opened nothing");
        let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&trigger(&other, "x"))).await;
        assert_eq!(status, 202, "another key has its own allowance: {body}");
        // Once time passes the key is admitted again (12 s refills one of five a minute).
        app.clock.advance(chrono::Duration::seconds(13));
        let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&trigger(&key, "k6"))).await;
        assert_eq!(status, 202, "{body}");
    }

    async fn arbitrary_bodies_never_fail_the_server(app) {
        use proptest::prelude::*;
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;

        let (service, key) = integration(&app, "Fuzz").await;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            Just(Value::from(key.clone())),
            "(trigger|acknowledge|resolve|critical|error|warning|info|Fired|Resolved|Sev[0-9]|2026-01-05T09:00:00Z|https://x\\.example/|[ -~]{0,12}|\\PC{0,8})".prop_map(Value::from),
        ];
        let json_value = leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(
                    "(routing_key|event_action|dedup_key|payload|summary|source|severity|timestamp|component|group|class|custom_details|links|images|href|src|text|client|client_url|schemaId|data|essentials|alertId|monitorCondition|[a-z]{1,6})",
                    inner,
                    0..8,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        let mut runner = TestRunner::deterministic();
        let mut opened = 0;
        for _ in 0..200 {
            // A minute refills the key's five: every round is judged on its body, not throttled.
            app.clock.advance(chrono::Duration::minutes(1));
            let mut body = json_value.new_tree(&mut runner).unwrap().current();
            // Half the time, a body shaped like an event so the checks past the key are reached.
            if any::<bool>().new_tree(&mut runner).unwrap().current()
                && let Value::Object(m) = &mut body
            {
                m.insert("routing_key".into(), Value::from(key.clone()));
            }
            for path in ["/v2/enqueue".to_owned(), "/v2/change/enqueue".to_owned(), format!("/integrations/azure-monitor/{key}")] {
                let (status, answer) = send(app.http.post(app.url(&path)).json(&body)).await;
                assert!(status < 500, "{path} {body} → {status} {answer}");
                assert_ne!(status, 429, "{path} {body} → {answer}");
                if status == 202 && path == "/v2/enqueue" && body["event_action"] == "trigger" {
                    opened += 1;
                }
                if status != 202 {
                    assert!(answer["errors"].is_array(), "{path} {body} → {answer}");
                }
            }
            let bytes = prop::collection::vec(any::<u8>(), 0..32).new_tree(&mut runner).unwrap().current();
            let raw = String::from_utf8_lossy(&bytes).into_owned();
            let (status, _) = send(app.http.post(app.url("/v2/enqueue")).header("Content-Type", "application/json").body(raw)).await;
            assert!(status < 500);
        }
        // Only accepted triggers may have opened incidents (repeats of a key open none).
        assert!(count_incidents(&app).await <= opened, "opened {opened}");
        let (status, _) = app.get(&format!("/api/v2/services/{service}/change_events")).await;
        assert_eq!(status, 200);
    }
}
