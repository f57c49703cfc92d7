//! Hand-off notices with the manual clock (no sleeping), on SQLite and PostgreSQL: each
//! hand-off told exactly once (two instances on one database, a restart across a hand-off),
//! late within the grace window, skipped after it, as each person's settings and language say.

mod support;

use diesel::prelude::*;
use rota::clock::Clock;
use rota::jobs::handoffs::{HandoffJob, Pass};
use rota::jobs::processing::Gate;
use rota::store::schema::{emails, users};
use serde_json::{Value, json};
use support::TestApp;

/// A daily rotation of `people` handing over at 09:00 Tokyo (00:00 UTC); the clock starts at
/// 2026-01-05T09:00Z, 18:00 in Tokyo.
async fn daily(app: &TestApp, people: &[&str]) -> String {
    let layer = json!({
        "name": "Primary", "start": "2026-01-05T09:00:00+09:00",
        "rotation_virtual_start": "2026-01-05T09:00:00+09:00", "rotation_turn_length_seconds": 86_400,
        "users": people.iter().map(|u| json!({"user": {"id": u, "type": "user_reference"}})).collect::<Vec<_>>()
    });
    let (status, body) = app
        .post("/api/v2/schedules", json!({"schedule": {"name": "Payments", "time_zone": "Asia/Tokyo", "schedule_layers": [layer]}}))
        .await;
    assert_eq!(status, 201, "{body}");
    body["schedule"]["id"].as_str().unwrap().to_owned()
}

/// Another instance's hand-off job on the same database, as a second `rota serve` has.
fn second_instance(app: &TestApp) -> HandoffJob {
    HandoffJob {
        db: rota::store::Db::connect(app.database.url(), 2).unwrap(),
        // Its own: an instance keeps what it loaded.
        finals: Default::default(),
        clock: app.clock.clone(),
        emails: Default::default(),
        gate: Gate::new(
            rota::domain::processing::Job::HandoffNotices,
            rota::http::metrics::Metrics::new().skipped_passes(),
        ),
    }
}

fn queued(app: &TestApp) -> Vec<(String, String, String)> {
    let mut conn = app.db.get().unwrap();
    emails::table
        .filter(
            emails::reason
                .like("handoff%")
                .or(emails::reason.eq("shift_reminder")),
        )
        .order(emails::created_at)
        .select((emails::to_address, emails::reason, emails::subject))
        .load(&mut *conn)
        .unwrap()
}

fn queued_all(app: &TestApp) -> Vec<(String, String, String)> {
    let mut conn = app.db.get().unwrap();
    emails::table
        .order((emails::created_at, emails::reason))
        .select((emails::to_address, emails::reason, emails::subject))
        .load(&mut *conn)
        .unwrap()
}

async fn pass(job: &HandoffJob) -> Pass {
    job.run_once().await.expect("hand-off pass")
}

on_both_backends! {
    async fn each_hand_off_is_told_once_to_both_people_even_with_two_instances(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let ben = app.user("Ben Ueda", "ben@example.com").await;
        daily(&app, &[&ana, &ben]).await;
        let job = app.app.handoffs.clone();
        // Ana's shift began at 00:00 UTC, nine hours ago: too late to tell, recorded once.
        assert_eq!(pass(&job).await, Pass { sent: 0, too_late: 1 });
        assert_eq!(pass(&job).await, Pass::default());
        assert!(queued(&app).is_empty());

        // 2026-01-06 00:00:30 UTC: Ana hands over to Ben. Two instances pass at once.
        app.clock.advance(chrono::Duration::hours(15) + chrono::Duration::seconds(30));
        let other = second_instance(&app);
        let (a, b) = tokio::join!(pass(&job), pass(&other));
        assert_eq!(a.sent + b.sent, 2, "{a:?} {b:?}");
        assert_eq!(pass(&job).await, Pass::default());
        assert_eq!(pass(&other).await, Pass::default());
        let mails = queued(&app);
        assert_eq!(mails.len(), 2, "{mails:?}");
        assert!(mails.contains(&("ben@example.com".into(), "handoff_on_call".into(), "You are on call for Payments".into())), "{mails:?}");
        assert!(mails.contains(&("ana@example.com".into(), "handoff_off_call".into(), "You are off call for Payments".into())), "{mails:?}");
        other.db.close();
    }

    async fn a_hand_off_missed_while_down_is_told_late_within_the_grace_window_and_skipped_after(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let ben = app.user("Ben Ueda", "ben@example.com").await;
        daily(&app, &[&ana, &ben]).await;
        assert_eq!(pass(&app.app.handoffs).await.too_late, 1);
        // Down across the hand-off at 00:00; back at 00:40 (a new instance): still told.
        app.clock.advance(chrono::Duration::hours(15) + chrono::Duration::minutes(40));
        let restarted = second_instance(&app);
        assert_eq!(pass(&restarted).await, Pass { sent: 2, too_late: 0 });
        // Down across the next (2026-01-07 00:00), back at 01:30: too late, skipped once.
        app.clock.advance(chrono::Duration::hours(24) + chrono::Duration::minutes(50));
        assert_eq!(pass(&restarted).await, Pass { sent: 0, too_late: 2 });
        assert_eq!(pass(&app.app.handoffs).await, Pass::default());
        assert_eq!(queued(&app).len(), 2);

        // Claims older than any pass looks back are forgotten after two weeks (the table
        // would grow by every hand-off forever), and forgetting tells nobody again.
        let claims = |before: chrono::DateTime<chrono::Utc>| -> i64 {
            use rota::store::schema::handoff_notices;
            let mut conn = app.db.get().unwrap();
            handoff_notices::table
                .filter(handoff_notices::due_at.lt(rota::clock::stored(before)))
                .count()
                .get_result(&mut *conn)
                .unwrap()
        };
        let first_days = app.clock.now();
        assert_eq!(claims(first_days), 5, "Ana's first shift, the two told, the two skipped");
        app.clock.advance(chrono::Duration::days(17));
        let p = pass(&restarted).await;
        assert_eq!(p.sent, 0, "{p:?}");
        assert_eq!(claims(first_days), 0, "the first days' claims are forgotten");
        assert_eq!(claims(app.clock.now()), 2, "today's are kept");
        assert_eq!(pass(&restarted).await, Pass::default());
        assert_eq!(queued(&app).len(), 2);
        restarted.db.close();
    }

    async fn settings_and_language_decide_what_each_person_hears(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let ben = app.user("Ben Ueda", "ben@example.com").await;
        // The language comes from the person's locale, which the REST API sets too (SCIM
        // sends Entra's); a locale that is no language tag is refused, naming the field.
        let (status, body) = app.put(&format!("/api/v2/users/{ben}"), json!({"user": {"locale": "Japanese please"}})).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["error"]["errors"][0].as_str().unwrap().starts_with("locale"), "{body}");
        let (status, body) = app.put(&format!("/api/v2/users/{ben}"), json!({"user": {"locale": "ja-JP", "time_zone": "Asia/Tokyo"}})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["locale"], "ja-JP", "{body}");
        daily(&app, &[&ana, &ben]).await;
        let (status, body) = app.put(&format!("/api/v2/users/{ana}/oncall_notifications"), json!({"oncall_notifications": {"handoff": "off", "reminder_hours": null}})).await;
        assert_eq!(status, 200, "{body}");
        let ben_token = app.personal_token(&ben);
        let (status, body): (u16, Value) = support::send(
            app.as_token(&ben_token, reqwest::Method::PUT, "/api/v2/users/me/oncall_notifications")
                .json(&json!({"oncall_notifications": {"handoff": "if_has_services", "reminder_hours": 2}})),
        ).await;
        assert_eq!(status, 200, "{body}");
        let (status, body): (u16, Value) = support::send(
            app.as_token(&ben_token, reqwest::Method::PUT, &format!("/api/v2/users/{ana}/oncall_notifications"))
                .json(&json!({"oncall_notifications": {"handoff": "always", "reminder_hours": null}})),
        ).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = app.put(&format!("/api/v2/users/{ana}/oncall_notifications"), json!({"oncall_notifications": {"handoff": "sometimes"}})).await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = app.put(&format!("/api/v2/users/{ana}/oncall_notifications"), json!({"oncall_notifications": {"handoff": "always", "reminder_hours": 500}})).await;
        assert_eq!(status, 400, "{body}");

        // Ben's reminder is due at 22:00 UTC (2 hours before his shift), but no policy uses
        // the schedule and he asked for "if_has_services": nothing.
        app.clock.advance(chrono::Duration::hours(13));
        pass(&app.app.handoffs).await;
        assert!(queued(&app).is_empty());
        let (status, body) = app.get(&format!("/api/v2/users/{ben}/oncall_notifications")).await;
        assert_eq!((status, body["oncall_notifications"]["reminder_hours"].as_i64()), (200, Some(2)), "{body}");
    }

    async fn reminders_go_before_the_shift_in_the_person_s_language(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let ben = app.user("Ben Ueda", "ben@example.com").await;
        {
            let mut conn = app.db.get().unwrap();
            diesel::update(users::table.filter(users::id.eq(&ben)))
                .set((users::locale.eq(Some("ja-JP")), users::time_zone.eq("Asia/Tokyo")))
                .execute(&mut *conn)
                .unwrap();
        }
        let schedule = daily(&app, &[&ana, &ben]).await;
        let (status, body) = app.post("/api/v2/escalation_policies", json!({"escalation_policy": {"name": "Payments", "escalation_rules": [
            {"escalation_delay_in_minutes": 30, "targets": [{"id": schedule, "type": "schedule_reference"}]}
        ]}})).await;
        assert_eq!(status, 201, "{body}");
        let policy = body["escalation_policy"]["id"].as_str().unwrap().to_owned();
        let (status, _) = app.put(&format!("/api/v2/users/{ben}/oncall_notifications"), json!({"oncall_notifications": {"handoff": "if_has_services", "reminder_hours": 2}})).await;
        assert_eq!(status, 200);
        pass(&app.app.handoffs).await;
        // 22:00:10 UTC: two hours before Ben's shift. A policy targets the schedule, but no
        // service uses the policy: nothing pages through it, so "if_has_services" hears nothing.
        app.clock.advance(chrono::Duration::hours(13) + chrono::Duration::seconds(10));
        assert_eq!(pass(&app.app.handoffs).await, Pass::default());
        let (status, body) = app.post("/api/v2/services", json!({"service": {"name": "Checkout",
            "escalation_policy": {"id": policy, "type": "escalation_policy_reference"}}})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(pass(&app.app.handoffs).await, Pass { sent: 1, too_late: 0 });
        let mails = queued(&app);
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].0, "ben@example.com");
        assert_eq!(mails[0].1, "shift_reminder");
        assert!(mails[0].2.contains("2026-01-06 09:00 (Asia/Tokyo)") && mails[0].2.contains("オンコール"), "{mails:?}");
    }

    async fn team_managers_hear_once_of_a_gap_and_of_someone_skipped_in_the_next_day(app) {
        let ana = app.user("Ana Ito", "ana@example.com").await;
        let ben = app.user("Ben Ueda", "ben@example.com").await;
        let mia = app.user("Mia Mori", "mia@example.com").await;
        let team = app.team("Payments").await;
        let (status, body) = app.put(&format!("/api/v2/teams/{team}/users/{mia}"), json!({"role": "manager"})).await;
        assert!(status == 200 || status == 204, "{status} {body}");
        let id = daily(&app, &[&ana, &ben]).await;
        let (_, current) = app.get(&format!("/api/v2/schedules/{id}")).await;
        let mut schedule = current["schedule"].clone();
        schedule["teams"] = json!([{"id": team, "type": "team_reference"}]);
        let (status, body) = app.put(&format!("/api/v2/schedules/{id}"), json!({"schedule": schedule})).await;
        assert_eq!(status, 200, "{body}");
        // Ben loses his full seat: his shift tomorrow (00:00 UTC) is skipped, leaving a gap.
        let (status, body) = app.put(&format!("/api/v2/users/{ben}"), json!({"user": {"role": "observer"}})).await;
        assert_eq!(status, 200, "{body}");
        let job = app.app.handoffs.clone();
        pass(&job).await;
        pass(&job).await;
        let to_mia: Vec<(String, String, String)> = queued_all(&app).into_iter().filter(|m| m.0 == "mia@example.com").collect();
        let reasons: Vec<&str> = to_mia.iter().map(|m| m.1.as_str()).collect();
        assert_eq!(reasons, ["schedule_gap", "schedule_skipped_person"], "{to_mia:?}");
        assert!(to_mia[1].2.contains("Ben Ueda"), "{to_mia:?}");
    }
}
