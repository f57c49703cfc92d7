//! The Events API v2 (PagerDuty's `/v2/enqueue` and `/v2/change/enqueue`), read from the
//! JSON a monitoring tool sent. Pure: every refusal is one of PagerDuty's error strings,
//! naming the field, so a tool that logs `errors` (Alertmanager does) tells its operator
//! what to fix. Azure Monitor's common alert schema maps onto the same event.

use super::service::Severity;
use serde_json::{Map, Value};

/// Longest `dedup_key` (PagerDuty's limit).
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// Longest `payload.summary` (PagerDuty's limit).
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest `source`, `component`, `group`, `class`, `client`, link text and URLs: far beyond
/// any monitor's, short enough that a timeline stays readable.
pub const MAX_FIELD_CHARS: usize = 2048;
/// Links or images an event carries, at most.
pub const MAX_LINKS: usize = 50;
/// The largest body taken (PagerDuty's limit: 512 KB).
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// What an alert event asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

/// `payload` of a trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    /// As the monitor sent it (ISO 8601), checked to be an instant.
    pub timestamp: Option<jiff::Timestamp>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub custom_details: Option<Value>,
}

/// A link an event carries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An image an event carries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Image {
    pub src: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt: Option<String>,
}

/// What an alert keeps of an event besides its payload.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Extras {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
    /// The monitor's own time for the event (`payload.timestamp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<jiff::Timestamp>,
}

/// An alert event, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub routing_key: String,
    pub action: Action,
    /// Always there for acknowledge and resolve; a trigger without one gets a new key.
    pub dedup_key: Option<String>,
    /// Always there for a trigger.
    pub payload: Option<Payload>,
    pub extras: Extras,
}

/// A change event: a deploy, a configuration change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub routing_key: String,
    pub summary: String,
    pub source: Option<String>,
    pub timestamp: Option<jiff::Timestamp>,
    pub custom_details: Option<Value>,
    pub links: Vec<Link>,
}

/// PagerDuty's refusals: one string per thing to fix.
pub type Errors = Vec<String>;

struct Reader<'a> {
    errors: Errors,
    object: &'a Map<String, Value>,
    prefix: &'static str,
}

impl<'a> Reader<'a> {
    fn new(object: &'a Map<String, Value>, prefix: &'static str) -> Self {
        Reader {
            errors: Vec::new(),
            object,
            prefix,
        }
    }

    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    /// A string field; `None` when absent or null. Numbers and booleans are taken as their
    /// text (templates in monitoring tools render them either way).
    fn text(&mut self, field: &str, max: usize) -> Option<String> {
        let s = match self.object.get(field) {
            None | Some(Value::Null) => return None,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            Some(_) => {
                self.errors
                    .push(format!("'{}' must be a string", self.name(field)));
                return None;
            }
        };
        if s.chars().count() > max {
            self.errors.push(format!(
                "Length of '{}' is too long (at most {max} characters)",
                self.name(field)
            ));
            return None;
        }
        Some(s)
    }

    fn required(&mut self, field: &str, max: usize) -> Option<String> {
        match self.text(field, max) {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.errors
                    .push(format!("'{}' can't be blank", self.name(field)));
                None
            }
            None => {
                if !self.errors.iter().any(|e| e.contains(&self.name(field))) {
                    self.errors
                        .push(format!("'{}' is missing or blank", self.name(field)));
                }
                None
            }
        }
    }

    fn timestamp(&mut self, field: &str) -> Option<jiff::Timestamp> {
        let text = self.text(field, 64)?;
        match parse_instant(&text) {
            Some(t) => Some(t),
            None => {
                self.errors.push(format!(
                    "'{}' is invalid (must be an ISO 8601 date and time with an offset)",
                    self.name(field)
                ));
                None
            }
        }
    }

    fn links(&mut self, field: &str) -> Vec<Link> {
        let items = self.list(field);
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(o) = item.as_object() else {
                self.errors
                    .push(format!("'{field}[{i}]' must be an object"));
                continue;
            };
            let mut r = Reader::new(o, "");
            let href = r.text("href", MAX_FIELD_CHARS);
            let text = r.text("text", MAX_FIELD_CHARS);
            self.errors.extend(
                r.errors
                    .into_iter()
                    .map(|e| e.replacen('\'', &format!("'{field}[{i}]."), 1)),
            );
            // Alertmanager drops entries without href; so do we, silently.
            if let Some(href) = href.filter(|h| !h.is_empty()) {
                out.push(Link { href, text });
            }
        }
        out
    }

    fn images(&mut self, field: &str) -> Vec<Image> {
        let items = self.list(field);
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(o) = item.as_object() else {
                self.errors
                    .push(format!("'{field}[{i}]' must be an object"));
                continue;
            };
            let mut r = Reader::new(o, "");
            let src = r.text("src", MAX_FIELD_CHARS);
            let href = r.text("href", MAX_FIELD_CHARS);
            let alt = r.text("alt", MAX_FIELD_CHARS);
            self.errors.extend(
                r.errors
                    .into_iter()
                    .map(|e| e.replacen('\'', &format!("'{field}[{i}]."), 1)),
            );
            if let Some(src) = src.filter(|s| !s.is_empty()) {
                out.push(Image { src, href, alt });
            }
        }
        out
    }

    fn list(&mut self, field: &str) -> Vec<Value> {
        match self.object.get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_LINKS => items.clone(),
            Some(Value::Array(_)) => {
                self.errors
                    .push(format!("'{field}' has more than {MAX_LINKS} entries"));
                Vec::new()
            }
            Some(_) => {
                self.errors.push(format!("'{field}' must be an array"));
                Vec::new()
            }
        }
    }
}

/// An instant as monitors write it: RFC 3339, or ISO 8601 with a basic offset
/// (`+0100`, as PagerDuty's own example has it).
pub fn parse_instant(text: &str) -> Option<jiff::Timestamp> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t);
    }
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .and_then(|d| jiff::Timestamp::from_millisecond(d.timestamp_millis()).ok())
}

fn object(body: &Value) -> Result<&Map<String, Value>, Errors> {
    body.as_object()
        .ok_or_else(|| vec!["Event object must be a JSON object".to_owned()])
}

fn routing_key(r: &mut Reader) -> Option<String> {
    let key = r.required("routing_key", 64)?;
    if key.chars().count() != 32 {
        r.errors
            .push("Length of 'routing_key' is incorrect (should be 32 characters)".to_owned());
        return None;
    }
    Some(key)
}

fn custom_details(object: &Map<String, Value>) -> Option<Value> {
    object
        .get("custom_details")
        .filter(|v| !v.is_null())
        .cloned()
}

/// Reads an alert event (`/v2/enqueue`).
pub fn alert_event(body: &Value) -> Result<AlertEvent, Errors> {
    let top = object(body)?;
    let mut r = Reader::new(top, "");
    let routing_key = routing_key(&mut r);
    let action = match r.required("event_action", 32).as_deref() {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(_) => {
            r.errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')".to_owned());
            None
        }
        None => None,
    };
    let dedup_key = r
        .text("dedup_key", MAX_DEDUP_KEY_CHARS)
        .filter(|k| !k.is_empty());
    if matches!(action, Some(Action::Acknowledge | Action::Resolve)) && dedup_key.is_none() {
        r.errors
            .push("'dedup_key' is required for acknowledge and resolve events".to_owned());
    }
    let client = r.text("client", MAX_FIELD_CHARS);
    let client_url = r.text("client_url", MAX_FIELD_CHARS);
    let links = r.links("links");
    let images = r.images("images");
    let mut errors = r.errors;
    let mut payload = None;
    let mut timestamp = None;
    match top.get("payload") {
        Some(Value::Object(p)) if action == Some(Action::Trigger) => {
            let mut pr = Reader::new(p, "payload.");
            let summary = pr.required("summary", MAX_SUMMARY_CHARS);
            let source = pr.required("source", MAX_FIELD_CHARS);
            let severity = match pr.required("severity", 32) {
                Some(s) => match Severity::parse(&s) {
                    Some(s) => Some(s),
                    None => {
                        pr.errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')".to_owned());
                        None
                    }
                },
                None => None,
            };
            timestamp = pr.timestamp("timestamp");
            let component = pr.text("component", MAX_FIELD_CHARS);
            let group = pr.text("group", MAX_FIELD_CHARS);
            let class = pr.text("class", MAX_FIELD_CHARS);
            errors.extend(pr.errors);
            if let (Some(summary), Some(source), Some(severity)) = (summary, source, severity) {
                payload = Some(Payload {
                    summary,
                    source,
                    severity,
                    timestamp,
                    component,
                    group,
                    class,
                    custom_details: custom_details(p),
                });
            }
        }
        None | Some(Value::Null) if action == Some(Action::Trigger) => {
            errors.push("'payload' is required for trigger events".to_owned());
        }
        Some(Value::Object(_)) | None | Some(Value::Null) => {}
        Some(_) => errors.push("'payload' must be an object".to_owned()),
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(AlertEvent {
        routing_key: routing_key.unwrap_or_default(),
        action: action.unwrap_or(Action::Trigger),
        dedup_key,
        payload,
        extras: Extras {
            links,
            images,
            client,
            client_url,
            timestamp,
        },
    })
}

/// Reads a change event (`/v2/change/enqueue`).
pub fn change_event(body: &Value) -> Result<ChangeEvent, Errors> {
    let top = object(body)?;
    let mut r = Reader::new(top, "");
    let routing_key = routing_key(&mut r);
    let links = r.links("links");
    let mut errors = r.errors;
    let mut found = None;
    match top.get("payload") {
        Some(Value::Object(p)) => {
            let mut pr = Reader::new(p, "payload.");
            let summary = pr.required("summary", MAX_SUMMARY_CHARS);
            let source = pr.text("source", MAX_FIELD_CHARS);
            let timestamp = pr.timestamp("timestamp");
            errors.extend(pr.errors);
            found = summary.map(|summary| (summary, source, timestamp, custom_details(p)));
        }
        None | Some(Value::Null) => errors.push("'payload' is missing".to_owned()),
        Some(_) => errors.push("'payload' must be an object".to_owned()),
    }
    match found {
        Some((summary, source, timestamp, custom_details)) if errors.is_empty() => {
            Ok(ChangeEvent {
                routing_key: routing_key.unwrap_or_default(),
                summary,
                source,
                timestamp,
                custom_details,
                links,
            })
        }
        _ => Err(errors),
    }
}

/// Azure Monitor's common alert schema as an Events API v2 body: `Fired` triggers and
/// `Resolved` resolves, the alert id is the dedup key, Sev0–Sev4 become critical, error,
/// warning, info and info. The routing key comes from the URL.
pub fn from_azure_monitor(body: &Value, routing_key: &str) -> Result<Value, Errors> {
    let essentials = body
        .pointer("/data/essentials")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            vec!["'data.essentials' is missing (send the common alert schema)".to_owned()]
        })?;
    let text = |name: &str| essentials.get(name).and_then(Value::as_str);
    let mut errors = Vec::new();
    if body.get("schemaId").and_then(Value::as_str) != Some("azureMonitorCommonAlertSchema") {
        errors.push("'schemaId' must be 'azureMonitorCommonAlertSchema' (turn on the common alert schema in the action group)".to_owned());
    }
    let action = match text("monitorCondition") {
        Some("Fired") => "trigger",
        Some("Resolved") => "resolve",
        _ => {
            errors.push(
                "'data.essentials.monitorCondition' must be 'Fired' or 'Resolved'".to_owned(),
            );
            ""
        }
    };
    let severity = match text("severity") {
        Some("Sev0") => "critical",
        Some("Sev1") => "error",
        Some("Sev2") => "warning",
        Some("Sev3" | "Sev4") => "info",
        _ => {
            errors.push(
                "'data.essentials.severity' must be one of Sev0, Sev1, Sev2, Sev3 or Sev4"
                    .to_owned(),
            );
            ""
        }
    };
    let Some(alert_id) = text("alertId").filter(|s| !s.is_empty()) else {
        errors.push("'data.essentials.alertId' is missing".to_owned());
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let rule = text("alertRule").unwrap_or("Azure Monitor alert");
    let summary = match text("description").filter(|d| !d.trim().is_empty()) {
        Some(d) => format!("{rule}: {d}"),
        None => rule.to_owned(),
    };
    let first = |name: &str| {
        essentials
            .get(name)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
    };
    let source = first("configurationItems")
        .or_else(|| first("alertTargetIDs"))
        .unwrap_or("Azure Monitor");
    let dedup: String = alert_id.chars().take(MAX_DEDUP_KEY_CHARS).collect();
    let summary: String = summary.chars().take(MAX_SUMMARY_CHARS).collect();
    let mut payload = serde_json::json!({
        "summary": summary,
        "source": source,
        "severity": severity,
        "class": text("signalType"),
        "component": text("monitoringService"),
        "custom_details": {
            "essentials": body.pointer("/data/essentials"),
            "alertContext": body.pointer("/data/alertContext"),
            "customProperties": body.pointer("/data/customProperties"),
        },
    });
    if let Some(fired) = text("firedDateTime") {
        payload["timestamp"] = Value::String(fired.to_owned());
    }
    Ok(serde_json::json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup,
        "payload": payload,
        "client": "Azure Monitor",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn pagerdutys_example_trigger_reads() {
        let e = alert_event(&json!({
            "routing_key": KEY, "event_action": "trigger", "dedup_key": "prod-eu/checkout",
            "payload": {"summary": "Checkout 5xx", "source": "checkout.example", "severity": "critical",
                "timestamp": "2026-03-29T01:55:00.000+0100", "component": "checkout-api", "group": "prod-eu",
                "class": "error-rate", "custom_details": {"error_rate": 0.072}},
            "client": "Prometheus Alertmanager", "client_url": "https://am.example/",
            "links": [{"href": "https://grafana.example/d/abc", "text": "Dashboard"}, {"text": "no href"}],
            "images": [{"src": "https://grafana.example/r.png", "alt": "rate"}]
        }))
        .unwrap();
        assert_eq!(e.action, Action::Trigger);
        let p = e.payload.unwrap();
        assert_eq!(p.severity, Severity::Critical);
        assert_eq!(
            p.timestamp.unwrap().to_string(),
            "2026-03-29T00:55:00Z",
            "a basic offset (+0100) is read"
        );
        assert_eq!(e.extras.links.len(), 1, "a link without href is dropped");
        assert_eq!(e.extras.images.len(), 1);
    }

    #[test]
    fn each_refusal_names_its_field() {
        let errors = |v: Value| alert_event(&v).unwrap_err();
        assert!(errors(json!({"routing_key": "short", "event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "critical"}}))[0].contains("'routing_key'"));
        assert!(
            errors(json!({"routing_key": KEY, "event_action": "poke"}))[0]
                .contains("'event_action'")
        );
        assert!(
            errors(json!({"routing_key": KEY, "event_action": "resolve"}))[0]
                .contains("'dedup_key'")
        );
        assert!(
            errors(json!({"routing_key": KEY, "event_action": "trigger"}))[0].contains("'payload'")
        );
        let e = errors(json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "x".repeat(1025), "source": "h", "severity": "High"}}));
        assert!(e.iter().any(|e| e.contains("'payload.summary'")), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.contains("'payload.severity' is invalid")),
            "{e:?}"
        );
        let e = errors(
            json!({"routing_key": KEY, "event_action": "trigger", "dedup_key": "k".repeat(256),
            "payload": {"summary": "s", "source": "h", "severity": "info", "timestamp": "yesterday"}}),
        );
        assert!(e.iter().any(|e| e.contains("'dedup_key'")), "{e:?}");
        assert!(e.iter().any(|e| e.contains("'payload.timestamp'")), "{e:?}");
        assert!(errors(json!({"routing_key": KEY, "event_action": "trigger", "links": [{"href": 5, "text": []}],
            "payload": {"summary": "s", "source": "h", "severity": "info"}}))[0].contains("'links[0].text'"));
        assert!(errors(json!([1, 2]))[0].contains("JSON object"));
    }

    #[test]
    fn acknowledge_and_resolve_need_no_payload_and_a_trigger_may_omit_its_key() {
        let e = alert_event(
            &json!({"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "k"}),
        )
        .unwrap();
        assert_eq!(
            (e.action, e.dedup_key.as_deref()),
            (Action::Acknowledge, Some("k"))
        );
        let e = alert_event(&json!({"routing_key": KEY, "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "warning"}}))
        .unwrap();
        assert_eq!(e.dedup_key, None);
    }

    #[test]
    fn change_events_need_a_summary() {
        let c = change_event(
            &json!({"routing_key": KEY, "payload": {"summary": "Deployed v2",
            "timestamp": "2026-03-28T14:02:11Z", "custom_details": {"commit": "9f2c1e0"}},
            "links": [{"href": "https://ci.example/4211"}]}),
        )
        .unwrap();
        assert_eq!(c.summary, "Deployed v2");
        assert_eq!(c.links.len(), 1);
        assert!(
            change_event(&json!({"routing_key": KEY, "payload": {}})).unwrap_err()[0]
                .contains("'payload.summary'")
        );
    }

    #[test]
    fn azure_monitor_maps_condition_severity_and_alert_id() {
        let body = json!({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {
            "alertId": "/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a1",
            "alertRule": "High CPU", "severity": "Sev1", "signalType": "Metric",
            "monitorCondition": "Fired", "monitoringService": "Platform",
            "configurationItems": ["vm-1"], "firedDateTime": "2026-03-22T13:58:24.37Z", "description": ""},
            "alertContext": {}}});
        let event = alert_event(&from_azure_monitor(&body, KEY).unwrap()).unwrap();
        assert_eq!(event.action, Action::Trigger);
        assert_eq!(
            event.dedup_key.as_deref(),
            Some("/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/a1")
        );
        let p = event.payload.unwrap();
        assert_eq!(
            (p.severity, p.source.as_str(), p.summary.as_str()),
            (Severity::Error, "vm-1", "High CPU")
        );
        let mut resolved = body.clone();
        resolved["data"]["essentials"]["monitorCondition"] = json!("Resolved");
        resolved["data"]["essentials"]["severity"] = json!("Sev4");
        assert_eq!(
            alert_event(&from_azure_monitor(&resolved, KEY).unwrap())
                .unwrap()
                .action,
            Action::Resolve
        );
        let mut bad = body;
        bad["data"]["essentials"]["severity"] = json!("Sev9");
        assert!(from_azure_monitor(&bad, KEY).unwrap_err()[0].contains("severity"));
        assert!(from_azure_monitor(&json!({}), KEY).is_err());
    }
}
