//! A SCIM client as Entra's provisioning service is one: a SCIM token, `/scim/v2` paths,
//! `application/scim+json` bodies. Test files add the requests they need in their own
//! `impl Scim` blocks.

use super::{TestApp, send};
use reqwest::Method;
use rota::domain::token::TokenKind;
use serde_json::Value;

pub struct Scim<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl<'a> Scim<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Scim {
            token: app.issue_token(TokenKind::Scim, "entra", None),
            app,
        }
    }

    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, self.app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.req(Method::GET, path)).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        send(
            self.req(method, path)
                .header("Content-Type", "application/scim+json")
                .body(body.to_string()),
        )
        .await
    }
}
