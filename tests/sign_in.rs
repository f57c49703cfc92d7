//! Sign-in with Entra ID, end to end over HTTP against a real OIDC provider shaped like Entra
//! (tests/peers/oidc-provider): the code flow with PKCE, just-in-time provisioning, linking to
//! SCIM-provisioned users, group claims, every refusal (with its page and audit event),
//! sessions (CSRF, revocation, expiry), personal tokens and break-glass owners. Each test runs
//! on SQLite and on PostgreSQL.

mod support;

use chrono::Duration;
use rota::config::{OidcConfig, Secret};
use rota::domain::audit::{Actor, ActorKind};
use rota::domain::role::Role;
use rota::domain::token::TokenKind;
use rota::store::audit::AuditContext;
use serde_json::{Value, json};
use std::net::TcpListener;
use support::TestApp;
use support::browser::Browser;
use support::oidc_provider::OidcProvider;

const PLATFORM_GROUP: &str = "c0a8f1d2-4b3e-4f5a-8c7d-1e2f3a4b5c01";
const SRE_GROUP: &str = "c0a8f1d2-4b3e-4f5a-8c7d-1e2f3a4b5c02";

/// The app with sign-in through the shared provider (a client registered for each app), and
/// Dave as a bootstrap owner.
fn signing_in() -> support::TestAppBuilder {
    TestApp::builder()
        .oidc(OidcProvider::shared())
        .bootstrap_owners(&["dave@contoso.example"])
}

async fn user_count(app: &TestApp) -> u64 {
    let (_, body) = app.get("/api/v2/users?total=true").await;
    body["total"].as_u64().unwrap()
}

fn scim(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url(path))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/scim+json")
}

fn scim_token(app: &TestApp) -> String {
    app.issue_token(rota::domain::token::TokenKind::Scim, "entra", None)
}

async fn scim_group(app: &TestApp, token: &str, name: &str, external_id: &str) -> String {
    let (status, body) = support::send(
        scim(app, reqwest::Method::POST, "/scim/v2/Groups", token).json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name, "externalId": external_id
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn member_names(app: &TestApp, team_id: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/api/v2/teams/{team_id}/members")).await;
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["summary"].as_str().unwrap().to_string())
        .collect()
}

on_both_backends! {
    builder = signing_in();
    async fn without_a_free_seat_sign_in_queues_the_person_and_a_freed_seat_lets_them_in(app) {
        assert_eq!(app.put("/api/v2/licenses/full", json!({"license": {"cap": 1}})).await.0, 200);
        assert_eq!(app.put("/api/v2/licenses/stakeholder", json!({"license": {"cap": 0}})).await.0, 200);
        let alice = Browser::new(&app);
        assert_eq!(alice.sign_in("alice@contoso.example").await.status, 200);
        let alice_id = alice.me().await.1["user"]["id"].as_str().unwrap().to_string();
        // Bob needs a full seat too: his account is made and he waits, with a clear page.
        let bob = Browser::new(&app);
        let landing = bob.sign_in("bob@contoso.example").await;
        assert_eq!(landing.status, 403, "{}", landing.body);
        assert!(landing.body.contains("No Rota seat is free for you yet"), "{}", landing.body);
        assert!(landing.body.contains("number 1 in the queue for a full seat"), "{}", landing.body);
        assert_eq!(bob.me().await.0, 401, "no session was opened");
        assert_eq!(user_count(&app).await, 2);
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused[0]["details"]["after"]["reason"], "no_seat");
        // A stakeholder seat frees up: bob holds it, read-only, while he waits for full.
        assert_eq!(app.put("/api/v2/licenses/stakeholder", json!({"license": {"cap": 1}})).await.0, 200);
        let landing = bob.sign_in("bob@contoso.example").await;
        assert_eq!(landing.status, 200, "{}", landing.body);
        assert!(landing.body.contains("role <strong>read_only_user</strong> on a stakeholder seat (read-only) while you wait for a full one"), "{}", landing.body);
        let (_, me) = bob.me().await;
        assert_eq!(me["user"]["license"]["id"], "stakeholder");
        let csrf = bob.csrf().await;
        let (status, body) = support::send(
            bob.http.post(app.url("/api/v2/teams")).header("X-CSRF-Token", &csrf).json(&json!({"team": {"name": "Bob's"}})),
        ).await;
        assert_eq!(status, 403, "a stakeholder seat is read-only: {body}");
        // Alice leaves: bob gets her full seat, and acts with his own role again.
        assert_eq!(app.delete(&format!("/api/v2/users/{alice_id}")).await.0, 204);
        assert_eq!(bob.me().await.1["user"]["license"]["id"], "full");
        assert!(bob.get("/").await.body.contains("role <strong>user</strong>, full seat"));
    }

    async fn first_sign_in_creates_the_user_and_the_next_reuses_it(app) {
        let browser = Browser::new(&app);
        let landing = browser.sign_in("alice@contoso.example").await;
        assert_eq!(landing.status, 200, "{}", landing.body);
        assert_eq!(landing.url, app.url("/"));
        assert!(landing.body.contains("Signed in as <strong>Alice Example</strong> (alice@contoso.example), role <strong>admin</strong>, full seat"), "{}", landing.body);
        let (status, me) = browser.me().await;
        assert_eq!(status, 200, "{me}");
        let alice = me["user"]["id"].as_str().unwrap().to_string();
        assert_eq!(me["user"]["user_name"], "alice@contoso.example");
        assert_eq!(me["user"]["email"], "alice@contoso.example");
        // The app role Rota.Admin maps to admin in policies/seats.toml.
        assert_eq!(me["user"]["role"], "admin");
        assert_eq!(me["user"]["provisioned_by"], "sign_in");
        assert_eq!(me["user"]["contact_methods"].as_array().unwrap().len(), 1);
        let created = app.audit_records("create").await;
        assert!(created.iter().any(|r| r["root_resource"]["id"] == alice.as_str()), "{created:?}");

        let again = Browser::new(&app);
        assert_eq!(again.sign_in("alice@contoso.example").await.status, 200);
        assert_eq!(again.me().await.1["user"]["id"], alice.as_str());
        assert_eq!(user_count(&app).await, 1);
        assert_eq!(app.audit_records("sign_in").await.len(), 2);
    }

    async fn a_scim_user_is_linked_by_object_id_or_by_user_name(app) {
        let token = scim_token(&app);
        // Bob: provisioned with objectId mapped to externalId.
        let (status, bob) = support::send(scim(&app, reqwest::Method::POST, "/scim/v2/Users", &token).json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "robert@contoso.example", "externalId": "9f9eb965-adfb-4a58-9eee-7cde24e5035f",
            "displayName": "Robert"
        }))).await;
        assert_eq!(status, 201, "{bob}");
        // Dave: provisioned with only his userName.
        let (status, dave) = support::send(scim(&app, reqwest::Method::POST, "/scim/v2/Users", &token).json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Dave@Contoso.example", "displayName": "Dave"
        }))).await;
        assert_eq!(status, 201, "{dave}");

        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("bob@contoso.example").await.status, 200);
        let me = browser.me().await.1;
        assert_eq!(me["user"]["id"], bob["id"]);
        // Entra renamed him; the sign-in follows the UPN in the token.
        assert_eq!(me["user"]["user_name"], "bob@contoso.example");
        assert_eq!(me["user"]["provisioned_by"], "scim");

        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("dave@contoso.example").await.status, 200);
        let me = browser.me().await.1;
        assert_eq!(me["user"]["id"], dave["id"]);
        // Dave is a bootstrap owner.
        assert_eq!(me["user"]["role"], "owner");
        assert_eq!(user_count(&app).await, 2);
        // The Entra identity is recorded: the next sign-in finds him by it.
        let linked = rota::store::users::find_by_user_name(&mut app.db.get().unwrap(), "dave@contoso.example").unwrap().unwrap();
        assert_eq!(linked.object_id.as_deref(), Some("d2360d5b-81d1-467b-88fb-4244b7cf4ef2"));
        assert_eq!(linked.tenant_id.as_deref(), Some(OidcProvider::shared().tenant.as_str()));
        let (status, scim_dave) = support::send(scim(&app, reqwest::Method::GET, &format!("/scim/v2/Users/{}", dave["id"].as_str().unwrap()), &token)).await;
        assert_eq!(status, 200, "{scim_dave}");
        assert_eq!(scim_dave["active"], true, "SCIM reads show what sign-in refreshed: {scim_dave}");
        assert_eq!(scim_dave["displayName"], "Dave Example", "{scim_dave}");
    }

    async fn group_claims_become_team_membership(app) {
        let token = scim_token(&app);
        let platform = scim_group(&app, &token, "Platform", PLATFORM_GROUP).await;
        let sre = scim_group(&app, &token, "SRE", SRE_GROUP).await;
        let rota_only = app.team("Made in Rota").await;
        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("bob@contoso.example").await.status, 200);
        let bob = browser.me().await.1["user"]["id"].as_str().unwrap().to_string();
        let (status, _) = app.put(&format!("/api/v2/teams/{rota_only}/users/{bob}"), json!({"role": "responder"})).await;
        assert_eq!(status, 204);
        // Entra put Bob in SRE earlier (REST may not: Entra's teams' members are Entra's); his
        // token now says Platform only.
        let add = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": bob}]}]});
        let (status, body) = support::send(scim(&app, reqwest::Method::PATCH, &format!("/scim/v2/Groups/{sre}"), &token).json(&add)).await;
        assert!(status == 204 || status == 200, "{body}");
        assert_eq!(member_names(&app, &sre).await, vec!["Bob Example"]);
        assert_eq!(Browser::new(&app).sign_in("bob@contoso.example").await.status, 200);
        assert_eq!(member_names(&app, &platform).await, vec!["Bob Example"]);
        assert!(member_names(&app, &sre).await.is_empty(), "left the Entra group's team");
        assert_eq!(member_names(&app, &rota_only).await, vec!["Bob Example"], "teams made in Rota are left alone");

        // Too many groups for the token: memberships stay as they are, and the audit says why.
        let overage = Browser::new(&app);
        assert_eq!(overage.sign_in("overage@contoso.example").await.status, 200);
        let olga = overage.me().await.1["user"]["id"].as_str().unwrap().to_string();
        assert_eq!(member_names(&app, &platform).await, vec!["Bob Example"]);
        let (_, records) = app.get(&format!("/api/v2/users/{olga}/audit/records?actions[]=sign_in")).await;
        let record = &records["records"][0];
        assert_eq!(record["details"]["after"]["groups_claim_complete"], false, "{record}");
    }

    async fn forged_and_foreign_tokens_are_refused_with_a_page_and_an_audit_event(app) {
        let cases = [
            ("eve@fabrikam.example", "wrong_tenant", 403),
            ("mangle-wrong-aud@contoso.example", "invalid_token", 403),
            ("mangle-wrong-iss@contoso.example", "invalid_token", 403),
            ("mangle-expired@contoso.example", "invalid_token", 403),
            ("mangle-not-yet-valid@contoso.example", "invalid_token", 403),
            ("mangle-bad-signature@contoso.example", "invalid_token", 403),
            ("mangle-unknown-key@contoso.example", "invalid_token", 403),
            ("mangle-alg-none@contoso.example", "invalid_token", 403),
            ("mangle-hs256-public-key@contoso.example", "invalid_token", 403),
            ("mangle-nonce-mismatch@contoso.example", "invalid_token", 403),
            // The provider refuses an account it does not know: its decision, not a fault.
            ("nobody@contoso.example", "provider_denied", 403),
        ];
        // Each from its own address: refusals from one address are recorded once per burst.
        for (i, (login, reason, status)) in cases.into_iter().enumerate() {
            let landing = Browser::from_address(&app, &format!("127.0.2.{}", i + 1)).sign_in(login).await;
            assert_eq!(landing.status.as_u16(), status, "{login}: {}", landing.body);
            assert!(landing.body.contains(&format!("Reason: {reason}")), "{login}: {}", landing.body);
            assert!(landing.body.contains("<h1>"), "an HTML page for {login}");
            assert!(!landing.body.contains("owners can help"), "strangers are not told who the owners are");
        }
        assert_eq!(user_count(&app).await, 0, "nobody was signed in or created");
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), cases.len(), "{refused:#?}");
        let wrong_tenant = refused.iter().find(|r| r["details"]["after"]["reason"] == "wrong_tenant").unwrap();
        assert!(wrong_tenant["details"]["after"]["detail"].as_str().unwrap().contains("b4d5e6f7"), "{wrong_tenant}");
        // Each forged token was refused for its own defect.
        let details: Vec<String> = refused.iter().map(|r| r["details"]["after"]["detail"].as_str().unwrap_or("").to_lowercase()).collect();
        for needle in ["audience", "issuer", "expired", "not valid yet", "signature", "nonce", "disallowed"] {
            assert!(details.iter().any(|d| d.contains(needle)), "no refusal mentions {needle}: {details:#?}");
        }
    }

    async fn state_must_be_this_browsers_and_a_code_works_once(app) {
        let landing = Browser::new(&app).get("/auth/oidc/callback?code=abc").await;
        assert_eq!(landing.status, 400, "no state: {}", landing.body);
        assert!(landing.body.contains("Reason: expired_or_replayed"), "{}", landing.body);

        let first = Browser::stopping_at_callback(&app);
        let callback = first.callback_url("bob@contoso.example").await;
        // Another browser, with its own login in flight, cannot finish this one.
        let other = Browser::stopping_at_callback(&app);
        other.callback_url("alice@contoso.example").await;
        let crossed = other.get(&callback).await;
        assert_eq!(crossed.status, 400, "mismatched state: {}", crossed.body);
        // The browser that started it is signed in, once; a replay is refused.
        let signed_in = first.get(&callback).await;
        assert_eq!(signed_in.status, 200, "{}", signed_in.body);
        let replayed = first.get(&callback).await;
        assert_eq!(replayed.status, 400, "{}", replayed.body);
        assert!(replayed.body.contains("Reason: expired_or_replayed"));
        // The used code with a fresh, valid state: the provider refuses it (single use, and the
        // PKCE verifier is another login's).
        let param = |url: &str, name: &str| {
            url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == name).unwrap().1.to_string()
        };
        let own = other.callback_url("alice@contoso.example").await;
        let reused = other
            .get(&format!("/auth/oidc/callback?code={}&state={}", param(&callback, "code"), param(&own, "state")))
            .await;
        // The provider answers invalid_grant: a refused sign-in (4xx), not a fault (502).
        assert_eq!(reused.status, 400, "{}", reused.body);
        assert!(reused.body.contains("Reason: code_refused"), "{}", reused.body);
        assert!(reused.body.contains("This sign-in link has expired"), "{}", reused.body);
        assert_eq!(user_count(&app).await, 1);
        // Four refusals from one address are one burst: one audit record (the first).
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(refused[0]["details"]["after"]["reason"], "expired_or_replayed");
    }

    async fn the_providers_error_answers_are_refusals_and_only_its_own_trouble_is_a_502(app) {
        // What the provider sends back on the callback instead of a code; each from its own
        // address, as refusals from one address are recorded once per burst.
        let answer = async |error: &str, address: &str| {
            let browser = Browser::build(&app, true, Some(address.parse().unwrap()));
            let callback = browser.callback_url("bob@contoso.example").await;
            let state = url::Url::parse(&callback).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.to_string();
            browser.get(&format!("/auth/oidc/callback?state={state}&error={error}&error_description=because")).await
        };
        for (i, (error, status, reason)) in [
            ("access_denied", 403, "provider_denied"),
            ("consent_required", 403, "provider_denied"),
            ("server_error", 502, "provider_error"),
            ("temporarily_unavailable", 502, "provider_error"),
        ]
        .into_iter()
        .enumerate()
        {
            let landing = answer(error, &format!("127.0.3.{}", i + 1)).await;
            assert_eq!(landing.status.as_u16(), status, "{error}: {}", landing.body);
            assert!(landing.body.contains(&format!("Reason: {reason}")), "{error}: {}", landing.body);
        }
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), 4, "each is audited: {refused:#?}");
        assert_eq!(refused[3]["details"]["after"]["detail"], "access_denied because");
        assert_eq!(user_count(&app).await, 0);
    }

    async fn names_with_control_characters_or_bidi_overrides_are_refused_at_sign_in(app) {
        let provider = OidcProvider::shared();
        let forged_names = [
            ("newline-name@contoso.example", json!({"name": "Eve\n2026-01-01T00:00:00Z INFO rota: owner signed in"}), "name"),
            ("ansi-name@contoso.example", json!({"name": "\u{1b}[31mEve\u{1b}[0m"}), "name"),
            ("c1-name@contoso.example", json!({"name": "Eve\u{85}Admin"}), "name"),
            ("bidi-name@contoso.example", json!({"name": "Eve \u{202E}nimdA"}), "name"),
            ("isolate-upn@contoso.example", json!({"preferred_username": "eve\u{2066}@contoso.example"}), "preferred_username"),
            ("newline-upn@contoso.example", json!({"preferred_username": "eve@contoso.example\nowner@contoso.example"}), "preferred_username"),
        ];
        for (login, claims, _) in &forged_names {
            let mut account = claims.clone();
            account["login"] = json!(login);
            provider.upsert_account(account).await;
        }
        for (i, (login, _, claim)) in forged_names.iter().enumerate() {
            let landing = Browser::from_address(&app, &format!("127.0.4.{}", i + 1)).sign_in(login).await;
            assert_eq!(landing.status, 403, "{login}: {}", landing.body);
            assert!(landing.body.contains("Reason: unsafe_name"), "{login}: {}", landing.body);
            assert!(landing.body.contains(&format!("Your {claim} in Microsoft Entra ID")), "{login}: {}", landing.body);
        }
        assert_eq!(user_count(&app).await, 0, "nobody was created");
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), forged_names.len(), "{refused:#?}");
        for record in &refused {
            let details = &record["details"]["after"];
            assert_eq!(details["reason"], "unsafe_name", "{record}");
            let detail = details["detail"].as_str().unwrap();
            assert!(detail.contains("U+"), "the code point, not the raw text: {detail}");
            assert!(!detail.contains('\n') && !detail.contains('\u{1b}'), "{detail:?}");
        }
    }

    async fn a_person_cannot_move_their_sign_in_name_onto_a_colleagues_before_their_first_sign_in(app) {
        // Mallory, a plain user made through the API, with a personal token.
        let mallory = app.user("Mallory", "mallory@contoso.example").await;
        let token = app.personal_token(&mallory);
        let own = format!("/api/v2/users/{mallory}");
        // She changes her e-mail to Alice's UPN: mail goes there, her sign-in name stays.
        let (status, body) = support::send(app.as_token(&token, reqwest::Method::PUT, &own).json(&json!({"user": {"email": "alice@contoso.example"}}))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["email"], "alice@contoso.example");
        assert_eq!(body["user"]["user_name"], "mallory@contoso.example", "{body}");
        // And she may not set it herself.
        let (status, body) = support::send(app.as_token(&token, reqwest::Method::PUT, &own).json(&json!({"user": {"user_name": "alice@contoso.example"}}))).await;
        assert_eq!(status, 403, "{body}");
        // Alice's first sign-in makes her own account, with her own role.
        let alice = Browser::new(&app);
        assert_eq!(alice.sign_in("alice@contoso.example").await.status, 200);
        let me = alice.me().await.1;
        assert_ne!(me["user"]["id"], mallory.as_str(), "Alice must not land in Mallory's account");
        assert_eq!(me["user"]["role"], "admin");
        assert_eq!(me["user"]["user_name_source"], "entra_sign_in");
        let (status, mine) = support::send(app.as_token(&token, reqwest::Method::GET, "/api/v2/users/me")).await;
        assert_eq!(status, 200, "{mine}");
        assert_eq!(mine["user"]["role"], "user", "Mallory's token gained nothing: {mine}");
        assert_eq!(mine["user"]["user_name"], "mallory@contoso.example");
    }

    async fn an_account_whose_name_nobody_vouched_for_is_not_handed_over_at_sign_in(app) {
        // From before the rule: Mallory moved her account's name to Alice's UPN herself.
        let now = rota::clock::stored(chrono::Utc::now());
        let squatted = rota::store::users::User {
            email: Some("alice@contoso.example".into()),
            user_name_source: rota::domain::user::UserNameSource::Unverified,
            ..rota::store::users::User::new("alice@contoso.example", "Mallory".into(), rota::domain::user::ProvisionedBy::Api, now)
        };
        rota::store::users::insert(&mut app.db.get().unwrap(), &squatted).unwrap();
        let (_, listed) = app.get(&format!("/api/v2/users/{}", squatted.id)).await;
        assert_eq!(listed["user"]["user_name_source"], "unverified", "{listed}");
        let landing = Browser::new(&app).sign_in("alice@contoso.example").await;
        assert_eq!(landing.status, 403, "{}", landing.body);
        assert!(landing.body.contains("Reason: unverified_user_name"), "{}", landing.body);
        assert!(landing.body.contains("Your account needs an administrator"), "{}", landing.body);
        assert!(landing.body.contains("set neither by Microsoft Entra ID nor by a Rota administrator"), "{}", landing.body);
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(refused[0]["details"]["after"]["reason"], "unverified_user_name");
        let untouched = rota::store::users::find(&mut app.db.get().unwrap(), &squatted.id).unwrap();
        assert_eq!(untouched.object_id, None, "not linked to Alice");
        assert_eq!(untouched.role, rota::domain::role::Role::User);
        assert_eq!(user_count(&app).await, 1);
        // An owner who checked confirms the name: the account is hers at her next sign-in.
        let (status, body) = app.put(&format!("/api/v2/users/{}", squatted.id), json!({"user": {"user_name": "alice@contoso.example"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["user_name_source"], "admin");
        let alice = Browser::new(&app);
        assert_eq!(alice.sign_in("alice@contoso.example").await.status, 200);
        assert_eq!(alice.me().await.1["user"]["id"], squatted.id.as_str());
    }

    async fn an_admin_cannot_give_an_account_a_bootstrap_owners_name_and_is_not_told_why(app) {
        // Dave is a bootstrap owner: an account named like him becomes an owner. An admin may
        // not make owners, so may not give that name, and the refusal does not say why.
        let admin = app.issue_token(TokenKind::Api, "admin", Some(Role::Admin));
        let as_admin = |method, path: &str, body: Value| support::send(app.as_token(&admin, method, path).json(&body));
        let (status, body) = as_admin(reqwest::Method::POST, "/api/v2/users", json!({"user": {"name": "Not Dave", "email": "dave@contoso.example"}})).await;
        assert_eq!(status, 400, "{body}");
        let message = body["error"]["errors"][0].as_str().unwrap();
        assert_eq!(message, "user_name 'dave@contoso.example' is already taken by another user");
        let crony = app.user("Crony", "crony@contoso.example").await;
        let (status, body) = as_admin(reqwest::Method::PUT, &format!("/api/v2/users/{crony}"), json!({"user": {"user_name": "DAVE@contoso.example"}})).await;
        assert_eq!(status, 400, "{body}");
        assert!(!body.to_string().contains("owner"), "{body}");
        let (status, body) = as_admin(reqwest::Method::PUT, &format!("/api/v2/users/{crony}"), json!({"user": {"email": "dave@contoso.example"}})).await;
        assert_eq!(status, 400, "an e-mail change that moves the sign-in name too: {body}");
        assert_eq!(app.get(&format!("/api/v2/users/{crony}")).await.1["user"]["role"], "user");
    }

    async fn an_account_whose_name_nobody_vouched_for_is_never_made_a_bootstrap_owner(app) {
        // Dave is a bootstrap owner (by user name). An account that took his name before the
        // rule is not him.
        let now = rota::clock::stored(chrono::Utc::now());
        let squatted = rota::store::users::User {
            user_name_source: rota::domain::user::UserNameSource::Unverified,
            ..rota::store::users::User::new("dave@contoso.example", "Mallory".into(), rota::domain::user::ProvisionedBy::Api, now)
        };
        rota::store::users::insert(&mut app.db.get().unwrap(), &squatted).unwrap();
        let id = squatted.id.as_str();
        // Any change settles the account's role and seat again.
        let (status, body) = app.put(&format!("/api/v2/users/{id}"), json!({"user": {"job_title": "Ops"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["role"], "user", "{body}");
        app.reconciler.run_once("day-1").await.unwrap();
        assert_eq!(app.get(&format!("/api/v2/users/{id}")).await.1["user"]["role"], "user");
    }

    async fn an_entra_object_id_on_two_live_accounts_refuses_the_sign_in(app) {
        // From before externalIds were unique: two live accounts carry Bob's object id.
        let now = rota::clock::stored(chrono::Utc::now());
        let bob_oid = "9f9eb965-adfb-4a58-9eee-7cde24e5035f";
        let mut conn = app.db.get().unwrap();
        for (n, user_name) in ["robert@contoso.example", "bobby@contoso.example"].iter().enumerate() {
            let user = rota::store::users::User {
                external_id: Some(bob_oid.into()),
                external_id_shared: n > 0,
                ..rota::store::users::User::new(user_name, format!("Bob {n}"), rota::domain::user::ProvisionedBy::Scim, now)
            };
            rota::store::users::insert(&mut conn, &user).unwrap();
        }
        drop(conn);
        let bob = Browser::new(&app);
        let landing = bob.sign_in("bob@contoso.example").await;
        assert_eq!(landing.status, 403, "{}", landing.body);
        assert!(landing.body.contains("Reason: duplicate_external_id"), "{}", landing.body);
        assert!(landing.body.contains("More than one Rota account carries your Microsoft Entra object id"), "{}", landing.body);
        assert_eq!(bob.me().await.0, 401, "no session");
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused[0]["details"]["after"]["reason"], "duplicate_external_id");
        assert!(refused[0]["details"]["after"]["detail"].as_str().unwrap().contains(bob_oid));
        assert_eq!(user_count(&app).await, 2, "neither was linked, no third was made");
    }

    async fn an_email_claim_never_links_accounts(app) {
        // Someone in our directory with an address that a stranger can put in their token.
        let victim = app.user("Eve Victim", "eve@fabrikam.example").await;
        let landing = Browser::new(&app).sign_in("eve@fabrikam.example").await;
        assert_eq!(landing.status, 403);
        assert!(landing.body.contains("Reason: wrong_tenant"));
        // Same tenant, another person, same e-mail as an existing user: a separate account.
        let provider = OidcProvider::shared();
        provider.upsert_account(json!({
            "login": "mallory@contoso.example", "name": "Mallory",
            "email": "victim@contoso.example"
        })).await;
        let token = scim_token(&app);
        let (status, scim_victim) = support::send(scim(&app, reqwest::Method::POST, "/scim/v2/Users", &token).json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "victim@contoso.example", "externalId": "aaaaaaaa-0000-4000-8000-000000000001",
            "emails": [{"value": "victim@contoso.example", "primary": true}]
        }))).await;
        assert_eq!(status, 201, "{scim_victim}");
        let mallory = Browser::new(&app);
        assert_eq!(mallory.sign_in("mallory@contoso.example").await.status, 200);
        let me = mallory.me().await.1;
        assert_ne!(me["user"]["id"], scim_victim["id"]);
        assert_ne!(me["user"]["id"], victim.as_str());
        assert_eq!(me["user"]["user_name"], "mallory@contoso.example");
        let (_, sessions) = app.get(&format!("/api/v2/users/{victim}/sessions")).await;
        assert_eq!(sessions["user_sessions"].as_array().unwrap().len(), 0);
    }

    async fn scim_deactivation_refuses_sign_in_and_ends_sessions(app) {
        let token = scim_token(&app);
        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("bob@contoso.example").await.status, 200);
        let bob = browser.me().await.1["user"]["id"].as_str().unwrap().to_string();
        let (status, _) = support::send(scim(&app, reqwest::Method::PATCH, &format!("/scim/v2/Users/{bob}"), &token).json(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]
        }))).await;
        assert_eq!(status, 200);
        assert_eq!(browser.me().await.0, 401, "signed out everywhere at once");
        assert_eq!(Browser::new(&app).sign_in("dave@contoso.example").await.status, 200);
        let landing = Browser::new(&app).sign_in("bob@contoso.example").await;
        assert_eq!(landing.status, 403);
        assert!(landing.body.contains("Reason: deactivated"), "{}", landing.body);
        assert!(landing.body.contains("Rota&#39;s owners can help: Dave Example (dave@contoso.example)"), "who to ask: {}", landing.body);
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused[0]["details"]["after"]["reason"], "deactivated");
    }

    async fn cookie_sessions_need_csrf_tokens_and_end_on_sign_out(app) {
        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("alice@contoso.example").await.status, 200);
        let me = browser.me().await.1;
        let alice = me["user"]["id"].as_str().unwrap().to_string();
        let path = format!("{}/api/v2/users/{alice}", app.base);
        let change = json!({"user": {"job_title": "SRE lead"}});
        let (status, body) = support::send(browser.http.put(&path).json(&change)).await;
        assert_eq!(status, 403, "no CSRF token: {body}");
        let csrf = browser.csrf().await;
        let (status, body) = support::send(browser.http.put(&path).header("X-CSRF-Token", &csrf).header("Origin", "https://evil.example").json(&change)).await;
        assert_eq!(status, 403, "foreign origin: {body}");
        let (status, body) = support::send(browser.http.put(&path).header("X-CSRF-Token", &csrf).json(&change)).await;
        assert_eq!(status, 200, "{body}");
        let records = app.audit_records("update").await;
        assert_eq!(records[0]["actors"][0]["id"], alice.as_str(), "audited as the person: {:?}", records[0]);

        // Sign out without the token: refused; with it: the session ends, and the browser goes on
        // to the provider's end-session endpoint.
        let res = browser.http.post(app.url("/auth/logout")).form(&[("csrf_token", "wrong")]).send().await.unwrap();
        assert_eq!(res.status(), 403);
        let no_follow = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let cookie = browser.cookie_header();
        let res = no_follow.post(app.url("/auth/logout")).header("Cookie", &cookie).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str().unwrap();
        assert!(location.starts_with(&OidcProvider::shared().issuer), "{location}");
        assert!(location.contains("post_logout_redirect_uri="), "{location}");
        let (status, _) = support::send(no_follow.get(app.url("/api/v2/users/me")).header("Cookie", &cookie)).await;
        assert_eq!(status, 401, "the session is revoked server-side, cookie or not");
    }

    async fn sessions_expire_when_idle_and_admins_can_end_them(app) {
        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("bob@contoso.example").await.status, 200);
        let bob = browser.me().await.1["user"]["id"].as_str().unwrap().to_string();
        let (status, list) = app.get(&format!("/api/v2/users/{bob}/sessions")).await;
        assert_eq!(status, 200);
        assert_eq!(list["user_sessions"][0]["type"], "browser");
        let (status, _) = app.delete(&format!("/api/v2/users/{bob}/sessions")).await;
        assert_eq!(status, 204);
        assert_eq!(browser.me().await.0, 401);

        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("bob@contoso.example").await.status, 200);
        app.clock.advance(Duration::hours(7));
        assert_eq!(browser.me().await.0, 200, "used within the idle timeout");
        app.clock.advance(Duration::hours(8) + Duration::minutes(1));
        assert_eq!(browser.me().await.0, 401, "idle for longer than 8 hours");
    }

    async fn personal_tokens_act_as_their_user(app) {
        assert_eq!(Browser::new(&app).sign_in("carol@contoso.example").await.status, 200);
        let mut conn = app.db.get().unwrap();
        let carol = rota::store::users::find_by_user_name(&mut conn, "carol@contoso.example").unwrap().unwrap();
        assert_eq!(carol.role, rota::domain::role::Role::ReadOnlyUser);
        assert_eq!(carol.licence, Some(rota::domain::seat_policy::Licence::Stakeholder));
        let ctx = cli();
        let secret = rota::store::tokens::issue(&mut conn, &ctx, rota::domain::token::TokenKind::Api, "carol's", rota::store::tokens::Holder::User(carol.id.clone())).unwrap();
        let (status, me) = support::send(app.as_token(&secret, reqwest::Method::GET, "/api/v2/users/me")).await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["user"]["id"], carol.id.as_str());
        let (status, body) = app.get("/api/v2/users/me").await;
        assert_eq!(status, 400, "a service token is nobody: {body}");
    }

    async fn break_glass_owners_sign_in_with_a_password_and_it_is_audited(app) {
        let browser = Browser::new(&app);
        assert_eq!(browser.sign_in("dave@contoso.example").await.status, 200);
        let mut conn = app.db.get().unwrap();
        let password = rota::store::break_glass::enable(&mut conn, &cli(), "dave@contoso.example").unwrap();
        let err = rota::store::break_glass::enable(&mut conn, &cli(), "ghost@contoso.example").unwrap_err();
        assert!(err.message().contains("ghost"), "{err}");

        let glass = Browser::new(&app);
        let form = glass.get("/auth/break-glass").await;
        let marker = "name=\"csrf_token\" value=\"";
        let at = form.body.find(marker).unwrap() + marker.len();
        let token = form.body[at..at + 32].to_string();
        let wrong = glass.http.post(app.url("/auth/break-glass")).form(&[("csrf_token", token.as_str()), ("username", "dave@contoso.example"), ("password", "guess")]).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let forged = Browser::new(&app).http.post(app.url("/auth/break-glass")).form(&[("csrf_token", token.as_str()), ("username", "dave@contoso.example"), ("password", password.as_str())]).send().await.unwrap();
        assert_eq!(forged.status(), 403, "a form posted without the form's cookie");
        let ok = glass.http.post(app.url("/auth/break-glass")).form(&[("csrf_token", token.as_str()), ("username", "DAVE@contoso.example"), ("password", password.as_str())]).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let me = glass.me().await.1;
        assert_eq!(me["user"]["user_name"], "dave@contoso.example");
        let dave = me["user"]["id"].as_str().unwrap().to_string();
        let (_, list) = app.get(&format!("/api/v2/users/{dave}/sessions")).await;
        let kinds: Vec<&str> = list["user_sessions"].as_array().unwrap().iter().map(|s| s["type"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"break_glass") && kinds.contains(&"browser"), "{kinds:?}");
        let signed_in = app.audit_records("sign_in").await;
        assert_eq!(signed_in[0]["details"]["after"]["method"], "break_glass");
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused[0]["details"]["after"]["reason"], "bad_credentials");

        // Every owner hears of the wrong password and of the sign-in by e-mail (through a real
        // SMTP server).
        let smtp = support::smtp::SmtpServer::start();
        let report = app.deliver_emails(&smtp).await;
        assert_eq!(report.sent, 2, "{report:?}");
        let mut mail = smtp.wait_for(2, std::time::Duration::from_secs(10)).await;
        mail.sort_by(|a, b| a.subject.cmp(&b.subject));
        assert_eq!(mail[0].subject, "Rota: break-glass sign-in by Dave Example");
        assert_eq!(mail[1].subject, "Rota: wrong break-glass passwords for Dave Example");
        for m in &mail {
            assert_eq!(m.rcpt_to, vec!["dave@contoso.example".to_string()]);
            assert!(m.body.contains("rota owner break-glass dave@contoso.example --disable"), "{}", m.body);
            assert!(m.body.contains("127.0.0.1"), "{}", m.body);
        }
    }
}

/// A provider that cannot be reached is the one sign-in failure that is ours to report as a
/// fault (502), not a refusal.
mod unreachable {
    use super::*;

    on_both_backends! {
        builder = unreachable_provider();
        async fn an_unreachable_provider_is_a_502(app) {
            let landing = Browser::new(&app).get("/auth/oidc/login").await;
            assert_eq!(landing.status, 502, "{}", landing.body);
            assert!(
                landing.body.contains("Reason: provider_error"),
                "{}",
                landing.body
            );
        }
    }

    /// Sign-in through an issuer where nothing listens.
    fn unreachable_provider() -> support::TestAppBuilder {
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let issuer = format!("http://{}/tenant/v2.0", closed.local_addr().unwrap());
        drop(closed);
        TestApp::builder().oidc_config(OidcConfig {
            issuer,
            client_id: "rota".into(),
            client_secret: Secret("secret".into()),
            tenants: vec![OidcProvider::shared().tenant.clone()],
        })
    }
}

fn cli() -> AuditContext {
    AuditContext {
        actor: Actor {
            kind: ActorKind::Cli,
            id: None,
            name: "test".into(),
        },
        request_id: None,
        at: chrono::Utc::now(),
    }
}
