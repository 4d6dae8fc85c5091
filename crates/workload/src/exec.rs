//! `privlink exec`: an operator's command inside an instance's network.

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;
use std::process::{Command, ExitStatus};

/// Runs in the new mount namespace: puts the instance's `resolv.conf` in place, then
/// becomes the operator's command. 125 (as `env` and `nsenter` use) if the mount fails;
/// 127 if the command is not found.
const EXEC_SCRIPT: &str = r#"resolv=$1
shift
if ! mount --bind -o ro "$resolv" /etc/resolv.conf; then
    echo "privlink exec: cannot mount $resolv on /etc/resolv.conf" >&2
    exit 125
fi
exec "$@"
"#;

/// The command that runs `argv` inside the network namespace mounted at `netns` (e.g.
/// `/run/netns/pl3f09a1-i-0123…`, [`netns::Netns::path`]) and in a private mount namespace
/// where `resolv_conf` (the instance's, [`crate::InstanceDir::resolv_conf`]) is
/// bind-mounted read-only over `/etc/resolv.conf` — so names resolve as inside the
/// instance.
///
/// Unlike a workload, the command keeps the caller's identity, capabilities, environment,
/// working directory, standard streams and process group (so a terminal's Ctrl-C reaches
/// it). It shares the host's PID namespace and sees the host's files. Entering namespaces
/// needs `CAP_SYS_ADMIN`: in practice the operator runs it as root, as with `ip netns exec`.
///
/// Uses `nsenter` and `unshare` (util-linux). Exit status: the command's; 125 if
/// `resolv.conf` could not be mounted; 127 if the command was not found.
pub fn exec_command<S: AsRef<OsStr>>(
    netns: &Path,
    resolv_conf: &Path,
    argv: &[S],
) -> io::Result<Command> {
    if argv.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "exec needs a command to run",
        ));
    }
    let mut net = OsString::from("--net=");
    net.push(netns);
    let mut command = Command::new("nsenter");
    command
        .arg(net)
        .args(["--", "unshare", "--mount", "--propagation", "private", "--"])
        .args(["/bin/sh", "-c", EXEC_SCRIPT, "privlink-exec"])
        .arg(resolv_conf)
        .args(argv);
    Ok(command)
}

/// Runs [`exec_command`] with inherited standard streams and waits for it: the blocking
/// body of `privlink exec <instance-id> -- CMD…`.
pub fn exec<S: AsRef<OsStr>>(
    netns: &Path,
    resolv_conf: &Path,
    argv: &[S],
) -> io::Result<ExitStatus> {
    exec_command(netns, resolv_conf, argv)?.status()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_a_command() {
        let none: [&str; 0] = [];
        let err = exec_command(Path::new("/run/netns/x"), Path::new("/r"), &none).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    }
}
