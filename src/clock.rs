//! Where "now" comes from. The service reads the system clock; tests hold a manual clock and
//! move it forward instead of sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move.
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The system clock, moved to another instant for a while: `rota serve --demo` seeds a month of
/// history through the real interfaces with it set in the past, then lets it run on real time
/// (`back_to_now`) before the background jobs start.
#[derive(Default)]
pub struct TravellingClock {
    /// Milliseconds added to the system clock.
    offset: std::sync::atomic::AtomicI64,
}

impl TravellingClock {
    /// From now on, "now" reads `at` (and moves on with the system clock from there).
    pub fn travel_to(&self, at: DateTime<Utc>) {
        let offset = (at - Utc::now()).num_milliseconds();
        self.offset
            .store(offset, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn back_to_now(&self) {
        self.offset.store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for TravellingClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// An instant as stored: UTC, to the microsecond (PostgreSQL's precision), so a value reads
/// back equal on both backends.
pub fn stored(instant: DateTime<Utc>) -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    instant.trunc_subsecs(6).naive_utc()
}

/// A stored instant as the schedule engine counts time (`jiff`).
pub fn instant(stored: chrono::NaiveDateTime) -> jiff::Timestamp {
    let utc = stored.and_utc();
    jiff::Timestamp::new(utc.timestamp(), utc.timestamp_subsec_nanos() as i32)
        .unwrap_or(jiff::Timestamp::MAX)
}

/// An engine instant as stored (UTC, to the microsecond).
pub fn stored_instant(at: jiff::Timestamp) -> chrono::NaiveDateTime {
    let utc = DateTime::<Utc>::from_timestamp(at.as_second(), at.subsec_nanosecond().max(0) as u32)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    stored(utc)
}

/// Now, for the schedule engine.
pub fn jiff_now(at: DateTime<Utc>) -> jiff::Timestamp {
    instant(stored(at))
}

/// A stored instant as a person reads it: `2026-12-07 19:00 JST` in their IANA `zone`
/// (UTC when the zone is unknown).
pub fn shown_in(stored: chrono::NaiveDateTime, zone: &str) -> String {
    let zone = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    instant(stored)
        .to_zoned_datetime(zone)
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}
