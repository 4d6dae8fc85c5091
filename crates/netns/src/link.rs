//! Links, addresses and routes inside a namespace, over rtnetlink.
//!
//! Every method runs on the namespace's worker thread, on a netlink socket opened inside the
//! namespace, so it can only ever see and change that namespace. The "add" methods are
//! idempotent where the kernel allows it (bridges, addresses and routes are replaced or
//! accepted if already there), so a level-triggered reconciler can apply its desired state
//! again and again.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use nix::errno::Errno;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteScope, RouteType,
};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::{Handle, IpVersion, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::name::validate_ifname;
use crate::ns::Netns;

/// A network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index, unique inside the namespace.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `bridge`, `veth`, … (`None` for `lo` and other kind-less links).
    pub kind: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Index of the bridge the link is attached to, if any.
    pub controller: Option<u32>,
    /// Hardware (MAC) address, for links that have a 6-byte one (Ethernet-like: veth,
    /// bridge; `lo` reports all zeros).
    pub mac: Option<[u8; 6]>,
}

/// An IPv4 neighbour (ARP) entry of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The neighbour's address.
    pub ip: Ipv4Addr,
    /// Its MAC address, if resolved.
    pub mac: Option<[u8; 6]>,
    /// A static entry (`nud permanent`): never probed, never expires.
    pub permanent: bool,
}

/// An IPv4 route of one routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix (`0.0.0.0/0` for the default route).
    pub destination: Ipv4Net,
    /// Next hop, if the route goes through a gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Output interface index.
    pub oif: Option<u32>,
    /// The next hop is taken as directly on the link (`onlink`), whatever the link's
    /// addresses.
    pub onlink: bool,
    /// A `local` route: matching packets are delivered to this host.
    pub local: bool,
}

/// An IPv4 policy-routing rule (`ip rule`) that looks up a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its priority (`pref`); rules are tried in increasing order.
    pub priority: u32,
    /// The firewall mark it matches, if any.
    pub fwmark: Option<u32>,
    /// The table it looks up.
    pub table: u32,
}

fn parse_rule(msg: &RuleMessage) -> Option<Rule> {
    if msg.header.action != RuleAction::ToTable {
        return None;
    }
    let mut rule = Rule {
        priority: 0,
        fwmark: None,
        table: u32::from(msg.header.table),
    };
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Priority(p) => rule.priority = *p,
            RuleAttribute::FwMark(m) => rule.fwmark = Some(*m),
            RuleAttribute::Table(t) => rule.table = *t,
            _ => {}
        }
    }
    Some(rule)
}

fn is_errno(e: &rtnetlink::Error, errno: Errno) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -(errno as i32))
}

/// Context for netlink errors, carried into the worker.
#[derive(Clone)]
struct Ctx {
    ns: String,
}

impl Ctx {
    fn err(&self, op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> Error {
        let (op, ns) = (op.into(), self.ns.clone());
        move |source| Error::Netlink { op, ns, source }
    }

    fn not_found(&self, link: &str) -> Error {
        Error::LinkNotFound {
            ns: self.ns.clone(),
            link: link.to_owned(),
        }
    }

    async fn find(&self, h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
        let mut links = h.link().get().match_name(name.to_owned()).execute();
        match links.try_next().await {
            Ok(found) => Ok(found),
            Err(e) if is_errno(&e, Errno::ENODEV) => Ok(None),
            Err(e) => Err(self.err(format!("get link {name}"))(e)),
        }
    }

    async fn index(&self, h: &Handle, name: &str) -> Result<u32> {
        match self.find(h, name).await? {
            Some(msg) => Ok(msg.header.index),
            None => Err(self.not_found(name)),
        }
    }
}

fn parse_link(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        controller: None,
        mac: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Address(bytes) => link.mac = <[u8; 6]>::try_from(bytes).ok(),
            LinkAttribute::Controller(index) if index != 0 => link.controller = Some(index),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(kind.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

fn ipv4_of(msg: &AddressMessage) -> Option<Ipv4Net> {
    // `Local` is the interface's own address; `Address` differs only on point-to-point links.
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    let address = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
        _ => None,
    });
    Ipv4Net::new(local.or(address)?, msg.header.prefix_len).ok()
}

fn parse_neighbour(msg: &NeighbourMessage) -> Option<Neighbour> {
    let ip = msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })?;
    let mac = msg.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    });
    Some(Neighbour {
        ip,
        mac,
        permanent: msg.header.state == NeighbourState::Permanent,
    })
}

/// The IPv4 neighbour entries of the link `index`, with their messages (for deleting).
async fn neighbour_entries(
    ctx: &Ctx,
    h: &Handle,
    index: u32,
    link: &str,
) -> Result<Vec<(Neighbour, NeighbourMessage)>> {
    let messages: Vec<NeighbourMessage> = h
        .neighbours()
        .get()
        .set_address_family(AddressFamily::Inet)
        .execute()
        .try_collect()
        .await
        .map_err(ctx.err(format!("list neighbours of {link}")))?;
    Ok(messages
        .into_iter()
        .filter(|m| m.header.ifindex == index)
        .filter_map(|m| parse_neighbour(&m).map(|n| (n, m)))
        .collect())
}

fn check_names(names: &[&str]) -> Result<()> {
    names.iter().try_for_each(|n| validate_ifname(n))
}

impl Netns {
    fn ctx(&self) -> Ctx {
        Ctx {
            ns: self.full_name().to_owned(),
        }
    }

    /// Every link of the namespace, by index.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let mut links: Vec<Link> = h
                .link()
                .get()
                .execute()
                .map_ok(parse_link)
                .try_collect()
                .await
                .map_err(ctx.err("list links"))?;
            links.sort_by_key(|l| l.index);
            Ok(links)
        })
        .await
    }

    /// The links whose name starts with `prefix`.
    pub async fn links_with_prefix(&self, prefix: &str) -> Result<Vec<Link>> {
        let mut links = self.links().await?;
        links.retain(|l| l.name.starts_with(prefix));
        Ok(links)
    }

    /// The link named `name`, if there is one.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        check_names(&[name])?;
        let (ctx, name) = (self.ctx(), name.to_owned());
        self.netlink(move |h| async move { Ok(ctx.find(&h, &name).await?.map(parse_link)) })
            .await
    }

    async fn set_link(
        &self,
        name: &str,
        op: &'static str,
        build: impl FnOnce(u32) -> LinkMessage + Send + 'static,
    ) -> Result<()> {
        check_names(&[name])?;
        let (ctx, name) = (self.ctx(), name.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &name).await?;
            h.link()
                .set(build(index))
                .execute()
                .await
                .map_err(ctx.err(format!("{op} {name}")))
        })
        .await
    }

    /// Sets a link up (`ip link set NAME up`). A new namespace's `lo` is down: set it up
    /// before listening on 127.0.0.1 inside.
    pub async fn set_link_up(&self, name: &str) -> Result<()> {
        self.set_link(name, "set up", |i| {
            LinkUnspec::new_with_index(i).up().build()
        })
        .await
    }

    /// Sets a link down.
    pub async fn set_link_down(&self, name: &str) -> Result<()> {
        self.set_link(name, "set down", |i| {
            LinkUnspec::new_with_index(i).down().build()
        })
        .await
    }

    /// Sets the hardware (MAC) address of a link (`ip link set NAME address MAC`). The kernel
    /// refuses multicast addresses (lowest bit of the first byte set) with `EADDRNOTAVAIL`.
    pub async fn set_link_mac(&self, name: &str, mac: [u8; 6]) -> Result<()> {
        self.set_link(name, "set address of", move |i| {
            LinkUnspec::new_with_index(i).address(mac.to_vec()).build()
        })
        .await
    }

    /// Creates a bridge (a subnet of a VPC). Accepted if a bridge of that name exists;
    /// [`Error::LinkKindMismatch`] if a link of another kind has the name.
    pub async fn add_bridge(&self, name: &str) -> Result<()> {
        check_names(&[name])?;
        let (ctx, name) = (self.ctx(), name.to_owned());
        self.netlink(move |h| async move {
            match h.link().add(LinkBridge::new(&name).build()).execute().await {
                Ok(()) => Ok(()),
                Err(e) if is_errno(&e, Errno::EEXIST) => {
                    let existing = ctx.find(&h, &name).await?.map(parse_link);
                    match existing.and_then(|l| l.kind) {
                        Some(kind) if kind == "bridge" => Ok(()),
                        kind => Err(Error::LinkKindMismatch {
                            ns: ctx.ns.clone(),
                            link: name.clone(),
                            kind: kind.unwrap_or_else(|| "link without kind".into()),
                            wanted: "bridge",
                        }),
                    }
                }
                Err(e) => Err(ctx.err(format!("add bridge {name}"))(e)),
            }
        })
        .await
    }

    /// Creates a veth pair: `name` in this namespace and its peer `peer_name` directly in
    /// `peer_ns` (may be this namespace). One netlink request, so there is never a moment
    /// where the peer exists elsewhere (e.g. in the host's namespace) under a temporary
    /// name. Both ends start down. Fails with `EEXIST` if `name` exists here.
    pub async fn add_veth(&self, name: &str, peer_ns: &Netns, peer_name: &str) -> Result<()> {
        check_names(&[name, peer_name])?;
        let (ctx, name, peer_name) = (self.ctx(), name.to_owned(), peer_name.to_owned());
        // Holding the fd keeps it valid until the request is sent.
        let peer_fd = peer_ns.shared_fd();
        self.netlink(move |h| async move {
            let peer = LinkUnspec::new_with_name(&peer_name)
                .setns_by_fd(peer_fd.as_raw_fd())
                .build();
            let message = LinkVeth::new(&name, &peer_name)
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .build();
            let result = h.link().add(message).execute().await;
            drop(peer_fd);
            result.map_err(ctx.err(format!("add veth {name} (peer {peer_name})")))
        })
        .await
    }

    /// Moves the link `name` into `target` (by fd), renaming it to `new_name` on the way if
    /// given (one request, like `ip link set NAME netns NS name NEW`).
    pub async fn move_link(
        &self,
        name: &str,
        target: &Netns,
        new_name: Option<&str>,
    ) -> Result<()> {
        check_names(&[name])?;
        if let Some(new_name) = new_name {
            check_names(&[new_name])?;
        }
        let (ctx, name, new_name) = (self.ctx(), name.to_owned(), new_name.map(str::to_owned));
        // Held until the request has been answered, so the fd number stays ours.
        let target_fd = target.shared_fd();
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &name).await?;
            let mut message = LinkUnspec::new_with_index(index).setns_by_fd(target_fd.as_raw_fd());
            if let Some(new_name) = &new_name {
                message = message.name(new_name.clone());
            }
            let result = h.link().set(message.build()).execute().await;
            drop(target_fd);
            result.map_err(ctx.err(format!("move {name}")))
        })
        .await
    }

    /// Attaches `link` to the bridge `bridge` (`ip link set LINK master BRIDGE`).
    pub async fn set_controller(&self, link: &str, bridge: &str) -> Result<()> {
        check_names(&[link, bridge])?;
        let (ctx, link, bridge) = (self.ctx(), link.to_owned(), bridge.to_owned());
        self.netlink(move |h| async move {
            let bridge_index = ctx.index(&h, &bridge).await?;
            let index = ctx.index(&h, &link).await?;
            h.link()
                .set(
                    LinkUnspec::new_with_index(index)
                        .controller(bridge_index)
                        .build(),
                )
                .execute()
                .await
                .map_err(ctx.err(format!("attach {link} to {bridge}")))
        })
        .await
    }

    /// Deletes a link; returns whether it existed. Deleting one end of a veth pair deletes
    /// the other.
    pub async fn delete_link(&self, name: &str) -> Result<bool> {
        check_names(&[name])?;
        let (ctx, name) = (self.ctx(), name.to_owned());
        self.netlink(move |h| async move {
            let Some(link) = ctx.find(&h, &name).await? else {
                return Ok(false);
            };
            match h.link().del(link.header.index).execute().await {
                Ok(()) => Ok(true),
                Err(e) if is_errno(&e, Errno::ENODEV) => Ok(false),
                Err(e) => Err(ctx.err(format!("delete link {name}"))(e)),
            }
        })
        .await
    }

    /// Adds an IPv4 address with its prefix to a link (`ip addr replace`): accepted if the
    /// address is already there.
    pub async fn add_address(&self, link: &str, address: Ipv4Net) -> Result<()> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            h.address()
                .add(index, IpAddr::V4(address.addr()), address.prefix_len())
                .replace()
                .execute()
                .await
                .map_err(ctx.err(format!("add address {address} to {link}")))
        })
        .await
    }

    /// Removes an IPv4 address from a link; returns whether it was there.
    pub async fn delete_address(&self, link: &str, address: Ipv4Net) -> Result<bool> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            let messages: Vec<AddressMessage> = h
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
                .await
                .map_err(ctx.err(format!("list addresses of {link}")))?;
            let Some(message) = messages
                .into_iter()
                .find(|m| m.header.index == index && ipv4_of(m) == Some(address))
            else {
                return Ok(false);
            };
            match h.address().del(message).execute().await {
                Ok(()) => Ok(true),
                Err(e) if is_errno(&e, Errno::EADDRNOTAVAIL) => Ok(false),
                Err(e) => Err(ctx.err(format!("delete address {address} of {link}"))(e)),
            }
        })
        .await
    }

    /// The IPv4 addresses of a link.
    pub async fn addresses(&self, link: &str) -> Result<Vec<Ipv4Net>> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            let messages: Vec<AddressMessage> = h
                .address()
                .get()
                .set_link_index_filter(index)
                .execute()
                .try_collect()
                .await
                .map_err(ctx.err(format!("list addresses of {link}")))?;
            Ok(messages
                .iter()
                .filter(|m| m.header.index == index)
                .filter_map(ipv4_of)
                .collect())
        })
        .await
    }

    /// The IPv4 neighbour (ARP) entries of a link, static and learnt.
    pub async fn neighbours(&self, link: &str) -> Result<Vec<Neighbour>> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            let entries = neighbour_entries(&ctx, &h, index, &link).await?;
            Ok(entries.into_iter().map(|(n, _)| n).collect())
        })
        .await
    }

    /// Sets a static ARP entry: `ip` is at `mac` on `link`
    /// (`ip neigh replace IP lladdr MAC dev LINK nud permanent`). Replaces a learnt or static
    /// entry for `ip`. A router that knows where every address is needs no ARP, and can
    /// never hold a stale answer.
    pub async fn set_neighbour(&self, link: &str, ip: Ipv4Addr, mac: [u8; 6]) -> Result<()> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            h.neighbours()
                .add(index, IpAddr::V4(ip))
                .link_layer_address(&mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(ctx.err(format!("set neighbour {ip} on {link}")))
        })
        .await
    }

    /// Deletes the neighbour entry for `ip` on `link`; returns whether there was one.
    pub async fn delete_neighbour(&self, link: &str, ip: Ipv4Addr) -> Result<bool> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            let entries = neighbour_entries(&ctx, &h, index, &link).await?;
            let Some((_, message)) = entries.into_iter().find(|(n, _)| n.ip == ip) else {
                return Ok(false);
            };
            match h.neighbours().del(message).execute().await {
                Ok(()) => Ok(true),
                Err(e) if is_errno(&e, Errno::ENOENT) => Ok(false),
                Err(e) => Err(ctx.err(format!("delete neighbour {ip} on {link}"))(e)),
            }
        })
        .await
    }

    /// Adds (or replaces) the route to `destination` through `gateway` in the main table.
    pub async fn add_route(&self, destination: Ipv4Net, gateway: Ipv4Addr) -> Result<()> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let mut route = RouteMessageBuilder::<Ipv4Addr>::new().gateway(gateway);
            if destination.prefix_len() > 0 {
                route = route.destination_prefix(destination.network(), destination.prefix_len());
            }
            h.route()
                .add(route.build())
                .replace()
                .execute()
                .await
                .map_err(ctx.err(format!("add route {destination} via {gateway}")))
        })
        .await
    }

    /// Adds (or replaces) the default route through `gateway` (an instance's route to its
    /// subnet's base+1).
    pub async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<()> {
        self.add_route(Ipv4Net::default(), gateway).await
    }

    /// Adds (or replaces) a route to `destination` directly out of `link` (no gateway: the
    /// destination is on the link).
    pub async fn add_link_route(&self, destination: Ipv4Net, link: &str) -> Result<()> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(destination.network(), destination.prefix_len())
                .output_interface(index)
                .scope(RouteScope::Link)
                .build();
            h.route()
                .add(route)
                .replace()
                .execute()
                .await
                .map_err(ctx.err(format!("add route {destination} dev {link}")))
        })
        .await
    }

    /// Deletes the main-table route to `destination`; returns whether there was one.
    pub async fn delete_route(&self, destination: Ipv4Net) -> Result<bool> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let mut route = RouteMessageBuilder::<Ipv4Addr>::new();
            if destination.prefix_len() > 0 {
                route = route.destination_prefix(destination.network(), destination.prefix_len());
            }
            match h.route().del(route.build()).execute().await {
                Ok(()) => Ok(true),
                Err(e) if is_errno(&e, Errno::ESRCH) => Ok(false),
                Err(e) => Err(ctx.err(format!("delete route {destination}"))(e)),
            }
        })
        .await
    }

    /// The IPv4 routes of the main table.
    pub async fn routes(&self) -> Result<Vec<Route>> {
        self.table_routes(u32::from(RouteHeader::RT_TABLE_MAIN))
            .await
    }

    /// The IPv4 routes of routing table `table`.
    pub async fn table_routes(&self, table: u32) -> Result<Vec<Route>> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let messages: Vec<_> = h
                .route()
                .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
                .execute()
                .try_collect()
                .await
                .map_err(ctx.err("list routes"))?;
            let mut routes = Vec::new();
            for m in messages {
                let in_table = m
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(u32::from(m.header.table));
                if in_table != table {
                    continue;
                }
                let mut route = Route {
                    destination: Ipv4Net::default(),
                    gateway: None,
                    oif: None,
                    onlink: m.header.flags.contains(RouteFlags::Onlink),
                    local: m.header.kind == RouteType::Local,
                };
                for attr in &m.attributes {
                    match attr {
                        RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                            if let Ok(net) = Ipv4Net::new(*ip, m.header.destination_prefix_length) {
                                route.destination = net;
                            }
                        }
                        RouteAttribute::Gateway(RouteAddress::Inet(ip)) => {
                            route.gateway = Some(*ip)
                        }
                        RouteAttribute::Oif(index) => route.oif = Some(*index),
                        _ => {}
                    }
                }
                routes.push(route);
            }
            Ok(routes)
        })
        .await
    }

    /// Adds (or replaces) the default route through `gateway` out of `link`, with the
    /// gateway taken as on the link (`onlink`): the link's own address may be a /32 that
    /// does not cover the gateway.
    pub async fn add_default_route_onlink(&self, gateway: Ipv4Addr, link: &str) -> Result<()> {
        check_names(&[link])?;
        let (ctx, link) = (self.ctx(), link.to_owned());
        self.netlink(move |h| async move {
            let index = ctx.index(&h, &link).await?;
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gateway)
                .output_interface(index)
                .onlink()
                .build();
            h.route()
                .add(route)
                .replace()
                .execute()
                .await
                .map_err(ctx.err(format!("add default route via {gateway} dev {link} onlink")))
        })
        .await
    }

    /// Adds (or replaces) `local <destination> dev lo table <table>`: packets routed by
    /// that table to `destination` are delivered to this namespace's own sockets.
    pub async fn add_local_route(&self, destination: Ipv4Net, table: u32) -> Result<()> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let lo = ctx.index(&h, "lo").await?;
            let mut route = RouteMessageBuilder::<Ipv4Addr>::new()
                .kind(RouteType::Local)
                .scope(RouteScope::Host)
                .table_id(table)
                .output_interface(lo);
            if destination.prefix_len() > 0 {
                route = route.destination_prefix(destination.network(), destination.prefix_len());
            }
            h.route()
                .add(route.build())
                .replace()
                .execute()
                .await
                .map_err(ctx.err(format!("add local route {destination} table {table}")))
        })
        .await
    }

    /// The IPv4 policy-routing rules that look up a table (`ip rule`), the kernel's own
    /// (`local`, `main`, `default`) included.
    pub async fn rules(&self) -> Result<Vec<Rule>> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let messages: Vec<RuleMessage> = h
                .rule()
                .get(IpVersion::V4)
                .execute()
                .try_collect()
                .await
                .map_err(ctx.err("list rules"))?;
            Ok(messages.iter().filter_map(parse_rule).collect())
        })
        .await
    }

    /// Adds `ip rule add pref <priority> fwmark <fwmark> lookup <table>`; an identical rule
    /// already there is accepted.
    pub async fn add_fwmark_rule(&self, fwmark: u32, table: u32, priority: u32) -> Result<()> {
        let ctx = self.ctx();
        self.netlink(move |h| async move {
            let added = h
                .rule()
                .add()
                .v4()
                .fw_mark(fwmark)
                .table_id(table)
                .priority(priority)
                .action(RuleAction::ToTable)
                .execute()
                .await;
            match added {
                Ok(()) => Ok(()),
                Err(e) if is_errno(&e, Errno::EEXIST) => Ok(()),
                Err(e) => Err(ctx.err(format!(
                    "add rule pref {priority} fwmark {fwmark:#x} lookup {table}"
                ))(e)),
            }
        })
        .await
    }
}

// Keep the kind names in one place for callers comparing `Link::kind`.
impl Link {
    /// Whether the link is a bridge.
    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some(&InfoKind::Bridge.to_string())
    }

    /// Whether the link is a veth.
    pub fn is_veth(&self) -> bool {
        self.kind.as_deref() == Some(&InfoKind::Veth.to_string())
    }
}
