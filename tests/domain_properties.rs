//! Property tests for the pure core: invariants that must hold for any input.

use proptest::prelude::*;
use rota::domain::audit::{Cursor, changed_fields};
use rota::domain::paging::PageRequest;
use rota::domain::retry;
use rota::domain::token::{CredentialError, secret_from_header};
use serde_json::{Map, Value};

fn flat_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        "[a-e]",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,3}".prop_map(Value::from),
            Just(Value::Null)
        ],
        0..5,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

proptest! {
    #[test]
    fn header_parsing_never_panics_and_only_returns_part_of_the_header(header in ".{0,80}") {
        match secret_from_header(Some(&header)) {
            Ok(secret) => {
                prop_assert!(header.contains(secret));
                prop_assert!(!secret.is_empty() && secret.bytes().all(|b| b.is_ascii_graphic()));
            }
            Err(CredentialError::Missing) => prop_assert!(header.trim().is_empty()),
            Err(CredentialError::Malformed) => {}
        }
    }

    #[test]
    fn any_well_formed_secret_is_read_back_from_both_header_styles(secret in "[A-Za-z0-9_]{1,100}") {
        let token_header = format!("Token token={secret}");
        let bearer_header = format!("Bearer {secret}");
        prop_assert_eq!(secret_from_header(Some(&token_header)), Ok(secret.as_str()));
        prop_assert_eq!(secret_from_header(Some(&bearer_header)), Ok(secret.as_str()));
    }

    #[test]
    fn a_record_compared_with_itself_has_no_changes(v in flat_object()) {
        prop_assert!(changed_fields(Some(&v), Some(&v)).is_empty());
    }

    #[test]
    fn changes_are_the_same_fields_in_either_direction(a in flat_object(), b in flat_object()) {
        let forward: Vec<_> = changed_fields(Some(&a), Some(&b)).into_iter().map(|c| c.name).collect();
        let backward: Vec<_> = changed_fields(Some(&b), Some(&a)).into_iter().map(|c| c.name).collect();
        prop_assert_eq!(forward, backward);
        for change in changed_fields(Some(&a), Some(&b)) {
            prop_assert_eq!(b.get(&change.name).cloned().unwrap_or(Value::Null), change.value);
        }
    }

    #[test]
    fn cursors_round_trip_and_decoding_never_panics(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999, id in "[0-9a-f-]{1,40}", garbage in ".{0,40}") {
        let cursor = Cursor { micros, id };
        prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let _ = Cursor::decode(&garbage);
    }

    #[test]
    fn a_page_never_holds_more_than_its_limit(offset in 0i64..1000, limit in 1i64..500, rows in 0usize..300) {
        let page = PageRequest::new(Some(offset), Some(limit), false).unwrap();
        prop_assert!(page.limit <= 100);
        let (kept, more) = page.finish((0..rows).collect::<Vec<_>>());
        prop_assert!(kept.len() as i64 <= page.limit);
        prop_assert_eq!(more, rows as i64 > page.limit);
    }

    #[test]
    fn retry_delays_never_shrink_and_stay_between_thirty_seconds_and_an_hour(attempts in -5i32..1_000) {
        let delay = retry::delay_after(attempts);
        prop_assert!(delay >= chrono::Duration::seconds(30) && delay <= chrono::Duration::hours(1));
        prop_assert!(retry::delay_after(attempts + 1) >= delay);
        prop_assert_eq!(retry::next_attempt(attempts, chrono::DateTime::UNIX_EPOCH).is_none(), attempts >= retry::MAX_ATTEMPTS);
    }
}

// Seats: the pure engine in `rota::domain::seats`, driven by random sequences of need and cap
// changes over a handful of people, the way the store drives it.

use rota::domain::seat_policy::Licence;
use rota::domain::seats::{Book, Holding, Pool, events, settle, warning};
use std::collections::{BTreeMap, BTreeSet};

/// Everyone's queue key is (clock tick, person), so newer entries sort after older ones.
type QueueKey = (u32, u32);
type People = BTreeMap<u32, Holding<QueueKey>>;

const PEOPLE: u32 = 8;

#[derive(Debug, Clone)]
enum SeatStep {
    /// New targets for a few distinct people, settled in one call.
    Targets(Vec<(u32, Option<Licence>)>),
    /// New caps (outer `None`: unchanged, `Some(None)`: unlimited), then the queue is served.
    /// A cap below what is held is refused by callers, so it is raised to `held`.
    Caps {
        full: Option<Option<i64>>,
        stakeholder: Option<Option<i64>>,
    },
}

#[derive(Debug, Clone)]
struct SeatScenario {
    full_cap: Option<i64>,
    stakeholder_cap: Option<i64>,
    steps: Vec<SeatStep>,
}

fn target_licence() -> impl Strategy<Value = Option<Licence>> {
    prop_oneof![
        Just(None),
        Just(Some(Licence::Full)),
        Just(Some(Licence::Stakeholder))
    ]
}

fn initial_cap() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![1 => Just(None), 4 => (0i64..4).prop_map(Some)]
}

fn cap_change() -> impl Strategy<Value = Option<Option<i64>>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(None)),
        4 => (0i64..6).prop_map(|c| Some(Some(c))),
    ]
}

fn seat_step() -> impl Strategy<Value = SeatStep> {
    prop_oneof![
        4 => prop::collection::vec((0..PEOPLE, target_licence()), 1..4).prop_map(|mut ts| {
            // One target per person and call; the first one given wins.
            let mut seen = BTreeSet::new();
            ts.retain(|(k, _)| seen.insert(*k));
            SeatStep::Targets(ts)
        }),
        1 => (cap_change(), cap_change())
            .prop_map(|(full, stakeholder)| SeatStep::Caps { full, stakeholder }),
    ]
}

fn seat_scenario() -> impl Strategy<Value = SeatScenario> {
    (
        initial_cap(),
        initial_cap(),
        prop::collection::vec(seat_step(), 0..40),
    )
        .prop_map(|(full_cap, stakeholder_cap, steps)| SeatScenario {
            full_cap,
            stakeholder_cap,
            steps,
        })
}

/// One `settle` call and what surrounded it.
struct Settled<'a> {
    tick: u32,
    book_before: &'a Book,
    people_before: &'a People,
    /// Everyone's target before the call (absent: never targeted, so no seat).
    model_before: &'a BTreeMap<u32, Option<Licence>>,
    targets: &'a [(u32, Option<Licence>)],
    book: &'a Book,
    people: &'a People,
    model: &'a BTreeMap<u32, Option<Licence>>,
    changed: &'a [u32],
}

fn apply_cap(pool: &mut Pool, change: Option<Option<i64>>) {
    match change {
        None => {}
        Some(None) => pool.cap = None,
        Some(Some(cap)) => pool.cap = Some(cap.max(pool.held)),
    }
}

/// Plays the scenario through `settle`, calling `check` after every call.
fn play_seats(
    scenario: &SeatScenario,
    mut check: impl FnMut(&Settled<'_>) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let mut book = Book {
        full: Pool {
            cap: scenario.full_cap,
            held: 0,
        },
        stakeholder: Pool {
            cap: scenario.stakeholder_cap,
            held: 0,
        },
    };
    let mut people = People::new();
    let mut model: BTreeMap<u32, Option<Licence>> = BTreeMap::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let tick = 2 * i as u32 + 1;
        let targets: Vec<(u32, Option<Licence>)> = match step {
            SeatStep::Targets(ts) => ts.clone(),
            SeatStep::Caps { full, stakeholder } => {
                apply_cap(&mut book.full, *full);
                apply_cap(&mut book.stakeholder, *stakeholder);
                Vec::new()
            }
        };
        let book_before = book;
        let people_before = people.clone();
        let model_before = model.clone();
        let changed = settle(&mut book, &mut people, &targets, |k| (tick, *k));
        model.extend(targets.iter().copied());
        check(&Settled {
            tick,
            book_before: &book_before,
            people_before: &people_before,
            model_before: &model_before,
            targets: &targets,
            book: &book,
            people: &people,
            model: &model,
            changed: &changed,
        })?;
    }
    Ok(())
}

fn holding_of(people: &People, k: u32) -> Holding<QueueKey> {
    people.get(&k).cloned().unwrap_or_default()
}

/// Everyone who appears before or after the call, or in its targets.
fn everyone(s: &Settled<'_>) -> BTreeSet<u32> {
    s.people_before
        .keys()
        .chain(s.people.keys())
        .chain(s.targets.iter().map(|(k, _)| k))
        .copied()
        .collect()
}

fn target_in_call(s: &Settled<'_>, k: u32) -> Option<Option<Licence>> {
    s.targets.iter().find(|(t, _)| *t == k).map(|(_, l)| *l)
}

/// A holding the engine can produce: a seat, a place in the queue, or a stakeholder seat
/// while waiting for a full one; with a queue key exactly when waiting.
fn valid_holding() -> impl Strategy<Value = Holding<u8>> {
    use Licence::{Full, Stakeholder};
    prop_oneof![
        Just((None, None)),
        Just((Some(Full), None)),
        Just((Some(Stakeholder), None)),
        Just((None, Some(Full))),
        Just((None, Some(Stakeholder))),
        Just((Some(Stakeholder), Some(Full))),
    ]
    .prop_flat_map(|(held, wanted)| {
        (0u8..3).prop_map(move |q| Holding {
            held,
            wanted,
            queued_at: wanted.map(|_| q),
        })
    })
}

fn thresholds() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::btree_set(1u8..=100, 0..4).prop_map(|s| s.into_iter().collect())
}

proptest! {
    #[test]
    fn seats_no_cap_is_ever_exceeded_and_held_counts_the_holders_under_any_event_sequence(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            for l in Licence::ALL {
                let pool = s.book.pool(l);
                if let Some(cap) = pool.cap {
                    prop_assert!(pool.held <= cap, "{l:?} held {} over cap {cap}", pool.held);
                }
                let holders = s.people.values().filter(|h| h.held == Some(l)).count() as i64;
                prop_assert_eq!(pool.held, holders, "{:?} held count", l);
            }
            Ok(())
        })?;
    }

    #[test]
    fn seats_everyone_holds_their_target_or_waits_for_it_after_every_settle(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            for (k, target) in s.model {
                let h = holding_of(s.people, *k);
                prop_assert!(h.satisfies(*target), "person {k}: {h:?} for target {target:?}");
                prop_assert_eq!(h.wanted.is_some(), h.queued_at.is_some(), "person {}: {:?}", k, h);
            }
            for (k, h) in s.people {
                prop_assert!(s.model.contains_key(k), "person {k} was never targeted: {h:?}");
            }
            Ok(())
        })?;
    }

    #[test]
    fn seats_no_seat_stays_free_while_someone_eligible_waits(scenario in seat_scenario()) {
        play_seats(&scenario, |s| {
            if s.book.full.free() > 0 {
                let waiting: Vec<_> = s.people.iter()
                    .filter(|(_, h)| h.wanted == Some(Licence::Full)).collect();
                prop_assert!(waiting.is_empty(), "a full seat is free but {waiting:?} wait");
            }
            if s.book.stakeholder.free() > 0 {
                let waiting: Vec<_> = s.people.iter()
                    .filter(|(_, h)| {
                        h.wanted == Some(Licence::Stakeholder)
                            || (h.wanted == Some(Licence::Full) && h.held.is_none())
                    })
                    .collect();
                prop_assert!(waiting.is_empty(), "a stakeholder seat is free but {waiting:?} wait");
            }
            Ok(())
        })?;
    }

    #[test]
    fn seats_the_queue_is_served_first_come_first_served(scenario in seat_scenario()) {
        play_seats(&scenario, |s| {
            let before = |k: u32| holding_of(s.people_before, k);
            let after = |k: u32| holding_of(s.people, k);
            let moved_on = |k: u32, l: Licence| target_in_call(s, k).is_some_and(|t| t != Some(l));
            for l in Licence::ALL {
                // Whoever waited for `l` and got it: everyone ahead of them got it too, unless
                // their own need changed in this call.
                let waiting: Vec<u32> = s.people_before.iter()
                    .filter(|(_, h)| h.wanted == Some(l))
                    .map(|(k, _)| *k)
                    .collect();
                for &b in &waiting {
                    if after(b).held != Some(l) || before(b).held == Some(l) {
                        continue;
                    }
                    for &a in &waiting {
                        if before(a).queued_at < before(b).queued_at {
                            prop_assert!(
                                after(a).held == Some(l) || moved_on(a, l),
                                "{b} ({:?}) got {l:?} ahead of {a} ({:?}, now {:?})",
                                before(b), before(a), after(a)
                            );
                        }
                    }
                }
            }
            // Stakeholder seats go to those waiting for one and to those waiting for a full
            // seat without any seat, in one queue: whoever of them got one, everyone ahead of
            // them got some seat.
            let eligible = |h: &Holding<QueueKey>| {
                h.wanted == Some(Licence::Stakeholder)
                    || (h.wanted == Some(Licence::Full) && h.held.is_none())
            };
            let waiting: Vec<u32> = s.people_before.iter()
                .filter(|(_, h)| eligible(h))
                .map(|(k, _)| *k)
                .collect();
            for &b in &waiting {
                if after(b).held != Some(Licence::Stakeholder) {
                    continue;
                }
                for &a in &waiting {
                    let own_need = before(a).wanted.expect("waiting");
                    if before(a).queued_at < before(b).queued_at {
                        prop_assert!(
                            after(a).held.is_some() || moved_on(a, own_need),
                            "{b} ({:?}) got a stakeholder seat ahead of {a} ({:?}, now {:?})",
                            before(b), before(a), after(a)
                        );
                    }
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn seats_a_changed_need_joins_the_end_of_the_queue_and_an_unchanged_one_keeps_its_place(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            let last_before = s.people_before.values().filter_map(|h| h.queued_at).max();
            for k in everyone(s) {
                let (before, after) = (holding_of(s.people_before, k), holding_of(s.people, k));
                let Some(place) = after.queued_at else { continue };
                if after.wanted == before.wanted {
                    prop_assert_eq!(after.queued_at, before.queued_at, "person {}", k);
                } else {
                    prop_assert!(
                        last_before.is_none_or(|last| place > last),
                        "person {k} joined at {place:?}, ahead of {last_before:?}"
                    );
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn seats_nobody_loses_a_seat_their_target_still_needs(scenario in seat_scenario()) {
        play_seats(&scenario, |s| {
            for (k, target) in s.model {
                let (before, after) = (holding_of(s.people_before, *k), holding_of(s.people, *k));
                match (before.held, *target) {
                    (Some(held), Some(t)) if held == t => {
                        prop_assert_eq!(after.held, Some(held), "person {}: {:?}", k, before);
                    }
                    // Waiting for a full seat keeps the stakeholder seat meanwhile.
                    (Some(Licence::Stakeholder), Some(Licence::Full)) => {
                        prop_assert!(after.held.is_some(), "person {k}: {before:?} -> {after:?}");
                    }
                    _ => {}
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn seats_settling_again_with_the_same_targets_and_caps_changes_nothing(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            let mut book = *s.book;
            let mut people = s.people.clone();
            let tick = s.tick + 1;
            let again = settle(&mut book, &mut people, s.targets, |k| (tick, *k));
            prop_assert!(again.is_empty(), "settling again changed {:?}", again);
            prop_assert_eq!(&book, s.book);
            prop_assert_eq!(&people, s.people);
            Ok(())
        })?;
    }

    #[test]
    fn seats_settle_reports_exactly_the_people_whose_holding_changed(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            let reported: BTreeSet<u32> = s.changed.iter().copied().collect();
            prop_assert_eq!(reported.len(), s.changed.len(), "reported twice: {:?}", s.changed);
            let changed: BTreeSet<u32> = everyone(s)
                .into_iter()
                .filter(|k| holding_of(s.people_before, *k) != holding_of(s.people, *k))
                .collect();
            prop_assert_eq!(reported, changed);
            Ok(())
        })?;
    }

    #[test]
    fn seats_settling_with_only_the_targeted_people_and_the_queue_loaded_gives_the_same_result(
        scenario in seat_scenario()
    ) {
        // The store loads only the people concerned and everyone waiting; the others must not
        // matter.
        play_seats(&scenario, |s| {
            let mut book = *s.book_before;
            let mut loaded: People = s.people_before.iter()
                .filter(|(k, h)| h.wanted.is_some() || target_in_call(s, **k).is_some())
                .map(|(k, h)| (*k, h.clone()))
                .collect();
            let tick = s.tick;
            let mut changed = settle(&mut book, &mut loaded, s.targets, |k| (tick, *k));
            let mut merged = s.people_before.clone();
            merged.extend(loaded);
            changed.sort_unstable();
            let mut expected = s.changed.to_vec();
            expected.sort_unstable();
            prop_assert_eq!(&book, s.book);
            prop_assert_eq!(&merged, s.people);
            prop_assert_eq!(changed, expected);
            Ok(())
        })?;
    }

    #[test]
    fn seats_a_target_change_never_touches_people_outside_the_call_and_the_queue(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            for k in everyone(s) {
                let before = holding_of(s.people_before, k);
                if before.wanted.is_none() && target_in_call(s, k).is_none() {
                    prop_assert_eq!(&holding_of(s.people, k), &before, "person {}", k);
                    prop_assert_eq!(s.model.get(&k), s.model_before.get(&k));
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn seat_events_are_empty_exactly_when_held_and_wanted_stay_the_same_after_settle(
        scenario in seat_scenario()
    ) {
        play_seats(&scenario, |s| {
            for k in everyone(s) {
                let (before, after) = (holding_of(s.people_before, k), holding_of(s.people, k));
                let same = before.held == after.held && before.wanted == after.wanted;
                let evs = events(&before, &after);
                prop_assert_eq!(
                    evs.is_empty(), same,
                    "person {}: {:?} -> {:?} gave {:?}", k, before, after, evs
                );
            }
            Ok(())
        })?;
    }

    #[test]
    fn seat_events_are_empty_exactly_when_the_holding_and_queue_place_stay_the_same(
        before in valid_holding(),
        after in valid_holding(),
    ) {
        let evs = events(&before, &after);
        prop_assert_eq!(
            evs.is_empty(),
            before == after,
            "{:?} -> {:?} gave {:?}", before, after, evs
        );
    }

    #[test]
    fn cap_warnings_fire_only_when_a_threshold_is_newly_reached_and_once_per_crossing(
        thresholds in thresholds(),
        (cap, helds) in (0i64..=20).prop_flat_map(|cap| {
            (Just(cap), prop::collection::vec(0..=cap, 0..40))
        }),
    ) {
        let pool = |held| Pool { cap: Some(cap), held };
        let reached_at = |held: i64| {
            thresholds.iter().copied().filter(|t| held * 100 >= i64::from(*t) * cap).max()
        };
        // The store keeps what was reached last time as `warned`.
        let mut warned: Option<u8> = None;
        // Thresholds reported and not fallen below since.
        let mut disarmed: BTreeSet<u8> = BTreeSet::new();
        for held in helds {
            let (reached, crossed) = warning(&thresholds, warned, &pool(held));
            prop_assert_eq!(reached, reached_at(held), "held {}", held);
            if let Some(c) = crossed {
                prop_assert_eq!(Some(c), reached, "held {}", held);
                prop_assert!(warned.is_none_or(|w| w < c), "{c} reported again after {warned:?}");
                prop_assert!(disarmed.insert(c), "{c} reported twice without falling below it");
            } else {
                prop_assert!(
                    reached.is_none() || reached <= warned,
                    "{reached:?} newly reached after {warned:?} at held {held} but not reported"
                );
            }
            disarmed.retain(|t| reached.is_some_and(|r| r >= *t));
            warned = reached;
        }
        let unlimited = Pool { cap: None, held: 1_000 };
        prop_assert_eq!(warning(&thresholds, warned, &unlimited), (None, None));
    }
}

// The seat policy's decision (`SeatPolicy::decide`): random policies written as TOML (each
// role's licence, the default role, ordered rules on app roles, Entra group ids and team
// names), and random facts about a person, against the rules stated in words.

use rota::domain::role::Role;
use rota::domain::seat_policy::{EntraTeams, Facts, SeatPolicy, group_id_key};

const APP_ROLES: [&str; 3] = ["Rota.Owner", "Rota.Responder", "Rota.Viewer"];
const GROUPS: [&str; 2] = [
    "5D1B2C7E-4A8F-4A51-9A4E-0D6A8F6D1E21",
    "0b1c2d3e-4f50-4162-8374-95a6b7c8d9e0",
];
const TEAM_NAMES: [&str; 2] = ["support leads", "platform"];

/// What a rule matches: an app role, a team (group id or name), or both.
#[derive(Debug, Clone)]
struct RuleSpec {
    app_role: Option<usize>,
    /// `Ok(i)`: `GROUPS[i]`; `Err(i)`: `TEAM_NAMES[i]`.
    team: Option<Result<usize, usize>>,
    role: usize,
}

#[derive(Debug, Clone)]
struct PolicySpec {
    /// For each role of `Role::ALL`: does it take a full seat?
    full: Vec<bool>,
    default_role: usize,
    rules: Vec<RuleSpec>,
}

impl PolicySpec {
    fn text(&self) -> String {
        let list = |full: bool| {
            Role::ALL
                .iter()
                .zip(&self.full)
                .filter(|(_, f)| **f == full)
                .map(|(r, _)| format!("\"{}\"", r.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut t = format!(
            "[licences]\nfull = [{}]\nstakeholder = [{}]\n\n[default]\nrole = \"{}\"\n",
            list(true),
            list(false),
            Role::ALL[self.default_role].as_str()
        );
        for r in &self.rules {
            t.push_str("\n[[rules]]\n");
            if let Some(a) = r.app_role {
                t.push_str(&format!("app_role = \"{}\"\n", APP_ROLES[a]));
            }
            match r.team {
                Some(Ok(g)) => t.push_str(&format!("team = \"{}\"\n", GROUPS[g])),
                Some(Err(n)) => t.push_str(&format!("team = \"{}\"\n", TEAM_NAMES[n])),
                None => {}
            }
            t.push_str(&format!("role = \"{}\"\n", Role::ALL[r.role].as_str()));
        }
        t
    }
}

/// What a person brings: app roles (in any case), Entra groups and team names.
#[derive(Debug, Clone)]
struct PersonSpec {
    app_roles: Vec<(usize, bool)>,
    groups: Vec<usize>,
    names: Vec<usize>,
    bootstrap_owner: bool,
    current: Option<usize>,
    current_from_rule: bool,
}

impl PersonSpec {
    fn app_roles(&self) -> Vec<String> {
        self.app_roles
            .iter()
            .map(|(i, upper)| {
                if *upper {
                    APP_ROLES[*i].to_uppercase()
                } else {
                    APP_ROLES[*i].to_lowercase()
                }
            })
            .collect()
    }

    fn teams(&self) -> EntraTeams {
        EntraTeams {
            group_ids: self
                .groups
                .iter()
                .map(|g| group_id_key(GROUPS[*g]))
                .collect(),
            names: self
                .names
                .iter()
                .map(|n| rota::domain::user::name_key(TEAM_NAMES[*n]))
                .collect(),
        }
    }

    /// The rule's conditions, read from the spec rather than from the parsed policy.
    fn matches(&self, r: &RuleSpec) -> bool {
        r.app_role
            .is_none_or(|a| self.app_roles.iter().any(|(i, _)| *i == a))
            && match r.team {
                None => true,
                Some(Ok(g)) => self.groups.contains(&g),
                Some(Err(n)) => self.names.contains(&n),
            }
    }
}

/// The policy's decision for these facts: (role, licence, line of the rule that decided).
fn decision(
    policy: &SeatPolicy,
    app_roles: &[String],
    teams: &EntraTeams,
    person: &PersonSpec,
    current: Option<Role>,
    from_rule: bool,
) -> (Role, Licence, Option<usize>) {
    let facts = Facts {
        app_roles,
        teams,
        bootstrap_owner: person.bootstrap_owner,
    };
    let a = policy.decide(&facts, current, from_rule);
    (a.role, a.licence, a.rule.map(|r| r.line))
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    let team = prop_oneof![
        (0..GROUPS.len()).prop_map(Ok),
        (0..TEAM_NAMES.len()).prop_map(Err)
    ];
    (
        proptest::option::of(0..APP_ROLES.len()),
        proptest::option::of(team),
        0..Role::ALL.len(),
    )
        .prop_filter("a rule matches on something", |(a, t, _)| {
            a.is_some() || t.is_some()
        })
        .prop_map(|(app_role, team, role)| RuleSpec {
            app_role,
            team,
            role,
        })
}

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    (
        proptest::collection::vec(any::<bool>(), Role::ALL.len()),
        0..Role::ALL.len(),
        proptest::collection::vec(rule_spec(), 0..6),
    )
        .prop_map(|(full, default_role, rules)| PolicySpec {
            full,
            default_role,
            rules,
        })
}

fn person_spec() -> impl Strategy<Value = PersonSpec> {
    (
        proptest::collection::vec((0..APP_ROLES.len(), any::<bool>()), 0..4),
        proptest::collection::vec(0..GROUPS.len(), 0..3),
        proptest::collection::vec(0..TEAM_NAMES.len(), 0..3),
        any::<bool>(),
        proptest::option::of(0..Role::ALL.len()),
        any::<bool>(),
    )
        .prop_map(
            |(app_roles, groups, names, bootstrap_owner, current, current_from_rule)| PersonSpec {
                app_roles,
                groups,
                names,
                bootstrap_owner,
                current,
                current_from_rule,
            },
        )
}

proptest! {
    #[test]
    fn seat_policy_the_first_matching_rule_decides_else_the_current_or_default_role_and_the_licence_follows_the_role(
        spec in policy_spec(),
        person in person_spec(),
    ) {
        let policy = SeatPolicy::parse(&spec.text()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(policy.rules.len(), spec.rules.len());
        let (app_roles, teams) = (person.app_roles(), person.teams());
        let facts = Facts { app_roles: &app_roles, teams: &teams, bootstrap_owner: person.bootstrap_owner };
        let current = person.current.map(|i| Role::ALL[i]);
        let access = policy.decide(&facts, current, person.current_from_rule);

        let first = spec.rules.iter().position(|r| person.matches(r));
        let rule_index = access.rule.map(|r| {
            policy.rules.iter().position(|p| std::ptr::eq(p, r)).expect("a rule of this policy")
        });
        let default = Role::ALL[spec.default_role];
        let expected = if person.bootstrap_owner {
            prop_assert_eq!(rule_index, None, "a bootstrap owner is an owner whatever the rules say");
            Role::Owner
        } else if let Some(i) = first {
            prop_assert_eq!(rule_index, Some(i), "the first matching rule in file order decides");
            Role::ALL[spec.rules[i].role]
        } else {
            prop_assert_eq!(rule_index, None);
            match (person.current_from_rule, current) {
                // A role a rule gave goes back to the default once no rule gives it.
                (true, _) => default,
                // People keep a role an admin set, or the default they got; newcomers get it.
                (false, Some(r)) => r,
                (false, None) => default,
            }
        };
        prop_assert_eq!(access.role, expected);
        let full = spec.full[Role::ALL.iter().position(|r| *r == access.role).unwrap()];
        prop_assert_eq!(access.licence, if full { Licence::Full } else { Licence::Stakeholder });
        prop_assert_eq!(access.licence, policy.licence_of(access.role));
    }

    #[test]
    fn seat_policy_decisions_ignore_app_role_case_order_and_repeats_and_unmatched_teams(
        spec in policy_spec(),
        person in person_spec(),
    ) {
        let policy = SeatPolicy::parse(&spec.text()).map_err(TestCaseError::fail)?;
        let (app_roles, teams) = (person.app_roles(), person.teams());
        let current = person.current.map(|i| Role::ALL[i]);
        let a = decision(&policy, &app_roles, &teams, &person, current, person.current_from_rule);

        // The same app roles reversed, repeated and in the other case; plus a team no rule names.
        let mut other: Vec<String> = app_roles.iter().rev().map(|r| {
            if r.chars().any(char::is_lowercase) { r.to_uppercase() } else { r.to_lowercase() }
        }).collect();
        other.extend(app_roles.iter().cloned());
        let mut more_teams = teams.clone();
        more_teams.names.insert(rota::domain::user::name_key("a team no rule names"));
        more_teams.group_ids.insert(group_id_key("9f9f9f9f-0000-4000-8000-000000000000"));
        let b = decision(&policy, &other, &more_teams, &person, current, person.current_from_rule);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn seat_policy_deciding_again_with_the_decided_role_gives_the_same_role(
        spec in policy_spec(),
        person in person_spec(),
    ) {
        // The reconcile applies the decision and later decides again with the stored role and
        // whether a rule gave it: nothing changes while the facts stay the same.
        let policy = SeatPolicy::parse(&spec.text()).map_err(TestCaseError::fail)?;
        let (app_roles, teams) = (person.app_roles(), person.teams());
        let current = person.current.map(|i| Role::ALL[i]);
        let first = decision(&policy, &app_roles, &teams, &person, current, person.current_from_rule);
        let again = decision(&policy, &app_roles, &teams, &person, Some(first.0), first.2.is_some());
        prop_assert_eq!(again, first);
    }
}

// The seat plan (`domain::seats::plan`) driven the way the store drives it: an in-memory
// store that loads the people concerned and everyone waiting, plans, and applies the plan's
// writes; random changes to people's app roles and activity under random caps.

use chrono::NaiveDateTime;
use rota::domain::ids::UserId;
use rota::domain::seats::plan;
use rota::domain::seats::plan::{
    Acting, LicenceState, Loaded, Person, Seat, SeatPlan, TeamRoles, Waiting,
};
use std::collections::HashMap;

const PLAN_PEOPLE: usize = 8;
const POLICY_APP_ROLES: [&str; 5] = [
    "Rota.Owner",
    "Rota.Admin",
    "Rota.LicenseOwner",
    "Rota.Responder",
    "Rota.Stakeholder",
];

fn shipped_policy() -> SeatPolicy {
    SeatPolicy::parse(include_str!("../policies/seats.toml")).unwrap()
}

/// One change: these people get these app roles (`None`: none) and activity, settled together.
type PlanStep = Vec<(usize, Option<usize>, bool)>;

struct MemoryStore {
    licences: Vec<LicenceState>,
    people: Vec<Person>,
    seats: HashMap<UserId, Seat>,
    tick: i64,
}

impl MemoryStore {
    fn new(full: Option<i64>, stakeholder: Option<i64>) -> MemoryStore {
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        let people = (0..PLAN_PEOPLE)
            .map(|i| Person {
                id: UserId(format!("u{i}")),
                name: format!("Person {i}"),
                role: Some(Role::User),
                held: None,
                active: false,
                deleted: false,
                app_roles: Vec::new(),
                bootstrap_owner: false,
                last_sign_in_at: Some(t0),
                created_at: t0,
                teams: Default::default(),
                responding: false,
                demoted: false,
            })
            .collect();
        let licence = |licence, cap| LicenceState {
            licence,
            cap,
            held: 0,
            warned_percent: None,
        };
        MemoryStore {
            licences: vec![
                licence(Licence::Full, full),
                licence(Licence::Stakeholder, stakeholder),
            ],
            people,
            seats: HashMap::new(),
            tick: 0,
        }
    }

    fn now(&self) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + self.tick, 0)
            .unwrap()
            .naive_utc()
    }

    fn load(&self, who: &[usize], everyone: bool) -> Loaded {
        let people: Vec<Person> = if everyone {
            self.people.clone()
        } else {
            who.iter().map(|i| self.people[*i].clone()).collect()
        };
        let waiting = if everyone {
            HashMap::new()
        } else {
            self.seats
                .values()
                .filter(|s| s.wanted.is_some())
                .map(|s| {
                    let p = self.people.iter().find(|p| p.id == s.user_id).unwrap();
                    (
                        s.user_id.clone(),
                        Waiting {
                            name: p.name.clone(),
                            held: p.held,
                            seat: s.clone(),
                        },
                    )
                })
                .collect()
        };
        Loaded {
            licences: self.licences.clone(),
            seats: people
                .iter()
                .filter_map(|p| Some((p.id.clone(), self.seats.get(&p.id)?.clone())))
                .collect(),
            people,
            waiting,
            everyone,
            unseated_responders: false,
        }
    }

    fn plan(&self, who: &[usize], everyone: bool) -> SeatPlan {
        let acting = Acting {
            actor: "test",
            now: self.now(),
        };
        plan(&self.load(who, everyone), &shipped_policy(), acting)
    }

    fn apply(&mut self, p: &SeatPlan) {
        for (id, role) in &p.roles {
            self.people.iter_mut().find(|x| &x.id == id).unwrap().role = Some(*role);
        }
        for (id, held) in &p.licences {
            self.people.iter_mut().find(|x| &x.id == id).unwrap().held = *held;
        }
        for s in &p.seats {
            self.seats.insert(s.user_id.clone(), s.clone());
        }
        for (l, _, held) in &p.held {
            self.licences
                .iter_mut()
                .find(|x| x.licence == *l)
                .unwrap()
                .held = *held;
        }
        for (l, w) in &p.warned {
            self.licences
                .iter_mut()
                .find(|x| x.licence == *l)
                .unwrap()
                .warned_percent = *w;
        }
    }

    fn step(&mut self, step: &PlanStep) -> SeatPlan {
        self.tick += 1;
        let mut who = Vec::new();
        for &(i, app_role, active) in step {
            let p = &mut self.people[i];
            p.app_roles = app_role
                .map(|a| POLICY_APP_ROLES[a].to_string())
                .into_iter()
                .collect();
            p.active = active;
            who.push(i);
        }
        let planned = self.plan(&who, false);
        self.apply(&planned);
        planned
    }

    fn held(&self, l: Licence) -> i64 {
        self.people.iter().filter(|p| p.held == Some(l)).count() as i64
    }

    fn counter(&self, l: Licence) -> (Option<i64>, i64) {
        let s = self.licences.iter().find(|x| x.licence == l).unwrap();
        (s.cap, s.held)
    }

    /// Everyone waiting for `l`, in queue order.
    fn queue(&self, l: Licence) -> Vec<UserId> {
        let mut q: Vec<(NaiveDateTime, UserId)> = self
            .seats
            .values()
            .filter(|s| s.wanted == Some(l))
            .map(|s| (s.queued_at.unwrap(), s.user_id.clone()))
            .collect();
        q.sort();
        q.into_iter().map(|(_, u)| u).collect()
    }
}

fn plan_step() -> impl Strategy<Value = PlanStep> {
    proptest::collection::vec(
        (
            0..PLAN_PEOPLE,
            proptest::option::of(0..POLICY_APP_ROLES.len()),
            any::<bool>(),
        ),
        1..4,
    )
    .prop_map(|mut v| {
        v.sort_by_key(|x| x.0);
        v.dedup_by_key(|x| x.0);
        v
    })
}

fn plan_scenario() -> impl Strategy<Value = (Option<i64>, Option<i64>, Vec<PlanStep>)> {
    (
        proptest::option::of(0i64..5),
        proptest::option::of(0i64..4),
        proptest::collection::vec(plan_step(), 1..25),
    )
}

fn no_writes(p: &SeatPlan) -> bool {
    !p.changes_seats()
        && p.team_roles == TeamRoles::Nobody
        && p.seats_changed == 0
        && p.roles_changed == 0
}

proptest! {
    #[test]
    fn seat_plans_never_hold_more_than_a_cap_and_the_counters_count_the_holders(
        (full, stakeholder, steps) in plan_scenario(),
    ) {
        let mut store = MemoryStore::new(full, stakeholder);
        for step in &steps {
            store.step(step);
            for l in Licence::ALL {
                let (cap, counter) = store.counter(l);
                prop_assert_eq!(counter, store.held(l), "the {:?} counter counts its holders", l);
                if let Some(cap) = cap {
                    prop_assert!(counter <= cap, "{:?}: {} held of {}", l, counter, cap);
                }
            }
        }
    }

    #[test]
    fn seat_plans_leave_no_seat_free_while_someone_waits_and_serve_the_queue_in_order(
        (full, stakeholder, steps) in plan_scenario(),
    ) {
        let mut store = MemoryStore::new(full, stakeholder);
        for step in &steps {
            let queue_before = store.queue(Licence::Full);
            let planned = store.step(step);
            let book = rota::domain::seats::plan::book_of(&store.licences);
            let waiting_full = store.seats.values().filter(|s| s.wanted == Some(Licence::Full)).count();
            let waiting_st = store.seats.values().filter(|s| s.wanted == Some(Licence::Stakeholder)).count();
            if waiting_full > 0 {
                prop_assert_eq!(book.full.free(), 0, "a full seat is free while someone waits for one");
            }
            if waiting_st > 0 {
                prop_assert_eq!(book.stakeholder.free(), 0, "a stakeholder seat is free while someone waits for one");
            }
            // FIFO: of those who waited for a full seat before this step and whose need did not
            // change in it, the ones served are a prefix of the queue.
            let changed: Vec<UserId> = step.iter().map(|(i, _, _)| store.people[*i].id.clone()).collect();
            let untouched: Vec<&UserId> = queue_before.iter().filter(|u| !changed.contains(u)).collect();
            let served: Vec<bool> = untouched
                .iter()
                .map(|u| store.people.iter().find(|p| &p.id == *u).unwrap().held == Some(Licence::Full))
                .collect();
            prop_assert!(
                served.windows(2).all(|w| w[0] || !w[1]),
                "the full-seat queue was served out of order: {:?} ({:?})", served, planned.events
            );
        }
    }

    #[test]
    fn seat_plans_planning_the_applied_state_again_yields_no_writes(
        (full, stakeholder, steps) in plan_scenario(),
    ) {
        let mut store = MemoryStore::new(full, stakeholder);
        for step in &steps {
            store.step(step);
            let who: Vec<usize> = step.iter().map(|(i, _, _)| *i).collect();
            let again = store.plan(&who, false);
            prop_assert!(no_writes(&again), "planning again wrote {:?}", again);
        }
        // The nightly pass over everyone agrees with what the settlements left.
        let everyone = store.plan(&[], true);
        prop_assert!(everyone.events.is_empty() && everyone.held.is_empty() && everyone.licences.is_empty(),
            "the reconcile changed {:?}", everyone);
    }

    #[test]
    fn seat_plans_record_an_event_for_every_seat_and_role_change_and_take_free_seats_without_a_queue(
        (full, stakeholder, steps) in plan_scenario(),
    ) {
        let mut store = MemoryStore::new(full, stakeholder);
        for step in &steps {
            let before: HashMap<UserId, (Option<Licence>, Option<Role>)> =
                store.people.iter().map(|p| (p.id.clone(), (p.held, p.role))).collect();
            let queued_before = store.seats.values().filter(|s| s.wanted.is_some()).count();
            let planned = store.step(step);
            for p in &store.people {
                let (held, role) = before[&p.id];
                let named = planned.events.iter().filter(|e| e.user_id == p.id).count();
                if held != p.held || (role.is_some() && role != p.role) {
                    prop_assert!(named > 0, "{} changed without an audit event", p.name);
                }
            }
            if planned.free_seats_only && planned.changes_seats() {
                // A plan that may skip the lock touches nobody waiting and only hands out seats.
                prop_assert_eq!(store.seats.values().filter(|s| s.wanted.is_some()).count(), queued_before);
                prop_assert!(planned.held.iter().all(|(_, b, a)| a >= b));
                prop_assert!(planned.newly_queued.is_empty());
            }
        }
    }
}

// SCIM filters: random well-formed filters, written out as an IdP might (any case for the
// words, extra spaces and tabs, Entra's `attr[filter].sub op value`), read back as what they say.

use rota::domain::scim_filter::{AttrPath, CompValue, CompareOp, Filter, parse_filter};

/// A filter as text, and the filter it means.
type Written = (String, Filter);

fn gap() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![" ", "  ", "\t", " \t "])
}

/// A word in any mix of case (`eq`, `Eq`, `EQ`).
fn any_case(word: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), word.len()).prop_map(move |upper| {
        word.chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

fn comparison_value() -> impl Strategy<Value = (String, CompValue)> {
    prop_oneof![
        any::<String>().prop_map(|s| (serde_json::to_string(&s).unwrap(), CompValue::Str(s))),
        any::<i64>().prop_map(|n| (n.to_string(), CompValue::Num(n.into()))),
        any::<bool>().prop_map(|b| (b.to_string(), CompValue::Bool(b))),
        Just(("null".to_string(), CompValue::Null)),
    ]
}

/// `attr pr` or `attr op value`, over the given attribute paths.
fn attribute_test(paths: Vec<(&'static str, AttrPath)>) -> impl Strategy<Value = Written> {
    let ops = vec![
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ];
    let path = prop::sample::select(paths);
    prop_oneof![
        (path.clone(), gap(), any_case("pr")).prop_map(|((text, path), sp, pr)| {
            (format!("{text}{sp}{pr}"), Filter::Present(path))
        }),
        (
            path,
            gap(),
            prop::sample::select(ops),
            gap(),
            comparison_value()
        )
            .prop_flat_map(
                |((text, path), sp1, (word, op), sp2, (value_text, value))| {
                    any_case(word).prop_map(move |word| {
                        let filter = Filter::Compare {
                            path: path.clone(),
                            op,
                            value: value.clone(),
                        };
                        (format!("{text}{sp1}{word}{sp2}{value_text}"), filter)
                    })
                }
            ),
    ]
}

fn path(uri: Option<&str>, attr: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        uri: uri.map(str::to_owned),
        attr: attr.to_owned(),
        sub_attr: sub.map(str::to_owned),
    }
}

/// `a and b`, `a or b` (operands in parentheses, so precedence is what the AST says) and
/// `not (a)`, over `leaf`.
fn combined(leaf: BoxedStrategy<Written>, depth: u32) -> BoxedStrategy<Written> {
    leaf.prop_recursive(depth, 16, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                gap(),
                prop::sample::select(vec!["and", "or"]),
                gap(),
                inner.clone()
            )
                .prop_flat_map(|((a, fa), sp1, word, sp2, (b, fb))| {
                    any_case(word).prop_map(move |w| {
                        let text = format!("({a}){sp1}{w}{sp2}({b})");
                        let (x, y) = (Box::new(fa.clone()), Box::new(fb.clone()));
                        let filter = if word == "and" {
                            Filter::And(x, y)
                        } else {
                            Filter::Or(x, y)
                        };
                        (text, filter)
                    })
                }),
            (any_case("not"), gap(), inner).prop_map(|(not, sp, (a, fa))| {
                (format!("{not}{sp}({a})"), Filter::Not(Box::new(fa)))
            }),
        ]
    })
    .boxed()
}

/// `emails[filter]` and Entra's `emails[filter].value op value`, which means
/// `emails[filter and value op value]`.
fn value_path() -> impl Strategy<Value = Written> {
    let element = attribute_test(vec![
        ("type", path(None, "type", None)),
        ("value", path(None, "value", None)),
        ("primary", path(None, "primary", None)),
    ]);
    let inner = combined(element.boxed(), 2);
    let multi = prop::sample::select(vec!["emails", "phoneNumbers", "members", "addresses"]);
    let sub = attribute_test(vec![
        ("value", path(None, "value", None)),
        ("display", path(None, "display", None)),
    ]);
    (multi, inner, prop::option::of(sub)).prop_map(|(attr, (text, filter), sub)| match sub {
        None => (
            format!("{attr}[{text}]"),
            Filter::ValuePath {
                path: path(None, attr, None),
                filter: Box::new(filter),
            },
        ),
        Some((sub_text, sub_filter)) => (
            format!("{attr}[{text}].{sub_text}"),
            Filter::ValuePath {
                path: path(None, attr, None),
                filter: Box::new(Filter::And(Box::new(filter), Box::new(sub_filter))),
            },
        ),
    })
}

fn scim_filter() -> BoxedStrategy<Written> {
    let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let attribute = attribute_test(vec![
        ("userName", path(None, "userName", None)),
        ("name.familyName", path(None, "name", Some("familyName"))),
        (
            "meta.lastModified",
            path(None, "meta", Some("lastModified")),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            path(Some(enterprise), "department", None),
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            path(Some(enterprise), "manager", Some("value")),
        ),
    ]);
    combined(prop_oneof![attribute, value_path()].boxed(), 4)
}

proptest! {
    #[test]
    fn scim_filters_written_any_way_an_idp_may_are_read_as_what_they_say((text, expected) in scim_filter()) {
        let parsed = parse_filter(&text);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&expected), "{} -> {:?}", text, parsed);
    }
}
