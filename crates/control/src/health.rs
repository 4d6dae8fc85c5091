//! Observed target health: what the data plane's health checks found. It is not desired state,
//! so it never enters the store; the node publishes it through a [`TargetHealthSource`] that
//! DescribeTargetHealth consults.

use std::fmt;
use std::net::IpAddr;

/// A health-check verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservedState {
    /// Checked, but no verdict yet.
    Initial,
    Healthy,
    Unhealthy,
}

impl ObservedState {
    /// The wire value of `TargetHealth.State`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservedState::Initial => "initial",
            ObservedState::Healthy => "healthy",
            ObservedState::Unhealthy => "unhealthy",
        }
    }
}

/// Why a target is not healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObservedReason {
    InitialHealthChecking,
    Timeout,
    FailedHealthChecks,
    ResponseCodeMismatch,
}

impl ObservedReason {
    /// The wire value of `TargetHealth.Reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservedReason::InitialHealthChecking => "Elb.InitialHealthChecking",
            ObservedReason::Timeout => "Target.Timeout",
            ObservedReason::FailedHealthChecks => "Target.FailedHealthChecks",
            ObservedReason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
        }
    }
}

/// One target's observed health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedHealth {
    pub state: ObservedState,
    /// Absent for `healthy`, as in AWS.
    pub reason: Option<ObservedReason>,
    pub description: Option<String>,
}

/// Where DescribeTargetHealth reads health-check results from.
pub trait TargetHealthSource: Send + Sync + fmt::Debug {
    /// The health of the target at `ip:port` (an instance target: the instance's private
    /// address) of `target_group_arn`; `None` while the data plane does not check it.
    fn health(&self, target_group_arn: &str, ip: IpAddr, port: u16) -> Option<ObservedHealth>;
}
