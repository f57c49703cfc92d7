//! Signing a person in: logins in flight (each state used once), finding or creating the user
//! an Entra identity belongs to (just-in-time provisioning), applying the seat policy and the
//! groups claim, and opening the session, all in one transaction with its audit events.

use super::schema::{sign_in_attempts, team_members, teams, users};
use super::users::{self as user_rows, User};
use super::{DbConnection, audit, seats, sessions, write};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::{TeamId, UserId};
use crate::domain::role::TeamRole;
use crate::domain::seat_policy::SeatPolicy;
use crate::domain::sign_in::{EntraIdentity, GroupsClaim, Refusal};
use crate::domain::user::{ProvisionedBy, UserNameSource};
use crate::error::AppResult;
use crate::store::audit::{AuditContext, Target};
use crate::store::column::Json;
use crate::store::teams::TeamMember;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

/// A login between the redirect to the provider and its return.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sign_in_attempts)]
pub struct Attempt {
    /// SHA-256 of `state`: the table alone cannot finish anybody's login.
    pub state_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub created_at: NaiveDateTime,
}

/// How long a login may take at the provider.
pub const ATTEMPT_LIFETIME_MINUTES: i64 = 10;

/// Stores a login in flight, and drops those too old to finish.
pub fn begin(conn: &mut DbConnection, attempt: &Attempt) -> AppResult<()> {
    let stale = attempt.created_at - Duration::minutes(ATTEMPT_LIFETIME_MINUTES);
    diesel::delete(sign_in_attempts::table.filter(sign_in_attempts::created_at.lt(stale)))
        .execute(conn)?;
    diesel::insert_into(sign_in_attempts::table)
        .values(attempt)
        .execute(conn)?;
    Ok(())
}

/// Takes the login with this state out of the table: a second call with the same state (a
/// replayed callback) finds nothing. Logins older than the lifetime are refused too.
pub fn take(
    conn: &mut DbConnection,
    state_hash: &str,
    now: NaiveDateTime,
) -> AppResult<Option<Attempt>> {
    write(conn, |tx| {
        let found = sign_in_attempts::table
            .find(state_hash)
            .select(Attempt::as_select())
            .first(tx)
            .optional()?;
        if found.is_some() {
            diesel::delete(sign_in_attempts::table.find(state_hash)).execute(tx)?;
        }
        Ok(found.filter(|a| now - a.created_at < Duration::minutes(ATTEMPT_LIFETIME_MINUTES)))
    })
}

/// What a sign-in needs besides the identity.
pub struct SignInRequest {
    pub identity: EntraIdentity,
    pub policy: std::sync::Arc<SeatPolicy>,
    /// Case-folded user names made owners when they sign in.
    pub bootstrap_owners: std::sync::Arc<Vec<String>>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub now: chrono::DateTime<chrono::Utc>,
    pub session_lifetime: Duration,
}

pub struct SignedIn {
    pub user: User,
    /// The session cookie's secret.
    pub secret: String,
    /// The account was made by this sign-in.
    pub created: bool,
    /// Seat warnings were e-mailed: poke the delivery job.
    pub emails: usize,
}

/// What the audit trail keeps of a sign-in.
#[derive(Serialize)]
struct SignInRecord<'a> {
    method: &'a str,
    tenant_id: &'a str,
    object_id: &'a str,
    /// False when Entra left the groups claim out (overage): memberships were kept as they were.
    groups_claim_complete: bool,
    teams_joined: Vec<&'a str>,
    teams_left: Vec<&'a str>,
}

/// Finds the person's account (by Entra identity; else a SCIM-provisioned user by objectId =
/// externalId; else by userName = preferred_username in the same tenant, if Entra or an admin
/// set that name), or creates it; then
/// refreshes it from the claims, applies the seat policy and the groups claim, and opens a
/// session. A refusal is audited (that record is all the transaction writes) and returned.
pub fn sign_in(
    conn: &mut DbConnection,
    req: &SignInRequest,
) -> AppResult<Result<SignedIn, Refusal>> {
    let id = &req.identity;
    let now = crate::clock::stored(req.now);
    seats::write(conn, |tx| {
        let found = match find_account(tx, id)? {
            Ok(found) => found,
            Err(refusal) => {
                refuse(tx, req, &refusal)?;
                return Ok(Err(refusal));
            }
        };
        if let Some(user) = &found
            && !user.active
        {
            let refusal = Refusal::Deactivated;
            refuse(tx, req, &refusal)?;
            return Ok(Err(refusal));
        }
        let created = found.is_none();
        let before = found.clone();
        let mut user = found.unwrap_or_else(|| User {
            role: req.policy.default_role,
            ..User::new(
                &id.user_name,
                id.name.clone().unwrap_or_else(|| id.user_name.clone()),
                ProvisionedBy::SignIn,
                now,
            )
        });
        let ctx = AuditContext {
            actor: Actor {
                kind: ActorKind::User,
                id: Some(user.id.0.clone()),
                name: id.name.clone().unwrap_or_else(|| id.user_name.clone()),
            },
            request_id: req.request_id.clone(),
            at: req.now,
        };
        user.tenant_id = Some(id.tenant_id.clone());
        user.object_id = Some(id.object_id.clone());
        if let Some(name) = id
            .name
            .as_deref()
            .and_then(|n| crate::domain::user::display_name(n).ok())
        {
            user.name = name;
        }
        let email = id
            .email
            .as_deref()
            .and_then(|e| crate::domain::user::email(e).ok());
        if let Some(email) = &email {
            user.email = Some(email.clone());
        }
        // Entra renames people (a new UPN); follow it unless another account holds the name.
        // A name the token confirms is Entra's from now on, whoever set it before.
        let token_key = crate::domain::user::name_key(&id.user_name);
        if token_key != user.user_name_key && !user_name_taken(tx, &id.user_name)? {
            user.user_name = id.user_name.clone();
            user.user_name_key = token_key;
            user.user_name_source = UserNameSource::EntraSignIn;
        } else if token_key == user.user_name_key && !user.user_name_source.vouched() {
            user.user_name_source = UserNameSource::EntraSignIn;
        }
        // The role and the seat follow from the app roles and teams: the seat store decides.
        user.app_roles = Json(id.app_roles.clone());
        user.last_sign_in_at = Some(now);
        if let Some(before) = &before {
            if changed_profile(before, &user) {
                user.version = before.version + 1;
                user.updated_at = now;
                // As with REST edits: SCIM reads render the columns, no longer Entra's echo.
                user.scim_document = None;
                user_rows::update(tx, &user)?;
                audit::record(
                    tx,
                    &ctx,
                    "update",
                    user.audit_target(),
                    Some(before),
                    Some(&user),
                )?;
            } else {
                // Only the time of sign-in: not a change SCIM or anyone else needs to see.
                user_rows::record_sign_in(tx, &user.id, now)?;
            }
        } else {
            user_rows::insert(tx, &user)?;
            audit::record(
                tx,
                &ctx,
                "create",
                user.audit_target(),
                None::<&User>,
                Some(&user),
            )?;
        }
        if let Some(email) = &email
            && before
                .as_ref()
                .is_none_or(|b| b.email.as_ref() != Some(email))
        {
            user_rows::set_primary_email(tx, &user.id, email, now)?;
        }
        // A newcomer is paged by e-mail from the start (`domain::contact::default_rules`).
        if before.is_none() {
            super::contact_methods::give_defaults(tx, &user.id, now)?;
        }
        // Members join as responders; the seat store makes those without a full seat observers.
        let (joined, left) = match &id.groups {
            GroupsClaim::Complete(groups) => {
                sync_teams(tx, &ctx, &user.id, groups, TeamRole::Responder, now)?
            }
            GroupsClaim::Incomplete => (Vec::new(), Vec::new()),
        };
        let rules = seats::SeatRules {
            policy: &req.policy,
            bootstrap_owners: &req.bootstrap_owners,
        };
        let settled = seats::settle(
            tx,
            rules,
            &ctx,
            seats::Scope::Users(std::slice::from_ref(&user.id)),
        )?;
        let (held, waiting) = settled
            .outcome
            .get(&user.id)
            .copied()
            .unwrap_or((None, None));
        if held.is_none() {
            // The account and its place in the queue stay; only the session is refused.
            let refusal = Refusal::NoSeat { waiting };
            refuse(tx, req, &refusal)?;
            return Ok(Err(refusal));
        }
        let user = user_rows::find(tx, &user.id)?;
        let (session, secret) = sessions::open(
            tx,
            &user.id,
            sessions::METHOD_OIDC,
            req.user_agent.as_deref(),
            now,
            req.session_lifetime,
        )?;
        let record = SignInRecord {
            method: &session.method,
            tenant_id: &id.tenant_id,
            object_id: &id.object_id,
            groups_claim_complete: matches!(id.groups, GroupsClaim::Complete(_)),
            teams_joined: joined.iter().map(|t| t.as_str()).collect(),
            teams_left: left.iter().map(|t| t.as_str()).collect(),
        };
        audit::record(
            tx,
            &ctx,
            "sign_in",
            user.audit_target(),
            None::<&()>,
            Some(&record),
        )?;
        Ok(Ok(SignedIn {
            user,
            secret,
            created,
            emails: settled.emails,
        }))
    })
}

/// Did anything but the sign-in bookkeeping change?
fn changed_profile(before: &User, after: &User) -> bool {
    let mut a = after.clone();
    a.last_sign_in_at = before.last_sign_in_at;
    a.version = before.version;
    a.updated_at = before.updated_at;
    a != *before
}

fn user_name_taken(tx: &mut DbConnection, user_name: &str) -> AppResult<bool> {
    Ok(user_rows::find_by_user_name(tx, user_name)?.is_some())
}

/// The account an identity belongs to, if any. Refused rather than guessed: several live
/// accounts with the person's object id as externalId; an account of that userName linked
/// to another Entra identity; or one whose userName neither Entra nor an admin set (anyone
/// could have chosen it, to be handed the next person of that name).
fn find_account(
    tx: &mut DbConnection,
    id: &EntraIdentity,
) -> AppResult<Result<Option<User>, Refusal>> {
    // Live rows only, named in the query: the unique indexes on Entra identity and user name
    // are partial (`WHERE deleted_at IS NULL`), and a query without that condition cannot
    // use them (each sign-in scanned every user).
    let by_identity = users::table
        .filter(users::tenant_id.eq(&id.tenant_id))
        .filter(users::object_id.eq(&id.object_id))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(tx)
        .optional()?;
    if let Some(u) = by_identity {
        return Ok(Ok(Some(u)));
    }
    // SCIM-provisioned, with objectId mapped to externalId, not yet signed in.
    let mut by_external_id: Vec<User> = users::table
        .filter(users::external_id.eq(&id.object_id))
        .select(User::as_select())
        .load(tx)?;
    by_external_id.retain(|u| u.deleted_at.is_none());
    if by_external_id.len() > 1 {
        return Ok(Err(Refusal::DuplicateExternalId {
            external_id: id.object_id.clone(),
        }));
    }
    if let Some(u) = by_external_id.pop()
        && u.object_id.is_none()
        && u.tenant_id.as_deref().is_none_or(|t| t == id.tenant_id)
    {
        return Ok(Ok(Some(u)));
    }
    let by_name = users::table
        .filter(users::user_name_key.eq(crate::domain::user::name_key(&id.user_name)))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(tx)
        .optional()?;
    match by_name {
        None => Ok(Ok(None)),
        Some(u)
            if u.object_id.is_none()
                && u.tenant_id.as_deref().is_none_or(|t| t == id.tenant_id) =>
        {
            if u.user_name_source.vouched() {
                Ok(Ok(Some(u)))
            } else {
                Ok(Err(Refusal::UnverifiedUserName {
                    user_name: u.user_name,
                }))
            }
        }
        Some(u) => Ok(Err(Refusal::IdentityConflict {
            user_name: u.user_name,
        })),
    }
}

/// Joins the teams of the groups in the claim, and leaves Entra-linked teams (those with an
/// externalId) of groups no longer in it. Teams made in Rota are left alone.
fn sync_teams(
    tx: &mut DbConnection,
    ctx: &AuditContext,
    user_id: &UserId,
    groups: &[String],
    role: TeamRole,
    now: NaiveDateTime,
) -> AppResult<(Vec<TeamId>, Vec<TeamId>)> {
    let wanted: Vec<(TeamId, String)> = if groups.is_empty() {
        Vec::new()
    } else {
        teams::table
            .filter(super::lower(teams::external_id.assume_not_null()).eq_any(groups))
            .select((teams::id, teams::name))
            .load(tx)?
    };
    let current: Vec<(TeamId, Option<String>, String)> = team_members::table
        .inner_join(teams::table)
        .filter(team_members::user_id.eq(user_id))
        .select((teams::id, teams::external_id, teams::name))
        .load(tx)?;
    let mut joined = Vec::new();
    for (team_id, name) in &wanted {
        if current.iter().any(|(t, _, _)| t == team_id) {
            continue;
        }
        let member = TeamMember {
            team_id: team_id.clone(),
            user_id: user_id.clone(),
            role,
            created_at: now,
            updated_at: now,
        };
        super::teams::put_member(tx, &member)?;
        let t = Target {
            kind: "team",
            id: team_id.as_str(),
            name,
        };
        audit::record(tx, ctx, "add_member", t, None::<&TeamMember>, Some(&member))?;
        joined.push(team_id.clone());
    }
    let mut left = Vec::new();
    for (team_id, external_id, name) in &current {
        let linked = external_id
            .as_deref()
            .is_some_and(|e| uuid::Uuid::try_parse(e).is_ok());
        if linked && !wanted.iter().any(|(t, _)| t == team_id) {
            super::teams::remove_member(tx, team_id, user_id)?;
            let t = Target {
                kind: "team",
                id: team_id.as_str(),
                name,
            };
            audit::record(
                tx,
                ctx,
                "remove_member",
                t,
                Some(&serde_json::json!({"user_id": user_id})),
                None::<&()>,
            )?;
            left.push(team_id.clone());
        }
    }
    if !joined.is_empty() || !left.is_empty() {
        let changed: Vec<&TeamId> = joined.iter().chain(&left).collect();
        diesel::update(teams::table.filter(teams::id.eq_any(changed)))
            .set((
                teams::version.eq(teams::version + 1),
                teams::updated_at.eq(now),
            ))
            .execute(tx)?;
    }
    Ok((joined, left))
}

/// Records a refused sign-in: who tried (as far as the token said) and why.
fn refuse(tx: &mut DbConnection, req: &SignInRequest, refusal: &Refusal) -> AppResult<()> {
    record_refusal(
        tx,
        refusal,
        Some(&req.identity),
        None,
        req.request_id.clone(),
        req.now,
    )
}

/// Audits a refused sign-in; `identity` is what a validated token said, if it got that far.
pub fn record_refusal(
    tx: &mut DbConnection,
    refusal: &Refusal,
    identity: Option<&EntraIdentity>,
    previous_burst: Option<&crate::domain::attempts::Burst>,
    request_id: Option<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    use crate::domain::text::clean;
    // Whatever a stranger sent (an error description, a token's claims) is cut down first.
    let name = identity.map_or_else(|| "unknown".to_string(), |i| clean(&i.user_name, 256));
    let ctx = AuditContext {
        actor: Actor {
            kind: ActorKind::User,
            id: None,
            name: name.clone(),
        },
        request_id,
        at: now,
    };
    let details = serde_json::json!({
        "reason": refusal.code(),
        "detail": clean(&refusal.detail(), MAX_REFUSAL_DETAIL_CHARS),
        "tenant_id": identity.map(|i| clean(&i.tenant_id, 64)),
        "object_id": identity.map(|i| clean(&i.object_id, 64)),
        "previous_burst": previous_burst.map(|b| serde_json::json!({
            "refusals": b.failures, "from": b.started, "to": b.last,
        })),
    });
    let target_id = identity.map_or_else(|| "unknown".to_string(), |i| clean(&i.object_id, 64));
    audit::record(
        tx,
        &ctx,
        "sign_in_refused",
        Target {
            kind: "sign_in",
            id: &target_id,
            name: &name,
        },
        None::<&()>,
        Some(&details),
    )
}

/// The most of a refusal's detail the audit trail keeps.
pub const MAX_REFUSAL_DETAIL_CHARS: usize = 300;
