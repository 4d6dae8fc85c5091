//! Private DNS name verification: which services' names are due for a TXT lookup, and what a
//! lookup's outcome does to their `privateDnsNameConfiguration` state. The lookup itself is the
//! daemon's (it knows the upstream resolvers); the rules are here.
//!
//! As AWS does: a name is checked when its provider asks
//! (StartVpcEndpointServicePrivateDnsVerification) and periodically. Finding the challenge
//! value makes it `verified`; not finding it fails a name that was verified (its status
//! changed) or whose check was asked for, and leaves a name nobody asked about pending.

use std::time::Duration;

use model::vpce::{EndpointService, verification_record_names};
use time::OffsetDateTime;

use crate::{AwsError, ControlPlane};

/// A service whose private DNS name should be looked up now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueVerification {
    pub service_id: String,
    /// The TXT record names to look at, most specific first (see
    /// [`model::vpce::verification_record_names`]).
    pub record_names: Vec<String>,
    /// The value one of them must hold, exactly (`vpce:<random>`).
    pub value: String,
    /// The challenge record name the check was planned for: a name changed meanwhile has a
    /// new challenge, and the outcome is then dropped.
    pub challenge: String,
}

/// The services whose private DNS name is due at `now`: never checked, asked for since the last
/// check, or last checked `interval` ago or more.
pub fn verifications_due(
    cp: &ControlPlane,
    now: OffsetDateTime,
    interval: Duration,
) -> Result<Vec<DueVerification>, AwsError> {
    cp.snapshot(|db| {
        Ok(db
            .list::<EndpointService>(None)?
            .into_iter()
            .filter_map(|svc| {
                let name = svc.private_dns_name.as_deref()?;
                let config = svc.private_dns_name_configuration.as_ref()?;
                let due = asked_since_last_check(&svc)
                    || svc
                        .private_dns_last_checked
                        .is_none_or(|last| now - last >= interval);
                due.then(|| DueVerification {
                    service_id: svc.id.clone(),
                    record_names: verification_record_names(name, &config.name),
                    value: config.value.clone(),
                    challenge: config.name.clone(),
                })
            })
            .collect())
    })
}

/// How soon any service becomes due after `now` (for the verifier's sleep), if any has a name.
pub fn next_verification(
    cp: &ControlPlane,
    now: OffsetDateTime,
    interval: Duration,
) -> Result<Option<Duration>, AwsError> {
    cp.snapshot(|db| {
        Ok(db
            .list::<EndpointService>(None)?
            .iter()
            .filter(|s| s.private_dns_name_configuration.is_some())
            .map(|s| match s.private_dns_last_checked {
                None => Duration::ZERO,
                Some(last) => {
                    let next = last + interval;
                    if next <= now {
                        Duration::ZERO
                    } else {
                        (next - now).unsigned_abs()
                    }
                }
            })
            .min())
    })
}

/// Records a lookup's outcome for `due` (`found`: one of its record names holds the value) and
/// returns the name's state afterwards, or `None` when the service or its challenge is gone.
/// The check's time is written with the outcome, changed or not: it spaces the periodic checks.
pub fn record_verification(
    cp: &ControlPlane,
    due: &DueVerification,
    found: bool,
    now: OffsetDateTime,
) -> Result<Option<String>, AwsError> {
    cp.write_internal(|db| {
        let Some(mut svc) = db.get::<EndpointService>(&due.service_id)? else {
            return Ok(None);
        };
        let asked = asked_since_last_check(&svc);
        let Some(config) = svc.private_dns_name_configuration.as_mut() else {
            return Ok(None);
        };
        if config.name != due.challenge {
            return Ok(None);
        }
        let next = if found {
            "verified"
        } else if asked || config.state == "verified" {
            "failed"
        } else {
            config.state.as_str()
        }
        .to_string();
        config.state = next.clone();
        svc.private_dns_last_checked = Some(now);
        db.put(&svc)?;
        Ok(Some(next))
    })
}

/// Whether the provider asked for a check (StartVpcEndpointServicePrivateDnsVerification)
/// that has not run yet.
fn asked_since_last_check(svc: &EndpointService) -> bool {
    match (
        svc.private_dns_verification_requested,
        svc.private_dns_last_checked,
    ) {
        (Some(asked), Some(last)) => asked >= last,
        (Some(_), None) => true,
        (None, _) => false,
    }
}
