//! tracebus operator tooling. Today: the `bench` load generator; the nkeys,
//! JWT and creds commands will live next to it.

pub mod bench;
pub mod creds;
