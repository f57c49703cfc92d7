//! Webhook contact methods: the notification as a JSON POST, signed the way PagerDuty signs
//! its V3 webhooks: `X-Rota-Signature: v1=<hex HMAC-SHA256 of the body>`, keyed by the
//! contact method's secret (shown once, when the method is created). The receiver checks
//! it over the raw body; the body's `id` and `occurred_at` let it drop replays.

use super::Failure;
use crate::domain::chat_hosts::ChatHosts;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::sync::Arc;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Rota-Signature";

/// Posts signed JSON through the same guarded client as chat posts (`chat::client`): a person
/// may point their webhook anywhere public, but not at this network's private, loopback or
/// link-local addresses (cloud metadata, the database, an admin port) unless the operator
/// added the host (`ROTA_CHAT_HOSTS`). The check is on the addresses connected to, so DNS
/// rebinding is refused too.
#[derive(Clone)]
pub struct Webhooks {
    http: reqwest::Client,
    hosts: Arc<ChatHosts>,
}

impl Webhooks {
    pub fn new(hosts: Arc<ChatHosts>) -> Webhooks {
        Webhooks {
            http: super::chat::client(hosts.clone()),
            hosts,
        }
    }

    /// Posts `body` to `url`, signed with `secret`. Any 2xx is delivered. A host at an
    /// address that is not public (and not added) is refused without connecting, for good.
    pub async fn post(&self, url: &str, body: Vec<u8>, secret: &str) -> Result<(), Failure> {
        let parsed = url::Url::parse(url)
            .map_err(|_| Failure::permanent("the webhook is not a URL".to_owned()))?;
        // An address in the URL is not resolved (the resolver never sees it): checked here.
        let named: Option<IpAddr> = match parsed.host() {
            Some(url::Host::Ipv4(a)) => Some(a.into()),
            Some(url::Host::Ipv6(a)) => Some(a.into()),
            Some(url::Host::Domain(_)) => None,
            None => return Err(Failure::permanent("the webhook names no host".to_owned())),
        };
        if let (Some(ip), Some(host)) = (named, parsed.host()) {
            self.hosts
                .check_addresses(&host, &[ip])
                .map_err(|r| Failure::permanent(format!("the webhook: {r}")))?;
        }
        let sig = signature(secret, &body);
        let answer = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, sig)
            .body(body)
            .send()
            .await
            .map_err(|e| match super::chat::refusal_in(&e) {
                Some(r) => Failure::permanent(format!("the webhook: {r}")),
                None => Failure::of_reqwest("the webhook", &e),
            })?;
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
