//! `.creds` files and "decorated" JWT files.
//!
//! A creds file is what a NATS client authenticates with in operator mode:
//! the user JWT and the user's nkey seed, each between marker lines. The
//! begin markers have five dashes and the end markers six:
//!
//! ```text
//! -----BEGIN NATS USER JWT-----
//! eyJ0eXAiOi...
//! ------END NATS USER JWT------
//!
//! ************************* IMPORTANT *************************
//! NKEY Seed printed below can be used to sign and prove identity.
//! NKEYs are sensitive and should be treated as secrets.
//!
//! -----BEGIN USER NKEY SEED-----
//! SUAM...
//! ------END USER NKEY SEED------
//!
//! *************************************************************
//! ```
//!
//! Parsing is lenient like the official tools: any line of three or more
//! dashes at both ends is a marker, the value is the single line between a
//! pair of markers, CRLF and stray blanks are fine, and without markers the
//! seed is any line starting `SU`/`SA`/`SO` and the JWT any line that looks
//! like one.

use nkeys::KeyPair;

use super::nkey::{seed_key_pair, KeyType};
use super::{ClaimType, JwtError};

/// The contents of a creds file.
#[derive(Clone, PartialEq, Eq)]
pub struct Creds {
    /// The user JWT.
    pub jwt: String,
    /// The user's nkey seed (`SU…`). Secret.
    pub seed: String,
}

impl std::fmt::Debug for Creds {
    // Never print the seed by accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds")
            .field("jwt", &self.jwt)
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Creds {
    /// The user key pair (can sign the server nonce).
    pub fn key_pair(&self) -> Result<KeyPair, JwtError> {
        Ok(seed_key_pair(&self.seed)?.0)
    }

    /// Renders the standard creds file text.
    pub fn to_text(&self) -> String {
        format_creds(&self.jwt, &self.seed)
    }
}

fn is_marker(line: &str) -> bool {
    line.len() >= 6 && line.starts_with("---") && line.ends_with("---")
}

/// Values found between pairs of marker lines, in order.
fn blocks(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < lines.len() {
        if is_marker(lines[i]) && !lines[i + 1].is_empty() && is_marker(lines[i + 2]) {
            out.push(lines[i + 1]);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

fn looks_like_seed(s: &str) -> bool {
    s.len() == 58 && (s.starts_with("SU") || s.starts_with("SA") || s.starts_with("SO"))
}

fn looks_like_jwt(s: &str) -> bool {
    s.split('.').count() == 3 && !s.contains(char::is_whitespace) && s.len() > 20
}

/// Parses a creds file. Requires a user JWT and a user seed (`SU…`) that
/// decodes; does not verify the JWT (the server does that).
pub fn parse_creds(text: &str) -> Result<Creds, JwtError> {
    let found = blocks(text);
    let mut jwt = found.iter().copied().find(|v| looks_like_jwt(v));
    let mut seed = found.iter().copied().find(|v| looks_like_seed(v));
    if jwt.is_none() {
        jwt = text.lines().map(str::trim).find(|l| looks_like_jwt(l));
    }
    if seed.is_none() {
        seed = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU") || l.starts_with("SA") || l.starts_with("SO"));
    }
    let jwt = jwt.ok_or_else(|| JwtError::Creds("no JWT found".into()))?;
    let seed = seed.ok_or_else(|| JwtError::Creds("no nkey seed found".into()))?;
    let (_, t) = seed_key_pair(seed).map_err(|e| JwtError::Creds(e.to_string()))?;
    if t != KeyType::User {
        return Err(JwtError::Creds(format!(
            "the seed is an {t} seed; a creds file needs a user seed (SU…)"
        )));
    }
    Ok(Creds {
        jwt: jwt.to_owned(),
        seed: seed.to_owned(),
    })
}

/// Renders a creds file exactly as the official tools do.
pub fn format_creds(user_jwt: &str, user_seed: &str) -> String {
    format!(
        "{}************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\
         \n\
         -----BEGIN USER NKEY SEED-----\n\
         {}\n\
         ------END USER NKEY SEED------\n\
         \n\
         *************************************************************\n",
        decorate_jwt(ClaimType::User, user_jwt),
        user_seed.trim()
    )
}

/// A JWT between `-----BEGIN NATS <TYPE> JWT-----` markers, followed by a
/// blank line (the file form `nsc` writes for operators and accounts).
pub fn decorate_jwt(claim: ClaimType, jwt: &str) -> String {
    let kind = claim.as_str().to_ascii_uppercase();
    format!(
        "-----BEGIN NATS {kind} JWT-----\n{}\n------END NATS {kind} JWT------\n\n",
        jwt.trim()
    )
}

/// The JWT in a decorated file, or the whole trimmed text when it has no
/// markers (how nats-server reads `operator: file.jwt`).
pub fn read_decorated_jwt(text: &str) -> String {
    blocks(text)
        .into_iter()
        .find(|v| looks_like_jwt(v))
        .unwrap_or_else(|| text.trim())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_leniency() {
        let kp = KeyType::User.generate();
        let seed = kp.seed().unwrap();
        let jwt = "eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJ4In0.c2ln";
        let text = format_creds(jwt, &seed);
        assert!(text.contains("------END NATS USER JWT------\n"));
        assert!(text.contains("------END USER NKEY SEED------\n"));
        let c = parse_creds(&text).unwrap();
        assert_eq!(c.jwt, jwt);
        assert_eq!(c.seed, seed);
        assert_eq!(c.key_pair().unwrap().public_key(), kp.public_key());
        assert!(!format!("{c:?}").contains(&seed));

        // CRLF, indentation, odd dash counts.
        let crlf = format!(
            "  ---BEGIN NATS USER JWT---\r\n  {jwt}  \r\n---END---\r\n\r\n----BEGIN X----\r\n{seed}\r\n-----END-----"
        );
        let c = parse_creds(&crlf).unwrap();
        assert_eq!((c.jwt.as_str(), c.seed.as_str()), (jwt, seed.as_str()));

        // No markers at all.
        let bare = format!("{jwt}\n{seed}\n");
        assert_eq!(parse_creds(&bare).unwrap().seed, seed);

        // Wrong seed type, missing parts.
        let acct = KeyType::Account.generate().seed().unwrap();
        assert!(parse_creds(&format_creds(jwt, &acct)).is_err());
        assert!(parse_creds(&seed).is_err());
        assert!(parse_creds(jwt).is_err());
    }

    #[test]
    fn decorated_jwt() {
        let jwt = "eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJ4In0.c2ln";
        let d = decorate_jwt(ClaimType::Operator, jwt);
        assert!(d.starts_with("-----BEGIN NATS OPERATOR JWT-----\n"));
        assert_eq!(read_decorated_jwt(&d), jwt);
        assert_eq!(read_decorated_jwt(&format!("  {jwt}\n")), jwt);
    }
}
