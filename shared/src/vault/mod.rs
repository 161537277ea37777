//! The key port and envelope encryption.
//!
//! Each secret gets its own data key from the vault (KMS, or the local master key), is encrypted
//! with AES-256-GCM under it, and is stored beside the wrapped data key. The encryption context
//! (tenant + integration) binds a sealed secret to its owner twice: the vault refuses to unwrap
//! the data key under another context, and the context is also the AEAD's associated data.
//!
//! Unwrapped data keys are cached per warm instance for a bounded time, keyed by the wrapped
//! key (a new seal is a new key), because a KMS call costs money and milliseconds on every
//! webhook otherwise.

pub mod kms;
pub mod local;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who a sealed secret belongs to; the vault checks it on every unwrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// The context of one integration's secrets.
    pub fn integration(tenant_id: &str, integration_id: &str) -> Self {
        Self(BTreeMap::from([
            ("tenant".to_owned(), tenant_id.to_owned()),
            ("integration".to_owned(), integration_id.to_owned()),
        ]))
    }

    /// The context of one endpoint's signing secrets.
    pub fn endpoint(tenant_id: &str, endpoint_id: &str) -> Self {
        Self(BTreeMap::from([
            ("tenant".to_owned(), tenant_id.to_owned()),
            ("endpoint".to_owned(), endpoint_id.to_owned()),
        ]))
    }

    /// The context of an operator-level secret (no tenant).
    pub fn operator(purpose: &str) -> Self {
        Self(BTreeMap::from([("purpose".to_owned(), purpose.to_owned())]))
    }

    /// The pairs, in a stable order.
    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// A canonical byte form, used as AEAD associated data.
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, value) in &self.0 {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

/// A fresh data key: the plaintext to encrypt with, and the wrapped form to store.
pub struct DataKey {
    /// The 256-bit key; dropped as soon as the secret is sealed.
    pub plaintext: [u8; 32],
    /// The key wrapped by the vault's master key.
    pub wrapped: Vec<u8>,
}

/// What can go wrong sealing or opening a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The vault could not be reached; worth retrying.
    #[error("key vault unavailable: {0}")]
    Unavailable(String),
    /// The wrapped key or ciphertext does not open under this context (tampered, or another
    /// owner's).
    #[error("sealed secret could not be opened under its encryption context")]
    Denied,
    /// The sealed form is not readable.
    #[error("sealed secret is malformed: {0}")]
    Malformed(String),
    /// The local master key could not be read or created.
    #[error("local master key: {0}")]
    MasterKey(String),
}

/// The key port.
#[async_trait]
pub trait KeyVault: Send + Sync {
    /// Creates a data key bound to `context`.
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<DataKey, VaultError>;
    /// Unwraps a data key; fails with [`VaultError::Denied`] under another context.
    async fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<[u8; 32], VaultError>;
}

/// A secret at rest: the wrapped data key, the nonce and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Wrapped data key, base64.
    pub key: String,
    /// AES-GCM nonce, base64.
    pub nonce: String,
    /// Ciphertext with tag, base64.
    pub ct: String,
}

/// How long an unwrapped data key stays in memory.
const KEY_CACHE_TTL: Duration = Duration::from_secs(300);
/// How many unwrapped keys one instance keeps at most.
const KEY_CACHE_CAPACITY: usize = 10_000;

type CacheKey = [u8; 32];

/// Seals and opens secrets with envelope encryption over a [`KeyVault`].
pub struct Sealer {
    vault: Arc<dyn KeyVault>,
    cache: Mutex<HashMap<CacheKey, ([u8; 32], Instant)>>,
}

fn aead_error(_: aes_gcm::Error) -> VaultError {
    VaultError::Denied
}

impl Sealer {
    /// A sealer over `vault`.
    pub fn new(vault: Arc<dyn KeyVault>) -> Self {
        Self {
            vault,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Encrypts `plaintext` under a new data key bound to `context`.
    pub async fn seal(
        &self,
        context: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Sealed, VaultError> {
        let data_key = self.vault.generate_data_key(context).await?;
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let cipher = Aes256Gcm::new_from_slice(&data_key.plaintext)
            .map_err(|e| VaultError::Malformed(e.to_string()))?;
        let aad = context.canonical();
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(aead_error)?;
        self.remember_for(&data_key.wrapped, context, data_key.plaintext);
        Ok(Sealed {
            key: B64.encode(&data_key.wrapped),
            nonce: B64.encode(nonce),
            ct: B64.encode(ct),
        })
    }

    /// Decrypts a sealed secret, which must belong to `context`.
    pub async fn open(
        &self,
        context: &EncryptionContext,
        sealed: &Sealed,
    ) -> Result<Vec<u8>, VaultError> {
        let decode = |field: &str, value: &str| {
            B64.decode(value)
                .map_err(|e| VaultError::Malformed(format!("{field}: {e}")))
        };
        let wrapped = decode("key", &sealed.key)?;
        let nonce = decode("nonce", &sealed.nonce)?;
        let ct = decode("ct", &sealed.ct)?;
        if nonce.len() != 12 {
            return Err(VaultError::Malformed("nonce length".into()));
        }
        let key = match self.recall(&wrapped, context) {
            Some(key) => key,
            None => {
                let key = self.vault.unwrap_data_key(&wrapped, context).await?;
                self.remember_for(&wrapped, context, key);
                key
            }
        };
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|e| VaultError::Malformed(e.to_string()))?;
        let aad = context.canonical();
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            )
            .map_err(aead_error)
    }

    /// Seals a UTF-8 secret.
    pub async fn seal_str(
        &self,
        context: &EncryptionContext,
        secret: &str,
    ) -> Result<Sealed, VaultError> {
        self.seal(context, secret.as_bytes()).await
    }

    /// Opens a sealed UTF-8 secret.
    pub async fn open_str(
        &self,
        context: &EncryptionContext,
        sealed: &Sealed,
    ) -> Result<String, VaultError> {
        String::from_utf8(self.open(context, sealed).await?)
            .map_err(|_| VaultError::Malformed("secret is not UTF-8".into()))
    }

    /// The cache is keyed by wrapped key *and* context, so a cached key is never handed to a
    /// caller naming another owner — the vault would have refused that unwrap.
    fn cache_key(wrapped: &[u8], context: &EncryptionContext) -> CacheKey {
        let mut hasher = Sha256::new();
        hasher.update(wrapped);
        hasher.update([0]);
        hasher.update(context.canonical());
        hasher.finalize().into()
    }

    fn remember_for(&self, wrapped: &[u8], context: &EncryptionContext, key: [u8; 32]) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= KEY_CACHE_CAPACITY {
            let now = Instant::now();
            cache.retain(|_, (_, at)| now.duration_since(*at) < KEY_CACHE_TTL);
            if cache.len() >= KEY_CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(Self::cache_key(wrapped, context), (key, Instant::now()));
    }

    fn recall(&self, wrapped: &[u8], context: &EncryptionContext) -> Option<[u8; 32]> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&Self::cache_key(wrapped, context))
            .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
            .map(|(key, _)| *key)
    }
}

#[cfg(test)]
pub(crate) mod contract;
