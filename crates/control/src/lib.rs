//! privlink's control plane: one function per API use case, each run in one store
//! transaction, with authorization and AWS's rules. It knows no HTTP and no XML: the API layer
//! hands it typed requests and renders what it returns.

pub mod common;
mod db;
pub mod elb;
pub mod eni;
mod error;
pub mod health;
pub mod net;
pub mod reconcile;
pub mod tags;
pub mod vpce;

use std::sync::Arc;

pub use db::Db;
pub use error::AwsError;
use model::region::Region;
use store::{Outcome, Store, StoreError};

/// Who is asking, and how.
#[derive(Debug, Clone)]
pub struct Context {
    /// The caller's 12-digit account.
    pub account: String,
    pub request_id: String,
    /// EC2 `DryRun=true`: check everything, change nothing, answer `DryRunOperation`.
    pub dry_run: bool,
    /// Whether the account may start workloads (RunInstances).
    pub may_run_instances: bool,
}

impl Context {
    pub fn new(account: impl Into<String>) -> Context {
        Context {
            account: account.into(),
            request_id: String::new(),
            dry_run: false,
            may_run_instances: true,
        }
    }
}

/// The control plane: the store, the region it serves, and a change signal for the reconciler.
#[derive(Debug)]
pub struct ControlPlane {
    store: Arc<dyn Store>,
    pub region: Region,
    changes: tokio::sync::watch::Sender<u64>,
    /// Health-check results, when a data plane runs (`--no-network`: none).
    health: Option<Arc<dyn health::TargetHealthSource>>,
}

impl ControlPlane {
    pub fn new(store: Arc<dyn Store>, region: Region) -> ControlPlane {
        ControlPlane {
            store,
            region,
            changes: tokio::sync::watch::Sender::new(0),
            health: None,
        }
    }

    /// The same control plane, answering DescribeTargetHealth from `source`.
    pub fn with_health_source(mut self, source: Arc<dyn health::TargetHealthSource>) -> Self {
        self.health = Some(source);
        self
    }

    /// Where observed target health comes from, if anywhere.
    pub fn health_source(&self) -> Option<&dyn health::TargetHealthSource> {
        self.health.as_deref()
    }

    /// A receiver that sees a new value after every committed change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Runs a use case in one transaction: committed when it returns `Ok` (unless the request is
    /// a dry run, which is rolled back and answered `DryRunOperation`), rolled back on `Err`.
    pub fn write<R>(
        &self,
        ctx: &Context,
        f: impl FnOnce(&mut Db<'_>) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let out = self.run(ctx.dry_run, f)?;
        if ctx.dry_run {
            return Err(AwsError::dry_run_ok());
        }
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(out)
    }

    /// Runs a read-only use case in one transaction (consistent snapshot; nothing is kept).
    pub fn read<R>(
        &self,
        ctx: &Context,
        f: impl FnOnce(&mut Db<'_>) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let out = self.snapshot(f)?;
        if ctx.dry_run {
            return Err(AwsError::dry_run_ok());
        }
        Ok(out)
    }

    /// Runs `f` on a read-only snapshot (the store may serve these concurrently).
    pub fn snapshot<R>(
        &self,
        f: impl FnOnce(&mut Db<'_>) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let mut f = Some(f);
        let mut out: Option<Result<R, AwsError>> = None;
        self.store.read_transaction(&mut |tx| {
            let Some(f) = f.take() else {
                return Err(StoreError::Backend("transaction body ran twice".into()));
            };
            out = Some(f(&mut Db::new(tx)));
            Ok(())
        })?;
        out.unwrap_or_else(|| Err(AwsError::internal("transaction produced no result")))
    }

    /// Internal writes (the reconciler): committed on `Ok`, no caller context.
    pub fn write_internal<R>(
        &self,
        f: impl FnOnce(&mut Db<'_>) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let out = self.run(false, f)?;
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        Ok(out)
    }

    fn run<R>(
        &self,
        rollback: bool,
        f: impl FnOnce(&mut Db<'_>) -> Result<R, AwsError>,
    ) -> Result<R, AwsError> {
        let mut f = Some(f);
        let mut out: Option<Result<R, AwsError>> = None;
        let res = self.store.transaction(&mut |tx| {
            let Some(f) = f.take() else {
                return Err(StoreError::Backend("transaction body ran twice".into()));
            };
            let r = f(&mut Db::new(tx));
            let ok = r.is_ok();
            out = Some(r);
            Ok(if ok && !rollback {
                Outcome::Commit
            } else {
                Outcome::Rollback
            })
        });
        match (res, out) {
            (Ok(()), Some(r)) => r,
            (Err(StoreError::RolledBack), Some(r)) => r,
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(AwsError::internal("transaction produced no result")),
        }
    }
}
