//! Data-plane workers: threads each running a single-threaded runtime that accepts on every
//! listener and serves the connections it accepted, start to end.
//!
//! A connection's accept, connect and both copy directions then stay on one thread: no work
//! stealing, no wake-ups across threads, no shared run queue. Each worker accepts on a socket
//! of its own for every listener, all bound to the listener's address with `SO_REUSEPORT`
//! ([`crate::socket::bind_listeners`]): the kernel hashes each new connection to one socket, so
//! only that worker wakes (HAProxy and nginx listen the same way). Sharing one socket instead,
//! every connection woke every worker, and the first to accept took it.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub(crate) struct Workers {
    handles: Vec<Handle>,
    stop: CancellationToken,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// `count` worker threads (at least one), running until dropped.
    pub(crate) fn start(count: usize) -> io::Result<Workers> {
        let stop = CancellationToken::new();
        let mut workers = Workers {
            handles: Vec::new(),
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for i in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            workers.handles.push(runtime.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("dataplane-{i}"))
                .spawn(move || {
                    runtime.block_on(stop.cancelled());
                    // Tasks still running (connections of a data plane being dropped) are
                    // dropped with the runtime, closing their sockets.
                })?;
            workers.threads.push(thread);
        }
        Ok(workers)
    }

    pub(crate) fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
        // Not joined: dropping may happen on one of the workers (its last task holding the
        // data plane), which cannot wait for itself.
        self.threads.clear();
    }
}
