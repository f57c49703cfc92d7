//! Typed columns (`store::column`): a stored value that does not parse as its column's type is
//! one clear error wherever it is read. Each case writes a bad value by raw SQL and reads it
//! through every path that loads it (REST, SCIM, a caller authenticating, the seat listings):
//! each answers the protocol's usual 500 with a request id, and the log line of that request
//! names the column and the value.

mod support;

use diesel::connection::SimpleConnection;
use rota::domain::role::Role;
use rota::domain::token::TokenKind;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, OnceLock};
use support::TestApp;
use support::scim::Scim;

/// Everything logged in this test binary (both backends' apps log here).
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("warn,rota=info")
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one logger per binary");
        buffer
    })
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The logged lines of the request `request_id`.
fn logged(request_id: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(&log().lock().unwrap()).to_string();
    text.lines()
        .filter(|l| l.contains(request_id))
        .map(str::to_string)
        .collect()
}

fn sql(app: &TestApp, statement: &str) {
    app.db
        .get()
        .unwrap()
        .batch_execute(statement)
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// Sends `req` and checks it fails as an internal error should in its protocol, with a request
/// id whose log line is `described`.
async fn fails_naming(what: &str, req: reqwest::RequestBuilder, described: &str) {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let request_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
    let scim = res
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").contains("scim"));
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 500, "{what}: {body}");
    let message = if scim {
        assert_eq!(body["status"], "500", "{what}: {body}");
        body["detail"].as_str().unwrap_or("").to_string()
    } else {
        assert_eq!(body["error"]["code"], 2000, "{what}: {body}");
        body["error"]["errors"][0]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert!(message.contains("request id"), "{what}: {body}");
    assert!(
        !message.contains(described),
        "{what}: the cause is the log's, not the caller's: {body}"
    );
    let lines = logged(&request_id);
    assert!(
        lines.iter().any(|l| l.contains(described)),
        "{what}: the log of {request_id} does not say \"{described}\": {lines:#?}"
    );
}

/// The paths that read a user's row, with the user's personal token as a caller.
/// The REST listing reads only the columns it shows (not the SCIM ones): `listed` says
/// whether it reads this one.
async fn user_paths(
    app: &TestApp,
    scim: &Scim<'_>,
    id: &str,
    personal: &str,
    listed: bool,
    described: &str,
) {
    let get = reqwest::Method::GET;
    fails_naming(
        "REST GET user",
        app.req(get.clone(), &format!("/api/v2/users/{id}")),
        described,
    )
    .await;
    if listed {
        fails_naming(
            "REST list users",
            app.req(get.clone(), "/api/v2/users"),
            described,
        )
        .await;
    }
    fails_naming(
        "SCIM GET user",
        scim.req(get.clone(), &format!("/Users/{id}")),
        described,
    )
    .await;
    fails_naming(
        "SCIM list users",
        scim.req(get.clone(), "/Users"),
        described,
    )
    .await;
    fails_naming(
        "the user as a caller",
        app.as_token(personal, get.clone(), "/api/v2/users/me"),
        described,
    )
    .await;
}

on_both_backends! {
    async fn a_bad_stored_value_is_one_clear_error_on_every_path(app) {
        log();
        let scim = Scim::new(&app);
        let get = reqwest::Method::GET;
        // A person with a seat, a team and a contact method, and a personal token.
        let id = app.user("Ada", "ada@example.com").await;
        let team = app.team("Ops").await;
        let personal = app.personal_token(&id);
        let (status, body) = app.get("/api/v2/license_allocations").await;
        assert_eq!(status, 200, "{body}");

        let user_cases: &[(&str, &str, &str)] = &[
            ("role", "'boss'", "users.role holds 'boss', not a role"),
            ("licence", "'gold'", "users.licence holds 'gold', not a licence"),
            ("provisioned_by", "'martians'", "users.provisioned_by holds 'martians', not a provisioner"),
            ("user_name_source", "'rumour'", "users.user_name_source holds 'rumour', not a user name source"),
            ("app_roles", "'{\"a\": 1}'", "users.app_roles holds '{\"a\": 1}', not JSON of its shape"),
            ("addresses", "'not json'", "users.addresses holds 'not json', not JSON of its shape"),
            ("scim_roles", "'[1'", "users.scim_roles holds '[1', not JSON of its shape"),
            ("scim_document", "'[]'", "users.scim_document holds '[]', not JSON of its shape"),
        ];
        for (column, bad, described) in user_cases {
            let good: String = {
                let mut conn = app.db.get().unwrap();
                let user = rota::store::users::find(&mut conn, &rota::domain::ids::UserId(id.clone())).unwrap();
                let v = serde_json::to_value(&user).unwrap();
                match &v[*column] {
                    Value::Null => "NULL".into(),
                    Value::String(s) => format!("'{}'", s.replace('\'', "''")),
                    other => panic!("{column}: {other}"),
                }
            };
            sql(&app, &format!("UPDATE users SET {column} = {bad} WHERE id = '{id}'"));
            let listed = !["app_roles", "addresses", "scim_roles", "scim_document"].contains(column);
            user_paths(&app, &scim, &id, &personal, listed, described).await;
            if *column == "role" || *column == "licence" {
                fails_naming("seat listing", app.req(get.clone(), "/api/v2/license_allocations"), described).await;
                fails_naming("seat CSV", app.req(get.clone(), "/api/v2/license_allocations.csv"), described).await;
            }
            sql(&app, &format!("UPDATE users SET {column} = {good} WHERE id = '{id}'"));
            let (status, body) = app.get(&format!("/api/v2/users/{id}")).await;
            assert_eq!(status, 200, "{column} restored: {body}");
        }

        // A contact method's kind, read with the user everywhere.
        sql(&app, &format!("UPDATE contact_methods SET kind = 'pager' WHERE user_id = '{id}'"));
        let described = "contact_methods.kind holds 'pager', not a contact kind";
        fails_naming("REST GET user", app.req(get.clone(), &format!("/api/v2/users/{id}")), described).await;
        fails_naming("SCIM GET user", scim.req(get.clone(), &format!("/Users/{id}")), described).await;
        sql(&app, &format!("UPDATE contact_methods SET kind = 'email' WHERE user_id = '{id}'"));

        // Who made a contact method, and a notification rule's urgency (stored under the same
        // column name as incidents'): the contact-method endpoints read them.
        sql(&app, &format!("UPDATE contact_methods SET source = 'rumour' WHERE user_id = '{id}'"));
        let described = "contact_methods.source holds 'rumour', not a contact method source";
        fails_naming("REST GET user", app.req(get.clone(), &format!("/api/v2/users/{id}")), described).await;
        fails_naming("REST contact methods", app.req(get.clone(), &format!("/api/v2/users/{id}/contact_methods")), described).await;
        sql(&app, &format!("UPDATE contact_methods SET source = 'scim' WHERE user_id = '{id}'"));
        sql(&app, &format!("UPDATE notification_rules SET urgency = 'urgent' WHERE user_id = '{id}' AND urgency = 'low'"));
        let described = "notification_rules.urgency holds 'urgent', not an urgency";
        fails_naming("REST notification rules", app.req(get.clone(), &format!("/api/v2/users/{id}/notification_rules")), described).await;
        sql(&app, &format!("UPDATE notification_rules SET urgency = 'low' WHERE user_id = '{id}' AND urgency = 'urgent'"));

        // Team roles: the members listing reads them, and so does the seat policy on any
        // change that may move a seat (here a new job title).
        let (status, body) = app.put(&format!("/api/v2/teams/{team}/users/{id}"), json!({"role": "responder"})).await;
        assert_eq!(status, 204, "{body}");
        for (column, good, described) in [
            ("role", "'responder'", "team_members.role holds 'chief', not a team role"),
            ("demoted_role", "NULL", "team_members.demoted_role holds 'chief', not a team role"),
        ] {
            sql(&app, &format!("UPDATE team_members SET {column} = 'chief' WHERE user_id = '{id}'"));
            if column == "role" {
                fails_naming("REST team members", app.req(get.clone(), &format!("/api/v2/teams/{team}/members")), described).await;
            }
            let edit = app.req(reqwest::Method::PUT, &format!("/api/v2/users/{id}")).json(&json!({"user": {"job_title": column}}));
            fails_naming("a change that settles seats", edit, described).await;
            sql(&app, &format!("UPDATE team_members SET {column} = {good} WHERE user_id = '{id}'"));
        }

        // The seat row: a pin and a wanted licence, read by the seat listings.
        for (column, described) in [
            ("pinned", "seats.pinned holds 'gold', not a pin (a licence or none)"),
            ("wanted", "seats.wanted holds 'gold', not a licence"),
        ] {
            sql(&app, &format!("UPDATE seats SET {column} = 'gold' WHERE user_id = '{id}'"));
            fails_naming("seat listing", app.req(get.clone(), "/api/v2/license_allocations"), described).await;
            sql(&app, &format!("UPDATE seats SET {column} = NULL WHERE user_id = '{id}'"));
        }

        // A licence's row.
        sql(&app, "UPDATE licences SET id = 'gold' WHERE id = 'stakeholder'");
        fails_naming("the licences", app.req(get.clone(), "/api/v2/licenses"), "licences.id holds 'gold', not a licence").await;
        sql(&app, "UPDATE licences SET id = 'stakeholder' WHERE id = 'gold'");

        // The audit trail: who acted.
        sql(&app, "UPDATE audit_events SET actor_type = 'ghost'");
        fails_naming("the audit trail", app.req(get.clone(), "/api/v2/audit/records"), "audit_events.actor_type holds 'ghost', not an actor kind").await;
        sql(&app, "UPDATE audit_events SET actor_type = 'cli'");

        // Tokens: a service token's role and a token's kind, read as the caller authenticates.
        let service = app.issue_token(TokenKind::Api, "service", Some(Role::Observer));
        sql(&app, "UPDATE tokens SET role = 'boss' WHERE name = 'service'");
        fails_naming("a service token", app.as_token(&service, get.clone(), "/api/v2/users"), "tokens.role holds 'boss', not a role").await;
        sql(&app, "UPDATE tokens SET role = 'observer', kind = 'ftp' WHERE name = 'service'");
        fails_naming("a token's kind", app.as_token(&service, get.clone(), "/api/v2/users"), "tokens.kind holds 'ftp', not a token kind").await;

        // A service's urgency rule (read by its page and the listing) and an integration's kind.
        let (status, ep) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {"name": "EP", "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": id, "type": "user_reference"}]}
        ]}})).await;
        assert_eq!(status, 201, "{ep}");
        let (status, svc) = app.post("/api/v2/services", json!({"service": {"name": "Checkout",
            "escalation_policy": {"id": ep["escalation_policy"]["id"], "type": "escalation_policy_reference"}}})).await;
        assert_eq!(status, 201, "{svc}");
        let svc = svc["service"]["id"].as_str().unwrap().to_owned();
        let (status, made) = app.post(&format!("/api/v2/services/{svc}/integrations"),
            json!({"integration": {"type": "events_api_v2_inbound_integration"}})).await;
        assert_eq!(status, 201, "{made}");
        let integration = made["integration"]["id"].as_str().unwrap().to_owned();
        sql(&app, "UPDATE services SET urgency_rule = 'medium'");
        let described = "services.urgency_rule holds 'medium', not an urgency rule";
        fails_naming("REST GET service", app.req(get.clone(), &format!("/api/v2/services/{svc}")), described).await;
        fails_naming("REST services", app.req(get.clone(), "/api/v2/services"), described).await;
        sql(&app, "UPDATE services SET urgency_rule = 'high'");
        sql(&app, "UPDATE service_integrations SET kind = 'pager'");
        let described = "service_integrations.kind holds 'pager', not an integration kind";
        fails_naming("REST GET service", app.req(get.clone(), &format!("/api/v2/services/{svc}")), described).await;
        let path = format!("/api/v2/services/{svc}/integrations/{integration}");
        fails_naming("REST GET integration", app.req(get.clone(), &path), described).await;
    }
}
