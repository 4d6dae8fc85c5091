//! Workloads against the real kernel. They need root (CI runs as root) and fail — never
//! skip — without it.
//!
//! Every test works in namespaces of its own prefix (deleted by a `CleanupGuard`, pass or
//! fail), in a temporary data directory, and kills every workload it started when it ends,
//! pass or fail. Waits are bounded by deadlines; nothing sleeps a fixed time.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netns::{Netns, Prefix};
use rustix::process::{Pid, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use workload::{
    Adoption, Error, ExitStatus, Exited, InstanceSpec, Options, WorkloadHandle, WorkloadManager,
    WorkloadUser, procfs,
};

const TIMEOUT: Duration = Duration::from_secs(20);
const RESOLV: &str = "nameserver 10.0.0.2\nsearch ec2.internal\n";

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the workload tests need root (namespaces, mounts, dropping to the workload user): \
         run `cargo test -p workload` as root"
    );
}

/// One test's world: a prefix for its namespaces, a data directory, and the processes to
/// kill when it ends. Fields drop in order: processes, then namespaces, then files.
struct Scope {
    killer: Killer,
    prefix: Prefix,
    _guard: netns::CleanupGuard,
    tmp: tempfile::TempDir,
}

/// Kills, when dropped, every recorded process that is still the same process.
#[derive(Default)]
struct Killer(Mutex<Vec<(u32, u64)>>);

impl Killer {
    fn track(&self, handle: &WorkloadHandle) {
        self.0
            .lock()
            .unwrap()
            .push((handle.pid(), handle.start_time()));
    }
}

impl Drop for Killer {
    fn drop(&mut self) {
        for &(pid, start_time) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if procfs::start_time(pid).ok() == Some(start_time) {
                // Pid 1 of the workload's PID namespace: the kernel kills the rest.
                let _ = rustix::process::kill_process(pid_of(pid), Signal::KILL);
            }
        }
    }
}

fn pid_of(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap()).unwrap()
}

impl Scope {
    fn new() -> Scope {
        require_root();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let prefix = Prefix::new(format!(
            "w{:06x}{:02x}",
            std::process::id() & 0xff_ffff,
            n & 0xff
        ))
        .unwrap();
        let guard = netns::CleanupGuard::new(prefix.clone()).unwrap();
        Scope {
            killer: Killer::default(),
            prefix,
            _guard: guard,
            // In /tmp, mode 0700: the workload user cannot traverse it, which the sandbox
            // must cope with (and the data directory under /tmp, which it mounts over).
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    fn ns(&self, name: &str) -> Netns {
        Netns::create(&self.prefix, name).unwrap()
    }

    fn manager(&self) -> WorkloadManager {
        WorkloadManager::new(self.data_dir(), user()).unwrap()
    }

    async fn start(
        &self,
        manager: &WorkloadManager,
        id: &str,
        ns: &Netns,
        user_data: Option<&str>,
    ) -> WorkloadHandle {
        let handle = manager
            .start(&InstanceSpec {
                id: id.into(),
                netns: ns,
                user_data: user_data.map(|s| s.as_bytes().to_vec()),
                resolv_conf: RESOLV.into(),
                hostname: Some("ip-10-0-0-5".into()),
            })
            .await
            .unwrap();
        self.killer.track(&handle);
        handle
    }
}

fn user() -> WorkloadUser {
    WorkloadUser::host_default().unwrap()
}

async fn next_exit(events: &mut mpsc::UnboundedReceiver<Exited>) -> Exited {
    tokio::time::timeout(TIMEOUT, events.recv())
        .await
        .expect("no exit event before the deadline")
        .expect("event stream closed")
}

/// Polls `condition` until it holds or the deadline passes.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn console_log(manager: &WorkloadManager, id: &str) -> String {
    fs::read_to_string(manager.instance_dir(id).unwrap().console_log()).unwrap_or_default()
}

/// `key=value` lines of a log.
fn fields(log: &str) -> BTreeMap<String, String> {
    log.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The processes in the PID namespace whose init is host pid `init`: (pid, start time,
/// command line).
fn pidns_members(init: u32) -> Vec<(u32, u64, String)> {
    let Ok(ns) = fs::read_link(format!("/proc/{init}/ns/pid")) else {
        return Vec::new();
    };
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() != Some(&ns) {
            continue;
        }
        let (Ok(start), Ok(cmdline)) = (
            procfs::start_time(pid),
            fs::read(format!("/proc/{pid}/cmdline")),
        ) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        members.push((pid, start, cmdline));
    }
    members
}

/// Fields 5 and 6 of `/proc/<pid>/stat`: process group and session.
fn pgrp_and_session(pid: u32) -> (u32, u32) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    (rest[2].parse().unwrap(), rest[3].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_runs_unprivileged_in_its_own_namespaces() {
    let scope = Scope::new();
    let ns = scope.ns("i-probe");
    let manager = WorkloadManager::with_options(
        scope.data_dir(),
        user(),
        Options {
            tmp_size: "64m".into(),
        },
    )
    .unwrap();
    let mut events = manager.events();
    let user = user();

    // Things the workload must not see: the daemon's data directory, another instance's
    // home (same user!), the host's /tmp.
    let secret = scope.data_dir().join("secret");
    fs::write(&secret, "x").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
    let other = scope.data_dir().join("instances/i-other/home");
    fs::create_dir_all(&other).unwrap();
    std::os::unix::fs::chown(&other, Some(user.uid), Some(user.gid)).unwrap();
    let host_tmp = tempfile::NamedTempFile::new_in("/tmp").unwrap();
    fs::set_permissions(host_tmp.path(), fs::Permissions::from_mode(0o644)).unwrap();
    let host_resolv = fs::read("/etc/resolv.conf").unwrap();
    let tmp_mark = format!("{}-mark", scope.prefix);

    let script = r#"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "pid=$$"
n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "procs=$n"
echo "resolv=$(tr '\n' '|' < /etc/resolv.conf)"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' /proc/self/status | tr -d '\t' | tr ':' '='
echo "pwd=$(pwd)"
echo "home=$HOME"
echo "path=$PATH"
echo "lang=$LANG"
echo "envnames=$(env | cut -d= -f1 | sort | tr '\n' ' ')"
echo "fds=$(ls /proc/self/fd | sort -n | tr '\n' ' ')"
echo "hostname=$(cat /proc/sys/kernel/hostname)"
echo "netns=$(readlink /proc/self/ns/net)"
echo "port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
echo "links=$(ls /sys/class/net | tr '\n' ' ')"
if [ -e SECRET ]; then echo secret=visible; else echo secret=hidden; fi
if [ -e OTHER ]; then echo other=visible; else echo other=hidden; fi
if [ -e HOSTTMP ]; then echo hosttmp=visible; else echo hosttmp=hidden; fi
touch "$HOME/written" && echo home_writable=yes
if (echo x > /etc/probe) 2>/dev/null; then echo etc_writable=yes; else echo etc_writable=no; fi
if (echo x > "$HOME/../intruder") 2>/dev/null; then echo instdir_writable=yes; else echo instdir_writable=no; fi
echo x > /tmp/TMPMARK && echo tmp_writable=yes
echo "init=$(tr '\0' ' ' < /proc/1/cmdline)"
echo "stdin=$(readlink /proc/self/fd/0)"
echo "tmpmount=$(grep ' /tmp ' /proc/mounts)"
echo "$(id -un)" >&2
echo done=yes
"#
    .replace("SECRET", secret.to_str().unwrap())
    .replace("OTHER", other.to_str().unwrap())
    .replace("HOSTTMP", host_tmp.path().to_str().unwrap())
    .replace("TMPMARK", &tmp_mark);

    let handle = scope.start(&manager, "i-probe", &ns, Some(&script)).await;
    // Its own session and process group: nothing sent to the daemon's group reaches it.
    let (pgrp, session) = pgrp_and_session(handle.pid());
    assert_eq!((pgrp, session), (handle.pid(), handle.pid()));
    let exited = next_exit(&mut events).await;
    let log = console_log(&manager, "i-probe");
    assert_eq!(
        exited,
        Exited {
            id: "i-probe".into(),
            status: ExitStatus::Code(0)
        },
        "{log}"
    );
    let f = fields(&log);
    let get = |k: &str| {
        f.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in:\n{log}"))
    };
    let dir = manager.instance_dir("i-probe").unwrap();
    let home = dir.home();

    assert_eq!(get("done"), "yes", "{log}");
    assert_eq!(get("uid"), user.uid.to_string());
    assert_eq!(get("gid"), user.gid.to_string());
    assert_eq!(
        get("groups"),
        user.gid.to_string(),
        "no supplementary groups"
    );
    // Its own PID namespace: low pids (the setup's commands took the first few), and only a
    // handful of processes.
    let pid: u32 = get("pid").parse().unwrap();
    assert!((2..100).contains(&pid), "pid {pid}");
    let procs: u32 = get("procs").parse().unwrap();
    assert!((2..=4).contains(&procs), "sees {procs} processes: {log}");
    assert_eq!(get("resolv"), RESOLV.replace('\n', "|"));
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(get(cap), "0000000000000000", "{cap}");
    }
    assert_eq!(get("NoNewPrivs"), "1");
    assert_eq!(get("home"), home.to_str().unwrap());
    assert_eq!(get("pwd"), home.to_str().unwrap());
    assert_eq!(get("path"), workload::PATH);
    assert_eq!(get("lang"), "C.UTF-8");
    let names: BTreeSet<&str> = get("envnames").split_whitespace().collect();
    let allowed: BTreeSet<&str> = ["HOME", "LANG", "LOGNAME", "PATH", "PWD", "SHELL", "USER"]
        .into_iter()
        .collect();
    assert!(names.is_subset(&allowed), "environment {names:?}");
    assert!(names.contains("HOME") && names.contains("PATH"));
    // stdin, stdout, stderr, and the directory `ls` itself opened.
    assert_eq!(get("fds"), "0 1 2 3", "leaked file descriptors");
    assert_eq!(get("stdin"), "/dev/null");
    assert_eq!(get("hostname"), "ip-10-0-0-5");
    let ns_inode = fs::metadata(ns.path()).unwrap().ino();
    assert_eq!(get("netns"), format!("net:[{ns_inode}]"));
    assert_eq!(get("port_start"), "0");
    assert_eq!(get("links"), "lo", "/sys shows the instance's interfaces");
    assert_eq!(get("secret"), "hidden");
    assert_eq!(get("other"), "hidden");
    assert_eq!(get("hosttmp"), "hidden");
    assert_eq!(get("home_writable"), "yes");
    assert_eq!(get("etc_writable"), "no");
    assert_eq!(get("instdir_writable"), "no");
    assert_eq!(get("tmp_writable"), "yes");
    let tmp_mount = get("tmpmount");
    assert!(
        tmp_mount.starts_with("tmpfs /tmp tmpfs") && tmp_mount.contains("size=65536k"),
        "{tmp_mount}"
    );
    assert!(
        get("init").starts_with(&format!(
            "/bin/sh {}/init /bin/sh {}",
            dir.root().display(),
            dir.user_data().display()
        )),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l == user.name),
        "stderr goes to the log too"
    );

    // On the host: the home is the workload's and kept what it wrote; the host's
    // resolv.conf and /tmp are untouched; the log is root's.
    let written = fs::metadata(home.join("written")).unwrap();
    assert_eq!((written.uid(), written.gid()), (user.uid, user.gid));
    assert_eq!(fs::metadata(&home).unwrap().uid(), user.uid);
    assert!(!dir.root().join("intruder").exists());
    assert!(
        !Path::new("/tmp").join(&tmp_mark).exists(),
        "the workload's /tmp is its own"
    );
    assert_eq!(fs::read("/etc/resolv.conf").unwrap(), host_resolv);
    let log_meta = fs::metadata(dir.console_log()).unwrap();
    assert_eq!((log_meta.uid(), log_meta.mode() & 0o777), (0, 0o640));
    assert!(!dir.state().exists(), "state file removed on exit");
    assert_eq!(fs::read_to_string(dir.exit_status()).unwrap().trim(), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprivileged_workload_serves_on_port_80() {
    let scope = Scope::new();
    let ns = scope.ns("i-web");
    ns.set_link_up("lo").await.unwrap();
    let manager = scope.manager();
    let handle = scope
        .start(
            &manager,
            "i-web",
            &ns,
            Some("exec python3 -m http.server 80 --bind 127.0.0.1\n"),
        )
        .await;

    let server: SocketAddr = "127.0.0.1:80".parse().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut stream = loop {
        let socket = ns.tcp_socket("127.0.0.1:0".parse().unwrap()).await.unwrap();
        match tokio::net::TcpSocket::from_std_stream(socket)
            .connect(server)
            .await
        {
            Ok(stream) => break stream,
            Err(e) => {
                assert!(
                    handle.exit_status().is_none(),
                    "the server exited: {}",
                    console_log(&manager, "i-web")
                );
                assert!(Instant::now() < deadline, "port 80 never opened: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");

    // The server runs as the workload user.
    let members = pidns_members(handle.pid());
    let python = members
        .iter()
        .find(|(_, _, cmd)| cmd.contains("http.server"))
        .unwrap();
    let status = fs::read_to_string(format!("/proc/{}/status", python.0)).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: BTreeSet<&str> = uid_line.split_whitespace().skip(1).collect();
    assert_eq!(
        uids,
        [user().uid.to_string().as_str()].into_iter().collect()
    );

    // A graceful stop: python dies of the SIGTERM passed on by the init.
    let status = manager
        .stop("i-web", Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(status, Some(ExitStatus::Code(143)));
    assert!(!manager.is_running("i-web"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_is_reported_with_its_status() {
    let scope = Scope::new();
    let ns = scope.ns("i-exit");
    let manager = scope.manager();
    let mut events = manager.events();
    let mut second = manager.events();
    let mut handle = scope
        .start(&manager, "i-exit", &ns, Some("echo bye\nexit 3\n"))
        .await;
    let expected = Exited {
        id: "i-exit".into(),
        status: ExitStatus::Code(3),
    };
    assert_eq!(next_exit(&mut events).await, expected);
    assert_eq!(next_exit(&mut second).await, expected, "every subscriber");
    assert_eq!(handle.exited().await, Some(ExitStatus::Code(3)));
    assert!(!manager.is_running("i-exit"));
    assert!(manager.running().is_empty());
    assert!(manager.handle("i-exit").is_none());
    let dir = manager.instance_dir("i-exit").unwrap();
    assert!(!dir.state().exists());
    assert_eq!(console_log(&manager, "i-exit"), "bye\n");
    // Stopping a stopped instance is a no-op.
    assert_eq!(manager.stop("i-exit", Duration::ZERO).await.unwrap(), None);

    // Started again: the home survives, the log is appended to, the new user data runs.
    let mut again = scope
        .start(
            &manager,
            "i-exit",
            &ns,
            Some("#!/bin/bash\necho \"bash=${BASH_VERSION:+yes}\"\n"),
        )
        .await;
    assert_eq!(again.exited().await, Some(ExitStatus::Code(0)));
    assert_eq!(next_exit(&mut events).await.status, ExitStatus::Code(0));
    assert_eq!(console_log(&manager, "i-exit"), "bye\nbash=yes\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_without_user_data_idles_until_stopped() {
    let scope = Scope::new();
    let ns = scope.ns("i-idle");
    let manager = scope.manager();
    let mut events = manager.events();
    let idle = InstanceSpec {
        id: "i-idle".into(),
        netns: &ns,
        user_data: None,
        resolv_conf: RESOLV.into(),
        hostname: None,
    };
    let handle = manager.start(&idle).await.unwrap();
    scope.killer.track(&handle);
    assert!(manager.is_running("i-idle"));
    assert_eq!(manager.running(), ["i-idle"]);
    assert_eq!(manager.handle("i-idle").unwrap().pid(), handle.pid());
    // Without a host name it gets its id, not the host's name.
    let uts = Command::new("nsenter")
        .arg(format!("--uts=/proc/{}/ns/uts", handle.pid()))
        .args(["cat", "/proc/sys/kernel/hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&uts.stdout), "i-idle\n");

    let again = manager.start(&idle).await;
    assert!(matches!(again, Err(Error::AlreadyRunning(id)) if id == "i-idle"));

    // The init handles SIGTERM: the stop ends well within the grace period, without KILL.
    let status = manager
        .stop("i-idle", Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(status, Some(ExitStatus::Code(143)));
    assert_eq!(next_exit(&mut events).await.status, ExitStatus::Code(143));
    assert!(!manager.is_running("i-idle"));
    assert!(matches!(
        WorkloadManager::with_options(
            scope.data_dir(),
            user(),
            Options {
                tmp_size: "1m,uid=0".into()
            }
        ),
        Err(Error::InvalidOption(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_left_running_keep_the_instance_up() {
    let scope = Scope::new();
    let ns = scope.ns("i-bg");
    let manager = scope.manager();
    let mut events = manager.events();
    let script = "mkfifo \"$HOME/go\"\n\
                  sh -c 'read x < \"$HOME/go\"; echo bg-done' &\n\
                  echo forked\n\
                  exit 4\n";
    let handle = scope.start(&manager, "i-bg", &ns, Some(script)).await;
    // The script has exited once no process runs it any more; its background job runs.
    wait_until("the script to exit, leaving its job", || {
        let members = pidns_members(handle.pid());
        !members
            .iter()
            .any(|(pid, _, cmd)| *pid != handle.pid() && cmd.contains("user-data"))
            && members.iter().any(|(_, _, cmd)| cmd.contains("read x"))
    })
    .await;
    assert!(console_log(&manager, "i-bg").contains("forked"));
    assert!(manager.is_running("i-bg"));
    assert!(events.try_recv().is_err(), "no exit while the job runs");

    let fifo = manager.instance_dir("i-bg").unwrap().home().join("go");
    tokio::task::spawn_blocking(move || fs::write(fifo, "go\n").unwrap())
        .await
        .unwrap();
    let exited = next_exit(&mut events).await;
    assert_eq!(exited.status, ExitStatus::Code(4), "the script's status");
    assert!(console_log(&manager, "i-bg").contains("bg-done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_manager_adopts_running_workloads_and_sees_them_exit() {
    let scope = Scope::new();
    let ns = scope.ns("i-adopt");
    let first = scope.manager();
    let handle = scope
        .start(&first, "i-adopt", &ns, Some("sleep 1000\n"))
        .await;
    drop(first);
    assert!(
        procfs::start_time(handle.pid()).ok() == Some(handle.start_time()),
        "dropping the manager leaves the workload running"
    );

    let second = scope.manager();
    let mut events = second.events();
    let adopted = second.adopt_all().await.unwrap();
    assert_eq!(adopted.len(), 1, "{adopted:?}");
    let Adoption::Running(found) = &adopted[0] else {
        panic!("not running: {adopted:?}");
    };
    assert_eq!(
        (found.id(), found.pid(), found.start_time()),
        ("i-adopt", handle.pid(), handle.start_time())
    );
    assert!(second.is_running("i-adopt"));
    // Adopting twice finds nothing new.
    assert!(second.adopt_all().await.unwrap().is_empty());

    // Killed from outside: the new manager notices.
    rustix::process::kill_process(pid_of(handle.pid()), Signal::KILL).unwrap();
    let exited = next_exit(&mut events).await;
    assert_eq!(
        exited,
        Exited {
            id: "i-adopt".into(),
            status: ExitStatus::Signal(9)
        }
    );
    assert!(!second.is_running("i-adopt"));
    assert!(!second.instance_dir("i-adopt").unwrap().state().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_reports_workloads_that_exited_meanwhile() {
    let scope = Scope::new();
    let ns = scope.ns("i-gone");
    let first = scope.manager();
    let killed = scope
        .start(&first, "i-killed", &ns, Some("sleep 1000\n"))
        .await;
    let termed = scope
        .start(&first, "i-termed", &ns, Some("sleep 1000\n"))
        .await;
    let running = scope.start(&first, "i-running", &ns, None).await;
    drop(first);

    // While no manager watches: one is killed, one stopped by SIGTERM (its init records
    // the status); this process, their parent, reaps both so their pids are free.
    rustix::process::kill_process(pid_of(killed.pid()), Signal::KILL).unwrap();
    rustix::process::kill_process(pid_of(termed.pid()), Signal::TERM).unwrap();
    for pid in [killed.pid(), termed.pid()] {
        let reaped = tokio::task::spawn_blocking(move || {
            rustix::process::waitpid(Some(pid_of(pid)), rustix::process::WaitOptions::empty())
        });
        tokio::time::timeout(TIMEOUT, reaped)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    // A state file naming a pid that now belongs to another process (here: this one).
    let dir = scope.data_dir().join("instances/i-reused");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("state.json"),
        format!(
            r#"{{"version":1,"pid":{},"start_time":1}}"#,
            std::process::id()
        ),
    )
    .unwrap();

    let second = scope.manager();
    let mut found: Vec<(String, Option<ExitStatus>)> = second
        .adopt_all()
        .await
        .unwrap()
        .into_iter()
        .map(|a| match a {
            Adoption::Running(h) => (h.id().to_owned(), None),
            Adoption::Exited(e) => (e.id, Some(e.status)),
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        found,
        [
            ("i-killed".to_owned(), Some(ExitStatus::Unknown)),
            ("i-reused".to_owned(), Some(ExitStatus::Unknown)),
            ("i-running".to_owned(), None),
            ("i-termed".to_owned(), Some(ExitStatus::Code(143))),
        ]
    );
    assert_eq!(second.running(), ["i-running"]);
    assert!(!dir.join("state.json").exists());
    assert_eq!(
        second
            .stop("i-running", Duration::from_secs(15))
            .await
            .unwrap(),
        Some(ExitStatus::Code(143))
    );
    drop(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_kills_every_process_and_removes_the_instance() {
    let scope = Scope::new();
    let ns = scope.ns("i-tree");
    let manager = scope.manager();
    // A tree, an orphan re-parented to the init, and a loop that ignores SIGTERM, so the
    // stop has to escalate to SIGKILL.
    let script = "sleep 1000 &\n\
                  (sleep 1001 &)\n\
                  sh -c 'trap \"\" TERM; while :; do sleep 1002; done' &\n\
                  wait\n";
    let handle = scope.start(&manager, "i-tree", &ns, Some(script)).await;
    let mut members = Vec::new();
    wait_until("the whole tree to start", || {
        members = pidns_members(handle.pid());
        ["sleep 1000", "sleep 1001", "sleep 1002"]
            .iter()
            .all(|s| members.iter().any(|(_, _, cmd)| cmd.contains(s)))
    })
    .await;
    assert!(members.len() >= 6, "{members:?}");

    let status = manager
        .terminate("i-tree", Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(status, Some(ExitStatus::Signal(9)));
    for (pid, start, cmd) in &members {
        assert_ne!(
            procfs::start_time(*pid).ok(),
            Some(*start),
            "{pid} ({cmd}) survived"
        );
    }
    assert!(!manager.is_running("i-tree"));
    assert!(!manager.instance_dir("i-tree").unwrap().root().exists());
    // Terminating again is fine.
    assert_eq!(
        manager.terminate("i-tree", Duration::ZERO).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_refused() {
    let scope = Scope::new();
    let ns = scope.ns("i-bad");
    let manager = scope.manager();
    let spec = |id: &str, hostname: Option<&str>| InstanceSpec {
        id: id.into(),
        netns: &ns,
        user_data: None,
        resolv_conf: RESOLV.into(),
        hostname: hostname.map(Into::into),
    };
    assert!(matches!(
        manager.start(&spec("../escape", None)).await,
        Err(Error::InvalidId(_))
    ));
    assert!(matches!(
        manager.start(&spec("i-1", Some("bad name"))).await,
        Err(Error::InvalidHostname(_))
    ));
    assert!(matches!(
        manager.stop("a/b", Duration::ZERO).await,
        Err(Error::InvalidId(_))
    ));
    assert!(matches!(
        manager.terminate("..", Duration::ZERO).await,
        Err(Error::InvalidId(_))
    ));
    assert!(!scope.data_dir().join("escape").exists());
    assert!(manager.running().is_empty());
}

#[test]
fn exec_runs_in_the_instance_network_with_its_resolv_conf() {
    let scope = Scope::new();
    let ns = scope.ns("i-exec");
    let resolv = scope.tmp.path().join("resolv.conf");
    fs::write(&resolv, "nameserver 10.9.0.2\n").unwrap();
    let out = scope.tmp.path().join("out");
    let host_resolv = fs::read("/etc/resolv.conf").unwrap();

    let script = format!(
        "readlink /proc/self/ns/net > {out}; cat /etc/resolv.conf >> {out}; id -u >> {out}; exit 7",
        out = out.display()
    );
    let status = workload::exec(ns.path(), &resolv, &["sh", "-c", &script]).unwrap();
    assert_eq!(status.code(), Some(7));
    let ino = fs::metadata(ns.path()).unwrap().ino();
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        format!("net:[{ino}]\nnameserver 10.9.0.2\n0\n"),
        "inside the namespace, with its resolv.conf, as the calling user (root)"
    );
    assert_ne!(
        fs::read_link("/proc/self/ns/net").unwrap(),
        PathBuf::from(format!("net:[{ino}]"))
    );
    assert_eq!(fs::read("/etc/resolv.conf").unwrap(), host_resolv);

    let missing = workload::exec(ns.path(), &resolv, &["no-such-command-here"]).unwrap();
    assert_eq!(missing.code(), Some(127));
    let bad_resolv = workload::exec(ns.path(), &scope.tmp.path().join("nope"), &["true"]).unwrap();
    assert_eq!(bad_resolv.code(), Some(125));
}

/// Environment variables through which the test below hands its helper what to do.
const HELPER_DATA: &str = "WORKLOAD_TEST_HELPER_DATA";
const HELPER_PREFIX: &str = "WORKLOAD_TEST_HELPER_PREFIX";

/// Not a test: the "daemon" process of `workload_survives_the_daemon_process`, run by it in
/// a child process. Starts a workload and exits. Does nothing when run by hand.
#[test]
#[ignore = "helper process of workload_survives_the_daemon_process"]
fn daemon_helper() {
    let (Ok(data), Ok(prefix)) = (std::env::var(HELPER_DATA), std::env::var(HELPER_PREFIX)) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ns = Netns::open(&Prefix::new(prefix).unwrap(), "i-survivor").unwrap();
        let manager = WorkloadManager::new(data, user()).unwrap();
        let handle = manager
            .start(&InstanceSpec {
                id: "i-survivor".into(),
                netns: &ns,
                user_data: Some(b"sleep 1000\n".to_vec()),
                resolv_conf: RESOLV.into(),
                hostname: None,
            })
            .await
            .unwrap();
        let mut out = std::io::stdout();
        writeln!(out, "started pid {}", handle.pid()).unwrap();
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_survives_the_daemon_process() {
    let scope = Scope::new();
    let _ns = scope.ns("i-survivor");
    fs::create_dir_all(scope.data_dir()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let output = tokio::task::spawn_blocking({
        let data = scope.data_dir();
        let prefix = scope.prefix.to_string();
        move || {
            Command::new(exe)
                .args(["--ignored", "--exact", "daemon_helper", "--nocapture"])
                .env(HELPER_DATA, data)
                .env(HELPER_PREFIX, prefix)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("started pid"),
        "helper failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The "daemon" is gone; its workload is not, and is no longer our child's child.
    let manager = scope.manager();
    let mut events = manager.events();
    let adopted = manager.adopt_all().await.unwrap();
    let [Adoption::Running(handle)] = adopted.as_slice() else {
        panic!("expected one running workload: {adopted:?}");
    };
    scope.killer.track(handle);
    assert!(stdout.contains(&format!("started pid {}", handle.pid())));
    let stat = fs::read_to_string(format!("/proc/{}/stat", handle.pid())).unwrap();
    let ppid: u32 = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(ppid, std::process::id());

    // Not our child: the status comes from the init's record.
    let status = manager
        .stop("i-survivor", Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(status, Some(ExitStatus::Code(143)));
    assert_eq!(next_exit(&mut events).await.status, ExitStatus::Code(143));
}
