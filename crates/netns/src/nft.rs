//! nftables rulesets inside a namespace, loaded with the `nft` program.
//!
//! `nft -f -` is spawned with a `pre_exec` hook that enters the namespace in the child only
//! (between `fork` and `exec`), so neither the caller's thread nor the namespace's worker
//! is blocked or moved while `nft` runs. A ruleset file is applied by `nft` as one kernel
//! transaction: it all applies or nothing does.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use nix::sched::{CloneFlags, setns};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::name::validate_table_name;
use crate::ns::Netns;

/// An nftables address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NftFamily {
    Ip,
    Ip6,
    Inet,
    Arp,
    Bridge,
    Netdev,
}

impl fmt::Display for NftFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NftFamily::Ip => "ip",
            NftFamily::Ip6 => "ip6",
            NftFamily::Inet => "inet",
            NftFamily::Arp => "arp",
            NftFamily::Bridge => "bridge",
            NftFamily::Netdev => "netdev",
        })
    }
}

/// Where `nft` is: the first of `PATH`, `/usr/sbin`, `/sbin`, `/usr/local/sbin` holding it
/// (a non-login root shell may lack the sbin directories in `PATH`).
pub fn nft_program() -> Result<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nft"))
        .find(|candidate| candidate.is_file())
        .ok_or(Error::NftMissing)
}

/// The script that replaces table `family name` with `body` in one transaction: declaring
/// the table first makes the `delete` valid whether or not it existed (`nft` 1.0.6 has no
/// `destroy`).
pub fn replace_table_script(family: NftFamily, name: &str, body: &str) -> Result<String> {
    validate_table_name(name)?;
    Ok(format!(
        "add table {family} {name}\ndelete table {family} {name}\ntable {family} {name} {{\n{body}\n}}\n"
    ))
}

fn enter_in_child(command: &mut Command, fd: Arc<OwnedFd>) {
    let hook = move || setns(fd.as_fd(), CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from);
    // SAFETY: the hook runs in the forked child before `exec`, where only async-signal-safe
    // calls are allowed. It makes one `setns` system call on an fd that the `Arc` captured in
    // the closure keeps open (the closure lives in the `Command`), and converts the errno
    // into an `io::Error` without allocating. It touches no lock and no allocator.
    unsafe {
        command.pre_exec(hook);
    }
}

impl Netns {
    /// A [`Command`] whose process starts inside this namespace (like `ip netns exec`).
    /// Only the network namespace changes; the caller adds whatever isolation the process
    /// needs (user, mount and PID namespaces for workloads).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        enter_in_child(&mut command, self.shared_fd());
        command
    }

    /// Runs `nft` inside the namespace with `args`, `stdin` on its standard input; returns
    /// its standard output.
    async fn nft(&self, args: &[&str], stdin: Option<String>) -> Result<String> {
        let program = nft_program()?;
        let mut command = self.command(&program);
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = tokio::process::Command::from(command)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NftMissing,
                _ => Error::io("run", Path::new(&program))(e),
            })?;
        let feed = async {
            if let (Some(mut pipe), Some(script)) = (child.stdin.take(), stdin) {
                // A write error means nft exited early; its status and stderr say why.
                let _ = pipe.write_all(script.as_bytes()).await;
                drop(pipe);
            }
        };
        feed.await;
        let output = child
            .wait_with_output()
            .await
            .map_err(Error::io("wait for", program))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(Error::Nft {
                ns: self.full_name().to_owned(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    /// Applies an nftables script (`nft -f -`) inside the namespace, atomically.
    pub async fn nft_apply(&self, script: &str) -> Result<()> {
        self.nft(&["-f", "-"], Some(script.to_owned()))
            .await
            .map(drop)
    }

    /// Replaces the table `family name` with one holding `body` (chains, sets, rules: what
    /// goes between the table's braces), atomically: packets see the old table or the new
    /// one, never none. Creates the table if missing.
    pub async fn nft_replace_table(&self, family: NftFamily, name: &str, body: &str) -> Result<()> {
        let script = replace_table_script(family, name, body)?;
        self.nft_apply(&script).await
    }

    /// Deletes the table `family name`; accepted if it does not exist.
    pub async fn nft_delete_table(&self, family: NftFamily, name: &str) -> Result<()> {
        validate_table_name(name)?;
        self.nft_apply(&format!(
            "add table {family} {name}\ndelete table {family} {name}\n"
        ))
        .await
    }

    /// The table `family name` as `nft list table` prints it, or `None` if there is none.
    pub async fn nft_list_table(&self, family: NftFamily, name: &str) -> Result<Option<String>> {
        validate_table_name(name)?;
        let family = family.to_string();
        match self.nft(&["list", "table", &family, name], None).await {
            Ok(out) => Ok(Some(out)),
            Err(Error::Nft { stderr, .. }) if stderr.contains("No such file or directory") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The namespace's whole ruleset (`nft list ruleset`).
    pub async fn nft_list_ruleset(&self) -> Result<String> {
        self.nft(&["list", "ruleset"], None).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replace_script_declares_deletes_and_redefines() {
        let s = replace_table_script(NftFamily::Inet, "sg", "chain input { }").unwrap();
        assert_eq!(
            s,
            "add table inet sg\ndelete table inet sg\ntable inet sg {\nchain input { }\n}\n"
        );
        assert!(replace_table_script(NftFamily::Inet, "sg; flush ruleset", "").is_err());
    }

    #[test]
    fn a_missing_nft_says_what_to_install() {
        let message = Error::NftMissing.to_string();
        assert!(message.contains("`nft`"), "{message}");
        assert!(message.contains("apt-get install -y nftables"), "{message}");
    }
}
