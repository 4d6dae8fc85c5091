//! Named network namespaces: create, open, delete, list, and run code inside them.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs, statfs};

use crate::error::{Error, Result};
use crate::name::Prefix;
use crate::worker::{self, Worker};

/// Where named namespaces live, as with `ip netns`.
pub const NETNS_DIR: &str = "/run/netns";

/// Serialises creation and deletion inside this process: the reconciler is the only writer
/// of a daemon's namespaces, but tests and tools may race on the same name.
static LIFECYCLE: Mutex<()> = Mutex::new(());

/// A named network namespace of one daemon, persisted as `/run/netns/<prefix>-<name>`.
///
/// The handle holds the namespace open (an fd on it) and, once code has been run inside it,
/// a worker thread that has entered it. Cloning is cheap and shares both. Dropping the last
/// clone stops the worker; the namespace itself stays (it is bind-mounted) until
/// [`Netns::delete`] or [`delete`] unmounts it.
#[derive(Clone)]
pub struct Netns {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: Prefix,
    name: String,
    full_name: String,
    path: PathBuf,
    fd: Arc<OwnedFd>,
    worker: OnceLock<Worker>,
}

impl fmt::Debug for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netns")
            .field("name", &self.inner.full_name)
            .field("worker", &self.inner.worker.get().is_some())
            .finish()
    }
}

impl Netns {
    /// Creates the namespace `<prefix>-<name>`, or opens it if it already exists
    /// (idempotent, for a level-triggered reconciler).
    ///
    /// Like `ip netns add`: makes `/run/netns` a shared mount point, creates an empty file
    /// there, and on a short-lived thread `unshare(CLONE_NEWNET)`s and bind-mounts
    /// `/proc/thread-self/ns/net` onto the file. The new namespace has only `lo`, down.
    ///
    /// Blocking, for about a millisecond (a thread spawn, `unshare`, two mounts); from async
    /// code prefer `spawn_blocking`.
    pub fn create(prefix: &Prefix, name: &str) -> Result<Netns> {
        let full_name = prefix.full_name(name)?;
        let path = Path::new(NETNS_DIR).join(&full_name);
        let _lock = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
        prepare_netns_dir()?;
        loop {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o000)
                .open(&path)
            {
                Ok(file) => {
                    drop(file);
                    if let Err(e) = mount_new_namespace(&path) {
                        // Leave nothing half-made behind.
                        let _ = fs::remove_file(&path);
                        return Err(e);
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if is_namespace(&path)? {
                        break;
                    }
                    // An empty file: an earlier creation stopped before mounting. Finish it.
                    match mount_new_namespace(&path) {
                        Ok(()) => break,
                        // Removed under our feet (by another process); try again.
                        Err(Error::Sys {
                            source: Errno::ENOENT,
                            ..
                        }) => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(Error::io("create", &path)(e)),
            }
        }
        tracing::debug!(netns = %full_name, "network namespace ready");
        Self::from_path(prefix, name, full_name, path)
    }

    /// Opens an existing namespace; [`Error::NotFound`] if there is none.
    pub fn open(prefix: &Prefix, name: &str) -> Result<Netns> {
        let full_name = prefix.full_name(name)?;
        let path = Path::new(NETNS_DIR).join(&full_name);
        Self::from_path(prefix, name, full_name, path)
    }

    fn from_path(prefix: &Prefix, name: &str, full_name: String, path: PathBuf) -> Result<Netns> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotFound(full_name));
            }
            Err(e) => return Err(Error::io("open", &path)(e)),
        };
        let fs = fstatfs(&file).map_err(Error::sys("fstatfs"))?;
        if fs.filesystem_type() != NSFS_MAGIC {
            return Err(Error::NotANamespace(path));
        }
        Ok(Netns {
            inner: Arc::new(Inner {
                prefix: prefix.clone(),
                name: name.to_owned(),
                full_name,
                path,
                fd: Arc::new(OwnedFd::from(file)),
                worker: OnceLock::new(),
            }),
        })
    }

    /// Unmounts and removes the namespace's file. The kernel frees the namespace (and the
    /// links in it; a veth pair goes when either end goes) once nothing else holds it: no
    /// other handle, socket or process inside it.
    pub fn delete(self) -> Result<()> {
        let (prefix, name) = (self.inner.prefix.clone(), self.inner.name.clone());
        drop(self);
        delete(&prefix, &name).map(drop)
    }

    /// The name given at creation (without the prefix).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// `<prefix>-<name>`: the name `ip netns` shows.
    pub fn full_name(&self) -> &str {
        &self.inner.full_name
    }

    /// The daemon prefix.
    pub fn prefix(&self) -> &Prefix {
        &self.inner.prefix
    }

    /// `/run/netns/<prefix>-<name>`.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// An fd on the namespace, e.g. for moving a link into it (`IFLA_NET_NS_FD`). Valid as
    /// long as this handle lives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }

    pub(crate) fn shared_fd(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.inner.fd)
    }

    fn worker(&self) -> Result<&Worker> {
        if let Some(worker) = self.inner.worker.get() {
            return Ok(worker);
        }
        let started = Worker::start(&self.inner.full_name, self.shared_fd())?;
        // If another thread won the race, its worker is kept and ours stops at once
        // (its only sender is dropped here).
        let _ = self.inner.worker.set(started);
        self.inner
            .worker
            .get()
            .ok_or_else(|| Error::WorkerGone(self.inner.full_name.clone()))
    }

    fn submit(&self, job: worker::Job) -> Result<()> {
        self.worker()?
            .submit(job)
            .map_err(|_| Error::WorkerGone(self.inner.full_name.clone()))
    }

    /// Runs `f` on the namespace's worker thread (inside the namespace) and waits for its
    /// result. Blocks the calling thread: from async code use [`Netns::run_async`].
    ///
    /// Called from the worker thread itself (a job that calls `run` on its own namespace),
    /// `f` runs inline instead of deadlocking. A panic in `f` is returned as
    /// [`Error::JobPanicked`]; the worker survives it.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ns = self.inner.full_name.clone();
        let worker = self.worker()?;
        if worker.is_current() {
            return worker::guarded(&ns, f);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job_ns = ns.clone();
        self.submit(Box::new(move || {
            let _ = tx.send(worker::guarded(&job_ns, f));
        }))?;
        rx.recv().map_err(|_| Error::WorkerGone(ns))?
    }

    /// Runs `f` on the namespace's worker thread; the returned future resolves to its result
    /// without blocking the caller's executor thread. Works on any executor.
    ///
    /// The job is queued when `run_async` is called, not when the future is first polled;
    /// if the future is dropped, the job still runs and its result is dropped on the worker
    /// (a socket made for a cancelled connection is closed there).
    ///
    /// Jobs of one namespace run one at a time, in order: keep them short (a socket call, a
    /// netlink request), and never block in them on another job of the same namespace.
    pub fn run_async<T, F>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ns = self.inner.full_name.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job_ns = ns.clone();
        let submitted = self.submit(Box::new(move || {
            let _ = tx.send(worker::guarded(&job_ns, f));
        }));
        async move {
            submitted?;
            rx.await.map_err(|_| Error::WorkerGone(ns))?
        }
    }

    /// Runs a netlink conversation inside the namespace: `f` gets a handle on a netlink
    /// socket opened inside it (kept by the worker and reused) and its future is driven on
    /// the worker's current-thread runtime. The escape hatch for requests this crate has no
    /// method for; see the [`rtnetlink`] crate.
    pub fn netlink<T, F, Fut>(&self, f: F) -> impl Future<Output = Result<T>> + Send + 'static
    where
        F: FnOnce(rtnetlink::Handle) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + 'static,
        T: Send + 'static,
    {
        let ns = self.inner.full_name.clone();
        let job = self.run_async(move || worker::with_netlink(&ns, f));
        async move { job.await? }
    }

    /// Writes a per-namespace sysctl under `/proc/sys/net/` from inside the namespace (the
    /// kernel resolves `/proc/sys/net` against the opening thread's namespace).
    pub(crate) async fn write_net_sysctl(
        &self,
        key: &'static str,
        value: &'static str,
    ) -> Result<()> {
        self.run_async(move || {
            let path = Path::new("/proc/sys/net").join(key);
            fs::write(&path, value).map_err(Error::io("write", path))
        })
        .await?
    }

    pub(crate) async fn read_net_sysctl(&self, key: &'static str) -> Result<String> {
        self.run_async(move || {
            let path = Path::new("/proc/sys/net").join(key);
            fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(Error::io("read", path))
        })
        .await?
    }

    /// Turns IPv4 forwarding on or off inside the namespace (`net.ipv4.ip_forward`). A VPC
    /// router forwards between its subnets; an instance should not. New namespaces inherit
    /// the host's value, so set it explicitly either way.
    pub async fn set_ipv4_forwarding(&self, on: bool) -> Result<()> {
        self.write_net_sysctl("ipv4/ip_forward", if on { "1" } else { "0" })
            .await
    }

    /// Whether IPv4 forwarding is on inside the namespace.
    pub async fn ipv4_forwarding(&self) -> Result<bool> {
        Ok(self.read_net_sysctl("ipv4/ip_forward").await? == "1")
    }
}

/// Whether `path` is a mounted network namespace.
fn is_namespace(path: &Path) -> Result<bool> {
    match statfs(path) {
        Ok(fs) => Ok(fs.filesystem_type() == NSFS_MAGIC),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(Error::sys("statfs")(e)),
    }
}

/// Makes `/run/netns` exist and be a shared mount point, as `ip netns add` does, so a
/// namespace mounted there is seen from every mount namespace (e.g. a workload's, or one
/// made later by a service manager). Done once per process.
fn prepare_netns_dir() -> Result<()> {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    match fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(NETNS_DIR)
    {
        Ok(()) => {}
        Err(e) => return Err(Error::io("create directory", NETNS_DIR)(e)),
    }
    let make_shared = || {
        mount(
            Some("none"),
            NETNS_DIR,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match make_shared() {
        Ok(()) => {}
        // Not a mount point yet: bind it onto itself, then share it.
        Err(Errno::EINVAL) => {
            mount(
                Some(NETNS_DIR),
                NETNS_DIR,
                Some("none"),
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(Error::sys("bind-mount /run/netns"))?;
            make_shared().map_err(Error::sys("make /run/netns shared"))?;
        }
        Err(e) => return Err(Error::sys("make /run/netns shared")(e)),
    }
    let _ = DONE.set(());
    Ok(())
}

/// Makes a new namespace on a short-lived thread and bind-mounts it onto `path`. The thread
/// exits right after, so no thread of the process is left inside the namespace.
fn mount_new_namespace(path: &Path) -> Result<()> {
    let target = path.to_path_buf();
    thread::Builder::new()
        .name("netns-create".into())
        .spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(Error::sys("unshare(CLONE_NEWNET)"))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                Some("none"),
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(Error::sys("bind-mount the new namespace"))
        })
        .map_err(Error::io("spawn a thread to create", path))?
        .join()
        .map_err(|_| Error::JobPanicked(path.display().to_string()))?
}

/// The short names of the namespaces of `prefix`, sorted (for orphan clean-up and for the
/// reconciler to compare with the store).
pub fn list(prefix: &Prefix) -> Result<Vec<String>> {
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", NETNS_DIR)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io("list", NETNS_DIR))?;
        if let Some(name) = entry.file_name().to_str().and_then(|f| prefix.strip(f)) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Whether the namespace `<prefix>-<name>` exists.
pub fn exists(prefix: &Prefix, name: &str) -> Result<bool> {
    let path = Path::new(NETNS_DIR).join(prefix.full_name(name)?);
    Ok(path.exists())
}

/// Deletes the namespace `<prefix>-<name>` (like `ip netns del`: lazy unmount, then remove
/// the file). Returns whether it existed. Handles, sockets and processes still inside keep
/// the kernel object alive until they go; the name is free at once.
pub fn delete(prefix: &Prefix, name: &str) -> Result<bool> {
    let full_name = prefix.full_name(name)?;
    let path = Path::new(NETNS_DIR).join(&full_name);
    let _lock = LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner());
    match umount2(&path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a file left by an interrupted creation).
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(Error::sys("unmount namespace")(e)),
    }
    match fs::remove_file(&path) {
        Ok(()) => {
            tracing::debug!(netns = %full_name, "network namespace deleted");
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("remove", path)(e)),
    }
}

/// Deletes every namespace of `prefix` — what a daemon left behind when it crashed, or
/// everything a test made. Tries them all; returns the names deleted, or the first error.
pub fn cleanup(prefix: &Prefix) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    let mut first_error = None;
    for name in list(prefix)? {
        match delete(prefix, &name) {
            Ok(true) => deleted.push(name),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(prefix = %prefix, %name, error = %e, "could not delete namespace");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(deleted),
    }
}

/// Deletes every namespace of a prefix when dropped: for tests and tools that must leave
/// nothing behind, even when they fail or panic. (A daemon does not use it: its namespaces
/// are meant to outlive it.)
#[derive(Debug)]
pub struct CleanupGuard {
    prefix: Prefix,
}

impl CleanupGuard {
    /// Guards `prefix`, first deleting whatever an earlier run left under it.
    pub fn new(prefix: Prefix) -> Result<CleanupGuard> {
        cleanup(&prefix)?;
        Ok(CleanupGuard { prefix })
    }

    /// The guarded prefix.
    pub fn prefix(&self) -> &Prefix {
        &self.prefix
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Err(e) = cleanup(&self.prefix) {
            tracing::warn!(prefix = %self.prefix, error = %e, "clean-up of namespaces failed");
        }
    }
}
