//! Who did what to which record: the actor of a change, the record's before/after state, and
//! the field-level differences PagerDuty's audit records list. Also the opaque cursor that
//! pages through the trail newest first.

use serde::Serialize;
use serde_json::Value;

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A person, signed in.
    User,
    /// A REST API token.
    ApiToken,
    /// A SCIM provisioning token.
    ScimToken,
    /// An operator at the `rota` command line.
    Cli,
    /// A background job.
    Job,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiToken => "api_token",
            ActorKind::ScimToken => "scim_token",
            ActorKind::Cli => "cli",
            ActorKind::Job => "job",
        }
    }

    pub fn parse(s: &str) -> Option<ActorKind> {
        [
            ActorKind::User,
            ActorKind::ApiToken,
            ActorKind::ScimToken,
            ActorKind::Cli,
            ActorKind::Job,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// The user's or token's id; none for the command line and jobs.
    pub id: Option<String>,
    /// A readable name: the user's name, the token's name, the job's name.
    pub name: String,
}

/// One changed field, in PagerDuty's audit-record shape.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    pub name: String,
    #[schema(value_type = Object)]
    pub value: Value,
    #[schema(value_type = Object)]
    pub before_value: Value,
}

/// The top-level fields that differ between two states of a record (either may be absent:
/// a create has no before, a delete no after). Sorted by name so the output is stable.
pub fn changed_fields(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let empty = serde_json::Map::new();
    let b = before.and_then(Value::as_object).unwrap_or(&empty);
    let a = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut names: Vec<&String> = b.keys().chain(a.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let old = b.get(name).cloned().unwrap_or(Value::Null);
            let new = a.get(name).cloned().unwrap_or(Value::Null);
            (old != new).then(|| FieldChange {
                name: name.clone(),
                value: new,
                before_value: old,
            })
        })
        .collect()
}

/// A position in the trail, which is read newest first: the time (microseconds since the
/// epoch) and id of the last record on the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub micros: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{}.{}", self.micros, self.id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (micros, id) = s.split_once('.')?;
        let micros: i64 = micros.parse().ok()?;
        // Only instants chrono can represent, so a cursor never silently means 1970.
        chrono::DateTime::from_timestamp_micros(micros)?;
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        id_ok.then(|| Cursor {
            micros,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_lists_only_differences() {
        let before = json!({"name": "Ada", "role": "user", "same": 1});
        let after = json!({"name": "Ada L.", "role": "user", "same": 1, "new": true});
        let changes = changed_fields(Some(&before), Some(&after));
        let names: Vec<_> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["name", "new"]);
        assert_eq!(changes[0].before_value, json!("Ada"));
        assert_eq!(changes[1].before_value, Value::Null);
    }

    #[test]
    fn a_create_lists_every_field() {
        let after = json!({"a": 1, "b": 2});
        assert_eq!(changed_fields(None, Some(&after)).len(), 2);
        assert!(changed_fields(None, None).is_empty());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            micros: 1_700_000_000_000_000,
            id: "0193-ab".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "x.y", "12", "12.", "12.a;b", "12.'--"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
