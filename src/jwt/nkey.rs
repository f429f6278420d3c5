//! Thin helpers over the `nkeys` crate for the checks JWT handling needs.
//!
//! `nkeys` validates length, base32, CRC16 and the public-key prefix byte,
//! but it maps an unknown *seed* type to `Operator` and its `KeyPairType` is
//! neither `Copy` nor `Eq`. Trust decisions ("is this issuer an operator
//! key?") must not rest on that, so this module gives a small `Copy` enum
//! and strict parsers.

use nkeys::{KeyPair, KeyPairType};
use std::fmt;

use super::JwtError;

/// The nkey roles NATS trust is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `O…`: signs account JWTs (and its own).
    Operator,
    /// `A…`: signs user JWTs and activations.
    Account,
    /// `U…`: identifies a client connection.
    User,
    /// `N…`: identifies a server.
    Server,
    /// `C…`: identifies a cluster.
    Cluster,
}

impl KeyType {
    /// The first letter of a public key of this type.
    pub fn public_prefix(self) -> char {
        match self {
            KeyType::Operator => 'O',
            KeyType::Account => 'A',
            KeyType::User => 'U',
            KeyType::Server => 'N',
            KeyType::Cluster => 'C',
        }
    }

    /// A fresh random key pair of this type.
    pub fn generate(self) -> KeyPair {
        KeyPair::new(self.into())
    }

    /// Parses `operator`, `account`, `user`, `server`, `cluster` (any case).
    pub fn parse(s: &str) -> Option<KeyType> {
        match s.to_ascii_lowercase().as_str() {
            "operator" => Some(KeyType::Operator),
            "account" => Some(KeyType::Account),
            "user" => Some(KeyType::User),
            "server" => Some(KeyType::Server),
            "cluster" => Some(KeyType::Cluster),
            _ => None,
        }
    }

    fn from_nkeys(t: &KeyPairType) -> Option<KeyType> {
        match t {
            KeyPairType::Operator => Some(KeyType::Operator),
            KeyPairType::Account => Some(KeyType::Account),
            KeyPairType::User => Some(KeyType::User),
            KeyPairType::Server => Some(KeyType::Server),
            KeyPairType::Cluster => Some(KeyType::Cluster),
            _ => None,
        }
    }
}

impl From<KeyType> for KeyPairType {
    fn from(t: KeyType) -> KeyPairType {
        match t {
            KeyType::Operator => KeyPairType::Operator,
            KeyType::Account => KeyPairType::Account,
            KeyType::User => KeyPairType::User,
            KeyType::Server => KeyPairType::Server,
            KeyType::Cluster => KeyPairType::Cluster,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::Operator => "operator",
            KeyType::Account => "account",
            KeyType::User => "user",
            KeyType::Server => "server",
            KeyType::Cluster => "cluster",
        })
    }
}

/// The type of a public nkey, after full validation (length, base32, CRC,
/// prefix). Module/service/curve keys are rejected: they play no part in
/// NATS JWT trust.
pub fn key_type(public_key: &str) -> Result<KeyType, JwtError> {
    let (prefix, _) = nkeys::from_public_key(public_key).map_err(|e| JwtError::InvalidKey {
        key: short(public_key),
        reason: e.to_string(),
    })?;
    KeyType::from_nkeys(&KeyPairType::from(prefix)).ok_or_else(|| JwtError::InvalidKey {
        key: short(public_key),
        reason: "not an operator, account, user, server or cluster key".into(),
    })
}

/// True if `public_key` is a valid public nkey of type `want`.
pub fn is_public_key(public_key: &str, want: KeyType) -> bool {
    key_type(public_key).is_ok_and(|t| t == want)
}

/// A public-key-only key pair of the expected type, for verifying.
pub fn public_key_pair(public_key: &str, want: KeyType) -> Result<KeyPair, JwtError> {
    let t = key_type(public_key)?;
    if t != want {
        return Err(JwtError::InvalidKey {
            key: short(public_key),
            reason: format!("expected an {want} key, found an {t} key"),
        });
    }
    KeyPair::from_public_key(public_key).map_err(|e| JwtError::InvalidKey {
        key: short(public_key),
        reason: e.to_string(),
    })
}

/// Parses a seed (`SO…`, `SA…`, `SU…`, `SN…`, `SC…`) and returns the key
/// pair and its type. Unlike `KeyPair::from_seed`, an unknown type byte is
/// an error rather than silently an operator.
pub fn seed_key_pair(seed: &str) -> Result<(KeyPair, KeyType), JwtError> {
    let seed = seed.trim();
    let (prefix, _) = nkeys::decode_seed(seed).map_err(|e| JwtError::InvalidKey {
        key: "seed".into(),
        reason: e.to_string(),
    })?;
    // Round-trip through the public-key prefix table: rejects unknown bytes.
    let t = match prefix {
        p if p == 14 << 3 => KeyType::Operator,
        0 => KeyType::Account,
        p if p == 20 << 3 => KeyType::User,
        p if p == 13 << 3 => KeyType::Server,
        p if p == 2 << 3 => KeyType::Cluster,
        _ => {
            return Err(JwtError::InvalidKey {
                key: "seed".into(),
                reason: format!("unsupported seed type byte {prefix}"),
            })
        }
    };
    let kp = KeyPair::from_seed(seed).map_err(|e| JwtError::InvalidKey {
        key: "seed".into(),
        reason: e.to_string(),
    })?;
    Ok((kp, t))
}

/// The type of a key pair that holds a seed or public key of a NATS role.
pub fn key_pair_type(kp: &KeyPair) -> Option<KeyType> {
    KeyType::from_nkeys(&kp.key_pair_type())
}

/// Keys in error messages: enough to identify, short enough for a log line.
pub(crate) fn short(key: &str) -> String {
    if key.len() > 12 && key.is_ascii() {
        format!("{}…", &key[..12])
    } else if key.is_empty() {
        "(empty)".into()
    } else {
        key.chars().take(12).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_prefixes() {
        for t in [
            KeyType::Operator,
            KeyType::Account,
            KeyType::User,
            KeyType::Server,
            KeyType::Cluster,
        ] {
            let kp = t.generate();
            let pk = kp.public_key();
            assert!(pk.starts_with(t.public_prefix()), "{pk}");
            assert_eq!(pk.len(), 56);
            assert_eq!(key_type(&pk).unwrap(), t);
            let seed = kp.seed().unwrap();
            assert_eq!(seed.len(), 58);
            let (back, bt) = seed_key_pair(&seed).unwrap();
            assert_eq!(bt, t);
            assert_eq!(back.public_key(), pk);
            assert_eq!(KeyType::parse(&t.to_string()), Some(t));
        }
    }

    #[test]
    fn rejects_bad_crc_length_and_prefix() {
        let pk = KeyType::Account.generate().public_key();
        // Flip one character: CRC (or base32) must fail.
        let mut bad = pk.clone().into_bytes();
        bad[10] = if bad[10] == b'A' { b'B' } else { b'A' };
        assert!(key_type(std::str::from_utf8(&bad).unwrap()).is_err());
        assert!(key_type(&pk[..55]).is_err());
        assert!(key_type("").is_err());
        // A seed is not a public key.
        assert!(key_type(&KeyType::User.generate().seed().unwrap()).is_err());
        assert!(!is_public_key(&pk, KeyType::Operator));
        assert!(public_key_pair(&pk, KeyType::User).is_err());
        assert!(public_key_pair(&pk, KeyType::Account).is_ok());
    }
}
