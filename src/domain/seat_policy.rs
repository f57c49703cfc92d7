//! The seat policy (`policies/seats.toml`): which licence each account role needs, ordered
//! rules from what Entra says about a person (app roles, teams) to their role, the default for
//! newcomers, idle-seat rules and warning thresholds. Parsing and the decisions are pure;
//! reading the file is the caller's business. Mistakes are reported with their line.

use crate::domain::role::Role;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use toml::Spanned;

/// The two kinds of paid seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Licence {
    /// Can be on call, be paged, acknowledge, edit their team.
    Full,
    /// Read-only.
    Stakeholder,
}

impl Licence {
    pub const ALL: [Licence; 2] = [Licence::Full, Licence::Stakeholder];

    /// The role that goes with a licence when a rule names only the licence, and the role a
    /// person acts with while they hold a stakeholder seat but their role needs a full one.
    pub fn implied_role(self) -> Role {
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

    pub fn parse(s: &str) -> Option<Licence> {
        Licence::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// PagerDuty's `role_group` for the licence.
    pub fn role_group(self) -> &'static str {
        match self {
            Licence::Full => "FullUser",
            Licence::Stakeholder => "Stakeholder",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Licence::Full => "Full User",
            Licence::Stakeholder => "Stakeholder",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeatPolicy {
    /// The licence of each role, indexed like `Role::ALL`.
    licences: [Licence; 9],
    pub default_role: Role,
    /// Tried in order; the first match decides.
    pub rules: Vec<Rule>,
    pub idle: IdleRule,
    /// Percentages of a cap at which licence owners are warned, ascending.
    pub warn_at: Vec<u8>,
}

/// One rule: who it matches and the role it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Line of `[[rules]]` in the file, for audit records and messages.
    pub line: usize,
    pub team: Option<TeamRule>,
    pub app_role: Option<String>,
    pub role: Role,
}

/// What a rule's `team` names. Each kind matches only what Entra itself says about a team,
/// so nothing a person can set in Rota (a team's name) can make a rule match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamRule {
    /// An Entra group object id (the text is a UUID): matches only a team whose SCIM
    /// externalId is that id, never a team that is merely named so.
    Group(String),
    /// A team name: matches only the name Entra gave a team it provisions (SCIM
    /// displayName); teams made in Rota never count.
    Named(String),
}

impl TeamRule {
    fn parse(text: &str) -> TeamRule {
        match uuid::Uuid::try_parse(text.trim()) {
            Ok(id) => TeamRule::Group(id.hyphenated().to_string()),
            Err(_) => TeamRule::Named(crate::domain::user::name_key(text)),
        }
    }
}

/// The object id of an Entra group as team rules compare it: a UUID in its lower-case
/// hyphenated form; anything else folded to lower case.
pub fn group_id_key(external_id: &str) -> String {
    match uuid::Uuid::try_parse(external_id.trim()) {
        Ok(id) => id.hyphenated().to_string(),
        Err(_) => external_id.trim().to_lowercase(),
    }
}

impl Rule {
    /// How the audit trail and the API name the rule.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.app_role {
            parts.push(format!("app role {a}"));
        }
        match &self.team {
            Some(TeamRule::Group(id)) => parts.push(format!("Entra group {id}")),
            Some(TeamRule::Named(name)) => parts.push(format!("team {name}")),
            None => {}
        }
        format!("seats.toml line {} ({})", self.line, parts.join(" and "))
    }
}

/// When a full seat counts as idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdleRule {
    pub flag_after_days: Option<u32>,
    pub downgrade_after_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    licences: RawLicences,
    default: RawDefault,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    idle: RawIdle,
    warnings: Option<RawWarnings>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicences {
    full: Spanned<Vec<Spanned<String>>>,
    stakeholder: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefault {
    role: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    team: Option<Spanned<String>>,
    app_role: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    licence: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIdle {
    flag_after_days: Option<Spanned<i64>>,
    downgrade_after_days: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWarnings {
    at_percent: Spanned<Vec<Spanned<i64>>>,
}

/// Line numbers of byte offsets in the policy text.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, offset: usize) -> usize {
        self.0[..offset.min(self.0.len())].matches('\n').count() + 1
    }

    fn err<T>(&self, at: &Spanned<T>, message: String) -> String {
        format!("line {}: {message}", self.of(at.span().start))
    }
}

/// A person's teams that came from Entra (SCIM groups with an externalId), as team rules
/// see them: two separate sets, so a name can never pass for a group id or the other way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraTeams {
    /// The groups' object ids (the teams' externalId), as `group_id_key` gives them.
    pub group_ids: HashSet<String>,
    /// The names Entra gave those teams, as `user::name_key` folds them.
    pub names: HashSet<String>,
}

/// What Entra (and the team list) says about a person, as far as the policy cares.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Entra app role values.
    pub app_roles: &'a [String],
    /// The person's teams from Entra.
    pub teams: &'a EntraTeams,
    /// Listed in `bootstrap_owners`.
    pub bootstrap_owner: bool,
}

/// What the policy decides for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access<'p> {
    pub role: Role,
    pub licence: Licence,
    /// The rule that decided, if one matched.
    pub rule: Option<&'p Rule>,
}

impl SeatPolicy {
    /// Parses the TOML text; errors say the line and what to fix.
    pub fn parse(text: &str) -> Result<SeatPolicy, String> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| Lines(text).of(s.start));
            match line {
                Some(l) => format!("line {l}: {}", e.message().trim()),
                None => e.message().trim().to_string(),
            }
        })?;
        let lines = Lines(text);
        let role = |s: &Spanned<String>| {
            Role::parse(s.get_ref()).ok_or_else(|| {
                lines.err(
                    s,
                    format!(
                        "'{}' is not a role; use one of {}",
                        s.get_ref(),
                        Role::names()
                    ),
                )
            })
        };
        let mut licences: [Option<Licence>; 9] = [None; 9];
        for (licence, list) in [
            (Licence::Full, &raw.licences.full),
            (Licence::Stakeholder, &raw.licences.stakeholder),
        ] {
            for name in list.get_ref() {
                let r = role(name)?;
                let slot = &mut licences[role_index(r)];
                if slot.is_some() {
                    return Err(lines.err(
                        name,
                        format!("{} is listed twice under [licences]", r.as_str()),
                    ));
                }
                *slot = Some(licence);
            }
        }
        let missing: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| licences[role_index(**r)].is_none())
            .map(|r| r.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(lines.err(
                &raw.licences.full,
                format!(
                    "[licences] must list every role once; add {}",
                    missing.join(", ")
                ),
            ));
        }
        let licences = licences.map(|l| l.expect("every role checked above"));
        let licence_of = |r: Role| licences[role_index(r)];
        let mut rules = Vec::with_capacity(raw.rules.len());
        for spanned in &raw.rules {
            let r = spanned.get_ref();
            let line = lines.of(spanned.span().start);
            if r.team.is_none() && r.app_role.is_none() {
                return Err(format!(
                    "line {line}: this rule matches nobody; give a team, an app_role or both"
                ));
            }
            let given_role = r.role.as_ref().map(role).transpose()?;
            let given_licence = match &r.licence {
                Some(l) => Some(Licence::parse(l.get_ref()).ok_or_else(|| {
                    lines.err(
                        l,
                        format!(
                            "'{}' is not a licence; use full or stakeholder",
                            l.get_ref()
                        ),
                    )
                })?),
                None => None,
            };
            let rule_role = match (given_role, given_licence) {
                (Some(ro), Some(li)) if licence_of(ro) != li => {
                    return Err(format!(
                        "line {line}: the role {} needs a {} licence (see [licences]), not {}",
                        ro.as_str(),
                        licence_of(ro).as_str(),
                        li.as_str()
                    ));
                }
                (Some(ro), _) => ro,
                (None, Some(li)) => li.implied_role(),
                (None, None) => {
                    return Err(format!("line {line}: give the rule a role or a licence"));
                }
            };
            if let Some(t) = &r.team
                && t.get_ref().trim().is_empty()
            {
                return Err(lines.err(t, "team is empty".into()));
            }
            rules.push(Rule {
                line,
                team: r.team.as_ref().map(|t| TeamRule::parse(t.get_ref())),
                app_role: r
                    .app_role
                    .as_ref()
                    .map(|a| a.get_ref().trim().to_lowercase()),
                role: rule_role,
            });
        }
        let days = |v: &Option<Spanned<i64>>, key: &str| -> Result<Option<u32>, String> {
            match v {
                None => Ok(None),
                Some(d) if (1..=3650).contains(d.get_ref()) => Ok(Some(*d.get_ref() as u32)),
                Some(d) => {
                    Err(lines.err(d, format!("{key} is {}; use 1 to 3650 days", d.get_ref())))
                }
            }
        };
        let idle = IdleRule {
            flag_after_days: days(&raw.idle.flag_after_days, "flag_after_days")?,
            downgrade_after_days: days(&raw.idle.downgrade_after_days, "downgrade_after_days")?,
        };
        if let (Some(flag), Some(down)) = (idle.flag_after_days, idle.downgrade_after_days)
            && down < flag
        {
            let at = raw.idle.downgrade_after_days.as_ref().expect("set");
            return Err(lines.err(
                at,
                format!("downgrade_after_days ({down}) is less than flag_after_days ({flag})"),
            ));
        }
        let mut warn_at = Vec::new();
        if let Some(w) = &raw.warnings {
            for p in w.at_percent.get_ref() {
                if !(1..=100).contains(p.get_ref()) {
                    return Err(lines.err(
                        p,
                        format!("{} is not a percentage from 1 to 100", p.get_ref()),
                    ));
                }
                warn_at.push(*p.get_ref() as u8);
            }
        }
        warn_at.sort_unstable();
        warn_at.dedup();
        Ok(SeatPolicy {
            default_role: role(&raw.default.role)?,
            licences,
            rules,
            idle,
            warn_at,
        })
    }

    /// The licence a role needs.
    pub fn licence_of(&self, role: Role) -> Licence {
        self.licences[role_index(role)]
    }

    /// The roles that take `licence`, for PagerDuty's `valid_roles`.
    pub fn roles_of(&self, licence: Licence) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| self.licence_of(*r) == licence)
            .collect()
    }

    /// The role and licence for a person. Bootstrap owners are owners. Otherwise the first
    /// matching rule decides; with none, people keep their current role (set by an admin, or
    /// the default they got), except a role a rule gave (`current_from_rule`), which goes back
    /// to the default when no rule gives it any more; newcomers get the default. The licence
    /// follows the role.
    pub fn decide(
        &self,
        facts: &Facts<'_>,
        current: Option<Role>,
        current_from_rule: bool,
    ) -> Access<'_> {
        let (role, rule) = if facts.bootstrap_owner {
            (Role::Owner, None)
        } else {
            match self.rules.iter().find(|r| matches(r, facts)) {
                Some(r) => (r.role, Some(r)),
                None if current_from_rule => (self.default_role, None),
                None => (current.unwrap_or(self.default_role), None),
            }
        };
        Access {
            role,
            licence: self.licence_of(role),
            rule,
        }
    }

    /// The role a person acts with, given the seat they hold: their own role when the seat
    /// fits it, the read-only role while a stakeholder seat stands in for a full one, and
    /// nothing without a seat. Owners and licence owners without the seat their role needs
    /// still act as licence owners, so a shortage can always be fixed by someone.
    pub fn effective_role(&self, role: Role, held: Option<Licence>) -> Option<Role> {
        let fits = held == Some(self.licence_of(role));
        match held {
            _ if !fits && matches!(role, Role::Owner | Role::LicenseOwner) => {
                Some(Role::LicenseOwner)
            }
            None => None,
            Some(Licence::Stakeholder) if self.licence_of(role) == Licence::Full => {
                Some(Licence::Stakeholder.implied_role())
            }
            Some(_) => Some(role),
        }
    }
}

fn matches(rule: &Rule, facts: &Facts<'_>) -> bool {
    let app_role = rule.app_role.as_ref().is_none_or(|want| {
        facts
            .app_roles
            .iter()
            .any(|have| have.eq_ignore_ascii_case(want))
    });
    let team = rule.team.as_ref().is_none_or(|want| match want {
        TeamRule::Group(id) => facts.teams.group_ids.contains(id),
        TeamRule::Named(name) => facts.teams.names.contains(name),
    });
    app_role && team
}

fn role_index(role: Role) -> usize {
    Role::ALL
        .iter()
        .position(|r| *r == role)
        .expect("every role is in Role::ALL")
}

super::shown_by_name!(Licence);

#[cfg(test)]
mod tests {
    use super::*;

    pub fn shipped() -> SeatPolicy {
        SeatPolicy::parse(include_str!("../../policies/seats.toml")).expect("shipped policy")
    }

    #[test]
    fn shipped_policy_maps_pagerduty_roles_to_licences() {
        let p = shipped();
        assert_eq!(p.default_role, Role::User);
        for r in [
            "owner",
            "admin",
            "user",
            "limited_user",
            "restricted_access",
        ] {
            assert_eq!(p.licence_of(Role::parse(r).unwrap()), Licence::Full, "{r}");
        }
        for r in ["observer", "read_only_user", "read_only_limited_user"] {
            assert_eq!(
                p.licence_of(Role::parse(r).unwrap()),
                Licence::Stakeholder,
                "{r}"
            );
        }
        assert_eq!(p.warn_at, vec![80, 90, 100]);
        assert_eq!(p.idle.flag_after_days, Some(30));
    }

    #[test]
    fn first_matching_rule_wins_and_newcomers_get_the_default() {
        let p = shipped();
        let roles = vec!["Rota.Responder".to_string(), "Rota.Admin".to_string()];
        let teams = EntraTeams::default();
        let facts = Facts {
            app_roles: &roles,
            teams: &teams,
            bootstrap_owner: false,
        };
        let access = p.decide(&facts, None, false);
        assert_eq!(access.role, Role::Admin);
        assert_eq!(access.rule.unwrap().line, 29);
        let nobody = Facts {
            teams: &teams,
            app_roles: &[],
            bootstrap_owner: false,
        };
        assert_eq!(p.decide(&nobody, None, false).role, Role::User);
        let kept = p.decide(&nobody, Some(Role::Observer), false);
        let released = p.decide(&nobody, Some(Role::Observer), true);
        assert_eq!(
            released.role,
            Role::User,
            "a rule's role ends with the rule"
        );
        assert_eq!(
            (kept.role, kept.licence),
            (Role::Observer, Licence::Stakeholder)
        );
        let owner = Facts {
            bootstrap_owner: true,
            teams: &teams,
            app_roles: &[],
        };
        assert_eq!(p.decide(&owner, Some(Role::User), false).role, Role::Owner);
    }

    #[test]
    fn team_rules_match_names_and_group_ids_in_any_case() {
        let text = "[licences]\nfull = [\"owner\", \"admin\", \"user\", \"limited_user\", \"restricted_access\"]\nstakeholder = [\"observer\", \"read_only_user\", \"read_only_limited_user\", \"license_owner\"]\n[default]\nrole = \"user\"\n[[rules]]\nteam = \"Support Leads\"\nlicence = \"stakeholder\"\n[[rules]]\nteam = \"SRE\"\napp_role = \"Rota.Admin\"\nrole = \"admin\"\n";
        let p = SeatPolicy::parse(text).unwrap();
        let named = |name: &str| EntraTeams {
            names: [crate::domain::user::name_key(name)].into(),
            ..EntraTeams::default()
        };
        let teams = named("Support LEADS");
        let f = Facts {
            teams: &teams,
            app_roles: &[],
            bootstrap_owner: false,
        };
        assert_eq!(p.decide(&f, None, false).role, Role::ReadOnlyUser);
        let sre = named("sre");
        let no_role = Facts {
            teams: &sre,
            app_roles: &[],
            bootstrap_owner: false,
        };
        assert_eq!(p.decide(&no_role, None, false).role, Role::User);
        let roles = vec!["rota.admin".to_string()];
        let both = Facts {
            teams: &sre,
            app_roles: &roles,
            bootstrap_owner: false,
        };
        assert_eq!(p.decide(&both, None, false).role, Role::Admin);
    }

    #[test]
    fn a_group_id_rule_matches_only_a_group_id_and_a_name_rule_only_a_name() {
        let admins = "5D1B2C7E-4A8F-4A51-9A4E-0D6A8F6D1E21";
        let text = format!(
            "[licences]\nfull = [\"owner\", \"admin\", \"user\", \"limited_user\", \"restricted_access\"]\nstakeholder = [\"observer\", \"read_only_user\", \"read_only_limited_user\", \"license_owner\"]\n[default]\nrole = \"user\"\n[[rules]]\nteam = \"{admins}\"\nrole = \"admin\"\n[[rules]]\nteam = \"Platform Admins\"\nrole = \"admin\"\n"
        );
        let p = SeatPolicy::parse(&text).unwrap();
        assert_eq!(
            p.rules[0].team,
            Some(TeamRule::Group(admins.to_lowercase()))
        );
        let role = |teams: EntraTeams| {
            let facts = Facts {
                teams: &teams,
                app_roles: &[],
                bootstrap_owner: false,
            };
            p.decide(&facts, None, false).role
        };
        // A team named like the group's id, or whose id is the rule's name: no match.
        let id_as_name = EntraTeams {
            names: [admins.to_lowercase()].into(),
            ..EntraTeams::default()
        };
        assert_eq!(role(id_as_name), Role::User);
        let name_as_id = EntraTeams {
            group_ids: ["platform admins".to_string()].into(),
            ..EntraTeams::default()
        };
        assert_eq!(role(name_as_id), Role::User);
        let in_group = EntraTeams {
            group_ids: [group_id_key(admins)].into(),
            ..EntraTeams::default()
        };
        assert_eq!(role(in_group), Role::Admin);
        let named = EntraTeams {
            names: [crate::domain::user::name_key("platform ADMINS")].into(),
            ..EntraTeams::default()
        };
        assert_eq!(role(named), Role::Admin);
        assert!(p.rules[0].describe().contains("Entra group 5d1b2c7e"));
    }

    #[test]
    fn effective_role_follows_the_seat_held() {
        let p = shipped();
        assert_eq!(p.effective_role(Role::Admin, None), None);
        assert_eq!(
            p.effective_role(Role::User, Some(Licence::Stakeholder)),
            Some(Role::ReadOnlyUser)
        );
        assert_eq!(
            p.effective_role(Role::Observer, Some(Licence::Stakeholder)),
            Some(Role::Observer)
        );
        assert_eq!(
            p.effective_role(Role::User, Some(Licence::Full)),
            Some(Role::User)
        );
        assert_eq!(
            p.effective_role(Role::Owner, None),
            Some(Role::LicenseOwner)
        );
        assert_eq!(
            p.effective_role(Role::Owner, Some(Licence::Stakeholder)),
            Some(Role::LicenseOwner)
        );
        assert_eq!(
            p.effective_role(Role::LicenseOwner, None),
            Some(Role::LicenseOwner)
        );
    }

    #[test]
    fn mistakes_name_the_line() {
        let base = "[licences]\nfull = [\"owner\", \"admin\", \"user\", \"limited_user\", \"restricted_access\"]\nstakeholder = [\"observer\", \"read_only_user\", \"read_only_limited_user\", \"license_owner\"]\n[default]\nrole = \"user\"\n";
        let err = |extra: &str| SeatPolicy::parse(&format!("{base}{extra}")).unwrap_err();
        let e = err("[[rules]]\nteam = \"x\"\nlicence = \"gold\"\n");
        assert!(
            e.starts_with("line 8:") && e.contains("'gold' is not a licence"),
            "{e}"
        );
        let e = err("[[rules]]\nteam = \"x\"\nrole = \"user\"\nlicence = \"stakeholder\"\n");
        assert!(
            e.starts_with("line 6:") && e.contains("needs a full licence"),
            "{e}"
        );
        let e = err("[[rules]]\nrole = \"boss\"\napp_role = \"a\"\n");
        assert!(
            e.starts_with("line 7:") && e.contains("'boss' is not a role"),
            "{e}"
        );
        let e = err("[[rules]]\nrole = \"user\"\n");
        assert!(
            e.starts_with("line 6:") && e.contains("matches nobody"),
            "{e}"
        );
        let e = err("[idle]\nflag_after_days = 0\n");
        assert!(e.starts_with("line 7:"), "{e}");
        let e = err("[warnings]\nat_percent = [80, 120]\n");
        assert!(e.starts_with("line 7:") && e.contains("120"), "{e}");
        let e = err("[rules]\n");
        assert!(e.starts_with("line 6"), "{e}");
        let e = SeatPolicy::parse(&base.replace(", \"license_owner\"", "")).unwrap_err();
        assert!(
            e.starts_with("line 2:") && e.contains("add license_owner"),
            "{e}"
        );
        let e = SeatPolicy::parse(&base.replace("\"observer\", ", "\"observer\", \"user\", "))
            .unwrap_err();
        assert!(
            e.starts_with("line 3:") && e.contains("user is listed twice"),
            "{e}"
        );
    }
}
