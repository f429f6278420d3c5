//! NATS JWT v2: nkey helpers, the token codec, typed claims and creds files.
//!
//! This is the library both halves of operator mode stand on: the server
//! decodes and verifies operator, account, user and activation tokens with
//! it, and `tracebus-tools` mints them. Tokens minted by the official NATS
//! tooling decode here field for field, and tokens minted here are accepted
//! by nats-server (see `tests/jwt_interop.rs` and the fixtures in
//! `tests/fixtures/jwt/`).
//!
//! What this module decides and what it leaves to the caller:
//!
//! * [`decode`] checks the token itself: size (≤ 1 MiB), shape, header,
//!   `nats.version == 2`, claim type, that the issuer's key *type* may issue
//!   that claim type (operator keys issue accounts, account keys issue users
//!   and activations), the subject's key type, the ed25519 signature against
//!   `iss`, and `exp`/`nbf` against the `now` it is given.
//! * Trust is the caller's: whether `iss` is a *trusted* operator or one of
//!   its signing keys ([`Operator::did_sign`]), whether a user's issuer is
//!   its account or one of the account's signing keys ([`Account::did_sign`],
//!   [`User::account`]), revocations ([`Account::is_revoked`]), scoped
//!   signing key templates ([`SigningKey::Scoped`]).
//!
//! ```
//! use tracebus::jwt::{self, Account, Claims, Nats, KeyType};
//! let op = KeyType::Operator.generate();
//! let acct = KeyType::Account.generate();
//! let claims = Claims::new(acct.public_key(), "acme", Nats::Account(Account::new()));
//! let token = jwt::encode(&claims, &op).unwrap();
//! let (_, back) = jwt::decode(&token, jwt::now_unix()).unwrap();
//! assert_eq!(back.iss, op.public_key());
//! assert_eq!(back.jti, jwt::compute_jti(&back));
//! ```

mod claims;
mod codec;
mod creds;
mod error;
mod json;
mod nkey;

pub use claims::{
    Account, Activation, ClaimType, Claims, Export, ExportType, Import, JetStreamLimits, Nats,
    Operator, OperatorLimits, Permission, Permissions, ResponsePermission, ResponseType, Sampling,
    ServiceLatency, SigningKey, TimeRange, User, UserPermissionLimits, UserScope, WeightedMapping,
    NO_LIMIT, REVOKE_ALL,
};
pub use codec::{
    compute_jti, decode, decode_expecting, decode_ignoring_time, encode, encode_at,
    issuer_type_for, now_unix, subject_type_for, Header, ALGORITHM, JWT_VERSION, MAX_TOKEN_LEN,
    TOKEN_TYPE,
};
pub use creds::{decorate_jwt, format_creds, parse_creds, read_decorated_jwt, Creds};
pub use error::JwtError;
/// JSON with Go's escaping (`<`, `>`, `&` as `\u00XX`), for answers that
/// must match nats-server byte for byte.
pub(crate) use json::to_go_json;
pub use nkey::{is_public_key, key_pair_type, key_type, public_key_pair, seed_key_pair, KeyType};

/// The `nkeys` crate, re-exported so users of this module get the same
/// `KeyPair` type.
pub use nkeys;
