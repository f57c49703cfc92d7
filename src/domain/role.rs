//! Roles: a person's account role (PagerDuty's user roles, so PagerDuty clients and migration
//! scripts keep working, plus Rota's `license_owner`), the coarser kind of role the
//! authorization policies are written against, and a person's role on a team. Who may do
//! what is decided by the policies (`crate::authz`), not here.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's (or an API token's) account role, with PagerDuty's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    User,
    LimitedUser,
    Observer,
    RestrictedAccess,
    ReadOnlyUser,
    ReadOnlyLimitedUser,
    /// Rota's own role: manages licences and seats, nothing else beyond reading the directory.
    LicenseOwner,
}

/// What the authorization policies see of an account role (`principal.role` in Cedar): the
/// PagerDuty roles fold into full users ("responder") and read-only users ("stakeholder").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleKind {
    Owner,
    Admin,
    LicenseOwner,
    /// A full user: can be on call, acknowledge, and edit a team they manage.
    Responder,
    /// A read-only user: never edits anything.
    Stakeholder,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Owner => "owner",
            RoleKind::Admin => "admin",
            RoleKind::LicenseOwner => "license_owner",
            RoleKind::Responder => "responder",
            RoleKind::Stakeholder => "stakeholder",
        }
    }
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Owner,
        Role::Admin,
        Role::User,
        Role::LimitedUser,
        Role::Observer,
        Role::RestrictedAccess,
        Role::ReadOnlyUser,
        Role::ReadOnlyLimitedUser,
        Role::LicenseOwner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::User => "user",
            Role::LimitedUser => "limited_user",
            Role::Observer => "observer",
            Role::RestrictedAccess => "restricted_access",
            Role::ReadOnlyUser => "read_only_user",
            Role::ReadOnlyLimitedUser => "read_only_limited_user",
            Role::LicenseOwner => "license_owner",
        }
    }

    pub fn kind(self) -> RoleKind {
        match self {
            Role::Owner => RoleKind::Owner,
            Role::Admin => RoleKind::Admin,
            Role::LicenseOwner => RoleKind::LicenseOwner,
            Role::User | Role::LimitedUser => RoleKind::Responder,
            Role::Observer
            | Role::RestrictedAccess
            | Role::ReadOnlyUser
            | Role::ReadOnlyLimitedUser => RoleKind::Stakeholder,
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The list of accepted values, for error messages.
    pub fn names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }
}

/// A user's role on one team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    Observer,
    Responder,
    Manager,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Observer => "observer",
            TeamRole::Responder => "responder",
            TeamRole::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<TeamRole> {
        [TeamRole::Observer, TeamRole::Responder, TeamRole::Manager]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

super::shown_by_name!(Role, TeamRole);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("license_owner"), Some(Role::LicenseOwner));
        assert!(Role::names().ends_with("read_only_limited_user, license_owner"));
    }

    #[test]
    fn wire_names_match_serde() {
        for role in Role::ALL {
            assert_eq!(
                serde_json::to_value(role).unwrap(),
                serde_json::Value::String(role.as_str().into())
            );
        }
    }

    #[test]
    fn kinds_fold_pagerduty_roles_into_full_and_read_only_users() {
        let kinds: Vec<(&str, &str)> = Role::ALL
            .into_iter()
            .map(|r| (r.as_str(), r.kind().as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("owner", "owner"),
                ("admin", "admin"),
                ("user", "responder"),
                ("limited_user", "responder"),
                ("observer", "stakeholder"),
                ("restricted_access", "stakeholder"),
                ("read_only_user", "stakeholder"),
                ("read_only_limited_user", "stakeholder"),
                ("license_owner", "license_owner"),
            ]
        );
    }
}
