//! The schedule engine: who is on call when, as one pure calculation over a schedule's
//! layers and overrides (PagerDuty's layer-based schedules; GoAlert's rotation rules for
//! time zones). No I/O and no clock: callers pass the window.
//!
//! - A layer's turns are counted in the schedule's wall-clock time: turn `k` runs from
//!   `V + k·T` to `V + (k+1)·T`, local, where `V` is `rotation_virtual_start` read as local
//!   time and `T` the turn length, and belongs to `users[k mod n]`. So a weekly hand-off on
//!   Monday at 09:00 stays at 09:00 across daylight saving changes. Local times become
//!   instants by the rule of [`local_time`].
//! - Restrictions are local wall-clock windows (daily, or weekly from a day of the week);
//!   a turn covers only the parts of its time inside them. Turns still advance by the clock.
//! - The final schedule: overrides beat every layer (of overlapping overrides, the one
//!   created last); then the last layer of the list with coverage; entries of one person
//!   that touch merge; what nobody covers is a gap.
//!
//! Every instant is a `jiff::Timestamp`; windows are half-open, `[start, end)`.

pub mod edit;
pub mod input;
pub mod local_time;
pub mod pieces;

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// A wall-clock window in which a layer covers. Stored and answered in PagerDuty's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "input::RestrictionInput", into = "input::RestrictionInput")]
pub enum Restriction {
    /// Every day from `start` for `duration` (at most a day).
    Daily {
        start: Time,
        duration: SignedDuration,
    },
    /// Every week from `day` at `start` for `duration` (at most a week).
    Weekly {
        day: Weekday,
        start: Time,
        duration: SignedDuration,
    },
}

impl Restriction {
    /// How far before a local time a window covering it may start.
    fn reach(&self) -> SignedDuration {
        match self {
            Restriction::Daily { .. } => SignedDuration::from_hours(24),
            Restriction::Weekly { .. } => SignedDuration::from_hours(24 * 7),
        }
    }

    fn duration(&self) -> SignedDuration {
        match *self {
            Restriction::Daily { duration, .. } | Restriction::Weekly { duration, .. } => duration,
        }
    }

    /// The local starts of this restriction's windows from day `from` to day `to`.
    fn local_starts(&self, from: jiff::civil::Date, to: jiff::civil::Date) -> Vec<DateTime> {
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            match *self {
                Restriction::Daily { start, .. } => out.push(day.to_datetime(start)),
                Restriction::Weekly { day: wd, start, .. } if day.weekday() == wd => {
                    out.push(day.to_datetime(start))
                }
                Restriction::Weekly { .. } => {}
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        out
    }
}

/// A schedule's time zone: an IANA zone, kept with the name it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl serde::Serialize for WallClock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl Zone {
    /// A known IANA zone by name (`input::time_zone` for a caller's value, with its error).
    pub fn parse(name: &str) -> Option<Zone> {
        input::time_zone("time_zone", name).ok().map(|tz| Zone {
            name: name.to_owned(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

/// A time on the schedule's wall clock, without a zone (`rotation_virtual_start`), stored
/// as `2026-01-05T09:00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock(pub DateTime);

impl WallClock {
    pub fn parse(text: &str) -> Option<WallClock> {
        text.parse().ok().map(WallClock)
    }

    pub fn text(&self) -> String {
        self.0.to_string()
    }
}

/// One layer of a schedule (one version of it: an edit ends a version and starts another).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer<U> {
    /// When the layer starts to count, and stops (`None`: never).
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    /// `V`: the local time turn 0 starts (may be before `start`).
    pub rotation_virtual_start: DateTime,
    /// `T`, in wall-clock time; positive.
    pub turn_length: SignedDuration,
    /// In rotation order; not empty.
    pub users: Vec<U>,
    /// None: the layer covers all the time.
    pub restrictions: Vec<Restriction>,
}

/// One version of a layer is a layer's whole history when it was never edited.
impl<U> AsRef<[Layer<U>]> for Layer<U> {
    fn as_ref(&self) -> &[Layer<U>] {
        std::slice::from_ref(self)
    }
}

/// A layer edited at `at`: the past never changes. The version in force ends at `at` and
/// the edited one starts there (or at its own later start), so neither can reach back
/// before `at`; a version that had not started yet is simply replaced. Returns the versions
/// to keep in its place, in time order (none if the edit ends before it starts).
pub fn edit_layer<U: Clone>(current: &Layer<U>, edited: Layer<U>, at: Timestamp) -> Vec<Layer<U>> {
    let mut next = edited;
    next.start = next.start.max(at);
    let next = next.end.is_none_or(|end| end > next.start).then_some(next);
    if current.start >= at {
        return next.into_iter().collect();
    }
    let mut ended = current.clone();
    ended.end = Some(current.end.map_or(at, |e| e.min(at)));
    std::iter::once(ended).chain(next).collect()
}

/// A span of time one person is on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<U> {
    pub user: U,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A person put on call for a span, over every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override<U> {
    pub user: U,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A span in which nobody is on call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// A schedule rendered for a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered<U> {
    /// Each layer's entries, in the layers' order.
    pub layers: Vec<Vec<Entry<U>>>,
    /// The overrides in the window (clipped), in creation order.
    pub overrides: Vec<Entry<U>>,
    /// Who is on call, in time order; entries and gaps tile the window.
    pub final_schedule: Vec<Entry<U>>,
    pub gaps: Vec<Gap>,
}

/// The share of `[since, until)` the entries cover, in percent (entries do not overlap).
pub fn coverage_percent<U>(entries: &[Entry<U>], since: Timestamp, until: Timestamp) -> f64 {
    let window = until.duration_since(since).as_secs_f64();
    if window <= 0.0 {
        return 0.0;
    }
    let covered: f64 = entries
        .iter()
        .map(|e| e.end.duration_since(e.start).as_secs_f64())
        .sum();
    (covered / window * 100.0).clamp(0.0, 100.0)
}

/// The turns of `layer` that meet `[since, until)`, clipped to it and to the layer's life,
/// without restrictions: (turn number, start, end).
fn turns<U>(
    layer: &Layer<U>,
    tz: &TimeZone,
    since: Timestamp,
    until: Timestamp,
) -> Vec<(i64, Timestamp, Timestamp)> {
    let from = since.max(layer.start);
    let to = layer.end.map_or(until, |e| e.min(until));
    let t = layer.turn_length.as_secs();
    if from >= to || t <= 0 || layer.users.is_empty() {
        return Vec::new();
    }
    let v = layer.rotation_virtual_start;
    let local = |k: i64| -> Option<DateTime> {
        let offset = k.checked_mul(t)?;
        v.checked_add(SignedDuration::from_secs(offset)).ok()
    };
    // The turn the window's first local time falls in; one earlier in case a fold put the
    // instant before that turn's start.
    let elapsed = tz.to_datetime(from).duration_since(v).as_secs();
    let mut k = elapsed.div_euclid(t) - 1;
    let mut out = Vec::new();
    let Some(first) = local(k) else {
        return out;
    };
    let mut start = local_time::start(tz, first);
    while start < to {
        let Some(end_local) = local(k + 1) else { break };
        let end = local_time::start(tz, end_local);
        let (s, e) = (start.max(from), end.min(to));
        if s < e {
            out.push((k, s, e));
        }
        k += 1;
        start = end;
    }
    out
}

/// The windows of `restrictions` that meet `[since, until)`, merged and in order.
fn restriction_windows(
    restrictions: &[Restriction],
    tz: &TimeZone,
    since: Timestamp,
    until: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    let mut windows = Vec::new();
    for r in restrictions {
        let first = tz
            .to_datetime(since)
            .checked_sub(r.reach())
            .unwrap_or(DateTime::MIN)
            .date();
        let last = tz.to_datetime(until).date();
        for local in r.local_starts(first, last) {
            let Ok(local_end) = local.checked_add(r.duration()) else {
                continue;
            };
            let (s, e) = (local_time::start(tz, local), local_time::end(tz, local_end));
            let (s, e) = (s.max(since), e.min(until));
            if s < e {
                windows.push((s, e));
            }
        }
    }
    windows.sort();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(windows.len());
    for (s, e) in windows {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// One layer's entries in `[since, until)`: its turns, within its restrictions.
pub fn render_layer<U: Clone>(
    layer: &Layer<U>,
    tz: &TimeZone,
    since: Timestamp,
    until: Timestamp,
) -> Vec<Entry<U>> {
    let n = layer.users.len() as i64;
    let turns = turns(layer, tz, since, until);
    let user = |k: i64| layer.users[k.rem_euclid(n) as usize].clone();
    if layer.restrictions.is_empty() {
        return turns
            .into_iter()
            .map(|(k, start, end)| Entry {
                user: user(k),
                start,
                end,
            })
            .collect();
    }
    let windows = restriction_windows(&layer.restrictions, tz, since, until);
    let mut out = Vec::new();
    let mut w = 0;
    for (k, start, end) in turns {
        while w < windows.len() && windows[w].1 <= start {
            w += 1;
        }
        let mut i = w;
        while i < windows.len() && windows[i].0 < end {
            let (s, e) = (windows[i].0.max(start), windows[i].1.min(end));
            if s < e {
                out.push(Entry {
                    user: user(k),
                    start: s,
                    end: e,
                });
            }
            i += 1;
        }
    }
    out
}

/// Renders a schedule for `[since, until)`: each layer (the last has the highest
/// precedence), the overrides (in creation order: the last created wins), the final
/// schedule and its gaps. A layer is its versions in time order (`edit_layer`), or one
/// `Layer`.
pub fn render<U: Clone + PartialEq, L: AsRef<[Layer<U>]>>(
    layers: &[L],
    overrides: &[Override<U>],
    tz: &TimeZone,
    since: Timestamp,
    until: Timestamp,
) -> Rendered<U> {
    render_skipping(layers, overrides, tz, since, until, |_| None::<()>).0
}

/// A span someone would have been on call but is not, and why (`render_skipping`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped<U, R> {
    pub entry: Entry<U>,
    pub reason: R,
}

/// `render`, leaving out of the final schedule everyone `skip` gives a reason for (a person
/// who lost their full seat or was deactivated): where they would have been on call, the
/// next layer down (or a gap) shows, and the spans they would have had are returned with
/// the reason. Layers and overrides are rendered as written (rotation order is kept).
pub fn render_skipping<U: Clone + PartialEq, L: AsRef<[Layer<U>]>, R>(
    layers: &[L],
    overrides: &[Override<U>],
    tz: &TimeZone,
    since: Timestamp,
    until: Timestamp,
    skip: impl Fn(&U) -> Option<R>,
) -> (Rendered<U>, Vec<Skipped<U, R>>) {
    let rendered: Vec<Vec<Entry<U>>> = layers
        .iter()
        .map(|versions| {
            // Versions do not overlap: their entries, one after another, stay in order.
            versions
                .as_ref()
                .iter()
                .flat_map(|v| render_layer(v, tz, since, until))
                .collect()
        })
        .collect();
    let clipped: Vec<Entry<U>> = overrides
        .iter()
        .filter_map(|o| {
            let (s, e) = (o.start.max(since), o.end.min(until));
            (s < e).then(|| Entry {
                user: o.user.clone(),
                start: s,
                end: e,
            })
        })
        .collect();
    let (final_schedule, gaps) = compose(&rendered, &clipped, since, until);
    let mut skipped = Vec::new();
    for e in &final_schedule {
        if let Some(reason) = skip(&e.user) {
            skipped.push(Skipped {
                entry: e.clone(),
                reason,
            });
        }
    }
    if skipped.is_empty() {
        let out = Rendered {
            layers: rendered,
            overrides: clipped,
            final_schedule,
            gaps,
        };
        return (out, skipped);
    }
    let keep = |entries: &[Entry<U>]| -> Vec<Entry<U>> {
        entries
            .iter()
            .filter(|e| !skipped.iter().any(|s| s.entry.user == e.user))
            .cloned()
            .collect()
    };
    let eligible: Vec<Vec<Entry<U>>> = rendered.iter().map(|l| keep(l)).collect();
    let (final_schedule, gaps) = compose(&eligible, &keep(&clipped), since, until);
    let out = Rendered {
        layers: rendered,
        overrides: clipped,
        final_schedule,
        gaps,
    };
    (out, skipped)
}

/// The final schedule from rendered layers and overrides: a sweep over every boundary.
fn compose<U: Clone + PartialEq>(
    layers: &[Vec<Entry<U>>],
    overrides: &[Entry<U>],
    since: Timestamp,
    until: Timestamp,
) -> (Vec<Entry<U>>, Vec<Gap>) {
    let mut points: Vec<Timestamp> = vec![since, until];
    for e in layers.iter().flatten().chain(overrides) {
        points.push(e.start);
        points.push(e.end);
    }
    points.sort();
    points.dedup();
    // One cursor per layer: its entries are in order and do not overlap.
    let mut cursors = vec![0usize; layers.len()];
    let mut entries: Vec<Entry<U>> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    for pair in points.windows(2) {
        let (s, e) = (pair[0], pair[1]);
        if s < since || e > until {
            continue;
        }
        let by_override = overrides
            .iter()
            .rev()
            .find(|o| o.start <= s && e <= o.end)
            .map(|o| &o.user);
        let mut by_layer = None;
        for (i, layer) in layers.iter().enumerate() {
            let c = &mut cursors[i];
            while *c < layer.len() && layer[*c].end <= s {
                *c += 1;
            }
            if *c < layer.len() && layer[*c].start <= s {
                // The last layer covering wins.
                by_layer = Some(&layer[*c].user);
            }
        }
        match by_override.or(by_layer) {
            Some(user) => match entries.last_mut() {
                Some(last) if last.end == s && &last.user == user => last.end = e,
                _ => entries.push(Entry {
                    user: user.clone(),
                    start: s,
                    end: e,
                }),
            },
            None => match gaps.last_mut() {
                Some(last) if last.end == s => last.end = e,
                _ => gaps.push(Gap { start: s, end: e }),
            },
        }
    }
    (entries, gaps)
}
