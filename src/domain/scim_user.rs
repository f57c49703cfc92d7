//! The SCIM User resource (RFC 7643 §4.1) and its enterprise extension (§4.3) as typed serde
//! models, and what Rota reads from a user document. A document a client sends (a POST or PUT
//! body, or the result of a PATCH) is first made to fit the served schemas (`fitted`:
//! `scim_schema::conform_user` after Entra's app-role encodings are decoded), so names and types
//! are the schemas' own and unknown attributes are gone; that fitted document is what is stored
//! and echoed. `User` is its typed reading, and `User::fields` the validated values the row is
//! made from. Pure: no store, no clock; refusals are `(attribute, reason)` pairs.
//!
//! The models list only what `/Schemas` declares (a property test checks that a model survives
//! `conform_user` unchanged), in the order the representation built from a row has always used.

use crate::domain::scim_patch::{existing_key, get};
use crate::domain::scim_schema::{self, ENTERPRISE_USER, Misfit, Misfits};
use crate::domain::user as rules;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A SCIM user's attributes (no `id`, `meta` or `schemas`: the server adds those).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub user_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<MultiValued>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<MultiValued>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<MultiValued>,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<EnterpriseUser>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
}

/// An e-mail, phone number or role.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiValued {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// What a client sent (a POST or PUT body, or the result of a PATCH), made to fit the User
/// schemas: the document that is read into the row and kept for echoing. Misfits are refused.
pub fn fitted(body: &Value) -> Result<Map<String, Value>, Misfit> {
    let mut body = body.clone();
    decode_app_roles(&mut body);
    scim_schema::conform_user(&body, Misfits::Refuse)
}

impl User {
    /// The typed reading of a fitted document (`fitted`, or a stored one made to fit).
    pub fn from_document(doc: &Map<String, Value>) -> Result<User, Misfit> {
        serde_json::from_value(Value::Object(doc.clone())).map_err(|e| {
            (
                "request body".to_string(),
                format!("does not fit the User schema: {e}"),
            )
        })
    }

    /// The document: the attributes that are set, under the schemas' names.
    pub fn to_document(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(doc)) => doc,
            // A struct of strings, booleans and lists always serializes to an object.
            _ => Map::new(),
        }
    }

    /// The values the row is made from, validated: strings trimmed (blank is absent, at most
    /// 1024 bytes), names without bidirectional overrides, at most 20 of each list.
    pub fn fields(&self) -> Result<Fields, Misfit> {
        let name = self.name.clone().unwrap_or_default();
        let ext = self.enterprise.clone().unwrap_or_default();
        let sub = |v: &Option<String>, k: &str| name_text(v.as_deref(), &format!("name.{k}"));
        let user_name = name_text(Some(&self.user_name), "userName")?
            .ok_or_else(|| invalid("userName", "is required"))?;
        Ok(Fields {
            user_name,
            external_id: text(self.external_id.as_deref(), "externalId")?,
            active: self.active.unwrap_or(true),
            display_name: name_text(self.display_name.as_deref(), "displayName")?,
            formatted: sub(&name.formatted, "formatted")?,
            family: sub(&name.family_name, "familyName")?,
            given: sub(&name.given_name, "givenName")?,
            middle: sub(&name.middle_name, "middleName")?,
            prefix: sub(&name.honorific_prefix, "honorificPrefix")?,
            suffix: sub(&name.honorific_suffix, "honorificSuffix")?,
            nick_name: name_text(self.nick_name.as_deref(), "nickName")?,
            title: text(self.title.as_deref(), "title")?,
            user_type: text(self.user_type.as_deref(), "userType")?,
            preferred_language: text(self.preferred_language.as_deref(), "preferredLanguage")?,
            locale: text(self.locale.as_deref(), "locale")?,
            timezone: text(self.timezone.as_deref(), "timezone")?,
            emails: contacts(&self.emails, "emails")?,
            phones: contacts(&self.phone_numbers, "phoneNumbers")?,
            addresses: at_most_20(&self.addresses, "addresses")?,
            roles: at_most_20(&self.roles, "roles")?,
            employee_number: text(ext.employee_number.as_deref(), "employeeNumber")?,
            cost_center: text(ext.cost_center.as_deref(), "costCenter")?,
            organization: text(ext.organization.as_deref(), "organization")?,
            division: text(ext.division.as_deref(), "division")?,
            department: text(ext.department.as_deref(), "department")?,
            manager: text(
                ext.manager.as_ref().and_then(|m| m.value.as_deref()),
                "manager.value",
            )?,
        })
    }
}

/// A contact as the row keeps it: (type, address, primary), in the order sent.
pub type Contact = (String, String, bool);

/// What a SCIM user document says, validated: what the row is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct Fields {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    pub display_name: Option<String>,
    pub formatted: Option<String>,
    pub family: Option<String>,
    pub given: Option<String>,
    pub middle: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub nick_name: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub emails: Vec<Contact>,
    pub phones: Vec<Contact>,
    pub addresses: Vec<Address>,
    pub roles: Vec<MultiValued>,
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    pub manager: Option<String>,
}

impl Fields {
    /// The app role values in `roles` (Entra sends `value`, and `display` as well), each once,
    /// as the seat policy matches them.
    pub fn app_role_values(&self) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for role in &self.roles {
            if let Some(v) = role.value.as_ref().or(role.display.as_ref())
                && !values.contains(v)
            {
                values.push(v.clone());
            }
        }
        values
    }
}

fn invalid(field: &str, reason: impl Into<String>) -> Misfit {
    (field.to_string(), reason.into())
}

fn text(v: Option<&str>, field: &str) -> Result<Option<String>, Misfit> {
    match v {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) if s.len() > 1024 => Err(invalid(field, "is longer than 1024 bytes")),
        Some(s) => Ok(Some(s.trim().to_string())),
    }
}

/// A name a person is shown by. A bidirectional override or isolate can make one read as
/// another ("\u{202E}nimda" shows as "admin"), so names refuse them.
fn name_text(v: Option<&str>, field: &str) -> Result<Option<String>, Misfit> {
    let name = text(v, field)?;
    if name.as_deref().is_some_and(rules::has_bidi_override) {
        return Err(invalid(
            field,
            "must not contain bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)",
        ));
    }
    Ok(name)
}

fn at_most_20<T: Clone>(items: &[T], field: &str) -> Result<Vec<T>, Misfit> {
    if items.len() > 20 {
        return Err(invalid(
            field,
            format!(
                "must be a list of at most 20 entries, not {} entries",
                items.len()
            ),
        ));
    }
    Ok(items.to_vec())
}

/// emails / phoneNumbers: (type, value, primary), at most 20; entries without a value are
/// skipped.
fn contacts(items: &[MultiValued], field: &str) -> Result<Vec<Contact>, Misfit> {
    if items.len() > 20 {
        return Err(invalid(field, "has more than 20 entries"));
    }
    let mut out = Vec::new();
    for item in items {
        let Some(value) = text(item.value.as_deref(), field)? else {
            continue;
        };
        let kind = text(item.kind.as_deref(), field)?
            .unwrap_or_default()
            .to_lowercase();
        out.push((kind, value, item.primary.unwrap_or(false)));
    }
    Ok(out)
}

/// Entra's `SingleAppRoleAssignment` and `AppRoleAssignmentsComplex` mappings send each role's
/// `value` as JSON text (`"{\"id\":…,\"value\":\"Rota.Admin\",\"displayName\":…}"`), and the
/// latter calls `display` `displayName`. Such a role becomes `{"value": "Rota.Admin",
/// "display": …}` (keeping `type` and `primary`); a plain value stays as it is; a role given
/// twice is kept once.
fn decode_app_roles(body: &mut Value) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let Some(Value::Array(roles)) = existing_key(obj, "roles").and_then(|k| obj.get_mut(&k)) else {
        return;
    };
    for role in roles.iter_mut() {
        let Value::Object(role) = role else { continue };
        let decoded = get_in(role, "value")
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        if let Some(decoded) = decoded
            && let Some(Value::String(value)) = get(&decoded, "value")
        {
            role.retain(|k, _| !k.eq_ignore_ascii_case("value"));
            role.insert("value".into(), json!(value));
            if let Some(name) = get(&decoded, "displayName") {
                role.entry("displayName").or_insert_with(|| name.clone());
            }
        }
        if let Some(name) = existing_key(role, "displayName").and_then(|k| role.remove(&k))
            && get_in(role, "display").is_none()
        {
            role.insert("display".into(), name);
        }
    }
    let mut seen = Vec::new();
    roles.retain(|role| {
        let value = get(role, "value").cloned().unwrap_or_else(|| role.clone());
        let first = !seen.contains(&value);
        seen.push(value);
        first
    });
}

/// Case-insensitive member of a JSON object's map.
fn get_in<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The schemas a user document names: the core schema, and the extension when it has one.
pub fn schemas_of(doc: &Map<String, Value>) -> Vec<&'static str> {
    let mut schemas = vec![scim_schema::USER_SCHEMA];
    if doc.contains_key(ENTERPRISE_USER) {
        schemas.push(ENTERPRISE_USER);
    }
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entra_app_role_encodings_are_decoded() {
        let doc = fitted(&json!({
            "userName": "a@x",
            "roles": [
                {"value": "{\"id\":\"1\",\"value\":\"Rota.Admin\",\"displayName\":\"Admin\"}", "primary": "True"},
                {"value": "Rota.Admin"},
                {"value": "Plain", "displayName": "Shown"},
            ],
        }))
        .unwrap();
        let user = User::from_document(&doc).unwrap();
        let fields = user.fields().unwrap();
        assert_eq!(fields.app_role_values(), ["Rota.Admin", "Plain"]);
        assert_eq!(user.roles[0].display.as_deref(), Some("Admin"));
        assert_eq!(user.roles[0].primary, Some(true));
        assert_eq!(user.roles[1].display.as_deref(), Some("Shown"));
    }

    #[test]
    fn fields_are_trimmed_and_names_refuse_bidi_overrides() {
        let doc =
            fitted(&json!({"userName": " a@x ", "title": "  ", "displayName": "\u{202E}nimda"}))
                .unwrap();
        let refused = User::from_document(&doc).unwrap().fields().unwrap_err();
        assert_eq!(refused.0, "displayName");
        let doc = fitted(&json!({"userName": " a@x ", "title": "  ", "active": "False"})).unwrap();
        let fields = User::from_document(&doc).unwrap().fields().unwrap();
        assert_eq!(
            (fields.user_name.as_str(), fields.title, fields.active),
            ("a@x", None, false)
        );
    }
}
