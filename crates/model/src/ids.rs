//! AWS-format identifiers.

use rand::Rng;

/// Resource-id prefixes in AWS's format (`<prefix>-<17 hex>`).
pub mod prefix {
    pub const VPC: &str = "vpc";
    pub const SUBNET: &str = "subnet";
    pub const SECURITY_GROUP: &str = "sg";
    pub const SECURITY_GROUP_RULE: &str = "sgr";
    pub const NETWORK_INTERFACE: &str = "eni";
    pub const INSTANCE: &str = "i";
    pub const RESERVATION: &str = "r";
    pub const VPC_ENDPOINT: &str = "vpce";
    pub const VPC_ENDPOINT_SERVICE: &str = "vpce-svc";
    pub const CONNECTION_NOTIFICATION: &str = "vpce-nfn";
    pub const SERVICE_PERMISSION: &str = "vpce-spp";
    pub const DHCP_OPTIONS: &str = "dopt";
    pub const NETWORK_ACL: &str = "acl";
    pub const ROUTE_TABLE: &str = "rtb";
    pub const VPC_CIDR_ASSOC: &str = "vpc-cidr-assoc";
}

/// Random lowercase hex of `len` characters.
pub fn random_hex(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Random lowercase alphanumerics (DNS-label safe) of `len` characters.
pub fn random_alnum(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A new id `<prefix>-<17 hex>`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", random_hex(17))
}

/// Whether `s` is `<prefix>-` followed by 8 or 17 lowercase hex digits (AWS accepts both the
/// legacy short and the current long form).
pub fn is_well_formed(prefix: &str, s: &str) -> bool {
    let Some(rest) = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    (rest.len() == 8 || rest.len() == 17)
        && rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The kind of resource an id names, from its prefix.
pub fn kind_of(id: &str) -> Option<&'static str> {
    // Longest prefixes first: `vpce-svc-` before `vpce-` before `vpc-`.
    const ORDER: &[&str] = &[
        prefix::VPC_ENDPOINT_SERVICE,
        prefix::CONNECTION_NOTIFICATION,
        prefix::VPC_ENDPOINT,
        prefix::VPC,
        prefix::SUBNET,
        prefix::SECURITY_GROUP_RULE,
        prefix::SECURITY_GROUP,
        prefix::NETWORK_INTERFACE,
        prefix::INSTANCE,
    ];
    ORDER.iter().copied().find(|p| is_well_formed(p, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_well_formed_and_distinct() {
        let a = new_id(prefix::VPC_ENDPOINT);
        let b = new_id(prefix::VPC_ENDPOINT);
        assert_ne!(a, b);
        assert_eq!(a.len(), "vpce-".len() + 17);
        assert!(is_well_formed(prefix::VPC_ENDPOINT, &a));
        assert!(!is_well_formed(prefix::VPC_ENDPOINT_SERVICE, &a));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!(!is_well_formed("vpc", "vpc-"));
        assert!(!is_well_formed("vpc", "vpc-XYZ"));
        assert!(!is_well_formed("vpc", "vpc-0123456789abcdef")); // 16 hex
        assert!(is_well_formed("vpc", "vpc-0123456789abcdef0"));
        assert!(is_well_formed("vpc", "vpc-0123abcd"));
        assert!(!is_well_formed("vpc", "vpc-0123456789ABCDEF0"));
    }

    #[test]
    fn kind_prefers_the_longest_prefix() {
        assert_eq!(kind_of("vpce-svc-0123456789abcdef0"), Some("vpce-svc"));
        assert_eq!(kind_of("vpce-0123456789abcdef0"), Some("vpce"));
        assert_eq!(kind_of("vpc-0123456789abcdef0"), Some("vpc"));
        assert_eq!(kind_of("sgr-0123456789abcdef0"), Some("sgr"));
        assert_eq!(kind_of("nope"), None);
    }
}
