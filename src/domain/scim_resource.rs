//! Typed serde models of the SCIM documents Rota writes besides the User (`scim_user`): a
//! resource's `meta` (RFC 7643 §3.1), the Group resource (§4.2), and the ListResponse and
//! Error messages (RFC 7644 §3.4.2, §3.12). Field order is the order on the wire. Pure: the
//! HTTP layer fills them from rows and serializes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::scim_schema::GROUP_SCHEMA;
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// A resource's `meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub resource_type: String,
    /// RFC 3339, to the millisecond.
    pub created: String,
    pub last_modified: String,
    /// The weak ETag of the version (`W/"3"`).
    pub version: String,
    pub location: String,
}

/// `urn:ietf:params:scim:schemas:core:2.0:Group`: direct members only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub schemas: Vec<String>,
    pub id: String,
    pub display_name: String,
    /// Left out when empty (and when members were not asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    pub meta: Meta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A group member. `display` is left out: it is optional, read-only, and would cost a join
/// per member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "$ref")]
    pub reference: String,
}

/// A page of resources (RFC 7644 §3.4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T = Value> {
    pub schemas: Vec<String>,
    pub total_results: i64,
    pub start_index: i64,
    pub items_per_page: usize,
    #[serde(rename = "Resources")]
    pub resources: Vec<T>,
}

impl<T> ListResponse<T> {
    pub fn new(resources: Vec<T>, total_results: i64, start_index: i64) -> Self {
        ListResponse {
            schemas: vec![LIST_SCHEMA.to_string()],
            total_results,
            start_index,
            items_per_page: resources.len(),
            resources,
        }
    }
}

/// An error (RFC 7644 §3.12); `status` is the HTTP status as a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub schemas: Vec<String>,
    pub status: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
}

impl Error {
    pub fn new(status: u16, detail: String, scim_type: Option<&str>) -> Self {
        Error {
            schemas: vec![ERROR_SCHEMA.to_string()],
            status: status.to_string(),
            detail,
            scim_type: scim_type.map(str::to_owned),
        }
    }
}
