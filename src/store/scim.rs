//! SCIM filters (RFC 7644 §3.4.2.2) translated into SQL over users and teams, so a provisioning
//! query reads only the matching rows, never the whole table. Attribute names come from a fixed
//! mapping (never from the caller); every value is a bound parameter. `caseExact: false`
//! attributes compare their stored caseless keys (`domain::caseless`, computed in Rust on
//! every write) with the value's key, so both backends match the same rows for any script.

use super::DbConnection;
use crate::domain::scim_filter::{AttrPath, CompValue, CompareOp, Connective, Filter};
use crate::domain::scim_patch::ENTERPRISE_USER;
use crate::domain::user::UserNameSource;
use crate::error::{AppError, AppResult};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Which resource a filter ranges over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Group,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Compared as it is (`caseExact: true`).
    Exact,
    /// A caseless key column (`domain::caseless`), compared with the value's key; no function
    /// on the column, so the unique indexes of userName and group names answer `eq`.
    Folded,
    /// A phone number, stored in E.164: the value is compared without its formatting
    /// (`domain::contact::strip_phone_formatting`), so "+81 90 1234 5678" finds "+819012345678".
    Phone,
    Bool,
    Time,
}

/// Where an attribute lives.
enum Target {
    Column(&'static str, Kind),
    /// A multi-valued attribute kept in a child table: (EXISTS prefix, default sub-attribute).
    Child(Child),
}

#[derive(Clone, Copy)]
enum Child {
    Emails,
    Phones,
    Members,
}

impl Child {
    fn exists(self) -> &'static str {
        match self {
            Child::Emails => {
                "EXISTS (SELECT 1 FROM contact_methods c WHERE c.user_id = users.id AND c.source = 'scim' AND c.kind = 'email' AND "
            }
            Child::Phones => {
                "EXISTS (SELECT 1 FROM contact_methods c WHERE c.user_id = users.id AND c.source = 'scim' AND c.kind = 'phone' AND "
            }
            Child::Members => {
                "EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = teams.id AND "
            }
        }
    }

    fn column(self, sub: &str) -> Option<(&'static str, Kind)> {
        let sub = sub.to_ascii_lowercase();
        match (self, sub.as_str()) {
            (Child::Emails, "value") => Some(("c.address_key", Kind::Folded)),
            (Child::Phones, "value") => Some(("c.address_key", Kind::Phone)),
            (Child::Emails | Child::Phones, "type") => Some(("c.label_key", Kind::Folded)),
            (Child::Emails | Child::Phones, "primary") => Some(("c.is_primary", Kind::Bool)),
            (Child::Members, "value") => Some(("m.user_id", Kind::Exact)),
            _ => None,
        }
    }
}

fn target(resource: Resource, path: &AttrPath) -> Option<Target> {
    let attr = path.attr.to_ascii_lowercase();
    let sub = path.sub_attr.as_deref().map(str::to_ascii_lowercase);
    let enterprise = path
        .uri
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case(ENTERPRISE_USER));
    let ci = Kind::Folded;
    let exact = Kind::Exact;
    use Target::Column as C;
    Some(
        match (resource, enterprise, attr.as_str(), sub.as_deref()) {
            (Resource::User, false, "id", None) => C("users.id", exact),
            (Resource::User, false, "externalid", None) => C("users.external_id", exact),
            (Resource::User, false, "username", None) => C("users.user_name_key", Kind::Folded),
            (Resource::User, false, "displayname", None) => C("users.name_key", ci),
            (Resource::User, false, "name", Some("givenname")) => C("users.given_name_key", ci),
            (Resource::User, false, "name", Some("familyname")) => C("users.family_name_key", ci),
            (Resource::User, false, "name", Some("formatted")) => C("users.name_formatted_key", ci),
            (Resource::User, false, "name", Some("middlename")) => C("users.middle_name_key", ci),
            (Resource::User, false, "nickname", None) => C("users.nick_name_key", ci),
            (Resource::User, false, "title", None) => C("users.job_title_key", ci),
            (Resource::User, false, "usertype", None) => C("users.user_type_key", ci),
            (Resource::User, false, "preferredlanguage", None) => {
                C("users.preferred_language_key", ci)
            }
            (Resource::User, false, "locale", None) => C("users.locale_key", ci),
            (Resource::User, false, "timezone", None) => C("users.time_zone_key", ci),
            (Resource::User, false, "active", None) => C("users.active", Kind::Bool),
            (Resource::User, false, "emails", _) => Target::Child(Child::Emails),
            (Resource::User, false, "phonenumbers", _) => Target::Child(Child::Phones),
            (Resource::User, true, "employeenumber", None) => C("users.employee_number_key", ci),
            (Resource::User, true, "costcenter", None) => C("users.cost_center_key", ci),
            (Resource::User, true, "organization", None) => C("users.organization_key", ci),
            (Resource::User, true, "division", None) => C("users.division_key", ci),
            (Resource::User, true, "department", None) => C("users.department_key", ci),
            (Resource::User, true, "manager", Some("value") | None) => C("users.manager_id", exact),
            (Resource::User, false, "meta", Some("created")) => C("users.created_at", Kind::Time),
            (Resource::User, false, "meta", Some("lastmodified")) => {
                C("users.updated_at", Kind::Time)
            }
            (Resource::Group, false, "id", None) => C("teams.id", exact),
            (Resource::Group, false, "externalid", None) => C("teams.external_id", exact),
            (Resource::Group, false, "displayname", None) => C("teams.name_key", Kind::Folded),
            (Resource::Group, false, "members", _) => Target::Child(Child::Members),
            (Resource::Group, false, "meta", Some("created")) => C("teams.created_at", Kind::Time),
            (Resource::Group, false, "meta", Some("lastmodified")) => {
                C("teams.updated_at", Kind::Time)
            }
            _ => return None,
        },
    )
}

/// A WHERE clause with its bound values, numbered for the backend it will run on.
struct Sql {
    postgres: bool,
    binds: Vec<String>,
}

impl Sql {
    fn param(&mut self, value: String) -> String {
        self.binds.push(value);
        if self.postgres {
            format!("${}", self.binds.len())
        } else {
            format!("?{}", self.binds.len())
        }
    }

    /// The parser bounds how deep a filter nests (`scim_filter::MAX_DEPTH`) and how many
    /// comparisons it has, and a chain of one connective is written as one flat list, so this
    /// recursion is as deep as the parentheses, and the SQL nests no deeper either.
    fn filter(&mut self, resource: Resource, f: &Filter) -> AppResult<String> {
        let mut chain = |connective: Connective| -> AppResult<String> {
            let parts = f
                .operands(connective)
                .into_iter()
                .map(|g| self.filter(resource, g))
                .collect::<AppResult<Vec<_>>>()?;
            Ok(joined(connective, &parts))
        };
        Ok(match f {
            Filter::And(..) => chain(Connective::And)?,
            Filter::Or(..) => chain(Connective::Or)?,
            Filter::Not(a) => format!("(NOT {})", self.filter(resource, a)?),
            Filter::Present(path) => match self.resolve(resource, path)? {
                Target::Column(col, kind) => present(col, kind),
                Target::Child(child) => match &path.sub_attr {
                    None => format!("{}1 = 1)", child.exists()),
                    Some(sub) => {
                        let (col, kind) = child_column(child, sub)?;
                        format!("{}{})", child.exists(), present(col, kind))
                    }
                },
            },
            Filter::Compare { path, op, value } => match self.resolve(resource, path)? {
                Target::Column(col, kind) => self.compare(col, kind, *op, value, &path.attr)?,
                // `emails eq null`: no e-mails at all (and `ne null`: some).
                Target::Child(child)
                    if matches!(value, CompValue::Null)
                        && matches!(op, CompareOp::Eq | CompareOp::Ne) =>
                {
                    let exists = format!("{}1 = 1)", child.exists());
                    if *op == CompareOp::Eq {
                        format!("NOT {exists}")
                    } else {
                        exists
                    }
                }
                Target::Child(child) => {
                    let (col, kind) =
                        child_column(child, path.sub_attr.as_deref().unwrap_or("value"))?;
                    format!(
                        "{}{})",
                        child.exists(),
                        self.compare(col, kind, *op, value, &path.attr)?
                    )
                }
            },
            Filter::ValuePath { path, filter } => match self.resolve(resource, path)? {
                Target::Child(child) => {
                    format!("{}{})", child.exists(), self.element(child, filter)?)
                }
                Target::Column(..) => {
                    return Err(AppError::invalid_filter(format!(
                        "{} is not multi-valued, so it takes no [filter]",
                        path.attr
                    )));
                }
            },
        })
    }

    /// A filter inside `attr[…]`: its attribute names are sub-attributes of the child.
    fn element(&mut self, child: Child, f: &Filter) -> AppResult<String> {
        let mut chain = |connective: Connective| -> AppResult<String> {
            let parts = f
                .operands(connective)
                .into_iter()
                .map(|g| self.element(child, g))
                .collect::<AppResult<Vec<_>>>()?;
            Ok(joined(connective, &parts))
        };
        Ok(match f {
            Filter::And(..) => chain(Connective::And)?,
            Filter::Or(..) => chain(Connective::Or)?,
            Filter::Not(a) => format!("(NOT {})", self.element(child, a)?),
            Filter::Present(p) => {
                let (col, kind) = child_column(child, &p.attr)?;
                present(col, kind)
            }
            Filter::Compare { path, op, value } => {
                let (col, kind) = child_column(child, &path.attr)?;
                self.compare(col, kind, *op, value, &path.attr)?
            }
            Filter::ValuePath { .. } => {
                return Err(AppError::invalid_filter("value filters cannot nest"));
            }
        })
    }

    fn resolve(&self, resource: Resource, path: &AttrPath) -> AppResult<Target> {
        target(resource, path).ok_or_else(|| {
            let full = match &path.sub_attr {
                Some(s) => format!("{}.{s}", path.attr),
                None => path.attr.clone(),
            };
            AppError::invalid_filter(format!(
                "names the attribute '{full}', which cannot be filtered on"
            ))
        })
    }

    fn compare(
        &mut self,
        col: &str,
        kind: Kind,
        op: CompareOp,
        value: &CompValue,
        attr: &str,
    ) -> AppResult<String> {
        use CompareOp::*;
        Ok(match (kind, value) {
            (_, CompValue::Null) => match op {
                Eq => format!("{col} IS NULL"),
                Ne => format!("{col} IS NOT NULL"),
                _ => {
                    return Err(AppError::invalid_filter(format!(
                        "compares {attr} with null using an operator other than eq/ne"
                    )));
                }
            },
            (Kind::Bool, CompValue::Bool(b)) => bool_cmp(col, op, *b, attr)?,
            (Kind::Bool, CompValue::Str(s))
                if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
            {
                bool_cmp(col, op, s.eq_ignore_ascii_case("true"), attr)?
            }
            (Kind::Exact | Kind::Folded | Kind::Phone, CompValue::Str(s)) => {
                let c = col;
                let p = match kind {
                    Kind::Folded => self.param(crate::domain::caseless::key(s)),
                    Kind::Phone => self.param(crate::domain::caseless::key(
                        &crate::domain::contact::strip_phone_formatting(s),
                    )),
                    _ => self.param(s.clone()),
                };
                let position = if self.postgres {
                    format!("strpos({c}, {p}) > 0")
                } else {
                    format!("instr({c}, {p}) > 0")
                };
                match op {
                    Eq => format!("{c} = {p}"),
                    Ne => format!("({col} IS NULL OR {c} <> {p})"),
                    Co => position,
                    Sw => format!("substr({c}, 1, length({p})) = {p}"),
                    Ew => format!(
                        "(length({c}) >= length({p}) AND substr({c}, length({c}) - length({p}) + 1) = {p})"
                    ),
                    Gt => format!("{c} > {p}"),
                    Ge => format!("{c} >= {p}"),
                    Lt => format!("{c} < {p}"),
                    Le => format!("{c} <= {p}"),
                }
            }
            (Kind::Time, CompValue::Str(s)) => {
                let at = chrono::DateTime::parse_from_rfc3339(s).map_err(|_| {
                    AppError::invalid_filter(format!(
                        "compares {attr} with '{s}', which is not an RFC 3339 time"
                    ))
                })?;
                let stored = crate::clock::stored(at.with_timezone(&chrono::Utc))
                    .format("%Y-%m-%d %H:%M:%S%.f")
                    .to_string();
                let p = self.param(stored);
                let p = if self.postgres {
                    format!("CAST({p} AS TIMESTAMP)")
                } else {
                    p
                };
                let sql_op = match op {
                    Eq => "=",
                    Ne => "<>",
                    Gt => ">",
                    Ge => ">=",
                    Lt => "<",
                    Le => "<=",
                    Co | Sw | Ew => {
                        return Err(AppError::invalid_filter(format!(
                            "uses a text operator on the time {attr}"
                        )));
                    }
                };
                format!("{col} {sql_op} {p}")
            }
            _ => {
                return Err(AppError::invalid_filter(format!(
                    "compares {attr} with a value of the wrong type"
                )));
            }
        })
    }
}

/// `(a OR b OR c)`: one flat list, however long the chain.
fn joined(connective: Connective, parts: &[String]) -> String {
    let word = match connective {
        Connective::And => " AND ",
        Connective::Or => " OR ",
    };
    format!("({})", parts.join(word))
}

fn child_column(child: Child, sub: &str) -> AppResult<(&'static str, Kind)> {
    child.column(sub).ok_or_else(|| {
        AppError::invalid_filter(format!(
            "names the sub-attribute '{sub}', which cannot be filtered on"
        ))
    })
}

fn present(col: &str, kind: Kind) -> String {
    match kind {
        Kind::Exact | Kind::Folded | Kind::Phone => {
            format!("({col} IS NOT NULL AND {col} <> '')")
        }
        _ => format!("{col} IS NOT NULL"),
    }
}

fn bool_cmp(col: &str, op: CompareOp, b: bool, attr: &str) -> AppResult<String> {
    let lit = if b { "TRUE" } else { "FALSE" };
    match op {
        CompareOp::Eq => Ok(format!("{col} = {lit}")),
        CompareOp::Ne => Ok(format!("{col} <> {lit}")),
        _ => Err(AppError::invalid_filter(format!(
            "uses an ordering operator on the boolean {attr}"
        ))),
    }
}

/// A page of a filtered, sorted SCIM query: which rows, and how many match in all.
pub struct Query<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub descending: bool,
    /// Zero-based.
    pub offset: i64,
    pub count: i64,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The ids of one page of matches, in order, and the total number of matches.
pub fn search(
    conn: &mut DbConnection,
    resource: Resource,
    q: &Query<'_>,
) -> AppResult<(Vec<String>, i64)> {
    let postgres = matches!(conn, DbConnection::Postgres(_));
    let mut sql = Sql {
        postgres,
        binds: Vec::new(),
    };
    // Users whose userName nobody vouched for (see `UserNameSource`) are never listed: a
    // list is how Entra matches its users to ours, and such a name may have been chosen to
    // be matched as someone else.
    let (table, live) = match resource {
        Resource::User => (
            "users",
            format!(
                "users.deleted_at IS NULL AND users.user_name_source <> '{}'",
                UserNameSource::Unverified.as_str()
            ),
        ),
        Resource::Group => ("teams", "1 = 1".to_string()),
    };
    let condition = match q.filter {
        Some(f) => sql.filter(resource, f)?,
        None => "1 = 1".into(),
    };
    let order = match q.sort_by {
        Some(path) => match sql.resolve(resource, path)? {
            Target::Column(col, _) => col.to_string(),
            Target::Child(_) => {
                return Err(AppError::invalid_sort(
                    "cannot sort by a multi-valued attribute",
                ));
            }
        },
        None => format!("{table}.created_at"),
    };
    let direction = if q.descending { "DESC" } else { "ASC" };
    let where_clause = format!("FROM {table} WHERE {live} AND {condition}");
    let page_sql = format!(
        "SELECT {table}.id AS id {where_clause} ORDER BY {order} {direction}, {table}.id {direction} LIMIT {} OFFSET {}",
        q.count, q.offset
    );
    let count_sql = format!("SELECT COUNT(*) AS n {where_clause}");
    let binds = sql.binds;
    macro_rules! run {
        ($conn:expr, $backend:ty) => {{
            let ids: Vec<IdRow> = if q.count > 0 {
                let mut query = diesel::sql_query(page_sql).into_boxed::<$backend>();
                for b in &binds {
                    query = query.bind::<Text, _>(b.clone());
                }
                query.load($conn)?
            } else {
                Vec::new()
            };
            // A page that is not full ends the matches: its rows and the offset are the
            // total (the usual `userName eq` match of Entra's provisioning needs no count).
            // An empty page past the start says nothing of the total.
            let found = ids.len() as i64;
            let total = if q.count > 0 && found < q.count && (found > 0 || q.offset == 0) {
                q.offset + found
            } else {
                let mut count = diesel::sql_query(count_sql).into_boxed::<$backend>();
                for b in &binds {
                    count = count.bind::<Text, _>(b.clone());
                }
                let total: CountRow = count.get_result($conn)?;
                total.n
            };
            (ids, total)
        }};
    }
    let (ids, total) = match conn {
        DbConnection::Sqlite(c) => run!(c, diesel::sqlite::Sqlite),
        DbConnection::Postgres(c) => run!(c, diesel::pg::Pg),
    };
    Ok((ids.into_iter().map(|r| r.id).collect(), total))
}
