//! The schedule engine (`domain::schedule`), without a database: daylight saving time in
//! four zones checked against a second, brute-force computation, and property tests of the
//! final schedule, each invariant named in its test's name.

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use rota::domain::schedule::{
    Entry, Layer, Override, Restriction, edit_layer, local_time, pieces, render, render_layer,
};

const ZONES: [&str; 4] = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Tokyo",
];

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The independent computation: scans instants minute by minute and reads each one's local
/// time (instant to local is never ambiguous), never turning a local time into an instant.
/// A start is the first instant whose local time is at or after it; an end, the last
/// instant whose local time is at or before it (or the next minute, when the local time
/// was jumped over).
mod brute {
    use super::*;

    fn scan(tz: &TimeZone, local: DateTime) -> impl Iterator<Item = (Timestamp, DateTime)> + '_ {
        // Any zone is within a day of UTC: start two days before the local time read as UTC.
        let from = local.to_zoned_datetime(TimeZone::UTC).unwrap().timestamp()
            - SignedDuration::from_hours(48);
        (0..(4 * 24 * 60)).map(move |m| {
            let t = from + SignedDuration::from_mins(m);
            (t, tz.to_datetime(t))
        })
    }

    pub fn start(tz: &TimeZone, local: DateTime) -> Timestamp {
        scan(tz, local).find(|(_, l)| *l >= local).unwrap().0
    }

    pub fn end(tz: &TimeZone, local: DateTime) -> Timestamp {
        let (t, l) = scan(tz, local).filter(|(_, l)| *l <= local).last().unwrap();
        if l == local {
            t
        } else {
            t + SignedDuration::from_mins(1)
        }
    }
}

/// Daily hand-offs at times that fall into each zone's gap and fold in 2026, and a weekly
/// one on Monday at 09:00: every turn boundary of a year is where the brute force puts the
/// local hand-off time.
#[test]
fn turns_are_counted_in_wall_clock_time_in_four_zones() {
    // (zone, a local time in its spring gap, one in its autumn fold) in 2026.
    let cases = [
        ("America/New_York", "02:30", "01:30"),
        ("Europe/London", "01:30", "01:30"),
        ("Australia/Sydney", "02:30", "02:30"),
        ("Asia/Tokyo", "02:30", "01:30"),
    ];
    for (zone, gap, fold) in cases {
        let tz = tz(zone);
        for (hand_off, turn_hours) in [(gap, 24), (fold, 24), ("09:00", 24 * 7)] {
            let v: DateTime = format!("2026-01-05T{hand_off}").parse().unwrap();
            let layer = Layer {
                start: ts("2026-01-01T00:00Z"),
                end: None,
                rotation_virtual_start: v,
                turn_length: SignedDuration::from_hours(turn_hours),
                users: vec!["a", "b", "c"],
                restrictions: vec![],
            };
            let since = ts("2026-01-10T00:00Z");
            let until = ts("2027-01-01T00:00Z");
            let entries = render_layer(&layer, &tz, since, until);
            assert!(entries.len() > 40, "{zone}: {} entries", entries.len());
            for pair in entries.windows(2) {
                let boundary = pair[0].end;
                assert_eq!(boundary, pair[1].start, "{zone} {hand_off}: turns touch");
                // Which turn starts here, by counting whole turns of local time from V.
                let local_guess = tz.to_datetime(boundary);
                let k = (local_guess.duration_since(v).as_secs() as f64
                    / (turn_hours * 3600) as f64)
                    .round() as i64;
                let local = v
                    .checked_add(SignedDuration::from_hours(k * turn_hours))
                    .unwrap();
                assert_eq!(
                    boundary,
                    brute::start(&tz, local),
                    "{zone}: turn {k} at local {local}"
                );
                let users = ["a", "b", "c"];
                assert_eq!(
                    pair[1].user,
                    users[k.rem_euclid(3) as usize],
                    "{zone}: rotation order at turn {k}"
                );
            }
            if hand_off == "09:00" {
                for e in &entries[1..] {
                    let local = tz.to_datetime(e.start);
                    assert_eq!(
                        (local.weekday(), local.time()),
                        (Weekday::Monday, Time::constant(9, 0, 0, 0)),
                        "{zone}: {local}"
                    );
                }
            }
        }
    }
}

/// Restriction windows that start and end inside the gap and the fold: the brute force
/// agrees on both edges.
#[test]
fn restriction_windows_are_wall_clock_windows_in_four_zones() {
    let cases = [
        (
            "America/New_York",
            ["2026-03-08", "2026-11-01"],
            ["02:15", "01:15"],
        ),
        (
            "Europe/London",
            ["2026-03-29", "2026-10-25"],
            ["01:15", "01:15"],
        ),
        (
            "Australia/Sydney",
            ["2026-10-04", "2026-04-05"],
            ["02:15", "02:15"],
        ),
        (
            "Asia/Tokyo",
            ["2026-03-08", "2026-11-01"],
            ["02:15", "01:15"],
        ),
    ];
    for (zone, days, times) in cases {
        let tz = tz(zone);
        for (day, time) in days.iter().zip(times) {
            let start: Time = time.parse().unwrap();
            let layer = Layer {
                start: ts("2026-01-01T00:00Z"),
                end: None,
                rotation_virtual_start: "2026-01-01T00:00".parse().unwrap(),
                turn_length: SignedDuration::from_hours(24 * 365),
                users: vec!["a"],
                restrictions: vec![Restriction::Daily {
                    start,
                    duration: SignedDuration::from_mins(30),
                }],
            };
            let local_start: DateTime = format!("{day}T{time}").parse().unwrap();
            let local_end = local_start
                .checked_add(SignedDuration::from_mins(30))
                .unwrap();
            let (s, e) = (brute::start(&tz, local_start), brute::end(&tz, local_end));
            let around = (
                s - SignedDuration::from_hours(6),
                s + SignedDuration::from_hours(6),
            );
            let entries = render_layer(&layer, &tz, around.0, around.1);
            let expected: Vec<(Timestamp, Timestamp)> = if s < e { vec![(s, e)] } else { vec![] };
            let got: Vec<(Timestamp, Timestamp)> =
                entries.iter().map(|e| (e.start, e.end)).collect();
            assert_eq!(got, expected, "{zone} {day} {time}");
        }
    }
}

// ---- property tests -------------------------------------------------------------------

type User = u8;

fn zone() -> impl Strategy<Value = TimeZone> {
    prop::sample::select(ZONES.to_vec()).prop_map(tz)
}

/// An instant in 2026.
fn instant() -> impl Strategy<Value = Timestamp> {
    (0i64..365 * 24 * 4).prop_map(|quarter_hours| {
        ts("2026-01-01T00:00Z") + SignedDuration::from_mins(quarter_hours * 15)
    })
}

fn restriction() -> impl Strategy<Value = Restriction> {
    let time = (0i8..24, prop::sample::select(vec![0i8, 15, 30, 45]))
        .prop_map(|(h, m)| Time::constant(h, m, 0, 0));
    prop_oneof![
        (time.clone(), 1i64..=24 * 4).prop_map(|(start, q)| Restriction::Daily {
            start,
            duration: SignedDuration::from_mins(q * 15),
        }),
        (time, 1i8..=7, 1i64..=7 * 24).prop_map(|(start, day, h)| Restriction::Weekly {
            day: Weekday::from_monday_one_offset(day).unwrap(),
            start,
            duration: SignedDuration::from_hours(h),
        }),
    ]
}

fn layer() -> impl Strategy<Value = Layer<User>> {
    (
        instant(),
        prop::option::of(1i64..60),
        instant(),
        prop::sample::select(vec![1i64, 8, 12, 24, 24 * 7]),
        prop::collection::vec(0u8..6, 1..5),
        prop::collection::vec(restriction(), 0..3),
    )
        .prop_map(|(start, days, v, hours, users, restrictions)| Layer {
            start,
            end: days.map(|d| start + SignedDuration::from_hours(24 * d)),
            rotation_virtual_start: TimeZone::UTC.to_datetime(v)
                - SignedDuration::from_hours(24 * 30),
            turn_length: SignedDuration::from_hours(hours),
            users,
            restrictions,
        })
}

fn an_override() -> impl Strategy<Value = Override<User>> {
    (0u8..6, instant(), 1i64..72).prop_map(|(user, start, hours)| Override {
        user,
        start,
        end: start + SignedDuration::from_hours(hours),
    })
}

/// A schedule and a window of up to 20 days.
fn case() -> impl Strategy<
    Value = (
        TimeZone,
        Vec<Layer<User>>,
        Vec<Override<User>>,
        Timestamp,
        Timestamp,
    ),
> {
    (
        zone(),
        prop::collection::vec(layer(), 1..4),
        prop::collection::vec(an_override(), 0..5),
        instant(),
        1i64..20 * 24,
    )
        .prop_map(|(tz, layers, overrides, since, hours)| {
            (
                tz,
                layers,
                overrides,
                since,
                since + SignedDuration::from_hours(hours),
            )
        })
}

/// Who the final schedule has at `t`, if anyone.
fn final_at<U: Clone>(entries: &[Entry<U>], t: Timestamp) -> Option<U> {
    entries
        .iter()
        .find(|e| e.start <= t && t < e.end)
        .map(|e| e.user.clone())
}

/// Instants to probe: every boundary and the middle of every piece.
fn probes<U>(r: &rota::domain::schedule::Rendered<U>) -> Vec<Timestamp> {
    let mut out = Vec::new();
    for e in &r.final_schedule {
        out.push(e.start);
        out.push(e.start + e.end.duration_since(e.start) / 2);
    }
    for g in &r.gaps {
        out.push(g.start);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_final_schedule_partitions_the_window_into_entries_and_gaps((tz, layers, overrides, since, until) in case()) {
        let r = render(&layers, &overrides, &tz, since, until);
        let mut pieces: Vec<(Timestamp, Timestamp, bool)> = r.final_schedule.iter().map(|e| (e.start, e.end, true))
            .chain(r.gaps.iter().map(|g| (g.start, g.end, false))).collect();
        pieces.sort();
        prop_assert_eq!(pieces.first().map(|p| p.0), Some(since));
        prop_assert_eq!(pieces.last().map(|p| p.1), Some(until));
        for pair in pieces.windows(2) {
            prop_assert_eq!(pair[0].1, pair[1].0, "no overlap and no hole");
        }
        for p in &pieces {
            prop_assert!(p.0 < p.1);
        }
        // Entries of one person that touch are merged.
        for pair in r.final_schedule.windows(2) {
            prop_assert!(!(pair[0].end == pair[1].start && pair[0].user == pair[1].user));
        }
    }

    #[test]
    fn an_override_always_wins_the_last_created_first((tz, layers, overrides, since, until) in case()) {
        let r = render(&layers, &overrides, &tz, since, until);
        for t in probes(&r) {
            if let Some(o) = overrides.iter().rev().find(|o| o.start <= t && t < o.end) {
                prop_assert_eq!(final_at(&r.final_schedule, t), Some(o.user));
            }
        }
    }

    #[test]
    fn the_highest_layer_with_coverage_wins((tz, layers, overrides, since, until) in case()) {
        let r = render(&layers, &overrides, &tz, since, until);
        for t in probes(&r) {
            if overrides.iter().any(|o| o.start <= t && t < o.end) {
                continue;
            }
            let expected = r.layers.iter().rev().find_map(|entries| final_at(entries, t));
            prop_assert_eq!(final_at(&r.final_schedule, t), expected);
        }
    }

    #[test]
    fn restrictions_are_respected((tz, layers, _o, since, until) in case()) {
        for layer in &layers {
            let entries = render_layer(layer, &tz, since, until);
            for e in &entries {
                prop_assert!(since <= e.start && e.end <= until && e.start < e.end);
                prop_assert!(layer.start <= e.start && layer.end.is_none_or(|end| e.end <= end));
                if layer.restrictions.is_empty() {
                    continue;
                }
                // The entry's middle is inside some restriction window.
                let mid = e.start + e.end.duration_since(e.start) / 2;
                let inside = layer.restrictions.iter().any(|r| within(r, &tz, mid));
                prop_assert!(inside, "{:?}", e);
            }
        }
    }

    #[test]
    fn rotation_order_is_kept((tz, layers, _o, since, until) in case()) {
        // Turns of at least 8 hours: a shorter turn can fall wholly inside a DST gap, where
        // it has no time at all (and so no entry).
        for layer in layers.iter().filter(|l| l.restrictions.is_empty() && l.turn_length >= SignedDuration::from_hours(8)) {
            let entries = render_layer(layer, &tz, since, until);
            let n = layer.users.len();
            // Consecutive turns: the next person in the list.
            for pair in entries.windows(2) {
                let i = layer.users.iter().position(|u| *u == pair[0].user).unwrap();
                if layer.users.iter().filter(|u| **u == pair[0].user).count() == 1 {
                    prop_assert_eq!(pair[1].user, layer.users[(i + 1) % n]);
                }
            }
        }
    }

    #[test]
    fn the_result_is_the_same_whatever_window_it_was_computed_from(
        (tz, layers, overrides, since, until) in case(), cut in 1u32..100,
    ) {
        let b = since + until.duration_since(since) * i32::try_from(cut).unwrap() / 100;
        prop_assume!(since < b && b < until);
        let whole = render(&layers, &overrides, &tz, since, until);
        let left = render(&layers, &overrides, &tz, since, b);
        let right = render(&layers, &overrides, &tz, b, until);
        let mut joined = left.final_schedule.clone();
        for e in right.final_schedule {
            match joined.last_mut() {
                Some(last) if last.end == e.start && last.user == e.user => last.end = e.end,
                _ => joined.push(e),
            }
        }
        prop_assert_eq!(joined, whole.final_schedule);
        for (i, layer) in layers.iter().enumerate() {
            let mut split = render_layer(layer, &tz, since, b);
            split.extend(render_layer(layer, &tz, b, until));
            let whole = &whole.layers[i];
            // The same coverage by the same people (a turn cut at b is two entries).
            for t in probes(&render(std::slice::from_ref(layer), &[], &tz, since, until)) {
                prop_assert_eq!(final_at(&split, t), final_at(whole, t));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn an_edit_never_changes_the_past(
        (tz, layers, overrides, since, until) in case(), edited in layer(), cut in 1u32..100,
    ) {
        let at = since + until.duration_since(since) * i32::try_from(cut).unwrap() / 100;
        // The top layer is edited at `at`: before it, every layer and the final schedule
        // stay as they were; from it on, the edited version counts.
        let mut versions: Vec<Vec<Layer<User>>> = layers.iter().map(|l| vec![l.clone()]).collect();
        let top = versions.len() - 1;
        versions[top] = edit_layer(&layers[top], edited.clone(), at);
        let before = render(&layers, &overrides, &tz, since, at);
        let after_edit = render(&versions, &overrides, &tz, since, at);
        prop_assert_eq!(&before, &after_edit);
        // After `at`, the top layer is the edited one (where it has started).
        let later = render(&versions, &[], &tz, at, until);
        let edited_alone = render_layer(&Layer { start: edited.start.max(at), ..edited }, &tz, at, until);
        prop_assert_eq!(&later.layers[top], &edited_alone);
    }
}

/// Is instant `t` inside a window of `r` (a window's edges as `local_time` resolves them)?
fn within(r: &Restriction, tz: &TimeZone, t: Timestamp) -> bool {
    let (start_time, duration, day) = match *r {
        Restriction::Daily { start, duration } => (start, duration, None),
        Restriction::Weekly {
            day,
            start,
            duration,
        } => (start, duration, Some(day)),
    };
    let today = tz.to_datetime(t).date();
    // Windows starting from a week before `t`'s day to the day after.
    (-1..8).any(|back| {
        let date = today - SignedDuration::from_hours(24 * back);
        if day.is_some_and(|d| date.weekday() != d) {
            return false;
        }
        let s = date.to_datetime(start_time);
        let e = s.checked_add(duration).unwrap();
        local_time::start(tz, s) <= t && t < local_time::end(tz, e)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// What `finals::Cache` relies on: the final schedule kept in week-long pieces, joined
    /// and followed across the window's edges, is the final schedule rendered in one go, for
    /// a window or an instant, for everyone or one person.
    #[test]
    fn week_pieces_joined_equal_the_final_schedule_rendered_whole(
        (tz, layers, overrides, since, until) in case(), instant_only in any::<bool>(), one in prop::option::of(0u8..6),
    ) {
        let until = if instant_only { since } else { until };
        let (from, to) = (
            pieces::window(pieces::piece_of(since - pieces::SHIFT_REACH)).0,
            pieces::window(pieces::piece_of(until + pieces::SHIFT_REACH)).1,
        );
        let whole = render(&layers, &overrides, &tz, from, to).final_schedule;
        let expected: Vec<Entry<User>> = whole
            .into_iter()
            .filter(|e| e.end > since && (e.start < until || (since == until && e.start <= since)))
            .filter(|e| one.is_none_or(|u| e.user == u))
            .collect();
        let piece = |i: i64| {
            let (s, e) = pieces::window(i);
            render(&layers, &overrides, &tz, s, e).final_schedule
        };
        let keep = |u: &User| one.is_none_or(|o| *u == o);
        let joined = pieces::join(piece, keep, |p: &Vec<Entry<User>>| p.iter().any(|e| keep(&e.user)), since, until);
        prop_assert_eq!(joined, expected);
    }
}
