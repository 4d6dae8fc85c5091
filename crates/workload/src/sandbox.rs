//! The sandbox a workload runs in, assembled from util-linux programs.
//!
//! The daemon forks the workload from a short-lived thread that has called
//! `unshare(CLONE_NEWPID)`, so the child is **pid 1 of a new PID namespace** and a direct
//! child of the daemon (its exit status is exact, and killing it kills the whole
//! namespace). Between `fork` and `exec` it enters the instance's network namespace
//! ([`netns::Netns::command`]). Then, all in that one process:
//!
//! 1. `setsid` — a new session and process group: nothing aimed at the daemon's terminal
//!    or process group reaches the workload;
//! 2. `unshare --mount --uts --ipc --cgroup --propagation private --mount-proc` — its own
//!    mount, host-name, System V IPC and cgroup namespaces, and a `/proc` that shows only its
//!    PID namespace;
//! 3. [`SETUP`] (`/bin/bash`, still root) — closes inherited fds, per-namespace sysctl, host
//!    name, the mounts, then `setpriv` to the workload user with no capabilities and
//!    `no_new_privs`, exec'ing
//! 4. [`INIT`] (`/bin/sh`, unprivileged, still pid 1) — runs the user data and stays until
//!    the user data and everything it left running have exited.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::user::WorkloadUser;

/// The root part of the sandbox: runs as pid 1 of the new PID namespace, in the new mount
/// namespace, then becomes the unprivileged init. Positional parameters: see [`Launch`].
///
/// It first closes every fd above 2: Rust opens its own fds close-on-exec, but the daemon
/// may have inherited others (from a service manager, a shell), and they must not reach a
/// workload. Bash, because dash cannot name fds above 9 in a redirection.
///
/// Order matters: `resolv.conf` is mounted while the data directory is still visible; the
/// instance's home and user data are opened (fds 3 and 4) before a tmpfs hides the data
/// directory, then bind-mounted back from those fds onto the same paths, so the workload
/// sees its own home and nothing else of the data directory (other instances' homes belong
/// to the same user). `/tmp`, `/var/tmp` and `/dev/shm` are fresh tmpfs mounts, after the
/// hiding one so a data directory under `/tmp` is handled too. Standard output stays a
/// pipe to the daemon until the init reports `ready`.
pub(crate) const SETUP: &str = r#"set -eu
for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
done
resolv=$1 hide=$2 inst=$3 home=$4 user_data=$5 exit_file=$6 hostname=$7 uid=$8 gid=$9
tmp_size=${10} init=${11}
shift 11
exec 5>"$exit_file"
echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start
if [ -n "$hostname" ]; then echo "$hostname" > /proc/sys/kernel/hostname; fi
mount --bind -o ro "$resolv" /etc/resolv.conf
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys
exec 3<"$home"
if [ -n "$user_data" ]; then exec 4<"$user_data"; fi
mount -t tmpfs -o mode=0755,size=1m,nosuid,nodev,noexec privlink "$hide"
for dir in /tmp /var/tmp /dev/shm; do
    if [ -d "$dir" ]; then
        mount -t tmpfs -o "mode=1777,nosuid,nodev,size=$tmp_size" tmpfs "$dir"
    fi
done
mkdir -p "$home"
mount --no-canonicalize --bind /proc/self/fd/3 "$home"
if [ -n "$user_data" ]; then
    : > "$user_data"
    mount --no-canonicalize --bind -o ro /proc/self/fd/4 "$user_data"
fi
exec 3<&- 4<&-
printf '%s\n' "$init" > "$inst/init"
cd "$home"
# `cd` sets OLDPWD and bash's `exec` sets SHLVL: neither belongs to the workload.
exec env -u OLDPWD -u SHLVL setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all \
    --ambient-caps=-all --bounding-set=-all --no-new-privs -- /bin/sh "$inst/init" "$@"
"#;

/// The instance's init: pid 1 of its PID namespace, running as the workload user. Its
/// arguments are the command that runs the user data; none means no user data.
///
/// - It refuses to go on as root (a last line of defence: the uid was checked before).
/// - It starts the user data in the background (`env --default-signal` undoes the
///   `SIGINT`/`SIGQUIT` ignoring a shell gives background jobs), or without user data a
///   `sleep infinity` (an instance with nothing to run still runs, and `privlink exec` can
///   use its network). Its output goes to the console log.
/// - Only then does it trap `TERM`: a child forked while the parent shell has a handler
///   briefly runs that handler itself, and would swallow a `TERM` sent right then.
/// - It writes `ready` to standard output, a pipe to the daemon, and makes standard output
///   the console log: the daemon learns that the setup succeeded and that a stop will be
///   acted on, and no pipe to it survives.
/// - It waits for the script, then stays while anything the script left running still
///   runs (checking every second, reaping orphans): like an EC2 instance, `server &` in user
///   data keeps serving after the script ends. When nothing is left it exits with the
///   script's status.
/// - `TERM` (a stop) is passed to every process of the namespace (`kill -1`); the init
///   exits when they are gone. `KILL` from the daemon ends everything at once.
///
/// The status is also written to fd 5 (the `exit-status` file), for a daemon that restarted
/// and is no longer the init's parent. No fd of the init reaches the user data.
pub(crate) const INIT: &str = r#"if [ "$(id -u)" = 0 ]; then
    echo "privlink: refusing to run user data as root" >&2
    exit 126
fi
if [ "$#" -eq 0 ]; then
    sleep infinity 5>&- >&2 &
else
    env --default-signal=INT,QUIT "$@" 5>&- >&2 &
fi
main=$!
trap 'kill -s TERM -- -1 2>/dev/null || :' TERM
echo ready
exec >&2
while :; do
    wait "$main"
    status=$?
    kill -0 "$main" 2>/dev/null || break
done
while :; do
    others=
    for proc in /proc/[0-9]*; do
        if [ "$proc" != /proc/1 ]; then others=1; break; fi
    done
    [ -n "$others" ] || break
    sleep 1 5>&-
done
echo "$status" >&5
exit "$status"
"#;

/// `PATH` of workloads (and of the setup before them). With `HOME`, `LANG`, `USER`,
/// `LOGNAME` and `SHELL` it is their whole environment: nothing of the daemon's reaches them.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Default size cap of the workload's `/tmp`, `/var/tmp` and `/dev/shm` tmpfs mounts.
pub const DEFAULT_TMP_SIZE: &str = "256m";

/// Everything the setup script needs, in the order of its positional parameters.
#[derive(Debug)]
pub(crate) struct Launch {
    pub resolv_conf: PathBuf,
    pub hide_root: PathBuf,
    pub instance_root: PathBuf,
    pub home: PathBuf,
    pub user_data: Option<PathBuf>,
    pub exit_status: PathBuf,
    pub hostname: Option<String>,
    pub user: WorkloadUser,
    pub tmp_size: String,
    /// The interpreter command line of the user data (empty without user data).
    pub argv: Vec<OsString>,
}

impl Launch {
    /// Fills `command` (made by [`netns::Netns::command`], so it starts inside the
    /// instance's network namespace) with the sandbox's program, arguments and environment.
    /// Standard streams are the caller's business.
    pub fn configure(&self, command: &mut Command) {
        command
            .args(["unshare", "--mount", "--uts", "--ipc", "--cgroup"])
            .args(["--propagation", "private", "--mount-proc", "--"])
            .args(["/bin/bash", "-c", SETUP, "privlink-setup"])
            .arg(&self.resolv_conf)
            .arg(&self.hide_root)
            .arg(&self.instance_root)
            .arg(&self.home)
            .arg(self.user_data.as_deref().unwrap_or("".as_ref()))
            .arg(&self.exit_status)
            .arg(self.hostname.as_deref().unwrap_or(""))
            .arg(self.user.uid.to_string())
            .arg(self.user.gid.to_string())
            .arg(&self.tmp_size)
            .arg(INIT)
            .args(&self.argv)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", PATH)
            .env("LANG", "C.UTF-8")
            .env("USER", &self.user.name)
            .env("LOGNAME", &self.user.name)
            .env("SHELL", "/bin/sh")
            .current_dir("/");
    }
}
