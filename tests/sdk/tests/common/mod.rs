//! The harness: a real `privlink serve` on a free loopback port (temporary data dir, dev mode),
//! and SDK clients pointed at it.

#![allow(dead_code)] // each test file uses a different part of it

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::retry::RetryConfig;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};

pub const REGION: &str = "us-east-1";
pub const PROVIDER: &str = "111111111111";
pub const CONSUMER: &str = "222222222222";

/// `PRIVLINK_BIN`, else the `privlink` next to this test's own target directory.
fn privlink_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PRIVLINK_BIN") {
        return PathBuf::from(p);
    }
    // The test executable is <target>/<profile>/deps/<name>-<hash>; the daemon is built as
    // <target>/debug/privlink (`cargo build -p privlink`).
    let exe = std::env::current_exe().expect("current_exe");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf();
    target.join("debug").join("privlink")
}

/// One daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub url: String,
    dir: PathBuf,
    http: SharedHttpClient,
}

impl Daemon {
    pub fn start() -> Daemon {
        let bin = privlink_bin();
        assert!(
            bin.exists(),
            "privlink binary not found at {}: run `cargo build -p privlink` first or set PRIVLINK_BIN",
            bin.display()
        );
        let dir = std::env::temp_dir().join(format!(
            "privlink-sdk-{}-{}",
            std::process::id(),
            aws_sdk_ec2::primitives::DateTime::from(std::time::SystemTime::now()).as_nanos()
        ));
        std::fs::create_dir_all(&dir).expect("create data dir");
        let log = std::fs::File::create(dir.join("daemon.log")).expect("create log");
        let mut child = Command::new(&bin)
            .args([
                "serve",
                // These tests are about the API; namespaces would outlive the killed daemon.
                "--no-network",
                "--listen",
                "127.0.0.1:0",
                "--region",
                REGION,
                "--data-dir",
            ])
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        // The first stdout line names the bound address. Read it on a thread so a daemon that
        // never prints cannot hang the test; the thread then drains stdout until the daemon exits.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            let _ = std::io::copy(&mut reader.take(u64::MAX), &mut std::io::sink());
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "privlink printed no address in 20s; log:\n{}",
                    read_log(&dir)
                );
            }
        };
        let Some((_, url)) = line.trim().split_once("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unexpected first line {line:?}; log:\n{}", read_log(&dir));
        };
        let url = url.to_string();
        // Plain HTTP: the daemon listens on loopback without TLS.
        let http = aws_smithy_http_client::Builder::new().build_http();
        Daemon {
            child,
            url,
            dir,
            http,
        }
    }

    fn credentials(account: &str) -> Credentials {
        // Dev mode: the access key id is the account; the secret is not checked.
        Credentials::new(account, "dev-secret", None, None, "privlink-sdk-tests")
    }

    pub fn ec2(&self, account: &str) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Self::credentials(account))
            .http_client(self.http.clone())
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    pub fn elbv2(&self, account: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        use aws_sdk_elasticloadbalancingv2::config as c;
        let conf = c::Config::builder()
            .behavior_version(c::BehaviorVersion::latest())
            .region(c::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Self::credentials(account))
            .http_client(self.http.clone())
            .retry_config(c::retry::RetryConfig::disabled())
            .build();
        aws_sdk_elasticloadbalancingv2::Client::from_conf(conf)
    }

    pub fn log(&self) -> String {
        read_log(&self.dir)
    }
}

fn read_log(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` until it yields a value, failing after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
