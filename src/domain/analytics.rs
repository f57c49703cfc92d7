//! Time to acknowledge and to resolve (pure): the window an analytics request covers, and
//! the figures of a group of incidents (PagerDuty's `total_incident_count`,
//! `mean_seconds_to_first_ack`, `mean_seconds_to_resolve`, with Rota's p50/p90/p99 beside
//! them), per service or per team. As PagerDuty's analytics count them: time to first
//! acknowledgement over the incidents that were acknowledged (a resolve does not imply one),
//! time to resolve over the resolved ones. The store reads the incidents
//! (`store::analytics`); `/metrics` observes the same durations as they commit
//! (`committed`).

use super::ids::{ServiceId, TeamId};
use super::incident::Status;
use chrono::{DateTime, Duration, Months, NaiveDateTime, Utc};
use std::collections::BTreeMap;

/// What the figures need of one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentTimes {
    pub service: ServiceId,
    /// The service's teams (as they are now: an incident does not keep its own).
    pub teams: Vec<TeamId>,
    pub created_at: NaiveDateTime,
    /// Its first acknowledgement, if any (a reassignment can trigger it again; the first
    /// one counts).
    pub first_acknowledged_at: Option<NaiveDateTime>,
    pub resolved_at: Option<NaiveDateTime>,
}

/// A group's figures. Durations are whole seconds, rounded to the nearest; `None` when no
/// incident of the group was acknowledged (or resolved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub total: u64,
    pub acknowledged: u64,
    pub resolved: u64,
    pub to_first_ack: Spread,
    pub to_resolve: Spread,
}

/// The mean and nearest-rank percentiles of some durations, in whole seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spread {
    pub mean: Option<i64>,
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
}

impl Spread {
    /// Of durations in microseconds (the precision instants are stored with).
    fn of(mut micros: Vec<i64>) -> Spread {
        if micros.is_empty() {
            return Spread::default();
        }
        micros.sort_unstable();
        let n = micros.len() as i128;
        let sum: i128 = micros.iter().map(|&m| i128::from(m)).sum();
        Spread {
            mean: Some(whole_seconds((sum + n / 2) / n)),
            p50: Some(whole_seconds(nearest_rank(&micros, 50).into())),
            p90: Some(whole_seconds(nearest_rank(&micros, 90).into())),
            p99: Some(whole_seconds(nearest_rank(&micros, 99).into())),
        }
    }
}

/// The `p`th percentile by nearest rank: the smallest value with at least `p`% of the values
/// at or below it (`sorted` ascending, not empty).
fn nearest_rank(sorted: &[i64], p: usize) -> i64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Microseconds (not negative) as whole seconds, half a second rounding up.
fn whole_seconds(micros: i128) -> i64 {
    i64::try_from((micros + 500_000) / 1_000_000).unwrap_or(i64::MAX)
}

/// From `from` to `to` in microseconds; an instant before `from` (clocks of two instances
/// apart) counts as none.
fn micros_between(from: NaiveDateTime, to: NaiveDateTime) -> i64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX).max(0)
}

/// The figures of these incidents.
pub fn figures<'a>(incidents: impl IntoIterator<Item = &'a IncidentTimes>) -> Figures {
    let mut total = 0;
    let mut to_ack = Vec::new();
    let mut to_resolve = Vec::new();
    for i in incidents {
        total += 1;
        if let Some(at) = i.first_acknowledged_at {
            to_ack.push(micros_between(i.created_at, at));
        }
        if let Some(at) = i.resolved_at {
            to_resolve.push(micros_between(i.created_at, at));
        }
    }
    Figures {
        total,
        acknowledged: to_ack.len() as u64,
        resolved: to_resolve.len() as u64,
        to_first_ack: Spread::of(to_ack),
        to_resolve: Spread::of(to_resolve),
    }
}

/// Figures per service, for the services with incidents.
pub fn per_service(incidents: &[IncidentTimes]) -> BTreeMap<ServiceId, Figures> {
    let mut groups: BTreeMap<&ServiceId, Vec<&IncidentTimes>> = BTreeMap::new();
    for i in incidents {
        groups.entry(&i.service).or_default().push(i);
    }
    groups
        .into_iter()
        .map(|(service, group)| (service.clone(), figures(group)))
        .collect()
}

/// Figures per team, for the teams with incidents: an incident counts for each team of its
/// service, and not at all when its service has none.
pub fn per_team(incidents: &[IncidentTimes]) -> BTreeMap<TeamId, Figures> {
    let mut groups: BTreeMap<&TeamId, Vec<&IncidentTimes>> = BTreeMap::new();
    for i in incidents {
        for team in &i.teams {
            let group = groups.entry(team).or_default();
            // A team listed twice for one service still counts its incident once.
            if !group.last().is_some_and(|last| std::ptr::eq(*last, i)) {
                group.push(i);
            }
        }
    }
    groups
        .into_iter()
        .map(|(team, group)| (team.clone(), figures(group)))
        .collect()
}

/// What a change committed at `at` adds to the histograms: seconds from opening to the
/// first acknowledgement if that acknowledgement is this change's (made at `at`, and the
/// incident not triggered again since), and to resolution if the resolution is. An incident
/// already so when the change came (the change did nothing), a second acknowledgement after
/// a reassignment, a reassignment or an escalation add nothing.
pub fn committed(
    status: Status,
    created_at: NaiveDateTime,
    first_acknowledged_at: Option<NaiveDateTime>,
    resolved_at: Option<NaiveDateTime>,
    at: NaiveDateTime,
) -> Committed {
    let seconds = |to: NaiveDateTime| micros_between(created_at, to) as f64 / 1_000_000.0;
    Committed {
        to_first_ack: first_acknowledged_at
            .filter(|t| *t == at && status != Status::Triggered)
            .map(seconds),
        to_resolve: resolved_at.filter(|t| *t == at).map(seconds),
    }
}

/// See [`committed`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Committed {
    pub to_first_ack: Option<f64>,
    pub to_resolve: Option<f64>,
}

/// The incidents an analytics request covers: created in `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The window without `created_at_start` (PagerDuty's Insights default: 30 days).
pub const DEFAULT_DAYS: i64 = 30;

/// A refused request value: the field (as the request names it) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        field,
        reason: reason.into(),
    }
}

/// The time zone a request names (tzdata names; `Etc/UTC` when it names none).
pub fn time_zone(name: Option<&str>) -> Result<(String, jiff::tz::TimeZone), Refusal> {
    let name = name.unwrap_or("Etc/UTC");
    jiff::tz::TimeZone::get(name)
        .map(|tz| (name.to_owned(), tz))
        .map_err(|_| {
            refuse(
                "time_zone",
                format!("'{name}' is not a time zone such as Etc/UTC or Europe/Berlin"),
            )
        })
}

/// An ISO 8601 instant: with an offset (`2026-01-31T09:00:00Z`, `…+01:00`), or a local date
/// and time (or a date: its midnight) in `tz`.
fn instant(
    field: &'static str,
    text: &str,
    tz: &jiff::tz::TimeZone,
) -> Result<DateTime<Utc>, Refusal> {
    let bad = || {
        refuse(
            field,
            format!("must be an ISO 8601 time such as 2026-01-31T09:00:00Z, not '{text}'"),
        )
    };
    let at = match text.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => {
            let local = text.parse::<jiff::civil::DateTime>().map_err(|_| bad())?;
            tz.to_timestamp(local).map_err(|_| bad())?
        }
    };
    DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond().max(0) as u32).ok_or_else(bad)
}

/// The window `created_at_start`/`created_at_end` ask for: the last 30 days up to now by
/// default, from a start up to now, or the 30 days before an end. Refused when the end is
/// not after the start, or the window is longer than a year (PagerDuty's limit).
pub fn window(
    start: Option<&str>,
    end: Option<&str>,
    tz: &jiff::tz::TimeZone,
    now: DateTime<Utc>,
) -> Result<Window, Refusal> {
    const START: &str = "filters.created_at_start";
    const END: &str = "filters.created_at_end";
    let end = end.map(|t| instant(END, t, tz)).transpose()?.unwrap_or(now);
    let start = match start {
        Some(t) => instant(START, t, tz)?,
        None => end - Duration::days(DEFAULT_DAYS),
    };
    if end <= start {
        return Err(refuse(END, "must be after filters.created_at_start"));
    }
    if start
        .checked_add_months(Months::new(12))
        .is_some_and(|year_on| end > year_on)
    {
        return Err(refuse(
            END,
            "the window is longer than a year; narrow filters.created_at_start and filters.created_at_end",
        ));
    }
    Ok(Window { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(minutes: i64, seconds: i64) -> NaiveDateTime {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .unwrap()
            .naive_utc()
            + Duration::minutes(minutes)
            + Duration::seconds(seconds)
    }

    fn incident(
        service: &str,
        teams: &[&str],
        ack_after: Option<i64>,
        resolve_after: Option<i64>,
    ) -> IncidentTimes {
        let created = t(0, 0);
        IncidentTimes {
            service: ServiceId(service.into()),
            teams: teams.iter().map(|s| TeamId((*s).into())).collect(),
            created_at: created,
            first_acknowledged_at: ack_after.map(|s| created + Duration::seconds(s)),
            resolved_at: resolve_after.map(|s| created + Duration::seconds(s)),
        }
    }

    #[test]
    fn acknowledgement_counts_over_the_acknowledged_and_resolution_over_the_resolved() {
        let f = figures(&[
            incident("s", &[], Some(60), Some(600)),
            incident("s", &[], Some(120), None),
            // Resolved without an acknowledgement: not an acknowledgement at resolution.
            incident("s", &[], None, Some(300)),
            incident("s", &[], None, None),
        ]);
        assert_eq!((f.total, f.acknowledged, f.resolved), (4, 2, 2));
        assert_eq!(f.to_first_ack.mean, Some(90));
        assert_eq!(f.to_resolve.mean, Some(450));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // 1..=100 seconds: the pth percentile is p seconds.
        let hundred: Vec<_> = (1..=100)
            .map(|s| incident("s", &[], Some(s), None))
            .collect();
        let f = figures(&hundred).to_first_ack;
        assert_eq!((f.p50, f.p90, f.p99), (Some(50), Some(90), Some(99)));
        assert_eq!(f.mean, Some(51), "50.5 rounds up");
        // Three values: ranks ceil(1.5) = 2, ceil(2.7) = 3, ceil(2.97) = 3.
        let three: Vec<_> = [10, 20, 1000]
            .into_iter()
            .map(|s| incident("s", &[], None, Some(s)))
            .collect();
        let f = figures(&three).to_resolve;
        assert_eq!(
            (f.mean, f.p50, f.p90, f.p99),
            (Some(343), Some(20), Some(1000), Some(1000))
        );
        // One value is every percentile.
        let f = figures(&[incident("s", &[], Some(42), None)]).to_first_ack;
        assert_eq!(
            (f.mean, f.p50, f.p90, f.p99),
            (Some(42), Some(42), Some(42), Some(42))
        );
    }

    #[test]
    fn a_group_without_acknowledgements_has_no_durations() {
        let f = figures(&[incident("s", &[], None, None)]);
        assert_eq!(f.total, 1);
        assert_eq!(f.to_first_ack, Spread::default());
        assert_eq!(f.to_resolve, Spread::default());
        assert_eq!(figures(&[]), Figures::default());
    }

    #[test]
    fn durations_round_to_whole_seconds_and_never_go_negative() {
        let mut i = incident("s", &[], None, None);
        i.first_acknowledged_at = Some(i.created_at + Duration::milliseconds(1_499));
        i.resolved_at = Some(i.created_at - Duration::seconds(3));
        let f = figures(&[i]);
        assert_eq!(f.to_first_ack.mean, Some(1));
        assert_eq!(f.to_resolve.mean, Some(0));
        let mut i = incident("s", &[], None, None);
        i.first_acknowledged_at = Some(i.created_at + Duration::milliseconds(1_500));
        assert_eq!(figures(&[i]).to_first_ack.p50, Some(2));
    }

    #[test]
    fn groups_by_service_and_by_each_team_of_the_service() {
        let incidents = [
            incident("checkout", &["payments", "web"], Some(60), None),
            incident("checkout", &["payments", "web"], Some(180), Some(600)),
            incident("search", &["web"], None, Some(30)),
            incident("batch", &[], Some(10), None),
        ];
        let services = per_service(&incidents);
        assert_eq!(services.len(), 3);
        let checkout = services[&ServiceId("checkout".into())];
        assert_eq!((checkout.total, checkout.acknowledged), (2, 2));
        assert_eq!(checkout.to_first_ack.mean, Some(120));
        assert_eq!(services[&ServiceId("batch".into())].total, 1);

        let teams = per_team(&incidents);
        assert_eq!(teams.len(), 2, "a service without a team counts for none");
        let web = teams[&TeamId("web".into())];
        assert_eq!((web.total, web.acknowledged, web.resolved), (3, 2, 2));
        assert_eq!(web.to_resolve.mean, Some(315));
        assert_eq!(teams[&TeamId("payments".into())].total, 2);
        let twice = [incident("s", &["a", "a"], None, None)];
        assert_eq!(per_team(&twice)[&TeamId("a".into())].total, 1);
    }

    #[test]
    fn only_the_change_made_at_the_instant_is_committed() {
        let created = t(0, 0);
        let acked = t(2, 30);
        let c = committed(Status::Acknowledged, created, Some(acked), None, acked);
        assert_eq!(c.to_first_ack, Some(150.0));
        assert_eq!(c.to_resolve, None);
        // Resolved later: the first acknowledgement is not this change's.
        let resolved = t(10, 0);
        let c = committed(
            Status::Resolved,
            created,
            Some(acked),
            Some(resolved),
            resolved,
        );
        assert_eq!((c.to_first_ack, c.to_resolve), (None, Some(600.0)));
        // Asked again after it was so: nothing.
        let c = committed(
            Status::Resolved,
            created,
            Some(acked),
            Some(resolved),
            t(11, 0),
        );
        assert_eq!((c.to_first_ack, c.to_resolve), (None, None));
        // Reassigned (triggered again) at the instant of its acknowledgement: not another.
        let c = committed(Status::Triggered, created, Some(acked), None, acked);
        assert_eq!(c.to_first_ack, None);
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_window_defaults_to_the_last_thirty_days() {
        let utc = jiff::tz::TimeZone::UTC;
        let w = window(None, None, &utc, now()).unwrap();
        assert_eq!((w.start, w.end), (now() - Duration::days(30), now()));
        let w = window(None, Some("2026-02-01T00:00:00Z"), &utc, now()).unwrap();
        assert_eq!(w.start, Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap());
        let w = window(Some("2026-02-20T00:00:00+01:00"), None, &utc, now()).unwrap();
        assert_eq!(
            (w.start, w.end),
            (Utc.with_ymd_and_hms(2026, 2, 19, 23, 0, 0).unwrap(), now())
        );
    }

    #[test]
    fn a_time_without_offset_is_in_the_requests_time_zone() {
        let (name, berlin) = time_zone(Some("Europe/Berlin")).unwrap();
        assert_eq!(name, "Europe/Berlin");
        let w = window(
            Some("2026-02-01T00:00:00"),
            Some("2026-02-02"),
            &berlin,
            now(),
        )
        .unwrap();
        assert_eq!(
            w.start,
            Utc.with_ymd_and_hms(2026, 1, 31, 23, 0, 0).unwrap()
        );
        assert_eq!(w.end, Utc.with_ymd_and_hms(2026, 2, 1, 23, 0, 0).unwrap());
        assert_eq!(time_zone(None).unwrap().0, "Etc/UTC");
        assert_eq!(
            time_zone(Some("Mars/Olympus")).unwrap_err().field,
            "time_zone"
        );
    }

    #[test]
    fn a_window_backwards_empty_longer_than_a_year_or_unreadable_is_refused() {
        let utc = jiff::tz::TimeZone::UTC;
        let e = window(
            Some("2026-02-02T00:00:00Z"),
            Some("2026-02-01T00:00:00Z"),
            &utc,
            now(),
        )
        .unwrap_err();
        assert_eq!(e.field, "filters.created_at_end");
        assert!(e.reason.contains("after"), "{e:?}");
        assert!(
            window(
                Some("2026-02-01T00:00:00Z"),
                Some("2026-02-01T00:00:00Z"),
                &utc,
                now()
            )
            .is_err()
        );
        // A calendar year is allowed; a second more is not.
        assert!(
            window(
                Some("2025-01-01T00:00:00Z"),
                Some("2026-01-01T00:00:00Z"),
                &utc,
                now()
            )
            .is_ok()
        );
        let e = window(
            Some("2025-01-01T00:00:00Z"),
            Some("2026-01-01T00:00:01Z"),
            &utc,
            now(),
        )
        .unwrap_err();
        assert!(e.reason.contains("longer than a year"), "{e:?}");
        // From a start over a year ago up to now.
        assert!(window(Some("2024-06-01T00:00:00Z"), None, &utc, now()).is_err());
        let e = window(Some("yesterday"), None, &utc, now()).unwrap_err();
        assert_eq!(e.field, "filters.created_at_start");
    }
}
