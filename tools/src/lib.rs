//! tracebus operator tooling: the nkeys/JWT/creds commands (`trust`, on
//! top of `tracebus::jwt`, with their on-disk `store`) and the `bench` load
//! generator.

pub mod bench;
pub mod creds;
pub mod store;
pub mod trust;
pub mod units;
