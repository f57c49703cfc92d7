//! Calendar feeds (iCalendar, RFC 5545) that Outlook and Google Calendar subscribe to: a
//! person's own on-call shifts, or everyone's shifts of one schedule. Here: the secret's
//! format and how a feed's URL names it, each shift's stable UID, and the `.ics` text built
//! from shifts with the `icalendar` crate. No I/O and no clock: callers pass the shifts and
//! the instant the document is made (`DTSTAMP`).
//!
//! What lives elsewhere: which shifts a feed holds (`use_cases::calendar`, from the final
//! schedules), the stored hash (`store::calendar`).

use super::ids::{ScheduleId, UserId};
use super::token::SECRET_BYTES;
use diesel_derive_newtype::DieselNewType;
use icalendar::{Calendar, Component, EventLike};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A calendar feed's id (UUID v7, like every other id).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType,
)]
#[serde(transparent)]
pub struct CalendarFeedId(pub String);

impl CalendarFeedId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What every feed secret starts with: secret scanners and people can tell it is a Rota
/// calendar URL (which opens nothing but that calendar).
pub const SECRET_PREFIX: &str = "rota_cal_";

/// What a feed's file name ends with.
pub const FILE_SUFFIX: &str = ".ics";

/// The length of a secret: the prefix and 32 bytes in lowercase hex.
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + 2 * SECRET_BYTES;

/// `rota_cal_<64 hex digits>` from 32 random bytes. Hashed for storage like API tokens
/// (`token::hash_secret`): high entropy, so a fast hash is right.
pub fn format_secret(random: &[u8; SECRET_BYTES]) -> String {
    format!("{SECRET_PREFIX}{}", hex::encode(random))
}

/// The secret a feed URL's last segment (`rota_cal_….ics`) names, if it is exactly one of
/// ours: anything else (another length, upper-case hex, other characters, no `.ics`) is not,
/// and is answered like an unknown secret without touching the database.
pub fn secret_of_file_name(file: &str) -> Option<&str> {
    if file.len() != SECRET_LEN + FILE_SUFFIX.len() {
        return None;
    }
    let secret = file.strip_suffix(FILE_SUFFIX)?;
    let digits = secret.strip_prefix(SECRET_PREFIX)?;
    let well_formed = digits.len() == 2 * SECRET_BYTES
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then_some(secret)
}

/// Whose calendar a feed is; it names the calendar and each event's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A person's own shifts: events read "On call: <schedule>".
    Person { name: String },
    /// One schedule's shifts: events read "<person> on call".
    Schedule { name: String },
}

impl Subject {
    /// `X-WR-CALNAME`: what the subscribed calendar is called in Outlook or Google.
    pub fn calendar_name(&self) -> String {
        match self {
            Subject::Person { name } => format!("On call: {name} (Rota)"),
            Subject::Schedule { name } => format!("{name}: on call (Rota)"),
        }
    }

    fn summary(&self, shift: &Shift) -> String {
        match self {
            Subject::Person { .. } => format!("On call: {}", shift.schedule_name),
            Subject::Schedule { .. } => format!("{} on call", shift.person_name),
        }
    }
}

/// One span a person is on call in a schedule's final schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    pub schedule: ScheduleId,
    pub schedule_name: String,
    pub user: UserId,
    pub person_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// The event's UID: the same shift (schedule, person, start) keeps it on every fetch, so a
/// calendar updates the event (a changed end, after an override) rather than adding one.
pub fn uid(schedule: &ScheduleId, user: &UserId, start: Timestamp) -> String {
    let mut hash = Sha256::new();
    for part in [
        schedule.as_str(),
        user.as_str(),
        &start.as_second().to_string(),
    ] {
        // Length-prefixed, so no two triples hash the same text.
        hash.update(part.len().to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("{}@rota", hex::encode(&hash.finalize()[..16]))
}

/// How often subscribers are asked to fetch again (`REFRESH-INTERVAL`, `X-PUBLISHED-TTL`).
const REFRESH_MINUTES: i64 = 60;

/// The `.ics` document of `shifts` for `subject`, made at `stamp`: one VEVENT a shift, in UTC.
pub fn document(subject: &Subject, shifts: &[Shift], stamp: Timestamp) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//Rota//On-call calendar feed//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .name(&subject.calendar_name())
        .ttl(&chrono::Duration::minutes(REFRESH_MINUTES));
    let stamp = utc(stamp);
    for shift in shifts {
        let event = icalendar::Event::new()
            .uid(&uid(&shift.schedule, &shift.user, shift.start))
            .timestamp(stamp)
            .starts(utc(shift.start))
            .ends(utc(shift.end))
            .summary(&subject.summary(shift))
            .done();
        calendar.push(event);
    }
    calendar.to_string()
}

/// An instant for `icalendar` (whole seconds: iCalendar's DATE-TIME has no fractions).
fn utc(at: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(at.as_second(), 0).unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shift(user: &str, name: &str, start: &str, end: &str) -> Shift {
        Shift {
            schedule: ScheduleId("s1".into()),
            schedule_name: "Payments, EU; nights".into(),
            user: UserId(user.into()),
            person_name: name.into(),
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        }
    }

    #[test]
    fn file_names_name_only_well_formed_secrets() {
        let secret = format_secret(&[0xab; SECRET_BYTES]);
        assert_eq!(secret.len(), SECRET_LEN);
        let file = format!("{secret}.ics");
        assert_eq!(secret_of_file_name(&file), Some(secret.as_str()));
        for bad in [
            secret.clone(),
            format!("{secret}.ICS"),
            format!("{}.ics", secret.to_uppercase()),
            format!("{}x.ics", &secret[..secret.len() - 1]),
            format!("{secret}a.ics"),
            format!("rota_api_{}.ics", "ab".repeat(SECRET_BYTES)),
            "../../etc/passwd".into(),
            "é".repeat(SECRET_LEN / 2 + 2),
            String::new(),
        ] {
            assert_eq!(secret_of_file_name(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_shift_keeps_its_uid_and_others_differ() {
        let s = ScheduleId("s1".into());
        let u = UserId("u1".into());
        let t: Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
        assert_eq!(uid(&s, &u, t), uid(&s, &u, t));
        assert_ne!(uid(&s, &u, t), uid(&s, &UserId("u2".into()), t));
        assert_ne!(
            uid(&s, &u, t),
            uid(&s, &u, t + jiff::SignedDuration::from_hours(1))
        );
        // The parts cannot slide into each other.
        assert_ne!(
            uid(&ScheduleId("ab".into()), &UserId("c".into()), t),
            uid(&ScheduleId("a".into()), &UserId("bc".into()), t)
        );
    }

    #[test]
    fn the_document_has_one_utc_event_per_shift_with_escaped_text() {
        let stamp: Timestamp = "2026-01-05T09:00:00.5Z".parse().unwrap();
        let shifts = [
            shift("u1", "Ana", "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"),
            shift("u2", "Ben", "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z"),
        ];
        let person = Subject::Person { name: "Ana".into() };
        let text = document(&person, &shifts[..1], stamp);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
        assert!(text.ends_with("END:VCALENDAR\r\n"), "{text}");
        assert!(text.contains("\r\nPRODID:-//Rota//On-call calendar feed//EN\r\n"));
        assert!(text.contains("\r\nX-WR-CALNAME:On call: Ana (Rota)\r\n"));
        assert!(text.contains("\r\nDTSTART:20260105T000000Z\r\n"), "{text}");
        assert!(text.contains("\r\nDTEND:20260106T000000Z\r\n"), "{text}");
        assert!(text.contains("\r\nDTSTAMP:20260105T090000Z\r\n"), "{text}");
        assert!(
            text.contains("\r\nSUMMARY:On call: Payments\\, EU\\; nights\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("BEGIN:VEVENT").count(), 1);
        let schedule = Subject::Schedule {
            name: "Payments".into(),
        };
        let text = document(&schedule, &shifts, stamp);
        assert_eq!(text.matches("BEGIN:VEVENT").count(), 2);
        assert!(text.contains("\r\nSUMMARY:Ben on call\r\n"), "{text}");
        let uid = uid(&shifts[1].schedule, &shifts[1].user, shifts[1].start);
        assert!(text.contains(&format!("\r\nUID:{uid}\r\n")), "{text}");
    }

    #[test]
    fn an_empty_feed_is_still_a_calendar() {
        let text = document(
            &Subject::Person { name: "Ana".into() },
            &[],
            Timestamp::UNIX_EPOCH,
        );
        assert!(text.contains("BEGIN:VCALENDAR") && text.contains("VERSION:2.0"));
        assert!(!text.contains("VEVENT"));
    }
}
