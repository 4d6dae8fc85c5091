//! Domain types of privlink: the resources of the EC2 and ELBv2 APIs as the store keeps them,
//! their identifiers, and their state machines. Nothing here does I/O.

pub mod elb;
pub mod ids;
pub mod net;
pub mod region;
pub mod vpce;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A 12-digit AWS account id.
pub type AccountId = String;

/// A key/value tag, as both APIs carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Sets `tags` from `new`, replacing the value of keys already present (CreateTags/AddTags).
pub fn upsert_tags(tags: &mut Vec<Tag>, new: &[Tag]) {
    for t in new {
        match tags.iter_mut().find(|e| e.key == t.key) {
            Some(e) => e.value = t.value.clone(),
            None => tags.push(t.clone()),
        }
    }
}

/// A resource the store keeps: one record per resource, addressed by kind and id.
pub trait Resource: Serialize + DeserializeOwned {
    /// The record kind, unique per resource type.
    const KIND: &'static str;
    fn id(&self) -> &str;
    /// The account that owns the record (for requester-managed ENIs, the VPC owner).
    fn owner(&self) -> &str;
    /// The resource the record hangs off, for listing children (a subnet's VPC, …).
    fn parent(&self) -> Option<&str> {
        None
    }
}
