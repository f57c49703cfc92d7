//! The seats dashboard (`/seats`) in a signed-in browser, on SQLite and PostgreSQL: a licence
//! owner sees the usage chart with a dot per recorded day (the same days the API's history
//! lists) and its numbers, changes a cap (below use refused inline, keeping what was typed),
//! pins a seat, exports the CSV (the API's, parsed); a responder is refused; a post without
//! the CSRF token changes nothing; Japanese for a browser that asks for it.

mod support;

use chrono::Duration;
use reqwest::Method;
use rota::clock::Clock;
use serde_json::json;
use support::TestApp;
use support::browser::{Browser, csrf_in};
use support::oidc_provider::OidcProvider;

async fn lena(app: &TestApp) -> Browser {
    OidcProvider::shared()
        .upsert_account(
            json!({"login": "lena@contoso.example", "name": "Lena Owner",
            "roles": ["Rota.LicenseOwner"]}),
        )
        .await;
    let browser = Browser::new(app);
    let landed = browser.sign_in("lena@contoso.example").await;
    assert_eq!(landed.status, 200, "{}", landed.body);
    browser
}

/// (held, cap) of a licence, by the API.
async fn licence(app: &TestApp, id: &str) -> (i64, Option<i64>) {
    let (status, body) = app.get("/api/v2/licenses").await;
    assert_eq!(status, 200, "{body}");
    let l = body["licenses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap()
        .clone();
    (l["current_value"].as_i64().unwrap(), l["cap"].as_i64())
}

fn records(text: &str) -> Vec<Vec<String>> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

mod signed_in {
    use super::*;

    on_both_backends! {
        builder = TestApp::builder().oidc(OidcProvider::shared());

        async fn a_licence_owner_sees_the_chart_changes_a_cap_pins_and_exports(app) {
            // Four days of history: one person made on each (each new day's first change is
            // settled under the lock, which writes the day's row).
            app.clock.advance(-Duration::days(4));
            let mut people = Vec::new();
            for name in ["ann", "ben", "cy", "dee"] {
                people.push(app.user(name, &format!("{name}@example.com")).await);
                app.clock.advance(Duration::days(1));
            }
            let lena = lena(&app).await;

            let page = lena.get("/seats").await;
            assert_eq!(page.status, 200, "{}", page.body);
            let (_, history) = app.get("/api/v2/licenses/usage_history").await;
            let days = history["days"].as_array().unwrap();
            let full_days = days.iter().filter(|d| d["license_id"] == "full").count();
            assert!(full_days >= 4, "{history}");
            assert_eq!(page.body.matches("class=\"point full\"").count(), full_days, "{}", page.body);
            let stakeholder_days = days.iter().filter(|d| d["license_id"] == "stakeholder").count();
            assert_eq!(page.body.matches("class=\"point stakeholder\"").count(), stakeholder_days);
            assert!(page.body.contains("<title id=\"usage-chart-title\">"));
            assert!(page.body.contains("<desc id=\"usage-chart-desc\">"));
            // The numbers beside the chart: one row per recorded day and licence.
            assert!(page.body.contains("<details class=\"chart-data\">"));
            assert_eq!(page.body.matches("<tr class=\"day\">").count(), days.len());
            // A narrower range narrows the chart; a bad one is refused inline, keeping it.
            let today = rota::clock::stored(app.clock.now()).date();
            let since = (today - Duration::days(1)).to_string();
            let narrow = lena.get(&format!("/seats?since={since}")).await;
            let narrow_days = days.iter().filter(|d| d["license_id"] == "full" && d["date"].as_str().unwrap() >= since.as_str()).count();
            assert_eq!(narrow.body.matches("class=\"point full\"").count(), narrow_days);
            let bad = lena.get("/seats?since=yesterday").await;
            assert_eq!(bad.status, 400, "{}", bad.body);
            assert!(bad.body.contains("id=\"since-error\"") && bad.body.contains("value=\"yesterday\""), "{}", bad.body);

            // A cap below use is refused at the field, with what was typed; nothing changes.
            let (held, cap) = licence(&app, "full").await;
            let csrf = csrf_in(&page.body);
            let below = (held - 1).to_string();
            let refused = lena.post_form("/seats/licences/full/cap", &[("csrf_token", &csrf), ("cap", &below)]).await;
            assert_eq!(refused.status, 422, "{}", refused.body);
            assert!(refused.body.contains("id=\"cap-full-error\""), "{}", refused.body);
            assert!(refused.body.contains(&format!("value=\"{below}\"")), "{}", refused.body);
            assert!(refused.body.contains("aria-invalid=\"true\""));
            assert_eq!(licence(&app, "full").await, (held, cap));
            let words = lena.post_form("/seats/licences/full/cap", &[("csrf_token", &csrf), ("cap", "lots")]).await;
            assert_eq!(words.status, 422);
            assert!(words.body.contains("value=\"lots\"") && words.body.contains("id=\"cap-full-error\""));
            // Without the CSRF token: refused, nothing changes.
            let forged = lena.post_form("/seats/licences/full/cap", &[("cap", "99")]).await;
            assert!(forged.status.is_client_error(), "{}", forged.status);
            assert_eq!(licence(&app, "full").await, (held, cap));
            // A cap at least the use is taken, and the API sees it.
            let raised = (held + 5).to_string();
            let done = lena.post_form("/seats/licences/full/cap", &[("csrf_token", &csrf), ("cap", &raised)]).await;
            assert_eq!(done.status, 200, "{}", done.body);
            assert!(done.url.contains("/seats"));
            assert_eq!(licence(&app, "full").await, (held, Some(held + 5)));

            // Pin ann to a stakeholder seat; the API shows the pin and the seat.
            let ann = &people[0];
            let pinned = lena.post_form(&format!("/seats/people/{ann}/pin"), &[("csrf_token", &csrf), ("seat", "stakeholder")]).await;
            assert_eq!(pinned.status, 200, "{}", pinned.body);
            let (_, body) = app.get("/api/v2/license_allocations?limit=100").await;
            let a = body["license_allocations"].as_array().unwrap().iter()
                .find(|a| a["user"]["id"] == ann.as_str()).unwrap().clone();
            assert_eq!((a["license"]["id"].as_str(), a["pinned"].as_str()), (Some("stakeholder"), Some("stakeholder")), "{a}");
            let odd = lena.post_form(&format!("/seats/people/{ann}/pin"), &[("csrf_token", &csrf), ("seat", "gold")]).await;
            assert_eq!(odd.status, 422);
            assert!(odd.body.contains(&format!("id=\"seat-{ann}-error\"")), "{}", odd.body);
            // Reclaim: ben's seat goes.
            let ben = &people[1];
            let reclaimed = lena.post_form(&format!("/seats/people/{ben}/reclaim"), &[("csrf_token", &csrf)]).await;
            assert_eq!(reclaimed.status, 200, "{}", reclaimed.body);
            let (_, body) = app.get("/api/v2/license_allocations?limit=100").await;
            assert!(!body["license_allocations"].as_array().unwrap().iter().any(|a| a["user"]["id"] == ben.as_str()));

            // The export is the API's CSV, with a header row, as an attachment.
            let res = lena.http.get(format!("{}/seats/export.csv", lena.base)).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
            assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
            let exported = res.text().await.unwrap();
            assert!(exported.starts_with("user_id,name,user_name,email,role,license"), "{exported}");
            let api = app.req(Method::GET, "/api/v2/license_allocations.csv").send().await.unwrap().text().await.unwrap();
            let rows = records(&exported);
            assert_eq!(rows, records(&api));
            assert!(rows.iter().any(|r| r[1] == "Lena Owner" && r[5] == "stakeholder"), "{rows:?}");
            assert!(rows.iter().any(|r| r[0] == ann.as_str() && r[9] == "stakeholder"), "{rows:?}");

            // Japanese for a browser that asks for it.
            let res = lena.http.get(format!("{}/seats", lena.base)).header("Accept-Language", "ja").send().await.unwrap();
            let ja = res.text().await.unwrap();
            assert!(ja.contains("<html lang=\"ja\"") && ja.contains("使用数の推移"), "{ja}");
        }

        async fn a_responder_is_refused_and_sees_no_link(app) {
            let bob = Browser::new(&app);
            assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
            let home = bob.get("/").await;
            assert!(!home.body.contains("href=\"/seats\""));
            let page = bob.get("/seats").await;
            assert_eq!(page.status, 403, "{}", page.body);
            assert_eq!(bob.get("/seats/export.csv").await.status, 403);
            let csrf = csrf_in(&home.body);
            let (_, cap) = licence(&app, "full").await;
            let post = bob.post_form("/seats/licences/full/cap", &[("csrf_token", &csrf), ("cap", "1000")]).await;
            assert_eq!(post.status, 403, "{}", post.body);
            assert_eq!(licence(&app, "full").await.1, cap);
        }
    }
}
