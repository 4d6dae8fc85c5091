//! What the reconciler does for PrivateLink records: services whose load balancers are all
//! active become `Available`; `pending` endpoints become `available` (here only without a
//! node; with one, once the node has programmed their data path); `Deleting` services and
//! `deleting` endpoints are finished (interfaces released, records removed).
//!
//! `plan` only reads, so a pass with nothing to do writes nothing; `apply` re-checks every
//! step against the records it finds, so applying a stale or repeated plan is harmless.

use model::vpce::{EndpointEvent, EndpointService, EndpointState, ServiceState, VpcEndpoint};

use super::{delete_notifications_of, load_balancers_active};
use crate::{AwsError, Db, eni};

/// One thing to move on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `Pending` service whose load balancers are all active → `Available`.
    ServiceAvailable(String),
    /// `Deleting` service → `Deleted`: the record goes.
    ServiceDeleted(String),
    /// `pending` endpoint with a complete record → `available`.
    EndpointReady(String),
    /// `deleting` endpoint → `deleted`: interfaces released, the record goes.
    EndpointDeleted(String),
}

/// Whether `step` still applies to the records as they are now.
fn applies(db: &mut Db<'_>, step: &Step) -> Result<bool, AwsError> {
    Ok(match step {
        Step::ServiceAvailable(id) => match db.get::<EndpointService>(id)? {
            Some(s) => {
                s.state == ServiceState::Pending
                    && load_balancers_active(db, &s.network_load_balancer_arns)?
            }
            None => false,
        },
        Step::ServiceDeleted(id) => db
            .get::<EndpointService>(id)?
            .is_some_and(|s| s.state == ServiceState::Deleting),
        Step::EndpointReady(id) => db
            .get::<VpcEndpoint>(id)?
            .is_some_and(|e| e.state.next(EndpointEvent::Ready).is_ok()),
        Step::EndpointDeleted(id) => db
            .get::<VpcEndpoint>(id)?
            .is_some_and(|e| e.state.next(EndpointEvent::Deleted).is_ok()),
    })
}

/// The steps due now. With `endpoints_ready`, a `pending` endpoint becomes `available` as
/// soon as its record is complete (no node: nothing to program); without, the node moves it
/// once its data path is programmed (see `reconcile::world::endpoints_programmed`).
pub fn plan(db: &mut Db<'_>, endpoints_ready: bool) -> Result<Vec<Step>, AwsError> {
    let mut steps = Vec::new();
    for svc in db.list::<EndpointService>(None)? {
        let step = match svc.state {
            ServiceState::Pending => Step::ServiceAvailable(svc.id),
            ServiceState::Deleting => Step::ServiceDeleted(svc.id),
            _ => continue,
        };
        if applies(db, &step)? {
            steps.push(step);
        }
    }
    for e in db.list::<VpcEndpoint>(None)? {
        match e.state {
            EndpointState::Pending if endpoints_ready => steps.push(Step::EndpointReady(e.id)),
            EndpointState::Deleting => steps.push(Step::EndpointDeleted(e.id)),
            _ => {}
        }
    }
    Ok(steps)
}

/// Carries out the steps that still apply; returns how many did.
pub fn apply(db: &mut Db<'_>, steps: &[Step]) -> Result<usize, AwsError> {
    let mut done = 0;
    for step in steps {
        if !applies(db, step)? {
            continue;
        }
        match step {
            Step::ServiceAvailable(id) => {
                if let Some(mut s) = db.get::<EndpointService>(id)? {
                    s.state = ServiceState::Available;
                    db.put(&s)?;
                }
            }
            Step::ServiceDeleted(id) => {
                delete_notifications_of(db, id)?;
                db.delete::<EndpointService>(id)?;
            }
            Step::EndpointReady(id) => {
                if let Some(mut e) = db.get::<VpcEndpoint>(id)? {
                    e.state = e
                        .state
                        .next(EndpointEvent::Ready)
                        .map_err(AwsError::internal)?;
                    db.put(&e)?;
                }
            }
            Step::EndpointDeleted(id) => {
                if let Some(e) = db.get::<VpcEndpoint>(id)? {
                    for i in &e.interfaces {
                        eni::release(db, &i.network_interface_id)?;
                    }
                    delete_notifications_of(db, id)?;
                    db.delete::<VpcEndpoint>(id)?;
                }
            }
        }
        done += 1;
    }
    Ok(done)
}
