//! The workload manager: starts, watches, stops, terminates and re-adopts workloads.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use netns::Netns;
use nix::sched::{CloneFlags, unshare};
use rustix::process::{Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, pidfd_open, waitid};
use tokio::io::AsyncReadExt;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::error::{Error, Result};
use crate::layout::{self, INSTANCES_DIR, InstanceDir};
use crate::procfs;
use crate::sandbox::{DEFAULT_TMP_SIZE, Launch};
use crate::state::State;
use crate::user::WorkloadUser;
use crate::userdata::interpreter_argv;

/// How long the sandbox may take to set up before the start is abandoned.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a workload may take to die after `SIGKILL` (the kernel tears down the whole
/// PID namespace; this only bounds a pathological wait, e.g. a process stuck in the
/// kernel).
pub const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// A sensible grace period for [`WorkloadManager::stop`]: how long processes get between
/// `SIGTERM` and `SIGKILL`.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// How a workload ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// The init exited with this code: the user data script's own status.
    Code(i32),
    /// The init was killed by this signal (`SIGKILL` from a stop or from outside).
    Signal(i32),
    /// It exited while no manager was its parent and left no status (killed).
    Unknown,
}

impl ExitStatus {
    /// The exit code, if it exited normally.
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Code(code) => Some(code),
            _ => None,
        }
    }

    /// Whether it exited with code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(signal) => write!(f, "killed by signal {signal}"),
            ExitStatus::Unknown => f.write_str("exit status unknown"),
        }
    }
}

/// A workload has exited: its instance is now stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exited {
    /// The instance id.
    pub id: String,
    /// How it ended.
    pub status: ExitStatus,
}

/// What to start.
#[derive(Debug)]
pub struct InstanceSpec<'a> {
    /// The instance id (`i-…`); names its directory.
    pub id: String,
    /// The instance's network namespace (with its `eth0`, address and default route).
    pub netns: &'a Netns,
    /// The user data, decoded ([`crate::decode_user_data`]). `None`: nothing runs, the
    /// instance idles until stopped.
    pub user_data: Option<Vec<u8>>,
    /// The content of the instance's `/etc/resolv.conf`, e.g. `nameserver 10.0.0.2\n` (the
    /// VPC's base + 2).
    pub resolv_conf: String,
    /// The instance's host name (EC2's are `ip-10-0-1-5`); the instance id if `None`, never
    /// the host's.
    pub hostname: Option<String>,
}

/// A running workload.
#[derive(Clone, Debug)]
pub struct WorkloadHandle {
    id: String,
    pid: u32,
    start_time: u64,
    exit: watch::Receiver<Option<ExitStatus>>,
}

impl WorkloadHandle {
    /// The instance id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Host pid of the instance's init (pid 1 of its PID namespace).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The init's start time (field 22 of `/proc/<pid>/stat`).
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// The exit status, if it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// Waits until the workload exits. `None` if the manager was dropped first.
    pub async fn exited(&mut self) -> Option<ExitStatus> {
        match self.exit.wait_for(Option::is_some).await {
            Ok(status) => *status,
            Err(_) => None,
        }
    }
}

/// What [`WorkloadManager::adopt_all`] found for one instance with a state file.
#[derive(Debug)]
pub enum Adoption {
    /// Still running: now watched by this manager.
    Running(WorkloadHandle),
    /// Exited while no manager was watching (not reported again on
    /// [`WorkloadManager::events`]).
    Exited(Exited),
}

/// Settings of a [`WorkloadManager`] beyond its data directory and user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Size cap of each of the workload's `/tmp`, `/var/tmp` and `/dev/shm` (tmpfs `size=`:
    /// bytes with an optional `k`, `m` or `g`, or a percentage of RAM with `%`). Tmpfs pages
    /// are memory: this bounds what a workload can pin there.
    pub tmp_size: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            tmp_size: DEFAULT_TMP_SIZE.to_owned(),
        }
    }
}

fn validate_size(size: &str) -> Result<()> {
    let digits = size.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G', '%']);
    let suffix_len = size.len() - digits.len();
    if digits.is_empty()
        || suffix_len > 1
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.bytes().all(|b| b == b'0')
    {
        return Err(Error::InvalidOption(format!(
            "tmp_size {size:?}: expected a non-zero number with an optional k, m, g or %"
        )));
    }
    Ok(())
}

/// Starts instances' workloads, watches them, stops them, and finds them again after a
/// restart. See the crate documentation.
///
/// Needs a tokio runtime with I/O and time enabled for its async methods. Dropping the
/// manager stops watching but leaves every workload running: a new manager over the same
/// data directory adopts them ([`WorkloadManager::adopt_all`]).
pub struct WorkloadManager {
    shared: Arc<Shared>,
}

struct Shared {
    data_dir: PathBuf,
    user: WorkloadUser,
    tmp_size: String,
    instances: Mutex<HashMap<String, Slot>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Exited>>>,
    next_generation: AtomicU64,
}

/// One instance known to the manager: a lock that serialises starts and stops of it, and
/// its running workload, if any.
#[derive(Default)]
struct Slot {
    op: Arc<tokio::sync::Mutex<()>>,
    running: Option<Running>,
}

#[derive(Clone)]
struct Running {
    generation: u64,
    pid: u32,
    start_time: u64,
    pidfd: Arc<AsyncFd<OwnedFd>>,
    exit: watch::Receiver<Option<ExitStatus>>,
    /// Set before this manager sends `SIGKILL`, so an exit seen without a status (not our
    /// child) is reported as that signal.
    killed: Arc<AtomicBool>,
    watcher: AbortHandle,
}

impl Running {
    fn handle(&self, id: &str) -> WorkloadHandle {
        WorkloadHandle {
            id: id.to_owned(),
            pid: self.pid,
            start_time: self.start_time,
            exit: self.exit.clone(),
        }
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        match rustix::process::pidfd_send_signal(self.pidfd.get_ref(), signal) {
            // ESRCH: it has just exited; the watcher reports it.
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(Error::sys("signal the workload")(e)),
        }
    }
}

impl fmt::Debug for WorkloadManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadManager")
            .field("data_dir", &self.shared.data_dir)
            .field("user", &self.shared.user)
            .field("running", &self.running())
            .finish()
    }
}

impl Drop for WorkloadManager {
    fn drop(&mut self) {
        // Stop watching; the workloads themselves keep running.
        for slot in self.shared.lock_instances().values() {
            if let Some(running) = &slot.running {
                running.watcher.abort();
            }
        }
    }
}

impl Shared {
    fn lock_instances(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn dir(&self, id: &str) -> Result<InstanceDir> {
        InstanceDir::new(&self.data_dir, id)
    }

    fn running(&self, id: &str) -> Option<Running> {
        self.lock_instances()
            .get(id)
            .and_then(|slot| slot.running.clone())
            .filter(|r| r.exit.borrow().is_none())
    }

    fn op_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(&self.lock_instances().entry(id.to_owned()).or_default().op)
    }

    fn publish(&self, event: Exited) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers.retain(|tx| tx.send(event.clone()).is_ok());
    }
}

impl WorkloadManager {
    /// A manager keeping instance directories under `<data_dir>/instances/` (created, mode
    /// 0700) and running workloads as `user`.
    pub fn new(data_dir: impl AsRef<Path>, user: WorkloadUser) -> Result<WorkloadManager> {
        Self::with_options(data_dir, user, Options::default())
    }

    /// [`WorkloadManager::new`] with [`Options`].
    pub fn with_options(
        data_dir: impl AsRef<Path>,
        user: WorkloadUser,
        options: Options,
    ) -> Result<WorkloadManager> {
        validate_size(&options.tmp_size)?;
        let data_dir = data_dir.as_ref();
        let instances = data_dir.join(INSTANCES_DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&instances)
            .map_err(Error::io("create", &instances))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(Error::io("resolve", data_dir))?;
        // Fails early on a data directory the sandbox cannot hide (`/` itself).
        layout::hide_root(&data_dir, &user)?;
        Ok(WorkloadManager {
            shared: Arc::new(Shared {
                data_dir,
                user,
                tmp_size: options.tmp_size,
                instances: Mutex::new(HashMap::new()),
                subscribers: Mutex::new(Vec::new()),
                next_generation: AtomicU64::new(1),
            }),
        })
    }

    /// The data directory (canonical).
    pub fn data_dir(&self) -> &Path {
        &self.shared.data_dir
    }

    /// The user workloads run as.
    pub fn user(&self) -> &WorkloadUser {
        &self.shared.user
    }

    /// The files of instance `id` (its console log, its `resolv.conf` for
    /// [`crate::exec`], …).
    pub fn instance_dir(&self, id: &str) -> Result<InstanceDir> {
        self.shared.dir(id)
    }

    /// A stream of exits of workloads watched by this manager, from now on: every receiver
    /// gets every event. Exits found by [`WorkloadManager::adopt_all`] are returned there
    /// instead.
    pub fn events(&self) -> mpsc::UnboundedReceiver<Exited> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.shared
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// Whether instance `id`'s workload is running (as far as this manager has seen).
    pub fn is_running(&self, id: &str) -> bool {
        self.shared.running(id).is_some()
    }

    /// The ids of the running workloads, sorted.
    pub fn running(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .shared
            .lock_instances()
            .iter()
            .filter(|(_, slot)| {
                slot.running
                    .as_ref()
                    .is_some_and(|r| r.exit.borrow().is_none())
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// The handle of a running workload.
    pub fn handle(&self, id: &str) -> Option<WorkloadHandle> {
        self.shared.running(id).map(|r| r.handle(id))
    }

    /// Starts instance `spec.id`'s workload and returns once its sandbox is set up (the
    /// user data has started, or there is none).
    ///
    /// Creates the instance directory if needed; a stopped instance keeps its home and
    /// console log. Errors: [`Error::AlreadyRunning`]; [`Error::SetupFailed`] (nothing ran,
    /// nothing is left running; the console log has the details); I/O and system errors.
    pub async fn start(&self, spec: &InstanceSpec<'_>) -> Result<WorkloadHandle> {
        let id = spec.id.as_str();
        let dir = self.shared.dir(id)?;
        if let Some(hostname) = &spec.hostname {
            layout::validate_hostname(hostname)?;
        }
        let op = self.shared.op_lock(id);
        let op = op.lock_owned().await;
        if self.shared.running(id).is_some() {
            return Err(Error::AlreadyRunning(id.to_owned()));
        }

        let prepared = {
            let (dir, user, data_dir) = (
                dir.clone(),
                self.shared.user.clone(),
                self.shared.data_dir.clone(),
            );
            let (user_data, resolv_conf) = (spec.user_data.clone(), spec.resolv_conf.clone());
            tokio::task::spawn_blocking(move || {
                prepare(&dir, &user, &data_dir, user_data.as_deref(), &resolv_conf)
            })
            .await
            .map_err(|_| Error::Shutdown)??
        };
        let launch = Launch {
            resolv_conf: dir.resolv_conf(),
            hide_root: prepared.hide_root,
            instance_root: dir.root().to_owned(),
            home: dir.home(),
            user_data: spec.user_data.as_ref().map(|_| dir.user_data()),
            exit_status: dir.exit_status(),
            // Never the host's own name.
            hostname: Some(spec.hostname.clone().unwrap_or_else(|| id.to_owned())),
            user: self.shared.user.clone(),
            tmp_size: self.shared.tmp_size.clone(),
            argv: spec
                .user_data
                .as_deref()
                .map(|data| interpreter_argv(data, dir.user_data().as_os_str()))
                .unwrap_or_default(),
        };
        let mut command = spec.netns.command("setsid");
        launch.configure(&mut command);
        let (ready_rx, ready_tx) = io::pipe().map_err(Error::sys("create a pipe"))?;
        command
            .stdin(Stdio::null())
            .stdout(ready_tx)
            .stderr(prepared.console);

        // From here on in a task of its own: a caller that gives up waiting must not leave
        // a workload running that nobody watches.
        let shared = Arc::clone(&self.shared);
        let id = id.to_owned();
        tokio::spawn(async move {
            let _op = op;
            run_sandbox(&shared, &id, &dir, command, ready_rx).await
        })
        .await
        .map_err(|_| Error::Shutdown)?
    }

    /// Finds the workloads that were running when an earlier manager (or daemon) over the
    /// same data directory went away.
    ///
    /// For each instance directory with a state file: if its init still runs (same pid
    /// *and* start time), it is watched from now on and returned as
    /// [`Adoption::Running`]; otherwise it exited meanwhile ([`Adoption::Exited`], with the
    /// status its init recorded, if any) and its state file is removed. Instances this
    /// manager already watches are skipped. Call it once at start-up, before starting
    /// anything.
    pub async fn adopt_all(&self) -> Result<Vec<Adoption>> {
        let instances = self.shared.data_dir.join(INSTANCES_DIR);
        let mut ids = Vec::new();
        for entry in fs::read_dir(&instances).map_err(Error::io("list", &instances))? {
            let entry = entry.map_err(Error::io("list", &instances))?;
            if let Some(id) = entry.file_name().to_str()
                && layout::validate_id(id).is_ok()
                && entry.file_type().is_ok_and(|t| t.is_dir())
            {
                ids.push(id.to_owned());
            }
        }
        ids.sort();
        let mut found = Vec::new();
        for id in ids {
            let op = self.shared.op_lock(&id);
            let _op = op.lock().await;
            if self.shared.running(&id).is_some() {
                continue;
            }
            let dir = self.shared.dir(&id)?;
            let state = match State::read(&dir.state()) {
                Ok(Some(state)) => state,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(instance = %id, error = %e, "unreadable state file; taking the workload as exited");
                    State::remove(&dir.state())?;
                    found.push(Adoption::Exited(Exited {
                        id,
                        status: ExitStatus::Unknown,
                    }));
                    continue;
                }
            };
            match verify(&state) {
                Some(pidfd) => {
                    tracing::info!(instance = %id, pid = state.pid, "adopted running workload");
                    found.push(Adoption::Running(watch(
                        &self.shared,
                        &id,
                        state.pid,
                        state.start_time,
                        pidfd,
                    )));
                }
                None => {
                    let status = recorded_status(&dir.exit_status()).unwrap_or(ExitStatus::Unknown);
                    State::remove(&dir.state())?;
                    tracing::info!(instance = %id, %status, "workload exited while unwatched");
                    found.push(Adoption::Exited(Exited { id, status }));
                }
            }
        }
        Ok(found)
    }

    /// Stops instance `id`'s workload: `SIGTERM` to its init, which passes it to every
    /// process of the instance; after `grace` (zero: at once) `SIGKILL`, which ends the
    /// whole PID namespace. Returns once it has exited, with its status; `None` if it was
    /// not running. The instance directory stays (a stopped instance).
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<Option<ExitStatus>> {
        layout::validate_id(id)?;
        let op = self.shared.op_lock(id);
        let _op = op.lock().await;
        self.stop_locked(id, grace).await
    }

    async fn stop_locked(&self, id: &str, grace: Duration) -> Result<Option<ExitStatus>> {
        let Some(running) = self.shared.running(id) else {
            return Ok(None);
        };
        let mut exit = running.exit.clone();
        if !grace.is_zero() {
            running.signal(Signal::TERM)?;
            if let Ok(Ok(status)) =
                tokio::time::timeout(grace, exit.wait_for(Option::is_some)).await
            {
                return Ok(*status);
            }
        }
        running.killed.store(true, Ordering::SeqCst);
        running.signal(Signal::KILL)?;
        match tokio::time::timeout(KILL_TIMEOUT, exit.wait_for(Option::is_some)).await {
            Ok(Ok(status)) => Ok(*status),
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::Timeout {
                id: id.to_owned(),
                what: "the workload did not exit after SIGKILL",
                timeout: KILL_TIMEOUT,
            }),
        }
    }

    /// Terminates instance `id`: stops its workload (as [`WorkloadManager::stop`]) and
    /// removes its directory — home, console log, everything. Returns the exit status if
    /// it was running. Removing an instance that has no directory is not an error.
    pub async fn terminate(&self, id: &str, grace: Duration) -> Result<Option<ExitStatus>> {
        let dir = self.shared.dir(id)?;
        let op = self.shared.op_lock(id);
        let _op = op.lock().await;
        let status = self.stop_locked(id, grace).await?;
        let root = dir.root().to_owned();
        tokio::task::spawn_blocking(move || match fs::remove_dir_all(&root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", root)(e)),
        })
        .await
        .map_err(|_| Error::Shutdown)??;
        // Forget the slot unless another operation on this id is already waiting for it
        // (it holds a clone of the lock; the map holds one, and so do we).
        let mut instances = self.shared.lock_instances();
        if instances
            .get(id)
            .is_some_and(|slot| slot.running.is_none() && Arc::strong_count(&slot.op) == 2)
        {
            instances.remove(id);
        }
        drop(instances);
        tracing::info!(instance = id, "instance terminated");
        Ok(status)
    }
}

/// Spawns the sandbox, records it, waits until its init is ready, and watches it.
async fn run_sandbox(
    shared: &Arc<Shared>,
    id: &str,
    dir: &InstanceDir,
    command: Command,
    ready: io::PipeReader,
) -> Result<WorkloadHandle> {
    let pid = spawn_in_new_pid_namespace(command).await?;
    // The child is not reaped until we wait for it, so its pid cannot be reused meanwhile.
    let (pidfd, start_time) = match open_pidfd(pid).and_then(|fd| {
        let start_time =
            procfs::start_time(pid).map_err(Error::sys("read the workload's start time"))?;
        Ok((fd, start_time))
    }) {
        Ok(found) => found,
        Err(e) => {
            abandon(pid).await;
            return Err(e);
        }
    };
    // Written before the setup finishes: a daemon that dies now still finds the workload.
    let state_path = dir.state();
    let written =
        tokio::task::spawn_blocking(move || State::new(pid, start_time).write(&state_path))
            .await
            .unwrap_or(Err(Error::Shutdown));
    if let Err(e) = written {
        kill_and_reap(&pidfd).await;
        return Err(e);
    }

    match read_ready(id, ready).await {
        Ok(true) => {}
        outcome => {
            let status = kill_and_reap(&pidfd).await;
            let _ = State::remove(&dir.state());
            outcome?;
            return Err(Error::SetupFailed {
                id: id.to_owned(),
                status,
                log_tail: log_tail(&dir.console_log()),
            });
        }
    }
    tracing::info!(instance = id, pid, "workload started");
    Ok(watch(shared, id, pid, start_time, pidfd))
}

/// Registers a running workload and starts the task that reports its exit.
fn watch(
    shared: &Arc<Shared>,
    id: &str,
    pid: u32,
    start_time: u64,
    pidfd: AsyncFd<OwnedFd>,
) -> WorkloadHandle {
    let generation = shared.next_generation.fetch_add(1, Ordering::Relaxed);
    let pidfd = Arc::new(pidfd);
    let killed = Arc::new(AtomicBool::new(false));
    let (exit_tx, exit_rx) = watch::channel(None);
    let task = tokio::spawn(watcher(
        Arc::downgrade(shared),
        id.to_owned(),
        generation,
        Arc::clone(&pidfd),
        Arc::clone(&killed),
        exit_tx,
    ));
    let running = Running {
        generation,
        pid,
        start_time,
        pidfd,
        exit: exit_rx,
        killed,
        watcher: task.abort_handle(),
    };
    let handle = running.handle(id);
    shared
        .lock_instances()
        .entry(id.to_owned())
        .or_default()
        .running = Some(running);
    handle
}

/// Waits for the init to exit, then records and reports it.
async fn watcher(
    shared: std::sync::Weak<Shared>,
    id: String,
    generation: u64,
    pidfd: Arc<AsyncFd<OwnedFd>>,
    killed: Arc<AtomicBool>,
    exit_tx: watch::Sender<Option<ExitStatus>>,
) {
    // A pidfd becomes readable when its process exits.
    if let Err(e) = pidfd.readable().await {
        tracing::error!(instance = %id, error = %e, "cannot watch the workload");
        return;
    }
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let dir = match shared.dir(&id) {
        Ok(dir) => dir,
        Err(_) => return,
    };
    let status = reap(
        pidfd.get_ref().as_fd(),
        Some(&dir.exit_status()),
        killed.load(Ordering::SeqCst),
    );
    if let Err(e) = State::remove(&dir.state()) {
        tracing::warn!(instance = %id, error = %e, "could not remove the state file");
    }
    if let Some(slot) = shared.lock_instances().get_mut(&id)
        && slot
            .running
            .as_ref()
            .is_some_and(|r| r.generation == generation)
    {
        slot.running = None;
    }
    tracing::info!(instance = %id, %status, "workload exited");
    let _ = exit_tx.send(Some(status));
    shared.publish(Exited { id, status });
}

/// Files made before a start, and what the sandbox needs from them.
struct Prepared {
    console: fs::File,
    hide_root: PathBuf,
}

/// Creates the instance directory and its files (blocking).
fn prepare(
    dir: &InstanceDir,
    user: &WorkloadUser,
    data_dir: &Path,
    user_data: Option<&[u8]>,
    resolv_conf: &str,
) -> Result<Prepared> {
    let private_dir = |path: &Path| -> Result<()> {
        match fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::symlink_metadata(path).map_err(Error::io("inspect", path))?;
                if meta.is_dir() {
                    Ok(())
                } else {
                    Err(Error::io("use", path)(io::Error::other("not a directory")))
                }
            }
            Err(e) => Err(Error::io("create", path)(e)),
        }
    };
    private_dir(dir.root())?;
    let home = dir.home();
    private_dir(&home)?;
    // Only the directory itself: its contents are the workload's.
    std::os::unix::fs::lchown(&home, Some(user.uid), Some(user.gid))
        .map_err(Error::io("chown", &home))?;

    let write = |path: PathBuf, content: &[u8]| -> Result<()> {
        fs::write(&path, content).map_err(Error::io("write", &path))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .map_err(Error::io("chmod", &path))
    };
    write(dir.resolv_conf(), resolv_conf.as_bytes())?;
    match user_data {
        Some(data) => write(dir.user_data(), data)?,
        None => match fs::remove_file(dir.user_data()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", dir.user_data())(e)),
        },
    }
    let exit_status = dir.exit_status();
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&exit_status)
        .map_err(Error::io("create", &exit_status))?;
    let log = dir.console_log();
    let console = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(&log)
        .map_err(Error::io("open", &log))?;
    let hide_root = layout::hide_root(data_dir, user)?;
    Ok(Prepared { console, hide_root })
}

/// Spawns `command` as pid 1 of a new PID namespace, from a short-lived thread: the
/// namespace for children is a property of the calling thread, and `unshare(CLONE_NEWPID)`
/// cannot be undone, so it must not happen on a thread the runtime reuses.
async fn spawn_in_new_pid_namespace(command: Command) -> Result<u32> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    thread::Builder::new()
        .name("workload-spawn".into())
        .spawn(move || {
            let mut command = command;
            let result = unshare(CloneFlags::CLONE_NEWPID)
                .map_err(Error::sys("unshare(CLONE_NEWPID)"))
                .and_then(|()| {
                    command.spawn().map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => Error::ProgramMissing("setsid"),
                        _ => Error::sys("start the workload")(e),
                    })
                })
                // Dropping the `Child` neither waits nor kills; the pidfd watches it.
                .map(|child| child.id());
            // Closes our copy of the ready pipe's write end before anyone reads it.
            drop(command);
            let _ = tx.send(result);
        })
        .map_err(Error::sys("spawn a thread"))?;
    rx.await.map_err(|_| Error::Shutdown)?
}

fn open_pidfd(pid: u32) -> Result<AsyncFd<OwnedFd>> {
    let raw = i32::try_from(pid).ok().and_then(Pid::from_raw);
    let pid =
        raw.ok_or_else(|| Error::sys("pidfd_open")(io::Error::from(io::ErrorKind::InvalidInput)))?;
    let fd = pidfd_open(pid, PidfdFlags::empty()).map_err(Error::sys("pidfd_open"))?;
    // `AsyncFd::new` is deprecated because a generic `T` could change the fd it reports
    // while registered; an `OwnedFd` cannot, which is exactly what the unsafe
    // `AsyncFd::register` asks the caller to promise (this crate has no `unsafe`).
    #[allow(deprecated)]
    AsyncFd::new(fd).map_err(Error::sys("watch a pidfd"))
}

/// A pidfd on the process a state file names, if that process still runs: opened first,
/// then checked against the recorded start time, so the fd cannot end up on a process
/// that took the pid over.
fn verify(state: &State) -> Option<AsyncFd<OwnedFd>> {
    let pidfd = open_pidfd(state.pid).ok()?;
    match procfs::start_time(state.pid) {
        Ok(start_time) if start_time == state.start_time => Some(pidfd),
        _ => None,
    }
}

/// Reads "ready" from the setup: `Ok(true)` once it has dropped privileges and is about to
/// run the init, `Ok(false)` if it ended without (it failed).
async fn read_ready(id: &str, pipe: io::PipeReader) -> Result<bool> {
    let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(pipe))
        .map_err(Error::sys("watch the setup pipe"))?;
    let mut out = Vec::new();
    let mut bounded = receiver.take(64);
    match tokio::time::timeout(START_TIMEOUT, bounded.read_to_end(&mut out)).await {
        Ok(Ok(_)) => Ok(out == b"ready\n"),
        Ok(Err(e)) => Err(Error::sys("read the setup pipe")(e)),
        Err(_) => Err(Error::Timeout {
            id: id.to_owned(),
            what: "the sandbox was not set up",
            timeout: START_TIMEOUT,
        }),
    }
}

/// Kills and reaps a child we could not start watching (no pidfd): it is still our
/// unreaped child, so its pid is still its own.
async fn abandon(pid: u32) {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = rustix::process::kill_process(pid, Signal::KILL);
    let _ = tokio::task::spawn_blocking(move || {
        rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty())
    })
    .await;
}

/// Kills a workload that is ours (during a failed start) and returns its status.
async fn kill_and_reap(pidfd: &AsyncFd<OwnedFd>) -> ExitStatus {
    let _ = rustix::process::pidfd_send_signal(pidfd.get_ref(), Signal::KILL);
    if tokio::time::timeout(KILL_TIMEOUT, pidfd.readable())
        .await
        .is_err()
    {
        return ExitStatus::Unknown;
    }
    reap(pidfd.get_ref().as_fd(), None, true)
}

/// The status of an exited workload: from `waitid` if it is our child (also reaping it),
/// else from the status its init wrote, else the `SIGKILL` we sent, else unknown.
fn reap(pidfd: BorrowedFd<'_>, exit_file: Option<&Path>, killed: bool) -> ExitStatus {
    // Err(ECHILD): adopted after a restart, so another process is its parent.
    if let Ok(Some(status)) = waitid(
        WaitId::PidFd(pidfd),
        WaitIdOptions::EXITED | WaitIdOptions::NOHANG,
    ) {
        if let Some(code) = status.exit_status().filter(|_| status.exited()) {
            return ExitStatus::Code(code);
        }
        if let Some(signal) = status.terminating_signal() {
            return ExitStatus::Signal(signal);
        }
    }
    if let Some(status) = exit_file.and_then(recorded_status) {
        return status;
    }
    if killed {
        ExitStatus::Signal(Signal::KILL.as_raw())
    } else {
        ExitStatus::Unknown
    }
}

/// The exit code the init wrote to `exit-status`, if it got that far.
fn recorded_status(path: &Path) -> Option<ExitStatus> {
    let text = fs::read_to_string(path).ok()?;
    text.trim().parse().ok().map(ExitStatus::Code)
}

/// The last lines of the console log, for error messages.
fn log_tail(path: &Path) -> String {
    const MAX: u64 = 2048;
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    };
    read().unwrap_or_else(|e| format!("(console log unreadable: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmp_sizes() {
        for ok in ["256m", "1g", "100", "50%", "64K"] {
            assert!(validate_size(ok).is_ok(), "{ok}");
        }
        for bad in ["", "m", "0", "00m", "1mb", "-1m", "1 m", "1m,uid=0", "1.5g"] {
            assert!(validate_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exit_status_display_and_accessors() {
        assert_eq!(ExitStatus::Code(3).to_string(), "exit code 3");
        assert_eq!(ExitStatus::Signal(9).to_string(), "killed by signal 9");
        assert_eq!(ExitStatus::Code(3).code(), Some(3));
        assert_eq!(ExitStatus::Signal(9).code(), None);
        assert!(ExitStatus::Code(0).success());
        assert!(!ExitStatus::Unknown.success());
    }

    /// The failure path of a start, with a stand-in for the sandbox: whatever exits
    /// without reporting `ready` is a failed setup, reaped, with its console log.
    #[tokio::test]
    async fn setup_failures_are_reported_with_the_console_log() {
        assert!(
            rustix::process::geteuid().is_root(),
            "needs root (a PID namespace): run `cargo test -p workload` as root"
        );
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let user = WorkloadUser::host_default().unwrap_or_else(|e| panic!("{e}"));
        let manager = WorkloadManager::new(tmp.path(), user).unwrap_or_else(|e| panic!("{e}"));
        let dir = manager
            .instance_dir("i-fail")
            .unwrap_or_else(|e| panic!("{e}"));
        fs::create_dir_all(dir.root()).unwrap_or_else(|e| panic!("{e}"));
        let log = fs::File::create(dir.console_log()).unwrap_or_else(|e| panic!("{e}"));

        let (ready_rx, ready_tx) = io::pipe().unwrap_or_else(|e| panic!("{e}"));
        let mut command = Command::new("/bin/sh");
        command
            .args(["-c", "echo 'mount: boom' >&2; echo almost; exit 32"])
            .stdin(Stdio::null())
            .stdout(ready_tx)
            .stderr(log);
        let result = run_sandbox(&manager.shared, "i-fail", &dir, command, ready_rx).await;
        match result {
            Err(Error::SetupFailed {
                id,
                status,
                log_tail,
            }) => {
                assert_eq!(id, "i-fail");
                assert_eq!(status, ExitStatus::Code(32));
                assert_eq!(log_tail, "mount: boom");
            }
            other => panic!("{other:?}"),
        }
        assert!(!dir.state().exists());
        assert!(!manager.is_running("i-fail"));
    }

    #[test]
    fn recorded_status_reads_the_init_record() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("exit-status");
        assert_eq!(recorded_status(&path), None);
        fs::write(&path, "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recorded_status(&path), None);
        fs::write(&path, "143\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(recorded_status(&path), Some(ExitStatus::Code(143)));
    }
}
