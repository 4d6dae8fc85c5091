//! PrivateLink: endpoint services, interface endpoints, permissions, notifications.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, Resource, Tag};

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

    /// Whether the endpoint holds a live connection to its service (blocks service deletion).
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

/// A principal allowed to discover and connect to a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedPrincipal {
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
    pub allowed_principals: Vec<AllowedPrincipal>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
}

impl EndpointService {
    /// Whether `account` may see and connect to this service.
    pub fn visible_to(&self, account: &str) -> bool {
        self.owner == account || self.allowed_principals.iter().any(|p| p.allows(account))
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
    pub last_error: Option<(String, String)>,
    pub tags: Vec<Tag>,
    pub created: OffsetDateTime,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointEvent as E;
    use EndpointState as S;

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
        assert!(S::Deleted.next(E::Delete).is_err());
        assert!(S::PendingAcceptance.next(E::Ready).is_err());
        assert!(S::Deleting.next(E::Reject).is_err());
    }

    #[test]
    fn reject_and_delete() {
        assert_eq!(S::Available.next(E::Reject).expect("reject"), S::Rejected);
        assert_eq!(S::Rejected.next(E::Delete).expect("delete"), S::Deleting);
        assert_eq!(S::Deleting.next(E::Deleted).expect("deleted"), S::Deleted);
        assert!(S::Available.is_live() && !S::Rejected.is_live());
    }

    #[test]
    fn wire_names() {
        assert_eq!(S::PendingAcceptance.as_str(), "pendingAcceptance");
        assert_eq!(S::parse("pendingacceptance"), Some(S::PendingAcceptance));
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
}
