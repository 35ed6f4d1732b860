//! How far into the network an address reaches, and the resolver that keeps
//! a server from sending the bridge nearer to this machine than the server
//! itself is (SSRF, issue 7).
//!
//! URLs a server names (in its challenge and its OAuth metadata) are checked
//! twice: by what they say (`auth::discovery`: a literal private address or
//! `localhost` named by a public server is refused), and, for host names, by
//! what they resolve to: each such name is watched, and the resolver drops
//! the addresses of a watched name that are nearer than the server's own.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use url::Url;

/// How far into the network an address reaches, from this machine outward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// This machine: loopback addresses and `localhost`.
    Machine,
    /// Private, link-local and other non-public addresses: the local
    /// network, a cloud provider's metadata service (169.254.169.254).
    Network,
    /// Everything else.
    Public,
}

/// Whether `url` points at this machine, where plain http is safe (H6).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.');
            domain.eq_ignore_ascii_case("localhost")
                || domain.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The reach of one address.
pub fn of_ip(ip: IpAddr) -> Reach {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return Reach::Machine;
    }
    let near = match ip {
        IpAddr::V4(ip) => {
            ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64 // 100.64/10, shared
        }
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            ip.is_unspecified()
                || ip.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
        }
    };
    if near { Reach::Network } else { Reach::Public }
}

/// The reach of a URL by what it says: its literal address, or `localhost`;
/// any other host name counts as public here (the resolver checks it).
pub fn of_url(url: &Url) -> Reach {
    if is_loopback(url) {
        return Reach::Machine;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => of_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => of_ip(IpAddr::V6(ip)),
        _ => Reach::Public,
    }
}

/// The names a server named, each with the nearest reach its addresses may
/// have, and the reach of every name resolved so far.
#[derive(Default)]
pub struct Guard {
    watched: RwLock<HashMap<String, Reach>>,
    resolved: RwLock<HashMap<String, Reach>>,
}

impl Guard {
    /// Watches `url`'s host, named by the server at `server`: its addresses
    /// may not be nearer than the server's own (as resolved, when it was).
    pub fn watch(&self, url: &Url, server: &Url) {
        let (Some(url::Host::Domain(name)), Some(server_host)) = (url.host(), server.host_str())
        else {
            return;
        };
        let name = name.to_ascii_lowercase();
        if name == server_host.to_ascii_lowercase() || is_loopback(url) {
            return;
        }
        let floor = self
            .resolved
            .read()
            .expect("reach lock")
            .get(&server_host.to_ascii_lowercase())
            .copied()
            .unwrap_or_else(|| of_url(server));
        self.watched
            .write()
            .expect("reach lock")
            .insert(name, floor);
    }

    /// How near `url` is: its host's resolved addresses if it was resolved,
    /// else what it says.
    pub fn reach_of(&self, url: &Url) -> Reach {
        let resolved = match url.host() {
            Some(url::Host::Domain(name)) => self
                .resolved
                .read()
                .expect("reach lock")
                .get(&name.to_ascii_lowercase())
                .copied(),
            _ => None,
        };
        resolved.map_or_else(|| of_url(url), |r| r.min(of_url(url)))
    }

    /// Keeps the addresses `name` may reach, and notes how near it is.
    fn admit(&self, name: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
        if let Some(nearest) = addrs.iter().map(|a| of_ip(a.ip())).min() {
            self.resolved
                .write()
                .expect("reach lock")
                .insert(name.to_owned(), nearest);
        }
        let Some(floor) = self.watched.read().expect("reach lock").get(name).copied() else {
            return Ok(addrs);
        };
        let kept: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| of_ip(a.ip()) >= floor)
            .collect();
        if kept.is_empty() {
            tracing::warn!(
                "refused {name}: a server named it, and it resolves nearer to this machine than the server"
            );
            return Err(format!(
                "{name} resolves only to addresses on this machine or the local network, nearer \
                 than the MCP server that named it; refused (SSRF)"
            ));
        }
        Ok(kept)
    }
}

/// The client's resolver: the system's, through the [`Guard`].
pub struct Resolver(pub Arc<Guard>);

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = Arc::clone(&self.0);
        let name = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept = guard.admit(&name, addrs)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn addresses_are_placed_by_how_near_they_are() {
        for (ip, reach) in [
            ("127.0.0.1", Reach::Machine),
            ("::1", Reach::Machine),
            ("::ffff:127.0.0.1", Reach::Machine),
            ("10.1.2.3", Reach::Network),
            ("169.254.169.254", Reach::Network),
            ("100.64.0.1", Reach::Network),
            ("fd00::1", Reach::Network),
            ("fe80::1", Reach::Network),
            ("::ffff:192.168.0.1", Reach::Network),
            ("8.8.8.8", Reach::Public),
            ("2606:4700::1111", Reach::Public),
        ] {
            assert_eq!(of_ip(ip.parse().unwrap()), reach, "{ip}");
        }
    }

    /// DNS rebinding: a name a public server names may not resolve to this
    /// machine or the local network; names nobody watches resolve as usual.
    #[tokio::test]
    async fn a_watched_name_may_not_resolve_nearer_than_the_server() {
        let guard = Arc::new(Guard::default());
        let public = url("https://mcp.example.com/mcp");
        guard
            .resolved
            .write()
            .unwrap()
            .insert("mcp.example.com".into(), Reach::Public);
        guard.watch(&url("https://auth.rebind.example/token"), &public);
        let local: Vec<SocketAddr> = vec!["10.0.0.5:443".parse().unwrap()];
        assert!(guard.admit("auth.rebind.example", local.clone()).is_err());
        assert!(guard.admit("unwatched.example", local.clone()).is_ok());
        let mixed: Vec<SocketAddr> = vec![
            "10.0.0.5:443".parse().unwrap(),
            "93.184.216.34:443".parse().unwrap(),
        ];
        assert_eq!(guard.admit("auth.rebind.example", mixed).unwrap().len(), 1);
        // A server on the local network may name hosts there.
        let lan = Guard::default();
        lan.resolved
            .write()
            .unwrap()
            .insert("mcp.corp".into(), Reach::Network);
        lan.watch(
            &url("https://auth.corp/token"),
            &url("https://mcp.corp/mcp"),
        );
        assert!(lan.admit("auth.corp", local).is_ok());
    }
}
