//! The identity admin pages (`/identity`, `/identity/sign-in`, `/identity/audit`) in a
//! signed-in browser, on SQLite and PostgreSQL: an admin makes a SCIM token (the secret shown
//! once), Entra uses it and the page shows its last use and the change, the token is revoked;
//! an admin makes no owner token and a bad form is refused inline; the audit log filtered by
//! action shows only that action; the sign-in check finds the provider; a responder is
//! refused.

mod support;

use serde_json::json;
use support::TestApp;
use support::browser::{Browser, csrf_in};
use support::oidc_provider::OidcProvider;

/// The text of the element that starts with `open` (up to the next `close`).
fn between<'a>(body: &'a str, open: &str, close: &str) -> &'a str {
    let at = body
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {body}"))
        + open.len();
    let end = body[at..].find(close).unwrap() + at;
    &body[at..end]
}

/// The row of the tokens table for token `name`.
fn token_row<'a>(body: &'a str, name: &str) -> &'a str {
    let head = format!("<th scope=\"row\">{name}</th>");
    let at = body
        .find(&head)
        .unwrap_or_else(|| panic!("no token {name} in {body}"));
    &body[at..at + body[at..].find("</tr>").unwrap()]
}

mod signed_in {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());

        async fn scim_status_lists_the_latest_requests_with_their_outcome_failed_first(app) {
            let scim = app.scim();
            let user = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "kenji@contoso.example", "active": true, "displayName": "Kenji"});
            let (status, _) = scim.send_json(reqwest::Method::POST, "/Users", user.clone()).await;
            assert_eq!(status, 201);
            let (status, _) = scim.send_json(reqwest::Method::POST, "/Users", user).await;
            assert_eq!(status, 409, "the same userName again");
            let (status, _) = scim.get("/Users?filter=userName%20eq").await;
            assert_eq!(status, 400);
            let (status, _) = scim.get("/Users?count=5").await;
            assert_eq!(status, 200);
            // (The helper read the discovery documents first, with no token: they need none.)
            // A refused token: logged, but once a minute however many come.
            for _ in 0..3 {
                let res = reqwest::Client::new().get(app.url("/scim/v2/Users")).bearer_auth("rota_scim_nope").send().await.unwrap();
                assert_eq!(res.status(), 401);
            }

            let alice = Browser::new(&app);
            alice.sign_in("alice@contoso.example").await;
            // The log is written after each answer, without holding it up: wait for it.
            let mut page = alice.get("/identity").await;
            for _ in 0..100 {
                if page.body.contains(" of them failed") && page.body.contains(">401<") { break; }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                page = alice.get("/identity").await;
            }
            assert_eq!(page.status, 200);
            let table = between(&page.body, "<table class=\"scim-requests\">", "</table>");
            let rows: Vec<&str> = table.split("<tr>").skip(2).filter(|r| !r.contains("/scim/v2/Schemas") && !r.contains("/scim/v2/ResourceTypes")).collect();
            assert!(table.contains("3 of them failed"), "{table}");
            assert_eq!(rows.len(), 5, "{table}");
            // Failed first (newest first among them), then the ones that worked.
            assert!(rows[0].contains(">401<") && rows[0].contains("(token refused)"), "{}", rows[0]);
            assert!(rows[1].contains(">400<") && rows[1].contains("invalidFilter") && rows[1].contains("GET /scim/v2/Users?filter=userName%20eq"), "{}", rows[1]);
            assert!(rows[1].contains("<td>entra</td>"), "{}", rows[1]);
            assert!(rows[2].contains(">409<") && rows[2].contains("uniqueness"), "{}", rows[2]);
            assert!(rows[3].contains(">200<") && rows[4].contains(">201<"), "{table}");
            assert!(rows[4].contains("POST /scim/v2/Users"), "{}", rows[4]);
        }

        async fn an_admin_makes_a_scim_token_sees_its_use_and_revokes_it(app) {
            let alice = Browser::new(&app);
            assert_eq!(alice.sign_in("alice@contoso.example").await.status, 200);
            let page = alice.get("/identity").await;
            assert_eq!(page.status, 200, "{}", page.body);
            let csrf = csrf_in(&page.body);

            let made = alice.post_form("/identity/tokens", &[("csrf_token", &csrf), ("kind", "scim"), ("name", "Entra provisioning"), ("role", "")]).await;
            assert_eq!(made.status, 200, "{}", made.body);
            let secret = between(&made.body, "<code id=\"new-secret\">", "</code>").to_owned();
            assert!(secret.len() > 20, "{secret}");
            // Shown once: never again.
            let again = alice.get("/identity").await;
            assert!(!again.body.contains(&secret));
            assert!(token_row(&again.body, "Entra provisioning").contains("Never"), "{}", again.body);

            // Entra provisions a person with it.
            let res = reqwest::Client::new()
                .post(app.url("/scim/v2/Users"))
                .bearer_auth(&secret)
                .header("Content-Type", "application/scim+json")
                .json(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "zed@contoso.example", "active": true,
                    "name": {"givenName": "Zed", "familyName": "Zimmer"}}))
                .send().await.unwrap();
            assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
            let seen = alice.get("/identity").await;
            let row = token_row(&seen.body, "Entra provisioning");
            assert!(!row.contains("Never"), "{row}");
            let scim = between(&seen.body, "<table class=\"scim\">", "</table>");
            assert!(scim.contains("Zed Zimmer") && scim.contains(">create<") && scim.contains("Entra provisioning"), "{scim}");

            // Revoked: SCIM refuses the secret, the page says so.
            let revoked = alice.post_form("/identity/tokens/revoke", &[("csrf_token", &csrf), ("name", "Entra provisioning")]).await;
            assert_eq!(revoked.status, 200, "{}", revoked.body);
            assert!(token_row(&revoked.body, "Entra provisioning").contains("Revoked"));
            let res = reqwest::Client::new().get(app.url("/scim/v2/Users")).bearer_auth(&secret).send().await.unwrap();
            assert_eq!(res.status(), 401);

            // An admin makes no owner token; an API token needs a role (kept as typed);
            // a name in use is refused at the field; no CSRF token, nothing made.
            let owner = alice.post_form("/identity/tokens", &[("csrf_token", &csrf), ("kind", "api"), ("name", "deploy"), ("role", "owner")]).await;
            assert_eq!(owner.status, 403, "{}", owner.body);
            let roleless = alice.post_form("/identity/tokens", &[("csrf_token", &csrf), ("kind", "api"), ("name", "deploy"), ("role", "")]).await;
            assert_eq!(roleless.status, 422, "{}", roleless.body);
            assert!(roleless.body.contains("id=\"role-error\"") && roleless.body.contains("value=\"deploy\""), "{}", roleless.body);
            let api = alice.post_form("/identity/tokens", &[("csrf_token", &csrf), ("kind", "api"), ("name", "deploy"), ("role", "user")]).await;
            assert_eq!(api.status, 200, "{}", api.body);
            let twice = alice.post_form("/identity/tokens", &[("csrf_token", &csrf), ("kind", "api"), ("name", "deploy"), ("role", "user")]).await;
            assert_eq!(twice.status, 422, "{}", twice.body);
            assert!(twice.body.contains("id=\"name-error\""), "{}", twice.body);
            let forged = alice.post_form("/identity/tokens", &[("kind", "scim"), ("name", "forged")]).await;
            assert!(forged.status.is_client_error(), "{}", forged.status);
            assert!(!alice.get("/identity").await.body.contains("forged"));

            // The audit log by action: only that action, and the records are the API's.
            let log = alice.get("/identity/audit?action=revoke").await;
            assert_eq!(log.status, 200, "{}", log.body);
            let records = log.body.matches("<tr class=\"record\">").count();
            assert_eq!(records, app.audit_records("revoke").await.len());
            assert_eq!(records, 1, "{}", log.body);
            assert_eq!(log.body.matches("<td class=\"action\">").count(), records);
            assert!(log.body.contains(">revoke</a>") && log.body.contains("value=\"revoke\""));
            let creates = alice.get("/identity/audit?action=create").await;
            let actions: Vec<&str> = creates.body.split("<td class=\"action\">").skip(1).map(|s| &s[..s.find("</td>").unwrap()]).collect();
            assert!(actions.len() >= 3 && actions.iter().all(|a| a.contains(">create<")), "{actions:?}");
            let bad = alice.get("/identity/audit?since=soon").await;
            assert_eq!(bad.status, 400);
            assert!(bad.body.contains("id=\"since-error\"") && bad.body.contains("value=\"soon\""));

            // The sign-in check reaches the test provider.
            let check = alice.get("/identity/sign-in").await;
            assert_eq!(check.status, 200, "{}", check.body);
            let issuer = between(&check.body, "<tr id=\"check-issuer\">", "</tr>");
            assert!(issuer.contains("badge resolved"), "{issuer}");
            let keys = between(&check.body, "<tr id=\"check-keys\">", "</tr>");
            assert!(keys.contains("badge resolved"), "{keys}");
        }

        async fn a_responder_is_refused(app) {
            let bob = Browser::new(&app);
            assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
            let home = bob.get("/").await;
            assert!(!home.body.contains("href=\"/identity\""));
            for path in ["/identity", "/identity/audit", "/identity/sign-in"] {
                assert_eq!(bob.get(path).await.status, 403, "{path}");
            }
            let csrf = csrf_in(&home.body);
            let post = bob.post_form("/identity/tokens", &[("csrf_token", &csrf), ("kind", "scim"), ("name", "mine")]).await;
            assert_eq!(post.status, 403, "{}", post.body);
        }
    }
}
