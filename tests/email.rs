//! The email outbox end to end, on both backends, against a real SMTP server (aiosmtpd):
//! emails exist exactly when their transaction committed, go out once with the right
//! headers, survive an SMTP outage with backoff, are given up after ten attempts, and are
//! claimed by one caller only when several claim at once.

mod support;

use chrono::Duration;
use rota::clock::Clock;
use rota::config::SmtpUrl;
use rota::domain::ids::EmailId;
use rota::error::AppError;
use rota::jobs::email_delivery::{self, Delivery, DeliveryReport, Wakeup};
use rota::notify::email::Mailer;
use rota::store::emails::{self, Email, NewEmail};
use rota::store::{self, Db};
use std::collections::HashSet;
use std::time::Duration as Wait;
use support::TestApp;
use support::smtp::{SmtpServer, free_port};

const WAIT: Wait = Wait::from_secs(10);

fn mailer(url: &str) -> Mailer {
    Mailer::new(
        &SmtpUrl::parse(url).unwrap(),
        "Rota <rota@example.com>".parse().unwrap(),
    )
    .unwrap()
}

fn email(to: &str, subject: &str, body: &str) -> NewEmail {
    NewEmail {
        to: to.into(),
        subject: subject.into(),
        body: body.into(),
        reason: "break_glass_sign_in",
        list_unsubscribe: None,
    }
}

/// Enqueues in a committed transaction, as a handler does.
async fn enqueue(app: &TestApp, batch: Vec<NewEmail>) -> Vec<EmailId> {
    let now = app.clock.now();
    app.db
        .run(move |c| store::write(c, |c| emails::enqueue(c, &batch, now)))
        .await
        .unwrap()
}

async fn find(db: &Db, id: &EmailId) -> Email {
    let id = id.clone();
    db.run(move |c| emails::find(c, &id))
        .await
        .unwrap()
        .expect("the email is stored")
}

async fn deliver(app: &TestApp, mailer: &Mailer) -> DeliveryReport {
    email_delivery::run_once(&app.db, mailer, &*app.clock, &app.app.email_gate)
        .await
        .unwrap()
}

fn sent(n: usize) -> DeliveryReport {
    DeliveryReport {
        sent: n,
        ..Default::default()
    }
}

on_both_backends! {
    async fn committed_emails_are_delivered_once_with_their_headers(app) {
        let smtp = SmtpServer::start();
        let ids = enqueue(&app, vec![
            email("Ada Lovelace <ada@example.com>", "Break-glass sign-in – Zoë used it", "Zoë signed in with the break-glass account.\nReview: https://rota.example.com/audit\n"),
            email("grace@example.com", "Seat warning", "9 of 10 full seats are taken."),
        ]).await;

        assert_eq!(app.deliver_emails(&smtp).await, sent(2));
        let received = smtp.messages(2, WAIT);
        assert_eq!(received.len(), 2, "{received:?}");
        let ada = received.iter().find(|m| m.rcpt_to == ["ada@example.com"]).expect("ada's email");
        assert_eq!(ada.mail_from, "rota@example.com");
        assert_eq!(ada.from, "Rota <rota@example.com>");
        assert_eq!(ada.to, "Ada Lovelace <ada@example.com>");
        assert_eq!(ada.subject, "Break-glass sign-in – Zoë used it");
        assert_eq!(ada.body, "Zoë signed in with the break-glass account.\nReview: https://rota.example.com/audit\n");
        assert!(ada.content_type.starts_with("text/plain") && ada.content_type.contains("utf-8"), "{}", ada.content_type);
        // Not a subscriber's e-mail: no List-Unsubscribe (status updates have it).
        assert_eq!((ada.list_unsubscribe.as_deref(), ada.list_unsubscribe_post.as_deref()), (None, None), "{ada:?}");
        assert_eq!(ada.date, "Mon, 05 Jan 2026 09:00:00 +0000", "the Date is when the email was queued");
        assert_eq!(ada.message_id, format!("<{}@example.com>", ids[0]));
        let grace = received.iter().find(|m| m.rcpt_to == ["grace@example.com"]).expect("grace's email");
        assert_eq!((grace.subject.as_str(), grace.body.as_str()), ("Seat warning", "9 of 10 full seats are taken.\n"));

        for id in &ids {
            let stored = find(&app.db, id).await;
            assert_eq!(stored.sent_at, Some(rota::clock::stored(app.clock.now())));
            assert_eq!((stored.attempts, stored.claimed_until, stored.failed_at), (1, None, None));
        }
        assert_eq!(app.deliver_emails(&smtp).await, DeliveryReport::default(), "a second pass sends nothing");
        app.clock.advance(Duration::days(1));
        assert_eq!(app.deliver_emails(&smtp).await, DeliveryReport::default());
        assert_eq!(smtp.messages(2, WAIT).len(), 2);
    }

    async fn an_instance_older_than_the_schema_sends_nothing_and_the_current_one_sends(app) {
        use rota::domain::processing::Job;
        let require = |version: i32| {
            app.db.run(move |c| {
                use diesel::prelude::*;
                use rota::store::schema::processing_versions as p;
                diesel::update(p::table.find(Job::EmailDelivery.as_str())).set(p::version.eq(version)).execute(c)?;
                Ok(())
            })
        };
        let smtp = SmtpServer::start();
        let ids = enqueue(&app, vec![email("ada@example.com", "Gated", "Sent by the current code.")]).await;
        require(Job::EmailDelivery.version() + 1).await.unwrap();
        assert_eq!(app.deliver_emails(&smtp).await, DeliveryReport::default());
        let stored = find(&app.db, &ids[0]).await;
        assert_eq!((stored.attempts, stored.claimed_until, stored.sent_at), (0, None, None), "not even claimed");
        require(Job::EmailDelivery.version()).await.unwrap();
        assert_eq!(app.deliver_emails(&smtp).await, sent(1));
        assert_eq!(smtp.messages(1, WAIT).len(), 1);
    }

    async fn an_email_of_a_transaction_that_failed_is_never_sent(app) {
        let smtp = SmtpServer::start();
        let mailer = mailer(&smtp.url());
        let now = app.clock.now();
        let failed = app
            .db
            .run(move |c| {
                store::write(c, |c| {
                    emails::enqueue(c, &[email("ada@example.com", "Never", "Never sent.")], now)?;
                    Err::<(), _>(AppError::invalid("user", "the change was refused after the email was queued"))
                })
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(deliver(&app, &mailer).await, DeliveryReport::default());
        let count: i64 = app
            .db
            .run(|c| {
                use diesel::prelude::*;
                Ok(rota::store::schema::emails::table.count().get_result(c)?)
            })
            .await
            .unwrap();
        assert_eq!(count, 0);
        assert!(smtp.messages(0, WAIT).is_empty());
    }

    async fn an_smtp_outage_is_retried_with_backoff_and_then_delivered_once(app) {
        let down = mailer(&format!("smtp://127.0.0.1:{}", free_port()));
        let ids = enqueue(&app, vec![email("ada@example.com", "Break-glass sign-in", "Someone used it.")]).await;
        let report = deliver(&app, &down).await;
        assert_eq!(report, DeliveryReport { retrying: 1, ..Default::default() });
        let queued = find(&app.db, &ids[0]).await;
        assert_eq!((queued.attempts, queued.sent_at, queued.failed_at, queued.claimed_until), (1, None, None, None));
        assert_eq!(queued.next_attempt_at, rota::clock::stored(app.clock.now() + Duration::seconds(30)));
        assert!(queued.last_error.as_deref().is_some_and(|e| e.contains("SMTP")), "{:?}", queued.last_error);

        let smtp = SmtpServer::start();
        let up = mailer(&smtp.url());
        assert_eq!(deliver(&app, &up).await, DeliveryReport::default(), "not due before the backoff ends");
        app.clock.advance(Duration::seconds(31));
        assert_eq!(deliver(&app, &up).await, sent(1));
        assert_eq!(deliver(&app, &up).await, DeliveryReport::default());
        let received = smtp.messages(1, WAIT);
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].subject, "Break-glass sign-in");
        let delivered = find(&app.db, &ids[0]).await;
        assert_eq!(delivered.attempts, 2);
        assert!(delivered.sent_at.is_some());
    }

    async fn smtps_to_a_server_without_tls_fails_the_handshake_and_is_retried(app) {
        let smtp = SmtpServer::start();
        enqueue(&app, vec![email("ada@example.com", "Over TLS", "Never in clear.")]).await;
        let tls = mailer(&format!("smtps://rota:secret@127.0.0.1:{}", smtp.port()));
        assert_eq!(deliver(&app, &tls).await, DeliveryReport { retrying: 1, ..Default::default() });
        assert!(smtp.messages(0, WAIT).is_empty(), "nothing went over the plain connection");
    }

    async fn delivery_is_given_up_after_ten_attempts(app) {
        let down = mailer(&format!("smtp://127.0.0.1:{}", free_port()));
        let ids = enqueue(&app, vec![email("ada@example.com", "Lost", "Never arrives.")]).await;
        for attempt in 1..=9 {
            assert_eq!(deliver(&app, &down).await.retrying, 1, "attempt {attempt}");
            app.clock.advance(Duration::hours(1));
        }
        assert_eq!(deliver(&app, &down).await, DeliveryReport { given_up: 1, ..Default::default() });
        let lost = find(&app.db, &ids[0]).await;
        assert_eq!(lost.attempts, 10);
        assert_eq!(lost.failed_at, Some(rota::clock::stored(app.clock.now())));
        app.clock.advance(Duration::days(1));
        assert_eq!(deliver(&app, &down).await, DeliveryReport::default(), "a given-up email is not tried again");
    }

    async fn an_address_that_is_no_mailbox_is_given_up_at_once(app) {
        let smtp = SmtpServer::start();
        let ids = enqueue(&app, vec![email("not an address", "x", "y")]).await;
        assert_eq!(deliver(&app, &mailer(&smtp.url())).await, DeliveryReport { given_up: 1, ..Default::default() });
        let stored = find(&app.db, &ids[0]).await;
        assert!(stored.failed_at.is_some());
        assert!(stored.last_error.unwrap().contains("not a mailbox"));
    }

    async fn the_delivery_loop_sends_when_poked_and_stops_cleanly(app) {
        let smtp = SmtpServer::start();
        let wakeup = Wakeup::default();
        let delivery = Delivery::start(app.db.clone(), mailer(&smtp.url()), app.clock.clone(), wakeup.clone(), app.app.email_gate.clone());
        enqueue(&app, vec![email("ada@example.com", "Poked", "Sent at once.")]).await;
        wakeup.poke();
        // The loop runs on this thread: wait without blocking it.
        let received = smtp.wait_for(1, WAIT).await;
        assert_eq!(received.len(), 1, "delivered after the poke");
        delivery.stop().await;
    }

    async fn concurrent_claims_never_take_the_same_email(app) {
        let total = 300;
        let batch: Vec<NewEmail> = (0..total)
            .map(|i| email(&format!("user{i}@example.com"), "Seat warning", "Seats are short."))
            .collect();
        let all: HashSet<EmailId> = enqueue(&app, batch).await.into_iter().collect();
        let now = app.clock.now();
        // Two pools, as two instances would have.
        let pools = [app.db.clone(), Db::connect(app.database.url(), 4).unwrap()];
        let start = std::sync::Arc::new(std::sync::Barrier::new(pools.len()));
        let claimers: Vec<_> = pools
            .into_iter()
            .map(|db| {
                let start = start.clone();
                std::thread::spawn(move || {
                    let mut conn = db.get().unwrap();
                    start.wait();
                    let mut mine = Vec::new();
                    loop {
                        let claimed = store::write(&mut conn, |c| {
                            emails::claim_due(c, now, 7, email_delivery::LEASE)
                        })
                        .unwrap();
                        if claimed.is_empty() {
                            return mine;
                        }
                        mine.extend(claimed.into_iter().map(|e| e.id));
                    }
                })
            })
            .collect();
        let claimed: Vec<Vec<EmailId>> = claimers.into_iter().map(|t| t.join().unwrap()).collect();
        let mut seen = HashSet::new();
        for id in claimed.iter().flatten() {
            assert!(seen.insert(id.clone()), "{id} was claimed twice");
        }
        assert_eq!(seen, all, "every email was claimed");

        // The lease keeps them claimed until it runs out.
        let db = app.db.clone();
        let again = db.run(move |c| store::write(c, |c| emails::claim_due(c, now + Duration::minutes(9), 1_000, email_delivery::LEASE))).await.unwrap();
        assert!(again.is_empty());
        let db = app.db.clone();
        let after_lease = db.run(move |c| store::write(c, |c| emails::claim_due(c, now + Duration::minutes(11), 1_000, email_delivery::LEASE))).await.unwrap();
        assert_eq!(after_lease.len(), total);
    }
}
