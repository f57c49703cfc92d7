//! The demo's month of history, told through the service's own interfaces over loopback HTTP:
//! Entra's provisioning through SCIM, an admin through the REST API, monitoring through the
//! Events API, responders acknowledging and resolving as themselves. Nothing is written
//! around the rules the real clients meet. The clock travels: each step happens on the day it
//! belongs to, and the daily seat reconcile runs for every day, so the timelines, the audit
//! log and the seat usage chart read like a month of use.

use super::organisation::{
    self as org, FULL_CAP, MANAGERS, OPEN, PAST, PEOPLE, POLICIES, Restriction, SAMPLE_SERVICE,
    SCHEDULES, SERVICES, STAKEHOLDER_CAP, Team,
};
use crate::clock::{Clock, TravellingClock};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the demo's pages need once the story is told.
pub struct Seeded {
    /// The sample service's Events API routing key (kept in memory only).
    pub sample_key: String,
}

/// The caller of the interfaces: the service's own address and the two tokens the story
/// uses (an owner's API token, Entra's SCIM token), revoked at the end.
pub struct Caller {
    pub http: reqwest::Client,
    pub base: String,
    pub api_token: String,
    pub scim_token: String,
}

impl Caller {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        scim: bool,
        from: Option<&str>,
    ) -> AppResult<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        req = if scim {
            req.bearer_auth(&self.scim_token)
                .header("Content-Type", "application/scim+json")
        } else {
            req.header("Authorization", format!("Token token={}", self.api_token))
        };
        if let Some(from) = from {
            req = req.header("From", from);
        }
        if let Some(body) = body {
            req = req.body(body.to_string());
            if !scim {
                req = req.header("Content-Type", "application/json");
            }
        }
        let res = req
            .send()
            .await
            .map_err(|e| AppError::internal(format!("demo: {method} {path}: {e}")))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(AppError::internal(format!(
                "demo: {method} {path} answered {status}: {text}"
            )));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> AppResult<Value> {
        self.call(method, &format!("/api/v2{path}"), body, false, None)
            .await
    }

    /// A request made as a person (the `From` header an account token acts with).
    async fn as_person(
        &self,
        login: &str,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> AppResult<Value> {
        self.call(
            method,
            &format!("/api/v2{path}"),
            Some(body),
            false,
            Some(login),
        )
        .await
    }

    async fn scim(&self, path: &str, body: Value) -> AppResult<Value> {
        self.call(
            reqwest::Method::POST,
            &format!("/scim/v2{path}"),
            Some(body),
            true,
            None,
        )
        .await
    }

    async fn event(&self, body: Value) -> AppResult<Value> {
        self.call(
            reqwest::Method::POST,
            "/v2/enqueue",
            Some(body),
            false,
            None,
        )
        .await
    }
}

fn id(v: &Value, object: &str) -> AppResult<String> {
    v[object]["id"]
        .as_str()
        .or_else(|| v["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| AppError::internal(format!("demo: no id in the {object} answer: {v}")))
}

fn reference(id: &str, kind: &str) -> Value {
    json!({"id": id, "type": kind})
}

/// The story's state: ids by login and by name, and where the clock stands.
struct Story<'a> {
    caller: &'a Caller,
    clock: &'a TravellingClock,
    reconcile: &'a crate::jobs::seat_reconcile::Reconciler,
    /// Midnight UTC today.
    today: DateTime<Utc>,
    users: HashMap<&'static str, String>,
    teams: HashMap<&'static str, String>,
    schedules: HashMap<&'static str, String>,
    policies: HashMap<&'static str, String>,
    keys: HashMap<&'static str, String>,
    reconciled_through: i64,
}

impl Story<'_> {
    /// `days` before today (0: today) at `hour`:`minute` UTC.
    fn at(&self, days: i64, hour: i64, minute: i64) -> DateTime<Utc> {
        self.today - Duration::days(days) + Duration::hours(hour) + Duration::minutes(minute)
    }

    /// Moves the clock to `at`, running the daily seat reconcile for every day passed.
    async fn go_to(&mut self, days: i64, at: DateTime<Utc>) -> AppResult<()> {
        while self.reconciled_through > days {
            self.reconciled_through -= 1;
            let day = self.reconciled_through;
            self.clock.travel_to(self.at(day, 2, 0));
            self.reconcile.run_once(&format!("demo-{day}")).await?;
        }
        self.clock.travel_to(at);
        Ok(())
    }

    fn user(&self, login: &str) -> AppResult<&String> {
        self.users
            .get(login)
            .ok_or_else(|| AppError::internal(format!("demo: no person {login}")))
    }

    async fn provision(&mut self, person: &org::Person) -> AppResult<()> {
        let (given, family) = person.name.split_once(' ').unwrap_or((person.name, ""));
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "externalId": uuid::Uuid::new_v4().to_string(),
            "userName": person.login,
            "active": true,
            "displayName": person.name,
            "name": {"givenName": given, "familyName": family, "formatted": person.name},
            "emails": [{"value": person.login, "type": "work", "primary": true}],
            "phoneNumbers": [{"value": person.phone, "type": "mobile"}],
            "preferredLanguage": person.language,
            "timezone": person.time_zone,
            "roles": [{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "value": person.app_role}],
        });
        let made = self.caller.scim("/Users", body).await?;
        self.users.insert(person.login, id(&made, "user")?);
        Ok(())
    }

    async fn team(&mut self, team: Team, members: &[&'static str]) -> AppResult<()> {
        let ids = members
            .iter()
            .map(|m| self.user(m).cloned())
            .collect::<AppResult<Vec<_>>>()?;
        let team_id = if team.from_directory() {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "externalId": uuid::Uuid::new_v4().to_string(),
                "displayName": team.name(),
                "members": ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>(),
            });
            id(&self.caller.scim("/Groups", body).await?, "team")?
        } else {
            let made = self
                .caller
                .api(
                    reqwest::Method::POST,
                    "/teams",
                    Some(json!({"team": {"name": team.name()}})),
                )
                .await?;
            let team_id = id(&made, "team")?;
            for member in &ids {
                self.caller
                    .api(
                        reqwest::Method::PUT,
                        &format!("/teams/{team_id}/users/{member}"),
                        Some(json!({"role": if team == Team::Support { "observer" } else { "responder" }})),
                    )
                    .await?;
            }
            team_id
        };
        for manager in MANAGERS.iter().filter(|m| members.contains(m)) {
            let user = self.user(manager)?.clone();
            self.caller
                .api(
                    reqwest::Method::PUT,
                    &format!("/teams/{team_id}/users/{user}"),
                    Some(json!({"role": "manager"})),
                )
                .await?;
        }
        self.teams.insert(team.name(), team_id);
        Ok(())
    }

    fn team_refs(&self, team: Team) -> Vec<Value> {
        self.teams
            .get(team.name())
            .map(|id| vec![reference(id, "team_reference")])
            .unwrap_or_default()
    }

    async fn schedule(&mut self, s: &org::Schedule) -> AppResult<()> {
        let start = self.at(20, 0, 0);
        let layers = s
            .layers
            .iter()
            .map(|l| {
                let at = (start + Duration::hours(l.hand_off_utc.into())).to_rfc3339();
                let users = l
                    .people
                    .iter()
                    .map(|p| Ok(json!({"user": reference(self.user(p)?, "user_reference")})))
                    .collect::<AppResult<Vec<_>>>()?;
                let restrictions = match &l.restriction {
                    None => vec![],
                    Some(Restriction::Daily { start, hours }) => vec![json!({
                        "type": "daily_restriction", "start_time_of_day": start,
                        "duration_seconds": hours * 3600})],
                    Some(Restriction::Weekly { day, start, hours }) => vec![json!({
                        "type": "weekly_restriction", "start_day_of_week": day,
                        "start_time_of_day": start, "duration_seconds": hours * 3600})],
                };
                Ok(json!({
                    "name": l.name, "start": at, "rotation_virtual_start": at,
                    "rotation_turn_length_seconds": l.turn_hours * 3600,
                    "users": users, "restrictions": restrictions,
                }))
            })
            .collect::<AppResult<Vec<_>>>()?;
        let body = json!({"schedule": {
            "name": s.name, "type": "schedule", "time_zone": s.time_zone,
            "description": format!("{} on-call rotation", s.team.name()),
            "schedule_layers": layers, "teams": self.team_refs(s.team),
        }});
        let made = self
            .caller
            .api(reqwest::Method::POST, "/schedules", Some(body))
            .await?;
        self.schedules.insert(s.name, id(&made, "schedule")?);
        Ok(())
    }

    async fn override_shift(
        &self,
        schedule: &str,
        login: &str,
        from: DateTime<Utc>,
        hours: i64,
    ) -> AppResult<()> {
        let schedule = &self.schedules[schedule];
        let body = json!({"overrides": [{
            "start": from.to_rfc3339(), "end": (from + Duration::hours(hours)).to_rfc3339(),
            "user": reference(self.user(login)?, "user_reference"),
        }]});
        self.caller
            .api(
                reqwest::Method::POST,
                &format!("/schedules/{schedule}/overrides"),
                Some(body),
            )
            .await?;
        Ok(())
    }

    async fn policy(&mut self, p: &org::Policy) -> AppResult<()> {
        let rules = p
            .levels
            .iter()
            .map(|(delay, targets)| {
                let targets = targets
                    .iter()
                    .map(|t| match self.schedules.get(t) {
                        Some(s) => Ok(reference(s, "schedule_reference")),
                        None => Ok(reference(self.user(t)?, "user_reference")),
                    })
                    .collect::<AppResult<Vec<_>>>()?;
                Ok(json!({"escalation_delay_in_minutes": delay, "targets": targets}))
            })
            .collect::<AppResult<Vec<_>>>()?;
        let body = json!({"escalation_policy": {
            "name": p.name, "escalation_rules": rules, "num_loops": 1,
            "teams": self.team_refs(p.team),
        }});
        let made = self
            .caller
            .api(reqwest::Method::POST, "/escalation_policies", Some(body))
            .await?;
        self.policies
            .insert(p.name, id(&made, "escalation_policy")?);
        Ok(())
    }

    async fn service(&mut self, s: &org::Service) -> AppResult<()> {
        let body = json!({"service": {
            "name": s.name, "description": s.description,
            "escalation_policy": reference(&self.policies[s.policy], "escalation_policy_reference"),
            "teams": self.team_refs(s.team),
        }});
        let made = self
            .caller
            .api(reqwest::Method::POST, "/services", Some(body))
            .await?;
        let service = id(&made, "service")?;
        let integration = self
            .caller
            .api(
                reqwest::Method::POST,
                &format!("/services/{service}/integrations"),
                Some(json!({"integration": {"type": "events_api_v2_inbound_integration", "name": "Monitoring"}})),
            )
            .await?;
        let key = integration["integration"]["integration_key"]
            .as_str()
            .ok_or_else(|| AppError::internal("demo: no integration key in the answer"))?;
        self.keys.insert(s.name, key.to_owned());
        Ok(())
    }

    /// An event from monitoring; returns the incident it opened.
    async fn trigger(
        &self,
        service: &str,
        summary: &str,
        severity: &str,
        dedup: &str,
    ) -> AppResult<String> {
        let source = summary
            .split_once(": ")
            .map_or("prometheus", |(_, s)| s.split(' ').next().unwrap_or(s));
        self.caller
            .event(json!({
                "routing_key": self.keys[service], "event_action": "trigger", "dedup_key": dedup,
                "payload": {"summary": summary, "source": source, "severity": severity,
                    "component": service, "group": "production"},
            }))
            .await?;
        let newest = self
            .caller
            .api(
                reqwest::Method::GET,
                "/incidents?limit=1&date_range=all&sort_by=incident_number:desc",
                None,
            )
            .await?;
        newest["incidents"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| {
                AppError::internal(format!("demo: the event opened no incident: {newest}"))
            })
    }

    async fn set_status(&self, incident: &str, login: &str, status: &str) -> AppResult<()> {
        self.caller
            .as_person(
                login,
                reqwest::Method::PUT,
                &format!("/incidents/{incident}"),
                json!({"incident": {"type": "incident_reference", "status": status}}),
            )
            .await?;
        Ok(())
    }

    async fn note(&self, incident: &str, login: &str, text: &str) -> AppResult<()> {
        self.caller
            .as_person(
                login,
                reqwest::Method::POST,
                &format!("/incidents/{incident}/notes"),
                json!({"note": {"content": text}}),
            )
            .await?;
        Ok(())
    }
}

/// Tells the story. The clock is left in the past when this returns: the caller brings it
/// back to now.
pub async fn tell(
    caller: &Caller,
    clock: &TravellingClock,
    reconcile: &crate::jobs::seat_reconcile::Reconciler,
) -> AppResult<Seeded> {
    let today = clock
        .now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let mut story = Story {
        caller,
        clock,
        reconcile,
        today,
        users: HashMap::new(),
        teams: HashMap::new(),
        schedules: HashMap::new(),
        policies: HashMap::new(),
        keys: HashMap::new(),
        reconciled_through: 31,
    };
    // A month ago: the licence owner's caps, then Entra starts provisioning, team by team.
    story.go_to(30, story.at(30, 8, 0)).await?;
    for (licence, cap) in [("full", FULL_CAP), ("stakeholder", STAKEHOLDER_CAP)] {
        caller
            .api(
                reqwest::Method::PUT,
                &format!("/licenses/{licence}"),
                Some(json!({"license": {"cap": cap}})),
            )
            .await?;
    }
    let mut days: Vec<i64> = PEOPLE.iter().map(|p| p.joined).collect();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    for day in days {
        story.go_to(day, story.at(day, 9, 30)).await?;
        for person in PEOPLE.iter().filter(|p| p.joined == day) {
            story.provision(person).await?;
        }
        for team in [Team::Platform, Team::Payments, Team::Mobile, Team::Support] {
            let members: Vec<&'static str> = PEOPLE
                .iter()
                .filter(|p| p.team == team)
                .map(|p| p.login)
                .collect();
            if PEOPLE.iter().any(|p| p.team == team && p.joined == day) {
                story.team(team, &members).await?;
            }
        }
        if day == 20 {
            // Everyone who rotates is here: the on-call set-up, a month back in time.
            story.go_to(20, story.at(20, 11, 0)).await?;
            for s in SCHEDULES {
                story.schedule(s).await?;
            }
            for p in POLICIES {
                story.policy(p).await?;
            }
            for s in SERVICES {
                story.service(s).await?;
            }
        }
    }
    // The month's incidents, one every day or so, each acknowledged, noted and resolved by
    // the person on it.
    for (n, (service, summary, severity, responder, note)) in PAST.iter().enumerate() {
        let n = n as i64;
        let day = 19 - (n * 18 / PAST.len() as i64);
        let hour = 3 + (n * 7) % 17;
        story.go_to(day, story.at(day, hour, (n * 13) % 60)).await?;
        let dedup = format!("demo-past-{n}");
        let incident = story.trigger(service, summary, severity, &dedup).await?;
        story
            .clock
            .travel_to(story.at(day, hour, (n * 13) % 60 + 4 + n % 6));
        story
            .set_status(&incident, responder, "acknowledged")
            .await?;
        story
            .clock
            .travel_to(story.at(day, hour, (n * 13) % 60 + 20 + n % 9));
        story.note(&incident, responder, note).await?;
        story
            .clock
            .travel_to(story.at(day, hour + 1, (n * 11) % 60));
        if n % 3 == 0 {
            // Some clear themselves: monitoring sends the resolve.
            caller
                .event(json!({"routing_key": story.keys[service], "event_action": "resolve", "dedup_key": dedup}))
                .await?;
        } else {
            story.set_status(&incident, responder, "resolved").await?;
        }
    }
    // Next week's swaps, made days ago.
    story.go_to(2, story.at(2, 15, 0)).await?;
    story
        .override_shift(
            "Platform primary",
            "aisha.khan@contoso.example",
            story.at(-3, 9, 0),
            24,
        )
        .await?;
    story
        .override_shift(
            "Payments primary",
            "mei.lin@contoso.example",
            story.at(-1, 0, 0),
            12,
        )
        .await?;
    // Today: what is open now.
    let now = Utc::now();
    for (n, (service, summary, severity, ago, acked_by)) in OPEN.iter().enumerate() {
        story.go_to(0, now - Duration::minutes(*ago)).await?;
        let incident = story
            .trigger(service, summary, severity, &format!("demo-open-{n}"))
            .await?;
        let Some(responder) = acked_by else { continue };
        story.clock.travel_to(now - Duration::minutes(ago - 4));
        story
            .set_status(&incident, responder, "acknowledged")
            .await?;
        story.clock.travel_to(now - Duration::minutes(ago - 8));
        story
            .note(
                &incident,
                responder,
                "Looking at it: the error rate started with the 10:40 deploy.",
            )
            .await?;
        if n == 0 {
            story.clock.travel_to(now - Duration::minutes(ago - 12));
            let subscribers: Vec<Value> = [
                "hannah.scott@contoso.example",
                "oliver.grant@contoso.example",
            ]
            .iter()
            .map(|l| Ok(json!({"subscriber_id": story.user(l)?, "subscriber_type": "user"})))
            .collect::<AppResult<_>>()?;
            caller
                .api(
                    reqwest::Method::POST,
                    &format!("/incidents/{incident}/status_updates/subscribers"),
                    Some(json!({"subscribers": subscribers})),
                )
                .await?;
            story.clock.travel_to(now - Duration::minutes(ago - 15));
            caller
                .as_person(
                    responder,
                    reqwest::Method::POST,
                    &format!("/incidents/{incident}/status_updates"),
                    json!({"message": "Some card payments in Europe fail at checkout. We have found the cause (a change made this morning) and are rolling it back. Next update in 30 minutes."}),
                )
                .await?;
        }
    }
    Ok(Seeded {
        sample_key: story.keys[SAMPLE_SERVICE].clone(),
    })
}
