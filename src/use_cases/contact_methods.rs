//! A person's contact methods and notification rules: create, change, delete, each in its
//! own transaction with its audit event. The caller's rights are a `check` closure that sees
//! the person as stored (REST's `caller.may`). Contact methods that follow the directory
//! (SCIM, sign-in, the user's e-mail) are changed there, not here: SCIM would undo it.
//! Any method, those included, can be sent a test notification (`test`), which changes
//! nothing about it.

use crate::domain::contact::{ContactKind, ContactSource};
use crate::domain::contact_test;
use crate::domain::ids::{ContactMethodId, ContactTestId, NotificationRuleId, UserId};
use crate::domain::service::Urgency;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, AuditContext, Target};
use crate::store::contact_methods::{self as store, ContactMethod, NotificationRule};
use crate::store::contact_tests::{self as tests, ContactTest};
use crate::store::emails::{self, NewEmail};
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

/// The person, checked by the caller's `check` (also what `tokens` asks first).
pub(super) fn person(
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

/// Queues a test notification to one of the person's contact methods (directory-made ones
/// too: a test changes nothing) through its channel's real delivery: an e-mail in the e-mail
/// outbox, a call or a signed webhook POST in `contact_tests` for the notification
/// dispatcher. At most one per method a minute, decided from the stored tests while the
/// method's row is locked, so it holds across instances: else `TooManyRequests` with the
/// wait. Poke the e-mail delivery or the dispatcher after the commit, by the test's channel.
pub fn test(
    conn: &mut DbConnection,
    ctx: &AuditContext,
    user: &UserId,
    id: &ContactMethodId,
    check: impl FnOnce(&User) -> AppResult<()>,
) -> AppResult<(ContactTest, ContactMethod)> {
    db::write(conn, |tx| {
        let person = person(tx, user, check)?;
        let method = store::find(tx, user, id)?;
        tests::lock_method(tx, id)?;
        let now = crate::clock::stored(ctx.at);
        if let Some(wait) = contact_test::wait(tests::last_of(tx, id)?, now) {
            return Err(AppError::too_many(
                format!(
                    "this contact method was sent a test less than {} seconds ago; try again then",
                    contact_test::COOLDOWN_SECONDS
                ),
                wait,
            ));
        }
        let email_id = match method.kind {
            ContactKind::Email => {
                let words = contact_test::Words {
                    lang: crate::domain::handoff::language(person.locale.as_deref()),
                    name: &person.name,
                    label: &method.label,
                };
                let (subject, body) = contact_test::email(&words, &method.address);
                let mail = NewEmail {
                    to: method.address.clone(),
                    subject,
                    body,
                    reason: "contact_test",
                    list_unsubscribe: None,
                };
                emails::enqueue(tx, &[mail], ctx.at)?.into_iter().next()
            }
            ContactKind::Phone | ContactKind::Webhook => None,
        };
        let test = ContactTest {
            id: ContactTestId::generate(),
            user_id: user.clone(),
            contact_method_id: method.id.clone(),
            channel: method.kind,
            address: method.address.clone(),
            email_id,
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
            claimed_until: None,
            sent_at: None,
            failed_at: None,
            last_error: None,
            provider_ref: None,
        };
        tests::insert(tx, &test)?;
        audit::record(tx, ctx, "test", target(&method), None::<&()>, Some(&test))?;
        Ok((test, method))
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
