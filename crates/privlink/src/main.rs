//! The privlink binary: `privlink serve` runs the control plane on one endpoint speaking the
//! AWS EC2 and ELBv2 Query APIs, and makes its VPCs real as network namespaces (and, as it
//! grows, the data plane and DNS); `privlink destroy` removes everything a daemon made;
//! `privlink exec` enters an instance; `privlink demo` runs the PrivateLink scenario against
//! a daemon.

mod demo;
mod dns;
mod lock;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// Serve the EC2 and ELBv2 APIs and run the VPC network.
    Serve(ServeArgs),
    /// Remove everything the daemon of a data dir made: its network namespaces and the data
    /// dir itself. Refused while that daemon runs.
    Destroy(DestroyArgs),
    /// Run a command inside an instance's network namespace, with its resolv.conf, as the
    /// calling user; exits with the command's status (2 if the instance cannot be entered).
    Exec(ExecArgs),
    /// Run the PrivateLink scenario against a running daemon (as root, with its network):
    /// two accounts, a service behind an NLB, an interface endpoint, traffic through it;
    /// each step shown as its AWS CLI command. Removes what it made, unless --keep.
    Demo(DemoArgs),
}

#[derive(Debug, clap::Args)]
struct DemoArgs {
    /// The daemon's API.
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    endpoint_url: String,
    /// The daemon's data directory, to enter the consumer's instance (default: as for `serve`).
    #[arg(long, env = "PRIVLINK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The region the daemon serves.
    #[arg(long, env = "PRIVLINK_REGION", default_value = "us-east-1")]
    region: String,
    /// Leave everything in place after a successful run (and print how to remove it).
    #[arg(long)]
    keep: bool,
}

#[derive(Debug, clap::Args)]
struct ExecArgs {
    /// The daemon's data directory (default: as for `serve`).
    #[arg(long, env = "PRIVLINK_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The instance (i-…).
    instance_id: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    command: Vec<std::ffi::OsString>,
}

#[derive(Debug, clap::Args)]
struct DestroyArgs {
    /// The daemon's data directory (default: as for `serve`).
    #[arg(long, env = "PRIVLINK_DATA_DIR")]
    data_dir: Option<PathBuf>,
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
    /// Run the control plane only: no network namespaces (VPCs exist in the API alone,
    /// instances stay `pending`). Needs no root.
    #[arg(long, env = "PRIVLINK_NO_NETWORK", value_parser = clap::builder::BoolishValueParser::new())]
    no_network: bool,
    /// Worker threads of the data plane (proxied connections, health checks), on a runtime
    /// apart from the API's. Default: half the CPUs, at least two (binding a listener blocks
    /// a worker briefly; another keeps serving connections).
    #[arg(long, env = "PRIVLINK_DATAPLANE_THREADS")]
    dataplane_threads: Option<usize>,
    /// An upstream resolver for names outside privlink's zones and for private DNS name
    /// verification: `IP` or `IP:PORT`; repeatable. Default: the host's /etc/resolv.conf.
    /// Queries to it leave from the host's own namespace.
    #[arg(long = "dns-upstream", value_name = "ADDR", value_parser = dns::parse_upstream)]
    dns_upstreams: Vec<SocketAddr>,
    /// Also serve the public view of DNS (endpoint names, the rest forwarded) on the host, on
    /// UDP and TCP ADDR (port 0 picks a free one; the bound address is printed). Off unless
    /// given.
    #[arg(long, env = "PRIVLINK_DNS_LISTEN", value_name = "ADDR")]
    dns_listen: Option<SocketAddr>,
    /// How often every service's private DNS name is verified again (seconds); a provider's
    /// StartVpcEndpointServicePrivateDnsVerification checks at once.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    dns_verify_interval: u64,
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
        Command::Destroy(args) => destroy(args),
        Command::Exec(args) => {
            let code = exec(args);
            std::process::exit(code)
        }
        Command::Demo(args) => demo::run(
            &demo::Options {
                endpoint_url: args.endpoint_url,
                data_dir_given: args.data_dir.is_some(),
                data_dir: args.data_dir.unwrap_or_else(default_data_dir),
                region: args.region,
                keep: args.keep,
            },
            is_root(),
        ),
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
    if !args.no_network && !is_root() {
        bail!("privlink serve needs root for VPC networking; use --no-network for the API only");
    }
    // Every proxied connection holds two sockets and up to four pipe ends; the soft limit
    // (often 1024) would cap the data plane long before memory does.
    match dataplane::raise_nofile_limit() {
        Ok(limit) => tracing::info!(limit, "open files limit (RLIMIT_NOFILE)"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
    }
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    // Held until the process ends (also by kill -9): one daemon per data dir, and
    // `privlink destroy` never pulls the state from under a running one.
    let _lock = match lock::DataDirLock::acquire(&data_dir)? {
        Some(lock) => lock,
        None => bail!(
            "another privlink daemon is serving data dir {}",
            data_dir.display()
        ),
    };
    let upstreams = dns::upstreams(&args.dns_upstreams)?;
    if upstreams.is_empty() {
        tracing::warn!("no upstream resolver: names outside privlink's zones get SERVFAIL");
    } else {
        tracing::info!(?upstreams, "DNS upstreams");
    }
    let resolver = ::dns::Dns::new(::dns::DnsConfig {
        upstreams,
        ..::dns::DnsConfig::default()
    });
    let network = if args.no_network {
        tracing::info!("--no-network: control plane only, no VPC networking");
        None
    } else {
        let prefix = netns::Prefix::from_data_dir(&data_dir);
        tracing::info!(%prefix, "VPC networking: namespaces under /run/netns/{prefix}-*");
        let instances = Arc::new(
            node::Instances::new(&data_dir, &args.region)
                .with_context(|| format!("instance workloads in {}", data_dir.display()))?,
        );
        let threads = args.dataplane_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, |n| (n.get() / 2).max(2))
        });
        tracing::info!(threads, "data plane runtime");
        let node = node::NetworkNode::new(prefix)
            .with_dataplane_threads(threads)
            .context("starting the data plane's runtime")?
            .with_instances(instances.clone())
            .with_resolvers(node::VpcResolvers::new(resolver.clone(), &args.region));
        Some((Arc::new(node), instances))
    };
    let store = store::SqliteStore::open(&data_dir.join("privlink.db"))
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let region = model::region::Region::new(&args.region);
    let mut control = control::ControlPlane::new(Arc::new(store), region);
    if let Some((node, _)) = &network {
        control = control.with_health_source(node.health_source());
    }
    let control = Arc::new(control);

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
        let stop = {
            let mut rx = shutdown.subscribe();
            async move {
                let _ = rx.recv().await;
            }
        };
        let public_dns = match args.dns_listen {
            Some(addr) => {
                let (serving, bound) = dns::listen_public(&resolver, addr)?;
                tracing::info!(%bound, "public DNS view");
                Some((serving, bound))
            }
            None => None,
        };
        let verifier = tokio::spawn(dns::verify_private_dns_names(
            control.clone(),
            resolver.clone(),
            std::time::Duration::from_secs(args.dns_verify_interval.max(1)),
            shutdown_signal(&shutdown),
        ));
        if network.is_none() {
            tokio::spawn(dns::follow_records(
                control.clone(),
                resolver.clone(),
                args.region.clone(),
                shutdown_signal(&shutdown),
            ));
        }
        let mut data_plane = None;
        let reconciler = match network {
            Some((node, instances)) => {
                tokio::spawn(record_exits(control.clone(), instances.events()));
                data_plane = Some(node.clone());
                tokio::spawn(control::reconcile::run_with_node(
                    control.clone(),
                    node,
                    stop,
                ))
            }
            None => tokio::spawn(control::reconcile::run(control.clone(), stop)),
        };
        let app = api::router(Arc::new(api::AppState {
            control,
            accounts,
        }));
        tracing::info!(data_dir = %data_dir.display(), region = %args.region, "privlink serving on http://{bound}");
        // Tests and scripts read the bound address from this line.
        println!("privlink listening on http://{bound}");
        // Then this one, when asked for (the API's line stays first).
        if let Some((_, dns_bound)) = &public_dns {
            println!("privlink DNS listening on {dns_bound}");
        }
        let mut rx = shutdown.subscribe();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.recv().await;
            })
            .await
            .context("serving")?;
        let _ = reconciler.await;
        let _ = verifier.await;
        drop(public_dns);
        // Clients see their connections reset, not a clean end of stream that could pass
        // for a complete answer. (Instances keep running; a restarted daemon serves again.)
        if let Some(node) = data_plane {
            node.dataplane().shutdown().await;
        }
        Ok(())
    })
}

fn destroy(args: DestroyArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let data_dir = std::path::absolute(&data_dir)
        .with_context(|| format!("resolving {}", data_dir.display()))?;
    let exists = data_dir.is_dir();
    let is_privlink_dir = exists && lock::is_data_dir(&data_dir);
    // Taken (and kept) before anything is removed: a daemon starting meanwhile fails.
    let _lock = if is_privlink_dir {
        match lock::DataDirLock::acquire(&data_dir)? {
            Some(lock) => Some(lock),
            None => bail!(
                "a privlink daemon is running on data dir {}; stop it first",
                data_dir.display()
            ),
        }
    } else {
        None
    };
    // The prefix comes from the canonical path, so it is computed before the dir goes.
    let prefix = netns::Prefix::from_data_dir(&data_dir);
    // Workloads die before their namespaces go (and before their files do).
    if is_privlink_dir && data_dir.join(workload::INSTANCES_DIR).is_dir() {
        if !is_root() {
            bail!("stopping the instances' workloads needs root");
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let killed = runtime
            .block_on(node::destroy_workloads(&data_dir))
            .context("stopping the instances' workloads")?;
        if killed > 0 {
            println!("stopped {killed} instance workloads");
        }
    }
    let namespaces = netns::list(&prefix)
        .with_context(|| format!("listing the namespaces of prefix {prefix}"))?;
    if !namespaces.is_empty() {
        if !is_root() {
            bail!(
                "{} network namespaces of prefix {prefix} remain; deleting them needs root",
                namespaces.len()
            );
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?;
        let deleted = runtime
            .block_on(node::destroy(prefix.clone()))
            .with_context(|| format!("deleting the namespaces of prefix {prefix}"))?;
        println!(
            "deleted {} network namespaces of prefix {prefix}",
            deleted.len()
        );
    }
    if is_privlink_dir {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("removing data dir {}", data_dir.display()))?;
        println!("removed data dir {}", data_dir.display());
    } else if exists {
        println!("left {}: it holds no privlink state", data_dir.display());
    }
    Ok(())
}

/// Writes every workload exit through to the store: the instance becomes `stopped`.
async fn record_exits(
    control: Arc<control::ControlPlane>,
    mut exits: tokio::sync::mpsc::UnboundedReceiver<workload::Exited>,
) {
    while let Some(exit) = exits.recv().await {
        tracing::info!(instance = %exit.id, status = %exit.status, "instance workload exited");
        let cp = control.clone();
        let ids = vec![exit.id];
        match tokio::task::spawn_blocking(move || {
            control::reconcile::world::instances_stopped(&cp, &ids)
        })
        .await
        {
            Ok(Ok(_)) => {}
            // The next node pass reports it again.
            Ok(Err(e)) => tracing::warn!(error = %e, "recording a stopped instance failed"),
            Err(e) => tracing::error!(error = %e, "recording a stopped instance panicked"),
        }
    }
}

/// `privlink exec`: the command's exit code, or 2 when the instance cannot be entered.
fn exec(args: ExecArgs) -> i32 {
    match exec_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("privlink exec: {e:#}");
            2
        }
    }
}

fn exec_inner(args: &ExecArgs) -> anyhow::Result<i32> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let id = args.instance_id.as_str();
    let db = data_dir.join("privlink.db");
    if !db.is_file() {
        bail!("no privlink state in {}", data_dir.display());
    }
    if !model::ids::is_well_formed("i", id) {
        bail!("'{id}' is not an instance id (i-…)");
    }
    // The store is read directly, so exec works whether or not the daemon runs.
    let store = store::SqliteStore::open(&db)
        .with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let cp = control::ControlPlane::new(Arc::new(store), model::region::Region::new("us-east-1"));
    let instance = control::reconcile::world::instance(&cp, id)
        .map_err(|e| anyhow::anyhow!("reading instance {id}: {e}"))?;
    let Some(instance) = instance else {
        bail!("instance {id} does not exist in {}", data_dir.display());
    };
    let Some((ns, resolv_conf)) = instance_paths(&data_dir, id)? else {
        bail!(
            "instance {id} is {} and has no network to enter",
            instance.state.as_str()
        );
    };
    let status = workload::exec(&ns, &resolv_conf, &args.command)
        .with_context(|| format!("running {:?}", args.command))?;
    // A command killed by a signal: the shell's convention.
    Ok(status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    }))
}

/// An instance's network namespace and resolv.conf under the daemon of `data_dir`, if it
/// has them (it runs, or ran and was not terminated): what `privlink exec` enters.
fn instance_paths(data_dir: &Path, id: &str) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    let prefix = netns::Prefix::from_data_dir(data_dir);
    let ns = Path::new(netns::NETNS_DIR).join(prefix.full_name(id)?);
    let resolv_conf = workload::InstanceDir::new(data_dir, id)?.resolv_conf();
    Ok((ns.exists() && resolv_conf.is_file()).then_some((ns, resolv_conf)))
}

/// A broadcast that fires once on SIGINT or SIGTERM.
/// Resolves when `shutdown` fires.
fn shutdown_signal(
    shutdown: &tokio::sync::broadcast::Sender<()>,
) -> impl std::future::Future<Output = ()> + use<> {
    let mut rx = shutdown.subscribe();
    async move {
        let _ = rx.recv().await;
    }
}

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
