//! What anyone can send without signing in, tried as an attacker would, on both backends:
//! floods of break-glass passwords and junk sign-in callbacks, NUL characters in every place
//! text enters, and the headers and content types a browser relies on.

mod support;

use serde_json::json;
use std::net::IpAddr;
use support::TestApp;

/// A browser-like client (cookies, no redirects followed) connecting from `address`: every
/// address in 127.0.0.0/8 reaches the test server, so each can stand for another client.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(address.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// An owner with break-glass sign-in on; returns the password.
async fn break_glass_owner(app: &TestApp, user_name: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v2/users",
            json!({"user": {"name": "Olive Owner", "email": user_name, "role": "owner"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    rota::store::break_glass::enable(&mut app.db.get().unwrap(), &app.cli_audit(), user_name)
        .unwrap()
}

/// Opens the break-glass form (for its cookie and token) and posts it.
async fn try_break_glass(
    app: &TestApp,
    client: &reqwest::Client,
    user_name: &str,
    password: &str,
) -> reqwest::Response {
    let form = client
        .get(app.url("/auth/break-glass"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let at = form.find(marker).unwrap() + marker.len();
    let token = &form[at..at + 32];
    client
        .post(app.url("/auth/break-glass"))
        .form(&[
            ("csrf_token", token),
            ("username", user_name),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn metric(app: &TestApp, line_start: &str) -> f64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

on_both_backends! {
    async fn wrong_break_glass_passwords_are_limited_and_recorded_once_per_burst(app) {
        let password = break_glass_owner(&app, "olive@contoso.example").await;
        let attacker = client_from("127.0.0.2");
        // Five wrong passwords cost nothing; the sixth makes the next wait two seconds.
        for i in 1..=6 {
            let res = try_break_glass(&app, &attacker, "olive@contoso.example", &format!("guess-{i}")).await;
            assert_eq!(res.status(), 401, "attempt {i}");
        }
        let limited = try_break_glass(&app, &attacker, "olive@contoso.example", &password).await;
        assert_eq!(limited.status(), 429, "even the right password waits: nothing is checked");
        assert_eq!(limited.headers()["retry-after"], "2");
        let page = limited.text().await.unwrap();
        assert!(page.contains("Try again in 2 seconds"), "{page}");
        // The limit is on the name, from any address.
        let elsewhere = try_break_glass(&app, &client_from("127.0.0.3"), "OLIVE@contoso.example", &password).await;
        assert_eq!(elsewhere.status(), 429);

        // One audit record and one e-mail for the whole burst, not six.
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(refused[0]["details"]["after"]["reason"], "bad_credentials");
        assert_eq!(refused[0]["details"]["after"]["address"], "127.0.0.2");
        let queued: i64 = {
            use diesel::prelude::*;
            rota::store::schema::emails::table.count().get_result(&mut *app.db.get().unwrap()).unwrap()
        };
        assert_eq!(queued, 1, "one e-mail to the owners for the burst");
        assert_eq!(metric(&app, "rota_sign_in_refusals_total{reason=\"break_glass_bad_credentials\"}").await, 6.0);

        // After the wait the owner gets in, and the audit record says what came before.
        app.clock.advance(chrono::Duration::seconds(3));
        let ok = try_break_glass(&app, &attacker, "olive@contoso.example", &password).await;
        assert_eq!(ok.status(), 303, "{:?}", ok.text().await);
        let signed_in = app.audit_records("sign_in").await;
        assert_eq!(signed_in[0]["details"]["after"]["failed_attempts_before"], 6);
    }

    async fn one_address_trying_many_names_is_limited_and_unknown_names_are_not_audited(app) {
        break_glass_owner(&app, "olive@contoso.example").await;
        let sprayer = client_from("127.0.0.4");
        for i in 0..21 {
            let res = try_break_glass(&app, &sprayer, &format!("nobody{i}@contoso.example"), "x").await;
            assert_eq!(res.status(), 401, "name {i}");
        }
        let limited = try_break_glass(&app, &sprayer, "olive@contoso.example", "x").await;
        assert_eq!(limited.status(), 429, "the address is limited whatever the name");
        let other = try_break_glass(&app, &client_from("127.0.0.5"), "nobody0@contoso.example", "x").await;
        assert_eq!(other.status(), 401, "another address is not");
        assert!(app.audit_records("sign_in_refused").await.is_empty(), "unknown names are anonymous noise");
    }

    async fn a_flood_of_break_glass_attempts_leaves_the_api_answering(app) {
        // Each attempt runs argon2 (debug build: long). Before, each held a pooled database
        // connection meanwhile, so a flood made every API request wait for one and fail (503).
        let flood: Vec<_> = (0..24)
            .map(|i| {
                let app = &app;
                async move {
                    let client = client_from(&format!("127.0.1.{}", i + 1));
                    try_break_glass(app, &client, &format!("flood{i}@contoso.example"), "wrong")
                        .await
                        .status()
                        .as_u16()
                }
            })
            .collect();
        let api = async {
            let mut statuses = Vec::new();
            for _ in 0..20 {
                statuses.push(app.get("/api/v2/users?limit=1").await.0);
            }
            statuses
        };
        let (attempts, api) = futures_util::future::join(futures_util::future::join_all(flood), api).await;
        assert!(api.iter().all(|s| *s == 200), "the API kept answering: {api:?}");
        assert!(attempts.iter().all(|s| *s == 401 || *s == 429), "{attempts:?}");
    }

    async fn junk_sign_in_callbacks_are_recorded_once_per_burst_and_then_limited(app) {
        let junk = client_from("127.0.0.6");
        let mut statuses = Vec::new();
        for i in 0..31 {
            let res = junk
                .get(app.url(&format!("/auth/oidc/callback?code=x{i}&state=y{i}&error_description=forged%0Aline")))
                .send()
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
        }
        assert!(statuses.iter().all(|s| (400..500).contains(s)), "{statuses:?}");
        let limited = junk.get(app.url("/auth/oidc/callback?code=x&state=y")).send().await.unwrap();
        assert_eq!(limited.status(), 429, "past the allowance the address waits");
        assert!(limited.headers().contains_key("retry-after"));
        let other = client_from("127.0.0.7").get(app.url("/auth/oidc/callback?code=x&state=y")).send().await.unwrap();
        assert!(other.status().is_client_error() && other.status() != 429, "another address is not limited");

        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), 2, "one record per address's burst: {refused:#?}");
        // Later, a new burst from the first address: its record counts the one before.
        app.clock.advance(chrono::Duration::minutes(11));
        junk.get(app.url("/auth/oidc/callback?code=z&state=z")).send().await.unwrap();
        let refused = app.audit_records("sign_in_refused").await;
        assert_eq!(refused.len(), 3, "{refused:#?}");
        assert_eq!(refused[0]["details"]["after"]["previous_burst"]["refusals"], 31, "{:#}", refused[0]);
        assert_eq!(metric(&app, "rota_sign_in_refusals_total{reason=\"not_configured\"}").await
            + metric(&app, "rota_sign_in_refusals_total{reason=\"expired_or_replayed\"}").await, 33.0);
    }

    async fn starting_logins_is_limited_per_address(app) {
        let client = client_from("127.0.0.8");
        let mut last = 0;
        for _ in 0..121 {
            last = client.get(app.url("/auth/oidc/login")).send().await.unwrap().status().as_u16();
        }
        assert_eq!(last, 429, "the 121st login from one address at once");
        assert!(app.audit_records("sign_in_refused").await.len() <= 1, "not one record per login");
    }

    async fn nul_characters_are_refused_where_they_enter_naming_the_field(app) {
        // REST: body, query, path.
        let (status, body) = app.post("/api/v2/users", json!({"user": {"name": "Nul\u{0}Name", "email": "nul@contoso.example"}})).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().starts_with("user.name contains a NUL"), "{body}");
        let (status, body) = app.get("/api/v2/users?query=a%00b").await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("query parameter query"), "{body}");
        let (status, body) = app.get("/api/v2/users/abc%00def").await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"].is_object(), "PagerDuty's error shape: {body}");

        // SCIM: attributes, filters, ids.
        let scim = app.scim();
        let (status, body) = scim.send_json(reqwest::Method::POST, "/Users", json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "nul@contoso.example", "displayName": "A\u{0}B",
        })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error");
        assert!(body["detail"].as_str().unwrap().starts_with("displayName contains a NUL"), "{body}");
        let (status, body) = scim.get("/Users?filter=userName%20eq%20%22a%00%22").await;
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("filter"), "{body}");
        let (status, _) = scim.get("/Users/x%00").await;
        assert_eq!(status, 400);

        // The unauthenticated break-glass form: an HTML page.
        let res = client_from("127.0.0.9")
            .post(app.url("/auth/break-glass"))
            .form(&[("csrf_token", "t"), ("username", "a\u{0}b"), ("password", "p")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(res.text().await.unwrap().contains("username contains a NUL"));

        // Nothing was stored.
        let (_, users) = app.get("/api/v2/users?query=nul").await;
        assert_eq!(users["users"], json!([]), "{users}");
    }

    async fn pages_carry_security_headers_and_head_works_where_get_does(app) {
        for path in ["/", "/auth/break-glass", "/nowhere"] {
            let res = app.http.get(app.url(path)).send().await.unwrap();
            let h = res.headers();
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(!csp.contains("unsafe-inline"), "{path}: no inline style or script: {csp}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "same-origin", "{path}");
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
        }
        let docs = app.http.get(app.url("/api/docs/")).send().await.unwrap();
        assert_eq!(docs.status(), 200);
        assert!(docs.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        assert_eq!(docs.headers()["x-frame-options"], "DENY");
        let css = app.http.get(app.url("/assets/rota.css")).send().await.unwrap();
        assert_eq!(css.status(), 200);
        assert_eq!(css.headers()["x-content-type-options"], "nosniff");
        for path in ["/", "/healthz", "/readyz"] {
            let res = app.http.head(app.url(path)).send().await.unwrap();
            assert_eq!(res.status(), 200, "HEAD {path}");
            assert!(res.headers().contains_key("content-type"), "HEAD {path}");
            assert_eq!(res.text().await.unwrap(), "", "HEAD {path} has no body");
        }
    }

    async fn rest_bodies_must_be_json(app) {
        let as_form = app
            .req(reqwest::Method::POST, "/api/v2/teams")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(r#"{"team": {"name": "Formed"}}"#);
        let (status, body) = support::send(as_form).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("Content-Type"), "{body}");
        let untyped = app
            .req(reqwest::Method::POST, "/api/v2/teams")
            .body(r#"{"team": {"name": "Untyped"}}"#);
        assert_eq!(support::send(untyped).await.0, 400);
        let team = app.team("Typed").await;
        let user = app.user("Member", "member@contoso.example").await;
        let put = app
            .req(reqwest::Method::PUT, &format!("/api/v2/teams/{team}/users/{user}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(r#"{"role": "manager"}"#);
        let (status, body) = support::send(put).await;
        assert_eq!(status, 400, "{body}");
        let (_, teams) = app.get("/api/v2/teams?query=formed").await;
        assert_eq!(teams["teams"], json!([]), "{teams}");
        let bare = app.req(reqwest::Method::PUT, &format!("/api/v2/teams/{team}/users/{user}"));
        assert_eq!(support::send(bare).await.0, 204, "no body at all is still fine");
    }
}
