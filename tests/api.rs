//! The REST API end to end over HTTP, on SQLite and PostgreSQL: authentication, PagerDuty
//! shapes and errors, users, teams, membership, pagination, the audit trail.

mod support;

use reqwest::Method;
use rota::domain::role::Role;
use rota::domain::token::TokenKind;
use serde_json::{Value, json};
use support::send;

fn assert_pd_error(body: &Value, code: u64, needle: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    let detail = body["error"]["errors"][0].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "expected {needle:?} in {body}");
}

on_both_backends! {
    async fn probes_answer(app) {
        let (status, body) = app.anonymous().get("/healthz").await;
        assert_eq!((status, body), (200, json!({"status": "ok"})));
        let (status, body) = app.anonymous().get("/readyz").await;
        assert_eq!((status, body), (200, json!({"status": "ready"})));
        app.get("/api/v2/users").await;
        let (status, text) = app.anonymous().get("/metrics").await;
        assert_eq!(status, 200);
        let text = text.as_str().unwrap();
        assert!(text.contains(r#"rota_http_requests_total{method="GET",route="/api/v2/users",status="200"} 1"#), "{text}");
        assert!(text.contains("rota_http_request_duration_seconds_bucket"), "{text}");
        assert!(text.contains(r#"rota_db_pool_connections{state="max"} 4"#), "{text}");
    }

    async fn readyz_reports_pending_migrations(app) {
        {
            let mut conn = app.db.get().unwrap();
            use diesel_migrations::MigrationHarness;
            match &mut *conn {
                rota::store::DbConnection::Sqlite(c) => { c.revert_last_migration(rota::store::SQLITE_MIGRATIONS).unwrap(); }
                rota::store::DbConnection::Postgres(c) => { c.revert_last_migration(rota::store::POSTGRES_MIGRATIONS).unwrap(); }
            }
        }
        let (status, body) = app.anonymous().get("/readyz").await;
        assert_eq!(status, 503, "{body}");
        assert!(body["reason"].as_str().unwrap().contains("rota migrate"), "{body}");
    }

    async fn every_response_carries_a_request_id(app) {
        let res = app.http.get(app.url("/healthz")).header("X-Request-Id", "abc-123").send().await.unwrap();
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        let res = app.http.get(app.url("/healthz")).header("X-Request-Id", "bad id <script>").send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(id, "bad id <script>");
        assert_eq!(id.len(), 36);
    }

    async fn missing_malformed_wrong_and_revoked_tokens_are_refused(app) {
        let res = app.http.get(app.url("/api/v2/users")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("Bearer"));
        assert_pd_error(&res.json().await.unwrap(), 2006, "no API token");

        for header in ["Basic dXNlcjpwYXNz", "Token abc", "Bearer", "Token token=\"a b\""] {
            let (status, body) = send(app.http.get(app.url("/api/v2/users")).header("Authorization", header)).await;
            assert_eq!(status, 401, "{header}");
            assert_pd_error(&body, 2006, "malformed");
        }

        let (status, body) = send(app.as_token("rota_api_0000", Method::GET, "/api/v2/users")).await;
        assert_eq!(status, 401);
        assert_pd_error(&body, 2006, "not valid");

        let scim = app.issue_token(TokenKind::Scim, "entra", None);
        let (status, body) = send(app.as_token(&scim, Method::GET, "/api/v2/users")).await;
        assert_eq!(status, 401);
        assert_pd_error(&body, 2006, "scim token");

        let temp = app.issue_token(TokenKind::Api, "temp", Some(Role::Admin));
        let (status, _) = send(app.as_token(&temp, Method::GET, "/api/v2/users")).await;
        assert_eq!(status, 200);
        let ctx = rota::store::audit::AuditContext {
            actor: rota::domain::audit::Actor { kind: rota::domain::audit::ActorKind::Cli, id: None, name: "t".into() },
            request_id: None,
            at: chrono::Utc::now(),
        };
        rota::store::tokens::revoke_audited(&mut app.db.get().unwrap(), &ctx, rota::store::tokens::Which::Named("temp")).unwrap();
        let (status, _) = send(app.http.get(app.url("/api/v2/users")).header("Authorization", format!("Bearer {temp}"))).await;
        assert_eq!(status, 401);
    }

    async fn read_only_roles_can_read_but_not_write(app) {
        let observer = app.api_as(Role::ReadOnlyUser);
        let (status, _) = observer.get("/api/v2/users").await;
        assert_eq!(status, 200);
        let (status, body) = observer.post("/api/v2/users", json!({"user": {"name": "X", "email": "x@example.com"}})).await;
        assert_eq!(status, 403);
        assert_pd_error(&body, 2010, "read_only_user");
        let (status, body) = observer.get("/api/v2/audit/records").await;
        assert_eq!(status, 403, "{body}");

        let admin = app.api_as(Role::Admin);
        let (status, body) = admin.post("/api/v2/users", json!({"user": {"name": "Boss", "email": "boss@example.com", "role": "owner"}})).await;
        assert_eq!(status, 403, "only owners make owners: {body}");
    }

    async fn users_are_created_read_updated_and_deleted(app) {
        let (status, body) = app.post("/api/v2/users", json!({"user": {"type": "user", "name": " Ada Lovelace ", "email": "Ada@Example.com", "time_zone": "Asia/Tokyo", "role": "limited_user", "job_title": "Engineer"}})).await;
        assert_eq!(status, 201, "{body}");
        let user = &body["user"];
        let id = user["id"].as_str().unwrap();
        assert_eq!(user["type"], "user");
        assert_eq!(user["name"], "Ada Lovelace");
        assert_eq!(user["summary"], "Ada Lovelace");
        assert_eq!(user["self"], app.url(&format!("/api/v2/users/{id}")));
        assert_eq!(user["role"], "limited_user");
        assert_eq!(user["time_zone"], "Asia/Tokyo");
        assert_eq!(user["contact_methods"][0]["type"], "email_contact_method_reference");

        let (status, body) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["user"]["email"], "Ada@Example.com");

        let (status, body) = app.put(&format!("/api/v2/users/{id}"), json!({"user": {"name": "Ada King", "email": "ada.king@example.com", "job_title": ""}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["name"], "Ada King");
        assert_eq!(body["user"]["user_name"], "ada.king@example.com");
        assert_eq!(body["user"]["job_title"], Value::Null);
        assert_eq!(body["user"]["role"], "limited_user");

        let (status, _) = app.delete(&format!("/api/v2/users/{id}")).await;
        assert_eq!(status, 204);
        let (status, body) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(status, 404);
        assert_pd_error(&body, 2100, id);
        let (status, _) = app.delete(&format!("/api/v2/users/{id}")).await;
        assert_eq!(status, 404);
    }

    async fn bad_user_input_is_a_400_that_says_what_to_fix(app) {
        let cases = [
            (json!({"user": {"name": "", "email": "a@example.com"}}), "name can't be blank"),
            (json!({"user": {"name": "A", "email": "not-mail"}}), "email 'not-mail' is not a valid"),
            (json!({"user": {"name": "A", "email": "a@example.com", "time_zone": "Mars/Base"}}), "time_zone 'Mars/Base'"),
            (json!({"user": {"name": "A", "email": "a@example.com", "role": "god"}}), "role is 'god'"),
            (json!({"name": "A", "email": "a@example.com"}), "missing field `user`"),
            (json!({"user": {"name": 5, "email": "a@example.com"}}), "invalid type"),
        ];
        for (body, needle) in cases {
            let (status, res) = app.post("/api/v2/users", body.clone()).await;
            assert_eq!(status, 400, "{body} -> {res}");
            assert_pd_error(&res, 2001, needle);
        }
        let (status, res) = send(app.req(Method::POST, "/api/v2/users").header("Content-Type", "application/json").body("{not json")).await;
        assert_eq!(status, 400);
        assert_pd_error(&res, 2001, "request body");
        let (status, res) = app.get("/api/v2/users?limit=abc").await;
        assert_eq!(status, 400);
        assert_pd_error(&res, 2001, "limit must be a whole number");
        let (total, _) = app.get("/api/v2/users?total=true").await;
        assert_eq!(total, 200);
    }

    async fn names_with_control_characters_or_bidi_overrides_are_refused(app) {
        // The same rule for names as sign-in and SCIM apply.
        for bad in ["Eve\u{202E}nimdA", "Eve\nforged line", "\u{1b}[31mEve", "Eve\u{2066}x", "Eve\u{85}x"] {
            let (status, res) = app.post("/api/v2/users", json!({"user": {"name": bad, "email": "eve@example.com"}})).await;
            assert_eq!(status, 400, "{bad:?} -> {res}");
            assert_pd_error(&res, 2001, "name must not contain");
            let (status, res) = app.post("/api/v2/teams", json!({"team": {"name": bad}})).await;
            assert_eq!(status, 400, "{bad:?} -> {res}");
            assert_pd_error(&res, 2001, "name must not contain");
        }
        let ada = app.user("Ada", "ada@example.com").await;
        let (status, res) = app.put(&format!("/api/v2/users/{ada}"), json!({"user": {"name": "Ada\u{202D}"}})).await;
        assert_eq!(status, 400, "{res}");
        assert_pd_error(&res, 2001, "U+202D");
    }

    async fn duplicate_email_is_refused_and_nothing_changes(app) {
        app.user("Ada", "ada@example.com").await;
        let bob = app.user("Bob", "bob@example.com").await;
        let (status, body) = app.post("/api/v2/users", json!({"user": {"name": "Ada 2", "email": "ADA@example.com"}})).await;
        assert_eq!(status, 400);
        assert_pd_error(&body, 2001, "already taken");
        let (status, body) = app.put(&format!("/api/v2/users/{bob}"), json!({"user": {"name": "Bobby", "email": "ada@example.com"}})).await;
        assert_eq!(status, 400, "{body}");
        let (_, body) = app.get(&format!("/api/v2/users/{bob}")).await;
        assert_eq!(body["user"]["name"], "Bob", "a refused update changes nothing");
        let (_, audit) = app.get(&format!("/api/v2/users/{bob}/audit/records")).await;
        let actions: Vec<&str> = audit["records"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["allocate_seat", "create"], "only the create and its seat are recorded: {audit}");
    }

    async fn a_write_based_on_a_stale_read_is_refused_not_lost(app) {
        let id = app.user("Ada", "ada@example.com").await;
        let mut conn = app.db.get().unwrap();
        let read = rota::store::users::find(&mut conn, &rota::domain::ids::UserId(id.clone())).unwrap();
        let (mut first, mut second) = (read.clone(), read);
        first.name = "First".into();
        first.version += 1;
        second.name = "Second".into();
        second.version += 1;
        rota::store::users::update(&mut conn, &first).unwrap();
        let err = rota::store::users::update(&mut conn, &second).unwrap_err();
        assert!(err.message().contains("changed by another request"), "{err}");
        drop(conn);
        let (_, body) = app.get(&format!("/api/v2/users/{id}")).await;
        assert_eq!(body["user"]["name"], "First");
    }

    async fn users_page_with_offset_limit_more_and_total(app) {
        for i in 0..7 {
            app.user(&format!("User {i:02}"), &format!("u{i}@example.com")).await;
        }
        let (_, page) = app.get("/api/v2/users?limit=3&offset=0").await;
        assert_eq!(page["users"].as_array().unwrap().len(), 3);
        assert_eq!((page["offset"].clone(), page["limit"].clone(), page["more"].clone(), page["total"].clone()), (json!(0), json!(3), json!(true), Value::Null));
        assert_eq!(page["users"][0]["name"], "User 00");
        let (_, page) = app.get("/api/v2/users?limit=3&offset=6&total=true").await;
        assert_eq!(page["users"].as_array().unwrap().len(), 1);
        assert_eq!(page["more"], false);
        assert_eq!(page["total"], 7);
        let (_, page) = app.get("/api/v2/users?limit=500").await;
        assert_eq!(page["limit"], 100);
        let (status, body) = app.get("/api/v2/users?offset=-1").await;
        assert_eq!(status, 400);
        assert_pd_error(&body, 2001, "offset");
        let (_, page) = app.get("/api/v2/users?query=USER%200&total=true").await;
        assert_eq!(page["total"], 7);
        let (_, page) = app.get("/api/v2/users?query=u3%40&total=true").await;
        assert_eq!(page["total"], 1);
        let (_, page) = app.get("/api/v2/users?query=%25&total=true").await;
        assert_eq!(page["total"], 0, "LIKE wildcards are matched literally");
    }

    async fn teams_and_membership(app) {
        let ada = app.user("Ada", "ada@example.com").await;
        let bob = app.user("Bob", "bob@example.com").await;
        let sre = app.team("SRE").await;
        let (status, body) = app.post("/api/v2/teams", json!({"team": {"name": "sre"}})).await;
        assert_eq!(status, 400, "team names are unique regardless of case");
        assert_pd_error(&body, 2001, "already taken");

        let (status, _) = app.put(&format!("/api/v2/teams/{sre}/users/{ada}"), json!({"role": "manager"})).await;
        assert_eq!(status, 204);
        let (status, _) = send(app.req(Method::PUT, &format!("/api/v2/teams/{sre}/users/{bob}"))).await;
        assert_eq!(status, 204, "the role is optional");
        let (status, body) = app.put(&format!("/api/v2/teams/{sre}/users/{bob}"), json!({"role": "boss"})).await;
        assert_eq!(status, 400);
        assert_pd_error(&body, 2001, "role is 'boss'");

        let (_, members) = app.get(&format!("/api/v2/teams/{sre}/members?total=true")).await;
        assert_eq!(members["total"], 2);
        assert_eq!(members["members"][0]["user"]["id"], ada.as_str());
        assert_eq!(members["members"][0]["role"], "manager");
        assert_eq!(members["members"][1]["role"], "responder");

        let (_, user) = app.get(&format!("/api/v2/users/{ada}")).await;
        assert_eq!(user["user"]["teams"][0]["id"], sre.as_str());
        assert_eq!(user["user"]["teams"][0]["type"], "team_reference");

        let (_, page) = app.get(&format!("/api/v2/users?team_ids[]={sre}&total=true")).await;
        assert_eq!(page["total"], 2);

        let (status, _) = app.delete(&format!("/api/v2/teams/{sre}/users/{bob}")).await;
        assert_eq!(status, 204);
        let (status, _) = app.delete(&format!("/api/v2/teams/{sre}/users/{bob}")).await;
        assert_eq!(status, 404);

        let (status, body) = app.put(&format!("/api/v2/teams/{sre}"), json!({"team": {"name": "Site Reliability", "description": "On call for prod"}})).await;
        assert_eq!(status, 200);
        assert_eq!(body["team"]["summary"], "Site Reliability");
        let (_, list) = app.get("/api/v2/teams?query=reliab").await;
        assert_eq!(list["teams"].as_array().unwrap().len(), 1);

        let (status, _) = app.delete(&format!("/api/v2/users/{ada}")).await;
        assert_eq!(status, 204);
        let (_, members) = app.get(&format!("/api/v2/teams/{sre}/members?total=true")).await;
        assert_eq!(members["total"], 0, "a deleted user leaves their teams");
        let (status, _) = app.delete(&format!("/api/v2/teams/{sre}")).await;
        assert_eq!(status, 204);
        let (status, _) = app.get(&format!("/api/v2/teams/{sre}")).await;
        assert_eq!(status, 404);
    }

    async fn audit_trail_records_and_filters_changes(app) {
        let ada = app.user("Ada", "ada@example.com").await;
        app.clock.advance(chrono::Duration::minutes(5));
        app.put(&format!("/api/v2/users/{ada}"), json!({"user": {"name": "Ada L"}})).await;
        let team = app.team("Ops").await;
        app.put(&format!("/api/v2/teams/{team}/users/{ada}"), json!({})).await;
        app.put(&format!("/api/v2/users/{ada}"), json!({"user": {"name": "Ada L"}})).await; // no change, no record

        let (status, all) = app.get("/api/v2/audit/records").await;
        assert_eq!(status, 200);
        let records = all["records"].as_array().unwrap();
        let actions: Vec<_> = records.iter().map(|r| r["action"].as_str().unwrap()).collect();
        // newest first; the owner token's own creation (by the CLI) is the oldest
        assert_eq!(actions, ["add_member", "create", "update", "allocate_seat", "create", "create"]);
        let update = &records[2];
        assert_eq!(update["root_resource"]["id"], ada.as_str());
        assert_eq!(update["actors"][0]["summary"], "owner");
        assert_eq!(update["method"]["type"], "api_token");
        assert!(update["execution_context"]["request_id"].is_string());
        let fields: Vec<_> = update["details"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert!(fields.contains(&"name") && fields.contains(&"version"), "{fields:?}");
        assert!(!fields.contains(&"email"));

        let (_, page) = app.get("/api/v2/audit/records?root_resource_types[]=teams").await;
        assert_eq!(page["records"].as_array().unwrap().len(), 2);
        let (_, page) = app.get("/api/v2/audit/records?actions[]=update").await;
        assert_eq!(page["records"].as_array().unwrap().len(), 1);
        let (_, page) = app.get("/api/v2/audit/records?actor_type=cli").await;
        assert_eq!(page["records"].as_array().unwrap().len(), 1);
        let (_, page) = app.get("/api/v2/audit/records?since=2026-01-05T09:01:00Z").await;
        assert_eq!(page["records"].as_array().unwrap().len(), 3, "{page}");
        let (_, page) = app.get("/api/v2/audit/records?until=2026-01-05T09:01:00Z&actor_type=api_token").await;
        assert_eq!(page["records"].as_array().unwrap().len(), 2, "the create and its seat");
        let (status, body) = app.get("/api/v2/audit/records?since=yesterday").await;
        assert_eq!(status, 400);
        assert_pd_error(&body, 2001, "since must be an ISO 8601 time");

        // cursor pagination visits every record once, in order
        let mut seen = Vec::new();
        let mut path = "/api/v2/audit/records?limit=2".to_string();
        loop {
            let (_, page) = app.get(&path).await;
            seen.extend(page["records"].as_array().unwrap().iter().map(|r| r["id"].clone()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v2/audit/records?limit=2&cursor={c}"),
                None => break,
            }
        }
        let ids: Vec<_> = records.iter().map(|r| r["id"].clone()).collect();
        assert_eq!(seen, ids);
        let (status, _) = app.get("/api/v2/audit/records?cursor=garbage").await;
        assert_eq!(status, 400);
    }

    async fn protocol_errors_are_rendered_in_the_right_format(app) {
        let big = "x".repeat(rota::http::MAX_BODY_BYTES + 10);
        let (status, body) = send(app.req(Method::POST, "/api/v2/users").header("Content-Type", "application/json").body(format!("{{\"user\":{{\"name\":\"{big}\"}}}}"))).await;
        assert_eq!(status, 413);
        assert_pd_error(&body, 2001, "limit");

        let (status, body) = send(app.req(Method::PUT, "/api/v2/teams/x/users/y").body(format!("{{\"role\":\"{big}\"}}"))).await;
        assert_eq!(status, 413);
        assert_pd_error(&body, 2001, "limit");

        let (status, body) = app.get("/api/v2/nothing-here").await;
        assert_eq!(status, 404);
        assert_pd_error(&body, 2100, "GET /api/v2/nothing-here");

        let (status, body) = send(app.req(Method::PATCH, "/api/v2/users")).await;
        assert_eq!(status, 405);
        assert_eq!(body["error"]["message"], "Method Not Allowed");

        let res = app.http.get(app.url("/no/such/page")).send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(res.text().await.unwrap().contains("Page not found"));
    }
}

#[actix_web::test]
async fn openapi_document_is_stable() {
    let app = support::TestApp::sqlite().await;
    let (status, doc) = app.anonymous().get("/api/v2/openapi.json").await;
    assert_eq!(status, 200);
    insta::assert_json_snapshot!("openapi", doc);
    let res = app.http.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text().await.unwrap().contains("swagger"),
        "Swagger UI is served from the binary"
    );
}

/// Ends every connection of the app's PostgreSQL database, as a restart or a failover does,
/// and waits until the backends are gone. Returns the pool's size.
fn end_every_connection(app: &support::TestApp) -> u32 {
    use diesel::RunQueryDsl;
    let support::TestDatabase::Postgres { name, .. } = &app.database else {
        unreachable!()
    };
    let (_, _, pool_size) = app.db.pool_state();
    // Every pooled connection open and idle.
    let held: Vec<_> = (0..pool_size).map(|_| app.db.get().unwrap()).collect();
    drop(held);
    assert_eq!(app.db.pool_state().0, pool_size);

    let mut admin = rota::store::establish_postgres(&support::postgres_admin_url()).unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ))
    .execute(&mut admin)
    .unwrap();
    // Wait (on the server, with a deadline) until the backends are gone.
    #[derive(diesel::QueryableByName)]
    struct Left {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left: Left = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .get_result(&mut admin)
        .unwrap();
        if left.n == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "backends still alive");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    pool_size
}

/// A read or a write after PostgreSQL ended the connections: its status.
async fn after(app: &support::TestApp, i: u32) -> (u16, Value) {
    if i.is_multiple_of(2) {
        app.get("/api/v2/users").await
    } else {
        app.post(
            "/api/v2/users",
            json!({"user": {"name": format!("After {i}"), "email": format!("after{i}@example.com")}}),
        )
        .await
    }
}

/// PostgreSQL ends every connection of the server (a restart or a failover does that): the
/// next requests are all answered, none with 503, though every pooled connection is dead.
#[actix_web::test]
async fn requests_after_postgresql_ended_every_connection_all_succeed() {
    let app = support::TestApp::postgres().await;
    let pool_size = end_every_connection(&app);
    // A connection given back moments ago is trusted untested (`store::TRUSTED_FOR`); a
    // server that ended its connections is not back that soon.
    std::thread::sleep(rota::store::TRUSTED_FOR * 2);
    for i in 0..pool_size * 2 {
        let (status, body) = after(&app, i).await;
        assert!(
            status == 200 || status == 201,
            "request {i}: {status} {body}"
        );
    }
}

/// Connections die while still trusted (given back moments before): each fails at most the
/// one request it is handed, is tested before its next use, and is replaced, so the service
/// recovers at once rather than handing the same dead connections out again and again.
#[actix_web::test]
async fn connections_that_died_while_trusted_fail_once_each_then_are_replaced() {
    let app = support::TestApp::postgres().await;
    let pool_size = end_every_connection(&app);
    let mut failed = 0;
    for i in 0..pool_size * 3 {
        let (status, body) = after(&app, i).await;
        if status == 200 || status == 201 {
            continue;
        }
        failed += 1;
        assert!(
            i < pool_size * 2,
            "request {i} still failed: {status} {body}"
        );
    }
    assert!(
        failed <= pool_size,
        "{failed} requests failed with a pool of {pool_size}"
    );
}
