//! `/incidents/{id}/acknowledge` and `/incidents/{id}/resolve`: the buttons on Teams and Slack
//! cards (and, later, on the incident page). A chat channel is read by many people, so its
//! links name nobody: whoever follows one signs in and acts as themselves, if the policies let
//! them respond. `GET` only asks (a chat client's link preview changes nothing); the form's
//! `POST` does it, through the web channel, with the session's CSRF token.

use super::{PageResult, Visitor};
use crate::authz::{Action, Resource};
use crate::domain::action_link::Act;
use crate::domain::ids::IncidentId;
use crate::domain::incident::{self as rules, Channel};
use crate::http::AppState;
use crate::http::act::{confirmation, done, nothing_to_do};
use crate::http::api::incidents::acting;
use crate::store::incidents::{self as incident_store, Incident};
use crate::use_cases::incidents as cases;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, act) in [
        ("/incidents/{id}/acknowledge", Act::Acknowledge),
        ("/incidents/{id}/resolve", Act::Resolve),
    ] {
        cfg.service(
            web::resource(path)
                .app_data(web::Data::new(act))
                .route(web::get().to(confirm))
                .route(web::post().to(perform)),
        );
    }
}

#[derive(Deserialize)]
struct ActForm {
    csrf_token: Option<String>,
}

async fn load(state: &AppState, id: IncidentId) -> PageResult<Incident> {
    Ok(state
        .db
        .run(move |conn| incident_store::find(conn, &id))
        .await?)
}

/// Whether `act` would change `incident`.
fn open_to(act: Act, incident: &Incident) -> bool {
    matches!(
        rules::next_status(incident.status, act.change()),
        Ok(Some(_))
    )
}

/// The confirmation page: the incident and a button that posts back here.
async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    act: web::Data<Act>,
    id: web::Path<String>,
) -> PageResult {
    let act = **act;
    let v = Visitor::of(&req, &state).await?;
    v.caller.may(
        Action::RespondToIncident,
        &Resource::Account,
        "respond to incidents",
    )?;
    let incident = load(&state, IncidentId(id.into_inner())).await?;
    if !open_to(act, &incident) {
        return Ok(nothing_to_do(act, &incident));
    }
    Ok(confirmation(
        act,
        &incident,
        &v.current.user.name,
        req.path(),
        &v.csrf_field(),
    ))
}

/// Does it, as the signed-in person.
async fn perform(
    req: HttpRequest,
    state: web::Data<AppState>,
    act: web::Data<Act>,
    id: web::Path<String>,
    form: Option<web::Form<ActForm>>,
) -> PageResult {
    let act = **act;
    let v = Visitor::of(&req, &state).await?;
    v.check_form(
        &req,
        form.as_ref().and_then(|f| f.csrf_token.as_deref()),
        &state,
    )?;
    let (mut agent, _) = acting(&state, &v.caller, &req, "respond to incidents").await?;
    agent.channel = Channel::Web;
    let id = IncidentId(id.into_inner());
    let incident = load(&state, id.clone()).await?;
    if !open_to(act, &incident) {
        return Ok(nothing_to_do(act, &incident));
    }
    let at = state.clock.now();
    let changed = state
        .db
        .run(move |conn| cases::change_status(conn, &agent, at, &[id], act.change()))
        .await?
        .remove(0);
    state
        .metrics
        .incidents_changed(std::slice::from_ref(&changed), at);
    state.notifications.poke();
    Ok::<HttpResponse, _>(done(act, &changed.incident))
}
