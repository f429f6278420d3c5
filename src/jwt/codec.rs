//! Encoding and verifying NATS JWT v2 tokens.
//!
//! A token is `base64url(header) "." base64url(payload) "." base64url(sig)`,
//! all without padding; the header is `{"typ":"JWT","alg":"ed25519-nkey"}`
//! and `sig` is the issuer nkey's ed25519 signature over the ASCII bytes
//! `header "." payload`. The `jsonwebtoken` crate does not know this `alg`,
//! hence our own codec.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512_256};

use super::claims::{Activation, ClaimType, Claims, Nats, RawClaims, StdClaims};
use super::json::to_go_json;
use super::nkey::{key_pair_type, key_type, public_key_pair, short, KeyType};
use super::JwtError;

/// Tokens longer than this (1 MiB) are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 1 << 20;

/// `nats.version` written and accepted.
pub const JWT_VERSION: u32 = 2;

/// `typ` of the header.
pub const TOKEN_TYPE: &str = "JWT";

/// `alg` of the header (v2). JWT v1 used plain `ed25519`.
pub const ALGORITHM: &str = "ed25519-nkey";

/// The JOSE header of a NATS JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// `typ`: `JWT` (compared case-insensitively on read).
    #[serde(default)]
    pub typ: String,
    /// `alg`: `ed25519-nkey` (compared case-insensitively on read).
    #[serde(default)]
    pub alg: String,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            typ: TOKEN_TYPE.into(),
            alg: ALGORITHM.into(),
        }
    }
}

/// Current unix time in seconds, the `now` the checks usually take.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The key type that must issue each claim type. Accounts: operator (or
/// operator signing) keys; users and activations: account (or account
/// signing) keys; operators sign themselves.
///
/// Stricter than the reference library, which also accepts self-signed
/// account JWTs and operator-signed activations: nats-server in operator
/// mode never trusts either, so refusing them early gives a clearer error.
pub fn issuer_type_for(claim: ClaimType) -> KeyType {
    match claim {
        ClaimType::Operator | ClaimType::Account => KeyType::Operator,
        ClaimType::User | ClaimType::Activation => KeyType::Account,
    }
}

/// The key type the subject (`sub`) of each claim type must have. For an
/// activation the subject is the importing account.
pub fn subject_type_for(claim: ClaimType) -> KeyType {
    match claim {
        ClaimType::Operator => KeyType::Operator,
        ClaimType::Account | ClaimType::Activation => KeyType::Account,
        ClaimType::User => KeyType::User,
    }
}

fn article_name(t: KeyType) -> &'static str {
    match t {
        KeyType::Operator => "operator",
        KeyType::Account => "account",
        KeyType::User => "user",
        KeyType::Server => "server",
        KeyType::Cluster => "cluster",
    }
}

/// Computes the `jti` of `claims` as the reference does: JSON of the
/// standard claims only (order `aud, exp, jti, iat, iss, name, nbf, sub`,
/// empty ones omitted, `jti` itself cleared, Go string escaping), hashed
/// with SHA-512/256, base32 (standard alphabet) without padding.
///
/// Verifiers never recompute it; it serves as a stable id for logs and
/// revocation bookkeeping, and to match tokens the official tools made.
pub fn compute_jti(claims: &Claims) -> String {
    let mut std = StdClaims::of(claims);
    std.jti = "";
    let json = to_go_json(&std).expect("standard claims serialize");
    let digest = Sha512_256::digest(&json);
    data_encoding::BASE32_NOPAD.encode(&digest)
}

/// Encodes and signs `claims` with `signer`, stamping `iat` with the
/// current time. See [`encode_at`].
pub fn encode(claims: &Claims, signer: &KeyPair) -> Result<String, JwtError> {
    encode_at(claims, signer, now_unix())
}

/// Encodes and signs `claims` with `signer` as the official library does:
/// `iss` becomes the signer's public key, `iat` becomes `iat`, `jti` is
/// recomputed, `nats.type`/`nats.version` are set, and account exports and
/// imports are sorted by subject. `claims` itself is not changed; decode
/// the result to see the stamped fields.
///
/// Fails if the signer has no seed, its key type may not issue this claim
/// type, or the subject is not a key of the right type.
pub fn encode_at(claims: &Claims, signer: &KeyPair, iat: i64) -> Result<String, JwtError> {
    let claim = claims.claim_type();
    let signer_type = key_pair_type(signer)
        .ok_or_else(|| JwtError::Encode("signer is not a NATS operator/account key".into()))?;
    let want = issuer_type_for(claim);
    let issuer = signer.public_key();
    if signer_type != want {
        return Err(JwtError::WrongIssuerType {
            claim,
            issuer: short(&issuer),
            issuer_type: signer_type.to_string(),
            expected: article_name(want),
        });
    }
    check_subject(claim, &claims.sub)?;

    let mut c = claims.clone();
    c.iss = issuer;
    c.iat = iat;
    c.jti = String::new();
    if let Nats::Account(a) = &mut c.nats {
        // Stable sort; the reference sorts too (so tokens compare equal).
        a.exports.sort_by(|x, y| x.subject.cmp(&y.subject));
        a.imports.sort_by(|x, y| x.subject.cmp(&y.subject));
    }
    c.jti = compute_jti(&c);

    let header = URL_SAFE_NO_PAD
        .encode(to_go_json(&Header::default()).map_err(|e| JwtError::Encode(e.to_string()))?);
    let payload =
        URL_SAFE_NO_PAD.encode(to_go_json(&c).map_err(|e| JwtError::Encode(e.to_string()))?);
    let signing_input = format!("{header}.{payload}");
    let sig = signer
        .sign(signing_input.as_bytes())
        .map_err(|e| JwtError::Encode(format!("signing: {e}")))?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

fn check_subject(claim: ClaimType, sub: &str) -> Result<(), JwtError> {
    let want = subject_type_for(claim);
    match key_type(sub) {
        Ok(t) if t == want => Ok(()),
        _ => Err(JwtError::WrongSubjectType {
            claim,
            subject: short(sub),
            expected: article_name(want),
        }),
    }
}

/// Decodes `token` and verifies it completely: size, shape, header,
/// version 2, known claim type, issuer and subject key types, the
/// signature against `iss`, and validity at `now` (unix seconds).
///
/// Trust is *not* decided here: the caller still checks that the issuer is
/// a trusted operator (or signing key) for accounts, or the user's account
/// (or its signing key) for users, and revocations.
pub fn decode(token: &str, now: i64) -> Result<(Header, Claims), JwtError> {
    let (h, c) = decode_ignoring_time(token)?;
    c.check_time(now)?;
    Ok((h, c))
}

/// Like [`decode`] for one expected claim type; a token of another type is
/// [`JwtError::WrongClaimType`].
pub fn decode_expecting(token: &str, expected: ClaimType, now: i64) -> Result<Claims, JwtError> {
    let (_, c) = decode_ignoring_time(token)?;
    if c.claim_type() != expected {
        return Err(JwtError::WrongClaimType {
            expected,
            found: c.claim_type(),
        });
    }
    c.check_time(now)?;
    Ok(c)
}

/// Every check of [`decode`] except `exp`/`nbf`: for tools that show
/// expired tokens, and for callers that want to tell "expired" apart
/// themselves (see [`Claims::check_time`]).
pub fn decode_ignoring_time(token: &str) -> Result<(Header, Claims), JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLarge {
            len: token.len(),
            limit: MAX_TOKEN_LEN,
        });
    }
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed(
            "expected 3 dot-separated segments".into(),
        ));
    };

    let header = parse_header(h64)?;
    let payload = b64("payload", p64)?;
    let sig = b64("signature", s64)?;

    let raw: RawClaims = serde_json::from_slice(&payload)
        .map_err(|e| JwtError::Malformed(format!("payload is not valid claims JSON: {e}")))?;
    let Some(mut nats) = raw.nats else {
        return Err(JwtError::UnsupportedVersion(if raw.v1_type.is_some() {
            1
        } else {
            0
        }));
    };
    let version = nats.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if raw.v1_type.is_some() && version == 0 {
        return Err(JwtError::UnsupportedVersion(1));
    }
    if version != u64::from(JWT_VERSION) {
        return Err(JwtError::UnsupportedVersion(version));
    }
    let type_str = nats
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let claim = ClaimType::parse(&type_str).ok_or(JwtError::UnknownClaimType(type_str))?;

    // Signature over the exact bytes of "header.payload".
    let issuer_kp = {
        let issuer_type = key_type(&raw.iss)?;
        let want = issuer_type_for(claim);
        if issuer_type != want {
            return Err(JwtError::WrongIssuerType {
                claim,
                issuer: short(&raw.iss),
                issuer_type: issuer_type.to_string(),
                expected: article_name(want),
            });
        }
        public_key_pair(&raw.iss, want)?
    };
    let signing_input = &token[..h64.len() + 1 + p64.len()];
    issuer_kp
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| JwtError::BadSignature {
            issuer: short(&raw.iss),
        })?;
    check_subject(claim, &raw.sub)?;

    if let Some(obj) = nats.as_object_mut() {
        obj.remove("type");
        obj.remove("version");
    }
    let bad = |e: serde_json::Error| JwtError::BadClaims {
        claim,
        reason: e.to_string(),
    };
    let typed = match claim {
        ClaimType::Operator => Nats::Operator(serde_json::from_value(nats).map_err(bad)?),
        ClaimType::Account => Nats::Account(serde_json::from_value(nats).map_err(bad)?),
        ClaimType::User => Nats::User(serde_json::from_value(nats).map_err(bad)?),
        ClaimType::Activation => {
            Nats::Activation(serde_json::from_value::<Activation>(nats).map_err(bad)?)
        }
    };
    let claims = Claims {
        aud: raw.aud,
        exp: raw.exp,
        jti: raw.jti,
        iat: raw.iat,
        iss: raw.iss,
        name: raw.name,
        nbf: raw.nbf,
        sub: raw.sub,
        nats: typed,
    };
    check_embedded_keys(&claims)?;
    Ok((header, claims))
}

/// `issuer_account` (users, activations) must be an account key when set.
fn check_embedded_keys(c: &Claims) -> Result<(), JwtError> {
    let ia = match &c.nats {
        Nats::User(u) => &u.issuer_account,
        Nats::Activation(a) => &a.issuer_account,
        _ => return Ok(()),
    };
    if !ia.is_empty() {
        public_key_pair(ia, KeyType::Account)?;
    }
    Ok(())
}

fn parse_header(h64: &str) -> Result<Header, JwtError> {
    let bytes = b64("header", h64)?;
    let h: Header = serde_json::from_slice(&bytes)
        .map_err(|e| JwtError::BadHeader(format!("not JSON: {e}")))?;
    if !h.typ.eq_ignore_ascii_case(TOKEN_TYPE) {
        return Err(JwtError::BadHeader(format!("typ {:?} is not JWT", h.typ)));
    }
    let alg = h.alg.to_ascii_lowercase();
    // v1 tokens say "ed25519"; the claims' version decides what we accept.
    if alg != ALGORITHM && alg != "ed25519" {
        return Err(JwtError::BadHeader(format!(
            "alg {:?} is not ed25519-nkey",
            h.alg
        )));
    }
    Ok(h)
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| JwtError::Malformed(format!("{what} is not base64url without padding: {e}")))
}
