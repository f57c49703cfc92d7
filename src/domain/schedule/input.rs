//! A schedule's layers as PagerDuty's REST API v2 sends them (`schedule_layers`), checked
//! and turned into the engine's terms. Every refusal names the field, as
//! `schedule_layers[1].restrictions[0].start_day_of_week`, so a caller's 400 says which.

use super::{Layer, Restriction};
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// The shortest turn: shorter ones would make a year's render millions of turns.
pub const MIN_TURN_SECONDS: i64 = 3_600;
/// The longest turn: a year.
pub const MAX_TURN_SECONDS: i64 = 366 * 86_400;
/// Layers per schedule, people per layer and restrictions per layer, at most.
pub const MAX_LAYERS: usize = 20;
pub const MAX_LAYER_USERS: usize = 200;
pub const MAX_RESTRICTIONS: usize = 50;

/// A refused value: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

impl Invalid {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `{"id": "...", "type": "user_reference"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Reference {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// `{"user": {...}}`, one entry of a layer's `users`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LayerUser {
    pub user: Reference,
}

/// A restriction as PagerDuty sends it; also how one is stored and answered.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct RestrictionInput {
    #[serde(rename = "type")]
    pub kind: String,
    pub start_time_of_day: String,
    pub duration_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_day_of_week: Option<i64>,
}

impl From<Restriction> for RestrictionInput {
    fn from(r: Restriction) -> RestrictionInput {
        let seconds = |d: SignedDuration| d.as_secs();
        let time = |t: Time| t.strftime("%H:%M:%S").to_string();
        match r {
            Restriction::Daily { start, duration } => RestrictionInput {
                kind: "daily_restriction".into(),
                start_time_of_day: time(start),
                duration_seconds: seconds(duration),
                start_day_of_week: None,
            },
            Restriction::Weekly {
                day,
                start,
                duration,
            } => RestrictionInput {
                kind: "weekly_restriction".into(),
                start_time_of_day: time(start),
                duration_seconds: seconds(duration),
                start_day_of_week: Some(i64::from(day.to_monday_one_offset())),
            },
        }
    }
}

/// A stored restriction is read back through the same checks as a sent one.
impl TryFrom<RestrictionInput> for Restriction {
    type Error = Invalid;
    fn try_from(r: RestrictionInput) -> Result<Restriction, Invalid> {
        restriction("restriction", &r)
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

/// One element of `schedule_layers`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct LayerInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub start: String,
    #[serde(default)]
    pub end: Option<String>,
    pub rotation_virtual_start: String,
    pub rotation_turn_length_seconds: i64,
    pub users: Vec<LayerUser>,
    #[serde(default)]
    pub restrictions: Vec<RestrictionInput>,
}

/// An IANA time zone name, as a schedule's `time_zone` (or a render's `time_zone`).
pub fn time_zone(field: &str, name: &str) -> Result<TimeZone, Invalid> {
    // jiff also reads POSIX TZ strings and fixed offsets here; a schedule names a zone.
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
    {
        return Err(Invalid::new(
            field,
            format!("'{name}' is not an IANA time zone name (such as Asia/Tokyo)"),
        ));
    }
    TimeZone::get(name).map_err(|_| {
        Invalid::new(
            field,
            format!("'{name}' is not a known IANA time zone (such as Asia/Tokyo)"),
        )
    })
}

/// An instant with its offset, as `2026-01-05T09:00:00+09:00`.
pub fn instant(field: &str, text: &str) -> Result<Timestamp, Invalid> {
    text.parse::<Timestamp>().map_err(|_| {
        Invalid::new(
            field,
            format!(
                "'{text}' is not a date and time with an offset (such as 2026-01-05T09:00:00+09:00)"
            ),
        )
    })
}

/// The layers of a schedule in zone `tz`, in the order sent (the last has the highest
/// precedence), with the people's ids as sent.
pub fn layers(inputs: &[LayerInput], tz: &TimeZone) -> Result<Vec<Layer<String>>, Invalid> {
    if inputs.is_empty() {
        return Err(Invalid::new(
            "schedule_layers",
            "a schedule needs at least one layer",
        ));
    }
    if inputs.len() > MAX_LAYERS {
        return Err(Invalid::new(
            "schedule_layers",
            format!("at most {MAX_LAYERS} layers"),
        ));
    }
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| layer(&format!("schedule_layers[{i}]"), input, tz))
        .collect()
}

/// One layer; `at` names it in errors.
pub fn layer(at: &str, input: &LayerInput, tz: &TimeZone) -> Result<Layer<String>, Invalid> {
    let field = |name: &str| format!("{at}.{name}");
    let start = instant(&field("start"), &input.start)?;
    let end = input
        .end
        .as_deref()
        .map(|e| instant(&field("end"), e))
        .transpose()?;
    if let Some(end) = end
        && end <= start
    {
        return Err(Invalid::new(
            field("end"),
            "must be after the layer's start",
        ));
    }
    let virtual_start = instant(
        &field("rotation_virtual_start"),
        &input.rotation_virtual_start,
    )?;
    let t = input.rotation_turn_length_seconds;
    if !(MIN_TURN_SECONDS..=MAX_TURN_SECONDS).contains(&t) {
        return Err(Invalid::new(
            field("rotation_turn_length_seconds"),
            format!(
                "is {t}: a turn lasts from {MIN_TURN_SECONDS} seconds (an hour) to {MAX_TURN_SECONDS} (a year)"
            ),
        ));
    }
    if input.users.is_empty() {
        return Err(Invalid::new(
            field("users"),
            "a layer needs at least one person",
        ));
    }
    if input.users.len() > MAX_LAYER_USERS {
        return Err(Invalid::new(
            field("users"),
            format!("at most {MAX_LAYER_USERS} people a layer"),
        ));
    }
    let mut users = Vec::with_capacity(input.users.len());
    for (j, u) in input.users.iter().enumerate() {
        let f = field(&format!("users[{j}].user"));
        if let Some(kind) = u.user.kind.as_deref()
            && kind != "user_reference"
            && kind != "user"
        {
            return Err(Invalid::new(
                format!("{f}.type"),
                format!("is '{kind}': a layer lists user_reference"),
            ));
        }
        if u.user.id.is_empty() {
            return Err(Invalid::new(format!("{f}.id"), "is empty"));
        }
        users.push(u.user.id.clone());
    }
    if input.restrictions.len() > MAX_RESTRICTIONS {
        return Err(Invalid::new(
            field("restrictions"),
            format!("at most {MAX_RESTRICTIONS} restrictions a layer"),
        ));
    }
    let restrictions = input
        .restrictions
        .iter()
        .enumerate()
        .map(|(k, r)| restriction(&field(&format!("restrictions[{k}]")), r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Layer {
        start,
        end,
        // "Turns are counted in the schedule's wall-clock time": V is the instant sent, read
        // as the schedule's local time.
        rotation_virtual_start: tz.to_datetime(virtual_start),
        turn_length: SignedDuration::from_secs(t),
        users,
        restrictions,
    })
}

fn restriction(at: &str, r: &RestrictionInput) -> Result<Restriction, Invalid> {
    let field = |name: &str| format!("{at}.{name}");
    let start = r
        .start_time_of_day
        .parse::<Time>()
        .ok()
        .filter(|_| r.start_time_of_day.len() == 8 || r.start_time_of_day.len() == 5)
        .ok_or_else(|| {
            Invalid::new(
                field("start_time_of_day"),
                format!("'{}' is not a time of day as HH:mm:ss", r.start_time_of_day),
            )
        })?;
    let (limit, what) = match r.kind.as_str() {
        "daily_restriction" => (86_400, "a day"),
        "weekly_restriction" => (604_800, "a week"),
        other => {
            return Err(Invalid::new(
                field("type"),
                format!("is '{other}': daily_restriction or weekly_restriction"),
            ));
        }
    };
    if !(1..=limit).contains(&r.duration_seconds) {
        return Err(Invalid::new(
            field("duration_seconds"),
            format!(
                "is {}: from 1 second to {limit} ({what})",
                r.duration_seconds
            ),
        ));
    }
    let duration = SignedDuration::from_secs(r.duration_seconds);
    if r.kind == "daily_restriction" {
        return Ok(Restriction::Daily { start, duration });
    }
    let day = r.start_day_of_week.ok_or_else(|| {
        Invalid::new(
            field("start_day_of_week"),
            "a weekly restriction needs it (1 = Monday … 7 = Sunday)",
        )
    })?;
    let day = i8::try_from(day)
        .ok()
        .and_then(|d| Weekday::from_monday_one_offset(d).ok())
        .ok_or_else(|| {
            Invalid::new(
                field("start_day_of_week"),
                format!("is {day}: 1 = Monday … 7 = Sunday"),
            )
        })?;
    Ok(Restriction::Weekly {
        day,
        start,
        duration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(layer: serde_json::Value) -> Result<Vec<Layer<String>>, Invalid> {
        let inputs: Vec<LayerInput> = serde_json::from_value(json!([layer])).unwrap();
        layers(&inputs, &TimeZone::get("Asia/Tokyo").unwrap())
    }

    fn good() -> serde_json::Value {
        json!({
            "name": "Weekdays", "start": "2026-01-05T09:00:00+09:00",
            "rotation_virtual_start": "2026-01-05T09:00:00+09:00", "rotation_turn_length_seconds": 604800,
            "users": [{"user": {"id": "PU1", "type": "user_reference"}}, {"user": {"id": "PU2"}}],
            "restrictions": [{"type": "weekly_restriction", "start_day_of_week": 1, "start_time_of_day": "09:00:00", "duration_seconds": 36000}]
        })
    }

    /// The field named when `good()` is changed at these JSON pointers.
    fn refused(changes: &[(&str, serde_json::Value)]) -> (String, String) {
        let mut layer = good();
        for (pointer, value) in changes {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = layer.pointer_mut(parent).unwrap();
            match parent {
                serde_json::Value::Array(items) => {
                    items[key.parse::<usize>().unwrap()] = value.clone()
                }
                other => {
                    other[key] = value.clone();
                }
            }
        }
        let e = one(layer).unwrap_err();
        (e.field, e.reason)
    }

    #[test]
    fn a_pagerduty_layer_reads_with_v_in_local_time() {
        let l = one(good()).unwrap().remove(0);
        assert_eq!(
            l.rotation_virtual_start,
            "2026-01-05T09:00".parse::<jiff::civil::DateTime>().unwrap()
        );
        assert_eq!(l.users, ["PU1", "PU2"]);
        assert_eq!(l.restrictions.len(), 1);
    }

    #[test]
    fn each_refusal_names_its_field() {
        assert_eq!(
            time_zone("time_zone", "Mars/Olympus").unwrap_err().field,
            "time_zone"
        );
        assert_eq!(time_zone("time_zone", "").unwrap_err().field, "time_zone");
        assert!(time_zone("time_zone", "America/New_York").is_ok());
        let r = "/restrictions/0";
        let cases: Vec<(Vec<(String, serde_json::Value)>, &str)> = vec![
            (
                vec![(format!("{r}/start_day_of_week"), json!(8))],
                "schedule_layers[0].restrictions[0].start_day_of_week",
            ),
            (
                vec![(format!("{r}/start_day_of_week"), json!(null))],
                "schedule_layers[0].restrictions[0].start_day_of_week",
            ),
            (
                vec![("/rotation_turn_length_seconds".into(), json!(-3600))],
                "schedule_layers[0].rotation_turn_length_seconds",
            ),
            (
                vec![("/rotation_turn_length_seconds".into(), json!(60))],
                "schedule_layers[0].rotation_turn_length_seconds",
            ),
            (
                vec![("/end".into(), json!("2026-01-01T00:00:00Z"))],
                "schedule_layers[0].end",
            ),
            (
                vec![("/start".into(), json!("next monday"))],
                "schedule_layers[0].start",
            ),
            (
                vec![("/users".into(), json!([]))],
                "schedule_layers[0].users",
            ),
            (
                vec![("/users/1/user/type".into(), json!("team_reference"))],
                "schedule_layers[0].users[1].user.type",
            ),
            (
                vec![(format!("{r}/type"), json!("monthly_restriction"))],
                "schedule_layers[0].restrictions[0].type",
            ),
            (
                vec![(format!("{r}/start_time_of_day"), json!("25:00:00"))],
                "schedule_layers[0].restrictions[0].start_time_of_day",
            ),
            (
                vec![(format!("{r}/duration_seconds"), json!(0))],
                "schedule_layers[0].restrictions[0].duration_seconds",
            ),
            (
                vec![
                    (format!("{r}/type"), json!("daily_restriction")),
                    (format!("{r}/duration_seconds"), json!(90000)),
                ],
                "schedule_layers[0].restrictions[0].duration_seconds",
            ),
        ];
        for (changes, field) in cases {
            let changes: Vec<(&str, serde_json::Value)> = changes
                .iter()
                .map(|(p, v)| (p.as_str(), v.clone()))
                .collect();
            let (got, reason) = refused(&changes);
            assert_eq!(got, field, "{reason}");
            assert!(!reason.is_empty());
        }
    }
}
