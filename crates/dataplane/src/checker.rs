//! The tokio driver of health checks: one task per target group runs a round of checks every
//! interval (all targets in parallel), feeds the sans-io [`HealthMachine`]s and publishes changes.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{HealthCheckConfig, HealthCheckProtocol};
use crate::health::{CheckOutcome, Failure, HealthMachine, Matcher, parse_status_line};
use crate::proxy::{Group, Shared};
use crate::socket::{SocketFactory, connect_from};
use crate::{ppv2, socket};

/// Floor for the check interval, so a zero interval cannot turn into a busy loop.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// Runs until `cancel`.
pub(crate) async fn run(group: Arc<Group>, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut machines: HashMap<(SocketAddr, u64), HealthMachine> = HashMap::new();
    loop {
        let started = Instant::now();
        let view = group.view();
        let hc = view.config.health_check.clone();
        if view.in_use {
            // Draining targets are not checked but keep their counts should they come back.
            machines.retain(|k, _| view.targets.iter().any(|t| (t.addr, t.generation) == *k));
            let checked: Vec<_> = view
                .targets
                .iter()
                .filter(|t| !t.draining)
                .map(|t| (t.addr, t.generation))
                .collect();
            let mut round = JoinSet::new();
            for key in checked {
                let factory = shared.factory.clone();
                let hc = hc.clone();
                let pp = view.config.proxy_protocol_v2;
                round.spawn(async move { (key, check(factory.as_ref(), &hc, pp, key.0).await) });
            }
            let mut changed = Vec::new();
            loop {
                let next = tokio::select! {
                    () = cancel.cancelled() => return,
                    next = round.join_next() => next,
                };
                let Some(joined) = next else { break };
                let Ok((key, outcome)) = joined else { continue };
                let m = machines.entry(key).or_insert_with(|| {
                    HealthMachine::new(hc.healthy_threshold, hc.unhealthy_threshold)
                });
                m.set_thresholds(hc.healthy_threshold, hc.unhealthy_threshold);
                if m.observe(outcome) {
                    changed.push((key, m.health().clone()));
                }
            }
            if !changed.is_empty() {
                group.set_health(&changed);
                shared.publish_health();
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep_until(started + hc.interval.max(MIN_INTERVAL)) => {}
            // A configuration change: check new targets without waiting a whole interval.
            () = group.wake.notified() => {}
        }
    }
}

/// One check of `target` (the health-check port overrides the traffic port).
pub(crate) async fn check(
    factory: &dyn SocketFactory,
    hc: &HealthCheckConfig,
    proxy_protocol: bool,
    target: SocketAddr,
) -> CheckOutcome {
    let remote = SocketAddr::new(target.ip(), hc.port.unwrap_or(target.port()));
    let attempt = async {
        let sock = factory
            .connect_socket(hc.netns.as_deref(), remote)
            .map_err(|_| Failure::Failed)?;
        let mut stream = connect_from(sock, hc.source, remote)
            .await
            .map_err(|e| classify(&e))?;
        if proxy_protocol {
            // AWS sends a header on health-check connections too, without client information.
            stream
                .write_all(&ppv2::local_header())
                .await
                .map_err(|e| classify(&e))?;
        }
        let outcome = match &hc.protocol {
            HealthCheckProtocol::Tcp => Ok(()),
            HealthCheckProtocol::Http { path, matcher } => {
                http(&mut stream, remote, path, matcher).await
            }
        };
        // A reset leaves no TIME_WAIT behind for a connection made every interval.
        socket::reset(stream);
        outcome
    };
    match tokio::time::timeout(hc.timeout, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err(Failure::Timeout),
    }
}

fn classify(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Failed,
    }
}

async fn http(
    stream: &mut TcpStream,
    remote: SocketAddr,
    path: &str,
    matcher: &Matcher,
) -> CheckOutcome {
    if !path.starts_with('/')
        || path
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(Failure::Failed);
    }
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {remote}\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| classify(&e))?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        match parse_status_line(&buf) {
            Ok(Some(code)) if matcher.matches(code) => return Ok(()),
            Ok(Some(code)) => return Err(Failure::CodeMismatch(code)),
            Ok(None) => {}
            Err(()) => return Err(Failure::Failed),
        }
        let n = stream.read(&mut chunk).await.map_err(|e| classify(&e))?;
        if n == 0 {
            return Err(Failure::Failed);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
