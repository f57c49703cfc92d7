//! The composition root: `assemble` wires the application from its configuration (the pool and
//! migrations, the mailer, sign-in, the configured seat caps, the seat reconciler, the shared
//! `AppState`), and `App` runs the start-up work and the background jobs. `rota serve` and the
//! tests' `TestApp` both start through here, so the tests exercise the real start-up; `serve`
//! adds only the listener, the serve lock and the signals.
//!
//! Not here: reading and validating the policy files (the caller does that first, so broken
//! policies stop `serve` before anything is touched, with their own exit status), and the HTTP
//! routes (`http::server`).

use crate::authz::Policies;
use crate::clock::SharedClock;
use crate::config::{self, Config, ConfigError, SeatCaps};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::processing::Job;
use crate::domain::seat_policy::{Licence, SeatPolicy};
use crate::error::{AppError, ErrorKind};
use crate::http::sign_in::{SignInConfig, SignInSettings};
use crate::http::{AppState, metrics::Metrics};
use crate::jobs::email_delivery::{Delivery, Wakeup};
use crate::jobs::escalation::{EscalationJob, Escalations};
use crate::jobs::handoffs::HandoffJob;
use crate::jobs::notifications::{Dispatcher, NotificationJob};
use crate::jobs::processing::Gate;
use crate::jobs::seat_reconcile::Reconciler;
use crate::jobs::ticker::Ticker;
use crate::notify::email::Mailer;
use crate::store::audit::AuditContext;
use crate::store::{self, Db, sessions};
use actix_web::web;

/// Why the application could not be assembled.
#[derive(Debug)]
pub enum StartError {
    /// A configuration value cannot be used; the message names its key.
    Config(ConfigError),
    /// Something failed (the database, a migration); the message says what.
    Runtime(String),
}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        StartError::Config(e)
    }
}

impl From<AppError> for StartError {
    fn from(e: AppError) -> Self {
        StartError::Runtime(e.to_string())
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Runtime(m) => f.write_str(m),
        }
    }
}

/// The wired application, before it listens.
pub struct App {
    /// What every request handler shares.
    pub state: web::Data<AppState>,
    pub db: Db,
    pub clock: SharedClock,
    /// Pokes e-mail delivery after a commit that enqueued e-mails.
    pub email_delivery: Wakeup,
    /// Runs the seat reconcile (the daily loop, the start-up run, or a test on demand).
    pub reconciler: Reconciler,
    /// Skips e-mail delivery while the schema requires a newer one than this code's.
    pub email_gate: Gate,
    /// Tells people of their hand-offs (a pass a minute, or a test on demand).
    pub handoffs: HandoffJob,
    /// Takes the escalation steps that fall due (a pass every `jobs::escalation::POLL`, or a
    /// test on demand).
    pub escalation: EscalationJob,
    /// Sends incidents' notifications from the outbox (a loop woken by triggers, or a test
    /// on demand).
    pub notifications: NotificationJob,
    /// Posts incidents to Teams and Slack channels (a pass every half second, or a test on
    /// demand).
    pub chat: crate::jobs::chat::ChatJob,
    /// `None` without `ROTA_SMTP_URL`: e-mails then stay queued in the database.
    pub mailer: Option<Mailer>,
}

/// Wires the application: connects and migrates the database, builds the mailer and sign-in,
/// applies the configured seat caps where they changed, and makes the shared state. Nothing
/// runs in the background yet (`App::start_up`, `App::start_jobs`).
pub fn assemble(
    config: &Config,
    policies: Policies,
    seat_policy: SeatPolicy,
    clock: SharedClock,
) -> Result<App, StartError> {
    let db = Db::connect(&config.database, config.db_pool_size).map_err(|reason| {
        StartError::Config(ConfigError {
            key: config::key_as_set("database_url"),
            reason,
        })
    })?;
    // A start-up that fails after this point closes the pool before it returns (see
    // `Db::close`: the process is about to exit).
    wire(db.clone(), config, policies, seat_policy, clock).inspect_err(|_| db.close())
}

/// `assemble` once the database is connected.
fn wire(
    db: Db,
    config: &Config,
    policies: Policies,
    seat_policy: SeatPolicy,
    clock: SharedClock,
) -> Result<App, StartError> {
    let applied = store::migrate(&mut *db.get()?)?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    let mailer = match &config.smtp_url {
        Some(url) => Some(
            Mailer::new(url, config.smtp_from.clone()).map_err(|reason| ConfigError {
                key: config::key_as_set("smtp_url"),
                reason,
            })?,
        ),
        None => {
            tracing::warn!(
                "no SMTP server is configured (ROTA_SMTP_URL): emails stay queued in the database until one is"
            );
            None
        }
    };
    let cookie_key = sessions::cookie_key(&mut *db.get()?, crate::clock::stored(clock.now()))?;
    let sign_in = SignInSettings::new(
        SignInConfig {
            oidc: config.oidc.clone(),
            public_url: config.public_url.clone(),
            sessions: config.sessions,
            bootstrap_owners: config.bootstrap_owners.clone(),
        },
        seat_policy,
        &cookie_key,
    )
    .map_err(StartError::Runtime)?;
    if config.oidc.is_none() {
        tracing::warn!(
            "sign-in with Entra ID is not configured (ROTA_OIDC_ISSUER); only API tokens and break-glass owners can get in"
        );
    }
    let email_delivery = Wakeup::default();
    let rules = store::seats::SeatRules {
        policy: &sign_in.seat_policy,
        bootstrap_owners: &sign_in.bootstrap_owners,
    };
    if apply_seat_caps(&mut *db.get()?, config.seats, rules, &clock)? > 0 {
        email_delivery.poke();
    }
    let metrics = Metrics::new();
    let reconciler = Reconciler {
        db: db.clone(),
        policy: sign_in.seat_policy.clone(),
        bootstrap_owners: sign_in.bootstrap_owners.clone(),
        clock: clock.clone(),
        emails: email_delivery.clone(),
        gate: Gate::new(Job::SeatReconcile, metrics.skipped_passes()),
    };
    let email_gate = Gate::new(Job::EmailDelivery, metrics.skipped_passes());
    let finals = std::sync::Arc::new(crate::use_cases::finals::Cache::default());
    let handoffs = HandoffJob {
        db: db.clone(),
        finals: finals.clone(),
        clock: clock.clone(),
        emails: email_delivery.clone(),
        gate: Gate::new(Job::HandoffNotices, metrics.skipped_passes()),
    };
    let notification_wakeup = Wakeup::default();
    let escalation = EscalationJob {
        db: db.clone(),
        finals: finals.clone(),
        clock: clock.clone(),
        gate: Gate::new(Job::Escalation, metrics.skipped_passes()),
        notifications: notification_wakeup.clone(),
    };
    let voice = config.twilio.clone().map(crate::notify::voice::Voice::new);
    if voice.is_none() {
        tracing::info!(
            "no Twilio account is configured (ROTA_TWILIO_ACCOUNT_SID): phone notifications wait in the outbox until one is"
        );
    }
    let chat_hosts = std::sync::Arc::new(config.chat_hosts.clone());
    let notifications = NotificationJob {
        db: db.clone(),
        clock: clock.clone(),
        mailer: mailer.clone(),
        voice: voice.clone(),
        webhooks: crate::notify::webhook::Webhooks::new(chat_hosts.clone()),
        public_url: config.public_url.clone(),
        gate: Gate::new(Job::NotificationDelivery, metrics.skipped_passes()),
        wakeup: notification_wakeup.clone(),
    };
    let chat = crate::jobs::chat::ChatJob::new(
        db.clone(),
        clock.clone(),
        chat_hosts.clone(),
        config.public_url.clone(),
        Gate::new(Job::ChatDelivery, metrics.skipped_passes()),
    );
    let state = web::Data::new(AppState {
        db: db.clone(),
        clock: clock.clone(),
        public_url: config.public_url.clone(),
        metrics,
        sign_in,
        email_delivery: email_delivery.clone(),
        notifications: notification_wakeup,
        policies,
        throttle: crate::http::throttle::Throttle::with_events_per_minute(config.events_per_minute),
        intake: crate::use_cases::intake::Intake::start(db.clone(), finals.clone()),
        related: std::sync::Arc::default(),
        finals,
        voice,
        chat_hosts,
        demo: std::sync::OnceLock::new(),
    });
    Ok(App {
        state,
        db,
        clock,
        email_delivery,
        reconciler,
        email_gate,
        handoffs,
        escalation,
        notifications,
        chat,
        mailer,
    })
}

/// Applies the seat caps from configuration where they differ from those applied last (a
/// licence owner's change through the API stands until the configuration changes). A cap
/// below the seats held stops start-up, naming the key. Returns the warning e-mails queued.
fn apply_seat_caps(
    conn: &mut store::DbConnection,
    caps: SeatCaps,
    rules: store::seats::SeatRules<'_>,
    clock: &SharedClock,
) -> Result<usize, StartError> {
    let current = store::seats::licences(conn)?;
    let mut emails = 0;
    for (licence, cap) in [
        (Licence::Full, caps.full),
        (Licence::Stakeholder, caps.stakeholder),
    ] {
        let configured = cap.map_or("unlimited".to_string(), |c| c.to_string());
        let row = current.iter().find(|r| r.id == licence);
        if row.and_then(|r| r.configured_cap.as_deref()) == Some(configured.as_str()) {
            continue;
        }
        let ctx = AuditContext {
            actor: Actor {
                kind: ActorKind::Cli,
                id: None,
                name: format!("configuration ({})", SeatCaps::key(licence)),
            },
            request_id: None,
            at: clock.now(),
        };
        let settled = store::seats::write(conn, |tx| {
            store::seats::set_cap(tx, rules, &ctx, licence, cap, Some(configured.clone()))
        })
        .map_err(|e| match e.kind {
            ErrorKind::Invalid { reason, .. } => StartError::Config(ConfigError {
                key: SeatCaps::key(licence),
                reason,
            }),
            _ => StartError::from(e),
        })?;
        emails += settled.emails;
        tracing::info!(licence = licence.as_str(), cap = %configured, "applied the configured seat cap");
    }
    Ok(emails)
}

impl App {
    /// The work done once before the first request: the seat policy (changed or not: applying
    /// it again changes nothing) is applied to everyone. A failure is logged, not fatal: the
    /// daily reconcile tries again.
    pub async fn start_up(&self) {
        let run = format!("start-{}", uuid::Uuid::now_v7());
        if let Err(e) = self.reconciler.run_once(&run).await {
            tracing::error!(error = %e, "could not apply the seat policy to everyone; the daily reconcile will try again");
        }
    }

    /// Starts the background jobs on the current runtime: the ticker (the daily seat
    /// reconcile, hand-off notices) and e-mail delivery when an SMTP server is configured.
    pub async fn start_jobs(&self) -> Jobs {
        // One hand-off pass at once rather than at the first tick: hand-offs missed while the
        // server was down go out now, and this instance's final-schedule pieces are rendered
        // before requests need them (`use_cases::finals`). Claims keep it from overlapping
        // the first tick's work.
        let first = self.handoffs.clone();
        tokio::spawn(async move {
            if let Err(e) = first.run_once().await {
                tracing::error!(error = %e, "the first hand-off pass failed; trying again in a minute");
            }
        });
        // Similar past incidents: the index of resolved incidents is built now, in the
        // background, rather than by the first person who asks (seconds at 100,000).
        let related = self.state.related.clone();
        let db = self.db.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match db
                .run(move |conn| related.catch_up(conn).map(|()| related.len()))
                .await
            {
                Ok(n) => tracing::info!(
                    incidents = n,
                    millis = started.elapsed().as_millis() as u64,
                    "similar-incident index built"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not build the similar-incident index; the first search will")
                }
            }
        });
        Jobs {
            ticker: Ticker::start(self.reconciler.clone(), self.handoffs.clone()).await,
            escalations: Escalations::start(self.escalation.clone()),
            // Webhooks need no provider: the dispatcher always runs, and claims only the
            // channels it can deliver.
            dispatcher: Some(Dispatcher::start(
                self.notifications.clone(),
                self.db.url().is_sqlite(),
            )),
            chat: crate::jobs::chat::Poster::start(self.chat.clone()),
            delivery: self.mailer.clone().map(|m| {
                Delivery::start(
                    self.db.clone(),
                    m,
                    self.clock.clone(),
                    self.email_delivery.clone(),
                    self.email_gate.clone(),
                )
            }),
        }
    }
}

/// The running background jobs.
pub struct Jobs {
    ticker: Ticker,
    escalations: Escalations,
    dispatcher: Option<Dispatcher>,
    chat: crate::jobs::chat::Poster,
    delivery: Option<Delivery>,
}

impl Jobs {
    /// Ends every job, letting a pass in progress finish.
    pub async fn stop(self) {
        self.ticker.stop().await;
        self.escalations.stop().await;
        if let Some(dispatcher) = self.dispatcher {
            dispatcher.stop().await;
        }
        self.chat.stop().await;
        if let Some(delivery) = self.delivery {
            delivery.stop().await;
        }
    }
}
