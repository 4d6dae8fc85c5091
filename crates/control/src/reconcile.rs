//! The reconciler: brings observed state to the desired state the store describes. It runs at
//! start-up and after every committed change; each pass is idempotent and level-triggered, so a
//! crash or restart at any moment converges back.

use std::sync::Arc;

use crate::{AwsError, Context, ControlPlane};

/// One pass over the store. Returns how many resources it moved on.
///
/// The steps are planned in a read-only transaction, so an idle pass writes nothing (and
/// wakes nobody); they are then carried out in one transaction that re-checks each of them,
/// so a pass racing a request, or repeated after a crash, does no harm.
pub fn pass(cp: &ControlPlane) -> Result<usize, AwsError> {
    let reader = Context::new("reconciler");
    let steps = cp.read(&reader, crate::vpce::reconcile_plan)?;
    if steps.is_empty() {
        return Ok(0);
    }
    cp.write_internal(|db| crate::vpce::reconcile_apply(db, &steps))
}

/// Runs passes at start-up and after every change until `shutdown` resolves.
pub async fn run(cp: Arc<ControlPlane>, shutdown: impl std::future::Future<Output = ()>) {
    let mut changes = cp.subscribe();
    tokio::pin!(shutdown);
    loop {
        // Consume the pending notification before the pass reads the store: a change committed
        // while the pass runs then wakes the next iteration instead of being lost.
        changes.mark_unchanged();
        let cp2 = cp.clone();
        match tokio::task::spawn_blocking(move || pass(&cp2)).await {
            Ok(Ok(n)) if n > 0 => tracing::debug!(moved = n, "reconciled"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reconcile pass failed"),
            Err(e) => tracing::error!(error = %e, "reconcile pass panicked"),
        }
        tokio::select! {
            _ = &mut shutdown => return,
            r = changes.changed() => if r.is_err() { return },
        }
    }
}
