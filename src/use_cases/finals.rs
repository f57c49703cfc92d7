//! Final schedules of many schedules at once: who is on call (`GET /oncalls`), My On-Call
//! Shifts and the calendar feeds ask about thousands of schedules on every request, so
//! each instance keeps, between requests ([`Cache`]):
//! - each schedule and escalation policy as loaded, checked against its stored `version`
//!   on every read (every change of a schedule's layers, teams or zone, of a policy's
//!   levels or teams, bumps it), so several instances on one database never answer from a
//!   stale one;
//! - each schedule's final schedule in week-long pieces, each kept with what it was
//!   computed from: the schedule's version, the overrides that meet the week (in creation
//!   order) and which of its people may not be on call. A piece whose inputs changed is
//!   rendered again. Rendering a window equals rendering its parts one after another (the
//!   engine's window property, tested in `domain::schedule`), so pieces join into any
//!   window; a shift that runs across the window's edge is followed piece by piece, up to
//!   [`SHIFT_REACH`], to give its whole start and end.
//!
//! People are numbered (`u32`) inside the cache, so rendering and joining copy numbers, not
//! ids.

use crate::domain::ids::{EscalationPolicyId, ScheduleId, UserId};
use crate::domain::schedule::pieces::{self, SHIFT_REACH};
use crate::domain::schedule::{self, Entry, Layer, Override};
use crate::error::AppResult;
use crate::store::DbConnection;
use crate::store::escalation::{self, LoadedPolicy};
use crate::store::schedules::{self, Loaded, Person};
use jiff::Timestamp;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Pieces kept per schedule at most (each is tens of entries of 40 bytes): the weeks
/// asked about lately, the ones farthest from the one asked for go first.
const PIECES_PER_SCHEDULE: usize = 16;

/// What this instance keeps between requests (one per process, made by the composition
/// root and shared by the API, the calendar feeds and the hand-off job). Read through it
/// outside write transactions only: a copy read inside one that then rolls back would be
/// kept under a version number that the next committed change reuses.
#[derive(Default)]
pub struct Cache {
    schedules: Versioned<ScheduleId, Known>,
    policies: Versioned<EscalationPolicyId, LoadedPolicy>,
    people: RwLock<Numbers>,
}

/// Rows kept by id with the version they were loaded at: every read asks the database
/// for the current versions and loads again only what changed.
struct Versioned<K, V> {
    kept: RwLock<HashMap<K, Arc<V>>>,
}

impl<K, V> Default for Versioned<K, V> {
    fn default() -> Self {
        Versioned {
            kept: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V> Versioned<K, V> {
    /// The rows whose current versions are `current` (of every row when `every`), loaded
    /// by `load` where the copy kept is older or missing; `of` gives a row's id and version.
    fn read(
        &self,
        current: &[(K, i64)],
        every: bool,
        of: impl Fn(&V) -> (&K, i64),
        load: impl FnOnce(&[K]) -> AppResult<Vec<V>>,
    ) -> AppResult<Vec<Arc<V>>> {
        let stale: Vec<K> = {
            let kept = read(&self.kept);
            current
                .iter()
                .filter(|(id, v)| kept.get(id).is_none_or(|k| of(k).1 != *v))
                .map(|(id, _)| id.clone())
                .collect()
        };
        if !stale.is_empty() {
            let fresh = load(&stale)?;
            let mut kept = write(&self.kept);
            for v in fresh {
                kept.insert(of(&v).0.clone(), Arc::new(v));
            }
        }
        if every && read(&self.kept).len() > current.len() {
            // Deleted rows are forgotten when every row is asked for.
            let live: HashSet<&K> = current.iter().map(|(id, _)| id).collect();
            write(&self.kept).retain(|id, _| live.contains(id));
        }
        let kept = read(&self.kept);
        Ok(current
            .iter()
            .filter_map(|(id, _)| kept.get(id).cloned())
            .collect())
    }
}

/// A schedule as loaded, with its layers in the engine's terms and the pieces of its final
/// schedule rendered so far (they go when a new version replaces this one).
pub struct Known {
    pub loaded: Loaded,
    /// Everyone its layers list, by number, sorted.
    people: Vec<u32>,
    /// `Loaded::for_render`, by number.
    layers: Vec<Vec<Layer<u32>>>,
    pieces: Mutex<Vec<(i64, Arc<Piece>)>>,
}

/// People's numbers: each id gets one the first time it is seen, for the process's life
/// (bounded by the number of users).
#[derive(Default)]
struct Numbers {
    of: HashMap<UserId, u32>,
    ids: Vec<UserId>,
}

impl Numbers {
    fn number(&mut self, id: &UserId) -> u32 {
        if let Some(n) = self.of.get(id) {
            return *n;
        }
        let n = self.ids.len() as u32;
        self.ids.push(id.clone());
        self.of.insert(id.clone(), n);
        n
    }
}

/// What a piece was computed from: equal inputs give an equal final schedule (the
/// schedule's version is its `Known`'s).
#[derive(PartialEq)]
struct Inputs {
    overrides: Vec<Override<u32>>,
    skipped: Vec<u32>,
}

struct Piece {
    inputs: Inputs,
    held: Held,
}

/// A piece's final schedule, as `pieces::join` reads it.
#[derive(Clone)]
struct Held {
    entries: Arc<[Entry<u32>]>,
    /// Who the entries name, sorted: a person's shifts skip the pieces without them.
    people: Arc<[u32]>,
}

impl std::ops::Deref for Held {
    type Target = [Entry<u32>];
    fn deref(&self) -> &[Entry<u32>] {
        &self.entries
    }
}

/// Final schedules of several schedules over a window.
pub struct Finals {
    pub entries: HashMap<ScheduleId, Vec<Entry<UserId>>>,
    /// Every schedule asked about, in id order.
    pub schedules: Vec<Arc<Known>>,
    pub people: HashMap<UserId, Person>,
}

impl Finals {
    /// A schedule's name, if it was asked about.
    pub fn name(&self, id: &ScheduleId) -> Option<&str> {
        self.schedules
            .binary_search_by(|k| k.loaded.schedule.id.cmp(id))
            .ok()
            .map(|i| self.schedules[i].loaded.schedule.name.as_str())
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    /// The schedules `ids` (`None`: all) as stored now, in id order, loading only those
    /// changed since they were last read. Deleted ones are left out.
    pub fn schedules(
        &self,
        conn: &mut DbConnection,
        ids: Option<&[ScheduleId]>,
    ) -> AppResult<Vec<Arc<Known>>> {
        let mut current = schedules::versions(conn, ids)?;
        current.sort_unstable();
        self.schedules.read(
            &current,
            ids.is_none(),
            |k| (&k.loaded.schedule.id, k.loaded.schedule.version),
            |stale| {
                let fresh = schedules::load_many(conn, Some(stale))?;
                let mut numbers = write(&self.people);
                Ok(fresh
                    .into_iter()
                    .map(|loaded| Known::of(loaded, &mut numbers))
                    .collect())
            },
        )
    }

    /// The escalation policies `ids` (`None`: all) as stored now, in name order, loading
    /// only those changed since they were last read.
    pub fn policies(
        &self,
        conn: &mut DbConnection,
        ids: Option<&[EscalationPolicyId]>,
    ) -> AppResult<Vec<Arc<LoadedPolicy>>> {
        let current = escalation::versions(conn, ids)?;
        let mut out = self.policies.read(
            &current,
            ids.is_none(),
            |p| (&p.policy.id, p.policy.version),
            |stale| escalation::load_many(conn, Some(stale)),
        )?;
        out.sort_by(|a, b| {
            (&a.policy.name_key, &a.policy.id).cmp(&(&b.policy.name_key, &b.policy.id))
        });
        Ok(out)
    }

    /// The final schedules of `ids` for `[since, until]` (an instant when equal), each entry
    /// with its whole shift (followed up to `pieces::SHIFT_REACH` past the window). With
    /// `users`, only their entries, from the schedules where one of them is on a layer or
    /// an override.
    pub fn final_schedules(
        &self,
        conn: &mut DbConnection,
        ids: &[ScheduleId],
        users: &[UserId],
        since: Timestamp,
        until: Timestamp,
    ) -> AppResult<Finals> {
        let known = if ids.is_empty() {
            Vec::new()
        } else {
            self.schedules(conn, Some(ids))?
        };
        let overrides = if ids.is_empty() {
            Vec::new()
        } else {
            schedules::overrides_in(
                conn,
                Some(ids),
                crate::clock::stored_instant(since - SHIFT_REACH),
                crate::clock::stored_instant(until + SHIFT_REACH),
            )?
        };
        let (by_schedule, mut wanted) = {
            let mut numbers = write(&self.people);
            let mut by_schedule: HashMap<&ScheduleId, Vec<Override<u32>>> = HashMap::new();
            for o in &overrides {
                let e = o.engine();
                by_schedule
                    .entry(&o.schedule_id)
                    .or_default()
                    .push(Override {
                        user: numbers.number(&e.user),
                        start: e.start,
                        end: e.end,
                    });
            }
            // Only people already numbered (everyone a schedule or override names is):
            // ids a caller makes up are not kept.
            let wanted: Vec<u32> = users
                .iter()
                .filter_map(|u| numbers.of.get(u).copied())
                .collect();
            (by_schedule, wanted)
        };
        wanted.sort_unstable();
        let everyone = users.is_empty();
        let is_wanted = |u: &u32| everyone || wanted.binary_search(u).is_ok();
        let none: &[Override<u32>] = &[];
        let relevant: Vec<(&Arc<Known>, &[Override<u32>])> = known
            .iter()
            .map(|k| {
                let os = by_schedule.get(&k.loaded.schedule.id);
                (k, os.map_or(none, Vec::as_slice))
            })
            .filter(|(k, os)| {
                everyone || k.people.iter().any(is_wanted) || os.iter().any(|o| is_wanted(&o.user))
            })
            .collect();
        // Everyone the relevant schedules name, as a set of numbers.
        let mut named = vec![false; read(&self.people).ids.len()];
        for (k, os) in &relevant {
            for u in k.people.iter().chain(os.iter().map(|o| &o.user)) {
                named[*u as usize] = true;
            }
        }
        let ids_of: Vec<UserId> = {
            let numbers = read(&self.people);
            (0..named.len())
                .filter(|n| named[*n])
                .map(|n| numbers.ids[n].clone())
                .collect()
        };
        let people = schedules::people(conn, &ids_of)?;
        let mut may_not = named;
        {
            let numbers = read(&self.people);
            for (n, flag) in may_not.iter_mut().enumerate() {
                if *flag {
                    *flag = people
                        .get(&numbers.ids[n])
                        .is_none_or(|p| p.on_call().is_err());
                }
            }
        }
        let mut found = Vec::with_capacity(relevant.len());
        for (k, os) in &relevant {
            let mut skipped: Vec<u32> = k
                .people
                .iter()
                .chain(os.iter().map(|o| &o.user))
                .filter(|u| may_not[**u as usize])
                .copied()
                .collect();
            skipped.sort_unstable();
            skipped.dedup();
            let piece = |i: i64| k.piece(os, &skipped, i);
            let may_hold = |p: &Held| everyone || p.people.iter().any(&is_wanted);
            found.push((k, pieces::join(piece, is_wanted, may_hold, since, until)));
        }
        let numbers = read(&self.people);
        let entries = found
            .into_iter()
            .map(|(k, es)| {
                let es = es
                    .into_iter()
                    .map(|e| Entry {
                        user: numbers.ids[e.user as usize].clone(),
                        start: e.start,
                        end: e.end,
                    })
                    .collect();
                (k.loaded.schedule.id.clone(), es)
            })
            .collect();
        Ok(Finals {
            entries,
            schedules: known,
            people,
        })
    }
}

impl Known {
    fn of(loaded: Loaded, numbers: &mut Numbers) -> Known {
        let layers: Vec<Vec<Layer<u32>>> = loaded
            .for_render()
            .into_iter()
            .map(|versions| {
                versions
                    .into_iter()
                    .map(|v| Layer {
                        start: v.start,
                        end: v.end,
                        rotation_virtual_start: v.rotation_virtual_start,
                        turn_length: v.turn_length,
                        users: v.users.iter().map(|u| numbers.number(u)).collect(),
                        restrictions: v.restrictions,
                    })
                    .collect()
            })
            .collect();
        let mut people: Vec<u32> = layers
            .iter()
            .flatten()
            .flat_map(|v| v.users.iter().copied())
            .collect();
        people.sort_unstable();
        people.dedup();
        Known {
            loaded,
            people,
            layers,
            pieces: Mutex::new(Vec::new()),
        }
    }

    /// Piece `i` of the final schedule with these overrides (this schedule's, in creation
    /// order) and these people who may not be on call (sorted): rendered unless kept with
    /// the same inputs.
    fn piece(&self, overrides: &[Override<u32>], skipped: &[u32], i: i64) -> Held {
        let (from, to) = pieces::window(i);
        let overrides: Vec<Override<u32>> = overrides
            .iter()
            .filter(|o| o.end > from && o.start < to)
            .cloned()
            .collect();
        let inputs = Inputs {
            overrides,
            skipped: skipped.to_vec(),
        };
        let mut kept = self.pieces.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, p)) = kept.iter().find(|(at, p)| *at == i && p.inputs == inputs) {
            return p.held.clone();
        }
        let (rendered, _) = schedule::render_skipping(
            &self.layers,
            &inputs.overrides,
            self.loaded.schedule.time_zone.tz(),
            from,
            to,
            |u| inputs.skipped.binary_search(u).is_ok().then_some(()),
        );
        let mut people: Vec<u32> = rendered.final_schedule.iter().map(|e| e.user).collect();
        people.sort_unstable();
        people.dedup();
        let held = Held {
            entries: rendered.final_schedule.into(),
            people: people.into(),
        };
        kept.retain(|(at, _)| *at != i);
        if kept.len() >= PIECES_PER_SCHEDULE {
            let farthest = (0..kept.len()).max_by_key(|j| (kept[*j].0 - i).abs());
            if let Some(j) = farthest {
                kept.swap_remove(j);
            }
        }
        kept.push((
            i,
            Arc::new(Piece {
                inputs,
                held: held.clone(),
            }),
        ));
        held
    }
}
