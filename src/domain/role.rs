//! Roles: a person's account role (PagerDuty's user roles, so PagerDuty clients and migration
//! scripts keep working) and their role on a team. Also the coarse permission rules that the
//! REST API enforces until fine-grained policies arrive.

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
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Owner,
        Role::Admin,
        Role::User,
        Role::LimitedUser,
        Role::Observer,
        Role::RestrictedAccess,
        Role::ReadOnlyUser,
        Role::ReadOnlyLimitedUser,
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
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The list of accepted values, for error messages.
    pub fn names() -> String {
        Role::ALL.map(Role::as_str).join(", ")
    }

    /// May this role create, change and delete users and teams? In PagerDuty only account
    /// owners and admins manage the directory.
    pub fn manages_directory(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// May this role read the audit trail? Admin-level, as in PagerDuty.
    pub fn reads_audit(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Only an owner may hand out the owner role.
    pub fn may_grant(self, granted: Role) -> bool {
        match granted {
            Role::Owner => self == Role::Owner,
            _ => self.manages_directory(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn only_owners_grant_owner() {
        assert!(Role::Owner.may_grant(Role::Owner));
        assert!(!Role::Admin.may_grant(Role::Owner));
        assert!(Role::Admin.may_grant(Role::Admin));
        assert!(!Role::User.may_grant(Role::Observer));
    }
}
