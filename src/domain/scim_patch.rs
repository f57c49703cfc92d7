//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON, in both dialects Entra sends:
//! the default one (`"Replace"`, booleans as `"True"`, member removal by `path: "members"` with
//! a value array, `Add` on single-valued attributes) and `aadOptscim062020` (lowercase ops,
//! real booleans, `members[value eq "…"]`, path-less replace with dotted keys). The caller turns
//! the patched JSON back into a record with the same parser PUT uses, so both validate alike.

use super::scim_filter::{
    AttrPath, CompValue, CompareOp, Connective, Filter, PatchPath, parse_path,
};
use super::scim_schema;
use serde_json::{Map, Value};

pub use super::scim_schema::ENTERPRISE_USER;
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// What is wrong with a PATCH, as (field, reason) for `AppError::invalid`; the field says which
/// scimType applies (`PatchOp` → invalidSyntax, `path` → invalidPath, others → invalidValue).
pub type PatchError = (&'static str, String);

/// Reads a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<Operation>, PatchError> {
    let ops = get(body, "Operations")
        .and_then(Value::as_array)
        .ok_or(("PatchOp", "needs an Operations array".to_string()))?;
    if ops.is_empty() {
        return Err(("PatchOp", "has no operations".into()));
    }
    ops.iter()
        .map(|raw| {
            let op = match get(raw, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Op::Add,
                Some("replace") => Op::Replace,
                Some("remove") => Op::Remove,
                other => {
                    return Err((
                        "PatchOp",
                        format!("op {other:?} is not add, replace or remove"),
                    ));
                }
            };
            let path = match get(raw, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(
                    parse_path(p)
                        .map_err(|e| ("path", format!("'{p}' is not a SCIM path: {e}")))?,
                ),
                Some(other) => return Err(("path", format!("must be a string, not {other}"))),
            };
            let value = get(raw, "value").cloned();
            if op == Op::Remove && path.is_none() {
                return Err(("path", "is required for remove".into()));
            }
            if op != Op::Remove && value.is_none() {
                return Err(("value", "is required for add and replace".into()));
            }
            Ok(Operation { op, path, value })
        })
        .collect()
}

/// Applies `ops` in order to `resource` (a JSON object). `id`, `meta` and `schemas` are
/// read-only.
pub fn apply(resource: &mut Value, ops: &[Operation]) -> Result<(), PatchError> {
    for operation in ops {
        match &operation.path {
            Some(path) => apply_at(resource, operation.op, path, operation.value.clone())?,
            None => {
                // No path: the value is an object of attributes (or dotted/URN paths) to set.
                let Some(Value::Object(fields)) = &operation.value else {
                    return Err(("value", "must be an object when no path is given".into()));
                };
                for (key, value) in fields {
                    if key.eq_ignore_ascii_case(ENTERPRISE_USER) && value.is_object() {
                        for (sub, v) in value.as_object().into_iter().flatten() {
                            let path = parse_path(&format!("{ENTERPRISE_USER}:{sub}"))
                                .map_err(|e| ("path", e.to_string()))?;
                            apply_at(resource, operation.op, &path, Some(v.clone()))?;
                        }
                    } else {
                        let path = parse_path(key)
                            .map_err(|e| ("path", format!("'{key}' is not a SCIM path: {e}")))?;
                        apply_at(resource, operation.op, &path, Some(value.clone()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn apply_at(
    resource: &mut Value,
    op: Op,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), PatchError> {
    let attr = &path.attr;
    if ["id", "meta", "schemas"]
        .iter()
        .any(|a| attr.attr.eq_ignore_ascii_case(a))
        && attr.uri.is_none()
    {
        return Err((
            "mutability",
            format!("is read-only: {} cannot be patched", attr.attr),
        ));
    }
    // The whole enterprise extension as the path (`urn:…:enterprise:2.0:User`).
    if attr.sub_attr.is_none()
        && path.filter.is_none()
        && attr
            .uri
            .as_deref()
            .is_some_and(|u| format!("{u}:{}", attr.attr).eq_ignore_ascii_case(ENTERPRISE_USER))
    {
        let Value::Object(root) = resource else {
            return Err(("PatchOp", "the resource is not an object".into()));
        };
        let key =
            existing_key(root, ENTERPRISE_USER).unwrap_or_else(|| ENTERPRISE_USER.to_string());
        match (op, value, root.get_mut(&key)) {
            (Op::Remove, _, _) => drop(root.remove(&key)),
            (Op::Add, Some(Value::Object(new)), Some(Value::Object(ext))) => ext.extend(new),
            (_, Some(v @ Value::Object(_)), _) => drop(root.insert(key, v)),
            (_, other, _) => {
                return Err((
                    "value",
                    format!("the enterprise extension must be an object, not {other:?}"),
                ));
            }
        }
        return Ok(());
    }
    let container = container_for(resource, attr)?;
    let key = existing_key(container, &attr.attr).unwrap_or_else(|| attr.attr.clone());
    match &path.filter {
        // `name.givenName` style: the sub-attribute of a complex attribute.
        None => match (op, &attr.sub_attr) {
            (_, Some(sub)) => {
                let parent = container
                    .entry(key)
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(parent) = parent else {
                    return Err(("path", format!("{} has no sub-attributes", attr.attr)));
                };
                let sub_key = existing_key(parent, sub).unwrap_or_else(|| sub.clone());
                match op {
                    Op::Remove => drop(parent.remove(&sub_key)),
                    _ => drop(parent.insert(sub_key, value.unwrap_or(Value::Null))),
                }
            }
            (Op::Remove, None) => match (container.get_mut(&key), value) {
                // Default dialect: remove these elements of a multi-valued attribute.
                (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                    items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
                }
                _ => drop(container.remove(&key)),
            },
            (Op::Add, None) => match (container.get_mut(&key), value) {
                (Some(Value::Array(items)), Some(value @ (Value::Array(_) | Value::Object(_)))) => {
                    // One element given alone is added like a list of one.
                    let new = match value {
                        Value::Array(new) => new,
                        one => vec![one],
                    };
                    for item in new {
                        if !items.iter().any(|i| same_element(i, &item)) {
                            items.push(item);
                        }
                    }
                }
                (Some(Value::Object(obj)), Some(Value::Object(new))) => obj.extend(new),
                (_, v) => drop(container.insert(key, v.unwrap_or(Value::Null))),
            },
            (Op::Replace, None) => drop(container.insert(key, value.unwrap_or(Value::Null))),
        },
        Some(filter) => {
            let items = container
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = items else {
                return Err((
                    "path",
                    format!("{} is not multi-valued, so it takes no [filter]", attr.attr),
                ));
            };
            let matched: Vec<usize> = (0..items.len())
                .filter(|&i| matches(filter, &items[i]))
                .collect();
            match op {
                Op::Remove => match &path.sub_attr {
                    Some(sub) => {
                        for &i in &matched {
                            if let Value::Object(o) = &mut items[i] {
                                o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                            }
                        }
                    }
                    None => {
                        let mut index = 0;
                        items.retain(|_| {
                            let keep = !matched.contains(&index);
                            index += 1;
                            keep
                        });
                    }
                },
                Op::Add | Op::Replace => {
                    let value = value.unwrap_or(Value::Null);
                    if matched.is_empty() {
                        // Entra's `emails[type eq "work"].value` on a user with no work e-mail:
                        // create the element the filter describes.
                        let mut element = seed_from(filter);
                        match (&path.sub_attr, value.clone()) {
                            (Some(s), v) => drop(element.insert(s.clone(), v)),
                            (None, Value::Object(fields)) => element.extend(fields),
                            (None, other) => {
                                return Err((
                                    "value",
                                    format!("must be an object for a filtered path, not {other}"),
                                ));
                            }
                        }
                        items.push(Value::Object(element));
                    }
                    for i in matched {
                        match (&path.sub_attr, &value, &mut items[i]) {
                            (Some(s), v, Value::Object(o)) => {
                                let k = existing_key(o, s).unwrap_or_else(|| s.clone());
                                o.insert(k, v.clone());
                            }
                            (None, Value::Object(fields), Value::Object(o)) => {
                                o.extend(fields.clone())
                            }
                            (None, other, slot) => *slot = other.clone(),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The object that holds `attr`: the resource, or its enterprise extension.
fn container_for<'a>(
    resource: &'a mut Value,
    attr: &AttrPath,
) -> Result<&'a mut Map<String, Value>, PatchError> {
    let Value::Object(root) = resource else {
        return Err(("PatchOp", "the resource is not an object".into()));
    };
    match attr.uri.as_deref() {
        Some(uri) if uri.eq_ignore_ascii_case(ENTERPRISE_USER) => extension(root),
        Some(uri)
            if uri
                .to_ascii_lowercase()
                .starts_with("urn:ietf:params:scim:schemas:core:2.0:") =>
        {
            Ok(root)
        }
        Some(uri) => Err(("path", format!("names the unknown schema {uri}"))),
        // Entra may name an enterprise attribute without its URN (`path: "department"`, or a
        // `department` key in a path-less replace): it belongs in the extension all the same.
        None if scim_schema::is_enterprise_only(&attr.attr) => extension(root),
        None => Ok(root),
    }
}

/// The enterprise extension object of a user, made when missing.
fn extension(root: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, PatchError> {
    let key = existing_key(root, ENTERPRISE_USER).unwrap_or_else(|| ENTERPRISE_USER.to_string());
    match root.entry(key).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(ext) => Ok(ext),
        _ => Err(("path", "the enterprise extension is not an object".into())),
    }
}

/// The key in `obj` that matches `name` regardless of case (SCIM names are case-insensitive).
pub fn existing_key(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

/// Case-insensitive member of a JSON object.
pub fn get<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Elements are the same when their `value`s are (or, without `value`, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (get(a, "value"), get(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The attributes an `eq` filter pins down, to build a new element from.
fn seed_from(filter: &Filter) -> Map<String, Value> {
    let mut out = Map::new();
    for term in filter.operands(Connective::And) {
        if let Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } = term
        {
            out.insert(path.attr.clone(), comp_to_json(value));
        }
    }
    out
}

fn comp_to_json(v: &CompValue) -> Value {
    match v {
        CompValue::Str(s) => Value::String(s.clone()),
        CompValue::Num(n) => Value::Number(n.clone()),
        CompValue::Bool(b) => Value::Bool(*b),
        CompValue::Null => Value::Null,
    }
}

/// Does `element` (one value of a multi-valued attribute) satisfy `filter`? Strings compare
/// without regard to case, booleans also as Entra's "True"/"False" strings.
pub fn matches(filter: &Filter, element: &Value) -> bool {
    match filter {
        Filter::And(..) => filter
            .operands(Connective::And)
            .into_iter()
            .all(|f| matches(f, element)),
        Filter::Or(..) => filter
            .operands(Connective::Or)
            .into_iter()
            .any(|f| matches(f, element)),
        Filter::Not(f) => !matches(f, element),
        Filter::Present(path) => get(element, &path.attr).is_some_and(|v| !v.is_null() && v != ""),
        Filter::ValuePath { .. } => false,
        Filter::Compare { path, op, value } => {
            let actual = get(element, &path.attr);
            match (actual, value) {
                (Some(Value::String(a)), CompValue::Str(b)) => {
                    compare_str(&a.to_lowercase(), &b.to_lowercase(), *op)
                }
                (Some(Value::Bool(a)), CompValue::Bool(b)) => (a == b) == (*op == CompareOp::Eq),
                (Some(Value::String(a)), CompValue::Bool(b)) => {
                    (a.eq_ignore_ascii_case(&b.to_string())) == (*op == CompareOp::Eq)
                }
                // `roles[primary eq "True"]` (Entra's default dialect) on a stored `true`.
                (Some(Value::Bool(a)), CompValue::Str(b))
                    if b.eq_ignore_ascii_case("true") || b.eq_ignore_ascii_case("false") =>
                {
                    (a.to_string() == b.to_ascii_lowercase()) == (*op == CompareOp::Eq)
                }
                (Some(Value::Number(a)), CompValue::Num(b)) => (a == b) == (*op == CompareOp::Eq),
                (None | Some(Value::Null), CompValue::Null) => *op == CompareOp::Eq,
                (None | Some(Value::Null), _) => *op == CompareOp::Ne,
                _ => *op == CompareOp::Ne,
            }
        }
    }
}

fn compare_str(a: &str, b: &str, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Co => a.contains(b),
        CompareOp::Sw => a.starts_with(b),
        CompareOp::Ew => a.ends_with(b),
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(resource: Value, body: Value) -> Value {
        let mut r = resource;
        apply(&mut r, &parse(&body).unwrap()).unwrap();
        r
    }

    #[test]
    fn entra_default_dialect() {
        let user = json!({"userName": "a@x", "active": true, "emails": [{"type": "work", "value": "a@x", "primary": true}]});
        let out = patched(
            user,
            json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "path": "title", "value": "SRE"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "b@x"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+81 90"},
                {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Ops"},
            ]}),
        );
        assert_eq!(out["active"], "False");
        assert_eq!(out["title"], "SRE");
        assert_eq!(out["emails"][0]["value"], "b@x");
        assert_eq!(
            out["phoneNumbers"][0],
            json!({"type": "mobile", "value": "+81 90"})
        );
        assert_eq!(out[ENTERPRISE_USER]["department"], "Ops");
    }

    #[test]
    fn aad_optscim062020_dialect() {
        let user = json!({"userName": "a@x", "name": {"givenName": "A"}, "active": true});
        let out = patched(
            user,
            json!({"Operations": [
                {"op": "replace", "value": {"name.givenName": "Ada", "name.familyName": "L", "active": false, "displayName": "Ada L"}},
            ]}),
        );
        assert_eq!(out["name"], json!({"givenName": "Ada", "familyName": "L"}));
        assert_eq!(out["active"], false);
        assert_eq!(out["displayName"], "Ada L");
    }

    #[test]
    fn members_in_both_dialects() {
        let group = json!({"displayName": "SRE", "members": [{"value": "1"}, {"value": "2"}]});
        let out = patched(
            group.clone(),
            json!({"Operations": [{"op": "Remove", "path": "members", "value": [{"value": "1"}]}]}),
        );
        assert_eq!(out["members"], json!([{"value": "2"}]));
        let out = patched(
            group.clone(),
            json!({"Operations": [{"op": "remove", "path": "members[value eq \"2\"]"}]}),
        );
        assert_eq!(out["members"], json!([{"value": "1"}]));
        let out = patched(
            group,
            json!({"Operations": [{"op": "Add", "path": "members", "value": [{"value": "2"}, {"value": "3"}]}]}),
        );
        assert_eq!(out["members"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn read_only_and_malformed_patches_are_refused() {
        let mut r = json!({"id": "1"});
        let ops =
            parse(&json!({"Operations": [{"op": "replace", "path": "id", "value": "2"}]})).unwrap();
        assert_eq!(apply(&mut r, &ops).unwrap_err().0, "mutability");
        assert_eq!(parse(&json!({})).unwrap_err().0, "PatchOp");
        assert_eq!(
            parse(&json!({"Operations": [{"op": "move", "path": "a"}]}))
                .unwrap_err()
                .0,
            "PatchOp"
        );
        assert_eq!(
            parse(&json!({"Operations": [{"op": "remove"}]}))
                .unwrap_err()
                .0,
            "path"
        );
        assert_eq!(
            parse(&json!({"Operations": [{"op": "add", "path": "a[", "value": 1}]}))
                .unwrap_err()
                .0,
            "path"
        );
    }
}
