//! `privlink-bench`: the small, precise programs the data-plane benchmark runs inside instance
//! namespaces (bench/dataplane_bench.py drives them), and the DNS benchmark's load client
//! (bench/dns_bench.py). Blocking std sockets only, so the client's own cost per operation is a
//! syscall or two and nothing else.
//!
//! ```text
//! privlink-bench echo-server ADDR [THREADS]     echo every byte back; THREADS accept loops
//! privlink-bench pingpong ADDR SAMPLES          1-byte request/response on one connection
//! privlink-bench connrate ADDR COUNT CLIENTS    connect + 1-byte echo + close, COUNT in all
//! privlink-bench ready                          per stdin line ADDR: poll until a byte echoes
//! privlink-bench dnsload ADDR FILE SECS OUTSTANDING   UDP DNS queries from FILE, OUTSTANDING
//!                                                     in flight, for SECS
//! ```
//!
//! Clients print one JSON object per result on stdout; errors go to stderr with exit status 1.

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

mod dns;

const USAGE: &str = "usage: privlink-bench echo-server ADDR [THREADS] | pingpong ADDR SAMPLES \
                     | connrate ADDR COUNT CLIENTS | ready \
                     | dnsload ADDR QUERYFILE SECONDS OUTSTANDING";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("echo-server") => echo_server(&args[1..]),
        Some("pingpong") => pingpong(&args[1..]),
        Some("connrate") => connrate(&args[1..]),
        Some("ready") => ready(),
        Some("dnsload") => dnsload(&args[1..]),
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, USAGE)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privlink-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}; {USAGE}"))
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> io::Result<T> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("missing or invalid {what}")))
}

/// A fixed set of threads blocking in `accept` on one socket, each serving its connection
/// inline: no thread is spawned per connection, so a short connection costs the server only
/// its syscalls (the connection-rate figures compare proxies, not the server).
fn echo_server(args: &[String]) -> io::Result<()> {
    let addr: SocketAddr = arg(args, 0, "ADDR")?;
    let threads: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let listener = Arc::new(TcpListener::bind(addr)?);
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let listener = listener.clone();
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    if let Ok((conn, _)) = listener.accept() {
                        // A peer that resets mid-way only ends its own connection.
                        let _ = echo(conn, &mut buf);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn echo(mut conn: TcpStream, buf: &mut [u8]) -> io::Result<()> {
    conn.set_nodelay(true)?;
    loop {
        let n = conn.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])?;
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(s)
}

fn one_byte_echo(s: &mut TcpStream) -> io::Result<()> {
    s.write_all(b"x")?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b)
}

/// Percentile (nearest rank) of sorted samples, in microseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

fn pingpong(args: &[String]) -> io::Result<()> {
    let addr: SocketAddr = arg(args, 0, "ADDR")?;
    let samples: usize = arg(args, 1, "SAMPLES")?;
    let mut s = connect(addr)?;
    // Warm-up: the first round trips pay for lazy allocations along the path.
    for _ in 0..200 {
        one_byte_echo(&mut s)?;
    }
    let mut rtts = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        one_byte_echo(&mut s)?;
        rtts.push(t.elapsed());
    }
    rtts.sort_unstable();
    let mean = rtts.iter().map(Duration::as_secs_f64).sum::<f64>() / rtts.len().max(1) as f64;
    println!(
        "{{\"samples\":{},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"mean_us\":{:.1}}}",
        rtts.len(),
        pct(&rtts, 50.0),
        pct(&rtts, 90.0),
        pct(&rtts, 99.0),
        mean * 1e6
    );
    Ok(())
}

/// CLIENTS threads, each opening its share of COUNT connections one after the other.
fn connrate(args: &[String]) -> io::Result<()> {
    let addr: SocketAddr = arg(args, 0, "ADDR")?;
    let count: usize = arg(args, 1, "COUNT")?;
    let clients: usize = arg::<usize>(args, 2, "CLIENTS")?.max(1);
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let n = count / clients + usize::from(i < count % clients);
            thread::spawn(move || {
                let mut lat = Vec::with_capacity(n);
                let mut failed = 0usize;
                for _ in 0..n {
                    let t = Instant::now();
                    let ok = connect(addr).and_then(|mut s| one_byte_echo(&mut s));
                    match ok {
                        Ok(()) => lat.push(t.elapsed()),
                        Err(_) => failed += 1,
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(count);
    let mut failed = 0;
    for w in workers {
        let (l, f) = w
            .join()
            .map_err(|_| io::Error::other("a client thread panicked"))?;
        lat.extend(l);
        failed += f;
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    println!(
        "{{\"conns\":{},\"failed\":{},\"clients\":{},\"secs\":{:.3},\"per_sec\":{:.0},\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
        lat.len(),
        failed,
        clients,
        secs,
        lat.len() as f64 / secs,
        pct(&lat, 50.0),
        pct(&lat, 99.0)
    );
    Ok(())
}

/// For each line `ADDR` on stdin: connect, send a byte and read it back, retrying every
/// millisecond until it works (or 60 s pass); prints the microseconds from reading the line to
/// the echoed byte, or `timeout`.
///
/// A connect may hang rather than fail (its SYN queued behind an ARP request for an address
/// that does not exist yet, then dropped): attempts time out after 5 ms, doubling while they
/// keep timing out (a loaded machine), so the figure is not TCP's 1 s SYN retransmission.
fn ready() -> io::Result<()> {
    let stdin = io::stdin();
    let mut out = io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let addr: SocketAddr = line
            .trim()
            .parse()
            .map_err(|_| bad(&format!("bad address {line:?}")))?;
        let start = Instant::now();
        let deadline = start + Duration::from_secs(60);
        let mut wait = Duration::from_millis(5);
        let result = loop {
            let attempt = TcpStream::connect_timeout(&addr, wait).and_then(|mut s| {
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(1)))?;
                one_byte_echo(&mut s)
            });
            match attempt {
                Ok(()) => break format!("{}", start.elapsed().as_micros()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    wait = (wait * 2).min(Duration::from_millis(500));
                }
                Err(_) => thread::sleep(Duration::from_millis(1)),
            }
            if Instant::now() >= deadline {
                break "timeout".to_string();
            }
        };
        writeln!(out, "{result}")?;
        out.flush()?;
    }
    Ok(())
}

/// See the `dns` module: prints what the run measured as one JSON object.
fn dnsload(args: &[String]) -> io::Result<()> {
    let addr: SocketAddr = arg(args, 0, "ADDR")?;
    let file: String = arg(args, 1, "QUERYFILE")?;
    let secs: f64 = arg(args, 2, "SECONDS")?;
    let outstanding: usize = arg(args, 3, "OUTSTANDING")?;
    if !(secs > 0.0 && secs <= 3600.0 && (1..=dns::MAX_OUTSTANDING).contains(&outstanding)) {
        return Err(bad(&format!(
            "SECONDS must be in (0, 3600] and OUTSTANDING in 1..={}",
            dns::MAX_OUTSTANDING
        )));
    }
    let queries = dns::read_queries(&file)?;
    let r = dns::run(addr, queries, secs, outstanding)?;
    let lat = &r.latencies;
    println!(
        "{{\"sent\":{},\"good\":{},\"bad\":{},\"lost\":{},\"stray\":{},\"outstanding\":{},\"secs\":{:.3},\"qps\":{:.0},\"p50_us\":{:.1},\"p90_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}}}",
        r.sent,
        r.good,
        r.bad,
        r.lost,
        r.stray,
        outstanding,
        r.secs,
        r.qps(),
        pct(lat, 50.0),
        pct(lat, 90.0),
        pct(lat, 99.0),
        pct(lat, 100.0)
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(pct(&v, 50.0), 50.0);
        assert_eq!(pct(&v, 99.0), 99.0);
        assert_eq!(pct(&v, 100.0), 100.0);
        assert_eq!(pct(&[], 50.0), 0.0);
    }

    #[test]
    fn the_echo_server_answers_pingpong_and_short_connections() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = vec![0u8; 1024];
            loop {
                let (c, _) = l.accept().unwrap();
                let _ = echo(c, &mut buf);
            }
        });
        let mut s = connect(addr).unwrap();
        for _ in 0..10 {
            one_byte_echo(&mut s).unwrap();
        }
        drop(s);
        for _ in 0..10 {
            one_byte_echo(&mut connect(addr).unwrap()).unwrap();
        }
    }
}
