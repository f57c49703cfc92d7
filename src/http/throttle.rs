//! This instance's memory of attempts at what can be guessed or flooded without signing in:
//! break-glass passwords (per user name and per client address), refused sign-ins (per
//! address) and logins started (per address); and the bound on password checks running at
//! once, so a flood of wrong passwords cannot take every core and database connection.
//!
//! The decisions are `domain::attempts`; this module keeps their state per key, in memory,
//! bounded. Limits are per instance: with several instances behind a balancer an attacker gets
//! each instance's allowance, which still grows the back-off on every one of them. The client
//! address is the peer's: behind a reverse proxy, every client shares the proxy's address
//! (the per-name limits still hold), and headers such as X-Forwarded-For prove nothing.

use crate::domain::attempts::{Admission, Backoff, Burst, Failure, Rate, Tokens};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Wrong break-glass passwords for one user name: five, then 2 s doubling to 15 minutes.
pub const BREAK_GLASS_PER_NAME: Backoff = Backoff {
    free: 5,
    base: Duration::seconds(2),
    max: Duration::minutes(15),
    quiet: Duration::minutes(15),
};

/// Wrong break-glass passwords from one address, whatever the name.
pub const BREAK_GLASS_PER_ADDRESS: Backoff = Backoff {
    free: 20,
    base: Duration::seconds(1),
    max: Duration::minutes(15),
    quiet: Duration::minutes(15),
};

/// Refused sign-ins from one address (junk callbacks, provider errors, foreign tenants). A
/// burst is also what the audit trail records: one record when it starts.
pub const REFUSALS_PER_ADDRESS: Backoff = Backoff {
    free: 30,
    base: Duration::seconds(1),
    max: Duration::minutes(5),
    quiet: Duration::minutes(10),
};

/// Logins started from one address: an office behind one address signing in at nine is fine.
pub const LOGINS_PER_ADDRESS: Rate = Rate {
    capacity: 120.0,
    per_second: 2.0,
};

/// How many keys each map holds at most: quiet ones go first, then the longest quiet.
const MAX_KEYS: usize = 10_000;

/// How long a password check waits for its turn before the caller is told to come back.
pub const VERIFICATION_QUEUE: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Throttle {
    break_glass_names: Keyed<Burst>,
    break_glass_addresses: Keyed<Burst>,
    refusals: Keyed<Burst>,
    logins: Keyed<Tokens>,
    /// Events per integration (`events_rate`); only live routing keys get a bucket.
    events: Keyed<Tokens>,
    pub events_rate: Rate,
    /// Password checks (argon2, a core each for tens of milliseconds) running at once.
    pub verifications: tokio::sync::Semaphore,
    /// When a SCIM request refused for its token was last logged (unix seconds).
    scim_refusal_logged: std::sync::atomic::AtomicI64,
}

impl Default for Throttle {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Throttle {
            break_glass_names: Keyed::default(),
            break_glass_addresses: Keyed::default(),
            refusals: Keyed::default(),
            logins: Keyed::default(),
            events: Keyed::default(),
            scim_refusal_logged: std::sync::atomic::AtomicI64::new(i64::MIN),
            events_rate: events_rate(crate::config::DEFAULT_EVENTS_PER_MINUTE),
            verifications: tokio::sync::Semaphore::new(cores),
        }
    }
}

impl Throttle {
    /// The default limits, with `per_minute` events per routing key.
    pub fn with_events_per_minute(per_minute: u32) -> Throttle {
        Throttle {
            events_rate: events_rate(per_minute),
            ..Default::default()
        }
    }

    /// Whether a SCIM request refused for its token is the first this instance saw this
    /// minute: only that one goes to the SCIM request log (anyone can send them).
    pub fn log_scim_refusal(&self, now: DateTime<Utc>) -> bool {
        use std::sync::atomic::Ordering;
        let now = now.timestamp();
        let last = self.scim_refusal_logged.load(Ordering::Relaxed);
        last.checked_add(60).is_none_or(|next| now >= next)
            && self
                .scim_refusal_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// May a break-glass attempt for this (case-folded) name from this address go ahead?
    pub fn admit_break_glass(&self, name: &str, address: &str, now: DateTime<Utc>) -> Admission {
        let by_name = self
            .break_glass_names
            .read(name, |b| BREAK_GLASS_PER_NAME.admit(b, now));
        let by_address = self
            .break_glass_addresses
            .read(address, |b| BREAK_GLASS_PER_ADDRESS.admit(b, now));
        by_name.and(by_address)
    }

    /// Records a wrong break-glass password; returns what became of the name's burst.
    pub fn break_glass_failed(&self, name: &str, address: &str, now: DateTime<Utc>) -> Failure {
        self.break_glass_addresses
            .fail(address, &BREAK_GLASS_PER_ADDRESS, now);
        self.break_glass_names
            .fail(name, &BREAK_GLASS_PER_NAME, now)
    }

    /// A right password ends the name's and the address's bursts; returns the name's, if any.
    pub fn break_glass_succeeded(&self, name: &str, address: &str) -> Option<Burst> {
        self.break_glass_addresses.forget(address);
        self.break_glass_names.forget(name)
    }

    /// May a sign-in callback from this address be looked at?
    pub fn admit_callback(&self, address: &str, now: DateTime<Utc>) -> Admission {
        self.refusals
            .read(address, |b| REFUSALS_PER_ADDRESS.admit(b, now))
    }

    /// Records a refused sign-in from this address.
    pub fn refused(&self, address: &str, now: DateTime<Utc>) -> Failure {
        self.refusals.fail(address, &REFUSALS_PER_ADDRESS, now)
    }

    /// Takes a login from this address's allowance, or says how long to wait.
    pub fn admit_login(&self, address: &str, now: DateTime<Utc>) -> Admission {
        self.logins.take(address, &LOGINS_PER_ADDRESS, now)
    }

    /// Takes an event from this integration's allowance, or says how long to wait.
    pub fn admit_event(&self, integration: &str, now: DateTime<Utc>) -> Admission {
        self.events.take(integration, &self.events_rate, now)
    }
}

/// `per_minute` events in a burst, refilled evenly over the minute.
pub fn events_rate(per_minute: u32) -> Rate {
    Rate {
        capacity: f64::from(per_minute),
        per_second: f64::from(per_minute) / 60.0,
    }
}

impl Keyed<Tokens> {
    fn take(&self, key: &str, rate: &Rate, now: DateTime<Utc>) -> Admission {
        let mut map = self.lock();
        match rate.take(map.get(key).copied(), now) {
            Ok(tokens) => {
                insert_bounded(&mut map, key, tokens, |t| rate.full(t, now), |t| t.at);
                Admission::Allowed
            }
            Err(wait) => Admission::Wait(wait),
        }
    }
}

/// State per key, behind one lock (each use is a hash look-up: no contention worth sharding).
struct Keyed<S>(Mutex<HashMap<String, S>>);

impl<S> Default for Keyed<S> {
    fn default() -> Self {
        Keyed(Mutex::new(HashMap::new()))
    }
}

impl<S> Keyed<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, S>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read<R>(&self, key: &str, f: impl FnOnce(Option<&S>) -> R) -> R {
        f(self.lock().get(key))
    }

    fn forget(&self, key: &str) -> Option<S> {
        self.lock().remove(key)
    }
}

impl Keyed<Burst> {
    fn fail(&self, key: &str, policy: &Backoff, now: DateTime<Utc>) -> Failure {
        let mut map = self.lock();
        let failure = policy.fail(map.remove(key), now);
        insert_bounded(
            &mut map,
            key,
            failure.burst.clone(),
            |b| policy.ended(b, now),
            |b| b.last,
        );
        failure
    }
}

/// Inserts, first making room when the map is full: forgettable entries go, then the one
/// untouched longest.
fn insert_bounded<S>(
    map: &mut HashMap<String, S>,
    key: &str,
    value: S,
    forgettable: impl Fn(&S) -> bool,
    touched: impl Fn(&S) -> DateTime<Utc>,
) {
    if map.len() >= MAX_KEYS && !map.contains_key(key) {
        map.retain(|_, s| !forgettable(s));
        if map.len() >= MAX_KEYS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| touched(s))
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    map.insert(key.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_name_is_limited_whatever_the_address_and_an_address_whatever_the_name() {
        let t = Throttle::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for i in 0..6 {
            t.break_glass_failed("alice", &format!("10.0.0.{i}"), now);
        }
        assert!(matches!(
            t.admit_break_glass("alice", "10.0.1.1", now),
            Admission::Wait(_)
        ));
        assert_eq!(
            t.admit_break_glass("bob", "10.0.1.1", now),
            Admission::Allowed
        );
        for i in 0..21 {
            t.break_glass_failed(&format!("name{i}"), "10.9.9.9", now);
        }
        assert!(matches!(
            t.admit_break_glass("carol", "10.9.9.9", now),
            Admission::Wait(_)
        ));
        assert_eq!(
            t.break_glass_succeeded("alice", "10.0.0.1")
                .map(|b| b.failures),
            Some(6)
        );
        assert_eq!(
            t.admit_break_glass("alice", "10.0.1.1", now),
            Admission::Allowed
        );
    }

    #[test]
    fn the_maps_stay_bounded() {
        let t = Throttle::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for i in 0..(MAX_KEYS + 50) {
            t.refused(
                &format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                now,
            );
        }
        assert_eq!(t.refusals.lock().len(), MAX_KEYS);
    }
}
