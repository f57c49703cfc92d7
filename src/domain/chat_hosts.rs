//! Where chat webhooks may point (a guard against server-side request forgery: whoever may
//! set up a channel must not make Rota POST to an internal service). A channel's URL must
//! name a host its provider really uses (Slack: `hooks.slack.com`; Teams Workflows:
//! `*.logic.azure.com` and `*.environment.api.powerplatform.com`, and the legacy Office 365
//! connectors' `*.webhook.office.com`), or one the operator added (`chat_hosts`). When the
//! post is sent, every address the host resolves to must be public unless the operator added
//! the host: a name that resolves to a private, loopback or link-local address (DNS
//! rebinding) is refused. Pure: `use_cases::chat` checks a channel's URL when it is added,
//! `notify::chat` checks the host and its addresses when it posts.

use super::chat::ChatKind;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use url::Host;

/// The hosts Slack's incoming webhooks use (and their subdomains).
pub const SLACK_HOSTS: &[&str] = &["hooks.slack.com"];

/// The hosts of Microsoft Teams' webhooks: Workflows (Power Automate) triggers answer at
/// `prod-NN.<region>.logic.azure.com` and `<environment>.NN.environment.api.powerplatform.com`;
/// the retired Office 365 connectors at `<tenant>.webhook.office.com`.
pub const TEAMS_HOSTS: &[&str] = &[
    "logic.azure.com",
    "environment.api.powerplatform.com",
    "webhook.office.com",
];

/// A host the operator allowed: a domain (itself and every subdomain) or one IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Added {
    Domain(String),
    Ip(IpAddr),
}

/// The hosts chat webhooks may point at: the providers' own, and those added by
/// configuration (which may also resolve to private addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatHosts {
    added: Vec<Added>,
}

/// Why a webhook's host was refused at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a host of the channel's provider, nor added by configuration.
    NotAllowed,
    /// It resolves to (or is) an address that is not public.
    PrivateAddress,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::NotAllowed => {
                "its host is not one the provider uses nor added in ROTA_CHAT_HOSTS: refused"
            }
            Refusal::PrivateAddress => {
                "its host resolves to a private, loopback or link-local address, which Rota \
                 posts to only for hosts added in ROTA_CHAT_HOSTS: refused"
            }
        })
    }
}

impl std::error::Error for Refusal {}

/// `example.com` (or `*.example.com`, `.example.com`): that domain and its subdomains;
/// `127.0.0.1`, `[::1]`: that address only.
fn parse_entry(raw: &str) -> Result<Added, String> {
    let entry = raw.trim().to_ascii_lowercase();
    let entry = entry
        .strip_prefix("*.")
        .or_else(|| entry.strip_prefix('.'))
        .unwrap_or(&entry)
        .trim_end_matches('.');
    if entry.is_empty()
        || entry
            .chars()
            .any(|c| matches!(c, '/' | '@' | '?' | '#' | '*') || c.is_whitespace())
    {
        return Err(format!(
            "has '{}', which is not a host name or an IP address (write hooks.example.com, \
             example.com for it and its subdomains, or 127.0.0.1; no scheme, port or path)",
            super::text::clean(raw, 80)
        ));
    }
    let bare = entry.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Added::Ip(ip));
    }
    match Host::parse(entry) {
        Ok(Host::Domain(d)) if !d.contains(':') => Ok(Added::Domain(d)),
        _ => Err(format!(
            "has '{}', which is not a host name or an IP address (no scheme, port or path)",
            super::text::clean(raw, 80)
        )),
    }
}

/// Whether `host` is `domain` or one of its subdomains.
fn within(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

impl ChatHosts {
    /// The providers' hosts plus `entries` (the `chat_hosts` setting, already split); the
    /// error names the entry that is not a host.
    pub fn with_added<S: AsRef<str>>(entries: &[S]) -> Result<ChatHosts, String> {
        let mut added = Vec::new();
        for e in entries {
            let entry = parse_entry(e.as_ref())?;
            if !added.contains(&entry) {
                added.push(entry);
            }
        }
        Ok(ChatHosts { added })
    }

    /// Whether the operator added `host` (it may then resolve to any address).
    pub fn added(&self, host: &Host<&str>) -> bool {
        self.added.iter().any(|a| match (a, host) {
            (Added::Domain(d), Host::Domain(h)) => within(&normal(h), d),
            (Added::Ip(ip), Host::Ipv4(h)) => *ip == IpAddr::V4(*h),
            (Added::Ip(ip), Host::Ipv6(h)) => *ip == IpAddr::V6(*h),
            _ => false,
        })
    }

    /// Whether a `kind` channel may point at `host`: one of its provider's hosts (a name,
    /// never an address) or one the operator added.
    pub fn allows(&self, kind: ChatKind, host: &Host<&str>) -> bool {
        let providers = match kind {
            ChatKind::Slack => SLACK_HOSTS,
            ChatKind::Teams => TEAMS_HOSTS,
        };
        let provider = match host {
            Host::Domain(h) => {
                let h = normal(h);
                providers.iter().any(|d| within(&h, d))
            }
            _ => false,
        };
        provider || self.added(host)
    }

    /// Whether a post to `host` may go to `addresses` (what it resolves to, or the address
    /// it is): all public, unless the operator added the host.
    pub fn check_addresses(&self, host: &Host<&str>, addresses: &[IpAddr]) -> Result<(), Refusal> {
        if self.added(host) || addresses.iter().all(|a| public(*a)) {
            Ok(())
        } else {
            Err(Refusal::PrivateAddress)
        }
    }

    /// The host and the addresses it names (an IP host names itself), checked as at send
    /// time: allowed for `kind`, and every address public unless the host was added.
    pub fn check(
        &self,
        kind: ChatKind,
        host: &Host<&str>,
        addresses: &[IpAddr],
    ) -> Result<(), Refusal> {
        if !self.allows(kind, host) {
            return Err(Refusal::NotAllowed);
        }
        self.check_addresses(host, addresses)
    }
}

/// A host name as compared: lower case, without the root's trailing dot.
fn normal(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, IPv6
/// unique local), link-local (where cloud metadata services answer), shared (carrier-grade
/// NAT), unspecified, broadcast, multicast, documentation, benchmarking or reserved. IPv4
/// addresses inside IPv6 (mapped, compatible, NAT64, 6to4) are judged as IPv4.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    // ::a.b.c.d (deprecated IPv4-compatible), 64:ff9b::/96 (NAT64) and 2002::/16 (6to4)
    // reach an IPv4 address.
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return public_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return public_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32));
    }
    if s[0] == 0x2002 {
        return public_v4(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
}

/// What may be shown of a webhook URL: its host and its last four characters. The rest
/// (the path's token, Teams' `sig=`) is the channel's credential.
pub fn url_hint(url: &url::Url) -> String {
    format!(
        "{}{}",
        url.host_str().unwrap_or(""),
        super::token::hint(url.as_str())
    )
}

/// The hint of a URL as sent (`url_hint`), or `…` when it is not a URL: for `Debug` output
/// of values that hold one.
pub fn raw_url_hint(raw: &str) -> String {
    url::Url::parse(raw.trim()).map_or_else(|_| "…".to_owned(), |u| url_hint(&u))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Host<String> {
        Host::parse(s).unwrap()
    }

    fn allows(hosts: &ChatHosts, kind: ChatKind, h: &str) -> bool {
        let h = host(h);
        let h = match &h {
            Host::Domain(d) => Host::Domain(d.as_str()),
            Host::Ipv4(a) => Host::Ipv4(*a),
            Host::Ipv6(a) => Host::Ipv6(*a),
        };
        hosts.allows(kind, &h)
    }

    #[test]
    fn providers_hosts_are_allowed_for_their_own_kind_only() {
        let none = ChatHosts::default();
        assert!(allows(&none, ChatKind::Slack, "hooks.slack.com"));
        assert!(!allows(&none, ChatKind::Teams, "hooks.slack.com"));
        for teams in [
            "prod-27.westus.logic.azure.com",
            "default0123456789abcdef.09.environment.api.powerplatform.com",
            "contoso.webhook.office.com",
        ] {
            assert!(allows(&none, ChatKind::Teams, teams), "{teams}");
            assert!(!allows(&none, ChatKind::Slack, teams), "{teams}");
        }
        for refused in [
            "slack.com",
            "evilhooks.slack.com.example.net",
            "notlogic.azure.com",
            "logic.azure.com.evil.example",
            "127.0.0.1",
            "localhost",
            "169.254.169.254",
            "metadata.google.internal",
        ] {
            assert!(!allows(&none, ChatKind::Teams, refused), "{refused}");
            assert!(!allows(&none, ChatKind::Slack, refused), "{refused}");
        }
    }

    #[test]
    fn added_hosts_are_allowed_for_both_kinds_and_may_be_private() {
        let hosts = ChatHosts::with_added(&["127.0.0.1", "*.Chat.Example.com.", "[::1]"]).unwrap();
        assert!(allows(&hosts, ChatKind::Teams, "127.0.0.1"));
        assert!(allows(&hosts, ChatKind::Slack, "hooks.chat.example.com"));
        assert!(allows(&hosts, ChatKind::Slack, "chat.example.com"));
        assert!(allows(&hosts, ChatKind::Slack, "[::1]"));
        assert!(!allows(&hosts, ChatKind::Slack, "127.0.0.2"));
        assert!(!allows(&hosts, ChatKind::Slack, "example.com"));
        let loopback = [IpAddr::from([127, 0, 0, 1])];
        assert_eq!(
            hosts.check(
                ChatKind::Slack,
                &Host::Ipv4([127, 0, 0, 1].into()),
                &loopback
            ),
            Ok(())
        );
        assert_eq!(
            hosts.check(
                ChatKind::Slack,
                &Host::Domain("x.chat.example.com"),
                &loopback
            ),
            Ok(())
        );
    }

    #[test]
    fn a_providers_host_resolving_to_a_private_address_is_refused() {
        let hosts = ChatHosts::with_added(&["127.0.0.1"]).unwrap();
        let slack = Host::Domain("hooks.slack.com");
        let public_one = [IpAddr::from([34, 226, 36, 50])];
        assert_eq!(hosts.check(ChatKind::Slack, &slack, &public_one), Ok(()));
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "::ffff:192.168.1.1",
        ] {
            let addrs = [public_one[0], private.parse().unwrap()];
            assert_eq!(
                hosts.check(ChatKind::Slack, &slack, &addrs),
                Err(Refusal::PrivateAddress),
                "{private}"
            );
        }
        assert_eq!(
            hosts.check(ChatKind::Slack, &Host::Domain("localhost"), &[]),
            Err(Refusal::NotAllowed)
        );
    }

    #[test]
    fn addresses_are_public_only_on_the_internet() {
        for private in [
            "0.0.0.0",
            "10.0.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(!public(private.parse().unwrap()), "{private}");
        }
        for public_one in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(public(public_one.parse().unwrap()), "{public_one}");
        }
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "https://hooks.example.com",
            "example.com/path",
            "example.com:443",
            "a b",
            "*",
            "",
        ] {
            let err = ChatHosts::with_added(&[bad]).unwrap_err();
            assert!(err.contains("not a host"), "{bad}: {err}");
        }
    }

    #[test]
    fn hints_show_the_host_and_four_characters() {
        assert_eq!(
            raw_url_hint("https://hooks.slack.com/services/T0/B0/secretXYZW"),
            "hooks.slack.com…XYZW"
        );
        assert_eq!(raw_url_hint("not a url secret"), "…");
    }
}
