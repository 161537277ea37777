//! Plain types and rules: no AWS types, no I/O.

pub mod event;
pub mod integration;
pub mod tenant;
