//! Who may connect, and as whom.
//!
//! Built once from validated [`Options`]; [`Authenticator::authenticate`] turns a
//! CONNECT into an [`Identity`]: the account the connection is bound to, its
//! permissions and a label for logs. The decision order is nats-server 2.9's:
//!
//! 1. nkey users are configured and CONNECT carries `nkey`: that nkey user, with
//!    a valid signature of this connection's nonce, or nothing;
//! 2. a users list is configured: with no user, password or token in CONNECT
//!    and `no_auth_user` set, that user; otherwise the named user with the right
//!    password (plain compared in constant time, or bcrypt);
//! 3. otherwise the token, or the single user/password, if configured.
//!
//! Anything else is refused. With `no_auth_user`, INFO does not announce
//! `auth_required` and a client that starts with any other op than CONNECT is
//! bound to the `no_auth_user` (see [`Authenticator::implicit_identity`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::options::GLOBAL_ACCOUNT_NAME;
use crate::config::{Options, PermissionsOptions};
use crate::protocol::connect::ConnectInfo;

use super::ct_eq;
use super::nkey::{verify_nonce, SignatureError};
use super::permissions::Permissions;

/// A configured password or token: plain text, or a bcrypt hash.
#[derive(Clone)]
pub enum Secret {
    /// Compared in constant time.
    Plain(Box<str>),
    /// `$2a$`, `$2b$`, `$2x$` or `$2y$` followed by a two-digit cost.
    Bcrypt(Box<str>),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Secret::Plain(_) => "Secret::Plain(..)",
            Secret::Bcrypt(_) => "Secret::Bcrypt(..)",
        })
    }
}

impl Secret {
    /// Classifies a configured secret the way nats-server does
    /// (`^\$2[abxy]\$\d{2}\$`).
    pub fn new(s: &str) -> Secret {
        if is_bcrypt(s) {
            Secret::Bcrypt(s.into())
        } else {
            Secret::Plain(s.into())
        }
    }

    /// Does the client's `given` secret match?
    pub fn matches(&self, given: &str) -> bool {
        match self {
            Secret::Plain(p) => ct_eq(p.as_bytes(), given.as_bytes()),
            Secret::Bcrypt(h) => bcrypt::verify(given, h).unwrap_or(false),
        }
    }

    /// Is checking this secret slow (bcrypt)?
    pub fn is_slow(&self) -> bool {
        matches!(self, Secret::Bcrypt(_))
    }
}

fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 7
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// What an authenticated connection is: bound to `account`, restricted by
/// `permissions` (`None` = may do anything in its account).
#[derive(Debug, Clone)]
pub struct Identity {
    /// The account name.
    pub account: Arc<str>,
    /// The permissions, if any.
    pub permissions: Option<Arc<Permissions>>,
    /// For logs: `user "alice"`, `nkey UAB...`, `token`, or `anonymous`.
    pub label: Arc<str>,
}

impl Identity {
    /// The identity of every connection when no authentication is configured.
    pub fn anonymous() -> Identity {
        Identity {
            account: Arc::from(GLOBAL_ACCOUNT_NAME),
            permissions: None,
            label: Arc::from("anonymous"),
        }
    }
}

/// Why a CONNECT was refused; logged, never sent (the client only sees
/// `Authorization Violation`). No variant carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("nkey {0:?} is not a configured user")]
    UnknownNkey(String),
    #[error("nkey {0:?}: {1}")]
    BadSignature(String, SignatureError),
    #[error("user {0:?} is not a configured user")]
    UnknownUser(String),
    #[error("user {0:?}: wrong password")]
    BadPassword(String),
    #[error("token missing or wrong")]
    BadToken,
    #[error("no credentials (user, token or nkey) in CONNECT")]
    NoCredentials,
    #[error("operator mode: only user JWTs authenticate")]
    OperatorMode,
}

struct PasswordUser {
    secret: Secret,
    identity: Identity,
}

/// The configured ways in. Immutable after start-up.
pub struct Authenticator {
    users: HashMap<String, PasswordUser>,
    nkeys: HashMap<String, Identity>,
    token: Option<(Secret, Identity)>,
    single: Option<(String, Secret, Identity)>,
    no_auth: Option<Identity>,
    slow: bool,
    plaintext: bool,
    /// Operator mode: users authenticate with JWTs (see `jwt_users`), never
    /// with the tables above; a nonce is always sent.
    operator: bool,
}

fn compile(p: Option<&PermissionsOptions>) -> Option<Arc<Permissions>> {
    p.map(|p| Arc::new(Permissions::from_options(p)))
}

impl Authenticator {
    /// Builds the user tables from options that passed [`Options::validate`].
    pub fn from_options(o: &Options) -> Authenticator {
        let a = &o.authorization;
        let mut users = HashMap::new();
        let mut nkeys = HashMap::new();
        let mut slow = false;
        let mut plaintext = false;
        // (account, users, default permissions) for $G and every account.
        let global_default = a.default_permissions.as_ref().or(a.permissions.as_ref());
        let groups = std::iter::once((GLOBAL_ACCOUNT_NAME, &a.users, global_default)).chain(
            o.accounts.iter().map(|acc| {
                (
                    acc.name.as_str(),
                    &acc.users,
                    acc.default_permissions.as_ref(),
                )
            }),
        );
        for (account, list, default) in groups {
            let account: Arc<str> = Arc::from(account);
            let default = compile(default);
            for u in list {
                let permissions = match &u.permissions {
                    Some(p) => compile(Some(p)),
                    None => default.clone(),
                };
                if let Some(nkey) = &u.nkey {
                    nkeys.insert(
                        nkey.clone(),
                        Identity {
                            account: account.clone(),
                            permissions,
                            label: Arc::from(format!("nkey {nkey}")),
                        },
                    );
                } else if let Some(name) = &u.user {
                    let secret = Secret::new(u.password.as_deref().unwrap_or(""));
                    slow |= secret.is_slow();
                    plaintext |= !secret.is_slow();
                    users.insert(
                        name.clone(),
                        PasswordUser {
                            secret,
                            identity: Identity {
                                account: account.clone(),
                                permissions,
                                label: Arc::from(format!("user {name:?}")),
                            },
                        },
                    );
                }
            }
        }
        // The single user and the token live in $G. Unlike nats-server (which
        // ignores them there), `authorization.permissions` apply to them.
        let single_perms = compile(a.permissions.as_ref().or(a.default_permissions.as_ref()));
        let token = a.token.as_ref().map(|t| {
            let secret = Secret::new(t);
            (
                secret,
                Identity {
                    account: Arc::from(GLOBAL_ACCOUNT_NAME),
                    permissions: single_perms.clone(),
                    label: Arc::from("token"),
                },
            )
        });
        let single = a.user.as_ref().map(|name| {
            let secret = Secret::new(a.password.as_deref().unwrap_or(""));
            (
                name.clone(),
                secret,
                Identity {
                    account: Arc::from(GLOBAL_ACCOUNT_NAME),
                    permissions: single_perms.clone(),
                    label: Arc::from(format!("user {name:?}")),
                },
            )
        });
        for s in token
            .iter()
            .map(|t| &t.0)
            .chain(single.iter().map(|s| &s.1))
        {
            slow |= s.is_slow();
            plaintext |= !s.is_slow();
        }
        let no_auth = o
            .no_auth_user
            .as_ref()
            .and_then(|n| users.get(n))
            .map(|u| u.identity.clone());
        Authenticator {
            users,
            nkeys,
            token,
            single,
            no_auth,
            slow,
            plaintext,
            operator: o.trust.is_operator_mode(),
        }
    }

    /// Is any authentication configured? (Then the auth timeout applies.)
    pub fn configured(&self) -> bool {
        self.operator
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
            || self.token.is_some()
            || self.single.is_some()
    }

    /// INFO `auth_required`: authentication configured and no `no_auth_user`.
    pub fn auth_required(&self) -> bool {
        self.configured() && self.no_auth.is_none()
    }

    /// Does INFO need a nonce (nkey users configured, or operator mode)?
    pub fn needs_nonce(&self) -> bool {
        self.operator || !self.nkeys.is_empty()
    }

    /// Operator mode (JWT users only)?
    pub fn operator_mode(&self) -> bool {
        self.operator
    }

    /// May an authentication take long (bcrypt)? The server then moves it off
    /// the async worker.
    pub fn may_be_slow(&self) -> bool {
        self.slow
    }

    /// Are plain-text passwords or tokens configured? (Worth a start-up warning.)
    pub fn has_plaintext_secrets(&self) -> bool {
        self.plaintext
    }

    /// The `no_auth_user`'s identity: what a client that sends no credentials
    /// (or no CONNECT before its first op) becomes.
    pub fn implicit_identity(&self) -> Option<&Identity> {
        self.no_auth.as_ref()
    }

    /// Checks a CONNECT. `nonce` is the one sent in this connection's INFO.
    pub fn authenticate(
        &self,
        c: &ConnectInfo,
        nonce: Option<&str>,
    ) -> Result<Identity, AuthError> {
        if self.operator {
            return Err(AuthError::OperatorMode);
        }
        if !self.configured() {
            return Ok(Identity::anonymous());
        }
        let given_nkey = c.nkey.as_deref().unwrap_or("");
        if !self.nkeys.is_empty() && !given_nkey.is_empty() {
            let Some(id) = self.nkeys.get(given_nkey) else {
                return Err(AuthError::UnknownNkey(given_nkey.to_string()));
            };
            verify_nonce(given_nkey, nonce.unwrap_or(""), c.sig.as_deref())
                .map_err(|e| AuthError::BadSignature(given_nkey.to_string(), e))?;
            return Ok(id.clone());
        }
        let user = c.user.as_deref().unwrap_or("");
        let pass = c.pass.as_deref().unwrap_or("");
        let token = c.auth_token.as_deref().unwrap_or("");
        if !self.users.is_empty() {
            if user.is_empty() && pass.is_empty() && token.is_empty() {
                if let Some(id) = &self.no_auth {
                    return Ok(id.clone());
                }
            }
            if !user.is_empty() {
                let Some(u) = self.users.get(user) else {
                    return Err(AuthError::UnknownUser(user.to_string()));
                };
                return if u.secret.matches(pass) {
                    Ok(u.identity.clone())
                } else {
                    Err(AuthError::BadPassword(user.to_string()))
                };
            }
        }
        if let Some((secret, id)) = &self.token {
            return if secret.matches(token) {
                Ok(id.clone())
            } else {
                Err(AuthError::BadToken)
            };
        }
        if let Some((name, secret, id)) = &self.single {
            // Evaluate both comparisons so timing does not reveal which failed.
            let user_ok = ct_eq(user.as_bytes(), name.as_bytes());
            let pass_ok = secret.matches(pass);
            return if user_ok & pass_ok {
                Ok(id.clone())
            } else {
                Err(AuthError::BadPassword(user.to_string()))
            };
        }
        Err(AuthError::NoCredentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccountOptions, UserOptions};

    fn connect(json: &str) -> ConnectInfo {
        crate::protocol::connect::parse_connect(json.as_bytes()).unwrap()
    }

    fn user(name: &str, pass: &str) -> UserOptions {
        UserOptions {
            user: Some(name.into()),
            password: Some(pass.into()),
            ..Default::default()
        }
    }

    #[test]
    fn bcrypt_detection() {
        assert!(is_bcrypt(
            "$2a$04$UuTkLRZZ6QofpDOlMz32MuuxEHA43WOemOYHPz6.SjsVsyO1tDU96"
        ));
        assert!(is_bcrypt("$2b$10$x"));
        assert!(!is_bcrypt("$2c$10$x"));
        assert!(!is_bcrypt("$2a$1$x"));
        assert!(!is_bcrypt("plain"));
        let h = bcrypt::hash("pw", 4).unwrap();
        let s = Secret::new(&h);
        assert!(s.is_slow());
        assert!(s.matches("pw"));
        assert!(!s.matches("pW"));
        assert!(!s.matches(&h));
        assert!(Secret::new("pw").matches("pw"));
        assert_eq!(format!("{:?}", Secret::new("pw")), "Secret::Plain(..)");
    }

    #[test]
    fn users_accounts_and_no_auth_user() {
        let kp = nkeys::KeyPair::new_user();
        let mut a = AccountOptions::new("A");
        a.users = vec![
            user("a", "pa"),
            UserOptions {
                nkey: Some(kp.public_key()),
                ..Default::default()
            },
        ];
        let mut o = Options {
            accounts: vec![a],
            no_auth_user: Some("a".into()),
            ..Options::default()
        };
        o.authorization.users = vec![user("g", "pg")];
        o.validate().unwrap();
        let auth = Authenticator::from_options(&o);
        assert!(auth.configured() && !auth.auth_required() && auth.needs_nonce());
        let id = auth
            .authenticate(&connect(r#"{"user":"a","pass":"pa"}"#), None)
            .unwrap();
        assert_eq!(&*id.account, "A");
        let id = auth
            .authenticate(&connect(r#"{"user":"g","pass":"pg"}"#), None)
            .unwrap();
        assert_eq!(&*id.account, "$G");
        assert_eq!(
            auth.authenticate(&connect(r#"{"user":"g","pass":"x"}"#), None)
                .unwrap_err(),
            AuthError::BadPassword("g".into())
        );
        assert_eq!(
            auth.authenticate(&connect(r#"{"user":"zz","pass":"x"}"#), None)
                .unwrap_err(),
            AuthError::UnknownUser("zz".into())
        );
        // No credentials: the no_auth_user.
        assert_eq!(
            &*auth.authenticate(&connect("{}"), None).unwrap().account,
            "A"
        );
        // A token where none is configured is not "no credentials".
        assert!(auth
            .authenticate(&connect(r#"{"auth_token":"t"}"#), None)
            .is_err());
        // nkey challenge.
        let nonce = super::super::nkey::new_nonce();
        let sig = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            kp.sign(nonce.as_bytes()).unwrap(),
        );
        let c = connect(&format!(
            r#"{{"nkey":"{}","sig":"{sig}"}}"#,
            kp.public_key()
        ));
        assert_eq!(&*auth.authenticate(&c, Some(&nonce)).unwrap().account, "A");
        assert!(matches!(
            auth.authenticate(&c, Some("another")),
            Err(AuthError::BadSignature(_, SignatureError::Mismatch))
        ));
        let c = connect(r#"{"nkey":"UNKNOWN","user":"a","pass":"pa"}"#);
        assert!(matches!(
            auth.authenticate(&c, Some(&nonce)),
            Err(AuthError::UnknownNkey(_))
        ));
    }

    #[test]
    fn token_and_single_user() {
        let mut o = Options::default();
        o.authorization.token = Some(bcrypt::hash("tok", 4).unwrap());
        let auth = Authenticator::from_options(&o);
        assert!(auth.auth_required() && auth.may_be_slow() && !auth.needs_nonce());
        assert!(auth
            .authenticate(&connect(r#"{"auth_token":"tok"}"#), None)
            .is_ok());
        assert_eq!(
            auth.authenticate(&connect(r#"{"auth_token":"x"}"#), None)
                .unwrap_err(),
            AuthError::BadToken
        );
        let mut o = Options::default();
        o.authorization.user = Some("u".into());
        o.authorization.password = Some("p".into());
        let auth = Authenticator::from_options(&o);
        assert!(auth.has_plaintext_secrets());
        assert!(auth
            .authenticate(&connect(r#"{"user":"u","pass":"p"}"#), None)
            .is_ok());
        assert!(auth
            .authenticate(&connect(r#"{"user":"u","pass":"q"}"#), None)
            .is_err());
        assert!(auth.authenticate(&connect("{}"), None).is_err());
        let none = Authenticator::from_options(&Options::default());
        assert!(!none.configured() && !none.auth_required());
    }
}
