//! "What is going on?" in a few lines: an incident's current summary, extracted from its own
//! data (status, urgency, age, who is on it, the last status update, the latest notes, the
//! escalation level, alerts grouped). Deterministic: no model, no network; the same facts
//! give the same words. The words come from the catalogue (`locales/communication.yml`).

use super::incident::Status;
use super::service::Urgency;
use chrono::NaiveDateTime;
use serde::Serialize;

/// Notes quoted at most, newest first.
pub const NOTES_SHOWN: usize = 2;

/// Characters quoted of a note or an update before "…".
pub const QUOTE_CHARS: usize = 280;

/// Something someone wrote: a note or a status update.
#[derive(Debug, Clone)]
pub struct Written {
    pub author: String,
    pub at: NaiveDateTime,
    pub text: String,
}

/// What the summary is made of, as the store has it.
#[derive(Debug, Clone)]
pub struct Facts {
    pub number: i64,
    pub title: String,
    pub service: String,
    pub status: Status,
    pub urgency: Urgency,
    pub opened_at: NaiveDateTime,
    pub resolved_at: Option<NaiveDateTime>,
    /// Who it is assigned to now.
    pub assignees: Vec<String>,
    /// Who acknowledged, and when, oldest first.
    pub acknowledged: Vec<(String, NaiveDateTime)>,
    pub resolved_by: Option<String>,
    pub last_update: Option<Written>,
    /// The latest notes, newest first (at most `NOTES_SHOWN` are used).
    pub notes: Vec<Written>,
    pub escalation_level: i32,
    pub alerts: i64,
    pub events: i64,
}

/// The summary: one headline and the lines under it, in one language.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub language: &'static str,
    pub headline: String,
    pub lines: Vec<String>,
}

impl Summary {
    /// The headline and its lines as plain text (what chat channels are sent).
    pub fn text(&self) -> String {
        let mut out = self.headline.clone();
        for line in &self.lines {
            out.push_str("\n- ");
            out.push_str(line);
        }
        out
    }
}

/// The summary of `f` at `now`, in `lang` ("en" or "ja").
pub fn summarize(lang: &'static str, f: &Facts, now: NaiveDateTime) -> Summary {
    let t = |key: &str| rust_i18n::t!(key, locale = lang).into_owned();
    let status = t(&format!("status.{}", f.status.as_str()));
    let urgency = t(&format!("urgency.{}", f.urgency.as_str()));
    let headline = rust_i18n::t!(
        "summary.headline",
        locale = lang,
        number = f.number.to_string(),
        title = f.title.as_str(),
        service = f.service.as_str()
    )
    .into_owned();
    let mut lines = Vec::new();
    lines.push(
        match f.resolved_at {
            Some(resolved) => rust_i18n::t!(
                "summary.resolved_after",
                locale = lang,
                status = status,
                urgency = urgency,
                duration = duration(lang, resolved - f.opened_at),
                ago = duration(lang, now - resolved)
            ),
            None => rust_i18n::t!(
                "summary.open_for",
                locale = lang,
                status = status,
                urgency = urgency,
                duration = duration(lang, now - f.opened_at)
            ),
        }
        .into_owned(),
    );
    let nobody = t("nobody");
    let names = |v: &[String]| {
        if v.is_empty() {
            nobody.clone()
        } else {
            v.join(", ")
        }
    };
    if f.status != Status::Resolved {
        lines.push(
            rust_i18n::t!(
                "summary.assigned",
                locale = lang,
                people = names(&f.assignees)
            )
            .into_owned(),
        );
    }
    match f.acknowledged.first() {
        Some((_, first)) => {
            let who: Vec<String> = f.acknowledged.iter().map(|(n, _)| n.clone()).collect();
            let mut unique = who.clone();
            unique.dedup();
            lines.push(
                rust_i18n::t!(
                    "summary.acknowledged",
                    locale = lang,
                    people = unique.join(", "),
                    after = duration(lang, *first - f.opened_at)
                )
                .into_owned(),
            );
        }
        None if f.status == Status::Triggered => lines.push(t("summary.not_acknowledged")),
        None => {}
    }
    if let Some(by) = &f.resolved_by {
        lines.push(rust_i18n::t!("summary.resolved_by", locale = lang, person = by).into_owned());
    }
    if f.status == Status::Triggered {
        lines.push(
            rust_i18n::t!(
                "summary.level",
                locale = lang,
                level = f.escalation_level.to_string()
            )
            .into_owned(),
        );
    }
    lines.push(
        rust_i18n::t!(
            "summary.alerts",
            locale = lang,
            alerts = f.alerts.to_string(),
            events = f.events.to_string()
        )
        .into_owned(),
    );
    match &f.last_update {
        Some(u) => lines.push(
            rust_i18n::t!(
                "summary.last_update",
                locale = lang,
                author = u.author.as_str(),
                ago = duration(lang, now - u.at),
                text = quote(&u.text)
            )
            .into_owned(),
        ),
        None => lines.push(t("summary.no_update")),
    }
    for n in f.notes.iter().take(NOTES_SHOWN) {
        lines.push(
            rust_i18n::t!(
                "summary.note",
                locale = lang,
                author = n.author.as_str(),
                ago = duration(lang, now - n.at),
                text = quote(&n.text)
            )
            .into_owned(),
        );
    }
    Summary {
        language: lang,
        headline,
        lines,
    }
}

/// A piece of someone's text on one line, cut at `QUOTE_CHARS`.
fn quote(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= QUOTE_CHARS {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(QUOTE_CHARS).collect();
    cut.push('…');
    cut
}

/// A span as people say it: "2 d 3 h", "1 h 5 min", "4 min", "under a minute".
pub fn duration(lang: &str, span: chrono::Duration) -> String {
    let minutes = span.num_minutes().max(0);
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let key = match (d, h, m) {
        (0, 0, 0) => "duration.under_a_minute",
        (0, 0, _) => "duration.m",
        (0, _, _) => "duration.hm",
        _ => "duration.dh",
    };
    rust_i18n::t!(
        key,
        locale = lang,
        d = d.to_string(),
        h = h.to_string(),
        m = m.to_string()
    )
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn spans_are_said_the_way_people_say_them() {
        assert_eq!(duration("en", Duration::seconds(20)), "under a minute");
        assert_eq!(duration("en", Duration::minutes(4)), "4 min");
        assert_eq!(duration("en", Duration::minutes(65)), "1 h 5 min");
        assert_eq!(duration("en", Duration::minutes(3 * 1440 + 125)), "3 d 2 h");
        assert_eq!(duration("ja", Duration::minutes(65)), "1時間5分");
        assert_eq!(duration("en", Duration::minutes(-5)), "under a minute");
    }

    #[test]
    fn long_text_is_quoted_on_one_line_and_cut() {
        assert_eq!(quote("a\n\n b"), "a b");
        let long = "x".repeat(QUOTE_CHARS + 10);
        assert_eq!(quote(&long).chars().count(), QUOTE_CHARS + 1);
    }
}
