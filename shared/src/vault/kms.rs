//! The key port over AWS KMS: `GenerateDataKey` (AES_256) and `Decrypt`, both with the
//! encryption context, so KMS itself refuses to unwrap a key for another owner and CloudTrail
//! records whose secret was opened.

use async_trait::async_trait;
use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use aws_sdk_kms::Client;

use super::{DataKey, EncryptionContext, KeyVault, VaultError};

/// A key vault over one KMS key.
#[derive(Clone)]
pub struct KmsVault {
    client: Client,
    key_id: String,
}

impl KmsVault {
    /// A vault over the KMS key `key_id` (id, ARN or alias).
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

fn unavailable<E, R>(error: SdkError<E, R>) -> VaultError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    VaultError::Unavailable(DisplayErrorContext(&error).to_string())
}

#[async_trait]
impl KeyVault for KmsVault {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, VaultError> {
        let output = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.pairs().clone().into_iter().collect()))
            .send()
            .await
            .map_err(unavailable)?;
        let plaintext: [u8; 32] = output
            .plaintext()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default()
            .try_into()
            .map_err(|_| {
                VaultError::Malformed("KMS returned a data key of the wrong size".into())
            })?;
        let wrapped = output
            .ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| VaultError::Malformed("KMS returned no wrapped key".into()))?;
        Ok(DataKey { plaintext, wrapped })
    }

    async fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<[u8; 32], VaultError> {
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context.pairs().clone().into_iter().collect()))
            .send()
            .await
            .map_err(|error| {
                let denied = error.as_service_error().is_some_and(|e| {
                    e.is_invalid_ciphertext_exception() || e.is_incorrect_key_exception()
                });
                if denied {
                    VaultError::Denied
                } else {
                    unavailable(error)
                }
            })?;
        output
            .plaintext()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default()
            .try_into()
            .map_err(|_| VaultError::Malformed("KMS returned a data key of the wrong size".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn kms_vault_meets_the_key_port_contract() {
        let Some(aws) = crate::testing::moto().await else {
            return;
        };
        let key_id = aws.create_key().await;
        let vault = KmsVault::new(Client::new(&aws.config), key_id);
        super::super::contract::run_all(Arc::new(vault)).await;
    }
}
