//! Users and their contact methods: rows, look-ups, the filtered page the REST API lists.

use super::column::Json;
use super::schema::{contact_methods, team_members, teams, users};
use super::{DbConnection, Page, contains_pattern, unique_violation};
use crate::domain::caseless;
use crate::domain::contact::ContactSource;
use crate::domain::ids::{ContactMethodId, TeamId, UserId};
use crate::domain::paging::PageRequest;
use crate::domain::role::Role;
use crate::domain::scim_schema::ScimDocument;
use crate::domain::scim_user::Contact;
use crate::domain::seat_policy::Licence;
use crate::domain::user::{ContactKind, ProvisionedBy, UserNameSource};
use crate::error::{AppError, AppResult, OptionExt};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct User {
    pub id: UserId,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub user_name: String,
    pub user_name_key: String,
    pub external_id: Option<String>,
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub description: Option<String>,
    pub time_zone: String,
    pub locale: Option<String>,
    pub role: Role,
    /// The seat held, `None` without one. Written only by the seat store (`store::seats`),
    /// never by a profile update, so a stale read cannot undo it.
    #[diesel(skip_update)]
    pub licence: Option<Licence>,
    pub active: bool,
    pub provisioned_by: ProvisionedBy,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub name_formatted: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
    pub nick_name: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    /// SCIM `addresses`, as the JSON array Entra sent.
    #[serde(serialize_with = "super::column::as_json_text")]
    pub addresses: Json<Vec<Value>>,
    /// SCIM `roles` (app roles from Entra), as the JSON array Entra sent.
    #[serde(serialize_with = "super::column::as_json_text")]
    pub scim_roles: Json<Vec<Value>>,
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    /// The enterprise `manager.value`: the manager's SCIM id (or Entra's id for them).
    pub manager_id: Option<String>,
    /// Set by deletion: the row stays for history, but the user is gone everywhere.
    pub deleted_at: Option<NaiveDateTime>,
    /// The SCIM resource as Entra last sent it (without id and meta): SCIM reads echo it, so
    /// attributes Rota does not use (display values, a Windows time-zone name) round-trip.
    #[serde(serialize_with = "super::column::as_json_text")]
    pub scim_document: Option<Json<ScimDocument>>,
    /// Entra app role values, from sign-in's `roles` claim or SCIM `roles`.
    #[serde(serialize_with = "super::column::as_json_text")]
    pub app_roles: Json<Vec<String>>,
    /// Who set `user_name`: linking by name adopts the account only if Entra or an admin did.
    pub user_name_source: UserNameSource,
    /// Kept from before externalIds were unique: another live user had the same externalId
    /// when that rule came, so this row is exempt from the unique index until SCIM gives it
    /// another externalId. Sign-in by this externalId is refused while the duplicate lasts.
    pub external_id_shared: bool,
}

impl User {
    /// The user as the audit trail names a change's target.
    pub fn audit_target(&self) -> crate::store::audit::Target<'_> {
        crate::store::audit::Target {
            kind: "user",
            id: self.id.as_str(),
            name: &self.name,
        }
    }

    /// A new, active user with no Entra identity yet, in UTC, with the `user` role; callers
    /// set what they know with struct update syntax. Its user name is taken to come from
    /// what made the account (`ProvisionedBy::name_source`); a caller that cannot vouch for
    /// it says so in `user_name_source`.
    pub fn new(
        user_name: &str,
        name: String,
        provisioned_by: ProvisionedBy,
        now: NaiveDateTime,
    ) -> User {
        User {
            id: UserId::generate(),
            tenant_id: None,
            object_id: None,
            user_name: user_name.to_string(),
            user_name_key: crate::domain::user::name_key(user_name),
            external_id: None,
            name,
            given_name: None,
            family_name: None,
            email: None,
            job_title: None,
            description: None,
            time_zone: "Etc/UTC".into(),
            locale: None,
            role: Role::User,
            licence: None,
            active: true,
            provisioned_by,
            last_sign_in_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
            name_formatted: None,
            middle_name: None,
            honorific_prefix: None,
            honorific_suffix: None,
            nick_name: None,
            user_type: None,
            preferred_language: None,
            addresses: Json::default(),
            scim_roles: Json::default(),
            employee_number: None,
            cost_center: None,
            organization: None,
            division: None,
            department: None,
            manager_id: None,
            deleted_at: None,
            scim_document: None,
            app_roles: Json::default(),
            user_name_source: provisioned_by.name_source(),
            external_id_shared: false,
        }
    }
}

/// What the REST API shows of a user: listings read only these columns, not the SCIM ones.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserCard {
    pub id: UserId,
    pub user_name: String,
    pub name: String,
    pub email: Option<String>,
    pub job_title: Option<String>,
    pub description: Option<String>,
    pub time_zone: String,
    pub locale: Option<String>,
    pub role: Role,
    pub licence: Option<Licence>,
    pub active: bool,
    pub provisioned_by: ProvisionedBy,
    pub user_name_source: UserNameSource,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl From<User> for UserCard {
    fn from(u: User) -> UserCard {
        UserCard {
            id: u.id,
            user_name: u.user_name,
            name: u.name,
            email: u.email,
            job_title: u.job_title,
            description: u.description,
            time_zone: u.time_zone,
            locale: u.locale,
            role: u.role,
            licence: u.licence,
            active: u.active,
            provisioned_by: u.provisioned_by,
            user_name_source: u.user_name_source,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// The caseless keys of a user's texts (`domain::caseless`), which SCIM filters and the REST
/// search compare. Derived from the user on every write (`insert`, `update`), never set by
/// hand; `store::migrate` recomputes them when the folding rules change.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, treat_none_as_null = true)]
pub struct UserKeys {
    pub name_key: String,
    pub given_name_key: Option<String>,
    pub family_name_key: Option<String>,
    pub name_formatted_key: Option<String>,
    pub middle_name_key: Option<String>,
    pub nick_name_key: Option<String>,
    pub job_title_key: Option<String>,
    pub user_type_key: Option<String>,
    pub preferred_language_key: Option<String>,
    pub locale_key: Option<String>,
    pub time_zone_key: String,
    pub employee_number_key: Option<String>,
    pub cost_center_key: Option<String>,
    pub organization_key: Option<String>,
    pub division_key: Option<String>,
    pub department_key: Option<String>,
    pub email_key: Option<String>,
}

impl UserKeys {
    pub fn of(u: &User) -> UserKeys {
        UserKeys {
            name_key: caseless::key(&u.name),
            given_name_key: u.given_name.as_deref().map(caseless::key),
            family_name_key: u.family_name.as_deref().map(caseless::key),
            name_formatted_key: u.name_formatted.as_deref().map(caseless::key),
            middle_name_key: u.middle_name.as_deref().map(caseless::key),
            nick_name_key: u.nick_name.as_deref().map(caseless::key),
            job_title_key: u.job_title.as_deref().map(caseless::key),
            user_type_key: u.user_type.as_deref().map(caseless::key),
            preferred_language_key: u.preferred_language.as_deref().map(caseless::key),
            locale_key: u.locale.as_deref().map(caseless::key),
            time_zone_key: caseless::key(&u.time_zone),
            employee_number_key: u.employee_number.as_deref().map(caseless::key),
            cost_center_key: u.cost_center.as_deref().map(caseless::key),
            organization_key: u.organization.as_deref().map(caseless::key),
            division_key: u.division.as_deref().map(caseless::key),
            department_key: u.department.as_deref().map(caseless::key),
            email_key: u.email.as_deref().map(caseless::key),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = contact_methods)]
pub struct ContactMethod {
    pub id: ContactMethodId,
    pub user_id: UserId,
    pub kind: ContactKind,
    pub label: String,
    pub address: String,
    pub is_primary: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Who made it: SCIM-made ones follow the directory, a person's own are never touched
    /// by SCIM (`domain::contact::ContactSource`).
    pub source: ContactSource,
    /// The country code of a phone number sent in PagerDuty's split form; `None` otherwise.
    pub country_code: Option<i32>,
}

impl ContactMethod {
    /// A new contact method of `user_id` from a `(label, address, primary)` entry, as SCIM
    /// and REST send their lists.
    pub fn new(
        user_id: &UserId,
        kind: ContactKind,
        (label, address, primary): &Contact,
        now: NaiveDateTime,
    ) -> ContactMethod {
        ContactMethod {
            id: ContactMethodId::generate(),
            user_id: user_id.clone(),
            kind,
            label: label.clone(),
            address: address.clone(),
            is_primary: *primary,
            created_at: now,
            updated_at: now,
            source: ContactSource::Scim,
            country_code: None,
        }
    }
}

/// Which users to list.
#[derive(Debug, Default, Clone)]
pub struct UserQuery {
    /// Part of a name, user name or e-mail address, any case.
    pub text: Option<String>,
    /// Only members of any of these teams.
    pub team_ids: Vec<TeamId>,
}

/// A unique index refused `user`: its externalId or its user name is another live user's.
fn taken(user: &User) -> impl FnOnce(diesel::result::Error) -> AppError + '_ {
    move |e| {
        let external_id = matches!(
            &e,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                info,
            ) if info.message().contains("external_id")
                || info.constraint_name().is_some_and(|c| c.contains("external_id"))
        );
        if external_id {
            let value = user.external_id.as_deref().unwrap_or_default();
            unique_violation(
                "externalId",
                format!("'{value}' is already another user's externalId"),
            )(e)
        } else {
            unique_violation(
                "user_name",
                format!("'{}' is already taken by another user", user.user_name),
            )(e)
        }
    }
}

pub fn insert(conn: &mut DbConnection, user: &User) -> AppResult<()> {
    diesel::insert_into(users::table)
        .values((user, UserKeys::of(user)))
        .execute(conn)
        .map_err(taken(user))?;
    Ok(())
}

/// The user with this id, unless deleted.
///
/// Look-ups by id filter deleted rows here rather than in SQL: with `deleted_at IS NULL` in
/// the query, PostgreSQL's generic plans may AND the primary key with a whole partial index
/// (those of userName and Entra identity are `WHERE deleted_at IS NULL`).
/// Holds the person's row until the transaction ends (PostgreSQL; SQLite's writer lock
/// already orders writers), so a count of what they hold stays true until the commit.
pub fn lock(conn: &mut DbConnection, id: &UserId) -> AppResult<()> {
    if let DbConnection::Postgres(c) = conn {
        users::table
            .find(id)
            .select(users::id)
            .for_no_key_update()
            .load::<UserId>(c)?;
    }
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: &UserId) -> AppResult<User> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?
        .filter(|u| u.deleted_at.is_none())
        .not_found("user", id.as_str())
}

/// Saves every column of `user`, whose `version` the caller has bumped by one from the row it
/// read; an inactive user's sessions end with it. If another writer saved the row in between, nothing is written and the caller is told
/// (optimistic concurrency: PostgreSQL's default isolation would otherwise lose an update).
pub fn update(conn: &mut DbConnection, user: &User) -> AppResult<()> {
    let saved = diesel::update(
        users::table
            .find(&user.id)
            .filter(users::version.eq(user.version - 1)),
    )
    .set((user, UserKeys::of(user)))
    .execute(conn)
    .map_err(taken(user))?;
    if saved == 0 {
        return Err(super::changed_meanwhile("user", user.id.as_str()));
    }
    // A deactivated person is signed out everywhere, in the same transaction.
    if !user.active {
        super::sessions::revoke_all_of(conn, &user.id, "deactivated", user.updated_at)?;
    }
    Ok(())
}

/// Deletes the user: they leave every team, are never paged again and their user name is
/// free; the row stays (marked deleted) so incidents and the audit trail keep their history.
pub fn delete(conn: &mut DbConnection, user: &User, now: NaiveDateTime) -> AppResult<()> {
    // The teams they leave change too: a new version, so SCIM ETags and caches see it.
    let their_teams = team_members::table
        .filter(team_members::user_id.eq(&user.id))
        .select(team_members::team_id);
    diesel::update(teams::table.filter(teams::id.eq_any(their_teams)))
        .set((
            teams::version.eq(teams::version + 1),
            teams::updated_at.eq(now),
        ))
        .execute(conn)?;
    diesel::delete(team_members::table.filter(team_members::user_id.eq(&user.id))).execute(conn)?;
    let saved = diesel::update(
        users::table
            .find(&user.id)
            .filter(users::version.eq(user.version)),
    )
    .set((
        users::deleted_at.eq(now),
        users::active.eq(false),
        users::version.eq(user.version + 1),
        users::updated_at.eq(now),
    ))
    .execute(conn)?;
    if saved == 0 {
        return Err(super::changed_meanwhile("user", user.id.as_str()));
    }
    super::sessions::revoke_all_of(conn, &user.id, "deleted", now)?;
    if !user.external_id_shared
        && let Some(external_id) = &user.external_id
    {
        hand_on_external_id(conn, external_id)?;
    }
    Ok(())
}

/// When the holder of an externalId under the unique index is deleted, the oldest live
/// duplicate kept from before the index (see `external_id_shared`) takes its place, so the
/// index goes on refusing newcomers with that externalId.
fn hand_on_external_id(conn: &mut DbConnection, external_id: &str) -> AppResult<()> {
    let heir: Option<UserId> = users::table
        .filter(users::external_id.eq(external_id))
        .filter(users::deleted_at.is_null())
        .filter(users::external_id_shared.eq(true))
        .order((users::created_at.asc(), users::id.asc()))
        .select(users::id)
        .first(conn)
        .optional()?;
    if let Some(heir) = heir {
        diesel::update(users::table.find(heir))
            .set(users::external_id_shared.eq(false))
            .execute(conn)?;
    }
    Ok(())
}

/// One page of users ordered by name, whether more follow, and the total when asked.
pub fn list(
    conn: &mut DbConnection,
    query: &UserQuery,
    page: &PageRequest,
) -> AppResult<Page<UserCard>> {
    let filtered = || {
        let mut q = users::table
            .filter(users::deleted_at.is_null())
            .into_boxed();
        if let Some(text) = query.text.as_deref().filter(|t| !t.trim().is_empty()) {
            let pattern = contains_pattern(text.trim());
            q = q.filter(
                users::name_key
                    .like(pattern.clone())
                    .escape('\\')
                    .or(users::user_name_key.like(pattern.clone()).escape('\\'))
                    .or(users::email_key
                        .assume_not_null()
                        .like(pattern)
                        .escape('\\')),
            );
        }
        if !query.team_ids.is_empty() {
            let members = team_members::table
                .filter(team_members::team_id.eq_any(query.team_ids.clone()))
                .select(team_members::user_id);
            q = q.filter(users::id.eq_any(members));
        }
        q
    };
    // Deferred join: the offset is walked over the (name, id) index alone, then only the
    // page's rows are read in full. Deep offsets stay cheap.
    let ids: Vec<UserId> = filtered()
        .order((users::name.asc(), users::id.asc()))
        .offset(page.offset)
        .limit(page.fetch_limit())
        .select(users::id)
        .load(conn)?;
    let mut rows: Vec<UserCard> = users::table
        .filter(users::id.eq_any(&ids))
        .select(UserCard::as_select())
        .load(conn)?;
    let position: std::collections::HashMap<&UserId, usize> =
        ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    rows.sort_by_key(|u| position.get(&u.id).copied().unwrap_or(usize::MAX));
    let (rows, more) = page.finish(rows);
    let total = if page.want_total {
        Some(filtered().count().get_result(conn)?)
    } else {
        None
    };
    Ok(Page { rows, more, total })
}

/// The teams each of `ids` belongs to, as (user, team id, team name), in one query.
pub fn team_refs(
    conn: &mut DbConnection,
    ids: &[UserId],
) -> AppResult<Vec<(UserId, TeamId, String)>> {
    Ok(team_members::table
        .inner_join(teams::table)
        .filter(team_members::user_id.eq_any(ids))
        .order((teams::name.asc(), teams::id.asc()))
        .select((team_members::user_id, teams::id, teams::name))
        .load(conn)?)
}

/// The contact methods of each of `ids`, in one query.
pub fn contact_methods_of(
    conn: &mut DbConnection,
    ids: &[UserId],
) -> AppResult<Vec<ContactMethod>> {
    Ok(contact_methods::table
        .filter(contact_methods::user_id.eq_any(ids))
        .order((
            contact_methods::user_id.asc(),
            contact_methods::created_at.asc(),
            contact_methods::id.asc(),
        ))
        .select(ContactMethod::as_select())
        .load(conn)?)
}

/// The caseless keys of a contact method's texts, derived on every write.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = contact_methods)]
pub struct ContactKeys {
    pub address_key: String,
    pub label_key: String,
}

impl ContactKeys {
    pub fn of(m: &ContactMethod) -> ContactKeys {
        ContactKeys {
            address_key: caseless::key(&m.address),
            label_key: caseless::key(&m.label),
        }
    }
}

pub fn insert_contact_method(conn: &mut DbConnection, method: &ContactMethod) -> AppResult<()> {
    diesel::insert_into(contact_methods::table)
        .values((method, ContactKeys::of(method)))
        .execute(conn)?;
    Ok(())
}

/// Points the user's primary e-mail contact method at `address` (creating it if missing).
pub fn set_primary_email(
    conn: &mut DbConnection,
    user_id: &UserId,
    address: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    let updated = diesel::update(
        contact_methods::table
            .filter(contact_methods::user_id.eq(user_id))
            .filter(contact_methods::kind.eq(ContactKind::Email))
            .filter(contact_methods::is_primary.eq(true)),
    )
    .set((
        contact_methods::address.eq(address),
        contact_methods::address_key.eq(caseless::key(address)),
        contact_methods::updated_at.eq(now),
    ))
    .execute(conn)?;
    if updated == 0 {
        insert_contact_method(
            conn,
            &ContactMethod::new(
                user_id,
                ContactKind::Email,
                &("Default".into(), address.into(), true),
                now,
            ),
        )?;
    }
    Ok(())
}

/// Records a sign-in's time: no new version (it is not part of the SCIM resource).
pub fn record_sign_in(conn: &mut DbConnection, id: &UserId, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(users::table.find(id))
        .set(users::last_sign_in_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// The live user with this user name (any case), if any.
pub fn find_by_user_name(conn: &mut DbConnection, user_name: &str) -> AppResult<Option<User>> {
    // `deleted_at IS NULL` in the query, as in the unique index's own condition: without it
    // neither backend can use that partial index, and each look-up scanned every user.
    Ok(users::table
        .filter(users::user_name_key.eq(crate::domain::user::name_key(user_name)))
        .filter(users::deleted_at.is_null())
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

pub fn count(conn: &mut DbConnection) -> AppResult<i64> {
    Ok(users::table.count().get_result(conn)?)
}

/// Live users by id, in one query (order not kept; deleted rows dropped as in `find`).
pub fn find_many(conn: &mut DbConnection, ids: &[UserId]) -> AppResult<Vec<User>> {
    let mut rows: Vec<User> = users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)?;
    rows.retain(|u| u.deleted_at.is_none());
    Ok(rows)
}

/// Replaces the user's contact methods of `kind` (email or phone) with `methods`
/// (label, address, primary), as SCIM sends the whole list.
pub fn replace_contacts(
    conn: &mut DbConnection,
    user_id: &UserId,
    kind: ContactKind,
    methods: &[Contact],
    now: NaiveDateTime,
) -> AppResult<()> {
    diesel::delete(
        contact_methods::table
            .filter(contact_methods::user_id.eq(user_id))
            .filter(contact_methods::kind.eq(kind)),
    )
    .execute(conn)?;
    add_contacts(conn, user_id, &[(kind, methods)], now)?;
    Ok(())
}

/// Adds SCIM-made contact methods of each kind (label, address, primary) to a user, in one
/// statement, each address of a kind once, and returns them in the order `contact_methods_of` reads them back.
pub fn add_contacts(
    conn: &mut DbConnection,
    user_id: &UserId,
    lists: &[(ContactKind, &[Contact])],
    now: NaiveDateTime,
) -> AppResult<Vec<ContactMethod>> {
    // One row per address of a kind (a unique index): SCIM may list an address twice, as
    // work and other; the first entry is kept.
    let mut added: Vec<ContactMethod> = Vec::new();
    for &(kind, methods) in lists {
        for m in methods {
            if !added.iter().any(|a| a.kind == kind && a.address == m.1) {
                added.push(ContactMethod::new(user_id, kind, m, now));
            }
        }
    }
    if !added.is_empty() {
        let rows: Vec<(&ContactMethod, ContactKeys)> =
            added.iter().map(|m| (m, ContactKeys::of(m))).collect();
        super::on_backend!(conn, c => diesel::insert_into(contact_methods::table).values(rows).execute(c))?;
    }
    added.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(added)
}

/// The live person with this e-mail address (compared caselessly): whom a `From` header
/// names when a service token acts on an incident.
pub fn person_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> AppResult<Option<super::schedules::Person>> {
    Ok(users::table
        .filter(users::email_key.eq(caseless::key(email)))
        .filter(users::deleted_at.is_null())
        .select(super::schedules::Person::as_select())
        .first(conn)
        .optional()?)
}
