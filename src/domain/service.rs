//! Services (PagerDuty's shape): how urgent their incidents are (`incident_urgency_rule`)
//! and their integrations, each with a routing key. Pure: the key's randomness comes in as
//! bytes, its stored hash is `token::hash_secret`.

use serde::{Deserialize, Serialize};

/// An incident's urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Urgency> {
        match s {
            "high" => Some(Urgency::High),
            "low" => Some(Urgency::Low),
            _ => None,
        }
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "critical" => Some(Severity::Critical),
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

/// An event's severity (Events API v2 `payload.severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

/// How a service's incidents get their urgency. Stored by name (`high`, `low`,
/// `severity_based`); on the wire it is PagerDuty's `{"type": "constant", "urgency": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrgencyRule {
    Constant(Urgency),
    /// PagerDuty's "Dynamic Notifications": the urgency follows the event's severity.
    SeverityBased,
}

impl UrgencyRule {
    pub fn as_str(self) -> &'static str {
        match self {
            UrgencyRule::Constant(Urgency::High) => "high",
            UrgencyRule::Constant(Urgency::Low) => "low",
            UrgencyRule::SeverityBased => "severity_based",
        }
    }

    pub fn parse(s: &str) -> Option<UrgencyRule> {
        match s {
            "high" => Some(UrgencyRule::Constant(Urgency::High)),
            "low" => Some(UrgencyRule::Constant(Urgency::Low)),
            "severity_based" => Some(UrgencyRule::SeverityBased),
            _ => None,
        }
    }
}

/// The urgency of an incident opened by an event of this severity.
pub fn urgency_of(rule: UrgencyRule, severity: Option<Severity>) -> Urgency {
    match (rule, severity) {
        (UrgencyRule::Constant(u), _) => u,
        (UrgencyRule::SeverityBased, Some(Severity::Warning | Severity::Info)) => Urgency::Low,
        (UrgencyRule::SeverityBased, Some(Severity::Critical | Severity::Error) | None) => {
            Urgency::High
        }
    }
}

/// What sends events through an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    EventsApiV2InboundIntegration,
}

impl IntegrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::EventsApiV2InboundIntegration => "events_api_v2_inbound_integration",
        }
    }

    pub fn parse(s: &str) -> Option<IntegrationKind> {
        match s {
            "events_api_v2_inbound_integration" => {
                Some(IntegrationKind::EventsApiV2InboundIntegration)
            }
            _ => None,
        }
    }
}

crate::domain::shown_by_name!(Urgency, Severity, UrgencyRule, IntegrationKind);

/// Random bytes in a routing key.
pub const KEY_BYTES: usize = 16;

/// Characters of the key kept for display.
const HINT_CHARS: usize = 4;

/// A routing key: 32 lowercase hex digits, as PagerDuty's are (monitoring tools check the
/// length).
pub fn format_key(random: &[u8; KEY_BYTES]) -> String {
    hex::encode(random)
}

/// What is kept of a key to tell it apart: its last four characters.
pub fn key_hint(key: &str) -> String {
    let start = key
        .char_indices()
        .rev()
        .nth(HINT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    key[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_based_maps_critical_and_error_high_warning_and_info_low_none_high() {
        let rule = UrgencyRule::SeverityBased;
        assert_eq!(urgency_of(rule, Some(Severity::Critical)), Urgency::High);
        assert_eq!(urgency_of(rule, Some(Severity::Error)), Urgency::High);
        assert_eq!(urgency_of(rule, Some(Severity::Warning)), Urgency::Low);
        assert_eq!(urgency_of(rule, Some(Severity::Info)), Urgency::Low);
        assert_eq!(urgency_of(rule, None), Urgency::High);
    }

    #[test]
    fn constant_rules_ignore_severity() {
        for s in [None, Some(Severity::Critical), Some(Severity::Info)] {
            let high = UrgencyRule::Constant(Urgency::High);
            let low = UrgencyRule::Constant(Urgency::Low);
            assert_eq!(urgency_of(high, s), Urgency::High);
            assert_eq!(urgency_of(low, s), Urgency::Low);
        }
    }

    #[test]
    fn rules_and_kinds_round_trip_by_name() {
        for r in ["high", "low", "severity_based"] {
            assert_eq!(UrgencyRule::parse(r).map(UrgencyRule::as_str), Some(r));
        }
        assert_eq!(UrgencyRule::parse("medium"), None);
        let k = "events_api_v2_inbound_integration";
        assert_eq!(
            IntegrationKind::parse(k).map(IntegrationKind::as_str),
            Some(k)
        );
    }

    #[test]
    fn keys_are_32_hex_digits_and_hint_their_end() {
        let key = format_key(&[0xab; KEY_BYTES]);
        assert_eq!(key.len(), 32);
        assert_eq!(key_hint(&key), "abab");
        assert_eq!(key_hint("ab"), "ab");
    }
}
