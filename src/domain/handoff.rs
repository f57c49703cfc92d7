//! Hand-offs: the instants a schedule's on-call person changes, and the notices they call
//! for (PagerDuty's hand-off notifications; GoAlert's "on-call status" messages). Pure: the
//! job renders final schedules and asks what is due; the store claims each notice once.
//!
//! - At each hand-off the incoming person is told they are on call, the outgoing one that
//!   they are not any more, as each person's setting says (`HandoffSetting`).
//! - A reminder goes `reminder_hours` before each shift starts, if the person asked for one.
//! - A notice is due at its instant. One due within `grace` before now is still sent (late:
//!   the server was down, or the pass slow); an older one is skipped (and logged) instead:
//!   a "you are on call" three hours late is noise, not news.

use crate::domain::schedule::Entry;
use jiff::{SignedDuration, Timestamp};

/// How late a hand-off notice may still go (a restart, a slow pass).
pub const GRACE: SignedDuration = SignedDuration::from_hours(1);
/// How far back a pass looks for notices it has not claimed (to skip and log them).
pub const LOOKBACK: SignedDuration = SignedDuration::from_hours(24);
/// How long before a gap (or a skipped person's shift) starts its team's managers are told.
pub const GAP_NOTICE: SignedDuration = SignedDuration::from_hours(24);
/// The earliest a reminder may be asked for before a shift.
pub const MAX_REMINDER_HOURS: i32 = 72;

/// One change of who is on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff<U> {
    pub at: Timestamp,
    /// Nobody: a gap starts.
    pub incoming: Option<U>,
    /// Nobody: a gap ends.
    pub outgoing: Option<U>,
}

/// The hand-offs of a final schedule whose instant lies in `(from, to]`. The schedule must
/// be rendered over a wider window, so its first and last entries' clipped edges are not
/// taken for hand-offs.
pub fn handoffs<U: Clone + PartialEq>(
    entries: &[Entry<U>],
    from: Timestamp,
    to: Timestamp,
) -> Vec<Handoff<U>> {
    let mut out = Vec::new();
    let inside = |t: Timestamp| from < t && t <= to;
    for (i, e) in entries.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &entries[p]);
        if inside(e.start) {
            let outgoing = previous
                .filter(|p| p.end == e.start)
                .map(|p| p.user.clone());
            out.push(Handoff {
                at: e.start,
                incoming: Some(e.user.clone()),
                outgoing,
            });
        }
        let next = entries.get(i + 1);
        if inside(e.end) && next.is_none_or(|n| n.start != e.end) {
            out.push(Handoff {
                at: e.end,
                incoming: None,
                outgoing: Some(e.user.clone()),
            });
        }
    }
    out
}

/// What a person wants to hear about their shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffSetting {
    Always,
    /// Only for schedules that page someone: used by an escalation policy (services come
    /// with paging; then, a policy that a service uses).
    IfHasServices,
    Off,
}

impl HandoffSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffSetting::Always => "always",
            HandoffSetting::IfHasServices => "if_has_services",
            HandoffSetting::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<HandoffSetting> {
        match s {
            "always" => Some(HandoffSetting::Always),
            "if_has_services" => Some(HandoffSetting::IfHasServices),
            "off" => Some(HandoffSetting::Off),
            _ => None,
        }
    }
}

/// A person's notice settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub handoff: HandoffSetting,
    /// Hours before a shift starts; `None`: no reminder.
    pub reminder_hours: Option<i32>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            handoff: HandoffSetting::Always,
            reminder_hours: None,
        }
    }
}

/// What a notice says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// "You are on call now."
    OnCall,
    /// "You are not on call any more."
    OffCall,
    /// "Your shift starts in N hours."
    Reminder,
    /// To a team manager: nobody is on call for a span starting within `GAP_NOTICE`.
    Gap,
    /// To a team manager: someone would be on call but may not be (no full seat,
    /// deactivated), within `GAP_NOTICE`; the shift goes to the layer below or a gap.
    Skipped,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::OnCall => "on_call",
            NoticeKind::OffCall => "off_call",
            NoticeKind::Reminder => "reminder",
            NoticeKind::Gap => "gap",
            NoticeKind::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<NoticeKind> {
        match s {
            "on_call" => Some(NoticeKind::OnCall),
            "off_call" => Some(NoticeKind::OffCall),
            "reminder" => Some(NoticeKind::Reminder),
            "gap" => Some(NoticeKind::Gap),
            "skipped" => Some(NoticeKind::Skipped),
            _ => None,
        }
    }
}

/// One notice: to `user`, about the hand-off or shift start at `at`, due at `due`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice<U> {
    pub user: U,
    pub kind: NoticeKind,
    pub at: Timestamp,
    pub due: Timestamp,
    /// Who hands over (on call) or takes over (off call); `None`: nobody (a gap).
    pub other: Option<U>,
    /// On call: until when (the shift's end, as rendered).
    pub until: Option<Timestamp>,
}

/// What managers are told about one schedule: each gap, and each span someone is skipped,
/// starting within `GAP_NOTICE` (or under way), once per manager. `gaps` and `skipped` are
/// from the schedule rendered over the same window as `due`'s. A notice's `user` is the
/// manager; `other` the person skipped.
pub fn manager_notices<U: Clone + PartialEq>(
    gaps: &[crate::domain::schedule::Gap],
    skipped: &[Entry<U>],
    now: Timestamp,
    managers: &[U],
) -> Vec<(Notice<U>, Fate)> {
    let soon = |start: Timestamp, end: Timestamp| end > now && start <= now + GAP_NOTICE;
    let mut out = Vec::new();
    for m in managers {
        for g in gaps.iter().filter(|g| soon(g.start, g.end)) {
            out.push((
                Notice {
                    user: m.clone(),
                    kind: NoticeKind::Gap,
                    at: g.start,
                    due: (g.start - GAP_NOTICE).min(now),
                    other: None,
                    until: Some(g.end),
                },
                Fate::Send,
            ));
        }
        for e in skipped.iter().filter(|e| soon(e.start, e.end)) {
            out.push((
                Notice {
                    user: m.clone(),
                    kind: NoticeKind::Skipped,
                    at: e.start,
                    due: (e.start - GAP_NOTICE).min(now),
                    other: Some(e.user.clone()),
                    until: Some(e.end),
                },
                Fate::Send,
            ));
        }
    }
    out
}

/// Send it, or it is too late (skip and log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    Send,
    TooLate,
}

impl Fate {
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Send => "sent",
            Fate::TooLate => "too_late",
        }
    }

    pub fn parse(s: &str) -> Option<Fate> {
        match s {
            "sent" => Some(Fate::Send),
            "too_late" => Some(Fate::TooLate),
            _ => None,
        }
    }
}

/// The language a person's e-mails are written in, from their locale (`ja-JP` → `ja`).
pub fn language(locale: Option<&str>) -> &'static str {
    match locale.map(|l| {
        l.split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    }) {
        Some(l) if l == "ja" => "ja",
        _ => "en",
    }
}

/// What a notice's e-mail says: (subject, body), in `lang`, from the message catalogue
/// (`locales/oncall.yml`). Times are already written in the person's zone.
pub struct Wording<'a> {
    pub name: &'a str,
    pub schedule: &'a str,
    pub start: &'a str,
    pub end: &'a str,
    /// Who handed over or takes over; `None`: nobody.
    pub other: Option<&'a str>,
}

pub fn email(kind: NoticeKind, lang: &str, w: &Wording<'_>) -> (String, String) {
    let nobody = rust_i18n::t!("nobody", locale = lang);
    let other = w.other.unwrap_or(&nobody);
    let key = match kind {
        NoticeKind::OnCall => "handoff.on_call",
        NoticeKind::OffCall => "handoff.off_call",
        NoticeKind::Reminder => "handoff.reminder",
        NoticeKind::Gap => "handoff.gap",
        NoticeKind::Skipped => "handoff.skipped",
    };
    let subject = rust_i18n::t!(
        &format!("{key}.subject"),
        locale = lang,
        schedule = w.schedule,
        start = w.start,
        other = other
    );
    let body = rust_i18n::t!(
        &format!("{key}.body"),
        locale = lang,
        name = w.name,
        schedule = w.schedule,
        start = w.start,
        end = w.end,
        other = other
    );
    (subject.into_owned(), body.into_owned())
}

/// The notices of one schedule due in `(now - LOOKBACK, now]`, each with its fate. `entries`
/// is the final schedule rendered from before `now - LOOKBACK` to after `now` plus the
/// longest reminder; `paging` says whether the schedule pages people (an escalation policy
/// that some service uses targets it).
pub fn due<U: Clone + PartialEq>(
    entries: &[Entry<U>],
    now: Timestamp,
    paging: bool,
    settings: impl Fn(&U) -> Settings,
) -> Vec<(Notice<U>, Fate)> {
    let from = now - LOOKBACK;
    let wants = |u: &U| match settings(u).handoff {
        HandoffSetting::Always => true,
        HandoffSetting::IfHasServices => paging,
        HandoffSetting::Off => false,
    };
    let fate = |due: Timestamp| {
        if due >= now - GRACE {
            Fate::Send
        } else {
            Fate::TooLate
        }
    };
    let mut out = Vec::new();
    for h in handoffs(entries, from, now) {
        if let Some(u) = h.incoming.as_ref().filter(|u| wants(u)) {
            let until = entries.iter().find(|e| e.start == h.at).map(|e| e.end);
            out.push((
                Notice {
                    user: u.clone(),
                    kind: NoticeKind::OnCall,
                    at: h.at,
                    due: h.at,
                    other: h.outgoing.clone(),
                    until,
                },
                fate(h.at),
            ));
        }
        if let Some(u) = h.outgoing.as_ref().filter(|u| wants(u)) {
            out.push((
                Notice {
                    user: u.clone(),
                    kind: NoticeKind::OffCall,
                    at: h.at,
                    due: h.at,
                    other: h.incoming.clone(),
                    until: None,
                },
                fate(h.at),
            ));
        }
    }
    // Reminders: shifts starting up to the longest reminder ahead.
    let ahead = now + SignedDuration::from_hours(i64::from(MAX_REMINDER_HOURS));
    for h in handoffs(entries, from, ahead) {
        let Some(u) = h.incoming else { continue };
        let Some(hours) = settings(&u).reminder_hours else {
            continue;
        };
        let due_at = h.at - SignedDuration::from_hours(i64::from(hours));
        if from < due_at && due_at <= now && wants(&u) {
            out.push((
                Notice {
                    user: u,
                    kind: NoticeKind::Reminder,
                    at: h.at,
                    due: due_at,
                    other: h.outgoing,
                    until: entries.iter().find(|e| e.start == h.at).map(|e| e.end),
                },
                fate(due_at),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_hours(h)
    }

    fn e(user: &'static str, from: i64, to: i64) -> Entry<&'static str> {
        Entry {
            user,
            start: t(from),
            end: t(to),
        }
    }

    #[test]
    fn e_mails_are_written_in_the_person_s_language() {
        let w = Wording {
            name: "Ana",
            schedule: "Payments",
            start: "2026-01-05 09:00",
            end: "2026-01-06 09:00",
            other: None,
        };
        let (subject, body) = email(NoticeKind::OnCall, language(Some("en-US")), &w);
        assert_eq!(subject, "You are on call for Payments");
        assert!(
            body.contains("from 2026-01-05 09:00 until 2026-01-06 09:00")
                && body.contains("by: nobody"),
            "{body}"
        );
        let (subject, body) = email(NoticeKind::OffCall, language(Some("ja-JP")), &w);
        assert_eq!(subject, "Payments のオンコール担当が終わりました");
        assert!(
            body.starts_with("Ana さん") && body.contains("後任: なし"),
            "{body}"
        );
        assert_eq!(language(None), "en");
        assert_eq!(language(Some("fr")), "en");
    }

    #[test]
    fn hand_offs_are_the_changes_inside_the_window_only() {
        let entries = [e("a", 0, 10), e("b", 10, 20), e("c", 25, 40)];
        let found = handoffs(&entries, t(0), t(30));
        assert_eq!(
            found,
            vec![
                Handoff {
                    at: t(10),
                    incoming: Some("b"),
                    outgoing: Some("a")
                },
                Handoff {
                    at: t(20),
                    incoming: None,
                    outgoing: Some("b")
                },
                Handoff {
                    at: t(25),
                    incoming: Some("c"),
                    outgoing: None
                },
            ]
        );
    }

    #[test]
    fn notices_follow_settings_and_come_late_only_within_the_grace_window() {
        let entries = [e("a", 0, 100), e("b", 100, 102), e("c", 102, 200)];
        let now = t(102) + SignedDuration::from_mins(30);
        let settings = |u: &&str| match *u {
            "a" => Settings {
                handoff: HandoffSetting::Off,
                reminder_hours: None,
            },
            "b" => Settings::default(),
            _ => Settings {
                handoff: HandoffSetting::IfHasServices,
                reminder_hours: Some(2),
            },
        };
        let paging = due(&entries, now, true, settings);
        let kinds: Vec<(&str, NoticeKind, Fate)> =
            paging.iter().map(|(n, f)| (n.user, n.kind, *f)).collect();
        assert_eq!(
            kinds,
            vec![
                // 2.5 hours ago: too late. "a" asked for nothing.
                ("b", NoticeKind::OnCall, Fate::TooLate),
                ("c", NoticeKind::OnCall, Fate::Send),
                ("b", NoticeKind::OffCall, Fate::Send),
                ("c", NoticeKind::Reminder, Fate::TooLate),
            ]
        );
        let quiet = due(&entries, now, false, settings);
        assert!(quiet.iter().all(|(n, _)| n.user == "b"), "{quiet:?}");
    }
}
