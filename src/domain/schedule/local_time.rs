//! Wall-clock times in a schedule's time zone, and the one rule that turns them into
//! instants when daylight saving time makes a local time happen twice or not at all.
//!
//! - A local time that happens once is that instant.
//! - A local time that does not exist (the clock jumps over it, spring forward) means the
//!   moment of the jump: the first instant at or after it, for a start and an end alike.
//!   A window 02:30–04:00 on the day New York jumps from 02:00 to 03:00 runs 03:00–04:00.
//! - A local time that happens twice (the clock goes back, autumn) is its first occurrence
//!   for a start ([`start`]) and its last for an end ([`end`]), so a window never loses the
//!   repeated hour. A rotation's hand-off is the start of the next turn: its first
//!   occurrence.
//!
//! This is GoAlert's rule for folds; for gaps it keeps the window's named end and moves only
//! what cannot exist.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The instant a window or a turn starting at local `at` starts.
pub fn start(tz: &TimeZone, at: DateTime) -> Timestamp {
    resolve(tz, at, Occurrence::First)
}

/// The instant a window ending at local `at` ends.
pub fn end(tz: &TimeZone, at: DateTime) -> Timestamp {
    resolve(tz, at, Occurrence::Last)
}

#[derive(Clone, Copy)]
enum Occurrence {
    First,
    Last,
}

fn resolve(tz: &TimeZone, at: DateTime, occurrence: Occurrence) -> Timestamp {
    let ambiguous = tz.to_ambiguous_timestamp(at);
    let with = |offset: jiff::tz::Offset| {
        offset
            .to_timestamp(at)
            // Only at the ends of jiff's range (years -9999 and 9999), refused at the edge.
            .unwrap_or(Timestamp::MAX)
    };
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => with(offset),
        AmbiguousOffset::Fold { before, after } => match occurrence {
            Occurrence::First => with(before),
            Occurrence::Last => with(after),
        },
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the offset after the jump, `at` lands before the jump; the jump is the
            // zone's next transition from there.
            let early = with(after);
            tz.following(early)
                .next()
                .map(|t| t.timestamp())
                .unwrap_or(early)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    fn at(s: &str) -> DateTime {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_gap_means_the_jump_and_a_fold_its_first_or_last_time() {
        let ny = tz("America/New_York");
        // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
        assert_eq!(start(&ny, at("2026-03-08T02:30")), utc("2026-03-08T07:00Z"));
        assert_eq!(end(&ny, at("2026-03-08T02:30")), utc("2026-03-08T07:00Z"));
        // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens at 05:30 and 06:30 UTC.
        assert_eq!(start(&ny, at("2026-11-01T01:30")), utc("2026-11-01T05:30Z"));
        assert_eq!(end(&ny, at("2026-11-01T01:30")), utc("2026-11-01T06:30Z"));
        assert_eq!(start(&ny, at("2026-07-01T09:00")), utc("2026-07-01T13:00Z"));
    }
}
