//! The processes of privlink's EC2 instances.
//!
//! An instance is a network namespace ([`netns`]) plus, while it runs, a **workload**: its
//! `UserData` run as a script inside that namespace. An API caller must never become root
//! on the host, so the workload is sandboxed:
//!
//! - **unprivileged**: a configurable user ([`WorkloadUser`]; `privlink-workload` if the
//!   host has it, else `nobody`/`nogroup`), no supplementary groups, empty bounding,
//!   inheritable, permitted, effective and ambient capability sets, `no_new_privs` (no
//!   setuid binary can give anything back);
//! - **its own namespaces**: network (the instance's), PID (it sees only its own
//!   processes; it is pid 1's tree), mount, UTS (its host name), IPC and cgroup;
//! - **its own files**: the instance's `resolv.conf` (the VPC resolver at base + 2) is
//!   bind-mounted over `/etc/resolv.conf`; fresh `/tmp`, `/var/tmp` and `/dev/shm` (tmpfs,
//!   size capped by [`Options`]); the
//!   daemon's data directory is hidden except for the instance's own home; `/sys` shows the
//!   instance's interfaces;
//! - **a clean environment**: `HOME` = `<data>/instances/<id>/home` (owned by the workload
//!   user, also the working directory), `PATH` = [`PATH`], `LANG=C.UTF-8`, `USER`,
//!   `LOGNAME`, `SHELL=/bin/sh`; nothing of the daemon's environment, no fd but
//!   stdin (`/dev/null`), stdout and stderr (both appended to `console.log`);
//! - **ports below 1024** as on EC2: `net.ipv4.ip_unprivileged_port_start=0` inside the
//!   instance's network namespace (the sysctl is per namespace), not a capability.
//!
//! User data with a `#!` line runs with that interpreter, otherwise with `/bin/sh`
//! ([`interpreter_argv`]); [`decode_user_data`] turns the API's base64 into bytes. Without
//! user data the instance idles until stopped. The instance runs while its script, or
//! anything the script left running (`server &`), runs; then it has exited (→ `stopped`)
//! with the script's status.
//!
//! # Surviving the daemon
//!
//! The workload is the daemon's child but shares nothing with it that could end it: a new
//! session and process group, no pipe, no fd, no parent-death signal. When the daemon
//! exits, the init is re-parented and keeps running. Its pid and start time (field 22 of
//! `/proc/<pid>/stat`) are in `<data>/instances/<id>/state.json`; a new manager's
//! [`WorkloadManager::adopt_all`] opens a pidfd on the pid, checks the start time (a pid
//! may have been reused), and watches it again. Exits are seen through the pidfd (readable
//! when the process exits, wired to tokio with `AsyncFd`), with no polling. The status
//! comes from `waitid(P_PIDFD)` when the manager is the parent, else from the
//! `exit-status` file the init writes on its way out.
//!
//! Under systemd, the daemon's unit must not kill its whole cgroup on stop
//! (`KillMode=process`, or workloads moved to a scope of their own), or restarts take the
//! workloads with them.
//!
//! # Stopping
//!
//! [`WorkloadManager::stop`] sends `SIGTERM` to the init, which passes it to every process
//! of the instance and exits when they are gone; after a grace period, `SIGKILL` to the
//! init, which makes the kernel kill every process of its PID namespace: nothing of the
//! instance can outlive it. [`WorkloadManager::terminate`] then removes the instance's
//! directory.
//!
//! # `privlink exec`
//!
//! [`exec`] runs an operator's command in an instance's network namespace with the
//! instance's `resolv.conf` in place, as the calling user (no sandbox): the instance's
//! view of the network, for `curl`, `dig`, `ss`, ….
//!
//! # Requirements
//!
//! Root (namespaces, mounts, dropping to the workload user); Linux ≥ 5.4 (pidfds,
//! `waitid(P_PIDFD)`); the util-linux programs `setsid`, `unshare`, `setpriv`, `mount`,
//! `nsenter`; coreutils ≥ 8.31 (`env --default-signal`); bash and a POSIX `/bin/sh`: all
//! there on Debian by default. This crate has no `unsafe`: the one system call that must
//! happen between `fork` and `exec` (entering the network namespace) is
//! [`netns::Netns::command`]'s. See also `docs/workload.md`.

mod error;
mod exec;
mod layout;
mod manager;
pub mod procfs;
mod sandbox;
mod state;
mod user;
mod userdata;

pub use error::{Error, Result};
pub use exec::{exec, exec_command};
pub use layout::{INSTANCES_DIR, InstanceDir, validate_hostname, validate_id};
pub use manager::{
    Adoption, DEFAULT_STOP_GRACE, ExitStatus, Exited, InstanceSpec, KILL_TIMEOUT, Options,
    START_TIMEOUT, WorkloadHandle, WorkloadManager,
};
pub use sandbox::{DEFAULT_TMP_SIZE, PATH};
pub use user::WorkloadUser;
pub use userdata::{DEFAULT_SHELL, MAX_USER_DATA, decode_user_data, interpreter_argv};
