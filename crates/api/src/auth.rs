//! Who is calling: SigV4 verification against the accounts file, or dev mode.

use std::collections::HashMap;

use control::{AwsError, Context};
use query::sigv4::{self, RequestParts, SigV4Error, SignatureInfo};

use crate::protocol::Service;

/// The account used in dev mode when an access key is not itself an account id.
pub const DEV_DEFAULT_ACCOUNT: &str = "000000000000";

/// An account of the accounts file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Account {
    pub id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(default)]
    pub run_instances: bool,
}

/// The callers privlink knows. `Dev` trusts the access key as the account id and checks no
/// secret; it is for local use only.
#[derive(Debug, Clone)]
pub enum Accounts {
    Dev,
    Keys(HashMap<String, Account>),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("accounts file: {0}")]
    Parse(String),
    #[error("account id '{0}' must be 12 digits")]
    BadId(String),
    #[error("access key '{0}' is listed twice")]
    DuplicateKey(String),
    #[error("the accounts file lists no account")]
    Empty,
}

#[derive(serde::Deserialize)]
struct AccountsFile {
    #[serde(default)]
    account: Vec<Account>,
}

impl Accounts {
    /// Parses an accounts file (TOML `[[account]]` tables).
    pub fn from_toml(text: &str) -> Result<Accounts, AccountsError> {
        let file: AccountsFile = toml_parse(text).map_err(AccountsError::Parse)?;
        if file.account.is_empty() {
            return Err(AccountsError::Empty);
        }
        let mut keys = HashMap::new();
        for a in file.account {
            if !is_account_id(&a.id) {
                return Err(AccountsError::BadId(a.id));
            }
            if keys.contains_key(&a.access_key_id) {
                return Err(AccountsError::DuplicateKey(a.access_key_id));
            }
            keys.insert(a.access_key_id.clone(), a);
        }
        Ok(Accounts::Keys(keys))
    }
}

fn toml_parse(text: &str) -> Result<AccountsFile, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn sig_error(service: Service, e: SigV4Error) -> AwsError {
    match (e, service) {
        (SigV4Error::Missing, Service::Ec2) => AwsError::new(
            "MissingAuthenticationToken",
            "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.",
        )
        .with_status(401),
        (SigV4Error::Missing, Service::Elb) => AwsError::new(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
        .with_status(403),
        (SigV4Error::Incomplete(m) | SigV4Error::BadDate(m), _) => {
            AwsError::new("IncompleteSignature", m)
        }
        (SigV4Error::Expired, Service::Ec2) => AwsError::new(
            "RequestExpired",
            "Request has expired.",
        ),
        (SigV4Error::Expired, Service::Elb) => AwsError::new(
            "RequestExpired",
            "Request has expired: the request timestamp is more than 15 minutes from the server time.",
        ),
        (e @ SigV4Error::Mismatch, _) => {
            AwsError::new("SignatureDoesNotMatch", e.to_string()).with_status(403)
        }
    }
}

fn unknown_key(service: Service) -> AwsError {
    match service {
        Service::Ec2 => AwsError::new(
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        )
        .with_status(401),
        Service::Elb => AwsError::new(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
        .with_status(403),
    }
}

fn wrong_region(region: &str) -> AwsError {
    AwsError::new(
        "SignatureDoesNotMatch",
        format!("Credential should be scoped to a valid region, not '{region}'. This endpoint serves only its configured region."),
    )
    .with_status(403)
}

/// Establishes the caller's account, or the AWS error that refuses the request.
pub fn authenticate(
    accounts: &Accounts,
    service: Service,
    region: &str,
    req: &RequestParts<'_>,
    signature: Result<SignatureInfo, SigV4Error>,
) -> Result<Context, AwsError> {
    match accounts {
        Accounts::Dev => {
            // Secrets are not checked, but the region still has to be the one served.
            let info = signature.ok();
            if let Some(info) = &info
                && info.credential.region != region
            {
                return Err(wrong_region(&info.credential.region));
            }
            let account = info
                .map(|i| i.credential.access_key_id)
                .filter(|k| is_account_id(k))
                .unwrap_or_else(|| DEV_DEFAULT_ACCOUNT.to_string());
            let mut ctx = Context::new(account);
            ctx.may_run_instances = true;
            Ok(ctx)
        }
        Accounts::Keys(keys) => {
            let info = signature.map_err(|e| sig_error(service, e))?;
            let account = keys
                .get(&info.credential.access_key_id)
                .ok_or_else(|| unknown_key(service))?;
            sigv4::verify(
                req,
                &info,
                &account.secret_access_key,
                std::time::SystemTime::now(),
            )
            .map_err(|e| sig_error(service, e))?;
            if info.credential.region != region {
                return Err(wrong_region(&info.credential.region));
            }
            let mut ctx = Context::new(account.id.clone());
            ctx.may_run_instances = account.run_instances;
            Ok(ctx)
        }
    }
}
