//! Attribute validation for load balancers, target groups and listeners. A malformed value is
//! a `ValidationError`; a well-formed one that the resource cannot take (an Application Load
//! Balancer key, a combination AWS refuses) is `InvalidConfigurationRequest`.

use model::elb::{
    LB_ATTRIBUTE_KEYS, LISTENER_ATTRIBUTE_KEYS, Listener, LoadBalancer, TG_ATTRIBUTE_KEYS,
    TargetGroup, is_udp_protocol,
};

use super::invalid_config;
use crate::AwsError;

/// Keys of Application and Gateway Load Balancers: recognised by AWS, refused on an NLB.
const NON_NLB_LB_KEYS: &[&str] = &[
    "idle_timeout.timeout_seconds",
    "client_keep_alive.seconds",
    "connection_logs.s3.enabled",
    "connection_logs.s3.bucket",
    "connection_logs.s3.prefix",
    "health_check_logs.s3.enabled",
    "health_check_logs.s3.bucket",
    "health_check_logs.s3.prefix",
    "routing.http.desync_mitigation_mode",
    "routing.http.drop_invalid_header_fields.enabled",
    "routing.http.preserve_host_header.enabled",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
    "routing.http.xff_client_port.enabled",
    "routing.http.xff_header_processing.mode",
    "routing.http2.enabled",
    "waf.fail_open.enabled",
];

const NON_NLB_TG_KEYS: &[&str] = &[
    "load_balancing.algorithm.type",
    "load_balancing.algorithm.anomaly_mitigation",
    "slow_start.duration_seconds",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "stickiness.lb_cookie.duration_seconds",
    "lambda.multi_value_headers.enabled",
    "target_failover.on_deregistration",
    "target_failover.on_unhealthy",
];

const NON_NLB_LISTENER_KEYS: &[&str] = &[
    "routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_issuer.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_subject.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_validity.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_leaf.header_name",
    "routing.http.request.x_amzn_mtls_clientcert.header_name",
    "routing.http.request.x_amzn_tls_version.header_name",
    "routing.http.request.x_amzn_tls_cipher_suite.header_name",
    "routing.http.response.server.enabled",
    "routing.http.response.strict_transport_security.header_value",
    "routing.http.response.access_control_allow_origin.header_value",
    "routing.http.response.access_control_allow_methods.header_value",
    "routing.http.response.access_control_allow_headers.header_value",
    "routing.http.response.access_control_allow_credentials.header_value",
    "routing.http.response.access_control_expose_headers.header_value",
    "routing.http.response.access_control_max_age.header_value",
    "routing.http.response.content_security_policy.header_value",
    "routing.http.response.x_content_type_options.header_value",
    "routing.http.response.x_frame_options.header_value",
];

fn bad_value(noun: &str, key: &str, value: &str) -> AwsError {
    AwsError::validation(format!(
        "{noun} attribute value '{value}' is not valid for key '{key}'"
    ))
}

fn check_key(noun: &str, key: &str, ours: &[&str], theirs: &[&str]) -> Result<(), AwsError> {
    if ours.contains(&key) {
        Ok(())
    } else if theirs.contains(&key) {
        Err(invalid_config(format!(
            "{noun} attribute key '{key}' is not supported on load balancers with type 'network'"
        )))
    } else {
        Err(AwsError::validation(format!(
            "{noun} attribute key '{key}' is not recognized"
        )))
    }
}

fn is_bool(v: &str) -> bool {
    v == "true" || v == "false"
}

fn int_in(v: &str, min: i64, max: i64) -> bool {
    // No sign, no spaces: AWS reads attribute integers strictly.
    !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && v.parse::<i64>().is_ok_and(|n| (min..=max).contains(&n))
}

/// Sets load-balancer attributes, all or nothing.
pub(crate) fn apply_lb(lb: &mut LoadBalancer, attrs: &[(String, String)]) -> Result<(), AwsError> {
    const N: &str = "Load balancer";
    let before = lb.clone();
    for (key, value) in attrs {
        check_key(N, key, LB_ATTRIBUTE_KEYS, NON_NLB_LB_KEYS)?;
        let ok = match key.as_str() {
            "access_logs.s3.enabled"
            | "deletion_protection.enabled"
            | "ipv6.deny_all_igw_traffic"
            | "load_balancing.cross_zone.enabled"
            | "zonal_shift.config.enabled" => is_bool(value),
            "access_logs.s3.bucket" => value.len() <= 255,
            "access_logs.s3.prefix" => value.len() <= 1024,
            "dns_record.client_routing_policy" => matches!(
                value.as_str(),
                "availability_zone_affinity"
                    | "partial_availability_zone_affinity"
                    | "any_availability_zone"
            ),
            "secondary_ips.auto_assigned.per_subnet" => int_in(value, 0, 7),
            _ => false,
        };
        if !ok {
            return Err(bad_value(N, key, value));
        }
        lb.attributes.insert(key.clone(), value.clone());
    }
    let get = |lb: &LoadBalancer, k: &str| lb.attribute(k).unwrap_or_default();
    if get(lb, "access_logs.s3.enabled") == "true" && get(lb, "access_logs.s3.bucket").is_empty() {
        return Err(invalid_config(
            "The value of 'access_logs.s3.bucket' cannot be empty when access logs are enabled",
        ));
    }
    if get(lb, "access_logs.s3.prefix").contains("AWSLogs") {
        return Err(invalid_config(
            "The value of 'access_logs.s3.prefix' cannot contain 'AWSLogs'",
        ));
    }
    let num = |lb: &LoadBalancer| {
        get(lb, "secondary_ips.auto_assigned.per_subnet")
            .parse::<i64>()
            .unwrap_or(0)
    };
    if num(lb) < num(&before) {
        return Err(invalid_config(
            "The value of 'secondary_ips.auto_assigned.per_subnet' cannot be decreased",
        ));
    }
    Ok(())
}

/// Sets target-group attributes, all or nothing.
pub(crate) fn apply_tg(tg: &mut TargetGroup, attrs: &[(String, String)]) -> Result<(), AwsError> {
    const N: &str = "Target group";
    let udp = is_udp_protocol(&tg.protocol);
    for (key, value) in attrs {
        check_key(N, key, TG_ATTRIBUTE_KEYS, NON_NLB_TG_KEYS)?;
        let ok = match key.as_str() {
            "proxy_protocol_v2.enabled"
            | "preserve_client_ip.enabled"
            | "stickiness.enabled"
            | "deregistration_delay.connection_termination.enabled"
            | "target_health_state.unhealthy.connection_termination.enabled" => is_bool(value),
            "deregistration_delay.timeout_seconds" => int_in(value, 0, 3600),
            "stickiness.type" => {
                if value == "source_ip" {
                    true
                } else if matches!(
                    value.as_str(),
                    "lb_cookie" | "app_cookie" | "source_ip_dest_ip" | "source_ip_dest_ip_proto"
                ) {
                    return Err(invalid_config(format!(
                        "Stickiness type '{value}' is not supported for target groups with the {} protocol",
                        tg.protocol
                    )));
                } else {
                    false
                }
            }
            "load_balancing.cross_zone.enabled" => matches!(
                value.as_str(),
                "true" | "false" | "use_load_balancer_configuration"
            ),
            "target_health_state.unhealthy.draining_interval_seconds" => int_in(value, 0, 360_000),
            "target_group_health.dns_failover.minimum_healthy_targets.count" => {
                value == "off" || int_in(value, 1, i64::from(u32::MAX))
            }
            "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count" => {
                int_in(value, 1, i64::from(u32::MAX))
            }
            "target_group_health.dns_failover.minimum_healthy_targets.percentage"
            | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage" => {
                value == "off" || int_in(value, 1, 100)
            }
            _ => false,
        };
        if !ok {
            return Err(bad_value(N, key, value));
        }
        tg.attributes.insert(key.clone(), value.clone());
    }
    let get = |k: &str| tg.attribute(k).unwrap_or_default();
    if udp && get("preserve_client_ip.enabled") == "false" {
        return Err(invalid_config(format!(
            "Client IP preservation cannot be disabled for target groups with the {} protocol",
            tg.protocol
        )));
    }
    if udp && get("target_health_state.unhealthy.connection_termination.enabled") == "true" {
        return Err(invalid_config(format!(
            "Connection termination for unhealthy targets cannot be enabled for target groups with the {} protocol",
            tg.protocol
        )));
    }
    if get("target_health_state.unhealthy.draining_interval_seconds") != "0"
        && get("target_health_state.unhealthy.connection_termination.enabled") == "true"
    {
        return Err(invalid_config(
            "'target_health_state.unhealthy.draining_interval_seconds' can only be set when 'target_health_state.unhealthy.connection_termination.enabled' is false",
        ));
    }
    Ok(())
}

/// Sets listener attributes, all or nothing.
pub(crate) fn apply_listener(
    listener: &mut Listener,
    attrs: &[(String, String)],
) -> Result<(), AwsError> {
    const N: &str = "Listener";
    for (key, value) in attrs {
        check_key(N, key, LISTENER_ATTRIBUTE_KEYS, NON_NLB_LISTENER_KEYS)?;
        let ok = match key.as_str() {
            "tcp.idle_timeout.seconds" => int_in(value, 60, 6000),
            _ => false,
        };
        if !ok {
            return Err(bad_value(N, key, value));
        }
        listener.attributes.insert(key.clone(), value.clone());
    }
    Ok(())
}

/// Every attribute of a load balancer with its value, in Describe order.
pub(crate) fn lb_all(lb: &LoadBalancer) -> Vec<(String, String)> {
    LB_ATTRIBUTE_KEYS
        .iter()
        .filter_map(|k| lb.attribute(k).map(|v| (k.to_string(), v)))
        .collect()
}

pub(crate) fn tg_all(tg: &TargetGroup) -> Vec<(String, String)> {
    TG_ATTRIBUTE_KEYS
        .iter()
        .filter_map(|k| tg.attribute(k).map(|v| (k.to_string(), v)))
        .collect()
}

pub(crate) fn listener_all(l: &Listener) -> Vec<(String, String)> {
    LISTENER_ATTRIBUTE_KEYS
        .iter()
        .filter_map(|k| l.attribute(k).map(|v| (k.to_string(), v)))
        .collect()
}
