//! Operator mode (NATS JWT v2) on the wire: a chain minted with
//! `tracebus::jwt` is accepted, everything outside it is refused with the
//! bytes nats-server 2.9.10 sends, JWT permissions and limits are enforced,
//! and account updates pushed through the system account reach connected
//! users. Each check runs against tracebus (`*_tracebus`) and, ignored by
//! default, against nats-server (`*_nats_server`) from the same config text.

mod common;
#[path = "operator_support/mod.rs"]
mod op;
#[path = "common/raw.rs"]
mod raw;
#[path = "auth_support/mod.rs"]
mod support;

use std::time::Duration;

use op::{
    assert_updated, auth_violation, jwt_connect, login, push, refused, refused_with, sys_request,
    Chain, Creds,
};
use raw::show;
use support::{err, ConfServer};
use tracebus::jwt::{self, Claims, ExportType, KeyType, Nats};

/// A chain with two team accounts, `acme` and `beta`, and the config text.
struct Fx {
    conf: String,
    full: bool,
    chain: Chain,
    acme: String,
    beta: String,
    users: Vec<Creds>,
    _dir: tempfile::TempDir,
}

/// Builds a chain (`setup` may add accounts and users, returned in
/// `users`), with a full resolver when `full`, else MEMORY.
fn fx(full: bool, setup: impl FnOnce(&mut Chain, &str, &str) -> Vec<Creds>) -> Fx {
    let mut chain = Chain::new();
    let acme = chain.add_account("acme", |_| {});
    let beta = chain.add_account("beta", |_| {});
    let users = setup(&mut chain, &acme, &beta);
    let dir = tempfile::tempdir().unwrap();
    let conf = if full {
        chain.conf_full(&dir.path().join("jwt"))
    } else {
        chain.conf_memory()
    };
    Fx {
        conf,
        full,
        chain,
        acme,
        beta,
        users,
        _dir: dir,
    }
}

/// Drops the server's keep-alive `PING`s from bytes read while waiting.
fn without_pings(mut b: Vec<u8>) -> Vec<u8> {
    while b.starts_with(b"PING\r\n") {
        b.drain(..6);
    }
    b
}

fn plain(full: bool) -> Fx {
    fx(full, |_, _, _| Vec::new())
}

// ---------------------------------------------------------------------------

async fn chain_accepted(s: &ConfServer, fx: &Fx) {
    let alice = fx.chain.user(&fx.acme, "alice", |_| {});
    let bob = fx.chain.user(&fx.acme, "bob", |_| {});
    let carol = fx.chain.user(&fx.beta, "carol", |_| {});
    let mut a = login(s, &alice).await;
    assert_eq!(a.info_field("auth_required"), true);
    assert_eq!(a.info_field("nonce").as_str().unwrap().len(), 15);
    let mut b = login(s, &bob).await;
    let mut c = login(s, &carol).await;
    a.send("SUB t.> 1\r\n").await;
    c.send("SUB t.> 1\r\n").await;
    a.ping_pong().await;
    c.ping_pong().await;
    b.send("PUB t.x 2\r\nhi\r\n").await;
    b.ping_pong().await;
    a.expect("MSG t.x 1 2\r\nhi\r\n").await;
    // Another account never sees it.
    c.ping_pong().await;
    // The system user reaches the system account.
    let mut sys = login(s, &fx.chain.sys_user()).await;
    sys.ping_pong().await;
}
conf_conformance!(
    chain_accepted,
    chain_accepted_tracebus,
    chain_accepted_nats_server,
    plain(false)
);

/// Every way in that is not backed by the chain: the client gets
/// `Authorization Violation` and the connection is closed.
async fn refusals(s: &ConfServer, fx: &Fx) {
    let now = jwt::now_unix();
    let ch = &fx.chain;
    let v = auth_violation();
    let [rogue_user, revoked, revoked_all, later, over_limit] =
        [0, 1, 2, 3, 4].map(|i| fx.users[i].clone());

    // A user of an account signed by an operator nobody trusts.
    assert_eq!(refused(s, &rogue_user).await, v, "untrusted operator");
    // A user of an account whose JWT breaks its own limits (imports).
    assert_eq!(refused(s, &over_limit).await, v, "account over its limits");
    // A user claiming acme but signed by a key acme does not know.
    let stranger = KeyType::Account.generate();
    let forged = ch.user_signed_by(&fx.acme, &stranger, "forged", |_| {});
    assert_eq!(refused(s, &forged).await, v, "untrusted account key");
    // A user of an account no resolver knows.
    let nowhere = KeyType::Account.generate();
    let orphan = {
        let ukp = KeyType::User.generate();
        let c = Claims::new(ukp.public_key(), "orphan", Nats::User(Default::default()));
        Creds {
            jwt: jwt::encode(&c, &nowhere).unwrap(),
            seed: ukp.seed().unwrap(),
        }
    };
    assert_eq!(refused(s, &orphan).await, v, "unknown account");
    // A tampered payload.
    let alice = ch.user(&fx.acme, "alice", |_| {});
    let mut parts: Vec<String> = alice.jwt.split('.').map(str::to_owned).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    payload["nats"]["pub"] = serde_json::json!({});
    payload["name"] = serde_json::json!("alice-admin");
    parts[1] = b64.encode(serde_json::to_vec(&payload).unwrap());
    let tampered = Creds {
        jwt: parts.join("."),
        seed: alice.seed.clone(),
    };
    assert_eq!(refused(s, &tampered).await, v, "tampered");
    // Nonce signatures: missing, made by another key, over another nonce.
    assert_eq!(refused_with(s, &alice, false).await, v, "no sig");
    let wrong_key = Creds {
        jwt: alice.jwt.clone(),
        seed: KeyType::User.generate().seed().unwrap(),
    };
    assert_eq!(refused(s, &wrong_key).await, v, "sig by another key");
    let mut c = s.client().await;
    let other = s.client().await;
    let line = jwt_connect(&other, &alice, true, "");
    c.send(line).await;
    c.send("PING\r\n").await;
    assert_eq!(
        show(&c.expect_closed().await),
        v,
        "signature of another nonce"
    );
    // Expired, not yet valid.
    let expired = ch.user(&fx.acme, "old", |c| c.exp = now - 10);
    assert_eq!(refused(s, &expired).await, v, "expired");
    let early = ch.user(&fx.acme, "early", |c| c.nbf = now + 3600);
    assert_eq!(refused(s, &early).await, v, "not yet valid");
    // Revoked by key and by "*".
    assert_eq!(refused(s, &revoked).await, v, "revoked");
    assert_eq!(refused(s, &revoked_all).await, v, "revoked by *");
    // ...while a user of that account issued after the "*" revocation works.
    login(s, &later).await;
    // Bearer tokens: refused where the account disallows them...
    let bearer_beta = ch.user(&fx.beta, "bb", |c| {
        c.user_mut().unwrap().perms.bearer_token = true
    });
    assert_eq!(
        refused_with(s, &bearer_beta, false).await,
        v,
        "bearer disallowed"
    );
    assert_eq!(
        refused(s, &bearer_beta).await,
        v,
        "bearer disallowed, signed"
    );
    // ...accepted without a signature where allowed.
    let bearer_acme = ch.user(&fx.acme, "ba", |c| {
        c.user_mut().unwrap().perms.bearer_token = true
    });
    let mut c = s.client().await;
    c.send(jwt_connect(&c, &bearer_acme, false, "")).await;
    c.ping_pong().await;
    // Connection types and source networks.
    let ws_only = ch.user(&fx.acme, "ws", |c| {
        c.user_mut().unwrap().perms.allowed_connection_types = vec!["WEBSOCKET".into()]
    });
    assert_eq!(refused(s, &ws_only).await, v, "websocket only");
    let std_ok = ch.user(&fx.acme, "std", |c| {
        c.user_mut().unwrap().perms.allowed_connection_types =
            vec!["STANDARD".into(), "WEBSOCKET".into()]
    });
    login(s, &std_ok).await;
    let far = ch.user(&fx.acme, "far", |c| {
        c.user_mut().unwrap().perms.src = vec!["10.0.0.0/8".into()]
    });
    assert_eq!(refused(s, &far).await, v, "src");
    let near = ch.user(&fx.acme, "near", |c| {
        c.user_mut().unwrap().perms.src = vec!["10.0.0.0/8".into(), "127.0.0.0/8".into()]
    });
    login(s, &near).await;
    // No JWT at all, or a JWT of the wrong kind.
    let mut c = s.client().await;
    c.send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
        .await;
    assert_eq!(show(&c.expect_closed().await), v, "no jwt");
    let account_jwt = Creds {
        jwt: ch.account_jwt(&fx.acme),
        seed: alice.seed.clone(),
    };
    assert_eq!(refused(s, &account_jwt).await, v, "account JWT as user JWT");
}

fn refusals_fx() -> Fx {
    fx(false, |ch, acme, beta| {
        // rogue: an account and user under another operator, preloaded.
        let rogue_op = KeyType::Operator.generate();
        let rogue_kp = KeyType::Account.generate();
        let rogue_claims = Claims::new(
            rogue_kp.public_key(),
            "rogue",
            Nats::Account(jwt::Account::new()),
        );
        let rogue_jwt = jwt::encode(&rogue_claims, &rogue_op).unwrap();
        let ukp = KeyType::User.generate();
        let uc = Claims::new(ukp.public_key(), "mallory", Nats::User(Default::default()));
        let rogue_user = Creds {
            jwt: jwt::encode(&uc, &rogue_kp).unwrap(),
            seed: ukp.seed().unwrap(),
        };
        ch.extra_preload.push((rogue_kp.public_key(), rogue_jwt));
        let revoked = ch.user(acme, "eve", |_| {});
        let revoked_all = ch.user(beta, "old-beta", |_| {});
        let now = jwt::now_unix();
        ch.edit(acme, |c| {
            c.account_mut().unwrap().revoke(revoked.public_key(), now)
        });
        ch.edit(beta, |c| {
            let a = c.account_mut().unwrap();
            a.revoke(jwt::REVOKE_ALL, now);
            a.limits.disallow_bearer = true;
        });
        // Issued after the "*" revocation.
        let later = {
            let kp = jwt::nkeys::KeyPair::from_seed(&ch.acct(beta).kp.seed().unwrap()).unwrap();
            let ukp = KeyType::User.generate();
            let c = Claims::new(
                ukp.public_key(),
                "new-beta",
                Nats::User(jwt::User {
                    perms: jwt::UserPermissionLimits::unlimited(),
                    ..Default::default()
                }),
            );
            Creds {
                jwt: jwt::encode_at(&c, &kp, now + 1).unwrap(),
                seed: ukp.seed().unwrap(),
            }
        };
        // An account with more imports than its limits allow.
        let over = ch.add_account("over", |a| {
            a.limits.imports = 0;
            a.imports.push(jwt::Import {
                subject: "x".into(),
                account: acme.to_owned(),
                kind: ExportType::Stream,
                ..Default::default()
            });
        });
        let over_limit = ch.user(&over, "o", |_| {});
        vec![rogue_user, revoked, revoked_all, later, over_limit]
    })
}

conf_conformance!(
    refusals,
    refusals_tracebus,
    refusals_nats_server,
    refusals_fx()
);

async fn limits(s: &ConfServer, fx: &Fx) {
    let ch = &fx.chain;
    let lim = ch
        .accounts
        .iter()
        .find(|a| a.name == "limited")
        .unwrap()
        .key();
    // Account `conn` 2: the third connection is refused after auth.
    let u = ch.user(&lim, "u", |_| {});
    let _c1 = login(s, &u).await;
    let _c2 = login(s, &u).await;
    assert_eq!(
        refused(s, &u).await,
        show(&err("maximum account active connections exceeded"))
    );
    drop(_c1);
    drop(_c2);
    // User `subs` 2 and `payload` 10; `data` is not enforced (nor is it by
    // nats-server).
    let small = ch.user(&fx.acme, "small", |c| {
        let p = &mut c.user_mut().unwrap().perms;
        p.subs = 2;
        p.payload = 10;
        p.data = 5;
    });
    let mut c = login(s, &small).await;
    c.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n").await;
    c.ping_pong_after(&err("maximum subscriptions exceeded"))
        .await;
    c.send("PUB a 10\r\n0123456789\r\n").await;
    c.ping_pong_after(b"MSG a 1 10\r\n0123456789\r\n").await;
    c.send("PUB a 11\r\n01234567890\r\n").await;
    c.expect_then_closed(err("Maximum Payload Violation")).await;
    // Account `subs` 3 applies per connection; account `payload` 8.
    let lim2 = ch
        .accounts
        .iter()
        .find(|a| a.name == "limited2")
        .unwrap()
        .key();
    let any = ch.user(&lim2, "any", |_| {});
    let mut c = login(s, &any).await;
    let mut d = login(s, &any).await;
    for x in [&mut c, &mut d] {
        x.send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n").await;
        x.ping_pong().await;
    }
    c.send("SUB d 4\r\n").await;
    c.ping_pong_after(&err("maximum subscriptions exceeded"))
        .await;
    d.send("PUB x 9\r\n012345678\r\n").await;
    d.expect_then_closed(err("Maximum Payload Violation")).await;
    // A protocol-1 client whose payload limit is not the server's gets an
    // INFO with its own max_payload after its first PONG.
    let mut c = s.client().await;
    c.send(jwt_connect(&c, &small, true, "\"protocol\":1"))
        .await;
    c.send("PING\r\n").await;
    c.expect("PONG\r\n").await;
    let info = c.read_line().await;
    let text = String::from_utf8_lossy(&info).to_string();
    assert!(text.starts_with("INFO {"), "{text}");
    let v: serde_json::Value = serde_json::from_str(text[5..].trim()).unwrap();
    assert_eq!(v["max_payload"], 10, "{text}");
    assert!(v.get("nonce").is_none(), "{text}");
    c.ping_pong().await;
    // Users with the server's limit get no such INFO.
    let plain = ch.user(&fx.acme, "plain", |_| {});
    let mut c = s.client().await;
    c.send(jwt_connect(&c, &plain, true, "\"protocol\":1"))
        .await;
    c.ping_pong().await;
    c.ping_pong().await;
}
conf_conformance!(
    limits,
    limits_tracebus,
    limits_nats_server,
    fx(false, |ch, _, _| {
        ch.add_account("limited", |a| a.limits.conn = 2);
        ch.add_account("limited2", |a| {
            a.limits.subs = 3;
            a.limits.payload = 8;
        });
        Vec::new()
    })
);

async fn permissions(s: &ConfServer, fx: &Fx) {
    let ch = &fx.chain;
    let u = ch.user(&fx.acme, "p", |c| {
        let p = &mut c.user_mut().unwrap().perms;
        p.publish.allow = vec!["out.>".into()];
        p.publish.deny = vec!["out.secret".into()];
        p.subscribe.allow = vec!["in.>".into(), "work.* workers".into()];
    });
    let mut c = login(s, &u).await;
    c.send("PUB elsewhere 0\r\n\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Publish to \"elsewhere\""))
        .await;
    c.send("PUB out.secret 0\r\n\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Publish to \"out.secret\""))
        .await;
    c.send("SUB x 1\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Subscription to \"x\""))
        .await;
    c.send("SUB work.a 2\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Subscription to \"work.a\""))
        .await;
    c.send("SUB work.a workers 3\r\nSUB in.x 4\r\nPUB out.y 0\r\n\r\n")
        .await;
    c.ping_pong().await;
    // Users without permissions get the account's default permissions.
    let d = ch.user(&fx.beta, "d", |_| {});
    let mut c = login(s, &d).await;
    c.send("PUB forbidden 0\r\n\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Publish to \"forbidden\""))
        .await;
    c.send("PUB fine 0\r\n\r\n").await;
    c.ping_pong().await;
    // `resp`: may answer requests it received, nothing else.
    let r = ch.user(&fx.acme, "r", |c| {
        let p = &mut c.user_mut().unwrap().perms;
        p.resp = Some(jwt::ResponsePermission { max: 1, ttl: 0 });
    });
    let mut responder = login(s, &r).await;
    responder.send("SUB svc 1\r\n").await;
    responder.ping_pong().await;
    let req = ch.user(&fx.acme, "req", |_| {});
    let mut requester = login(s, &req).await;
    requester
        .send("SUB _INBOX.1 1\r\nPUB svc _INBOX.1 1\r\nq\r\n")
        .await;
    requester.ping_pong().await;
    responder.expect("MSG svc 1 _INBOX.1 1\r\nq\r\n").await;
    responder.send("PUB other 0\r\n\r\n").await;
    responder
        .ping_pong_after(&err("Permissions Violation for Publish to \"other\""))
        .await;
    responder.send("PUB _INBOX.1 1\r\na\r\n").await;
    responder.ping_pong().await;
    requester.expect("MSG _INBOX.1 1 1\r\na\r\n").await;
}
conf_conformance!(
    permissions,
    permissions_tracebus,
    permissions_nats_server,
    fx(false, |ch, _, beta| {
        ch.edit(beta, |c| {
            c.account_mut().unwrap().default_permissions.publish.deny = vec!["forbidden".into()]
        });
        Vec::new()
    })
);

async fn signing_keys(s: &ConfServer, fx: &Fx) {
    let ch = &fx.chain;
    let acme = ch.acct(&fx.acme);
    let plain_sk = &acme.signers[0];
    let by_sk = ch.user_signed_by(&fx.acme, plain_sk, "by-sk", |_| {});
    let mut c = login(s, &by_sk).await;
    c.send("SUB a 1\r\nPUB a 1\r\nx\r\n").await;
    c.ping_pong_after(b"MSG a 1 1\r\nx\r\n").await;
    // The scoped key's template replaces the user's permissions.
    let scoped_kp = jwt::nkeys::KeyPair::from_seed(&fx.users[0].seed).unwrap();
    let scoped = ch.user_signed_by(&fx.acme, &scoped_kp, "scoped", |c| {
        c.user_mut().unwrap().perms = Default::default()
    });
    let mut c = login(s, &scoped).await;
    c.send("PUB metrics.cpu 0\r\n\r\n").await;
    c.ping_pong().await;
    c.send("PUB other 0\r\n\r\n").await;
    c.ping_pong_after(&err("Permissions Violation for Publish to \"other\""))
        .await;
    // A scoped user may not bring permissions of its own.
    let greedy = ch.user_signed_by(&fx.acme, &scoped_kp, "greedy", |_| {});
    assert_eq!(refused(s, &greedy).await, auth_violation());
}
conf_conformance!(
    signing_keys,
    signing_keys_tracebus,
    signing_keys_nats_server,
    fx(false, |ch, acme, _| {
        ch.add_signing_key(acme);
        let scoped = KeyType::Account.generate();
        let mut template = jwt::UserPermissionLimits::unlimited();
        template.publish.allow = vec!["metrics.>".into()];
        ch.edit(acme, |c| {
            c.account_mut()
                .unwrap()
                .signing_keys
                .push(jwt::SigningKey::Scoped(jwt::UserScope {
                    key: scoped.public_key(),
                    role: "monitor".into(),
                    template,
                }))
        });
        // Hand the scoped key to the check through a user slot.
        vec![Creds {
            jwt: String::new(),
            seed: scoped.seed().unwrap(),
        }]
    })
);

/// Live updates pushed through the system account.
async fn live_updates(s: &ConfServer, fx: &Fx) {
    let mut ch = fx.chain.clone();
    let acme = fx.acme.clone();
    let alice = ch.user(&acme, "alice", |_| {});
    let bob = ch.user(&acme, "bob", |_| {});
    let sk = jwt::nkeys::KeyPair::from_seed(&ch.acct(&acme).signers[0].seed().unwrap()).unwrap();
    let dave = ch.user_signed_by(&acme, &sk, "dave", |_| {});
    let mut a = login(s, &alice).await;
    let mut b = login(s, &bob).await;
    let mut d = login(s, &dave).await;
    a.send("SUB x 1\r\nSUB y 2\r\nSUB z 3\r\n").await;
    a.ping_pong().await;
    b.send("SUB x 1\r\n").await;
    b.ping_pong().await;

    // An unchanged JWT is fine.
    assert_updated(&push(s, &ch, &acme).await, &acme, "jwt updated");
    // Revoke bob, cap subscriptions at 2 (alice holds 3), cap payload at 4
    // and drop the signing key dave was issued with.
    let now = jwt::now_unix();
    let sk_pub = sk.public_key();
    ch.edit(&acme, |c| {
        let a = c.account_mut().unwrap();
        a.revoke(bob.public_key(), now);
        a.limits.subs = 2;
        a.limits.payload = 4;
        a.remove_signing_key(&sk_pub);
    });
    let carol = ch.user(&acme, "carol", |_| {});
    let mut c = login(s, &carol).await;
    assert_updated(&push(s, &ch, &acme).await, &acme, "jwt updated");
    b.expect_then_closed(err("User Authentication Revoked"))
        .await;
    a.expect_then_closed(err("maximum subscriptions exceeded"))
        .await;
    assert_eq!(
        show(&d.expect_closed().await),
        "",
        "signing key removed: no -ERR"
    );
    // carol stays, under the new limits.
    c.send("PUB q 4\r\nabcd\r\n").await;
    c.ping_pong().await;
    c.send("PUB q 5\r\nabcde\r\n").await;
    c.expect_then_closed(err("Maximum Payload Violation")).await;
    // And nobody gets back in with the old credentials.
    assert_eq!(refused(s, &bob).await, auth_violation());
    assert_eq!(refused(s, &dave).await, auth_violation());

    // The account's connection limit drops below what is connected: the
    // newest connections stay, the oldest go (as in nats-server).
    let e1 = ch.user(&acme, "e1", |_| {});
    let mut c1 = login(s, &e1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut c2 = login(s, &e1).await;
    ch.edit(&acme, |c| c.account_mut().unwrap().limits.conn = 1);
    assert_updated(&push(s, &ch, &acme).await, &acme, "jwt updated");
    c1.expect_then_closed(err("maximum account active connections exceeded"))
        .await;
    c2.ping_pong().await;

    // An account JWT that expires closes its connections. (nats-server does
    // that only with a full resolver, whose store tracks expirations;
    // tracebus does it with every resolver.)
    if s.kind == raw::Kind::NatsServer && !fx.full {
        return;
    }
    ch.edit(&acme, |c| {
        let a = c.account_mut().unwrap();
        a.limits.conn = -1;
        c.exp = jwt::now_unix() + 2;
    });
    assert_updated(&push(s, &ch, &acme).await, &acme, "jwt updated");
    let got = without_pings(c2.expect_closed_within(Duration::from_secs(6)).await);
    assert_eq!(show(&got), show(&err("Account Authentication Expired")));
    assert_eq!(refused(s, &e1).await, auth_violation());
}
conf_conformance!(
    live_updates,
    live_updates_memory_tracebus,
    live_updates_memory_nats_server,
    fx(false, |ch, acme, _| {
        ch.add_signing_key(acme);
        Vec::new()
    })
);
conf_conformance!(
    live_updates,
    live_updates_full_tracebus,
    live_updates_full_nats_server,
    fx(true, |ch, acme, _| {
        ch.add_signing_key(acme);
        Vec::new()
    })
);

async fn user_expiry(s: &ConfServer, fx: &Fx) {
    let brief = fx
        .chain
        .user(&fx.acme, "brief", |c| c.exp = jwt::now_unix() + 2);
    let mut c = login(s, &brief).await;
    let got = without_pings(c.expect_closed_within(Duration::from_secs(6)).await);
    assert_eq!(show(&got), show(&err("User Authentication Expired")));
    // Within the second of `exp` the token is still valid.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(refused(s, &brief).await, auth_violation());
}
conf_conformance!(
    user_expiry,
    user_expiry_tracebus,
    user_expiry_nats_server,
    plain(false)
);

/// Answers to claim updates, full resolver.
async fn full_resolver_answers(s: &ConfServer, fx: &Fx) {
    let mut ch = fx.chain.clone();
    // An account the server has never seen: refused until pushed.
    let late = ch.add_account("late", |_| {});
    let u = ch.user(&late, "u", |_| {});
    assert_eq!(refused(s, &u).await, auth_violation());
    let answer = sys_request(s, &ch, "$SYS.REQ.CLAIMS.UPDATE", &ch.account_jwt(&late)).await;
    assert_updated(&answer, &late, "jwt updated");
    let mut c = login(s, &u).await;
    c.ping_pong().await;
    // Lookup and list.
    let mut sys = login(s, &ch.sys_user()).await;
    sys.send(format!(
        "SUB _INBOX.l 1\r\nPUB $SYS.REQ.ACCOUNT.{late}.CLAIMS.LOOKUP _INBOX.l 0\r\n\r\n"
    ))
    .await;
    let line = String::from_utf8_lossy(&sys.read_line().await).to_string();
    assert!(line.starts_with("MSG _INBOX.l 1"), "{line}");
    let token = String::from_utf8_lossy(&sys.read_line().await)
        .trim()
        .to_string();
    assert_eq!(jwt::decode(&token, jwt::now_unix()).unwrap().1.sub, late);
    let list = sys_request(s, &ch, "$SYS.REQ.CLAIMS.LIST", "").await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&late.as_str()) && ids.contains(&fx.acme.as_str()),
        "{list}"
    );

    // Errors.
    let upd = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", fx.acme);
    let a = sys_request(s, &ch, &upd, &ch.account_jwt(&fx.beta)).await;
    assert_eq!(a["error"]["code"], 500, "{a}");
    assert_eq!(a["error"]["account"], fx.acme.as_str(), "{a}");
    assert_eq!(
        a["error"]["description"],
        "jwt update resulted in error - subject does not match jwt content"
    );
    let a = sys_request(s, &ch, &upd, "garbage").await;
    assert_eq!(a["error"]["account"], "n/a", "{a}");
    assert_eq!(
        a["error"]["description"],
        "jwt update resulted in error - expected 3 chunks"
    );
    let good = ch.account_jwt(&fx.acme);
    let mut parts: Vec<&str> = good.split('.').collect();
    let other = ch.account_jwt(&fx.beta);
    parts[2] = other.split('.').nth(2).unwrap();
    let a = sys_request(s, &ch, &upd, &parts.join(".")).await;
    assert_eq!(
        a["error"]["description"],
        "jwt update resulted in error - claim failed V2 signature verification",
        "{a}"
    );
    ch.edit(&fx.acme, |c| {
        let a = c.account_mut().unwrap();
        a.limits.exports = 1;
        for s in ["a.x", "a.y"] {
            a.exports.push(jwt::Export {
                subject: s.into(),
                kind: ExportType::Stream,
                ..Default::default()
            });
        }
    });
    let a = sys_request(s, &ch, &upd, &ch.account_jwt(&fx.acme)).await;
    assert_eq!(
        a["error"]["description"],
        "jwt validation failed - validation errors: [the account contains more exports than allowed by the operator]",
        "{a}"
    );
    assert_eq!(a["error"]["account"], fx.acme.as_str(), "{a}");
}
conf_conformance!(
    full_resolver_answers,
    full_resolver_answers_tracebus,
    full_resolver_answers_nats_server,
    plain(true)
);

/// MEMORY resolver: only loaded accounts are updated.
async fn memory_resolver_answers(s: &ConfServer, fx: &Fx) {
    let a = push(s, &fx.chain, &fx.beta).await;
    assert_updated(&a, &fx.beta, "jwt update skipped");
    let u = fx.chain.user(&fx.beta, "u", |_| {});
    let _c = login(s, &u).await;
    let a = push(s, &fx.chain, &fx.beta).await;
    assert_updated(&a, &fx.beta, "jwt updated");
    let upd = format!("$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE", fx.beta);
    let a = sys_request(s, &fx.chain, &upd, "garbage").await;
    assert_eq!(a["error"]["account"], fx.beta.as_str(), "{a}");
    assert_eq!(
        a["error"]["description"],
        "jwt update resulted in error - expected 3 chunks"
    );
    // A JWT of another operator for a loaded account.
    let rogue = jwt::encode(
        &fx.chain.acct(&fx.beta).claims,
        &KeyType::Operator.generate(),
    )
    .unwrap();
    let a = sys_request(s, &fx.chain, &upd, &rogue).await;
    assert_eq!(
        a["error"]["description"], "jwt update resulted in error - account validation failed",
        "{a}"
    );
}
conf_conformance!(
    memory_resolver_answers,
    memory_resolver_answers_tracebus,
    memory_resolver_answers_nats_server,
    plain(false)
);

/// Exports and imports from account JWTs: a public stream, a private
/// service with an activation token, and imports that must not work.
async fn imports(s: &ConfServer, fx: &Fx) {
    let ch = &fx.chain;
    let gamma = ch
        .accounts
        .iter()
        .find(|a| a.name == "gamma")
        .unwrap()
        .key();
    let delta = ch
        .accounts
        .iter()
        .find(|a| a.name == "delta")
        .unwrap()
        .key();
    let mut pub_ = login(s, &ch.user(&fx.acme, "producer", |_| {})).await;
    let mut viewer = login(s, &ch.user(&fx.beta, "viewer", |_| {})).await;
    let mut g = login(s, &ch.user(&gamma, "g", |_| {})).await;
    let mut d = login(s, &ch.user(&delta, "d", |_| {})).await;
    viewer.send("SUB acme.feed.> 1\r\n").await;
    viewer.ping_pong().await;
    pub_.send("SUB svc.help 9\r\n").await;
    pub_.ping_pong().await;
    // The stream arrives under the local subject.
    pub_.send("PUB feed.x 2\r\nhi\r\n").await;
    pub_.ping_pong().await;
    viewer.expect("MSG acme.feed.x 1 2\r\nhi\r\n").await;
    // The private service answers beta (activation token) ...
    viewer
        .send("SUB _INBOX.v 2\r\nPUB help _INBOX.v 1\r\n?\r\n")
        .await;
    viewer.ping_pong().await;
    let line = String::from_utf8_lossy(&pub_.read_line().await).to_string();
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&parts[..3], &["MSG", "svc.help", "9"], "{line}");
    let reply = parts[3].to_owned();
    pub_.expect("?\r\n").await;
    pub_.send(format!("PUB {reply} 2\r\nok\r\n")).await;
    pub_.ping_pong().await;
    viewer.expect("MSG _INBOX.v 2 2\r\nok\r\n").await;
    // ... but not gamma (no token) nor delta (revoked activation).
    for x in [&mut g, &mut d] {
        x.send("PUB svc.help 1\r\n?\r\nPUB help 1\r\n?\r\n").await;
        x.ping_pong().await;
    }
    pub_.ping_pong().await;
}
conf_conformance!(
    imports,
    imports_tracebus,
    imports_nats_server,
    fx(false, |ch, acme, beta| {
        ch.edit(acme, |c| {
            let a = c.account_mut().unwrap();
            a.exports.push(jwt::Export {
                subject: "feed.>".into(),
                kind: ExportType::Stream,
                ..Default::default()
            });
            a.exports.push(jwt::Export {
                subject: "svc.help".into(),
                kind: ExportType::Service,
                token_req: true,
                ..Default::default()
            });
        });
        let gamma = ch.add_account("gamma", |_| {});
        let delta = ch.add_account("delta", |_| {});
        let acme_kp = jwt::nkeys::KeyPair::from_seed(&ch.acct(acme).kp.seed().unwrap()).unwrap();
        let activation = |importer: &str| {
            let act = Claims::new(
                importer,
                "help",
                Nats::Activation(jwt::Activation {
                    subject: "svc.help".into(),
                    kind: ExportType::Service,
                    ..Default::default()
                }),
            );
            jwt::encode(&act, &acme_kp).unwrap()
        };
        let beta_token = activation(beta);
        let delta_token = activation(&delta);
        let now = jwt::now_unix();
        ch.edit(acme, |c| {
            let a = c.account_mut().unwrap();
            a.exports[1].revocations.insert(delta.clone(), now);
        });
        let import = |local: &str, subject: &str, kind, token: String| jwt::Import {
            name: subject.into(),
            subject: subject.into(),
            account: acme.to_owned(),
            local_subject: local.into(),
            kind,
            token,
            ..Default::default()
        };
        ch.edit(beta, |c| {
            let a = c.account_mut().unwrap();
            a.imports.push(import(
                "acme.feed.>",
                "feed.>",
                ExportType::Stream,
                String::new(),
            ));
            a.imports
                .push(import("help", "svc.help", ExportType::Service, beta_token));
        });
        ch.edit(&gamma, |c| {
            let a = c.account_mut().unwrap();
            a.imports.push(import(
                "help",
                "svc.help",
                ExportType::Service,
                String::new(),
            ));
        });
        ch.edit(&delta, |c| {
            let a = c.account_mut().unwrap();
            a.imports
                .push(import("help", "svc.help", ExportType::Service, delta_token));
        });
        Vec::new()
    })
);
