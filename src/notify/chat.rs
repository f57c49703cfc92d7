//! Chat channels: a Teams Workflows or Slack incoming webhook is POSTed the message's JSON.
//! The URL is the credential, so it is never put in an error (a failure names the channel's
//! kind and the answer's status only).
//!
//! Every post is checked against `domain::chat_hosts` first: the host must still be allowed
//! for the channel's kind (the setting may have changed since the channel was added), and the
//! addresses it resolves to must be public unless the operator added the host. The client's
//! resolver (`Guard`) does that check on the very addresses it connects to, so a name that
//! answers a public address when the channel is added and a private one later (DNS
//! rebinding) is refused too. No proxy is used: the check must see where the post goes.

use super::Failure;
use crate::domain::chat::ChatKind;
use crate::domain::chat_hosts::{ChatHosts, Refusal};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The chat poster's HTTP client: `notify::http_client`'s timeouts and no redirects, no
/// proxy, and a resolver that refuses private addresses for hosts not added in `hosts`.
pub fn client(hosts: Arc<ChatHosts>) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(Guard { hosts }))
        .user_agent(concat!("Rota/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with rustls and fixed settings builds")
}

/// Resolves a webhook's host and refuses it when an address is not public (unless the host
/// was added by configuration).
struct Guard {
    hosts: Arc<ChatHosts>,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let hosts = self.hosts.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let addresses: Vec<IpAddr> = found.iter().map(SocketAddr::ip).collect();
            hosts.check_addresses(&url::Host::Domain(host.as_str()), &addresses)?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Posts `body` to the channel's webhook. Any 2xx is delivered (Teams answers 202, Slack
/// 200 `ok`); 429, 408 and 5xx are tried again; any other 4xx is a channel that refuses the
/// message (removed, or a card it does not take) and is not. A host `hosts` does not allow,
/// or one at a private address, is refused without connecting, and not tried again.
pub async fn post(
    http: &reqwest::Client,
    hosts: &ChatHosts,
    kind: ChatKind,
    url: &str,
    body: Vec<u8>,
) -> Result<(), Failure> {
    let refused = |r: Refusal| Failure::permanent(format!("the {kind} webhook: {r}"));
    let parsed = url::Url::parse(url)
        .map_err(|_| Failure::permanent(format!("the {kind} webhook is not a URL")))?;
    let host = parsed
        .host()
        .ok_or_else(|| Failure::permanent(format!("the {kind} webhook names no host")))?;
    // An address in the URL is not resolved (the client's resolver never sees it): it is
    // checked here as it is.
    let named: Vec<IpAddr> = match host {
        url::Host::Ipv4(a) => vec![a.into()],
        url::Host::Ipv6(a) => vec![a.into()],
        url::Host::Domain(_) => Vec::new(),
    };
    hosts.check(kind, &host, &named).map_err(refused)?;
    send(http, kind, parsed, body).await
}

async fn send(
    http: &reqwest::Client,
    kind: ChatKind,
    url: url::Url,
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
            if let Some(r) = refusal_in(&e) {
                return Failure::permanent(format!("the {kind} webhook: {r}"));
            }
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

/// The resolver's refusal behind a failed request, if that is what failed.
pub(crate) fn refusal_in(e: &reqwest::Error) -> Option<Refusal> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<Refusal>() {
            return Some(*r);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `localhost` resolves to a loopback address: through the guarded client, a post to it
    /// is refused by the resolver (not merely unreachable) unless the host was added.
    #[actix_web::test]
    async fn the_resolver_refuses_private_addresses_of_hosts_not_added() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = url::Url::parse(&format!("http://localhost:{port}/hook/secret")).unwrap();
        let http = client(Arc::new(ChatHosts::default()));
        let failure = send(&http, ChatKind::Slack, url.clone(), b"{}".to_vec())
            .await
            .unwrap_err();
        assert!(!failure.retryable, "{failure:?}");
        assert!(failure.reason.contains("private"), "{failure:?}");
        assert!(!failure.reason.contains("secret"), "{failure:?}");

        // Added: the resolver lets it through (the connection then reaches the listener,
        // which never answers HTTP: closed, so the post fails another way).
        drop(listener);
        let http = client(Arc::new(ChatHosts::with_added(&["localhost"]).unwrap()));
        let failure = send(&http, ChatKind::Slack, url, b"{}".to_vec())
            .await
            .unwrap_err();
        assert!(!failure.reason.contains("private"), "{failure:?}");
    }

    #[actix_web::test]
    async fn an_address_or_host_not_allowed_is_refused_before_connecting() {
        let http = client(Arc::new(ChatHosts::default()));
        let hosts = ChatHosts::default();
        for url in [
            "http://127.0.0.1:9/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://internal.example.com/hook",
        ] {
            let failure = post(&http, &hosts, ChatKind::Teams, url, Vec::new())
                .await
                .unwrap_err();
            assert!(!failure.retryable, "{url}: {failure:?}");
            assert!(failure.reason.contains("refused"), "{url}: {failure:?}");
        }
    }
}
