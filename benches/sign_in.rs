//! The sign-in callback's own work, without the provider's round trip: validating an Entra ID
//! token with cached keys (RS256 signature, issuer, audience, expiry, nonce, tenant), then the
//! sign-in transaction (find or create the user, apply the seat policy and the groups claim,
//! open the session, audit). 400 people sign in three times each (the first creates them),
//! one after another, on SQLite and on PostgreSQL.
//!
//! Run with `cargo bench --bench sign_in` (PostgreSQL from ROTA_TEST_POSTGRES_URL; set
//! ROTA_BENCH_BACKENDS=sqlite to skip it). Tokens are signed with a test-only key
//! (benches/data/test-signing-key.pem) before the clock starts.

use chrono::{Duration, Utc};
use hdrhistogram::Histogram;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{
    Audience, ClientId, EndUserEmail, EndUserName, EndUserUsername, IdTokenClaims, IssuerUrl,
    JsonWebKeyId, LocalizedClaim, Nonce, PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use rota::config::DatabaseUrl;
use rota::domain::seat_policy::SeatPolicy;
use rota::http::sign_in::id_token::{self, EntraClaims, EntraIdToken, Expected};
use rota::store::{self, Db, sign_in};
use std::sync::Arc;
use std::time::Instant;

mod common;

const PEOPLE: usize = 400;
const ROUNDS: usize = 3;
const TENANT: &str = "3f2b7c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f";
const GROUPS: [&str; 3] = [
    "c0a8f1d2-4b3e-4f5a-8c7d-1e2f3a4b5c01",
    "c0a8f1d2-4b3e-4f5a-8c7d-1e2f3a4b5c02",
    "c0a8f1d2-4b3e-4f5a-8c7d-1e2f3a4b5c03",
];

struct Minted {
    raw: String,
    nonce: String,
}

fn main() {
    println!(
        "machine: {}, {PEOPLE} people x {ROUNDS} sign-ins, sequential, RS256 2048-bit",
        common::machine()
    );
    let key = CoreRsaPrivateSigningKey::from_pem(
        include_str!("data/test-signing-key.pem"),
        Some(JsonWebKeyId::new("bench".into())),
    )
    .expect("test key");
    let keys = CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
    let issuer =
        IssuerUrl::new(format!("https://login.microsoftonline.com/{TENANT}/v2.0")).unwrap();
    let client_id = ClientId::new("rota-bench".into());
    let tokens: Vec<Minted> = (0..PEOPLE * ROUNDS)
        .map(|i| mint(&key, &issuer, &client_id, i % PEOPLE))
        .collect();
    let policy = Arc::new(SeatPolicy::parse(include_str!("../policies/seats.toml")).unwrap());
    common::for_each_backend(|backend, url| {
        run(backend, url, &tokens, &keys, &issuer, &client_id, &policy)
    });
}

fn mint(
    key: &CoreRsaPrivateSigningKey,
    issuer: &IssuerUrl,
    client: &ClientId,
    person: usize,
) -> Minted {
    let now = Utc::now();
    let nonce = Nonce::new_random();
    let login = format!("person{person:04}@contoso.example");
    let claims = IdTokenClaims::new(
        issuer.clone(),
        vec![Audience::new(client.to_string())],
        now + Duration::hours(1),
        now,
        StandardClaims::new(SubjectIdentifier::new(format!("sub-{person}")))
            .set_preferred_username(Some(EndUserUsername::new(login.clone())))
            .set_email(Some(EndUserEmail::new(login)))
            .set_name(Some(LocalizedClaim::from(EndUserName::new(format!(
                "Person {person:04}"
            ))))),
        EntraClaims {
            tid: Some(TENANT.into()),
            oid: Some(format!("00000000-0000-4000-8000-{person:012}")),
            nbf: Some(now.timestamp()),
            groups: Some(vec![GROUPS[person % 3].into()]),
            roles: vec!["Rota.Responder".into()],
            hasgroups: None,
            _claim_names: None,
        },
    )
    .set_nonce(Some(nonce.clone()));
    let token = EntraIdToken::new(
        claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("sign");
    Minted {
        raw: token.to_string(),
        nonce: nonce.secret().clone(),
    }
}

fn run(
    backend: &str,
    url: DatabaseUrl,
    tokens: &[Minted],
    keys: &CoreJsonWebKeySet,
    issuer: &IssuerUrl,
    client_id: &ClientId,
    policy: &Arc<SeatPolicy>,
) {
    let db = Db::connect(&url, common::pool_size(&url)).unwrap();
    let mut conn = db.get().unwrap();
    store::migrate(&mut conn).unwrap();
    let tenants = vec![TENANT.to_string()];
    let mut validate = Histogram::<u64>::new(3).unwrap();
    let mut transaction = Histogram::<u64>::new(3).unwrap();
    let mut total = Histogram::<u64>::new(3).unwrap();
    let owners = std::sync::Arc::new(Vec::new());
    let started = Instant::now();
    for minted in tokens {
        let t0 = Instant::now();
        let nonce = Nonce::new(minted.nonce.clone());
        let expected = Expected {
            issuer,
            client_id,
            tenants: &tenants,
            nonce: &nonce,
            now: Utc::now(),
        };
        let identity = id_token::verify(&minted.raw, keys, &expected).expect("valid token");
        let t1 = Instant::now();
        let request = sign_in::SignInRequest {
            identity,
            policy: policy.clone(),
            bootstrap_owners: owners.clone(),
            user_agent: Some("bench".into()),
            request_id: None,
            now: Utc::now(),
            session_lifetime: Duration::days(7),
        };
        let signed_in = sign_in::sign_in(&mut conn, &request).unwrap();
        assert!(signed_in.is_ok());
        let t2 = Instant::now();
        validate.record((t1 - t0).as_micros() as u64).unwrap();
        transaction.record((t2 - t1).as_micros() as u64).unwrap();
        total.record((t2 - t0).as_micros() as u64).unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "{backend}: {} sign-ins in {:.2}s ({:.0}/s)",
        tokens.len(),
        elapsed.as_secs_f64(),
        tokens.len() as f64 / elapsed.as_secs_f64()
    );
    for (what, h) in [
        ("token validation", &validate),
        ("sign-in transaction", &transaction),
        ("callback's own work", &total),
    ] {
        println!(
            "  {what:<20} p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
    }
}
