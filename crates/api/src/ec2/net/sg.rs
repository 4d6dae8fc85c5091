//! Security groups: create, describe, delete, authorize and revoke rules.

use control::net::{
    self as uc, Direction, GroupPairSpec, GroupRef, PermissionSpec, RuleChange, RuleChangeResult,
};
use control::{AwsError, Context, ControlPlane};
use model::net::{SecurityGroup, SecurityGroupRule};
use query::{Params, XmlWriter};

use super::super::{filters, id_list, page, tag_specs, write_next_token, write_tags};
use crate::protocol::ParamResultExt;

pub fn create_security_group(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let req = uc::CreateSecurityGroup {
        group_name: p.required("GroupName").ec2()?.to_string(),
        description: p.required("GroupDescription").ec2()?.to_string(),
        vpc_id: p.get("VpcId").filter(|s| !s.is_empty()).map(String::from),
        tags: tag_specs(p, "security-group")?,
    };
    let g = uc::create_security_group(cp, ctx, req)?;
    let mut w = XmlWriter::new();
    w.elem("return", "true").elem("groupId", &g.id);
    write_tags(&mut w, &g.tags);
    w.elem(
        "securityGroupArn",
        uc::ec2_arn(cp, &g.owner, "security-group", &g.id),
    );
    Ok(w)
}

/// Rules gathered into AWS's `IpPermission`s: one per protocol and port range, listing every
/// source of that range.
fn write_permissions(w: &mut XmlWriter, tag: &str, g: &SecurityGroup, rules: &[SecurityGroupRule]) {
    let mut perms: Vec<Vec<&SecurityGroupRule>> = Vec::new();
    for r in rules {
        let same = |p: &&mut Vec<&SecurityGroupRule>| {
            p.first().is_some_and(|f| {
                f.protocol == r.protocol && f.from_port == r.from_port && f.to_port == r.to_port
            })
        };
        match perms.iter_mut().find(same) {
            Some(p) => p.push(r),
            None => perms.push(vec![r]),
        }
    }
    w.list(tag, "item", &perms, |w, perm| {
        let Some(first) = perm.first() else { return };
        w.elem("ipProtocol", &first.protocol)
            .elem_opt("fromPort", first.from_port)
            .elem_opt("toPort", first.to_port);
        let groups: Vec<_> = perm
            .iter()
            .filter(|r| r.referenced_group_id.is_some())
            .collect();
        w.list("groups", "item", &groups, |w, r| {
            w.elem_opt("description", r.description.as_ref())
                .elem("userId", &g.owner)
                .elem_opt("groupId", r.referenced_group_id.as_ref());
        });
        let v4: Vec<_> = perm.iter().filter(|r| r.cidr_ipv4.is_some()).collect();
        w.list("ipRanges", "item", &v4, |w, r| {
            w.elem_opt("cidrIp", r.cidr_ipv4.as_ref())
                .elem_opt("description", r.description.as_ref());
        });
        let v6: Vec<_> = perm.iter().filter(|r| r.cidr_ipv6.is_some()).collect();
        w.list("ipv6Ranges", "item", &v6, |w, r| {
            w.elem_opt("cidrIpv6", r.cidr_ipv6.as_ref())
                .elem_opt("description", r.description.as_ref());
        });
        w.list("prefixListIds", "item", [(); 0], |_, _| {});
    });
}

fn write_group(w: &mut XmlWriter, cp: &ControlPlane, g: &SecurityGroup) {
    w.elem("ownerId", &g.owner)
        .elem("groupId", &g.id)
        .elem("groupName", &g.name)
        .elem("groupDescription", &g.description)
        .elem("vpcId", &g.vpc_id)
        .elem(
            "securityGroupArn",
            uc::ec2_arn(cp, &g.owner, "security-group", &g.id),
        );
    write_permissions(w, "ipPermissions", g, &g.ingress);
    write_permissions(w, "ipPermissionsEgress", g, &g.egress);
    write_tags(w, &g.tags);
}

pub fn describe_security_groups(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let (groups, next) = uc::describe_security_groups(
        cp,
        ctx,
        &id_list(p, "GroupId")?,
        &id_list(p, "GroupName")?,
        &filters(p)?,
        &page(p, 5, 1000)?,
    )?;
    let mut w = XmlWriter::new();
    w.list("securityGroupInfo", "item", &groups, |w, g| {
        write_group(w, cp, g)
    });
    write_next_token(&mut w, next);
    Ok(w)
}

/// `GroupId` or `GroupName` (one is required).
fn group_ref(p: &Params) -> Result<GroupRef, AwsError> {
    let nonempty = |k: &str| p.get(k).filter(|s| !s.is_empty()).map(String::from);
    match (nonempty("GroupId"), nonempty("GroupName")) {
        (Some(id), _) => Ok(GroupRef::Id(id)),
        (None, Some(name)) => Ok(GroupRef::Name(name)),
        (None, None) => Err(AwsError::missing_parameter("groupId or groupName")),
    }
}

pub fn delete_security_group(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    let id = uc::delete_security_group(cp, ctx, &group_ref(p)?)?;
    let mut w = XmlWriter::new();
    w.elem("return", "true").elem("groupId", id);
    Ok(w)
}

fn opt(p: &Params, k: &str) -> Option<String> {
    p.get(k).filter(|s| !s.is_empty()).map(String::from)
}

/// `IpPermissions.N.*`, or the legacy flat `IpProtocol`/`FromPort`/`ToPort`/`CidrIp`/
/// `SourceSecurityGroupName` form (not both).
fn permissions(p: &Params) -> Result<Vec<PermissionSpec>, AwsError> {
    const FLAT: &[&str] = &[
        "IpProtocol",
        "FromPort",
        "ToPort",
        "CidrIp",
        "SourceSecurityGroupName",
        "SourceSecurityGroupOwnerId",
    ];
    let structured = p.structs("IpPermissions").ec2()?;
    let flat_given: Vec<&str> = FLAT.iter().copied().filter(|k| p.contains(k)).collect();
    if !structured.is_empty() {
        if let Some(k) = flat_given.first() {
            return Err(AwsError::invalid_parameter_combination(format!(
                "The parameter '{}' may not be used in combination with 'ipPermissions'",
                lower_first(k)
            )));
        }
        return structured.iter().map(permission).collect();
    }
    if flat_given.is_empty() {
        return Ok(Vec::new());
    }
    let mut spec = PermissionSpec {
        protocol: opt(p, "IpProtocol"),
        from_port: p.int("FromPort").ec2()?,
        to_port: p.int("ToPort").ec2()?,
        ..PermissionSpec::default()
    };
    if let Some(cidr) = opt(p, "CidrIp") {
        spec.ipv4_ranges.push((cidr, None));
    }
    if let Some(name) = opt(p, "SourceSecurityGroupName") {
        spec.groups.push(GroupPairSpec {
            group_name: Some(name),
            user_id: opt(p, "SourceSecurityGroupOwnerId"),
            ..GroupPairSpec::default()
        });
    }
    Ok(vec![spec])
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn permission(p: &Params) -> Result<PermissionSpec, AwsError> {
    let ranges = |list: &str, key: &str| -> Result<Vec<(String, Option<String>)>, AwsError> {
        p.structs(list)
            .ec2()?
            .iter()
            .map(|r| Ok((r.required(key).ec2()?.to_string(), opt(r, "Description"))))
            .collect()
    };
    Ok(PermissionSpec {
        protocol: opt(p, "IpProtocol"),
        from_port: p.int("FromPort").ec2()?,
        to_port: p.int("ToPort").ec2()?,
        ipv4_ranges: ranges("IpRanges", "CidrIp")?,
        ipv6_ranges: ranges("Ipv6Ranges", "CidrIpv6")?,
        groups: p
            .structs("Groups")
            .ec2()?
            .iter()
            .map(|g| GroupPairSpec {
                group_id: opt(g, "GroupId"),
                group_name: opt(g, "GroupName"),
                user_id: opt(g, "UserId"),
                description: opt(g, "Description"),
            })
            .collect(),
        prefix_list_ids: p
            .structs("PrefixListIds")
            .ec2()?
            .iter()
            .filter_map(|pl| opt(pl, "PrefixListId"))
            .collect(),
    })
}

fn rule_change(p: &Params, direction: Direction, revoke: bool) -> Result<RuleChange, AwsError> {
    let group = match direction {
        Direction::Ingress => group_ref(p)?,
        Direction::Egress => GroupRef::Id(p.required("GroupId").ec2()?.to_string()),
    };
    let permissions = permissions(p)?;
    let rule_ids = if revoke {
        id_list(p, "SecurityGroupRuleId")?
    } else {
        Vec::new()
    };
    if permissions.is_empty() && rule_ids.is_empty() {
        return Err(AwsError::missing_parameter("ipPermissions"));
    }
    let tags = if revoke {
        Vec::new()
    } else {
        tag_specs(p, "security-group-rule")?
    };
    Ok(RuleChange {
        group,
        direction,
        permissions,
        rule_ids,
        tags,
    })
}

fn port(p: Option<i32>) -> i32 {
    p.unwrap_or(-1)
}

fn write_added(w: &mut XmlWriter, cp: &ControlPlane, res: &RuleChangeResult, egress: bool) {
    let g = &res.group;
    w.elem("return", "true");
    w.list("securityGroupRuleSet", "item", &res.rules, |w, r| {
        w.elem("securityGroupRuleId", &r.id)
            .elem("groupId", &g.id)
            .elem("groupOwnerId", &g.owner)
            .elem("isEgress", egress)
            .elem("ipProtocol", &r.protocol)
            .elem("fromPort", port(r.from_port))
            .elem("toPort", port(r.to_port))
            .elem_opt("cidrIpv4", r.cidr_ipv4.as_ref())
            .elem_opt("cidrIpv6", r.cidr_ipv6.as_ref());
        if let Some(peer) = &r.referenced_group_id {
            w.node("referencedGroupInfo", |w| {
                w.elem("groupId", peer).elem("userId", &g.owner);
            });
        }
        w.elem_opt("description", r.description.as_ref());
        write_tags(w, &r.tags);
        w.elem(
            "securityGroupRuleArn",
            uc::ec2_arn(cp, &g.owner, "security-group-rule", &r.id),
        );
    });
}

fn write_revoked(w: &mut XmlWriter, res: &RuleChangeResult, egress: bool) {
    let g = &res.group;
    w.elem("return", "true");
    w.list("revokedSecurityGroupRuleSet", "item", &res.rules, |w, r| {
        w.elem("securityGroupRuleId", &r.id)
            .elem("groupId", &g.id)
            .elem("isEgress", egress)
            .elem("ipProtocol", &r.protocol)
            .elem("fromPort", port(r.from_port))
            .elem("toPort", port(r.to_port))
            .elem_opt("cidrIpv4", r.cidr_ipv4.as_ref())
            .elem_opt("cidrIpv6", r.cidr_ipv6.as_ref())
            .elem_opt("referencedGroupId", r.referenced_group_id.as_ref())
            .elem_opt("description", r.description.as_ref());
    });
}

fn authorize(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
    direction: Direction,
) -> Result<XmlWriter, AwsError> {
    let req = rule_change(p, direction, false)?;
    let res = uc::authorize_security_group(cp, ctx, &req)?;
    let mut w = XmlWriter::new();
    write_added(&mut w, cp, &res, direction == Direction::Egress);
    Ok(w)
}

fn revoke(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
    direction: Direction,
) -> Result<XmlWriter, AwsError> {
    let req = rule_change(p, direction, true)?;
    let res = uc::revoke_security_group(cp, ctx, &req)?;
    let mut w = XmlWriter::new();
    write_revoked(&mut w, &res, direction == Direction::Egress);
    Ok(w)
}

pub fn authorize_ingress(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    authorize(cp, ctx, p, Direction::Ingress)
}

pub fn authorize_egress(
    cp: &ControlPlane,
    ctx: &Context,
    p: &Params,
) -> Result<XmlWriter, AwsError> {
    authorize(cp, ctx, p, Direction::Egress)
}

pub fn revoke_ingress(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    revoke(cp, ctx, p, Direction::Ingress)
}

pub fn revoke_egress(cp: &ControlPlane, ctx: &Context, p: &Params) -> Result<XmlWriter, AwsError> {
    revoke(cp, ctx, p, Direction::Egress)
}
