//! The operator-secrets port: secrets the operator (not a tenant) manages, such as the OAuth
//! apps tenants inherit. AWS Secrets Manager holds them on AWS; on the embedded backend they
//! are sealed in the state store under an operator encryption context.
//!
//! Reads are cached per warm instance for a bounded time: a Secrets Manager call costs money
//! and tens of milliseconds, and these secrets change rarely.

#[cfg(test)]
pub(crate) mod contract;
pub mod sealed;
pub mod secretsmanager;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What can go wrong reading or writing an operator secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The backend could not be reached or refused the call; worth retrying.
    #[error("operator secrets unavailable: {0}")]
    Unavailable(String),
    /// The stored value is not what was expected.
    #[error("operator secret {name} is malformed: {reason}")]
    Malformed {
        /// The secret.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// The port.
#[async_trait]
pub trait OperatorSecrets: Send + Sync {
    /// The secret's current value, if it exists.
    async fn get(&self, name: &str) -> Result<Option<String>, SecretsError>;
    /// Creates the secret or gives it a new value.
    async fn put(&self, name: &str, value: &str) -> Result<(), SecretsError>;
}

/// How long a read secret stays in memory.
const CACHE_TTL: Duration = Duration::from_secs(300);

/// A read-through cache in front of another adapter; writes go through and refresh it.
pub struct Cached {
    inner: Arc<dyn OperatorSecrets>,
    cache: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl Cached {
    /// Caches `inner`.
    pub fn new(inner: Arc<dyn OperatorSecrets>) -> Self {
        Self {
            inner,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn remember(&self, name: &str, value: Option<String>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(name.to_owned(), (value, Instant::now()));
        }
    }
}

#[async_trait]
impl OperatorSecrets for Cached {
    async fn get(&self, name: &str) -> Result<Option<String>, SecretsError> {
        let hit = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(name)
                .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                .map(|(value, _)| value.clone())
        });
        if let Some(value) = hit {
            return Ok(value);
        }
        let value = self.inner.get(name).await?;
        self.remember(name, value.clone());
        Ok(value)
    }

    async fn put(&self, name: &str, value: &str) -> Result<(), SecretsError> {
        self.inner.put(name, value).await?;
        self.remember(name, Some(value.to_owned()));
        Ok(())
    }
}

/// An OAuth app the operator registered with a vendor; tenants without their own inherit it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthApp {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .finish()
    }
}

/// The secret name of a provider's operator OAuth app.
pub fn oauth_app_name(provider: &str) -> String {
    format!("oauth-apps/{provider}")
}

/// The operator's OAuth app for `provider`, if one is registered.
pub async fn oauth_app(
    secrets: &dyn OperatorSecrets,
    provider: &str,
) -> Result<Option<OAuthApp>, SecretsError> {
    let name = oauth_app_name(provider);
    match secrets.get(&name).await? {
        None => Ok(None),
        Some(raw) => serde_json::from_str(&raw)
            .map(Some)
            .map_err(|e| SecretsError::Malformed {
                name,
                reason: format!("expected {{\"client_id\", \"client_secret\"}} JSON: {e}"),
            }),
    }
}

/// Registers the operator's OAuth app for `provider`.
pub async fn put_oauth_app(
    secrets: &dyn OperatorSecrets,
    provider: &str,
    app: &OAuthApp,
) -> Result<(), SecretsError> {
    let raw = serde_json::to_string(app).map_err(|e| SecretsError::Malformed {
        name: oauth_app_name(provider),
        reason: e.to_string(),
    })?;
    secrets.put(&oauth_app_name(provider), &raw).await
}
