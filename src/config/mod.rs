//! nats-server conf format and typed options.
