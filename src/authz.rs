//! Authorization: who may do what, decided by the Cedar policies in the `policies/` folder
//! (`*.cedar`, validated strictly against `rota.cedarschema`). The policies are loaded and
//! checked once at start-up; each request then asks [`Policies::authorize`] with a principal
//! (a person or an API token), an [`Action`] and a [`Resource`], and anything no policy permits
//! is denied.
//!
//! What lives elsewhere: finding out who the caller is (`http::auth`), their team roles (the
//! store), and turning a refusal into a 403 (the handlers).

use crate::domain::ids::{TeamId, TokenId, UserId};
use crate::domain::role::Role;
use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode,
    Validator,
};
use miette::Diagnostic;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// The schema's file name in a policy folder.
pub const SCHEMA_FILE: &str = "rota.cedarschema";

/// Something a principal wants to do; `Rota::Action::"<name>"` in the policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// List and read users, teams and team members (on the account).
    ReadDirectory,
    CreateUser,
    /// Change a user's profile (not their role: that is [`Action::ChangeRole`]).
    UpdateUser,
    /// Give a user another account role; ask with [`Policies::authorize_grant`].
    ChangeRole,
    DeleteUser,
    CreateTeam,
    UpdateTeam,
    DeleteTeam,
    ManageTeamMembers,
    ReadAudit,
    ReadSessions,
    RevokeSessions,
    ReadLicences,
    ManageLicences,
    /// Read schedules, escalation policies, services and who is on call (on the account).
    ReadOnCall,
    /// Create, change or delete a schedule, and place anyone on it by an override.
    ManageSchedule,
    /// Create, change or delete an escalation policy.
    ManageEscalationPolicy,
    /// Create, change or delete a service and its integrations.
    ManageService,
    /// Take a shift (an override putting oneself on call) or give one's own away; ask with
    /// [`Policies::authorize_shift`].
    ChangeOwnShift,
    /// See and change a person's contact methods and notification rules.
    ManageContactMethods,
    /// See, make and revoke a person's personal API tokens (which act as them).
    ManagePersonalTokens,
    /// Acknowledge, resolve, reassign or escalate an incident, or add a note: full users.
    RespondToIncident,
    /// Subscribe oneself to status updates (an incident's, a service's, a team's).
    Subscribe,
    /// Subscribe or unsubscribe other people.
    SubscribeOthers,
    /// Set where a service's or a team's incidents are posted (Teams, Slack webhooks).
    ConfigureChat,
    /// Create or revoke an API or SCIM token; ask with [`Policies::authorize_token`].
    ManageTokens,
}

/// What an action is done to, by kind; the schema's `appliesTo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Account,
    User,
    Team,
    Schedule,
    EscalationPolicy,
    Service,
}

impl Action {
    /// In declaration order: `decide` finds an action's compiled policies at its index.
    pub const ALL: [Action; 26] = [
        Action::ReadDirectory,
        Action::CreateUser,
        Action::UpdateUser,
        Action::ChangeRole,
        Action::DeleteUser,
        Action::CreateTeam,
        Action::UpdateTeam,
        Action::DeleteTeam,
        Action::ManageTeamMembers,
        Action::ReadAudit,
        Action::ReadSessions,
        Action::RevokeSessions,
        Action::ReadLicences,
        Action::ManageLicences,
        Action::ReadOnCall,
        Action::ManageSchedule,
        Action::ManageEscalationPolicy,
        Action::ManageService,
        Action::ChangeOwnShift,
        Action::ManageContactMethods,
        Action::ManagePersonalTokens,
        Action::RespondToIncident,
        Action::Subscribe,
        Action::SubscribeOthers,
        Action::ConfigureChat,
        Action::ManageTokens,
    ];

    /// The action's id in the policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ReadDirectory => "ReadDirectory",
            Action::CreateUser => "CreateUser",
            Action::UpdateUser => "UpdateUser",
            Action::ChangeRole => "ChangeRole",
            Action::DeleteUser => "DeleteUser",
            Action::CreateTeam => "CreateTeam",
            Action::UpdateTeam => "UpdateTeam",
            Action::DeleteTeam => "DeleteTeam",
            Action::ManageTeamMembers => "ManageTeamMembers",
            Action::ReadAudit => "ReadAudit",
            Action::ReadSessions => "ReadSessions",
            Action::RevokeSessions => "RevokeSessions",
            Action::ReadLicences => "ReadLicences",
            Action::ManageLicences => "ManageLicences",
            Action::ReadOnCall => "ReadOnCall",
            Action::ManageSchedule => "ManageSchedule",
            Action::ManageEscalationPolicy => "ManageEscalationPolicy",
            Action::ManageService => "ManageService",
            Action::ChangeOwnShift => "ChangeOwnShift",
            Action::ManageContactMethods => "ManageContactMethods",
            Action::ManagePersonalTokens => "ManagePersonalTokens",
            Action::RespondToIncident => "RespondToIncident",
            Action::Subscribe => "Subscribe",
            Action::SubscribeOthers => "SubscribeOthers",
            Action::ConfigureChat => "ConfigureChat",
            Action::ManageTokens => "ManageTokens",
        }
    }

    fn target(self) -> Target {
        match self {
            Action::ReadDirectory
            | Action::CreateUser
            | Action::CreateTeam
            | Action::ReadAudit
            | Action::ReadLicences
            | Action::ManageLicences
            | Action::ReadOnCall
            | Action::RespondToIncident
            | Action::Subscribe
            | Action::SubscribeOthers
            | Action::ConfigureChat
            | Action::ManageTokens => Target::Account,
            Action::UpdateUser
            | Action::ChangeRole
            | Action::DeleteUser
            | Action::ReadSessions
            | Action::RevokeSessions
            | Action::ManageContactMethods
            | Action::ManagePersonalTokens => Target::User,
            Action::UpdateTeam | Action::DeleteTeam | Action::ManageTeamMembers => Target::Team,
            Action::ManageSchedule | Action::ChangeOwnShift => Target::Schedule,
            Action::ManageEscalationPolicy => Target::EscalationPolicy,
            Action::ManageService => Target::Service,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalId {
    User(UserId),
    ApiToken(TokenId),
}

/// Who asks: a signed-in person or an API token, with its account role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: PrincipalId,
    pub role: Role,
    /// Teams where this user's team role is manager; empty for tokens.
    pub manages: Vec<TeamId>,
}

/// What the action is done to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The account as a whole, for actions on collections ("create a user", "read the audit").
    Account,
    /// A user, with their current account role (policies protect owners from admins).
    User {
        id: UserId,
        role: Role,
    },
    Team(TeamId),
    /// A schedule (id `None`: one being created) and the teams it belongs to.
    Schedule {
        id: Option<String>,
        teams: Vec<TeamId>,
    },
    /// An escalation policy (id `None`: one being created) and its teams.
    EscalationPolicy {
        id: Option<String>,
        teams: Vec<TeamId>,
    },
    /// A service (id `None`: one being created) and its teams.
    Service {
        id: Option<String>,
        teams: Vec<TeamId>,
    },
}

impl Resource {
    fn target(&self) -> Target {
        match self {
            Resource::Account => Target::Account,
            Resource::User { .. } => Target::User,
            Resource::Team(_) => Target::Team,
            Resource::Schedule { .. } => Target::Schedule,
            Resource::EscalationPolicy { .. } => Target::EscalationPolicy,
            Resource::Service { .. } => Target::Service,
        }
    }
}

/// The loaded, validated policies and one authorizer; cheap to clone and share between workers.
#[derive(Clone)]
pub struct Policies(Arc<Compiled>);

struct Compiled {
    authorizer: Authorizer,
    policies: usize,
    files: usize,
    names: Names,
    /// Indexed by `Action as usize`.
    actions: Vec<ActionPolicies>,
}

/// The Cedar names Rota sends.
struct Names {
    user: EntityTypeName,
    token: EntityTypeName,
    team: EntityTypeName,
    schedule: EntityTypeName,
    escalation_policy: EntityTypeName,
    service: EntityTypeName,
    account: EntityUid,
}

/// One action, as Cedar sees it, with only the policies whose action scope can match it:
/// Cedar evaluates every policy it is given, and most are about other actions.
struct ActionPolicies {
    uid: EntityUid,
    /// The action entity from the schema, with its action groups, so `action in` works.
    entity: Entity,
    set: PolicySet,
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Policies({} policies in {} files)",
            self.policy_count(),
            self.file_count()
        )
    }
}

/// The repository's `policies/` folder, compiled into the binary.
const BUILTIN_SCHEMA: &str = include_str!("../policies/rota.cedarschema");
const BUILTIN_FILES: [(&str, &str); 10] = [
    ("audit.cedar", include_str!("../policies/audit.cedar")),
    (
        "communication.cedar",
        include_str!("../policies/communication.cedar"),
    ),
    (
        "directory.cedar",
        include_str!("../policies/directory.cedar"),
    ),
    ("licences.cedar", include_str!("../policies/licences.cedar")),
    ("oncall.cedar", include_str!("../policies/oncall.cedar")),
    ("roles.cedar", include_str!("../policies/roles.cedar")),
    (
        "self-service.cedar",
        include_str!("../policies/self-service.cedar"),
    ),
    ("sessions.cedar", include_str!("../policies/sessions.cedar")),
    ("teams.cedar", include_str!("../policies/teams.cedar")),
    ("tokens.cedar", include_str!("../policies/tokens.cedar")),
];

/// One policy or schema file's text, with the path that messages show.
struct Source {
    path: PathBuf,
    text: String,
}

impl Policies {
    /// Reads `*.cedar` and the schema `rota.cedarschema` from `dir`, parses them and validates
    /// the policies strictly against the schema. Every problem found is returned, each naming
    /// the file and, where Cedar knows it, the line and column.
    pub fn load(dir: &Path) -> Result<Policies, PolicyError> {
        let unreadable = |path: &Path, e: std::io::Error| PolicyError {
            problems: vec![Problem::whole_file(path, format!("cannot be read: {e}"))],
        };
        let entries = std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))?;
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| unreadable(dir, e))?.path();
            if path.extension().is_some_and(|x| x == "cedar") && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let schema_path = dir.join(SCHEMA_FILE);
        if !schema_path.is_file() {
            return Err(PolicyError {
                problems: vec![Problem::whole_file(
                    &schema_path,
                    "is missing: the policies are validated against this schema, so a policy \
                     folder needs one (copy it from Rota's policies/ folder)"
                        .into(),
                )],
            });
        }
        let read = |path: PathBuf| match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Source { path, text }),
            Err(e) => Err(unreadable(&path, e)),
        };
        let schema = read(schema_path)?;
        let files = paths.into_iter().map(read).collect::<Result<Vec<_>, _>>()?;
        if files.is_empty() {
            return Err(PolicyError {
                problems: vec![Problem::whole_file(
                    dir,
                    "holds no .cedar policy files, so every request would be denied".into(),
                )],
            });
        }
        compile(schema, files)
    }

    /// The policies shipped in the repository's `policies/` folder, compiled in.
    pub fn builtin() -> Policies {
        let source = |name: &str, text: &str| Source {
            path: Path::new("policies").join(name),
            text: text.to_string(),
        };
        let files = BUILTIN_FILES
            .iter()
            .map(|(name, text)| source(name, text))
            .collect();
        compile(source(SCHEMA_FILE, BUILTIN_SCHEMA), files)
            .unwrap_or_else(|e| panic!("the built-in policies are invalid:\n{e}"))
    }

    pub fn policy_count(&self) -> usize {
        self.0.policies
    }

    pub fn file_count(&self) -> usize {
        self.0.files
    }

    /// May `principal` do `action` to `resource`? Denied when no policy permits it, when a
    /// policy forbids it, and when `resource` is not the kind of thing `action` applies to.
    /// [`Action::ChangeRole`] is always denied here: it needs the role being granted, so ask
    /// [`Policies::authorize_grant`].
    pub fn authorize(&self, principal: &Principal, action: Action, resource: &Resource) -> bool {
        if matches!(
            action,
            Action::ChangeRole | Action::ChangeOwnShift | Action::ManageTokens
        ) {
            return false;
        }
        self.decide(principal, action, resource, Context::empty())
    }

    /// May `principal` give the user `resource` the account role `granted`?
    pub fn authorize_grant(
        &self,
        principal: &Principal,
        resource: &Resource,
        granted: Role,
    ) -> bool {
        let context = Context::from_pairs([(
            "granted".to_string(),
            RestrictedExpression::new_string(granted.kind().as_str().into()),
        )]);
        match context {
            Ok(context) => self.decide(principal, Action::ChangeRole, resource, context),
            Err(e) => unreachable!("a context of one string is valid: {e}"),
        }
    }

    /// May `principal` create or revoke a token that acts with `granted` (an API token's
    /// role; `None`: a SCIM token, which provisions anyone)?
    pub fn authorize_token(&self, principal: &Principal, granted: Option<Role>) -> bool {
        let granted = granted.map_or("scim", |r| r.kind().as_str());
        let context = Context::from_pairs([(
            "granted".to_string(),
            RestrictedExpression::new_string(granted.into()),
        )]);
        match context {
            Ok(context) => {
                self.decide(principal, Action::ManageTokens, &Resource::Account, context)
            }
            Err(e) => unreachable!("a context of one string is valid: {e}"),
        }
    }

    /// May `principal` put someone on call on the schedule `resource` for a span, as a
    /// responder changing their own shifts? `takes`: the person put on call is the
    /// principal; `gives`: the span lies within the principal's own on-call time.
    pub fn authorize_shift(
        &self,
        principal: &Principal,
        resource: &Resource,
        takes: bool,
        gives: bool,
    ) -> bool {
        match shift_context(takes, gives) {
            Ok(context) => self.decide(principal, Action::ChangeOwnShift, resource, context),
            Err(e) => unreachable!("a context of two booleans is valid: {e}"),
        }
    }

    fn decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        context: Context,
    ) -> bool {
        if action.target() != resource.target() {
            return false;
        }
        let c = &*self.0;
        let (principal_uid, principal_entity) = c.names.principal(principal);
        let (resource_uid, resource_entity) = c.names.resource(resource);
        let action = &c.actions[action as usize];
        let mut entities = vec![principal_entity, action.entity.clone()];
        if let Some(e) = resource_entity
            && resource_uid != principal_uid
        {
            entities.push(e);
        }
        // No schema here: the shapes are fixed in this file and checked against the schema
        // when the policies are loaded (`contract_problems`).
        let request = Request::new(
            principal_uid,
            action.uid.clone(),
            resource_uid,
            context,
            None,
        );
        let entities = Entities::from_entities(entities, None);
        let (request, entities) = match (request, entities) {
            (Ok(r), Ok(e)) => (r, e),
            (r, e) => {
                let why = r.err().map(|e| e.to_string()).into_iter();
                let why: Vec<String> = why.chain(e.err().map(|e| e.to_string())).collect();
                tracing::error!(errors = ?why, "cannot build the authorization request; denied");
                return false;
            }
        };
        let response = c.authorizer.is_authorized(&request, &action.set, &entities);
        let mut errors = response.diagnostics().errors().peekable();
        if errors.peek().is_some() {
            // A policy that fails to evaluate is skipped (Cedar's rule); say so, as it is a
            // policy bug that validation did not catch.
            let errors: Vec<String> = errors.map(|e| e.to_string()).collect();
            tracing::warn!(
                action = %action.uid,
                ?errors,
                "policies failed to evaluate"
            );
        }
        response.decision() == Decision::Allow
    }
}

impl Names {
    fn new() -> Names {
        Names {
            user: type_name("Rota::User"),
            token: type_name("Rota::ApiToken"),
            team: type_name("Rota::Team"),
            schedule: type_name("Rota::Schedule"),
            escalation_policy: type_name("Rota::EscalationPolicy"),
            service: type_name("Rota::Service"),
            account: entity_uid(&type_name("Rota::Account"), "rota"),
        }
    }

    fn principal(&self, principal: &Principal) -> (EntityUid, Entity) {
        let role = (
            "role".to_string(),
            RestrictedExpression::new_string(principal.role.kind().as_str().into()),
        );
        let (uid, attrs) = match &principal.id {
            PrincipalId::User(id) => {
                let manages = principal.manages.iter().map(|t| {
                    RestrictedExpression::new_entity_uid(entity_uid(&self.team, t.as_str()))
                });
                let manages = (
                    "manages".to_string(),
                    RestrictedExpression::new_set(manages),
                );
                (
                    entity_uid(&self.user, id.as_str()),
                    HashMap::from([role, manages]),
                )
            }
            PrincipalId::ApiToken(id) => {
                (entity_uid(&self.token, id.as_str()), HashMap::from([role]))
            }
        };
        (uid.clone(), entity(uid, attrs))
    }

    fn resource(&self, resource: &Resource) -> (EntityUid, Option<Entity>) {
        match resource {
            Resource::Account => (self.account.clone(), None),
            Resource::Team(id) => (entity_uid(&self.team, id.as_str()), None),
            Resource::User { id, role } => {
                let uid = entity_uid(&self.user, id.as_str());
                let attrs = HashMap::from([
                    (
                        "role".to_string(),
                        RestrictedExpression::new_string(role.kind().as_str().into()),
                    ),
                    (
                        "manages".to_string(),
                        RestrictedExpression::new_set(std::iter::empty()),
                    ),
                ]);
                (uid.clone(), Some(entity(uid, attrs)))
            }
            Resource::Schedule { id, teams } => self.owned_by(&self.schedule, id, teams),
            Resource::EscalationPolicy { id, teams } => {
                self.owned_by(&self.escalation_policy, id, teams)
            }
            Resource::Service { id, teams } => self.owned_by(&self.service, id, teams),
        }
    }

    /// A schedule or policy entity with its `teams`.
    fn owned_by(
        &self,
        kind: &EntityTypeName,
        id: &Option<String>,
        teams: &[TeamId],
    ) -> (EntityUid, Option<Entity>) {
        let uid = entity_uid(kind, id.as_deref().unwrap_or(""));
        let teams = teams
            .iter()
            .map(|t| RestrictedExpression::new_entity_uid(entity_uid(&self.team, t.as_str())));
        let attrs = HashMap::from([("teams".to_string(), RestrictedExpression::new_set(teams))]);
        (uid.clone(), Some(entity(uid, attrs)))
    }
}

fn type_name(name: &str) -> EntityTypeName {
    EntityTypeName::from_str(name).unwrap_or_else(|e| unreachable!("{name} is a type name: {e}"))
}

fn entity_uid(name: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(name.clone(), EntityId::new(id))
}

fn action_uid(action: Action) -> EntityUid {
    entity_uid(&type_name("Rota::Action"), action.as_str())
}

fn entity(uid: EntityUid, attrs: HashMap<String, RestrictedExpression>) -> Entity {
    // Attributes that are literal strings and entity references always evaluate.
    Entity::new(uid, attrs, HashSet::new())
        .unwrap_or_else(|e| unreachable!("literal attributes evaluate: {e}"))
}

/// Parses every file, then validates the whole set against the schema.
fn compile(schema: Source, files: Vec<Source>) -> Result<Policies, PolicyError> {
    let mut problems = Vec::new();
    let parsed_schema = match Schema::from_cedarschema_str(&schema.text) {
        Ok((parsed, warnings)) => {
            for w in warnings {
                problems.push(Problem::from_diagnostic(&schema, &w));
            }
            Some(parsed)
        }
        Err(e) => {
            problems.push(Problem::from_diagnostic(&schema, &e));
            None
        }
    };

    let mut set = PolicySet::new();
    // Policy id -> index in `files`, to place validation errors.
    let mut origin: HashMap<PolicyId, usize> = HashMap::new();
    for (index, file) in files.iter().enumerate() {
        match PolicySet::from_str(&file.text) {
            Ok(parsed) => {
                if parsed.templates().next().is_some() {
                    problems.push(Problem::whole_file(
                        &file.path,
                        "holds a template (a policy with ?principal or ?resource); Rota does \
                         not link templates, so write the policy out"
                            .into(),
                    ));
                }
                // Cedar names a file's policies policy0, policy1, …; prefix the file.
                for policy in parsed.policies() {
                    let id = PolicyId::new(format!("{}#{}", file.path.display(), policy.id()));
                    origin.insert(id.clone(), index);
                    if let Err(e) = set.add(policy.new_id(id)) {
                        unreachable!("policy ids are unique per file and position: {e}");
                    }
                }
            }
            Err(errors) => {
                for e in errors.iter() {
                    problems.push(Problem::from_diagnostic(file, e));
                }
            }
        }
    }

    let schema_path = schema.path.clone();
    let Some(schema) = parsed_schema else {
        return Err(PolicyError { problems });
    };
    // Validate what parsed, so one run reports every problem.
    let validation = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    let placed = |id: &PolicyId, d: &dyn Diagnostic| {
        let mut problem = Problem::from_diagnostic(&files[origin[id]], d);
        // The message names the policy by our id, which repeats the file; drop it.
        let prefix = format!("for policy `{id}`, ");
        if let Some(rest) = problem.message.strip_prefix(&prefix) {
            problem.message = rest.to_string();
        }
        problem
    };
    for e in validation.validation_errors() {
        problems.push(placed(e.policy_id(), e));
    }
    // Strict means warnings too: a policy that can never apply is a mistake.
    for w in validation.validation_warnings() {
        problems.push(placed(w.policy_id(), w));
    }
    let names = Names::new();
    problems.extend(
        contract_problems(&schema, &names)
            .into_iter()
            .map(|m| Problem::whole_file(&schema_path, m)),
    );
    if !problems.is_empty() {
        return Err(PolicyError { problems });
    }
    let action_entities = schema
        .action_entities()
        .unwrap_or_else(|e| unreachable!("a parsed schema's actions form entities: {e}"));
    let actions = Action::ALL
        .into_iter()
        .map(|action| {
            let uid = action_uid(action);
            let entity = action_entities
                .get(&uid)
                .cloned()
                .unwrap_or_else(|| unreachable!("contract_problems checked {uid} is declared"));
            let mut subset = PolicySet::new();
            for policy in set.policies() {
                let applies = match policy.action_constraint() {
                    ActionConstraint::Any => true,
                    ActionConstraint::Eq(a) => a == uid,
                    ActionConstraint::In(groups) => groups
                        .iter()
                        .any(|g| *g == uid || action_entities.is_ancestor_of(g, &uid)),
                };
                if applies && let Err(e) = subset.add(policy.clone()) {
                    unreachable!("a subset of unique ids is unique: {e}");
                }
            }
            ActionPolicies {
                uid,
                entity,
                set: subset,
            }
        })
        .collect();
    Ok(Policies(Arc::new(Compiled {
        authorizer: Authorizer::new(),
        policies: set.num_of_policies(),
        files: files.len(),
        names,
        actions,
    })))
}

/// Checks that the schema describes the requests Rota sends: every action, from both kinds of
/// principal, on the kind of resource Rota passes, with its context, and the entities'
/// attributes. A folder's schema may have been edited; a mismatch would otherwise deny at run
/// time.
fn contract_problems(schema: &Schema, names: &Names) -> Vec<String> {
    let mut problems = Vec::new();
    let me = Principal {
        id: PrincipalId::User(UserId("u".into())),
        role: Role::User,
        manages: vec![TeamId("t".into())],
    };
    let token = Principal {
        id: PrincipalId::ApiToken(TokenId("k".into())),
        role: Role::Admin,
        manages: vec![],
    };
    let other = Resource::User {
        id: UserId("v".into()),
        role: Role::Owner,
    };
    let (me_uid, me_entity) = names.principal(&me);
    let (token_uid, token_entity) = names.principal(&token);
    let (_, other_entity) = names.resource(&other);
    let schedule = Resource::Schedule {
        id: Some("s".into()),
        teams: vec![TeamId("t".into())],
    };
    let policy = Resource::EscalationPolicy {
        id: None,
        teams: vec![],
    };
    let service = Resource::Service {
        id: Some("v".into()),
        teams: vec![TeamId("t".into())],
    };
    let (_, schedule_entity) = names.resource(&schedule);
    let (_, policy_entity) = names.resource(&policy);
    let (_, service_entity) = names.resource(&service);
    let sample = [
        Some(me_entity),
        Some(token_entity),
        other_entity,
        schedule_entity,
        policy_entity,
        service_entity,
    ];
    if let Err(e) = Entities::from_entities(sample.into_iter().flatten(), Some(schema)) {
        problems.push(format!(
            "does not describe Rota's entities: {}",
            with_causes(&e)
        ));
    }
    for action in Action::ALL {
        let resource = match action.target() {
            Target::Account => Resource::Account,
            Target::User => other.clone(),
            Target::Team => Resource::Team(TeamId("t".into())),
            Target::Schedule => schedule.clone(),
            Target::EscalationPolicy => policy.clone(),
            Target::Service => service.clone(),
        };
        let (resource_uid, _) = names.resource(&resource);
        for principal in [&me_uid, &token_uid] {
            let context = match action {
                Action::ChangeRole | Action::ManageTokens => Context::from_pairs([(
                    "granted".to_string(),
                    RestrictedExpression::new_string("admin".into()),
                )])
                .map_err(|e| with_causes(&e)),
                Action::ChangeOwnShift => shift_context(true, false).map_err(|e| with_causes(&e)),
                _ => Ok(Context::empty()),
            };
            let request = context.and_then(|context| {
                Request::new(
                    principal.clone(),
                    action_uid(action),
                    resource_uid.clone(),
                    context,
                    Some(schema),
                )
                .map_err(|e| with_causes(&e))
            });
            if let Err(e) = request {
                problems.push(format!(
                    "does not describe what Rota asks for {}: {e}",
                    action_uid(action)
                ));
                break;
            }
        }
    }
    problems
}

fn shift_context(
    takes: bool,
    gives: bool,
) -> Result<Context, Box<cedar_policy::ContextCreationError>> {
    Context::from_pairs([
        ("takes".to_string(), RestrictedExpression::new_bool(takes)),
        ("gives".to_string(), RestrictedExpression::new_bool(gives)),
    ])
    .map_err(Box::new)
}

/// An error and its causes, as Cedar often puts the detail in the cause.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !out.contains(&more) {
            out.push_str(": ");
            out.push_str(&more);
        }
        cause = c.source();
    }
    out
}

/// Why the policies cannot be used: every problem found, one per line.
#[derive(Debug)]
pub struct PolicyError {
    pub problems: Vec<Problem>,
}

/// One problem in one file: `policies/teams.cedar:12:5: unexpected token ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// Line and column, from 1, when the problem is at a place in the file.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl Problem {
    fn whole_file(file: &Path, message: String) -> Problem {
        Problem {
            file: file.to_path_buf(),
            position: None,
            message,
        }
    }

    /// Places a Cedar diagnostic at its first labelled span, and keeps its help.
    fn from_diagnostic<D: Diagnostic + ?Sized>(source: &Source, d: &D) -> Problem {
        let offset = d
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|l| l.offset());
        let mut message = d.to_string();
        if let Some(help) = d.help() {
            message.push_str(&format!(" ({help})"));
        }
        Problem {
            file: source.path.clone(),
            position: offset.map(|o| line_and_column(&source.text, o)),
            message,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => {
                write!(
                    f,
                    "{}:{line}:{column}: {}",
                    self.file.display(),
                    self.message
                )
            }
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_from_one() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 3), (2, 1));
        assert_eq!(line_and_column(text, 7), (2, 4));
        assert_eq!(line_and_column(text, 8), (3, 1));
        assert_eq!(line_and_column(text, 99), (3, 2));
    }

    #[test]
    fn actions_index_their_policies_by_position() {
        for (i, action) in Action::ALL.into_iter().enumerate() {
            assert_eq!(action as usize, i, "{action:?}");
        }
    }

    #[test]
    fn each_action_is_asked_only_of_the_policies_that_can_match_it() {
        let policies = Policies::builtin();
        let sizes: Vec<(&str, usize)> = Action::ALL
            .into_iter()
            .map(|a| {
                (
                    a.as_str(),
                    policies.0.actions[a as usize].set.num_of_policies(),
                )
            })
            .collect();
        assert!(
            sizes.iter().all(|(_, n)| *n < policies.policy_count()),
            "{sizes:?}"
        );
        assert!(sizes.iter().all(|(_, n)| *n > 0), "{sizes:?}");
    }

    #[test]
    fn builtin_files_are_the_policy_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cedar"))
            .collect();
        on_disk.sort();
        let built_in: Vec<&str> = BUILTIN_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            on_disk, built_in,
            "list every policies/*.cedar in BUILTIN_FILES"
        );
    }
}
