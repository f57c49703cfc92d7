//! Newtype identifiers, so a team id can never be passed where a user id is expected.
//! Ids are UUID v7 strings: time-ordered, so new rows append to the primary-key index.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($name:ident),+ $(,)?) => {$(
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    )+};
}

id_type!(
    UserId,
    TeamId,
    TokenId,
    ContactMethodId,
    ContactTestId,
    NotificationRuleId,
    AuditEventId,
    SessionId,
    EmailId,
    ScheduleId,
    LayerId,
    OverrideId,
    EscalationPolicyId,
    EscalationRuleId,
    ServiceId,
    IntegrationId,
    IncidentId,
    AlertId,
    LogEntryId,
    NoteId,
    ChangeEventId
);
