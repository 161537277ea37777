//! `hookrail dev`: every function in one process on one socket — the inbound and `/v1` routers
//! served together, and a poller feeding the processor from the queue. Used by the CLI and by
//! the end-to-end suites, which start it exactly as a user does.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::{BackendError, Services};
use crate::ids::TenantId;
use crate::repo::{tenants, RepoError};
use crate::vault::{EncryptionContext, Sealed};

/// Why `hookrail dev` could not start.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The adapters could not be built.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The state store or vault failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The dev tenant, remembered across restarts with its key sealed.
#[derive(Serialize, Deserialize)]
struct DevTenant {
    tenant_id: TenantId,
    api_key: Sealed,
}

const DEV_TENANT_MARKER: &str = "dev-tenant";

fn dev_key_context() -> EncryptionContext {
    EncryptionContext::operator("dev-api-key")
}

/// The dev tenant and its API key, created on first start.
pub async fn ensure_dev_tenant(services: &Services) -> Result<(TenantId, String), RepoError> {
    let store = services.store.as_ref();
    if let Some(doc) = tenants::get_marker(store, DEV_TENANT_MARKER).await? {
        let dev: DevTenant = serde_json::from_value(doc)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        let key = services
            .sealer
            .open_str(&dev_key_context(), &dev.api_key)
            .await?;
        return Ok((dev.tenant_id, key));
    }
    let (tenant, key) = tenants::create(store, "dev", services.clock.now()).await?;
    let sealed = services.sealer.seal_str(&dev_key_context(), &key).await?;
    let marker = DevTenant {
        tenant_id: tenant.id.clone(),
        api_key: sealed,
    };
    tenants::put_marker(
        store,
        DEV_TENANT_MARKER,
        serde_json::to_value(&marker)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?,
    )
    .await?;
    Ok((tenant.id, key))
}

/// The routers every deployment serves, merged for one socket.
pub fn app(services: Services) -> axum::Router {
    crate::inbound::router::router(services.clone()).merge(crate::api::router(services))
}

/// A running dev server.
pub struct DevServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://{addr}`.
    pub base_url: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DevServer {
    /// Starts serving `services` on `listen` (port 0 picks a free one) and processing their
    /// queue. Webhook URLs are built on the bound address unless a public URL is configured.
    pub async fn start(mut services: Services, listen: SocketAddr) -> Result<Self, DevError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| DevError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| DevError::Bind {
            addr: listen,
            source,
        })?;
        let base_url = format!("http://{addr}");
        services
            .settings
            .public_url
            .get_or_insert_with(|| base_url.clone());
        let (stop, stopped) = watch::channel(false);
        let mut server_stop = stopped.clone();
        let app = app(services.clone());
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.changed().await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %error, "dev server stopped");
            }
        });
        let poller = tokio::spawn(crate::runtime::poll_inbound_queue(services, stopped));
        Ok(Self {
            addr,
            base_url,
            stop,
            tasks: vec![server, poller],
        })
    }

    /// Stops serving and processing, letting in-flight work finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
