//! Builds the adapters a [`Config`] names, once per process (on Lambda: at init, outside the
//! handler, so warm invocations reuse clients and the data-key cache).

use std::sync::Arc;

use crate::catalog::{Catalog, CatalogError};
use crate::clock::{Clock, SystemClock};
use crate::config::{BackendConfig, Config};
use crate::embedded::{EmbeddedDb, EmbeddedDbError};
use crate::outbound::ssrf::AddressPolicy;
use crate::queue::embedded::EmbeddedQueue;
use crate::queue::sqs::SqsQueue;
use crate::queue::JobQueue;
use crate::secrets::sealed::SealedSecrets;
use crate::secrets::secretsmanager::SecretsManager;
use crate::secrets::{Cached, OperatorSecrets};
use crate::store::dynamodb::DynamoStore;
use crate::store::sqlite::SqliteStore;
use crate::store::StateStore;
use crate::vault::kms::KmsVault;
use crate::vault::local::LocalVault;
use crate::vault::{Sealer, VaultError};

/// How many times a job is received before its queue dead-letters it (as the template's
/// redrive policy says for SQS).
pub const MAX_RECEIVES: u32 = crate::domain::event::MAX_PROCESSING_TRIES;

/// The name of the embedded queue of inbound processing jobs.
pub const INBOUND_QUEUE: &str = "inbound";

/// The name of the embedded queue of fan-out and delivery jobs.
pub const DISPATCH_QUEUE: &str = "dispatch";

/// How many times a dispatch job is received before its queue dead-letters it. Delivery
/// failures are retried by the retry policy, not the queue, so these receives only cover
/// infrastructure failures (state store or queue down).
pub const DISPATCH_MAX_RECEIVES: u32 = 5;

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of webhook URLs; derived from the request when absent.
    pub public_url: Option<String>,
    /// Where chat notifications link to; see [`crate::config::Config::dashboard_url`].
    pub dashboard_url: Option<String>,
    /// The largest webhook body accepted.
    pub max_body_bytes: usize,
    /// Requests each tenant may make to `/v1` per minute.
    pub api_requests_per_minute: u32,
    /// Which addresses deliveries may reach.
    pub address_policy: Arc<AddressPolicy>,
    /// How long a worker holds a job and a delivery attempt's claim.
    pub job_lease: std::time::Duration,
}

/// Everything a handler works with.
#[derive(Clone)]
pub struct Services {
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// The queue of inbound processing jobs.
    pub inbound_queue: Arc<dyn JobQueue>,
    /// The queue of fan-out and delivery jobs.
    pub dispatch_queue: Arc<dyn JobQueue>,
    /// The HTTP client deliveries are made with: SSRF-guarded, no redirects, 10 s timeout.
    pub http: reqwest::Client,
    /// Seals and opens secrets.
    pub sealer: Arc<Sealer>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub settings: Settings,
    /// The provider catalog.
    pub catalog: Arc<Catalog>,
    /// Secrets the operator manages (OAuth apps tenants inherit).
    pub operator_secrets: Arc<dyn OperatorSecrets>,
    /// The embedded store, whose expired items must be swept by its host (DynamoDB deletes
    /// them itself); `None` on AWS.
    pub embedded_store: Option<SqliteStore>,
}

/// Why the adapters could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The delivery client could not be built.
    #[error("delivery client: {0}")]
    Http(String),
    /// The embedded database could not be opened.
    #[error(transparent)]
    Embedded(#[from] EmbeddedDbError),
    /// The key vault could not be set up.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The provider catalog did not load.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl Services {
    /// Builds the adapters `config` names.
    pub async fn connect(config: &Config) -> Result<Self, BackendError> {
        let settings = Settings {
            public_url: config.public_url.clone(),
            dashboard_url: config.dashboard_url.clone(),
            max_body_bytes: config.max_body_bytes,
            api_requests_per_minute: config.api_requests_per_minute,
            address_policy: Arc::new(AddressPolicy::allowing(config.outbound_allow.clone())),
            job_lease: config.job_lease,
        };
        let http = crate::outbound::ssrf::delivery_client(
            Arc::clone(&settings.address_policy),
            config.delivery_timeout,
        )
        .map_err(|e| BackendError::Http(e.to_string()))?;
        let catalog = Arc::new(Catalog::load(config.providers_dir.as_deref())?);
        let services = match &config.backend {
            BackendConfig::Embedded { data_dir } => {
                let db = EmbeddedDb::open(data_dir)?;
                let store = SqliteStore::new(db.clone());
                let sealer = Arc::new(Sealer::new(Arc::new(LocalVault::open(data_dir)?)));
                let operator_secrets = SealedSecrets::new(Arc::new(store.clone()), sealer.clone());
                Self {
                    store: Arc::new(store.clone()),
                    operator_secrets: Arc::new(Cached::new(Arc::new(operator_secrets))),
                    catalog,
                    embedded_store: Some(store),
                    inbound_queue: Arc::new(EmbeddedQueue::new(
                        db.clone(),
                        INBOUND_QUEUE,
                        MAX_RECEIVES,
                    )),
                    dispatch_queue: Arc::new(EmbeddedQueue::new(
                        db,
                        DISPATCH_QUEUE,
                        DISPATCH_MAX_RECEIVES,
                    )),
                    http,
                    sealer,
                    clock: Arc::new(SystemClock),
                    settings,
                }
            }
            BackendConfig::Aws {
                table,
                inbound_queue_url,
                dispatch_queue_url,
                kms_key_id,
                secrets_prefix,
            } => {
                let aws = aws_config::load_from_env().await;
                let sqs = aws_sdk_sqs::Client::new(&aws);
                Self {
                    store: Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), table)),
                    inbound_queue: Arc::new(SqsQueue::new(sqs.clone(), inbound_queue_url)),
                    dispatch_queue: Arc::new(SqsQueue::new(sqs, dispatch_queue_url)),
                    http,
                    sealer: Arc::new(Sealer::new(Arc::new(KmsVault::new(
                        aws_sdk_kms::Client::new(&aws),
                        kms_key_id,
                    )))),
                    clock: Arc::new(SystemClock),
                    settings,
                    catalog,
                    operator_secrets: Arc::new(Cached::new(Arc::new(SecretsManager::new(
                        aws_sdk_secretsmanager::Client::new(&aws),
                        secrets_prefix,
                    )))),
                    embedded_store: None,
                }
            }
        };
        Ok(services)
    }

    /// The same services reading time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}
