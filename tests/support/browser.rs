//! A browser for tests of pages and sign-in: a cookie jar, following redirects through our
//! sign-in and the OIDC provider peer's headless login (`oidc_provider`).
#![allow(dead_code)]

use super::TestApp;
use reqwest::StatusCode;
use serde_json::Value;

/// A browser: a cookie jar, following redirects (optionally stopping at our callback).
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub base: String,
}

/// Where a browser ended up.
pub struct Landing {
    pub status: StatusCode,
    pub url: String,
    pub body: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Self::build(app, false, None)
    }

    /// A browser on another machine: refusals are counted per client address, and every
    /// address in 127.0.0.0/8 reaches the test server.
    pub fn from_address(app: &TestApp, address: &str) -> Browser {
        Self::build(app, false, Some(address.parse().unwrap()))
    }

    /// Stops before our callback, as an attacker who captured the redirect would.
    pub fn stopping_at_callback(app: &TestApp) -> Browser {
        Self::build(app, true, None)
    }

    pub fn build(app: &TestApp, stop: bool, address: Option<std::net::IpAddr>) -> Browser {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if stop && attempt.url().path() == "/auth/oidc/callback" {
                attempt.stop()
            } else if attempt.previous().len() > 20 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Browser {
            http: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(policy)
                .local_address(address)
                .build()
                .unwrap(),
            jar,
            base: app.base.clone(),
        }
    }

    pub async fn get(&self, url: &str) -> Landing {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let res = self.http.get(url).send().await.expect("request");
        Landing {
            status: res.status(),
            url: res.url().to_string(),
            body: res.text().await.unwrap_or_default(),
        }
    }

    /// Signs in as `login` (the provider's headless login by hint).
    pub async fn sign_in(&self, login: &str) -> Landing {
        self.get(&format!("/auth/oidc/login?login_hint={login}"))
            .await
    }

    /// The CSRF token the home page embeds for this browser's session.
    pub async fn csrf(&self) -> String {
        let home = self.get("/").await;
        csrf_in(&home.body)
    }

    /// Posts a form (`application/x-www-form-urlencoded`) and follows where it leads.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Landing {
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.base)
        };
        let res = self
            .http
            .post(url)
            .form(fields)
            .send()
            .await
            .expect("request");
        Landing {
            status: res.status(),
            url: res.url().to_string(),
            body: res.text().await.unwrap_or_default(),
        }
    }

    /// Starts a login and returns the callback URL the provider sends the browser to,
    /// without opening it (needs `stopping_at_callback`).
    pub async fn callback_url(&self, login: &str) -> String {
        let res = self
            .http
            .get(format!("{}/auth/oidc/login?login_hint={login}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        res.headers()["location"].to_str().unwrap().to_string()
    }

    /// The cookies this browser sends to us, to replay them by hand.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = url::Url::parse(&self.base).unwrap();
        self.jar
            .cookies(&url)
            .map(|h| h.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    pub async fn me(&self) -> (u16, Value) {
        super::send(self.http.get(format!("{}/api/v2/users/me", self.base))).await
    }
}

/// The CSRF token a page's form carries.
pub fn csrf_in(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF token on the page: {page}"))
        + marker.len();
    page[at..at + 64].to_string()
}
