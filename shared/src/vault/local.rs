//! The embedded key vault: a 256-bit master key in a file created with mode 0600 on first start.
//! Data keys are wrapped with AES-256-GCM under it, with the encryption context as associated
//! data, so a wrapped key only unwraps for the owner it was made for — as KMS behaves.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use async_trait::async_trait;
use rand::RngCore;

use super::{DataKey, EncryptionContext, KeyVault, VaultError};

/// The master key file's name in the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";

/// A key vault over a local master key.
pub struct LocalVault {
    cipher: Aes256Gcm,
}

fn master_error(error: impl std::fmt::Display) -> VaultError {
    VaultError::MasterKey(error.to_string())
}

impl LocalVault {
    /// Loads the master key from `data_dir`, creating it (mode 0600) when absent.
    pub fn open(data_dir: &Path) -> Result<Self, VaultError> {
        let path = data_dir.join(MASTER_KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(master_error)?;
                let mut key = vec![0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(master_error)?;
                file.write_all(&key).map_err(master_error)?;
                file.sync_all().map_err(master_error)?;
                key
            }
            Err(error) => return Err(master_error(error)),
        };
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| master_error(format!("{} is not a 32-byte key", path.display())))?;
        Ok(Self { cipher })
    }
}

#[async_trait]
impl KeyVault for LocalVault {
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, VaultError> {
        let mut plaintext = [0u8; 32];
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut plaintext);
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = context.canonical();
        let wrapped_key = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::Denied)?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&wrapped_key);
        Ok(DataKey { plaintext, wrapped })
    }

    async fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<[u8; 32], VaultError> {
        if wrapped.len() < 12 {
            return Err(VaultError::Malformed("wrapped key too short".into()));
        }
        let (nonce, ct) = wrapped.split_at(12);
        let aad = context.canonical();
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| VaultError::Denied)?;
        plain
            .try_into()
            .map_err(|_| VaultError::Malformed("data key length".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn local_vault_meets_the_key_port_contract() {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = LocalVault::open(dir.path()).expect("vault");
        super::super::contract::run_all(Arc::new(vault)).await;
    }

    #[cfg(unix)]
    #[test]
    fn master_key_is_created_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        LocalVault::open(dir.path()).expect("vault");
        let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn secrets_sealed_before_a_restart_open_after_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let context = EncryptionContext::integration("tnt_a", "int_1");
        let sealed = {
            let sealer =
                super::super::Sealer::new(Arc::new(LocalVault::open(dir.path()).expect("v")));
            sealer.seal_str(&context, "kept").await.expect("seal")
        };
        let sealer = super::super::Sealer::new(Arc::new(LocalVault::open(dir.path()).expect("v")));
        assert_eq!(
            sealer.open_str(&context, &sealed).await.expect("open"),
            "kept"
        );
    }
}
