//! PagerDuty-style classic pagination: `offset`, `limit` (1 to 100, default 25), `more`, and
//! `total` only when the caller asks for it (counting costs a second query).

pub const DEFAULT_LIMIT: i64 = 25;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: i64,
    pub limit: i64,
    pub want_total: bool,
}

/// What is wrong with a page request, as (parameter, reason).
pub type PageError = (&'static str, String);

impl PageRequest {
    /// Reads the query parameters. A limit above the maximum is lowered to it, as PagerDuty
    /// does; the response's `limit` says what was used.
    pub fn new(
        offset: Option<i64>,
        limit: Option<i64>,
        want_total: bool,
    ) -> Result<Self, PageError> {
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(("offset", format!("must be 0 or more, not {offset}")));
        }
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit < 1 {
            return Err((
                "limit",
                format!("must be between 1 and {MAX_LIMIT}, not {limit}"),
            ));
        }
        Ok(PageRequest {
            offset,
            limit: limit.min(MAX_LIMIT),
            want_total,
        })
    }

    /// Rows to fetch: one beyond the page tells whether there is `more` without counting.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// Trims the extra row and says whether more rows follow this page.
    pub fn finish<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        (rows, more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_clamping() {
        assert_eq!(
            PageRequest::new(None, None, false).unwrap().limit,
            DEFAULT_LIMIT
        );
        assert_eq!(
            PageRequest::new(None, Some(1000), false).unwrap().limit,
            MAX_LIMIT
        );
        assert!(PageRequest::new(Some(-1), None, false).is_err());
        assert!(PageRequest::new(None, Some(0), false).is_err());
    }

    #[test]
    fn finish_reports_more_only_when_an_extra_row_came_back() {
        let page = PageRequest::new(None, Some(2), false).unwrap();
        assert_eq!(page.finish(vec![1, 2, 3]), (vec![1, 2], true));
        assert_eq!(page.finish(vec![1, 2]), (vec![1, 2], false));
    }
}
