//! A final schedule kept in week-long pieces, joined into any window. Rendering a window
//! equals rendering its parts one after another (the engine's window property), so the
//! pieces' final schedules, put end to end with one person's touching entries merged, are
//! the window's. `finals::Cache` keeps the pieces; this is the arithmetic.

use super::Entry;
use jiff::{SignedDuration, Timestamp};
use std::ops::Deref;

/// How far past the window a shift is followed to give its real start and end: a shift
/// that runs longer than this beyond the window shows cut near this distance (at a piece's
/// edge).
pub const SHIFT_REACH: SignedDuration = SignedDuration::from_hours(24 * 35);

/// The length of a piece, counted from the Unix epoch.
pub const PIECE_SECONDS: i64 = 7 * 24 * 3600;

/// The piece that holds instant `at`.
pub fn piece_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(PIECE_SECONDS)
}

/// Piece `i`'s window, `[start, end)`.
pub fn window(i: i64) -> (Timestamp, Timestamp) {
    let at = |i: i64| {
        Timestamp::from_second(i.saturating_mul(PIECE_SECONDS)).unwrap_or(if i < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        })
    };
    (at(i), at(i + 1))
}

/// The final schedule's entries overlapping `[since, until]` (an instant when equal), whole:
/// pieces (`piece(i)`, the final schedule rendered for `window(i)`) joined, and followed
/// past the window's edges while a shift runs on, up to `SHIFT_REACH`. Only the entries of
/// people `keep` keeps; `may_hold(piece)` is a cheap look at whether a piece can hold one
/// (`|_| true` is always right; `false` skips reading it). Pure: the same answer as
/// rendering the whole reach at once.
pub fn join<U: Clone + PartialEq, P: Deref<Target = [Entry<U>]>>(
    mut piece: impl FnMut(i64) -> P,
    keep: impl Fn(&U) -> bool,
    may_hold: impl Fn(&P) -> bool,
    since: Timestamp,
    until: Timestamp,
) -> Vec<Entry<U>> {
    let overlaps =
        |e: &Entry<U>| e.end > since && (e.start < until || (since == until && e.start <= since));
    let first = piece_of(since);
    let last = piece_of(until).max(first);
    let (reach_first, reach_last) = (piece_of(since - SHIFT_REACH), piece_of(until + SHIFT_REACH));
    let mut out: Vec<Entry<U>> = Vec::new();
    for i in first..=last {
        let p = piece(i);
        if !may_hold(&p) {
            continue;
        }
        for e in p.iter() {
            if !keep(&e.user) {
                continue;
            }
            match out.last_mut() {
                Some(l) if l.user == e.user && l.end == e.start => l.end = e.end,
                _ => out.push(e.clone()),
            }
        }
    }
    out.retain(overlaps);
    // A shift that starts where the first piece does may have started before it.
    let mut i = first;
    while let Some(head) = out.first_mut() {
        if i <= reach_first || head.start != window(i).0 {
            break;
        }
        i -= 1;
        match piece(i).last() {
            Some(e) if e.user == head.user && e.end == head.start => head.start = e.start,
            _ => break,
        }
    }
    let mut i = last;
    while let Some(tail) = out.last_mut() {
        if i >= reach_last || tail.end != window(i).1 {
            break;
        }
        i += 1;
        match piece(i).first() {
            Some(e) if e.user == tail.user && e.start == tail.end => tail.end = e.end,
            _ => break,
        }
    }
    out
}
