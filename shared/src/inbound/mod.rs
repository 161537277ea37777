//! Receiving vendors' webhooks: the receipt (verify, store, enqueue, answer) and the processor
//! that works through the queue afterwards.

pub mod processor;
pub mod receipt;
pub mod router;
