//! Hookrail's shared crate: everything the Lambda functions and the `hookrail` binary share.
//!
//! A map of the crate, in the order data flows:
//!
//! - [`config`]: configuration read once at start into a typed struct.
//! - [`verify`]: one module per inbound signature scheme, one trait, one registry.
//! - [`inbound`]: the receipt pipeline (look up → verify → dedupe → store → enqueue) and the
//!   processor that consumes it.
//! - [`api`]: the tenants' `/v1` router: auth, errors, pagination, OpenAPI.
//! - [`sign`], [`outbound`]: signing deliveries, and delivering them behind an SSRF guard.
//! - [`domain`]: plain types and rules — tenants, integrations, events, endpoints, retries —
//!   with no I/O.
//! - [`repo`]: the domain's persistence, written once over the state port.
//! - [`catalog`]: the provider catalog — how to connect to, call and probe each vendor.
//! - [`probe`]: a connection's cheapest authenticated request, for tests and health.
//! - [`oauth`]: connecting OAuth providers and keeping their tokens fresh under a lease.
//! - [`store`], [`queue`], [`vault`], [`secrets`]: the ports, each with its AWS adapter and its embedded one.
//! - [`embedded`]: the SQLite file behind the embedded adapters.
//! - [`backend`]: builds the adapters a configuration names.
//! - [`runtime`]: how the handlers run on Lambda, and the queue poller.
//! - [`dev`]: `hookrail dev` — every function in one process on the embedded backend.
//! - [`clock`], [`ids`]: time and typed identifiers.

pub mod clock;
pub mod embedded;
pub mod queue;
pub mod store;
pub mod vault;

pub mod api;
pub mod backend;
pub mod catalog;
pub mod config;
pub mod dev;
pub mod domain;
pub mod health;
pub mod ids;
pub mod inbound;
pub mod jobs;
pub mod limits;
pub mod load;
pub mod oauth;
pub mod outbound;
pub mod probe;
pub mod repo;
pub mod runtime;
pub mod secrets;
pub mod sign;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;
