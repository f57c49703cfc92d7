//! Status updates to stakeholders, over HTTP on SQLite and PostgreSQL, with a real SMTP server
//! (aiosmtpd): a stakeholder subscribes themselves and receives each update by e-mail in their
//! language; the e-mail's unsubscribe link asks first (a scanner's prefetch changes nothing)
//! and then ends the subscription; subscribers of a service and a team hear of its incidents
//! once each; a stakeholder cannot post; bad input is refused naming the field. And the
//! current summary at each stage of an incident, in English and Japanese.

mod support;

use serde_json::json;
use support::smtp::SmtpServer;
use support::{TestApp, as_person, assert_refused, send};

/// Opens an incident on a new service whose policy pages `responder`; (incident, service).
async fn incident(app: &TestApp, responder: &str, title: &str) -> (String, String) {
    let key = app
        .paging_service(&format!("Svc {title}"), &[responder])
        .await;
    let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": title,
        "payload": {"summary": title, "source": "db-1.example", "severity": "critical"}});
    let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = app.get("/api/v2/incidents?limit=100").await;
    assert_eq!(status, 200, "{body}");
    let found = body["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["incident_key"] == title)
        .unwrap_or_else(|| panic!("{body}"))
        .clone();
    (
        found["id"].as_str().unwrap().to_owned(),
        found["service"]["id"].as_str().unwrap().to_owned(),
    )
}

/// A person with the role `role`, their locale, and a personal token.
async fn person(
    app: &TestApp,
    name: &str,
    email: &str,
    role: &str,
    locale: &str,
) -> (String, String) {
    let id = app.user(name, email).await;
    let (status, body) = app
        .put(
            &format!("/api/v2/users/{id}"),
            json!({"user": {"role": role, "locale": locale, "time_zone": "Asia/Tokyo"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let token = app.personal_token(&id);
    (id, token)
}

/// The unsubscribe path in an e-mail's body.
fn unsubscribe_path(body: &str) -> String {
    let at = body
        .find("/unsubscribe/")
        .unwrap_or_else(|| panic!("{body}"));
    body[at..].split_whitespace().next().unwrap().to_owned()
}

on_both_backends! {
    async fn a_stakeholder_subscribes_receives_updates_in_their_language_and_unsubscribes_by_link(app) {
        let smtp = SmtpServer::start();
        let (responder, responder_token) = person(&app, "Ada Responder", "ada@example.com", "user", "en-GB").await;
        let (kenji, kenji_token) = person(&app, "Kenji Stakeholder", "kenji@example.com", "observer", "ja-JP").await;
        let (mia, mia_token) = person(&app, "Mia Manager", "mia@example.com", "observer", "en-US").await;
        let (incident, _) = incident(&app, &responder, "Checkout errors").await;

        // A stakeholder seat is enough to subscribe oneself (and `me` names oneself).
        let subs = format!("/api/v2/incidents/{incident}/status_updates/subscribers");
        let (status, body) = as_person(&app, &kenji_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": kenji, "subscriber_type": "user"}]}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["subscriptions"][0]["result"], "success", "{body}");
        assert_eq!(body["subscriptions"][0]["subscribable_type"], "incident", "{body}");
        let (status, body) = as_person(&app, &mia_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": "me", "subscriber_type": "user"}]}))).await;
        assert_eq!(status, 200, "{body}");
        // Again: a duplicate, nothing added.
        let (status, body) = as_person(&app, &mia_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": mia, "subscriber_type": "user"}]}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["subscriptions"][0]["result"], "duplicate", "{body}");
        // ...but not somebody else: that needs a responder.
        let (status, body) = as_person(&app, &mia_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": responder, "subscriber_type": "user"}]}))).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = as_person(&app, &kenji_token, reqwest::Method::GET, &subs, None).await;
        assert_eq!(status, 200, "{body}");
        let ids: Vec<&str> = body["subscribers"].as_array().unwrap().iter().map(|s| s["subscriber_id"].as_str().unwrap()).collect();
        assert_eq!(ids, [kenji.as_str(), mia.as_str()], "{body}");

        // A stakeholder cannot post an update: only full users respond.
        let updates = format!("/api/v2/incidents/{incident}/status_updates");
        let (status, body) = as_person(&app, &kenji_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "All fine"}))).await;
        assert_eq!(status, 403, "{body}");
        // Bad input names the field.
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "   "}))).await;
        assert_refused(status, &body, "message");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "x".repeat(10_001)}))).await;
        assert_refused(status, &body, "message");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": kenji, "subscriber_type": "team"}]}))).await;
        assert_refused(status, &body, "subscribers[0].subscriber_type");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": "nobody-such", "subscriber_type": "user"}]}))).await;
        assert_refused(status, &body, "subscribers[0].subscriber_id");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST,
            "/api/v2/incidents/no-such-incident/status_updates", Some(json!({"message": "hi"}))).await;
        assert_eq!(status, 404, "{body}");
        // None of that sent anything.
        app.deliver_emails(&smtp).await;
        assert!(smtp.messages(1, std::time::Duration::from_millis(300)).is_empty());

        // The responder posts: each subscriber gets it, in their language.
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "Rolled back release 42; error rate falling."}))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["subscribers_notified"], 2, "{body}");
        assert_eq!(body["status_update"]["sender"]["id"], responder.as_str(), "{body}");
        app.deliver_emails(&smtp).await;
        let mails = smtp.wait_for(2, std::time::Duration::from_secs(5)).await;
        assert_eq!(mails.len(), 2, "{mails:?}");
        let to_kenji = mails.iter().find(|m| m.rcpt_to == ["kenji@example.com"]).expect("kenji's");
        let to_mia = mails.iter().find(|m| m.rcpt_to == ["mia@example.com"]).expect("mia's");
        assert!(to_kenji.subject.contains("状況報告") && to_kenji.subject.contains("Checkout errors"), "{to_kenji:?}");
        assert!(to_kenji.body.contains("Rolled back release 42") && to_kenji.body.contains("JST"), "{to_kenji:?}");
        assert!(to_mia.subject.starts_with("[Rota] Status update: #"), "{to_mia:?}");
        assert!(to_mia.body.contains("Ada Responder") && to_mia.body.contains("Triggered"), "{to_mia:?}");
        // Each carries its own one-click unsubscribe (RFC 8058): the body's link, in the headers.
        for m in [to_kenji, to_mia] {
            let header = m.list_unsubscribe.as_deref().unwrap_or_else(|| panic!("{m:?}"));
            assert_eq!(header, format!("<{}>", app.url(&unsubscribe_path(&m.body))), "{m:?}");
            assert_eq!(m.list_unsubscribe_post.as_deref(), Some("List-Unsubscribe=One-Click"), "{m:?}");
        }

        // The update is on the incident and on its timeline.
        let (status, body) = app.get(&updates).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status_updates"].as_array().unwrap().len(), 1, "{body}");
        let (_, log) = app.get(&format!("/api/v2/incidents/{incident}/log_entries")).await;
        assert!(log["log_entries"].as_array().unwrap().iter().any(|e| e["summary"].as_str().unwrap_or("").starts_with("Status update posted by Ada")), "{log}");

        // Kenji's unsubscribe link: GET asks and changes nothing; POST ends it; again: gone.
        let path = unsubscribe_path(&to_kenji.body);
        let res = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.text().await.unwrap().contains("配信を停止する"));
        let (_, body) = app.get(&subs).await;
        assert_eq!(body["subscribers"].as_array().unwrap().len(), 2, "{body}");
        let res = app.http.post(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.text().await.unwrap().contains("配信を停止しました"));
        let res = app.http.post(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404);
        // A forged link (another id under the MAC) is refused the same way.
        let forged = format!("/unsubscribe/{mia}.{}", path.rsplit_once('.').unwrap().1);
        let res = app.http.post(app.url(&forged)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404);

        // Mia unsubscribes through the API; the next update reaches nobody.
        let (status, body) = as_person(&app, &mia_token, reqwest::Method::POST,
            &format!("/api/v2/incidents/{incident}/status_updates/unsubscribe"),
            Some(json!({"subscribers": [{"subscriber_id": "me", "subscriber_type": "user"}]}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["deleted_count"], 1, "{body}");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "Fixed."}))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["subscribers_notified"], 0, "{body}");
        app.deliver_emails(&smtp).await;
        // The server has what it had: the two e-mails of the first update.
        let all = smtp.messages(3, std::time::Duration::from_millis(300));
        assert_eq!(all.len(), 2, "{all:?}");
    }

    async fn a_mail_client_unsubscribes_in_one_click_from_the_headers(app) {
        let smtp = SmtpServer::start();
        let (responder, responder_token) = person(&app, "Ada Responder", "ada@example.com", "user", "en-GB").await;
        let (kenji, _) = person(&app, "Kenji Stakeholder", "kenji@example.com", "observer", "ja-JP").await;
        let (incident, _) = incident(&app, &responder, "Checkout errors").await;
        let subs = format!("/api/v2/incidents/{incident}/status_updates/subscribers");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &subs,
            Some(json!({"subscribers": [{"subscriber_id": kenji, "subscriber_type": "user"}]}))).await;
        assert_eq!(status, 200, "{body}");
        let updates = format!("/api/v2/incidents/{incident}/status_updates");
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "Investigating."}))).await;
        assert_eq!(status, 201, "{body}");
        app.deliver_emails(&smtp).await;
        let mails = smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].list_unsubscribe_post.as_deref(), Some("List-Unsubscribe=One-Click"), "{:?}", mails[0]);
        let header = mails[0].list_unsubscribe.as_deref().unwrap_or_else(|| panic!("{:?}", mails[0]));
        let url = header.strip_prefix('<').and_then(|h| h.strip_suffix('>')).unwrap_or_else(|| panic!("{header}"));

        // What a mail client sends (RFC 8058 §3.2): a POST of the one-click body to the URL,
        // with no cookie, no session and no CSRF token: the URL's token is the credential.
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = client.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{:?}", res.text().await);
        let (_, body) = app.get(&subs).await;
        assert_eq!(body["subscribers"], json!([]), "{body}");
        // Said twice (clients retry): harmless, nothing left to end.
        let res = client.post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404);

        // The next update reaches nobody.
        let (status, body) = as_person(&app, &responder_token, reqwest::Method::POST, &updates,
            Some(json!({"message": "Fixed."}))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["subscribers_notified"], 0, "{body}");
    }

    async fn subscribers_of_a_service_and_a_team_hear_of_its_incidents_once_each(app) {
        let smtp = SmtpServer::start();
        let (responder, token) = person(&app, "Ada Responder", "ada@example.com", "user", "en").await;
        let (lee, _) = person(&app, "Lee Director", "lee@example.com", "observer", "en").await;
        let (incident, service) = incident(&app, &responder, "Payments slow").await;
        let team = app.team("Payments").await;
        let (_, found) = app.get(&format!("/api/v2/services/{service}")).await;
        let (status, body) = app.put(&format!("/api/v2/services/{service}"),
            json!({"service": {"name": "Svc Payments slow", "escalation_policy": found["service"]["escalation_policy"],
                "teams": [{"id": team, "type": "team_reference"}]}})).await;
        assert_eq!(status, 200, "{body}");
        // Lee follows the team and the service; a responder subscribes them (others: allowed).
        for path in [format!("/api/v2/teams/{team}/status_updates/subscribers"), format!("/api/v2/services/{service}/status_updates/subscribers")] {
            let (status, body) = as_person(&app, &token, reqwest::Method::POST, &path,
                Some(json!({"subscribers": [{"subscriber_id": lee, "subscriber_type": "user"}]}))).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &format!("/api/v2/incidents/{incident}/status_updates"),
            Some(json!({"message": "Card payments are slow; investigating."}))).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["subscribers_notified"], 1, "{body}");
        app.deliver_emails(&smtp).await;
        let mails = smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].rcpt_to, ["lee@example.com"]);
        // Deleting the team ends the subscriptions to it; the service's stays.
        let (status, _) = app.delete(&format!("/api/v2/teams/{team}")).await;
        assert_eq!(status, 204);
        let (status, body) = app.get(&format!("/api/v2/services/{service}/status_updates/subscribers")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["subscribers"].as_array().unwrap().len(), 1, "{body}");
        let (status, _) = app.get(&format!("/api/v2/teams/{team}/status_updates/subscribers")).await;
        assert_eq!(status, 404);
    }

    async fn the_summary_says_what_is_going_on_at_each_stage_in_both_languages(app) {
        let (responder, token) = person(&app, "Ada Responder", "ada@example.com", "user", "en").await;
        let (incident, _) = incident(&app, &responder, "Search latency").await;
        let summary = format!("/api/v2/incidents/{incident}/summary");

        // Triggered: nobody has acknowledged, level 1, one alert; no update yet.
        let (status, body) = app.get(&summary).await;
        assert_eq!(status, 200, "{body}");
        let text = body["text"].as_str().unwrap();
        assert!(text.starts_with("#") && text.contains("Search latency"), "{text}");
        assert!(text.contains("Triggered, high urgency, open for"), "{text}");
        assert!(text.contains("On it: Ada Responder."), "{text}");
        assert!(text.contains("Nobody has acknowledged it yet."), "{text}");
        assert!(text.contains("Escalation level 1."), "{text}");
        assert!(text.contains("1 alert(s) grouped, 1 event(s) in all."), "{text}");
        assert!(text.contains("No status update yet."), "{text}");
        let (status, body) = send(app.req(reqwest::Method::GET, &summary).header("Accept-Language", "ja-JP,ja;q=0.9,en;q=0.5")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["summary"]["language"], "ja", "{body}");
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("未対応") && text.contains("まだ誰も確認していません"), "{text}");

        // Acknowledged, with an update and a note.
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &format!("/api/v2/incidents/{incident}"),
            Some(json!({"incident": {"type": "incident_reference", "status": "acknowledged"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &format!("/api/v2/incidents/{incident}/status_updates"),
            Some(json!({"message": "Index rebuild running, about 20 minutes."}))).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = as_person(&app, &token, reqwest::Method::POST, &format!("/api/v2/incidents/{incident}/notes"),
            Some(json!({"note": {"content": "Shard 3 was the slow one."}}))).await;
        assert_eq!(status, 201, "{body}");
        let (_, body) = app.get(&format!("{summary}?language=en")).await;
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("Acknowledged, high urgency"), "{text}");
        assert!(text.contains("Acknowledged by Ada Responder"), "{text}");
        assert!(text.contains("Last status update (Ada Responder") && text.contains("Index rebuild running"), "{text}");
        assert!(text.contains("Note (Ada Responder") && text.contains("Shard 3 was the slow one."), "{text}");
        assert!(!text.contains("Escalation level"), "acknowledged incidents do not escalate: {text}");
        let (_, body) = app.get(&format!("{summary}?language=ja")).await;
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("対応中") && text.contains("最新の状況報告") && text.contains("メモ"), "{text}");

        // Resolved: who resolved it and how long it took.
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &format!("/api/v2/incidents/{incident}"),
            Some(json!({"incident": {"type": "incident_reference", "status": "resolved"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (_, body) = app.get(&format!("{summary}?language=en")).await;
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("Resolved after") && text.contains("Resolved by Ada Responder."), "{text}");
        assert!(!text.contains("On it:"), "{text}");
        let (_, body) = app.get(&format!("{summary}?language=ja")).await;
        assert!(body["text"].as_str().unwrap().contains("解決済み"), "{body}");

        // Bad input and unknown incidents.
        let (status, body) = app.get(&format!("{summary}?language=fr")).await;
        assert_refused(status, &body, "language");
        let (status, _) = app.get("/api/v2/incidents/nope/summary").await;
        assert_eq!(status, 404);
    }

    async fn an_incident_with_a_very_long_timeline_is_still_summarised_as_resolved(app) {
        let (responder, token) = person(&app, "Ada Responder", "ada@example.com", "user", "en").await;
        let (incident, _) = incident(&app, &responder, "Flapping disk").await;
        // More entries than a timeline read holds: a monitor that flapped all night.
        let id = rota::domain::ids::IncidentId(incident.clone());
        let agent = rota::use_cases::incidents::Agent::rota(rota::domain::incident::Channel::Auto);
        let start = rota::clock::Clock::now(&*app.clock).naive_utc();
        let entries: Vec<_> = (0..rota::store::incidents::TIMELINE_MAX + 100)
            .map(|i| agent.entry(&id, rota::domain::incident::LogKind::Annotate, start + chrono::Duration::milliseconds(i),
                format!("flap {i}"), None))
            .collect();
        {
            let mut conn = app.db.get().unwrap();
            for chunk in entries.chunks(500) {
                rota::store::incidents::insert_log(&mut conn, chunk).unwrap();
            }
        }
        app.clock.advance(chrono::Duration::seconds(30));
        let (status, body) = as_person(&app, &token, reqwest::Method::PUT, &format!("/api/v2/incidents/{incident}"),
            Some(json!({"incident": {"type": "incident_reference", "status": "resolved"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = app.get(&format!("/api/v2/incidents/{incident}/summary?language=en")).await;
        assert_eq!(status, 200, "{body}");
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("Resolved by Ada Responder."), "the resolution is past the first 5,000 entries: {text}");
    }
}
