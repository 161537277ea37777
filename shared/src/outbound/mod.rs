//! Delivering events to tenants' endpoints: the SSRF guard and HTTP client (`ssrf`); fan-out,
//! delivery and retry scheduling build on them.

pub mod ssrf;
