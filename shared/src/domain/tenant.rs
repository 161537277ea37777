//! Tenants and their API keys.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::TenantId;

/// One customer of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// A display name.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// The prefix of every API key, so leaked keys are easy to recognise and scan for.
pub const API_KEY_PREFIX: &str = "hr_";

/// A new random API key (256 bits).
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{API_KEY_PREFIX}{}", hex::encode(bytes))
}

/// The stored form of an API key. Keys are looked up by this hash, never compared in the
/// clear: a timing difference in the lookup reveals only bits of a SHA-256 digest, which
/// says nothing usable about the key itself.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The first characters of a key, safe to show so a tenant can tell its keys apart.
pub fn api_key_hint(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_prefixed_random_and_hashed_stably() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert!(a.starts_with("hr_"));
        assert_ne!(a, b);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert!(!hash_api_key(&a).contains(&a[3..]));
        assert_eq!(api_key_hint(&a).len(), 9);
    }
}
