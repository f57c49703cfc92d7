//! Acknowledge/resolve links in notification e-mails: `issue` makes a person's pair of links
//! for an incident (the e-mail builder calls it); `look` is what the confirmation page shows
//! (it changes nothing, so a mail scanner's prefetch acknowledges nothing); `act` does it:
//! the link's `jti` is recorded and the status changed in one transaction, so a link works
//! once. The person must still be able to respond (active, with a full seat) when they use it.

use super::incidents::{self, Agent};
use crate::domain::action_link::{self, Act, Claims, LinkError};
use crate::domain::ids::{IncidentId, UserId};
use crate::domain::incident::{self as rules, Channel};
use crate::error::AppError;
use crate::store::incidents::{self as incident_store, Incident};
use crate::store::schedules::{self, Person};
use crate::store::{self as db, DbConnection, action_links as store, notifications};
use chrono::{DateTime, Utc};

/// Why a link does nothing.
#[derive(Debug)]
pub enum Refusal {
    /// It does not verify, or has expired.
    Link(LinkError),
    /// It was used already.
    Used,
    /// The person it was sent to may no longer respond (deactivated, deleted, no full seat).
    MayNotRespond,
    /// The incident is gone, or a fault on our side.
    App(AppError),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Self {
        Refusal::App(e)
    }
}

/// What a link would do, for the confirmation page.
#[derive(Debug)]
pub struct Preview {
    pub act: Act,
    pub incident: Incident,
    /// Who it acts as.
    pub person: String,
}

/// What using a link did.
#[derive(Debug)]
pub struct Acted {
    pub act: Act,
    /// The incident after it.
    pub incident: Incident,
    /// False when the incident was there already (or resolved, for an acknowledge link).
    pub changed: bool,
}

/// The acknowledge and resolve links (`{public_url}/act/{token}`) for `user` on `incident`,
/// working for `action_link::LIFETIME_SECONDS` from `now`. Fine inside the caller's
/// transaction (the key is made on first use without spoiling it).
pub fn issue(
    conn: &mut DbConnection,
    public_url: &str,
    user: &UserId,
    incident: &IncidentId,
    now: DateTime<Utc>,
) -> crate::error::AppResult<(String, String)> {
    let key = store::key(conn, crate::clock::stored(now))?;
    let base = public_url.trim_end_matches('/');
    let link = |act: Act| {
        let mut random = [0u8; 16];
        rand::fill(&mut random);
        let claims = Claims::new(
            user.clone(),
            incident.clone(),
            act,
            hex::encode(random),
            now.timestamp(),
        );
        format!("{base}/act/{}", action_link::sign(&key, &claims))
    };
    Ok((link(Act::Acknowledge), link(Act::Resolve)))
}

/// The link's claims, if it verifies now.
fn verified(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> Result<Claims, Refusal> {
    // Too long to be ours: refused before the key is even read (or made).
    if token.len() > action_link::MAX_TOKEN_LEN {
        return Err(Refusal::Link(LinkError::Invalid));
    }
    let key = store::key(conn, crate::clock::stored(now))?;
    action_link::verify(&key, token, now.timestamp()).map_err(Refusal::Link)
}

/// The person the link was sent to, if they may still respond.
fn responder(conn: &mut DbConnection, id: &UserId) -> Result<Person, Refusal> {
    let person = schedules::people(conn, std::slice::from_ref(id))?
        .remove(id)
        .ok_or(Refusal::MayNotRespond)?;
    person.on_call().map_err(|_| Refusal::MayNotRespond)?;
    Ok(person)
}

/// What the link would do, changing nothing.
pub fn look(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> Result<Preview, Refusal> {
    let claims = verified(conn, token, now)?;
    if store::was_used(conn, &claims.jti)? {
        return Err(Refusal::Used);
    }
    let person = responder(conn, &claims.sub)?;
    let incident = incident_store::find(conn, &claims.inc)?;
    Ok(Preview {
        act: claims.act,
        incident,
        person: person.name,
    })
}

/// Uses the link: records it and changes the incident's status as its person, through the
/// e-mail channel, in one transaction. Acknowledging a resolved incident changes nothing
/// (the page says it is resolved) but still uses the link.
pub fn act(conn: &mut DbConnection, token: &str, now: DateTime<Utc>) -> Result<Acted, Refusal> {
    let claims = verified(conn, token, now)?;
    // As `incidents::change_status` does: sends in progress finish first (SQLite).
    let _guards = notifications::change_guards(&[&claims.inc]);
    // The transaction commits when the answer is a refusal: nothing was written before one.
    db::write(conn, |tx| {
        let person = match responder(tx, &claims.sub) {
            Ok(p) => p,
            Err(Refusal::App(e)) => return Err(e),
            Err(r) => return Ok(Err(r)),
        };
        if !store::record_use(tx, &claims.jti, &claims.inc, crate::clock::stored(now))? {
            return Ok(Err(Refusal::Used));
        }
        let incident = incident_store::find_for_update(tx, &claims.inc)?;
        let change = claims.act.change();
        if !matches!(rules::next_status(incident.status, change), Ok(Some(_))) {
            return Ok(Ok(Acted {
                act: claims.act,
                incident,
                changed: false,
            }));
        }
        let agent = Agent::user(&person.id, &person.name, Channel::Email);
        let mut after = incidents::change_status_in(
            tx,
            &agent,
            now,
            std::slice::from_ref(&claims.inc),
            change,
        )?;
        Ok(Ok(Acted {
            act: claims.act,
            incident: after.remove(0).incident,
            changed: true,
        }))
    })?
}
