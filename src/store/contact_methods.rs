//! Contact methods (the rows are `users::ContactMethod`, shared with SCIM's `emails` and
//! `phoneNumbers`) and notification rules: reads by person, writes inside the caller's
//! transaction, SCIM's lists followed without disturbing a person's own methods, the default
//! rules of a newcomer, and `rules_for`, what the escalation engine asks. Deciding what is
//! valid is `domain::contact`; auditing is the use cases'.

use super::column;
use super::schema::{contact_methods, notification_rules};
use super::users::ContactKeys;
use super::{DbConnection, IDS_PER_STATEMENT, unique_violation};
use crate::domain::caseless;
use crate::domain::contact::{self, ContactKind, ContactSource};
use crate::domain::ids::{ContactMethodId, NotificationRuleId, UserId};
use crate::domain::scim_user::Contact;
use crate::domain::service::Urgency;
use crate::error::{AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

pub use super::users::ContactMethod;

/// When to notify a person through which contact method, by urgency (PagerDuty's
/// `assignment_notification_rule`).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = notification_rules)]
pub struct NotificationRule {
    pub id: NotificationRuleId,
    pub user_id: UserId,
    pub contact_method_id: ContactMethodId,
    pub urgency: Urgency,
    pub start_delay_in_minutes: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl NotificationRule {
    pub fn new(
        user_id: &UserId,
        method: &ContactMethodId,
        urgency: Urgency,
        start_delay_in_minutes: i32,
        now: NaiveDateTime,
    ) -> NotificationRule {
        NotificationRule {
            id: NotificationRuleId::generate(),
            user_id: user_id.clone(),
            contact_method_id: method.clone(),
            urgency,
            start_delay_in_minutes,
            created_at: now,
            updated_at: now,
        }
    }
}

/// `urgency` is stored under the same column name as incidents' (`read_from` names this table).
fn rules_read(e: diesel::result::Error) -> crate::error::AppError {
    column::read_from("notification_rules")(e)
}

/// A person's contact methods, oldest first.
pub fn methods_of(conn: &mut DbConnection, user: &UserId) -> AppResult<Vec<ContactMethod>> {
    Ok(contact_methods::table
        .filter(contact_methods::user_id.eq(user))
        .order((contact_methods::created_at.asc(), contact_methods::id.asc()))
        .select(ContactMethod::as_select())
        .load(conn)?)
}

/// One of the person's contact methods; another person's is not found.
pub fn find(
    conn: &mut DbConnection,
    user: &UserId,
    id: &ContactMethodId,
) -> AppResult<ContactMethod> {
    contact_methods::table
        .find(id)
        .filter(contact_methods::user_id.eq(user))
        .select(ContactMethod::as_select())
        .first(conn)
        .optional()?
        .not_found("contact method", id.as_str())
}

fn taken(m: &ContactMethod) -> impl FnOnce(diesel::result::Error) -> crate::error::AppError {
    unique_violation(
        "contact_method.address",
        format!(
            "is already one of this user's {} contact methods ('{}')",
            m.kind, m.address
        ),
    )
}

pub fn insert(conn: &mut DbConnection, m: &ContactMethod) -> AppResult<()> {
    diesel::insert_into(contact_methods::table)
        .values((m, ContactKeys::of(m)))
        .execute(conn)
        .map_err(taken(m))?;
    Ok(())
}

/// Saves a contact method's label, address, country code and primary flag.
pub fn update(conn: &mut DbConnection, m: &ContactMethod) -> AppResult<()> {
    diesel::update(contact_methods::table.find(&m.id))
        .set((
            contact_methods::label.eq(&m.label),
            contact_methods::label_key.eq(caseless::key(&m.label)),
            contact_methods::address.eq(&m.address),
            contact_methods::address_key.eq(caseless::key(&m.address)),
            contact_methods::country_code.eq(m.country_code),
            contact_methods::is_primary.eq(m.is_primary),
            contact_methods::updated_at.eq(m.updated_at),
        ))
        .execute(conn)
        .map_err(taken(m))?;
    Ok(())
}

/// Deletes a contact method and its rules; returns the rules deleted. The rules are deleted
/// here rather than left to the foreign key, so both backends and the audit trail agree.
pub fn delete(conn: &mut DbConnection, id: &ContactMethodId) -> AppResult<Vec<NotificationRule>> {
    let rules: Vec<NotificationRule> = notification_rules::table
        .filter(notification_rules::contact_method_id.eq(id))
        .select(NotificationRule::as_select())
        .load(conn)
        .map_err(rules_read)?;
    diesel::delete(notification_rules::table.filter(notification_rules::contact_method_id.eq(id)))
        .execute(conn)?;
    diesel::delete(contact_methods::table.find(id)).execute(conn)?;
    Ok(rules)
}

/// A person's notification rules (of one urgency, or all), by urgency, delay, then id.
pub fn rules_of(
    conn: &mut DbConnection,
    user: &UserId,
    urgency: Option<Urgency>,
) -> AppResult<Vec<NotificationRule>> {
    let mut query = notification_rules::table
        .filter(notification_rules::user_id.eq(user))
        .select(NotificationRule::as_select())
        .into_boxed();
    if let Some(urgency) = urgency {
        query = query.filter(notification_rules::urgency.eq(urgency));
    }
    // "high" sorts before "low".
    query
        .order((
            notification_rules::urgency.asc(),
            notification_rules::start_delay_in_minutes.asc(),
            notification_rules::id.asc(),
        ))
        .load(conn)
        .map_err(rules_read)
}

/// One of the person's rules; another person's is not found.
pub fn find_rule(
    conn: &mut DbConnection,
    user: &UserId,
    id: &NotificationRuleId,
) -> AppResult<NotificationRule> {
    notification_rules::table
        .find(id)
        .filter(notification_rules::user_id.eq(user))
        .select(NotificationRule::as_select())
        .first(conn)
        .optional()
        .map_err(rules_read)?
        .not_found("notification rule", id.as_str())
}

fn same_step(r: &NotificationRule) -> impl FnOnce(diesel::result::Error) -> crate::error::AppError {
    unique_violation(
        "notification_rule",
        format!(
            "is already there: this contact method has a {} urgency rule at {} minutes",
            r.urgency.as_str(),
            r.start_delay_in_minutes
        ),
    )
}

pub fn insert_rule(conn: &mut DbConnection, r: &NotificationRule) -> AppResult<()> {
    diesel::insert_into(notification_rules::table)
        .values(r)
        .execute(conn)
        .map_err(same_step(r))?;
    Ok(())
}

pub fn update_rule(conn: &mut DbConnection, r: &NotificationRule) -> AppResult<()> {
    diesel::update(notification_rules::table.find(&r.id))
        .set((
            notification_rules::contact_method_id.eq(&r.contact_method_id),
            notification_rules::urgency.eq(r.urgency),
            notification_rules::start_delay_in_minutes.eq(r.start_delay_in_minutes),
            notification_rules::updated_at.eq(r.updated_at),
        ))
        .execute(conn)
        .map_err(same_step(r))?;
    Ok(())
}

pub fn delete_rule(conn: &mut DbConnection, id: &NotificationRuleId) -> AppResult<()> {
    diesel::delete(notification_rules::table.find(id)).execute(conn)?;
    Ok(())
}

/// Each person's rules of `urgency` with the contact method each notifies, ordered by
/// `start_delay_in_minutes` then rule id: what the escalation engine walks when it pages
/// them. People without rules are absent. One query per `IDS_PER_STATEMENT` people.
pub fn rules_for(
    conn: &mut DbConnection,
    users: &[UserId],
    urgency: Urgency,
) -> AppResult<HashMap<UserId, Vec<(NotificationRule, ContactMethod)>>> {
    let mut found: HashMap<UserId, Vec<(NotificationRule, ContactMethod)>> = HashMap::new();
    for chunk in users.chunks(IDS_PER_STATEMENT) {
        let rows: Vec<(NotificationRule, ContactMethod)> = notification_rules::table
            .inner_join(contact_methods::table)
            .filter(notification_rules::user_id.eq_any(chunk))
            .filter(notification_rules::urgency.eq(urgency))
            .order((
                notification_rules::user_id.asc(),
                notification_rules::start_delay_in_minutes.asc(),
                notification_rules::id.asc(),
            ))
            .select((NotificationRule::as_select(), ContactMethod::as_select()))
            .load(conn)
            .map_err(rules_read)?;
        for (rule, method) in rows {
            found
                .entry(rule.user_id.clone())
                .or_default()
                .push((rule, method));
        }
    }
    Ok(found)
}

/// The methods a person's default rules use: their primary e-mail (else their first) and
/// their first phone.
fn default_methods(methods: &[ContactMethod]) -> (Option<&ContactMethod>, Option<&ContactMethod>) {
    let emails = || methods.iter().filter(|m| m.kind == ContactKind::Email);
    let email = emails().find(|m| m.is_primary).or_else(|| emails().next());
    let phone = methods.iter().find(|m| m.kind == ContactKind::Phone);
    (email, phone)
}

fn insert_steps(
    conn: &mut DbConnection,
    user: &UserId,
    steps: Vec<contact::RuleStep<ContactMethodId>>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let rules: Vec<NotificationRule> = steps
        .into_iter()
        .map(|s| NotificationRule::new(user, &s.method, s.urgency, s.start_delay_in_minutes, now))
        .collect();
    if !rules.is_empty() {
        super::on_backend!(conn, c => diesel::insert_into(notification_rules::table).values(&rules).execute(c))?;
    }
    Ok(())
}

/// Gives a newcomer the default rules (`domain::contact::default_rules`) over the contact
/// methods they were made with. Called in the transaction that creates them, after their
/// contact methods: SCIM, first sign-in and the REST API alike.
pub fn give_defaults(conn: &mut DbConnection, user: &UserId, now: NaiveDateTime) -> AppResult<()> {
    let methods = methods_of(conn, user)?;
    let (email, phone) = default_methods(&methods);
    let steps = contact::default_rules(email.map(|m| &m.id), phone.map(|m| &m.id));
    insert_steps(conn, user, steps, now)
}

/// Makes the person's SCIM-made e-mail and phone contact methods what Entra's lists say,
/// keeping each method (and so its rules) whose address stays, or whose label stays while
/// its address changes. Methods no longer listed go with their rules. A newly listed method
/// gets the default rules of its kind when the person has no rule of that kind yet. The
/// person's own methods are never touched, and an address they already have is not added
/// again.
pub fn follow_scim(
    conn: &mut DbConnection,
    user: &UserId,
    emails: &[Contact],
    phones: &[Contact],
    now: NaiveDateTime,
) -> AppResult<()> {
    let all = methods_of(conn, user)?;
    let mut added: Vec<ContactMethod> = Vec::new();
    let mut updates: Vec<ContactMethod> = Vec::new();
    let mut removed: Vec<ContactMethodId> = Vec::new();
    for (kind, sent) in [(ContactKind::Email, emails), (ContactKind::Phone, phones)] {
        let own: Vec<&str> = all
            .iter()
            .filter(|m| m.kind == kind && m.source == ContactSource::User)
            .map(|m| m.address.as_str())
            .collect();
        // Each address once (the first entry wins), and none the person has made themselves.
        let mut wanted: Vec<&Contact> = Vec::new();
        for c in sent {
            if !own.contains(&c.1.as_str()) && !wanted.iter().any(|w| w.1 == c.1) {
                wanted.push(c);
            }
        }
        let mut stored: Vec<Option<&ContactMethod>> = all
            .iter()
            .filter(|m| m.kind == kind && m.source == ContactSource::Scim)
            .map(Some)
            .collect();
        let mut unmatched: Vec<&Contact> = Vec::new();
        let keep = |m: &ContactMethod, c: &Contact, updates: &mut Vec<ContactMethod>| {
            if m.address != c.1 || m.label != c.0 || m.is_primary != c.2 {
                updates.push(ContactMethod {
                    label: c.0.clone(),
                    address: c.1.clone(),
                    is_primary: c.2,
                    updated_at: now,
                    ..m.clone()
                });
            }
        };
        // First the same address, then the same label with a new address.
        for c in wanted {
            match stored
                .iter_mut()
                .find(|s| s.is_some_and(|m| m.address == c.1))
            {
                Some(slot) => keep(slot.take().expect("found above"), c, &mut updates),
                None => unmatched.push(c),
            }
        }
        for c in unmatched {
            let same_label = stored
                .iter_mut()
                .find(|s| s.is_some_and(|m| caseless::key(&m.label) == caseless::key(&c.0)));
            match same_label {
                Some(slot) => keep(slot.take().expect("found above"), c, &mut updates),
                None => added.push(ContactMethod::new(user, kind, c, now)),
            }
        }
        removed.extend(stored.into_iter().flatten().map(|m| m.id.clone()));
    }
    if added.is_empty() && updates.is_empty() && removed.is_empty() {
        return Ok(());
    }
    // Removals first, so an address moving between methods never meets itself in the index.
    for id in &removed {
        delete(conn, id)?;
    }
    for m in &updates {
        update(conn, m)?;
    }
    for m in &added {
        insert(conn, m)?;
    }
    if added.is_empty() {
        return Ok(());
    }
    let rules = rules_of(conn, user, None)?;
    let methods = methods_of(conn, user)?;
    let kind_of: HashMap<&ContactMethodId, ContactKind> =
        methods.iter().map(|m| (&m.id, m.kind)).collect();
    let has_rule = |kind| {
        rules
            .iter()
            .any(|r| kind_of.get(&r.contact_method_id) == Some(&kind))
    };
    let (email, phone) = default_methods(&methods);
    let is_new = |m: &&ContactMethod| added.iter().any(|a| a.id == m.id);
    let first_new = |kind| methods.iter().filter(|m| m.kind == kind).find(is_new);
    let email = email
        .filter(is_new)
        .or_else(|| first_new(ContactKind::Email))
        .filter(|_| !has_rule(ContactKind::Email));
    let phone = phone
        .filter(is_new)
        .or_else(|| first_new(ContactKind::Phone))
        .filter(|_| !has_rule(ContactKind::Phone));
    let steps = contact::default_rules(email.map(|m| &m.id), phone.map(|m| &m.id));
    insert_steps(conn, user, steps, now)
}
