//! A schedule's layers replaced at an instant (`PUT /schedules/{id}`), as a plan the store
//! applies. The past never changes: a version in force at the edit ends there, a version
//! that had not started is dropped, and a layer left out of the new list ends at the edit
//! and is kept, removed, for the history. A layer sent back unchanged (PagerDuty's clients
//! send the whole schedule on every update) keeps its versions: no new rows.

use super::{Layer, edit_layer};
use jiff::Timestamp;

/// A layer as stored: its id, name and versions in time order (each `seq` with it).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredLayer<I, U> {
    pub id: I,
    pub name: String,
    pub versions: Vec<(i32, Layer<U>)>,
}

/// A layer as sent: `id` names a stored layer to edit (PagerDuty echoes its layers' ids);
/// without one, or with an id the schedule does not have, it is a new layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SentLayer<I, U> {
    pub id: Option<I>,
    pub name: String,
    pub layer: Layer<U>,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub struct LayersPlan<I, U> {
    /// Layers in their new order (position = index): stored ids kept, new ones to insert.
    pub order: Vec<Placed<I>>,
    /// Versions that end at the edit: (layer, seq, new end).
    pub ended: Vec<(I, i32, Timestamp)>,
    /// Versions that had not started and are replaced: (layer, seq).
    pub dropped: Vec<(I, i32)>,
    /// New versions: (layer, seq, version). A new layer's index into `order` is its key.
    pub added: Vec<(LayerKey<I>, i32, Layer<U>)>,
    /// Stored layers left out: removed at the edit.
    pub removed: Vec<I>,
}

/// A layer in the new order.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed<I> {
    Stored { id: I, name: String },
    New { name: String },
}

/// Which layer a new version belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKey<I> {
    Stored(I),
    /// The index in `order` of a layer being created.
    New(usize),
}

impl<I, U> LayersPlan<I, U> {
    pub fn changes_anything(&self) -> bool {
        !(self.ended.is_empty()
            && self.dropped.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty())
    }
}

/// A new schedule's layers: written as sent, the past included (there is no history yet).
pub fn new_layers<I, U>(sent: Vec<(String, Layer<U>)>) -> LayersPlan<I, U> {
    let mut plan = LayersPlan {
        order: Vec::new(),
        ended: Vec::new(),
        dropped: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    for (i, (name, layer)) in sent.into_iter().enumerate() {
        plan.order.push(Placed::New { name });
        plan.added.push((LayerKey::New(i), 1, layer));
    }
    plan
}

/// The version of `stored` that answers for it now: the one in force at `at`, else the
/// next to start, else the last.
pub fn current<I, U>(stored: &StoredLayer<I, U>, at: Timestamp) -> Option<&(i32, Layer<U>)> {
    stored
        .versions
        .iter()
        .find(|(_, v)| v.start <= at && v.end.is_none_or(|e| e > at))
        .or_else(|| stored.versions.iter().find(|(_, v)| v.start > at))
        .or_else(|| stored.versions.last())
}

/// Replaces `stored` (the schedule's live layers) with `sent` at `at`.
pub fn replace_layers<I: Clone + PartialEq, U: Clone + PartialEq>(
    stored: &[StoredLayer<I, U>],
    sent: Vec<SentLayer<I, U>>,
    at: Timestamp,
) -> LayersPlan<I, U> {
    let mut plan = LayersPlan {
        order: Vec::new(),
        ended: Vec::new(),
        dropped: Vec::new(),
        added: Vec::new(),
        removed: Vec::new(),
    };
    let mut kept: Vec<&I> = Vec::new();
    for (index, s) in sent.into_iter().enumerate() {
        let existing =
            s.id.as_ref()
                .and_then(|id| stored.iter().find(|l| &l.id == id))
                .filter(|l| !kept.contains(&&l.id));
        let Some(existing) = existing else {
            // A layer added to a live schedule counts from the edit on, like an edit.
            let mut layer = s.layer;
            layer.start = layer.start.max(at);
            plan.order.push(Placed::New { name: s.name });
            if layer.end.is_none_or(|e| e > layer.start) {
                plan.added.push((LayerKey::New(index), 1, layer));
            }
            continue;
        };
        kept.push(&existing.id);
        plan.order.push(Placed::Stored {
            id: existing.id.clone(),
            name: s.name,
        });
        let Some((_, now)) = current(existing, at) else {
            continue;
        };
        // Starts already past count from the edit either way: PagerDuty's clients (and
        // Terraform) send the layer's first start again on every update.
        let from_edit = |l: &Layer<U>| Layer {
            start: l.start.max(at),
            ..l.clone()
        };
        if from_edit(now) == from_edit(&s.layer) {
            continue;
        }
        let next_seq = existing.versions.iter().map(|(q, _)| *q).max().unwrap_or(0) + 1;
        end_at(existing, at, &mut plan);
        // The version in force is cut by `end_at`; `edit_layer` keeps the edit from
        // reaching back before `at`.
        let base = existing
            .versions
            .iter()
            .rev()
            .find(|(_, v)| v.start < at)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| s.layer.clone());
        if let Some(next) = edit_layer(&base, s.layer, at).pop()
            && next.start >= at
        {
            plan.added
                .push((LayerKey::Stored(existing.id.clone()), next_seq, next));
        }
    }
    for l in stored {
        if !kept.contains(&&l.id) {
            end_at(l, at, &mut plan);
            plan.removed.push(l.id.clone());
        }
    }
    plan
}

/// Ends `layer` at `at`: the version in force ends there, versions yet to start are dropped.
fn end_at<I: Clone, U>(layer: &StoredLayer<I, U>, at: Timestamp, plan: &mut LayersPlan<I, U>) {
    for (seq, v) in &layer.versions {
        if v.start >= at {
            plan.dropped.push((layer.id.clone(), *seq));
        } else if v.end.is_none_or(|e| e > at) {
            plan.ended.push((layer.id.clone(), *seq, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn layer(start: &str, users: &[&str]) -> Layer<String> {
        Layer {
            start: t(start),
            end: None,
            rotation_virtual_start: "2026-01-05T09:00".parse().unwrap(),
            turn_length: SignedDuration::from_hours(24),
            users: users.iter().map(|u| u.to_string()).collect(),
            restrictions: vec![],
        }
    }

    fn stored(id: &str, versions: Vec<Layer<String>>) -> StoredLayer<String, String> {
        StoredLayer {
            id: id.into(),
            name: id.into(),
            versions: versions
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i as i32 + 1, v))
                .collect(),
        }
    }

    fn sent(id: Option<&str>, l: Layer<String>) -> SentLayer<String, String> {
        SentLayer {
            id: id.map(str::to_owned),
            name: "L".into(),
            layer: l,
        }
    }

    #[test]
    fn a_layer_sent_back_unchanged_writes_nothing() {
        let a = layer("2026-01-05T00:00:00Z", &["u1", "u2"]);
        let plan = replace_layers(
            &[stored("A", vec![a.clone()])],
            vec![sent(Some("A"), a)],
            t("2026-02-01T00:00:00Z"),
        );
        assert!(!plan.changes_anything());
        assert_eq!(
            plan.order,
            vec![Placed::Stored {
                id: "A".into(),
                name: "L".into()
            }]
        );
    }

    #[test]
    fn an_edit_ends_the_version_in_force_and_starts_a_new_one_at_the_edit() {
        let at = t("2026-02-01T00:00:00Z");
        let plan = replace_layers(
            &[stored(
                "A",
                vec![layer("2026-01-05T00:00:00Z", &["u1", "u2"])],
            )],
            vec![sent(
                Some("A"),
                layer("2026-01-05T00:00:00Z", &["u2", "u1"]),
            )],
            at,
        );
        assert_eq!(plan.ended, vec![("A".into(), 1, at)]);
        assert_eq!(plan.added.len(), 1);
        let (key, seq, v) = &plan.added[0];
        assert_eq!((key, *seq, v.start), (&LayerKey::Stored("A".into()), 2, at));
        assert!(plan.dropped.is_empty() && plan.removed.is_empty());
    }

    #[test]
    fn a_version_not_yet_started_is_dropped_and_a_left_out_layer_is_removed() {
        let at = t("2026-02-01T00:00:00Z");
        let plan = replace_layers(
            &[
                stored("A", vec![layer("2026-03-01T00:00:00Z", &["u1"])]),
                stored("B", vec![layer("2026-01-01T00:00:00Z", &["u3"])]),
            ],
            vec![
                sent(None, layer("2026-01-01T00:00:00Z", &["u9"])),
                sent(Some("A"), layer("2026-03-01T00:00:00Z", &["u2"])),
            ],
            at,
        );
        assert_eq!(plan.dropped, vec![("A".into(), 1)]);
        assert_eq!(plan.ended, vec![("B".into(), 1, at)]);
        assert_eq!(plan.removed, vec!["B".to_string()]);
        let starts: Vec<_> = plan
            .added
            .iter()
            .map(|(k, _, v)| (k.clone(), v.start))
            .collect();
        assert_eq!(
            starts,
            vec![
                (LayerKey::New(0), at),
                (LayerKey::Stored("A".into()), t("2026-03-01T00:00:00Z")),
            ]
        );
    }
}
