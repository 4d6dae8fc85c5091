//! Throughput on loopback: direct, through the data plane, and through tokio's default
//! `copy_bidirectional` (8 KiB buffers) for reference. Also sequential short-connection rate.
//!
//! `cargo run --release -p dataplane --example loopback_bench -- [MiB per run] [runs] [conns]`
//! (defaults 2048, 3, 2000). Loopback only: the sink listens on 127.0.0.2, proxies on 127.0.0.1.

use std::collections::BTreeMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::{
    CurrentNamespace, DataPlane, DataPlaneConfig, HealthCheckConfig, ListenerConfig, TargetConfig,
    TargetGroupConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Reads until EOF, then answers with the byte count (8 bytes, big-endian).
async fn sink() -> Res<SocketAddr> {
    let l = TcpListener::bind("127.0.0.2:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = vec![0u8; 256 << 10];
                let mut total = 0u64;
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => total += n as u64,
                        Err(_) => return,
                    }
                }
                let _ = s.write_all(&total.to_be_bytes()).await;
            });
        }
    });
    Ok(addr)
}

/// Sends `bytes` and waits for the sink's count; returns Gbit/s.
async fn push(addr: SocketAddr, bytes: u64) -> Res<f64> {
    let chunk = vec![0x5Au8; 256 << 10];
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    s.shutdown().await?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count).await?;
    let secs = start.elapsed().as_secs_f64();
    if u64::from_be_bytes(count) != bytes {
        return Err("sink saw a different byte count".into());
    }
    Ok(bytes as f64 * 8.0 / secs / 1e9)
}

/// Sequential connect + 1 byte + count back + close; returns connections per second.
async fn conn_rate(addr: SocketAddr, n: u32) -> Res<f64> {
    let start = Instant::now();
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"x").await?;
        s.shutdown().await?;
        let mut count = [0u8; 8];
        s.read_exact(&mut count).await?;
    }
    Ok(f64::from(n) / start.elapsed().as_secs_f64())
}

/// The naive proxy this crate avoids: tokio's default copy loop.
async fn tokio_copy_proxy(target: SocketAddr) -> Res<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut c, _)) = l.accept().await {
            tokio::spawn(async move {
                if let Ok(mut t) = TcpStream::connect(target).await {
                    let _ = c.set_nodelay(true);
                    let _ = t.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut t).await;
                }
            });
        }
    });
    Ok(addr)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mib = args.first().copied().unwrap_or(2048);
    let runs = args.get(1).copied().unwrap_or(3).max(1);
    let conns = u32::try_from(args.get(2).copied().unwrap_or(2000)).unwrap_or(2000);
    let bytes = mib << 20;

    let limit = dataplane::raise_nofile_limit()?;
    let target = sink().await?;

    let dp = DataPlane::new(Arc::new(CurrentNamespace));
    let health_check = HealthCheckConfig {
        interval: Duration::from_secs(3600),
        ..HealthCheckConfig::default()
    };
    let cfg = DataPlaneConfig {
        listeners: BTreeMap::from([(
            "bench".to_string(),
            ListenerConfig::new("127.0.0.1:0".parse()?, "tg", "zone-a"),
        )]),
        target_groups: BTreeMap::from([(
            "tg".to_string(),
            TargetGroupConfig::new(vec![TargetConfig::new(target, "zone-a")], health_check),
        )]),
    };
    let failures = dp.apply(cfg).await;
    if !failures.is_empty() {
        return Err(format!("{failures:?}").into());
    }
    let proxied = dp.local_addr("bench").ok_or("listener not serving")?;
    let naive = tokio_copy_proxy(target).await?;

    println!("loopback, {mib} MiB per run, {runs} runs (median), RLIMIT_NOFILE {limit}");
    let mut results = Vec::new();
    for (name, addr) in [
        ("direct", target),
        ("dataplane", proxied),
        ("tokio-copy-8k", naive),
    ] {
        let mut v = Vec::new();
        for _ in 0..runs {
            v.push(push(addr, bytes).await?);
        }
        let gbps = median(v.clone());
        println!("{name:>14}: {gbps:6.2} Gbit/s  (runs: {v:.2?})");
        results.push(gbps);
    }
    println!(
        "ratio dataplane/direct: {:.2}   tokio-copy/direct: {:.2}",
        results[1] / results[0],
        results[2] / results[0]
    );

    let direct_cps = conn_rate(target, conns).await?;
    let proxied_cps = conn_rate(proxied, conns).await?;
    println!(
        "sequential connections/s: direct {direct_cps:.0}, dataplane {proxied_cps:.0} (ratio {:.2})",
        proxied_cps / direct_cps
    );
    if let Some(stats) = dp.listener_stats("bench") {
        println!("listener stats: {stats:?}");
    }
    dp.shutdown().await;
    Ok(())
}
