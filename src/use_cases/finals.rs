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
//! What was checked is reused while the database's count of on-call changes
//! (`oncall_changes`, bumped by triggers on schedules, policies, overrides and people) stays
//! the same: a request then costs that one query, not a version check of every schedule and
//! policy it names nor a read of their overrides and people. The count is read before what
//! it vouches for, so a copy is never credited to a count later than its own read.
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
    /// Overrides and people as read at a change count.
    read_at: Mutex<ReadAt>,
}

/// Rows kept by id with the version they were loaded at: a read asks the database for the
/// current versions (unless the change count vouches for them) and loads again only what
/// changed. Reads that reach the database take turns (`kept`'s lock is held throughout),
/// so a slow read never puts back a copy older than a faster one's.
struct Versioned<K, V> {
    kept: Mutex<Kept<K, V>>,
}

struct Kept<K, V> {
    rows: HashMap<K, Arc<V>>,
    /// The change count the rows were last checked at, and which ids were (`every`: all).
    count: Option<i64>,
    checked: HashSet<K>,
    every: bool,
}

impl<K, V> Default for Versioned<K, V> {
    fn default() -> Self {
        Versioned {
            kept: Mutex::new(Kept {
                rows: HashMap::new(),
                count: None,
                checked: HashSet::new(),
                every: false,
            }),
        }
    }
}

impl<K: Eq + Hash + Clone + Ord, V> Versioned<K, V> {
    /// The rows `ids` (`None`: every row) as stored at change count `count` or later, in id
    /// order: asks `versions` for the current versions unless they were checked at `count`
    /// already, and `load`s those whose copy is older or missing. `of` gives a row's id and
    /// version. Ids with no row are left out.
    fn read(
        &self,
        count: i64,
        ids: Option<&[K]>,
        of: impl Fn(&V) -> (&K, i64),
        versions: impl FnOnce(Option<&[K]>) -> AppResult<Vec<(K, i64)>>,
        load: impl FnOnce(&[K]) -> AppResult<Vec<V>>,
    ) -> AppResult<Vec<Arc<V>>> {
        let mut kept = lock(&self.kept);
        let vouched = kept.count.is_some_and(|c| c >= count)
            && (kept.every
                || ids.is_some_and(|ids| ids.iter().all(|id| kept.checked.contains(id))));
        if vouched {
            let mut out: Vec<(&K, &Arc<V>)> = match ids {
                Some(ids) => ids
                    .iter()
                    .filter_map(|id| kept.rows.get_key_value(id))
                    .collect(),
                None => kept.rows.iter().collect(),
            };
            out.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.dedup_by(|a, b| a.0 == b.0);
            return Ok(out.into_iter().map(|(_, v)| v.clone()).collect());
        }
        let mut current = versions(ids)?;
        current.sort_unstable();
        let stale: Vec<K> = current
            .iter()
            .filter(|(id, v)| kept.rows.get(id).is_none_or(|k| of(k).1 != *v))
            .map(|(id, _)| id.clone())
            .collect();
        if !stale.is_empty() {
            for v in load(&stale)? {
                kept.rows.insert(of(&v).0.clone(), Arc::new(v));
            }
        }
        if ids.is_none() && kept.rows.len() > current.len() {
            // Deleted rows are forgotten when every row is asked for.
            let live: HashSet<&K> = current.iter().map(|(id, _)| id).collect();
            kept.rows.retain(|id, _| live.contains(id));
        }
        // What was just read is as new as `count` at least, and as new as any count
        // recorded before (reads take turns).
        if kept.count.is_none_or(|c| c < count) {
            kept.count = Some(count);
            kept.checked.clear();
            kept.every = false;
        }
        match ids {
            Some(ids) => kept.checked.extend(ids.iter().cloned()),
            None => kept.every = true,
        }
        Ok(current
            .iter()
            .filter_map(|(id, _)| kept.rows.get(id).cloned())
            .collect())
    }
}

/// Overrides and people as read at a change count (`count`): reused while it stays.
#[derive(Default)]
struct ReadAt {
    count: Option<i64>,
    /// Every schedule's overrides meeting `[from, to)`, by number, in creation order.
    overrides: Option<KeptOverrides>,
    people: HashMap<UserId, Arc<Person>>,
}

struct KeptOverrides {
    from: Timestamp,
    to: Timestamp,
    by_schedule: Arc<HashMap<ScheduleId, Vec<Override<u32>>>>,
}

/// How much further than asked overrides are read, so the next requests (whose windows
/// move on with the clock) find them read already.
const OVERRIDES_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 7);

impl ReadAt {
    /// Forgets what was read at an older count than `count`; whether what is kept now
    /// counts for it.
    fn at(&mut self, count: i64) {
        if self.count.is_none_or(|c| c < count) {
            *self = ReadAt {
                count: Some(count),
                ..ReadAt::default()
            };
        }
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
#[derive(Default)]
pub struct Finals {
    pub entries: HashMap<ScheduleId, Vec<Entry<UserId>>>,
    /// Every schedule asked about, in id order.
    pub schedules: Vec<Arc<Known>>,
    /// The people the entries name.
    pub people: HashMap<UserId, Arc<Person>>,
}

impl Finals {
    /// Adds `other`'s schedules (read over the same window).
    pub fn extend(&mut self, other: Finals) {
        self.entries.extend(other.entries);
        self.people.extend(other.people);
        self.schedules.extend(other.schedules);
        self.schedules
            .sort_by(|a, b| a.loaded.schedule.id.cmp(&b.loaded.schedule.id));
        self.schedules
            .dedup_by(|a, b| a.loaded.schedule.id == b.loaded.schedule.id);
    }

    /// A schedule's name, if it was asked about.
    pub fn name(&self, id: &ScheduleId) -> Option<&str> {
        self.schedules
            .binary_search_by(|k| k.loaded.schedule.id.cmp(id))
            .ok()
            .map(|i| self.schedules[i].loaded.schedule.name.as_str())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let count = schedules::oncall_changes(conn)?;
        self.schedules_at(conn, count, ids)
    }

    fn schedules_at(
        &self,
        conn: &mut DbConnection,
        count: i64,
        ids: Option<&[ScheduleId]>,
    ) -> AppResult<Vec<Arc<Known>>> {
        let conn = std::cell::RefCell::new(conn);
        self.schedules.read(
            count,
            ids,
            |k| (&k.loaded.schedule.id, k.loaded.schedule.version),
            |ids| schedules::versions(&mut conn.borrow_mut(), ids),
            |stale| {
                let fresh = schedules::load_many(&mut conn.borrow_mut(), Some(stale))?;
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
        let count = schedules::oncall_changes(conn)?;
        let conn = std::cell::RefCell::new(conn);
        let mut out = self.policies.read(
            count,
            ids,
            |p| (&p.policy.id, p.policy.version),
            |ids| escalation::versions(&mut conn.borrow_mut(), ids),
            |stale| escalation::load_many(&mut conn.borrow_mut(), Some(stale)),
        )?;
        out.sort_by(|a, b| {
            (&a.policy.name_key, &a.policy.id).cmp(&(&b.policy.name_key, &b.policy.id))
        });
        Ok(out)
    }

    /// The people `ids` as stored now (deleted ones included; unknown ids left out).
    pub fn people(
        &self,
        conn: &mut DbConnection,
        ids: &[UserId],
    ) -> AppResult<HashMap<UserId, Arc<Person>>> {
        let count = schedules::oncall_changes(conn)?;
        self.people_at(conn, count, ids.iter())
    }

    fn people_at<'a>(
        &self,
        conn: &mut DbConnection,
        count: i64,
        ids: impl Iterator<Item = &'a UserId> + Clone,
    ) -> AppResult<HashMap<UserId, Arc<Person>>> {
        let mut read_at = lock(&self.read_at);
        read_at.at(count);
        let missing: Vec<UserId> = ids
            .clone()
            .filter(|id| !read_at.people.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let found = schedules::people(conn, &missing)?;
            read_at
                .people
                .extend(found.into_iter().map(|(id, p)| (id, Arc::new(p))));
        }
        Ok(ids
            .filter_map(|id| read_at.people.get_key_value(id))
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect())
    }

    /// Every schedule's overrides meeting `[from, to)`, by number, in creation order: read
    /// a week further than asked, and reused while the change count stays.
    fn overrides_at(
        &self,
        conn: &mut DbConnection,
        count: i64,
        from: Timestamp,
        to: Timestamp,
    ) -> AppResult<Arc<HashMap<ScheduleId, Vec<Override<u32>>>>> {
        let mut read_at = lock(&self.read_at);
        read_at.at(count);
        if let Some(kept) = &read_at.overrides
            && kept.from <= from
            && to <= kept.to
        {
            return Ok(kept.by_schedule.clone());
        }
        let to = to + OVERRIDES_AHEAD;
        let rows = schedules::overrides_in(
            conn,
            None,
            crate::clock::stored_instant(from),
            crate::clock::stored_instant(to),
        )?;
        let mut numbers = write(&self.people);
        let mut by_schedule: HashMap<ScheduleId, Vec<Override<u32>>> = HashMap::new();
        for o in &rows {
            let e = o.engine();
            by_schedule
                .entry(o.schedule_id.clone())
                .or_default()
                .push(Override {
                    user: numbers.number(&e.user),
                    start: e.start,
                    end: e.end,
                });
        }
        let by_schedule = Arc::new(by_schedule);
        read_at.overrides = Some(KeptOverrides {
            from,
            to,
            by_schedule: by_schedule.clone(),
        });
        Ok(by_schedule)
    }

    /// The final schedules of `ids` for `[since, until]` (an instant when equal), each entry
    /// with its whole shift (followed up to `pieces::SHIFT_REACH` past the window). With
    /// `users`, only their entries, from the schedules where one of them is on a layer or
    /// an override. `Finals::people` names the people the entries name.
    pub fn final_schedules(
        &self,
        conn: &mut DbConnection,
        ids: &[ScheduleId],
        users: &[UserId],
        since: Timestamp,
        until: Timestamp,
    ) -> AppResult<Finals> {
        if ids.is_empty() {
            return Ok(Finals {
                entries: HashMap::new(),
                schedules: Vec::new(),
                people: HashMap::new(),
            });
        }
        let count = schedules::oncall_changes(conn)?;
        let known = self.schedules_at(conn, count, Some(ids))?;
        let overrides = self.overrides_at(conn, count, since - SHIFT_REACH, until + SHIFT_REACH)?;
        // Only people already numbered (everyone a schedule or override names is): ids a
        // caller makes up are not kept.
        let mut wanted: Vec<u32> = {
            let numbers = read(&self.people);
            users
                .iter()
                .filter_map(|u| numbers.of.get(u).copied())
                .collect()
        };
        wanted.sort_unstable();
        let everyone = users.is_empty();
        let is_wanted = |u: &u32| everyone || wanted.binary_search(u).is_ok();
        let none: &[Override<u32>] = &[];
        let relevant: Vec<(&Arc<Known>, &[Override<u32>])> = known
            .iter()
            .map(|k| {
                let os = overrides.get(&k.loaded.schedule.id);
                (k, os.map_or(none, Vec::as_slice))
            })
            .filter(|(k, os)| {
                everyone || k.people.iter().any(is_wanted) || os.iter().any(|o| is_wanted(&o.user))
            })
            .collect();
        // Everyone the relevant schedules name, as a set of numbers, and their ids.
        let (mut named, ids_of): (Vec<bool>, Vec<UserId>) = {
            let numbers = read(&self.people);
            let mut named = vec![false; numbers.ids.len()];
            for (k, os) in &relevant {
                for u in k.people.iter().chain(os.iter().map(|o| &o.user)) {
                    named[*u as usize] = true;
                }
            }
            let ids_of = (0..named.len())
                .filter(|n| named[*n])
                .map(|n| numbers.ids[n].clone())
                .collect();
            (named, ids_of)
        };
        let people = self.people_at(conn, count, ids_of.iter())?;
        {
            // From here on `named` says who may not be on call.
            let numbers = read(&self.people);
            for (n, flag) in named.iter_mut().enumerate() {
                if *flag {
                    *flag = people
                        .get(&numbers.ids[n])
                        .is_none_or(|p| p.on_call().is_err());
                }
            }
        }
        let may_not = named;
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
        let mut shown: HashMap<UserId, Arc<Person>> = HashMap::new();
        let entries = found
            .into_iter()
            .map(|(k, es)| {
                let es = es
                    .into_iter()
                    .map(|e| {
                        let user = &numbers.ids[e.user as usize];
                        if !shown.contains_key(user)
                            && let Some(p) = people.get(user)
                        {
                            shown.insert(user.clone(), p.clone());
                        }
                        Entry {
                            user: user.clone(),
                            start: e.start,
                            end: e.end,
                        }
                    })
                    .collect();
                (k.loaded.schedule.id.clone(), es)
            })
            .collect();
        Ok(Finals {
            entries,
            schedules: known,
            people: shown,
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
        let meets = |o: &&Override<u32>| o.end > from && o.start < to;
        let mut kept = lock(&self.pieces);
        // Compared in place: this runs for every piece of every schedule a request reads.
        if let Some((_, p)) = kept.iter().find(|(at, p)| {
            *at == i
                && p.inputs.skipped == skipped
                && p.inputs.overrides.iter().eq(overrides.iter().filter(meets))
        }) {
            return p.held.clone();
        }
        let inputs = Inputs {
            overrides: overrides.iter().filter(meets).cloned().collect(),
            skipped: skipped.to_vec(),
        };
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
