//! My profile in a browser (reqwest with a cookie jar, signed in through the OIDC provider
//! peer) on SQLite and PostgreSQL: contact methods added (a bad number refused in the form
//! with what was typed) and deleted, seen through the API; language and time zone; hand-off
//! notifications; the calendar link made anew, the old one answering 404. Test
//! notifications (the page's button and `POST …/contact_methods/{id}/test`: an e-mail through
//! the outbox to aiosmtpd, a call to the Twilio fake, a signed webhook POST; once a minute),
//! notification rules by urgency, personal API tokens (page and `/api/v2/users/me/tokens`),
//! and what an attacker sends to the profile's forms.

mod support;

use chrono::Duration;
use serde_json::{Value, json};
use std::time::Duration as Wait;
use support::browser::{Browser, csrf_in};
use support::oidc_provider::OidcProvider;
use support::smtp::SmtpServer;
use support::{Api, TestApp, TestDatabase};

/// The calendar URL a page shows once.
fn calendar_url(page: &str) -> String {
    let at = page
        .find("/calendar/rota_cal_")
        .unwrap_or_else(|| panic!("no calendar URL: {page}"));
    let start = page[..at].rfind('>').unwrap() + 1;
    let end = at + page[at..].find('<').unwrap();
    page[start..end].to_owned()
}

on_both_backends! {
    builder = TestApp::builder().oidc(OidcProvider::shared());
    async fn a_person_keeps_their_profile(app) {
        let bob = Browser::new(&app);
        assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
        let bob_id = bob.me().await.1["user"]["id"].as_str().unwrap().to_owned();
        let page = bob.get("/profile").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<h2>Contact methods</h2>"), "{}", page.body);
        let csrf = csrf_in(&page.body);

        // A number that is not one is refused beside the field, keeping what was typed.
        let bad = bob.post_form("/profile/contact_methods", &[("csrf_token", &csrf), ("kind", "phone"),
            ("label", "Mobile"), ("address", "12345")]).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("id=\"address-error\""), "{}", bad.body);
        assert!(bad.body.contains("value=\"12345\"") && bad.body.contains("value=\"Mobile\""), "{}", bad.body);
        assert!(bad.body.contains("<option value=\"phone\" selected>"), "{}", bad.body);

        // A good one is added, and the API lists it.
        let good = bob.post_form("/profile/contact_methods", &[("csrf_token", &csrf), ("kind", "phone"),
            ("label", "Mobile"), ("address", "+14255550100")]).await;
        assert_eq!(good.status, 200, "{}", good.body);
        assert!(good.url.ends_with("/profile?done=saved") && good.body.contains("+14255550100"), "{}", good.body);
        let (status, listed) = app.get(&format!("/api/v2/users/{bob_id}/contact_methods")).await;
        assert_eq!(status, 200, "{listed}");
        let phone = listed["contact_methods"].as_array().unwrap().iter()
            .find(|m| m["address"] == "+14255550100").unwrap_or_else(|| panic!("{listed}")).clone();
        // The directory's e-mail is read-only here.
        assert!(good.body.contains("From your directory"), "{}", good.body);

        // Without the CSRF token nothing is done; with it, the phone goes.
        let phone_id = phone["id"].as_str().unwrap();
        let forged = bob.post_form(&format!("/profile/contact_methods/{phone_id}/delete"), &[]).await;
        assert!(forged.status.is_client_error(), "{}", forged.status);
        let gone = bob.post_form(&format!("/profile/contact_methods/{phone_id}/delete"), &[("csrf_token", &csrf)]).await;
        assert!(gone.url.ends_with("/profile?done=deleted"), "{}", gone.url);
        assert!(!gone.body.contains("+14255550100"), "{}", gone.body);

        // Hand-off notifications, as the API reads them.
        let set = bob.post_form("/profile/handoff", &[("csrf_token", &csrf), ("handoff", "off"), ("reminder_hours", "12")]).await;
        assert!(set.url.ends_with("/profile?done=saved"), "{} {}", set.url, set.body);
        let (_, settings) = app.get(&format!("/api/v2/users/{bob_id}/oncall_notifications")).await;
        assert_eq!(settings["oncall_notifications"]["handoff"], "off", "{settings}");
        assert_eq!(settings["oncall_notifications"]["reminder_hours"], 12, "{settings}");

        // The calendar link: made, read, made anew: the old one is 404.
        let first = bob.post_form("/profile/calendar", &[("csrf_token", &csrf)]).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let old = calendar_url(&first.body);
        assert_eq!(reqwest::get(&old).await.unwrap().status(), 200);
        let second = bob.post_form("/profile/calendar", &[("csrf_token", &csrf)]).await;
        let new = calendar_url(&second.body);
        assert_ne!(old, new);
        assert_eq!(reqwest::get(&old).await.unwrap().status(), 404);
        assert_eq!(reqwest::get(&new).await.unwrap().status(), 200);

        // A zone that is not one is refused; Japanese and Tokyo are kept, and the next page
        // is in Japanese.
        let bad_zone = bob.post_form("/profile/settings", &[("csrf_token", &csrf), ("language", "ja"), ("time_zone", "Mars/Olympus")]).await;
        assert_eq!(bad_zone.status, 422, "{}", bad_zone.body);
        assert!(bad_zone.body.contains("id=\"time_zone-error\""), "{}", bad_zone.body);
        let ja = bob.post_form("/profile/settings", &[("csrf_token", &csrf), ("language", "ja"), ("time_zone", "Asia/Tokyo")]).await;
        assert_eq!(ja.status, 200, "{}", ja.body);
        assert!(ja.body.contains("<html lang=\"ja\">") && ja.body.contains("<h1>プロフィール</h1>"), "{}", ja.body);
        assert!(ja.body.contains("<option value=\"Asia/Tokyo\" selected>"), "{}", ja.body);
        let (_, user) = bob.me().await;
        assert_eq!(user["user"]["locale"], "ja", "{user}");
        assert_eq!(user["user"]["time_zone"], "Asia/Tokyo", "{user}");
    }
}

/// A client of the REST API with this token.
fn with_token<'a>(app: &'a TestApp, token: &str) -> Api<'a> {
    Api {
        app,
        token: Some(token.to_owned()),
    }
}

/// A person's contact methods, as the owner reads them.
async fn methods_of(app: &TestApp, user: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v2/users/{user}/contact_methods"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["contact_methods"].as_array().unwrap().clone()
}

/// A person's notification rules, as the owner reads them.
async fn rules_of(app: &TestApp, user: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v2/users/{user}/notification_rules"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["notification_rules"].as_array().unwrap().clone()
}

/// Bob signed in: his browser, id and the CSRF token of his profile page.
async fn bob(app: &TestApp) -> (Browser, String, String) {
    let bob = Browser::new(app);
    assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
    let id = bob.me().await.1["user"]["id"].as_str().unwrap().to_owned();
    let page = bob.get("/profile").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf_in(&page.body);
    (bob, id, csrf)
}

/// Someone else (made over REST, with the default e-mail method and rules) and a personal
/// token of theirs: the one an attacker aims at.
async fn someone_else(app: &TestApp) -> (String, String, String) {
    let carol = app.user("Carol Target", "carol.target@example.com").await;
    let method = methods_of(app, &carol).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (carol.clone(), method, app.personal_token(&carol))
}

/// The secret a page shows once.
fn secret_on(page: &str) -> String {
    let at = page
        .find("rota_api_")
        .unwrap_or_else(|| panic!("no secret: {page}"));
    page[at..at + "rota_api_".len() + 64].to_owned()
}

mod tests_of_contact_methods {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());
        async fn a_test_notification_reaches_the_mailbox_once_a_minute(app) {
            let smtp = SmtpServer::start();
            let (bob, bob_id, csrf) = bob(&app).await;
            // Bob's e-mail follows the directory: read-only, yet it can be tested.
            let email = methods_of(&app, &bob_id).await.into_iter()
                .find(|m| m["type"] == "email_contact_method").unwrap();
            assert_eq!(email["source"], "scim", "{email}");
            let id = email["id"].as_str().unwrap().to_owned();
            let address = email["address"].as_str().unwrap().to_owned();

            let tested = bob.post_form(&format!("/profile/contact_methods/{id}/test"), &[("csrf_token", &csrf)]).await;
            assert_eq!(tested.status, 200, "{}", tested.body);
            assert!(tested.body.contains("is on its way"), "{}", tested.body);
            // Through the e-mail outbox to a real SMTP server.
            let report = app.deliver_emails(&smtp).await;
            assert_eq!(report.sent, 1, "{report:?}");
            let mail = smtp.messages(1, Wait::from_secs(10));
            assert_eq!(mail.len(), 1);
            assert_eq!(mail[0].rcpt_to, std::slice::from_ref(&address));
            assert_eq!(mail[0].subject, "Rota: a test notification");
            assert!(mail[0].body.contains("no incident"), "{}", mail[0].body);

            // A second within the minute: refused beside the method, nothing queued.
            let again = bob.post_form(&format!("/profile/contact_methods/{id}/test"), &[("csrf_token", &csrf)]).await;
            assert_eq!(again.status, 429, "{}", again.body);
            assert!(again.body.contains("less than a minute ago"), "{}", again.body);
            assert!(again.body.contains("role=\"alert\""), "{}", again.body);
            // And over the API, with Retry-After.
            let personal = app.personal_token(&bob_id);
            let res = with_token(&app, &personal)
                .req(reqwest::Method::POST, &format!("/api/v2/users/me/contact_methods/{id}/test"))
                .send().await.unwrap();
            assert_eq!(res.status(), 429);
            let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&wait), "{wait}");
            assert_eq!(app.deliver_emails(&smtp).await.sent, 0);

            // A minute on, the API queues one: 202 with what was queued.
            app.clock.advance(Duration::seconds(61));
            let (status, body) = with_token(&app, &personal)
                .post(&format!("/api/v2/users/me/contact_methods/{id}/test"), json!({})).await;
            assert_eq!(status, 202, "{body}");
            let queued = &body["contact_method_test"];
            assert_eq!(queued["status"], "queued", "{body}");
            assert_eq!(queued["contact_method"]["id"], id.as_str(), "{body}");
            assert_eq!(queued["address"], address.as_str(), "{body}");
            assert_eq!(app.deliver_emails(&smtp).await.sent, 1);

            // Testing changed nothing about the method; the trail says who tested what.
            let after = methods_of(&app, &bob_id).await.into_iter().find(|m| m["id"] == id.as_str()).unwrap();
            assert_eq!(after, email);
            let records = app.audit_records("test").await;
            assert_eq!(records.len(), 2, "{records:?}");
            assert!(records.iter().all(|r| r["root_resource"]["id"] == id.as_str()), "{records:?}");

            // Someone else's method: 403 by their id, 404 as one's own; nothing queued.
            let (carol, carol_method, _) = someone_else(&app).await;
            let (status, body) = with_token(&app, &personal)
                .post(&format!("/api/v2/users/{carol}/contact_methods/{carol_method}/test"), json!({})).await;
            assert_eq!(status, 403, "{body}");
            let (status, body) = with_token(&app, &personal)
                .post(&format!("/api/v2/users/me/contact_methods/{carol_method}/test"), json!({})).await;
            assert_eq!(status, 404, "{body}");
            let page = bob.post_form(&format!("/profile/contact_methods/{carol_method}/test"), &[("csrf_token", &csrf)]).await;
            assert_eq!(page.status, 404, "{}", page.body);
            assert_eq!(app.deliver_emails(&smtp).await.sent, 0);
            // An admin may test it (and was not held up by the refused attempts).
            let (status, body) = app.post(&format!("/api/v2/users/{carol}/contact_methods/{carol_method}/test"), json!({})).await;
            assert_eq!(status, 202, "{body}");
        }
    }
}

/// Phone and webhook tests go out through the notification dispatcher: a call to the Twilio
/// fake that says it is a test and hangs up (its status callback is answered, on no
/// incident), and a `pagey.ping` POST signed with the method's secret.
async fn phone_and_webhook_tests_go_out_through_the_dispatcher(db: TestDatabase) {
    let fake = support::twilio::TwilioFake::start();
    // The receiver is on 127.0.0.1: added, as webhooks to private addresses must be.
    let app = TestApp::builder()
        .twilio(fake.config())
        .chat_hosts(&["127.0.0.1"])
        .start(db)
        .await;
    let receiver = support::webhook::Receiver::start();
    let ada = app.user("Ada Lovelace", "ada@example.com").await;
    let token = app.personal_token(&ada);
    let ada_api = with_token(&app, &token);
    let (status, body) = ada_api
        .post("/api/v2/users/me/contact_methods", json!({"contact_method": {"type": "phone_contact_method", "label": "Mobile", "address": "+14255550100"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let phone = body["contact_method"]["id"].as_str().unwrap().to_owned();
    let (status, body) = ada_api
        .post("/api/v2/users/me/contact_methods", json!({"contact_method": {"type": "webhook_contact_method", "label": "Bridge", "address": receiver.url()}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let hook = body["contact_method"]["id"].as_str().unwrap().to_owned();
    let secret = body["contact_method"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [&phone, &hook] {
        let (status, body) = ada_api
            .post(
                &format!("/api/v2/users/me/contact_methods/{id}/test"),
                json!({}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let report = app.app.notifications.run_once().await.unwrap();
    assert_eq!((report.tested, report.sent), (2, 0), "{report:?}");
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].to, "+14255550100");
    let said = support::twilio::said(&calls[0].twiml).join(" ");
    assert!(
        said.contains("test call from Rota") && said.contains("Mobile"),
        "{said}"
    );
    assert!(!calls[0].twiml.contains("<Gather"), "{}", calls[0].twiml);
    assert_eq!(fake.end(&calls[0], "completed").await, 204);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let (signature, posted) = &got[0];
    assert_eq!(
        signature,
        &rota::notify::webhook::signature(&secret, posted)
    );
    let event: Value = serde_json::from_slice(posted).unwrap();
    assert_eq!(event["event"]["event_type"], "pagey.ping", "{event}");
    assert_eq!(
        event["event"]["data"]["contact_method"]["id"],
        hook.as_str(),
        "{event}"
    );
    // Sent once: the next pass has nothing, and no incident was opened.
    let report = app.app.notifications.run_once().await.unwrap();
    assert_eq!(report.tested, 0, "{report:?}");
    assert_eq!(fake.calls().len(), 1);
    let (_, incidents) = app.get("/api/v2/incidents?date_range=all").await;
    assert_eq!(incidents["incidents"], json!([]), "{incidents}");

    // A minute on, the same button pressed eight times at once: one test, seven 429s (the
    // limit is read from the stored tests under a lock on the method, not from memory).
    app.clock.advance(Duration::seconds(61));
    let path = format!("/api/v2/users/me/contact_methods/{phone}/test");
    let presses = (0..8).map(|_| ada_api.post(&path, json!({})));
    let mut statuses: Vec<u16> = futures_util::future::join_all(presses)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    statuses.sort();
    assert_eq!(statuses, [202, 429, 429, 429, 429, 429, 429, 429]);
}

#[actix_web::test]
async fn sqlite_phone_and_webhook_tests_go_out_through_the_dispatcher() {
    phone_and_webhook_tests_go_out_through_the_dispatcher(TestDatabase::sqlite()).await;
}

#[actix_web::test]
async fn postgres_phone_and_webhook_tests_go_out_through_the_dispatcher() {
    phone_and_webhook_tests_go_out_through_the_dispatcher(TestDatabase::postgres()).await;
}

mod tests_of_rules {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());
        async fn notification_rules_by_urgency_are_kept_on_the_profile(app) {
            let (bob, bob_id, csrf) = bob(&app).await;
            let email = methods_of(&app, &bob_id).await[0]["id"].as_str().unwrap().to_owned();
            let page = bob.get("/profile").await;
            assert!(page.body.contains("<h2>Notification rules</h2>"), "{}", page.body);
            let before = rules_of(&app, &bob_id).await;

            let added = bob.post_form("/profile/notification_rules", &[("csrf_token", &csrf),
                ("rule_method", &email), ("delay", "5"), ("urgency", "low")]).await;
            assert!(added.url.ends_with("/profile?done=rule_added"), "{} {}", added.url, added.body);
            assert!(added.body.contains("After 5 min"), "{}", added.body);
            let (_, low) = app.get(&format!("/api/v2/users/{bob_id}/notification_rules?urgency=low")).await;
            let rule = low["notification_rules"].as_array().unwrap().iter()
                .find(|r| r["start_delay_in_minutes"] == 5).unwrap_or_else(|| panic!("{low}")).clone();
            assert_eq!(rule["contact_method"]["id"], email.as_str(), "{rule}");

            // Bad delays are field errors keeping what was typed, never a 5xx; nothing stored.
            for bad in ["-1", "1441", "abc", "", "99999999999999999999999", "1e3", "5.5"] {
                let refused = bob.post_form("/profile/notification_rules", &[("csrf_token", &csrf),
                    ("rule_method", &email), ("delay", bad), ("urgency", "high")]).await;
                assert_eq!(refused.status, 422, "{bad}: {}", refused.body);
                assert!(refused.body.contains("id=\"delay-error\""), "{bad}: {}", refused.body);
                assert!(refused.body.contains(&format!("name=\"delay\" value=\"{bad}\"")), "{bad}: {}", refused.body);
                assert!(refused.body.contains("<option value=\"high\" selected>"), "{}", refused.body);
            }
            let refused = bob.post_form("/profile/notification_rules", &[("csrf_token", &csrf),
                ("rule_method", &email), ("delay", "3"), ("urgency", "urgent")]).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("id=\"urgency-error\""), "{}", refused.body);
            // Someone else's contact method is not one to notify Bob through.
            let (carol, carol_method, _) = someone_else(&app).await;
            let refused = bob.post_form("/profile/notification_rules", &[("csrf_token", &csrf),
                ("rule_method", &carol_method), ("delay", "3"), ("urgency", "high")]).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("id=\"rule_method-error\""), "{}", refused.body);
            assert_eq!(rules_of(&app, &bob_id).await.len(), before.len() + 1);

            // Someone else's rule cannot be deleted from Bob's profile; his own can.
            let carol_rules = rules_of(&app, &carol).await;
            let carol_rule = carol_rules[0]["id"].as_str().unwrap();
            let refused = bob.post_form(&format!("/profile/notification_rules/{carol_rule}/delete"), &[("csrf_token", &csrf)]).await;
            assert_eq!(refused.status, 404, "{}", refused.body);
            assert_eq!(rules_of(&app, &carol).await, carol_rules);
            let rule_id = rule["id"].as_str().unwrap();
            let gone = bob.post_form(&format!("/profile/notification_rules/{rule_id}/delete"), &[("csrf_token", &csrf)]).await;
            assert!(gone.url.ends_with("/profile?done=rule_deleted"), "{}", gone.url);
            assert_eq!(rules_of(&app, &bob_id).await, before);
        }
    }
}

mod tests_of_tokens {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());
        async fn personal_tokens_are_made_listed_and_revoked_by_their_holder_only(app) {
            let (bob, bob_id, csrf) = bob(&app).await;
            let made = bob.post_form("/profile/tokens", &[("csrf_token", &csrf), ("token_name", "laptop")]).await;
            assert_eq!(made.status, 200, "{}", made.body);
            let laptop = secret_on(&made.body);
            // It acts as Bob.
            let (status, me) = with_token(&app, &laptop).get("/api/v2/users/me").await;
            assert_eq!(status, 200, "{me}");
            assert_eq!(me["user"]["id"], bob_id.as_str());
            // Listed without its secret, on the page and by the API.
            let page = bob.get("/profile").await;
            assert!(page.body.contains("laptop") && !page.body.contains(&laptop), "{}", page.body);
            let (status, listed) = with_token(&app, &laptop).get("/api/v2/users/me/tokens").await;
            assert_eq!(status, 200, "{listed}");
            assert_eq!(listed["tokens"].as_array().unwrap().len(), 1, "{listed}");
            assert_eq!(listed["tokens"][0]["name"], "laptop");
            assert!(listed["tokens"][0]["last_used_at"].is_string(), "{listed}");
            assert!(!listed.to_string().contains(&laptop) && listed["tokens"][0].get("secret").is_none(), "{listed}");

            // The API makes one for a signed-in person (session and CSRF header), not for a token.
            let res = bob.http.post(app.url("/api/v2/users/me/tokens")).header("X-CSRF-Token", &csrf)
                .json(&json!({"token": {"name": "ci"}})).send().await.unwrap();
            let (status, body) = support::read(res).await;
            assert_eq!(status, 201, "{body}");
            assert!(body["token"]["secret"].as_str().unwrap().starts_with("rota_api_"), "{body}");
            let (status, body) = with_token(&app, &laptop).post("/api/v2/users/me/tokens", json!({"token": {"name": "minted"}})).await;
            assert_eq!(status, 403, "{body}");

            // A name already used, or with control characters: refused inline, nothing stored.
            for bad in ["laptop", "bad\u{7}name", "evil\u{202e}txt.exe", ""] {
                let refused = bob.post_form("/profile/tokens", &[("csrf_token", &csrf), ("token_name", bad)]).await;
                assert_eq!(refused.status, 422, "{bad:?}: {}", refused.body);
                assert!(refused.body.contains("id=\"token_name-error\""), "{bad:?}: {}", refused.body);
            }
            let res = bob.http.post(app.url("/api/v2/users/me/tokens")).header("X-CSRF-Token", &csrf)
                .json(&json!({"token": {"name": "laptop"}})).send().await.unwrap();
            let (status, body) = support::read(res).await;
            assert_eq!(status, 400, "{body}");
            let (_, listed) = with_token(&app, &laptop).get("/api/v2/users/me/tokens").await;
            assert_eq!(listed["tokens"].as_array().unwrap().len(), 2, "{listed}");

            // Someone else's token: not listed, not revoked (404), still working.
            let (_, _, carol_token) = someone_else(&app).await;
            let (_, theirs) = with_token(&app, &carol_token).get("/api/v2/users/me/tokens").await;
            let carol_token_id = theirs["tokens"][0]["id"].as_str().unwrap().to_owned();
            assert_eq!(theirs["tokens"].as_array().unwrap().len(), 1, "{theirs}");
            let (status, body) = with_token(&app, &laptop).delete(&format!("/api/v2/users/me/tokens/{carol_token_id}")).await;
            assert_eq!(status, 404, "{body}");
            let refused = bob.post_form(&format!("/profile/tokens/{carol_token_id}/revoke"), &[("csrf_token", &csrf)]).await;
            assert_eq!(refused.status, 404, "{}", refused.body);
            assert_eq!(with_token(&app, &carol_token).get("/api/v2/users/me").await.0, 200);
            // Two people may each call a token "laptop".
            let (status, body) = with_token(&app, &carol_token).get("/api/v2/users/me/tokens").await;
            assert_eq!(status, 200, "{body}");

            // At most 20 live: the 21st is refused (400 from the API, as PagerDuty answers
            // conflicts; inline on the page).
            for n in 2..20 {
                let res = bob.http.post(app.url("/api/v2/users/me/tokens")).header("X-CSRF-Token", &csrf)
                    .json(&json!({"token": {"name": format!("script {n}")}})).send().await.unwrap();
                assert_eq!(res.status(), 201);
            }
            let res = bob.http.post(app.url("/api/v2/users/me/tokens")).header("X-CSRF-Token", &csrf)
                .json(&json!({"token": {"name": "one too many"}})).send().await.unwrap();
            let (status, body) = support::read(res).await;
            assert_eq!(status, 400, "{body}");
            assert!(body.to_string().contains("20 live personal tokens"), "{body}");
            let refused = bob.post_form("/profile/tokens", &[("csrf_token", &csrf), ("token_name", "one too many")]).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("20 live personal tokens") && refused.body.contains("value=\"one too many\""), "{}", refused.body);

            // Revoked from the page: it stops working at once.
            let (_, listed) = with_token(&app, &laptop).get("/api/v2/users/me/tokens").await;
            let laptop_id = listed["tokens"][0]["id"].as_str().unwrap().to_owned();
            let gone = bob.post_form(&format!("/profile/tokens/{laptop_id}/revoke"), &[("csrf_token", &csrf)]).await;
            assert!(gone.url.ends_with("/profile?done=token_revoked"), "{} {}", gone.url, gone.body);
            assert_eq!(with_token(&app, &laptop).get("/api/v2/users/me").await.0, 401);
            assert_eq!(app.audit_records("revoke").await.len(), 1);
        }

        async fn a_stakeholders_token_only_reads(app) {
            let carol = Browser::new(&app);
            assert_eq!(carol.sign_in("carol@contoso.example").await.status, 200);
            let page = carol.get("/profile").await;
            let csrf = csrf_in(&page.body);
            let made = carol.post_form("/profile/tokens", &[("csrf_token", &csrf), ("token_name", "reports")]).await;
            assert_eq!(made.status, 200, "{}", made.body);
            let token = secret_on(&made.body);
            let api = with_token(&app, &token);
            let (status, me) = api.get("/api/v2/users/me").await;
            assert_eq!(status, 200, "{me}");
            assert_eq!(api.get("/api/v2/users").await.0, 200);
            assert_eq!(api.get("/api/v2/schedules").await.0, 200);
            // It writes nothing a stakeholder's session could not.
            let (status, body) = api.post("/api/v2/teams", json!({"team": {"name": "Carol's team"}})).await;
            assert_eq!(status, 403, "{body}");
            let (status, body) = api.post("/api/v2/users", json!({"user": {"name": "Mallory", "email": "mallory@example.com"}})).await;
            assert_eq!(status, 403, "{body}");
        }
    }
}

mod tests_of_attacks {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());
        async fn the_profile_refuses_what_an_attacker_sends(app) {
            let (bob, bob_id, csrf) = bob(&app).await;
            let (carol, carol_method, _) = someone_else(&app).await;
            let carol_methods = methods_of(&app, &carol).await;
            let carol_rules = rules_of(&app, &carol).await;

            // Another person's ids in the profile's URLs: 404 pages, nothing changed.
            for path in [
                format!("/profile/contact_methods/{carol_method}/delete"),
                format!("/profile/contact_methods/{carol_method}/test"),
                format!("/profile/notification_rules/{}/delete", carol_rules[0]["id"].as_str().unwrap()),
                "/profile/tokens/0190c0de-0000-7000-8000-000000000000/revoke".to_owned(),
            ] {
                let refused = bob.post_form(&path, &[("csrf_token", &csrf)]).await;
                assert!(refused.status == 404 || refused.status == 403, "{path}: {} {}", refused.status, refused.body);
                assert!(refused.body.contains("<html"), "{path}: {}", refused.body);
            }
            assert_eq!(methods_of(&app, &carol).await, carol_methods);
            assert_eq!(rules_of(&app, &carol).await, carol_rules);

            // Control characters in text fields: refused inline, not stored.
            let mine = methods_of(&app, &bob_id).await;
            for label in ["Mobile\u{1b}[31m", "Work\u{202e}moc.elpmaxe", "Tab\tbed"] {
                let refused = bob.post_form("/profile/contact_methods", &[("csrf_token", &csrf), ("kind", "phone"),
                    ("label", label), ("address", "+14255550123")]).await;
                assert_eq!(refused.status, 422, "{label:?}: {}", refused.body);
                assert!(refused.body.contains("id=\"label-error\""), "{label:?}: {}", refused.body);
                assert!(refused.body.contains("value=\"+14255550123\""), "{}", refused.body);
            }
            assert_eq!(methods_of(&app, &bob_id).await, mine);

            // An oversized form body: a 413 page, never a 5xx, nothing stored.
            for size in [64 * 1024, 2 * 1024 * 1024] {
                let label = "x".repeat(size);
                let refused = bob.post_form("/profile/contact_methods", &[("csrf_token", &csrf), ("kind", "email"),
                    ("label", &label), ("address", "big@example.com")]).await;
                assert_eq!(refused.status, 413, "{size}: {}", &refused.body[..refused.body.len().min(500)]);
                assert!(refused.body.contains("Too much sent") && refused.body.contains("<html"), "{}", refused.body);
            }
            // A body that is not the form it should be: a 400 page.
            let res = bob.http.post(app.url("/profile/notification_rules"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("csrf_token=a&csrf_token=b&delay=%ZZ").send().await.unwrap();
            assert!(res.status().is_client_error(), "{}", res.status());
            assert_eq!(methods_of(&app, &bob_id).await, mine);
        }
    }
}
