//! Similar past incidents over HTTP on SQLite and PostgreSQL, on a database with other
//! traffic first: resolved incidents of the same cause rank first, with when they happened,
//! how long they lasted and who resolved them; open incidents are never offered; an incident
//! resolved after the first search is found by the next; bad input names the field.

mod support;

use serde_json::{Value, json};
use support::{TestApp, as_person, assert_refused, send};

async fn trigger(
    app: &TestApp,
    key: &str,
    dedup: &str,
    summary: &str,
    source: &str,
    class: &str,
) -> String {
    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": dedup,
        "payload": {"summary": summary, "source": source, "severity": "error", "class": class,
            "custom_details": {"mount": "/var/lib/postgresql", "free_percent": 2}}});
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
    assert_eq!(status, 202, "{body}");
    let (_, body) = app
        .get("/api/v2/incidents?limit=100&statuses[]=triggered")
        .await;
    body["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["incident_key"] == dedup)
        .unwrap_or_else(|| panic!("{body}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn resolve(app: &TestApp, token: &str, id: &str) {
    let (status, body) = as_person(
        app,
        token,
        reqwest::Method::PUT,
        &format!("/api/v2/incidents/{id}"),
        Some(json!({"incident": {"type": "incident_reference", "status": "resolved"}})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

fn titles(body: &Value) -> Vec<String> {
    body["related_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    async fn resolved_incidents_of_the_same_cause_rank_first(app) {
        let ada = app.user("Ada Responder", "ada@example.com").await;
        let token = app.personal_token(&ada);
        let key = app.paging_service("Database", &[&ada]).await;
        let disk = [
            ("Disk full on db-01: /var/lib/postgresql at 98%", "db-01.prod", "disk"),
            ("No space left on device on db-07", "db-07.prod", "disk"),
            ("db-03 データディスクの空き容量が不足しています", "db-03.prod", "disk"),
        ];
        let other = [
            ("TLS certificate for api.example.com expires in 3 days", "cert-monitor", "certificate"),
            ("Replication lag on db-02 above 300 s", "db-02.prod", "replication"),
            ("Checkout p99 latency above 2 s", "checkout-lb", "latency"),
        ];
        for (n, (summary, source, class)) in disk.iter().chain(other.iter()).enumerate() {
            let id = trigger(&app, &key, &format!("past-{n}"), summary, source, class).await;
            resolve(&app, &token, &id).await;
        }
        // Open incidents are never offered as "past".
        trigger(&app, &key, "open-other", "Disk full on db-09: /var/lib/postgresql at 97%", "db-09.prod", "disk").await;

        let now = trigger(&app, &key, "now", "Disk full on db-05: /var/lib/postgresql at 99%", "db-05.prod", "disk").await;
        let path = format!("/api/v2/incidents/{now}/related_incidents");
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let found = titles(&body);
        assert!(found.len() >= 2, "{body}");
        assert!(found[..2].iter().all(|t| t.contains("db-0") && (t.contains("Disk") || t.contains("space"))), "{found:?}");
        assert!(!found.iter().any(|t| t.contains("db-09") || t.contains("db-05")), "{found:?}");
        let first = &body["related_incidents"][0];
        assert_eq!(first["relationships"][0]["type"], "machine_learning_inferred", "{first}");
        assert_eq!(first["resolved_by"], "Ada Responder", "{first}");
        assert!(first["duration_seconds"].as_i64().unwrap() >= 0, "{first}");
        assert!(first["resolved_at"].is_string() && first["postmortem"].is_null(), "{first}");
        // The Japanese one shares the host naming, the class, the source's words and the
        // detail keys: above the certificate and the latency incidents.
        let rank = |needle: &str| found.iter().position(|t| t.contains(needle)).unwrap();
        assert!(rank("データディスク") < rank("TLS") && rank("データディスク") < rank("Checkout"), "{found:?}");
        let count = body["similar_count"].as_u64().unwrap();
        assert!((1..=3).contains(&count), "{body}");

        // Resolved after the first search: found by a later one (the index catches up).
        let later = trigger(&app, &key, "later", "Disk full on db-11: /var/lib/postgresql at 99%", "db-11.prod", "disk").await;
        resolve(&app, &token, &later).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let (_, body) = app.get(&path).await;
        assert!(titles(&body).iter().any(|t| t.contains("db-11")), "{body}");

        // A stakeholder reads it too; bad input and unknown incidents.
        let (status, _) = app.api_as(rota::domain::role::Role::Observer).get(&path).await;
        assert_eq!(status, 200);
        let (status, body) = app.get(&format!("{path}?limit=0")).await;
        assert_refused(status, &body, "limit");
        let (status, body) = app.get(&format!("{path}?limit=lots")).await;
        assert_refused(status, &body, "limit");
        let (status, _) = app.get("/api/v2/incidents/nope/related_incidents").await;
        assert_eq!(status, 404);
    }

    async fn searching_before_anything_resolved_and_again_later_works(app) {
        // A fresh install: nothing resolved yet. Searching twice (the second after the index
        // would look again) answers empty, not an error; a later resolution is found.
        let ada = app.user("Ada Responder", "ada@example.com").await;
        let token = app.personal_token(&ada);
        let key = app.paging_service("Database", &[&ada]).await;
        let now = trigger(&app, &key, "now", "Disk full on db-05", "db-05.prod", "disk").await;
        let path = format!("/api/v2/incidents/{now}/related_incidents");
        for _ in 0..2 {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["related_incidents"], json!([]), "{body}");
            assert_eq!(body["similar_count"], 0, "{body}");
            tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        }
        let past = trigger(&app, &key, "past", "Disk full on db-02", "db-02.prod", "disk").await;
        resolve(&app, &token, &past).await;
        tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{body}");
        assert!(titles(&body).iter().any(|t| t.contains("db-02")), "{body}");
    }

    async fn the_index_is_built_when_the_server_starts_not_by_the_first_search(app) {
        let ada = app.user("Ada Responder", "ada@example.com").await;
        let token = app.personal_token(&ada);
        let key = app.paging_service("Database", &[&ada]).await;
        for n in 0..3 {
            let id = trigger(&app, &key, &format!("d{n}"), &format!("Disk full on db-0{n}"), "db.prod", "disk").await;
            resolve(&app, &token, &id).await;
        }
        assert_eq!(app.app.state.related.len(), 0, "nothing searched yet");
        let jobs = app.app.start_jobs().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while app.app.state.related.len() < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(app.app.state.related.len(), 3, "built in the background at start");
        jobs.stop().await;
    }
}
