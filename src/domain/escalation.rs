//! Escalation policies (PagerDuty's shape): levels of targets, each a person or a schedule
//! (whoever that schedule has on call at the moment), reached one after another when nobody
//! acknowledges, `num_loops` times round. And who is on call for them over a window
//! (`GET /oncalls`), from the schedules' final schedules. Pure: the store loads, this decides.

use crate::domain::schedule::Entry;
use crate::domain::schedule::input::{Invalid, Reference};
use jiff::Timestamp;
use serde::Deserialize;

/// Targets a level, at most (PagerDuty's limit).
pub const MAX_TARGETS: usize = 10;
/// Levels a policy, at most.
pub const MAX_RULES: usize = 20;
/// Times round after the last level, at most (PagerDuty's limit).
pub const MAX_LOOPS: u32 = 9;

/// When the people a policy reaches are told of their hand-offs (PagerDuty's
/// `on_call_handoff_notifications`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffNotifications {
    /// Only if the policy is used by a service (PagerDuty's default).
    IfHasServices,
    Always,
}

impl HandoffNotifications {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffNotifications::IfHasServices => "if_has_services",
            HandoffNotifications::Always => "always",
        }
    }

    pub fn parse(s: &str) -> Option<HandoffNotifications> {
        match s {
            "if_has_services" => Some(HandoffNotifications::IfHasServices),
            "always" => Some(HandoffNotifications::Always),
            _ => None,
        }
    }
}

/// Who a level reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target<U, S> {
    User(U),
    /// Whoever the schedule has on call.
    Schedule(S),
}

/// One level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<U, S> {
    /// Minutes before the next level is reached; at least one.
    pub delay_minutes: u32,
    pub targets: Vec<Target<U, S>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy<U, S> {
    pub rules: Vec<Rule<U, S>>,
    pub num_loops: u32,
}

/// One element of `escalation_rules`, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RuleInput {
    #[serde(default)]
    pub id: Option<String>,
    pub escalation_delay_in_minutes: i64,
    pub targets: Vec<Reference>,
}

/// The levels and loops of a policy as PagerDuty's REST API sends them, with target ids as
/// sent; each refusal names its field.
pub fn policy(
    rules: &[RuleInput],
    num_loops: Option<i64>,
) -> Result<Policy<String, String>, Invalid> {
    let invalid = |field: String, reason: String| Invalid { field, reason };
    if rules.is_empty() {
        return Err(invalid(
            "escalation_rules".into(),
            "a policy needs at least one rule".into(),
        ));
    }
    if rules.len() > MAX_RULES {
        return Err(invalid(
            "escalation_rules".into(),
            format!("at most {MAX_RULES} rules"),
        ));
    }
    let loops = num_loops.unwrap_or(0);
    let num_loops = u32::try_from(loops)
        .ok()
        .filter(|n| *n <= MAX_LOOPS)
        .ok_or_else(|| {
            invalid(
                "num_loops".into(),
                format!("is {loops}: from 0 to {MAX_LOOPS}"),
            )
        })?;
    let mut out = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let at = format!("escalation_rules[{i}]");
        let delay = u32::try_from(r.escalation_delay_in_minutes)
            .ok()
            .filter(|d| (1..=10_080).contains(d))
            .ok_or_else(|| {
                invalid(
                    format!("{at}.escalation_delay_in_minutes"),
                    format!(
                        "is {}: from 1 minute to 10080 (a week)",
                        r.escalation_delay_in_minutes
                    ),
                )
            })?;
        if r.targets.is_empty() || r.targets.len() > MAX_TARGETS {
            return Err(invalid(
                format!("{at}.targets"),
                format!("1 to {MAX_TARGETS} targets a rule"),
            ));
        }
        let mut targets = Vec::with_capacity(r.targets.len());
        for (j, t) in r.targets.iter().enumerate() {
            let field = format!("{at}.targets[{j}]");
            if t.id.is_empty() {
                return Err(invalid(format!("{field}.id"), "is empty".into()));
            }
            let target = match t.kind.as_deref() {
                Some("user_reference" | "user") => Target::User(t.id.clone()),
                Some("schedule_reference" | "schedule") => Target::Schedule(t.id.clone()),
                other => {
                    return Err(invalid(
                        format!("{field}.type"),
                        format!(
                            "is {}: user_reference or schedule_reference",
                            other.map_or("missing".into(), |k| format!("'{k}'"))
                        ),
                    ));
                }
            };
            if targets.contains(&target) {
                return Err(invalid(
                    format!("{field}.id"),
                    format!("'{}' is named twice in this rule", t.id),
                ));
            }
            targets.push(target);
        }
        out.push(Rule {
            delay_minutes: delay,
            targets,
        });
    }
    Ok(Policy {
        rules: out,
        num_loops,
    })
}

/// One on-call: a person at a level of a policy, through a schedule or directly (then
/// always: no start, no end), as `GET /oncalls` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall<U, S> {
    /// 1-based.
    pub level: usize,
    pub user: U,
    pub schedule: Option<S>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

/// Who is on call for `policy` in the window the schedules were rendered for: for each
/// level, each user target (always on call), and each entry of each schedule target's
/// final schedule (`final_schedules(schedule)`; `None` for a schedule not loaded, which
/// then has nobody). With `earliest`, only the earliest on-call of each (level, person):
/// "who is next". In level order, then target order, then time.
pub fn on_calls<'a, U, S>(
    policy: &Policy<U, S>,
    final_schedules: impl Fn(&S) -> Option<&'a [Entry<U>]>,
    earliest: bool,
) -> Vec<OnCall<U, S>>
where
    U: Clone + PartialEq + 'a,
    S: Clone,
{
    let mut out: Vec<OnCall<U, S>> = Vec::new();
    for (i, rule) in policy.rules.iter().enumerate() {
        let level = i + 1;
        let from = out.len();
        for target in &rule.targets {
            match target {
                Target::User(u) => out.push(OnCall {
                    level,
                    user: u.clone(),
                    schedule: None,
                    start: None,
                    end: None,
                }),
                Target::Schedule(s) => {
                    for e in final_schedules(s).unwrap_or(&[]) {
                        out.push(OnCall {
                            level,
                            user: e.user.clone(),
                            schedule: Some(s.clone()),
                            start: Some(e.start),
                            end: Some(e.end),
                        });
                    }
                }
            }
        }
        if earliest {
            // Keep each person's earliest on-call at this level (a direct target, with no
            // start, is the earliest of all).
            let level_calls = out.split_off(from);
            let mut kept: Vec<OnCall<U, S>> = Vec::new();
            for call in level_calls {
                match kept.iter_mut().find(|k| k.user == call.user) {
                    Some(k) if call.start < k.start => *k = call,
                    Some(_) => {}
                    None => kept.push(call),
                }
            }
            out.extend(kept);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn rules(v: serde_json::Value) -> Vec<RuleInput> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_pagerduty_policy_reads_and_each_refusal_names_its_field() {
        let good = json!([
            {"escalation_delay_in_minutes": 30, "targets": [{"id": "PSCH1", "type": "schedule_reference"}]},
            {"escalation_delay_in_minutes": 15, "targets": [{"id": "PU1", "type": "user_reference"}, {"id": "PSCH2", "type": "schedule"}]}
        ]);
        let p = policy(&rules(good.clone()), Some(2)).unwrap();
        assert_eq!(p.num_loops, 2);
        assert_eq!(
            p.rules[1].targets,
            [Target::User("PU1".into()), Target::Schedule("PSCH2".into())]
        );
        let refused =
            |v: serde_json::Value, loops: Option<i64>| policy(&rules(v), loops).unwrap_err().field;
        assert_eq!(refused(json!([]), None), "escalation_rules");
        assert_eq!(refused(good.clone(), Some(10)), "num_loops");
        assert_eq!(refused(good.clone(), Some(-1)), "num_loops");
        let mut zero = good.clone();
        zero[0]["escalation_delay_in_minutes"] = json!(0);
        assert_eq!(
            refused(zero, None),
            "escalation_rules[0].escalation_delay_in_minutes"
        );
        let mut team = good.clone();
        team[1]["targets"][0]["type"] = json!("team_reference");
        assert_eq!(refused(team, None), "escalation_rules[1].targets[0].type");
        let mut twice = good.clone();
        twice[1]["targets"][1] = json!({"id": "PU1", "type": "user_reference"});
        assert_eq!(refused(twice, None), "escalation_rules[1].targets[1].id");
        let mut none = good;
        none[0]["targets"] = json!([]);
        assert_eq!(refused(none, None), "escalation_rules[0].targets");
    }

    #[test]
    fn on_calls_list_direct_targets_always_and_schedules_by_their_entries() {
        let p: Policy<&str, &str> = Policy {
            rules: vec![
                Rule {
                    delay_minutes: 30,
                    targets: vec![Target::Schedule("primary")],
                },
                Rule {
                    delay_minutes: 30,
                    targets: vec![
                        Target::User("boss"),
                        Target::Schedule("primary"),
                        Target::Schedule("unknown"),
                    ],
                },
            ],
            num_loops: 0,
        };
        let entries = [
            Entry {
                user: "ann",
                start: ts("2026-12-07T00:00Z"),
                end: ts("2026-12-08T00:00Z"),
            },
            Entry {
                user: "ben",
                start: ts("2026-12-08T00:00Z"),
                end: ts("2026-12-09T00:00Z"),
            },
            Entry {
                user: "ann",
                start: ts("2026-12-09T00:00Z"),
                end: ts("2026-12-10T00:00Z"),
            },
        ];
        let schedules = |s: &&str| (*s == "primary").then_some(&entries[..]);
        let all = on_calls(&p, schedules, false);
        let level1: Vec<(&str, Option<Timestamp>)> = all
            .iter()
            .filter(|c| c.level == 1)
            .map(|c| (c.user, c.start))
            .collect();
        assert_eq!(
            level1,
            [
                ("ann", Some(ts("2026-12-07T00:00Z"))),
                ("ben", Some(ts("2026-12-08T00:00Z"))),
                ("ann", Some(ts("2026-12-09T00:00Z")))
            ]
        );
        let boss = all.iter().find(|c| c.user == "boss").unwrap();
        assert_eq!(
            (boss.level, boss.schedule, boss.start, boss.end),
            (2, None, None, None)
        );
        // "Who is next": each person's earliest at each level; the direct target first of all.
        let next = on_calls(&p, schedules, true);
        let got: Vec<(usize, &str, Option<Timestamp>)> =
            next.iter().map(|c| (c.level, c.user, c.start)).collect();
        assert_eq!(
            got,
            [
                (1, "ann", Some(ts("2026-12-07T00:00Z"))),
                (1, "ben", Some(ts("2026-12-08T00:00Z"))),
                (2, "boss", None),
                (2, "ann", Some(ts("2026-12-07T00:00Z"))),
                (2, "ben", Some(ts("2026-12-08T00:00Z"))),
            ]
        );
    }
}
