//! Typed NATS JWT v2 claims.
//!
//! Field names, JSON shapes and the order fields are written in follow the
//! official NATS JWT library (jwt/v2 2.3.0, used by nats-server 2.9): that
//! order is what makes a token re-encoded here byte-identical to the
//! original, and the wire names are what nats-server reads. Conventions
//! carried over from the Go types:
//!
//! * absent numbers are `0` and absent strings are empty (Go's `omitempty`):
//!   `exp == 0` means "never expires", `nbf == 0` "valid at once";
//! * −1 ([`NO_LIMIT`]) means unlimited in limits; a limit missing from a
//!   token decodes as 0;
//! * durations (`resp.ttl`, `response_threshold`) are nanoseconds;
//! * `pub`, `sub` and `limits`/`default_permissions` are always written,
//!   even when empty (Go never omits a struct);
//! * `null` anywhere decodes as the empty value, as Go does.

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// −1: "no limit" in account and user limits.
pub const NO_LIMIT: i64 = -1;

/// `revocations` key that revokes every user (or activation) issued at or
/// before its time.
pub const REVOKE_ALL: &str = "*";

/// What a token is about; the `nats.type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimType {
    /// Self-signed by an operator key: the root of trust.
    Operator,
    /// Signed by an operator (or operator signing) key.
    Account,
    /// Signed by an account (or account signing) key.
    User,
    /// An exporting account's permission for another account to import.
    Activation,
}

impl ClaimType {
    /// The `nats.type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimType::Operator => "operator",
            ClaimType::Account => "account",
            ClaimType::User => "user",
            ClaimType::Activation => "activation",
        }
    }

    /// Parses a `nats.type` string.
    pub fn parse(s: &str) -> Option<ClaimType> {
        match s {
            "operator" => Some(ClaimType::Operator),
            "account" => Some(ClaimType::Account),
            "user" => Some(ClaimType::User),
            "activation" => Some(ClaimType::Activation),
            _ => None,
        }
    }
}

impl fmt::Display for ClaimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decoded (or to-be-encoded) token: the standard JWT claims plus the
/// typed `nats` section.
///
/// `jti`, `iat` and `iss` are filled in by [`super::encode`]; whatever they
/// hold before encoding is ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `aud`: audience (rarely used by NATS).
    pub aud: String,
    /// `exp`: expiry, unix seconds; 0 = never.
    pub exp: i64,
    /// `jti`: the token id, a hash of the standard claims.
    pub jti: String,
    /// `iat`: issued at, unix seconds. Revocations compare against it.
    pub iat: i64,
    /// `iss`: the issuer's public nkey.
    pub iss: String,
    /// `name`: human-readable name.
    pub name: String,
    /// `nbf`: not valid before, unix seconds; 0 = no bound.
    pub nbf: i64,
    /// `sub`: the subject's public nkey (the operator, account or user
    /// itself; for an activation, the importing account).
    pub sub: String,
    /// The NATS-specific claims.
    pub nats: Nats,
}

/// The `nats` section, by claim type.
///
/// Not boxed although `Account` is much larger than the rest: claims are
/// decoded once per connect or account load, and unboxed variants keep
/// pattern matching plain for the server code.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Nats {
    /// Operator claims.
    Operator(Operator),
    /// Account claims.
    Account(Account),
    /// User claims.
    User(User),
    /// Activation claims.
    Activation(Activation),
}

impl Nats {
    /// The claim type of this section.
    pub fn claim_type(&self) -> ClaimType {
        match self {
            Nats::Operator(_) => ClaimType::Operator,
            Nats::Account(_) => ClaimType::Account,
            Nats::User(_) => ClaimType::User,
            Nats::Activation(_) => ClaimType::Activation,
        }
    }

    /// The `tags` of whichever type this is.
    pub fn tags(&self) -> &[String] {
        match self {
            Nats::Operator(o) => &o.tags,
            Nats::Account(a) => &a.tags,
            Nats::User(u) => &u.tags,
            Nats::Activation(a) => &a.tags,
        }
    }
}

impl Claims {
    /// Claims about `sub` with the given name and `nats` section; every other
    /// standard claim empty.
    pub fn new(sub: impl Into<String>, name: impl Into<String>, nats: Nats) -> Claims {
        Claims {
            aud: String::new(),
            exp: 0,
            jti: String::new(),
            iat: 0,
            iss: String::new(),
            name: name.into(),
            nbf: 0,
            sub: sub.into(),
            nats,
        }
    }

    /// The claim type (`nats.type`).
    pub fn claim_type(&self) -> ClaimType {
        self.nats.claim_type()
    }

    /// True when the token's issuer is its subject (operators are).
    pub fn is_self_signed(&self) -> bool {
        self.iss == self.sub
    }

    /// The operator section, if this is an operator token.
    pub fn operator(&self) -> Option<&Operator> {
        match &self.nats {
            Nats::Operator(o) => Some(o),
            _ => None,
        }
    }

    /// The account section, if this is an account token.
    pub fn account(&self) -> Option<&Account> {
        match &self.nats {
            Nats::Account(a) => Some(a),
            _ => None,
        }
    }

    /// The user section, if this is a user token.
    pub fn user(&self) -> Option<&User> {
        match &self.nats {
            Nats::User(u) => Some(u),
            _ => None,
        }
    }

    /// The activation section, if this is an activation token.
    pub fn activation(&self) -> Option<&Activation> {
        match &self.nats {
            Nats::Activation(a) => Some(a),
            _ => None,
        }
    }

    /// Mutable account section (for tools editing an account).
    pub fn account_mut(&mut self) -> Option<&mut Account> {
        match &mut self.nats {
            Nats::Account(a) => Some(a),
            _ => None,
        }
    }

    /// Mutable operator section.
    pub fn operator_mut(&mut self) -> Option<&mut Operator> {
        match &mut self.nats {
            Nats::Operator(o) => Some(o),
            _ => None,
        }
    }

    /// Mutable user section.
    pub fn user_mut(&mut self) -> Option<&mut User> {
        match &mut self.nats {
            Nats::User(u) => Some(u),
            _ => None,
        }
    }

    /// Checks `exp` and `nbf` against `now` (unix seconds) the way the
    /// reference does: expired when `now > exp`, early when `nbf > now`.
    pub fn check_time(&self, now: i64) -> Result<(), super::JwtError> {
        if self.exp > 0 && now > self.exp {
            return Err(super::JwtError::Expired {
                claim: self.claim_type(),
                exp: self.exp,
                now,
            });
        }
        if self.nbf > 0 && self.nbf > now {
            return Err(super::JwtError::NotYetValid {
                claim: self.claim_type(),
                nbf: self.nbf,
                now,
            });
        }
        Ok(())
    }

    /// Pretty-printed JSON of the payload as it is encoded (for `describe`
    /// and logs; uses plain JSON escaping, not Go's).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------
// Serialization of the whole payload, in the reference order.

fn is_zero(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
fn is_false(v: &bool) -> bool {
    !*v
}

/// The standard claims in the order the reference writes (and hashes) them.
#[derive(Serialize)]
pub(crate) struct StdClaims<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub aud: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    pub exp: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub jti: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    pub iat: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub name: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    pub nbf: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub sub: &'a str,
}

impl<'a> StdClaims<'a> {
    pub(crate) fn of(c: &'a Claims) -> StdClaims<'a> {
        StdClaims {
            aud: &c.aud,
            exp: c.exp,
            jti: &c.jti,
            iat: c.iat,
            iss: &c.iss,
            name: &c.name,
            nbf: c.nbf,
            sub: &c.sub,
        }
    }
}

/// A typed `nats` body followed by the generic `type` and `version`.
#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(flatten)]
    body: &'a T,
    #[serde(rename = "type")]
    kind: &'static str,
    version: u32,
}

impl Serialize for Nats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kind = self.claim_type().as_str();
        let version = super::codec::JWT_VERSION;
        match self {
            Nats::Operator(b) => Tagged {
                body: b,
                kind,
                version,
            }
            .serialize(s),
            Nats::Account(b) => Tagged {
                body: b,
                kind,
                version,
            }
            .serialize(s),
            Nats::User(b) => Tagged {
                body: b,
                kind,
                version,
            }
            .serialize(s),
            Nats::Activation(b) => Tagged {
                body: b,
                kind,
                version,
            }
            .serialize(s),
        }
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            std: StdClaims<'a>,
            nats: &'a Nats,
        }
        Out {
            std: StdClaims::of(self),
            nats: &self.nats,
        }
        .serialize(s)
    }
}

/// The payload as read off the wire, before the `nats` section is typed.
#[derive(Deserialize)]
pub(crate) struct RawClaims {
    #[serde(default, deserialize_with = "nd")]
    pub aud: String,
    #[serde(default, deserialize_with = "nd")]
    pub exp: i64,
    #[serde(default, deserialize_with = "nd")]
    pub jti: String,
    #[serde(default, deserialize_with = "nd")]
    pub iat: i64,
    #[serde(default, deserialize_with = "nd")]
    pub iss: String,
    #[serde(default, deserialize_with = "nd")]
    pub name: String,
    #[serde(default, deserialize_with = "nd")]
    pub nbf: i64,
    #[serde(default, deserialize_with = "nd")]
    pub sub: String,
    /// JWT v1 kept the claim type at the top level.
    #[serde(default, rename = "type")]
    pub v1_type: Option<serde_json::Value>,
    #[serde(default)]
    pub nats: Option<serde_json::Value>,
}

/// "null decodes as default", like Go's `encoding/json`.
fn nd<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------
// Shared pieces.

/// Allow and deny subject lists for publish or subscribe. Subscribe entries
/// may carry a queue group after a space (`"work.* workers"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    /// Subjects allowed; empty = all allowed unless denied.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow: Vec<String>,
    /// Subjects denied; deny wins over allow.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub deny: Vec<String>,
}

impl Permission {
    /// True when neither list has an entry.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `resp`: lets a user publish to reply subjects of requests it received,
/// up to `max` messages within `ttl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponsePermission {
    /// Responses allowed per request.
    #[serde(default, deserialize_with = "nd")]
    pub max: i64,
    /// How long the permission lasts, in nanoseconds (Go `time.Duration`).
    #[serde(default, deserialize_with = "nd")]
    pub ttl: i64,
}

impl ResponsePermission {
    /// `ttl` as a `Duration` (negative counts as zero).
    pub fn ttl_duration(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.ttl.max(0) as u64)
    }
}

/// Publish/subscribe permissions (`default_permissions` of an account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// `pub`.
    #[serde(rename = "pub", default, deserialize_with = "nd")]
    pub publish: Permission,
    /// `sub`.
    #[serde(rename = "sub", default, deserialize_with = "nd")]
    pub subscribe: Permission,
    /// `resp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
}

impl Permissions {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.resp.is_none()
    }
}

/// A daily time window (`"08:00:00"`–`"17:30:00"`) a user may connect in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// `HH:MM:SS`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub start: String,
    /// `HH:MM:SS`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub end: String,
}

/// A user's permissions and limits; also the template of a scoped signing
/// key. Flattened into the user's `nats` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPermissionLimits {
    /// `pub`.
    #[serde(rename = "pub", default, deserialize_with = "nd")]
    pub publish: Permission,
    /// `sub`.
    #[serde(rename = "sub", default, deserialize_with = "nd")]
    pub subscribe: Permission,
    /// `resp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
    /// `src`: CIDRs the user may connect from. Read from a JSON array or,
    /// as older tokens have it, a comma-separated string.
    #[serde(
        default,
        deserialize_with = "cidr_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub src: Vec<String>,
    /// `times`: daily windows the user may connect in.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub times: Vec<TimeRange>,
    /// `times_location`: IANA zone for `times` (empty = server local).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub times_location: String,
    /// `subs`: max subscriptions (−1 unlimited).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub subs: i64,
    /// `data`: max bytes (−1 unlimited).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub data: i64,
    /// `payload`: max message payload (−1 unlimited).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub payload: i64,
    /// `bearer_token`: the server skips the nonce signature check.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub bearer_token: bool,
    /// `allowed_connection_types`: `STANDARD`, `WEBSOCKET`, `LEAFNODE`,
    /// `LEAFNODE_WS`, `MQTT`, `MQTT_WS`; empty = all.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allowed_connection_types: Vec<String>,
}

impl UserPermissionLimits {
    /// True when no permission or limit is set: what a user issued by a
    /// scoped signing key must look like.
    pub fn is_empty(&self) -> bool {
        *self == UserPermissionLimits::default()
    }

    /// Unlimited subs/data/payload and nothing else: the starting point the
    /// reference gives new users and scope templates.
    pub fn unlimited() -> UserPermissionLimits {
        UserPermissionLimits {
            subs: NO_LIMIT,
            data: NO_LIMIT,
            payload: NO_LIMIT,
            ..Default::default()
        }
    }
}

fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        Str(String),
    }
    Ok(match Option::<ListOrString>::deserialize(d)? {
        None => Vec::new(),
        Some(ListOrString::List(l)) => l,
        Some(ListOrString::Str(s)) => {
            let mut out: Vec<String> = Vec::new();
            for part in s.to_lowercase().split(',') {
                let p = part.trim();
                if !p.is_empty() && !out.iter().any(|x| x == p) {
                    out.push(p.to_owned());
                }
            }
            out
        }
    })
}

// ---------------------------------------------------------------------------
// Operator.

/// Operator claims: the root of trust a server is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Operator signing keys (`O…`) that may sign account JWTs.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub signing_keys: Vec<String>,
    /// URL of an account JWT server (URL resolver).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub account_server_url: String,
    /// `nats://` URLs of the operator's servers.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub operator_service_urls: Vec<String>,
    /// Public key of the system account.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub system_account: String,
    /// Minimum server version, `major.minor.update`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub assert_server_version: String,
    /// When set, the identity key may sign only the operator JWT itself;
    /// accounts must be signed by a signing key.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub strict_signing_key_usage: bool,
    /// Free-form tags (the reference lower-cases them when adding).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
}

impl Operator {
    /// True if `issuer` may sign account JWTs for the operator whose
    /// identity key is `operator_key`, following `strict_signing_key_usage`.
    pub fn did_sign(&self, operator_key: &str, issuer: &str) -> bool {
        (issuer == operator_key && !self.strict_signing_key_usage)
            || self.signing_keys.iter().any(|k| k == issuer)
    }
}

// ---------------------------------------------------------------------------
// Account.

/// JetStream limits (kept so tokens round-trip; tracebus has no JetStream).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JetStreamLimits {
    /// `mem_storage` bytes.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub mem_storage: i64,
    /// `disk_storage` bytes.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub disk_storage: i64,
    /// `streams`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub streams: i64,
    /// `consumer`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub consumer: i64,
    /// `max_ack_pending`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub max_ack_pending: i64,
    /// `mem_max_stream_bytes`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub mem_max_stream_bytes: i64,
    /// `disk_max_stream_bytes`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub disk_max_stream_bytes: i64,
    /// `max_bytes_required`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub max_bytes_required: bool,
}

/// Account `limits`, set by the operator. −1 = unlimited; a missing field
/// is 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorLimits {
    /// `subs`: max subscriptions across the account.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub subs: i64,
    /// `data`: max bytes.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub data: i64,
    /// `payload`: max message payload.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub payload: i64,
    /// `imports`: max imports.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub imports: i64,
    /// `exports`: max exports.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub exports: i64,
    /// `wildcards`: exports may contain wildcards.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub wildcards: bool,
    /// `disallow_bearer`: users of this account may not be bearer tokens.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub disallow_bearer: bool,
    /// `conn`: max client connections.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub conn: i64,
    /// `leaf`: max leaf-node connections.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub leaf: i64,
    /// `mem_storage` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub mem_storage: i64,
    /// `disk_storage` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub disk_storage: i64,
    /// `streams` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub streams: i64,
    /// `consumer` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub consumer: i64,
    /// `max_ack_pending` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub max_ack_pending: i64,
    /// `mem_max_stream_bytes` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub mem_max_stream_bytes: i64,
    /// `disk_max_stream_bytes` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub disk_max_stream_bytes: i64,
    /// `max_bytes_required` (JetStream).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub max_bytes_required: bool,
    /// `tiered_limits` (JetStream), by tier name.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub tiered_limits: BTreeMap<String, JetStreamLimits>,
}

impl OperatorLimits {
    /// Every NATS limit unlimited and wildcard exports allowed: what the
    /// reference gives a new account.
    pub fn unlimited() -> OperatorLimits {
        OperatorLimits {
            subs: NO_LIMIT,
            data: NO_LIMIT,
            payload: NO_LIMIT,
            imports: NO_LIMIT,
            exports: NO_LIMIT,
            wildcards: true,
            conn: NO_LIMIT,
            leaf: NO_LIMIT,
            ..Default::default()
        }
    }
}

/// Stream or service, for exports, imports and activations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ExportType {
    /// Not set (the reference omits it and validation rejects it).
    #[default]
    Unknown,
    /// `"stream"`: messages flow from exporter to importer.
    Stream,
    /// `"service"`: requests flow to the exporter, replies back.
    Service,
}

impl ExportType {
    fn is_unknown(&self) -> bool {
        *self == ExportType::Unknown
    }
}

impl fmt::Display for ExportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExportType::Unknown => "unknown",
            ExportType::Stream => "stream",
            ExportType::Service => "service",
        })
    }
}

impl Serialize for ExportType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExportType::Stream => s.serialize_str("stream"),
            ExportType::Service => s.serialize_str("service"),
            ExportType::Unknown => Err(serde::ser::Error::custom("unknown export type")),
        }
    }
}

impl<'de> Deserialize<'de> for ExportType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None => Ok(ExportType::Unknown),
            Some("stream") => Ok(ExportType::Stream),
            Some("service") => Ok(ExportType::Service),
            Some(other) => Err(de::Error::custom(format!("unknown export type {other:?}"))),
        }
    }
}

/// How a service answers: `Singleton` (default), `Stream`, `Chunked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResponseType {
    /// One response per request.
    Singleton,
    /// Any number of responses.
    Stream,
    /// One response in several messages.
    Chunked,
}

/// Latency sampling of a service export: `"headers"` or a percentage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sampling {
    /// Sample when the request carries tracing headers.
    #[default]
    Headers,
    /// Sample this percentage (1–100) of requests.
    Percent(u8),
}

impl Serialize for Sampling {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Sampling::Headers | Sampling::Percent(0) => s.serialize_str("headers"),
            Sampling::Percent(p) => s.serialize_u8(*p),
        }
    }
}

impl<'de> Deserialize<'de> for Sampling {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s.eq_ignore_ascii_case("headers") => {
                Ok(Sampling::Headers)
            }
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(0) => Ok(Sampling::Headers),
                Some(p @ 1..=100) => Ok(Sampling::Percent(p as u8)),
                _ => Err(de::Error::custom(format!("bad sampling rate {n}"))),
            },
            other => Err(de::Error::custom(format!("bad sampling rate {other}"))),
        }
    }
}

/// `service_latency` of a service export.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLatency {
    /// `sampling`.
    #[serde(default)]
    pub sampling: Sampling,
    /// `results`: subject latency reports go to.
    #[serde(default, deserialize_with = "nd")]
    pub results: String,
}

/// One export of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// `name`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// `subject` exported (may have wildcards).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub subject: String,
    /// `type`: stream or service.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "ExportType::is_unknown"
    )]
    pub kind: ExportType,
    /// `token_req`: private; importers need an activation token.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub token_req: bool,
    /// `revocations` of activations: importing account → time.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub revocations: BTreeMap<String, i64>,
    /// `response_type` (services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<ResponseType>,
    /// `response_threshold`, nanoseconds (services).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero")]
    pub response_threshold: i64,
    /// `service_latency` (services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_latency: Option<ServiceLatency>,
    /// `account_token_position`: 1-based token of `subject` that must equal
    /// the importing account's public key.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero_u32")]
    pub account_token_position: u32,
    /// `advertise`.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub advertise: bool,
    /// `description`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    /// `info_url`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub info_url: String,
}

impl Export {
    /// True if activations for `account` issued at `iat` are revoked.
    pub fn is_revoked(&self, account: &str, iat: i64) -> bool {
        is_revoked(&self.revocations, account, iat)
    }
}

/// One import of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// `name`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// `subject` as the exporter publishes it (stream) or as the importer
    /// requests it (service).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub subject: String,
    /// `account`: the exporting account's public key.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub account: String,
    /// `token`: activation JWT for a private export (or a URL to fetch it).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub token: String,
    /// `to`: deprecated remapping (use `local_subject`).
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub to: String,
    /// `local_subject`: the subject inside the importing account; may use
    /// `$1`-style references to wildcards of `subject`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub local_subject: String,
    /// `type`.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "ExportType::is_unknown"
    )]
    pub kind: ExportType,
    /// `share`: share requester info for latency tracking (services).
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_false")]
    pub share: bool,
}

/// A signing key of an account: a bare key, or a key bound to a role whose
/// template replaces the permissions of the users it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // few per account; plain matching
pub enum SigningKey {
    /// A plain `A…` key: users it signs carry their own permissions.
    Key(String),
    /// `{"kind":"user_scope", ...}`.
    Scoped(UserScope),
}

impl SigningKey {
    /// The public key, either way.
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Key(k) => k,
            SigningKey::Scoped(s) => &s.key,
        }
    }
}

/// A scoped signing key (`kind: "user_scope"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserScope {
    /// `key`: the signing key's public key.
    #[serde(default, deserialize_with = "nd")]
    pub key: String,
    /// `role`: a label.
    #[serde(default, deserialize_with = "nd")]
    pub role: String,
    /// `template`: permissions and limits every user it signs gets.
    /// Absent `subs`/`data`/`payload` in the template read as −1, as the
    /// reference decodes them.
    #[serde(default)]
    pub template: UserPermissionLimits,
}

impl Serialize for SigningKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SigningKey::Key(k) => s.serialize_str(k),
            SigningKey::Scoped(scope) => {
                #[derive(Serialize)]
                struct Out<'a> {
                    kind: &'static str,
                    key: &'a str,
                    role: &'a str,
                    template: &'a UserPermissionLimits,
                }
                Out {
                    kind: "user_scope",
                    key: &scope.key,
                    role: &scope.role,
                    template: &scope.template,
                }
                .serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for SigningKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(k) => Ok(SigningKey::Key(k)),
            serde_json::Value::Object(mut m) => {
                let kind = m.get("kind").and_then(|v| v.as_str()).unwrap_or("");
                if kind != "user_scope" {
                    return Err(de::Error::custom(format!(
                        "unknown signing key scope {kind:?}"
                    )));
                }
                if let Some(serde_json::Value::Object(t)) = m.get_mut("template") {
                    for f in ["subs", "data", "payload"] {
                        t.entry(f).or_insert(serde_json::Value::from(NO_LIMIT));
                    }
                } else if !m.contains_key("template") {
                    m.insert(
                        "template".into(),
                        serde_json::json!({"subs": NO_LIMIT, "data": NO_LIMIT, "payload": NO_LIMIT}),
                    );
                }
                let scope: UserScope = serde_json::from_value(serde_json::Value::Object(m))
                    .map_err(de::Error::custom)?;
                Ok(SigningKey::Scoped(scope))
            }
            other => Err(de::Error::custom(format!("bad signing key entry {other}"))),
        }
    }
}

/// One weighted destination of a subject mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedMapping {
    /// `subject` to map to.
    #[serde(default, deserialize_with = "nd")]
    pub subject: String,
    /// `weight` in percent; 0 means 100.
    #[serde(default, deserialize_with = "nd", skip_serializing_if = "is_zero_u8")]
    pub weight: u8,
    /// `cluster`: only in this cluster.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub cluster: String,
}

fn is_zero_u8(v: &u8) -> bool {
    *v == 0
}

/// Account claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `imports`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub imports: Vec<Import>,
    /// `exports`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub exports: Vec<Export>,
    /// `limits` (always written).
    #[serde(default, deserialize_with = "nd")]
    pub limits: OperatorLimits,
    /// `signing_keys`: keys that may sign users of this account.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub signing_keys: Vec<SigningKey>,
    /// `revocations`: user public key (or `*`) → unix time; users issued
    /// at or before it are revoked.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub revocations: BTreeMap<String, i64>,
    /// `default_permissions` for users without their own (always written).
    #[serde(default, deserialize_with = "nd")]
    pub default_permissions: Permissions,
    /// `mappings`: subject → weighted destinations.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub mappings: BTreeMap<String, Vec<WeightedMapping>>,
    /// `description`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    /// `info_url`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub info_url: String,
    /// `tags`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
}

impl Account {
    /// A new account with unlimited limits, as the reference creates them.
    pub fn new() -> Account {
        Account {
            limits: OperatorLimits::unlimited(),
            ..Default::default()
        }
    }

    /// The signing key entry for `key`, if the account has one.
    pub fn signing_key(&self, key: &str) -> Option<&SigningKey> {
        self.signing_keys.iter().find(|k| k.key() == key)
    }

    /// True if `issuer` may sign users of the account whose identity key is
    /// `account_key` (the key itself or one of its signing keys).
    pub fn did_sign(&self, account_key: &str, issuer: &str) -> bool {
        issuer == account_key || self.signing_key(issuer).is_some()
    }

    /// Adds a plain signing key (no-op if present).
    pub fn add_signing_key(&mut self, key: impl Into<String>) {
        let key = key.into();
        if self.signing_key(&key).is_none() {
            self.signing_keys.push(SigningKey::Key(key));
        }
    }

    /// Removes a signing key; true if it was there.
    pub fn remove_signing_key(&mut self, key: &str) -> bool {
        let before = self.signing_keys.len();
        self.signing_keys.retain(|k| k.key() != key);
        before != self.signing_keys.len()
    }

    /// Revokes user tokens for `key` (or [`REVOKE_ALL`]) issued at or before
    /// `at`. A later existing revocation is kept, as in the reference.
    pub fn revoke(&mut self, key: impl Into<String>, at: i64) {
        let e = self.revocations.entry(key.into()).or_insert(at);
        if *e < at {
            *e = at;
        }
    }

    /// True if a user token for `user` issued at `iat` is revoked:
    /// `revocations[user] >= iat` or `revocations["*"] >= iat`.
    pub fn is_revoked(&self, user: &str, iat: i64) -> bool {
        is_revoked(&self.revocations, user, iat)
    }
}

fn is_revoked(list: &BTreeMap<String, i64>, key: &str, iat: i64) -> bool {
    list.get(REVOKE_ALL).is_some_and(|&t| t >= iat) || list.get(key).is_some_and(|&t| t >= iat)
}

// ---------------------------------------------------------------------------
// User and activation.

/// User claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Permissions and limits (flattened into the `nats` object).
    #[serde(flatten)]
    pub perms: UserPermissionLimits,
    /// `issuer_account`: the account's identity key when the token was
    /// signed by one of its signing keys.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub issuer_account: String,
    /// `tags`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
}

impl User {
    /// The account this user belongs to, given the token's issuer:
    /// `issuer_account` when set, else the issuer itself.
    pub fn account<'a>(&'a self, iss: &'a str) -> &'a str {
        if self.issuer_account.is_empty() {
            iss
        } else {
            &self.issuer_account
        }
    }
}

/// Activation claims: the exporting account (`iss`) allows the importing
/// account (`sub`) to import `subject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// `subject` the import may use.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub subject: String,
    /// `kind`: stream or service. (JWT v1 called this `type`.)
    #[serde(default, skip_serializing_if = "ExportType::is_unknown")]
    pub kind: ExportType,
    /// `issuer_account`: the exporter's identity key when signed by one of
    /// its signing keys.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "String::is_empty"
    )]
    pub issuer_account: String,
    /// `tags`.
    #[serde(
        default,
        deserialize_with = "nd",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
}
