//! NATS credentials: the `.creds` file (user JWT + nkey seed) and the nonce
//! signature a client sends in CONNECT to prove it holds the seed.
//!
//! A file holding only a seed (no JWT block) is accepted too: that is plain
//! nkey authentication (CONNECT carries `nkey` instead of `jwt`).

use anyhow::{bail, Context, Result};
use base64::Engine;
use nkeys::KeyPair;

/// What a creds file contains.
#[derive(Debug, Clone)]
pub struct Creds {
    /// The user JWT, if the file has one.
    pub jwt: Option<String>,
    /// The user's nkey seed (`SU…`).
    pub seed: String,
}

impl Creds {
    /// Reads and parses a creds (or bare seed) file.
    pub fn load(path: &std::path::Path) -> Result<Creds> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading creds file {}", path.display()))?;
        Creds::parse(&text).with_context(|| format!("parsing creds file {}", path.display()))
    }

    /// Parses the text of a creds file: the first non-empty line after a
    /// `-----BEGIN … JWT-----` marker is the JWT, the first after a
    /// `-----BEGIN … SEED-----` marker the seed. A text that is just a seed
    /// (a line starting `SU`) is an nkey-only credential.
    pub fn parse(text: &str) -> Result<Creds> {
        let mut jwt = None;
        let mut seed = None;
        let mut want: Option<bool> = None; // Some(true): JWT next, Some(false): seed next
        for line in text.lines().map(str::trim) {
            if line.is_empty() {
                continue;
            }
            if line.starts_with("---") {
                if line.contains("BEGIN") {
                    want = Some(line.contains("JWT"));
                    if !line.contains("JWT") && !line.contains("SEED") {
                        want = None;
                    }
                }
                continue;
            }
            match want.take() {
                Some(true) => jwt = Some(line.to_owned()),
                Some(false) => seed = Some(line.to_owned()),
                None if seed.is_none() && line.starts_with("SU") && !line.contains(' ') => {
                    seed = Some(line.to_owned())
                }
                None => {}
            }
        }
        let Some(seed) = seed else {
            bail!("no user nkey seed found");
        };
        if !seed.starts_with("SU") {
            bail!("the seed is not a user seed (it should start with SU)");
        }
        // Fail early on a damaged seed rather than at CONNECT time.
        KeyPair::from_seed(&seed).map_err(|e| anyhow::anyhow!("bad seed: {e}"))?;
        Ok(Creds { jwt, seed })
    }

    /// The user's public nkey (`U…`).
    pub fn public_key(&self) -> Result<String> {
        Ok(self.key_pair()?.public_key())
    }

    /// Signs the server's INFO `nonce` (its string bytes, as nats clients do)
    /// and returns the signature base64url-encoded without padding, the form
    /// CONNECT's `sig` takes.
    pub fn sign_nonce(&self, nonce: &str) -> Result<String> {
        let sig = self
            .key_pair()?
            .sign(nonce.as_bytes())
            .map_err(|e| anyhow::anyhow!("signing nonce: {e}"))?;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig))
    }

    fn key_pair(&self) -> Result<KeyPair> {
        KeyPair::from_seed(&self.seed).map_err(|e| anyhow::anyhow!("bad seed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds_text(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        )
    }

    #[test]
    fn parses_creds_and_signs_a_verifiable_nonce() {
        let kp = KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let creds = Creds::parse(&creds_text("eyJhbGciOi.x.y", &seed)).unwrap();
        assert_eq!(creds.jwt.as_deref(), Some("eyJhbGciOi.x.y"));
        assert_eq!(creds.public_key().unwrap(), kp.public_key());
        let sig = creds.sign_nonce("abcdefghijklmno").unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        kp.verify(b"abcdefghijklmno", &raw).unwrap();
    }

    #[test]
    fn accepts_a_bare_seed_and_rejects_non_user_seeds() {
        let kp = KeyPair::new_user();
        let creds = Creds::parse(&format!("{}\n", kp.seed().unwrap())).unwrap();
        assert!(creds.jwt.is_none());
        let account = KeyPair::new_account().seed().unwrap();
        assert!(Creds::parse(&creds_text("x.y.z", &account)).is_err());
        assert!(Creds::parse("nothing here").is_err());
    }
}
