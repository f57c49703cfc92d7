//! The one error type. A handler, a store function or a command returns `AppError`; each
//! protocol (PagerDuty REST, SCIM, HTML, the CLI) renders it in its own format. Messages say
//! what the caller should fix; `Internal` errors keep their cause for the log and show the
//! caller nothing but the request id.

use std::fmt;
use std::panic::Location;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such record.
    NotFound { resource: &'static str, id: String },
    /// The change clashes with what is stored (a duplicate name, say).
    Conflict { field: String, reason: String },
    /// The caller worked from a version of the record that is no longer current (another
    /// request changed it, or collided with this one): read it again and retry. SCIM answers
    /// a plain 409, not a uniqueness violation.
    StaleVersion(String),
    /// A SCIM filter that does not parse or asks what cannot be filtered (SCIM's
    /// `invalidFilter`).
    InvalidFilter(String),
    /// A sort order by what cannot be sorted by (SCIM's `invalidValue`).
    InvalidSort(String),
    /// The input is wrong; `field` names what to fix.
    Invalid { field: String, reason: String },
    /// No credentials, or credentials we do not accept.
    Unauthorized(String),
    /// Valid credentials that may not do this.
    Forbidden(String),
    /// The caller's `If-Match` names a version that is no longer current.
    PreconditionFailed(String),
    /// The resource exists but does not take this method.
    MethodNotAllowed { method: String, path: String },
    /// The request body is larger than we accept.
    PayloadTooLarge { limit: usize },
    /// Too many attempts from this caller, or at this name: try again after `retry_after_secs`.
    TooManyRequests {
        reason: String,
        retry_after_secs: u64,
    },
    /// A dependency (the database) is down or overloaded; try again.
    Unavailable(String),
    /// A fault on our side.
    Internal,
}

pub struct AppError {
    pub kind: ErrorKind,
    cause: Option<Cause>,
    location: &'static Location<'static>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    #[track_caller]
    pub fn new(kind: ErrorKind) -> Self {
        AppError {
            kind,
            cause: None,
            location: Location::caller(),
        }
    }

    #[track_caller]
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound {
            resource,
            id: id.into(),
        })
    }

    #[track_caller]
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid {
            field: field.into(),
            reason: reason.into(),
        })
    }

    #[track_caller]
    pub fn conflict(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict {
            field: field.into(),
            reason: reason.into(),
        })
    }

    /// The record changed since the caller read it (`reason` follows the word "version").
    #[track_caller]
    pub fn stale(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::StaleVersion(reason.into()))
    }

    #[track_caller]
    pub fn invalid_filter(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidFilter(reason.into()))
    }

    #[track_caller]
    pub fn invalid_sort(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSort(reason.into()))
    }

    #[track_caller]
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized(reason.into()))
    }

    #[track_caller]
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden(reason.into()))
    }

    /// Too many attempts: wait `wait` (rounded up to whole seconds) before the next.
    #[track_caller]
    pub fn too_many(reason: impl Into<String>, wait: chrono::Duration) -> Self {
        let millis = wait.num_milliseconds().max(0) as u64;
        Self::new(ErrorKind::TooManyRequests {
            reason: reason.into(),
            retry_after_secs: millis.div_ceil(1000).max(1),
        })
    }

    #[track_caller]
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable(reason.into()))
    }

    #[track_caller]
    pub fn internal(cause: impl Into<Cause>) -> Self {
        AppError {
            kind: ErrorKind::Internal,
            cause: Some(cause.into()),
            location: Location::caller(),
        }
    }

    pub fn with_cause(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// The HTTP status every protocol starts from.
    pub fn status(&self) -> u16 {
        match self.kind {
            ErrorKind::NotFound { .. } => 404,
            ErrorKind::Conflict { .. } | ErrorKind::StaleVersion(_) => 409,
            ErrorKind::Invalid { .. } | ErrorKind::InvalidFilter(_) | ErrorKind::InvalidSort(_) => {
                400
            }
            ErrorKind::Unauthorized(_) => 401,
            ErrorKind::Forbidden(_) => 403,
            ErrorKind::MethodNotAllowed { .. } => 405,
            ErrorKind::PreconditionFailed(_) => 412,
            ErrorKind::PayloadTooLarge { .. } => 413,
            ErrorKind::TooManyRequests { .. } => 429,
            ErrorKind::Unavailable(_) => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// Seconds the caller should wait before trying again (the `Retry-After` header).
    pub fn retry_after(&self) -> Option<u64> {
        match self.kind {
            ErrorKind::TooManyRequests {
                retry_after_secs, ..
            } => Some(retry_after_secs.max(1)),
            ErrorKind::Unavailable(_) => Some(1),
            _ => None,
        }
    }

    /// What the caller is told. Never includes the cause of an internal error.
    pub fn message(&self) -> String {
        match &self.kind {
            ErrorKind::NotFound { resource, id } => format!("{resource} {id} was not found"),
            ErrorKind::Conflict { field, reason } | ErrorKind::Invalid { field, reason } => {
                format!("{field} {reason}")
            }
            ErrorKind::StaleVersion(reason) => format!("version {reason}"),
            ErrorKind::InvalidFilter(reason) => format!("filter {reason}"),
            ErrorKind::InvalidSort(reason) => format!("sortBy {reason}"),
            ErrorKind::Unauthorized(reason)
            | ErrorKind::TooManyRequests { reason, .. }
            | ErrorKind::Forbidden(reason)
            | ErrorKind::Unavailable(reason)
            | ErrorKind::PreconditionFailed(reason) => {
                reason.clone()
            }
            ErrorKind::MethodNotAllowed { method, path } => format!("{path} does not take {method}"),
            ErrorKind::PayloadTooLarge { limit } => format!("the request body is larger than the {limit}-byte limit"),
            ErrorKind::Internal => "an internal error occurred; the request id in the X-Request-Id header finds it in the log".into(),
        }
    }

    /// Logs what operators need: internal faults and outages with cause and origin.
    pub fn log(&self) {
        match self.kind {
            ErrorKind::Internal | ErrorKind::Unavailable(_) => {
                tracing::error!(error = %self, at = %self.location, "request failed")
            }
            _ => tracing::debug!(error = %self, "request refused"),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.cause) {
            (ErrorKind::Internal, Some(cause)) => write!(f, "internal error: {cause}"),
            (_, Some(cause)) => write!(f, "{}: {cause}", self.message()),
            (_, None) => f.write_str(&self.message()),
        }
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} (at {})", self.location)
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl From<diesel::result::Error> for AppError {
    #[track_caller]
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &e {
            // SQLite reports a busy database this way; PostgreSQL reports lost connections.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                AppError::unavailable("the database connection was lost; try again").with_cause(e)
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("database is locked") =>
            {
                AppError::unavailable("the database is busy; try again").with_cause(e)
            }
            // A concurrent change removed what this one refers to (a user deleted while being
            // added to a team, say): the caller's request is stale, not our fault.
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => AppError::stale(
                "refers to a record that was deleted meanwhile; read it again and retry",
            )
            .with_cause(e),
            // A unique key that a concurrent request took first (the same member added twice at
            // once, say); statements that expect duplicates map them to a precise message.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::stale("collided with a concurrent change; retry").with_cause(e)
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                AppError::unavailable("the change collided with a concurrent one; try again")
                    .with_cause(e)
            }
            // A stored value that is not what its column holds (`store::column`): one error,
            // naming the column and the value, wherever the row was read.
            Error::DeserializationError(cause) => {
                match crate::store::column::BadValue::in_read_error(cause.as_ref()) {
                    Some(described) => AppError::internal(described),
                    None => AppError::internal(e),
                }
            }
            _ => AppError::internal(e),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    #[track_caller]
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::unavailable("no database connection is available; try again").with_cause(e)
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    #[track_caller]
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(e)
    }
}

impl From<serde_json::Error> for AppError {
    #[track_caller]
    fn from(e: serde_json::Error) -> Self {
        AppError::internal(e)
    }
}

/// Turns a failure into an `AppError` of a kind, in place of a hand-written `map_err`:
/// `.internal("writing CSV")`, `.invalid_field("email")`, `.not_found("user", id)`. The
/// error keeps the caller's location.
pub trait ResultExt<T> {
    /// A fault on our side while `doing` something; the cause goes to the log.
    fn internal(self, doing: &str) -> AppResult<T>;
    /// Bad input in `field`, the error's words saying what is wrong with it.
    fn invalid_field(self, field: &str) -> AppResult<T>;
    /// No such `resource` as `id`, whatever the error said.
    fn not_found(self, resource: &'static str, id: impl Into<String>) -> AppResult<T>;
}

impl<T, E: fmt::Display> ResultExt<T> for Result<T, E> {
    #[track_caller]
    fn internal(self, doing: &str) -> AppResult<T> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(AppError::internal(format!("{doing}: {e}"))),
        }
    }

    #[track_caller]
    fn invalid_field(self, field: &str) -> AppResult<T> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(AppError::invalid(field, e.to_string())),
        }
    }

    #[track_caller]
    fn not_found(self, resource: &'static str, id: impl Into<String>) -> AppResult<T> {
        match self {
            Ok(v) => Ok(v),
            Err(_) => Err(AppError::not_found(resource, id)),
        }
    }
}

/// The same for a value that may be missing.
pub trait OptionExt<T> {
    /// No such `resource` as `id`.
    fn not_found(self, resource: &'static str, id: impl Into<String>) -> AppResult<T>;
    /// Missing or wrong input in `field`.
    fn invalid_field(self, field: &str, reason: impl Into<String>) -> AppResult<T>;
}

impl<T> OptionExt<T> for Option<T> {
    #[track_caller]
    fn not_found(self, resource: &'static str, id: impl Into<String>) -> AppResult<T> {
        match self {
            Some(v) => Ok(v),
            None => Err(AppError::not_found(resource, id)),
        }
    }

    #[track_caller]
    fn invalid_field(self, field: &str, reason: impl Into<String>) -> AppResult<T> {
        match self {
            Some(v) => Ok(v),
            None => Err(AppError::invalid(field, reason)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extensions_make_errors_of_their_kind_at_the_callers_line() {
        let csv: Result<(), std::fmt::Error> = Err(std::fmt::Error);
        let e = csv.internal("writing CSV").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert_eq!(
            e.to_string(),
            "internal error: writing CSV: an error occurred when formatting an argument"
        );
        assert!(format!("{e:?}").contains("src/error.rs"), "{e:?}");
        let bad: Result<(), String> = Err("can't be blank".into());
        assert_eq!(
            bad.invalid_field("email").unwrap_err().message(),
            "email can't be blank"
        );
        assert_eq!(
            None::<()>.not_found("user", "u1").unwrap_err().kind,
            ErrorKind::NotFound {
                resource: "user",
                id: "u1".into()
            }
        );
        assert_eq!(
            Err::<(), _>("x")
                .not_found("team", "t1")
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            None::<()>
                .invalid_field("role", "is required")
                .unwrap_err()
                .message(),
            "role is required"
        );
    }
}
