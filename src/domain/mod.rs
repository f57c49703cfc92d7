//! The pure core: rules and decisions over plain values. Nothing here touches the database, the
//! network or the clock; callers pass in what they read and act on what comes back.

/// `Display` for enums that have a name (`as_str`): formatting shows the name, so messages
/// and padded tables (`{:<8}`) take the value itself.
macro_rules! shown_by_name {
    ($($t:ty),+) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    )+};
}
pub(crate) use shown_by_name;

pub mod action_link;
pub mod analytics;
pub mod attempts;
pub mod audit;
pub mod calendar;
pub mod caseless;
pub mod chat;
pub mod chat_hosts;
pub mod contact;
pub mod contact_test;
pub mod escalation;
pub mod events;
pub mod handoff;
pub mod ids;
pub mod incident;
pub mod notification;
pub mod paging;
pub mod postmortem;
pub mod processing;
pub mod retry;
pub mod role;
pub mod schedule;
pub mod scim_filter;
pub mod scim_group;
pub mod scim_list;
pub mod scim_patch;
pub mod scim_resource;
pub mod scim_schema;
pub mod scim_user;
pub mod seat_policy;
pub mod seats;
pub mod service;
pub mod sign_in;
pub mod similarity;
pub mod subscription;
pub mod summary;
pub mod text;
pub mod token;
pub mod user;
