//! Delivery channels: how a message leaves Rota. Each channel turns a stored row into the
//! protocol's message and sends it; what is due and what happens after a failure is decided
//! in `jobs/`, and the rows live in `store/`.

pub mod chat;
pub mod email;
pub mod voice;
pub mod webhook;

/// Why a call or a webhook did not go out, and whether trying again could help (a timeout,
/// a 5xx, a 429) or not (a number the provider refuses, a 4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Failure {
    pub reason: String,
    pub retryable: bool,
}

impl Failure {
    pub fn temporary(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            retryable: true,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            retryable: false,
        }
    }

    /// A failed HTTP exchange: no answer or a 5xx/429 is temporary, any other 4xx is not.
    fn of_reqwest(what: &str, e: &reqwest::Error) -> Failure {
        match e.status() {
            Some(s) if s.is_client_error() && s.as_u16() != 429 => {
                Failure::permanent(format!("{what} refused it ({s})"))
            }
            _ => Failure::temporary(format!("{what} could not be reached: {e}")),
        }
    }
}

/// The HTTP client calls and webhooks go through: short timeouts (a page must not hang on a
/// slow peer; it is tried again), no redirects (a webhook must not be bounced elsewhere).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Rota/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with rustls and fixed settings builds")
}
