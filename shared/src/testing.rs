//! Support for tests against an AWS-API emulator (moto's server, started by `scripts/test`),
//! reached through the SDK's standard `AWS_ENDPOINT_URL`. Resources are created with the same
//! shapes `template.yaml` declares.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// An emulator to create resources in.
pub struct Emulator {
    /// SDK configuration pointing at the emulator.
    pub config: aws_config::SdkConfig,
}

/// The emulator named by `AWS_ENDPOINT_URL`, or `None` (with a note) when there is none.
/// Under `scripts/test` (`HOOKRAIL_REQUIRE_EMULATOR=1`) a missing emulator fails the test
/// instead, so the AWS side can never be skipped silently.
pub async fn moto() -> Option<Emulator> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        assert!(
            std::env::var_os("HOOKRAIL_REQUIRE_EMULATOR").is_none(),
            "AWS_ENDPOINT_URL is not set but HOOKRAIL_REQUIRE_EMULATOR is: start moto first"
        );
        eprintln!("skipping AWS adapter test: AWS_ENDPOINT_URL is not set (scripts/test sets it)");
        return None;
    }
    let config = aws_config::load_from_env().await;
    Some(Emulator { config })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema")
}

fn gsi(name: &str) -> GlobalSecondaryIndex {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(&format!("{name}pk"), KeyType::Hash))
        .key_schema(key(&format!("{name}sk"), KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("gsi")
}

impl Emulator {
    /// Creates a fresh table shaped like the template's and returns its name.
    pub async fn create_table(&self) -> String {
        let name = unique("hookrail");
        let client = aws_sdk_dynamodb::Client::new(&self.config);
        let mut request = client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(gsi("gsi1"))
            .global_secondary_indexes(gsi("gsi2"));
        for attr in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] {
            request = request.attribute_definitions(attribute(attr));
        }
        request.send().await.expect("create table");
        name
    }

    /// Creates a queue with a dead-letter queue after `max_receives`; returns both URLs.
    pub async fn create_queue(&self, max_receives: u32) -> (String, String) {
        let client = aws_sdk_sqs::Client::new(&self.config);
        let base = unique("hookrail");
        let dead = client
            .create_queue()
            .queue_name(format!("{base}-dlq"))
            .send()
            .await
            .expect("create dlq");
        let dead_url = dead.queue_url().expect("dlq url").to_owned();
        let dead_arn = client
            .get_queue_attributes()
            .queue_url(&dead_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dlq attributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("dlq arn");
        let redrive =
            format!(r#"{{"deadLetterTargetArn":"{dead_arn}","maxReceiveCount":"{max_receives}"}}"#);
        let queue = client
            .create_queue()
            .queue_name(base)
            .attributes(QueueAttributeName::RedrivePolicy, redrive)
            .send()
            .await
            .expect("create queue");
        (queue.queue_url().expect("queue url").to_owned(), dead_url)
    }

    /// Creates a symmetric KMS key and returns its id.
    pub async fn create_key(&self) -> String {
        let client = aws_sdk_kms::Client::new(&self.config);
        let key = client
            .create_key()
            .description("hookrail test key")
            .send()
            .await
            .expect("create key");
        key.key_metadata()
            .map(|m| m.key_id().to_owned())
            .expect("key id")
    }
}

/// Embedded services in `dir`, for tests.
pub async fn embedded_services(dir: &std::path::Path) -> crate::backend::Services {
    crate::backend::Services::connect(&crate::config::Config::embedded(dir))
        .await
        .expect("embedded services")
}

/// Fault injection around real adapters: calls fail while a switch is on.
pub mod faults {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;

    use crate::queue::{JobQueue, QueueError, QueueMessage};
    use crate::store::{Item, Page, Query, StateStore, StoreError, WriteOp};

    /// A state store whose queries fail while `fail_queries` is on.
    pub struct FlakyStore {
        /// The real store.
        pub inner: Arc<dyn StateStore>,
        /// Fail every query while true.
        pub fail_queries: AtomicBool,
        /// Fail every write while true.
        pub fail_writes: AtomicBool,
    }

    impl FlakyStore {
        /// Wraps `inner`, failing nothing yet.
        pub fn new(inner: Arc<dyn StateStore>) -> Self {
            Self {
                inner,
                fail_queries: AtomicBool::new(false),
                fail_writes: AtomicBool::new(false),
            }
        }
    }

    #[async_trait]
    impl StateStore for FlakyStore {
        async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
            self.inner.get(pk, sk).await
        }
        async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
            if self.fail_writes.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("injected write failure".into()));
            }
            self.inner.write(ops).await
        }
        async fn query(&self, query: Query) -> Result<Page, StoreError> {
            if self.fail_queries.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("injected query failure".into()));
            }
            self.inner.query(query).await
        }
        async fn increment(
            &self,
            pk: &str,
            sk: &str,
            by: i64,
            expires_at: i64,
        ) -> Result<i64, StoreError> {
            if self.fail_writes.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("injected write failure".into()));
            }
            self.inner.increment(pk, sk, by, expires_at).await
        }
    }

    /// A queue whose next `failures` sends fail.
    pub struct FlakyQueue {
        /// The real queue.
        pub inner: Arc<dyn JobQueue>,
        /// Sends still to fail.
        pub failing_sends: AtomicU32,
    }

    #[async_trait]
    impl JobQueue for FlakyQueue {
        async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
            let failing = self
                .failing_sends
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return Err(QueueError::Unavailable("injected send failure".into()));
            }
            self.inner.send(body, delay).await
        }
        async fn receive(
            &self,
            max: usize,
            visibility: Duration,
            wait: Duration,
        ) -> Result<Vec<QueueMessage>, QueueError> {
            self.inner.receive(max, visibility, wait).await
        }
        async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
            self.inner.delete(receipt).await
        }
        async fn depth(&self) -> Result<u64, QueueError> {
            self.inner.depth().await
        }
    }
}

/// An active endpoint of a new tenant, subscribed to everything, with no secrets yet.
pub fn endpoint(url: &str, now: i64) -> crate::domain::endpoint::Endpoint {
    crate::domain::endpoint::Endpoint {
        id: crate::ids::EndpointId::generate(),
        tenant_id: crate::ids::TenantId::generate(),
        url: url.to_owned(),
        event_types: vec!["*".into()],
        filters: Default::default(),
        description: String::new(),
        active: true,
        secrets: Vec::new(),
        retry_schedule: None,
        rate_limit_per_minute: None,
        channel: Default::default(),
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    }
}

/// Headers GitHub sends with `body`, signed with `secret`.
pub fn github_signed_headers(secret: &str, body: &[u8], delivery: &str) -> http::HeaderMap {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let mut headers = http::HeaderMap::new();
    headers.insert("x-hub-signature-256", signature.parse().expect("header"));
    headers.insert("x-github-event", "push".parse().expect("header"));
    headers.insert("x-github-delivery", delivery.parse().expect("header"));
    headers
}

/// An active integration of `vendor` with `signing_secret` sealed, stored through the real
/// repository under a new tenant.
pub async fn integration_with_secret(
    services: &crate::backend::Services,
    id: crate::ids::IntegrationId,
    vendor: &str,
    signing_secret: &str,
) -> crate::domain::integration::Integration {
    let integration = crate::domain::integration::Integration::new(
        id,
        crate::ids::TenantId::generate(),
        vendor,
        "test",
        0,
    );
    let secrets = [("signing_secret".to_owned(), signing_secret.to_owned())].into();
    crate::repo::integrations::create(
        services.store.as_ref(),
        &services.sealer,
        integration,
        &secrets,
    )
    .await
    .expect("create integration")
}
