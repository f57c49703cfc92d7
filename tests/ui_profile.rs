//! My profile in a browser (reqwest with a cookie jar, signed in through the OIDC provider
//! peer) on SQLite and PostgreSQL: contact methods added (a bad number refused in the form
//! with what was typed) and deleted, seen through the API; language and time zone; hand-off
//! notifications; the calendar link made anew, the old one answering 404.

mod support;

use support::TestApp;
use support::browser::{Browser, csrf_in};
use support::oidc_provider::OidcProvider;

/// The calendar URL a page shows once.
fn calendar_url(page: &str) -> String {
    let at = page
        .find("/calendar/rota_cal_")
        .unwrap_or_else(|| panic!("no calendar URL: {page}"));
    let start = page[..at].rfind('>').unwrap() + 1;
    let end = at + page[at..].find('<').unwrap();
    page[start..end].to_owned()
}

on_both_backends! {
    builder = TestApp::builder().oidc(OidcProvider::shared());
    async fn a_person_keeps_their_profile(app) {
        let bob = Browser::new(&app);
        assert_eq!(bob.sign_in("bob@contoso.example").await.status, 200);
        let bob_id = bob.me().await.1["user"]["id"].as_str().unwrap().to_owned();
        let page = bob.get("/profile").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<h2>Contact methods</h2>"), "{}", page.body);
        let csrf = csrf_in(&page.body);

        // A number that is not one is refused beside the field, keeping what was typed.
        let bad = bob.post_form("/profile/contact_methods", &[("csrf_token", &csrf), ("kind", "phone"),
            ("label", "Mobile"), ("address", "12345")]).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("id=\"address-error\""), "{}", bad.body);
        assert!(bad.body.contains("value=\"12345\"") && bad.body.contains("value=\"Mobile\""), "{}", bad.body);
        assert!(bad.body.contains("<option value=\"phone\" selected>"), "{}", bad.body);

        // A good one is added, and the API lists it.
        let good = bob.post_form("/profile/contact_methods", &[("csrf_token", &csrf), ("kind", "phone"),
            ("label", "Mobile"), ("address", "+14255550100")]).await;
        assert_eq!(good.status, 200, "{}", good.body);
        assert!(good.url.ends_with("/profile?done=saved") && good.body.contains("+14255550100"), "{}", good.body);
        let (status, listed) = app.get(&format!("/api/v2/users/{bob_id}/contact_methods")).await;
        assert_eq!(status, 200, "{listed}");
        let phone = listed["contact_methods"].as_array().unwrap().iter()
            .find(|m| m["address"] == "+14255550100").unwrap_or_else(|| panic!("{listed}")).clone();
        // The directory's e-mail is read-only here.
        assert!(good.body.contains("From your directory"), "{}", good.body);

        // Without the CSRF token nothing is done; with it, the phone goes.
        let phone_id = phone["id"].as_str().unwrap();
        let forged = bob.post_form(&format!("/profile/contact_methods/{phone_id}/delete"), &[]).await;
        assert!(forged.status.is_client_error(), "{}", forged.status);
        let gone = bob.post_form(&format!("/profile/contact_methods/{phone_id}/delete"), &[("csrf_token", &csrf)]).await;
        assert!(gone.url.ends_with("/profile?done=deleted"), "{}", gone.url);
        assert!(!gone.body.contains("+14255550100"), "{}", gone.body);

        // Hand-off notifications, as the API reads them.
        let set = bob.post_form("/profile/handoff", &[("csrf_token", &csrf), ("handoff", "off"), ("reminder_hours", "12")]).await;
        assert!(set.url.ends_with("/profile?done=saved"), "{} {}", set.url, set.body);
        let (_, settings) = app.get(&format!("/api/v2/users/{bob_id}/oncall_notifications")).await;
        assert_eq!(settings["oncall_notifications"]["handoff"], "off", "{settings}");
        assert_eq!(settings["oncall_notifications"]["reminder_hours"], 12, "{settings}");

        // The calendar link: made, read, made anew: the old one is 404.
        let first = bob.post_form("/profile/calendar", &[("csrf_token", &csrf)]).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let old = calendar_url(&first.body);
        assert_eq!(reqwest::get(&old).await.unwrap().status(), 200);
        let second = bob.post_form("/profile/calendar", &[("csrf_token", &csrf)]).await;
        let new = calendar_url(&second.body);
        assert_ne!(old, new);
        assert_eq!(reqwest::get(&old).await.unwrap().status(), 404);
        assert_eq!(reqwest::get(&new).await.unwrap().status(), 200);

        // A zone that is not one is refused; Japanese and Tokyo are kept, and the next page
        // is in Japanese.
        let bad_zone = bob.post_form("/profile/settings", &[("csrf_token", &csrf), ("language", "ja"), ("time_zone", "Mars/Olympus")]).await;
        assert_eq!(bad_zone.status, 422, "{}", bad_zone.body);
        assert!(bad_zone.body.contains("id=\"time_zone-error\""), "{}", bad_zone.body);
        let ja = bob.post_form("/profile/settings", &[("csrf_token", &csrf), ("language", "ja"), ("time_zone", "Asia/Tokyo")]).await;
        assert_eq!(ja.status, 200, "{}", ja.body);
        assert!(ja.body.contains("<html lang=\"ja\">") && ja.body.contains("<h1>プロフィール</h1>"), "{}", ja.body);
        assert!(ja.body.contains("<option value=\"Asia/Tokyo\" selected>"), "{}", ja.body);
        let (_, user) = bob.me().await;
        assert_eq!(user["user"]["locale"], "ja", "{user}");
        assert_eq!(user["user"]["time_zone"], "Asia/Tokyo", "{user}");
    }
}
