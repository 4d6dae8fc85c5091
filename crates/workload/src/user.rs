//! The unprivileged user workloads run as.

use nix::unistd::{Group, User};

use crate::error::{Error, Result};

/// The user and group a workload runs as: never root, no supplementary groups.
///
/// All instances of one daemon share it; what keeps instances apart is that each has its
/// own PID, mount, IPC and UTS namespaces, and that the data directory (where every
/// instance's home lives) is hidden from each workload except for its own home.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadUser {
    /// Real and effective uid.
    pub uid: u32,
    /// Real and effective gid.
    pub gid: u32,
    /// The user name (`USER`, `LOGNAME`), or the uid in decimal when it has none.
    pub name: String,
}

impl WorkloadUser {
    /// The dedicated account preferred by [`WorkloadUser::host_default`], if an operator made
    /// one (`useradd --system --no-create-home --shell /usr/sbin/nologin privlink-workload`).
    pub const DEDICATED: &'static str = "privlink-workload";

    /// The default: the dedicated user [`WorkloadUser::DEDICATED`] with its primary group if
    /// it exists, otherwise `nobody` with group `nogroup` (Debian's names; `nobody`'s own
    /// primary group where there is no `nogroup`).
    pub fn host_default() -> Result<WorkloadUser> {
        if let Some(user) = lookup_user(Self::DEDICATED)? {
            return Self::checked(user.uid.as_raw(), user.gid.as_raw(), user.name);
        }
        let nobody = lookup_user("nobody")?.ok_or_else(|| Error::UnknownUser {
            what: "user",
            name: "nobody".into(),
        })?;
        let gid = match lookup_group("nogroup")? {
            Some(group) => group.gid.as_raw(),
            None => nobody.gid.as_raw(),
        };
        Self::checked(nobody.uid.as_raw(), gid, nobody.name)
    }

    /// A user by name, with its primary group, or with `group` if given.
    pub fn lookup(user: &str, group: Option<&str>) -> Result<WorkloadUser> {
        let found = lookup_user(user)?.ok_or_else(|| Error::UnknownUser {
            what: "user",
            name: user.to_owned(),
        })?;
        let gid = match group {
            None => found.gid.as_raw(),
            Some(group) => lookup_group(group)?
                .ok_or_else(|| Error::UnknownUser {
                    what: "group",
                    name: group.to_owned(),
                })?
                .gid
                .as_raw(),
        };
        Self::checked(found.uid.as_raw(), gid, found.name)
    }

    /// Numeric ids, for hosts where the workload user has no passwd entry.
    pub fn from_ids(uid: u32, gid: u32) -> Result<WorkloadUser> {
        Self::checked(uid, gid, uid.to_string())
    }

    fn checked(uid: u32, gid: u32, name: String) -> Result<WorkloadUser> {
        // -1 means "leave unchanged" to setresuid/setresgid: it would stay root.
        if uid == 0 || gid == 0 || uid == u32::MAX || gid == u32::MAX {
            return Err(Error::PrivilegedUser { uid, gid });
        }
        Ok(WorkloadUser { uid, gid, name })
    }
}

fn lookup_user(name: &str) -> Result<Option<User>> {
    User::from_name(name).map_err(Error::sys("look up user"))
}

fn lookup_group(name: &str) -> Result<Option<Group>> {
    Group::from_name(name).map_err(Error::sys("look up group"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused() {
        assert!(matches!(
            WorkloadUser::from_ids(0, 65534),
            Err(Error::PrivilegedUser { .. })
        ));
        assert!(matches!(
            WorkloadUser::from_ids(65534, 0),
            Err(Error::PrivilegedUser { .. })
        ));
        assert!(matches!(
            WorkloadUser::from_ids(u32::MAX, 65534),
            Err(Error::PrivilegedUser { .. })
        ));
        assert!(matches!(
            WorkloadUser::from_ids(65534, u32::MAX),
            Err(Error::PrivilegedUser { .. })
        ));
        assert!(matches!(
            WorkloadUser::lookup("root", None),
            Err(Error::PrivilegedUser { .. })
        ));
        assert!(matches!(
            WorkloadUser::lookup("nobody", Some("root")),
            Err(Error::PrivilegedUser { .. })
        ));
    }

    #[test]
    fn lookups() {
        let nobody = WorkloadUser::lookup("nobody", None).unwrap();
        assert_eq!(nobody.name, "nobody");
        assert_ne!(nobody.uid, 0);
        assert!(matches!(
            WorkloadUser::lookup("no-such-user-here", None),
            Err(Error::UnknownUser { what: "user", .. })
        ));
        assert!(matches!(
            WorkloadUser::lookup("nobody", Some("no-such-group-here")),
            Err(Error::UnknownUser { what: "group", .. })
        ));
        let default = WorkloadUser::host_default().unwrap();
        assert_ne!(default.uid, 0);
        assert_ne!(default.gid, 0);
        assert_eq!(WorkloadUser::from_ids(1234, 5678).unwrap().name, "1234");
    }
}
