//! Which API a request is for, and the protocol-level errors of each.

use control::AwsError;
use query::{FormError, ParamError};

pub const EC2_VERSION: &str = "2016-11-15";
pub const ELB_VERSION: &str = "2015-12-01";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    Elb,
}

impl Service {
    pub fn from_scope(scope: Option<&str>) -> Option<Service> {
        match scope? {
            "ec2" => Some(Service::Ec2),
            "elasticloadbalancing" => Some(Service::Elb),
            _ => None,
        }
    }
}

/// The API a request is for: the signature's service wins; otherwise the `Version`.
pub fn service_of(
    scope: Option<&str>,
    version: Option<&str>,
) -> Result<Service, (Service, AwsError)> {
    if let Some(scope) = scope {
        return Service::from_scope(Some(scope)).ok_or_else(|| {
            (
                Service::Ec2,
                AwsError::new(
                    "SignatureDoesNotMatch",
                    format!(
                        "Credential should be scoped to correct service: 'ec2' or 'elasticloadbalancing', not '{scope}'."
                    ),
                )
                .with_status(403),
            )
        });
    }
    match version {
        Some(ELB_VERSION) => Ok(Service::Elb),
        _ => Ok(Service::Ec2),
    }
}

/// The API version a request names must be the one privlink speaks for that service.
pub fn check_version(service: Service, version: Option<&str>) -> Result<(), AwsError> {
    let (want, name) = match service {
        Service::Ec2 => (EC2_VERSION, "AmazonEC2"),
        Service::Elb => (ELB_VERSION, "ElasticLoadBalancing"),
    };
    match version {
        None => Err(AwsError::missing_parameter("Version")),
        Some(v) if v == want => Ok(()),
        Some(v) => Err(AwsError::new(
            "NoSuchVersion",
            format!("The requested version ({v}) of service {name} does not exist"),
        )),
    }
}

pub fn malformed_query(e: FormError) -> AwsError {
    AwsError::new("MalformedQueryString", e.to_string()).with_status(404)
}

/// A bad parameter in EC2's terms.
pub fn ec2_param(e: ParamError) -> AwsError {
    match e {
        ParamError::Missing(name) => AwsError::missing_parameter(&name),
        ParamError::Invalid {
            name,
            value,
            reason,
        } => AwsError::invalid_parameter_value(format!(
            "Value ({value}) for parameter {name} is invalid. {reason}"
        )),
    }
}

/// A bad parameter in ELBv2's terms (everything is a `ValidationError`).
pub fn elb_param(e: ParamError) -> AwsError {
    match e {
        ParamError::Missing(name) => AwsError::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(&name)
        )),
        ParamError::Invalid {
            name,
            value,
            reason,
        } => AwsError::validation(format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: {reason}",
            lower_first(&name)
        )),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `.ec2()?` / `.elb()?` on parameter accessors.
pub trait ParamResultExt<T> {
    fn ec2(self) -> Result<T, AwsError>;
    fn elb(self) -> Result<T, AwsError>;
}

impl<T> ParamResultExt<T> for Result<T, ParamError> {
    fn ec2(self) -> Result<T, AwsError> {
        self.map_err(ec2_param)
    }
    fn elb(self) -> Result<T, AwsError> {
        self.map_err(elb_param)
    }
}
