//! Contact methods and notification rules over HTTP on SQLite and PostgreSQL: the defaults a
//! SCIM newcomer gets, SCIM following the directory without touching a person's own methods,
//! phone numbers refused by REST unless E.164 (SCIM keeps them as sent, never guessed), CRUD by the person,
//! others refused and admins allowed, rules bound to the person's own methods and deleted
//! with them, webhooks over https, and `rules_for` as the escalation engine reads it.

mod support;

use reqwest::Method;
use rota::domain::ids::UserId;
use rota::domain::service::Urgency;
use rota::store::contact_methods::rules_for;
use serde_json::{Value, json};
use support::{TestApp, as_person, assert_refused};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn scim_user(user_name: &str, phones: Value) -> Value {
    json!({
        "schemas": [USER],
        "externalId": format!("ext-{user_name}"),
        "userName": user_name,
        "active": true,
        "displayName": "Ada Lovelace",
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "phoneNumbers": phones,
    })
}

async fn scim_create(scim: &support::scim::Scim<'_>, user_name: &str, phones: Value) -> String {
    let (status, body) = scim
        .send_json(Method::POST, "/Users", scim_user(user_name, phones))
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn methods(app: &TestApp, user: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/v2/users/{user}/contact_methods"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["contact_methods"].as_array().unwrap().clone()
}

async fn rules(app: &TestApp, user: &str, urgency: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!(
            "/api/v2/users/{user}/notification_rules?urgency={urgency}"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body["notification_rules"].as_array().unwrap().clone()
}

/// (urgency, delay, contact method type, label) of each rule.
fn steps(rules: &[Value]) -> Vec<(String, i64, String, String)> {
    rules
        .iter()
        .map(|r| {
            (
                r["urgency"].as_str().unwrap().to_owned(),
                r["start_delay_in_minutes"].as_i64().unwrap(),
                r["contact_method"]["type"].as_str().unwrap().to_owned(),
                r["contact_method"]["summary"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn step(urgency: &str, kind: &str, label: &str) -> (String, i64, String, String) {
    (urgency.into(), 0, kind.into(), label.into())
}

fn phone(label: &str, address: &str) -> Value {
    json!({"contact_method": {"type": "phone_contact_method", "label": label, "address": address}})
}

/// A person made through the REST API, with a personal token.
async fn person(app: &TestApp, name: &str) -> (String, String) {
    let id = app
        .user(name, &format!("{}@example.com", name.to_lowercase()))
        .await;
    let token = app.personal_token(&id);
    (id, token)
}

on_both_backends! {
    async fn a_scim_newcomer_is_paged_by_email_and_phone_at_high_urgency_and_email_at_low(app) {
        let scim = app.scim();
        let id = scim_create(
            &scim,
            "ada@example.com",
            json!([{"type": "mobile", "value": "+1 (425) 555-0100"}]),
        )
        .await;
        let found = methods(&app, &id).await;
        assert_eq!(found.len(), 2, "{found:?}");
        let email = found.iter().find(|m| m["type"] == "email_contact_method").unwrap();
        assert_eq!(email["address"], "ada@example.com");
        assert_eq!(email["source"], "scim");
        let phone = found.iter().find(|m| m["type"] == "phone_contact_method").unwrap();
        assert_eq!(phone["address"], "+14255550100");
        assert_eq!(phone["label"], "mobile");
        assert_eq!(phone["source"], "scim");
        assert!(phone["self"].as_str().unwrap().ends_with(&format!(
            "/api/v2/users/{id}/contact_methods/{}",
            phone["id"].as_str().unwrap()
        )));

        let high = rules(&app, &id, "high").await;
        assert_eq!(
            steps(&high),
            vec![
                step("high", "email_contact_method_reference", "work"),
                step("high", "phone_contact_method_reference", "mobile"),
            ]
        );
        assert!(high.iter().all(|r| r["type"] == "assignment_notification_rule"));
        let low = rules(&app, &id, "low").await;
        assert_eq!(steps(&low), vec![step("low", "email_contact_method_reference", "work")]);
        assert_eq!(rules(&app, &id, "any").await.len(), 3);

        // The SCIM document still shows Entra's formatting, and a filter in any format finds it.
        let (_, shown) = scim.get(&format!("/Users/{id}")).await;
        assert_eq!(shown["phoneNumbers"][0]["value"], "+1 (425) 555-0100");
        let (status, found) = scim
            .get("/Users?filter=phoneNumbers.value%20eq%20%22%2B1%20425%20555%200100%22")
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["totalResults"], 1, "{found}");

        // What the escalation engine reads: in delay order, with the method of each rule.
        let mut conn = app.db.get().unwrap();
        let by_user = rules_for(&mut conn, &[UserId(id.clone())], Urgency::High).unwrap();
        let mine = &by_user[&UserId(id.clone())];
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().all(|(r, m)| r.contact_method_id == m.id && r.start_delay_in_minutes == 0));
        assert!(rules_for(&mut conn, &[], Urgency::Low).unwrap().is_empty());
    }

    async fn scim_changes_its_phone_and_a_persons_own_method_survives(app) {
        let scim = app.scim();
        let id = scim_create(
            &scim,
            "grace@example.com",
            json!([{"type": "mobile", "value": "+1 425 555 0100"}]),
        )
        .await;
        let before = methods(&app, &id).await;
        let scim_phone = before
            .iter()
            .find(|m| m["type"] == "phone_contact_method")
            .unwrap()["id"]
            .clone();
        let (status, own) = app
            .post(&format!("/api/v2/users/{id}/contact_methods"), phone("Home", "+44 20 7946 0000"))
            .await;
        assert_eq!(status, 201, "{own}");
        assert_eq!(own["contact_method"]["source"], "user");

        // A new number on the same mobile: the same contact method (and its rules) follows.
        let (status, body) = scim
            .send_json(
                Method::PUT,
                &format!("/Users/{id}"),
                scim_user("grace@example.com", json!([{"type": "mobile", "value": "+1 425 555 0199"}])),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let after = methods(&app, &id).await;
        let phones: Vec<_> = after.iter().filter(|m| m["type"] == "phone_contact_method").collect();
        assert_eq!(phones.len(), 2, "{after:?}");
        let mobile = phones.iter().find(|m| m["source"] == "scim").unwrap();
        assert_eq!(mobile["address"], "+14255550199");
        assert_eq!(mobile["id"], scim_phone);
        let home = phones.iter().find(|m| m["source"] == "user").unwrap();
        assert_eq!(home["address"], "+442079460000");
        assert_eq!(rules(&app, &id, "high").await.len(), 2);

        // The directory drops the phone: its rules go, the person's own number stays.
        let (status, body) = scim
            .send_json(
                Method::PUT,
                &format!("/Users/{id}"),
                scim_user("grace@example.com", json!([])),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let after = methods(&app, &id).await;
        assert_eq!(after.len(), 2, "{after:?}");
        assert!(after.iter().any(|m| m["source"] == "user" && m["label"] == "Home"));
        assert_eq!(
            steps(&rules(&app, &id, "high").await),
            vec![step("high", "email_contact_method_reference", "work")]
        );

        // A phone listed again gets its default rule, since the person has no phone rule.
        let (status, body) = scim
            .send_json(
                Method::PATCH,
                &format!("/Users/{id}"),
                json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+81 3 1234 5678"}],
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let high = steps(&rules(&app, &id, "high").await);
        assert!(high.contains(&step("high", "phone_contact_method_reference", "work")), "{high:?}");
        // The user-made one is not in SCIM's view of the person.
        let (_, shown) = scim.get(&format!("/Users/{id}")).await;
        assert!(!shown.to_string().contains("+442079460000"), "{shown}");
    }

    async fn a_phone_number_that_is_not_e164_is_kept_from_scim_but_refused_by_rest(app) {
        // SCIM never refuses a person over a directory's phone format (Entra would
        // quarantine the app): the number is kept as sent, stripped, and not guessed.
        let scim = app.scim();
        let (status, body) = scim
            .send_json(
                Method::POST,
                "/Users",
                scim_user("lin.scim@example.com", json!([{"type": "work", "value": "(425) 555-0100"}])),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["phoneNumbers"][0]["value"], "(425) 555-0100", "{body}");
        let (_, listed) = scim.get("/Users?filter=userName%20eq%20%22lin.scim@example.com%22").await;
        assert_eq!(listed["totalResults"], 1, "{listed}");

        let (id, _) = person(&app, "Lin").await;
        let path = format!("/api/v2/users/{id}/contact_methods");
        let (status, body) = app.post(&path, phone("Work", "425-555-0100")).await;
        assert_refused(status, &body, "contact_method.address");
        let (status, body) = app.post(&path, phone("Work", "+0 425 555 0100")).await;
        assert_refused(status, &body, "contact_method.address");
        // PagerDuty's split form is taken and answered with its country code.
        let mut split = phone("Work", "(425) 555-0100");
        split["contact_method"]["country_code"] = json!(1);
        let (status, body) = app.post(&path, split).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["contact_method"]["address"], "+14255550100");
        assert_eq!(body["contact_method"]["country_code"], 1);
        let mut bad_code = phone("Other", "4255550100");
        bad_code["contact_method"]["country_code"] = json!(2000);
        let (status, body) = app.post(&path, bad_code).await;
        assert_refused(status, &body, "contact_method.country_code");
        // The same address twice is a conflict.
        let (status, body) = app.post(&path, phone("Again", "+1 425 555 0100")).await;
        assert_refused(status, &body, "contact_method.address is already");
    }

    async fn a_person_manages_their_own_contact_methods_and_rules(app) {
        let (id, token) = person(&app, "Ana").await;
        let (status, created) = as_person(
            &app,
            &token,
            Method::POST,
            "/api/v2/users/me/contact_methods",
            Some(phone("Mobile", "+49 30 1234567")),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let cm = created["contact_method"]["id"].as_str().unwrap().to_owned();
        assert_eq!(created["contact_method"]["type"], "phone_contact_method");
        assert_eq!(created["contact_method"]["summary"], "Mobile");
        let one = format!("/api/v2/users/{id}/contact_methods/{cm}");

        let (status, shown) = as_person(&app, &token, Method::GET, &one, None).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["contact_method"]["address"], "+49301234567");

        let (status, updated) = as_person(
            &app,
            &token,
            Method::PUT,
            &one,
            Some(phone("Cell", "+49 30 7654321")),
        )
        .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!(updated["contact_method"]["label"], "Cell");
        assert_eq!(updated["contact_method"]["address"], "+49307654321");
        // The type stays.
        let email = json!({"contact_method": {"type": "email_contact_method", "label": "x", "address": "x@example.com"}});
        let (status, body) = as_person(&app, &token, Method::PUT, &one, Some(email)).await;
        assert_refused(status, &body, "contact_method.type");

        let rule = json!({"notification_rule": {
            "type": "assignment_notification_rule",
            "start_delay_in_minutes": 5,
            "contact_method": {"id": cm, "type": "phone_contact_method"},
            "urgency": "low",
        }});
        let rules_path = format!("/api/v2/users/{id}/notification_rules");
        let (status, made) = as_person(&app, &token, Method::POST, &rules_path, Some(rule.clone())).await;
        assert_eq!(status, 201, "{made}");
        let r = &made["notification_rule"];
        assert_eq!(r["type"], "assignment_notification_rule");
        assert_eq!(r["start_delay_in_minutes"], 5);
        assert_eq!(r["urgency"], "low");
        assert_eq!(r["contact_method"]["id"], cm.as_str());
        assert_eq!(r["contact_method"]["type"], "phone_contact_method_reference");
        let rule_id = r["id"].as_str().unwrap().to_owned();
        let (status, body) = as_person(&app, &token, Method::POST, &rules_path, Some(rule.clone())).await;
        assert_refused(status, &body, "notification_rule is already there");

        let mut changed = rule.clone();
        changed["notification_rule"]["start_delay_in_minutes"] = json!(1440);
        changed["notification_rule"]["urgency"] = json!("high");
        let one_rule = format!("{rules_path}/{rule_id}");
        let (status, body) = as_person(&app, &token, Method::PUT, &one_rule, Some(changed.clone())).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["notification_rule"]["start_delay_in_minutes"], 1440);
        changed["notification_rule"]["start_delay_in_minutes"] = json!(1441);
        let (status, body) = as_person(&app, &token, Method::PUT, &one_rule, Some(changed)).await;
        assert_refused(status, &body, "notification_rule.start_delay_in_minutes");
        let (status, body) = as_person(&app, &token, Method::GET, &format!("{rules_path}?urgency=urgent"), None).await;
        assert_refused(status, &body, "urgency");

        // The REST-made person starts with their e-mail at both urgencies.
        let (status, all) = as_person(&app, &token, Method::GET, &rules_path, None).await;
        assert_eq!(status, 200, "{all}");
        assert_eq!(all["notification_rules"].as_array().unwrap().len(), 3, "{all}");

        let (status, _) = as_person(&app, &token, Method::DELETE, &one_rule, None).await;
        assert_eq!(status, 204);
        let (status, _) = as_person(&app, &token, Method::GET, &one_rule, None).await;
        assert_eq!(status, 404);

        // The e-mail that follows the profile is changed there, not here.
        let mine = methods(&app, &id).await;
        let email_id = mine.iter().find(|m| m["type"] == "email_contact_method").unwrap()["id"].as_str().unwrap().to_owned();
        let (status, body) = as_person(
            &app,
            &token,
            Method::DELETE,
            &format!("/api/v2/users/{id}/contact_methods/{email_id}"),
            None,
        )
        .await;
        assert_refused(status, &body, "contact_method.id");

        let (status, _) = as_person(&app, &token, Method::DELETE, &one, None).await;
        assert_eq!(status, 204);
        let records = app.audit_records("delete").await;
        assert!(records.iter().any(|r| r.to_string().contains(&cm)), "{records:?}");
    }

    async fn others_are_refused_and_admins_may(app) {
        let (ana, _) = person(&app, "Ana").await;
        let (_, bob_token) = person(&app, "Bob").await;
        let path = format!("/api/v2/users/{ana}/contact_methods");
        let (status, body) = as_person(&app, &bob_token, Method::GET, &path, None).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = as_person(&app, &bob_token, Method::POST, &path, Some(phone("Mine", "+14255550100"))).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = as_person(&app, &bob_token, Method::GET, &format!("/api/v2/users/{ana}/notification_rules"), None).await;
        assert_eq!(status, 403, "{body}");

        let admin = app.api_as(rota::domain::role::Role::Admin);
        let (status, body) = admin.post(&path, phone("Desk", "+14255550100")).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = admin.get(&path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["contact_methods"].as_array().unwrap().len(), 2);

        // `me` means nobody for a service token.
        let (status, body) = admin.get("/api/v2/users/me/contact_methods").await;
        assert_refused(status, &body, "id");
        let (status, body) = app.get("/api/v2/users/nobody/contact_methods").await;
        assert_eq!(status, 404, "{body}");
    }

    async fn a_rule_must_use_the_persons_own_contact_method(app) {
        let (ana, _) = person(&app, "Ana").await;
        let (bob, _) = person(&app, "Bob").await;
        let (status, theirs) = app
            .post(&format!("/api/v2/users/{bob}/contact_methods"), phone("Bob's", "+14255550100"))
            .await;
        assert_eq!(status, 201, "{theirs}");
        let rule = json!({"notification_rule": {
            "type": "assignment_notification_rule",
            "start_delay_in_minutes": 0,
            "contact_method": {"id": theirs["contact_method"]["id"], "type": "phone_contact_method"},
            "urgency": "high",
        }});
        let (status, body) = app.post(&format!("/api/v2/users/{ana}/notification_rules"), rule).await;
        assert_refused(status, &body, "notification_rule.contact_method.id");
    }

    async fn deleting_a_contact_method_deletes_its_rules(app) {
        let (id, _) = person(&app, "Ana").await;
        let (status, made) = app
            .post(&format!("/api/v2/users/{id}/contact_methods"), phone("Mobile", "+14255550100"))
            .await;
        assert_eq!(status, 201, "{made}");
        let cm = made["contact_method"]["id"].as_str().unwrap().to_owned();
        for (urgency, delay) in [("high", 0), ("high", 10), ("low", 30)] {
            let (status, body) = app
                .post(
                    &format!("/api/v2/users/{id}/notification_rules"),
                    json!({"notification_rule": {"contact_method": {"id": cm}, "urgency": urgency, "start_delay_in_minutes": delay}}),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        // Two of the e-mail (the defaults), three of the phone.
        assert_eq!(rules(&app, &id, "any").await.len(), 5);
        let (status, _) = app.delete(&format!("/api/v2/users/{id}/contact_methods/{cm}")).await;
        assert_eq!(status, 204);
        let left = rules(&app, &id, "any").await;
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left.iter().all(|r| r["contact_method"]["id"] != cm.as_str()));
    }

    async fn a_webhook_must_be_https(app) {
        let (id, _) = person(&app, "Ana").await;
        let path = format!("/api/v2/users/{id}/contact_methods");
        let hook = |address: &str| json!({"contact_method": {"type": "webhook_contact_method", "label": "Bridge", "address": address}});
        let (status, body) = app.post(&path, hook("http://hooks.example.com/rota")).await;
        assert_refused(status, &body, "contact_method.address");
        let (status, body) = app.post(&path, hook("https://hooks.example.com/rota")).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["contact_method"]["type"], "webhook_contact_method");
        let (status, body) = app.post(&path, hook("http://127.0.0.1:9/hook")).await;
        assert_eq!(status, 201, "{body}");
        let (status, body) = app
            .post(&path, json!({"contact_method": {"type": "sms_contact_method", "label": "x", "address": "+14255550100"}}))
            .await;
        assert_refused(status, &body, "contact_method.type");
        // The user's references show it with its own type.
        let (_, user) = app.get(&format!("/api/v2/users/{id}")).await;
        let kinds: Vec<_> = user["user"]["contact_methods"].as_array().unwrap().iter().map(|r| r["type"].clone()).collect();
        assert!(kinds.contains(&json!("webhook_contact_method_reference")), "{user}");
    }
}
