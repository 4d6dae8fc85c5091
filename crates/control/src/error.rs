//! The error every use case returns: an AWS error code, its message and HTTP status. The API
//! layer puts it in the right envelope; the constructors here keep codes and wording in one
//! place.

use std::borrow::Cow;

/// An error as AWS reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    pub code: Cow<'static, str>,
    pub message: String,
    /// HTTP status of the response.
    pub status: u16,
}

impl AwsError {
    /// A client error (HTTP 400).
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> AwsError {
        AwsError {
            code: code.into(),
            message: message.into(),
            status: 400,
        }
    }

    pub fn with_status(mut self, status: u16) -> AwsError {
        self.status = status;
        self
    }

    /// Whether the fault lies with the server (HTTP 5xx).
    pub fn is_server_fault(&self) -> bool {
        self.status >= 500
    }

    // --- shared by both APIs ---

    pub fn internal(detail: impl std::fmt::Display) -> AwsError {
        tracing::error!(%detail, "internal error");
        AwsError::new(
            "InternalError",
            "An internal error has occurred. Please try again later.",
        )
        .with_status(500)
    }

    // --- EC2 ---

    pub fn missing_parameter(name: &str) -> AwsError {
        AwsError::new(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    pub fn invalid_parameter_value(message: impl Into<String>) -> AwsError {
        AwsError::new("InvalidParameterValue", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> AwsError {
        AwsError::new("InvalidParameter", message)
    }

    pub fn invalid_parameter_combination(message: impl Into<String>) -> AwsError {
        AwsError::new("InvalidParameterCombination", message)
    }

    pub fn dry_run_ok() -> AwsError {
        AwsError::new(
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
        )
        .with_status(412)
    }

    pub fn unauthorized() -> AwsError {
        AwsError::new(
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        )
        .with_status(403)
    }

    pub fn idempotent_mismatch() -> AwsError {
        AwsError::new(
            "IdempotentParameterMismatch",
            "The client token you have provided is associated with a resource that was created with different parameters.",
        )
    }

    pub fn invalid_filter(name: &str) -> AwsError {
        AwsError::invalid_parameter_value(format!("The filter '{name}' is invalid"))
    }

    pub fn invalid_next_token(token: &str) -> AwsError {
        AwsError::new(
            "InvalidPaginationToken",
            format!("Invalid pagination token: {token}"),
        )
    }

    /// `Invalid<Thing>ID.NotFound`-style errors.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> AwsError {
        AwsError::new(code, message)
    }

    /// `Invalid<Thing>ID.Malformed`-style errors.
    pub fn malformed(code: &'static str, message: impl Into<String>) -> AwsError {
        AwsError::new(code, message)
    }

    // --- ELBv2 ---

    pub fn validation(message: impl Into<String>) -> AwsError {
        AwsError::new("ValidationError", message)
    }
}

impl From<store::StoreError> for AwsError {
    fn from(e: store::StoreError) -> AwsError {
        AwsError::internal(e)
    }
}

impl From<serde_json::Error> for AwsError {
    fn from(e: serde_json::Error) -> AwsError {
        AwsError::internal(e)
    }
}
