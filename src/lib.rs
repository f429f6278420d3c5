//! tracebus: a multi-tenant pub/sub broker that speaks the NATS client protocol.
//!
//! The crate is both the library (so tests, benches and `tracebus-tools` can start a
//! server in-process) and the `tracebus` binary. See `../shared/DESIGN.md` for the map.
pub mod auth;
pub mod config;
pub mod jwt;
pub mod protocol;
pub mod server;
pub mod subject;
pub mod sublist;
pub mod transform;
