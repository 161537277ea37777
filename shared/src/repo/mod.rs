//! The domain's persistence, written once over the state port. Each module owns its key layout.
//!
//! | item | pk | sk | indexes |
//! |---|---|---|---|
//! | tenant | `tnt#{id}` | `tenant` | |
//! | API key | `key#{sha256}` | `key` | gsi1: `tnt#{id}#keys` |
//! | integration | `int#{id}` | `int` | gsi1: `tnt#{id}#int` |
//! | event state | `evt#{id}` | `state` | gsi1: `int#{id}#evt`, gsi2: `int#{id}#evt#{STATUS}` |
//! | event payload | `evt#{id}` | `body#{n}` | |
//! | dedupe marker | `dedupe#{integration}#{key}` | `dedupe` | |

pub mod events;
pub mod integrations;
pub mod tenants;

use crate::store::{Item, StoreError};

/// What can go wrong in a repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// Someone else changed the record first; re-read and try again.
    #[error("the record changed concurrently")]
    Conflict,
}

/// Reads a typed record out of an item's document.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_value(item.doc.clone())
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
}

/// Writes a typed record as an item's document.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}
