//! Events in, incidents out, over HTTP on SQLite and PostgreSQL: the Events API v2's dedup
//! semantics and answers, incidents in PagerDuty's shape with their filters, the timeline
//! (log entries with their agents), notes, acknowledge/resolve/reassign/escalate through
//! the REST API (and who may), change events, and Azure Monitor's common alert schema.

mod support;

use rota::clock::Clock;
use rota::domain::role::Role;
use serde_json::{Value, json};
use support::{TestApp, assert_refused, send};

struct Setup {
    first: String,
    second: String,
    policy: String,
    service: String,
    team: String,
    key: String,
}

/// A two-level policy (first, then second, 10 minutes apart) on a service of a team, with
/// an Events API v2 integration.
async fn setup(app: &TestApp, urgency: &str) -> Setup {
    let first = app.user("Ada First", "ada@example.com").await;
    let second = app.user("Bo Second", "bo@example.com").await;
    let team = app.team("Payments").await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": "Payments", "escalation_rules": [
                {"escalation_delay_in_minutes": 10, "targets": [{"id": first, "type": "user_reference"}]},
                {"escalation_delay_in_minutes": 10, "targets": [{"id": second, "type": "user_reference"}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            "/api/v2/services",
            json!({"service": {"name": "Checkout", "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                "teams": [{"id": team, "type": "team_reference"}],
                "incident_urgency_rule": {"type": "constant", "urgency": urgency}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let service = body["service"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v2/services/{service}/integrations"),
            json!({"integration": {"type": "events_api_v2_inbound_integration", "name": "Prometheus"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = body["integration"]["integration_key"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        first,
        second,
        policy,
        service,
        team,
        key,
    }
}

/// A trigger as the Events API reads it, before it is written (its key has no open alert).
fn pending_trigger(
    conn: &mut rota::store::DbConnection,
    at: chrono::DateTime<chrono::Utc>,
    key: &str,
    dedup: Option<&str>,
) -> rota::use_cases::incidents::Trigger {
    use rota::use_cases::incidents::{Ingest, Route, ingest};
    let (service, integration) = rota::store::services::find_by_routing_key(conn, key)
        .unwrap()
        .unwrap();
    let event =
        rota::domain::events::alert_event(&trigger(key, dedup, "Disk full", "critical")).unwrap();
    match ingest(
        conn,
        at,
        &Route {
            service,
            integration,
        },
        event,
    )
    .unwrap()
    {
        Ingest::Open(t) => *t,
        Ingest::Done(o) => panic!("{o:?}"),
    }
}

async fn event(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    send(app.http.post(app.url(path)).json(&body)).await
}

fn trigger(key: &str, dedup: Option<&str>, summary: &str, severity: &str) -> Value {
    let mut e = json!({"routing_key": key, "event_action": "trigger",
        "payload": {"summary": summary, "source": "db-1.example", "severity": severity,
            "component": "postgres", "group": "prod", "class": "disk",
            "custom_details": {"free": "3%"}},
        "client": "Prometheus", "client_url": "https://prom.example/",
        "links": [{"href": "https://grafana.example/d/1", "text": "Dashboard"}]});
    if let Some(d) = dedup {
        e["dedup_key"] = json!(d);
    }
    e
}

async fn incidents(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v2/incidents?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["incidents"].as_array().unwrap().clone()
}

async fn log_types(app: &TestApp, incident: &str) -> Vec<String> {
    let (status, body) = app
        .get(&format!("/api/v2/incidents/{incident}/log_entries"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["log_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    async fn events_open_repeat_acknowledge_and_resolve_by_dedup_key(app) {
        let s = setup(&app, "high").await;
        // A trigger without a key gets one.
        let (status, body) = event(&app, "/v2/enqueue", trigger(&s.key, None, "Disk almost full", "critical")).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "success");
        assert_eq!(body["message"], "Event processed");
        let generated = body["dedup_key"].as_str().unwrap().to_owned();
        assert_eq!(generated.len(), 32);

        let (status, body) = event(&app, "/v2/enqueue", trigger(&s.key, Some("disk/db-1"), "Disk almost full on db-1", "critical")).await;
        assert_eq!((status, body["dedup_key"].as_str()), (202, Some("disk/db-1")), "{body}");
        // The same key again is the same alert.
        for _ in 0..3 {
            let (status, _) = event(&app, "/v2/enqueue", trigger(&s.key, Some("disk/db-1"), "Disk almost full on db-1", "critical")).await;
            assert_eq!(status, 202);
        }
        let open = incidents(&app, "statuses[]=triggered&sort_by=incident_number:asc").await;
        assert_eq!(open.len(), 2, "{open:?}");
        let i = &open[1];
        let id = i["id"].as_str().unwrap().to_owned();
        assert_eq!(i["type"], "incident");
        assert_eq!(i["incident_number"], open[0]["incident_number"].as_i64().unwrap() + 1);
        assert_eq!(i["title"], "Disk almost full on db-1");
        assert_eq!(i["incident_key"], "disk/db-1");
        assert_eq!(i["urgency"], "high");
        assert_eq!(i["status"], "triggered");
        assert_eq!(i["service"]["id"], s.service.as_str());
        assert_eq!(i["service"]["summary"], "Checkout");
        assert_eq!(i["escalation_policy"]["id"], s.policy.as_str());
        assert_eq!(i["teams"][0]["id"], s.team.as_str());
        assert_eq!(i["assignments"][0]["assignee"]["id"], s.first.as_str());
        assert_eq!(i["assignments"][0]["assignee"]["summary"], "Ada First");
        assert_eq!(i["alert_counts"], json!({"all": 1, "triggered": 1, "resolved": 0}));
        assert_eq!(i["pending_actions"][0]["type"], "escalate");
        assert!(i["first_trigger_log_entry"]["id"].is_string(), "{i}");
        assert!(i["resolved_at"].is_null());

        let (status, alerts) = app.get(&format!("/api/v2/incidents/{id}/alerts")).await;
        assert_eq!(status, 200, "{alerts}");
        assert_eq!(alerts["alerts"][0]["event_count"], 4, "{alerts}");
        assert_eq!(alerts["alerts"][0]["body"]["cef_details"]["source_component"], "postgres");
        assert_eq!(alerts["alerts"][0]["body"]["details"]["free"], "3%");
        assert_eq!(log_types(&app, &id).await, ["trigger_log_entry", "assign_log_entry"]);

        // Acknowledge and resolve by key; unknown keys are accepted and do nothing.
        let ack = json!({"routing_key": s.key, "event_action": "acknowledge", "dedup_key": "disk/db-1"});
        let (status, _) = event(&app, "/v2/enqueue", ack.clone()).await;
        assert_eq!(status, 202);
        let (_, shown) = app.get(&format!("/api/v2/incidents/{id}")).await;
        assert_eq!(shown["incident"]["status"], "acknowledged");
        assert_eq!(shown["incident"]["acknowledgements"][0]["acknowledger"]["type"], "events_api_v2_inbound_integration_reference");
        assert_eq!(shown["incident"]["pending_actions"], json!([]));
        let (status, body) = event(&app, "/v2/enqueue", json!({"routing_key": s.key, "event_action": "resolve", "dedup_key": "never-seen"})).await;
        assert_eq!(status, 202, "{body}");
        let (status, _) = event(&app, "/v2/enqueue", json!({"routing_key": s.key, "event_action": "resolve", "dedup_key": "disk/db-1"})).await;
        assert_eq!(status, 202);
        let (_, shown) = app.get(&format!("/api/v2/incidents/{id}")).await;
        assert_eq!(shown["incident"]["status"], "resolved");
        assert_eq!(shown["incident"]["assignments"], json!([]));
        assert_eq!(shown["incident"]["alert_counts"]["resolved"], 1);
        assert!(shown["incident"]["resolved_at"].is_string());
        assert_eq!(
            log_types(&app, &id).await,
            ["trigger_log_entry", "assign_log_entry", "acknowledge_log_entry", "resolve_log_entry"]
        );
        // A resolve again, or an acknowledge after it, changes nothing.
        let (status, _) = event(&app, "/v2/enqueue", ack).await;
        assert_eq!(status, 202);
        assert_eq!(log_types(&app, &id).await.len(), 4);

        // After a resolve the same key opens a new incident.
        let (status, _) = event(&app, "/v2/enqueue", trigger(&s.key, Some("disk/db-1"), "Disk full again", "error")).await;
        assert_eq!(status, 202);
        let again = incidents(&app, "incident_key=disk/db-1&sort_by=incident_number:desc&date_range=all").await;
        assert_eq!(again.len(), 2, "{again:?}");
        assert_eq!(again[0]["status"], "triggered");
        assert_ne!(again[0]["id"], id.as_str());

        // The same key through another integration is another alert (PagerDuty's rule).
        let (status, other) = app
            .post(&format!("/api/v2/services/{}/integrations", s.service),
                json!({"integration": {"type": "events_api_v2_inbound_integration", "name": "Other"}}))
            .await;
        assert_eq!(status, 201);
        let other_key = other["integration"]["integration_key"].as_str().unwrap();
        let (status, _) = event(&app, "/v2/enqueue", json!({"routing_key": other_key, "event_action": "resolve", "dedup_key": "disk/db-1"})).await;
        assert_eq!(status, 202);
        assert_eq!(incidents(&app, "incident_key=disk/db-1&statuses[]=triggered").await.len(), 1);
    }

    async fn triggers_racing_for_one_new_key_open_one_incident(app) {
        let s = setup(&app, "high").await;
        let sends = (0..20).map(|_| event(&app, "/v2/enqueue", trigger(&s.key, Some("race"), "Racing", "critical")));
        for (status, body) in futures_util::future::join_all(sends).await {
            assert_eq!(status, 202, "{body}");
        }
        let found = incidents(&app, "incident_key=race").await;
        assert_eq!(found.len(), 1, "{found:?}");
        let (_, alerts) = app.get(&format!("/api/v2/incidents/{}/alerts", found[0]["id"].as_str().unwrap())).await;
        assert_eq!(alerts["alerts"][0]["event_count"], 20, "{alerts}");
    }

    async fn triggers_written_together_open_one_incident_per_key_and_one_bad_trigger_spoils_nothing(app) {
        use rota::use_cases::incidents::{self as cases, Ingested};
        let s = setup(&app, "high").await;
        // A second service on the same policy, and a third that is deleted before its
        // trigger is written.
        let other = app.service_with_key(&s.policy, "Search").await;
        let doomed = app.service_with_key(&s.policy, "Doomed").await;
        let mut conn = app.db.get().unwrap();
        let at = app.clock.now();
        let mut pending = |key: &str, dedup: Option<&str>| pending_trigger(&mut conn, at, key, dedup);
        let lot = vec![
            pending(&s.key, Some("same")),
            pending(&s.key, Some("same")),
            pending(&other.1, Some("other")),
            pending(&s.key, None),
            pending(&s.key, Some("opened-meanwhile")),
        ];
        // Another event opens a key of the lot after `ingest` looked and before the lot is
        // written: the lot's trigger counts on it.
        let (status, body) = event(&app, "/v2/enqueue", trigger(&s.key, Some("opened-meanwhile"), "Disk full", "critical")).await;
        assert_eq!(status, 202, "{body}");
        let out = cases::open(&mut conn, &app.app.state.finals, &lot);
        let ingested: Vec<_> = out.into_iter().map(|o| o.unwrap().ingested).collect();
        assert!(matches!(ingested[0], Ingested::Opened(_)), "{ingested:?}");
        assert_eq!(ingested[1], Ingested::Repeated);
        assert!(matches!(ingested[2], Ingested::Opened(_)), "{ingested:?}");
        assert!(matches!(ingested[3], Ingested::Opened(_)), "{ingested:?}");
        assert_eq!(ingested[4], Ingested::Repeated);
        drop(conn);

        let all = incidents(&app, "statuses[]=triggered").await;
        assert_eq!(all.len(), 4, "{all:?}");
        let mut numbers: Vec<i64> = all.iter().map(|i| i["incident_number"].as_i64().unwrap()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, vec![1, 2, 3, 4]);
        for i in &all {
            let id = i["id"].as_str().unwrap();
            assert_eq!(i["assignments"][0]["assignee"]["id"], s.first.as_str(), "{i}");
            assert_eq!(log_types(&app, id).await[..2], ["trigger_log_entry", "assign_log_entry"], "{id}");
            let (_, alerts) = app.get(&format!("/api/v2/incidents/{id}/alerts")).await;
            let expected = match i["incident_key"].as_str().unwrap() {
                "same" | "opened-meanwhile" => 2,
                _ => 1,
            };
            assert_eq!(alerts["alerts"][0]["event_count"], expected, "{alerts}");
            let mut conn = app.db.get().unwrap();
            let sent = rota::store::notifications::of_incident(&mut conn, &rota::domain::ids::IncidentId(id.into())).unwrap();
            assert_eq!(sent.len(), 1, "e-mail at once to the first level: {sent:?}");
        }
        assert_eq!(incidents(&app, "incident_key=other").await[0]["service"]["id"], other.0.as_str());

        // One trigger of a lot cannot be written (its service is gone): the others open.
        let mut conn = app.db.get().unwrap();
        let mut pending = |key: &str, dedup: &str| pending_trigger(&mut conn, at, key, Some(dedup));
        let lot = vec![pending(&s.key, "fine-1"), pending(&doomed.1, "doomed"), pending(&other.1, "fine-2")];
        drop(conn);
        let (status, body) = app.delete(&format!("/api/v2/services/{}", doomed.0)).await;
        assert_eq!(status, 204, "{body}");
        let mut conn = app.db.get().unwrap();
        let out = cases::open(&mut conn, &app.app.state.finals, &lot);
        drop(conn);
        assert!(matches!(out[0], Ok(ref o) if matches!(o.ingested, Ingested::Opened(_))), "{out:?}");
        assert!(out[1].is_err(), "{out:?}");
        assert!(matches!(out[2], Ok(ref o) if matches!(o.ingested, Ingested::Opened(_))), "{out:?}");
        assert!(incidents(&app, "incident_key=doomed").await.is_empty());
        assert_eq!(incidents(&app, "incident_key=fine-1").await.len(), 1);
        assert_eq!(incidents(&app, "incident_key=fine-2").await.len(), 1);
    }

    async fn malformed_events_get_a_4xx_in_the_events_shape_and_open_nothing(app) {
        let s = setup(&app, "high").await;
        let cases = [
            (json!({"routing_key": "short", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "critical"}}), "'routing_key'"),
            (json!({"routing_key": "0123456789abcdef0123456789abcdef", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "critical"}}), "'routing_key' is not the integration key"),
            (json!({"routing_key": s.key, "event_action": "explode"}), "'event_action'"),
            (json!({"routing_key": s.key, "event_action": "trigger"}), "'payload'"),
            (json!({"routing_key": s.key, "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "High"}}), "'payload.severity' is invalid"),
            (json!({"routing_key": s.key, "event_action": "trigger", "payload": {"source": "h", "severity": "info"}}), "'payload.summary'"),
            (json!({"routing_key": s.key, "event_action": "trigger", "dedup_key": "k".repeat(256), "payload": {"summary": "s", "source": "h", "severity": "info"}}), "'dedup_key'"),
            (json!({"routing_key": s.key, "event_action": "acknowledge"}), "'dedup_key' is required"),
            (json!("just a string"), "JSON object"),
        ];
        for (body, expected) in cases {
            let (status, answer) = event(&app, "/v2/enqueue", body.clone()).await;
            assert_eq!(status, 400, "{body} → {answer}");
            assert_eq!(answer["status"], "invalid event", "{answer}");
            assert_eq!(answer["message"], "Event object is invalid", "{answer}");
            let errors = answer["errors"].to_string();
            assert!(errors.contains(expected), "{expected} in {answer}");
        }
        let (status, answer) = send(app.http.post(app.url("/v2/enqueue")).header("Content-Type", "application/json").body("{\"routing_key\": ")).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer["errors"][0].as_str().unwrap().contains("not valid JSON"), "{answer}");
        let big = "x".repeat(600 * 1024);
        let (status, answer) = send(app.http.post(app.url("/v2/enqueue")).header("Content-Type", "application/json").body(format!("{{\"routing_key\": \"{big}\"}}"))).await;
        assert_eq!(status, 413, "{answer}");
        assert_eq!(answer["status"], "invalid event", "{answer}");
        let (status, answer) = send(app.http.post(app.url("/v2/enqueue")).header("Content-Type", "application/json").body("{\"routing_key\": \"a\u{0}b\"}")).await;
        assert!((400..500).contains(&status), "{answer}");
        assert_eq!(incidents(&app, "date_range=all").await.len(), 0);
        // A revoked key stops working.
        let (_, svc) = app.get(&format!("/api/v2/services/{}", s.service)).await;
        let integration = svc["service"]["integrations"][0]["id"].as_str().unwrap();
        let (status, _) = app.delete(&format!("/api/v2/services/{}/integrations/{integration}", s.service)).await;
        assert_eq!(status, 204);
        let (status, answer) = event(&app, "/v2/enqueue", trigger(&s.key, None, "After revoke", "critical")).await;
        assert_eq!(status, 400, "{answer}");
    }

    async fn severity_based_urgency_and_change_events(app) {
        let s = setup(&app, "severity_based").await;
        for (dedup, severity) in [("c", "critical"), ("e", "error"), ("w", "warning"), ("i", "info")] {
            let (status, _) = event(&app, "/v2/enqueue", trigger(&s.key, Some(dedup), dedup, severity)).await;
            assert_eq!(status, 202);
        }
        let high = incidents(&app, "urgencies[]=high&sort_by=incident_number").await;
        let low = incidents(&app, "urgencies[]=low&sort_by=incident_number").await;
        let keys = |v: &[Value]| v.iter().map(|i| i["incident_key"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(keys(&high), ["c", "e"]);
        assert_eq!(keys(&low), ["w", "i"]);
        assert_eq!(low[0]["pending_actions"], json!([]), "low urgency does not escalate");

        // A change event lands on the service's timeline and in the incidents opened after it.
        let (status, body) = event(&app, "/v2/change/enqueue", json!({"routing_key": s.key,
            "payload": {"summary": "Deployed checkout v2.14", "source": "ci-17", "custom_details": {"commit": "9f2c1e0"}},
            "links": [{"href": "https://ci.example/4211", "text": "Pipeline"}]})).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["message"], "Change event processed");
        let (status, body) = event(&app, "/v2/change/enqueue", json!({"routing_key": s.key, "payload": {}})).await;
        assert_eq!(status, 400, "{body}");
        let (status, changes) = app.get(&format!("/api/v2/services/{}/change_events", s.service)).await;
        assert_eq!(status, 200, "{changes}");
        assert_eq!(changes["change_events"].as_array().unwrap().len(), 1);
        assert_eq!(changes["change_events"][0]["summary"], "Deployed checkout v2.14");
        app.clock.advance(chrono::Duration::minutes(5));
        let (status, _) = event(&app, "/v2/enqueue", trigger(&s.key, Some("after-deploy"), "Errors after deploy", "critical")).await;
        assert_eq!(status, 202);
        let after = incidents(&app, "incident_key=after-deploy").await;
        let (status, related) = app.get(&format!("/api/v2/incidents/{}/related_change_events", after[0]["id"].as_str().unwrap())).await;
        assert_eq!(status, 200, "{related}");
        assert_eq!(related["change_events"][0]["summary"], "Deployed checkout v2.14", "{related}");
        assert_eq!(related["change_events"][0]["links"][0]["href"], "https://ci.example/4211");
    }

    async fn responders_acknowledge_resolve_reassign_escalate_and_keep_notes(app) {
        let s = setup(&app, "high").await;
        for k in ["a", "b", "c"] {
            let (status, _) = event(&app, "/v2/enqueue", trigger(&s.key, Some(k), &format!("Incident {k}"), "critical")).await;
            assert_eq!(status, 202);
        }
        let all = incidents(&app, "sort_by=incident_number:asc").await;
        let ids: Vec<String> = all.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();

        // A personal token acts as its person.
        let ada = app.personal_token(&s.first);
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &format!("/api/v2/incidents/{}", ids[0]))
            .json(&json!({"incident": {"type": "incident", "status": "acknowledged"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["incident"]["status"], "acknowledged");
        assert_eq!(body["incident"]["acknowledgements"][0]["acknowledger"]["id"], s.first.as_str());
        assert_eq!(body["incident"]["acknowledgements"][0]["acknowledger"]["summary"], "Ada First");

        // A service token must say who acts.
        let path = format!("/api/v2/incidents/{}", ids[1]);
        let (status, body) = app.put(&path, json!({"incident": {"status": "acknowledged"}})).await;
        assert_refused(status, &body, "From");
        let (status, body) = send(app.req(reqwest::Method::PUT, &path).header("From", "nobody@example.com")
            .json(&json!({"incident": {"status": "acknowledged"}}))).await;
        assert_refused(status, &body, "From");
        let (status, body) = send(app.req(reqwest::Method::PUT, &path).header("From", "BO@example.com")
            .json(&json!({"incident": {"status": "acknowledged"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["incident"]["acknowledgements"][0]["acknowledger"]["id"], s.second.as_str());

        // A stakeholder reads but does not respond.
        let observer = app.api_as(Role::Observer);
        let (status, _) = observer.get(&path).await;
        assert_eq!(status, 200);
        let (status, body) = send(observer.req(reqwest::Method::PUT, &path).header("From", "bo@example.com")
            .json(&json!({"incident": {"status": "resolved"}}))).await;
        assert_eq!(status, 403, "{body}");

        // Bad asks are refused by field.
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &path).json(&json!({"incident": {"status": "snoozed"}}))).await;
        assert_refused(status, &body, "incident.status");
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &path).json(&json!({"incident": {}}))).await;
        assert_refused(status, &body, "incident");
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &path).json(&json!({"incident": {"escalation_level": 9}}))).await;
        assert_refused(status, &body, "escalation_level");
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &path).json(&json!({"incident": {"assignments": [{"assignee": {"id": "nope", "type": "user_reference"}}]}}))).await;
        assert_refused(status, &body, "incident.assignments[0].assignee.id");

        // Escalate to level 2, then reassign back.
        let third = format!("/api/v2/incidents/{}", ids[2]);
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &third).json(&json!({"incident": {"escalation_level": 2}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["incident"]["escalation_level"], 2);
        assert_eq!(body["incident"]["assignments"][0]["assignee"]["id"], s.second.as_str());
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &third)
            .json(&json!({"incident": {"assignments": [{"assignee": {"id": s.first, "type": "user_reference"}}]}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["incident"]["assignments"][0]["assignee"]["id"], s.first.as_str());
        assert_eq!(incidents(&app, &format!("user_ids[]={}", s.second)).await.len(), 0);
        let mine = incidents(&app, &format!("user_ids[]={}&statuses[]=triggered", s.first)).await;
        assert_eq!(mine.len(), 1, "{mine:?}");

        // Notes: the scribe's running record, on the timeline too.
        let notes = format!("/api/v2/incidents/{}/notes", ids[2]);
        for text in ["Failing over to the replica", "Replica healthy; watching"] {
            let (status, body) = send(app.as_token(&ada, reqwest::Method::POST, &notes).json(&json!({"note": {"content": text}}))).await;
            assert_eq!(status, 201, "{body}");
            assert_eq!(body["note"]["user"]["id"], s.first.as_str());
        }
        let (status, body) = send(app.as_token(&ada, reqwest::Method::POST, &notes).json(&json!({"note": {"content": "  "}}))).await;
        assert_refused(status, &body, "note.content");
        let (status, body) = send(observer.req(reqwest::Method::POST, &notes).header("From", "bo@example.com").json(&json!({"note": {"content": "hi"}}))).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = app.get(&notes).await;
        assert_eq!(status, 200);
        let texts: Vec<&str> = body["notes"].as_array().unwrap().iter().map(|n| n["content"].as_str().unwrap()).collect();
        assert_eq!(texts, ["Failing over to the replica", "Replica healthy; watching"]);
        assert_eq!(
            log_types(&app, &ids[2]).await,
            ["trigger_log_entry", "assign_log_entry", "escalate_log_entry", "assign_log_entry", "annotate_log_entry", "annotate_log_entry"]
        );

        // Bulk resolve, all or none: a resolved one cannot be acknowledged.
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, "/api/v2/incidents").json(&json!({"incidents": [
            {"id": ids[0], "type": "incident_reference", "status": "resolved"},
            {"id": ids[1], "type": "incident_reference", "status": "resolved"}]}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["incidents"][1]["status"], "resolved");
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, "/api/v2/incidents").json(&json!({"incidents": [
            {"id": ids[2], "status": "acknowledged"}, {"id": ids[0], "status": "acknowledged"}]}))).await;
        assert_refused(status, &body, "incidents[1].status");
        let (_, still) = app.get(&third).await;
        assert_eq!(still["incident"]["status"], "triggered", "nothing of a refused bulk update is kept");

        // Filters and the global timeline.
        assert_eq!(incidents(&app, "statuses[]=resolved").await.len(), 2);
        assert_eq!(incidents(&app, &format!("service_ids[]={}", s.service)).await.len(), 3);
        assert_eq!(incidents(&app, &format!("team_ids[]={}", s.team)).await.len(), 3);
        assert_eq!(incidents(&app, "team_ids[]=no-such-team").await.len(), 0);
        let newest = incidents(&app, "sort_by=incident_number:desc").await;
        assert_eq!(newest[0]["id"], ids[2].as_str());
        let (status, body) = app.get("/api/v2/incidents?statuses[]=sleeping").await;
        assert_refused(status, &body, "statuses[]");
        let (status, body) = app.get("/api/v2/incidents?sort_by=title").await;
        assert_refused(status, &body, "sort_by");
        let (status, body) = app.get("/api/v2/incidents?since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z").await;
        assert_refused(status, &body, "until");
        let (status, body) = app.get("/api/v2/log_entries?limit=100&total=true").await;
        assert_eq!(status, 200, "{body}");
        assert!(body["total"].as_i64().unwrap() >= 12, "{body}");
        let entry = &body["log_entries"][0];
        let (status, shown) = app.get(&format!("/api/v2/log_entries/{}", entry["id"].as_str().unwrap())).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["log_entry"]["type"], "trigger_log_entry");
        assert_eq!(shown["log_entry"]["channel"]["type"], "events_api");
        let (status, _) = app.get("/api/v2/incidents/nope").await;
        assert_eq!(status, 404);
    }

    async fn low_urgency_does_not_escalate_and_azure_monitor_fires_and_resolves(app) {
        let s = setup(&app, "severity_based").await;
        let azure = |condition: &str, severity: &str| json!({"schemaId": "azureMonitorCommonAlertSchema", "data": {
            "essentials": {"alertId": "/subscriptions/s1/providers/Microsoft.AlertsManagement/alerts/a1",
                "alertRule": "CPU over 90%", "severity": severity, "signalType": "Metric",
                "monitorCondition": condition, "monitoringService": "Platform",
                "alertTargetIDs": ["/subscriptions/s1/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-1"],
                "configurationItems": ["vm-1"], "firedDateTime": "2026-01-05T08:58:24.37Z", "description": "",
                "essentialsVersion": "1.0", "alertContextVersion": "1.0"},
            "alertContext": {"condition": {"windowSize": "PT5M"}}}});
        let path = format!("/integrations/azure-monitor/{}", s.key);
        let (status, body) = event(&app, &path, azure("Fired", "Sev3")).await;
        assert_eq!(status, 202, "{body}");
        let found = incidents(&app, "").await;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["urgency"], "low");
        assert_eq!(found[0]["title"], "CPU over 90%");
        let id = found[0]["id"].as_str().unwrap();
        let ada = app.personal_token(&s.first);
        let (status, body) = send(app.as_token(&ada, reqwest::Method::PUT, &format!("/api/v2/incidents/{id}"))
            .json(&json!({"incident": {"escalation_level": 2}}))).await;
        assert_refused(status, &body, "low-urgency");
        let (status, body) = event(&app, &path, azure("Resolved", "Sev3")).await;
        assert_eq!(status, 202, "{body}");
        let (_, shown) = app.get(&format!("/api/v2/incidents/{id}")).await;
        assert_eq!(shown["incident"]["status"], "resolved");
        let (status, body) = event(&app, &path, azure("Fired", "Sev0")).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(incidents(&app, "statuses[]=triggered").await[0]["urgency"], "high");
        let (status, body) = event(&app, &path, azure("Fired", "Sev7")).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["errors"][0].as_str().unwrap().contains("severity"), "{body}");
        let (status, body) = event(&app, "/integrations/azure-monitor/0123456789abcdef0123456789abcdef", azure("Fired", "Sev1")).await;
        assert_eq!(status, 400, "{body}");
    }
}
