//! The seat policy (`policies/seats.toml`): which account role and licence a person gets from
//! what Entra ID says about them (app roles and group memberships), and the default for people
//! who sign in for the first time. Parsing and the decision are pure; reading the file is the
//! caller's business.

use crate::domain::role::Role;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The two kinds of paid seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Licence {
    /// Can be on call, acknowledge, edit their team.
    Full,
    /// Read-only.
    Stakeholder,
}

impl Licence {
    /// The licence a role needs: read-only roles take a stakeholder seat.
    pub fn of(role: Role) -> Licence {
        if is_stakeholder_role(role) {
            Licence::Stakeholder
        } else {
            Licence::Full
        }
    }

    /// The role that goes with a licence when a rule names only the licence.
    fn implied_role(self) -> Role {
        match self {
            Licence::Full => Role::User,
            Licence::Stakeholder => Role::ReadOnlyUser,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Licence::Full => "full",
            Licence::Stakeholder => "stakeholder",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeatPolicy {
    pub default_role: Role,
    /// Entra app role value -> account role.
    pub app_roles: BTreeMap<String, Role>,
    pub groups: Vec<GroupRule>,
}

/// What members of one Entra group get.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRule {
    /// The group's object id (lower case).
    pub id: String,
    pub role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    default: RawDefault,
    #[serde(default)]
    app_roles: BTreeMap<String, String>,
    #[serde(default)]
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefault {
    role: Option<String>,
    licence: Option<Licence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: String,
    role: Option<String>,
    licence: Option<Licence>,
}

/// A rule's role: as written, or implied by its licence; the two must agree.
fn rule_role(where_: &str, role: Option<&str>, licence: Option<Licence>) -> Result<Role, String> {
    let role = match role {
        Some(name) => Some(Role::parse(name).ok_or_else(|| {
            format!(
                "{where_}: '{name}' is not a role; use one of {}",
                Role::names()
            )
        })?),
        None => None,
    };
    match (role, licence) {
        (Some(r), Some(l)) if Licence::of(r) != l => Err(format!(
            "{where_}: the role {} needs a {} licence, not {}",
            r.as_str(),
            Licence::of(r).as_str(),
            l.as_str()
        )),
        (Some(r), _) => Ok(r),
        (None, Some(l)) => Ok(l.implied_role()),
        (None, None) => Err(format!("{where_}: give a role or a licence")),
    }
}

/// What the policy decides for one person at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    /// The licence to ask a seat of; decided again by the seat rules.
    pub licence: Licence,
}

/// What Entra said about a person, as far as the policy cares.
#[derive(Debug, Clone, Default)]
pub struct Claims<'a> {
    pub app_roles: &'a [String],
    /// `None` when the groups claim was incomplete (overage): group rules then don't apply.
    pub groups: Option<&'a [String]>,
    /// Listed in `bootstrap_owners`.
    pub bootstrap_owner: bool,
}

/// How much a role may do, to pick the strongest of several matches.
pub fn privilege(role: Role) -> u8 {
    match role.as_str() {
        "owner" => 8,
        "admin" => 7,
        "license_owner" => 6,
        "user" => 5,
        "limited_user" => 4,
        "observer" | "read_only_user" => 3,
        "read_only_limited_user" => 2,
        _ => 1,
    }
}

/// Is this a read-only (stakeholder) role? Such people hold a stakeholder seat.
pub fn is_stakeholder_role(role: Role) -> bool {
    privilege(role) <= 3
}

impl SeatPolicy {
    /// Parses the TOML text; errors say the line and what to fix.
    pub fn parse(text: &str) -> Result<SeatPolicy, String> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            }
        })?;
        let mut groups = Vec::with_capacity(raw.groups.len());
        for g in raw.groups {
            if uuid::Uuid::try_parse(&g.id).is_err() {
                return Err(format!(
                    "groups: '{}' is not a group object id (a GUID)",
                    g.id
                ));
            }
            let where_ = format!("group {}", g.id);
            groups.push(GroupRule {
                role: rule_role(&where_, g.role.as_deref(), g.licence)?,
                id: g.id.to_ascii_lowercase(),
            });
        }
        Ok(SeatPolicy {
            default_role: rule_role("default", raw.default.role.as_deref(), raw.default.licence)?,
            app_roles: raw
                .app_roles
                .into_iter()
                .map(|(k, v)| {
                    let role = rule_role(&format!("app_roles.\"{k}\""), Some(&v), None)?;
                    Ok((k, role))
                })
                .collect::<Result<_, String>>()?,
            groups,
        })
    }

    /// The role and licence for a person. Bootstrap owners are owners. A matching app role or
    /// group rule decides (the strongest wins); otherwise people keep their current role, and
    /// newcomers get the default. The licence follows the role.
    pub fn decide(&self, claims: &Claims<'_>, current: Option<Role>) -> Access {
        let from_roles = claims
            .app_roles
            .iter()
            .filter_map(|r| self.app_roles.get(r).copied());
        let matched_groups: Vec<&GroupRule> = match claims.groups {
            Some(groups) => self
                .groups
                .iter()
                .filter(|rule| groups.iter().any(|g| g.eq_ignore_ascii_case(&rule.id)))
                .collect(),
            None => Vec::new(),
        };
        let from_groups = matched_groups.iter().map(|g| g.role);
        let role = if claims.bootstrap_owner {
            Role::Owner
        } else {
            from_roles
                .chain(from_groups)
                .max_by_key(|r| privilege(*r))
                .or(current)
                .unwrap_or(self.default_role)
        };
        Access {
            role,
            licence: Licence::of(role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SeatPolicy {
        SeatPolicy::parse(include_str!("../../policies/seats.toml")).expect("shipped policy")
    }

    #[test]
    fn shipped_policy_parses() {
        let p = policy();
        assert_eq!(p.default_role, Role::User);
        assert_eq!(p.app_roles.get("Rota.Admin"), Some(&Role::Admin));
    }

    #[test]
    fn strongest_app_role_wins_and_newcomers_get_the_default() {
        let p = policy();
        let roles = vec!["Rota.Responder".to_string(), "Rota.Admin".to_string()];
        let claims = Claims {
            app_roles: &roles,
            ..Claims::default()
        };
        assert_eq!(p.decide(&claims, None).role, Role::Admin);
        assert_eq!(p.decide(&Claims::default(), None).role, Role::User);
        assert_eq!(
            p.decide(&Claims::default(), Some(Role::Observer)),
            Access {
                role: Role::Observer,
                licence: Licence::Stakeholder
            }
        );
    }

    #[test]
    fn bootstrap_owners_are_owners() {
        let claims = Claims {
            bootstrap_owner: true,
            ..Claims::default()
        };
        assert_eq!(policy().decide(&claims, Some(Role::User)).role, Role::Owner);
    }

    #[test]
    fn group_rules_apply_only_to_complete_claims() {
        let text = "[default]\nrole = \"user\"\nlicence = \"full\"\n[[groups]]\nid = \"5D1B2C7E-4A8F-4A51-9A4E-0D6A8F6D1E21\"\nrole = \"read_only_user\"\nlicence = \"stakeholder\"\n";
        let p = SeatPolicy::parse(text).unwrap();
        let groups = vec!["5d1b2c7e-4a8f-4a51-9a4e-0d6a8f6d1e21".to_string()];
        let member = Claims {
            groups: Some(&groups),
            ..Claims::default()
        };
        assert_eq!(
            p.decide(&member, None),
            Access {
                role: Role::ReadOnlyUser,
                licence: Licence::Stakeholder
            }
        );
        let overage = Claims::default();
        assert_eq!(p.decide(&overage, None).role, Role::User);
    }

    #[test]
    fn mistakes_name_the_line() {
        let err =
            SeatPolicy::parse("[default]\nrole = \"user\"\nlicence = \"gold\"\n").unwrap_err();
        assert!(err.starts_with("line 3"), "{err}");
        let err = SeatPolicy::parse("[default]\nrole = \"user\"\nlicence = \"stakeholder\"\n")
            .unwrap_err();
        assert!(err.contains("needs a full licence"), "{err}");
        let err =
            SeatPolicy::parse("[default]\nrole = \"boss\"\nlicence = \"full\"\n").unwrap_err();
        assert!(err.contains("'boss' is not a role"), "{err}");
    }
}
