//! Where an instance's files live, and the names that become paths.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::user::WorkloadUser;

/// Name of the directory under the data directory that holds one directory per instance.
pub const INSTANCES_DIR: &str = "instances";

/// The files of one instance, under `<data>/instances/<id>/`.
///
/// | path | owner, mode | what |
/// |---|---|---|
/// | `home/` | workload user, 0700 | `HOME` and working directory; kept across stop/start |
/// | `user-data` | root, 0644 | the script as given (read-only to the workload) |
/// | `resolv.conf` | root, 0644 | bind-mounted over the workload's `/etc/resolv.conf` |
/// | `console.log` | root, 0640 | the workload's stdout and stderr, appended |
/// | `state.json` | root, 0600 | pid and start time while it runs |
/// | `exit-status` | root, 0600 | the exit code, written by the instance's init |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceDir {
    root: PathBuf,
}

impl InstanceDir {
    /// The directory of instance `id` under `data_dir` (nothing is created).
    pub fn new(data_dir: &Path, id: &str) -> Result<InstanceDir> {
        validate_id(id)?;
        Ok(InstanceDir {
            root: data_dir.join(INSTANCES_DIR).join(id),
        })
    }

    /// `<data>/instances/<id>`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The workload's `HOME`.
    pub fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    /// The user data script.
    pub fn user_data(&self) -> PathBuf {
        self.root.join("user-data")
    }

    /// The instance's `resolv.conf` (also what `privlink exec` mounts).
    pub fn resolv_conf(&self) -> PathBuf {
        self.root.join("resolv.conf")
    }

    /// The console log: stdout and stderr of everything the workload runs.
    pub fn console_log(&self) -> PathBuf {
        self.root.join("console.log")
    }

    /// The state file of a running workload.
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The exit code, as the instance's init recorded it.
    pub fn exit_status(&self) -> PathBuf {
        self.root.join("exit-status")
    }
}

/// Instance ids become directory names: ASCII letters, digits, `-`, `_`, `.`, not
/// starting with `.`, at most 64 bytes (EC2's are `i-` and 17 hex digits).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_owned()))
    }
}

/// A host name the kernel accepts (at most 64 bytes) made of DNS labels: letters, digits
/// and `-`, separated by `.`.
pub fn validate_hostname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidHostname(name.to_owned()))
    }
}

/// Where the workload's mount namespace mounts an empty tmpfs to hide the data directory:
/// the data directory itself, or its outermost ancestor the workload user cannot traverse
/// (a 0700 temporary directory, `/root`, …).
///
/// The workload's home lives under the data directory and is bind-mounted back onto the
/// same path inside that tmpfs, so the path must be reachable for the workload user; every
/// directory above the returned one is (that is how it is chosen), and the tmpfs's own
/// directories are 0755. Hiding an ancestor the user cannot traverse hides nothing it
/// could have seen.
pub fn hide_root(data_dir: &Path, user: &WorkloadUser) -> Result<PathBuf> {
    if !data_dir.is_absolute() || data_dir.parent().is_none() {
        return Err(Error::DataDir {
            path: data_dir.to_owned(),
            reason: "must be an absolute path below /".into(),
        });
    }
    let mut ancestors: Vec<&Path> = data_dir.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        let meta = fs::metadata(dir).map_err(Error::io("inspect", dir))?;
        if !traversable(&meta, user) {
            if dir.parent().is_none() {
                return Err(Error::DataDir {
                    path: data_dir.to_owned(),
                    reason: format!("{} cannot traverse /", user.name),
                });
            }
            return Ok(dir.to_owned());
        }
    }
    Ok(data_dir.to_owned())
}

/// Whether `user` (with no supplementary groups, as workloads run) may search a directory.
fn traversable(meta: &fs::Metadata, user: &WorkloadUser) -> bool {
    let mode = meta.mode();
    if meta.uid() == user.uid {
        mode & 0o100 != 0
    } else if meta.gid() == user.gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn ids() {
        for ok in ["i-0123456789abcdef0", "i-1", "a", "x.y_z-1"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        let long = "i".repeat(65);
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a b",
            "é",
            long.as_str(),
        ] {
            assert!(
                matches!(validate_id(bad), Err(Error::InvalidId(_))),
                "{bad}"
            );
        }
        let dir = InstanceDir::new(Path::new("/var/lib/privlink"), "i-1").unwrap();
        assert_eq!(dir.root(), Path::new("/var/lib/privlink/instances/i-1"));
        assert_eq!(
            dir.home(),
            Path::new("/var/lib/privlink/instances/i-1/home")
        );
        assert!(InstanceDir::new(Path::new("/x"), "../../etc").is_err());
    }

    #[test]
    fn hostnames() {
        for ok in ["ip-10-0-1-5", "ip-10-0-1-5.ec2.internal", "a", "A1"] {
            assert!(validate_hostname(ok).is_ok(), "{ok}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "a..b",
            "-a",
            "a-",
            "a_b",
            "a b",
            "a\nb",
            long.as_str(),
            ".",
        ] {
            assert!(validate_hostname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hide_root_is_the_outermost_directory_the_user_cannot_traverse() {
        let user = WorkloadUser::from_ids(65534, 65534).unwrap();
        let base = tempfile::tempdir().unwrap();
        let base_path = base.path().canonicalize().unwrap();
        let data = base_path.join("a/b/data");
        fs::create_dir_all(&data).unwrap();
        let set =
            |p: &Path, mode| fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
        set(&base_path, 0o755);
        set(&base_path.join("a"), 0o755);
        set(&base_path.join("a/b"), 0o755);
        assert_eq!(hide_root(&data, &user).unwrap(), data);

        set(&base_path.join("a/b"), 0o700);
        assert_eq!(hide_root(&data, &user).unwrap(), base_path.join("a/b"));
        set(&base_path.join("a"), 0o750);
        assert_eq!(hide_root(&data, &user).unwrap(), base_path.join("a"));
        // The tempdir itself is 0700.
        set(&base_path, 0o700);
        assert_eq!(hide_root(&data, &user).unwrap(), base_path);

        assert!(hide_root(Path::new("relative/data"), &user).is_err());
        assert!(hide_root(Path::new("/"), &user).is_err());
    }

    #[test]
    fn traversal_follows_owner_group_other() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("d");
        fs::create_dir(&dir).unwrap();
        let meta = |mode| {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            fs::metadata(&dir).unwrap()
        };
        // Owned by root:root (the tests run as root).
        let other = WorkloadUser::from_ids(65534, 65534).unwrap();
        assert!(traversable(&meta(0o701), &other));
        assert!(!traversable(&meta(0o770), &other));
        let owner = WorkloadUser {
            uid: 0,
            gid: 1,
            name: "test".into(),
        };
        assert!(traversable(&meta(0o700), &owner));
        assert!(!traversable(&meta(0o077), &owner));
        let group = WorkloadUser {
            uid: 1,
            gid: 0,
            name: "test".into(),
        };
        assert!(traversable(&meta(0o010), &group));
        assert!(!traversable(&meta(0o701), &group));
    }
}
