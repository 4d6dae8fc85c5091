//! Private DNS on this host: the store's world in the resolver's terms ([`dns_records`], pure)
//! and a resolver serving each VPC with DNS support at its base+2 address, inside its router
//! namespace ([`VpcResolvers`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use control::reconcile::World;
use dns::{Dns, Records, Serving, View, ViewId};
use fabric::{DesiredNetwork, Fabric};
use model::net::private_dns_name;
use model::vpce::EndpointService;

/// The port every VPC resolver answers on.
const DNS_PORT: u16 = 53;

/// The zone of the endpoint names AWS publishes: `<region>.vpce.amazonaws.com`.
fn endpoint_zone(region: &str) -> String {
    format!("{region}.vpce.amazonaws.com")
}

/// The zone of instance host names: `ec2.internal` in us-east-1, `<region>.compute.internal`
/// elsewhere (the part of [`private_dns_name`] after the host label).
fn host_zone(region: &str) -> String {
    let name = private_dns_name(region, Ipv4Addr::UNSPECIFIED);
    name.split_once('.')
        .map_or(name.clone(), |(_, z)| z.to_owned())
}

/// What the resolvers answer for `world`, as AWS's DNS would:
///
/// - everywhere (every VPC and the host's public view): each live endpoint's regional name
///   with all its interface addresses, and its zonal names with the address in that zone;
/// - in each VPC with DNS support: the host name of every network interface in it
///   (`ip-10-0-1-5.ec2.internal`, and its PTR), and for each live endpoint in it with private
///   DNS enabled, its service's verified private DNS name with the endpoint's addresses — in
///   that VPC only, like the private hosted zone AWS associates with it.
pub fn dns_records(world: &World, region: &str) -> Records {
    let mut public = View {
        zones: vec![endpoint_zone(region)],
        ..View::default()
    };
    let services: HashMap<&str, &EndpointService> = world
        .endpoint_services
        .iter()
        .map(|s| (s.id.as_str(), s))
        .collect();
    let mut vpcs: BTreeMap<String, View> = world
        .vpcs
        .iter()
        .filter(|v| v.dns_support)
        .map(|v| {
            let view = View {
                zones: vec![host_zone(region)],
                ..View::default()
            };
            (v.id.clone(), view)
        })
        .collect();
    for eni in &world.interfaces {
        if let Some(view) = vpcs.get_mut(&eni.vpc_id) {
            let name = private_dns_name(region, eni.private_ip);
            view.names
                .entry(name.clone())
                .or_default()
                .push(eni.private_ip);
            view.ptr.insert(eni.private_ip, name);
        }
    }
    for e in &world.endpoints {
        if !e.state.is_live() || e.interfaces.is_empty() {
            continue;
        }
        let addresses: Vec<Ipv4Addr> = e.interfaces.iter().map(|i| i.private_ip).collect();
        let entries = e.dns_entries(region, None);
        let mut entries = entries.into_iter();
        if let Some(regional) = entries.next() {
            public
                .names
                .insert(lower(&regional.dns_name), addresses.clone());
        }
        // One zonal name per interface, in the same order.
        for (zonal, iface) in entries.zip(&e.interfaces) {
            public
                .names
                .insert(lower(&zonal.dns_name), vec![iface.private_ip]);
        }
        let private = services
            .get(e.service_id.as_str())
            .and_then(|s| s.verified_private_dns_name());
        if let (true, Some(name), Some(view)) =
            (e.private_dns_enabled, private, vpcs.get_mut(&e.vpc_id))
        {
            let name = lower(name);
            let zone = name.strip_prefix("*.").unwrap_or(&name).to_owned();
            if !view.zones.contains(&zone) {
                view.zones.push(zone);
            }
            view.names.entry(name).or_default().extend(&addresses);
        }
    }
    Records { public, vpcs }
}

fn lower(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The VPC resolvers of this host: one [`Serving`] of the shared [`Dns`] per VPC with DNS
/// support, on UDP and TCP port 53 of its base+2 address in its router namespace (held there
/// by the fabric).
pub struct VpcResolvers {
    dns: Dns,
    region: String,
    serving: Mutex<BTreeMap<String, (Ipv4Addr, Serving)>>,
}

impl std::fmt::Debug for VpcResolvers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpcResolvers")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl VpcResolvers {
    pub fn new(dns: Dns, region: impl Into<String>) -> VpcResolvers {
        VpcResolvers {
            dns,
            region: region.into(),
            serving: Mutex::new(BTreeMap::new()),
        }
    }

    /// The records of `world`, answered from now on.
    pub fn apply_records(&self, world: &World) {
        self.dns.apply(dns_records(world, &self.region));
    }

    /// Stops serving the VPCs that `desired` no longer serves at the same address, before the
    /// fabric takes their address or namespace away (an open socket would keep a deleted
    /// namespace alive).
    pub fn stop_removed(&self, desired: &DesiredNetwork) {
        let wanted = wanted(desired);
        let mut serving = self.lock();
        serving.retain(|vpc, (ip, _)| wanted.get(vpc.as_str()) == Some(ip));
    }

    /// Serves every VPC of `desired` with a resolver address whose router converged (not in
    /// `failed_vpcs`). Returns whether every one is served.
    pub async fn serve(
        &self,
        fabric: &Fabric,
        desired: &DesiredNetwork,
        failed_vpcs: &HashSet<&str>,
    ) -> bool {
        let mut ok = true;
        for (vpc, ip) in wanted(desired) {
            if failed_vpcs.contains(vpc) || self.lock().contains_key(vpc) {
                continue;
            }
            match self.bind(fabric, vpc, ip).await {
                Ok(serving) => {
                    tracing::debug!(vpc, %ip, "VPC resolver serving");
                    self.lock().insert(vpc.to_owned(), (ip, serving));
                }
                Err(e) => {
                    tracing::warn!(vpc, %ip, error = %e, "VPC resolver not served");
                    ok = false;
                }
            }
        }
        ok
    }

    async fn bind(&self, fabric: &Fabric, vpc: &str, ip: Ipv4Addr) -> Result<Serving, String> {
        let ns = fabric.vpc_netns(vpc).map_err(|e| e.to_string())?;
        let addr = SocketAddr::from((ip, DNS_PORT));
        let udp = ns.udp_socket(addr).await.map_err(|e| e.to_string())?;
        let tcp = ns.tcp_listener(addr).await.map_err(|e| e.to_string())?;
        self.dns
            .serve(ViewId::Vpc(vpc.to_owned()), udp, tcp)
            .map_err(|e| e.to_string())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, (Ipv4Addr, Serving)>> {
        self.serving.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn wanted(desired: &DesiredNetwork) -> BTreeMap<&str, Ipv4Addr> {
    desired
        .vpcs
        .iter()
        .filter_map(|v| Some((v.id.as_str(), v.resolver?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use model::net::{InterfaceType, NetworkInterface, Vpc};
    use model::vpce::{
        EndpointInterface, EndpointState, PrivateDnsNameConfiguration, ServiceState, VpcEndpoint,
    };
    use time::OffsetDateTime;

    use super::*;

    fn vpc(id: &str, dns_support: bool) -> Vpc {
        Vpc {
            id: id.into(),
            owner: "222222222222".into(),
            cidr: "10.0.0.0/16".parse().expect("cidr"),
            cidr_association_id: "vpc-cidr-assoc-1".into(),
            dhcp_options_id: "default".into(),
            instance_tenancy: "default".into(),
            dns_support,
            dns_hostnames: dns_support,
            nau_metrics: false,
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn eni(vpc_id: &str, ip: [u8; 4]) -> NetworkInterface {
        NetworkInterface {
            id: format!("eni-{}", ip[3]),
            owner: "222222222222".into(),
            subnet_id: "subnet-1".into(),
            vpc_id: vpc_id.into(),
            zone: "us-east-1a".into(),
            private_ip: Ipv4Addr::from(ip),
            mac_address: "02:00:00:00:00:01".into(),
            interface_type: InterfaceType::Interface,
            requester_id: None,
            requester_managed: false,
            description: String::new(),
            security_group_ids: Vec::new(),
            attached_instance_id: None,
            tags: Vec::new(),
        }
    }

    fn service(state: &str) -> EndpointService {
        EndpointService {
            id: "vpce-svc-0123456789abcdef0".into(),
            owner: "111111111111".into(),
            name: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into(),
            state: ServiceState::Available,
            acceptance_required: false,
            network_load_balancer_arns: Vec::new(),
            supported_ip_address_types: vec!["ipv4".into()],
            private_dns_name: Some("API.Example.com".into()),
            private_dns_name_configuration: Some(PrivateDnsNameConfiguration {
                state: state.into(),
                name: "_x".into(),
                value: "vpce:y".into(),
            }),
            private_dns_verification_requested: None,
            private_dns_last_checked: None,
            allowed_principals: Vec::new(),
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn endpoint(id: &str, vpc_id: &str, private_dns: bool, ips: &[[u8; 4]]) -> VpcEndpoint {
        VpcEndpoint {
            id: id.into(),
            owner: "222222222222".into(),
            vpc_id: vpc_id.into(),
            service_id: "vpce-svc-0123456789abcdef0".into(),
            service_name: "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0".into(),
            service_owner: "111111111111".into(),
            state: EndpointState::Available,
            interfaces: ips
                .iter()
                .enumerate()
                .map(|(i, ip)| EndpointInterface {
                    subnet_id: format!("subnet-{i}"),
                    zone: format!("us-east-1{}", ['a', 'b'][i]),
                    network_interface_id: format!("eni-e{i}"),
                    private_ip: Ipv4Addr::from(*ip),
                })
                .collect(),
            security_group_ids: Vec::new(),
            private_dns_enabled: private_dns,
            ip_address_type: "ipv4".into(),
            policy_document: None,
            dns_label: "abcd1234".into(),
            connection_id: "vpce-con-1".into(),
            last_error: None,
            tags: Vec::new(),
            created: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn world(service_state: &str) -> World {
        World {
            vpcs: vec![
                vpc("vpc-c", true),
                vpc("vpc-p", true),
                vpc("vpc-off", false),
            ],
            interfaces: vec![eni("vpc-c", [10, 0, 1, 5]), eni("vpc-off", [10, 0, 1, 6])],
            endpoint_services: vec![service(service_state)],
            endpoints: vec![
                endpoint(
                    "vpce-0aaaaaaaaaaaaaaaa",
                    "vpc-c",
                    true,
                    &[[10, 0, 1, 50], [10, 0, 2, 50]],
                ),
                endpoint(
                    "vpce-0bbbbbbbbbbbbbbbb",
                    "vpc-off",
                    false,
                    &[[10, 0, 1, 60]],
                ),
            ],
            ..World::default()
        }
    }

    const SUFFIX: &str = "vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com";

    #[test]
    fn endpoint_names_are_public_and_private_names_stay_in_their_vpc() {
        let r = dns_records(&world("verified"), "us-east-1");
        assert_eq!(r.public.zones, ["us-east-1.vpce.amazonaws.com"]);
        let a = |n: &str| r.public.names.get(n).cloned().unwrap_or_default();
        assert_eq!(
            a(&format!("vpce-0aaaaaaaaaaaaaaaa-abcd1234.{SUFFIX}")),
            [Ipv4Addr::new(10, 0, 1, 50), Ipv4Addr::new(10, 0, 2, 50)]
        );
        assert_eq!(
            a(&format!(
                "vpce-0aaaaaaaaaaaaaaaa-abcd1234-us-east-1b.{SUFFIX}"
            )),
            [Ipv4Addr::new(10, 0, 2, 50)]
        );
        assert_eq!(
            a(&format!("vpce-0bbbbbbbbbbbbbbbb-abcd1234.{SUFFIX}")),
            [Ipv4Addr::new(10, 0, 1, 60)]
        );
        // No view for a VPC without DNS support; the private name only in the consumer's.
        assert_eq!(
            r.vpcs.keys().collect::<Vec<_>>(),
            ["vpc-c", "vpc-p"].iter().collect::<Vec<_>>()
        );
        let c = &r.vpcs["vpc-c"];
        assert_eq!(c.zones, ["ec2.internal", "api.example.com"]);
        assert_eq!(
            c.names["api.example.com"],
            [Ipv4Addr::new(10, 0, 1, 50), Ipv4Addr::new(10, 0, 2, 50)]
        );
        assert_eq!(
            c.names["ip-10-0-1-5.ec2.internal"],
            [Ipv4Addr::new(10, 0, 1, 5)]
        );
        assert_eq!(
            c.ptr[&Ipv4Addr::new(10, 0, 1, 5)],
            "ip-10-0-1-5.ec2.internal"
        );
        let p = &r.vpcs["vpc-p"];
        assert!(p.names.is_empty() && p.zones == ["ec2.internal"]);
    }

    #[test]
    fn unverified_names_and_gone_endpoints_resolve_nowhere() {
        for state in ["pendingVerification", "failed"] {
            let r = dns_records(&world(state), "us-east-1");
            assert!(!r.vpcs["vpc-c"].names.contains_key("api.example.com"));
            assert_eq!(r.vpcs["vpc-c"].zones, ["ec2.internal"]);
        }
        let mut w = world("verified");
        for e in &mut w.endpoints {
            e.state = EndpointState::Deleting;
        }
        let r = dns_records(&w, "eu-west-1");
        assert!(r.public.names.is_empty());
        assert_eq!(r.public.zones, ["eu-west-1.vpce.amazonaws.com"]);
        assert!(!r.vpcs["vpc-c"].names.contains_key("api.example.com"));
        assert!(
            r.vpcs["vpc-c"]
                .names
                .contains_key("ip-10-0-1-5.eu-west-1.compute.internal")
        );
    }

    #[test]
    fn zones_follow_the_region() {
        assert_eq!(host_zone("us-east-1"), "ec2.internal");
        assert_eq!(host_zone("eu-west-1"), "eu-west-1.compute.internal");
        assert_eq!(endpoint_zone("us-east-2"), "us-east-2.vpce.amazonaws.com");
    }
}
