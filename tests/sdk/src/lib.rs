//! End-to-end tests of privlink with the AWS SDK for Rust; everything is in `tests/`.
