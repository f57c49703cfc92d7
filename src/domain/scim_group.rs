//! The Group resource's pure side (RFC 7643 §4.2, RFC 7644 §3.5.2): its attributes read from
//! a body, member changes read from a PATCH or PUT (both of Entra's dialects), and `plan`: the
//! members to add and to remove, decided from the current members alone, so the store applies
//! a change of thousands of members as two bulk statements. Refusals are `(attribute, reason)`.

use crate::domain::ids::UserId;
use crate::domain::scim_filter::Filter;
use crate::domain::scim_patch::{self, Op, Operation, existing_key, get};
use crate::domain::scim_schema::Misfit;
use crate::domain::user as rules;
use serde_json::{Value, json};
use std::collections::HashSet;

fn invalid(field: &str, reason: impl Into<String>) -> Misfit {
    (field.to_string(), reason.into())
}

/// displayName and externalId from a body.
pub fn read(body: &Value) -> Result<(String, Option<String>), Misfit> {
    let name = match get(body, "displayName") {
        Some(Value::String(s)) if rules::has_bidi_override(s) => {
            return Err(invalid(
                "displayName",
                "must not contain bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)",
            ));
        }
        Some(Value::String(s)) => rules::display_name(s).map_err(|r| invalid("displayName", r))?,
        None | Some(Value::Null) => return Err(invalid("displayName", "is required")),
        Some(other) => {
            return Err(invalid(
                "displayName",
                format!("must be a string, not {other}"),
            ));
        }
    };
    let external = match get(body, "externalId") {
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            return Err(invalid("externalId", "must not contain control characters"));
        }
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        None | Some(Value::Null) | Some(Value::String(_)) => None,
        Some(other) => {
            return Err(invalid(
                "externalId",
                format!("must be a string, not {other}"),
            ));
        }
    };
    Ok((name, external))
}

/// User ids out of a `members` value: `[{"value": id}, …]`.
pub fn member_ids(v: Option<&Value>) -> Result<Vec<UserId>, Misfit> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| match get(m, "value") {
                Some(Value::String(id)) => Ok(UserId(id.clone())),
                _ => Err(invalid("members", format!("entry {m} has no string value"))),
            })
            .collect(),
        Some(Value::Object(_)) => {
            member_ids(Some(&Value::Array(vec![v.cloned().unwrap_or_default()])))
        }
        Some(other) => Err(invalid("members", format!("must be a list, not {other}"))),
    }
}

/// One member operation of a PATCH or PUT, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOp {
    Add(Vec<UserId>),
    Remove(Vec<UserId>),
    /// `members[…]` with a filter: evaluated against the members at that point.
    RemoveWhere(Filter),
    RemoveAll,
    Replace(Vec<UserId>),
}

/// Splits a PATCH into member operations (in order) and the rest (applied to the group's
/// attributes).
pub fn split(ops: Vec<Operation>) -> Result<(Vec<MemberOp>, Vec<Operation>), Misfit> {
    let mut members = Vec::new();
    let mut rest = Vec::new();
    for op in ops {
        if let Some(path) = op
            .path
            .as_ref()
            .filter(|p| p.attr.attr.eq_ignore_ascii_case("members"))
        {
            members.push(match (op.op, &path.filter) {
                (Op::Add, None) => MemberOp::Add(member_ids(op.value.as_ref())?),
                (Op::Replace, None) => MemberOp::Replace(member_ids(op.value.as_ref())?),
                (Op::Remove, None) if op.value.is_some() => {
                    MemberOp::Remove(member_ids(op.value.as_ref())?)
                }
                (Op::Remove, None) => MemberOp::RemoveAll,
                (Op::Remove, Some(f)) => MemberOp::RemoveWhere(f.clone()),
                (_, Some(_)) => {
                    return Err(invalid(
                        "path",
                        "members[…] only takes remove; add members with path \"members\"",
                    ));
                }
            });
            continue;
        }
        match (&op.path, &op.value) {
            (None, Some(Value::Object(fields)))
                if fields.keys().any(|k| k.eq_ignore_ascii_case("members")) =>
            {
                let mut fields = fields.clone();
                let key = existing_key(&fields, "members").expect("present");
                let ids = member_ids(fields.remove(&key).as_ref())?;
                members.push(if op.op == Op::Replace {
                    MemberOp::Replace(ids)
                } else {
                    MemberOp::Add(ids)
                });
                if !fields.is_empty() {
                    rest.push(Operation {
                        op: op.op,
                        path: None,
                        value: Some(Value::Object(fields)),
                    });
                }
            }
            _ => rest.push(op),
        }
    }
    Ok((members, rest))
}

/// What a member change does to the members: who joins (in the order given) and who leaves
/// (in their current order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChange {
    pub add: Vec<UserId>,
    pub remove: Vec<UserId>,
}

/// Applies member operations in order to `current`, and returns the difference.
pub fn plan(current: &[UserId], ops: Vec<MemberOp>) -> MemberChange {
    let mut wanted: Vec<UserId> = current.to_vec();
    let mut present: HashSet<UserId> = current.iter().cloned().collect();
    for op in ops {
        match op {
            MemberOp::Add(ids) => {
                for id in ids {
                    if present.insert(id.clone()) {
                        wanted.push(id);
                    }
                }
            }
            MemberOp::Remove(ids) => {
                let gone: HashSet<UserId> = ids.into_iter().collect();
                wanted.retain(|id| !gone.contains(id));
            }
            MemberOp::RemoveWhere(f) => {
                wanted.retain(|id| !scim_patch::matches(&f, &json!({"value": id})))
            }
            MemberOp::RemoveAll => wanted.clear(),
            MemberOp::Replace(ids) => {
                wanted.clear();
                let mut seen = HashSet::new();
                wanted.extend(ids.into_iter().filter(|id| seen.insert(id.clone())));
            }
        }
        present = wanted.iter().cloned().collect();
    }
    let before: HashSet<&UserId> = current.iter().collect();
    MemberChange {
        remove: current
            .iter()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect(),
        add: wanted
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect(),
    }
}
