//! Security groups and their rules: Create/Describe/DeleteSecurityGroup,
//! Authorize/RevokeSecurityGroupIngress/Egress.

use std::collections::HashMap;

use ipnet::{Ipv4Net, Ipv6Net};
use model::Tag;
use model::elb::LoadBalancer;
use model::ids::{self, prefix};
use model::net::{
    Instance, InstanceState, NetworkInterface, SecurityGroup, SecurityGroupRule,
    normalize_protocol, rule_ports,
};
use model::vpce::{EndpointState, VpcEndpoint};

use super::{allow_all_egress, check_id, load_all, load_vpc};
use crate::common::{Filter, Page, apply_filters, paginate, tag_filter_values};
use crate::{AwsError, Context, ControlPlane, Db};

const NOT_FOUND: &str = "InvalidGroup.NotFound";
const MALFORMED: &str = "InvalidGroupId.Malformed";

/// What privlink answers where AWS would look a group name up in the default VPC: there is no
/// default VPC, so names cannot be resolved.
pub fn no_default_vpc_for_group_name() -> AwsError {
    AwsError::new(
        "VPCIdNotSpecified",
        "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
    )
}

/// A security group the caller owns.
pub fn load_security_group(
    db: &mut Db<'_>,
    ctx: &Context,
    id: &str,
) -> Result<SecurityGroup, AwsError> {
    check_id(id, prefix::SECURITY_GROUP, MALFORMED)?;
    match db.get::<SecurityGroup>(id)? {
        Some(g) if g.owner == ctx.account => Ok(g),
        _ => Err(AwsError::not_found(
            NOT_FOUND,
            format!("The security group '{id}' does not exist"),
        )),
    }
}

/// The groups `ids` of the caller, each in `vpc_id` (the groups of an interface or instance).
pub fn load_groups_in_vpc(
    db: &mut Db<'_>,
    ctx: &Context,
    group_ids: &[String],
    vpc_id: &str,
    subnet_id: &str,
) -> Result<Vec<SecurityGroup>, AwsError> {
    let mut out: Vec<SecurityGroup> = Vec::new();
    for id in group_ids {
        let g = load_security_group(db, ctx, id)?;
        if g.vpc_id != vpc_id {
            return Err(AwsError::invalid_parameter(format!(
                "Security group {} and subnet {subnet_id} belong to different networks.",
                g.id
            )));
        }
        if !out.iter().any(|o| o.id == g.id) {
            out.push(g);
        }
    }
    Ok(out)
}

/// AWS's character set for names and descriptions of VPC groups and rule descriptions.
fn valid_sg_text(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c))
}

fn check_text(value: &str, param: &str) -> Result<(), AwsError> {
    if value.chars().count() > 255 {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. Length exceeds maximum of 255 characters."
        )));
    }
    if !value.is_ascii() {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. Character sets beyond ASCII are not supported."
        )));
    }
    if !valid_sg_text(value) {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {param} is invalid. Valid characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{{}}!$*"
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSecurityGroup {
    pub group_name: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// CreateSecurityGroup: a group in a VPC, with AWS's allow-all egress rule.
pub fn create_security_group(
    cp: &ControlPlane,
    ctx: &Context,
    req: CreateSecurityGroup,
) -> Result<SecurityGroup, AwsError> {
    crate::tags::validate_tags(&req.tags)?;
    check_text(&req.group_name, "GroupName")?;
    check_text(&req.description, "GroupDescription")?;
    if req.group_name.to_ascii_lowercase().starts_with("sg-") {
        return Err(AwsError::invalid_parameter_value(format!(
            "Value ({}) for parameter GroupName is invalid. Group names may not be in the format sg-*.",
            req.group_name
        )));
    }
    let Some(vpc_id) = req.vpc_id.clone() else {
        return Err(AwsError::new(
            "VPCIdNotSpecified",
            "No default VPC for this user",
        ));
    };
    cp.write(ctx, |db| {
        let vpc = load_vpc(db, ctx, &vpc_id)?;
        if req.group_name == "default" {
            return Err(AwsError::new(
                "InvalidGroup.Reserved",
                "The security group 'default' is reserved",
            ));
        }
        if db
            .children::<SecurityGroup>(&vpc.id)?
            .iter()
            .any(|g| g.name == req.group_name)
        {
            return Err(AwsError::new(
                "InvalidGroup.Duplicate",
                format!(
                    "The security group '{}' already exists for VPC '{}'",
                    req.group_name, vpc.id
                ),
            ));
        }
        let group = SecurityGroup {
            id: ids::new_id(prefix::SECURITY_GROUP),
            owner: ctx.account.clone(),
            vpc_id: vpc.id.clone(),
            name: req.group_name.clone(),
            description: req.description.clone(),
            ingress: Vec::new(),
            egress: vec![allow_all_egress()],
            tags: req.tags.clone(),
        };
        if !db.insert(&group)? {
            return Err(AwsError::internal("security group id collision"));
        }
        Ok(group)
    })
}

pub const SECURITY_GROUP_FILTERS: &[&str] = &[
    "description",
    "egress.ip-permission.cidr",
    "egress.ip-permission.from-port",
    "egress.ip-permission.group-id",
    "egress.ip-permission.group-name",
    "egress.ip-permission.ipv6-cidr",
    "egress.ip-permission.prefix-list-id",
    "egress.ip-permission.protocol",
    "egress.ip-permission.to-port",
    "egress.ip-permission.user-id",
    "group-id",
    "group-name",
    "ip-permission.cidr",
    "ip-permission.from-port",
    "ip-permission.group-id",
    "ip-permission.group-name",
    "ip-permission.ipv6-cidr",
    "ip-permission.prefix-list-id",
    "ip-permission.protocol",
    "ip-permission.to-port",
    "ip-permission.user-id",
    "owner-id",
    "vpc-id",
    "tag:*",
    "tag-key",
    "tag-value",
];

/// The values of an `ip-permission.*` filter over `rules`.
fn permission_values(
    rules: &[SecurityGroupRule],
    field: &str,
    owner: &str,
    names: &HashMap<String, String>,
) -> Vec<String> {
    let port = |p: Option<i32>| p.map(|p| p.to_string());
    rules
        .iter()
        .filter_map(|r| match field {
            "cidr" => r.cidr_ipv4.clone(),
            "ipv6-cidr" => r.cidr_ipv6.clone(),
            "from-port" => port(r.from_port),
            "to-port" => port(r.to_port),
            "protocol" => Some(r.protocol.clone()),
            "group-id" => r.referenced_group_id.clone(),
            "group-name" => r
                .referenced_group_id
                .as_ref()
                .and_then(|g| names.get(g).cloned()),
            "user-id" => r.referenced_group_id.as_ref().map(|_| owner.to_string()),
            _ => None,
        })
        .collect()
}

/// DescribeSecurityGroups. `GroupName.N` cannot be honoured without a default VPC, exactly as
/// on AWS: VPC groups are named by id.
pub fn describe_security_groups(
    cp: &ControlPlane,
    ctx: &Context,
    group_ids: &[String],
    group_names: &[String],
    filters: &[Filter],
    page: &Page,
) -> Result<(Vec<SecurityGroup>, Option<String>), AwsError> {
    cp.read(ctx, |db| {
        if let Some(name) = group_names.first() {
            return Err(AwsError::invalid_parameter_value(format!(
                "Invalid value '{name}' for groupName. You may not reference Amazon VPC security groups by name. Please use the corresponding id for this operation."
            )));
        }
        let all = db.list::<SecurityGroup>(Some(&ctx.account))?;
        let names: HashMap<String, String> =
            all.iter().map(|g| (g.id.clone(), g.name.clone())).collect();
        let groups = if group_ids.is_empty() {
            all
        } else {
            for id in group_ids {
                check_id(id, prefix::SECURITY_GROUP, MALFORMED)?;
            }
            load_all::<SecurityGroup>(db, ctx, group_ids, NOT_FOUND, |m| {
                format!("The security group '{}' does not exist", m.join(","))
            })?
        };
        let groups = apply_filters(groups, filters, SECURITY_GROUP_FILTERS, |g, name| {
            if let Some(field) = name.strip_prefix("egress.ip-permission.") {
                return Some(permission_values(&g.egress, field, &g.owner, &names));
            }
            if let Some(field) = name.strip_prefix("ip-permission.") {
                return Some(permission_values(&g.ingress, field, &g.owner, &names));
            }
            Some(match name {
                "description" => vec![g.description.clone()],
                "group-id" => vec![g.id.clone()],
                "group-name" => vec![g.name.clone()],
                "owner-id" => vec![g.owner.clone()],
                "vpc-id" => vec![g.vpc_id.clone()],
                other => return tag_filter_values(&g.tags, other),
            })
        })?;
        paginate(groups, page, |g| &g.id)
    })
}

/// How a request names the group it acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    Id(String),
    Name(String),
}

fn resolve_group(
    db: &mut Db<'_>,
    ctx: &Context,
    group: &GroupRef,
) -> Result<SecurityGroup, AwsError> {
    match group {
        GroupRef::Id(id) => load_security_group(db, ctx, id),
        GroupRef::Name(_) => Err(no_default_vpc_for_group_name()),
    }
}

/// Whether anything still uses `group` (AWS: `DependencyViolation`).
fn group_in_use(db: &mut Db<'_>, group: &SecurityGroup) -> Result<bool, AwsError> {
    let id = group.id.as_str();
    let uses = |ids: &[String]| ids.iter().any(|g| g == id);
    if db
        .list::<NetworkInterface>(Some(&group.owner))?
        .iter()
        .any(|e| uses(&e.security_group_ids))
    {
        return Ok(true);
    }
    if db
        .list::<Instance>(Some(&group.owner))?
        .iter()
        .any(|i| i.state != InstanceState::Terminated && uses(&i.security_group_ids))
    {
        return Ok(true);
    }
    if db
        .list::<VpcEndpoint>(Some(&group.owner))?
        .iter()
        .any(|e| e.state != EndpointState::Deleted && uses(&e.security_group_ids))
    {
        return Ok(true);
    }
    if db
        .children::<LoadBalancer>(&group.vpc_id)?
        .iter()
        .any(|lb| uses(&lb.security_group_ids))
    {
        return Ok(true);
    }
    // A rule of another group that names this one; a group may name itself and still go.
    let referenced = db
        .list::<SecurityGroup>(Some(&group.owner))?
        .iter()
        .filter(|g| g.id != id)
        .flat_map(|g| g.ingress.iter().chain(g.egress.iter()))
        .any(|r| r.referenced_group_id.as_deref() == Some(id));
    Ok(referenced)
}

/// DeleteSecurityGroup: never the default group, never one in use. Returns the group's id.
pub fn delete_security_group(
    cp: &ControlPlane,
    ctx: &Context,
    group: &GroupRef,
) -> Result<String, AwsError> {
    cp.write(ctx, |db| {
        let g = resolve_group(db, ctx, group)?;
        if g.name == "default" {
            return Err(AwsError::new(
                "CannotDelete",
                format!(
                    "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
                    g.id
                ),
            ));
        }
        if group_in_use(db, &g)? {
            return Err(AwsError::new(
                "DependencyViolation",
                format!("resource {} has a dependent object", g.id),
            ));
        }
        db.delete::<SecurityGroup>(&g.id)?;
        Ok(g.id)
    })
}

/// Ingress or egress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// One `UserIdGroupPair` of a permission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPairSpec {
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub user_id: Option<String>,
    pub description: Option<String>,
}

/// One `IpPermission` as the request carries it (unvalidated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSpec {
    pub protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    /// `(CidrIp, Description)`
    pub ipv4_ranges: Vec<(String, Option<String>)>,
    /// `(CidrIpv6, Description)`
    pub ipv6_ranges: Vec<(String, Option<String>)>,
    pub groups: Vec<GroupPairSpec>,
    pub prefix_list_ids: Vec<String>,
}

/// Authorize/Revoke…: the group and the rules to add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChange {
    pub group: GroupRef,
    pub direction: Direction,
    pub permissions: Vec<PermissionSpec>,
    /// Revoke only: `SecurityGroupRuleId.N`.
    pub rule_ids: Vec<String>,
    /// Authorize only: tags for the new rules.
    pub tags: Vec<Tag>,
}

/// The rules a permission stands for: one per source.
fn expand(
    db: &mut Db<'_>,
    ctx: &Context,
    group: &SecurityGroup,
    perm: &PermissionSpec,
    tags: &[Tag],
) -> Result<Vec<SecurityGroupRule>, AwsError> {
    let Some(raw) = perm.protocol.as_deref() else {
        return Err(AwsError::invalid_parameter_value(
            "Invalid value 'null' for protocol. VPC security group rules must specify protocols explicitly.",
        ));
    };
    let protocol =
        normalize_protocol(raw).map_err(|e| AwsError::invalid_parameter_value(e.to_string()))?;
    let (from_port, to_port) = rule_ports(&protocol, perm.from_port, perm.to_port)
        .map_err(|e| AwsError::invalid_parameter_value(e.to_string()))?;
    if let Some(pl) = perm.prefix_list_ids.first() {
        // privlink has no managed prefix lists, so none can be named.
        return Err(AwsError::new(
            "InvalidPrefixListId.NotFound",
            format!("The prefix list '{pl}' does not exist"),
        ));
    }
    if perm.ipv4_ranges.is_empty() && perm.ipv6_ranges.is_empty() && perm.groups.is_empty() {
        return Err(AwsError::missing_parameter(
            "ipRanges, ipv6Ranges, prefixListIds or groups",
        ));
    }
    let rule = |cidr_ipv4: Option<String>,
                cidr_ipv6: Option<String>,
                referenced_group_id: Option<String>,
                description: Option<String>| SecurityGroupRule {
        id: ids::new_id(prefix::SECURITY_GROUP_RULE),
        protocol: protocol.clone(),
        from_port,
        to_port,
        cidr_ipv4,
        cidr_ipv6,
        referenced_group_id,
        description,
        tags: tags.to_vec(),
    };
    let mut out = Vec::new();
    for (cidr, desc) in &perm.ipv4_ranges {
        if let Some(d) = desc {
            check_text(d, "description")?;
        }
        // EC2 keeps the CIDR as given, but it must be a network address.
        let net = cidr
            .parse::<Ipv4Net>()
            .ok()
            .filter(|n| n.network() == n.addr());
        if net.is_none() {
            return Err(AwsError::invalid_parameter_value(format!(
                "CIDR block {cidr} is malformed"
            )));
        }
        out.push(rule(Some(cidr.clone()), None, None, desc.clone()));
    }
    for (cidr, desc) in &perm.ipv6_ranges {
        if let Some(d) = desc {
            check_text(d, "description")?;
        }
        let net = cidr
            .parse::<Ipv6Net>()
            .ok()
            .filter(|n| n.network() == n.addr());
        if net.is_none() {
            return Err(AwsError::invalid_parameter_value(format!(
                "CIDR block {cidr} is malformed"
            )));
        }
        out.push(rule(None, Some(cidr.clone()), None, desc.clone()));
    }
    for pair in &perm.groups {
        if let Some(d) = &pair.description {
            check_text(d, "description")?;
        }
        let Some(gid) = &pair.group_id else {
            if pair.group_name.is_some() {
                return Err(AwsError::invalid_parameter_value(
                    "You may not reference Amazon VPC security groups by name. Please use the corresponding id for this operation.",
                ));
            }
            return Err(AwsError::missing_parameter("groupId"));
        };
        if pair.user_id.as_deref().is_some_and(|u| u != ctx.account) {
            // Another account's group is reachable only through VPC peering, which privlink
            // does not have.
            return Err(AwsError::not_found(
                NOT_FOUND,
                format!("The security group '{gid}' does not exist"),
            ));
        }
        let peer = load_security_group(db, ctx, gid)?;
        if peer.vpc_id != group.vpc_id {
            return Err(AwsError::not_found(
                NOT_FOUND,
                "You have specified two resources that belong to different networks.",
            ));
        }
        out.push(rule(None, None, Some(peer.id), pair.description.clone()));
    }
    Ok(out)
}

/// The outcome of Authorize/Revoke: the group and the rules added or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleChangeResult {
    pub group: SecurityGroup,
    pub rules: Vec<SecurityGroupRule>,
}

/// AuthorizeSecurityGroupIngress/Egress: adds every rule, or none if any exists already.
pub fn authorize_security_group(
    cp: &ControlPlane,
    ctx: &Context,
    req: &RuleChange,
) -> Result<RuleChangeResult, AwsError> {
    crate::tags::validate_tags(&req.tags)?;
    cp.write(ctx, |db| {
        let mut group = resolve_group(db, ctx, &req.group)?;
        let mut added: Vec<SecurityGroupRule> = Vec::new();
        for perm in &req.permissions {
            for rule in expand(db, ctx, &group, perm, &req.tags)? {
                let existing = match req.direction {
                    Direction::Ingress => &group.ingress,
                    Direction::Egress => &group.egress,
                };
                if existing
                    .iter()
                    .chain(added.iter())
                    .any(|r| r.same_rule(&rule))
                {
                    return Err(AwsError::new(
                        "InvalidPermission.Duplicate",
                        format!("the specified rule \"{}\" already exists", rule.describe()),
                    ));
                }
                added.push(rule);
            }
        }
        match req.direction {
            Direction::Ingress => group.ingress.extend(added.iter().cloned()),
            Direction::Egress => group.egress.extend(added.iter().cloned()),
        }
        db.put(&group)?;
        Ok(RuleChangeResult {
            group,
            rules: added,
        })
    })
}

/// RevokeSecurityGroupIngress/Egress: removes every rule named (by properties or by id), or
/// none if any does not exist (`InvalidPermission.NotFound`, AWS's non-default-VPC rule).
pub fn revoke_security_group(
    cp: &ControlPlane,
    ctx: &Context,
    req: &RuleChange,
) -> Result<RuleChangeResult, AwsError> {
    cp.write(ctx, |db| {
        let mut group = resolve_group(db, ctx, &req.group)?;
        let mut rules = match req.direction {
            Direction::Ingress => std::mem::take(&mut group.ingress),
            Direction::Egress => std::mem::take(&mut group.egress),
        };
        let mut removed = Vec::new();
        for id in &req.rule_ids {
            check_id(
                id,
                prefix::SECURITY_GROUP_RULE,
                "InvalidSecurityGroupRuleId.Malformed",
            )?;
            match rules.iter().position(|r| &r.id == id) {
                Some(i) => removed.push(rules.remove(i)),
                None => {
                    return Err(AwsError::new(
                        "InvalidSecurityGroupRuleId.NotFound",
                        format!("The security group rule ID '{id}' does not exist"),
                    ));
                }
            }
        }
        for perm in &req.permissions {
            for wanted in expand(db, ctx, &group, perm, &[])? {
                match rules.iter().position(|r| r.same_rule(&wanted)) {
                    Some(i) => removed.push(rules.remove(i)),
                    None => {
                        return Err(AwsError::new(
                            "InvalidPermission.NotFound",
                            "The specified rule does not exist in this security group.",
                        ));
                    }
                }
            }
        }
        match req.direction {
            Direction::Ingress => group.ingress = rules,
            Direction::Egress => group.egress = rules,
        }
        db.put(&group)?;
        Ok(RuleChangeResult {
            group,
            rules: removed,
        })
    })
}
