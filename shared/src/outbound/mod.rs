//! Delivering events to tenants' endpoints: publish (store + queue fan-out), fan-out (one
//! delivery per matching endpoint), deliver (one signed, SSRF-guarded attempt), and the retry
//! scheduler for waits longer than the queue can hold; chat channels get their deliveries as
//! chat messages.

pub mod chat;
pub mod deliver;
pub mod fanout;
pub mod publish;
pub mod recovery;
pub mod scheduler;
pub mod ssrf;
