//! Typed access to the store inside one transaction.

use model::Resource;
use store::{Record, StoreError, Tx};

use crate::AwsError;

/// The store, typed: reads and writes model resources within the current transaction.
pub struct Db<'a> {
    tx: &'a mut dyn Tx,
}

impl std::fmt::Debug for Db<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

fn decode<T: Resource>(r: Record) -> Result<T, AwsError> {
    Ok(serde_json::from_str(&r.body)?)
}

fn encode<T: Resource>(v: &T) -> Result<Record, AwsError> {
    Ok(Record {
        kind: T::KIND.to_string(),
        id: v.id().to_string(),
        owner: v.owner().to_string(),
        parent: v.parent().map(str::to_string),
        body: serde_json::to_string(v)?,
    })
}

impl<'a> Db<'a> {
    pub fn new(tx: &'a mut dyn Tx) -> Db<'a> {
        Db { tx }
    }

    pub fn get<T: Resource>(&mut self, id: &str) -> Result<Option<T>, AwsError> {
        self.tx.get(T::KIND, id)?.map(decode).transpose()
    }

    /// Adds a new resource; `Ok(false)` if one with that id exists already.
    pub fn insert<T: Resource>(&mut self, v: &T) -> Result<bool, AwsError> {
        match self.tx.insert(&encode(v)?) {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub fn put<T: Resource>(&mut self, v: &T) -> Result<(), AwsError> {
        Ok(self.tx.put(&encode(v)?)?)
    }

    pub fn delete<T: Resource>(&mut self, id: &str) -> Result<bool, AwsError> {
        Ok(self.tx.delete(T::KIND, id)?)
    }

    /// All resources of a type, of one owner or of every owner, in creation order.
    pub fn list<T: Resource>(&mut self, owner: Option<&str>) -> Result<Vec<T>, AwsError> {
        self.tx
            .list(T::KIND, owner)?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// The resources of a type hanging off `parent`, in creation order.
    pub fn children<T: Resource>(&mut self, parent: &str) -> Result<Vec<T>, AwsError> {
        self.tx
            .children(T::KIND, parent)?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// Raw record access, for operations generic over resource types (tags).
    pub fn raw(&mut self) -> &mut dyn Tx {
        self.tx
    }
}
