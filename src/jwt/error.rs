//! Why a token (or key, or creds file) was refused.
//!
//! Every variant renders as one line that names the reason and, where it
//! helps, the offending key (shortened) or time, so the server can log it
//! next to the `Authorization Violation` it sends the client.

use super::ClaimType;
use thiserror::Error;

/// An error from decoding, verifying or encoding a NATS JWT.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// The token is longer than [`super::MAX_TOKEN_LEN`].
    #[error("JWT too large: {len} bytes (limit {limit})")]
    TooLarge {
        /// Token length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Not three base64url segments of JSON.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// The header is not `{"typ":"JWT","alg":"ed25519-nkey"}`.
    #[error("unsupported JWT header: {0}")]
    BadHeader(String),
    /// `nats.version` is not 2 (1 and 0 are JWT v1 tokens).
    #[error("unsupported JWT version {0} (only NATS JWT v2 is supported)")]
    UnsupportedVersion(u64),
    /// `nats.type` is missing or not operator/account/user/activation.
    #[error("unsupported claim type {0:?}")]
    UnknownClaimType(String),
    /// The `nats` section does not match its type's schema.
    #[error("invalid {claim} claims: {reason}")]
    BadClaims {
        /// Claim type being read.
        claim: ClaimType,
        /// What serde reported.
        reason: String,
    },
    /// A public key or seed failed length/base32/CRC/prefix checks, or is
    /// of the wrong type where one type is required.
    #[error("invalid nkey {key}: {reason}")]
    InvalidKey {
        /// The key, shortened.
        key: String,
        /// Why.
        reason: String,
    },
    /// The issuer's key type may not issue this claim type (accounts are
    /// issued by operator keys, users and activations by account keys).
    #[error(
        "{claim} JWT issued by {issuer_type} key {issuer}: must be issued by an {expected} key"
    )]
    WrongIssuerType {
        /// Claim type.
        claim: ClaimType,
        /// Issuer key, shortened.
        issuer: String,
        /// Issuer's key type.
        issuer_type: String,
        /// The required type.
        expected: &'static str,
    },
    /// The subject's key type does not fit the claim type.
    #[error("{claim} JWT subject {subject} is not an {expected} key")]
    WrongSubjectType {
        /// Claim type.
        claim: ClaimType,
        /// Subject, shortened.
        subject: String,
        /// The required type.
        expected: &'static str,
    },
    /// The signature does not verify against `iss`.
    #[error("JWT signature does not verify against issuer {issuer}")]
    BadSignature {
        /// Issuer key, shortened.
        issuer: String,
    },
    /// `exp` is in the past.
    #[error("{claim} JWT expired at {exp} (now {now})")]
    Expired {
        /// Claim type.
        claim: ClaimType,
        /// `exp`.
        exp: i64,
        /// The time checked against.
        now: i64,
    },
    /// `nbf` is in the future.
    #[error("{claim} JWT not valid before {nbf} (now {now})")]
    NotYetValid {
        /// Claim type.
        claim: ClaimType,
        /// `nbf`.
        nbf: i64,
        /// The time checked against.
        now: i64,
    },
    /// A caller asked for one claim type and the token holds another.
    #[error("expected a {expected} JWT, found a {found} JWT")]
    WrongClaimType {
        /// Wanted.
        expected: ClaimType,
        /// Found.
        found: ClaimType,
    },
    /// Encoding failed (no seed, serialization).
    #[error("cannot encode JWT: {0}")]
    Encode(String),
    /// A creds file could not be parsed.
    #[error("bad creds file: {0}")]
    Creds(String),
}
