//! The SCIM schemas Rota serves at `/Schemas` (RFC 7643 §7), read from the same JSON
//! (`scim_schemas.json`), and `conform`: what makes a resource document fit them. Attribute
//! names are the schema's own, extension attributes sit under their extension's URN, every value
//! has its declared type, and whatever no schema declares is dropped. User documents are echoed
//! from what Entra sent, so everything Entra sends passes through here before it is stored, and
//! again before it is shown (documents stored by older versions may not fit).

use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// The `/Schemas` list, with `{base}` where the service's SCIM URL goes.
pub const SCHEMAS_JSON: &str = include_str!("scim_schemas.json");
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Type {
    String,
    Boolean,
    Reference,
    Complex,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Type,
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub sub_attributes: Vec<Attribute>,
}

#[derive(Debug, Deserialize)]
pub struct Schema {
    pub id: String,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find(&self.attributes, name)
    }
}

fn find<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

static SCHEMAS: LazyLock<Vec<Schema>> = LazyLock::new(|| {
    serde_json::from_str(SCHEMAS_JSON).expect("scim_schemas.json is a schema list")
});

/// A schema Rota serves, by URN.
pub fn schema(id: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|s| s.id.eq_ignore_ascii_case(id))
}

fn user_schemas() -> (&'static Schema, &'static Schema) {
    let core = schema(USER_SCHEMA).expect("the core User schema is served");
    let enterprise = schema(ENTERPRISE_USER).expect("the enterprise extension is served");
    (core, enterprise)
}

/// Whether `name` is an attribute of the enterprise extension and not of the core User schema:
/// Entra sometimes sends those without their URN.
pub fn is_enterprise_only(name: &str) -> bool {
    let (core, enterprise) = user_schemas();
    core.attribute(name).is_none() && enterprise.attribute(name).is_some()
}

/// What to do with a value that does not fit its attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfits {
    /// Refuse the request (a client's body).
    Refuse,
    /// Leave the value out (a stored document that an older version accepted).
    Drop,
}

/// A value that does not fit: (the attribute, what is wrong), for `AppError::invalid`.
pub type Misfit = (String, String);

/// Sub-attributes that may hold line breaks (RFC 7643 §4.1.2: a mailing label).
const MULTI_LINE: &[(&str, &str)] = &[("addresses", "formatted"), ("addresses", "streetAddress")];

/// A user document (a POST or PUT body, or the result of a PATCH) made to fit the core User
/// schema and its enterprise extension: attributes under their schema's names; the extension's
/// attributes under its URN, whether sent there, as `urn:…:User:attr` keys, or unqualified (when
/// the extension does not name them too); `externalId` kept; `id`, `meta`, `schemas` (the
/// server's) and anything of no schema left out; null, empty objects and empty lists left out.
/// Entra's `"True"`/`"False"` become booleans, a bare string for a complex attribute with a
/// `value` (Entra's `manager`) becomes `{"value": …}`, and a single element of a multi-valued
/// attribute becomes a list of one.
pub fn conform_user(body: &Value, misfits: Misfits) -> Result<Map<String, Value>, Misfit> {
    let (core, enterprise) = user_schemas();
    let Value::Object(fields) = body else {
        return Err(("request body".into(), "must be a JSON object".into()));
    };
    let mut out = Map::new();
    let mut extension = Map::new();
    let mut unqualified = Vec::new();
    let extension_prefix = format!("{}:", ENTERPRISE_USER.to_ascii_lowercase());
    let core_prefix = format!("{}:", USER_SCHEMA.to_ascii_lowercase());
    for (key, value) in fields {
        let lower = key.to_ascii_lowercase();
        if lower == ENTERPRISE_USER.to_ascii_lowercase() {
            match value {
                Value::Object(inner) => {
                    for (k, v) in inner {
                        if let Some(attribute) = enterprise.attribute(k) {
                            put(&mut extension, attribute, v, "", misfits)?;
                        }
                    }
                }
                Value::Null => {}
                other => misfit(
                    misfits,
                    ENTERPRISE_USER,
                    format!("must be an object, not {other}"),
                )?,
            }
        } else if let Some(name) = lower.strip_prefix(&extension_prefix) {
            if let Some(attribute) = enterprise.attribute(name) {
                put(&mut extension, attribute, value, "", misfits)?;
            }
        } else if let Some(attribute) =
            core.attribute(lower.strip_prefix(&core_prefix).unwrap_or(key))
        {
            put(&mut out, attribute, value, "", misfits)?;
        } else if lower == "externalid" {
            match value {
                Value::String(s) => {
                    if let Some(s) = checked(s, "externalId", false, misfits)? {
                        out.insert("externalId".into(), Value::String(s));
                    }
                }
                Value::Null => {}
                other => misfit(
                    misfits,
                    "externalId",
                    format!("must be a string, not {other}"),
                )?,
            }
        } else if let Some(attribute) = enterprise.attribute(key) {
            unqualified.push((attribute, value));
        }
    }
    // Sent unqualified, an enterprise attribute fills in what the extension itself does not say.
    for (attribute, value) in unqualified {
        if !extension.contains_key(&attribute.name) {
            put(&mut extension, attribute, value, "", misfits)?;
        }
    }
    for attribute in core.attributes.iter().filter(|a| a.required) {
        if !out.contains_key(&attribute.name) {
            misfit(misfits, &attribute.name, "is required".into())?;
        }
    }
    if !extension.is_empty() {
        out.insert(ENTERPRISE_USER.into(), Value::Object(extension));
    }
    Ok(out)
}

fn misfit(misfits: Misfits, field: &str, reason: String) -> Result<(), Misfit> {
    match misfits {
        Misfits::Refuse => Err((field.to_string(), reason)),
        Misfits::Drop => Ok(()),
    }
}

/// Puts `value`, made to fit `attribute`, into `out` under the attribute's own name (nothing
/// when it is empty, or does not fit and misfits are dropped). `parent` is the name of the
/// complex attribute `attribute` belongs to, if any.
fn put(
    out: &mut Map<String, Value>,
    attribute: &Attribute,
    value: &Value,
    parent: &str,
    misfits: Misfits,
) -> Result<(), Misfit> {
    let field = match parent {
        "" => attribute.name.clone(),
        p => format!("{p}.{}", attribute.name),
    };
    let fitted = if attribute.multi_valued {
        let items = match value {
            Value::Array(items) => items.as_slice(),
            Value::Null => &[],
            one => std::slice::from_ref(one),
        };
        let mut fitted = Vec::new();
        for item in items {
            if let Some(v) = single(attribute, item, &field, misfits)? {
                fitted.push(v);
            }
        }
        (!fitted.is_empty()).then_some(Value::Array(fitted))
    } else {
        single(attribute, value, &field, misfits)?
    };
    if let Some(v) = fitted {
        out.insert(attribute.name.clone(), v);
    }
    Ok(())
}

/// One value of `attribute` made to fit its type; None when it is empty or left out.
fn single(
    attribute: &Attribute,
    value: &Value,
    field: &str,
    misfits: Misfits,
) -> Result<Option<Value>, Misfit> {
    let wrong = |what: &str| -> Result<Option<Value>, Misfit> {
        misfit(misfits, field, format!("must be {what}, not {value}")).map(|()| None)
    };
    match (attribute.kind, value) {
        (_, Value::Null) => Ok(None),
        (Type::String | Type::Reference, Value::String(s)) => {
            let (parent, name) = field.split_once('.').unwrap_or(("", field));
            let multi_line = MULTI_LINE
                .iter()
                .any(|(p, n)| p.eq_ignore_ascii_case(parent) && n.eq_ignore_ascii_case(name));
            Ok(checked(s, field, multi_line, misfits)?.map(Value::String))
        }
        (Type::String | Type::Reference, _) => wrong("a string"),
        (Type::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("true") => {
            Ok(Some(Value::Bool(true)))
        }
        (Type::Boolean, Value::String(s)) if s.eq_ignore_ascii_case("false") => {
            Ok(Some(Value::Bool(false)))
        }
        (Type::Boolean, _) => wrong("true or false"),
        (Type::Complex, Value::Object(fields)) => {
            let mut fitted = Map::new();
            for (k, v) in fields {
                if let Some(sub) = find(&attribute.sub_attributes, k) {
                    put(&mut fitted, sub, v, &attribute.name, misfits)?;
                }
            }
            Ok((!fitted.is_empty()).then_some(Value::Object(fitted)))
        }
        // Entra's default dialect sets the manager (and may set a role) by its value alone.
        (Type::Complex, Value::String(_)) if find(&attribute.sub_attributes, "value").is_some() => {
            let wrapped = Value::Object(Map::from_iter([("value".to_string(), value.clone())]));
            single(attribute, &wrapped, field, misfits)
        }
        (Type::Complex, _) => wrong("an object"),
    }
}

/// A string as stored: refused (or left out) when it holds control characters, which no
/// single-line attribute can (they would also forge lines in logs and terminals); line breaks
/// and tabs only where the schema means several lines.
fn checked(
    s: &str,
    field: &str,
    multi_line: bool,
    misfits: Misfits,
) -> Result<Option<String>, Misfit> {
    let allowed = |c: char| multi_line && matches!(c, '\n' | '\r' | '\t');
    if s.chars().any(|c| c.is_control() && !allowed(c)) {
        misfit(misfits, field, "must not contain control characters".into())?;
        return Ok(None);
    }
    Ok((!s.is_empty()).then(|| s.to_string()))
}

/// A SCIM user resource as Entra last sent it (without `id` and `meta`), kept so reads echo
/// the attributes Rota does not use. A JSON object for now; typed SCIM models replace it.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScimDocument(pub Map<String, Value>);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fit(body: Value) -> Value {
        Value::Object(conform_user(&body, Misfits::Refuse).unwrap())
    }

    #[test]
    fn the_served_schemas_parse() {
        let (core, enterprise) = user_schemas();
        assert_eq!(core.attribute("USERNAME").unwrap().name, "userName");
        assert!(core.attribute("userName").unwrap().required);
        assert_eq!(enterprise.attribute("manager").unwrap().kind, Type::Complex);
        assert!(schema("urn:ietf:params:scim:schemas:core:2.0:Group").is_some());
        assert!(is_enterprise_only("Department") && !is_enterprise_only("title"));
    }

    #[test]
    fn enterprise_attributes_go_under_their_urn_wherever_they_were_sent() {
        let out = fit(json!({
            "userName": "a@x",
            "department": "Ops",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
            ENTERPRISE_USER: {"costCenter": "C1", "manager": "m-1"},
        }));
        assert_eq!(
            out,
            json!({"userName": "a@x", ENTERPRISE_USER: {
                "department": "Ops", "employeeNumber": "7", "costCenter": "C1", "manager": {"value": "m-1"},
            }})
        );
        // The extension's own value wins over an unqualified one.
        let out = fit(
            json!({"userName": "a@x", "department": "Old", ENTERPRISE_USER: {"department": "New"}}),
        );
        assert_eq!(out[ENTERPRISE_USER]["department"], "New");
    }

    #[test]
    fn names_are_the_schemas_and_what_no_schema_declares_is_dropped() {
        let out = fit(json!({
            "USERNAME": "a@x", "id": "1", "meta": {}, "schemas": [], "password": "p", "groups": [],
            "favouriteColour": "blue", "urn:x:custom:2.0:User:shoe": 42,
            "name": {"GIVENNAME": "Ada", "nickname": "x"},
            "urn:ietf:params:scim:schemas:core:2.0:User:title": "SRE",
            "externalId": "e-1",
            "roles": [{"value": "R", "displayName": "dropped", "primary": "True"}, {}],
            "emails": {"value": "a@x", "type": "work"},
            "phoneNumbers": [], "addresses": null,
        }));
        assert_eq!(
            out,
            json!({
                "userName": "a@x", "name": {"givenName": "Ada"}, "title": "SRE", "externalId": "e-1",
                "roles": [{"value": "R", "primary": true}],
                "emails": [{"value": "a@x", "type": "work"}],
            })
        );
    }

    #[test]
    fn wrong_types_and_control_characters_are_refused_naming_the_attribute() {
        let refused = |body: Value| conform_user(&body, Misfits::Refuse).unwrap_err();
        assert_eq!(refused(json!({"title": "x"})).0, "userName");
        assert_eq!(refused(json!({"userName": "a\u{7}b"})).0, "userName");
        assert_eq!(
            refused(json!({"userName": "a", "timezone": "Asia/Tokyo\n\u{1b}[31m"})).0,
            "timezone"
        );
        assert_eq!(
            refused(json!({"userName": "a", "active": "yes"})).0,
            "active"
        );
        assert_eq!(refused(json!({"userName": "a", "name": "Ada"})).0, "name");
        assert_eq!(
            refused(json!({"userName": "a", "emails": [{"value": 7}]})).0,
            "emails.value"
        );
        assert_eq!(
            refused(json!({"userName": "a", ENTERPRISE_USER: {"department": ["x"]}})).0,
            "department"
        );
        // A mailing address may have several lines; an escape sequence it may not.
        let address =
            json!({"userName": "a", "addresses": [{"formatted": "1 Main St\nSpringfield"}]});
        assert_eq!(fit(address.clone()), address);
        assert_eq!(
            refused(json!({"userName": "a", "addresses": [{"formatted": "\u{1b}[2J"}]})).0,
            "addresses.formatted"
        );
        // Stored documents that do not fit lose the misfits, not the rest.
        let out = conform_user(
            &json!({"userName": "a", "title": "\u{1b}x", "active": "yes", "nickName": "N"}),
            Misfits::Drop,
        )
        .unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"userName": "a", "nickName": "N"})
        );
    }
}
