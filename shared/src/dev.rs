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

/// How often the embedded store's expired items are swept.
const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// Items deleted per sweep transaction.
const SWEEP_BATCH: usize = 1000;

/// Deletes expired items from the embedded store every minute, as DynamoDB's TTL does on AWS.
async fn sweep_expired(store: crate::store::sqlite::SqliteStore, mut stop: watch::Receiver<bool>) {
    loop {
        loop {
            match store
                .purge_expired(crate::clock::unix_now(), SWEEP_BATCH)
                .await
            {
                Ok(purged) if purged == SWEEP_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(error = %error, "sweeping expired items failed; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
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
        let mut tasks = vec![server];
        if let Some(store) = services.embedded_store.clone() {
            tasks.push(tokio::spawn(sweep_expired(store, stopped.clone())));
        }
        for queue in [
            services.inbound_queue.clone(),
            services.dispatch_queue.clone(),
        ] {
            tasks.push(tokio::spawn(crate::runtime::poll_queue(
                services.clone(),
                queue,
                stopped.clone(),
            )));
        }
        for job in [
            crate::runtime::Scheduled::OAuthRefresh,
            crate::runtime::Scheduled::HealthProbe,
            crate::runtime::Scheduled::RetryScheduler,
        ] {
            tasks.push(tokio::spawn(crate::runtime::run_scheduled(
                services.clone(),
                job,
                stopped.clone(),
            )));
        }
        Ok(Self {
            addr,
            base_url,
            stop,
            tasks,
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

/// The integration the sample events in `events/` are addressed to and signed for.
pub const SAMPLE_INTEGRATION_ID: &str = "int_01HZX3EXAMP1E0000000000000";
/// The signing secret of the sample events.
pub const SAMPLE_SIGNING_SECRET: &str = "hookrail-sample-secret";

/// Creates, under the dev tenant, the GitHub integration the sample events are made for, so
/// `cargo lambda invoke` with them is accepted. Does nothing if it exists.
pub async fn load_samples(services: &Services) -> Result<crate::ids::IntegrationId, DevError> {
    use crate::domain::integration::Integration;
    use crate::ids::IntegrationId;
    use crate::repo::integrations;

    let id = IntegrationId::parse(SAMPLE_INTEGRATION_ID)
        .map_err(|_| crate::store::StoreError::Corrupt("sample integration id".into()))
        .map_err(RepoError::from)?;
    if integrations::get_any(services.store.as_ref(), &id)
        .await?
        .is_some()
    {
        return Ok(id);
    }
    let (tenant_id, _) = ensure_dev_tenant(services).await?;
    let integration = Integration::new(
        id.clone(),
        tenant_id,
        "github",
        "Sample GitHub (events/)",
        services.clock.now(),
    );
    let secrets = [(
        "signing_secret".to_owned(),
        SAMPLE_SIGNING_SECRET.to_owned(),
    )]
    .into();
    integrations::create(
        services.store.as_ref(),
        &services.sealer,
        integration,
        &secrets,
    )
    .await?;
    Ok(id)
}
