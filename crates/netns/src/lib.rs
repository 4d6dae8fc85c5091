//! Linux networking for privlink's data plane: every VPC, subnet, instance and ENI becomes
//! real kernel networking — network namespaces, bridges, veth pairs, addresses, routes and
//! nftables rules — set up by the daemon over netlink, never by shelling out to `ip`.
//!
//! This is the only crate of the workspace allowed `unsafe` code, and it has one block: the
//! `pre_exec` hook that enters a namespace in a child process (see [`Netns::command`]).
//! Everything else (`setns`, `unshare`, `mount`) goes through `nix`'s safe wrappers.
//!
//! # Naming: one prefix per daemon
//!
//! Every namespace is `/run/netns/<prefix>-<name>`. The [`Prefix`] is derived from the
//! daemon's data directory ([`Prefix::from_data_dir`]: `pl` + 6 hex digits of a hash of the
//! canonical path), so
//! - several daemons on one host, and tests running in parallel, never touch each other's
//!   namespaces;
//! - a restarted daemon finds exactly its own namespaces again ([`list`]) and can delete the
//!   ones its store no longer wants, or all of them ([`cleanup`]).
//!
//! The prefix is 6 hex digits rather than 4: namespace names are file names with room to
//! spare, and 24 bits make two daemons' prefixes collide with probability 1 in 16 million
//! instead of 1 in 65 536.
//!
//! Interfaces carry no daemon prefix: they only ever exist inside the daemon's own
//! namespaces (a veth is created inside one namespace with its peer created directly inside
//! another — [`Netns::add_veth`] — so no interface ever appears in the host's namespace),
//! and names need only be unique within a namespace. Interface names hold at most 15 bytes
//! (IFNAMSIZ); [`IfName::hashed`] maps a long id (`subnet-0123456789abcdef0`) to a
//! deterministic 15-byte name (`br` + 13 hex digits of its hash). The hash is FNV-1a,
//! written out here, because names must stay the same across builds and Rust versions.
//!
//! # Persistence
//!
//! A namespace is kept alive by a bind mount, exactly as `ip netns add` does it: `/run/netns`
//! is made a shared mount point, an empty file `/run/netns/<prefix>-<name>` is created, and a
//! short-lived thread `unshare(CLONE_NEWNET)`s and bind-mounts `/proc/thread-self/ns/net`
//! onto it. So operators can use `ip netns exec pl1a2b3c-vpc-… ip addr`, namespaces
//! survive a daemon restart (the daemon reconciles instead of rebuilding), and
//! [`Netns::create`] is idempotent: an existing namespace is opened, a file left empty by a
//! creation that was interrupted is mounted. [`delete`] lazily unmounts and removes the file.
//!
//! # Threads: where code runs inside a namespace
//!
//! `setns(2)` moves only the calling thread, and a tokio task may resume on any worker
//! thread, so the crate never calls `setns` on a thread it does not own. Each [`Netns`]
//! handle starts, on first use, one **worker thread** that enters the namespace and then
//! runs jobs from a channel, one at a time:
//! - [`Netns::run`] (blocking) and [`Netns::run_async`] (a future, for tokio) run a closure
//!   there and return its result;
//! - sockets: [`Netns::tcp_listener`], [`Netns::tcp_socket`] (unconnected, bound, ready for
//!   `tokio::net::TcpSocket::from_std_stream`), [`Netns::udp_socket`]. A socket stays in the
//!   namespace it was made in, so the fd is handed back to the caller's runtime, which does
//!   all the I/O; the worker is busy only for the few system calls that create it;
//! - netlink: the worker lazily opens a netlink socket *inside the namespace* and drives it
//!   on its own current-thread tokio runtime. The link, address and route methods
//!   ([`Netns::add_bridge`], [`Netns::add_veth`], [`Netns::set_controller`],
//!   [`Netns::add_address`], [`Netns::add_default_route`], [`Netns::set_neighbour`], …)
//!   are async and run there;
//!   [`Netns::netlink`] is the escape hatch to any other [`rtnetlink`] request;
//! - per-namespace sysctls ([`Netns::set_ipv4_forwarding`]) are written from the worker,
//!   since `/proc/sys/net` shows the opening thread's namespace.
//!
//! A persistent worker instead of a thread per call: every proxied connection needs a
//! socket created in the provider's namespace. Measured by the `socket_creation_round_trip`
//! test (2-core machine, debug build, mean of 2000): an empty job round trip from a tokio
//! task is 3.3–3.7 µs, a TCP socket made through the worker 6.2–7.3 µs, against 2.1 µs for
//! the same socket made on the calling thread, and 16–290 µs for a fresh thread per socket
//! that enters the namespace (`setns` slows down a lot while the kernel is tearing other
//! namespaces down). So the hop adds ~5 µs per connection, small beside the connect
//! itself. Creating a namespace takes 1–2.5 ms, deleting one well under 1 ms. Jobs of one namespace run in order on its one worker; namespaces do
//! not wait on each other.
//!
//! Dropping the last clone of a handle ends its worker; a daemon can drop the handles of
//! namespaces it is not using and open them again later. Don't block a worker (it serves
//! every job of its namespace), and don't make two workers wait on each other.
//!
//! Child processes (`nft`, workloads) enter the namespace between `fork` and `exec`
//! ([`Netns::command`]), so they never occupy the worker.
//!
//! # nftables
//!
//! [`Netns::nft_apply`] loads a script with `nft -f -` inside the namespace (one kernel
//! transaction); [`Netns::nft_replace_table`] swaps a whole named table atomically, the
//! natural unit for a security group's rules. The `nft` program comes from the `nftables`
//! package; if it is missing the error ([`Error::NftMissing`]) says so.
//!
//! # Clean-up
//!
//! Deleting a namespace deletes every link in it; a veth pair goes when either end goes.
//! So a daemon's whole kernel footprint is its namespaces, and [`cleanup`] of its prefix
//! removes all of it. The kernel frees a namespace once no handle, socket or process refers
//! to it any more; the name is free at once. Tests hold a [`CleanupGuard`] on a prefix of
//! their own, which deletes everything under it when dropped, pass or fail.
//!
//! # Privileges
//!
//! Creating namespaces and links needs root (`CAP_SYS_ADMIN` and `CAP_NET_ADMIN`); an `EPERM`
//! error says so. The crate never changes the host's own network: it creates nothing in the
//! root namespace and writes no sysctl outside a namespace it made.

mod error;
mod link;
mod name;
mod nft;
mod ns;
pub mod sock;
mod worker;

pub use error::{Error, Result};
pub use link::{Link, Neighbour, Route, Rule};
pub use name::{IFNAMSIZ_MAX, IfName, NS_NAME_MAX, Prefix};
pub use nft::{NftFamily, nft_program, replace_table_script};
pub use ns::{CleanupGuard, NETNS_DIR, Netns, cleanup, delete, exists, list};

/// Re-exported so callers of [`Netns::netlink`] use the same versions as this crate.
pub use rtnetlink;
