//! The list parameters of SCIM collections (RFC 7644 §3.4.2, §3.4.3, §3.9), shared by Users,
//! Groups and the root `/.search`: `filter`, `sortBy`/`sortOrder`, `startIndex`, `count` and
//! `attributes`/`excludedAttributes`, read from a query string or a SearchRequest body, and the
//! projection of a resource to the attributes asked for. Pure: the HTTP layer turns an
//! `Invalid` into the SCIM error (its field picks the `scimType`).

use crate::domain::scim_filter::{self, AttrPath};
use crate::domain::scim_patch::get;
use crate::domain::scim_schema::{ENTERPRISE_USER, GROUP_SCHEMA, USER_SCHEMA};
use serde_json::{Map, Value};

/// A parameter that cannot be used: (the parameter, what is wrong).
pub type Invalid = (String, String);

/// The parameter a filter's problems name (the caller reports them as invalid filters).
pub const FILTER: &str = "filter";

fn invalid(field: &str, reason: impl Into<String>) -> Invalid {
    (field.to_string(), reason.into())
}

/// List parameters, from the query string (GET) or a SearchRequest body (POST .search).
#[derive(Debug, Clone)]
pub struct ListParams {
    pub filter: Option<scim_filter::Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub start_index: i64,
    pub count: i64,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// An attribute named in `attributes`/`excludedAttributes` as (top-level key, sub-attribute):
/// `name.givenName` → ("name", givenName); `urn:…:enterprise:2.0:User:department` → (the
/// extension URN, department); the extension URN alone → (URN, none). Core URN prefixes are
/// dropped. The URN's own "2.0" is never mistaken for a sub-attribute.
fn split_attribute(raw: &str) -> (String, Option<String>) {
    let raw = raw.trim();
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with(&ENTERPRISE_USER.to_ascii_lowercase()) {
        let rest = raw[ENTERPRISE_USER.len()..].trim_start_matches(':');
        let sub = rest
            .split('.')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        return (ENTERPRISE_USER.to_string(), sub);
    }
    let mut attr = raw;
    for core in [USER_SCHEMA, GROUP_SCHEMA] {
        if lower.starts_with(&format!("{}:", core.to_ascii_lowercase())) {
            attr = &raw[core.len() + 1..];
        }
    }
    match attr.split_once('.') {
        Some((head, sub)) => (head.to_string(), Some(sub.to_string())),
        None => (attr.to_string(), None),
    }
}

/// What kind of JSON value `v` is, for messages (a wrong value itself may be long).
fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Most resources one list response returns (advertised in ServiceProviderConfig).
pub const MAX_RESULTS: i64 = 200;

impl ListParams {
    pub fn from_query(query: &str) -> Result<ListParams, Invalid> {
        let pairs: Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Self::from_map(&Value::Object(pairs))
    }

    /// Reads the parameters from a query string's pairs (all strings) or a SearchRequest body
    /// (RFC 7644 §3.4.3: `filter`, `sortBy`, `sortOrder` strings, `startIndex`, `count`
    /// integers, `attributes`, `excludedAttributes` lists of names). A parameter of another
    /// type is refused, never ignored: a filter that is not a string would otherwise match all.
    pub fn from_map(v: &Value) -> Result<ListParams, Invalid> {
        if !v.is_object() {
            return Err(invalid(
                "request body",
                "must be a JSON object (a SearchRequest)",
            ));
        }
        let string = |k: &str| -> Result<Option<String>, Invalid> {
            match get(v, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(
                    k,
                    format!("must be a string, not {}", kind_of(other)),
                )),
            }
        };
        let int = |k: &str, default: i64| -> Result<i64, Invalid> {
            let whole = |shown: &dyn std::fmt::Display| {
                invalid(k, format!("must be a whole number, not {shown}"))
            };
            match get(v, k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| whole(n)),
                Some(Value::String(s)) => s.trim().parse().map_err(|_| whole(&format!("'{s}'"))),
                Some(other) => Err(whole(&kind_of(other))),
            }
        };
        let names = |k: &str| -> Result<Vec<String>, Invalid> {
            let joined = match get(v, k) {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str().map(str::to_owned).ok_or_else(|| {
                            invalid(
                                k,
                                format!("must list attribute names, not {}", kind_of(item)),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, Invalid>>()?
                    .join(","),
                Some(other) => {
                    return Err(invalid(
                        k,
                        format!("must be a list of attribute names, not {}", kind_of(other)),
                    ));
                }
            };
            Ok(joined
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect())
        };
        let filter = string("filter")?
            .filter(|f| !f.trim().is_empty())
            .map(|f| {
                scim_filter::parse_filter(&f).map_err(|e| {
                    // A long filter is not quoted back whole; the position says where.
                    let shown = match f.len() {
                        0..=200 => format!("'{f}' is"),
                        _ => "is".to_string(),
                    };
                    invalid("filter", format!("{shown} not a SCIM filter: {e}"))
                })
            })
            .transpose()?;
        let sort_by = string("sortBy")?
            .map(|p| {
                scim_filter::parse_path(&p)
                    .map(|p| p.attr)
                    .map_err(|e| invalid("sortBy", e.to_string()))
            })
            .transpose()?;
        let descending = match string("sortOrder")?
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(invalid(
                    "sortOrder",
                    format!("is '{other}'; use ascending or descending"),
                ));
            }
        };
        Ok(ListParams {
            filter,
            sort_by,
            descending,
            start_index: int("startIndex", 1)?.max(1),
            count: int("count", 100)?.clamp(0, MAX_RESULTS),
            attributes: names("attributes")?,
            excluded: names("excludedAttributes")?,
        })
    }

    /// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.9); `id` and `schemas` stay.
    pub fn project(&self, resource: Value) -> Value {
        let Value::Object(map) = resource else {
            return resource;
        };
        let attributes: Vec<(String, Option<String>)> =
            self.attributes.iter().map(|a| split_attribute(a)).collect();
        let excluded: Vec<(String, Option<String>)> =
            self.excluded.iter().map(|a| split_attribute(a)).collect();
        let out = map
            .into_iter()
            .filter_map(|(key, value)| {
                if key == "id" || key == "schemas" {
                    return Some((key, value));
                }
                let named = |list: &[(String, Option<String>)]| -> Vec<Option<String>> {
                    list.iter()
                        .filter(|(top, _)| top.eq_ignore_ascii_case(&key))
                        .map(|(_, sub)| sub.clone())
                        .collect()
                };
                if !attributes.is_empty() {
                    let subs = named(&attributes);
                    if subs.is_empty() {
                        return None;
                    }
                    if subs.iter().any(Option::is_none) {
                        return Some((key, value));
                    }
                    let Value::Object(inner) = value else {
                        return Some((key, value));
                    };
                    let kept: Map<String, Value> = inner
                        .into_iter()
                        .filter(|(k, _)| subs.iter().flatten().any(|s| s.eq_ignore_ascii_case(k)))
                        .collect();
                    return (!kept.is_empty()).then_some((key, Value::Object(kept)));
                }
                let subs = named(&excluded);
                if subs.iter().any(Option::is_none) {
                    return None;
                }
                match value {
                    Value::Object(inner) if !subs.is_empty() => {
                        let kept: Map<String, Value> = inner
                            .into_iter()
                            .filter(|(k, _)| {
                                !subs.iter().flatten().any(|s| s.eq_ignore_ascii_case(k))
                            })
                            .collect();
                        Some((key, Value::Object(kept)))
                    }
                    other => Some((key, other)),
                }
            })
            .collect();
        Value::Object(out)
    }
}
