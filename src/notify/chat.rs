//! Chat channels: a Teams Workflows or Slack incoming webhook is POSTed the message's JSON.
//! The URL is the credential, so it is never put in an error (a failure names the channel's
//! kind and the answer's status only).

use super::Failure;
use crate::domain::chat::ChatKind;

/// Posts `body` to the channel's webhook. Any 2xx is delivered (Teams answers 202, Slack
/// 200 `ok`); 429, 408 and 5xx are tried again; any other 4xx is a channel that refuses the
/// message (removed, or a card it does not take) and is not.
pub async fn post(
    http: &reqwest::Client,
    kind: ChatKind,
    url: &str,
    body: Vec<u8>,
) -> Result<(), Failure> {
    let answer = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        // reqwest's error text names the URL; only say what kind of failure it was.
        .map_err(|e| {
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "could not be reached"
            } else {
                "failed"
            };
            Failure::temporary(format!("the {kind} webhook {what}"))
        })?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("the {kind} webhook answered {status}");
    if status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 408 {
        Err(Failure::permanent(reason))
    } else {
        Err(Failure::temporary(reason))
    }
}
