//! Where a webhook may go. By default only https, and never to an address inside the network
//! the engine runs in: loopback, private, link-local (which holds the cloud metadata service,
//! 169.254.169.254), multicast, unspecified, shared (100.64/10) or unique-local. The check is
//! made on the addresses the connection is actually made to: the HTTP client resolves names
//! through [`PublicOnly`], which drops such addresses, so a name that resolves elsewhere at
//! delivery time (DNS rebinding) gets nowhere. `allow_insecure` (development and tests) allows
//! http and any address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether `ip` is reachable from the internet, as far as a webhook is concerned.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is a metadata service)
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)) // documentation
}

/// Why `url` may not be delivered to, looking at its scheme and, when the host is an address,
/// that address (a name is checked when it is resolved, by [`PublicOnly`]).
pub fn refused(url: &reqwest::Url, allow_insecure: bool) -> Option<String> {
    if allow_insecure {
        return None;
    }
    if url.scheme() != "https" {
        return Some(format!("refused: {} is not https", url.scheme()));
    }
    let host = url.host_str()?;
    let ip: IpAddr = host.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    (!is_public(ip)).then(|| format!("refused: {ip} is not a public address"))
}

/// The HTTP client's resolver: the system's, less every address that is not public.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let error = format!("refused: {host} resolves only to addresses that are not public ({all:?})");
                return Err(error.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inside_of_the_network_is_not_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(inside.parse().expect("an address")), "{inside}");
        }
        for outside in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(outside.parse().expect("an address")), "{outside}");
        }
    }

    #[test]
    fn only_https_to_public_addresses_unless_insecure_is_allowed() {
        let url = |u: &str| reqwest::Url::parse(u).expect("a url");
        assert!(refused(&url("http://example.com/hook"), false).is_some_and(|r| r.contains("https")));
        assert!(refused(&url("https://127.0.0.1:8443/hook"), false).is_some_and(|r| r.contains("127.0.0.1")));
        assert!(refused(&url("https://[::1]/hook"), false).is_some());
        assert_eq!(refused(&url("https://example.com/hook"), false), None);
        assert_eq!(refused(&url("http://127.0.0.1:8080/hook"), true), None);
    }
}
