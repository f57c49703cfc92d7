//! Postmortems over HTTP on SQLite and PostgreSQL: an incident opened by an event,
//! acknowledged, noted twice, updated and resolved gets a draft holding its real timeline and
//! notes with the judgement fields left as prompts; its Markdown export is snapshotted; edits
//! are checked by field and optimistic on `version`; action items are listed across incidents
//! while open; a team lists the postmortems of its services; stakeholders read but do not write.

mod support;

use rota::domain::role::Role;
use serde_json::{Value, json};
use support::{TestApp, as_person, assert_refused, send};

/// A person with `role`, English, and a personal token: (id, token).
async fn person(app: &TestApp, name: &str, email: &str, role: &str) -> (String, String) {
    let id = app.user(name, email).await;
    let (status, body) = app
        .put(
            &format!("/api/v2/users/{id}"),
            json!({"user": {"role": role, "locale": "en-GB", "time_zone": "Europe/London"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = app.personal_token(&id);
    (id, token)
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

async fn set_status(app: &TestApp, token: &str, incident: &str, status: &str) {
    let (code, body) = as_person(
        app,
        token,
        reqwest::Method::PUT,
        &format!("/api/v2/incidents/{incident}"),
        Some(json!({"incident": {"type": "incident_reference", "status": status}})),
    )
    .await;
    assert_eq!(code, 200, "{body}");
}

async fn note(app: &TestApp, token: &str, incident: &str, content: &str) {
    let (status, body) = as_person(
        app,
        token,
        reqwest::Method::POST,
        &format!("/api/v2/incidents/{incident}/notes"),
        Some(json!({"note": {"content": content}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// The texts of a document's timeline, in order.
fn timeline(doc: &Value) -> Vec<String> {
    doc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Where the first line containing `text` is, after `from`.
fn position(lines: &[String], text: &str, from: usize) -> usize {
    from + lines[from..]
        .iter()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} after line {from} in {lines:#?}"))
}

/// The open action items' ids (`query` narrows).
async fn listed_items(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app
        .get(&format!("/api/v2/postmortem_action_items?{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["action_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The one snapshot both backends must match (called here, outside the backends' modules, so
/// the snapshot's name is the same for both).
fn snapshot_markdown(markdown: &str) {
    insta::assert_snapshot!("postmortem_markdown", markdown);
}

on_both_backends! {
    async fn a_resolved_incident_gets_a_draft_of_its_real_timeline_that_is_edited_listed_and_exported(app) {
        let (ada, token) = person(&app, "Ada Responder", "ada@example.com", "user").await;
        let key = app.paging_service("Checkout", &[&ada]).await;
        let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "checkout-5xx",
            "payload": {"summary": "Checkout 5xx above 5%", "source": "web-1.example", "severity": "critical"}});
        let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
        assert_eq!(status, 202, "{body}");
        let (_, body) = app.get("/api/v2/incidents?limit=100").await;
        let found = body["incidents"].as_array().unwrap().iter()
            .find(|i| i["incident_key"] == "checkout-5xx").unwrap_or_else(|| panic!("{body}")).clone();
        let incident = found["id"].as_str().unwrap().to_owned();
        let service = found["service"]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v2/incidents/{incident}/postmortem");

        app.clock.advance(minutes(4));
        set_status(&app, &token, &incident, "acknowledged").await;
        app.clock.advance(minutes(3));
        note(&app, &token, &incident, "Rolled back release 42.").await;
        app.clock.advance(minutes(2));
        note(&app, &token, &incident, "Error rate back under 0.1%.").await;
        app.clock.advance(minutes(1));
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &format!("/api/v2/incidents/{incident}/status_updates"),
            Some(json!({"message": "Fixed by a rollback; watching."}))).await;
        assert_eq!(status, 201, "{body}");
        app.clock.advance(minutes(5));
        set_status(&app, &token, &incident, "resolved").await;
        app.clock.advance(minutes(60));

        // None yet: 404 saying a draft can be made; the preview shows it without storing.
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("POST"), "{body}");
        let (status, preview) = as_person(&app, &token, reqwest::Method::GET, &format!("{path}/draft"), None).await;
        assert_eq!(status, 200, "{preview}");
        assert!(preview["postmortem"]["version"].is_null(), "{preview}");
        assert_eq!(app.get(&path).await.0, 404);

        // The draft: the real timeline and notes in order, times filled, judgement left open.
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &path, None).await;
        assert_eq!(status, 201, "{body}");
        let doc = body["postmortem"].clone();
        assert_eq!(doc["version"], 1, "{doc}");
        assert_eq!(doc["incident_id"], incident.as_str(), "{doc}");
        assert_eq!(doc["authors"], json!(["Ada Responder"]), "{doc}");
        assert_eq!(doc["status"], "draft", "{doc}");
        let lines = timeline(&doc);
        let triggered = position(&lines, "Triggered", 0);
        let acknowledged = position(&lines, "Acknowledged", triggered);
        let first = position(&lines, "Rolled back release 42.", acknowledged);
        let second = position(&lines, "Error rate back under 0.1%.", first + 1);
        let update = position(&lines, "Fixed by a rollback; watching.", second + 1);
        position(&lines, "Resolved", update + 1);
        assert_eq!(doc["timeline"][triggered]["at"], "2026-01-05T09:00:00", "{doc}");
        assert_eq!(doc["figures"]["time_to_acknowledge_seconds"], 240, "{doc}");
        assert_eq!(doc["figures"]["time_to_resolve_seconds"], 900, "{doc}");
        assert_eq!(doc["figures"]["alerts"], 1, "{doc}");
        assert!(doc["resolution"].as_str().unwrap().contains("Ada Responder"), "{doc}");
        for judgement in [&doc["root_causes"], &doc["lessons"]["went_well"], &doc["lessons"]["went_wrong"], &doc["lessons"]["got_lucky"]] {
            assert!(judgement.is_null(), "{doc}");
        }
        assert_eq!(doc["action_items"], json!([]), "{doc}");
        let prompts = doc["prompts"].as_object().unwrap();
        for open in ["root_causes", "went_well", "went_wrong", "got_lucky", "action_items"] {
            assert!(prompts[open].as_str().is_some_and(|p| !p.is_empty()), "{open}: {doc}");
        }
        assert!(!prompts.contains_key("summary") && !prompts.contains_key("resolution"), "{doc}");
        // Stored: GET returns it.
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["postmortem"]["timeline"], doc["timeline"], "{body}");

        // Markdown, the same on both backends once the incident's id and the port are out.
        let res = app.req(reqwest::Method::GET, &path).header("Accept", "text/markdown").send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "text/markdown; charset=utf-8");
        let markdown = res.text().await.unwrap().replace(&incident, "[incident]").replace(&app.base, "[base]");
        assert!(markdown.contains("Rolled back release 42.") && markdown.contains("Error rate back under 0.1%."), "{markdown}");
        snapshot_markdown(&markdown);

        // One per incident; an unknown incident is 404.
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &path, None).await;
        assert_refused(status, &body, "incident");
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, "/api/v2/incidents/no-such/postmortem", None).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(app.get("/api/v2/incidents/no-such/postmortem").await.0, 404);
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &path, Some(json!({"language": "fr"}))).await;
        assert_refused(status, &body, "language");

        // A stakeholder reads, but neither drafts nor edits.
        let observer = app.api_as(Role::Observer);
        assert_eq!(observer.get(&path).await.0, 200);
        let (status, body) = observer.post(&path, json!({})).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = observer.put(&path, json!({"postmortem": doc})).await;
        assert_eq!(status, 403, "{body}");

        // An edit: what GET returned, sent back with root causes and an owned, dated item.
        let mut edited = doc.clone();
        edited["root_causes"] = json!("Release 42 doubled the connection pool's size.");
        edited["action_items"] = json!([{"id": "AI-1", "description": "Load-test pool changes before release",
            "kind": "prevent", "owner": ada, "due": "2026-01-20", "status": "open"}]);
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": edited}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["postmortem"]["version"], 2, "{body}");
        assert_eq!(body["postmortem"]["action_items"][0]["owner_name"], "Ada Responder", "{body}");
        assert!(!body["postmortem"]["prompts"].as_object().unwrap().contains_key("root_causes"), "{body}");
        // Go on from what came back (version 2 inside, which counts as the version read).
        let mut edited = body["postmortem"].clone();
        // From the version it was read at (1): stale.
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": edited, "version": 1}))).await;
        assert_refused(status, &body, "version");

        // Bad input names the field.
        let mut bad = edited.clone();
        bad["action_items"][0]["due"] = json!("2026-13-40");
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": bad}))).await;
        assert_refused(status, &body, "postmortem.action_items[0].due");
        let mut bad = edited.clone();
        bad["action_items"][0]["description"] = json!("   ");
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": bad}))).await;
        assert_refused(status, &body, "postmortem.action_items[0].description");
        let mut bad = edited.clone();
        bad["severity"] = json!("sev1");
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": bad}))).await;
        assert_refused(status, &body, "severity");
        let mut bad = edited.clone();
        bad["action_items"][0]["owner"] = json!("no-such-user");
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": bad}))).await;
        assert_refused(status, &body, "postmortem.action_items[0].owner");

        // Open action items across incidents: by owner, by due date; done ones leave the list.
        assert_eq!(listed_items(&app, "").await, ["AI-1"]);
        assert_eq!(listed_items(&app, &format!("owner_ids[]={ada}&due_before=2026-01-21")).await, ["AI-1"]);
        assert!(listed_items(&app, "due_before=2026-01-20").await.is_empty());
        assert!(listed_items(&app, "owner_ids[]=somebody-else").await.is_empty());
        let (status, body) = app.get("/api/v2/postmortem_action_items?due_before=soon").await;
        assert_refused(status, &body, "due_before");
        edited["action_items"][0]["status"] = json!("done");
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &path, Some(json!({"postmortem": edited, "version": 2}))).await;
        assert_eq!(status, 200, "{body}");
        assert!(listed_items(&app, "").await.is_empty());
        assert_eq!(listed_items(&app, "statuses[]=done").await, ["AI-1"]);

        // A team lists the postmortems of its services' incidents.
        let team = app.team("Payments").await;
        let team_list = format!("/api/v2/teams/{team}/postmortems");
        let (status, body) = app.get(&team_list).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["postmortems"], json!([]), "{body}");
        let (_, found) = app.get(&format!("/api/v2/services/{service}")).await;
        let (status, body) = app.put(&format!("/api/v2/services/{service}"),
            json!({"service": {"name": "Checkout", "escalation_policy": found["service"]["escalation_policy"],
                "teams": [{"id": team, "type": "team_reference"}]}})).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.get(&team_list).await;
        assert_eq!(status, 200, "{body}");
        let listed = body["postmortems"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{body}");
        assert_eq!(listed[0]["incident"]["id"], incident.as_str(), "{body}");
        assert_eq!(listed[0]["version"], 3, "{body}");
        assert_eq!(app.get("/api/v2/teams/no-such-team/postmortems").await.0, 404);
    }
}
