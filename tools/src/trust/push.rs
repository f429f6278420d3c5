//! `push`: send account JWTs to a server as claim updates.
//!
//! The update is a request on `$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE`
//! with the account JWT as payload, sent as a user of the system account
//! (only the system account may publish `$SYS` subjects). A server with a
//! `full` (or `cache`) resolver stores it and answers with JSON: `{"data":
//! {"code":200,"message":…}}` on success, `{"error":{"code":…,
//! "description":…}}` otherwise.

use anyhow::{anyhow, bail, Context, Result};
use std::time::Duration;

use super::cmds::{op_store, SYS_USER};
use super::PushArgs;

/// The subject a claim update for `account` goes to.
pub fn update_subject(account: &str) -> String {
    format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.UPDATE")
}

pub(super) fn push(a: PushArgs) -> Result<()> {
    let os = op_store(&a.op)?;
    let op = os.operator_claims()?;
    let sys_key = op.operator().unwrap().system_account.clone();
    if sys_key.is_empty() {
        bail!("operator {:?} has no system account", os.name());
    }
    let sys_name = os.account_by_key(&sys_key).ok_or_else(|| {
        anyhow!("the system account {sys_key} is not in the store; cannot authenticate")
    })?;
    let sys_user = match &a.system_user {
        Some(u) => u.clone(),
        None => {
            let users = os.users(&sys_name);
            if users.iter().any(|u| u == SYS_USER) {
                SYS_USER.to_owned()
            } else {
                users.into_iter().next().ok_or_else(|| {
                    anyhow!("system account {sys_name:?} has no user to connect as (user add NAME --account {sys_name})")
                })?
            }
        }
    };
    let creds = os.user_creds(&sys_name, &sys_user)?;

    let names = if a.all {
        os.accounts()
    } else {
        a.account.clone()
    };
    let mut jobs = Vec::new();
    for n in &names {
        let c = os.account_claims(n)?;
        jobs.push((n.clone(), c.sub, os.account_jwt(n)?));
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let timeout = Duration::from_secs(a.timeout.max(1));
    rt.block_on(async move {
        let client = async_nats::ConnectOptions::with_credentials(&creds)
            .context("loading system user creds")?
            .connection_timeout(timeout)
            .request_timeout(Some(timeout))
            .connect(a.server.as_str())
            .await
            .with_context(|| format!("connecting to {} as system user {sys_user:?}", a.server))?;
        let mut failed = 0;
        for (name, key, token) in jobs {
            let subject = update_subject(&key);
            match client.request(subject, token.into()).await {
                Ok(msg) => {
                    let (ok, text) = interpret(&msg.payload);
                    println!(
                        "{} account {name:?} {key}: {text}",
                        if ok { "pushed" } else { "FAILED" }
                    );
                    if !ok {
                        failed += 1;
                    }
                }
                Err(e) => {
                    let hint = match e.kind() {
                        async_nats::RequestErrorKind::NoResponders => {
                            " (no responders: is the server in operator mode with a full or cache resolver?)"
                        }
                        async_nats::RequestErrorKind::TimedOut => " (no answer in time)",
                        _ => "",
                    };
                    println!("FAILED account {name:?} {key}: {e}{hint}");
                    failed += 1;
                }
            }
        }
        if failed > 0 {
            bail!("{failed} account(s) not pushed");
        }
        Ok(())
    })
}

/// Reads the server's answer: (success, message).
fn interpret(payload: &[u8]) -> (bool, String) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return (false, String::from_utf8_lossy(payload).into_owned());
    };
    if let Some(e) = v.get("error") {
        let d = e
            .get("description")
            .and_then(|d| d.as_str())
            .unwrap_or("error");
        return (false, d.to_owned());
    }
    let d = &v["data"];
    let code = d.get("code").and_then(|c| c.as_i64()).unwrap_or(0);
    let msg = d.get("message").and_then(|m| m.as_str()).unwrap_or("");
    ((200..300).contains(&code), format!("{code} {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interprets_answers() {
        assert_eq!(
            interpret(br#"{"data":{"account":"A","code":200,"message":"jwt updated"}}"#),
            (true, "200 jwt updated".into())
        );
        let (ok, t) = interpret(br#"{"error":{"account":"A","code":500,"description":"bad"}}"#);
        assert!(!ok);
        assert_eq!(t, "bad");
        assert!(!interpret(b"nope").0);
        assert_eq!(update_subject("AX"), "$SYS.REQ.ACCOUNT.AX.CLAIMS.UPDATE");
    }
}
