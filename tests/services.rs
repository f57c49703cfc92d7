//! Services and their Events API v2 integrations over HTTP on SQLite and PostgreSQL:
//! PagerDuty's shapes, bad input refused by field, routing keys shown once and found by
//! hash until revoked, never in the audit trail, managers' rights, and a policy in use kept.

mod support;

use rota::store::services::find_by_routing_key;
use serde_json::{Value, json};
use support::{TestApp, assert_refused};

async fn policy(app: &TestApp, name: &str) -> String {
    let person = app
        .user(
            &format!("{name} Person"),
            &format!("{}@example.com", name.to_lowercase()),
        )
        .await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": name, "escalation_rules": [
                {"escalation_delay_in_minutes": 30, "targets": [{"id": person, "type": "user_reference"}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["escalation_policy"]["id"].as_str().unwrap().to_owned()
}

fn service(name: &str, policy: &str, urgency: &str) -> Value {
    json!({"service": {
        "name": name,
        "type": "service",
        "description": "Takes the money",
        "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
        "incident_urgency_rule": {"type": "constant", "urgency": urgency}
    }})
}

fn routing_key_of(app: &TestApp, key: &str) -> Option<(String, String)> {
    find_by_routing_key(&mut app.db.get().unwrap(), key)
        .unwrap()
        .map(|(s, i)| (s.to_string(), i.to_string()))
}

on_both_backends! {
    async fn services_round_trip_in_pagerduty_shape(app) {
        let ep = policy(&app, "Payments").await;
        let other = policy(&app, "Search").await;
        let team = app.team("Payments").await;
        let mut body = service("Checkout", &ep, "severity_based");
        body["service"]["teams"] = json!([{"id": team, "type": "team_reference"}]);
        let (status, created) = app.post("/api/v2/services", body).await;
        assert_eq!(status, 201, "{created}");
        let s = &created["service"];
        let id = s["id"].as_str().unwrap().to_owned();
        assert_eq!(s["type"], "service");
        assert_eq!(s["summary"], "Checkout");
        assert_eq!(s["status"], "active");
        assert!(s["self"].as_str().unwrap().ends_with(&format!("/api/v2/services/{id}")), "{s}");
        assert_eq!(s["escalation_policy"]["id"], ep.as_str());
        assert_eq!(s["escalation_policy"]["type"], "escalation_policy_reference");
        assert_eq!(s["escalation_policy"]["summary"], "Payments");
        assert_eq!(s["teams"][0]["id"], team.as_str());
        assert_eq!(s["teams"][0]["summary"], "Payments");
        assert_eq!(s["incident_urgency_rule"], json!({"type": "constant", "urgency": "severity_based"}));
        assert_eq!(s["integrations"], json!([]));

        let (status, shown) = app.get(&format!("/api/v2/services/{id}")).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["service"], created["service"]);

        let (status, updated) = app
            .put(&format!("/api/v2/services/{id}"), service("Checkout v2", &other, "low"))
            .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["service"]["name"], "Checkout v2");
        assert_eq!(updated["service"]["escalation_policy"]["id"], other.as_str());
        assert_eq!(updated["service"]["incident_urgency_rule"]["urgency"], "low");
        assert_eq!(updated["service"]["teams"], json!([]));

        let (status, _) = app.post("/api/v2/services", service("Billing", &ep, "high")).await;
        assert_eq!(status, 201);
        let (status, page) = app.get("/api/v2/services?limit=1&total=true").await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["services"][0]["name"], "Billing");
        assert_eq!(page["more"], true);
        assert_eq!(page["total"], 2);
        let (status, found) = app.get("/api/v2/services?query=CHECK").await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["services"].as_array().unwrap().len(), 1, "{found}");
        assert_eq!(found["services"][0]["id"], id.as_str());

        let (status, _) = app.delete(&format!("/api/v2/services/{id}")).await;
        assert_eq!(status, 204);
        let (status, _) = app.get(&format!("/api/v2/services/{id}")).await;
        assert_eq!(status, 404);

        for action in ["create", "update", "delete"] {
            let records = app.audit_records(action).await;
            let ours = records.iter().filter(|r| r.to_string().contains(&id)).count();
            assert_eq!(ours, 1, "one {action} record for the service: {records:?}");
        }
    }

    async fn bad_services_are_refused_naming_the_field(app) {
        let ep = policy(&app, "Payments").await;
        let (status, body) = app.post("/api/v2/services", service("Checkout", "nope", "high")).await;
        assert_refused(status, &body, "escalation_policy.id");
        let mut with_team = service("Checkout", &ep, "high");
        with_team["service"]["teams"] = json!([{"id": "nope", "type": "team_reference"}]);
        let (status, body) = app.post("/api/v2/services", with_team).await;
        assert_refused(status, &body, "teams[0].id");
        let (status, body) = app.post("/api/v2/services", service("Checkout", &ep, "medium")).await;
        assert_refused(status, &body, "incident_urgency_rule.urgency");
        let mut other_type = service("Checkout", &ep, "high");
        other_type["service"]["incident_urgency_rule"]["type"] = json!("use_support_hours");
        let (status, body) = app.post("/api/v2/services", other_type).await;
        assert_refused(status, &body, "incident_urgency_rule.type");
        let (status, body) = app.post("/api/v2/services", service("  ", &ep, "high")).await;
        assert_refused(status, &body, "name");
        let (status, body) = app.post("/api/v2/services", service("Check\u{1b}[31mout", &ep, "high")).await;
        assert_refused(status, &body, "name");
        let (status, body) = app.post("/api/v2/services", service(&"x".repeat(101), &ep, "high")).await;
        assert_refused(status, &body, "name");
        let (status, body) = app.post("/api/v2/services", json!({"service": {"name": "Checkout"}})).await;
        assert_refused(status, &body, "escalation_policy");
        let (status, body) = app.get("/api/v2/services").await;
        assert_eq!(body["services"], json!([]), "nothing written: {status} {body}");

        let (status, created) = app.post("/api/v2/services", service(&"x".repeat(100), &ep, "high")).await;
        assert_eq!(status, 201, "{created}");
        let id = created["service"]["id"].as_str().unwrap();
        let (status, body) = app
            .post(&format!("/api/v2/services/{id}/integrations"), json!({"integration": {"type": "generic_email_inbound_integration"}}))
            .await;
        assert_refused(status, &body, "integration.type");
        let (status, body) = app
            .post("/api/v2/services/nope/integrations", json!({"integration": {"type": "events_api_v2_inbound_integration"}}))
            .await;
        assert_eq!(status, 404, "{body}");
    }

    async fn an_integration_key_is_shown_once_found_by_hash_and_revoked_by_delete(app) {
        let ep = policy(&app, "Payments").await;
        let (_, created) = app.post("/api/v2/services", service("Checkout", &ep, "high")).await;
        let id = created["service"]["id"].as_str().unwrap().to_owned();
        let (status, made) = app
            .post(&format!("/api/v2/services/{id}/integrations"), json!({"integration": {"type": "events_api_v2_inbound_integration", "name": "Alertmanager"}}))
            .await;
        assert_eq!(status, 201, "{made}");
        let integration = &made["integration"];
        let iid = integration["id"].as_str().unwrap().to_owned();
        let key = integration["integration_key"].as_str().unwrap().to_owned();
        assert_eq!(key.len(), 32, "{key}");
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
        assert_eq!(integration["type"], "events_api_v2_inbound_integration");
        assert_eq!(integration["name"], "Alertmanager");
        assert_eq!(integration["service"]["id"], id.as_str());
        assert_eq!(integration["integration_key_hint"], &key[28..]);
        assert_eq!(routing_key_of(&app, &key), Some((id.clone(), iid.clone())));
        assert_eq!(routing_key_of(&app, &"0".repeat(32)), None);

        let (status, shown) = app.get(&format!("/api/v2/services/{id}/integrations/{iid}")).await;
        assert_eq!(status, 200, "{shown}");
        assert!(shown["integration"].get("integration_key").is_none(), "{shown}");
        assert_eq!(shown["integration"]["integration_key_hint"], &key[28..]);
        let (_, svc) = app.get(&format!("/api/v2/services/{id}")).await;
        assert_eq!(svc["service"]["integrations"][0]["id"], iid.as_str());
        let (_, list) = app.get("/api/v2/services").await;
        for answer in [&shown, &svc, &list] {
            assert!(!answer.to_string().contains(&key), "key in {answer}");
        }

        let (status, _) = app.delete(&format!("/api/v2/services/{id}/integrations/{iid}")).await;
        assert_eq!(status, 204);
        assert_eq!(routing_key_of(&app, &key), None);
        let (status, _) = app.get(&format!("/api/v2/services/{id}/integrations/{iid}")).await;
        assert_eq!(status, 404);

        let hash = rota::domain::token::hash_secret(&key);
        let (status, all) = app.get("/api/v2/audit/records?limit=100").await;
        assert_eq!(status, 200, "{all}");
        let trail = all.to_string();
        assert!(trail.contains(&iid), "integrations are audited: {trail}");
        assert!(!trail.contains(&key), "key in the audit trail: {trail}");
        assert!(!trail.contains(&hash), "key hash in the audit trail: {trail}");
    }

    async fn only_managers_of_the_service_s_teams_admins_and_owners_manage_it(app) {
        let ep = policy(&app, "Payments").await;
        let team = app.team("Payments").await;
        let responder = app.user("Rae Responder", "rae@example.com").await;
        let as_responder = app.personal_token(&responder);
        let mut body = service("Checkout", &ep, "high");
        body["service"]["teams"] = json!([{"id": team, "type": "team_reference"}]);
        let (status, refused) = support::send(app.as_token(&as_responder, reqwest::Method::POST, "/api/v2/services").json(&body)).await;
        assert_eq!(status, 403, "{refused}");
        let (status, _) = support::send(app.as_token(&as_responder, reqwest::Method::GET, "/api/v2/services")).await;
        assert_eq!(status, 200, "responders read services");

        let (status, body2) = app.put(&format!("/api/v2/teams/{team}/users/{responder}"), json!({"role": "manager"})).await;
        assert!(status == 200 || status == 204, "{status} {body2}");
        let (status, created) = support::send(app.as_token(&as_responder, reqwest::Method::POST, "/api/v2/services").json(&body)).await;
        assert_eq!(status, 201, "{created}");
        let id = created["service"]["id"].as_str().unwrap().to_owned();
        let (status, made) = support::send(app.as_token(&as_responder, reqwest::Method::POST, &format!("/api/v2/services/{id}/integrations"))
            .json(&json!({"integration": {"type": "events_api_v2_inbound_integration"}}))).await;
        assert_eq!(status, 201, "{made}");
        // A service of no team is the admins'.
        let (_, theirs) = app.post("/api/v2/services", service("Search", &ep, "high")).await;
        let theirs = theirs["service"]["id"].as_str().unwrap().to_owned();
        let (status, _) = support::send(app.as_token(&as_responder, reqwest::Method::DELETE, &format!("/api/v2/services/{theirs}"))).await;
        assert_eq!(status, 403);

        // As an attacker would: the admins' service's integration, reached through it (403:
        // not theirs) and through the manager's own service (404: ids are per service); the
        // manager cannot move their service to a team they do not manage either.
        let (status, made) = app.post(&format!("/api/v2/services/{theirs}/integrations"), json!({"integration": {"type": "events_api_v2_inbound_integration"}})).await;
        assert_eq!(status, 201, "{made}");
        let their_integration = made["integration"]["id"].as_str().unwrap().to_owned();
        let their_key = made["integration"]["integration_key"].as_str().unwrap().to_owned();
        let (status, _) = support::send(app.as_token(&as_responder, reqwest::Method::DELETE, &format!("/api/v2/services/{theirs}/integrations/{their_integration}"))).await;
        assert_eq!(status, 403);
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let (status, answer) = support::send(app.as_token(&as_responder, method.clone(), &format!("/api/v2/services/{id}/integrations/{their_integration}"))).await;
            assert_eq!(status, 404, "{method}: {answer}");
        }
        assert!(routing_key_of(&app, &their_key).is_some(), "the admins' key still works");
        let other_team = app.team("Search").await;
        let mut moved = body.clone();
        moved["service"]["teams"] = json!([{"id": other_team, "type": "team_reference"}]);
        let (status, refused) = support::send(app.as_token(&as_responder, reqwest::Method::PUT, &format!("/api/v2/services/{id}")).json(&moved)).await;
        assert_eq!(status, 403, "{refused}");
    }

    async fn deleting_a_policy_a_service_uses_is_refused_naming_the_service(app) {
        let ep = policy(&app, "Payments").await;
        let (_, created) = app.post("/api/v2/services", service("Checkout", &ep, "high")).await;
        let id = created["service"]["id"].as_str().unwrap().to_owned();
        let (status, body) = app.delete(&format!("/api/v2/escalation_policies/{ep}")).await;
        assert_refused(status, &body, "'Checkout'");
        let (status, kept) = app.get(&format!("/api/v2/escalation_policies/{ep}")).await;
        assert_eq!(status, 200, "kept");
        assert_eq!(kept["escalation_policy"]["services"][0]["id"], id.as_str(), "{kept}");
        assert_eq!(kept["escalation_policy"]["services"][0]["type"], "service_reference");
        let (status, _) = app.delete(&format!("/api/v2/services/{id}")).await;
        assert_eq!(status, 204);
        let (status, _) = app.delete(&format!("/api/v2/escalation_policies/{ep}")).await;
        assert_eq!(status, 204);
    }
}
