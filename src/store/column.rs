//! Typed columns: how the domain's enums and JSON values are stored as Text on both backends,
//! and the one error a stored value that does not parse becomes.
//!
//! A row is parsed once, here at the edge of `store/`: models carry `Role`, `Licence`,
//! `Json<Vec<String>>`…, never the raw text, so nothing above `store/` re-parses (and nothing
//! can read a bad value three different ways). The enums stay diesel-free in `domain/`; their
//! diesel impls are made here by [`text_column!`] (the orphan rule allows it: every type is
//! this crate's). A value that does not parse fails the read with [`BadValue`], which
//! `AppError` turns into one internal error naming the column and the value
//! ("users.role holds 'boss', not a role"), logged and rendered like every other 500.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::Write;

/// A stored value that is not what its column holds.
#[derive(Debug)]
pub struct BadValue {
    /// What the column should hold, with its article: "a role", "JSON of its shape".
    pub what: String,
    /// The columns that hold this type (`users.role`); the field name picks among them. A
    /// table that holds it under a name used elsewhere too (`tokens.role`) is named by its
    /// readers instead ([`read_from`]).
    pub columns: &'static [&'static str],
    pub value: String,
    /// The table read, when the reader said (see [`read_from`]): picks among `columns`.
    pub table: Option<&'static str>,
}

/// Longest part of a bad value an error message quotes.
const QUOTED_CHARS: usize = 80;

impl BadValue {
    fn boxed(
        what: impl Into<String>,
        columns: &'static [&'static str],
        value: String,
    ) -> Box<BadValue> {
        Box::new(BadValue {
            what: what.into(),
            columns,
            value,
            table: None,
        })
    }

    /// The qualified column a read of `field` (the result column's name, as diesel reports
    /// it) came from: `users.role`. Several when the type lives in more than one table under
    /// the same column name.
    pub fn column(&self, field: Option<&str>) -> String {
        if let (Some(table), Some(field)) = (self.table, field) {
            return format!("{table}.{field}");
        }
        let named: Vec<&str> = self
            .columns
            .iter()
            .copied()
            .filter(|c| field.is_none_or(|f| c.rsplit('.').next() == Some(f)))
            .collect();
        match (named.as_slice(), field) {
            ([], Some(f)) => f.to_string(),
            ([], None) => "a column".to_string(),
            (named, _) => named.join(" or "),
        }
    }

    /// The error's words: `users.role holds 'boss', not a role`, the value escaped (no
    /// control or bidi character reaches a log line) and cut short.
    pub fn describe(&self, field: Option<&str>) -> String {
        let mut quoted: String = self.value.chars().take(QUOTED_CHARS).collect();
        if self.value.chars().count() > QUOTED_CHARS {
            quoted.push('…');
        }
        let quoted = crate::domain::text::escape_unprintable(&quoted).replace('\'', "\\'");
        format!("{} holds '{quoted}', not {}", self.column(field), self.what)
    }

    /// The bad stored value behind a failed read, if that is what failed: the description of
    /// a `DeserializationError`'s cause.
    pub fn in_read_error(
        cause: &(dyn std::error::Error + Send + Sync + 'static),
    ) -> Option<String> {
        if let Some(field) = cause.downcast_ref::<diesel::result::DeserializeFieldError>() {
            return field
                .error
                .downcast_ref::<BadValue>()
                .map(|bad| bad.describe(field.field_name.as_deref()));
        }
        cause
            .downcast_ref::<BadValue>()
            .map(|bad| bad.describe(None))
    }
}

/// Maps a failed read of `table` to an `AppError`, naming `table`'s column when a bad value
/// was read: for a type stored under the same column name in several tables (an account's
/// role is `users.role` and `tokens.role`).
pub fn read_from(
    table: &'static str,
) -> impl FnOnce(diesel::result::Error) -> crate::error::AppError {
    move |e| match e {
        diesel::result::Error::DeserializationError(mut cause) => {
            let field = match cause.downcast_mut::<diesel::result::DeserializeFieldError>() {
                Some(field) => {
                    if let Some(bad) = field.error.downcast_mut::<BadValue>() {
                        bad.table = Some(table);
                    }
                    true
                }
                None => false,
            };
            if !field && let Some(bad) = cause.downcast_mut::<BadValue>() {
                bad.table = Some(table);
            }
            crate::error::AppError::from(diesel::result::Error::DeserializationError(cause))
        }
        other => crate::error::AppError::from(other),
    }
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(None))
    }
}

impl std::error::Error for BadValue {}

/// A domain enum that is stored as its name.
pub trait StoredName: Sized + 'static {
    fn stored_name(&self) -> &'static str;
    fn from_stored_name(name: &str) -> Option<Self>;
}

/// Stores each listed domain type as its name (`as_str`/`parse`) in a Text column, on SQLite,
/// PostgreSQL and the `MultiBackend` of `DbConnection` (one impl generic over the backend:
/// each of the three stores `str` and reads `String`), with diesel's `AsExpression` and
/// `FromSqlRow` derived on a proxy (`foreign_derive`). Give what the column holds ("a role")
/// and where the type is stored, so a bad value names its column.
macro_rules! text_column {
    ($($ty:ty: $what:literal in [$($column:literal),+ $(,)?];)+) => {$(
        const _: () = {
            #[derive(diesel::AsExpression, diesel::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = diesel::sql_types::Text)]
            #[allow(dead_code)]
            struct Stored($ty);
        };

        impl StoredName for $ty {
            fn stored_name(&self) -> &'static str {
                self.as_str()
            }

            fn from_stored_name(name: &str) -> Option<Self> {
                <$ty>::parse(name)
            }
        }

        impl<DB: Backend> ToSql<Text, DB> for $ty
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.stored_name().to_sql(out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                match <$ty>::from_stored_name(&text) {
                    Some(value) => Ok(value),
                    None => Err(BadValue::boxed($what, &[$($column),+], text)),
                }
            }
        }
    )+};
}

use crate::domain::{
    audit, chat, contact, escalation, handoff, incident, notification, postmortem, role,
    seat_policy, seats, service, token, user,
};

text_column! {
    // `tokens.role` too: `store::tokens` reads through `read_from("tokens")`.
    role::Role: "a role" in ["users.role"];
    role::TeamRole: "a team role" in ["team_members.role", "team_members.demoted_role"];
    // `licence_usage_days.licence` too: `store::seats::usage_history` reads through `read_from`.
    seat_policy::Licence: "a licence" in ["users.licence", "seats.wanted", "licences.id"];
    seats::Pin: "a pin (a licence or none)" in ["seats.pinned"];
    token::TokenKind: "a token kind" in ["tokens.kind"];
    user::ContactKind: "a contact kind" in ["contact_methods.kind", "notifications.channel", "contact_tests.channel"];
    user::ProvisionedBy: "a provisioner" in ["users.provisioned_by"];
    user::UserNameSource: "a user name source" in ["users.user_name_source"];
    audit::ActorKind: "an actor kind" in ["audit_events.actor_type"];
    escalation::HandoffNotifications: "a hand-off notification setting"
        in ["escalation_policies.handoff_notifications"];
    service::UrgencyRule: "an urgency rule" in ["services.urgency_rule"];
    service::IntegrationKind: "an integration kind" in ["service_integrations.kind"];
    // `notification_rules.urgency` too.
    service::Urgency: "an urgency" in ["incidents.urgency", "notification_rules.urgency"];
    contact::ContactSource: "a contact method source" in ["contact_methods.source"];
    service::Severity: "a severity" in ["alerts.severity"];
    incident::Status: "an incident status" in ["incidents.status"];
    incident::AlertStatus: "an alert status" in ["alerts.status"];
    incident::LogKind: "a log entry kind" in ["incident_log_entries.kind"];
    incident::AgentKind: "an agent kind" in ["incident_log_entries.agent_kind"];
    incident::Channel: "a channel" in ["incident_log_entries.channel"];
    notification::Status: "a notification status" in ["notifications.status"];
    handoff::NoticeKind: "a notice kind" in ["handoff_notices.kind"];
    handoff::Fate: "a notice's fate" in ["handoff_notices.fate"];
    handoff::HandoffSetting: "a hand-off setting" in ["oncall_notification_settings.handoff"];
    chat::ChatKind: "a chat kind" in ["chat_channels.kind"];
    postmortem::Status: "a postmortem status" in ["postmortems.status"];
    postmortem::ActionStatus: "an action item status" in ["postmortem_action_items.status"];
}

/// Stores each listed domain value as text it writes and parses itself (`$to(&value)`,
/// `$from(&str) -> Option`), for values that are not one of a few names: a schedule's time
/// zone, a wall-clock time.
macro_rules! parsed_column {
    ($($ty:ty: $what:literal in [$($column:literal),+ $(,)?] by $to:expr, $from:expr;)+) => {$(
        const _: () = {
            #[derive(diesel::AsExpression, diesel::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = diesel::sql_types::Text)]
            #[allow(dead_code)]
            struct Stored($ty);
        };

        impl ToSql<Text, diesel::sqlite::Sqlite> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
                out.set_value(($to)(self));
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, diesel::pg::Pg> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
                out.write_all(($to)(self).as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl ToSql<Text, super::MultiBackend> for $ty {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, super::MultiBackend>) -> serialize::Result {
                out.set_value((Text, self));
                Ok(IsNull::No)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $ty
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                match ($from)(text.as_str()) {
                    Some(value) => Ok(value),
                    None => Err(BadValue::boxed($what, &[$($column),+], text)),
                }
            }
        }
    )+};
}

use crate::domain::schedule::{WallClock, Zone};
use crate::domain::subscription::UnsubscribeUrl;

parsed_column! {
    UnsubscribeUrl: "an unsubscribe URL" in ["emails.list_unsubscribe"]
        by |u: &UnsubscribeUrl| u.as_str().to_owned(), UnsubscribeUrl::parse;
    Zone: "an IANA time zone" in ["schedules.time_zone"]
        by |z: &Zone| z.name().to_owned(), Zone::parse;
    WallClock: "a wall-clock time" in ["schedule_layer_versions.rotation_virtual_start"]
        by WallClock::text, WallClock::parse;
}

/// The JSON columns, each a [`Json`] of its own shape.
const JSON_COLUMNS: &[&str] = &[
    "users.app_roles",
    "users.addresses",
    "users.scim_roles",
    "users.scim_document",
    "schedule_layer_versions.users",
    "schedule_layer_versions.restrictions",
    "postmortems.document",
];

/// A value stored as JSON text: `Json<Vec<String>>` for a list of app roles. Written with
/// serde, read back into `T`; text that is not JSON of `T`'s shape fails the read with
/// [`BadValue`].
#[derive(Debug, Clone, PartialEq, Eq, Default, diesel::AsExpression, diesel::FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Json<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Serializes a JSON column as the text stored, not as the value: the audit trail's snapshots
/// of a record (`before`/`after`) kept these columns as strings before they were typed, and
/// their readers still expect that.
pub fn as_json_text<J: Serialize, S: serde::Serializer>(
    value: &J,
    s: S,
) -> Result<S::Ok, S::Error> {
    match serde_json::to_value(value).map_err(serde::ser::Error::custom)? {
        serde_json::Value::Null => s.serialize_none(),
        v => s.serialize_str(&v.to_string()),
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(serde_json::to_string(value)?)
}

impl<T: Serialize + fmt::Debug> ToSql<Text, diesel::sqlite::Sqlite> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::sqlite::Sqlite>) -> serialize::Result {
        out.set_value(to_json(&self.0)?);
        Ok(IsNull::No)
    }
}

impl<T: Serialize + fmt::Debug> ToSql<Text, diesel::pg::Pg> for Json<T> {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::pg::Pg>) -> serialize::Result {
        out.write_all(to_json(&self.0)?.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl<T: Serialize + fmt::Debug + Send + Sync + 'static> ToSql<Text, super::MultiBackend>
    for Json<T>
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, super::MultiBackend>) -> serialize::Result {
        out.set_value((Text, self));
        Ok(IsNull::No)
    }
}

impl<T: DeserializeOwned, DB: Backend> FromSql<Text, DB> for Json<T>
where
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = String::from_sql(bytes)?;
        serde_json::from_str(&text).map(Json).map_err(|e| {
            BadValue::boxed(format!("JSON of its shape ({e})"), JSON_COLUMNS, text)
                as Box<dyn std::error::Error + Send + Sync>
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_value_names_its_column_and_escapes_the_value() {
        let bad = BadValue {
            what: "a role".into(),
            columns: &["users.role", "tokens.role"],
            value: "bo'ss\n\u{202E}".into(),
            table: None,
        };
        let in_tokens = BadValue {
            table: Some("tokens"),
            what: "a role".into(),
            columns: bad.columns,
            value: "boss".into(),
        };
        assert_eq!(
            in_tokens.describe(Some("role")),
            "tokens.role holds 'boss', not a role"
        );
        assert_eq!(bad.column(Some("role")), "users.role or tokens.role");
        assert_eq!(bad.column(Some("licence")), "licence");
        assert_eq!(
            BadValue {
                what: "a team role".into(),
                columns: &["team_members.role", "team_members.demoted_role"],
                value: "chief".into(),
                table: None,
            }
            .describe(Some("demoted_role")),
            "team_members.demoted_role holds 'chief', not a team role"
        );
        assert_eq!(
            bad.describe(Some("role")),
            "users.role or tokens.role holds 'bo\\'ss\\n\\u{202e}', not a role"
        );
        let long = BadValue {
            what: "a licence".into(),
            columns: &["users.licence"],
            value: "x".repeat(200),
            table: None,
        };
        assert!(
            long.describe(Some("licence"))
                .contains(&format!("'{}…'", "x".repeat(80)))
        );
    }
}
