//! A person's contact methods and notification rules: create, change, delete, each in its
//! own transaction with its audit event. The caller's rights are a `check` closure that sees
//! the person as stored (REST's `caller.may`). Contact methods that follow the directory
//! (SCIM, sign-in, the user's e-mail) are changed there, not here: SCIM would undo it.

use crate::domain::contact::{ContactKind, ContactSource};
use crate::domain::ids::{ContactMethodId, NotificationRuleId, UserId};
use crate::domain::service::Urgency;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::contact_methods::{self as store, ContactMethod, NotificationRule};
use crate::store::users::{self, User};
use crate::store::{self as db, DbConnection};
use serde::Serialize;

/// A contact method as sent, validated (`domain::contact::address`).
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: ContactKind,
    pub label: String,
    pub address: String,
    pub country_code: Option<i32>,
}

/// A notification rule as sent.
#[derive(Debug, Clone)]
pub struct RuleDraft {
    pub contact_method: ContactMethodId,
    pub urgency: Urgency,
    pub start_delay_in_minutes: i32,
}

fn target(m: &ContactMethod) -> Target<'_> {
    Target {
        kind: "contact_method",
        id: m.id.as_str(),
        name: &m.label,
    }
}

fn rule_target(r: &NotificationRule) -> Target<'_> {
    Target {
        kind: "notification_rule",
        id: r.id.as_str(),
        name: r.urgency.as_str(),
    }
}

/// A deleted contact method and the rules that went with it, as the audit trail keeps it.
#[derive(Serialize)]
struct Removed<'a> {
    contact_method: &'a ContactMethod,
    notification_rules: &'a [NotificationRule],
}

/// The person, checked by the caller's `check`.
fn person(
    tx: &mut DbConnection,
    user: &UserId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<User> {
    let person = users::find(tx, user)?;
    check(&person)?;
    Ok(person)
}

/// Methods that follow the directory are refused: the next SCIM update would undo the change.
fn own(m: &ContactMethod) -> AppResult<()> {
    if m.source == ContactSource::Scim {
        return Err(AppError::invalid(
            "contact_method.id",
            "follows the user's directory record (Entra over SCIM, or the user's e-mail): change it there",
        ));
    }
    Ok(())
}

/// A person's contact methods (the person checked first).
pub fn list(
    conn: &mut DbConnection,
    user: &UserId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<Vec<ContactMethod>> {
    person(conn, user, check)?;
    store::methods_of(conn, user)
}

pub fn show(
    conn: &mut DbConnection,
    user: &UserId,
    id: &ContactMethodId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<ContactMethod> {
    person(conn, user, check)?;
    store::find(conn, user, id)
}

/// Adds a contact method; a webhook's signing secret comes back with it (shown once).
pub fn create(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    draft: Draft,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(ContactMethod, Option<String>)> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let now = crate::clock::stored(ctx.at);
        let method = ContactMethod {
            source: ContactSource::User,
            country_code: draft.country_code,
            ..ContactMethod::new(user, draft.kind, &(draft.label, draft.address, false), now)
        };
        store::insert(tx, &method)?;
        audit::record(
            tx,
            ctx,
            "create",
            target(&method),
            None::<&()>,
            Some(&method),
        )?;
        let secret = match method.kind {
            ContactKind::Webhook => {
                let key = crate::store::action_links::webhook_key(tx, now)?;
                Some(crate::domain::notification::webhook_secret(
                    &key, &method.id,
                ))
            }
            _ => None,
        };
        Ok((method, secret))
    })
}

/// Changes a person's own contact method; its kind stays.
pub fn update(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    id: &ContactMethodId,
    draft: Draft,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<ContactMethod> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let before = store::find(tx, user, id)?;
        own(&before)?;
        if draft.kind != before.kind {
            return Err(AppError::invalid(
                "contact_method.type",
                format!(
                    "is {}: a contact method keeps its type ({}); make a new one instead",
                    draft.kind.pd_type(),
                    before.kind.pd_type()
                ),
            ));
        }
        let after = ContactMethod {
            label: draft.label,
            address: draft.address,
            country_code: draft.country_code,
            updated_at: crate::clock::stored(ctx.at),
            ..before.clone()
        };
        store::update(tx, &after)?;
        audit::record(
            tx,
            ctx,
            "update",
            target(&after),
            Some(&before),
            Some(&after),
        )?;
        Ok(after)
    })
}

/// Deletes a person's own contact method and the rules that notify through it.
pub fn delete(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    id: &ContactMethodId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let before = store::find(tx, user, id)?;
        own(&before)?;
        let rules = store::delete(tx, id)?;
        let removed = Removed {
            contact_method: &before,
            notification_rules: &rules,
        };
        audit::record(
            tx,
            ctx,
            "delete",
            target(&before),
            Some(&removed),
            None::<&()>,
        )?;
        Ok(())
    })
}

/// A person's rules (of one urgency, or all), with the contact method each notifies through.
pub fn rules(
    conn: &mut DbConnection,
    user: &UserId,
    urgency: Option<Urgency>,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(Vec<NotificationRule>, Vec<ContactMethod>)> {
    person(conn, user, check)?;
    Ok((
        store::rules_of(conn, user, urgency)?,
        store::methods_of(conn, user)?,
    ))
}

pub fn show_rule(
    conn: &mut DbConnection,
    user: &UserId,
    id: &NotificationRuleId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(NotificationRule, ContactMethod)> {
    person(conn, user, check)?;
    let rule = store::find_rule(conn, user, id)?;
    let method = store::find(conn, user, &rule.contact_method_id)?;
    Ok((rule, method))
}

/// The rule's contact method must be the same person's: a rule cannot page someone else.
fn their_method(
    tx: &mut DbConnection,
    user: &UserId,
    id: &ContactMethodId,
) -> AppResult<ContactMethod> {
    store::find(tx, user, id).map_err(|_| {
        AppError::invalid(
            "notification_rule.contact_method.id",
            format!("'{id}' is not one of this user's contact methods"),
        )
    })
}

pub fn create_rule(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    draft: RuleDraft,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(NotificationRule, ContactMethod)> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let method = their_method(tx, user, &draft.contact_method)?;
        let rule = NotificationRule::new(
            user,
            &method.id,
            draft.urgency,
            draft.start_delay_in_minutes,
            crate::clock::stored(ctx.at),
        );
        store::insert_rule(tx, &rule)?;
        audit::record(
            tx,
            ctx,
            "create",
            rule_target(&rule),
            None::<&()>,
            Some(&rule),
        )?;
        Ok((rule, method))
    })
}

pub fn update_rule(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    id: &NotificationRuleId,
    draft: RuleDraft,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(NotificationRule, ContactMethod)> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let before = store::find_rule(tx, user, id)?;
        let method = their_method(tx, user, &draft.contact_method)?;
        let after = NotificationRule {
            contact_method_id: method.id.clone(),
            urgency: draft.urgency,
            start_delay_in_minutes: draft.start_delay_in_minutes,
            updated_at: crate::clock::stored(ctx.at),
            ..before.clone()
        };
        store::update_rule(tx, &after)?;
        audit::record(
            tx,
            ctx,
            "update",
            rule_target(&after),
            Some(&before),
            Some(&after),
        )?;
        Ok((after, method))
    })
}

pub fn delete_rule(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    id: &NotificationRuleId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<()> {
    db::write(conn, |tx| {
        person(tx, user, check)?;
        let before = store::find_rule(tx, user, id)?;
        store::delete_rule(tx, id)?;
        audit::record(
            tx,
            ctx,
            "delete",
            rule_target(&before),
            Some(&before),
            None::<&()>,
        )?;
        Ok(())
    })
}
