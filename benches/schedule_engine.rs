//! The schedule engine alone (`domain::schedule`, no database): who is on call now across
//! 10,000 schedules (3 layers of 8 people each, one with weekday business-hours
//! restrictions, and a few overrides), and one year of one schedule's final schedule.
//! Prints min / median / max of repeated runs. Run with `cargo bench --bench schedule_engine`.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rota::domain::schedule::{Layer, Override, Restriction, render};
use std::time::{Duration, Instant};

const SCHEDULES: usize = 10_000;
const ZONES: [&str; 4] = [
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Tokyo",
];

struct Schedule {
    tz: TimeZone,
    layers: Vec<Layer<u32>>,
    overrides: Vec<Override<u32>>,
}

fn schedule(i: usize, zones: &[TimeZone]) -> Schedule {
    let start: Timestamp = "2026-01-05T00:00Z".parse().unwrap();
    let users =
        |layer: usize| -> Vec<u32> { (0..8).map(|u| (i * 24 + layer * 8 + u) as u32).collect() };
    let business_hours: Vec<Restriction> = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
    ]
    .into_iter()
    .map(|day| Restriction::Weekly {
        day,
        start: Time::constant(9, 0, 0, 0),
        duration: SignedDuration::from_hours(8),
    })
    .collect();
    let layer = |n: usize, hours: i64, restrictions: Vec<Restriction>| Layer {
        start,
        end: None,
        rotation_virtual_start: format!("2026-01-05T{:02}:00", 8 + n).parse().unwrap(),
        turn_length: SignedDuration::from_hours(hours),
        users: users(n),
        restrictions,
    };
    let now: Timestamp = "2026-12-06T12:00Z".parse().unwrap();
    Schedule {
        tz: zones[i % zones.len()].clone(),
        layers: vec![
            layer(0, 24 * 7, vec![]),
            layer(1, 24, vec![]),
            layer(2, 12, business_hours),
        ],
        overrides: (0..(i % 4) as i64)
            .map(|k| Override {
                user: i as u32,
                start: now + SignedDuration::from_hours(6 * k - 3),
                end: now + SignedDuration::from_hours(6 * k + 1),
            })
            .collect(),
    }
}

fn timed(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut out = 0;
    for _ in 0..runs {
        let started = Instant::now();
        out = std::hint::black_box(f());
        times.push(started.elapsed());
    }
    times.sort();
    (times[0], times[runs / 2], times[runs - 1], out)
}

fn main() {
    let zones: Vec<TimeZone> = ZONES.iter().map(|z| TimeZone::get(z).unwrap()).collect();
    let schedules: Vec<Schedule> = (0..SCHEDULES).map(|i| schedule(i, &zones)).collect();
    let now: Timestamp = "2026-12-06T12:00Z".parse().unwrap();
    let (min, median, max, on_call) = timed(11, || {
        schedules
            .iter()
            .filter(|s| {
                let r = render(
                    &s.layers,
                    &s.overrides,
                    &s.tz,
                    now,
                    now + SignedDuration::from_secs(1),
                );
                !r.final_schedule.is_empty()
            })
            .count()
    });
    println!(
        "on call now, {SCHEDULES} schedules (3 layers × 8 people, overrides): min {min:.2?} / median {median:.2?} / max {max:.2?} ({on_call} with someone on call) [target < 100 ms, aim 20 ms]"
    );
    let year = (
        "2026-01-01T00:00Z".parse::<Timestamp>().unwrap(),
        "2027-01-01T00:00Z".parse::<Timestamp>().unwrap(),
    );
    let s = &schedules[7];
    let (min, median, max, entries) = timed(51, || {
        render(&s.layers, &s.overrides, &s.tz, year.0, year.1)
            .final_schedule
            .len()
    });
    println!(
        "one year of final schedule, one schedule: min {min:.2?} / median {median:.2?} / max {max:.2?} ({entries} entries) [target < 5 ms]"
    );
}
