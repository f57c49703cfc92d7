//! The hand-off job: once a minute (on the scheduler's tick) every schedule's final schedule
//! is rendered around now, the notices due are worked out (`domain::handoff::due`), and each
//! new one is claimed in `handoff_notices` and its e-mail queued in the same transaction.
//! The claim's primary key makes each notice happen once, whichever instance gets there
//! first and across restarts; one found later than `handoff::GRACE` is recorded as skipped
//! and logged instead of sent.

use crate::clock::{SharedClock, jiff_now, stored_instant};
use crate::domain::handoff::{self, Fate, LOOKBACK, MAX_REMINDER_HOURS, Notice, Wording};
use crate::domain::ids::UserId;
use crate::domain::schedule::{self, pieces};
use crate::domain::seats::NotOnCall;
use crate::error::AppResult;
use crate::jobs::email_delivery::Wakeup;
use crate::jobs::processing::Gate;
use crate::store::emails::{self, NewEmail};
use crate::store::handoffs::{self, NoticeRow};
use crate::store::schedules::{self, Person};
use crate::store::{self, Db, DbConnection};
use jiff::SignedDuration;
use std::collections::HashMap;

/// How long a notice's claim is kept after the pass stops looking at it.
pub const KEEP_CLAIMS: SignedDuration = SignedDuration::from_hours(24 * 14);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Notices sent (e-mails queued).
    pub sent: usize,
    /// Notices found too late: recorded, logged, not sent.
    pub too_late: usize,
}

/// The hand-off job's parts.
#[derive(Clone)]
pub struct HandoffJob {
    pub db: Db,
    /// Schedules as loaded, kept between passes.
    pub finals: std::sync::Arc<crate::use_cases::finals::Cache>,
    pub clock: SharedClock,
    pub emails: Wakeup,
    pub gate: Gate,
}

impl HandoffJob {
    /// One pass at the clock's now.
    pub async fn run_once(&self) -> AppResult<Pass> {
        let now = self.clock.now();
        let gate = self.gate.clone();
        let finals = self.finals.clone();
        let pass = self
            .db
            .run(move |conn| {
                if !gate.admits(conn)? {
                    return Ok(Pass::default());
                }
                pass(conn, &finals, now)
            })
            .await?;
        if pass.sent > 0 {
            self.emails.poke();
        }
        Ok(pass)
    }
}

/// A due notice with what its e-mail names.
struct Due {
    row: NoticeRow,
    notice: Notice<UserId>,
    schedule: String,
}

fn pass(
    conn: &mut DbConnection,
    finals: &crate::use_cases::finals::Cache,
    at: chrono::DateTime<chrono::Utc>,
) -> AppResult<Pass> {
    let now = jiff_now(at);
    // Rendered wider than what is looked at, so the window's edges are not hand-offs.
    let margin = SignedDuration::from_hours(24);
    let from = now - LOOKBACK - margin;
    let to = now + SignedDuration::from_hours(i64::from(MAX_REMINDER_HOURS)) + margin;
    let known = finals.schedules(conn, None)?;
    // Keeps this instance's final-schedule pieces of every schedule rendered for this week
    // and the next (`use_cases::finals`): no request, and no new week, pays for rendering
    // thousands of them.
    let ids: Vec<_> = known.iter().map(|k| k.loaded.schedule.id.clone()).collect();
    for at in [now, now + SignedDuration::from_secs(pieces::PIECE_SECONDS)] {
        finals.final_schedules(conn, &ids, &[], at, at)?;
    }
    let loaded = known.iter().map(|k| &k.loaded);
    let overrides = schedules::overrides_in(conn, None, stored_instant(from), stored_instant(to))?;
    let mut by_schedule: HashMap<_, Vec<_>> = HashMap::new();
    for o in &overrides {
        by_schedule
            .entry(o.schedule_id.clone())
            .or_default()
            .push(o.engine());
    }
    let managers = handoffs::managers(conn)?;
    let mut ids: Vec<UserId> = loaded.clone().flat_map(|s| s.people()).collect();
    ids.extend(overrides.iter().map(|o| o.user_id.clone()));
    ids.extend(managers.values().flatten().cloned());
    ids.sort();
    ids.dedup();
    let people = schedules::people(conn, &ids)?;
    let settings = handoffs::settings(conn)?;
    let paging = handoffs::paging_schedules(conn)?;
    let claimed = handoffs::claimed_since(conn, stored_instant(now - LOOKBACK - margin))?;
    // Claims older than any pass looks back are kept a while (to read what was sent), then
    // go: the table stays the size of a few weeks of hand-offs.
    handoffs::forget_before(conn, stored_instant(now - LOOKBACK - margin - KEEP_CLAIMS))?;
    let stored_now = crate::clock::stored(at);
    let mut due = Vec::new();
    for s in loaded {
        let os = by_schedule
            .get(&s.schedule.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (rendered, skipped) = schedule::render_skipping(
            &s.for_render(),
            os,
            s.schedule.time_zone.tz(),
            from,
            to,
            |u| match people.get(u) {
                Some(p) => p.on_call().err(),
                None => Some(NotOnCall::Deactivated),
            },
        );
        let mut notices = handoff::due(
            &rendered.final_schedule,
            now,
            paging.contains(&s.schedule.id),
            |u| settings.get(u).copied().unwrap_or_default(),
        );
        let mut told: Vec<UserId> = s
            .teams
            .iter()
            .flat_map(|t| managers.get(t).into_iter().flatten().cloned())
            .collect();
        told.sort();
        told.dedup();
        let skipped: Vec<_> = skipped.into_iter().map(|k| k.entry).collect();
        notices.extend(handoff::manager_notices(
            &rendered.gaps,
            &skipped,
            now,
            &told,
        ));
        for (notice, fate) in notices {
            let row = NoticeRow {
                schedule_id: s.schedule.id.clone(),
                user_id: notice.user.clone(),
                kind: notice.kind,
                at: stored_instant(notice.at),
                due_at: stored_instant(notice.due),
                fate,
                created_at: stored_now,
            };
            if !claimed.contains(&row.key()) {
                due.push(Due {
                    row,
                    notice,
                    schedule: s.schedule.name.clone(),
                });
            }
        }
    }
    if due.is_empty() {
        return Ok(Pass::default());
    }
    store::write(conn, |tx| {
        let mut pass = Pass::default();
        let mut mails = Vec::new();
        let rows: Vec<NoticeRow> = due.iter().map(|d| d.row.clone()).collect();
        let claimed = handoffs::claim(tx, &rows)?;
        for d in &due {
            if !claimed.contains(&d.row.key()) {
                continue;
            }
            match d.row.fate {
                Fate::TooLate => {
                    pass.too_late += 1;
                    tracing::warn!(
                        schedule = %d.row.schedule_id,
                        user = %d.row.user_id,
                        kind = d.row.kind.as_str(),
                        due_at = %d.row.due_at,
                        "hand-off notice found later than the grace window (the server was down?); skipped"
                    );
                }
                Fate::Send => {
                    if let Some(mail) = email(d, &people) {
                        mails.push(mail);
                        pass.sent += 1;
                    }
                }
            }
        }
        if !mails.is_empty() {
            emails::enqueue(tx, &mails, at)?;
        }
        Ok(pass)
    })
}

/// The notice's e-mail, in the person's language and time zone; none without an address.
fn email(d: &Due, people: &HashMap<UserId, Person>) -> Option<NewEmail> {
    let person = people.get(&d.notice.user)?;
    let to = person.email.clone()?;
    let tz = jiff::tz::TimeZone::get(&person.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let written = |t: jiff::Timestamp| {
        format!(
            "{} ({})",
            t.to_zoned_datetime(tz.clone()).strftime("%Y-%m-%d %H:%M"),
            person.time_zone
        )
    };
    let other = d
        .notice
        .other
        .as_ref()
        .map(|u| people.get(u).map_or(u.to_string(), |p| p.name.clone()));
    let end = d.notice.until.map(written).unwrap_or_default();
    let (subject, body) = handoff::email(
        d.notice.kind,
        handoff::language(person.locale.as_deref()),
        &Wording {
            name: &person.name,
            schedule: &d.schedule,
            start: &written(d.notice.at),
            end: &end,
            other: other.as_deref(),
        },
    );
    Some(NewEmail {
        to,
        subject,
        body,
        reason: match d.notice.kind {
            handoff::NoticeKind::OnCall => "handoff_on_call",
            handoff::NoticeKind::OffCall => "handoff_off_call",
            handoff::NoticeKind::Reminder => "shift_reminder",
            handoff::NoticeKind::Gap => "schedule_gap",
            handoff::NoticeKind::Skipped => "schedule_skipped_person",
        },
        list_unsubscribe: None,
    })
}
