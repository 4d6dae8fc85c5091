//! The privlink binary: `privlink serve` runs the control plane (and, as it grows, the data
//! plane and DNS) on one endpoint speaking the AWS EC2 and ELBv2 Query APIs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "privlink", version, about = "A self-hosted AWS PrivateLink")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the EC2 and ELBv2 APIs.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, env = "PRIVLINK_LISTEN", default_value = "127.0.0.1:4566")]
    listen: SocketAddr,
    /// Directory for privlink's state (created if missing). Default: /var/lib/privlink as
    /// root, else $XDG_DATA_HOME/privlink or ~/.local/share/privlink.
    #[arg(long, env = "PRIVLINK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The region served; its zones are <region>a, <region>b and <region>c.
    #[arg(long, env = "PRIVLINK_REGION", default_value = "us-east-1")]
    region: String,
    /// Accounts file (TOML). Without it privlink runs in dev mode: no secrets checked,
    /// loopback only.
    #[arg(long, env = "PRIVLINK_ACCOUNTS")]
    accounts: Option<PathBuf>,
}

fn default_data_dir() -> PathBuf {
    if is_root() {
        return PathBuf::from("/var/lib/privlink");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("privlink");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/privlink"),
        None => PathBuf::from("privlink-data"),
    }
}

fn is_root() -> bool {
    // The effective uid is in /proc/self/status; avoids unsafe libc calls in the binary.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PRIVLINK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if !model::region::Region::is_valid_name(&args.region) {
        bail!("'{}' is not a region name (like us-east-1)", args.region);
    }
    let accounts = match &args.accounts {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading accounts file {}", path.display()))?;
            api::Accounts::from_toml(&text)
                .with_context(|| format!("in accounts file {}", path.display()))?
        }
        None => {
            if !args.listen.ip().is_loopback() {
                bail!(
                    "dev mode (no --accounts) checks no credentials and listens only on loopback; {} is not a loopback address",
                    args.listen
                );
            }
            tracing::warn!(
                "dev mode: no accounts file, credentials are not checked; the access key id is the account"
            );
            api::Accounts::Dev
        }
    };
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let store = store::SqliteStore::open(&data_dir.join("privlink.db"))
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let region = model::region::Region::new(&args.region);
    let control = Arc::new(control::ControlPlane::new(Arc::new(store), region));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let bound = listener.local_addr()?;
        let shutdown = tokio_util_shutdown();
        let reconciler = tokio::spawn(control::reconcile::run(control.clone(), {
            let mut rx = shutdown.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        }));
        let app = api::router(Arc::new(api::AppState {
            control,
            accounts,
        }));
        tracing::info!(data_dir = %data_dir.display(), region = %args.region, "privlink serving on http://{bound}");
        // Tests and scripts read the bound address from this line.
        println!("privlink listening on http://{bound}");
        let mut rx = shutdown.subscribe();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.recv().await;
            })
            .await
            .context("serving")?;
        let _ = reconciler.await;
        Ok(())
    })
}

/// A broadcast that fires once on SIGINT or SIGTERM.
fn tokio_util_shutdown() -> tokio::sync::broadcast::Sender<()> {
    let (tx, _) = tokio::sync::broadcast::channel(1);
    let tx2 = tx.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        let _ = tx2.send(());
    });
    tx
}
