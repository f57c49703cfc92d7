//! Incidents posted to Microsoft Teams and Slack channels, over HTTP on SQLite and PostgreSQL,
//! against fakes built from the documented request formats that check every card: an admin
//! sets a Teams channel on a service and a Slack channel on its team; trigger, escalation,
//! acknowledgement and resolution each reach both as a valid card, and the summary on
//! request; a failing webhook is retried with backoff and each attempt is on the timeline,
//! while the e-mail notification goes out regardless; the URL is never shown again.

mod support;

use chrono::Duration;
use rota::domain::role::Role;
use serde_json::json;
use support::browser::{Browser, csrf_in};
use support::chat::ChatFake;
use support::oidc_provider::OidcProvider;
use support::smtp::SmtpServer;
use support::{TestApp, as_person, assert_refused, send};

async fn log_summaries(app: &TestApp, incident: &str) -> Vec<String> {
    let (_, body) = app
        .get(&format!(
            "/api/v2/incidents/{incident}/log_entries?limit=100"
        ))
        .await;
    body["log_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["summary"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn texts(fake: &ChatFake) -> Vec<String> {
    fake.received()
        .iter()
        .map(|r| {
            assert!(
                r.problems.is_empty(),
                "an invalid card: {:?}\n{}",
                r.problems,
                r.body
            );
            r.body.to_string()
        })
        .collect()
}

async fn run_chat(app: &TestApp) -> rota::jobs::chat::Report {
    app.app.chat.run_once().await.expect("chat pass")
}

// The chat fakes listen on 127.0.0.1, which the tests' apps add to the allowed hosts as an
// operator would with `ROTA_CHAT_HOSTS=127.0.0.1`.
on_both_backends! {
    builder = TestApp::builder().chat_hosts(&["127.0.0.1"]);
    async fn each_incident_event_reaches_teams_and_slack_as_a_valid_card(app) {
        let teams = ChatFake::teams();
        let slack = ChatFake::slack();
        let ada = app.user("Ada Responder", "ada@example.com").await;
        let bo = app.user("Bo Second", "bo@example.com").await;
        let ada_token = app.personal_token(&ada);
        let key = app.paging_service("Checkout", &[&ada, &bo]).await;
        let (_, services) = app.get("/api/v2/services?limit=100").await;
        let service = services["services"][0]["id"].as_str().unwrap().to_owned();
        let team = app.team("Payments").await;
        let (_, found) = app.get(&format!("/api/v2/services/{service}")).await;
        let (status, body) = app.put(&format!("/api/v2/services/{service}"),
            json!({"service": {"name": "Checkout", "escalation_policy": found["service"]["escalation_policy"],
                "teams": [{"id": team, "type": "team_reference"}]}})).await;
        assert_eq!(status, 200, "{body}");

        // Only owners and admins set channels up; bad input names the field and never
        // repeats the URL.
        let path = format!("/api/v2/services/{service}/chat_channels");
        let (status, body) = as_person(&app, &ada_token, reqwest::Method::POST, &path,
            Some(json!({"chat_channel": {"type": "teams", "name": "Ops", "url": teams.url()}}))).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = app.post(&path, json!({"chat_channel": {"type": "irc", "name": "Ops", "url": teams.url()}})).await;
        assert_refused(status, &body, "chat_channel.type");
        let (status, body) = app.post(&path, json!({"chat_channel": {"type": "teams", "name": "Ops", "url": "http://hooks.example.com/secret-token-123"}})).await;
        assert_refused(status, &body, "chat_channel.url");
        assert!(!body.to_string().contains("secret-token-123"), "{body}");
        let (status, body) = app.post(&path, json!({"chat_channel": {"type": "teams", "name": "  ", "url": teams.url()}})).await;
        assert_refused(status, &body, "chat_channel.name");
        let (status, body) = app.post(&path, json!({"chat_channel": {"type": "teams", "name": "Ops", "url": teams.url()}})).await;
        assert_eq!(status, 201, "{body}");
        assert!(!body.to_string().contains(teams.url()), "the URL is never shown again: {body}");
        let (status, body) = app.post(&format!("/api/v2/teams/{team}/chat_channels"),
            json!({"chat_channel": {"type": "slack", "name": "#payments", "url": slack.url(), "language": "ja"}})).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app.api_as(Role::Observer).get(&path).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["chat_channels"][0]["url_hint"].as_str().unwrap().starts_with("127.0.0.1…"), "{body}");

        // Trigger: both channels hear of it.
        let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "cpu",
            "payload": {"summary": "CPU <high> & climbing on web-1", "source": "web-1", "severity": "critical"}});
        let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
        assert_eq!(status, 202, "{body}");
        let (_, list) = app.get("/api/v2/incidents").await;
        let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(run_chat(&app).await.sent, 2);
        assert_eq!(texts(&teams).len(), 1);
        assert_eq!(texts(&slack).len(), 1);
        assert!(slack.received()[0].body.to_string().contains("CPU &lt;high&gt; &amp; climbing"), "{:?}", slack.received());

        // Escalated, acknowledged, resolved.
        let inc = format!("/api/v2/incidents/{incident}");
        let (status, body) = as_person(&app, &ada_token, reqwest::Method::PUT, &inc, Some(json!({"incident": {"escalation_level": 2}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(run_chat(&app).await.sent, 2);
        let (status, body) = as_person(&app, &ada_token, reqwest::Method::PUT, &inc, Some(json!({"incident": {"status": "acknowledged"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(run_chat(&app).await.sent, 2);
        // The summary on request.
        let (status, body) = as_person(&app, &ada_token, reqwest::Method::POST, &format!("{inc}/summary/post"), None).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["posts"], 2, "{body}");
        // Pressed twice: the second is refused until a minute has passed.
        let res = app.as_token(&ada_token, reqwest::Method::POST, &format!("{inc}/summary/post"))
            .send().await.unwrap();
        assert_eq!(res.status(), 429);
        assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() <= 60);
        assert_eq!(run_chat(&app).await.sent, 2);
        let (status, body) = as_person(&app, &ada_token, reqwest::Method::PUT, &inc, Some(json!({"incident": {"status": "resolved"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(run_chat(&app).await.sent, 2);

        let t = texts(&teams);
        let s = texts(&slack);
        assert_eq!((t.len(), s.len()), (5, 5), "{t:#?}\n{s:#?}");
        assert!(t[1].contains("Bo Second") || t[1].contains('2'), "escalation: {}", t[1]);
        assert!(t[2].contains("Ada Responder"), "acknowledged by: {}", t[2]);
        assert!(t[3].contains("Acknowledged by Ada Responder") , "the summary: {}", t[3]);
        assert!(s[3].contains("確認"), "the Slack channel is in Japanese: {}", s[3]);
        assert!(t[4].contains("Ada Responder"), "resolved by: {}", t[4]);
        // Each post is on the timeline.
        let posted = log_summaries(&app, &incident).await.iter().filter(|s| s.starts_with("Posted to ")).count();
        assert_eq!(posted, 10);
        // No channel, no summary post: refused naming the incident.
        let (status, _) = app.delete(&format!("/api/v2/teams/{team}")).await;
        assert_eq!(status, 204);
        let (_, body) = app.get(&path).await;
        let channel = body["chat_channels"][0]["id"].as_str().unwrap().to_owned();
        let (status, _) = app.delete(&format!("{path}/{channel}")).await;
        assert_eq!(status, 204);
        app.clock.advance(Duration::seconds(61));
        let (status, body) = as_person(&app, &ada_token, reqwest::Method::POST, &format!("{inc}/summary/post"), None).await;
        assert_refused(status, &body, "incident");
    }

    async fn a_failing_webhook_is_retried_on_the_timeline_and_never_holds_up_the_email(app) {
        let teams = ChatFake::teams();
        let smtp = SmtpServer::start();
        let ada = app.user("Ada Responder", "ada@example.com").await;
        let key = app.paging_service("Checkout", &[&ada]).await;
        let (_, services) = app.get("/api/v2/services?limit=100").await;
        let service = services["services"][0]["id"].as_str().unwrap().to_owned();
        let (status, body) = app.post(&format!("/api/v2/services/{service}/chat_channels"),
            json!({"chat_channel": {"type": "teams", "name": "Ops", "url": teams.url()}})).await;
        assert_eq!(status, 201, "{body}");
        teams.fail_next(2, 500);
        let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "disk",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"}});
        let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
        assert_eq!(status, 202, "{body}");
        let (_, list) = app.get("/api/v2/incidents").await;
        let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();

        // The channel fails; the e-mail to Ada goes out all the same.
        let report = run_chat(&app).await;
        assert_eq!((report.sent, report.retrying), (0, 1));
        let dispatcher = rota::jobs::notifications::NotificationJob {
            mailer: Some(smtp.mailer()),
            ..app.app.notifications.clone()
        };
        dispatcher.run_once().await.expect("notification pass");
        let mails = smtp.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].rcpt_to, ["ada@example.com"]);

        // Not due again before its backoff; then it fails once more, then gets through.
        assert_eq!(run_chat(&app).await, rota::jobs::chat::Report::default());
        app.clock.advance(Duration::seconds(31));
        assert_eq!(run_chat(&app).await.retrying, 1);
        app.clock.advance(Duration::seconds(61));
        assert_eq!(run_chat(&app).await.sent, 1);
        let statuses: Vec<u16> = teams.received().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 500, 202]);
        assert!(teams.received().iter().all(|r| r.problems.is_empty()));
        let log = log_summaries(&app, &incident).await;
        let failed: Vec<&String> = log.iter().filter(|s| s.starts_with("Posting to Microsoft Teams channel 'Ops' failed (the teams webhook answered 500")).collect();
        assert_eq!(failed.len(), 2, "{log:#?}");
        assert!(failed.iter().all(|s| s.contains("trying again at")), "{failed:?}");
        assert!(log.iter().any(|s| s == "Posted to Microsoft Teams channel 'Ops'"), "{log:#?}");
        // The URL is in no timeline entry.
        assert!(!log.iter().any(|s| s.contains(teams.url())));

        // A channel that refuses the card for good (4xx) is given up at once.
        teams.fail_next(1, 404);
        let (status, body) = send(app.req(reqwest::Method::PUT, &format!("/api/v2/incidents/{incident}"))
            .header("From", "ada@example.com").json(&json!({"incident": {"status": "resolved"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(run_chat(&app).await.given_up, 1);
        let log = log_summaries(&app, &incident).await;
        assert!(log.iter().any(|s| s.contains("answered 404") && s.contains("given up after 1 attempt")), "{log:#?}");
    }

    async fn a_webhook_whose_host_is_not_allowed_is_refused_when_posting_and_never_reached(app) {
        let teams = ChatFake::teams();
        let ada = app.user("Ada Responder", "ada@example.com").await;
        let key = app.paging_service("Checkout", &[&ada]).await;
        let (_, services) = app.get("/api/v2/services?limit=100").await;
        let service = services["services"][0]["id"].as_str().unwrap().to_owned();
        let (status, body) = app.post(&format!("/api/v2/services/{service}/chat_channels"),
            json!({"chat_channel": {"type": "teams", "name": "Ops", "url": teams.url()}})).await;
        assert_eq!(status, 201, "{body}");
        // The stored URL now names the fake as `localhost`, a host nobody allowed (as after
        // the setting changed): the post is refused before connecting, given up at once.
        let moved = teams.url().replace("127.0.0.1", "localhost");
        let statement = format!("UPDATE chat_channels SET url = '{moved}'");
        diesel::connection::SimpleConnection::batch_execute(&mut *app.db.get().unwrap(), &statement).unwrap();
        let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "disk",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"}});
        let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
        assert_eq!(status, 202, "{body}");
        let (_, list) = app.get("/api/v2/incidents").await;
        let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(run_chat(&app).await.given_up, 1);
        assert!(teams.received().is_empty(), "{:?}", teams.received());
        let log = log_summaries(&app, &incident).await;
        assert!(log.iter().any(|s| s.contains("not one the provider uses nor added in ROTA_CHAT_HOSTS: refused")
            && s.contains("given up after 1 attempt")), "{log:#?}");
        assert!(!log.iter().any(|s| s.contains(&moved) || s.contains("localhost")), "{log:#?}");
    }
}

/// Without an added host, channels point only at Slack's and Microsoft's webhook hosts.
mod allowed_hosts {
    use super::*;

    on_both_backends! {
        async fn only_the_providers_hosts_are_taken_and_no_debug_output_shows_a_url(app) {
            let teams = ChatFake::teams();
            let ada = app.user("Ada Responder", "ada@example.com").await;
            app.paging_service("Checkout", &[&ada]).await;
            let (_, services) = app.get("/api/v2/services?limit=100").await;
            let service = services["services"][0]["id"].as_str().unwrap().to_owned();
            let path = format!("/api/v2/services/{service}/chat_channels");

            // The loopback fake, cloud metadata, an internal name, Slack's host for Teams:
            // refused naming the field, without the URL.
            for (kind, url) in [
                ("teams", teams.url().to_owned()),
                ("slack", "https://169.254.169.254/latest/meta-data/secret-token-1".to_owned()),
                ("slack", "https://jenkins.internal.example/hooks/secret-token-2".to_owned()),
                ("teams", "https://hooks.slack.com/services/T0/B0/secret-token-3".to_owned()),
                ("slack", "https://hooks.slack.com.evil.example/services/secret-token-4".to_owned()),
            ] {
                let (status, body) = app.post(&path, json!({"chat_channel": {"type": kind, "name": "Ops", "url": url}})).await;
                assert_refused(status, &body, "chat_channel.url");
                assert!(!body.to_string().contains("secret-token") && !body.to_string().contains(&url), "{body}");
            }
            let (_, body) = app.get(&path).await;
            assert_eq!(body["chat_channels"], json!([]), "{body}");

            // The providers' real hosts are taken (nothing is posted yet).
            let slack_url = "https://hooks.slack.com/services/T000/B000/topsecretXYZW";
            let (status, body) = app.post(&path, json!({"chat_channel": {"type": "slack", "name": "#ops", "url": slack_url}})).await;
            assert_eq!(status, 201, "{body}");
            assert_eq!(body["chat_channel"]["url_hint"], "hooks.slack.com…XYZW");
            let channel = body["chat_channel"]["id"].as_str().unwrap().to_owned();
            for url in [
                "https://prod-27.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=topsecret1",
                "https://default1234.09.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=topsecret2",
                "https://contoso.webhook.office.com/webhookb2/topsecret3",
            ] {
                let (status, body) = app.post(&path, json!({"chat_channel": {"type": "teams", "name": "Ops", "url": url}})).await;
                assert_eq!(status, 201, "{url}: {body}");
            }

            // Nothing that holds the URL prints it.
            let stored = app.db.run(move |c| rota::store::chat::find_channel(c, &channel)).await.unwrap().unwrap();
            assert_eq!(stored.url, slack_url);
            let shown = format!("{stored:?} {stored:#?}");
            assert!(!shown.contains("topsecret") && shown.contains("hooks.slack.com…XYZW"), "{shown}");
            let fields: rota::http::api::chat::ChatChannelRequest = serde_json::from_value(
                json!({"chat_channel": {"type": "slack", "name": "#ops", "url": slack_url}})).unwrap();
            let shown = format!("{fields:?} {fields:#?}");
            assert!(!shown.contains("topsecret") && shown.contains("hooks.slack.com…XYZW"), "{shown}");
        }
    }
}

/// The card's buttons (their URLs), wherever the card puts them.
fn button_urls(body: &serde_json::Value) -> Vec<String> {
    let mut urls = Vec::new();
    fn walk(v: &serde_json::Value, urls: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(u)) = map.get("url") {
                    urls.push(u.clone());
                }
                map.values().for_each(|v| walk(v, urls));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, urls)),
            _ => {}
        }
    }
    walk(body, &mut urls);
    urls
}

/// Card buttons followed in a browser, signed in through the OIDC provider peer.
mod from_the_card {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared()).chat_hosts(&["127.0.0.1"]);
        async fn a_responder_acknowledges_from_the_card_after_signing_in_and_a_stakeholder_cannot(app) {
            let teams = ChatFake::teams();
            // Bob signs in first (his account is made then), and is paged by the service.
            let bob = Browser::new(&app);
            assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
            let bob_id = bob.me().await.1["user"]["id"].as_str().unwrap().to_owned();
            let key = app.paging_service("Checkout", &[&bob_id]).await;
            let (_, services) = app.get("/api/v2/services?limit=100").await;
            let service = services["services"][0]["id"].as_str().unwrap().to_owned();
            let (status, body) = app.post(&format!("/api/v2/services/{service}/chat_channels"),
                json!({"chat_channel": {"type": "teams", "name": "Ops", "url": teams.url()}})).await;
            assert_eq!(status, 201, "{body}");
            let event = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "cpu",
                "payload": {"summary": "CPU high on web-1", "source": "web-1", "severity": "critical"}});
            let (status, body) = send(app.http.post(app.url("/v2/enqueue")).json(&event)).await;
            assert_eq!(status, 202, "{body}");
            let (_, list) = app.get("/api/v2/incidents").await;
            let incident = list["incidents"][0]["id"].as_str().unwrap().to_owned();
            assert_eq!(run_chat(&app).await.sent, 1);
            let card = teams.received()[0].body.clone();
            let urls = button_urls(&card);
            let acknowledge = app.url(&format!("/incidents/{incident}/acknowledge"));
            let resolve = app.url(&format!("/incidents/{incident}/resolve"));
            assert!(urls.contains(&acknowledge) && urls.contains(&resolve), "{urls:?}");

            // Signed out, the link sends the visitor to sign in and back.
            let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let res = plain.get(&acknowledge).send().await.unwrap();
            assert_eq!(res.status(), 303);
            let back = format!("/incidents/{incident}/acknowledge");
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            assert_eq!(location, format!("/auth/oidc/login?return_to={encoded}"));
            // A form posted without a session changes nothing either.
            let res = plain.post(&acknowledge).form(&[("csrf_token", "x")]).send().await.unwrap();
            assert_eq!(res.status(), 303);

            // Carol, a stakeholder, may read but not respond.
            let carol = Browser::new(&app);
            let landing = carol.get(&format!("/auth/oidc/login?login_hint=carol@contoso.example&return_to={encoded}")).await;
            assert_eq!(landing.status, 403, "{}", landing.body);
            assert!(landing.body.contains("may not respond to incidents"), "{}", landing.body);

            // Bob signs in through the link's redirect and lands on the question, not the act.
            let bob = Browser::new(&app);
            let landing = bob.get(&format!("/auth/oidc/login?login_hint=bob@contoso.example&return_to={encoded}")).await;
            assert_eq!(landing.status, 200, "{}", landing.body);
            assert!(landing.url.ends_with(&back), "{}", landing.url);
            assert!(landing.body.contains("Acknowledge incident #1?"), "{}", landing.body);
            assert!(landing.body.contains("CPU high on web-1"), "{}", landing.body);
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "triggered", "GET changes nothing");
            // Without the form's CSRF token, or with another's, it is refused.
            let refused = bob.post_form(&back, &[]).await;
            assert_eq!(refused.status, 403, "{}", refused.body);
            let refused = bob.post_form(&back, &[("csrf_token", &"0".repeat(64))]).await;
            assert_eq!(refused.status, 403, "{}", refused.body);
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "triggered");
            // With it, he acknowledges as himself, through the web.
            let done = bob.post_form(&back, &[("csrf_token", &csrf_in(&landing.body))]).await;
            assert_eq!(done.status, 200, "{}", done.body);
            assert!(done.body.contains("Acknowledged"), "{}", done.body);
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "acknowledged");
            assert_eq!(now["incident"]["acknowledgements"][0]["acknowledger"]["id"], bob_id.as_str());
            let (_, log) = app.get(&format!("/api/v2/incidents/{incident}/log_entries?limit=100")).await;
            let ack = log["log_entries"].as_array().unwrap().iter()
                .find(|e| e["type"] == "acknowledge_log_entry").expect("an acknowledge entry");
            assert_eq!(ack["channel"]["type"], "web", "{ack}");
            assert_eq!(ack["agent"]["id"], bob_id.as_str(), "{ack}");

            // The next card has no acknowledge button; a second acknowledge does nothing.
            assert_eq!(run_chat(&app).await.sent, 1);
            let urls = button_urls(&teams.received()[1].body);
            assert!(!urls.contains(&acknowledge) && urls.contains(&resolve), "{urls:?}");
            let again = bob.get(&back).await;
            assert!(again.body.contains("Already acknowledged"), "{}", again.body);
            // Resolving from the card works the same way.
            let page = bob.get(&format!("/incidents/{incident}/resolve")).await;
            let done = bob.post_form(&format!("/incidents/{incident}/resolve"), &[("csrf_token", &csrf_in(&page.body))]).await;
            assert_eq!(done.status, 200, "{}", done.body);
            let (_, now) = app.get(&format!("/api/v2/incidents/{incident}")).await;
            assert_eq!(now["incident"]["status"], "resolved");
            // An unknown incident is a 404 page.
            let missing = bob.get("/incidents/PNOTHERE/acknowledge").await;
            assert_eq!(missing.status, 404, "{}", missing.body);
        }
    }
}
