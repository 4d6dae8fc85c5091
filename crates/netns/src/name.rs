//! Names: the per-daemon prefix, namespace names and interface names.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// Longest interface name the kernel accepts (IFNAMSIZ is 16 with the trailing NUL).
pub const IFNAMSIZ_MAX: usize = 15;

/// Longest namespace name (the part after `<prefix>-`); file names allow 255 bytes, this
/// leaves room for any prefix and keeps `ip netns list` readable.
pub const NS_NAME_MAX: usize = 200;

/// The per-daemon prefix carried by every namespace a daemon makes.
///
/// `/run/netns/<prefix>-<name>`: the prefix is what lets several daemons (and parallel
/// tests) share one host without touching each other's namespaces, and lets a restarted
/// daemon find its own — and only its own — objects.
///
/// Grammar: a lowercase ASCII letter, then 1 to 11 lowercase letters or digits. No `-`, so
/// `<prefix>-` never matches a longer prefix: `pl1a` does not own `pl1a2b-…`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Prefix(String);

impl Prefix {
    /// Longest prefix accepted.
    pub const MAX_LEN: usize = 12;

    /// Validates an explicit prefix.
    pub fn new(prefix: impl Into<String>) -> Result<Self> {
        let prefix = prefix.into();
        let bad = |reason| Error::InvalidName {
            what: "prefix",
            name: prefix.clone(),
            reason,
        };
        if prefix.len() < 2 || prefix.len() > Self::MAX_LEN {
            return Err(bad("must hold 2 to 12 characters"));
        }
        if !prefix.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(bad("must start with a lowercase letter"));
        }
        if !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(bad("only lowercase letters and digits are allowed"));
        }
        Ok(Prefix(prefix))
    }

    /// The prefix of the daemon whose data lives in `data_dir`: `pl` followed by six hex
    /// digits of a hash of the directory's canonical path.
    ///
    /// The same directory always gives the same prefix (so a restarted daemon finds its
    /// objects); two directories collide with probability 2⁻²⁴ per pair.
    pub fn from_data_dir(data_dir: &Path) -> Self {
        let canonical = data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf());
        let hash = fnv1a64(canonical.as_os_str().as_encoded_bytes());
        Prefix(format!("pl{:06x}", hash & 0x00ff_ffff))
    }

    /// The prefix as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full name of the namespace `name` of this prefix: `<prefix>-<name>`.
    pub fn full_name(&self, name: &str) -> Result<String> {
        validate_ns_name(name)?;
        Ok(format!("{}-{}", self.0, name))
    }

    /// The short name of a namespace if `full` belongs to this prefix.
    pub fn strip<'a>(&self, full: &'a str) -> Option<&'a str> {
        full.strip_prefix(self.0.as_str())?
            .strip_prefix('-')
            .filter(|rest| validate_ns_name(rest).is_ok())
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Prefix({})", self.0)
    }
}

/// Namespace names are file names under `/run/netns`: ASCII letters, digits, `-`, `_`, `.`,
/// not starting with `.` (no hidden files, no `..`).
pub(crate) fn validate_ns_name(name: &str) -> Result<()> {
    let bad = |reason| Error::InvalidName {
        what: "namespace name",
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > NS_NAME_MAX {
        return Err(bad("must hold 1 to 200 characters"));
    }
    if name.starts_with('.') {
        return Err(bad("must not start with '.'"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(bad(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

/// A valid Linux interface name: 1 to 15 bytes, no `/`, `:`, whitespace or control
/// characters, not `.` or `..`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

impl IfName {
    /// Validates an interface name.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        validate_ifname(&name)?;
        Ok(IfName(name))
    }

    /// A short, deterministic interface name for a long identifier: `kind` followed by hex
    /// digits of a hash of `id`, filling the 15 bytes an interface name may hold.
    ///
    /// `IfName::hashed("br", "subnet-0123456789abcdef0")` is always the same 15-byte name.
    /// `kind` (1 to 7 lowercase letters, digits or `-`) says what the link is for, and leaves
    /// at least 8 hex digits (32 bits) of hash. Names only have to be unique inside one
    /// namespace, so a collision needs two ids of the same kind in the same VPC; the store
    /// keeps the id → name mapping, so the reconciler can detect one instead of guessing.
    pub fn hashed(kind: &str, id: &str) -> Result<Self> {
        if kind.is_empty()
            || kind.len() > IFNAMSIZ_MAX - 8
            || !kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(Error::InvalidName {
                what: "interface name kind",
                name: kind.to_owned(),
                reason: "must hold 1 to 7 lowercase letters, digits or '-'",
            });
        }
        let hex = format!("{:016x}", fnv1a64(id.as_bytes()));
        let mut name = String::with_capacity(IFNAMSIZ_MAX);
        name.push_str(kind);
        name.push_str(&hex[..IFNAMSIZ_MAX - kind.len()]);
        Ok(IfName(name))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IfName({})", self.0)
    }
}

pub(crate) fn validate_ifname(name: &str) -> Result<()> {
    let bad = |reason| Error::InvalidName {
        what: "interface name",
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > IFNAMSIZ_MAX {
        return Err(bad("must hold 1 to 15 bytes (IFNAMSIZ)"));
    }
    if name == "." || name == ".." {
        return Err(bad("must not be '.' or '..'"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
    {
        return Err(bad("only printable ASCII without '/' or ':' is allowed"));
    }
    Ok(())
}

/// The validated name of an nftables table: a letter or `_`, then letters, digits or `_`.
pub(crate) fn validate_table_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "nftables table name",
            name: name.to_owned(),
            reason: "must be 1 to 64 ASCII letters, digits or '_', not starting with a digit",
        })
    }
}

/// 64-bit FNV-1a: tiny, and stable across Rust versions and platforms (unlike `std`'s
/// `DefaultHasher`), which the names derived from it must be, since they outlive the
/// process.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn prefix_from_data_dir_is_stable_and_well_formed() {
        let a = Prefix::from_data_dir(Path::new("/nonexistent/privlink-a"));
        let again = Prefix::from_data_dir(Path::new("/nonexistent/privlink-a"));
        let b = Prefix::from_data_dir(Path::new("/nonexistent/privlink-b"));
        assert_eq!(a, again);
        assert_ne!(a, b);
        assert_eq!(
            a.as_str(),
            "ple06179",
            "pinned: a restarted daemon must find its prefix"
        );
        assert!(a.as_str().starts_with("pl"));
        assert!(
            Prefix::new(a.as_str()).is_ok(),
            "derived prefix passes validation"
        );
    }

    #[test]
    fn prefix_validation() {
        assert!(Prefix::new("pl1a2b").is_ok());
        assert!(Prefix::new("p").is_err());
        assert!(Prefix::new("PL12").is_err());
        assert!(Prefix::new("1pl2").is_err());
        assert!(Prefix::new("pl-12").is_err());
        assert!(Prefix::new("pl1234567890a").is_err());
    }

    #[test]
    fn full_names_and_strip() {
        let p = Prefix::new("pl1a").unwrap();
        assert_eq!(p.full_name("vpc-0abc").unwrap(), "pl1a-vpc-0abc");
        assert_eq!(p.strip("pl1a-vpc-0abc"), Some("vpc-0abc"));
        // A longer prefix sharing the first characters is somebody else's.
        assert_eq!(p.strip("pl1a2-vpc-0abc"), None);
        assert_eq!(p.strip("pl1a-"), None);
        assert_eq!(p.strip("other-x"), None);
        assert!(p.full_name("../etc").is_err());
        assert!(p.full_name("a/b").is_err());
        assert!(p.full_name("").is_err());
    }

    #[test]
    fn hashed_ifnames_are_deterministic_short_and_distinct() {
        let id = "subnet-0123456789abcdef0";
        let a = IfName::hashed("br", id).unwrap();
        assert_eq!(a, IfName::hashed("br", id).unwrap());
        assert_eq!(a.as_str().len(), IFNAMSIZ_MAX);
        assert!(a.as_str().starts_with("br"));
        // Pinned value: the name must never change between releases (it is found again after
        // a restart).
        assert_eq!(a.as_str(), "br5345182d8af98");
        assert_ne!(a, IfName::hashed("br", "subnet-0123456789abcdef1").unwrap());
        assert_ne!(a, IfName::hashed("ve", id).unwrap());
        let long_kind = IfName::hashed("vethnlb", id).unwrap();
        assert_eq!(long_kind.as_str().len(), 15);
        assert!(IfName::hashed("toolongk", id).is_err());
        assert!(IfName::hashed("", id).is_err());
        assert!(IfName::hashed("Br", id).is_err());
        assert!(IfName::new(a.as_str()).is_ok());
    }

    #[test]
    fn ifname_validation() {
        assert!(IfName::new("eth0").is_ok());
        assert!(IfName::new("lo").is_ok());
        assert!(IfName::new("a23456789012345").is_ok());
        assert!(IfName::new("a234567890123456").is_err());
        assert!(IfName::new("").is_err());
        assert!(IfName::new("a/b").is_err());
        assert!(IfName::new("a b").is_err());
        assert!(IfName::new("a:1").is_err());
        assert!(IfName::new("..").is_err());
    }

    #[test]
    fn table_names() {
        assert!(validate_table_name("privlink_sg").is_ok());
        assert!(validate_table_name("_x1").is_ok());
        assert!(validate_table_name("1x").is_err());
        assert!(validate_table_name("a b").is_err());
        assert!(validate_table_name("a;flush ruleset").is_err());
        assert!(validate_table_name("").is_err());
    }
}
