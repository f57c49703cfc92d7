//! Licence seats end to end over HTTP, on SQLite and PostgreSQL: caps reached through SCIM
//! provisioning queue people instead of failing, freed seats go to the queue in order, team
//! rules move people between licences (and their team roles with them), stakeholders are
//! refused as responders, warnings reach a real SMTP server once per crossing, licence owners'
//! reports and CSV, manual pins, the reconcile (idle seats, idempotence), and on PostgreSQL two
//! pools racing for the last seat.

mod support;

use chrono::Duration;
use reqwest::Method;
use rota::clock::Clock;
use rota::domain::audit::{Actor, ActorKind};
use rota::domain::role::Role;
use rota::domain::seat_policy::SeatPolicy;
use rota::domain::token::TokenKind;
use rota::store::audit::AuditContext;
use serde_json::{Value, json};
use support::scim::Scim;
use support::smtp::SmtpServer;
use support::{TestApp, TestDatabase, send};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The shipped policy with a team rule: members of "Support Leads" are stakeholders; idle full
/// seats are flagged after 30 days and downgraded after 90.
fn team_rule_policy() -> String {
    include_str!("../policies/seats.toml")
        .replace(
            "# Example: members of this Entra group are stakeholders.",
            "[[rules]]\nteam = \"Support Leads\"\nlicence = \"stakeholder\"\n",
        )
        .replace("# downgrade_after_days = 90", "downgrade_after_days = 90")
}

impl Scim<'_> {
    /// Provisions a user as Entra does; the request must succeed whatever the seats.
    async fn user(&self, name: &str) -> String {
        let (status, body) = self
            .send_json(
                Method::POST,
                "/Users",
                json!({
                    "schemas": [USER], "userName": format!("{name}@contoso.example"),
                    "externalId": uuid::Uuid::now_v7().to_string(), "active": true,
                    "displayName": name,
                    "emails": [{"value": format!("{name}@contoso.example"), "type": "work", "primary": true}],
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn deactivate(&self, id: &str) {
        let (status, body) = self
            .send_json(
                Method::PATCH,
                &format!("/Users/{id}"),
                json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    async fn group(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (status, body) = self
            .send_json(
                Method::POST,
                "/Groups",
                json!({"schemas": [GROUP], "displayName": name, "externalId": uuid::Uuid::now_v7().to_string(), "members": members}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// A group as Entra provisions it, with its object id as externalId.
    async fn group_with_id(&self, name: &str, external_id: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (status, body) = self
            .send_json(
                Method::POST,
                "/Groups",
                json!({"schemas": [GROUP], "displayName": name, "externalId": external_id, "members": members}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn members(&self, group: &str, op: &str, user: &str) {
        let (status, body) = self
            .send_json(
                Method::PATCH,
                &format!("/Groups/{group}"),
                json!({"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": [{"value": user}]}]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn set_cap(app: &TestApp, licence: &str, cap: Option<i64>) -> (u16, Value) {
    app.put(
        &format!("/api/v2/licenses/{licence}"),
        json!({"license": {"cap": cap}}),
    )
    .await
}

/// (held, free, queued) of a licence.
async fn usage(app: &TestApp, licence: &str) -> (i64, Option<i64>, i64) {
    let (status, body) = app.get("/api/v2/licenses").await;
    assert_eq!(status, 200, "{body}");
    let l = body["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == licence)
        .unwrap()
        .clone();
    (
        l["current_value"].as_i64().unwrap(),
        l["allocations_available"].as_i64(),
        l["queued"].as_i64().unwrap(),
    )
}

/// The seat a user holds, from their PagerDuty user object.
async fn seat(app: &TestApp, id: &str) -> Option<String> {
    let (status, body) = app.get(&format!("/api/v2/users/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["user"]["license"]["id"].as_str().map(str::to_owned)
}

/// (user id, waiting for, holds) in queue order.
async fn queue(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    let (status, body) = app.get("/api/v2/license_queue").await;
    assert_eq!(status, 200, "{body}");
    body["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["user"]["id"].as_str().unwrap().to_string(),
                e["waiting_for"].as_str().unwrap().to_string(),
                e["holds"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn team_role(app: &TestApp, team: &str, user: &str) -> Option<String> {
    let (_, body) = app.get(&format!("/api/v2/teams/{team}/members")).await;
    body["members"]
        .as_array()?
        .iter()
        .find(|m| m["user"]["id"] == user)
        .map(|m| m["role"].as_str().unwrap().to_string())
}

/// A person to receive warnings: a licence owner with an e-mail address.
async fn licence_owner(app: &TestApp) -> String {
    let (status, body) = app
        .post(
            "/api/v2/users",
            json!({"user": {"name": "Lin Owner", "email": "lin@contoso.example", "role": "license_owner"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["user"]["id"].as_str().unwrap().to_string()
}

on_both_backends! {
    async fn provisioning_at_the_cap_queues_people_and_never_fails(app) {
        let scim = app.scim();
        assert_eq!(set_cap(&app, "full", Some(2)).await.0, 200);
        assert_eq!(set_cap(&app, "stakeholder", Some(1)).await.0, 200);
        let ids = [scim.user("ann").await, scim.user("ben").await, scim.user("cal").await, scim.user("dan").await];
        assert_eq!(seat(&app, &ids[0]).await.as_deref(), Some("full"));
        assert_eq!(seat(&app, &ids[1]).await.as_deref(), Some("full"));
        // A full-seat request falls back to a free stakeholder seat and stays queued for full.
        assert_eq!(seat(&app, &ids[2]).await.as_deref(), Some("stakeholder"));
        assert_eq!(seat(&app, &ids[3]).await, None);
        assert_eq!(usage(&app, "full").await, (2, Some(0), 2));
        assert_eq!(usage(&app, "stakeholder").await, (1, Some(0), 0));
        assert_eq!(
            queue(&app).await,
            vec![
                (ids[2].clone(), "full".into(), Some("stakeholder".into())),
                (ids[3].clone(), "full".into(), None),
            ]
        );
        let queued = app.audit_records("queue_for_seat").await;
        assert_eq!(queued.len(), 2, "{queued:?}");

        // Deactivation frees a full seat at once: the first in the queue gets it, and the
        // stakeholder seat they held goes to the next.
        scim.deactivate(&ids[0]).await;
        assert_eq!(seat(&app, &ids[0]).await, None);
        assert_eq!(seat(&app, &ids[2]).await.as_deref(), Some("full"));
        assert_eq!(seat(&app, &ids[3]).await.as_deref(), Some("stakeholder"));
        assert_eq!(queue(&app).await, vec![(ids[3].clone(), "full".into(), Some("stakeholder".into()))]);
        let upgraded = app.audit_records("upgrade_seat").await;
        assert_eq!(upgraded.len(), 1, "{upgraded:?}");
        assert_eq!(upgraded[0]["root_resource"]["id"], ids[2].as_str());
        assert_eq!(app.audit_records("release_seat").await[0]["details"]["after"]["reason"], "deactivated");

        // A SCIM delete frees the next one; raising a cap serves the queue too.
        let (status, _) = scim.send_json(Method::DELETE, &format!("/Users/{}", ids[1]), Value::Null).await;
        assert_eq!(status, 204);
        assert_eq!(seat(&app, &ids[3]).await.as_deref(), Some("full"));
        assert!(queue(&app).await.is_empty());
        assert_eq!(usage(&app, "full").await, (2, Some(0), 0));
        assert_eq!(usage(&app, "stakeholder").await, (0, Some(1), 0));
    }

    async fn a_cap_below_use_is_refused_and_cap_changes_are_audited(app) {
        let scim = app.scim();
        scim.user("ann").await;
        scim.user("ben").await;
        let (status, body) = set_cap(&app, "full", Some(1)).await;
        assert_eq!(status, 400, "{body}");
        let msg = body["error"]["errors"][0].as_str().unwrap();
        assert!(msg.contains("2 full seats are held now") && msg.contains("free 1"), "{msg}");
        let (status, body) = set_cap(&app, "full", Some(2)).await;
        assert_eq!((status, body["license"]["allocations_available"].as_i64()), (200, Some(0)), "{body}");
        assert_eq!(body["license"]["role_group"], "FullUser");
        assert!(body["license"]["valid_roles"].as_array().unwrap().contains(&json!("restricted_access")));
        let changes = app.audit_records("change_cap").await;
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["details"]["after"]["cap"], 2);
        assert_eq!(set_cap(&app, "gold", Some(2)).await.0, 404);
        assert_eq!(set_cap(&app, "full", Some(-1)).await.0, 400);
        // Back to unlimited.
        let (status, body) = set_cap(&app, "full", None).await;
        assert_eq!((status, body["license"]["allocations_available"].clone()), (200, Value::Null));
    }

    async fn stakeholders_are_refused_as_team_responders(app) {
        let watcher = {
            let (status, body) = app.post("/api/v2/users", json!({"user": {"name": "Wes Watcher", "email": "wes@contoso.example", "role": "read_only_user"}})).await;
            assert_eq!(status, 201, "{body}");
            assert_eq!(body["user"]["license"]["id"], "stakeholder");
            body["user"]["id"].as_str().unwrap().to_string()
        };
        let team = app.team("Platform").await;
        for role in ["responder", "manager"] {
            let (status, body) = app.put(&format!("/api/v2/teams/{team}/users/{watcher}"), json!({"role": role})).await;
            assert_eq!(status, 400, "{body}");
            let msg = body["error"]["errors"][0].as_str().unwrap();
            assert!(msg.contains("Wes Watcher") && msg.contains("stakeholder"), "{msg}");
        }
        assert_eq!(team_role(&app, &team, &watcher).await, None, "nothing was stored");
        let (status, _) = app.put(&format!("/api/v2/teams/{team}/users/{watcher}"), json!({"role": "observer"})).await;
        assert_eq!(status, 204);
        assert_eq!(team_role(&app, &team, &watcher).await.as_deref(), Some("observer"));
        // A stakeholder added through SCIM becomes an observer, never failing the request.
        let scim = app.scim();
        let group = scim.group("Watchers", &[&watcher]).await;
        assert_eq!(team_role(&app, &group, &watcher).await.as_deref(), Some("observer"));
    }

    async fn the_day_s_peak_counts_free_seats_taken_without_the_lock(app) {
        // A newcomer taking a free seat raises only the counter (and the day's peak kept on
        // it); the history shows it at once and the next day's first change closes the day.
        let scim = app.scim();
        let history = |day: String| {
            let app = &app;
            async move {
                let (status, body) = app.get(&format!("/api/v2/licenses/usage_history?since={day}")).await;
                assert_eq!(status, 200, "{body}");
                body["days"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| d["license_id"] == "full")
                    .map(|d| (d["date"].as_str().unwrap().to_string(), d["current_value"].as_i64().unwrap(), d["peak_value"].as_i64().unwrap()))
                    .collect::<Vec<_>>()
            }
        };
        let day0 = rota::clock::stored(app.clock.now()).date().to_string();
        let ann = scim.user("ann").await;
        scim.user("ben").await;
        scim.user("cy").await;
        assert_eq!(history(day0.clone()).await, [(day0.clone(), 3, 3)]);
        // A seat reclaimed (under the lock) writes the day's row: use down, peak kept.
        assert_eq!(app.delete(&format!("/api/v2/license_allocations/{ann}")).await.0, 200);
        assert_eq!(history(day0.clone()).await, [(day0.clone(), 2, 3)]);
        scim.user("dee").await;
        assert_eq!(history(day0.clone()).await, [(day0.clone(), 3, 3)]);
        app.clock.advance(Duration::days(1));
        let day1 = rota::clock::stored(app.clock.now()).date().to_string();
        scim.user("eve").await;
        scim.user("fay").await;
        assert_eq!(history(day0.clone()).await, [(day0.clone(), 3, 3), (day1.clone(), 5, 5)]);
        // The counter moved on to the new day, and the day before stays as it ended.
        let (_, body) = app.get("/api/v2/licenses").await;
        let full = body["licenses"].as_array().unwrap().iter().find(|l| l["id"] == "full").unwrap().clone();
        assert_eq!(full["current_value"].as_i64(), Some(5), "{body}");
    }

    async fn reports_show_use_by_team_history_idle_seats_and_a_csv(app) {
        let scim = app.scim();
        let ann = scim.user("ann").await;
        let ben = scim.user("ben").await;
        let sre = scim.group("SRE", &[&ann, &ben]).await;
        let (_, body) = app.get("/api/v2/licenses/usage_by_team").await;
        let row = body["teams"].as_array().unwrap().iter().find(|t| t["team"]["id"] == sre.as_str()).unwrap().clone();
        assert_eq!((row["full"].as_i64(), row["stakeholder"].as_i64(), row["waiting"].as_i64()), (Some(2), Some(0), Some(0)));

        let (status, body) = app.get("/api/v2/license_allocations?total=true&limit=1").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!((body["total"].as_i64(), body["more"].as_bool()), (Some(2), Some(true)));
        let a = &body["license_allocations"][0];
        assert_eq!(a["user"]["id"], ann.as_str());
        assert_eq!(a["license"]["id"], "full");
        assert_eq!(a["reason"], "role user");
        assert_eq!(a["allocated_by"], "entra");
        assert_eq!(a["idle"], false);

        // Nobody signed in: after the policy's 30 days both full seats are idle.
        app.clock.advance(Duration::days(31));
        let (_, body) = app.get("/api/v2/license_allocations?idle=true&total=true").await;
        assert_eq!(body["total"].as_i64(), Some(2), "{body}");
        assert_eq!(body["license_allocations"][0]["idle_days"], 31);

        let res = app.req(Method::GET, "/api/v2/license_allocations.csv").send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = res.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(&headers[0], "user_id");
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!((&rows[0][1], &rows[0][5], &rows[0][13]), ("ann", "full", "true"));

        let day = rota::clock::stored(app.clock.now() - Duration::days(31)).date().to_string();
        let (status, body) = app.get(&format!("/api/v2/licenses/usage_history?since={day}")).await;
        assert_eq!(status, 200, "{body}");
        let full = body["days"].as_array().unwrap().iter().find(|d| d["license_id"] == "full" && d["date"] == day.as_str()).unwrap().clone();
        assert_eq!((full["current_value"].as_i64(), full["peak_value"].as_i64()), (Some(2), Some(2)));
        assert_eq!(app.get("/api/v2/licenses/usage_history?since=yesterday").await.0, 400);
    }

    async fn licence_owners_pin_seats_and_a_seat_that_is_not_free_is_refused(app) {
        let scim = app.scim();
        let ann = scim.user("ann").await;
        let ben = scim.user("ben").await;
        // Reclaim: the seat goes back, the account stays, and policy changes don't undo it.
        let (status, body) = app.delete(&format!("/api/v2/license_allocations/{ann}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["license_allocation"]["license"], Value::Null);
        assert_eq!(body["license_allocation"]["pinned"], "none");
        assert_eq!(seat(&app, &ann).await, None);
        assert!(app.reconciler.run_once("test-1").await.unwrap().is_some());
        assert_eq!(seat(&app, &ann).await, None);
        assert_eq!(set_cap(&app, "full", Some(1)).await.0, 200);
        // The full seat is ben's: pinning ann to full is refused, and nothing changes.
        let (status, body) = app.put(&format!("/api/v2/license_allocations/{ann}"), json!({"license_allocation": {"license": {"id": "full"}}})).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("no full seat is free"), "{body}");
        assert_eq!(seat(&app, &ann).await, None);
        let (status, body) = app.put(&format!("/api/v2/license_allocations/{ann}"), json!({"license_allocation": {"license": {"id": "stakeholder"}}})).await;
        assert_eq!((status, body["license_allocation"]["license"]["id"].as_str()), (200, Some("stakeholder")), "{body}");
        // Following the policy again: ann wants full, holds stakeholder meanwhile, queued.
        let (status, body) = app.put(&format!("/api/v2/license_allocations/{ann}"), json!({"license_allocation": {"follow_policy": true}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["license_allocation"]["waiting_for"], "full");
        assert_eq!(body["license_allocation"]["queue_position"], 1);
        assert_eq!(app.put(&format!("/api/v2/license_allocations/{ann}"), json!({"license_allocation": {}})).await.0, 400);
        assert_eq!(app.audit_records("pin_seat").await.len(), 3);
        let _ = ben;
    }

    async fn only_owners_and_licence_owners_manage_seats(app) {
        let lin = licence_owner(&app).await;
        // Lin's personal token: she acts as a licence owner on a stakeholder seat.
        let lin_token = rota::store::tokens::issue(
            &mut app.db.get().unwrap(),
            &AuditContext { actor: Actor { kind: ActorKind::Cli, id: None, name: "test".into() }, request_id: None, at: app.clock.now() },
            TokenKind::Api,
            "lin",
            rota::store::tokens::Holder::User(rota::domain::ids::UserId(lin.clone())),
        )
        .unwrap();
        assert_eq!(seat(&app, &lin).await.as_deref(), Some("stakeholder"));
        let (observer, admin, manager) = (app.api_as(Role::Observer), app.api_as(Role::Admin), app.api_as(Role::LicenseOwner));
        let cap = json!({"license": {"cap": 10}});
        let put = |t: &str| send(app.as_token(t, Method::PUT, "/api/v2/licenses/full").json(&cap));
        assert_eq!(observer.get("/api/v2/licenses").await.0, 403);
        assert_eq!(admin.get("/api/v2/licenses").await.0, 200);
        assert_eq!(admin.put("/api/v2/licenses/full", cap.clone()).await.0, 403);
        assert_eq!(manager.put("/api/v2/licenses/full", cap.clone()).await.0, 200);
        assert_eq!(send(app.as_token(&lin_token, Method::GET, "/api/v2/license_queue")).await.0, 200);
        assert_eq!(put(&lin_token).await.0, 200);
        // Without a seat she still acts as a licence owner, so a shortage can be fixed...
        assert_eq!(app.delete(&format!("/api/v2/license_allocations/{lin}")).await.0, 200);
        assert_eq!(send(app.as_token(&lin_token, Method::GET, "/api/v2/licenses")).await.0, 200);
        // ... but anybody else without a seat can do nothing at all.
        let uma = app.user("Uma User", "uma@contoso.example").await;
        let uma_token = rota::store::tokens::issue(
            &mut app.db.get().unwrap(),
            &AuditContext { actor: Actor { kind: ActorKind::Cli, id: None, name: "test".into() }, request_id: None, at: app.clock.now() },
            TokenKind::Api,
            "uma",
            rota::store::tokens::Holder::User(rota::domain::ids::UserId(uma.clone())),
        )
        .unwrap();
        assert_eq!(send(app.as_token(&uma_token, Method::GET, "/api/v2/users/me")).await.0, 200);
        assert_eq!(app.delete(&format!("/api/v2/license_allocations/{uma}")).await.0, 200);
        let (status, body) = send(app.as_token(&uma_token, Method::GET, "/api/v2/users/me")).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().contains("holds no Rota seat"), "{body}");
        // Owners keep their full seat: a pin that would take it is refused.
        let owner = {
            let (status, body) = app.post("/api/v2/users", json!({"user": {"name": "Olga Owner", "email": "olga@contoso.example", "role": "owner"}})).await;
            assert_eq!(status, 201, "{body}");
            body["user"]["id"].as_str().unwrap().to_string()
        };
        let (status, body) = app.delete(&format!("/api/v2/license_allocations/{owner}")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(seat(&app, &owner).await.as_deref(), Some("full"));
    }

    async fn warnings_reach_licence_owners_once_per_crossing(app) {
        let smtp = SmtpServer::start();
        licence_owner(&app).await; // holds 1 of the 2 stakeholder seats
        let scim = app.scim();
        assert_eq!(set_cap(&app, "full", Some(5)).await.0, 200);
        assert_eq!(set_cap(&app, "stakeholder", Some(2)).await.0, 200);
        for name in ["ann", "ben", "cal"] {
            scim.user(name).await;
        }
        assert_eq!(app.deliver_emails(&smtp).await.sent, 0, "60 % warns nobody");
        let dan = scim.user("dan").await; // 4 of 5: 80 %
        assert_eq!(app.deliver_emails(&smtp).await.sent, 1);
        let got = smtp.messages(1, WAIT);
        assert_eq!(got[0].subject, "Rota: 80% of the full seats are taken");
        assert_eq!(got[0].rcpt_to, ["lin@contoso.example"]);
        assert!(got[0].body.contains("4 of 5 full (Full User) seats are held"), "{}", got[0].body);
        // Entra re-sends the user: no second warning.
        let (status, _) = scim.send_json(Method::PATCH, &format!("/Users/{dan}"), json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "displayName", "value": "Dan D"}]})).await;
        assert_eq!(status, 200);
        assert_eq!(app.deliver_emails(&smtp).await.sent, 0);
        // 5 of 5 jumps past 90 % to 100 %: one warning. Fay then waits for a full seat on the
        // last stakeholder seat (100 % of those), and Gus waits with no seat.
        scim.user("eve").await;
        scim.user("fay").await;
        scim.user("gus").await;
        assert_eq!(app.deliver_emails(&smtp).await.sent, 4);
        let got = smtp.messages(5, WAIT);
        let mut subjects: Vec<&str> = got[1..].iter().map(|m| m.subject.as_str()).collect();
        subjects.sort();
        assert_eq!(
            subjects,
            [
                "Rota: all 2 stakeholder seats are taken",
                "Rota: all 5 full seats are taken",
                "Rota: fay is waiting for a full seat",
                "Rota: gus is waiting for a full seat",
            ],
            "{got:?}"
        );
        let gus = got.iter().find(|m| m.subject.contains("gus")).unwrap();
        assert!(gus.body.contains("- gus: full seat") && gus.body.contains("Full seats: 5 held of 5"), "{}", gus.body);
    }
}

/// The Entra group whose members are admins, by object id, in `admin_team_rules_policy`.
const ADMIN_GROUP: &str = "5d1b2c7e-4a8f-4a51-9a4e-0d6a8f6d1e21";

/// The shipped policy with both kinds of team rule giving `admin`: by Entra group object id
/// and by team name.
fn admin_team_rules_policy() -> String {
    include_str!("../policies/seats.toml").replace(
        "# Example: members of this Entra group are stakeholders.",
        &format!(
            "[[rules]]\nteam = \"{ADMIN_GROUP}\"\nrole = \"admin\"\n\n[[rules]]\nteam = \"Platform Admins\"\nrole = \"admin\"\n"
        ),
    )
}

/// A user's role, read through the API.
async fn role(app: &TestApp, id: &str) -> String {
    let (status, body) = app.get(&format!("/api/v2/users/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["user"]["role"].as_str().unwrap().to_string()
}

/// The tests with the admins' team rules (`admin_team_rules_policy`).
mod with_admin_team_rules {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().seat_policy(admin_team_rules_policy());
        async fn members_of_an_entra_team_come_from_entra_only(app) {
            let scim = app.scim();
            let ann = scim.user("ann").await;
            let bob = scim.user("bob").await;
            let admins = scim.group_with_id("Admins", ADMIN_GROUP, &[&ann]).await;
            assert_eq!(role(&app, &ann).await, "admin");
            // Adding Bob to the Entra team the rule makes admins of, through REST: refused, even
            // for an owner, and Bob stays what he was.
            let (status, body) = app
                .put(
                    &format!("/api/v2/teams/{admins}/users/{bob}"),
                    json!({"role": "responder"}),
                )
                .await;
            assert_eq!(status, 400, "{body}");
            assert!(
                body["error"]["errors"][0]
                    .as_str()
                    .unwrap()
                    .contains("members come from Microsoft Entra ID"),
                "{body}"
            );
            assert_eq!(role(&app, &bob).await, "user");
            // Taking Ann out: refused too (Entra would only add her back).
            let (status, _) = app
                .delete(&format!("/api/v2/teams/{admins}/users/{ann}"))
                .await;
            assert_eq!(status, 400);
            // A member's team role is Rota's to set.
            let (status, body) = app
                .put(
                    &format!("/api/v2/teams/{admins}/users/{ann}"),
                    json!({"role": "manager"}),
                )
                .await;
            assert_eq!(status, 204, "{body}");
        }

        async fn renaming_teams_never_matches_a_team_rule(app) {
            let scim = app.scim();
            let ann = scim.user("ann").await;
            let responders = scim.group("Responders", &[&ann]).await;
            // Ann manages the Entra team she is in, and calls with her personal token.
            let (status, _) = app
                .put(
                    &format!("/api/v2/teams/{responders}/users/{ann}"),
                    json!({"role": "manager"}),
                )
                .await;
            assert_eq!(status, 204);
            let token = app.personal_token(&ann);
            let rename = |team: &str, name: &str| {
                send(
                    app.as_token(&token, Method::PUT, &format!("/api/v2/teams/{team}"))
                        .json(&json!({"team": {"name": name}})),
                )
            };
            // Renaming it to the admins' group id, or to the admins' team name: refused, as Entra
            // names its teams.
            for name in [ADMIN_GROUP, "Platform Admins"] {
                let (status, body) = rename(&responders, name).await;
                assert_eq!(status, 400, "{name}: {body}");
                assert!(
                    body["error"]["errors"][0]
                        .as_str()
                        .unwrap()
                        .contains("comes from Microsoft Entra ID"),
                    "{body}"
                );
                assert_eq!(role(&app, &ann).await, "user");
            }
            // Its own name again, with a description: fine (Entra does not set descriptions).
            let (status, body) = send(
                app.as_token(&token, Method::PUT, &format!("/api/v2/teams/{responders}"))
                    .json(&json!({"team": {"name": "Responders", "description": "First line"}})),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            // A team made in Rota may be named anything: it never counts for a rule.
            let local = app.team("Ops").await;
            let (status, _) = app
                .put(
                    &format!("/api/v2/teams/{local}/users/{ann}"),
                    json!({"role": "manager"}),
                )
                .await;
            assert_eq!(status, 204);
            for name in [ADMIN_GROUP, "Platform Admins"] {
                let (status, body) = rename(&local, name).await;
                assert_eq!(status, 200, "{name}: {body}");
                assert_eq!(role(&app, &ann).await, "user", "renamed to {name}");
            }
            assert_eq!(app.delete(&format!("/api/v2/teams/{local}")).await.0, 204);
            // An Entra group named like the admins' group id is not that group.
            let impostor = scim
                .group_with_id(ADMIN_GROUP, "0f0e0d0c-0b0a-4009-8008-070605040302", &[&ann])
                .await;
            assert_eq!(role(&app, &ann).await, "user");
            assert_eq!(
                app.delete(&format!("/api/v2/teams/{impostor}")).await.0,
                204
            );
            // What Entra says does count: the group by its id, and the team by Entra's name.
            let ben = scim.user("ben").await;
            scim.group_with_id("Tier 3", ADMIN_GROUP, &[&ben]).await;
            assert_eq!(role(&app, &ben).await, "admin");
            let cy = scim.user("cy").await;
            scim.group("Platform Admins", &[&cy]).await;
            assert_eq!(role(&app, &cy).await, "admin");
            assert_eq!(role(&app, &ann).await, "user");
        }
    }
}

/// The tests with a team rule making stakeholders (`team_rule_policy`).
mod with_team_rule {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().seat_policy(team_rule_policy());
        async fn a_team_deleted_over_rest_or_scim_is_one_use_case(app) {
            // Deleting a team is one use case (`use_cases::teams::delete`): over REST and
            // over SCIM it writes the same audit record and moves the same seats; only the
            // caller differs.
            let scim = app.scim();
            let mut deletions = Vec::new();
            for (n, (name, over_scim)) in [("ann", false), ("bob", true)].into_iter().enumerate() {
                let person = scim.user(name).await;
                let leads = scim.group_with_id("Support Leads", "leads", &[&person]).await;
                assert_eq!(seat(&app, &person).await.as_deref(), Some("stakeholder"));
                let path = format!("/Groups/{leads}");
                let status = if over_scim {
                    scim.send(scim.req(Method::DELETE, &path)).await.0
                } else {
                    app.delete(&format!("/api/v2/teams/{leads}")).await.0
                };
                assert_eq!(status, 204);
                assert_eq!(scim.send(scim.req(Method::GET, &path)).await.0, 404);
                // The rule no longer holds for the former member: the full seat and the user
                // role come back, audited once per deletion.
                assert_eq!(seat(&app, &person).await.as_deref(), Some("full"));
                let (_, body) = app.get(&format!("/api/v2/users/{person}")).await;
                assert_eq!(body["user"]["role"], "user");
                let upgrades = app.audit_records("upgrade_seat").await;
                assert_eq!(upgrades.len(), n + 1, "{upgrades:#?}");
                assert!(upgrades.iter().any(|r| r["root_resource"]["id"] == person));
                let mut record = app
                    .audit_records("delete")
                    .await
                    .into_iter()
                    .find(|r| r["root_resource"]["id"] == leads)
                    .expect("the deletion is audited");
                let method = record["method"]["type"].take();
                assert_eq!(method, if over_scim { "scim_token" } else { "api_token" });
                for who in ["id", "execution_time", "execution_context", "actors"] {
                    record.as_object_mut().unwrap().remove(who);
                }
                deletions.push(record.to_string().replace(&leads, "TEAM"));
            }
            assert_eq!(deletions[0], deletions[1]);
            assert!(deletions[0].contains("Support Leads"), "{}", deletions[0]);
        }

        async fn team_rules_move_people_between_licences_and_their_team_roles_follow(app) {
            let scim = app.scim();
            let ann = scim.user("ann").await;
            let sre = scim.group("SRE", &[&ann]).await;
            assert_eq!(
                team_role(&app, &sre, &ann).await.as_deref(),
                Some("responder")
            );
            // A team made in Rota under a rule's team name does not count: only Entra's groups do.
            let local = app.team("Support Leads").await;
            let (status, _) = app
                .put(
                    &format!("/api/v2/teams/{local}/users/{ann}"),
                    json!({"role": "responder"}),
                )
                .await;
            assert_eq!(status, 204);
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("full"));
            assert_eq!(app.delete(&format!("/api/v2/teams/{local}")).await.0, 204);
            // Joining the stakeholders' group makes ann a stakeholder, observer on every team.
            let leads = scim.group("Support Leads", &[]).await;
            scim.members(&leads, "add", &ann).await;
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("stakeholder"));
            let (_, body) = app.get(&format!("/api/v2/users/{ann}")).await;
            assert_eq!(body["user"]["role"], "read_only_user");
            assert_eq!(
                team_role(&app, &sre, &ann).await.as_deref(),
                Some("observer")
            );
            assert_eq!(app.audit_records("downgrade_seat").await.len(), 1);
            // Leaving it gives the full seat back, and the team role with it.
            scim.members(&leads, "remove", &ann).await;
            assert_eq!(
                team_role(&app, &sre, &ann).await.as_deref(),
                Some("responder")
            );
            // The rule gave her the stakeholder role; with the rule gone, so is the role.
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("full"));
            let (_, body) = app.get(&format!("/api/v2/users/{ann}")).await;
            assert_eq!(body["user"]["role"], "user");
            assert_eq!(app.audit_records("upgrade_seat").await.len(), 1);
            // While she is in the stakeholders' group, the role is the policy's.
            scim.members(&leads, "add", &ann).await;
            let (status, body) = app
                .put(
                    &format!("/api/v2/users/{ann}"),
                    json!({"user": {"role": "user"}}),
                )
                .await;
            assert_eq!(status, 400, "{body}");
            assert!(
                body["error"]["errors"][0]
                    .as_str()
                    .unwrap()
                    .contains("seat policy"),
                "{body}"
            );
        }

        async fn the_reconcile_is_idempotent_and_downgrades_idle_seats_but_not_owners(app) {
            let scim = app.scim();
            let ann = scim.user("ann").await;
            let ben = scim.user("ben").await;
            let owner = {
                let (status, body) = app.post("/api/v2/users", json!({"user": {"name": "Olga Owner", "email": "olga@contoso.example", "role": "owner"}})).await;
                assert_eq!(status, 201, "{body}");
                body["user"]["id"].as_str().unwrap().to_string()
            };
            let first = app
                .reconciler
                .run_once("day-1")
                .await
                .unwrap()
                .expect("ran");
            assert_eq!(
                (first.seats_changed, first.roles_changed),
                (0, 0),
                "everything was settled already"
            );
            assert!(
                app.reconciler.run_once("day-1").await.unwrap().is_none(),
                "a run key runs once"
            );
            // 91 days later, nobody signed in: full seats are downgraded, but never an owner's.
            app.clock.advance(Duration::days(91));
            let idle = app
                .reconciler
                .run_once("day-92")
                .await
                .unwrap()
                .expect("ran");
            assert_eq!(idle.seats_changed, 2);
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("stakeholder"));
            assert_eq!(seat(&app, &ben).await.as_deref(), Some("stakeholder"));
            assert_eq!(seat(&app, &owner).await.as_deref(), Some("full"));
            let reasons: Vec<Value> = app
                .audit_records("downgrade_seat")
                .await
                .iter()
                .map(|r| r["details"]["after"]["reason"].clone())
                .collect();
            assert_eq!(reasons, [json!("idle"), json!("idle")]);
            let again = app
                .reconciler
                .run_once("day-93")
                .await
                .unwrap()
                .expect("ran");
            assert_eq!(
                (again.seats_changed, again.roles_changed),
                (0, 0),
                "idempotent"
            );
            // The counters are healed from what is held.
            assert_eq!(usage(&app, "full").await.0, 1);
            assert_eq!(usage(&app, "stakeholder").await.0, 2);
        }
    }
}

/// The seat caps of the configuration (`ROTA_SEATS_FULL`, `ROTA_SEATS_STAKEHOLDER`), applied
/// by the start-up that `rota serve` runs.
mod configured_caps {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().caps(Some(1), Some(0));
        async fn the_configured_caps_are_applied_at_start_up(app) {
            assert_eq!(usage(&app, "full").await, (0, Some(1), 0));
            assert_eq!(usage(&app, "stakeholder").await, (0, Some(0), 0));
            let changes = app.audit_records("change_cap").await;
            assert_eq!(changes.len(), 2, "{changes:?}");
            let scim = app.scim();
            let ann = scim.user("ann").await;
            let ben = scim.user("ben").await;
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("full"));
            assert_eq!(seat(&app, &ben).await, None, "the caps hold from the first request");
        }
    }
}

/// The processing-version gate in front of the seat reconcile.
mod processing_versions {
    use super::*;
    use rota::domain::processing::Job;

    /// Makes the schema require `version` of the reconcile, as a newer release's migration
    /// would.
    async fn require(app: &TestApp, version: i32) {
        app.db
            .run(move |c| {
                use diesel::prelude::*;
                use rota::store::schema::processing_versions as p;
                diesel::update(p::table.find(Job::SeatReconcile.as_str()))
                    .set(p::version.eq(version))
                    .execute(c)?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// `rota_job_passes_skipped_total` of the reconcile, from `/metrics`.
    async fn skipped(app: &TestApp) -> u64 {
        let (status, body) = app.anonymous().get("/metrics").await;
        assert_eq!(status, 200);
        let text = body.as_str().unwrap();
        text.lines()
            .find(|l| l.starts_with("rota_job_passes_skipped_total{job=\"seat_reconcile\"}"))
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
    }

    on_both_backends! {
        builder = TestApp::builder().seat_policy(team_rule_policy());
        async fn an_instance_older_than_the_schema_skips_the_reconcile_and_the_current_one_runs(app) {
            let ann = app.scim().user("ann").await;
            app.clock.advance(Duration::days(91));
            require(&app, Job::SeatReconcile.version() + 1).await;
            assert!(app.reconciler.run_once("day-92").await.unwrap().is_none(), "skipped");
            assert!(app.reconciler.run_once("day-92").await.unwrap().is_none(), "skipped again");
            assert_eq!(skipped(&app).await, 2);
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("full"), "nothing was reconciled");
            // The run key was left for an instance that may run it.
            require(&app, Job::SeatReconcile.version()).await;
            let ran = app.reconciler.run_once("day-92").await.unwrap().expect("ran");
            assert_eq!(ran.seats_changed, 1);
            assert_eq!(seat(&app, &ann).await.as_deref(), Some("stakeholder"));
            assert_eq!(skipped(&app).await, 2);
        }
    }
}

/// Two pools on one new, migrated PostgreSQL database, as two `rota serve` instances have.
fn two_pools() -> (TestDatabase, rota::store::Db, rota::store::Db) {
    let database = TestDatabase::postgres();
    let a = rota::store::Db::connect(database.url(), 2).unwrap();
    let b = rota::store::Db::connect(database.url(), 2).unwrap();
    rota::store::migrate(&mut a.get().unwrap()).unwrap();
    (database, a, b)
}

/// Deactivates someone waiting, so they leave the queue.
fn take_out_of_the_queue(
    db: &rota::store::Db,
    rules: rota::store::seats::SeatRules<'_>,
    who: &rota::domain::ids::UserId,
) {
    use diesel::prelude::*;
    use rota::store::{schema::users, seats};
    rota::store::write(&mut db.get().unwrap(), |tx| {
        diesel::update(users::table.find(who))
            .set(users::active.eq(false))
            .execute(tx)?;
        seats::settle(
            tx,
            rules,
            &ctx("setup"),
            seats::Scope::Users(std::slice::from_ref(who)),
        )
    })
    .unwrap();
}

/// An audit context for a command-line actor, now.
fn ctx(name: &str) -> AuditContext {
    AuditContext {
        actor: Actor {
            kind: ActorKind::Cli,
            id: None,
            name: name.into(),
        },
        request_id: None,
        at: chrono::Utc::now(),
    }
}

/// Two pools on one PostgreSQL database (as two `rota serve` instances have) race for the
/// last full seat, many times: exactly one wins each time, and the cap holds.
#[test]
fn postgres_two_pools_racing_for_the_last_seat_give_it_to_exactly_one() {
    use rota::store::{self, seats, users::User};
    let (_database, a, b) = two_pools();
    let policy = SeatPolicy::parse(include_str!("../policies/seats.toml")).unwrap();
    let rules = seats::SeatRules {
        policy: &policy,
        bootstrap_owners: &[],
    };
    // No stakeholder seats, so a loser holds nothing and waits.
    store::write(&mut a.get().unwrap(), |tx| {
        seats::set_cap(
            tx,
            rules,
            &ctx("setup"),
            rota::domain::seat_policy::Licence::Stakeholder,
            Some(0),
            None,
        )
    })
    .unwrap();
    for round in 0..25i64 {
        store::write(&mut a.get().unwrap(), |tx| {
            seats::set_cap(
                tx,
                rules,
                &ctx("setup"),
                rota::domain::seat_policy::Licence::Full,
                Some(round + 1),
                None,
            )
        })
        .unwrap();
        let now = rota::clock::stored(chrono::Utc::now());
        let people: Vec<User> = (0..2)
            .map(|i| {
                User::new(
                    &format!("r{round}-{i}@x.example"),
                    format!("R{round} {i}"),
                    rota::domain::user::ProvisionedBy::Api,
                    now,
                )
            })
            .collect();
        for p in &people {
            // Made without a seat, as if the seat engine had not run yet.
            store::write(&mut a.get().unwrap(), |tx| store::users::insert(tx, p)).unwrap();
        }
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Option<rota::domain::seat_policy::Licence>> = std::thread::scope(|s| {
            let handles: Vec<_> = [(&a, &people[0]), (&b, &people[1])]
                .into_iter()
                .map(|(db, p)| {
                    let barrier = &barrier;
                    let ctx = ctx("racer");
                    s.spawn(move || {
                        let mut conn = db.get().unwrap();
                        barrier.wait();
                        let out = store::write(&mut conn, |tx| {
                            seats::settle(
                                tx,
                                rules,
                                &ctx,
                                seats::Scope::Users(std::slice::from_ref(&p.id)),
                            )
                        })
                        .unwrap();
                        out.outcome[&p.id].0
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners = results.iter().filter(|r| r.is_some()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        // The loser waits; take them out of the queue (deactivated) for the next round.
        let loser = &people[results.iter().position(|r| r.is_none()).unwrap()];
        take_out_of_the_queue(&a, rules, &loser.id);
        let rows = seats::licences(&mut a.get().unwrap()).unwrap();
        let full = rows
            .iter()
            .find(|r| r.id == rota::domain::seat_policy::Licence::Full)
            .unwrap();
        assert_eq!(
            (full.held, full.cap),
            (round + 1, Some(round + 1)),
            "round {round}"
        );
    }
}

/// Two pools on one PostgreSQL database race newcomers for the last full seat through
/// `seats::admit`, which takes a free seat without the licences' lock: exactly one wins each
/// time; a loser whose conditional counter update found the seat gone is told so (`Raced`),
/// rolled back, and queued when run again under the lock, as `use_cases::adding_person` does.
#[test]
fn postgres_newcomers_racing_for_the_last_free_seat_give_it_to_exactly_one() {
    use rota::domain::seat_policy::Licence;
    use rota::error::AppError;
    use rota::store::{self, seats, users::User};
    let (_database, a, b) = two_pools();
    let policy = SeatPolicy::parse(include_str!("../policies/seats.toml")).unwrap();
    let rules = seats::SeatRules {
        policy: &policy,
        bootstrap_owners: &[],
    };
    let set_cap = |l: Licence, cap: i64| {
        store::write(&mut a.get().unwrap(), |tx| {
            seats::set_cap(tx, rules, &ctx("setup"), l, Some(cap), None)
        })
        .unwrap();
    };
    let newcomer = |name: String| {
        let now = rota::clock::stored(chrono::Utc::now());
        User::new(
            &format!("{name}@x.example"),
            name,
            rota::domain::user::ProvisionedBy::Scim,
            now,
        )
    };
    // Admits `user`; `Err` when it raced (everything it wrote rolled back).
    let admit =
        |db: &store::Db, user: &mut User, locked: bool| -> Result<Option<Licence>, AppError> {
            let ctx = ctx("racer");
            let mut conn = db.get().unwrap();
            let work = |tx: &mut store::DbConnection| match seats::admit(
                tx,
                rules,
                &ctx,
                user,
                locked,
                |tx, u| {
                    store::users::insert(tx, u)?;
                    Ok(Vec::new())
                },
            )? {
                seats::Admitted::Settled(s) => Ok(s.outcome[&user.id].0),
                seats::Admitted::Raced => Err(AppError::internal("raced")),
            };
            if locked {
                seats::write(&mut conn, work)
            } else {
                store::write(&mut conn, work)
            }
        };
    set_cap(Licence::Stakeholder, 0);
    set_cap(Licence::Full, 1);
    // The day's first newcomer is settled under the lock, which starts the counter's day.
    assert_eq!(
        admit(&a, &mut newcomer("first".into()), false).unwrap(),
        Some(Licence::Full)
    );
    let raced = std::sync::atomic::AtomicUsize::new(0);
    for round in 0..25i64 {
        set_cap(Licence::Full, round + 2);
        let mut people: Vec<User> = (0..2).map(|i| newcomer(format!("r{round}-{i}"))).collect();
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Option<Licence>> = std::thread::scope(|s| {
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .zip(people.iter_mut())
                .map(|(db, p)| {
                    let (barrier, admit, raced) = (&barrier, &admit, &raced);
                    s.spawn(move || {
                        barrier.wait();
                        match admit(db, p, false) {
                            Ok(held) => held,
                            Err(_) => {
                                raced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                admit(db, p, true).unwrap()
                            }
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners = results.iter().filter(|r| r.is_some()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        let loser = &people[results.iter().position(|r| r.is_none()).unwrap()];
        // A loser that raced was stored once, when run again: it waits.
        let stored: Vec<(String, Option<String>)> = {
            use diesel::prelude::*;
            use rota::store::schema::{seats as seat_rows, users};
            let mut conn = a.get().unwrap();
            users::table
                .left_join(seat_rows::table)
                .filter(users::user_name.like(format!("r{round}-%")))
                .select((users::user_name, seat_rows::wanted.nullable()))
                .load(&mut *conn)
                .unwrap()
        };
        assert_eq!(stored.len(), 2, "round {round}: {stored:?}");
        assert!(
            stored.contains(&(loser.user_name.clone(), Some("full".into()))),
            "round {round}: {stored:?}"
        );
        let rows = seats::licences(&mut a.get().unwrap()).unwrap();
        let full = rows.iter().find(|r| r.id == Licence::Full).unwrap();
        assert_eq!(
            (full.held, full.cap),
            (round + 2, Some(round + 2)),
            "round {round}"
        );
        // Take the loser out of the queue for the next round.
        take_out_of_the_queue(&a, rules, &loser.id);
    }
    // Both planned on the same free seat at least once (they start together each round), so
    // the unlocked path and its retry were exercised, not only the locked one.
    assert!(raced.into_inner() > 0, "no round raced");
}
