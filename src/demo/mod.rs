//! `rota serve --demo`: a first look at Rota with a sample organisation. It runs only on a
//! fresh SQLite file it makes itself (never on an existing database), only on a loopback
//! address, with no e-mail, phone or chat provider (what would be sent waits in the outbox,
//! and the demo's outbox page shows it). The history is told through the service's own
//! interfaces (`seed`); the pages a visitor meets are `http::demo`.

pub mod organisation;
pub mod seed;

use crate::app::App;
use crate::clock::{Clock, TravellingClock};
use crate::domain::audit::{Actor, ActorKind};
use crate::domain::ids::UserId;
use crate::domain::token::TokenKind;
use crate::error::AppResult;
use crate::store::audit::AuditContext;
use crate::store::{tokens, users};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What the demo's pages know once the organisation is seeded (`AppState::demo`).
pub struct Demo {
    /// The sample service's Events API routing key: the outbox page's "trigger a sample
    /// alert" sends an event with it.
    pub sample_key: String,
    /// The people a visitor may be, in order.
    pub personas: Vec<Persona>,
}

pub struct Persona {
    pub user_id: UserId,
    pub name: String,
    /// Which kind of person they are: `demo.persona.<kind>` in the catalogue.
    pub kind: &'static str,
}

/// Where the demo's database goes: `path`, or a new file in the temporary folder. The file is
/// made here, and must not exist: the demo never touches a database that holds anything.
pub fn new_database(path: Option<&Path>) -> Result<PathBuf, String> {
    let path = path.map(Path::to_path_buf).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rota-demo-{}.db", uuid::Uuid::now_v7().simple()))
    });
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "is {}, which already exists: the demo starts only on a new file",
                path.display()
            ),
            _ => format!("is {}, which cannot be made: {e}", path.display()),
        })?;
    Ok(path)
}

/// The demo listens only on a loopback address: its sample sign-in lets anyone be anyone.
pub fn check_listen(listen: SocketAddr) -> Result<(), String> {
    if listen.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "is {listen}: the demo listens only on a loopback address (127.0.0.1 or [::1]), since its sample sign-in lets anyone be anyone"
        ))
    }
}

fn actor() -> Actor {
    Actor {
        kind: ActorKind::Cli,
        id: None,
        name: "demo".into(),
    }
}

/// Seeds the organisation through the service listening at `base` (already serving), then
/// revokes the tokens the story used and brings the clock back to now.
pub async fn seed(app: &App, clock: &TravellingClock, base: &str) -> AppResult<Demo> {
    let ctx = AuditContext {
        actor: actor(),
        request_id: None,
        at: clock.now() - chrono::Duration::days(31),
    };
    let issue = |kind, name: &str, holder| {
        let mut conn = app.db.get()?;
        tokens::issue(&mut conn, &ctx, kind, name, holder)
    };
    let caller = seed::Caller {
        http: reqwest::Client::new(),
        base: base.trim_end_matches('/').to_owned(),
        api_token: issue(
            TokenKind::Api,
            "demo-admin",
            tokens::Holder::Role(Some(crate::domain::role::Role::Owner)),
        )?,
        scim_token: issue(
            TokenKind::Scim,
            "demo-entra-provisioning",
            tokens::Holder::Role(None),
        )?,
    };
    let told = seed::tell(&caller, clock, &app.reconciler).await;
    clock.back_to_now();
    let seeded = told?;
    let mut conn = app.db.get()?;
    let ctx = AuditContext {
        at: clock.now(),
        ..ctx
    };
    tokens::revoke_audited(&mut conn, &ctx, tokens::Which::Named("demo-admin"))?;
    tokens::revoke_audited(
        &mut conn,
        &ctx,
        tokens::Which::Named("demo-entra-provisioning"),
    )?;
    let mut personas = Vec::new();
    for (login, kind) in organisation::PERSONAS {
        if let Some(user) = users::find_by_user_name(&mut conn, login)? {
            personas.push(Persona {
                user_id: user.id,
                name: user.name,
                kind,
            });
        }
    }
    Ok(Demo {
        sample_key: seeded.sample_key,
        personas,
    })
}
