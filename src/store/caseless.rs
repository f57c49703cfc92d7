//! Stored caseless keys (`domain::caseless`) kept in step with the rules that made them.
//! `refold` recomputes every key when `key_folding.version` is behind `caseless::VERSION`:
//! after the migration that added the keys (which could only fill them with SQL `lower()`),
//! or after a change of the rules. `store::migrate` runs it, so it is done before a server
//! answers and a CLI command acts.

use super::DbConnection;
use super::schema::{contact_methods, key_folding, teams, users};
use super::users::{ContactKeys, User, UserKeys};
use crate::domain::caseless;
use crate::domain::ids::{ContactMethodId, TeamId, UserId};
use crate::domain::user::name_key;
use crate::error::AppResult;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashSet;

/// Rows read per query.
const PAGE: i64 = 1_000;

/// What `refold` changed.
#[derive(Debug, Default, PartialEq)]
pub struct Refolded {
    pub users: usize,
    pub teams: usize,
    pub contact_methods: usize,
    /// Names that kept their old key because their new one is another's (see `unique_keys`).
    pub kept: Vec<String>,
}

/// Recomputes the stored keys if the rules changed since they were computed; `None` when they
/// are current. One transaction, which also records the version.
pub fn refold(conn: &mut DbConnection) -> AppResult<Option<Refolded>> {
    let current = |tx: &mut DbConnection| -> AppResult<bool> {
        let version: i64 = key_folding::table
            .find(1)
            .select(key_folding::version)
            .first(tx)?;
        Ok(version >= caseless::VERSION)
    };
    if current(conn)? {
        return Ok(None);
    }
    super::write(conn, |tx| {
        if current(tx)? {
            return Ok(None);
        }
        let mut done = Refolded::default();
        refold_users(tx, &mut done)?;
        refold_teams(tx, &mut done)?;
        refold_contact_methods(tx, &mut done)?;
        diesel::update(key_folding::table.find(1))
            .set(key_folding::version.eq(caseless::VERSION))
            .execute(tx)?;
        Ok(Some(done))
    })
}

/// A unique key that the new rules would change: (who, created, old key, new key, name).
struct Rekey<Id> {
    id: Id,
    created_at: NaiveDateTime,
    old: String,
    new: String,
    name: String,
}

/// Which of `moving` may take their new unique key, given the keys `taken` by names whose key
/// does not change. Folding can make two names one that lower-casing kept apart (`Maße` and
/// `MASSE`): a name whose key stays keeps it, then the earliest created wins. A loser keeps
/// its old key (which no new key can equal: a key is its own key, an old one that changes is
/// not), is logged and named in `kept`, for an admin to rename; its next save under the new
/// rules is refused as a duplicate name.
fn unique_keys<Id>(
    mut taken: HashSet<String>,
    mut moving: Vec<Rekey<Id>>,
    kept: &mut Vec<String>,
) -> Vec<Rekey<Id>> {
    moving.sort_by_key(|r| r.created_at);
    moving.retain(|r| {
        let free = taken.insert(r.new.clone());
        if !free {
            tracing::warn!(
                name = %r.name,
                key = %r.new,
                "this name now equals an older one, ignoring case; it keeps its old key until renamed"
            );
            kept.push(r.name.clone());
        }
        free
    });
    moving
}

fn refold_users(tx: &mut DbConnection, done: &mut Refolded) -> AppResult<()> {
    let mut after: Option<UserId> = None;
    let mut taken = HashSet::new();
    let mut moving = Vec::new();
    loop {
        let mut q = users::table
            .order(users::id)
            .limit(PAGE)
            .select((User::as_select(), UserKeys::as_select()))
            .into_boxed();
        if let Some(id) = &after {
            q = q.filter(users::id.gt(id.clone()));
        }
        let page: Vec<(User, UserKeys)> = q.load(tx)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.id.clone());
        for (user, stored) in page {
            let keys = UserKeys::of(&user);
            if keys != stored {
                diesel::update(users::table.find(&user.id))
                    .set(&keys)
                    .execute(tx)?;
                done.users += 1;
            }
            let key = name_key(&user.user_name);
            match (key == user.user_name_key, user.deleted_at.is_none()) {
                (true, true) => drop(taken.insert(key)),
                (true, false) => {}
                // Deleted users' names are free: the unique index leaves them out.
                (false, false) => {
                    diesel::update(users::table.find(&user.id))
                        .set(users::user_name_key.eq(key))
                        .execute(tx)?;
                }
                (false, true) => moving.push(Rekey {
                    id: user.id,
                    created_at: user.created_at,
                    old: user.user_name_key,
                    new: key,
                    name: user.user_name,
                }),
            }
        }
    }
    for r in unique_keys(taken, moving, &mut done.kept) {
        debug_assert_ne!(r.old, r.new);
        diesel::update(users::table.find(&r.id))
            .set(users::user_name_key.eq(r.new))
            .execute(tx)?;
        done.users += 1;
    }
    Ok(())
}

fn refold_teams(tx: &mut DbConnection, done: &mut Refolded) -> AppResult<()> {
    let all: Vec<(TeamId, String, String, NaiveDateTime)> = teams::table
        .select((teams::id, teams::name, teams::name_key, teams::created_at))
        .load(tx)?;
    let mut taken = HashSet::new();
    let mut moving = Vec::new();
    for (id, name, old, created_at) in all {
        let new = name_key(&name);
        if new == old {
            taken.insert(new);
        } else {
            moving.push(Rekey {
                id,
                created_at,
                old,
                new,
                name,
            });
        }
    }
    for r in unique_keys(taken, moving, &mut done.kept) {
        diesel::update(teams::table.find(&r.id))
            .set(teams::name_key.eq(r.new))
            .execute(tx)?;
        done.teams += 1;
    }
    Ok(())
}

fn refold_contact_methods(tx: &mut DbConnection, done: &mut Refolded) -> AppResult<()> {
    let mut after: Option<ContactMethodId> = None;
    loop {
        let mut q = contact_methods::table
            .order(contact_methods::id)
            .limit(PAGE)
            .select((
                contact_methods::id,
                contact_methods::address,
                contact_methods::label,
                ContactKeys::as_select(),
            ))
            .into_boxed();
        if let Some(id) = &after {
            q = q.filter(contact_methods::id.gt(id.clone()));
        }
        let page: Vec<(ContactMethodId, String, String, ContactKeys)> = q.load(tx)?;
        let Some((last, ..)) = page.last() else { break };
        after = Some(last.clone());
        for (id, address, label, stored) in page {
            let keys = ContactKeys {
                address_key: caseless::key(&address),
                label_key: caseless::key(&label),
            };
            if keys != stored {
                diesel::update(contact_methods::table.find(&id))
                    .set((
                        contact_methods::address_key.eq(keys.address_key),
                        contact_methods::label_key.eq(keys.label_key),
                    ))
                    .execute(tx)?;
                done.contact_methods += 1;
            }
        }
    }
    Ok(())
}
