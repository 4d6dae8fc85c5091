//! PrivateLink: endpoint services, interface endpoints, permissions, notifications — their
//! records, state machines, names and the validation of the identifiers they take.

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids;
use crate::{AccountId, Resource, Tag};

/// Prefix of endpoint connection ids (`vpce-con-<17 hex>`); AWS does not document the format.
pub const CONNECTION_ID_PREFIX: &str = "vpce-con";

/// The Route 53 zone that AWS's generated endpoint names live in (`Z7HUB22UULQXV`, the value
/// AWS shows for `*.vpce.amazonaws.com` names). privlink answers the same id in every region.
pub const ENDPOINT_HOSTED_ZONE_ID: &str = "Z7HUB22UULQXV";

/// Interface endpoints per VPC (AWS's default quota).
pub const MAX_INTERFACE_ENDPOINTS_PER_VPC: usize = 50;

/// Largest endpoint policy AWS accepts, in characters.
pub const MAX_POLICY_CHARS: usize = 20_480;

/// The events a connection notification can subscribe to.
pub const CONNECTION_EVENTS: &[&str] = &["Accept", "Connect", "Delete", "Reject"];

/// Endpoint service states, capitalised on the wire as AWS sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceState {
    Pending,
    Available,
    Deleting,
    Deleted,
    Failed,
}

impl ServiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Pending => "Pending",
            ServiceState::Available => "Available",
            ServiceState::Deleting => "Deleting",
            ServiceState::Deleted => "Deleted",
            ServiceState::Failed => "Failed",
        }
    }
}

/// Endpoint states, lowerCamel on the wire as AWS sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointState {
    PendingAcceptance,
    Pending,
    Available,
    Rejected,
    Deleting,
    Deleted,
    Failed,
}

/// What happens to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The provider accepts the connection request.
    Accept,
    /// The provider rejects the request or the live connection.
    Reject,
    /// The data path is ready (until there is a data plane: the records are complete).
    Ready,
    /// The path could not be built.
    Fail,
    /// The consumer deletes the endpoint.
    Delete,
    /// The deletion is complete.
    Deleted,
}

/// An event that does not apply to the endpoint's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("endpoint in state {from:?} cannot take event {event:?}")]
pub struct InvalidTransition {
    pub from: EndpointState,
    pub event: EndpointEvent,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::PendingAcceptance => "pendingAcceptance",
            EndpointState::Pending => "pending",
            EndpointState::Available => "available",
            EndpointState::Rejected => "rejected",
            EndpointState::Deleting => "deleting",
            EndpointState::Deleted => "deleted",
            EndpointState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<EndpointState> {
        [
            EndpointState::PendingAcceptance,
            EndpointState::Pending,
            EndpointState::Available,
            EndpointState::Rejected,
            EndpointState::Deleting,
            EndpointState::Deleted,
            EndpointState::Failed,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    /// The state an endpoint starts in.
    pub fn initial(acceptance_required: bool) -> EndpointState {
        if acceptance_required {
            EndpointState::PendingAcceptance
        } else {
            EndpointState::Pending
        }
    }

    /// AWS's endpoint lifecycle: `pendingAcceptance → pending → available`, `rejected`,
    /// `deleting → deleted`, `failed`.
    pub fn next(self, event: EndpointEvent) -> Result<EndpointState, InvalidTransition> {
        use EndpointEvent as E;
        use EndpointState as S;
        let to = match (self, event) {
            (S::PendingAcceptance, E::Accept) => S::Pending,
            (S::PendingAcceptance | S::Pending | S::Available, E::Reject) => S::Rejected,
            // A rejected endpoint can be accepted again, as on AWS.
            (S::Rejected, E::Accept) => S::Pending,
            (S::Pending, E::Ready) => S::Available,
            (S::Pending, E::Fail) => S::Failed,
            (
                S::PendingAcceptance | S::Pending | S::Available | S::Rejected | S::Failed,
                E::Delete,
            ) => S::Deleting,
            (S::Deleting, E::Deleted) => S::Deleted,
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        Ok(to)
    }

    /// Whether the endpoint holds a live connection to its service (blocks service deletion
    /// and load balancer changes).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            EndpointState::PendingAcceptance | EndpointState::Pending | EndpointState::Available
        )
    }
}

/// The ownership proof of a service's private DNS name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateDnsNameConfiguration {
    /// `pendingVerification`, `verified` or `failed`.
    pub state: String,
    /// The TXT record name, `_<random>`.
    pub name: String,
    /// The TXT record value, `vpce:<random>`.
    pub value: String,
}

impl PrivateDnsNameConfiguration {
    /// A fresh challenge, as AWS makes one for every new private DNS name: the record name is
    /// `_` and 20 lowercase alphanumerics, the value `vpce:` and 20 mixed-case alphanumerics
    /// (e.g. `_6e86v84tqgqubxbwii1m` / `vpce:l6p0ERxlTt45jevFwOCp`).
    pub fn new_challenge() -> PrivateDnsNameConfiguration {
        const MIXED: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut rng = rand::rng();
        let value: String = (0..20)
            .map(|_| MIXED[rng.random_range(0..MIXED.len())] as char)
            .collect();
        PrivateDnsNameConfiguration {
            state: "pendingVerification".into(),
            name: format!("_{}", ids::random_alnum(20)),
            value: format!("vpce:{value}"),
        }
    }

    pub fn is_verified(&self) -> bool {
        self.state == "verified"
    }
}

/// A principal allowed to discover and connect to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedPrincipal {
    /// The service permission id (`vpce-spp-<17 hex>`).
    pub id: String,
    pub principal: String,
    /// `All`, `Account`, `User`, `Role`.
    pub principal_type: String,
}

impl AllowedPrincipal {
    /// Whether this permission lets `account` use the service.
    pub fn allows(&self, account: &str) -> bool {
        if self.principal == "*" {
            return true;
        }
        // arn:aws:iam::<account>:root | :user/<n> | :role/<n> — any principal of that account
        // grants the account, as privlink's callers are whole accounts.
        self.principal
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next())
            .is_some_and(|acct| acct == account)
    }
}

/// The principal type of an allowed-principal value, or `None` when AWS would refuse it:
/// `*` (All), `arn:aws:iam::<12 digits>:root` (Account), `…:user/<name>` (User),
/// `…:role/<name>` (Role). Names with a path (`role/a/b`) are not supported, as on AWS.
pub fn principal_type(principal: &str) -> Option<&'static str> {
    if principal == "*" {
        return Some("All");
    }
    let rest = principal.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    if !is_account_id(account) {
        return None;
    }
    if resource == "root" {
        return Some("Account");
    }
    let (kind, name) = resource.split_once('/')?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    match kind {
        "user" if name_ok => Some("User"),
        "role" if name_ok => Some("Role"),
        _ => None,
    }
}

/// Whether `s` is a 12-digit account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The parts of a Network Load Balancer ARN,
/// `arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/net/<name>/<16 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlbArn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub name: &'a str,
}

/// Parses a Network Load Balancer ARN; `None` if it is not one.
pub fn parse_nlb_arn(arn: &str) -> Option<NlbArn<'_>> {
    let rest = arn.strip_prefix("arn:aws:elasticloadbalancing:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    let resource = resource.strip_prefix("loadbalancer/net/")?;
    let (name, id) = resource.split_once('/')?;
    let name_ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (crate::region::Region::is_valid_name(region) && is_account_id(account) && name_ok && id_ok)
        .then_some(NlbArn {
            region,
            account,
            name,
        })
}

/// Whether `arn` is an SNS topic ARN, `arn:aws:sns:<region>:<account>:<topic>` (topic: 1–256
/// of letters, digits, `-`, `_`, optionally ending in `.fifo`).
pub fn is_sns_topic_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws:sns:") else {
        return false;
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(region), Some(account), Some(topic)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let base = topic.strip_suffix(".fifo").unwrap_or(topic);
    crate::region::Region::is_valid_name(region)
        && is_account_id(account)
        && !base.is_empty()
        && topic.len() <= 256
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `name` can be a service's private DNS name: a fully qualified domain name of at
/// least two labels (letters, digits, hyphens; no label starting or ending with a hyphen),
/// optionally starting with a `*.` wildcard, at most 255 characters.
pub fn is_valid_private_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let body = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = body.split('.').collect();
    name.len() <= 255
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The TXT record names that prove ownership of `private_dns_name` with the challenge record
/// name `challenge` (`_<random>`), most specific first: the challenge name under the private
/// DNS name and under each parent domain (verifying a parent covers its subdomains) down to
/// two labels, then the same domains without the prefix (for DNS hosts that refuse
/// underscores). A leading `*.` is not part of the domain.
pub fn verification_record_names(private_dns_name: &str, challenge: &str) -> Vec<String> {
    let name = private_dns_name.trim_end_matches('.').to_ascii_lowercase();
    let name = name.strip_prefix("*.").unwrap_or(&name);
    let labels: Vec<&str> = name.split('.').collect();
    let domains: Vec<String> = (0..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .collect();
    domains
        .iter()
        .map(|d| format!("{challenge}.{d}"))
        .chain(domains.iter().cloned())
        .collect()
}

/// `com.amazonaws.vpce.<region>.<service id>`.
pub fn service_name(region: &str, service_id: &str) -> String {
    format!("com.amazonaws.vpce.{region}.{service_id}")
}

/// `<service id>.<region>.vpce.amazonaws.com`.
pub fn base_endpoint_dns_name(region: &str, service_id: &str) -> String {
    format!("{service_id}.{region}.vpce.amazonaws.com")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointService {
    pub id: String,
    pub owner: AccountId,
    pub name: String,
    pub state: ServiceState,
    pub acceptance_required: bool,
    pub network_load_balancer_arns: Vec<String>,
    pub supported_ip_address_types: Vec<String>,
    pub private_dns_name: Option<String>,
    pub private_dns_name_configuration: Option<PrivateDnsNameConfiguration>,
    /// When the provider last asked for the private DNS name to be verified.
    #[serde(default)]
    pub private_dns_verification_requested: Option<OffsetDateTime>,
    /// When the TXT record was last looked up (by a requested or a periodic check).
    #[serde(default)]
    pub private_dns_last_checked: Option<OffsetDateTime>,
    pub allowed_principals: Vec<AllowedPrincipal>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
}

impl EndpointService {
    /// Whether `account` may see and connect to this service.
    pub fn visible_to(&self, account: &str) -> bool {
        self.owner == account || self.allowed_principals.iter().any(|p| p.allows(account))
    }

    /// The private DNS name consumers may use: only once its ownership is verified.
    pub fn verified_private_dns_name(&self) -> Option<&str> {
        match (&self.private_dns_name, &self.private_dns_name_configuration) {
            (Some(name), Some(c)) if c.is_verified() => Some(name),
            _ => None,
        }
    }
}

impl Resource for EndpointService {
    const KIND: &'static str = "vpce-svc";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
}

/// One endpoint ENI: the endpoint's address in one consumer subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInterface {
    pub subnet_id: String,
    pub zone: String,
    pub network_interface_id: String,
    pub private_ip: std::net::Ipv4Addr,
}

/// One `dnsEntrySet` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEntry {
    pub dns_name: String,
    pub hosted_zone_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcEndpoint {
    pub id: String,
    pub owner: AccountId,
    pub vpc_id: String,
    pub service_id: String,
    pub service_name: String,
    /// The service owner, so the provider's views can find their connections.
    pub service_owner: AccountId,
    pub state: EndpointState,
    pub interfaces: Vec<EndpointInterface>,
    pub security_group_ids: Vec<String>,
    pub private_dns_enabled: bool,
    pub ip_address_type: String,
    pub policy_document: Option<String>,
    /// The 8-character label that makes the endpoint's DNS names unique.
    pub dns_label: String,
    pub connection_id: String,
    /// `(code, message)` of the last failure.
    pub last_error: Option<(String, String)>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
}

impl VpcEndpoint {
    /// AWS's `dnsEntrySet`: the regional name
    /// `<vpce id>-<label>.<service id>.<region>.vpce.amazonaws.com`, then one zonal name
    /// `<vpce id>-<label>-<zone>.…` per subnet, then (with private DNS) the private name in its
    /// private hosted zone.
    pub fn dns_entries(&self, region: &str, private_dns_name: Option<&str>) -> Vec<DnsEntry> {
        let suffix = format!("{}.{region}.vpce.amazonaws.com", self.service_id);
        let public = |name: String| DnsEntry {
            dns_name: name,
            hosted_zone_id: ENDPOINT_HOSTED_ZONE_ID.to_string(),
        };
        let mut out = vec![public(format!("{}-{}.{suffix}", self.id, self.dns_label))];
        out.extend(self.interfaces.iter().map(|i| {
            public(format!(
                "{}-{}-{}.{suffix}",
                self.id, self.dns_label, i.zone
            ))
        }));
        if let (true, Some(name)) = (self.private_dns_enabled, private_dns_name) {
            out.push(DnsEntry {
                dns_name: name.to_string(),
                hosted_zone_id: self.private_hosted_zone_id(),
            });
        }
        out
    }

    /// The id of the private hosted zone that holds the service's private DNS name in the
    /// consumer VPC: Route 53's shape (`Z` and 20 uppercase alphanumerics), derived from the
    /// endpoint id so it is stable without being stored.
    pub fn private_hosted_zone_id(&self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        // FNV-1a over the id, then a splitmix step per character: stable and well spread.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.id.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut out = String::from("Z");
        for _ in 0..20 {
            h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = h;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            out.push(ALPHABET[(z % ALPHABET.len() as u64) as usize] as char);
        }
        out
    }
}

impl Resource for VpcEndpoint {
    const KIND: &'static str = "vpce";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.service_id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionNotification {
    pub id: String,
    pub owner: AccountId,
    pub service_id: Option<String>,
    pub vpc_endpoint_id: Option<String>,
    pub arn: String,
    pub events: Vec<String>,
    /// `Enabled` or `Disabled`.
    pub state: String,
}

impl Resource for ConnectionNotification {
    const KIND: &'static str = "vpce-nfn";
    fn id(&self) -> &str {
        &self.id
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    fn parent(&self) -> Option<&str> {
        // Notifications go when the service or endpoint they watch goes.
        self.service_id
            .as_deref()
            .or(self.vpc_endpoint_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointEvent as E;
    use EndpointState as S;

    const ALL_STATES: [S; 7] = [
        S::PendingAcceptance,
        S::Pending,
        S::Available,
        S::Rejected,
        S::Deleting,
        S::Deleted,
        S::Failed,
    ];
    const ALL_EVENTS: [E; 6] = [
        E::Accept,
        E::Reject,
        E::Ready,
        E::Fail,
        E::Delete,
        E::Deleted,
    ];

    #[test]
    fn acceptance_path() {
        let s = S::initial(true);
        assert_eq!(s, S::PendingAcceptance);
        let s = s.next(E::Accept).expect("accept");
        assert_eq!(s, S::Pending);
        assert_eq!(s.next(E::Ready).expect("ready"), S::Available);
        assert_eq!(S::initial(false), S::Pending);
    }

    #[test]
    fn invalid_transitions_are_refused() {
        assert!(S::Available.next(E::Accept).is_err());
        assert!(S::Pending.next(E::Accept).is_err());
        assert!(S::Deleted.next(E::Delete).is_err());
        assert!(S::Deleting.next(E::Delete).is_err());
        assert!(S::PendingAcceptance.next(E::Ready).is_err());
        assert!(S::Deleting.next(E::Reject).is_err());
        assert!(S::Rejected.next(E::Reject).is_err());
        assert!(S::Available.next(E::Deleted).is_err());
    }

    #[test]
    fn reject_and_delete() {
        assert_eq!(S::Available.next(E::Reject).expect("reject"), S::Rejected);
        assert_eq!(S::Pending.next(E::Reject).expect("reject"), S::Rejected);
        assert_eq!(
            S::PendingAcceptance.next(E::Reject).expect("reject"),
            S::Rejected
        );
        assert_eq!(S::Rejected.next(E::Accept).expect("re-accept"), S::Pending);
        assert_eq!(S::Rejected.next(E::Delete).expect("delete"), S::Deleting);
        assert_eq!(S::Deleting.next(E::Deleted).expect("deleted"), S::Deleted);
        assert_eq!(S::Pending.next(E::Fail).expect("fail"), S::Failed);
        assert_eq!(S::Failed.next(E::Delete).expect("delete"), S::Deleting);
        assert!(S::Available.is_live() && !S::Rejected.is_live());
    }

    #[test]
    fn deleted_is_terminal_and_every_live_state_can_be_deleted() {
        for ev in ALL_EVENTS {
            assert!(S::Deleted.next(ev).is_err(), "{ev:?}");
        }
        for st in ALL_STATES {
            let deletable = !matches!(st, S::Deleting | S::Deleted);
            assert_eq!(st.next(E::Delete).is_ok(), deletable, "{st:?}");
        }
        // Only the live states count against service deletion.
        let live: Vec<S> = ALL_STATES.into_iter().filter(|s| s.is_live()).collect();
        assert_eq!(live, vec![S::PendingAcceptance, S::Pending, S::Available]);
    }

    #[test]
    fn wire_names() {
        assert_eq!(S::PendingAcceptance.as_str(), "pendingAcceptance");
        assert_eq!(S::parse("pendingacceptance"), Some(S::PendingAcceptance));
        for st in ALL_STATES {
            assert_eq!(S::parse(st.as_str()), Some(st));
        }
        assert_eq!(S::parse("nope"), None);
        assert_eq!(ServiceState::Available.as_str(), "Available");
    }

    #[test]
    fn principals() {
        let p = |s: &str| AllowedPrincipal {
            id: "x".into(),
            principal: s.into(),
            principal_type: "Account".into(),
        };
        assert!(p("*").allows("111111111111"));
        assert!(p("arn:aws:iam::111111111111:root").allows("111111111111"));
        assert!(!p("arn:aws:iam::111111111111:root").allows("222222222222"));
        assert!(p("arn:aws:iam::222222222222:role/x").allows("222222222222"));
    }

    #[test]
    fn principal_types() {
        assert_eq!(principal_type("*"), Some("All"));
        assert_eq!(
            principal_type("arn:aws:iam::123456789012:root"),
            Some("Account")
        );
        assert_eq!(
            principal_type("arn:aws:iam::123456789012:user/alice"),
            Some("User")
        );
        assert_eq!(
            principal_type("arn:aws:iam::123456789012:role/Admin-1"),
            Some("Role")
        );
        for bad in [
            "",
            "123456789012",
            "arn:aws:iam::12345678901:root",
            "arn:aws:iam::1234567890123:root",
            "arn:aws:iam::abcdefghijkl:root",
            "arn:aws:iam::123456789012:group/g",
            "arn:aws:iam::123456789012:role/path/name",
            "arn:aws:iam::123456789012:user/",
            "arn:aws:sts::123456789012:root",
            "**",
        ] {
            assert_eq!(principal_type(bad), None, "{bad}");
        }
    }

    #[test]
    fn nlb_arns() {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb-vpce/e94221227f1ba532";
        let got = parse_nlb_arn(arn).expect("valid");
        assert_eq!(got.region, "us-east-1");
        assert_eq!(got.account, "123456789012");
        assert_eq!(got.name, "nlb-vpce");
        for bad in [
            "nope",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/alb/e94221227f1ba532",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb/e94221227f1ba53",
            "arn:aws:elasticloadbalancing:us-east-1:12345:loadbalancer/net/nlb/e94221227f1ba532",
            "arn:aws:elasticloadbalancing:useast:123456789012:loadbalancer/net/nlb/e94221227f1ba532",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net//e94221227f1ba532",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/e94221227f1ba532",
        ] {
            assert!(parse_nlb_arn(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sns_topic_arns() {
        assert!(is_sns_topic_arn(
            "arn:aws:sns:us-east-1:123456789012:my-topic"
        ));
        assert!(is_sns_topic_arn(
            "arn:aws:sns:us-east-1:123456789012:t_1.fifo"
        ));
        for bad in [
            "my-topic",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1:123:topic",
            "arn:aws:sqs:us-east-1:123456789012:topic",
            "arn:aws:sns:us-east-1:123456789012:bad topic",
            "arn:aws:sns:us-east-1:123456789012:a:b",
        ] {
            assert!(!is_sns_topic_arn(bad), "{bad}");
        }
    }

    #[test]
    fn verification_looks_at_the_name_and_its_parents() {
        assert_eq!(
            verification_record_names("*.API.example.com.", "_abc"),
            [
                "_abc.api.example.com",
                "_abc.example.com",
                "api.example.com",
                "example.com"
            ]
        );
        assert_eq!(
            verification_record_names("example.com", "_x"),
            ["_x.example.com", "example.com"]
        );
    }

    #[test]
    fn private_dns_names() {
        assert!(is_valid_private_dns_name("service.example.com"));
        assert!(is_valid_private_dns_name("*.example.com"));
        assert!(is_valid_private_dns_name("a-b.example.com."));
        for bad in [
            "",
            "com",
            "-a.example.com",
            "a..com",
            "a b.com",
            "*.com",
            "a.*.com",
        ] {
            assert!(!is_valid_private_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn dns_challenge_has_aws_shape() {
        let c = PrivateDnsNameConfiguration::new_challenge();
        assert_eq!(c.state, "pendingVerification");
        let name = c.name.strip_prefix('_').expect("underscore");
        assert_eq!(name.len(), 20);
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        let value = c.value.strip_prefix("vpce:").expect("vpce:");
        assert_eq!(value.len(), 20);
        assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(c, PrivateDnsNameConfiguration::new_challenge());
        assert!(!c.is_verified());
    }

    #[test]
    fn names_and_dns_entries() {
        assert_eq!(
            service_name("us-east-1", "vpce-svc-03d5ebb7d9579a2b3"),
            "com.amazonaws.vpce.us-east-1.vpce-svc-03d5ebb7d9579a2b3"
        );
        assert_eq!(
            base_endpoint_dns_name("us-east-2", "vpce-svc-071afff70666e61e0"),
            "vpce-svc-071afff70666e61e0.us-east-2.vpce.amazonaws.com"
        );
        let iface = |zone: &str| EndpointInterface {
            subnet_id: "subnet-1".into(),
            zone: zone.into(),
            network_interface_id: "eni-1".into(),
            private_ip: std::net::Ipv4Addr::new(10, 0, 0, 4),
        };
        let mut e = VpcEndpoint {
            id: "vpce-0f23e813f5bc8bb4f".into(),
            owner: "222222222222".into(),
            vpc_id: "vpc-1".into(),
            service_id: "vpce-svc-018d21e01fc2ec2aa".into(),
            service_name: "x".into(),
            service_owner: "111111111111".into(),
            state: S::Pending,
            interfaces: vec![iface("us-east-1c"), iface("us-east-1a")],
            security_group_ids: vec![],
            private_dns_enabled: false,
            ip_address_type: "ipv4".into(),
            policy_document: None,
            dns_label: "y96eipmp".into(),
            connection_id: "vpce-con-1".into(),
            last_error: None,
            tags: vec![],
            created: OffsetDateTime::UNIX_EPOCH,
        };
        let names: Vec<String> = e
            .dns_entries("us-east-1", Some("svc.example.com"))
            .into_iter()
            .map(|d| d.dns_name)
            .collect();
        assert_eq!(
            names,
            vec![
                "vpce-0f23e813f5bc8bb4f-y96eipmp.vpce-svc-018d21e01fc2ec2aa.us-east-1.vpce.amazonaws.com",
                "vpce-0f23e813f5bc8bb4f-y96eipmp-us-east-1c.vpce-svc-018d21e01fc2ec2aa.us-east-1.vpce.amazonaws.com",
                "vpce-0f23e813f5bc8bb4f-y96eipmp-us-east-1a.vpce-svc-018d21e01fc2ec2aa.us-east-1.vpce.amazonaws.com",
            ]
        );
        e.private_dns_enabled = true;
        let entries = e.dns_entries("us-east-1", Some("svc.example.com"));
        let last = entries.last().expect("private entry");
        assert_eq!(last.dns_name, "svc.example.com");
        assert!(
            entries[..3]
                .iter()
                .all(|d| d.hosted_zone_id == ENDPOINT_HOSTED_ZONE_ID)
        );
        let z = e.private_hosted_zone_id();
        assert_eq!(last.hosted_zone_id, z);
        assert_eq!(z.len(), 21);
        assert!(z.starts_with('Z') && !z.bytes().any(|b| b.is_ascii_lowercase()));
        assert_eq!(z, e.private_hosted_zone_id(), "stable");
        e.id = "vpce-0f23e813f5bc8bb4e".into();
        assert_ne!(z, e.private_hosted_zone_id(), "distinct per endpoint");
    }
}
