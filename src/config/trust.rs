//! Operator mode options: `operator`, `trusted_keys`, `system_account` (in
//! its operator-mode meaning), `resolver` and `resolver_preload`, with
//! nats-server 2.9's syntax:
//!
//! ```text
//! operator: /etc/nats/op.jwt          # or an inline JWT, or a list of either
//! trusted_keys: [ "OD...", "OC..." ]  # instead of (or besides) operator JWTs
//! system_account: ADLU...             # default: the operator JWT's system_account
//! resolver: MEMORY                    # accounts from resolver_preload
//! resolver: URL("http://host:9090/jwt/v1/accounts/")   # GET <url><account>
//! resolver: { type: full, dir: "./jwt", allow_delete: false, interval: "2m" }
//! resolver_preload: { ADLU...: eyJ0eXAi... }
//! ```
//!
//! Only the shape and the keys are checked here; the trust chain itself (is a
//! preloaded account signed by a trusted operator?) is checked again by the
//! server when it starts, with the same code that checks connecting users.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parser::{Item, Value};
use super::{ConfigError, ErrorKind, Options, Pos};
use crate::jwt::{self, ClaimType, Claims, KeyType};

/// How long a URL resolver waits for an account JWT (nats-server's
/// `DEFAULT_ACCOUNT_FETCH_TIMEOUT`).
pub const DEFAULT_ACCOUNT_FETCH_TIMEOUT: Duration = Duration::from_millis(1900);
/// `interval` of a full resolver when unset (nats-server syncs with other
/// servers this often; tracebus has no cluster sync yet and only keeps it).
pub const DEFAULT_RESOLVER_INTERVAL: Duration = Duration::from_secs(60);

/// One trusted operator, read from its JWT.
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedOperator {
    /// The token as configured.
    pub jwt: String,
    /// Its verified claims (self-signed operator claims).
    pub claims: Claims,
}

/// Where account JWTs come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolverOptions {
    /// `resolver: MEMORY`: only the `resolver_preload` accounts.
    Memory,
    /// `resolver: URL("http://host/path/")`: `GET <url><account public key>`.
    Url(String),
    /// `resolver { type: full, dir: ... }`: a directory of `<account>.jwt`
    /// files, updated at run time by claim update requests.
    Full(DirResolverOptions),
}

/// Settings of a `full` resolver.
#[derive(Debug, Clone, PartialEq)]
pub struct DirResolverOptions {
    /// Directory holding `<account public key>.jwt`.
    pub dir: PathBuf,
    /// Whether `$SYS.REQ.CLAIMS.DELETE` may delete accounts.
    pub allow_delete: bool,
    /// Sync interval with other servers (kept; no cluster sync yet).
    pub interval: Duration,
    /// Most JWTs kept (`limit`); 0 = unlimited.
    pub limit: u64,
    /// Fetch timeout from other servers (kept; no cluster sync yet).
    pub timeout: Duration,
}

/// One `resolver_preload` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PreloadEntry {
    /// The account's public key (the entry's key).
    pub account: String,
    /// Its JWT.
    pub jwt: String,
    /// Where it was written.
    pub pos: Option<Pos>,
}

/// Operator mode settings. Operator mode is on when an operator JWT or a
/// trusted key is configured.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrustOptions {
    /// `operator`: trusted operators from their JWTs.
    pub operators: Vec<TrustedOperator>,
    /// `trusted_keys`: trusted operator identity keys without a JWT.
    pub trusted_keys: Vec<String>,
    /// `resolver`.
    pub resolver: Option<ResolverOptions>,
    /// `resolver_preload`, in file order.
    pub preload: Vec<PreloadEntry>,
    /// Where `operator` or `trusted_keys` was set.
    pub pos: Option<Pos>,
    /// Where `resolver` was set.
    pub resolver_pos: Option<Pos>,
}

impl TrustOptions {
    /// Is the server in operator mode (JWT authentication only)?
    pub fn is_operator_mode(&self) -> bool {
        !self.operators.is_empty() || !self.trusted_keys.is_empty()
    }

    /// The system account named by the operator JWT, if any.
    pub fn operator_system_account(&self) -> Option<&str> {
        self.operators
            .iter()
            .filter_map(|o| o.claims.operator())
            .map(|o| o.system_account.as_str())
            .find(|s| !s.is_empty())
    }

    /// The resolver in effect: the configured one, or (like nats-server) a
    /// URL resolver on the operator JWT's `account_server_url`.
    pub fn effective_resolver(&self) -> Option<ResolverOptions> {
        if let Some(r) = &self.resolver {
            return Some(r.clone());
        }
        self.operators
            .iter()
            .filter_map(|o| o.claims.operator())
            .map(|o| o.account_server_url.as_str())
            .find(|u| !u.is_empty())
            .map(|u| ResolverOptions::Url(url_with_slash(u)))
    }

    /// Reads one top-level key if it is an operator-mode key; returns
    /// `Ok(false)` for any other key.
    pub fn apply(&mut self, key: &str, item: &Item) -> Result<bool, ConfigError> {
        match key.to_ascii_lowercase().as_str() {
            "operator" | "operators" | "root" | "roots" | "root_operator" | "root_operators" => {
                self.operators = operators(key, item)?;
                self.pos = Some(item.pos.clone());
            }
            "trusted_keys" | "trusted" => {
                self.trusted_keys = trusted_keys(key, item)?;
                self.pos = Some(item.pos.clone());
            }
            "resolver" | "account_resolver" | "accounts_resolver" => {
                self.resolver = Some(resolver(key, item)?);
                self.resolver_pos = Some(item.pos.clone());
            }
            "resolver_preload" => self.preload = preload(key, item)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn bad(item: &Item, msg: String) -> ConfigError {
    ConfigError::at(ErrorKind::BadValue, &item.pos, msg)
}

fn wrong_type(key: &str, item: &Item, expected: &str) -> ConfigError {
    ConfigError::at(
        ErrorKind::BadType,
        &item.pos,
        format!(
            "\"{key}\" must be {expected}, got {}",
            item.value.type_name()
        ),
    )
}

fn strings(key: &str, item: &Item, expected: &str) -> Result<Vec<(String, Item)>, ConfigError> {
    match &item.value {
        Value::String(s) => Ok(vec![(s.clone(), item.clone())]),
        Value::Array(list) => list
            .iter()
            .map(|i| match &i.value {
                Value::String(s) => Ok((s.clone(), i.clone())),
                _ => Err(wrong_type(key, i, expected)),
            })
            .collect(),
        _ => Err(wrong_type(key, item, expected)),
    }
}

/// `operator`: inline JWTs (`eyJ...`) or files holding one (plain, or
/// decorated as `nsc` writes them). A relative path is tried from the
/// working directory first, then from the configuration file's directory.
fn operators(key: &str, item: &Item) -> Result<Vec<TrustedOperator>, ConfigError> {
    let mut out = Vec::new();
    for (text, it) in strings(key, item, "an operator JWT, a JWT file or a list of them")? {
        let text = text.trim();
        let token = if text.starts_with("eyJ") {
            text.to_owned()
        } else {
            let path = locate(text, &it.pos);
            let content = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError::at(
                    ErrorKind::BadValue,
                    &it.pos,
                    format!(
                        "\"{key}\": cannot read operator JWT file {}: {e}",
                        path.display()
                    ),
                )
            })?;
            jwt::read_decorated_jwt(&content)
        };
        let claims = jwt::decode_expecting(&token, ClaimType::Operator, jwt::now_unix())
            .map_err(|e| bad(&it, format!("\"{key}\": invalid operator JWT: {e}")))?;
        if !claims.is_self_signed() {
            return Err(bad(
                &it,
                format!("\"{key}\": the operator JWT is not self-signed"),
            ));
        }
        out.push(TrustedOperator { jwt: token, claims });
    }
    if out.is_empty() {
        return Err(bad(item, format!("\"{key}\": no operator JWT given")));
    }
    Ok(out)
}

fn locate(path: &str, pos: &Pos) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    match pos.file.parent() {
        Some(dir) if dir.join(p).exists() => dir.join(p),
        _ => p.to_path_buf(),
    }
}

fn trusted_keys(key: &str, item: &Item) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for (k, it) in strings(key, item, "an operator public key or a list of them")? {
        if !jwt::is_public_key(&k, KeyType::Operator) {
            return Err(bad(
                &it,
                format!("\"{key}\": \"{k}\" is not a valid operator public key"),
            ));
        }
        out.push(k);
    }
    Ok(out)
}

fn url_with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_owned()
    } else {
        format!("{u}/")
    }
}

/// `MEMORY`, `URL("...")` or a `{ type: full, ... }` block.
fn resolver(key: &str, item: &Item) -> Result<ResolverOptions, ConfigError> {
    match &item.value {
        Value::String(s) => {
            let t = s.trim();
            if t.eq_ignore_ascii_case("MEMORY") {
                return Ok(ResolverOptions::Memory);
            }
            let upper = t.to_ascii_uppercase();
            if upper.starts_with("URL(") && t.ends_with(')') {
                let inner = t[4..t.len() - 1]
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                return url_resolver(key, item, inner);
            }
            Err(bad(
                item,
                format!(
                    "\"{key}\": unknown resolver \"{t}\" (use MEMORY, URL(\"http://...\") or a block with type: full)"
                ),
            ))
        }
        Value::Map(m) => {
            let mut kind: Option<String> = None;
            let mut dir: Option<PathBuf> = None;
            let mut opts = DirResolverOptions {
                dir: PathBuf::new(),
                allow_delete: false,
                interval: DEFAULT_RESOLVER_INTERVAL,
                limit: 0,
                timeout: DEFAULT_ACCOUNT_FETCH_TIMEOUT,
            };
            for (k, it) in m.option_entries() {
                match k.to_ascii_lowercase().as_str() {
                    "type" => match &it.value {
                        Value::String(s) => kind = Some(s.to_ascii_lowercase()),
                        _ => return Err(wrong_type(k, it, "a string")),
                    },
                    "dir" => match &it.value {
                        Value::String(s) => dir = Some(PathBuf::from(s)),
                        _ => return Err(wrong_type(k, it, "a string")),
                    },
                    "allow_delete" => match it.value {
                        Value::Bool(b) => opts.allow_delete = b,
                        _ => return Err(wrong_type(k, it, "a boolean")),
                    },
                    "interval" => opts.interval = duration(k, it)?,
                    "timeout" => opts.timeout = duration(k, it)?,
                    "limit" => match it.value {
                        Value::Integer(n) if n >= 0 => opts.limit = n as u64,
                        _ => return Err(wrong_type(k, it, "a non-negative integer")),
                    },
                    "ttl" => {
                        return Err(ConfigError::at(
                            ErrorKind::Unsupported,
                            &it.pos,
                            "resolver \"ttl\" belongs to the cache resolver, which is not supported yet",
                        ))
                    }
                    _ => {
                        return Err(ConfigError::at(
                            ErrorKind::UnknownKey,
                            &it.pos,
                            format!("unknown resolver key \"{k}\""),
                        ))
                    }
                }
            }
            match kind.as_deref() {
                Some("full") => {}
                Some("cache") => {
                    return Err(ConfigError::at(
                        ErrorKind::Unsupported,
                        &item.pos,
                        "resolver type \"cache\" is not supported yet (use type: full)",
                    ))
                }
                Some(other) => {
                    return Err(bad(
                        item,
                        format!("\"{key}\": unknown resolver type \"{other}\" (use full)"),
                    ))
                }
                None => {
                    return Err(bad(
                        item,
                        format!("\"{key}\": the resolver block needs \"type: full\""),
                    ))
                }
            }
            opts.dir =
                dir.ok_or_else(|| bad(item, format!("\"{key}\": a full resolver needs \"dir\"")))?;
            Ok(ResolverOptions::Full(opts))
        }
        _ => Err(wrong_type(
            key,
            item,
            "MEMORY, URL(\"...\") or a resolver block",
        )),
    }
}

fn url_resolver(key: &str, item: &Item, url: &str) -> Result<ResolverOptions, ConfigError> {
    if url.starts_with("https://") {
        return Err(ConfigError::at(
            ErrorKind::Unsupported,
            &item.pos,
            format!("\"{key}\": https resolver URLs are not supported yet (no TLS); use http://"),
        ));
    }
    if !url.starts_with("http://") || url.len() <= "http://".len() {
        return Err(bad(
            item,
            format!("\"{key}\": resolver URL \"{url}\" must start with http://"),
        ));
    }
    Ok(ResolverOptions::Url(url_with_slash(url)))
}

fn duration(key: &str, item: &Item) -> Result<Duration, ConfigError> {
    match &item.value {
        Value::String(s) => {
            super::parse_duration(s).map_err(|e| bad(item, format!("\"{key}\": {e}")))
        }
        Value::Integer(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
        _ => Err(wrong_type(key, item, "a duration such as \"2m\"")),
    }
}

fn preload(key: &str, item: &Item) -> Result<Vec<PreloadEntry>, ConfigError> {
    let Value::Map(m) = &item.value else {
        return Err(wrong_type(key, item, "a block of account public key: JWT"));
    };
    let mut out = Vec::new();
    for (k, it) in m.option_entries() {
        let Value::String(token) = &it.value else {
            return Err(wrong_type(k, it, "an account JWT"));
        };
        if !jwt::is_public_key(k, KeyType::Account) {
            return Err(bad(
                it,
                format!("\"{key}\": \"{k}\" is not a valid account public key"),
            ));
        }
        out.push(PreloadEntry {
            account: k.to_owned(),
            jwt: token.trim().to_owned(),
            pos: Some(it.pos.clone()),
        });
    }
    Ok(out)
}

fn pos_err(pos: &Option<Pos>, kind: ErrorKind, msg: impl Into<String>) -> ConfigError {
    match pos {
        Some(p) => ConfigError::at(kind, p, msg),
        None => ConfigError::new(kind, msg),
    }
}

/// The operator-mode rules that involve other options (nats-server's texts
/// where it has one): no users or accounts in the file, a resolver, a
/// system account that agrees with the operator JWT, preloads that decode
/// as account JWTs of the key they are filed under.
pub fn validate(o: &Options) -> Result<(), ConfigError> {
    let t = &o.trust;
    if !t.is_operator_mode() {
        if t.resolver.is_some() || !t.preload.is_empty() {
            return Err(pos_err(
                &t.resolver_pos,
                ErrorKind::Invalid,
                "resolver and resolver_preload need operator mode (operator or trusted_keys)",
            ));
        }
        return Ok(());
    }
    let auth = &o.authorization;
    if !auth.users.is_empty() || o.accounts.iter().any(|a| !a.users.is_empty()) {
        return Err(pos_err(
            &t.pos,
            ErrorKind::Invalid,
            "operators do not allow users to be configured directly",
        ));
    }
    if !o.accounts.is_empty() {
        return Err(pos_err(
            &t.pos,
            ErrorKind::Invalid,
            "operators do not allow Accounts to be configured directly",
        ));
    }
    if auth.token.is_some() || auth.user.is_some() {
        return Err(pos_err(
            &t.pos,
            ErrorKind::Invalid,
            "operators do not allow an authorization token or user/password (users authenticate with JWTs)",
        ));
    }
    if let Some(sys) = &o.system_account {
        if !jwt::is_public_key(sys, KeyType::Account) {
            return Err(pos_err(
                &o.system_account_pos,
                ErrorKind::BadValue,
                format!("system_account \"{sys}\" is not an account public key (operator mode)"),
            ));
        }
        if let Some(op_sys) = t.operator_system_account() {
            if op_sys != sys {
                return Err(pos_err(
                    &o.system_account_pos,
                    ErrorKind::Invalid,
                    "system_account in config and operator JWT must be identical",
                ));
            }
        }
    }
    let Some(resolver) = t.effective_resolver() else {
        return Err(pos_err(
            &t.pos,
            ErrorKind::Invalid,
            "operator mode needs a resolver: MEMORY, URL(\"http://...\") or { type: full, dir: ... }",
        ));
    };
    if !t.preload.is_empty() && matches!(resolver, ResolverOptions::Url(_)) {
        return Err(pos_err(
            &t.preload[0].pos,
            ErrorKind::Invalid,
            "resolver_preload needs a MEMORY or full resolver (a URL resolver cannot store JWTs)",
        ));
    }
    for p in &t.preload {
        let (_, c) = jwt::decode_ignoring_time(&p.jwt).map_err(|e| {
            pos_err(
                &p.pos,
                ErrorKind::BadValue,
                format!(
                    "resolver_preload: invalid account JWT for {}: {e}",
                    p.account
                ),
            )
        })?;
        if c.claim_type() != ClaimType::Account || c.sub != p.account {
            return Err(pos_err(
                &p.pos,
                ErrorKind::BadValue,
                format!(
                    "resolver_preload: the JWT filed under {} is not that account's JWT",
                    p.account
                ),
            ));
        }
    }
    Ok(())
}
