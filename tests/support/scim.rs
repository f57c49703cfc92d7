//! A SCIM client as Entra's provisioning service is one: a SCIM token, `/scim/v2` paths,
//! `application/scim+json` bodies. Test files add the requests they need in their own
//! `impl Scim` blocks.
//!
//! Every answer is checked as a strict client would check it: errors against RFC 7644 §3.12,
//! and every resource returned (alone or in a ListResponse) against the server's own
//! `/Schemas` and `/ResourceTypes`: only attributes a schema declares, by their own names, of
//! their declared types and multiplicity, with their sub-attributes, required ones present,
//! extension attributes under their extension's URN and listed in `schemas`. A test that makes
//! the server answer otherwise fails, whatever it was testing.

use super::TestApp;
use reqwest::Method;
use rota::domain::token::TokenKind;
use serde_json::Value;
use std::sync::OnceLock;

pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

pub struct Scim<'a> {
    pub app: &'a TestApp,
    pub token: String,
    /// `/Schemas` and `/ResourceTypes`, read on the first request.
    discovery: OnceLock<Discovery>,
}

struct Discovery {
    schemas: Vec<Value>,
    resource_types: Vec<Value>,
}

impl<'a> Scim<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Scim {
            token: app.issue_token(TokenKind::Scim, "entra", None),
            app,
            discovery: OnceLock::new(),
        }
    }

    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .http
            .request(method, self.app.url(&format!("/scim/v2{path}")))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        self.send(
            self.req(method, path)
                .header("Content-Type", "application/scim+json")
                .body(body.to_string()),
        )
        .await
    }

    /// Sends a request built with `req` and checks the answer (see the module doc).
    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let request = req.build().expect("request");
        let what = format!("{} {}", request.method(), request.url());
        let sent: Value = request
            .body()
            .and_then(|b| b.as_bytes())
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        // `attributes`/`excludedAttributes` leave out what would otherwise be required.
        let projected = request
            .url()
            .query()
            .is_some_and(|q| q.contains("ttributes="))
            || sent.get("attributes").is_some()
            || sent.get("excludedAttributes").is_some();
        let discovery_path = ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"]
            .iter()
            .any(|p| request.url().path().contains(p));
        let res = self.app.http.execute(request).await.expect("request");
        let (status, body) = super::read(res).await;
        if status >= 400 {
            check_error(&what, status, &body);
        } else if !discovery_path && !body.is_null() {
            let discovery = self.discovery().await;
            let resources = match body["schemas"][0].as_str() {
                Some(LIST) => body["Resources"].as_array().cloned().unwrap_or_default(),
                _ => vec![body.clone()],
            };
            for resource in &resources {
                if let Err(problem) = discovery.check(resource, projected) {
                    panic!(
                        "{what} answered a resource that does not fit /Schemas: {problem}\n{resource:#}"
                    );
                }
            }
        }
        (status, body)
    }

    async fn discovery(&self) -> &Discovery {
        if self.discovery.get().is_none() {
            let list = |path: &'static str| async move {
                let url = self.app.url(&format!("/scim/v2{path}"));
                let body: Value = self
                    .app
                    .http
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                body["Resources"].as_array().cloned().expect(path)
            };
            let discovery = Discovery {
                schemas: list("/Schemas").await,
                resource_types: list("/ResourceTypes").await,
            };
            let _ = self.discovery.set(discovery);
        }
        self.discovery.get().expect("set above")
    }
}

fn check_error(what: &str, status: u16, body: &Value) {
    assert_eq!(
        body["schemas"],
        serde_json::json!([ERROR]),
        "{what}: {body}"
    );
    assert_eq!(body["status"], status.to_string(), "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
    if let Some(t) = body.get("scimType") {
        let known = [
            "invalidFilter",
            "tooMany",
            "uniqueness",
            "mutability",
            "invalidSyntax",
            "invalidPath",
            "noTarget",
            "invalidValue",
            "invalidVers",
            "sensitive",
        ];
        assert!(
            t.as_str().is_some_and(|t| known.contains(&t)),
            "{what}: {body}"
        );
    }
}

impl Discovery {
    fn schema(&self, id: &str) -> Result<&Value, String> {
        self.schemas
            .iter()
            .find(|s| s["id"] == id)
            .ok_or_else(|| format!("/Schemas has no schema {id}"))
    }

    fn check(&self, resource: &Value, projected: bool) -> Result<(), String> {
        let fields = resource.as_object().ok_or("a resource must be an object")?;
        let listed: Vec<&str> = resource["schemas"]
            .as_array()
            .ok_or("`schemas` must be a list")?
            .iter()
            .map(|s| s.as_str().ok_or("`schemas` must list strings"))
            .collect::<Result<_, _>>()?;
        let resource_type = self
            .resource_types
            .iter()
            .find(|t| t["schema"].as_str().is_some_and(|s| listed.contains(&s)))
            .ok_or_else(|| format!("`schemas` {listed:?} names no resource type's schema"))?;
        let core = self.schema(resource_type["schema"].as_str().unwrap())?;
        let extensions: Vec<&str> = resource_type["schemaExtensions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["schema"].as_str())
            .collect();
        for urn in &listed {
            if *urn != core["id"] && !extensions.contains(urn) {
                return Err(format!(
                    "`schemas` lists {urn}, which {} does not take",
                    resource_type["name"]
                ));
            }
        }
        match resource.get("id") {
            Some(Value::String(_)) => {}
            other => return Err(format!("`id` must be a string, not {other:?}")),
        }
        if let Some(x) = resource.get("externalId")
            && !x.is_string()
        {
            return Err(format!("`externalId` must be a string, not {x}"));
        }
        match resource.get("meta") {
            Some(meta) => check_meta(
                meta,
                resource_type["name"].as_str().unwrap(),
                &resource["id"],
            )?,
            None if !projected => return Err("`meta` is missing".into()),
            None => {}
        }
        for (key, value) in fields {
            if ["schemas", "id", "externalId", "meta"].contains(&key.as_str()) {
                continue;
            }
            if extensions.contains(&key.as_str()) {
                if !listed.contains(&key.as_str()) {
                    return Err(format!(
                        "the extension {key} is present but not listed in `schemas`"
                    ));
                }
                let schema = self.schema(key)?;
                let inner = value
                    .as_object()
                    .ok_or_else(|| format!("{key} must be an object"))?;
                for (k, v) in inner {
                    let attribute = named(&schema["attributes"], k).ok_or_else(|| {
                        format!("{key} has `{k}`, which its schema does not declare")
                    })?;
                    check_value(attribute, v, &format!("{key}:{k}"))?;
                }
                continue;
            }
            let attribute = named(&core["attributes"], key).ok_or_else(|| {
                format!(
                    "`{key}` is no attribute of {} (nor an extension's URN)",
                    core["id"]
                )
            })?;
            check_value(attribute, value, key)?;
        }
        if !projected {
            for a in core["attributes"].as_array().into_iter().flatten() {
                let name = a["name"].as_str().unwrap();
                if a["required"] == true && !fields.contains_key(name) {
                    return Err(format!("the required `{name}` is missing"));
                }
            }
        }
        Ok(())
    }
}

/// The attribute called exactly `name` (a strict client does not guess at case).
fn named<'v>(attributes: &'v Value, name: &str) -> Option<&'v Value> {
    attributes.as_array()?.iter().find(|a| a["name"] == name)
}

fn check_value(attribute: &Value, value: &Value, at: &str) -> Result<(), String> {
    if attribute["returned"] == "never" {
        return Err(format!("`{at}` is never returned"));
    }
    if attribute["multiValued"] == true {
        let items = value
            .as_array()
            .ok_or_else(|| format!("`{at}` is multi-valued: it must be a list, not {value}"))?;
        return items
            .iter()
            .try_for_each(|item| check_single(attribute, item, at));
    }
    check_single(attribute, value, at)
}

fn check_single(attribute: &Value, value: &Value, at: &str) -> Result<(), String> {
    let fits = match attribute["type"].as_str().unwrap_or_default() {
        "string" | "reference" | "binary" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64(),
        "decimal" => value.is_number(),
        "dateTime" => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "complex" => {
            let fields = value
                .as_object()
                .ok_or_else(|| format!("`{at}` is complex: it must be an object, not {value}"))?;
            for (k, v) in fields {
                let sub = named(&attribute["subAttributes"], k)
                    .ok_or_else(|| format!("`{at}` has `{k}`, which is no sub-attribute of it"))?;
                check_value(sub, v, &format!("{at}.{k}"))?;
            }
            true
        }
        other => return Err(format!("`{at}` has the unknown type {other}")),
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "`{at}` must be of type {}, not {value}",
            attribute["type"]
        ))
    }
}

fn check_meta(meta: &Value, resource_type: &str, id: &Value) -> Result<(), String> {
    if meta["resourceType"] != resource_type {
        return Err(format!("meta.resourceType must be {resource_type}: {meta}"));
    }
    for key in ["created", "lastModified"] {
        let time = meta[key].as_str().map(chrono::DateTime::parse_from_rfc3339);
        if !matches!(time, Some(Ok(_))) {
            return Err(format!("meta.{key} must be an RFC 3339 time: {meta}"));
        }
    }
    if !meta["version"].is_string() {
        return Err(format!("meta.version must be a string: {meta}"));
    }
    let location = meta["location"].as_str().unwrap_or_default();
    if !location.ends_with(&format!("/{}", id.as_str().unwrap_or_default())) {
        return Err(format!("meta.location must end with the id: {meta}"));
    }
    Ok(())
}
