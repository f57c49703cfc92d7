//! A schedule's rows (each layer, the overrides, the final schedule) drawn as one SVG over a
//! window, on the server: a bar per turn coloured by person, the final schedule's gaps
//! marked, a line and date at each local midnight. Every bar carries a `<title>` (read by
//! screen readers and shown on hover); the page lists the same entries in a table, so
//! nothing is only in the picture. No script, no inline style (colours are CSS classes).

use crate::domain::ids::UserId;
use crate::domain::schedule::{Entry, Gap};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use maud::{Markup, html};
use std::collections::HashMap;

/// One row of the picture.
pub struct Row<'a> {
    pub label: String,
    pub entries: &'a [Entry<UserId>],
    /// Gaps drawn on this row (the final schedule's).
    pub gaps: &'a [Gap],
}

/// What the picture needs besides its rows.
pub struct Frame<'a> {
    pub since: Timestamp,
    pub until: Timestamp,
    pub tz: &'a TimeZone,
    /// People's names by id (an id is shown for anyone missing).
    pub names: &'a HashMap<UserId, String>,
    /// The picture's accessible name.
    pub caption: String,
    /// The word for a gap ("Nobody on call").
    pub gap_word: String,
}

const WIDTH: f64 = 1000.0;
const LABEL: f64 = 150.0;
const ROW: f64 = 34.0;
const HEAD: f64 = 22.0;
/// Colours a person can get (`tl-c0` … in the stylesheet).
const COLOURS: usize = 8;

/// `06-01 09:00`, in `tz`.
pub fn short(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned_datetime(tz.clone())
        .strftime("%m-%d %H:%M")
        .to_string()
}

/// The same colour for a person in every row and on every page: their place in order of
/// first appearance would change with the window, so it comes from their id.
fn colour(user: &UserId) -> usize {
    let sum = user.as_str().bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    sum % COLOURS
}

/// The picture.
pub fn svg(rows: &[Row<'_>], frame: &Frame<'_>) -> Markup {
    let span = frame
        .until
        .duration_since(frame.since)
        .as_secs_f64()
        .max(1.0);
    let x = |at: Timestamp| {
        let at = at.clamp(frame.since, frame.until);
        LABEL + (WIDTH - LABEL) * at.duration_since(frame.since).as_secs_f64() / span
    };
    let height = HEAD + ROW * rows.len() as f64;
    let days = midnights(frame);
    let name = |u: &UserId| frame.names.get(u).cloned().unwrap_or_else(|| u.to_string());
    let label_every = (days.len() / 14).max(1);
    html! {
        svg.timeline viewBox=(format!("0 0 {WIDTH} {height}")) role="img"
            aria-label=(frame.caption) preserveAspectRatio="xMinYMin meet" {
            @for (i, day) in days.iter().enumerate() {
                line.tl-day x1=(x(*day)) x2=(x(*day)) y1="0" y2=(height) {}
                @if i % label_every == 0 {
                    text.tl-date x=(x(*day) + 3.0) y="14" { (day.to_zoned_datetime(frame.tz.clone()).strftime("%m-%d")) }
                }
            }
            @for (i, row) in rows.iter().enumerate() {
                @let top = HEAD + ROW * i as f64;
                text.tl-label x="4" y=(top + ROW / 2.0 + 5.0) { (row.label) }
                rect.tl-lane x=(LABEL) y=(top + 4.0) width=(WIDTH - LABEL) height=(ROW - 8.0) {}
                @for e in row.entries.iter().filter(|e| e.end > frame.since && e.start < frame.until) {
                    @let (left, right) = (x(e.start), x(e.end));
                    @let who = name(&e.user);
                    g {
                        title { (who) ": " (short(e.start, frame.tz)) " – " (short(e.end, frame.tz)) }
                        rect class=(format!("tl-bar tl-c{}", colour(&e.user)))
                            x=(left) y=(top + 4.0) width=((right - left).max(1.0)) height=(ROW - 8.0) {}
                        @if right - left > 8.0 * who.chars().count().min(16) as f64 {
                            text.tl-who x=(left + 3.0) y=(top + ROW / 2.0 + 5.0) { (who) }
                        }
                    }
                }
                @for g in row.gaps.iter().filter(|g| g.end > frame.since && g.start < frame.until) {
                    @let (left, right) = (x(g.start), x(g.end));
                    g {
                        title { (frame.gap_word) ": " (short(g.start, frame.tz)) " – " (short(g.end, frame.tz)) }
                        rect.tl-gap x=(left) y=(top + 2.0) width=((right - left).max(2.0)) height=(ROW - 4.0) {}
                    }
                }
            }
        }
    }
}

/// The local midnights inside the window (a day's line; DST days are 23 or 25 hours).
fn midnights(frame: &Frame<'_>) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let Ok(mut day) = frame
        .since
        .to_zoned_datetime(frame.tz.clone())
        .start_of_day()
        .map(|d| d.date())
    else {
        return out;
    };
    // A window is at most a few months: a bound keeps a bad one from looping long.
    for _ in 0..400 {
        let Ok(at) = day
            .to_zoned_datetime(frame.tz.clone())
            .map(|z| z.timestamp())
        else {
            break;
        };
        if at >= frame.until {
            break;
        }
        if at > frame.since {
            out.push(at);
        }
        let Ok(next) = day.tomorrow() else {
            break;
        };
        day = next;
    }
    out
}
