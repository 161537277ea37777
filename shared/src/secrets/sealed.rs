//! Operator secrets on the embedded backend: sealed in the state store under an operator
//! encryption context, so the SQLite file alone never reveals them.

use std::sync::Arc;

use async_trait::async_trait;

use super::{OperatorSecrets, SecretsError};
use crate::store::{Condition, Item, StateStore, WriteOp};
use crate::vault::{EncryptionContext, Sealed, Sealer};

/// Operator secrets sealed in the state store.
pub struct SealedSecrets {
    store: Arc<dyn StateStore>,
    sealer: Arc<Sealer>,
}

impl SealedSecrets {
    /// Secrets in `store`, sealed by `sealer`.
    pub fn new(store: Arc<dyn StateStore>, sealer: Arc<Sealer>) -> Self {
        Self { store, sealer }
    }
}

fn pk(name: &str) -> String {
    format!("opsecret#{name}")
}

fn context(name: &str) -> EncryptionContext {
    EncryptionContext::operator(&format!("secret:{name}"))
}

fn unavailable(error: impl std::fmt::Display) -> SecretsError {
    SecretsError::Unavailable(error.to_string())
}

#[async_trait]
impl OperatorSecrets for SealedSecrets {
    async fn get(&self, name: &str) -> Result<Option<String>, SecretsError> {
        let Some(item) = self
            .store
            .get(&pk(name), "secret")
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let sealed: Sealed =
            serde_json::from_value(item.doc).map_err(|e| SecretsError::Malformed {
                name: name.to_owned(),
                reason: e.to_string(),
            })?;
        let value = self
            .sealer
            .open_str(&context(name), &sealed)
            .await
            .map_err(unavailable)?;
        Ok(Some(value))
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        let sealed = self
            .sealer
            .seal_str(&context(name), value)
            .await
            .map_err(unavailable)?;
        let doc = serde_json::to_value(&sealed).map_err(unavailable)?;
        self.store
            .write(vec![WriteOp::put(
                Item::new(pk(name), "secret", doc),
                Condition::None,
            )])
            .await
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sealed_secrets_meet_the_port_contract_and_are_not_stored_in_the_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let services = crate::testing::embedded_services(dir.path()).await;
        let secrets = SealedSecrets::new(services.store.clone(), services.sealer.clone());
        super::super::contract::run_all(&secrets, "embedded").await;
        let raw = services
            .store
            .get(&pk("embedded/plain"), "secret")
            .await
            .expect("get")
            .expect("stored");
        assert!(!raw.doc.to_string().contains("second"));
    }
}
