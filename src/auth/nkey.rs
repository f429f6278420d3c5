//! The nkey challenge: the server sends a fresh random `nonce` in INFO, an nkey
//! user answers with CONNECT `nkey` (its public key) and `sig`, the ed25519
//! signature of the nonce's bytes made with its seed.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::RngCore;

/// Random bytes in a nonce (nats-server: 11, giving 15 base64url characters).
const NONCE_BYTES: usize = 11;

/// A fresh nonce: 11 random bytes, base64url without padding.
pub fn new_nonce() -> String {
    let mut raw = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut raw);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Is `key` a well-formed public nkey of a user (`U...`, checksum valid)?
pub fn is_user_public_key(key: &str) -> bool {
    key.starts_with('U')
        && nkeys::KeyPair::from_public_key(key)
            .is_ok_and(|kp| kp.key_pair_type() == nkeys::KeyPairType::User)
}

/// Why a signature was refused (for the log; the client only learns
/// `Authorization Violation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature missing")]
    Missing,
    #[error("signature is not valid base64")]
    NotBase64,
    #[error("public key is not valid")]
    BadKey,
    #[error("signature does not verify")]
    Mismatch,
}

/// Checks that `sig` (base64url without padding, or standard base64, as
/// nats-server accepts) is `public_key`'s signature of `nonce`.
pub fn verify_nonce(
    public_key: &str,
    nonce: &str,
    sig: Option<&str>,
) -> Result<(), SignatureError> {
    let sig = sig
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::Missing)?;
    let raw = URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| STANDARD.decode(sig))
        .map_err(|_| SignatureError::NotBase64)?;
    let kp = nkeys::KeyPair::from_public_key(public_key).map_err(|_| SignatureError::BadKey)?;
    kp.verify(nonce.as_bytes(), &raw)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_shape() {
        let n = new_nonce();
        assert_eq!(n.len(), 15);
        assert_ne!(n, new_nonce());
        assert!(URL_SAFE_NO_PAD.decode(&n).is_ok());
    }

    #[test]
    fn challenge() {
        let kp = nkeys::KeyPair::new_user();
        let public = kp.public_key();
        assert!(is_user_public_key(&public));
        assert!(!is_user_public_key(
            &nkeys::KeyPair::new_account().public_key()
        ));
        assert!(!is_user_public_key("UBAD"));
        let nonce = new_nonce();
        let sig = kp.sign(nonce.as_bytes()).unwrap();
        let url = URL_SAFE_NO_PAD.encode(&sig);
        let std = STANDARD.encode(&sig);
        assert_eq!(verify_nonce(&public, &nonce, Some(&url)), Ok(()));
        assert_eq!(verify_nonce(&public, &nonce, Some(&std)), Ok(()));
        assert_eq!(
            verify_nonce(&public, &nonce, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_nonce(&public, &nonce, Some("!!")),
            Err(SignatureError::NotBase64)
        );
        assert_eq!(
            verify_nonce(&public, "other-nonce", Some(&url)),
            Err(SignatureError::Mismatch)
        );
        let other = nkeys::KeyPair::new_user();
        let sig2 = URL_SAFE_NO_PAD.encode(other.sign(nonce.as_bytes()).unwrap());
        assert_eq!(
            verify_nonce(&public, &nonce, Some(&sig2)),
            Err(SignatureError::Mismatch)
        );
    }
}
