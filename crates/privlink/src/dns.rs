//! The daemon's DNS parts that are neither the node's nor the resolver's: where upstream
//! resolvers come from, the records of a daemon without network (public view only), and the
//! verifier of services' private DNS names.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use control::ControlPlane;
use control::vpce::{DueVerification, next_verification, record_verification, verifications_due};
use dns::{Dns, DnsError};

/// Parses an upstream resolver: `IP` (port 53) or `IP:PORT` (`[IPv6]:PORT` for IPv6).
pub fn parse_upstream(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("{text:?} is neither IP nor IP:PORT"))
}

/// The host's resolvers: the `nameserver` lines of `resolv.conf` (port 53).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// The upstreams to use: the ones given, else the host's `/etc/resolv.conf`'s.
pub fn upstreams(given: &[SocketAddr]) -> anyhow::Result<Vec<SocketAddr>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let path = "/etc/resolv.conf";
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(upstreams_from_resolv_conf(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {path}")),
    }
}

/// Serves the public view on UDP and TCP `addr` (host namespace) until the returned value is
/// dropped; port 0 picks one free for both. Returns the bound address too.
pub fn listen_public(dns: &Dns, addr: SocketAddr) -> anyhow::Result<(dns::Serving, SocketAddr)> {
    // With port 0, UDP's free port may be taken for TCP: try a few.
    let mut attempts = if addr.port() == 0 { 10 } else { 1 };
    loop {
        attempts -= 1;
        let udp = std::net::UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?;
        let bound = udp.local_addr()?;
        match std::net::TcpListener::bind(bound) {
            Ok(tcp) => return Ok((dns.serve(dns::ViewId::Public, udp, tcp)?, bound)),
            Err(e) if attempts == 0 => {
                return Err(e).with_context(|| format!("binding TCP {bound}"));
            }
            Err(_) => continue,
        }
    }
}

/// Keeps the resolver's records equal to the store's, for a daemon without a node (with one,
/// the node applies them in its passes, in step with the network). Runs until `shutdown`.
pub async fn follow_records(
    cp: Arc<ControlPlane>,
    dns: Dns,
    region: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut changes = cp.subscribe();
    tokio::pin!(shutdown);
    loop {
        changes.mark_unchanged();
        let cp2 = cp.clone();
        match tokio::task::spawn_blocking(move || control::reconcile::world::snapshot(&cp2)).await {
            Ok(Ok(world)) => dns.apply(node::dns_records(&world, &region)),
            Ok(Err(e)) => tracing::warn!(error = %e, "reading DNS records failed"),
            Err(e) => tracing::error!(error = %e, "reading DNS records panicked"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            r = changes.changed() => if r.is_err() { return },
        }
    }
}

/// After an upstream failure, a service's name is looked up again this much later.
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(30);

/// Verifies services' private DNS names: looks up each due one's TXT records through the
/// upstreams (at once when its provider asks, then every `interval`) and records the outcome.
/// Runs until `shutdown`.
pub async fn verify_private_dns_names(
    cp: Arc<ControlPlane>,
    dns: Dns,
    interval: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut changes = cp.subscribe();
    tokio::pin!(shutdown);
    // Services whose last lookup found no upstream answering, and when to try again.
    let mut unavailable: HashMap<String, Instant> = HashMap::new();
    loop {
        changes.mark_unchanged();
        let now = control::common::now();
        unavailable.retain(|_, until| *until > Instant::now());
        let cp2 = cp.clone();
        let due = tokio::task::spawn_blocking(move || verifications_due(&cp2, now, interval))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "listing private DNS names to verify failed");
                Vec::new()
            }
        };
        for d in due {
            if unavailable.contains_key(&d.service_id) {
                continue;
            }
            match lookup(&dns, &d).await {
                Ok(found) => {
                    let cp2 = cp.clone();
                    let when = control::common::now();
                    let recorded = tokio::task::spawn_blocking(move || {
                        record_verification(&cp2, &d, found, when).map(|s| (d, s))
                    })
                    .await;
                    match recorded {
                        Ok(Ok((d, Some(state)))) => {
                            tracing::info!(service = %d.service_id, found, %state, "private DNS name checked");
                        }
                        Ok(Ok((_, None))) => {}
                        Ok(Err(e)) => tracing::warn!(error = %e, "recording a verification failed"),
                        Err(e) => tracing::error!(error = %e, "recording a verification panicked"),
                    }
                }
                Err(e) => {
                    tracing::warn!(service = %d.service_id, error = %e, "private DNS name not checked: no upstream answered");
                    unavailable.insert(d.service_id.clone(), Instant::now() + RETRY_UNAVAILABLE);
                }
            }
        }
        let cp2 = cp.clone();
        let now = control::common::now();
        let next = tokio::task::spawn_blocking(move || next_verification(&cp2, now, interval))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        let retry = unavailable
            .values()
            .min()
            .map(|t| t.saturating_duration_since(Instant::now()));
        // A name due now but waiting out an upstream failure sleeps until its retry.
        let wait = match (next, retry) {
            (Some(n), Some(r)) if n.is_zero() => r,
            (Some(n), Some(r)) => n.min(r),
            (Some(n), None) if n.is_zero() => interval,
            (Some(n), None) => n,
            (None, Some(r)) => r,
            (None, None) => interval,
        };
        tokio::select! {
            _ = &mut shutdown => return,
            r = changes.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(wait.max(Duration::from_millis(100))) => {}
        }
    }
}

/// Whether any of `d`'s record names holds its value. Inconclusive (an error) when none does
/// but some name could not be asked: the missing answer may be the one that holds it, and one
/// dropped packet must not fail a verified name.
async fn lookup(dns: &Dns, d: &DueVerification) -> Result<bool, DnsError> {
    let mut error = None;
    for name in &d.record_names {
        match dns.lookup_txt(name).await {
            Ok(values) if values.iter().any(|v| v == &d.value) => return Ok(true),
            Ok(_) => {}
            Err(e) => error = Some(e),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_parse() {
        assert_eq!(
            parse_upstream("127.0.0.1"),
            Ok("127.0.0.1:53".parse().expect("addr"))
        );
        assert_eq!(
            parse_upstream("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().expect("addr"))
        );
        assert_eq!(
            parse_upstream("[::1]:5353"),
            Ok("[::1]:5353".parse().expect("addr"))
        );
        assert!(parse_upstream("localhost").is_err());
        assert!(parse_upstream("1.2.3.4:x").is_err());
    }

    #[test]
    fn resolv_conf_nameservers() {
        let text = "# comment\nsearch example.com\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\noptions ndots:2\nnameserver bad\n";
        assert_eq!(
            upstreams_from_resolv_conf(text),
            [
                "192.0.2.1:53".parse::<SocketAddr>().expect("v4"),
                "[fe80::1]:53".parse().expect("v6"),
            ]
        );
    }
}
