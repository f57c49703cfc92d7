//! Monitoring tools as they really send events, on SQLite and PostgreSQL.
//!
//! Prometheus Alertmanager (the real binary, `support::alertmanager`) with a
//! `pagerduty_configs` receiver pointed at `/v2/enqueue`: an alert opens an incident keyed by
//! Alertmanager's group key hash, and the alert ending resolves it.
//!
//! New Relic: what the README's webhook payload template renders for an issue activated,
//! acknowledged and closed (New Relic's workflow webhook destination, Handlebars templates:
//! https://docs.newrelic.com/docs/alerts/get-notified/message-templates/ for `json` and `eq`,
//! https://docs.newrelic.com/docs/alerts/get-notified/custom-variables-incident-workflows/ for
//! `issueId`, `issueTitle`, `issuePageUrl`, `priority`, `state`, `totalIncidents` and
//! `accumulations.*`).

mod support;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use support::alertmanager::Alertmanager;
use support::{TestApp, send};

/// How long Alertmanager (or the poll) may take to get an event through.
const DEADLINE: Duration = Duration::from_secs(30);

struct Setup {
    service: String,
    key: String,
}

/// A policy paging one person, a service whose urgency follows the event's severity, and an
/// Events API v2 integration.
async fn setup(app: &TestApp, integration: &str) -> Setup {
    let person = app.user("Ada First", "ada@example.com").await;
    let (status, body) = app
        .post(
            "/api/v2/escalation_policies",
            json!({"escalation_policy": {"name": "Checkout", "escalation_rules": [
                {"escalation_delay_in_minutes": 10, "targets": [{"id": person, "type": "user_reference"}]}
            ]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            "/api/v2/services",
            json!({"service": {"name": "Checkout",
                "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                "incident_urgency_rule": {"type": "constant", "urgency": "severity_based"}}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let service = body["service"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v2/services/{service}/integrations"),
            json!({"integration": {"type": "events_api_v2_inbound_integration", "name": integration}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let key = body["integration"]["integration_key"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup { service, key }
}

/// Every incident, oldest first. The test clock stands at 2026-01-05 while the peers run on
/// real time, so the default 30-day window is left out.
async fn incidents(app: &TestApp) -> Vec<Value> {
    let (status, body) = app
        .get("/api/v2/incidents?date_range=all&sort_by=incident_number:asc")
        .await;
    assert_eq!(status, 200, "{body}");
    body["incidents"].as_array().unwrap().clone()
}

/// Polls the incidents until `done` holds for them, or fails after `DEADLINE` with `why` and
/// Alertmanager's log.
async fn wait_for(
    app: &TestApp,
    am: Option<&Alertmanager>,
    why: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let until = Instant::now() + DEADLINE;
    loop {
        let found = incidents(app).await;
        if done(&found) {
            return found;
        }
        if Instant::now() >= until {
            panic!(
                "{why} within {DEADLINE:?}; incidents: {found:#?}\nalertmanager's log:\n{}",
                am.map(Alertmanager::log).unwrap_or_default()
            );
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The receiver the README shows, with timings short enough for a test. `resolve_timeout`
/// stays long: an alert posted without `endsAt` would otherwise resolve by itself after it,
/// and the test would not show that Alertmanager's resolve is what closes the incident.
fn alertmanager_yml(rota: &str, key: &str) -> String {
    format!(
        r#"global:
  resolve_timeout: 5m
route:
  receiver: rota
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: rota
    pagerduty_configs:
      - routing_key: {key}
        url: {rota}/v2/enqueue
        send_resolved: true
        severity: '{{{{ or .CommonLabels.severity "error" }}}}'
        description: '{{{{ .CommonAnnotations.summary }}}}'
"#
    )
}

/// Posts alerts to Alertmanager's API as Prometheus does.
async fn post_alerts(app: &TestApp, am: &Alertmanager, alerts: Value) {
    let (status, body) = send(
        app.http
            .post(format!("{}/api/v2/alerts", am.url()))
            .json(&alerts),
    )
    .await;
    assert_eq!(status, 200, "alertmanager refused the alerts: {body}");
}

fn alert(starts_at: &str, ends_at: Option<&str>) -> Value {
    let mut a = json!({
        "labels": {"alertname": "CheckoutErrors", "severity": "critical", "instance": "checkout-1:9100"},
        "annotations": {"summary": "Checkout 5xx rate above 5%"},
        "startsAt": starts_at,
        "generatorURL": "http://prometheus.example/graph?g0.expr=checkout_errors"
    });
    if let Some(t) = ends_at {
        a["endsAt"] = json!(t);
    }
    a
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The New Relic payload template the README shows.
fn new_relic_template() -> &'static str {
    let readme = include_str!("../README.md");
    let start = readme
        .find("```handlebars\n")
        .expect("README.md: the New Relic template")
        + "```handlebars\n".len();
    let end = start
        + readme[start..]
            .find("```\n<!-- end of the New Relic template -->")
            .expect("README.md: the end of the New Relic template");
    &readme[start..end]
}

/// Renders the Handlebars the template uses (`{{json path}}`, `{{#eq path "text"}}…{{else}}…
/// {{/eq}}`, nested) over `vars`, as New Relic does; anything else fails the test, so the
/// README cannot drift into something this does not check.
fn render(template: &str, vars: &Value) -> String {
    fn lookup<'v>(vars: &'v Value, path: &str) -> &'v Value {
        let v = path.split('.').fold(vars, |v, k| &v[k]);
        assert!(
            !v.is_null(),
            "the template names {path}, a variable this test does not fill in"
        );
        v
    }
    /// The body of the `#eq` block at the start of `rest`: (then, else, what follows `{{/eq}}`).
    fn split_block(rest: &str) -> (&str, &str, &str) {
        let (mut depth, mut at, mut otherwise) = (0, 0, None);
        loop {
            let open = at + rest[at..].find("{{").expect("unclosed {{#eq}}");
            let close = open + rest[open..].find("}}").expect("unclosed {{");
            match rest[open + 2..close].trim() {
                t if t.starts_with("#eq") => depth += 1,
                "else" if depth == 0 => otherwise = Some((open, close + 2)),
                "/eq" if depth == 0 => {
                    return match otherwise {
                        Some((e, after_else)) => {
                            (&rest[..e], &rest[after_else..open], &rest[close + 2..])
                        }
                        None => (&rest[..open], "", &rest[close + 2..]),
                    };
                }
                "/eq" => depth -= 1,
                _ => {}
            }
            at = close + 2;
        }
    }
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let close = open + rest[open..].find("}}").expect("unclosed {{");
        let tag = rest[open + 2..close].trim();
        rest = &rest[close + 2..];
        if let Some(path) = tag.strip_prefix("json ") {
            out.push_str(&lookup(vars, path.trim()).to_string());
        } else if let Some(args) = tag.strip_prefix("#eq ") {
            let (path, text) = args.trim().split_once(' ').expect("{{#eq a \"b\"}}");
            let text: String = serde_json::from_str(text.trim()).expect("{{#eq a \"b\"}}");
            let (then, otherwise, after) = split_block(rest);
            let chosen = if lookup(vars, path).as_str() == Some(text.as_str()) {
                then
            } else {
                otherwise
            };
            out.push_str(&render(chosen, vars));
            rest = after;
        } else {
            panic!("the New Relic template uses {{{{{tag}}}}}, which this test does not render");
        }
    }
    out.push_str(rest);
    out
}

/// New Relic's notification for an issue: the README's template rendered over the workflow
/// variables New Relic fills in, with the routing key put in.
fn new_relic(key: &str, issue: &str, state: &str, priority: &str, title: &str) -> Value {
    let vars = json!({
        "issueId": issue,
        "issueTitle": title,
        "issuePageUrl": format!("https://one.newrelic.com/alerts-ai/issues/{issue}"),
        "priority": priority,
        "state": state,
        "totalIncidents": 1,
        "accumulations": {"policyName": ["Checkout golden signals"], "conditionName": ["Error rate"]}
    });
    let text = render(new_relic_template(), &vars).replace("<routing key>", key);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the template rendered bad JSON ({e}):\n{text}"))
}

on_both_backends! {
    async fn alertmanager_opens_and_resolves_an_incident(app) {
        let s = setup(&app, "Alertmanager").await;
        let Some(am) = Alertmanager::start(&alertmanager_yml(&app.base, &s.key)) else {
            return;
        };
        let started = rfc3339(chrono::Utc::now() - chrono::Duration::seconds(60));
        post_alerts(&app, &am, json!([alert(&started, None)])).await;

        let found = wait_for(&app, Some(&am), "no incident from Alertmanager", |i| !i.is_empty()).await;
        assert_eq!(found.len(), 1, "{found:#?}");
        let i = &found[0];
        assert_eq!(i["title"], "Checkout 5xx rate above 5%", "{i}");
        assert_eq!(i["urgency"], "high", "severity critical on a severity-based service: {i}");
        assert_eq!(i["status"], "triggered", "{i}");
        assert_eq!(i["service"]["id"], s.service.as_str());
        // Alertmanager's dedup key: the SHA-256 of its group key (the root route's matchers,
        // then the group's labels).
        let key = i["incident_key"].as_str().unwrap();
        assert_eq!(key.len(), 64, "{key}");
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
        let group_key = r#"{}:{alertname="CheckoutErrors"}"#;
        assert_eq!(key, hex::encode(Sha256::digest(group_key)), "{key}");
        let id = i["id"].as_str().unwrap().to_owned();
        let (status, alerts) = app.get(&format!("/api/v2/incidents/{id}/alerts")).await;
        assert_eq!(status, 200, "{alerts}");
        assert_eq!(alerts["alerts"][0]["body"]["details"]["num_firing"], "1", "{alerts}");

        // The alert ends: Alertmanager sends a resolve for the group.
        let ended = rfc3339(chrono::Utc::now() - chrono::Duration::seconds(1));
        post_alerts(&app, &am, json!([alert(&started, Some(&ended))])).await;
        let found = wait_for(&app, Some(&am), "the incident was not resolved", |i| {
            i.first().is_some_and(|i| i["status"] == "resolved")
        })
        .await;
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0]["id"], id.as_str());
        assert!(found[0]["resolved_at"].is_string(), "{}", found[0]);
    }

    async fn new_relic_webhook_payload_opens_acknowledges_and_resolves(app) {
        let s = setup(&app, "New Relic").await;
        let issue = "0ea2df1c-adab-45d1-ae0b-c9ff4a8d8b1d";
        let title = "Error rate > 5% for at least 5 minutes on 'checkout'";
        let steps = [
            ("ACTIVATED", "triggered"),
            ("ACKNOWLEDGED", "acknowledged"),
            ("CLOSED", "resolved"),
        ];
        let body = new_relic(&s.key, issue, "ACTIVATED", "CRITICAL", title);
        assert_eq!(body["event_action"], "trigger", "{body}");
        assert_eq!(body["payload"]["severity"], "critical", "{body}");
        for (priority, severity) in [("HIGH", "error"), ("MEDIUM", "warning"), ("LOW", "info")] {
            let body = new_relic(&s.key, issue, "CREATED", priority, title);
            assert_eq!((body["event_action"].as_str(), body["payload"]["severity"].as_str()),
                (Some("trigger"), Some(severity)), "{body}");
        }
        for (state, action) in [("ACKNOWLEDGED", "acknowledge"), ("CLOSED", "resolve")] {
            assert_eq!(new_relic(&s.key, issue, state, "HIGH", title)["event_action"], action);
        }
        for (state, expect) in steps {
            let (status, body) = send(
                app.http
                    .post(app.url("/v2/enqueue"))
                    .json(&new_relic(&s.key, issue, state, "CRITICAL", title)),
            )
            .await;
            assert_eq!(status, 202, "{state}: {body}");
            assert_eq!(body["dedup_key"], issue, "{body}");
            let found = incidents(&app).await;
            assert_eq!(found.len(), 1, "{state}: {found:#?}");
            let i = &found[0];
            assert_eq!(i["status"], expect, "{state}: {i}");
            assert_eq!(i["title"], title);
            assert_eq!(i["incident_key"], issue);
            assert_eq!(i["urgency"], "high", "CRITICAL is critical: {i}");
        }

        // CREATED triggers too; LOW is info, a low-urgency incident on this service.
        let (status, body) = send(
            app.http
                .post(app.url("/v2/enqueue"))
                .json(&new_relic(&s.key, "5c1d6c3e-2f5b-4a8e-9d1c-7e1f0a2b3c4d", "CREATED", "LOW", "Disk 80% on db-1")),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let found = incidents(&app).await;
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[1]["status"], "triggered");
        assert_eq!(found[1]["urgency"], "low", "{}", found[1]);
    }
}
