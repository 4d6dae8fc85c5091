//! The demo's plumbing: the two accounts, each API call printed as the AWS CLI command a user
//! would type before it is made, and waiting on a condition with a deadline.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use client::{Client, ClientError, Credentials, Element, Service};

/// The two parties of the scenario. In dev mode a 12-digit access key id is the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    Provider,
    Consumer,
}

impl Account {
    pub fn id(self) -> &'static str {
        match self {
            Account::Provider => "111111111111",
            Account::Consumer => "222222222222",
        }
    }

    /// The AWS CLI profile the printed commands use.
    pub fn profile(self) -> &'static str {
        match self {
            Account::Provider => "provider",
            Account::Consumer => "consumer",
        }
    }
}

/// An AWS CLI command line, e.g. `aws ec2 create-vpc --cidr-block 10.0.0.0/16`.
#[derive(Debug, Clone)]
pub struct Cmd {
    words: Vec<String>,
}

impl Cmd {
    /// `aws <service> <operation>`.
    pub fn aws(service: &str, operation: &str) -> Cmd {
        Cmd {
            words: vec!["aws".into(), service.into(), operation.into()],
        }
    }

    /// `--name value…` (several values make a list, as the CLI takes them).
    pub fn arg<S: AsRef<str>>(mut self, name: &str, values: &[S]) -> Cmd {
        self.words.push(name.into());
        self.words
            .extend(values.iter().map(|v| v.as_ref().to_owned()));
        self
    }

    /// A flag without a value, e.g. `--acceptance-required`.
    pub fn flag(mut self, name: &str) -> Cmd {
        self.words.push(name.into());
        self
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.words.iter().map(|w| shell_quote(w)).collect();
        f.write_str(&quoted.join(" "))
    }
}

/// `word` as a shell would need it: as is when it holds only safe characters, else in
/// single quotes.
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Query parameters, flattened: `SubnetId.1`, `Targets.member.1.Id`, ….
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    pub fn set(mut self, key: &str, value: impl Into<String>) -> Params {
        self.0.push((key.to_owned(), value.into()));
        self
    }

    /// `key.1`, `key.2`, … (EC2 lists; ELBv2 lists pass `Name.member` as the key).
    pub fn list<S: AsRef<str>>(mut self, key: &str, values: &[S]) -> Params {
        for (n, v) in values.iter().enumerate() {
            self.0
                .push((format!("{key}.{}", n + 1), v.as_ref().to_owned()));
        }
        self
    }
}

/// Set on SIGINT or SIGTERM: the scenario stops at its next step and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Watches for SIGINT and SIGTERM on a thread of its own: the first stops the scenario (it
/// then cleans up), a second one exits at once, leaving what exists.
pub fn watch_interrupts() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Registered before returning, so no signal is missed once the scenario starts.
    let mut term = runtime.block_on(async {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    })?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                if INTERRUPTED.swap(true, Ordering::SeqCst) {
                    eprintln!("privlink demo: interrupted again; exiting without cleaning up");
                    std::process::exit(130);
                }
                eprintln!(
                    "privlink demo: interrupted; cleaning up (interrupt again to leave \
                     everything as it is)"
                );
            }
        })
    });
    Ok(())
}

/// Clients for both accounts, and how to show what they do.
#[derive(Debug)]
pub struct Session {
    provider: Client,
    consumer: Client,
    endpoint_url: String,
    /// Whether an interrupt stops calls and waits (not while cleaning up).
    interruptible: Cell<bool>,
}

/// How often a wait polls.
const POLL: Duration = Duration::from_millis(500);

impl Session {
    pub fn new(endpoint_url: &str, region: &str) -> anyhow::Result<Session> {
        let client = |account: Account| {
            Client::new(
                endpoint_url,
                region,
                Credentials {
                    access_key_id: account.id().into(),
                    // Dev mode checks no secret.
                    secret_access_key: "unused".into(),
                },
            )
        };
        let provider = client(Account::Provider)?;
        Ok(Session {
            endpoint_url: provider.endpoint().url().to_owned(),
            consumer: client(Account::Consumer)?,
            provider,
            interruptible: Cell::new(true),
        })
    }

    /// From now on, interrupts no longer stop calls and waits: cleaning up runs to its end.
    pub fn cleaning_up(&self) {
        self.interruptible.set(false);
    }

    /// Fails once interrupted, unless cleaning up.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        if self.interruptible.get() && INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        Ok(())
    }

    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    fn client(&self, account: Account) -> &Client {
        match account {
            Account::Provider => &self.provider,
            Account::Consumer => &self.consumer,
        }
    }

    /// The command as the user types it: with the account's profile and the endpoint.
    pub fn show(&self, account: Account, cmd: &Cmd) {
        println!(
            "$ {cmd} --profile {} --endpoint-url {}",
            account.profile(),
            self.endpoint_url
        );
    }

    /// Prints `cmd`, then makes the call it stands for.
    pub fn run(
        &self,
        account: Account,
        cmd: &Cmd,
        service: Service,
        action: &str,
        params: &Params,
    ) -> anyhow::Result<Element> {
        self.checkpoint()?;
        self.show(account, cmd);
        Ok(self.call(account, service, action, params)?)
    }

    /// The call alone (for polls, whose command was shown once).
    pub fn call(
        &self,
        account: Account,
        service: Service,
        action: &str,
        params: &Params,
    ) -> Result<Element, ClientError> {
        let root = self.client(account).call(service, action, &params.0)?;
        // Bulk EC2 actions answer 200 with the items they could not do: a failure here.
        if let Some(item) = root.list(&["unsuccessful"]).first() {
            let resource = item.text_of("resourceId").unwrap_or_default();
            return Err(ClientError::Aws {
                action: action.to_owned(),
                error: client::AwsError {
                    status: 200,
                    code: item
                        .text_at(&["error", "code"])
                        .unwrap_or_default()
                        .to_owned(),
                    message: format!(
                        "{resource}: {}",
                        item.text_at(&["error", "message"]).unwrap_or_default()
                    ),
                    request_id: None,
                },
            });
        }
        Ok(root)
    }

    /// Polls `check` until it returns `Some(done)`, printing each new status it reports;
    /// fails after `timeout` with the last status.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> anyhow::Result<(Option<T>, String)>,
    ) -> anyhow::Result<T> {
        let start = Instant::now();
        let mut last: Option<String> = None;
        loop {
            self.checkpoint()?;
            let (done, status) = check()?;
            if last.is_none() && done.is_some() {
                // Nothing to wait for: just the result.
                println!("  → {what}: {status}");
            } else if last.as_ref() != Some(&status) {
                println!(
                    "  … {what}: {status} ({:.1} s)",
                    start.elapsed().as_secs_f64()
                );
            }
            last = Some(status);
            if let Some(value) = done {
                return Ok(value);
            }
            if start.elapsed() > timeout {
                bail!(
                    "timed out after {} s waiting for {what} (last: {})",
                    timeout.as_secs(),
                    last.unwrap_or_default()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

/// The text at `path` under `root`, or an error naming what the answer lacked.
pub fn text(root: &Element, path: &[&str]) -> anyhow::Result<String> {
    match root.text_at(path) {
        Some(t) if !t.is_empty() => Ok(t.to_owned()),
        _ => bail!("the {} answer has no {}", root.name, path.join("/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_render_as_shell_words() {
        let cmd = Cmd::aws("ec2", "describe-security-groups")
            .arg(
                "--filters",
                &["Name=vpc-id,Values=vpc-1", "Name=group-name,Values=default"],
            )
            .flag("--dry-run")
            .arg("--query", &["SecurityGroups[0].GroupId"]);
        assert_eq!(
            cmd.to_string(),
            "aws ec2 describe-security-groups --filters Name=vpc-id,Values=vpc-1 \
             Name=group-name,Values=default --dry-run --query 'SecurityGroups[0].GroupId'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn params_flatten_lists() {
        let p = Params::new()
            .set("VpcId", "vpc-1")
            .list("SubnetId", &["a", "b"]);
        assert_eq!(
            p.0,
            [
                ("VpcId".into(), "vpc-1".into()),
                ("SubnetId.1".into(), "a".into()),
                ("SubnetId.2".into(), "b".into())
            ]
        );
    }
}
