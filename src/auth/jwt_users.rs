//! Operator-mode trust decisions, independent of sockets (DESIGN.md §5).
//!
//! * [`Trust`]: the operator keys (identity keys, unless
//!   `strict_signing_key_usage`, and signing keys) and `trusted_keys` an
//!   account JWT must be signed by.
//! * [`Trust::verify_account`]: an account JWT is decoded (signature, shape),
//!   its issuer must be trusted, and it must pass the validation nats-server
//!   applies ([`validate_account`]: import/export limits, wildcard exports,
//!   overlapping exports, key shapes). Time is checked when asked to.
//! * [`AccountInfo`]: a verified account JWT compiled for the server: limits,
//!   revocations, signing keys (plain or scoped, with their templates
//!   compiled), default permissions.
//! * [`authorize_user`]: a CONNECT in operator mode, in nats-server 2.9's
//!   order: user JWT → its account → the user's issuer is the account or one
//!   of its signing keys → scoped signing key rules → bearer rules →
//!   connection type → nonce signature (unless bearer) → revocation → `src`
//!   and `times`. The result is a [`UserGrant`] (who, until when, with what
//!   permissions and limits); every failure is a [`UserError`] the server
//!   logs while the client only sees `Authorization Violation`.
//! * [`verify_activation`]: an activation token that lets an account import
//!   a private export.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    PermissionsOptions, ResponsePermissionOptions, SubjectPermissionOptions, TrustOptions,
};
use crate::jwt::{
    self, Claims, ExportType, JwtError, KeyType, Permission, ResponsePermission, SigningKey,
    UserPermissionLimits, NO_LIMIT,
};
use crate::protocol::connect::ConnectInfo;
use crate::subject::{has_wildcard, is_valid_subject};
use crate::transform::is_subset;

use super::nkey::verify_nonce;
use super::permissions::Permissions;

/// The operator keys accounts must be signed by.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    keys: HashSet<String>,
    /// Identity keys of strict operators: they may not sign accounts.
    strict_identities: HashSet<String>,
}

/// Why an account JWT is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// It does not decode or verify as a JWT.
    #[error("{0}")]
    Decode(JwtError),
    /// It is not an account JWT for the expected key.
    #[error("subject does not match jwt content")]
    WrongSubject,
    /// Signed by a key that is not a trusted operator (signing) key.
    #[error("account JWT issuer {0} is not a trusted operator key")]
    Untrusted(String),
    /// The operator is strict and the account was signed by its identity key.
    #[error("operator requires issuer to be a signing key")]
    StrictIssuer,
    /// Blocking validation errors (nats-server's texts).
    #[error("validation errors: [{}]", .0.join(" "))]
    Invalid(Vec<String>),
    /// `exp` passed.
    #[error("Account JWT has expired")]
    Expired,
    /// `nbf` not reached.
    #[error("Account JWT is not valid yet")]
    NotYetValid,
}

impl Trust {
    /// The trusted keys of the configured operators and `trusted_keys`.
    pub fn from_options(t: &TrustOptions) -> Trust {
        let mut trust = Trust::default();
        for o in &t.operators {
            let Some(op) = o.claims.operator() else {
                continue;
            };
            if op.strict_signing_key_usage {
                trust.strict_identities.insert(o.claims.sub.clone());
            } else {
                trust.keys.insert(o.claims.sub.clone());
            }
            trust.keys.extend(op.signing_keys.iter().cloned());
        }
        trust.keys.extend(t.trusted_keys.iter().cloned());
        trust
    }

    /// May `issuer` sign account JWTs?
    pub fn is_trusted(&self, issuer: &str) -> bool {
        self.keys.contains(issuer)
    }

    /// Decodes and verifies an account JWT: signature, type, trusted issuer,
    /// validation, and (with `now`) `exp`/`nbf`. `expect` is the account key
    /// it must be about, if known.
    pub fn verify_account(
        &self,
        token: &str,
        expect: Option<&str>,
        now: Option<i64>,
    ) -> Result<Claims, AccountError> {
        let (_, claims) = jwt::decode_ignoring_time(token).map_err(AccountError::Decode)?;
        if claims.account().is_none() || expect.is_some_and(|e| e != claims.sub) {
            return Err(AccountError::WrongSubject);
        }
        if self.strict_identities.contains(&claims.iss) {
            return Err(AccountError::StrictIssuer);
        }
        if !self.is_trusted(&claims.iss) {
            return Err(AccountError::Untrusted(claims.iss.clone()));
        }
        let errors = validate_account(&claims);
        if !errors.is_empty() {
            return Err(AccountError::Invalid(errors));
        }
        if let Some(now) = now {
            match claims.check_time(now) {
                Err(JwtError::Expired { .. }) => return Err(AccountError::Expired),
                Err(JwtError::NotYetValid { .. }) => return Err(AccountError::NotYetValid),
                _ => {}
            }
        }
        Ok(claims)
    }
}

/// The blocking validation errors nats-server (jwt/v2) finds in an account
/// JWT, with its texts: import/export counts over the limits, wildcard
/// exports the limits forbid, overlapping exports of one kind, malformed
/// subjects and keys. (The import limit message appears twice because the
/// reference checks it twice; the texts are what `$SYS.REQ...CLAIMS.UPDATE`
/// answers carry.)
pub fn validate_account(c: &Claims) -> Vec<String> {
    let Some(a) = c.account() else {
        return vec!["not an account JWT".into()];
    };
    let mut errors = Vec::new();
    for e in &a.exports {
        if !is_valid_subject(e.subject.as_bytes()) {
            errors.push(format!(
                "export subject {:?} is not a valid subject",
                e.subject
            ));
        }
        if e.kind == ExportType::Unknown {
            errors.push(format!("export {:?} has an invalid type", e.subject));
        }
    }
    for kind in [ExportType::Service, ExportType::Stream] {
        let subjects: Vec<&str> = a
            .exports
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.subject.as_str())
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for (i, inner) in subjects.iter().enumerate() {
            for (j, outer) in subjects.iter().enumerate() {
                if i != j && is_subset(inner.as_bytes(), outer.as_bytes()) && !seen.contains(outer)
                {
                    seen.push(outer);
                    errors.push(format!(
                        "{kind} export subject {outer:?} already exports {inner:?}"
                    ));
                }
            }
        }
    }
    for im in &a.imports {
        if !jwt::is_public_key(&im.account, KeyType::Account) {
            errors.push(format!(
                "account to import from {:?} is not a valid account public key",
                im.account
            ));
        }
        if !is_valid_subject(im.subject.as_bytes()) {
            errors.push(format!(
                "import subject {:?} is not a valid subject",
                im.subject
            ));
        }
        if im.kind == ExportType::Unknown {
            errors.push(format!("import {:?} has an invalid type", im.subject));
        }
        for local in [&im.local_subject, &im.to] {
            if !local.is_empty() && !is_valid_subject(local.as_bytes()) {
                errors.push(format!(
                    "import {:?} maps to invalid subject {local:?}",
                    im.subject
                ));
            }
        }
    }
    let l = &a.limits;
    if l.imports != NO_LIMIT && a.imports.len() as i64 > l.imports {
        let msg = "the account contains more imports than allowed by the operator";
        errors.push(msg.into());
        errors.push(msg.into());
    }
    if l.exports != NO_LIMIT {
        if a.exports.len() as i64 > l.exports {
            errors.push("the account contains more exports than allowed by the operator".into());
        }
        if !l.wildcards && a.exports.iter().any(|e| has_wildcard(e.subject.as_bytes())) {
            errors.push(
                "the account contains wildcard exports that are not allowed by the operator".into(),
            );
        }
    }
    for k in &a.signing_keys {
        if !jwt::is_public_key(k.key(), KeyType::Account) {
            errors.push(format!("{} is not an account public key", k.key()));
        }
    }
    errors
}

/// Account limits the server enforces (−1 = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// Client connections to the account.
    pub conn: i64,
    /// Subscriptions per connection (nats-server applies the account's
    /// `subs` to each connection, not to the account as a whole).
    pub subs: i64,
    /// Largest payload per message.
    pub payload: i64,
    /// Bearer-token users are refused.
    pub disallow_bearer: bool,
}

/// A scoped signing key: its template, compiled.
#[derive(Debug)]
pub struct Scope {
    /// The template (permissions, limits, src, times...).
    pub template: UserPermissionLimits,
    /// The template's permissions.
    pub permissions: Option<Arc<Permissions>>,
}

/// A verified account JWT, compiled.
#[derive(Debug)]
pub struct AccountInfo {
    /// The account's public key (its name in the server).
    pub key: String,
    /// `name` claim, for logs.
    pub name: String,
    /// The token.
    pub jwt: String,
    /// The claims.
    pub claims: Claims,
    /// Limits.
    pub limits: AccountLimits,
    /// `default_permissions`, for users without permissions of their own.
    pub default_permissions: Option<Arc<Permissions>>,
    /// Signing keys: `None` for a plain key, the scope for a scoped one.
    signers: HashMap<String, Option<Arc<Scope>>>,
}

/// Who signed a user JWT, relative to its account.
#[derive(Debug, Clone)]
pub enum Signer {
    /// The account's identity key.
    Account,
    /// A plain signing key.
    Key,
    /// A scoped signing key.
    Scoped(Arc<Scope>),
}

impl AccountInfo {
    /// Compiles verified account claims.
    pub fn new(token: &str, claims: Claims) -> AccountInfo {
        let a = claims.account().cloned().unwrap_or_default();
        let signers = a
            .signing_keys
            .iter()
            .map(|k| match k {
                SigningKey::Key(k) => (k.clone(), None),
                SigningKey::Scoped(s) => (
                    s.key.clone(),
                    Some(Arc::new(Scope {
                        permissions: permissions_from_jwt(
                            &s.template.publish,
                            &s.template.subscribe,
                            s.template.resp,
                        ),
                        template: s.template.clone(),
                    })),
                ),
            })
            .collect();
        let dp = &a.default_permissions;
        AccountInfo {
            key: claims.sub.clone(),
            name: claims.name.clone(),
            jwt: token.to_owned(),
            limits: AccountLimits {
                conn: a.limits.conn,
                subs: a.limits.subs,
                payload: a.limits.payload,
                disallow_bearer: a.limits.disallow_bearer,
            },
            default_permissions: permissions_from_jwt(&dp.publish, &dp.subscribe, dp.resp),
            signers,
            claims,
        }
    }

    /// The account section of the claims.
    pub fn account(&self) -> &jwt::Account {
        self.claims
            .account()
            .expect("AccountInfo holds account claims")
    }

    /// `exp` (0 = never).
    pub fn exp(&self) -> i64 {
        self.claims.exp
    }

    /// How `issuer` relates to the account, if it may sign its users.
    pub fn signer(&self, issuer: &str) -> Option<Signer> {
        if issuer == self.key {
            return Some(Signer::Account);
        }
        self.signers.get(issuer).map(|s| match s {
            None => Signer::Key,
            Some(scope) => Signer::Scoped(scope.clone()),
        })
    }

    /// The scope of a scoped signing key, as compiled now.
    pub fn scope(&self, key: &str) -> Option<&Arc<Scope>> {
        self.signers.get(key).and_then(|s| s.as_ref())
    }

    /// Is the signing key `key` still there, and (for a scoped key) with the
    /// same template as in `old`? Connections of users it signed are closed
    /// otherwise (nats-server does the same on an account update).
    pub fn keeps_signer(&self, key: &str, old: &AccountInfo) -> bool {
        if key == self.key {
            return true;
        }
        match (self.signers.get(key), old.signers.get(key)) {
            (Some(None), _) => true,
            (Some(Some(new)), Some(Some(was))) => new.template == was.template,
            (Some(Some(_)), _) => false,
            (None, _) => false,
        }
    }

    /// Revoked: `revocations[user]` or `revocations["*"]` at or after `iat`.
    pub fn is_revoked(&self, user: &str, iat: i64) -> bool {
        self.account().is_revoked(user, iat)
    }
}

/// Builds permissions from JWT lists as nats-server does: an empty `allow`
/// means no allow list, a list is only set when it has entries, and `resp`
/// turns a missing publish allow list into an empty one (responses only),
/// with defaults for `max` 0 (1) and `ttl` 0 (2 minutes).
pub fn permissions_from_jwt(
    publish: &Permission,
    subscribe: &Permission,
    resp: Option<ResponsePermission>,
) -> Option<Arc<Permissions>> {
    let list = |p: &Permission| {
        (!p.is_empty()).then(|| SubjectPermissionOptions {
            allow: (!p.allow.is_empty()).then(|| p.allow.clone()),
            deny: p.deny.clone(),
        })
    };
    let mut o = PermissionsOptions {
        publish: list(publish),
        subscribe: list(subscribe),
        allow_responses: None,
    };
    if let Some(r) = resp {
        let defaults = ResponsePermissionOptions::default();
        o.allow_responses = Some(ResponsePermissionOptions {
            max: match r.max {
                m if m < 0 => None,
                0 => defaults.max,
                m => Some(m as u64),
            },
            expires: if r.ttl <= 0 {
                defaults.expires
            } else {
                Duration::from_nanos(r.ttl as u64)
            },
        });
        let p = o.publish.get_or_insert_with(Default::default);
        if p.allow.is_none() {
            p.allow = Some(Vec::new());
        }
    }
    if o.publish.is_none() && o.subscribe.is_none() && o.allow_responses.is_none() {
        return None;
    }
    Some(Arc::new(Permissions::from_options(&o)))
}

/// Why a user JWT was refused (logged; the client sees `Authorization
/// Violation`). No variant carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// CONNECT has no `jwt`.
    #[error("operator mode requires a user JWT in CONNECT")]
    NoJwt,
    /// The user JWT does not decode or verify.
    #[error("user JWT not valid: {0}")]
    BadJwt(JwtError),
    /// `exp` passed.
    #[error("user JWT has expired")]
    Expired,
    /// `nbf` not reached.
    #[error("user JWT is not valid yet")]
    NotYetValid,
    /// The account could not be resolved or is not usable.
    #[error("account {account}: {reason}")]
    Account {
        /// The account's key.
        account: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The user's issuer is neither the account nor one of its signing keys.
    #[error("user JWT issuer {issuer} is not account {account} or one of its signing keys")]
    UnknownIssuer {
        /// `iss`.
        issuer: String,
        /// The account.
        account: String,
    },
    /// A user signed by a scoped key carries permissions or limits.
    #[error("user JWT signed by scoped signing key {0} must not carry permissions or limits")]
    ScopedWithPermissions(String),
    /// A bearer token where the account forbids them.
    #[error("account does not allow bearer tokens")]
    BearerNotAllowed,
    /// `allowed_connection_types` excludes plain TCP clients.
    #[error("connection type STANDARD not allowed (allowed: {0})")]
    ConnectionType(String),
    /// The nonce signature is missing or wrong.
    #[error("nonce signature not verified: {0}")]
    Signature(super::nkey::SignatureError),
    /// Revoked by the account.
    #[error("user {0} has been revoked")]
    Revoked(String),
    /// The client address is outside `src`.
    #[error("connections from {0} are not allowed (src)")]
    Source(String),
    /// Outside the user's `times`.
    #[error("connecting outside the allowed times")]
    Times,
}

/// Where a user's permissions come from; resolved against the account as
/// it is now, so an account update changes them for connected users.
#[derive(Debug, Clone)]
pub enum PermissionSource {
    /// The user JWT's own.
    Own(Option<Arc<Permissions>>),
    /// The account's `default_permissions` (the user has none).
    AccountDefault,
    /// The template of this scoped signing key.
    Scope(String),
}

/// A user admitted by [`authorize_user`].
#[derive(Debug, Clone)]
pub struct UserGrant {
    /// The user's public key.
    pub user: String,
    /// `name` claim.
    pub name: String,
    /// The account's public key.
    pub account: String,
    /// `iat` (revocations compare against it).
    pub iat: i64,
    /// `exp` (0 = never).
    pub exp: i64,
    /// When the user's current `times` window ends, if it has windows.
    pub window_ends: Option<Duration>,
    /// The key that signed the user JWT.
    pub issuer: String,
    /// Whether the JWT is a bearer token.
    pub bearer: bool,
    /// Where the permissions come from.
    pub permissions: PermissionSource,
    /// The user's own (or its scope's) `subs` limit (−1 unlimited).
    pub subs: i64,
    /// The user's own (or its scope's) `payload` limit (−1 unlimited).
    pub payload: i64,
}

impl UserGrant {
    /// The permissions in effect under `account` as it is now; `None` when
    /// a scoped signing key this user depends on is gone.
    pub fn permissions_in(&self, account: &AccountInfo) -> Option<Option<Arc<Permissions>>> {
        match &self.permissions {
            PermissionSource::Own(p) => Some(p.clone()),
            PermissionSource::AccountDefault => Some(account.default_permissions.clone()),
            PermissionSource::Scope(k) => account.scope(k).map(|s| s.permissions.clone()),
        }
    }
}

/// Decodes a user JWT (signature, type, time). Step one of a JWT CONNECT.
pub fn decode_user(token: &str, now: i64) -> Result<Claims, UserError> {
    let (_, c) = jwt::decode_ignoring_time(token).map_err(UserError::BadJwt)?;
    if c.user().is_none() {
        return Err(UserError::BadJwt(JwtError::WrongClaimType {
            expected: jwt::ClaimType::User,
            found: c.claim_type(),
        }));
    }
    match c.check_time(now) {
        Err(JwtError::Expired { .. }) => Err(UserError::Expired),
        Err(JwtError::NotYetValid { .. }) => Err(UserError::NotYetValid),
        _ => Ok(c),
    }
}

/// The account a user JWT belongs to: `issuer_account`, else `iss`.
pub fn user_account(c: &Claims) -> &str {
    c.user().map_or(c.iss.as_str(), |u| u.account(&c.iss))
}

/// The connection types tracebus serves today: plain TCP clients.
const KNOWN_CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
];

/// Checks a decoded user JWT against its (verified, current) account for a
/// plain TCP client at `peer` that answered `nonce` with `connect`.
pub fn authorize_user(
    user: &Claims,
    account: &AccountInfo,
    connect: &ConnectInfo,
    nonce: &str,
    peer: IpAddr,
) -> Result<UserGrant, UserError> {
    let u = user.user().expect("decode_user checked the type");
    let Some(signer) = account.signer(&user.iss) else {
        return Err(UserError::UnknownIssuer {
            issuer: user.iss.clone(),
            account: account.key.clone(),
        });
    };
    // Limits and permissions: the user's own, or its scope's template.
    let (limits, permissions) = match &signer {
        Signer::Scoped(scope) => {
            if !u.perms.is_empty() {
                return Err(UserError::ScopedWithPermissions(user.iss.clone()));
            }
            (
                scope.template.clone(),
                PermissionSource::Scope(user.iss.clone()),
            )
        }
        _ => {
            let own = permissions_from_jwt(&u.perms.publish, &u.perms.subscribe, u.perms.resp);
            let source = match own {
                Some(p) => PermissionSource::Own(Some(p)),
                None => PermissionSource::AccountDefault,
            };
            (u.perms.clone(), source)
        }
    };
    if limits.bearer_token && account.limits.disallow_bearer {
        return Err(UserError::BearerNotAllowed);
    }
    if !limits.allowed_connection_types.is_empty() {
        let upper: Vec<String> = limits
            .allowed_connection_types
            .iter()
            .map(|t| t.to_ascii_uppercase())
            .collect();
        let known = upper
            .iter()
            .any(|t| KNOWN_CONNECTION_TYPES.contains(&t.as_str()));
        if !known || !upper.iter().any(|t| t == "STANDARD") {
            return Err(UserError::ConnectionType(upper.join(",")));
        }
    }
    if !limits.bearer_token {
        verify_nonce(&user.sub, nonce, connect.sig.as_deref()).map_err(UserError::Signature)?;
    }
    if account.is_revoked(&user.sub, user.iat) {
        return Err(UserError::Revoked(user.sub.clone()));
    }
    if !src_allows(&limits.src, peer) {
        return Err(UserError::Source(peer.to_string()));
    }
    let window_ends = if limits.times.is_empty() {
        None
    } else {
        Some(
            super::times::window_remaining(&limits.times, &limits.times_location)
                .ok_or(UserError::Times)?,
        )
    };
    Ok(UserGrant {
        user: user.sub.clone(),
        name: user.name.clone(),
        account: account.key.clone(),
        iat: user.iat,
        exp: user.exp,
        window_ends,
        issuer: user.iss.clone(),
        bearer: limits.bearer_token,
        permissions,
        subs: limits.subs,
        payload: limits.payload,
    })
}

/// `src`: the client must connect from one of these CIDRs (empty = any).
/// A malformed entry refuses everyone, as in nats-server.
pub fn src_allows(src: &[String], peer: IpAddr) -> bool {
    if src.is_empty() {
        return true;
    }
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
        v4 => v4,
    };
    for cidr in src {
        match parse_cidr(cidr) {
            Some((net, bits)) if cidr_contains(net, bits, peer) => return true,
            Some(_) => {}
            None => return false,
        }
    }
    false
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let (ip, bits) = s.trim().split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn cidr_contains(net: IpAddr, bits: u32, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Checks an activation token for `importer` importing `subject` (of
/// `kind`) from `exporter`: it decodes and verifies, is an activation about
/// the importer, was issued by the exporter or one of its signing keys, covers
/// the subject and kind, is valid at `now`, and the export has not revoked it.
/// Returns the token's `exp` (0 = never).
pub fn verify_activation(
    token: &str,
    exporter: &AccountInfo,
    export: &jwt::Export,
    importer: &str,
    subject: &str,
    kind: ExportType,
    now: i64,
) -> Result<i64, String> {
    let (_, act) = jwt::decode_ignoring_time(token).map_err(|e| e.to_string())?;
    let Some(a) = act.activation() else {
        return Err("token is not an activation".into());
    };
    act.check_time(now).map_err(|e| e.to_string())?;
    let issuer_account = if a.issuer_account.is_empty() {
        &act.iss
    } else {
        &a.issuer_account
    };
    if issuer_account != &exporter.key || exporter.signer(&act.iss).is_none() {
        return Err(format!(
            "activation issued by {}, not by the exporting account",
            act.iss
        ));
    }
    if act.sub != importer {
        return Err("activation is for another account".into());
    }
    if (a.kind != ExportType::Unknown && a.kind != kind)
        || !is_subset(subject.as_bytes(), a.subject.as_bytes())
    {
        return Err(format!(
            "activation for {} {:?} does not cover {kind} {subject:?}",
            a.kind, a.subject
        ));
    }
    if export.is_revoked(importer, act.iat) {
        return Err("activation revoked by the exporter".into());
    }
    Ok(act.exp)
}

/// The smaller of two limits where −1 means unlimited (other negatives too).
pub fn min_limit(a: i64, b: i64) -> i64 {
    match (a < 0, b < 0) {
        (true, true) => NO_LIMIT,
        (true, false) => b,
        (false, true) => a,
        (false, false) => a.min(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{Export, Import, Nats, OperatorLimits};

    #[test]
    fn cidrs() {
        let ip: IpAddr = "192.168.1.7".parse().unwrap();
        assert!(src_allows(&[], ip));
        assert!(src_allows(&["192.168.1.0/24".into()], ip));
        assert!(!src_allows(&["192.168.2.0/24".into()], ip));
        assert!(src_allows(
            &["10.0.0.0/8".into(), "192.168.0.0/16".into()],
            ip
        ));
        assert!(!src_allows(
            &["garbage".into(), "192.168.0.0/16".into()],
            ip
        ));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(src_allows(&["127.0.0.1/32".into()], mapped));
        assert!(src_allows(&["::1/128".into()], "::1".parse().unwrap()));
        assert!(src_allows(&["0.0.0.0/0".into()], ip));
    }

    #[test]
    fn limits() {
        assert_eq!(min_limit(-1, -1), -1);
        assert_eq!(min_limit(-1, 5), 5);
        assert_eq!(min_limit(7, -1), 7);
        assert_eq!(min_limit(7, 5), 5);
        assert_eq!(min_limit(0, 5), 0);
    }

    #[test]
    fn validation_texts() {
        let mut a = jwt::Account::new();
        a.limits = OperatorLimits {
            imports: 0,
            exports: 1,
            wildcards: false,
            ..OperatorLimits::unlimited()
        };
        let other = KeyType::Account.generate().public_key();
        a.imports.push(Import {
            subject: "x".into(),
            account: other,
            kind: ExportType::Stream,
            ..Default::default()
        });
        for s in ["a.>", "a.b"] {
            a.exports.push(Export {
                subject: s.into(),
                kind: ExportType::Stream,
                ..Default::default()
            });
        }
        let c = Claims::new(
            KeyType::Account.generate().public_key(),
            "x",
            Nats::Account(a),
        );
        let e = validate_account(&c);
        assert_eq!(
            e,
            vec![
                "stream export subject \"a.>\" already exports \"a.b\"".to_string(),
                "the account contains more imports than allowed by the operator".into(),
                "the account contains more imports than allowed by the operator".into(),
                "the account contains more exports than allowed by the operator".into(),
                "the account contains wildcard exports that are not allowed by the operator".into(),
            ]
        );
    }

    #[test]
    fn jwt_permissions() {
        let none = Permission::default();
        assert!(permissions_from_jwt(&none, &none, None).is_none());
        let p = permissions_from_jwt(&none, &none, Some(ResponsePermission { max: 0, ttl: 0 }))
            .unwrap();
        assert!(!p.publish_allowed(b"x"), "resp alone allows replies only");
        assert_eq!(p.responses().unwrap().max, Some(1));
        let deny_only = Permission {
            allow: vec![],
            deny: vec!["secret.>".into()],
        };
        let p = permissions_from_jwt(&deny_only, &none, None).unwrap();
        assert!(p.publish_allowed(b"x") && !p.publish_allowed(b"secret.a"));
        let q = Permission {
            allow: vec!["work.* workers".into()],
            deny: vec![],
        };
        let p = permissions_from_jwt(&none, &q, None).unwrap();
        assert!(p.subscribe_allowed(b"work.a", Some(b"workers")));
        assert!(!p.subscribe_allowed(b"work.a", None));
    }
}
