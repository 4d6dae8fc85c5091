//! The data plane's health-check results, as the control plane reads them
//! ([`control::health::TargetHealthSource`]). Nothing is stored: DescribeTargetHealth reads the
//! data plane's latest report.

use std::net::{IpAddr, SocketAddr};

use control::health::{ObservedHealth, ObservedReason, ObservedState, TargetHealthSource};
use dataplane::{HealthReport, Reason, TargetHealth, TargetState};
use tokio::sync::watch;

/// Reads a [`dataplane::DataPlane`]'s health reports.
#[derive(Debug)]
pub struct DataPlaneHealth {
    report: watch::Receiver<HealthReport>,
}

impl DataPlaneHealth {
    /// Follows `report` (from [`dataplane::DataPlane::health`]).
    pub fn new(report: watch::Receiver<HealthReport>) -> DataPlaneHealth {
        DataPlaneHealth { report }
    }
}

impl TargetHealthSource for DataPlaneHealth {
    fn health(&self, target_group_arn: &str, ip: IpAddr, port: u16) -> Option<ObservedHealth> {
        target_health(
            &self.report.borrow(),
            target_group_arn,
            SocketAddr::new(ip, port),
        )
    }
}

/// The health of `addr` in `target_group_arn`. The data plane checks a group once per (load
/// balancer, zone) node (keys `<arn>@<lb>/<zone>`, see [`crate::data_path`]); the answer is the
/// worst of them: unhealthy for any node, else initial while any node has no verdict, else
/// healthy. `None` when no node checks it (draining and unused are the control plane's).
pub fn target_health(
    report: &HealthReport,
    target_group_arn: &str,
    addr: SocketAddr,
) -> Option<ObservedHealth> {
    let mut worst: Option<ObservedHealth> = None;
    for (key, targets) in report {
        if key.split_once('@').map(|(arn, _)| arn) != Some(target_group_arn) {
            continue;
        }
        let Some(h) = targets.get(&addr).and_then(observed) else {
            continue;
        };
        let rank = |s: ObservedState| match s {
            ObservedState::Healthy => 0,
            ObservedState::Initial => 1,
            ObservedState::Unhealthy => 2,
        };
        if worst.as_ref().is_none_or(|w| rank(h.state) > rank(w.state)) {
            worst = Some(h);
        }
    }
    worst
}

/// A health-check verdict in the control plane's terms; `None` for the states the control
/// plane derives itself.
fn observed(h: &TargetHealth) -> Option<ObservedHealth> {
    let state = match h.state {
        TargetState::Initial => ObservedState::Initial,
        TargetState::Healthy => ObservedState::Healthy,
        TargetState::Unhealthy => ObservedState::Unhealthy,
        TargetState::Unused | TargetState::Draining | TargetState::Unavailable => return None,
    };
    let reason = h.reason.and_then(|r| match r {
        Reason::InitialHealthChecking => Some(ObservedReason::InitialHealthChecking),
        Reason::Timeout => Some(ObservedReason::Timeout),
        Reason::FailedHealthChecks => Some(ObservedReason::FailedHealthChecks),
        Reason::ResponseCodeMismatch => Some(ObservedReason::ResponseCodeMismatch),
        Reason::DeregistrationInProgress | Reason::NotInUse => None,
    });
    Some(ObservedHealth {
        state,
        reason,
        description: h.description.clone(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn report(entries: &[(&str, &str, TargetHealth)]) -> HealthReport {
        let mut r: HealthReport = BTreeMap::new();
        for (key, addr, h) in entries {
            r.entry((*key).to_string())
                .or_default()
                .insert(addr.parse().unwrap(), h.clone());
        }
        r
    }

    fn unhealthy() -> TargetHealth {
        TargetHealth {
            state: TargetState::Unhealthy,
            reason: Some(Reason::Timeout),
            description: Some("Request timed out".into()),
        }
    }

    const ARN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/a/1";

    #[test]
    fn worst_verdict_across_nodes() {
        let a = "10.0.1.4:80";
        let k1 = format!("{ARN}@lb1/us-east-1a");
        let k2 = format!("{ARN}@lb1/us-east-1b");
        let r = report(&[
            (&k1, a, TargetHealth::healthy()),
            (&k2, a, TargetHealth::initial()),
        ]);
        let h = target_health(&r, ARN, a.parse().unwrap()).unwrap();
        assert_eq!(h.state, ObservedState::Initial);
        assert_eq!(h.reason, Some(ObservedReason::InitialHealthChecking));
        let r = report(&[(&k1, a, unhealthy()), (&k2, a, TargetHealth::healthy())]);
        let h = target_health(&r, ARN, a.parse().unwrap()).unwrap();
        assert_eq!(h.state, ObservedState::Unhealthy);
        assert_eq!(h.reason.unwrap().as_str(), "Target.Timeout");
        assert_eq!(h.description.as_deref(), Some("Request timed out"));
        let r = report(&[(&k1, a, TargetHealth::healthy())]);
        let h = target_health(&r, ARN, a.parse().unwrap()).unwrap();
        assert_eq!(h.state, ObservedState::Healthy);
        assert_eq!(h.reason, None);
    }

    #[test]
    fn other_groups_ports_and_derived_states_are_not_answers() {
        let a = "10.0.1.4:80";
        let other = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/a/12";
        let r = report(&[
            (&format!("{other}@lb1/us-east-1a"), a, unhealthy()),
            (&format!("{ARN}@lb1/us-east-1a"), "10.0.1.4:81", unhealthy()),
            (
                &format!("{ARN}@lb2/us-east-1a"),
                a,
                TargetHealth::draining(),
            ),
        ]);
        assert_eq!(target_health(&r, ARN, a.parse().unwrap()), None);
        assert_eq!(
            target_health(&HealthReport::new(), ARN, a.parse().unwrap()),
            None
        );
    }
}
