//! Limits on what can be guessed or flooded (break-glass passwords, sign-in callbacks, logins),
//! as pure decisions over what was seen so far; the caller keeps the state per key (a user
//! name, a client address) and passes the time in.
//!
//! Two shapes:
//! - [`Backoff`] counts failures in a *burst* (failures less than `quiet` apart). The first
//!   `free` of a burst pass; after that each one makes the next wait twice as long as the last,
//!   up to `max`. A burst is also the unit the audit trail records: one record when it starts,
//!   carrying the size of the burst it follows.
//! - [`Rate`] is a token bucket for requests that are fine in numbers but not in floods (a whole
//!   office behind one address signing in at nine is fine; a script is not).

use chrono::{DateTime, Duration, Utc};

/// Growing back-off for repeated failures.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Failures in a burst that cost nothing.
    pub free: u32,
    /// The wait after the first failure beyond `free`; it doubles with each further one.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Failures this far apart belong to different bursts.
    pub quiet: Duration,
}

/// Failures under one key since its burst started.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub started: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub failures: u32,
    /// No attempt is admitted before this.
    pub blocked_until: Option<DateTime<Utc>>,
}

/// What became of a failure: the burst it belongs to now, and whether it opened a new one
/// (then `previous` is the burst it follows, if that had more than the one failure recorded).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub burst: Burst,
    pub opened: bool,
    pub previous: Option<Burst>,
}

/// May an attempt go ahead?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Not before this long from now.
    Wait(Duration),
}

impl Admission {
    /// The longer of two waits (an attempt limited on two keys waits for both).
    pub fn and(self, other: Admission) -> Admission {
        match (self, other) {
            (Admission::Wait(a), Admission::Wait(b)) => Admission::Wait(a.max(b)),
            (w @ Admission::Wait(_), Admission::Allowed)
            | (Admission::Allowed, w @ Admission::Wait(_)) => w,
            (Admission::Allowed, Admission::Allowed) => Admission::Allowed,
        }
    }
}

impl Backoff {
    pub fn admit(&self, burst: Option<&Burst>, now: DateTime<Utc>) -> Admission {
        match burst.and_then(|b| b.blocked_until) {
            Some(until) if until > now => Admission::Wait(until - now),
            _ => Admission::Allowed,
        }
    }

    /// Records a failure at `now`.
    pub fn fail(&self, burst: Option<Burst>, now: DateTime<Utc>) -> Failure {
        let (mut burst, opened, previous) = match burst {
            Some(b) if !self.ended(&b, now) => (b, false, None),
            ended => (
                Burst {
                    started: now,
                    last: now,
                    failures: 0,
                    blocked_until: None,
                },
                true,
                ended.filter(|b| b.failures > 1),
            ),
        };
        burst.failures = burst.failures.saturating_add(1);
        burst.last = now;
        burst.blocked_until = (burst.failures > self.free).then(|| now + self.wait(burst.failures));
        Failure {
            burst,
            opened,
            previous,
        }
    }

    /// The wait after the `failures`-th failure of a burst (beyond the free ones).
    pub fn wait(&self, failures: u32) -> Duration {
        let beyond = failures.saturating_sub(self.free).saturating_sub(1).min(30);
        let wait = self
            .base
            .checked_mul(1 << beyond)
            .unwrap_or(self.max)
            .min(self.max);
        wait.max(Duration::zero())
    }

    /// The burst is over: nothing failed for `quiet`. Its state can be forgotten then.
    pub fn ended(&self, burst: &Burst, now: DateTime<Utc>) -> bool {
        now - burst.last >= self.quiet && burst.blocked_until.is_none_or(|until| until <= now)
    }
}

/// A token bucket: `capacity` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub capacity: f64,
    pub per_second: f64,
}

/// A bucket's level at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tokens {
    pub level: f64,
    pub at: DateTime<Utc>,
}

impl Rate {
    /// Takes one token at `now`: the new level, or how long until one is there.
    pub fn take(&self, tokens: Option<Tokens>, now: DateTime<Utc>) -> Result<Tokens, Duration> {
        let level = match tokens {
            None => self.capacity,
            Some(t) => {
                let elapsed =
                    (now - t.at).num_microseconds().unwrap_or(i64::MAX).max(0) as f64 / 1_000_000.0;
                (t.level + elapsed * self.per_second).min(self.capacity)
            }
        };
        if level >= 1.0 {
            Ok(Tokens {
                level: level - 1.0,
                at: now,
            })
        } else {
            let seconds = (1.0 - level) / self.per_second;
            Err(Duration::milliseconds((seconds * 1000.0).ceil() as i64))
        }
    }

    /// A full bucket is the same as none: it can be forgotten.
    pub fn full(&self, tokens: &Tokens, now: DateTime<Utc>) -> bool {
        self.take(Some(*tokens), now)
            .is_ok_and(|t| t.level + 1.0 >= self.capacity)
    }
}

/// "3 minutes", "45 seconds": how long to wait, for a page or an e-mail.
pub fn describe_wait(wait: Duration) -> String {
    let seconds = wait.num_seconds().max(1);
    if seconds < 90 {
        format!("{seconds} second{}", if seconds == 1 { "" } else { "s" })
    } else {
        let minutes = (seconds + 59) / 60;
        format!("{minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(s)
    }

    const B: Backoff = Backoff {
        free: 3,
        base: Duration::seconds(2),
        max: Duration::seconds(60),
        quiet: Duration::seconds(600),
    };

    #[test]
    fn free_failures_pass_then_each_wait_doubles_up_to_the_cap() {
        let mut burst = None;
        let mut waits = Vec::new();
        for i in 0..10 {
            let now = t(i * 100);
            assert_eq!(
                B.admit(burst.as_ref(), now),
                Admission::Allowed,
                "after waiting, attempt {i} is allowed"
            );
            let f = B.fail(burst, now);
            waits.push(f.burst.blocked_until.map(|u| (u - now).num_seconds()));
            burst = Some(f.burst);
        }
        assert_eq!(
            waits,
            vec![
                None,
                None,
                None,
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60)
            ]
        );
    }

    #[test]
    fn a_blocked_key_waits_and_a_quiet_one_starts_a_new_burst_carrying_the_old() {
        let mut burst = None;
        for i in 0..5 {
            burst = Some(B.fail(burst, t(i)).burst);
        }
        assert_eq!(
            B.admit(burst.as_ref(), t(5)),
            Admission::Wait(Duration::seconds(3))
        );
        let later = B.fail(burst.clone(), t(4 + 600));
        assert!(later.opened);
        assert_eq!(later.previous.as_ref().map(|b| b.failures), Some(5));
        assert_eq!(later.burst.failures, 1);
        let next = B.fail(Some(later.burst), t(4 + 601));
        assert!(!next.opened && next.previous.is_none());
    }

    #[test]
    fn the_bucket_admits_its_capacity_then_refills() {
        let rate = Rate {
            capacity: 3.0,
            per_second: 0.5,
        };
        let mut tokens = None;
        for _ in 0..3 {
            tokens = Some(rate.take(tokens, t(0)).unwrap());
        }
        assert_eq!(rate.take(tokens, t(0)).unwrap_err(), Duration::seconds(2));
        assert!(rate.take(tokens, t(2)).is_ok());
        assert!(rate.full(&tokens.unwrap(), t(6)));
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(describe_wait(Duration::milliseconds(200)), "1 second");
        assert_eq!(describe_wait(Duration::seconds(45)), "45 seconds");
        assert_eq!(describe_wait(Duration::seconds(900)), "15 minutes");
    }
}
