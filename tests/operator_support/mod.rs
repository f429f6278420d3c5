//! Operator-mode test helpers: a trust chain (operator with a signing key,
//! system account and user, team accounts, users) minted with
//! `tracebus::jwt`, the server configuration for it, and raw-protocol
//! helpers to connect as a JWT user and to push account updates through
//! the system account — the same text and bytes for tracebus and
//! nats-server.
//!
//! Include it with `#[path = "operator_support/mod.rs"] mod op;` after the
//! `common`, `raw` and `support` modules.
#![allow(dead_code)]

use std::path::Path;

use base64::Engine;
use tracebus::jwt::nkeys::KeyPair;
use tracebus::jwt::{self, Claims, KeyType, Nats};

use crate::raw::{show, RawClient};
use crate::support::{connect_line, ConfServer};

/// A user's JWT and seed (what a creds file holds).
#[derive(Clone, Debug)]
pub struct Creds {
    pub jwt: String,
    pub seed: String,
}

impl Creds {
    /// The user's public key.
    pub fn public_key(&self) -> String {
        KeyPair::from_seed(&self.seed).unwrap().public_key()
    }

    /// The creds file text.
    pub fn file_text(&self) -> String {
        jwt::format_creds(&self.jwt, &self.seed)
    }
}

/// An account: its key pair, signing keys and (unsigned) claims.
pub struct Acct {
    pub name: String,
    pub kp: KeyPair,
    pub claims: Claims,
    pub signers: Vec<KeyPair>,
}

impl Acct {
    pub fn key(&self) -> String {
        self.kp.public_key()
    }
}

/// Operator, system account and team accounts.
pub struct Chain {
    pub operator: KeyPair,
    pub op_signer: KeyPair,
    pub operator_jwt: String,
    pub accounts: Vec<Acct>,
    pub sys_key: String,
    /// Extra `resolver_preload` entries (key, JWT) signed elsewhere.
    pub extra_preload: Vec<(String, String)>,
}

fn copy_kp(kp: &KeyPair) -> KeyPair {
    KeyPair::from_seed(&kp.seed().unwrap()).unwrap()
}

impl Clone for Acct {
    fn clone(&self) -> Self {
        Acct {
            name: self.name.clone(),
            kp: copy_kp(&self.kp),
            claims: self.claims.clone(),
            signers: self.signers.iter().map(copy_kp).collect(),
        }
    }
}

impl Clone for Chain {
    fn clone(&self) -> Self {
        Chain {
            operator: copy_kp(&self.operator),
            op_signer: copy_kp(&self.op_signer),
            operator_jwt: self.operator_jwt.clone(),
            accounts: self.accounts.clone(),
            sys_key: self.sys_key.clone(),
            extra_preload: self.extra_preload.clone(),
        }
    }
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A new operator with one signing key and a system account `SYS`.
    pub fn new() -> Chain {
        let operator = KeyType::Operator.generate();
        let op_signer = KeyType::Operator.generate();
        let sys = KeyType::Account.generate();
        let mut op = jwt::Operator::default();
        op.signing_keys.push(op_signer.public_key());
        op.system_account = sys.public_key();
        let oc = Claims::new(operator.public_key(), "test-op", Nats::Operator(op));
        let operator_jwt = jwt::encode(&oc, &operator).unwrap();
        let mut chain = Chain {
            operator,
            op_signer,
            operator_jwt,
            accounts: Vec::new(),
            sys_key: sys.public_key(),
            extra_preload: Vec::new(),
        };
        chain.accounts.push(Acct {
            name: "SYS".into(),
            claims: Claims::new(sys.public_key(), "SYS", Nats::Account(jwt::Account::new())),
            kp: sys,
            signers: Vec::new(),
        });
        chain
    }

    /// Adds an account (unlimited, then `f`); returns its key.
    pub fn add_account(&mut self, name: &str, f: impl FnOnce(&mut jwt::Account)) -> String {
        let kp = KeyType::Account.generate();
        let mut a = jwt::Account::new();
        f(&mut a);
        let key = kp.public_key();
        self.accounts.push(Acct {
            name: name.into(),
            claims: Claims::new(key.clone(), name, Nats::Account(a)),
            kp,
            signers: Vec::new(),
        });
        key
    }

    pub fn acct(&self, key: &str) -> &Acct {
        self.accounts
            .iter()
            .find(|a| a.key() == key)
            .expect("account")
    }

    pub fn acct_mut(&mut self, key: &str) -> &mut Acct {
        self.accounts
            .iter_mut()
            .find(|a| a.key() == key)
            .expect("account")
    }

    /// Edits an account's claims (sign again with [`Chain::account_jwt`]).
    pub fn edit(&mut self, key: &str, f: impl FnOnce(&mut Claims)) {
        f(&mut self.acct_mut(key).claims);
    }

    /// Adds a plain signing key to an account; returns it.
    pub fn add_signing_key(&mut self, key: &str) -> KeyPair {
        let sk = KeyType::Account.generate();
        let a = self.acct_mut(key);
        a.claims
            .account_mut()
            .unwrap()
            .add_signing_key(sk.public_key());
        a.signers.push(copy_kp(&sk));
        sk
    }

    /// The account's JWT, signed now by the operator's signing key.
    pub fn account_jwt(&self, key: &str) -> String {
        jwt::encode(&self.acct(key).claims, &self.op_signer).unwrap()
    }

    /// A user of `account` signed by the account key (permissions and limits
    /// unlimited, then `f`).
    pub fn user(&self, account: &str, name: &str, f: impl FnOnce(&mut Claims)) -> Creds {
        let kp = copy_kp(&self.acct(account).kp);
        self.user_signed_by(account, &kp, name, f)
    }

    /// A user of `account` signed by `signer` (the account key or one of its
    /// signing keys; `issuer_account` is set for the latter).
    pub fn user_signed_by(
        &self,
        account: &str,
        signer: &KeyPair,
        name: &str,
        f: impl FnOnce(&mut Claims),
    ) -> Creds {
        let ukp = KeyType::User.generate();
        let mut u = jwt::User {
            perms: jwt::UserPermissionLimits::unlimited(),
            ..Default::default()
        };
        if signer.public_key() != account {
            u.issuer_account = account.to_owned();
        }
        let mut c = Claims::new(ukp.public_key(), name, Nats::User(u));
        f(&mut c);
        Creds {
            jwt: jwt::encode(&c, signer).unwrap(),
            seed: ukp.seed().unwrap(),
        }
    }

    /// The system account's user.
    pub fn sys_user(&self) -> Creds {
        self.user(&self.sys_key.clone(), "sys", |_| {})
    }

    fn preload(&self) -> String {
        let mut s = String::from("resolver_preload: {\n");
        for a in &self.accounts {
            s.push_str(&format!("  {}: {}\n", a.key(), self.account_jwt(&a.key())));
        }
        for (k, t) in &self.extra_preload {
            s.push_str(&format!("  {k}: {t}\n"));
        }
        s.push_str("}\n");
        s
    }

    /// Operator mode with a MEMORY resolver preloading every account.
    pub fn conf_memory(&self) -> String {
        format!(
            "operator: {}\nsystem_account: {}\nresolver: MEMORY\n{}",
            self.operator_jwt,
            self.sys_key,
            self.preload()
        )
    }

    /// Operator mode with a full resolver in `dir`, every account preloaded.
    pub fn conf_full(&self, dir: &Path) -> String {
        format!(
            "operator: {}\nsystem_account: {}\nresolver: {{\n  type: full\n  dir: {}\n  allow_delete: false\n  interval: \"2m\"\n}}\n{}",
            self.operator_jwt,
            self.sys_key,
            serde_json::to_string(&dir.to_string_lossy()).unwrap(),
            self.preload()
        )
    }
}

/// The CONNECT line of a JWT user answering this connection's nonce
/// (`bearer`: no signature), with `extra` JSON fields.
pub fn jwt_connect(c: &RawClient, creds: &Creds, sign: bool, extra: &str) -> String {
    let nonce = c
        .info
        .get("nonce")
        .and_then(|n| n.as_str())
        .unwrap_or_else(|| panic!("INFO has no nonce: {}", show(&c.info_line)));
    let mut fields = format!("\"jwt\":\"{}\"", creds.jwt);
    if sign {
        let kp = KeyPair::from_seed(&creds.seed).unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(kp.sign(nonce.as_bytes()).unwrap());
        fields.push_str(&format!(",\"sig\":\"{sig}\""));
    }
    if !extra.is_empty() {
        fields.push(',');
        fields.push_str(extra);
    }
    connect_line(&fields)
}

/// Connects as `creds` and checks the connection with PING/PONG.
pub async fn login(s: &ConfServer, creds: &Creds) -> RawClient {
    let mut c = s.client().await;
    let line = jwt_connect(&c, creds, true, "");
    c.send(line).await;
    c.ping_pong().await;
    c
}

/// Connects as `creds` (optionally without signing) and returns what the
/// server sent before closing the connection.
pub async fn refused_with(s: &ConfServer, creds: &Creds, sign: bool) -> String {
    let mut c = s.client().await;
    let line = jwt_connect(&c, creds, sign, "");
    c.send(line).await;
    c.send("PING\r\n").await;
    show(&c.expect_closed().await)
}

/// [`refused_with`], signing the nonce.
pub async fn refused(s: &ConfServer, creds: &Creds) -> String {
    refused_with(s, creds, true).await
}

/// `-ERR 'Authorization Violation'\r\n`, as [`show`] renders it.
pub fn auth_violation() -> String {
    show(b"-ERR 'Authorization Violation'\r\n")
}

/// Sends `token` to `subject` as the system user and returns the answer's
/// JSON.
pub async fn sys_request(
    s: &ConfServer,
    chain: &Chain,
    subject: &str,
    token: &str,
) -> serde_json::Value {
    let mut c = login(s, &chain.sys_user()).await;
    c.send("SUB _INBOX.upd 1\r\n").await;
    c.send(format!(
        "PUB {subject} _INBOX.upd {}\r\n{token}\r\n",
        token.len()
    ))
    .await;
    let line = c.read_line().await;
    let text = String::from_utf8_lossy(&line).to_string();
    let parts: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(parts.first(), Some(&"MSG"), "{text}");
    let n: usize = parts.last().unwrap().parse().unwrap();
    let mut body = Vec::new();
    while body.len() < n + 2 {
        body.extend(c.read_line().await);
    }
    body.truncate(n);
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}: {}", show(&body)))
}

/// Pushes the account's current JWT (signed now) and returns the answer.
pub async fn push(s: &ConfServer, chain: &Chain, key: &str) -> serde_json::Value {
    let token = chain.account_jwt(key);
    sys_request(
        s,
        chain,
        &format!("$SYS.REQ.ACCOUNT.{key}.CLAIMS.UPDATE"),
        &token,
    )
    .await
}

/// Asserts an update answer is `{"data":{"account":key,"code":200,"message":msg}}`.
pub fn assert_updated(answer: &serde_json::Value, key: &str, message: &str) {
    assert_eq!(answer["data"]["code"], 200, "{answer}");
    assert_eq!(answer["data"]["account"], key, "{answer}");
    assert_eq!(answer["data"]["message"], message, "{answer}");
    assert!(answer["server"]["id"].is_string(), "{answer}");
}
