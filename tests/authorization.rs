//! Each role can do on the REST API what it should and nothing more: every account role (as an
//! API token) and a team manager (a person, with a personal token) against every kind of
//! request, compared with an expected table written out here independently of the policies.
//! On SQLite and PostgreSQL.

mod support;

use reqwest::Method;
use rota::domain::role::Role;
use rota::domain::token::TokenKind;
use serde_json::{Value, json};
use support::TestApp;

/// What a caller tries, by name.
const REQUESTS: [&str; 16] = [
    "list users",
    "read a user",
    "create a user",
    "edit a responder",
    "edit an owner",
    "make a responder admin",
    "make a responder owner",
    "delete a responder",
    "create a team",
    "edit the managed team",
    "edit another team",
    "add to the managed team",
    "delete a team",
    "read the audit trail",
    "read a responder's sessions",
    "end a responder's sessions",
];

/// Who may, per caller. Everything not listed is refused with 403.
fn allowed(caller: &str) -> Vec<&'static str> {
    let reads = vec!["list users", "read a user"];
    let admin = [
        "create a user",
        "edit a responder",
        "make a responder admin",
        "delete a responder",
        "create a team",
        "edit the managed team",
        "edit another team",
        "add to the managed team",
        "delete a team",
        "read the audit trail",
        "read a responder's sessions",
        "end a responder's sessions",
    ];
    match caller {
        "owner" => REQUESTS.to_vec(),
        "admin" => [reads, admin.to_vec()].concat(),
        "manager" => [
            reads,
            vec!["edit the managed team", "add to the managed team"],
        ]
        .concat(),
        // Responders, licence owners and every read-only role: reading only, on these routes.
        _ => reads,
    }
}

struct Fixture {
    responder: String,
    owner: String,
    managed_team: String,
    other_team: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let responder = app.user("Rita Responder", "rita@example.com").await;
    let owner = app.user("Otto Owner", "otto@example.com").await;
    let (status, body) = app
        .put(
            &format!("/api/v2/users/{owner}"),
            json!({"user": {"role": "owner"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    Fixture {
        responder,
        owner,
        managed_team: app.team("Managed").await,
        other_team: app.team("Other").await,
    }
}

/// Sends the named request as `token`; returns the status.
async fn attempt(app: &TestApp, token: &str, what: &str, f: &Fixture, n: usize) -> u16 {
    let (method, path, body): (Method, String, Option<Value>) = match what {
        "list users" => (Method::GET, "/api/v2/users".into(), None),
        "read a user" => (Method::GET, format!("/api/v2/users/{}", f.responder), None),
        "create a user" => (
            Method::POST,
            "/api/v2/users".into(),
            Some(
                json!({"user": {"name": format!("New {n}"), "email": format!("new{n}@example.com")}}),
            ),
        ),
        "edit a responder" => (
            Method::PUT,
            format!("/api/v2/users/{}", f.responder),
            Some(json!({"user": {"job_title": format!("title {n}")}})),
        ),
        "edit an owner" => (
            Method::PUT,
            format!("/api/v2/users/{}", f.owner),
            Some(json!({"user": {"job_title": format!("title {n}")}})),
        ),
        "make a responder admin" | "make a responder owner" => {
            // A fresh responder each time, so one grant does not change the next attempt.
            let victim = app
                .user(&format!("Grantee {n}"), &format!("grantee{n}@example.com"))
                .await;
            let role = if what.ends_with("admin") {
                "admin"
            } else {
                "owner"
            };
            (
                Method::PUT,
                format!("/api/v2/users/{victim}"),
                Some(json!({"user": {"role": role}})),
            )
        }
        "delete a responder" => {
            let victim = app
                .user(&format!("Victim {n}"), &format!("victim{n}@example.com"))
                .await;
            (Method::DELETE, format!("/api/v2/users/{victim}"), None)
        }
        "create a team" => (
            Method::POST,
            "/api/v2/teams".into(),
            Some(json!({"team": {"name": format!("Team {n}")}})),
        ),
        "edit the managed team" => (
            Method::PUT,
            format!("/api/v2/teams/{}", f.managed_team),
            Some(json!({"team": {"description": format!("d {n}")}})),
        ),
        "edit another team" => (
            Method::PUT,
            format!("/api/v2/teams/{}", f.other_team),
            Some(json!({"team": {"description": format!("d {n}")}})),
        ),
        "add to the managed team" => (
            Method::PUT,
            format!("/api/v2/teams/{}/users/{}", f.managed_team, f.responder),
            Some(json!({"role": "responder"})),
        ),
        "delete a team" => {
            let doomed = app.team(&format!("Doomed {n}")).await;
            (Method::DELETE, format!("/api/v2/teams/{doomed}"), None)
        }
        "read the audit trail" => (Method::GET, "/api/v2/audit/records".into(), None),
        "read a responder's sessions" => (
            Method::GET,
            format!("/api/v2/users/{}/sessions", f.responder),
            None,
        ),
        "end a responder's sessions" => (
            Method::DELETE,
            format!("/api/v2/users/{}/sessions", f.responder),
            None,
        ),
        other => panic!("unknown request {other}"),
    };
    let mut req = app.as_token(token, method, &path);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let (status, body) = support::send(req).await;
    assert!(
        status < 300 || status == 403,
        "{what} as this caller answered {status}: {body}"
    );
    status
}

on_both_backends! {
    async fn every_role_can_do_what_it_should_and_nothing_more(app) {
        let f = fixture(&app).await;
        let mut callers: Vec<(String, String)> = Role::ALL
            .iter()
            .map(|role| (role.as_str().to_string(), app.issue_token(TokenKind::Api, &format!("as {}", role.as_str()), Some(*role))))
            .collect();
        // A responder who manages one team, calling with a personal token.
        let manager = app.user("Mia Manager", "mia@example.com").await;
        let (status, _) = app.put(&format!("/api/v2/teams/{}/users/{manager}", f.managed_team), json!({"role": "manager"})).await;
        assert_eq!(status, 204);
        callers.push(("manager".into(), app.personal_token(&manager)));

        let mut n = 0;
        let mut wrong = Vec::new();
        for (caller, token) in &callers {
            let expected = allowed(caller);
            for what in REQUESTS {
                n += 1;
                let status = attempt(&app, token, what, &f, n).await;
                let permitted = status < 300;
                if permitted != expected.contains(&what) {
                    wrong.push(format!("{caller} / {what}: answered {status}"));
                }
            }
        }
        assert!(wrong.is_empty(), "not as the table says:\n{}", wrong.join("\n"));
    }

    async fn the_sign_in_name_is_set_by_owners_and_admins_for_others_and_never_by_oneself(app) {
        let sam = app.user("Sam Self", "sam@example.com").await;
        let token = app.personal_token(&sam);
        let put = |token: &str, id: &str, user: Value| {
            support::send(app.as_token(token, Method::PUT, &format!("/api/v2/users/{id}")).json(&json!({"user": user})))
        };
        // Changing one's own e-mail only changes where mail goes.
        let (status, body) = put(&token, &sam, json!({"email": "sam.new@example.com"})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["email"], "sam.new@example.com");
        assert_eq!(body["user"]["user_name"], "sam@example.com", "{body}");
        assert_eq!(body["user"]["user_name_source"], "admin", "made by an owner");
        let (status, body) = put(&token, &sam, json!({"user_name": "sam.new@example.com"})).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("sign-in name comes from Microsoft Entra ID"), "{body}");
        // Not even an admin sets their own.
        let ada = app.user("Ada Admin", "ada@example.com").await;
        assert_eq!(app.put(&format!("/api/v2/users/{ada}"), json!({"user": {"role": "admin"}})).await.0, 200);
        let admin = app.personal_token(&ada);
        let (status, body) = put(&admin, &ada, json!({"user_name": "owner@example.com"})).await;
        assert_eq!(status, 403, "{body}");
        // An admin sets (and so vouches for) someone else's; a bad one is a 400.
        let (status, body) = put(&admin, &sam, json!({"user_name": "sam.new@example.com"})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["user_name"], "sam.new@example.com");
        assert_eq!(body["user"]["user_name_source"], "admin");
        let (status, body) = put(&admin, &sam, json!({"user_name": "sam\u{202E}@example.com"})).await;
        assert_eq!(status, 400, "{body}");
        // An admin changing the e-mail a user made here signs in with moves both together.
        let (status, body) = put(&admin, &sam, json!({"email": "s@example.com"})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["user_name"], "s@example.com");
        let records = app.audit_records("update").await;
        assert_eq!(records[0]["details"]["after"]["user_name_source"], "admin", "{:?}", records[0]);
    }

    async fn people_edit_their_own_profile_but_not_their_own_role(app) {
        let me = app.user("Sam Self", "sam@example.com").await;
        let token = app.personal_token(&me);
        let (status, body) = support::send(app.as_token(&token, Method::PUT, &format!("/api/v2/users/{me}")).json(&json!({"user": {"job_title": "SRE"}}))).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = support::send(app.as_token(&token, Method::PUT, &format!("/api/v2/users/{me}")).json(&json!({"user": {"role": "admin"}}))).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("may not give this user the role admin"), "{body}");
        let (status, _) = support::send(app.as_token(&token, Method::GET, &format!("/api/v2/users/{me}/sessions"))).await;
        assert_eq!(status, 200, "their own sessions");
        let (status, _) = support::send(app.as_token(&token, Method::DELETE, &format!("/api/v2/users/{me}/sessions"))).await;
        assert_eq!(status, 204);
        // A read-only person edits their own profile too, and nobody else's.
        let (status, _) = app.put(&format!("/api/v2/users/{me}"), json!({"user": {"role": "read_only_user"}})).await;
        assert_eq!(status, 200);
        let (status, _) = support::send(app.as_token(&token, Method::PUT, &format!("/api/v2/users/{me}")).json(&json!({"user": {"job_title": "Watcher"}}))).await;
        assert_eq!(status, 200);
        let other = app.user("Other Person", "other@example.com").await;
        let (status, _) = support::send(app.as_token(&token, Method::PUT, &format!("/api/v2/users/{other}")).json(&json!({"user": {"job_title": "x"}}))).await;
        assert_eq!(status, 403);
    }
}
