//! Query-string parameters the PagerDuty way: repeated array keys (`team_ids[]=a&team_ids[]=b`),
//! `offset`/`limit`/`total`, and ISO 8601 times. Every bad value names its parameter.

use super::ApiError;
use crate::domain::paging::PageRequest;
use crate::error::{AppError, AppResult};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use chrono::{DateTime, Utc};
use std::future::{Ready, ready};

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Adds a value, as if the query had it (a page filling in its defaults).
    pub fn push(&mut self, key: &str, value: &str) {
        self.0.push((key.to_owned(), value.to_owned()));
    }

    /// The last value given for `key`.
    pub fn one(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `key[]` or `key`, comma-separated lists split.
    pub fn all(&self, key: &str) -> Vec<String> {
        let array_key = format!("{key}[]");
        self.0
            .iter()
            .filter(|(k, _)| *k == array_key || k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn int(&self, key: &str) -> AppResult<Option<i64>> {
        self.one(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    AppError::invalid(key, format!("must be a whole number, not '{v}'"))
                })
            })
            .transpose()
    }

    pub fn flag(&self, key: &str) -> AppResult<bool> {
        match self.one(key) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(v) => Err(AppError::invalid(
                key,
                format!("must be true or false, not '{v}'"),
            )),
        }
    }

    pub fn time(&self, key: &str) -> AppResult<Option<DateTime<Utc>>> {
        self.one(key)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        AppError::invalid(
                            key,
                            format!(
                                "must be an ISO 8601 time such as 2026-01-31T09:00:00Z, not '{v}'"
                            ),
                        )
                    })
            })
            .transpose()
    }

    pub fn page(&self) -> AppResult<PageRequest> {
        PageRequest::new(self.int("offset")?, self.int("limit")?, self.flag("total")?)
            .map_err(|(field, reason)| AppError::invalid(field, reason))
    }
}

impl FromRequest for Params {
    type Error = ApiError;
    type Future = Ready<Result<Params, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Params::parse(req.query_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_scalars() {
        let p = Params::parse("team_ids%5B%5D=a&team_ids[]=b,c&limit=5&total=true&query=x%20y");
        assert_eq!(p.all("team_ids"), ["a", "b", "c"]);
        assert_eq!(p.int("limit").unwrap(), Some(5));
        assert!(p.flag("total").unwrap());
        assert_eq!(p.one("query"), Some("x y"));
        assert!(Params::parse("limit=x").int("limit").is_err());
        assert!(Params::parse("total=yes").flag("total").is_err());
        assert!(Params::parse("since=yesterday").time("since").is_err());
    }
}
