//! Time to acknowledge and resolve over HTTP on SQLite and PostgreSQL: incidents opened by
//! events at known instants of the manual clock, acknowledged and resolved after known
//! delays, then PagerDuty's aggregated incident data per service and per team (counts,
//! means, nearest-rank percentiles) with its filters and refusals, who may read it, and the
//! `/metrics` histograms that changes through the REST API feed (and `incidents_committed`,
//! for the paths that hold only an incident's id).

mod support;

use chrono::Duration;
use rota::domain::role::Role;
use serde_json::{Value, json};
use support::{TestApp, assert_refused, send};

const SERVICES: &str = "/api/v2/analytics/metrics/incidents/services";
const TEAMS: &str = "/api/v2/analytics/metrics/incidents/teams";

struct Setup {
    ada: String,
    checkout: String,
    search: String,
    payments: String,
    web: String,
    checkout_key: String,
    search_key: String,
}

/// Checkout (high urgency, team Payments) and Search (low urgency, teams Payments and Web),
/// both paging Ada, each with an Events API v2 integration.
async fn setup(app: &TestApp) -> Setup {
    let ada = app.user("Ada First", "ada@example.com").await;
    let payments = app.team("Payments").await;
    let web = app.team("Web").await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": "Primary", "escalation_rules": [
                {"escalation_delay_in_minutes": 30, "targets": [{"id": ada, "type": "user_reference"}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
    let mut made = Vec::new();
    for (name, urgency, teams) in [
        ("Checkout", "high", vec![payments.clone()]),
        ("Search", "low", vec![payments.clone(), web.clone()]),
    ] {
        let teams: Vec<Value> = teams
            .iter()
            .map(|t| json!({"id": t, "type": "team_reference"}))
            .collect();
        let (status, body) = app
            .post(
                "/api/v2/services",
                json!({"service": {"name": name, "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                    "teams": teams, "incident_urgency_rule": {"type": "constant", "urgency": urgency}}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let service = body["service"]["id"].as_str().unwrap().to_owned();
        let (status, body) = app
            .post(
                &format!("/api/v2/services/{service}/integrations"),
                json!({"integration": {"type": "events_api_v2_inbound_integration", "name": "Monitor"}}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let key = body["integration"]["integration_key"]
            .as_str()
            .unwrap()
            .to_owned();
        made.push((service, key));
    }
    let (search, search_key) = made.pop().unwrap();
    let (checkout, checkout_key) = made.pop().unwrap();
    Setup {
        ada,
        checkout,
        search,
        payments,
        web,
        checkout_key,
        search_key,
    }
}

async fn event(app: &TestApp, key: &str, action: &str, dedup: &str) {
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&json!({
        "routing_key": key, "event_action": action, "dedup_key": dedup,
        "payload": {"summary": format!("Incident {dedup}"), "source": "monitor", "severity": "critical"}
    })))
    .await;
    assert_eq!(status, 202, "{body}");
}

async fn incident_id(app: &TestApp, key: &str) -> String {
    let (status, body) = app
        .get(&format!(
            "/api/v2/incidents?incident_key={key}&date_range=all"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["incidents"][0]["id"].as_str().unwrap().to_owned()
}

/// Ada changes the incident through the REST API with her personal token.
async fn change(app: &TestApp, token: &str, id: &str, fields: Value) {
    let (status, body) = send(
        app.as_token(
            token,
            reqwest::Method::PUT,
            &format!("/api/v2/incidents/{id}"),
        )
        .json(&json!({ "incident": fields })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn advance(app: &TestApp, seconds: i64) {
    app.clock.advance(Duration::seconds(seconds));
}

/// The row of `data` whose `key` is `id`.
fn row<'a>(body: &'a Value, key: &str, id: &str) -> &'a Value {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .find(|r| r[key] == id)
        .unwrap_or_else(|| panic!("no {key} {id} in {body}"))
}

fn ids(body: &Value, key: &str) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {body}"))
        .iter()
        .map(|r| r[key].as_str().unwrap().to_owned())
        .collect()
}

/// The figures of a row: counts, then the time to first acknowledgement (mean, p50, p90,
/// p99), then the time to resolve.
fn figures(r: &Value) -> Value {
    json!([
        [
            r["total_incident_count"],
            r["total_incidents_acknowledged"],
            r["total_incidents_resolved"]
        ],
        [
            r["mean_seconds_to_first_ack"],
            r["p50_seconds_to_first_ack"],
            r["p90_seconds_to_first_ack"],
            r["p99_seconds_to_first_ack"]
        ],
        [
            r["mean_seconds_to_resolve"],
            r["p50_seconds_to_resolve"],
            r["p90_seconds_to_resolve"],
            r["p99_seconds_to_resolve"]
        ],
    ])
}

/// Opens and handles the incidents every test reads, at these instants of the clock (from
/// 09:00:00, its start):
///
/// | incident | service  | opened | first acknowledged | resolved       |
/// |----------|----------|--------|--------------------|----------------|
/// | c1       | Checkout | +0 s   | +120 s (REST)      | +900 s (REST)  |
/// | c2       | Checkout | +60 s  | +300 s (REST)      | —              |
/// | s1       | Search   | +300 s | —                  | +900 s (event) |
///
/// c1 is acknowledged a second time (no change); c2 is reassigned (triggered again) at the
/// instant of its acknowledgement and acknowledged again at +900 s: neither changes its first
/// acknowledgement, nor counts again in `/metrics`.
async fn history(app: &TestApp, s: &Setup) {
    let ada = app.personal_token(&s.ada);
    event(app, &s.checkout_key, "trigger", "c1").await;
    advance(app, 60);
    event(app, &s.checkout_key, "trigger", "c2").await;
    let (c1, c2) = (incident_id(app, "c1").await, incident_id(app, "c2").await);
    advance(app, 60);
    change(app, &ada, &c1, json!({"status": "acknowledged"})).await;
    advance(app, 180);
    change(app, &ada, &c2, json!({"status": "acknowledged"})).await;
    change(app, &ada, &c1, json!({"status": "acknowledged"})).await;
    event(app, &s.search_key, "trigger", "s1").await;
    change(
        app,
        &ada,
        &c2,
        json!({"assignments": [{"assignee": {"id": s.ada, "type": "user_reference"}}]}),
    )
    .await;
    advance(app, 600);
    change(app, &ada, &c2, json!({"status": "acknowledged"})).await;
    change(app, &ada, &c1, json!({"status": "resolved"})).await;
    event(app, &s.search_key, "resolve", "s1").await;
}

on_both_backends! {
    async fn figures_per_service_and_per_team_count_the_first_acknowledgement_and_the_resolution(app) {
        let s = setup(&app).await;
        history(&app, &s).await;

        let (status, body) = app.post(SERVICES, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "service_id"), [s.checkout.as_str(), s.search.as_str()], "in name order");
        let checkout = row(&body, "service_id", &s.checkout);
        assert_eq!(checkout["service_name"], "Checkout");
        assert_eq!(checkout["team_id"], s.payments.as_str());
        assert_eq!(checkout["team_name"], "Payments");
        // Acknowledged after 120 s and 240 s; c1 resolved after 900 s.
        assert_eq!(figures(checkout), json!([[2, 2, 1], [180, 120, 240, 240], [900, 900, 900, 900]]));
        let search = row(&body, "service_id", &s.search);
        assert_eq!(search["team_name"], "Payments", "the first of its teams by name");
        // Resolved without an acknowledgement: no time to acknowledge.
        assert_eq!(figures(search), json!([[1, 0, 1], [null, null, null, null], [600, 600, 600, 600]]));
        // The window as applied: the last 30 days up to now (09:15).
        assert_eq!(body["filters"]["created_at_end"], "2026-01-05T09:15:00Z", "{body}");
        assert_eq!(body["filters"]["created_at_start"], "2025-12-06T09:15:00Z", "{body}");
        assert_eq!(body["time_zone"], "Etc/UTC");

        let (status, body) = app.post(TEAMS, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "team_id"), [s.payments.as_str(), s.web.as_str()]);
        let payments = row(&body, "team_id", &s.payments);
        assert_eq!(payments["team_name"], "Payments");
        assert!(payments.get("service_id").is_none(), "{payments}");
        assert_eq!(figures(payments), json!([[3, 2, 2], [180, 120, 240, 240], [750, 600, 900, 900]]));
        assert_eq!(figures(row(&body, "team_id", &s.web)), json!([[1, 0, 1], [null, null, null, null], [600, 600, 600, 600]]));

        // No body at all is the defaults.
        let (status, body) = send(app.req(reqwest::Method::POST, SERVICES)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 2);
        // Thirty-one days on, the default window holds none of them.
        app.clock.advance(Duration::days(31));
        let (status, body) = app.post(SERVICES, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], json!([]));
    }

    async fn filters_narrow_by_window_service_team_and_urgency(app) {
        let s = setup(&app).await;
        history(&app, &s).await;

        // Created in [start, end): c2 opened at 09:01:00 exactly, so it is out.
        let (status, body) = app.post(SERVICES, json!({"filters": {
            "created_at_start": "2026-01-05T09:00:00Z", "created_at_end": "2026-01-05T09:01:00Z"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "service_id"), [s.checkout.as_str()]);
        assert_eq!(figures(&body["data"][0]), json!([[1, 1, 1], [120, 120, 120, 120], [900, 900, 900, 900]]));
        assert_eq!(body["filters"]["created_at_start"], "2026-01-05T09:00:00Z");
        // Without an offset a time is in the request's time zone (Berlin is UTC+1 in January).
        let (status, body) = app.post(SERVICES, json!({"time_zone": "Europe/Berlin", "filters": {
            "created_at_start": "2026-01-05T10:00:30", "created_at_end": "2026-01-05T11:00:00"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["time_zone"], "Europe/Berlin");
        assert_eq!(body["filters"]["created_at_start"], "2026-01-05T09:00:30Z");
        assert_eq!(figures(row(&body, "service_id", &s.checkout)), json!([[1, 1, 0], [240, 240, 240, 240], [null, null, null, null]]));

        let (status, body) = app.post(SERVICES, json!({"filters": {"service_ids": [s.search]}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "service_id"), [s.search.as_str()]);
        assert_eq!(body["filters"]["service_ids"], json!([s.search]));
        let (status, body) = app.post(SERVICES, json!({"filters": {"urgency": "high"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "service_id"), [s.checkout.as_str()]);
        let (status, body) = app.post(SERVICES, json!({"filters": {"service_ids": ["no-such-service"]}})).await;
        assert_eq!((status, &body["data"]), (200, &json!([])), "{body}");

        // By team: the services of the team, and on the teams endpoint only that team's row
        // (Search is Payments' too).
        let (status, body) = app.post(SERVICES, json!({"filters": {"team_ids": [s.web]}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "service_id"), [s.search.as_str()]);
        let (status, body) = app.post(TEAMS, json!({"filters": {"team_ids": [s.web]}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body, "team_id"), [s.web.as_str()]);
        let (status, body) = app.post(TEAMS, json!({"filters": {"team_ids": [s.payments], "urgency": "low"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(figures(row(&body, "team_id", &s.payments)), json!([[1, 0, 1], [null, null, null, null], [600, 600, 600, 600]]));
    }

    async fn a_bad_window_or_filter_is_refused_and_a_stakeholder_may_read(app) {
        let s = setup(&app).await;
        event(&app, &s.checkout_key, "trigger", "c1").await;
        // The default window ends now, exclusive: the incident opened before.
        advance(&app, 1);

        let refused = [
            (json!({"filters": {"created_at_start": "2026-01-05T00:00:00Z", "created_at_end": "2026-01-04T00:00:00Z"}}),
                "filters.created_at_end must be after filters.created_at_start"),
            (json!({"filters": {"created_at_start": "2025-01-01T00:00:00Z", "created_at_end": "2026-01-02T00:00:00Z"}}),
                "longer than a year"),
            (json!({"filters": {"created_at_start": "2024-12-01T00:00:00Z"}}), "longer than a year"),
            (json!({"filters": {"created_at_start": "last week"}}), "filters.created_at_start"),
            (json!({"filters": {"urgency": "urgent"}}), "filters.urgency"),
            (json!({"time_zone": "Mars/Olympus"}), "time_zone"),
            (json!({"filters": {"major": true}}), "major"),
            (json!({"aggregate_unit": "day"}), "aggregate_unit"),
        ];
        for (body, says) in refused {
            for path in [SERVICES, TEAMS] {
                let (status, answer) = app.post(path, body.clone()).await;
                assert_refused(status, &answer, says);
            }
        }
        let (status, body) = send(app.req(reqwest::Method::POST, SERVICES).header("Content-Type", "text/plain").body("{}")).await;
        assert_refused(status, &body, "Content-Type");

        // Whoever may list incidents may ask: a stakeholder too; nobody without a token.
        let observer = app.api_as(Role::Observer);
        let (status, body) = observer.post(SERVICES, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["total_incident_count"], 1);
        let (status, _) = observer.post(TEAMS, json!({})).await;
        assert_eq!(status, 200);
        let (status, _) = app.anonymous().post(SERVICES, json!({})).await;
        assert_eq!(status, 401);
        let (status, body) = app.get(SERVICES).await;
        assert_eq!(status, 405, "{body}");
    }

    async fn metrics_observe_each_incident_once_as_its_change_commits(app) {
        let s = setup(&app).await;
        history(&app, &s).await;
        let (status, text) = app.anonymous().get("/metrics").await;
        assert_eq!(status, 200);
        let text = text.as_str().unwrap();
        let checkout = &s.checkout;
        // c1 after 120 s and c2 after 240 s, each once (a repeated acknowledgement, or one
        // after a reassignment, is not another first one).
        for line in [
            format!(r#"rota_incident_seconds_to_acknowledge_bucket{{service="{checkout}",le="60"}} 0"#),
            format!(r#"rota_incident_seconds_to_acknowledge_bucket{{service="{checkout}",le="120"}} 1"#),
            format!(r#"rota_incident_seconds_to_acknowledge_bucket{{service="{checkout}",le="300"}} 2"#),
            format!(r#"rota_incident_seconds_to_acknowledge_bucket{{service="{checkout}",le="86400"}} 2"#),
            format!(r#"rota_incident_seconds_to_acknowledge_sum{{service="{checkout}"}} 360"#),
            format!(r#"rota_incident_seconds_to_acknowledge_count{{service="{checkout}"}} 2"#),
            format!(r#"rota_incident_seconds_to_resolve_bucket{{service="{checkout}",le="600"}} 0"#),
            format!(r#"rota_incident_seconds_to_resolve_bucket{{service="{checkout}",le="900"}} 1"#),
            format!(r#"rota_incident_seconds_to_resolve_sum{{service="{checkout}"}} 900"#),
            format!(r#"rota_incident_seconds_to_resolve_count{{service="{checkout}"}} 1"#),
        ] {
            assert!(text.contains(&line), "no {line} in\n{text}");
        }
        assert!(text.contains("# TYPE rota_incident_seconds_to_acknowledge histogram"), "{text}");

        // Paths that know only which incident they changed (the Events API resolved s1 at
        // this instant) read it first; at another instant it adds nothing.
        let metrics = rota::http::metrics::Metrics::new();
        let s1 = rota::domain::ids::IncidentId(incident_id(&app, "s1").await);
        let now = rota::clock::Clock::now(&*app.clock);
        metrics.incidents_committed(&app.db, vec![s1.clone()], now).await;
        metrics.incidents_committed(&app.db, vec![s1], now + Duration::seconds(1)).await;
        let text = metrics.render((0, 0, 0));
        let search = &s.search;
        for line in [
            format!(r#"rota_incident_seconds_to_resolve_bucket{{service="{search}",le="300"}} 0"#),
            format!(r#"rota_incident_seconds_to_resolve_bucket{{service="{search}",le="600"}} 1"#),
            format!(r#"rota_incident_seconds_to_resolve_count{{service="{search}"}} 1"#),
        ] {
            assert!(text.contains(&line), "no {line} in\n{text}");
        }
        assert!(!text.contains("rota_incident_seconds_to_acknowledge_count"), "{text}");
    }
}
