//! `/scim/v2/Users`: Entra's users as Rota users. What Entra sends (a POST or PUT body, or the
//! result of a PATCH) is made to fit the User schemas (`domain::scim_schema`), read into the row
//! with one parser, so all three validate alike, and kept to be echoed; users made elsewhere are
//! shown from the row. Either way every answer fits `/Schemas`.

use super::{
    ScimCaller, ScimResult, base, check_if_match, etag, if_match, projected_response,
    resource_response,
};
use crate::domain::ids::UserId;
use crate::domain::scim_filter::{self, AttrPath};
use crate::domain::scim_patch::{self, get};
use crate::domain::scim_schema::ScimDocument;
use crate::domain::scim_schema::{self, ENTERPRISE_USER, Misfits};
use crate::domain::user::{self as rules, ContactKind, ProvisionedBy, UserNameSource};
use crate::error::{AppError, AppResult, ResultExt};
use crate::http::AppState;
use crate::store::audit;
use crate::store::column::Json;
use crate::store::scim::{self as search, Resource};
use crate::store::users::{self, ContactMethod, User};
use crate::store::{self, DbConnection};
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
    json!({
        "resourceType": "User",
        "created": user.created_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "lastModified": user.updated_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "version": etag(user.version),
        "location": format!("{}/Users/{}", base(public_url), user.id),
    })
}

/// What a client sent (a POST or PUT body, or the result of a PATCH), made to fit the User
/// schemas: the document that is read into the row and kept for echoing. Misfits are refused.
fn fitted(body: &Value) -> AppResult<Value> {
    let mut body = body.clone();
    decode_app_roles(&mut body);
    let doc = scim_schema::conform_user(&body, Misfits::Refuse)
        .map_err(|(field, reason)| AppError::invalid(field, reason))?;
    Ok(Value::Object(doc))
}

/// Entra's `SingleAppRoleAssignment` and `AppRoleAssignmentsComplex` mappings send each role's
/// `value` as JSON text (`"{\"id\":…,\"value\":\"Rota.Admin\",\"displayName\":…}"`), and the
/// latter calls `display` `displayName`. Such a role becomes `{"value": "Rota.Admin",
/// "display": …}` (keeping `type` and `primary`); a plain value stays as it is; a role given
/// twice is kept once.
fn decode_app_roles(body: &mut Value) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    let Some(Value::Array(roles)) =
        scim_patch::existing_key(obj, "roles").and_then(|k| obj.get_mut(&k))
    else {
        return;
    };
    for role in roles.iter_mut() {
        let Value::Object(role) = role else { continue };
        let decoded = get_in(role, "value")
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str::<Value>(text).ok());
        if let Some(decoded) = decoded
            && let Some(Value::String(value)) = get(&decoded, "value")
        {
            role.retain(|k, _| !k.eq_ignore_ascii_case("value"));
            role.insert("value".into(), json!(value));
            if let Some(name) = get(&decoded, "displayName") {
                role.entry("displayName").or_insert_with(|| name.clone());
            }
        }
        if let Some(name) =
            scim_patch::existing_key(role, "displayName").and_then(|k| role.remove(&k))
            && get_in(role, "display").is_none()
        {
            role.insert("display".into(), name);
        }
    }
    let mut seen = Vec::new();
    roles.retain(|role| {
        let value = get(role, "value").cloned().unwrap_or_else(|| role.clone());
        let first = !seen.contains(&value);
        seen.push(value);
        first
    });
}

/// Case-insensitive member of a JSON object's map.
fn get_in<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The SCIM representation of a user: the document Entra last sent, echoed with our id and
/// meta; for users made elsewhere (REST API, sign-in), built from the row. Either way it fits
/// `/Schemas`: a document stored before documents were made to fit loses what does not.
pub fn resource(user: &User, contacts: &[&ContactMethod], public_url: &str) -> Value {
    let body = user
        .scim_document
        .as_ref()
        .map(|d| Value::Object(d.0.0.clone()))
        .unwrap_or_else(|| built(user, contacts, public_url));
    let mut doc = scim_schema::conform_user(&body, Misfits::Drop).unwrap_or_default();
    let mut schemas = vec![json!(USER_SCHEMA)];
    if doc.contains_key(ENTERPRISE_USER) {
        schemas.push(json!(ENTERPRISE_USER));
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), json!(user.id));
    doc.insert("meta".into(), meta(user, public_url));
    Value::Object(doc)
}

/// The attributes of a user who has no SCIM document, from the row (nulls and empty lists are
/// left out when it is made to fit).
fn built(user: &User, contacts: &[&ContactMethod], public_url: &str) -> Value {
    let multi = |kind: ContactKind| -> Value {
        contacts
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| {
                let mut v = json!({"value": c.address, "primary": c.is_primary});
                if !c.label.is_empty() {
                    v["type"] = json!(c.label);
                }
                v
            })
            .collect()
    };
    json!({
        "externalId": user.external_id,
        "userName": user.user_name,
        "name": {
            "formatted": user.name_formatted,
            "familyName": user.family_name,
            "givenName": user.given_name,
            "middleName": user.middle_name,
            "honorificPrefix": user.honorific_prefix,
            "honorificSuffix": user.honorific_suffix,
        },
        "displayName": user.name,
        "nickName": user.nick_name,
        "title": user.job_title,
        "userType": user.user_type,
        "preferredLanguage": user.preferred_language,
        "locale": user.locale,
        "timezone": user.time_zone,
        "active": user.active,
        "emails": multi(ContactKind::Email),
        "phoneNumbers": multi(ContactKind::Phone),
        "addresses": user.addresses.0,
        "roles": user.scim_roles.0,
        ENTERPRISE_USER: {
            "employeeNumber": user.employee_number,
            "costCenter": user.cost_center,
            "organization": user.organization,
            "division": user.division,
            "department": user.department,
            "manager": user.manager_id.as_ref().map(|m| json!({
                "value": m, "$ref": format!("{}/Users/{m}", base(public_url)),
            })),
        },
    })
}

/// (type, address, primary) of each e-mail or phone number, in the order sent.
type ContactList = Vec<(String, String, bool)>;
/// E-mails and phone numbers.
type ContactLists = (ContactList, ContactList);

/// What a SCIM user body says, validated.
struct Fields {
    user_name: String,
    external_id: Option<String>,
    active: bool,
    display_name: Option<String>,
    formatted: Option<String>,
    family: Option<String>,
    given: Option<String>,
    middle: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    nick_name: Option<String>,
    title: Option<String>,
    user_type: Option<String>,
    preferred_language: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    emails: ContactList,
    phones: ContactList,
    addresses: Vec<Value>,
    roles: Vec<Value>,
    employee_number: Option<String>,
    cost_center: Option<String>,
    organization: Option<String>,
    division: Option<String>,
    department: Option<String>,
    manager: Option<String>,
}

fn text(v: Option<&Value>, field: &str) -> AppResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() > 1024 => {
            Err(AppError::invalid(field, "is longer than 1024 bytes"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(AppError::invalid(
            field,
            format!("must be a string, not {other}"),
        )),
    }
}

/// A boolean, also as Entra's default dialect sends it ("True"/"False").
fn boolean(v: Option<&Value>, field: &str) -> AppResult<Option<bool>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(AppError::invalid(
            field,
            format!("must be true or false, not {other}"),
        )),
    }
}

/// emails / phoneNumbers: (type, value, primary), at most 20.
fn contacts(v: Option<&Value>, field: &str) -> AppResult<ContactList> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(AppError::invalid(
                field,
                format!("must be a list, not {other}"),
            ));
        }
    };
    if items.len() > 20 {
        return Err(AppError::invalid(field, "has more than 20 entries"));
    }
    let mut out = Vec::new();
    for item in items {
        let Some(value) = text(get(item, "value"), field)? else {
            continue;
        };
        let kind = text(get(item, "type"), field)?
            .unwrap_or_default()
            .to_lowercase();
        let primary = boolean(get(item, "primary"), field)?.unwrap_or(false);
        out.push((kind, value, primary));
    }
    Ok(out)
}

fn list_json(v: Option<&Value>, field: &str) -> AppResult<Vec<Value>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 20 => Ok(items.clone()),
        Some(other) => Err(AppError::invalid(
            field,
            format!("must be a list of at most 20 entries, not {other}"),
        )),
    }
}

/// A name a person is shown by. A bidirectional override or isolate can make one read as
/// another ("\u{202E}nimda" shows as "admin"), so names refuse them.
fn name_text(v: Option<&Value>, field: &str) -> AppResult<Option<String>> {
    let name = text(v, field)?;
    if name.as_deref().is_some_and(rules::has_bidi_override) {
        return Err(AppError::invalid(
            field,
            "must not contain bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)",
        ));
    }
    Ok(name)
}

/// Reads a document that `fitted` made (so types are right and control characters refused).
fn read(body: &Value) -> AppResult<Fields> {
    if !body.is_object() {
        return Err(AppError::invalid("request body", "must be a JSON object"));
    }
    let user_name = name_text(get(body, "userName"), "userName")?
        .ok_or_else(|| AppError::invalid("userName", "is required"))?;
    let name = get(body, "name");
    let sub = |k: &str| name_text(name.and_then(|n| get(n, k)), &format!("name.{k}"));
    let ext = get(body, ENTERPRISE_USER);
    let e = |k: &str| text(ext.and_then(|x| get(x, k)), k);
    let manager = text(
        ext.and_then(|x| get(x, "manager"))
            .and_then(|m| get(m, "value")),
        "manager.value",
    )?;
    Ok(Fields {
        user_name,
        external_id: text(get(body, "externalId"), "externalId")?,
        active: boolean(get(body, "active"), "active")?.unwrap_or(true),
        display_name: name_text(get(body, "displayName"), "displayName")?,
        formatted: sub("formatted")?,
        family: sub("familyName")?,
        given: sub("givenName")?,
        middle: sub("middleName")?,
        prefix: sub("honorificPrefix")?,
        suffix: sub("honorificSuffix")?,
        nick_name: name_text(get(body, "nickName"), "nickName")?,
        title: text(get(body, "title"), "title")?,
        user_type: text(get(body, "userType"), "userType")?,
        preferred_language: text(get(body, "preferredLanguage"), "preferredLanguage")?,
        locale: text(get(body, "locale"), "locale")?,
        timezone: text(get(body, "timezone"), "timezone")?,
        emails: contacts(get(body, "emails"), "emails")?,
        phones: contacts(get(body, "phoneNumbers"), "phoneNumbers")?,
        addresses: list_json(get(body, "addresses"), "addresses")?,
        roles: list_json(get(body, "roles"), "roles")?,
        employee_number: e("employeeNumber")?,
        cost_center: e("costCenter")?,
        organization: e("organization")?,
        division: e("division")?,
        department: e("department")?,
        manager,
    })
}

/// Writes what the body says into the row. Returns the contact lists to store.
fn assign(user: &mut User, f: Fields) -> AppResult<ContactLists> {
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
    user.addresses = Json(f.addresses);
    user.app_roles = Json(app_role_values(&f.roles));
    user.scim_roles = Json(f.roles);
    user.employee_number = f.employee_number;
    user.cost_center = f.cost_center;
    user.organization = f.organization;
    user.division = f.division;
    user.department = f.department;
    user.manager_id = f.manager;
    Ok((f.emails, f.phones))
}

/// The app role values in SCIM `roles` (Entra sends `value`, and `display` as well), as the
/// list the seat policy matches.
fn app_role_values(roles: &[Value]) -> Vec<String> {
    let mut values: Vec<&str> = Vec::new();
    for role in roles {
        let value = match role {
            Value::String(s) => Some(s.as_str()),
            other => get(other, "value")
                .or_else(|| get(other, "display"))
                .and_then(Value::as_str),
        };
        if let Some(v) = value.filter(|v| !values.contains(v)) {
            values.push(v);
        }
    }
    values.into_iter().map(str::to_string).collect()
}

/// A fitted document (always an object) as the column stores it.
fn stored(doc: &Value) -> Option<Json<ScimDocument>> {
    doc.as_object().map(|m| Json(ScimDocument(m.clone())))
}

/// Settles the user's seat after a SCIM change (a shortage queues them, never fails the
/// request). Returns the resource as stored now (`rendered` unless the policy changed the
/// user's role, and so their version) and the number of warning e-mails queued.
fn settle_and_render(
    tx: &mut DbConnection,
    state: &AppState,
    caller: &ScimCaller,
    id: &UserId,
    rendered: Value,
) -> AppResult<(Value, usize)> {
    let settled = store::seats::settle(
        tx,
        state.seat_rules(),
        &caller.audit(),
        store::seats::Scope::Users(std::slice::from_ref(id)),
    )?;
    if settled.roles_changed == 0 {
        return Ok((rendered, settled.emails));
    }
    let user = users::find(tx, id)?;
    Ok((
        render(tx, &state.public_url, std::slice::from_ref(&user))?.remove(0),
        settled.emails,
    ))
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
    let old = render(conn, public_url, std::slice::from_ref(before))?.remove(0);
    let pending: Vec<ContactMethod> = [
        (ContactKind::Email, &lists.0),
        (ContactKind::Phone, &lists.1),
    ]
    .into_iter()
    .flat_map(|(kind, items)| {
        items
            .iter()
            .map(move |(label, address, primary)| ContactMethod {
                id: crate::domain::ids::ContactMethodId::generate(),
                user_id: before.id.clone(),
                kind,
                label: label.clone(),
                address: address.clone(),
                is_primary: *primary,
                created_at: now,
                updated_at: now,
            })
    })
    .collect();
    let candidate = resource(&user, &pending.iter().collect::<Vec<_>>(), public_url);
    if strip_meta(&old) == strip_meta(&candidate) {
        return Ok(old);
    }
    user.version = before.version + 1;
    user.updated_at = now;
    users::update(conn, &user)?;
    users::replace_contacts(conn, &user.id, ContactKind::Email, &lists.0, now)?;
    users::replace_contacts(conn, &user.id, ContactKind::Phone, &lists.1, now)?;
    let new = render(conn, public_url, std::slice::from_ref(&user))?.remove(0);
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
    let document = fitted(&body)?;
    let fields = read(&document)?;
    let public_url = state.public_url.clone();
    let app = state.clone();
    let (resource, emails) = state
        .db
        .run(move |conn| {
            // A new person: nobody else can hold a lock on their rows, so the seat lock can
            // wait until their seat is settled (the shorter the lock, the more run at once).
            store::write(conn, |tx| {
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
                let lists = assign(&mut user, fields)?;
                user.scim_document = stored(&document);
                refuse_unverified_namesake(tx, &user.user_name)?;
                users::insert(tx, &user)?;
                users::replace_contacts(tx, &user.id, ContactKind::Email, &lists.0, now)?;
                users::replace_contacts(tx, &user.id, ContactKind::Phone, &lists.1, now)?;
                let out = render(tx, &public_url, std::slice::from_ref(&user))?.remove(0);
                audit::record(
                    tx,
                    &caller.audit(),
                    "create",
                    user.audit_target(),
                    None::<&Value>,
                    Some(&strip_meta(&out)),
                )?;
                settle_and_render(tx, &app, &caller, &user.id, out)
            })
        })
        .await?;
    crate::http::api::users::poke_if(&state, emails);
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
            Ok(render(conn, &public_url, &[user])?.remove(0))
        })
        .await?;
    let params = ListParams::from_query(req.query_string())?;
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
    let document = fitted(&body)?;
    let fields = read(&document)?;
    if let Some(sent) = text(get(&body, "id"), "id")?
        && sent != id.0
    {
        return Err(AppError::invalid(
            "id",
            "is immutable: the body names another id than the URL",
        )
        .into());
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
            user.scim_document = stored(&document);
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
    let ops = scim_patch::parse(&body).map_err(super::invalid_patch)?;
    let expected = if_match(&req);
    let public_url = state.public_url.clone();
    change(
        state,
        move |conn| {
            let before = users::find(conn, &id)?;
            check_if_match(expected.as_deref(), before.version)?;
            let mut doc = render(conn, &public_url, std::slice::from_ref(&before))?.remove(0);
            scim_patch::apply(&mut doc, &ops).map_err(super::invalid_patch)?;
            let doc = fitted(&doc)?;
            let mut user = before.clone();
            let lists = assign(&mut user, read(&doc)?)?;
            user.scim_document = stored(&doc);
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
    let (resource, emails) = state
        .db
        .run(move |conn| {
            store::seats::write(conn, |tx| {
                let (before, user, lists, public_url) = prepare(tx)?;
                let id = user.id.clone();
                let saved = save(tx, &caller, &public_url, &before, user, lists)?;
                settle_and_render(tx, &app, &caller, &id, saved)
            })
        })
        .await?;
    crate::http::api::users::poke_if(&state, emails);
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
    let emails = state
        .db
        .run(move |conn| {
            store::seats::write(conn, |tx| {
                let user = users::find(tx, &id)?;
                check_if_match(expected.as_deref(), user.version)?;
                users::delete(tx, &user, crate::clock::stored(caller.at))?;
                audit::record(
                    tx,
                    &caller.audit(),
                    "delete",
                    user.audit_target(),
                    Some(&user),
                    None::<&User>,
                )?;
                // Their seat goes to whoever waits for it.
                let settled = store::seats::settle(
                    tx,
                    app.seat_rules(),
                    &caller.audit(),
                    store::seats::Scope::Users(std::slice::from_ref(&id)),
                )?;
                Ok(settled.emails)
            })
        })
        .await?;
    crate::http::api::users::poke_if(&state, emails);
    Ok(HttpResponse::NoContent().finish())
}

/// List parameters, from the query string (GET) or a SearchRequest body (POST .search).
#[derive(Clone)]
pub struct ListParams {
    pub filter: Option<scim_filter::Filter>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub start_index: i64,
    pub count: i64,
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

/// An attribute named in `attributes`/`excludedAttributes` as (top-level key, sub-attribute):
/// `name.givenName` → ("name", givenName); `urn:…:enterprise:2.0:User:department` → (the
/// extension URN, department); the extension URN alone → (URN, none). Core URN prefixes are
/// dropped. The URN's own "2.0" is never mistaken for a sub-attribute.
fn split_attribute(raw: &str) -> (String, Option<String>) {
    let raw = raw.trim();
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with(&ENTERPRISE_USER.to_ascii_lowercase()) {
        let rest = raw[ENTERPRISE_USER.len()..].trim_start_matches(':');
        let sub = rest
            .split('.')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        return (ENTERPRISE_USER.to_string(), sub);
    }
    let mut attr = raw;
    for core in [USER_SCHEMA, super::groups::GROUP_SCHEMA] {
        if lower.starts_with(&format!("{}:", core.to_ascii_lowercase())) {
            attr = &raw[core.len() + 1..];
        }
    }
    match attr.split_once('.') {
        Some((head, sub)) => (head.to_string(), Some(sub.to_string())),
        None => (attr.to_string(), None),
    }
}

/// What kind of JSON value `v` is, for messages (a wrong value itself may be long).
fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Most resources one list response returns (advertised in ServiceProviderConfig).
pub const MAX_RESULTS: i64 = 200;

impl ListParams {
    pub fn from_query(query: &str) -> AppResult<ListParams> {
        let pairs: Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Self::from_map(&Value::Object(pairs))
    }

    /// Reads the parameters from a query string's pairs (all strings) or a SearchRequest body
    /// (RFC 7644 §3.4.3: `filter`, `sortBy`, `sortOrder` strings, `startIndex`, `count`
    /// integers, `attributes`, `excludedAttributes` lists of names). A parameter of another
    /// type is refused, never ignored: a filter that is not a string would otherwise match all.
    pub fn from_map(v: &Value) -> AppResult<ListParams> {
        if !v.is_object() {
            return Err(AppError::invalid(
                "request body",
                "must be a JSON object (a SearchRequest)",
            ));
        }
        // What is wrong with a parameter that is not a string; the caller says which kind of
        // error that is (a filter's is an invalid filter).
        let string = |k: &str| -> Result<Option<String>, String> {
            match get(v, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("must be a string, not {}", kind_of(other))),
            }
        };
        let int = |k: &str, default: i64| -> AppResult<i64> {
            let whole = |shown: &dyn std::fmt::Display| {
                AppError::invalid(k, format!("must be a whole number, not {shown}"))
            };
            match get(v, k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => n.as_i64().ok_or_else(|| whole(n)),
                Some(Value::String(s)) => s.trim().parse().map_err(|_| whole(&format!("'{s}'"))),
                Some(other) => Err(whole(&kind_of(other))),
            }
        };
        let names = |k: &str| -> AppResult<Vec<String>> {
            let joined = match get(v, k) {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str().map(str::to_owned).ok_or_else(|| {
                            AppError::invalid(
                                k,
                                format!("must list attribute names, not {}", kind_of(item)),
                            )
                        })
                    })
                    .collect::<AppResult<Vec<_>>>()?
                    .join(","),
                Some(other) => {
                    return Err(AppError::invalid(
                        k,
                        format!("must be a list of attribute names, not {}", kind_of(other)),
                    ));
                }
            };
            Ok(joined
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect())
        };
        let filter = string("filter")
            .map_err(AppError::invalid_filter)?
            .filter(|f| !f.trim().is_empty())
            .map(|f| {
                scim_filter::parse_filter(&f).map_err(|e| {
                    // A long filter is not quoted back whole; the position says where.
                    let shown = match f.len() {
                        0..=200 => format!("'{f}' is"),
                        _ => "is".to_string(),
                    };
                    AppError::invalid_filter(format!("{shown} not a SCIM filter: {e}"))
                })
            })
            .transpose()?;
        let sort_by = string("sortBy")
            .invalid_field("sortBy")?
            .map(|p| {
                scim_filter::parse_path(&p)
                    .map(|p| p.attr)
                    .map_err(|e| AppError::invalid_sort(e.to_string()))
            })
            .transpose()?;
        let descending = match string("sortOrder")
            .invalid_field("sortOrder")?
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(AppError::invalid(
                    "sortOrder",
                    format!("is '{other}'; use ascending or descending"),
                ));
            }
        };
        Ok(ListParams {
            filter,
            sort_by,
            descending,
            start_index: int("startIndex", 1)?.max(1),
            count: int("count", 100)?.clamp(0, MAX_RESULTS),
            attributes: names("attributes")?,
            excluded: names("excludedAttributes")?,
        })
    }

    /// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.9); `id` and `schemas` stay.
    pub fn project(&self, resource: Value) -> Value {
        let Value::Object(map) = resource else {
            return resource;
        };
        let attributes: Vec<(String, Option<String>)> =
            self.attributes.iter().map(|a| split_attribute(a)).collect();
        let excluded: Vec<(String, Option<String>)> =
            self.excluded.iter().map(|a| split_attribute(a)).collect();
        let out = map
            .into_iter()
            .filter_map(|(key, value)| {
                if key == "id" || key == "schemas" {
                    return Some((key, value));
                }
                let named = |list: &[(String, Option<String>)]| -> Vec<Option<String>> {
                    list.iter()
                        .filter(|(top, _)| top.eq_ignore_ascii_case(&key))
                        .map(|(_, sub)| sub.clone())
                        .collect()
                };
                if !attributes.is_empty() {
                    let subs = named(&attributes);
                    if subs.is_empty() {
                        return None;
                    }
                    if subs.iter().any(Option::is_none) {
                        return Some((key, value));
                    }
                    let Value::Object(inner) = value else {
                        return Some((key, value));
                    };
                    let kept: Map<String, Value> = inner
                        .into_iter()
                        .filter(|(k, _)| subs.iter().flatten().any(|s| s.eq_ignore_ascii_case(k)))
                        .collect();
                    return (!kept.is_empty()).then_some((key, Value::Object(kept)));
                }
                let subs = named(&excluded);
                if subs.iter().any(Option::is_none) {
                    return None;
                }
                match value {
                    Value::Object(inner) if !subs.is_empty() => {
                        let kept: Map<String, Value> = inner
                            .into_iter()
                            .filter(|(k, _)| {
                                !subs.iter().flatten().any(|s| s.eq_ignore_ascii_case(k))
                            })
                            .collect();
                        Some((key, Value::Object(kept)))
                    }
                    other => Some((key, other)),
                }
            })
            .collect();
        Value::Object(out)
    }
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
