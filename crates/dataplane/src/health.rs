//! Target health (sans-io): AWS's DescribeTargetHealth states and reason codes, the success-code
//! matcher, the HTTP status-line parser, and the threshold state machine the checker drives.

use std::fmt;
use std::ops::RangeInclusive;

/// `TargetHealth.State` as DescribeTargetHealth reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
    Unavailable,
}

impl TargetState {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::Unused => "unused",
            TargetState::Draining => "draining",
            TargetState::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `TargetHealth.Reason` codes produced by the data plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    InitialHealthChecking,
    Timeout,
    FailedHealthChecks,
    ResponseCodeMismatch,
    DeregistrationInProgress,
    NotInUse,
}

impl Reason {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InitialHealthChecking => "Elb.InitialHealthChecking",
            Reason::Timeout => "Target.Timeout",
            Reason::FailedHealthChecks => "Target.FailedHealthChecks",
            Reason::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Reason::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Reason::NotInUse => "Target.NotInUse",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One target's health as the control plane reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    pub state: TargetState,
    /// Absent for `healthy`, as in AWS.
    pub reason: Option<Reason>,
    pub description: Option<String>,
}

impl TargetHealth {
    /// A newly registered target before its first verdict.
    pub fn initial() -> TargetHealth {
        TargetHealth {
            state: TargetState::Initial,
            reason: Some(Reason::InitialHealthChecking),
            description: Some("Initial health checks in progress".into()),
        }
    }

    /// Passed its checks.
    pub fn healthy() -> TargetHealth {
        TargetHealth {
            state: TargetState::Healthy,
            reason: None,
            description: None,
        }
    }

    /// Deregistered, waiting for the deregistration delay.
    pub fn draining() -> TargetHealth {
        TargetHealth {
            state: TargetState::Draining,
            reason: Some(Reason::DeregistrationInProgress),
            description: Some("Target deregistration is in progress".into()),
        }
    }

    /// In a target group no listener uses.
    pub fn unused() -> TargetHealth {
        TargetHealth {
            state: TargetState::Unused,
            reason: Some(Reason::NotInUse),
            description: Some(
                "Target group is not configured to receive traffic from the load balancer".into(),
            ),
        }
    }

    fn unhealthy(failure: Failure) -> TargetHealth {
        let (reason, description) = match failure {
            Failure::Timeout => (Reason::Timeout, "Request timed out".to_string()),
            Failure::Failed => (
                Reason::FailedHealthChecks,
                "Health checks failed".to_string(),
            ),
            Failure::CodeMismatch(code) => (
                Reason::ResponseCodeMismatch,
                format!("Health checks failed with these codes: [{code}]"),
            ),
        };
        TargetHealth {
            state: TargetState::Unhealthy,
            reason: Some(reason),
            description: Some(description),
        }
    }
}

/// Why one check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection or answer within the timeout.
    Timeout,
    /// Connection refused or reset, or an unparsable answer.
    Failed,
    /// HTTP answered with a status outside the matcher.
    CodeMismatch(u16),
}

/// One check's result.
pub type CheckOutcome = Result<(), Failure>;

/// The HTTP success codes of a health check (`Matcher.HttpCode`): single codes and ranges joined
/// by commas, e.g. `200`, `200,202`, `200-399`, `200-299,302`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher(Vec<RangeInclusive<u16>>);

/// A matcher string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid success-code matcher {0:?}: expected codes like 200, 200,202 or 200-399")]
pub struct MatcherError(pub String);

impl Matcher {
    /// Parses a matcher; codes must be within 100-599.
    pub fn parse(s: &str) -> Result<Matcher, MatcherError> {
        let err = || MatcherError(s.to_string());
        let code = |p: &str| -> Result<u16, MatcherError> {
            let p = p.trim();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            match p.parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(err()),
            }
        };
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (code(lo)?, code(hi)?);
                    if lo > hi {
                        return Err(err());
                    }
                    lo..=hi
                }
                None => {
                    let c = code(part)?;
                    c..=c
                }
            };
            ranges.push(range);
        }
        Ok(Matcher(ranges))
    }

    /// Whether `code` is a success.
    pub fn matches(&self, code: u16) -> bool {
        self.0.iter().any(|r| r.contains(&code))
    }
}

impl Default for Matcher {
    /// NLB's default for HTTP checks.
    fn default() -> Matcher {
        Matcher(vec![200..=399])
    }
}

/// The status code of an HTTP/1.x response whose status line is complete in `buf`, `Ok(None)`
/// if more bytes are needed, `Err(())` if it is not an HTTP/1.x status line.
#[allow(clippy::result_unit_err)]
pub fn parse_status_line(buf: &[u8]) -> Result<Option<u16>, ()> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() > 1024 { Err(()) } else { Ok(None) };
    };
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| ())?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().ok_or(())?;
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") {
        return Err(());
    }
    let code = parts.next().ok_or(())?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    code.parse().map(Some).map_err(|_| ())
}

/// The threshold state machine of one target (pingora's "flip" counting, AWS's states).
///
/// Consecutive successes move an `initial` or `unhealthy` target to `healthy` after
/// `healthy_threshold` checks; consecutive failures move an `initial` or `healthy` one to
/// `unhealthy` after `unhealthy_threshold` checks. A success resets the failure count and
/// vice versa.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthMachine {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    successes: u32,
    failures: u32,
    health: TargetHealth,
}

impl HealthMachine {
    /// A machine in `initial`. Thresholds below 1 are treated as 1.
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32) -> HealthMachine {
        HealthMachine {
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
            successes: 0,
            failures: 0,
            health: TargetHealth::initial(),
        }
    }

    /// Applies changed thresholds (counts so far are kept).
    pub fn set_thresholds(&mut self, healthy_threshold: u32, unhealthy_threshold: u32) {
        self.healthy_threshold = healthy_threshold.max(1);
        self.unhealthy_threshold = unhealthy_threshold.max(1);
    }

    /// The current health.
    pub fn health(&self) -> &TargetHealth {
        &self.health
    }

    /// Feeds one check result; returns true when the reported health changed.
    pub fn observe(&mut self, outcome: CheckOutcome) -> bool {
        let before = self.health.clone();
        match outcome {
            Ok(()) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                if self.health.state != TargetState::Healthy
                    && self.successes >= self.healthy_threshold
                {
                    self.health = TargetHealth::healthy();
                }
            }
            Err(failure) => {
                self.successes = 0;
                self.failures = self.failures.saturating_add(1);
                let is_unhealthy = self.health.state == TargetState::Unhealthy;
                if is_unhealthy || self.failures >= self.unhealthy_threshold {
                    // Keep the latest failure's reason while unhealthy, as AWS does.
                    self.health = TargetHealth::unhealthy(failure);
                }
            }
        }
        self.health != before
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matcher_forms() {
        let m = Matcher::parse("200-399").unwrap();
        assert!(m.matches(200) && m.matches(302) && m.matches(399));
        assert!(!m.matches(199) && !m.matches(400));
        let m = Matcher::parse("200,202").unwrap();
        assert!(m.matches(200) && m.matches(202) && !m.matches(201));
        let m = Matcher::parse("200-299, 302").unwrap();
        assert!(m.matches(250) && m.matches(302) && !m.matches(301));
        assert!(Matcher::default().matches(399) && !Matcher::default().matches(404));
        for bad in [
            "", "abc", "200-", "-200", "300-200", "99", "600", "200,,202", "+200", "2000",
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Ok(Some(200)));
        assert_eq!(parse_status_line(b"HTTP/1.0 503\r\nX: y"), Ok(Some(503)));
        assert_eq!(parse_status_line(b"HTTP/1.1 20"), Ok(None));
        assert_eq!(parse_status_line(b"SSH-2.0-x\r\n"), Err(()));
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), Err(()));
        assert_eq!(parse_status_line(&[b'x'; 2000]), Err(()));
    }

    #[test]
    fn initial_to_healthy_after_threshold() {
        let mut m = HealthMachine::new(3, 2);
        assert_eq!(m.health(), &TargetHealth::initial());
        assert!(!m.observe(Ok(())));
        assert!(!m.observe(Ok(())));
        assert!(m.observe(Ok(())));
        assert_eq!(m.health().state, TargetState::Healthy);
        assert_eq!(m.health().reason, None);
    }

    #[test]
    fn healthy_to_unhealthy_after_threshold_and_back() {
        let mut m = HealthMachine::new(2, 3);
        m.observe(Ok(()));
        m.observe(Ok(()));
        assert_eq!(m.health().state, TargetState::Healthy);
        assert!(!m.observe(Err(Failure::Failed)));
        assert!(!m.observe(Err(Failure::Failed)));
        // An intervening success resets the count.
        assert!(!m.observe(Ok(())));
        assert!(!m.observe(Err(Failure::Failed)));
        assert!(!m.observe(Err(Failure::Failed)));
        assert!(m.observe(Err(Failure::Timeout)));
        assert_eq!(m.health().state, TargetState::Unhealthy);
        assert_eq!(m.health().reason, Some(Reason::Timeout));
        // The reason follows the latest failure.
        assert!(m.observe(Err(Failure::CodeMismatch(503))));
        assert_eq!(m.health().reason, Some(Reason::ResponseCodeMismatch));
        assert_eq!(
            m.health().description.as_deref(),
            Some("Health checks failed with these codes: [503]")
        );
        assert!(!m.observe(Ok(())));
        assert!(m.observe(Ok(())));
        assert_eq!(m.health().state, TargetState::Healthy);
    }

    #[test]
    fn initial_to_unhealthy() {
        let mut m = HealthMachine::new(5, 2);
        assert!(!m.observe(Err(Failure::Failed)));
        assert!(m.observe(Err(Failure::Failed)));
        assert_eq!(m.health().state, TargetState::Unhealthy);
        assert_eq!(m.health().reason, Some(Reason::FailedHealthChecks));
        assert_eq!(
            m.health().reason.unwrap().as_str(),
            "Target.FailedHealthChecks"
        );
    }

    #[test]
    fn zero_thresholds_are_one() {
        let mut m = HealthMachine::new(0, 0);
        assert!(m.observe(Ok(())));
        assert!(m.observe(Err(Failure::Failed)));
    }

    #[test]
    fn wire_names() {
        assert_eq!(TargetState::Draining.as_str(), "draining");
        assert_eq!(
            TargetHealth::draining().reason.unwrap().as_str(),
            "Target.DeregistrationInProgress"
        );
        assert_eq!(
            TargetHealth::initial().reason.unwrap().as_str(),
            "Elb.InitialHealthChecking"
        );
        assert_eq!(TargetHealth::unused().state.as_str(), "unused");
    }
}
