//! Seats: who holds which licence, who waits for one, and what changes when people's needs
//! change. All decisions are pure: the store loads the book (caps and use), the people
//! concerned and everyone waiting, calls [`plan()`] (the `plan` module: the policy's decision
//! per person, then [`settle`], audit events, team roles, history and warnings as one list of
//! writes), and applies that plan.
//!
//! The rules:
//! - a cap is never exceeded;
//! - people who need a seat they cannot get wait in one queue, first come first served;
//!   someone waiting for a full seat holds a stakeholder seat meanwhile when one is free, and
//!   someone moving down to a stakeholder seat keeps their full seat until one is free;
//! - a newcomer never jumps the queue: everyone whose need changed joins the queue's end, and
//!   then the queue is served;
//! - after settling, no seat is free while somebody waits for it;
//! - a stakeholder (or someone without a seat) is never a responder: see [`may_be_on_call`].

pub mod plan;

pub use plan::{SeatPlan, plan};

use crate::domain::seat_policy::{IdleRule, Licence};
use chrono::NaiveDateTime;
use std::collections::BTreeMap;

/// One licence's cap and use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// `None`: unlimited.
    pub cap: Option<i64>,
    pub held: i64,
}

impl Pool {
    pub fn free(&self) -> i64 {
        match self.cap {
            None => i64::MAX,
            Some(cap) => (cap - self.held).max(0),
        }
    }
}

/// The peak use of `day`: what its history row records, raised by the peak the licence's
/// counter kept for that day (`licences.day_peak` of `licences.peak_day`). A free seat taken
/// without the licences' lock raises only the counter's peak (one row locked per create, not
/// two); the next settlement holding the lock writes it into the day's row, and readers fold
/// it in meanwhile with this.
pub fn day_peak(recorded: i64, day: &str, counter_day: Option<&str>, counter_peak: i64) -> i64 {
    if counter_day == Some(day) {
        recorded.max(counter_peak)
    } else {
        recorded
    }
}

/// Caps and use of both licences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Book {
    pub full: Pool,
    pub stakeholder: Pool,
}

impl Book {
    pub fn pool(&self, l: Licence) -> &Pool {
        match l {
            Licence::Full => &self.full,
            Licence::Stakeholder => &self.stakeholder,
        }
    }

    fn pool_mut(&mut self, l: Licence) -> &mut Pool {
        match l {
            Licence::Full => &mut self.full,
            Licence::Stakeholder => &mut self.stakeholder,
        }
    }

    fn take(&mut self, l: Licence) {
        self.pool_mut(l).held += 1;
    }

    fn give_back(&mut self, l: Licence) {
        self.pool_mut(l).held -= 1;
    }
}

/// One person's seat: what they hold, and what they wait for (with their place in the queue:
/// `T` orders the queue, e.g. (time queued, user id)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding<T> {
    pub held: Option<Licence>,
    pub wanted: Option<Licence>,
    pub queued_at: Option<T>,
}

impl<T> Default for Holding<T> {
    fn default() -> Self {
        Holding {
            held: None,
            wanted: None,
            queued_at: None,
        }
    }
}

impl<T> Holding<T> {
    /// Is this what `target` asks for, or the queue for it (holding a stakeholder seat
    /// meanwhile, when waiting for a full one)?
    pub fn satisfies(&self, target: Option<Licence>) -> bool {
        match target {
            None => self.held.is_none() && self.wanted.is_none(),
            Some(t) if self.held == Some(t) => self.wanted.is_none(),
            // Waiting, with nothing or the other seat held meanwhile.
            Some(t) => self.wanted == Some(t),
        }
    }
}

/// Brings each person in `targets` to their target licence (`None`: no seat), then serves the
/// queue. `people` holds everyone in `targets` and everyone already waiting; it is updated in
/// place. New queue entries are placed at `queued_at(key)`, which must sort after every
/// earlier entry. Returns the keys whose holding changed, in no particular order.
pub fn settle<K, T>(
    book: &mut Book,
    people: &mut BTreeMap<K, Holding<T>>,
    targets: &[(K, Option<Licence>)],
    queued_at: impl Fn(&K) -> T,
) -> Vec<K>
where
    K: Ord + Clone,
    T: Ord + Clone,
{
    let before: BTreeMap<K, Holding<T>> = targets
        .iter()
        .map(|(k, _)| (k.clone(), people.get(k).cloned().unwrap_or_default()))
        .chain(
            people
                .iter()
                .filter(|(_, h)| h.wanted.is_some())
                .map(|(k, h)| (k.clone(), h.clone())),
        )
        .collect();
    for (key, target) in targets {
        let h = people.entry(key.clone()).or_default();
        if h.satisfies(*target) {
            continue;
        }
        match (h.held, *target) {
            (Some(held), Some(t)) if held == t => {
                h.wanted = None;
                h.queued_at = None;
                continue;
            }
            // Keep the seat held while waiting for the other one: nobody is left without.
            (Some(_), Some(_)) => {}
            (Some(held), None) => {
                book.give_back(held);
                h.held = None;
            }
            (None, _) => {}
        }
        h.wanted = *target;
        h.queued_at = target.map(|_| queued_at(key));
    }
    serve(book, people);
    before
        .into_iter()
        .filter(|(k, h)| people.get(k) != Some(h))
        .map(|(k, _)| k)
        .collect()
}

/// Gives free seats to the people waiting, in queue order: full seats to those waiting for
/// one (whose stakeholder seat goes back), then stakeholder seats to those waiting for one
/// (whose full seat goes back) and to those waiting for a full seat with no seat at all;
/// again until nothing changes, as each kind of hand-over can free a seat of the other kind.
fn serve<K: Ord + Clone, T: Ord + Clone>(book: &mut Book, people: &mut BTreeMap<K, Holding<T>>) {
    let mut queue: Vec<(T, K)> = people
        .iter()
        .filter_map(|(k, h)| h.wanted.and(h.queued_at.clone()).map(|t| (t, k.clone())))
        .collect();
    queue.sort();
    loop {
        let mut changed = false;
        for (_, key) in &queue {
            if book.full.free() == 0 {
                break;
            }
            let h = people.get_mut(key).expect("queued people are loaded");
            if h.wanted == Some(Licence::Full) {
                if let Some(held) = h.held {
                    book.give_back(held);
                }
                book.take(Licence::Full);
                h.held = Some(Licence::Full);
                h.wanted = None;
                h.queued_at = None;
                changed = true;
            }
        }
        for (_, key) in &queue {
            if book.stakeholder.free() == 0 {
                break;
            }
            let h = people.get_mut(key).expect("queued people are loaded");
            match (h.wanted, h.held) {
                (Some(Licence::Stakeholder), held) => {
                    if let Some(held) = held {
                        book.give_back(held);
                    }
                    book.take(Licence::Stakeholder);
                    h.held = Some(Licence::Stakeholder);
                    h.wanted = None;
                    h.queued_at = None;
                    changed = true;
                }
                (Some(Licence::Full), None) => {
                    book.take(Licence::Stakeholder);
                    h.held = Some(Licence::Stakeholder);
                    changed = true;
                }
                _ => {}
            }
        }
        if !changed {
            return;
        }
    }
}

/// What happened to one person's seat, for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatEvent {
    Allocated(Licence),
    Upgraded,
    Downgraded,
    Released(Licence),
    Queued(Licence),
    /// Left the queue without the seat they waited for (their need changed).
    Dequeued(Licence),
}

impl SeatEvent {
    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            SeatEvent::Allocated(_) => "allocate_seat",
            SeatEvent::Upgraded => "upgrade_seat",
            SeatEvent::Downgraded => "downgrade_seat",
            SeatEvent::Released(_) => "release_seat",
            SeatEvent::Queued(_) => "queue_for_seat",
            SeatEvent::Dequeued(_) => "leave_seat_queue",
        }
    }
}

/// The events that take a person from `before` to `after`.
pub fn events<T: PartialEq>(before: &Holding<T>, after: &Holding<T>) -> Vec<SeatEvent> {
    let mut out = Vec::new();
    match (before.held, after.held) {
        (None, Some(l)) => out.push(SeatEvent::Allocated(l)),
        (Some(Licence::Stakeholder), Some(Licence::Full)) => out.push(SeatEvent::Upgraded),
        (Some(Licence::Full), Some(Licence::Stakeholder)) => out.push(SeatEvent::Downgraded),
        (Some(l), None) => out.push(SeatEvent::Released(l)),
        _ => {}
    }
    match (before.wanted, after.wanted) {
        (w, Some(l)) if w != Some(l) || before.queued_at != after.queued_at => {
            out.push(SeatEvent::Queued(l))
        }
        (Some(w), None) if after.held != Some(w) => out.push(SeatEvent::Dequeued(w)),
        _ => {}
    }
    out
}

/// What the cap says about use, for warnings: the highest threshold reached (percent of the
/// cap), and whether it is newly reached since the last warning. Falling below a threshold
/// re-arms it, so each crossing warns once.
pub fn warning(thresholds: &[u8], warned: Option<u8>, pool: &Pool) -> (Option<u8>, Option<u8>) {
    let Some(cap) = pool.cap else {
        return (None, None);
    };
    let reached = thresholds
        .iter()
        .copied()
        .filter(|t| pool.held * 100 >= i64::from(*t) * cap)
        .max();
    let crossed = match (reached, warned) {
        (Some(r), Some(w)) if r <= w => None,
        (r, _) => r,
    };
    (reached, crossed)
}

/// A licence owner's decision for one person, overriding the policy: this seat, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Seat(Licence),
    NoSeat,
}

/// Written as its stored name (`full`, `stakeholder`, `none`).
impl serde::Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Pin {
    pub fn as_str(self) -> &'static str {
        match self {
            Pin::Seat(l) => l.as_str(),
            Pin::NoSeat => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Pin> {
        match s {
            "none" => Some(Pin::NoSeat),
            other => Licence::parse(other).map(Pin::Seat),
        }
    }
}

/// What a person's seat should be, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub licence: Option<Licence>,
    pub reason: String,
}

/// The facts about a person that decide their seat besides the policy's licence.
#[derive(Debug, Clone, Copy)]
pub struct SeatFacts {
    pub active: bool,
    pub pin: Option<Pin>,
    /// An owner is never downgraded for being idle.
    pub owner: bool,
    pub last_sign_in_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Days since the person last signed in (since their account was made, if never).
pub fn idle_days(f: &SeatFacts, now: NaiveDateTime) -> i64 {
    (now - f.last_sign_in_at.unwrap_or(f.created_at)).num_days()
}

/// Is a full seat idle enough to be listed?
pub fn is_idle(rule: &IdleRule, f: &SeatFacts, now: NaiveDateTime) -> bool {
    rule.flag_after_days
        .is_some_and(|d| idle_days(f, now) >= i64::from(d))
}

/// The seat a person should hold: none when deactivated; a licence owner's pin; a stakeholder
/// seat for an idle full seat past the downgrade rule; else what the policy says
/// (`policy_reason` names the rule).
pub fn target(
    f: &SeatFacts,
    policy_licence: Licence,
    policy_reason: &str,
    idle: &IdleRule,
    now: NaiveDateTime,
) -> Target {
    let t = |licence: Option<Licence>, reason: &str| Target {
        licence,
        reason: reason.to_string(),
    };
    if !f.active {
        return t(None, "deactivated");
    }
    match f.pin {
        Some(Pin::Seat(l)) => return t(Some(l), "manual"),
        Some(Pin::NoSeat) => return t(None, "manual"),
        None => {}
    }
    let idle_downgrade = policy_licence == Licence::Full
        && !f.owner
        && idle
            .downgrade_after_days
            .is_some_and(|d| idle_days(f, now) >= i64::from(d));
    if idle_downgrade {
        return t(Some(Licence::Stakeholder), "idle");
    }
    t(Some(policy_licence), policy_reason)
}

/// Why someone cannot be on call or a team responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOnCall {
    Deactivated,
    Stakeholder,
    NoSeat,
}

impl NotOnCall {
    /// Its name in the API (`skipped_entries[].reason`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotOnCall::Deactivated => "deactivated",
            NotOnCall::Stakeholder => "stakeholder_seat",
            NotOnCall::NoSeat => "no_seat",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            NotOnCall::Deactivated => "is deactivated",
            NotOnCall::Stakeholder => {
                "holds a stakeholder seat, which is read-only: stakeholders can only be observers"
            }
            NotOnCall::NoSeat => "holds no seat (waiting for one), so cannot be on call",
        }
    }
}

/// The one rule for "may this person be on call, be paged, be an escalation target or a
/// team responder": active, with a full seat.
pub fn may_be_on_call(active: bool, held: Option<Licence>) -> Result<(), NotOnCall> {
    match (active, held) {
        (false, _) => Err(NotOnCall::Deactivated),
        (true, Some(Licence::Full)) => Ok(()),
        (true, Some(Licence::Stakeholder)) => Err(NotOnCall::Stakeholder),
        (true, None) => Err(NotOnCall::NoSeat),
    }
}

/// The e-mail telling licence owners that a licence reached `percent` of its cap:
/// (subject, body, reason).
pub fn cap_warning(l: Licence, percent: u8, pool: &Pool) -> (String, String, &'static str) {
    let cap = pool.cap.unwrap_or(0);
    let subject = if percent >= 100 {
        format!("Rota: all {cap} {} seats are taken", l.as_str())
    } else {
        format!("Rota: {percent}% of the {} seats are taken", l.as_str())
    };
    let body = format!(
        "{} of {cap} {} ({}) seats are held now ({percent}% of the cap or more).\n\n\
         When none is free, people who need one wait in a queue and get the next seat freed.\n\
         To make room: release idle seats (GET /api/v2/license_allocations?idle=true), move\n\
         people to a stakeholder seat, or raise the cap (PUT /api/v2/licenses/{}) after buying\n\
         more licences.\n",
        pool.held,
        l.as_str(),
        l.title(),
        l.as_str()
    );
    (subject, body, "seat_warning")
}

/// The e-mail telling licence owners that people started waiting for a seat:
/// (subject, body, reason). `queued` is (name, licence waited for).
pub fn queue_notice(queued: &[(String, Licence)], book: &Book) -> (String, String, &'static str) {
    let subject = match queued {
        [(name, l)] => format!("Rota: {name} is waiting for a {} seat", l.as_str()),
        _ => format!("Rota: {} people are waiting for a seat", queued.len()),
    };
    let mut body =
        String::from("These people need a seat that is not free, and wait in the queue:\n\n");
    for (name, l) in queued.iter().take(50) {
        body.push_str(&format!("- {name}: {} seat\n", l.as_str()));
    }
    if queued.len() > 50 {
        body.push_str(&format!("- and {} more\n", queued.len() - 50));
    }
    let cap = |p: &Pool| p.cap.map_or("unlimited".to_string(), |c| c.to_string());
    body.push_str(&format!(
        "\nFull seats: {} held of {}. Stakeholder seats: {} held of {}.\n\
         See the queue at GET /api/v2/license_queue; free a seat or raise a cap to serve it.\n",
        book.full.held,
        cap(&book.full),
        book.stakeholder.held,
        cap(&book.stakeholder)
    ));
    (subject, body, "seat_queue")
}

super::shown_by_name!(Pin);

#[cfg(test)]
mod tests {
    use super::*;
    use Licence::{Full, Stakeholder};

    fn book(full: Option<i64>, st: Option<i64>) -> Book {
        Book {
            full: Pool { cap: full, held: 0 },
            stakeholder: Pool { cap: st, held: 0 },
        }
    }

    fn run(
        b: &mut Book,
        people: &mut BTreeMap<u32, Holding<(u32, u32)>>,
        clock: u32,
        targets: &[(u32, Option<Licence>)],
    ) -> Vec<u32> {
        settle(b, people, targets, |k| (clock, *k))
    }

    #[test]
    fn at_the_cap_people_queue_and_a_freed_seat_goes_to_the_first() {
        let mut b = book(Some(1), Some(0));
        let mut p = BTreeMap::new();
        run(&mut b, &mut p, 1, &[(1, Some(Full))]);
        run(&mut b, &mut p, 2, &[(2, Some(Full))]);
        run(&mut b, &mut p, 3, &[(3, Some(Full))]);
        assert_eq!(p[&1].held, Some(Full));
        assert_eq!((p[&2].held, p[&2].wanted), (None, Some(Full)));
        let changed = run(&mut b, &mut p, 4, &[(1, None)]);
        assert_eq!(p[&2].held, Some(Full));
        assert_eq!(p[&3].wanted, Some(Full));
        assert_eq!(changed, vec![1, 2]);
        assert_eq!(b.full.held, 1);
    }

    #[test]
    fn a_full_request_falls_back_to_a_stakeholder_seat_and_upgrades_later() {
        let mut b = book(Some(1), Some(5));
        let mut p = BTreeMap::new();
        run(&mut b, &mut p, 1, &[(1, Some(Full)), (2, Some(Full))]);
        assert_eq!((p[&2].held, p[&2].wanted), (Some(Stakeholder), Some(Full)));
        assert_eq!(b.stakeholder.held, 1);
        run(&mut b, &mut p, 2, &[(1, Some(Stakeholder))]);
        assert_eq!(p[&1].held, Some(Stakeholder));
        assert_eq!((p[&2].held, p[&2].wanted), (Some(Full), None));
        assert_eq!((b.full.held, b.stakeholder.held), (1, 1));
    }

    #[test]
    fn moving_down_keeps_the_full_seat_until_a_stakeholder_seat_is_free() {
        let mut b = book(Some(2), Some(1));
        let mut p = BTreeMap::new();
        run(
            &mut b,
            &mut p,
            1,
            &[(1, Some(Stakeholder)), (2, Some(Full)), (3, Some(Full))],
        );
        run(&mut b, &mut p, 2, &[(3, Some(Stakeholder))]);
        assert_eq!((p[&3].held, p[&3].wanted), (Some(Full), Some(Stakeholder)));
        // The stakeholder seat frees up: 3 takes it and their full seat goes back.
        run(&mut b, &mut p, 3, &[(1, None)]);
        assert_eq!((p[&3].held, p[&3].wanted), (Some(Stakeholder), None));
        assert_eq!((b.full.held, b.stakeholder.held), (1, 1));
    }

    #[test]
    fn settling_twice_changes_nothing() {
        let mut b = book(Some(2), Some(1));
        let mut p = BTreeMap::new();
        let targets: Vec<(u32, Option<Licence>)> = (0..6)
            .map(|i| (i, Some(if i % 2 == 0 { Full } else { Stakeholder })))
            .collect();
        run(&mut b, &mut p, 1, &targets);
        let again = run(&mut b, &mut p, 2, &targets);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn events_describe_the_change() {
        let h = |held, wanted, q| Holding {
            held,
            wanted,
            queued_at: q,
        };
        assert_eq!(
            events(
                &h(None, None, None),
                &h(Some(Stakeholder), Some(Full), Some(1))
            ),
            vec![SeatEvent::Allocated(Stakeholder), SeatEvent::Queued(Full)]
        );
        assert_eq!(
            events(
                &h(Some(Stakeholder), Some(Full), Some(1)),
                &h(Some(Full), None, None)
            ),
            vec![SeatEvent::Upgraded]
        );
        assert_eq!(
            events(&h(None, Some(Full), Some(1)), &h(None, None, None)),
            vec![SeatEvent::Dequeued(Full)]
        );
    }

    #[test]
    fn warnings_fire_once_per_crossing() {
        let t = [80, 90, 100];
        let pool = |held| Pool {
            cap: Some(10),
            held,
        };
        assert_eq!(warning(&t, None, &pool(7)), (None, None));
        assert_eq!(warning(&t, None, &pool(8)), (Some(80), Some(80)));
        assert_eq!(warning(&t, Some(80), &pool(8)), (Some(80), None));
        assert_eq!(warning(&t, Some(80), &pool(10)), (Some(100), Some(100)));
        assert_eq!(warning(&t, Some(100), &pool(9)), (Some(90), None));
        assert_eq!(warning(&t, Some(90), &pool(10)), (Some(100), Some(100)));
        let unlimited = Pool {
            cap: None,
            held: 99,
        };
        assert_eq!(warning(&t, None, &unlimited), (None, None));
    }

    #[test]
    fn targets_follow_pins_idleness_and_activity() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let f = SeatFacts {
            active: true,
            pin: None,
            owner: false,
            last_sign_in_at: Some(now - chrono::Duration::days(100)),
            created_at: now - chrono::Duration::days(400),
        };
        let idle = IdleRule {
            flag_after_days: Some(30),
            downgrade_after_days: Some(90),
        };
        assert_eq!(target(&f, Full, "default", &idle, now).reason, "idle");
        assert!(is_idle(&idle, &f, now));
        let owner = SeatFacts { owner: true, ..f };
        assert_eq!(
            target(&owner, Full, "default", &idle, now).licence,
            Some(Full)
        );
        let pinned = SeatFacts {
            pin: Some(Pin::NoSeat),
            ..f
        };
        assert_eq!(target(&pinned, Full, "default", &idle, now).licence, None);
        let gone = SeatFacts { active: false, ..f };
        assert_eq!(target(&gone, Full, "x", &idle, now).reason, "deactivated");
        assert_eq!(
            may_be_on_call(true, Some(Stakeholder)),
            Err(NotOnCall::Stakeholder)
        );
        assert_eq!(may_be_on_call(true, Some(Full)), Ok(()));
    }
}
