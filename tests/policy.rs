//! The authorization policies in the repository's `policies/` folder, decided by Cedar, checked
//! against the access matrix written out below as data (independently of the policies): every
//! account role, as a person and as an API token, × every action × the resources that matter.
//! Then the errors an operator sees when their own policy folder is broken.

use rota::authz::{Action, Policies, PolicyError, Principal, PrincipalId, Resource};
use rota::domain::ids::{TeamId, TokenId, UserId};
use rota::domain::role::Role;
use std::path::{Path, PathBuf};

fn policy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// Who may: wire role names, or one of these groups.
const EVERYONE: &str = "owner admin license_owner user limited_user observer restricted_access read_only_user read_only_limited_user";
const OWNER_ADMIN: &str = "owner admin";
const NOBODY: &str = "";

/// What the action is done to, as seen from the principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Account,
    /// Another person whose role is `user` (a responder).
    OtherResponder,
    /// Another person whose role is `owner`.
    OtherOwner,
    /// The principal's own account (people only).
    Themselves,
    /// A team where the principal's team role is manager (tokens manage none).
    ManagedTeam,
    OtherTeam,
    /// A schedule of a team the principal manages, and of another team.
    ManagedSchedule,
    OtherSchedule,
    /// An escalation policy of a team the principal manages, and of no team.
    ManagedPolicy,
    OtherPolicy,
    /// A service of a team the principal manages, and of another team.
    ManagedService,
    OtherService,
}

const CASES: [Case; 12] = [
    Case::Account,
    Case::OtherResponder,
    Case::OtherOwner,
    Case::Themselves,
    Case::ManagedTeam,
    Case::OtherTeam,
    Case::ManagedSchedule,
    Case::OtherSchedule,
    Case::ManagedPolicy,
    Case::OtherPolicy,
    Case::ManagedService,
    Case::OtherService,
];

/// (action, resource, people who may, API tokens that may). Missing rows: nobody may.
/// Tokens have no own account, so their `Themselves` rows are not asked.
const MATRIX: &[(&str, Case, &str, &str)] = &[
    ("ReadDirectory", Case::Account, EVERYONE, EVERYONE),
    ("CreateUser", Case::Account, OWNER_ADMIN, OWNER_ADMIN),
    ("UpdateUser", Case::OtherResponder, OWNER_ADMIN, OWNER_ADMIN),
    ("UpdateUser", Case::OtherOwner, "owner", "owner"),
    ("UpdateUser", Case::Themselves, EVERYONE, NOBODY),
    ("DeleteUser", Case::OtherResponder, OWNER_ADMIN, OWNER_ADMIN),
    ("DeleteUser", Case::OtherOwner, "owner", "owner"),
    ("DeleteUser", Case::Themselves, OWNER_ADMIN, NOBODY),
    ("CreateTeam", Case::Account, OWNER_ADMIN, OWNER_ADMIN),
    ("DeleteTeam", Case::ManagedTeam, OWNER_ADMIN, OWNER_ADMIN),
    ("DeleteTeam", Case::OtherTeam, OWNER_ADMIN, OWNER_ADMIN),
    (
        "UpdateTeam",
        Case::ManagedTeam,
        "owner admin user limited_user",
        OWNER_ADMIN,
    ),
    ("UpdateTeam", Case::OtherTeam, OWNER_ADMIN, OWNER_ADMIN),
    (
        "ManageTeamMembers",
        Case::ManagedTeam,
        "owner admin user limited_user",
        OWNER_ADMIN,
    ),
    (
        "ManageTeamMembers",
        Case::OtherTeam,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    ("ReadAudit", Case::Account, OWNER_ADMIN, OWNER_ADMIN),
    (
        "ReadSessions",
        Case::OtherResponder,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    ("ReadSessions", Case::OtherOwner, OWNER_ADMIN, OWNER_ADMIN),
    ("ReadSessions", Case::Themselves, EVERYONE, NOBODY),
    (
        "RevokeSessions",
        Case::OtherResponder,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    ("RevokeSessions", Case::OtherOwner, OWNER_ADMIN, OWNER_ADMIN),
    ("RevokeSessions", Case::Themselves, EVERYONE, NOBODY),
    (
        "ReadLicences",
        Case::Account,
        "owner admin license_owner",
        "owner admin license_owner",
    ),
    (
        "ManageLicences",
        Case::Account,
        "owner license_owner",
        "owner license_owner",
    ),
    ("ReadOnCall", Case::Account, EVERYONE, EVERYONE),
    (
        "RespondToIncident",
        Case::Account,
        "owner admin user limited_user",
        "owner admin user limited_user",
    ),
    (
        "ManageSchedule",
        Case::ManagedSchedule,
        "owner admin user limited_user",
        OWNER_ADMIN,
    ),
    (
        "ManageSchedule",
        Case::OtherSchedule,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    (
        "ManageEscalationPolicy",
        Case::ManagedPolicy,
        "owner admin user limited_user",
        OWNER_ADMIN,
    ),
    (
        "ManageEscalationPolicy",
        Case::OtherPolicy,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    (
        "ManageService",
        Case::ManagedService,
        "owner admin user limited_user",
        OWNER_ADMIN,
    ),
    (
        "ManageService",
        Case::OtherService,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    (
        "ManageContactMethods",
        Case::OtherResponder,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    (
        "ManageContactMethods",
        Case::OtherOwner,
        OWNER_ADMIN,
        OWNER_ADMIN,
    ),
    ("ManageContactMethods", Case::Themselves, EVERYONE, NOBODY),
    // Personal tokens act as their holder: only they manage theirs.
    ("ManagePersonalTokens", Case::Themselves, EVERYONE, NOBODY),
    // Stakeholders subscribe themselves; responders subscribe others; admins set up chat.
    ("Subscribe", Case::Account, EVERYONE, EVERYONE),
    (
        "SubscribeOthers",
        Case::Account,
        "owner admin user limited_user",
        "owner admin user limited_user",
    ),
    ("ConfigureChat", Case::Account, OWNER_ADMIN, OWNER_ADMIN),
    // ChangeOwnShift is asked through `authorize_shift` only (below).
];

/// What a token may act with, as `authorize_token` is asked: a SCIM token (`None`) or a role.
const TOKEN_GRANTS: [Option<Role>; 10] = [
    None,
    Some(Role::Owner),
    Some(Role::Admin),
    Some(Role::LicenseOwner),
    Some(Role::User),
    Some(Role::LimitedUser),
    Some(Role::Observer),
    Some(Role::RestrictedAccess),
    Some(Role::ReadOnlyUser),
    Some(Role::ReadOnlyLimitedUser),
];

/// ManageTokens: owners any token; admins any but one acting as an owner; people and tokens
/// alike.
fn expected_token(granted: Option<Role>, role: Role) -> bool {
    match role {
        Role::Owner => true,
        Role::Admin => granted != Some(Role::Owner),
        _ => false,
    }
}

/// ChangeRole: (resource, is the granted role owner?, people who may, tokens that may).
const GRANTS: &[(Case, bool, &str, &str)] = &[
    (Case::OtherResponder, false, OWNER_ADMIN, OWNER_ADMIN),
    (Case::OtherResponder, true, "owner", "owner"),
    (Case::OtherOwner, false, "owner", "owner"),
    (Case::OtherOwner, true, "owner", "owner"),
    (Case::Themselves, false, "owner", NOBODY),
    (Case::Themselves, true, "owner", NOBODY),
];

fn may(list: &str, role: Role) -> bool {
    list.split_whitespace().any(|r| r == role.as_str())
}

fn expected(action: Action, case: Case, role: Role, person: bool) -> bool {
    MATRIX
        .iter()
        .find(|(a, c, _, _)| *a == action.as_str() && *c == case)
        .is_some_and(|(_, _, people, tokens)| may(if person { people } else { tokens }, role))
}

fn expected_grant(case: Case, granted: Role, role: Role, person: bool) -> bool {
    GRANTS
        .iter()
        .find(|(c, owner, _, _)| *c == case && *owner == (granted == Role::Owner))
        .is_some_and(|(_, _, people, tokens)| may(if person { people } else { tokens }, role))
}

fn managed() -> TeamId {
    TeamId("team-managed".into())
}

fn person(role: Role) -> Principal {
    Principal {
        id: PrincipalId::User(UserId("me".into())),
        role,
        manages: vec![managed()],
    }
}

fn token(role: Role) -> Principal {
    Principal {
        id: PrincipalId::ApiToken(TokenId("me".into())),
        role,
        manages: vec![],
    }
}

fn resource(case: Case, role: Role) -> Resource {
    match case {
        Case::Account => Resource::Account,
        Case::OtherResponder => Resource::User {
            id: UserId("someone".into()),
            role: Role::User,
        },
        Case::OtherOwner => Resource::User {
            id: UserId("the-owner".into()),
            role: Role::Owner,
        },
        Case::Themselves => Resource::User {
            id: UserId("me".into()),
            role,
        },
        Case::ManagedTeam => Resource::Team(managed()),
        Case::OtherTeam => Resource::Team(TeamId("team-other".into())),
        Case::ManagedSchedule => Resource::Schedule {
            id: Some("s1".into()),
            teams: vec![TeamId("team-other".into()), managed()],
        },
        Case::OtherSchedule => Resource::Schedule {
            id: None,
            teams: vec![TeamId("team-other".into())],
        },
        Case::ManagedPolicy => Resource::EscalationPolicy {
            id: Some("p1".into()),
            teams: vec![managed()],
        },
        Case::OtherPolicy => Resource::EscalationPolicy {
            id: Some("p2".into()),
            teams: vec![],
        },
        Case::ManagedService => Resource::Service {
            id: Some("v1".into()),
            teams: vec![managed()],
        },
        Case::OtherService => Resource::Service {
            id: None,
            teams: vec![TeamId("team-other".into())],
        },
    }
}

#[test]
fn responders_take_shifts_and_give_their_own_away_stakeholders_do_neither() {
    let policies = repo_policies();
    let schedule = resource(Case::OtherSchedule, Role::User);
    for role in Role::ALL {
        let responder = matches!(role.kind().as_str(), "responder");
        for (takes, gives) in [(true, false), (false, true), (true, true)] {
            assert_eq!(
                policies.authorize_shift(&person(role), &schedule, takes, gives),
                responder,
                "{} takes={takes} gives={gives}",
                role.as_str()
            );
            assert!(
                !policies.authorize_shift(&token(role), &schedule, takes, gives),
                "a token is nobody's shift"
            );
        }
        assert!(!policies.authorize_shift(&person(role), &schedule, false, false));
        assert!(!policies.authorize(&person(role), Action::ChangeOwnShift, &schedule));
    }
}

fn repo_policies() -> Policies {
    Policies::load(&policy_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// Every decision, in a fixed order, with a label for messages.
fn decisions(policies: &Policies) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for role in Role::ALL {
        for (is_person, principal) in [(true, person(role)), (false, token(role))] {
            let who = format!(
                "{} {}",
                if is_person { "person" } else { "token" },
                role.as_str()
            );
            for case in CASES {
                if !is_person && case == Case::Themselves {
                    continue;
                }
                let r = resource(case, role);
                for action in Action::ALL {
                    if action == Action::ChangeRole {
                        for granted in Role::ALL {
                            out.push((
                                format!("{who} ChangeRole {case:?} to {}", granted.as_str()),
                                policies.authorize_grant(&principal, &r, granted),
                            ));
                        }
                    } else if action == Action::ManageTokens && case == Case::Account {
                        for granted in TOKEN_GRANTS {
                            out.push((
                                format!("{who} ManageTokens {granted:?}"),
                                policies.authorize_token(&principal, granted),
                            ));
                        }
                    } else {
                        out.push((
                            format!("{who} {} {case:?}", action.as_str()),
                            policies.authorize(&principal, action, &r),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_role_as_person_and_token_gets_exactly_the_access_matrix() {
    let policies = repo_policies();
    let mut wrong = Vec::new();
    let mut asked = 0;
    for role in Role::ALL {
        for (is_person, principal) in [(true, person(role)), (false, token(role))] {
            for case in CASES {
                if !is_person && case == Case::Themselves {
                    continue;
                }
                let r = resource(case, role);
                for action in Action::ALL {
                    let checks: Vec<(String, bool, bool)> = if action == Action::ChangeRole {
                        Role::ALL
                            .into_iter()
                            .map(|granted| {
                                (
                                    format!("ChangeRole to {}", granted.as_str()),
                                    policies.authorize_grant(&principal, &r, granted),
                                    expected_grant(case, granted, role, is_person),
                                )
                            })
                            .collect()
                    } else if action == Action::ManageTokens && case == Case::Account {
                        TOKEN_GRANTS
                            .into_iter()
                            .map(|granted| {
                                (
                                    format!("ManageTokens {granted:?}"),
                                    policies.authorize_token(&principal, granted),
                                    expected_token(granted, role),
                                )
                            })
                            .collect()
                    } else {
                        vec![(
                            action.as_str().to_string(),
                            policies.authorize(&principal, action, &r),
                            expected(action, case, role, is_person),
                        )]
                    };
                    for (what, got, want) in checks {
                        asked += 1;
                        if got != want {
                            wrong.push(format!(
                                "{} {} {what} on {case:?}: got {}, want {}",
                                if is_person { "person" } else { "token" },
                                role.as_str(),
                                if got { "allow" } else { "deny" },
                                if want { "allow" } else { "deny" },
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {asked} decisions differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // 9 roles × (12 cases for people + 11 for tokens) × (25 actions + ChangeRole to 9 roles),
    // and on the account ManageTokens for a SCIM token and 9 roles instead of once.
    assert_eq!(asked, 9 * 23 * (25 + 9) + 9 * 2 * 9);
}

#[test]
fn the_built_in_policies_decide_as_the_policy_folder_does() {
    let builtin = Policies::builtin();
    let loaded = repo_policies();
    assert_eq!(builtin.policy_count(), loaded.policy_count());
    assert_eq!(builtin.file_count(), loaded.file_count());
    assert_eq!(decisions(&builtin), decisions(&loaded));
}

#[test]
fn change_role_is_only_decided_with_the_role_granted() {
    let policies = repo_policies();
    let other = resource(Case::OtherResponder, Role::User);
    assert!(policies.authorize_grant(&person(Role::Owner), &other, Role::Admin));
    assert!(!policies.authorize(&person(Role::Owner), Action::ChangeRole, &other));
}

#[test]
fn a_token_is_never_the_user_that_shares_its_id() {
    let policies = repo_policies();
    let namesake = Resource::User {
        id: UserId("me".into()),
        role: Role::ReadOnlyUser,
    };
    let t = token(Role::ReadOnlyUser);
    for action in [
        Action::UpdateUser,
        Action::ReadSessions,
        Action::RevokeSessions,
    ] {
        assert!(!policies.authorize(&t, action, &namesake), "{action:?}");
    }
    assert!(policies.authorize(&person(Role::ReadOnlyUser), Action::UpdateUser, &namesake));
}

#[test]
fn a_stakeholder_or_licence_owner_listed_as_team_manager_still_edits_nothing() {
    let policies = repo_policies();
    for role in [
        Role::Observer,
        Role::RestrictedAccess,
        Role::ReadOnlyUser,
        Role::ReadOnlyLimitedUser,
        Role::LicenseOwner,
    ] {
        for action in [Action::UpdateTeam, Action::ManageTeamMembers] {
            assert!(
                !policies.authorize(&person(role), action, &Resource::Team(managed())),
                "{role:?} {action:?}"
            );
        }
    }
    // A responder managing several teams edits each of them.
    let mut lead = person(Role::LimitedUser);
    lead.manages.push(TeamId("team-b".into()));
    assert!(policies.authorize(
        &lead,
        Action::UpdateTeam,
        &Resource::Team(TeamId("team-b".into()))
    ));
    assert!(policies.authorize(&lead, Action::UpdateTeam, &Resource::Team(managed())));
}

/// A copy of the repository's policies in a temp folder, to break.
fn copy_of_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(policy_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// Appends `text` as new lines to `file` and returns the line number of its first line.
fn append(dir: &Path, file: &str, text: &str) -> usize {
    let path = dir.join(file);
    let mut body = std::fs::read_to_string(&path).unwrap();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    let line = body.lines().count() + 1;
    body.push_str(text);
    std::fs::write(&path, body).unwrap();
    line
}

fn load_err(dir: &Path) -> PolicyError {
    match Policies::load(dir) {
        Ok(p) => panic!("loaded broken policies: {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn a_syntax_error_names_its_file_line_and_column() {
    let dir = copy_of_policies();
    let line = append(
        dir.path(),
        "teams.cedar",
        "permit (principal, action, resource)\nwhen { principal.role = \"owner\" };\n",
    );
    let e = load_err(dir.path());
    assert_eq!(e.problems.len(), 1, "{e}");
    let p = &e.problems[0];
    assert_eq!(p.file, dir.path().join("teams.cedar"));
    // Cedar points at the start of the bad expression.
    assert_eq!(p.position, Some((line + 1, 8)), "{e}");
    assert!(p.message.contains("'=' is not a valid operator"), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!(
            "{}:{}:8: ",
            dir.path().join("teams.cedar").display(),
            line + 1
        )),
        "{shown}"
    );
}

#[test]
fn an_attribute_missing_from_the_schema_fails_validation_naming_the_file() {
    let dir = copy_of_policies();
    let line = append(
        dir.path(),
        "audit.cedar",
        "permit (principal, action == Rota::Action::\"ReadAudit\", resource)\nwhen { principal.department == \"security\" };\n",
    );
    let e = load_err(dir.path());
    // Once for each principal type the policy applies to (Rota::User and Rota::ApiToken).
    assert_eq!(e.problems.len(), 2, "{e}");
    for p in &e.problems {
        assert_eq!(p.file, dir.path().join("audit.cedar"));
        assert_eq!(p.position, Some((line + 1, 8)), "{e}");
        assert!(p.message.contains("attribute `department`"), "{e}");
        assert!(!p.message.contains("for policy"), "{e}");
    }
}

#[test]
fn every_problem_in_every_file_is_reported_at_once() {
    let dir = copy_of_policies();
    append(
        dir.path(),
        "roles.cedar",
        "permit (principal, action, resource) when { ;\n",
    );
    append(
        dir.path(),
        "licences.cedar",
        "permit (principal, action == Rota::Action::\"SellSeats\", resource);\n",
    );
    let e = load_err(dir.path());
    let files: Vec<_> = e
        .problems
        .iter()
        .map(|p| p.file.file_name().unwrap().to_owned())
        .collect();
    assert!(files.contains(&"roles.cedar".into()), "{e}");
    assert!(files.contains(&"licences.cedar".into()), "{e}");
}

#[test]
fn a_missing_or_broken_schema_is_a_clear_error() {
    let dir = copy_of_policies();
    std::fs::remove_file(dir.path().join("rota.cedarschema")).unwrap();
    let e = load_err(dir.path());
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].file, dir.path().join("rota.cedarschema"));
    assert!(e.problems[0].message.starts_with("is missing"), "{e}");

    let dir = copy_of_policies();
    let line = append(dir.path(), "rota.cedarschema", "entity Stray {\n");
    let e = load_err(dir.path());
    assert_eq!(
        e.problems[0].file,
        dir.path().join("rota.cedarschema"),
        "{e}"
    );
    assert!(
        e.problems[0].position.is_some_and(|(l, _)| l >= line),
        "{e}"
    );
}

#[test]
fn an_empty_folder_or_a_template_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        policy_dir().join("rota.cedarschema"),
        dir.path().join("rota.cedarschema"),
    )
    .unwrap();
    let e = load_err(dir.path());
    assert!(
        e.to_string().contains("holds no .cedar policy files"),
        "{e}"
    );

    let dir = copy_of_policies();
    append(
        dir.path(),
        "audit.cedar",
        "permit (principal == ?principal, action, resource);\n",
    );
    let e = load_err(dir.path());
    assert!(
        e.to_string().contains("audit.cedar: holds a template"),
        "{e}"
    );
}

#[test]
fn a_schema_that_does_not_describe_rotas_requests_is_refused() {
    // A required attribute Rota never sends.
    let dir = copy_of_policies();
    let schema = dir.path().join("rota.cedarschema");
    let text = std::fs::read_to_string(&schema).unwrap().replace(
        "role: String,\n    manages",
        "role: String,\n    department: String,\n    manages",
    );
    std::fs::write(&schema, text).unwrap();
    let e = load_err(dir.path());
    assert_eq!(e.problems.len(), 1, "{e}");
    assert_eq!(e.problems[0].file, schema);
    assert!(
        e.problems[0]
            .message
            .contains("does not describe Rota's entities"),
        "{e}"
    );
    assert!(e.problems[0].message.contains("department"), "{e}");

    // An action Rota asks for, left out: the policies naming it fail too.
    let dir = copy_of_policies();
    let schema = dir.path().join("rota.cedarschema");
    let text = std::fs::read_to_string(&schema)
        .unwrap()
        .replace("ReadLicences, ManageLicences", "ReadLicences");
    std::fs::write(&schema, text).unwrap();
    let e = load_err(dir.path());
    let shown = e.to_string();
    assert!(
        e.problems.iter().any(|p| p.file == schema
            && p.message
                .contains(r#"what Rota asks for Rota::Action::"ManageLicences""#)),
        "{shown}"
    );
    assert!(
        e.problems
            .iter()
            .any(|p| p.file == dir.path().join("licences.cedar") && p.position.is_some()),
        "{shown}"
    );
}

#[test]
fn action_groups_declared_in_a_schema_work_in_policies() {
    let dir = copy_of_policies();
    let schema = dir.path().join("rota.cedarschema");
    let text = std::fs::read_to_string(&schema).unwrap().replace(
        "action ReadDirectory, CreateUser, CreateTeam, ReadAudit, ReadLicences, ManageLicences, ReadOnCall, RespondToIncident\n",
        "action Oversight;\n  action ReadAudit, ReadLicences in [Oversight]\n    appliesTo { principal: [User, ApiToken], resource: [Account], context: {} };\n  action ReadDirectory, CreateUser, CreateTeam, ManageLicences, ReadOnCall, RespondToIncident\n",
    );
    std::fs::write(&schema, text).unwrap();
    append(
        dir.path(),
        "audit.cedar",
        "permit (principal, action in Rota::Action::\"Oversight\", resource)\nwhen { principal.role == \"license_owner\" };\n",
    );
    let policies = Policies::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let licence_owner = person(Role::LicenseOwner);
    assert!(policies.authorize(&licence_owner, Action::ReadAudit, &Resource::Account));
    assert!(!policies.authorize(&licence_owner, Action::CreateUser, &Resource::Account));
}
