//! Email over SMTP (lettre): builds the message for an outbox row (From, To, Subject, Date,
//! Message-ID, a UTF-8 plain-text body, and for a subscriber's e-mail RFC 8058's
//! `List-Unsubscribe` and `List-Unsubscribe-Post`) and hands it to the configured server. The URL's rules
//! are lettre's: `smtps://` is TLS from the start, `smtp://` is plain unless `?tls=required`
//! (or `opportunistic`) asks for STARTTLS; credentials in the URL log in.

use crate::config::SmtpUrl;
use crate::domain::subscription::ONE_CLICK;
use crate::store::emails::Email;
use lettre::message::Mailbox;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::{Duration, SystemTime};

/// How long one conversation with the SMTP server may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends emails through one SMTP server, from one sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The server's URL without its password, for logs.
    server: String,
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The email can never be sent as stored: trying again does not help.
    #[error("{0}")]
    Unsendable(String),
    /// The SMTP server could not be reached, timed out or refused the email.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// Whether another attempt could succeed: not for an e-mail that cannot be built, nor
    /// for a permanent refusal (a 5xx reply, such as an unknown mailbox).
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Unsendable(_) => false,
            SendError::Smtp(e) => !e.is_permanent(),
        }
    }
}

impl Mailer {
    pub fn new(url: &SmtpUrl, from: Mailbox) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| format!("cannot use {url}: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer {
            transport,
            from,
            server: url.to_string(),
        })
    }

    /// The server, with any password hidden.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Sends one email; returns once the server has accepted it.
    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let message = self.message(email)?;
        self.transport.send(message).await?;
        Ok(())
    }

    fn message(&self, email: &Email) -> Result<Message, SendError> {
        let to: Mailbox = email.to_address.parse().map_err(|e| {
            SendError::Unsendable(format!(
                "the address '{}' is not a mailbox: {e}",
                email.to_address
            ))
        })?;
        // The outbox id makes the Message-ID, so a retried email keeps it and receivers can
        // tell a repeat from a new alert.
        let message_id = format!("<{}@{}>", email.id, self.from.email.domain());
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.as_str())
            .date(SystemTime::from(email.created_at.and_utc()))
            .message_id(Some(message_id));
        if let Some(url) = &email.list_unsubscribe {
            builder = builder
                .header(ListUnsubscribe(url.header_value()))
                .header(ListUnsubscribePost);
        }
        builder
            .header(ContentType::TEXT_PLAIN)
            // lettre ends the data with CRLF.CRLF, which would add an empty last line to a
            // body that already ends with one.
            .body(email.body.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| SendError::Unsendable(format!("cannot build the message: {e}")))
    }
}

/// `List-Unsubscribe: <URL>` (RFC 2369), the value as `UnsubscribeUrl::header_value` wrote it.
#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): the URL takes a POST.
#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), ONE_CLICK.to_owned())
    }
}
