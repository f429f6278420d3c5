//! Client authentication and authorization, independent of sockets:
//!
//! * [`users`]: who may connect and as whom — single user/password, token,
//!   users lists (plain or bcrypt passwords) and nkey users, `no_auth_user` —
//!   and which account and permissions each identity gets.
//! * [`nkey`]: the nonce a server puts in INFO and the check of the client's
//!   signature over it.
//! * [`permissions`]: publish/subscribe allow/deny rules (with queue rules),
//!   `allow_responses` reply tracking, and the per-connection publish verdict
//!   cache the hot path uses.
//!
//! * [`jwt_users`]: operator mode — trusted operator keys, account JWT
//!   verification and validation, user JWT authorization, activations.
//! * [`resolver`]: where account JWTs come from (MEMORY, URL, directory).
//! * [`times`]: the daily connection windows of user JWTs.
//!
//! The server (`server/client.rs`) asks [`users::Authenticator`] once per
//! CONNECT and then only consults the [`permissions::Permissions`] it got.

pub mod jwt_users;
pub mod nkey;
pub mod permissions;
pub mod resolver;
pub mod times;
pub mod users;

pub use permissions::{Permissions, PublishVerdicts, ReplyTracker, ResponseLimits};
pub use users::{AuthError, Authenticator, Identity};

/// Constant-time equality for secrets (time depends only on the lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"secret", b"secret"));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"secret1"));
        assert!(ct_eq(b"", b""));
    }
}
