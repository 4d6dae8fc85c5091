//! The AWS Query wire format shared by the EC2 and ELBv2 APIs.
//!
//! - [`params`]: decoding of `application/x-www-form-urlencoded` requests and
//!   access to the flattened list/structure conventions (`Name.N` for EC2,
//!   `Name.member.N` for ELBv2).
//! - [`xml`]: writing XML responses and the success/error envelopes of both
//!   protocols.
//! - [`sigv4`]: verification of AWS Signature Version 4, and signing with the same
//!   canonicalization ([`sigv4::sign`]).
//!
//! The crate deliberately knows no HTTP framework and no domain types: it maps
//! strings to strings and XML, so every layer above can be tested without I/O.

#![forbid(unsafe_code)]

pub mod params;
pub mod sigv4;
pub mod xml;

pub use params::{FormError, ParamError, Params};
pub use xml::XmlWriter;
