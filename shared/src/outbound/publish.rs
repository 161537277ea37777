//! Publishing: store the message (idempotently) and queue its fan-out — nothing more, so a
//! tenant with thousands of endpoints never slows the publisher.

use std::time::Duration;

use crate::backend::Services;
use crate::ids::{MessageId, TenantId};
use crate::jobs::Job;
use crate::repo::messages::{self, Message, Published};
use crate::repo::RepoError;

/// Why a publish did not go through.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The state store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The message is stored but its fan-out could not be queued; publishing again with the
    /// same idempotency key queues it.
    #[error("fan-out could not be queued: {0}")]
    Queue(String),
}

/// What to publish.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The owner.
    pub tenant_id: TenantId,
    /// `{resource}.{action}`.
    pub event_type: String,
    /// The payload.
    pub data: serde_json::Value,
    /// The publisher's idempotency key.
    pub idempotency_key: Option<String>,
    /// A clearly tagged test event.
    pub test: bool,
}

/// Publishes a message; returns its id and whether it is new (false: the idempotency key
/// returned an earlier message).
pub async fn publish(
    services: &Services,
    new: NewMessage,
) -> Result<(MessageId, bool), PublishError> {
    let now = services.clock.now();
    let message = Message {
        id: MessageId::generate(),
        tenant_id: new.tenant_id,
        event_type: new.event_type,
        data: new.data,
        occurred_at: now,
        idempotency_key: new.idempotency_key,
        fanned_out: false,
        test: new.test,
    };
    let store = services.store.as_ref();
    let (id, is_new) = match messages::publish(store, &message, now).await? {
        Published::New => (message.id, true),
        Published::Existing(id) => {
            // The first publish may have stored the message and then failed to queue it.
            let fanned_out = messages::get(store, &id)
                .await?
                .is_some_and(|(m, _)| m.fanned_out);
            if fanned_out {
                return Ok((id, false));
            }
            (id, false)
        }
    };
    Job::FanOut {
        message_id: id.clone(),
    }
    .enqueue(services, Duration::ZERO)
    .await
    .map_err(|e| PublishError::Queue(e.to_string()))?;
    Ok((id, is_new))
}

/// Tells the tenant something happened (to a connection, an endpoint), as an event to its
/// endpoints and chat channels. A failure is logged, never raised: the state change it reports
/// is already stored and visible in the API, and the flow that noticed it must go on.
pub async fn notify_tenant(
    services: &Services,
    tenant: &TenantId,
    event_type: &str,
    data: serde_json::Value,
    idempotency_key: String,
) {
    let message = NewMessage {
        tenant_id: tenant.clone(),
        event_type: event_type.to_owned(),
        data,
        idempotency_key: Some(idempotency_key),
        test: false,
    };
    if let Err(error) = publish(services, message).await {
        tracing::error!(%error, tenant_id = %tenant, event_type, "tenant notification not published");
    }
}
