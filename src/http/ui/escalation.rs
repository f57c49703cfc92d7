//! `/escalation_policies`: the list, a policy's levels (delays, the people and schedules each
//! reaches, how many times it repeats) and its editor. Reading needs `ReadOnCall`; the
//! editor saves through `use_cases::escalation::update` with `ManageEscalationPolicy` asked
//! of the policy as stored, as `PUT /api/v2/escalation_policies/{id}` does.

use super::form::{Refused, text_field};
use super::listing::{ListQuery, see_other};
use super::{PageResult, Visitor, shell};
use crate::authz::{Action, Resource};
use crate::domain::escalation::{RuleInput, Target};
use crate::domain::ids::EscalationPolicyId;
use crate::domain::schedule::input::Reference as SentReference;
use crate::error::AppResult;
use crate::http::AppState;
use crate::http::api::escalation_policies::{
    self as api, PolicyFields, PolicyObject, may_manage, policy_resource,
};
use crate::store::escalation::{self as store, LoadedPolicy};
use crate::store::schedules as schedule_store;
use crate::use_cases::escalation as cases;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use rust_i18n::t;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/escalation_policies").route(web::get().to(list)))
        .service(web::resource("/escalation_policies/{id}").route(web::get().to(show)))
        .service(
            web::resource("/escalation_policies/{id}/edit")
                .route(web::get().to(edit))
                .route(web::post().to(save)),
        );
}

fn reads(v: &Visitor) -> PageResult<()> {
    Ok(v.caller.may(
        Action::ReadOnCall,
        &Resource::Account,
        "read escalation policies",
    )?)
}

/// Policies rendered as the API renders them (names of their targets included).
fn rendered(
    conn: &mut crate::store::DbConnection,
    base: &str,
    policies: &[LoadedPolicy],
) -> AppResult<Vec<PolicyObject>> {
    let names = api::names(conn, &policies.iter().collect::<Vec<_>>())?;
    Ok(policies
        .iter()
        .map(|p| api::render(base, p, &names))
        .collect())
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    let lang = v.lang;
    let page = q.page();
    let text = q.text();
    let base = state.public_url.clone();
    let (policies, more) = state
        .db
        .run(move |conn| {
            let found = store::list(conn, Some(text.as_str()), &page)?;
            Ok((rendered(conn, &base, &found.rows)?, found.more))
        })
        .await?;
    let body = html! {
        (q.search("/escalation_policies", &t!("ui.escalation.search", locale = lang), lang))
        @if policies.is_empty() {
            p.muted { (t!("ui.escalation.none", locale = lang)) }
        } @else {
            div.table-wrap {
                table {
                    caption { (t!("ui.shell.escalation_policies", locale = lang)) }
                    thead { tr {
                        th scope="col" { (t!("ui.escalation.name", locale = lang)) }
                        th scope="col" { (t!("ui.escalation.levels", locale = lang)) }
                        th scope="col" { (t!("ui.escalation.services", locale = lang)) }
                    } }
                    tbody {
                        @for p in &policies {
                            tr {
                                td { a href=(format!("/escalation_policies/{}", p.id)) { (p.name) } }
                                td { (p.escalation_rules.len()) }
                                td { (p.services.iter().map(|s| s.summary.as_str()).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
        (q.pager("/escalation_policies", more, &t!("ui.escalation.pages", locale = lang), lang))
    };
    Ok(shell::ok(
        &v,
        "/escalation_policies",
        &t!("ui.shell.escalation_policies", locale = lang),
        body,
    ))
}

async fn load(state: &AppState, id: EscalationPolicyId) -> AppResult<(LoadedPolicy, PolicyObject)> {
    let base = state.public_url.clone();
    state
        .db
        .run(move |conn| {
            let p = store::load(conn, &id)?;
            let shown = rendered(conn, &base, std::slice::from_ref(&p))?.remove(0);
            Ok((p, shown))
        })
        .await
}

async fn show(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    reads(&v)?;
    let lang = v.lang;
    let (loaded, p) = load(&state, EscalationPolicyId(id.into_inner())).await?;
    let manage = v
        .caller
        .allows(Action::ManageEscalationPolicy, &policy_resource(&loaded));
    let body = html! {
        @if let Some(d) = &p.description { p { (d) } }
        @if manage {
            div.actions { a.button href=(format!("/escalation_policies/{}/edit", p.id)) { (t!("ui.escalation.edit", locale = lang)) } }
        }
        h2 { (t!("ui.escalation.levels", locale = lang)) }
        ol.levels {
            @for (i, r) in p.escalation_rules.iter().enumerate() {
                li {
                    h3 { (t!("ui.escalation.level", locale = lang, n = i + 1)) }
                    ul {
                        @for target in &r.targets {
                            li {
                                @if target.kind == "schedule_reference" {
                                    (t!("ui.escalation.schedule", locale = lang)) ": "
                                    a href=(format!("/schedules/{}", target.id)) { (target.summary) }
                                } @else {
                                    (t!("ui.escalation.person", locale = lang)) ": " (target.summary)
                                }
                            }
                        }
                    }
                    p.muted { (t!("ui.escalation.then_after", locale = lang, minutes = r.escalation_delay_in_minutes)) }
                }
            }
        }
        p { (t!("ui.escalation.repeats", locale = lang, count = p.num_loops)) }
        @if !p.services.is_empty() {
            h2 { (t!("ui.escalation.services", locale = lang)) }
            ul { @for s in &p.services { li { a href=(format!("/services/{}", s.id)) { (s.summary) } } } }
        }
    };
    Ok(shell::ok(&v, "/escalation_policies", &p.name, body))
}

/// The editor's fields, as typed.
#[derive(Debug, Default, Clone)]
struct EditForm {
    name: String,
    description: String,
    num_loops: String,
    handoff: String,
    /// Per level: the delay in minutes, and its targets one a line (an e-mail address is a
    /// person, anything else a schedule's id).
    levels: Vec<(String, String)>,
}

impl EditForm {
    fn of(
        loaded: &LoadedPolicy,
        p: &PolicyObject,
        emails: &std::collections::HashMap<String, String>,
    ) -> EditForm {
        EditForm {
            name: p.name.clone(),
            description: p.description.clone().unwrap_or_default(),
            num_loops: p.num_loops.to_string(),
            handoff: loaded.policy.handoff_notifications.as_str().to_owned(),
            levels: loaded
                .rules
                .rules
                .iter()
                .map(|r| {
                    let targets = r
                        .targets
                        .iter()
                        .map(|t| match t {
                            Target::User(u) => emails
                                .get(u.as_str())
                                .cloned()
                                .unwrap_or_else(|| u.to_string()),
                            Target::Schedule(s) => s.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join("\n");
                    (r.delay_minutes.to_string(), targets)
                })
                .collect(),
        }
    }

    fn read(pairs: &[(String, String)]) -> EditForm {
        let mut form = EditForm::default();
        let mut levels: std::collections::BTreeMap<usize, (String, String)> = Default::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value.clone(),
                "description" => form.description = value.clone(),
                "num_loops" => form.num_loops = value.clone(),
                "handoff" => form.handoff = value.clone(),
                _ => {
                    let Some((i, field)) =
                        key.strip_prefix("level-").and_then(|r| r.split_once('-'))
                    else {
                        continue;
                    };
                    let Some(i) = i.parse::<usize>().ok().filter(|i| *i <= 50) else {
                        continue;
                    };
                    let l = levels.entry(i).or_default();
                    match field {
                        "delay" => l.0 = value.clone(),
                        "targets" => l.1 = value.clone(),
                        _ => {}
                    }
                }
            }
        }
        form.levels = levels.into_values().collect();
        form
    }

    fn kept(&self) -> impl Iterator<Item = (usize, &(String, String))> {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, (_, targets))| !targets.trim().is_empty())
    }

    fn lines(text: &str) -> impl Iterator<Item = &str> {
        text.lines().map(str::trim).filter(|l| !l.is_empty())
    }

    fn fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = ["name", "description", "num_loops"]
            .iter()
            .map(|f| ((*f).to_owned(), (*f).to_owned()))
            .collect();
        out.push(("on_call_handoff_notifications".into(), "handoff".into()));
        for (sent, (i, _)) in self.kept().enumerate() {
            out.push((
                format!("escalation_rules[{sent}].escalation_delay_in_minutes"),
                format!("level-{i}-delay"),
            ));
            out.push((
                format!("escalation_rules[{sent}]"),
                format!("level-{i}-targets"),
            ));
        }
        out.push(("escalation_rules".into(), "level-0-targets".into()));
        out
    }

    fn policy(
        &self,
        people: &std::collections::HashMap<String, crate::domain::ids::UserId>,
        teams: &[crate::domain::ids::TeamId],
        lang: &str,
    ) -> Result<PolicyFields, Refused> {
        let mut rules = Vec::new();
        for (i, (delay, targets)) in self.kept() {
            let delay = delay.trim().parse::<i64>().map_err(|_| {
                Refused::field(
                    &format!("level-{i}-delay"),
                    t!("ui.escalation.not_minutes", locale = lang, value = delay),
                )
            })?;
            rules.push(RuleInput {
                id: None,
                escalation_delay_in_minutes: delay,
                targets: Self::lines(targets)
                    .map(|line| match people.get(line) {
                        Some(u) => SentReference {
                            id: u.to_string(),
                            kind: Some("user_reference".into()),
                        },
                        None if line.contains('@') => SentReference {
                            id: line.to_owned(),
                            kind: Some("user_reference".into()),
                        },
                        None => SentReference {
                            id: line.to_owned(),
                            kind: Some("schedule_reference".into()),
                        },
                    })
                    .collect(),
            });
        }
        let loops = self.num_loops.trim();
        let num_loops = if loops.is_empty() {
            None
        } else {
            Some(loops.parse::<i64>().map_err(|_| {
                Refused::field(
                    "num_loops",
                    t!("ui.escalation.not_count", locale = lang, value = loops),
                )
            })?)
        };
        Ok(PolicyFields {
            name: Some(self.name.clone()),
            kind: Some("escalation_policy".into()),
            description: Some(self.description.clone()).filter(|d| !d.trim().is_empty()),
            num_loops,
            on_call_handoff_notifications: Some(self.handoff.clone()).filter(|h| !h.is_empty()),
            escalation_rules: rules,
            teams: teams
                .iter()
                .map(|t| SentReference {
                    id: t.to_string(),
                    kind: Some("team_reference".into()),
                })
                .collect(),
        })
    }
}

fn editor(v: &Visitor, id: &str, title: &str, form: &EditForm, refused: &Refused) -> HttpResponse {
    let lang = v.lang;
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let body = html! {
        p { a href=(format!("/escalation_policies/{id}")) { (t!("ui.escalation.back", locale = lang, name = title)) } }
        (refused.summary(lang))
        form.stack method="post" action=(format!("/escalation_policies/{id}/edit")) {
            (v.csrf())
            (text_field("name", &t!("ui.escalation.name", locale = lang), "text", &form.name, refused))
            (text_field("description", &t!("ui.escalation.description", locale = lang), "text", &form.description, refused))
            @for (i, (delay, targets)) in form.levels.iter().enumerate() {
                @let f = |n: &str| format!("level-{i}-{n}");
                fieldset.layer {
                    legend { (t!("ui.escalation.level", locale = lang, n = i + 1)) }
                    div {
                        label for=(f("targets")) { (t!("ui.escalation.targets", locale = lang)) }
                        p.muted id=(format!("{}-hint", f("targets"))) { (t!("ui.escalation.targets_hint", locale = lang)) }
                        textarea id=(f("targets")) name=(f("targets")) rows="3"
                            aria-invalid=[refused.invalid(&f("targets"))]
                            aria-describedby=(format!("{}-hint", f("targets"))) { (targets) }
                        (refused.under(&f("targets")))
                    }
                    (text_field(&f("delay"), &t!("ui.escalation.delay", locale = lang), "number", delay, refused))
                }
            }
            (text_field("num_loops", &t!("ui.escalation.num_loops", locale = lang), "number", &form.num_loops, refused))
            div {
                label for="handoff" { (t!("ui.escalation.handoff", locale = lang)) }
                select #handoff name="handoff" {
                    option value="if_has_services" selected[form.handoff != "always"] { (t!("ui.escalation.handoff_if_services", locale = lang)) }
                    option value="always" selected[form.handoff == "always"] { (t!("ui.escalation.handoff_always", locale = lang)) }
                }
            }
            div { button type="submit" { (t!("ui.common.save", locale = lang)) } }
        }
    };
    shell::page(
        v,
        status,
        "/escalation_policies",
        &t!("ui.escalation.edit_title", locale = lang, name = title),
        body,
    )
}

async fn editable(
    v: &Visitor,
    state: &AppState,
    id: &str,
) -> PageResult<(LoadedPolicy, PolicyObject)> {
    reads(v)?;
    let (loaded, p) = load(state, EscalationPolicyId(id.to_owned())).await?;
    v.caller.may(
        Action::ManageEscalationPolicy,
        &policy_resource(&loaded),
        "change this escalation policy",
    )?;
    Ok((loaded, p))
}

async fn edit(req: HttpRequest, state: web::Data<AppState>, id: web::Path<String>) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    let (loaded, p) = editable(&v, &state, &id).await?;
    let users: Vec<_> = loaded
        .rules
        .rules
        .iter()
        .flat_map(|r| r.targets.iter())
        .filter_map(|t| match t {
            Target::User(u) => Some(u.clone()),
            Target::Schedule(_) => None,
        })
        .collect();
    let people = state
        .db
        .run(move |conn| schedule_store::people(conn, &users))
        .await?;
    let emails = people
        .into_iter()
        .filter_map(|(id, p)| p.email.map(|e| (id.to_string(), e)))
        .collect();
    let mut form = EditForm::of(&loaded, &p, &emails);
    form.levels.push(("30".into(), String::new()));
    Ok(editor(&v, &id, &p.name, &form, &Refused::default()))
}

async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    pairs: web::Form<Vec<(String, String)>>,
) -> PageResult {
    let v = Visitor::of(&req, &state).await?;
    let token = pairs
        .iter()
        .find(|(k, _)| k == "csrf_token")
        .map(|(_, t)| t.as_str());
    v.check_form(&req, token, &state)?;
    let (loaded, p) = editable(&v, &state, &id).await?;
    let form = EditForm::read(&pairs);
    let lang = v.lang;
    let caller = v.caller.clone();
    let ctx = v.caller.audit();
    let policy_id = loaded.policy.id.clone();
    let form2 = form.clone();
    let outcome = state
        .db
        .run(move |conn| {
            let lines: Vec<String> = form2
                .kept()
                .flat_map(|(_, (_, t))| EditForm::lines(t).map(str::to_owned).collect::<Vec<_>>())
                .collect();
            let people = schedule_store::find_people(conn, &lines)?;
            let fields = match form2.policy(&people, &loaded.teams, lang) {
                Ok(f) => f,
                Err(r) => return Ok(Err(r)),
            };
            let refusal = |e| {
                let fields = form2.fields();
                let pairs: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(a, f)| (a.as_str(), f.as_str()))
                    .collect();
                Refused::from(e, &pairs)
            };
            let draft = match api::draft(fields) {
                Ok(d) => d,
                Err(e) => return refusal(e).map(Err),
            };
            let teams = draft.teams.clone();
            match cases::update(conn, &ctx, &policy_id, draft, |before| {
                may_manage(&caller, Some(before), &teams)
            }) {
                Ok(_) => Ok(Ok(())),
                Err(e) => refusal(e).map(Err),
            }
        })
        .await?;
    match outcome {
        Ok(()) => Ok(see_other(&format!("/escalation_policies/{id}"))),
        Err(refused) => Ok(editor(&v, &id, &p.name, &form, &refused)),
    }
}
