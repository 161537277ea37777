//! Plain types and rules: no AWS types, no I/O.

pub mod circuit;
pub mod connection;
pub mod endpoint;
pub mod event;
pub mod health;
pub mod integration;
pub mod retry;
pub mod tenant;
