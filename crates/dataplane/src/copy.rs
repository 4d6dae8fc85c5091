//! Moving bytes between the client and target sockets.
//!
//! Each direction starts with a small buffered copy (cheapest for request/response traffic, where
//! splicing costs two syscalls per chunk) and switches to `splice(2)` through a pooled pipe as
//! soon as a read fills the buffer, i.e. once the flow looks like a bulk transfer. Pipes are
//! grown to 1 MiB (`F_SETPIPE_SZ`); when that is refused they keep the 64 KiB default, and when
//! no pipe can be had at all (fd or pipe-page limits) the copy stays buffered with 64 KiB.
//!
//! Half-close: when one side reaches EOF its direction shuts down writing on the other side and
//! the opposite direction keeps going; the relay ends when both directions are done.

use std::io::{self, Read};
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, SpliceFFlags, fcntl, splice};
use nix::unistd::pipe2;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Pipe capacity asked for with `F_SETPIPE_SZ`.
pub const PIPE_SIZE: usize = 1 << 20;
/// Smallest pipe worth splicing through (the kernel's default size).
pub const MIN_PIPE_SIZE: usize = 64 << 10;
/// First buffer of every direction; a read that fills it switches the direction to splice.
pub const SMALL_BUFFER: usize = 16 << 10;
/// Buffer of a bulk direction that could not get a pipe.
pub const LARGE_BUFFER: usize = 64 << 10;

/// A kernel pipe used as the splice buffer of one direction.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    /// A non-blocking pipe, grown to [`PIPE_SIZE`] when the kernel allows it.
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        let asked = i32::try_from(PIPE_SIZE).unwrap_or(i32::MAX);
        let capacity = match fcntl(&write, FcntlArg::F_SETPIPE_SZ(asked)) {
            Ok(n) => n,
            // Over fs.pipe-max-size or the user's pipe pages: keep what the pipe has.
            Err(_) => fcntl(&write, FcntlArg::F_GETPIPE_SZ)?,
        };
        let capacity = usize::try_from(capacity).unwrap_or(0);
        if capacity < MIN_PIPE_SIZE {
            return Err(io::Error::other(format!(
                "pipe capacity {capacity} is below {MIN_PIPE_SIZE}"
            )));
        }
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    /// The pipe's capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Idle pipes kept for reuse; creating a pipe and resizing it costs three syscalls.
#[derive(Debug)]
pub struct PipePool {
    idle: Mutex<Vec<Pipe>>,
    max_idle: usize,
}

impl PipePool {
    /// A pool keeping at most `max_idle` pipes.
    pub fn new(max_idle: usize) -> PipePool {
        PipePool {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// A pipe from the pool or a new one; `None` when none can be created.
    pub fn get(&self) -> Option<Pipe> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(p) => Some(p),
            None => match Pipe::new() {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::debug!(error = %e, "no pipe for splice, copying through a buffer");
                    None
                }
            },
        }
    }

    /// Returns an empty pipe to the pool.
    fn put(&self, pipe: Pipe) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(pipe);
        }
    }

    /// Number of pipes waiting for reuse.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Default for PipePool {
    fn default() -> PipePool {
        PipePool::new(256)
    }
}

/// How a relay ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// Both sides closed their writing half.
    Closed,
    /// No byte moved in either direction for the idle timeout.
    IdleTimeout,
}

/// Per-relay settings and the counters it adds to.
#[derive(Clone, Copy, Debug)]
pub struct Relay<'a> {
    pub pipes: &'a PipePool,
    pub idle_timeout: Duration,
    /// Bytes written to `b` (read from `a`).
    pub a_to_b: &'a AtomicU64,
    /// Bytes written to `a` (read from `b`).
    pub b_to_a: &'a AtomicU64,
}

impl Relay<'_> {
    /// Copies both ways between `a` and `b` until both directions reach EOF, an error, or the idle
    /// timeout. Sockets are left open; the caller closes (or resets) them.
    pub async fn run(&self, a: &TcpStream, b: &TcpStream) -> io::Result<RelayEnd> {
        let activity = Activity::new();
        let both = async {
            tokio::try_join!(
                direction(a, b, self.pipes, &activity, self.a_to_b),
                direction(b, a, self.pipes, &activity, self.b_to_a),
            )
        };
        tokio::select! {
            r = both => r.map(|_| RelayEnd::Closed),
            () = activity.idle(self.idle_timeout) => Ok(RelayEnd::IdleTimeout),
        }
    }
}

/// Time of the last byte moved, shared by both directions of one relay.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing moved for `timeout`.
    async fn idle(&self, timeout: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = last + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// One direction: buffered until a read fills the small buffer, spliced after that.
async fn direction(
    src: &TcpStream,
    dst: &TcpStream,
    pipes: &PipePool,
    activity: &Activity,
    counter: &AtomicU64,
) -> io::Result<()> {
    let mut buf = vec![0u8; SMALL_BUFFER];
    loop {
        src.readable().await?;
        let n = match read_some(src, &mut buf) {
            Ok(0) => return shutdown_write(dst),
            Ok(n) => n,
            Err(e) if is_retry(&e) => continue,
            Err(e) => return Err(e),
        };
        activity.touch();
        write_all(dst, &buf[..n], activity, counter).await?;
        if n == buf.len() {
            break;
        }
    }
    // A bulk transfer: move to a pipe, or a larger buffer when there is none.
    match pipes.get() {
        Some(mut pipe) => {
            drop(buf);
            let pending = splice_loop(src, dst, &mut pipe, activity, counter).await?;
            if pending == 0 {
                pipes.put(pipe);
            }
        }
        None => {
            buf.resize(LARGE_BUFFER, 0);
            loop {
                src.readable().await?;
                let n = match read_some(src, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if is_retry(&e) => continue,
                    Err(e) => return Err(e),
                };
                activity.touch();
                write_all(dst, &buf[..n], activity, counter).await?;
            }
        }
    }
    shutdown_write(dst)
}

/// Reads what `src` holds into `buf`; `WouldBlock` when nothing is there.
///
/// A read that does not fill `buf` has drained the socket, so the readiness observed before it
/// is cleared at once, as tokio's own `AsyncRead` does: the next read waits for the next
/// readiness event instead of first paying a `recv` that fails with EAGAIN (two syscalls per
/// request/response round trip). Data arriving after the read raises a new event (the
/// registration is edge-triggered), and readiness that changed meanwhile is not cleared.
fn read_some(src: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut short = None;
    let read = src.try_io(Interest::READABLE, || {
        let n = (&*socket2::SockRef::from(src)).read(buf)?;
        if n > 0 && n < buf.len() {
            // Reported as WouldBlock so that try_io clears the readiness; the count is kept.
            short = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match short {
        Some(n) => Ok(n),
        None => read,
    }
}

async fn write_all(
    dst: &TcpStream,
    mut data: &[u8],
    activity: &Activity,
    counter: &AtomicU64,
) -> io::Result<()> {
    while !data.is_empty() {
        dst.writable().await?;
        match dst.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = &data[n..];
                counter.fetch_add(n as u64, Ordering::Relaxed);
                activity.touch();
            }
            Err(e) if is_retry(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Splices `src` → pipe → `dst` until EOF on `src`; returns the bytes left in the pipe (0 unless
/// an error interrupted the drain, in which case the error is returned instead).
async fn splice_loop(
    src: &TcpStream,
    dst: &TcpStream,
    pipe: &mut Pipe,
    activity: &Activity,
    counter: &AtomicU64,
) -> io::Result<usize> {
    let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
    loop {
        // The pipe is empty here, so EAGAIN can only mean the socket has nothing to read and
        // try_io is right to clear its read readiness.
        src.readable().await?;
        let filled = src.try_io(Interest::READABLE, || {
            splice(src, None, &pipe.write, None, pipe.capacity, flags).map_err(io::Error::from)
        });
        let mut pending = match filled {
            Ok(0) => return Ok(0),
            Ok(n) => n,
            Err(e) if is_retry(&e) => continue,
            Err(e) => return Err(e),
        };
        activity.touch();
        while pending > 0 {
            // The pipe holds data, so EAGAIN means the socket's send buffer is full.
            dst.writable().await?;
            let drained = dst.try_io(Interest::WRITABLE, || {
                splice(&pipe.read, None, dst, None, pending, flags).map_err(io::Error::from)
            });
            match drained {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    pending -= n;
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    activity.touch();
                }
                Err(e) if is_retry(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn shutdown_write(stream: &TcpStream) -> io::Result<()> {
    match socket2::SockRef::from(stream).shutdown(Shutdown::Write) {
        // The peer is already gone; nothing left to signal.
        Err(e) if e.raw_os_error() == Some(Errno::ENOTCONN as i32) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (c, s) = tokio::join!(TcpStream::connect(addr), l.accept());
        (c.unwrap(), s.unwrap().0)
    }

    #[test]
    fn pipes_are_grown_and_pooled() {
        let p = Pipe::new().unwrap();
        assert!(p.capacity() >= MIN_PIPE_SIZE);
        let pool = PipePool::new(1);
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        pool.put(a);
        pool.put(b);
        assert_eq!(pool.idle(), 1);
        assert!(pool.get().is_some());
        assert_eq!(pool.idle(), 0);
    }

    /// client <-> (a | relay | b) <-> server, both directions concurrently, small and bulk.
    #[tokio::test]
    async fn relay_moves_bytes_both_ways_and_half_closes() {
        let (mut client, a) = pair().await;
        let (b, mut server) = pair().await;
        let pool = PipePool::default();
        let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
        let relay = Relay {
            pipes: &pool,
            idle_timeout: Duration::from_secs(30),
            a_to_b: &up,
            b_to_a: &down,
        };
        let upload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let download: Vec<u8> = (0..10u32).map(|i| i as u8).collect();
        let (u2, d2) = (upload.clone(), download.clone());
        let client_side = async move {
            let (mut r, mut w) = client.split();
            let send = async {
                w.write_all(&u2).await.unwrap();
                w.shutdown().await.unwrap();
            };
            let mut got = Vec::new();
            let recv = r.read_to_end(&mut got);
            let (_, n) = tokio::join!(send, recv);
            n.unwrap();
            got
        };
        let server_side = async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            // Answer after the client's half-close.
            server.write_all(&d2).await.unwrap();
            server.shutdown().await.unwrap();
            got
        };
        let (end, got_client, got_server) =
            tokio::join!(relay.run(&a, &b), client_side, server_side);
        assert_eq!(end.unwrap(), RelayEnd::Closed);
        assert_eq!(got_server, upload);
        assert_eq!(got_client, download);
        assert_eq!(up.load(Ordering::Relaxed), upload.len() as u64);
        assert_eq!(down.load(Ordering::Relaxed), download.len() as u64);
        // The bulk direction returned its pipe.
        assert_eq!(pool.idle(), 1);
    }

    /// Request/response traffic stays in the buffered phase, where a short read clears the
    /// socket's readiness: bytes that arrive right after it must still be relayed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_carries_small_round_trips_and_bursts() {
        let (mut client, a) = pair().await;
        let (b, mut server) = pair().await;
        let pool = PipePool::default();
        let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
        let relay = Relay {
            pipes: &pool,
            idle_timeout: Duration::from_secs(30),
            a_to_b: &up,
            b_to_a: &down,
        };
        let echo = async move {
            let mut buf = [0u8; 512];
            loop {
                let n = server.read(&mut buf).await.unwrap();
                if n == 0 {
                    server.shutdown().await.unwrap();
                    return;
                }
                server.write_all(&buf[..n]).await.unwrap();
            }
        };
        let talk = async move {
            let mut got = [0u8; 3];
            for i in 0..2000u32 {
                let byte = (i % 251) as u8;
                if i % 2 == 0 {
                    client.write_all(&[byte]).await.unwrap();
                    client.read_exact(&mut got[..1]).await.unwrap();
                    assert_eq!(got[0], byte);
                } else {
                    // Three writes back to back: later ones land after the relay's short read.
                    for k in 0..3u8 {
                        client.write_all(&[byte ^ k]).await.unwrap();
                    }
                    client.read_exact(&mut got).await.unwrap();
                    assert_eq!(got, [byte, byte ^ 1, byte ^ 2]);
                }
            }
            client.shutdown().await.unwrap();
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        };
        let run = async { tokio::join!(relay.run(&a, &b), echo, talk).0 };
        let end = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .unwrap();
        assert_eq!(end.unwrap(), RelayEnd::Closed);
        assert_eq!(up.load(Ordering::Relaxed), 4000);
        assert_eq!(down.load(Ordering::Relaxed), 4000);
        // Nothing here was bulk: no pipe was taken.
        assert_eq!(pool.idle(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn relay_ends_when_idle() {
        let (_client, a) = pair().await;
        let (b, _server) = pair().await;
        let pool = PipePool::default();
        let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
        let relay = Relay {
            pipes: &pool,
            idle_timeout: Duration::from_secs(350),
            a_to_b: &up,
            b_to_a: &down,
        };
        let started = Instant::now();
        assert_eq!(relay.run(&a, &b).await.unwrap(), RelayEnd::IdleTimeout);
        assert!(started.elapsed() >= Duration::from_secs(350));
    }
}
