//! The worker thread of a namespace: one OS thread that has entered the namespace with
//! `setns` and runs jobs sent to it over a channel.
//!
//! `setns` changes the namespace of the calling thread only, so code that must run "inside"
//! a namespace (creating a socket, opening a netlink socket, writing a per-namespace sysctl)
//! runs here, never on a thread of the tokio runtime, whose tasks hop between threads.

use std::cell::RefCell;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::{self, ThreadId};

use nix::sched::{CloneFlags, setns};

use crate::error::{Error, Result};

pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Stack size of a worker: jobs are short (socket calls, netlink requests).
const WORKER_STACK: usize = 512 * 1024;

#[derive(Debug)]
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
    thread: ThreadId,
}

impl Worker {
    /// Starts a thread, enters the namespace `fd` on it, and returns once it is inside.
    pub(crate) fn start(ns: &str, fd: Arc<OwnedFd>) -> Result<Worker> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
        let handle = thread::Builder::new()
            // Linux keeps 15 bytes of a thread name; the namespace name's tail is the useful
            // part, the prefix is the same for every worker of a daemon.
            .name(thread_name(ns))
            .stack_size(WORKER_STACK)
            .spawn(move || {
                let entered = setns(&*fd, CloneFlags::CLONE_NEWNET).map_err(Error::sys("setns"));
                let ok = entered.is_ok();
                // The spawner is waiting; if it has gone, nobody wants this worker.
                if ready_tx.send(entered).is_err() || !ok {
                    return;
                }
                drop(fd);
                // Ends when every `Worker` (sender) is dropped.
                while let Ok(job) = inbox.recv() {
                    job();
                }
                NETLINK.with(|cell| cell.borrow_mut().take());
            })
            .map_err(|e| Error::Io {
                op: "spawn namespace worker thread for",
                path: ns.into(),
                source: e,
            })?;
        let thread = handle.thread().id();
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Worker { jobs, thread }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::WorkerGone(ns.to_owned())),
        }
    }

    pub(crate) fn is_current(&self) -> bool {
        thread::current().id() == self.thread
    }

    pub(crate) fn submit(&self, job: Job) -> std::result::Result<(), Job> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

fn thread_name(ns: &str) -> String {
    let tail_start = ns.len().saturating_sub(13);
    let tail = ns.get(tail_start..).unwrap_or(ns);
    format!("n:{tail}")
}

/// Runs `f`, turning a panic into an error so one bad job does not kill the worker.
pub(crate) fn guarded<T>(ns: &str, f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| Error::JobPanicked(ns.to_owned()))
}

struct NetlinkState {
    runtime: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
}

thread_local! {
    /// The worker's netlink connection and the current-thread runtime that drives it.
    /// Created on first use, inside the namespace, so the netlink socket belongs to it.
    static NETLINK: RefCell<Option<NetlinkState>> = const { RefCell::new(None) };
}

/// Runs a netlink future on the current thread's (lazily made) netlink connection. Must be
/// called on a worker thread (inside its namespace).
pub(crate) fn with_netlink<T, F, Fut>(ns: &str, f: F) -> Result<T>
where
    F: FnOnce(rtnetlink::Handle) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    // Taken out of the cell for the duration of the call, so a panic or a nested call cannot
    // leave it borrowed.
    let state = NETLINK.with(|cell| cell.borrow_mut().take());
    let state = match state {
        Some(state) => state,
        None => connect(ns)?,
    };
    let result = state.runtime.block_on(f(state.handle.clone()));
    // A broken connection (the driver task ended) is dropped and made again next time.
    let broken = matches!(
        &result,
        Err(Error::Netlink {
            source: rtnetlink::Error::RequestFailed,
            ..
        })
    );
    if !broken {
        NETLINK.with(|cell| *cell.borrow_mut() = Some(state));
    }
    result
}

fn connect(ns: &str) -> Result<NetlinkState> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Error::Socket {
            op: "build the netlink runtime",
            ns: ns.to_owned(),
            source: e,
        })?;
    // The socket registers with the runtime's reactor, so it is made inside it.
    let (connection, handle, _) = {
        let _guard = runtime.enter();
        rtnetlink::new_connection().map_err(|e| Error::Socket {
            op: "open a netlink socket",
            ns: ns.to_owned(),
            source: e,
        })?
    };
    runtime.spawn(connection);
    Ok(NetlinkState { runtime, handle })
}
