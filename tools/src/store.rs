//! The on-disk store of operators, accounts, users and their keys.
//!
//! ```text
//! <store>/<OPERATOR>/operator.jwt
//! <store>/<OPERATOR>/keys/<PUBLIC KEY>.nk              seeds, 0600 (dir 0700)
//! <store>/<OPERATOR>/accounts/<ACCOUNT>/account.jwt
//! <store>/<OPERATOR>/accounts/<ACCOUNT>/users/<USER>.jwt
//! <store>/keys/<PUBLIC KEY>.nk                          `keys gen` output
//! ```
//!
//! Seeds are kept by public key, so any JWT's issuer finds its signing
//! seed without knowing which role it plays. Every seed file is created
//! with mode 0600 before a byte is written. JWT files are plain text with
//! the token on one line.

use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use tracebus::jwt::{self, nkeys::KeyPair, Claims, KeyType};

/// The default store directory: `$TRACEBUS_STORE`, else
/// `$XDG_DATA_HOME/tracebus/store`, else `$HOME/.local/share/tracebus/store`.
pub fn default_store_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TRACEBUS_STORE").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("tracebus/store");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/tracebus/store")
}

/// Names become directory and file names: keep them boring.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        bail!(
            "bad {what} name {name:?}: use letters, digits, '_', '-', '.' (not starting with '.')"
        );
    }
    Ok(())
}

/// A store root.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (without creating) the store at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names of the operators in the store.
    pub fn operators(&self) -> Vec<String> {
        list_dirs(&self.root)
            .into_iter()
            .filter(|n| n != "keys" && self.root.join(n).join("operator.jwt").is_file())
            .collect()
    }

    /// The operator called `name`, or the only operator when `name` is None.
    pub fn operator(&self, name: Option<&str>) -> Result<OperatorStore> {
        let all = self.operators();
        let name = match name {
            Some(n) => {
                if !all.iter().any(|a| a == n) {
                    if all.is_empty() {
                        bail!(
                            "unknown operator {n:?}: store {} has no operator (run `tracebus-tools operator init NAME`)",
                            self.root.display()
                        );
                    }
                    bail!(
                        "unknown operator {n:?} in store {} (operators: {})",
                        self.root.display(),
                        all.join(", ")
                    );
                }
                n.to_owned()
            }
            None => match all.as_slice() {
                [] => bail!(
                    "no operator in store {} (run `tracebus-tools operator init NAME` first, or pass --store)",
                    self.root.display()
                ),
                [one] => one.clone(),
                many => bail!(
                    "store {} has several operators ({}): pick one with --operator",
                    self.root.display(),
                    many.join(", ")
                ),
            },
        };
        Ok(OperatorStore {
            dir: self.root.join(&name),
            name,
        })
    }

    /// Creates the directory for a new operator; fails if it exists.
    pub fn create_operator(&self, name: &str) -> Result<OperatorStore> {
        check_name("operator", name)?;
        let dir = self.root.join(name);
        if dir.join("operator.jwt").exists() {
            bail!(
                "operator {name:?} already exists in store {}",
                self.root.display()
            );
        }
        fs::create_dir_all(dir.join("accounts"))
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(OperatorStore {
            dir,
            name: name.to_owned(),
        })
    }

    /// Saves a seed outside any operator (for `keys gen`); returns the path.
    pub fn save_loose_seed(&self, kp: &KeyPair) -> Result<PathBuf> {
        save_seed_in(&self.root.join("keys"), kp)
    }
}

/// One operator's part of the store.
pub struct OperatorStore {
    dir: PathBuf,
    name: String,
}

impl OperatorStore {
    /// The operator's name in the store.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The operator JWT.
    pub fn operator_jwt(&self) -> Result<String> {
        read_jwt(&self.dir.join("operator.jwt"))
    }

    /// The operator claims (decoded, not time-checked).
    pub fn operator_claims(&self) -> Result<Claims> {
        decode_stored(&self.operator_jwt()?, "operator")
    }

    /// Writes the operator JWT.
    pub fn write_operator_jwt(&self, token: &str) -> Result<()> {
        write_text(&self.dir.join("operator.jwt"), token)
    }

    /// Saves a seed in this operator's key store.
    pub fn save_seed(&self, kp: &KeyPair) -> Result<PathBuf> {
        save_seed_in(&self.dir.join("keys"), kp)
    }

    /// The key pair (with seed) for a public key.
    pub fn seed(&self, public_key: &str) -> Result<KeyPair> {
        let p = self.seed_path(public_key);
        let text = fs::read_to_string(&p).map_err(|_| {
            anyhow!(
                "no seed for key {public_key} in store ({} missing)",
                p.display()
            )
        })?;
        let (kp, _) = jwt::seed_key_pair(text.trim())
            .with_context(|| format!("reading seed {}", p.display()))?;
        if kp.public_key() != public_key {
            bail!("seed file {} does not hold key {public_key}", p.display());
        }
        Ok(kp)
    }

    /// Where the seed of `public_key` lives.
    pub fn seed_path(&self, public_key: &str) -> PathBuf {
        self.dir.join("keys").join(format!("{public_key}.nk"))
    }

    /// Deletes a stored seed (for removed signing keys). Missing is fine.
    pub fn remove_seed(&self, public_key: &str) -> Result<()> {
        match fs::remove_file(self.seed_path(public_key)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The key that signs account JWTs: the first operator signing key
    /// whose seed is in the store, else the operator identity key.
    pub fn account_signer(&self) -> Result<KeyPair> {
        let op = self.operator_claims()?;
        let o = op.operator().expect("operator claims");
        for k in &o.signing_keys {
            if let Ok(kp) = self.seed(k) {
                return Ok(kp);
            }
        }
        self.seed(&op.sub)
    }

    /// Account names.
    pub fn accounts(&self) -> Vec<String> {
        list_dirs(&self.dir.join("accounts"))
            .into_iter()
            .filter(|n| self.account_dir(n).join("account.jwt").is_file())
            .collect()
    }

    fn account_dir(&self, account: &str) -> PathBuf {
        self.dir.join("accounts").join(account)
    }

    /// True if the account exists.
    pub fn has_account(&self, account: &str) -> bool {
        self.account_dir(account).join("account.jwt").is_file()
    }

    /// The account JWT, with an error naming what exists when it does not.
    pub fn account_jwt(&self, account: &str) -> Result<String> {
        if !self.has_account(account) {
            let have = self.accounts();
            bail!(
                "no account {account:?} under operator {:?} (accounts: {})",
                self.name,
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            );
        }
        read_jwt(&self.account_dir(account).join("account.jwt"))
    }

    /// The account claims (decoded, not time-checked).
    pub fn account_claims(&self, account: &str) -> Result<Claims> {
        decode_stored(&self.account_jwt(account)?, "account")
    }

    /// The account whose identity key is `public_key`, by name.
    pub fn account_by_key(&self, public_key: &str) -> Option<String> {
        self.accounts().into_iter().find(|a| {
            self.account_claims(a)
                .map(|c| c.sub == public_key)
                .unwrap_or(false)
        })
    }

    /// Writes an account JWT (creating its directory).
    pub fn write_account_jwt(&self, account: &str, token: &str) -> Result<()> {
        check_name("account", account)?;
        let d = self.account_dir(account);
        fs::create_dir_all(d.join("users"))?;
        write_text(&d.join("account.jwt"), token)
    }

    /// User names of an account.
    pub fn users(&self, account: &str) -> Vec<String> {
        let d = self.account_dir(account).join("users");
        let mut out: Vec<String> = fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_suffix(".jwt").map(str::to_owned)
            })
            .collect();
        out.sort();
        out
    }

    /// True if the user exists.
    pub fn has_user(&self, account: &str, user: &str) -> bool {
        self.user_path(account, user).is_file()
    }

    fn user_path(&self, account: &str, user: &str) -> PathBuf {
        self.account_dir(account)
            .join("users")
            .join(format!("{user}.jwt"))
    }

    /// The user JWT.
    pub fn user_jwt(&self, account: &str, user: &str) -> Result<String> {
        self.account_jwt(account)?;
        if !self.has_user(account, user) {
            let have = self.users(account);
            bail!(
                "no user {user:?} in account {account:?} (users: {})",
                if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                }
            );
        }
        read_jwt(&self.user_path(account, user))
    }

    /// The user claims (decoded, not time-checked).
    pub fn user_claims(&self, account: &str, user: &str) -> Result<Claims> {
        decode_stored(&self.user_jwt(account, user)?, "user")
    }

    /// Writes a user JWT.
    pub fn write_user_jwt(&self, account: &str, user: &str, token: &str) -> Result<()> {
        check_name("user", user)?;
        let p = self.user_path(account, user);
        fs::create_dir_all(p.parent().unwrap())?;
        write_text(&p, token)
    }

    /// The creds file text of a user.
    pub fn user_creds(&self, account: &str, user: &str) -> Result<String> {
        let token = self.user_jwt(account, user)?;
        let c = decode_stored(&token, "user")?;
        let kp = self.seed(&c.sub)?;
        Ok(jwt::format_creds(
            &token,
            &kp.seed().map_err(|e| anyhow!("{e}"))?,
        ))
    }
}

fn decode_stored(token: &str, what: &str) -> Result<Claims> {
    let (_, c) = jwt::decode_ignoring_time(token)
        .map_err(|e| anyhow!("stored {what} JWT does not decode: {e}"))?;
    Ok(c)
}

fn list_dirs(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn read_jwt(p: &Path) -> Result<String> {
    let text = fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Ok(jwt::read_decorated_jwt(&text))
}

/// Writes `text` + newline via a temporary file and rename.
fn write_text(p: &Path, text: &str) -> Result<()> {
    let tmp = p.with_extension("tmp");
    fs::write(&tmp, format!("{}\n", text.trim_end()))
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, p).with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

/// Creates a file readable by its owner only (0600) and writes `data`.
pub fn write_secret(p: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(p)
        .with_context(|| format!("writing {}", p.display()))?;
    // An existing file keeps its mode on open: force 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))?;
    f.write_all(data)?;
    Ok(())
}

fn save_seed_in(dir: &Path, kp: &KeyPair) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let seed = kp.seed().map_err(|e| anyhow!("key has no seed: {e}"))?;
    let p = dir.join(format!("{}.nk", kp.public_key()));
    write_secret(&p, format!("{seed}\n").as_bytes())?;
    Ok(p)
}

/// A fresh key of the given type.
pub fn new_key(t: KeyType) -> KeyPair {
    t.generate()
}
