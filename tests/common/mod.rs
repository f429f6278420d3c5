//! Shared test harness: start an in-process tracebus on 127.0.0.1:0.
#![allow(dead_code)]

use tracebus::config::Options;
use tracebus::server::{Server, ServerHandle};

/// Options for a test server: loopback, random port, defaults otherwise.
pub fn test_options() -> Options {
    Options {
        host: "127.0.0.1".into(),
        port: 0,
        ..Options::default()
    }
}

/// Starts a tracebus server in-process with `opts`.
pub async fn start(opts: Options) -> ServerHandle {
    Server::start(opts).await.expect("server starts")
}

/// Starts a tracebus server with default test options.
pub async fn start_default() -> ServerHandle {
    start(test_options()).await
}
