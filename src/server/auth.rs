//! Single-user / token authentication from the `authorization {}` block and the
//! `--user/--pass/--auth` flags. Multi-user accounts, bcrypt and nkeys arrive with
//! the accounts issue and will replace this module with `auth/`.

use crate::config::Options;
use crate::protocol::connect::ConnectInfo;

/// Why a CONNECT was refused; logged, never sent (the client only sees
/// `Authorization Violation`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("token missing or wrong")]
    BadToken,
    #[error("user {0:?} unknown or wrong password")]
    BadUserPass(String),
}

/// The configured credential, if any.
pub(crate) enum SimpleAuth {
    None,
    Token(String),
    UserPass { user: String, pass: String },
}

impl SimpleAuth {
    pub(crate) fn from_options(opts: &Options) -> Self {
        let a = &opts.authorization;
        if let Some(token) = &a.token {
            return SimpleAuth::Token(token.clone());
        }
        if let Some(user) = &a.user {
            return SimpleAuth::UserPass {
                user: user.clone(),
                pass: a.password.clone().unwrap_or_default(),
            };
        }
        SimpleAuth::None
    }

    pub(crate) fn required(&self) -> bool {
        !matches!(self, SimpleAuth::None)
    }

    pub(crate) fn check(&self, c: &ConnectInfo) -> Result<(), AuthError> {
        match self {
            SimpleAuth::None => Ok(()),
            SimpleAuth::Token(t) => {
                let given = c.auth_token.as_deref().unwrap_or("");
                if ct_eq(given.as_bytes(), t.as_bytes()) {
                    Ok(())
                } else {
                    Err(AuthError::BadToken)
                }
            }
            SimpleAuth::UserPass { user, pass } => {
                let u = c.user.as_deref().unwrap_or("");
                let p = c.pass.as_deref().unwrap_or("");
                // Evaluate both comparisons so timing does not reveal which failed.
                let user_ok = ct_eq(u.as_bytes(), user.as_bytes());
                let pass_ok = ct_eq(p.as_bytes(), pass.as_bytes());
                if user_ok & pass_ok {
                    Ok(())
                } else {
                    Err(AuthError::BadUserPass(u.to_string()))
                }
            }
        }
    }
}

/// Constant-time equality for secrets (time depends only on the lengths).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
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
