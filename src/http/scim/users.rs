//! `/scim/v2/Users`: Entra's users as Rota users. What Entra sends (a POST or PUT body, or the
//! result of a PATCH) is made to fit the User schemas (`domain::scim_schema`), read into the row
//! with one parser, so all three validate alike, and kept to be echoed; users made elsewhere are
//! shown from the row. Either way every answer fits `/Schemas`.

use super::{
    ListParams, ScimCaller, ScimResult, base, check_if_match, if_match, projected_response,
    query_params, resource_response,
};
use crate::domain::contact::{self, ContactSource};
use crate::domain::ids::UserId;
use crate::domain::scim_patch::{self, get};
use crate::domain::scim_schema::{self, Misfits, ScimDocument};
use crate::domain::scim_user::{self, Fields};
use crate::domain::user::{self as rules, ContactKind, ProvisionedBy, UserNameSource};
use crate::error::{AppError, AppResult};
use crate::http::AppState;
use crate::store::DbConnection;
use crate::store::audit;
use crate::store::column::Json;
use crate::store::contact_methods;
use crate::store::scim::{self as search, Resource};
use crate::store::users::{self, ContactMethod, User};
use crate::use_cases;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

pub use crate::domain::scim_schema::USER_SCHEMA;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/Users")
            .route(super::list_route(page))
            .route(web::post().to(create)),
    )
    .service(web::resource("/Users/.search").route(super::search_route(page)))
    .service(
        web::resource("/Users/{id}")
            .route(web::get().to(show))
            .route(web::put().to(replace))
            .route(web::patch().to(patch))
            .route(web::delete().to(remove)),
    );
}

fn meta(user: &User, public_url: &str) -> Value {
    let location = format!("{}/Users/{}", base(public_url), user.id);
    json!(super::meta(
        "User",
        user.created_at,
        user.updated_at,
        user.version,
        location
    ))
}

/// A client's user document made to fit the User schemas (the document that is stored and
/// echoed), and the validated values the row is made from.
fn read(body: &Value) -> AppResult<(Map<String, Value>, Fields)> {
    let doc = scim_user::fitted(body).map_err(super::invalid)?;
    let fields = scim_user::User::from_document(&doc)
        .and_then(|u| u.fields())
        .map_err(super::invalid)?;
    Ok((doc, fields))
}

/// The SCIM representation of a user: the document Entra last sent, echoed with our id and
/// meta; for users made elsewhere (REST API, sign-in), built from the row. Either way it fits
/// `/Schemas`: a document stored before documents were made to fit loses what does not.
pub fn resource(user: &User, contacts: &[&ContactMethod], public_url: &str) -> Value {
    let body = user
        .scim_document
        .as_ref()
        .map(|d| Value::Object(d.0.0.clone()))
        .unwrap_or_else(|| Value::Object(built(user, contacts, public_url).to_document()));
    let mut doc = scim_schema::conform_user(&body, Misfits::Drop).unwrap_or_default();
    let schemas = scim_user::schemas_of(&doc);
    doc.insert("schemas".into(), json!(schemas));
    doc.insert("id".into(), json!(user.id));
    doc.insert("meta".into(), meta(user, public_url));
    Value::Object(doc)
}

/// The attributes of a user who has no SCIM document, from the row.
fn built(user: &User, contacts: &[&ContactMethod], public_url: &str) -> scim_user::User {
    let multi = |kind: ContactKind| -> Vec<scim_user::MultiValued> {
        contacts
            .iter()
            // A person's own contact methods are theirs, not the directory's.
            .filter(|c| c.kind == kind && c.source == ContactSource::Scim)
            .map(|c| scim_user::MultiValued {
                value: Some(c.address.clone()),
                primary: Some(c.is_primary),
                kind: (!c.label.is_empty()).then(|| c.label.clone()),
                display: None,
            })
            .collect()
    };
    // The addresses and roles columns keep what an earlier document said; what of it no
    // longer fits the schema is left out, as in a stored document.
    let kept = scim_schema::conform_user(
        &json!({
            // A stand-in: only the lists are read from this document.
            "userName": "-",
            "addresses": user.addresses.0,
            "roles": user.scim_roles.0,
        }),
        Misfits::Drop,
    )
    .ok()
    .and_then(|doc| scim_user::User::from_document(&doc).ok())
    .unwrap_or_default();
    scim_user::User {
        external_id: user.external_id.clone(),
        user_name: user.user_name.clone(),
        name: Some(scim_user::Name {
            formatted: user.name_formatted.clone(),
            family_name: user.family_name.clone(),
            given_name: user.given_name.clone(),
            middle_name: user.middle_name.clone(),
            honorific_prefix: user.honorific_prefix.clone(),
            honorific_suffix: user.honorific_suffix.clone(),
        }),
        display_name: Some(user.name.clone()),
        nick_name: user.nick_name.clone(),
        title: user.job_title.clone(),
        user_type: user.user_type.clone(),
        preferred_language: user.preferred_language.clone(),
        locale: user.locale.clone(),
        timezone: Some(user.time_zone.clone()),
        active: Some(user.active),
        emails: multi(ContactKind::Email),
        phone_numbers: multi(ContactKind::Phone),
        addresses: kept.addresses,
        roles: kept.roles,
        enterprise: Some(scim_user::EnterpriseUser {
            employee_number: user.employee_number.clone(),
            cost_center: user.cost_center.clone(),
            organization: user.organization.clone(),
            division: user.division.clone(),
            department: user.department.clone(),
            manager: user.manager_id.as_ref().map(|m| scim_user::Manager {
                value: Some(m.clone()),
                reference: Some(format!("{}/Users/{m}", base(public_url))),
                display_name: None,
            }),
        }),
    }
}

/// (type, address, primary) of each e-mail or phone number, in the order sent.
type ContactList = Vec<scim_user::Contact>;
/// E-mails and phone numbers.
type ContactLists = (ContactList, ContactList);

/// Writes what the body says into the row. Returns the contact lists to store.
fn assign(user: &mut User, f: Fields) -> AppResult<ContactLists> {
    user.app_roles = Json(f.app_role_values());
    user.user_name_key = rules::name_key(&f.user_name);
    user.user_name = f.user_name;
    user.user_name_source = UserNameSource::EntraScim;
    // A duplicate kept from before externalIds were unique stays exempt only while it keeps
    // that externalId.
    if user.external_id != f.external_id {
        user.external_id_shared = false;
    }
    user.external_id = f.external_id;
    user.active = f.active;
    let joined = [f.given.as_deref(), f.family.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    // The name shown, and the attribute it came from (which an error names).
    let (shown, source) = match (&f.display_name, &f.formatted) {
        (Some(d), _) => (d.clone(), "displayName"),
        (None, Some(formatted)) => (formatted.clone(), "name.formatted"),
        (None, None) if !joined.is_empty() => (joined, "name.givenName"),
        (None, None) => (user.user_name.clone(), "userName"),
    };
    user.name = rules::display_name(&shown).map_err(|reason| match source {
        "displayName" => AppError::invalid(source, reason),
        _ => AppError::invalid(
            source,
            format!("{reason} (with no displayName, it is the name shown)"),
        ),
    })?;
    user.name_formatted = f.formatted;
    user.family_name = f.family;
    user.given_name = f.given;
    user.middle_name = f.middle;
    user.honorific_prefix = f.prefix;
    user.honorific_suffix = f.suffix;
    user.nick_name = f.nick_name;
    user.job_title = f.title;
    user.user_type = f.user_type;
    user.preferred_language = f.preferred_language;
    user.locale = f.locale;
    // A zone name we cannot use (Entra may send Windows names) keeps the current setting
    // rather than failing the provisioning cycle.
    if let Some(tz) = f.timezone {
        match rules::time_zone(&tz) {
            Ok(tz) => user.time_zone = tz,
            Err(reason) => {
                tracing::warn!(user = %user.user_name, %reason, "ignoring SCIM timezone")
            }
        }
    }
    let email = f
        .emails
        .iter()
        .find(|e| e.2)
        .or(f.emails.first())
        .map(|e| e.1.clone());
    user.email = email;
    user.addresses = Json(json_items(&f.addresses)?);
    user.scim_roles = Json(json_items(&f.roles)?);
    user.employee_number = f.employee_number;
    user.cost_center = f.cost_center;
    user.organization = f.organization;
    user.division = f.division;
    user.department = f.department;
    user.manager_id = f.manager;
    Ok((f.emails, phones(f.phones)?))
}

/// Phone numbers become contact methods, stored as E.164 once their formatting is
/// stripped (the echoed document keeps Entra's text). A number without its country code is
/// kept as sent, stripped, but never guessed into E.164: SCIM must not refuse a person over
/// a directory's phone format (Entra would retry and quarantine the app), and voice
/// delivery calls only E.164 numbers (a guess calls a stranger). REST refuses such numbers.
fn phones(sent: ContactList) -> AppResult<ContactList> {
    Ok(sent
        .into_iter()
        .map(|(label, value, primary)| {
            let number =
                contact::phone(&value).unwrap_or_else(|_| contact::strip_phone_formatting(&value));
            (label, number, primary)
        })
        .collect())
}

/// Typed list entries as the JSON column keeps them.
fn json_items<T: serde::Serialize>(items: &[T]) -> AppResult<Vec<Value>> {
    items
        .iter()
        .map(|item| serde_json::to_value(item).map_err(AppError::internal))
        .collect()
}

/// A fitted document as the column keeps it.
fn stored(doc: Map<String, Value>) -> Option<Json<ScimDocument>> {
    Some(Json(ScimDocument(doc)))
}

/// Settles the user's seat after a SCIM change (a shortage queues them, never fails the
/// request). Returns the resource as stored now: `rendered`, unless the policy changed the
/// user's role, and so their version.
fn settle_and_render(
    tx: &mut DbConnection,
    settling: &mut use_cases::Settling<'_>,
    public_url: &str,
    id: &UserId,
    rendered: Value,
) -> AppResult<Value> {
    let settled = settling.settle(tx, std::slice::from_ref(id))?;
    if settled.roles_changed == 0 {
        return Ok(rendered);
    }
    let user = users::find(tx, id)?;
    render_one(tx, public_url, &user)
}

/// Renders users with their contact methods (one query for all).
fn render(conn: &mut DbConnection, public_url: &str, rows: &[User]) -> AppResult<Vec<Value>> {
    let ids: Vec<UserId> = rows.iter().map(|u| u.id.clone()).collect();
    let methods = users::contact_methods_of(conn, &ids)?;
    let mut by_user: HashMap<&UserId, Vec<&ContactMethod>> = HashMap::new();
    for m in &methods {
        by_user.entry(&m.user_id).or_default().push(m);
    }
    Ok(rows
        .iter()
        .map(|u| {
            resource(
                u,
                by_user.get(&u.id).map(Vec::as_slice).unwrap_or(&[]),
                public_url,
            )
        })
        .collect())
}

/// Renders one user (the resource a write or a read by id answers with).
fn render_one(conn: &mut DbConnection, public_url: &str, user: &User) -> AppResult<Value> {
    render(conn, public_url, std::slice::from_ref(user))?
        .pop()
        .ok_or_else(|| AppError::internal("rendering a SCIM user returned nothing"))
}

/// Stores a changed user and their contact lists, audited, and renders the result. When the
/// request changes nothing (Entra re-sends unchanged values), nothing is written and the
/// version stays.
fn save(
    conn: &mut DbConnection,
    caller: &ScimCaller,
    public_url: &str,
    before: &User,
    mut user: User,
    lists: ContactLists,
) -> AppResult<Value> {
    let now = crate::clock::stored(caller.at);
    let old = render_one(conn, public_url, before)?;
    let pending: Vec<ContactMethod> = [
        (ContactKind::Email, &lists.0),
        (ContactKind::Phone, &lists.1),
    ]
    .into_iter()
    .flat_map(|(kind, items)| {
        items
            .iter()
            .map(move |m| ContactMethod::new(&before.id, kind, m, now))
    })
    .collect();
    let candidate = resource(&user, &pending.iter().collect::<Vec<_>>(), public_url);
    if strip_meta(&old) == strip_meta(&candidate) {
        return Ok(old);
    }
    user.version = before.version + 1;
    user.updated_at = now;
    users::update(conn, &user)?;
    contact_methods::follow_scim(conn, &user.id, &lists.0, &lists.1, now)?;
    let new = render_one(conn, public_url, &user)?;
    audit::record(
        conn,
        &caller.audit(),
        "update",
        user.audit_target(),
        Some(&strip_meta(&old)),
        Some(&strip_meta(&new)),
    )?;
    Ok(new)
}

fn strip_meta(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        m.remove("meta");
    }
    v
}

async fn create(
    state: web::Data<AppState>,
    caller: ScimCaller,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let (document, fields) = read(&body)?;
    let public_url = state.public_url.clone();
    let app = state.clone();
    let resource = state
        .db
        .run(move |conn| {
            let ctx = caller.audit();
            let created = use_cases::adding_person(conn, app.seats(), &ctx, |tx, settling| {
                let now = crate::clock::stored(caller.at);
                let mut user = User {
                    role: app.sign_in.seat_policy.default_role,
                    ..User::new(
                        &fields.user_name,
                        fields.user_name.clone(),
                        ProvisionedBy::Scim,
                        now,
                    )
                };
                let lists = assign(&mut user, fields.clone())?;
                user.scim_document = stored(document.clone());
                let mut contacts = Vec::new();
                settling.admit(tx, &mut user, |tx, user| {
                    users::insert(tx, user)?;
                    contacts = users::add_contacts(
                        tx,
                        &user.id,
                        &[
                            (ContactKind::Email, &lists.0),
                            (ContactKind::Phone, &lists.1),
                        ],
                        now,
                    )?;
                    contact_methods::give_defaults(tx, &user.id, now)?;
                    let created = resource(user, &contacts.iter().collect::<Vec<_>>(), &public_url);
                    Ok(vec![audit::event(
                        &ctx,
                        "create",
                        user.audit_target(),
                        None::<&Value>,
                        Some(&strip_meta(&created)),
                    )?])
                })?;
                Ok(resource(
                    &user,
                    &contacts.iter().collect::<Vec<_>>(),
                    &public_url,
                ))
            });
            // A live holder of the name makes the insert fail (the unique index): only then
            // is it worth asking who holds it.
            if created.is_err() {
                refuse_unverified_namesake(conn, &fields.user_name)?;
            }
            created
        })
        .await?;
    Ok(resource_response(StatusCode::CREATED, resource))
}

/// Entra creates a user when its matching query found nobody, and lists never show an
/// account whose userName neither Entra nor an admin set. When such an account holds the
/// name, the create is a conflict (409 uniqueness), not a merge: adopting it would hand the
/// person's app roles, and later their sign-in, to whoever chose that name; and renaming it
/// away unasked could split a real person's history. Entra records the failure for this user
/// and tries again each cycle, so once an admin confirms the account (setting its user_name
/// through the REST API), renames or deletes it, the next cycle matches or creates the user.
fn refuse_unverified_namesake(tx: &mut DbConnection, user_name: &str) -> AppResult<()> {
    match users::find_by_user_name(tx, user_name)? {
        Some(holder) if !holder.user_name_source.vouched() => Err(AppError::conflict(
            "userName",
            format!(
                "'{user_name}' is the user name of Rota account {}, which neither Entra nor a Rota administrator named, so it is not taken to be this user: a Rota owner or admin must confirm it (PUT /api/v2/users/{} with its user_name), or rename or delete it",
                holder.id, holder.id
            ),
        )),
        _ => Ok(()),
    }
}

async fn show(
    state: web::Data<AppState>,
    _caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let public_url = state.public_url.clone();
    let resource = state
        .db
        .run(move |conn| {
            let user = users::find(conn, &id)?;
            render_one(conn, &public_url, &user)
        })
        .await?;
    let params = query_params(&req)?;
    Ok(projected_response(resource, &params))
}

async fn replace(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let (document, fields) = read(&body)?;
    match get(&body, "id") {
        None | Some(Value::Null) => {}
        Some(Value::String(sent)) if sent.trim().is_empty() || sent.trim() == id.0 => {}
        Some(Value::String(_)) => {
            return Err(AppError::invalid(
                "id",
                "is immutable: the body names another id than the URL",
            )
            .into());
        }
        Some(other) => {
            return Err(AppError::invalid("id", format!("must be a string, not {other}")).into());
        }
    }
    let expected = if_match(&req);
    let public_url = state.public_url.clone();
    change(
        state,
        move |conn| {
            let before = users::find(conn, &id)?;
            check_if_match(expected.as_deref(), before.version)?;
            let mut user = before.clone();
            let lists = assign(&mut user, fields)?;
            user.scim_document = stored(document);
            Ok((before, user, lists, public_url))
        },
        caller,
    )
    .await
}

async fn patch(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> ScimResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let ops = scim_patch::parse(&body).map_err(super::invalid)?;
    let expected = if_match(&req);
    let public_url = state.public_url.clone();
    change(
        state,
        move |conn| {
            let before = users::find(conn, &id)?;
            check_if_match(expected.as_deref(), before.version)?;
            let mut doc = render_one(conn, &public_url, &before)?;
            scim_patch::apply(&mut doc, &ops).map_err(super::invalid)?;
            let (doc, fields) = read(&doc)?;
            let mut user = before.clone();
            let lists = assign(&mut user, fields)?;
            user.scim_document = stored(doc);
            Ok((before, user, lists, public_url))
        },
        caller,
    )
    .await
}

type Prepared = (User, User, ContactLists, String);

/// PUT and PATCH: prepare the new row in the transaction, then save it (or nothing, when
/// nothing changed) and answer with the resource.
async fn change<F>(
    state: web::Data<AppState>,
    prepare: F,
    caller: ScimCaller,
) -> ScimResult<HttpResponse>
where
    F: FnOnce(&mut DbConnection) -> AppResult<Prepared> + Send + 'static,
{
    let app = state.clone();
    let resource = state
        .db
        .run(move |conn| {
            let ctx = caller.audit();
            use_cases::changing_seats(conn, app.seats(), &ctx, |tx, settling| {
                let (before, user, lists, public_url) = prepare(tx)?;
                let id = user.id.clone();
                let saved = save(tx, &caller, &public_url, &before, user, lists)?;
                settle_and_render(tx, settling, &public_url, &id, saved)
            })
        })
        .await?;
    Ok(resource_response(StatusCode::OK, resource))
}

async fn remove(
    state: web::Data<AppState>,
    caller: ScimCaller,
    id: web::Path<String>,
    req: HttpRequest,
) -> ScimResult<HttpResponse> {
    let id = UserId(id.into_inner());
    let expected = if_match(&req);
    let app = state.clone();
    state
        .db
        .run(move |conn| {
            use_cases::users::delete(conn, app.seats(), &caller.audit(), &id, |user| {
                check_if_match(expected.as_deref(), user.version)
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One page of users matching `q`, rendered, and the number of matches.
pub(super) fn page(
    conn: &mut DbConnection,
    public_url: &str,
    q: &search::Query<'_>,
    _params: &ListParams,
) -> AppResult<(Vec<Value>, i64)> {
    let (ids, total) = search::search(conn, Resource::User, q)?;
    let ids: Vec<UserId> = ids.into_iter().map(UserId).collect();
    let mut rows = users::find_many(conn, &ids)?;
    let position: HashMap<&UserId, usize> = ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    rows.sort_by_key(|u| position.get(&u.id).copied().unwrap_or(usize::MAX));
    Ok((render(conn, public_url, &rows)?, total))
}
