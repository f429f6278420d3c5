//! `describe`: decode a token, print it, and check it against the store.

use anyhow::{anyhow, bail, Result};
use std::path::Path;
use tracebus::jwt::{self, ClaimType, Claims};

use super::cmds::{claim_label, op_store};
use super::DescribeArgs;
use crate::store::OperatorStore;
use crate::units::format_time;

/// Reads the token out of the argument: a file (plain JWT, decorated JWT
/// or creds file) or the token itself.
fn read_input(input: &str) -> Result<String> {
    let p = Path::new(input);
    if p.is_file() {
        let text = std::fs::read_to_string(p)?;
        if text.contains("NKEY SEED") {
            return Ok(jwt::parse_creds(&text)?.jwt);
        }
        return Ok(jwt::read_decorated_jwt(&text));
    }
    if input.split('.').count() == 3 {
        return Ok(input.trim().to_owned());
    }
    bail!("{input:?} is neither a readable file nor a JWT")
}

/// What the store says about a token's chain of trust.
enum Chain {
    /// Verified up to the store's operator.
    Ok(String),
    /// The store contradicts the token.
    Broken(String),
    /// The store knows nothing about the issuer.
    Unknown(String),
}

fn key_name(os: &OperatorStore, key: &str) -> String {
    if let Some(a) = os.account_by_key(key) {
        return format!("account {a}");
    }
    key.chars().take(12).collect::<String>() + "…"
}

fn account_chain(os: &OperatorStore, acct: &Claims, now: i64) -> Chain {
    let Ok(op) = os.operator_claims() else {
        return Chain::Unknown("store has no operator".into());
    };
    let o = op.operator().unwrap();
    let how = if acct.iss == op.sub {
        "identity key"
    } else if o.signing_keys.contains(&acct.iss) {
        "signing key"
    } else {
        return Chain::Broken(format!(
            "account is not signed by operator {:?} or its signing keys",
            os.name()
        ));
    };
    if !o.did_sign(&op.sub, &acct.iss) {
        return Chain::Broken("operator requires signing keys (strict signing key usage)".into());
    }
    if let Err(e) = op.check_time(now) {
        return Chain::Broken(format!("operator: {e}"));
    }
    Chain::Ok(format!("operator {:?} ({how})", os.name()))
}

fn chain(os: &OperatorStore, c: &Claims, now: i64) -> Chain {
    match c.claim_type() {
        ClaimType::Operator => match os.operator_claims() {
            Ok(op) if op.sub == c.sub => {
                Chain::Ok(format!("operator {:?} of the store", os.name()))
            }
            Ok(_) => Chain::Unknown(format!("not the store's operator {:?}", os.name())),
            Err(e) => Chain::Unknown(e.to_string()),
        },
        ClaimType::Account => match account_chain(os, c, now) {
            Chain::Ok(s) => Chain::Ok(format!("account ← {s}")),
            other => other,
        },
        ClaimType::User => {
            let u = c.user().unwrap();
            let acct_key = u.account(&c.iss).to_owned();
            let Some(name) = os.account_by_key(&acct_key) else {
                return Chain::Unknown(format!("account {acct_key} is not in the store"));
            };
            let acct = match os.account_claims(&name) {
                Ok(a) => a,
                Err(e) => return Chain::Broken(e.to_string()),
            };
            let a = acct.account().unwrap();
            let how = if c.iss == acct.sub {
                "identity key".to_owned()
            } else {
                match a.signing_key(&c.iss) {
                    Some(jwt::SigningKey::Key(_)) => "signing key".to_owned(),
                    Some(jwt::SigningKey::Scoped(s)) => {
                        if !u.perms.is_empty() {
                            return Chain::Broken(
                                "user of a scoped signing key carries its own permissions".into(),
                            );
                        }
                        format!("scoped signing key, role {:?}", s.role)
                    }
                    None => {
                        return Chain::Broken(format!(
                            "issuer is neither account {name:?} nor one of its signing keys"
                        ))
                    }
                }
            };
            if a.is_revoked(&c.sub, c.iat) {
                return Chain::Broken(format!("user is revoked by account {name:?}"));
            }
            if let Err(e) = acct.check_time(now) {
                return Chain::Broken(format!("account {name:?}: {e}"));
            }
            match account_chain(os, &acct, now) {
                Chain::Ok(s) => Chain::Ok(format!("user ← account {name:?} ({how}) ← {s}")),
                Chain::Broken(s) => Chain::Broken(format!("account {name:?}: {s}")),
                Chain::Unknown(s) => Chain::Unknown(s),
            }
        }
        ClaimType::Activation => {
            let a = c.activation().unwrap();
            let exporter = if a.issuer_account.is_empty() {
                &c.iss
            } else {
                &a.issuer_account
            };
            match os.account_by_key(exporter) {
                Some(n) => Chain::Ok(format!(
                    "activation from account {n:?} for {}",
                    key_name(os, &c.sub)
                )),
                None => Chain::Unknown(format!("exporter {exporter} is not in the store")),
            }
        }
    }
}

pub(super) fn describe(a: DescribeArgs) -> Result<()> {
    let token = read_input(&a.input)?;
    let (_, c) = jwt::decode_ignoring_time(&token).map_err(|e| anyhow!("{e}"))?;
    if a.json {
        println!("{}", c.to_json_pretty());
        return Ok(());
    }
    let now = jwt::now_unix();
    println!("{} JWT {:?}", claim_label(&c), c.name);
    println!("  subject   {}", c.sub);
    println!("  issuer    {}", c.iss);
    println!("  issued    {}", format_time(c.iat));
    println!(
        "  expires   {}",
        if c.exp == 0 {
            "never".to_owned()
        } else {
            format_time(c.exp)
        }
    );
    if c.nbf > 0 {
        println!("  not before {}", format_time(c.nbf));
    }
    println!("  jti       {}", c.jti);
    let time = c.check_time(now);
    println!(
        "  status    {}",
        match &time {
            Ok(()) => "valid now".to_owned(),
            Err(e) => format!("INVALID: {e}"),
        }
    );
    // The store is optional for describe.
    let chain = match op_store(&a.op) {
        Ok(os) => chain(&os, &c, now),
        Err(e) => Chain::Unknown(e.to_string()),
    };
    let broken = match &chain {
        Chain::Ok(s) => {
            println!("  chain     ok: {s}");
            false
        }
        Chain::Broken(s) => {
            println!("  chain     BROKEN: {s}");
            true
        }
        Chain::Unknown(s) => {
            println!("  chain     not verifiable against the store: {s}");
            false
        }
    };
    println!("{}", c.to_json_pretty());
    if time.is_err() || broken {
        bail!("the JWT is not valid (see status and chain above)");
    }
    Ok(())
}
