//! Incidents (PagerDuty's shape): their life cycle (triggered, acknowledged, resolved), the
//! kinds of entries on their timeline and who made them. Pure: `store/` keeps them,
//! `use_cases::incidents` decides with these rules.

use super::ids::UserId;
use serde::{Deserialize, Serialize};

/// An incident's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Triggered,
    Acknowledged,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Triggered => "triggered",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "triggered" => Some(Status::Triggered),
            "acknowledged" => Some(Status::Acknowledged),
            "resolved" => Some(Status::Resolved),
            _ => None,
        }
    }
}

/// An alert's status: it is open until resolved (acknowledging is the incident's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Triggered,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s {
            "triggered" => Some(AlertStatus::Triggered),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

/// What a log entry records; on the wire `<name>_log_entry`, PagerDuty's names. `Skip` is
/// Rota's: a person a level reaches who may not be on call (no full seat, deactivated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    Trigger,
    Acknowledge,
    Resolve,
    Assign,
    Escalate,
    Notify,
    Annotate,
    Skip,
    RepeatEscalationPath,
    ExhaustEscalationPath,
}

impl LogKind {
    pub const ALL: [LogKind; 10] = [
        LogKind::Trigger,
        LogKind::Acknowledge,
        LogKind::Resolve,
        LogKind::Assign,
        LogKind::Escalate,
        LogKind::Notify,
        LogKind::Annotate,
        LogKind::Skip,
        LogKind::RepeatEscalationPath,
        LogKind::ExhaustEscalationPath,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Trigger => "trigger",
            LogKind::Acknowledge => "acknowledge",
            LogKind::Resolve => "resolve",
            LogKind::Assign => "assign",
            LogKind::Escalate => "escalate",
            LogKind::Notify => "notify",
            LogKind::Annotate => "annotate",
            LogKind::Skip => "skip",
            LogKind::RepeatEscalationPath => "repeat_escalation_path",
            LogKind::ExhaustEscalationPath => "exhaust_escalation_path",
        }
    }

    pub fn parse(s: &str) -> Option<LogKind> {
        LogKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who made a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    User,
    ApiToken,
    /// An integration: a monitoring tool's event.
    Integration,
    /// Rota itself (an escalation timeout, say).
    Rota,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::User => "user",
            AgentKind::ApiToken => "api_token",
            AgentKind::Integration => "integration",
            AgentKind::Rota => "rota",
        }
    }

    pub fn parse(s: &str) -> Option<AgentKind> {
        match s {
            "user" => Some(AgentKind::User),
            "api_token" => Some(AgentKind::ApiToken),
            "integration" => Some(AgentKind::Integration),
            "rota" => Some(AgentKind::Rota),
            _ => None,
        }
    }
}

crate::domain::shown_by_name!(Status, AlertStatus, LogKind, AgentKind, Channel);

/// How a change reached Rota (PagerDuty's log entry `channel.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The REST API.
    Api,
    /// The Events API (or Alertmanager, Azure Monitor…).
    EventsApi,
    /// A web page.
    Web,
    /// A signed link in an e-mail.
    Email,
    /// A keypress on a phone call.
    Phone,
    /// A webhook contact method.
    Webhook,
    /// Rota on its own: an escalation timeout, a skipped person.
    Auto,
    /// A level's delay ran out.
    Timeout,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Channel::Api,
        Channel::EventsApi,
        Channel::Web,
        Channel::Email,
        Channel::Phone,
        Channel::Webhook,
        Channel::Auto,
        Channel::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Api => "api",
            Channel::EventsApi => "events_api",
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Webhook => "webhook",
            Channel::Auto => "auto",
            Channel::Timeout => "timeout",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a log entry holds beyond its kind, typed (stored as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Details {
    /// A trigger: the alert that opened the incident, or one more added to it.
    Alert {
        alert_id: String,
        dedup_key: String,
        summary: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        severity: Option<String>,
        #[serde(default)]
        first: bool,
    },
    /// The people an assignment or escalation reached, at a level.
    Reached { level: u32, users: Vec<UserId> },
    /// A person skipped, and why.
    Skipped { user: UserId, reason: String },
    /// A note added.
    Note { note_id: String },
    /// A status update posted, and how many subscribers it was e-mailed to.
    StatusUpdate {
        status_update_id: String,
        subscribers: usize,
    },
    /// The event or request, for the record.
    Plain {},
}

/// A change asked of an incident's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Acknowledge,
    Resolve,
}

/// Why a change cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// The status after `change`, or `None` when it is already there (nothing to record).
/// A resolved incident stays resolved: acknowledging it is refused, and a new trigger of
/// its key opens a new incident.
pub fn next_status(now: Status, change: Change) -> Result<Option<Status>, Refused> {
    match (now, change) {
        (Status::Triggered, Change::Acknowledge) => Ok(Some(Status::Acknowledged)),
        (Status::Acknowledged, Change::Acknowledge) => Ok(None),
        (Status::Resolved, Change::Acknowledge) => Err(Refused(
            "is resolved: a resolved incident cannot be acknowledged",
        )),
        (Status::Triggered | Status::Acknowledged, Change::Resolve) => Ok(Some(Status::Resolved)),
        (Status::Resolved, Change::Resolve) => Ok(None),
    }
}

/// Whether an incident in this state still escalates: open and not acknowledged.
pub fn escalates(status: Status) -> bool {
    status == Status::Triggered
}

/// What an escalation step that fell due does (GoAlert's escalation manager, as a pure
/// step over the incident's level and loops and the policy's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Notify the next level (1-based).
    Escalate { level: usize },
    /// The last level passed unanswered: go round again from level 1 (`loops` done then).
    Repeat { loops: u32 },
    /// The last level of the last loop passed unanswered: it stays with that level and
    /// escalates no more.
    Exhausted,
}

/// The step due after `level` (1-based) with `loops` rounds done, on a policy of `levels`
/// levels that loops `num_loops` times.
pub fn next_step(level: usize, loops: u32, levels: usize, num_loops: u32) -> Step {
    if level < levels {
        Step::Escalate { level: level + 1 }
    } else if levels > 0 && loops < num_loops {
        Step::Repeat { loops: loops + 1 }
    } else {
        Step::Exhausted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_goes_level_by_level_then_round_num_loops_times_then_stops() {
        // Two levels, one loop: 1 → 2 → (repeat) 1 → 2 → exhausted.
        assert_eq!(next_step(1, 0, 2, 1), Step::Escalate { level: 2 });
        assert_eq!(next_step(2, 0, 2, 1), Step::Repeat { loops: 1 });
        assert_eq!(next_step(1, 1, 2, 1), Step::Escalate { level: 2 });
        assert_eq!(next_step(2, 1, 2, 1), Step::Exhausted);
        assert_eq!(next_step(1, 0, 1, 0), Step::Exhausted);
        assert_eq!(
            next_step(1, 0, 0, 3),
            Step::Exhausted,
            "a policy with no levels"
        );
    }

    #[test]
    fn the_life_cycle_goes_one_way() {
        use Change::*;
        use Status::*;
        assert_eq!(next_status(Triggered, Acknowledge), Ok(Some(Acknowledged)));
        assert_eq!(next_status(Acknowledged, Acknowledge), Ok(None));
        assert!(next_status(Resolved, Acknowledge).is_err());
        assert_eq!(next_status(Triggered, Resolve), Ok(Some(Resolved)));
        assert_eq!(next_status(Acknowledged, Resolve), Ok(Some(Resolved)));
        assert_eq!(next_status(Resolved, Resolve), Ok(None));
    }

    #[test]
    fn names_round_trip() {
        for k in LogKind::ALL {
            assert_eq!(LogKind::parse(k.as_str()), Some(k));
        }
        for s in [Status::Triggered, Status::Acknowledged, Status::Resolved] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
