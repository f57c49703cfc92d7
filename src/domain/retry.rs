//! When a failed delivery is tried again: exponential backoff from 30 seconds, capped at an
//! hour, and giving up after ten attempts (about three hours of trying).

use chrono::{DateTime, Duration, Utc};

/// Attempts after which a delivery is given up.
pub const MAX_ATTEMPTS: i32 = 10;

const FIRST_DELAY_SECS: i64 = 30;
const MAX_DELAY_SECS: i64 = 3_600;

/// How long to wait after the `attempts_made`-th attempt failed: 30 s, 1 min, 2 min, … 1 h.
pub fn delay_after(attempts_made: i32) -> Duration {
    let doublings = attempts_made.saturating_sub(1).clamp(0, 20) as u32;
    Duration::seconds((FIRST_DELAY_SECS << doublings).min(MAX_DELAY_SECS))
}

/// When to try again after the `attempts_made`-th attempt failed at `failed_at`; `None` means
/// give up.
pub fn next_attempt(attempts_made: i32, failed_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (attempts_made < MAX_ATTEMPTS).then(|| failed_at + delay_after(attempts_made))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_thirty_seconds_up_to_an_hour() {
        let secs: Vec<i64> = (1..=10).map(|n| delay_after(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn the_tenth_failure_gives_up() {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(next_attempt(1, at), Some(at + Duration::seconds(30)));
        assert!(next_attempt(9, at).is_some());
        assert_eq!(next_attempt(10, at), None);
    }
}
