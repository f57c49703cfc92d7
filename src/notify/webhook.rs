//! Webhook contact methods: the notification as a JSON POST, signed the way PagerDuty signs
//! its V3 webhooks: `X-Rota-Signature: v1=<hex HMAC-SHA256 of the body>`, keyed by the
//! contact method's secret (shown once, when the method is created). The receiver checks
//! it over the raw body; the body's `id` and `occurred_at` let it drop replays.

use super::Failure;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Rota-Signature";

/// Posts signed JSON.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks {
            http: super::http_client(),
        }
    }
}

impl Webhooks {
    /// Posts `body` to `url`, signed with `secret`. Any 2xx is delivered.
    pub async fn post(&self, url: &str, body: Vec<u8>, secret: &str) -> Result<(), Failure> {
        let sig = signature(secret, &body);
        let answer = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sig)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::of_reqwest("the webhook", &e))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = format!("the webhook answered {status}");
        if status.is_client_error() && status.as_u16() != 429 && status.as_u16() != 408 {
            Err(Failure::permanent(reason))
        } else {
            Err(Failure::temporary(reason))
        }
    }
}

/// `v1=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "v1=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
