//! Interop with the official NATS JWT library (jwt/v2 2.3.0, what
//! nats-server 2.9 uses): the tokens in `tests/fixtures/jwt/`, minted by
//! `mint.go`, decode here field for field; their `jti` recomputes
//! identically; and re-encoding a decoded token with the same key and
//! `iat` reproduces the official token byte for byte.
//!
//! Public keys are derived from fixed labels in `mint.go`, so they are
//! written out here; `iat` and `jti` change on every re-mint and are read
//! from `manifest.json`, which the Go program writes from the library's
//! own values.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tracebus::jwt::{
    self, Account, ClaimType, Export, ExportType, Import, JwtError, Nats, Permission, Permissions,
    ResponsePermission, ResponseType, Sampling, ServiceLatency, SigningKey, TimeRange,
    UserPermissionLimits, UserScope, WeightedMapping, NO_LIMIT,
};

const OPERATOR: &str = "OASD352ZIY3GJM2FB2ZWXJNTHINCUGS3TMDLI5TICYEQWBIGPYAJ2EEB";
const OPERATOR_SIGNER: &str = "OADYK53X5NVYPGFFJDT3AVVKDTFMPF5ZHQDHBM3DFPYM4DXW2QTDNQXO";
const SYS: &str = "ACBZYMUJAUI4AYDFAVHWRBDJH4GTWPVZQELWSOV3WK2SW5WB6WF2XHYL";
const ACME: &str = "AAFNG4ZZLDMPJMEWSQK7BKCX2IFY7YBZHZF4KJYPRLN5MRTA7SV6CNLQ";
const ACME_SIGNER: &str = "ABUMRXNM5JFWKXLS3NKIVYZT5PUPW2MVMJIZGOXZPIKRCYIA2NBKCCH4";
const ACME_SCOPED: &str = "AAKIBI7J43QKZQFJSTC7L3QR2IQ6CUAGVAEXSOTOOX4ZNOJIW6L2CLYC";
const BETA: &str = "ADV2N3W47MGSU4C64QKLI2VOFYYCINU2GRIAM3BFBINZJI64B75CXUIQ";
const ALICE: &str = "UDECCJWF4FZ4MJNZ2T34AZW6U6MERXVW6MG3PNYQSXPCP5NJWWLPUUVC";
const BOB: &str = "UDDY4TVAPYLYSVTTU4J6SNEDX4MD6UDYXNNQGZIXQYGPGHNT3TTHN4IA";
const CAROL: &str = "UAETW2Y23J6YAEMCS3GX3EXX3AF65B5E6I2DKC5JWW4IHRF7RTX4DPAB";
const DAVE: &str = "UC5QU24D65PLQGQ7425DKI3Y4VT2UQBV2K6P76AQXUGJRSA37KJV3EY5";
const SYS_USER: &str = "UA32C4IADSWIYOSDKCX6GDDZB2VFZ7NMPOAB32O3OFW3IPRZRMBIZ524";
const ROGUE_OPERATOR: &str = "OASVIJOKWWDGFXB2SM3M6YTFOKQM7BFXDIKIOEIPFULVKIIY2W3S7JDT";
const ROGUE_ACCOUNT: &str = "ADXI5ZJYNCXHPBV4A7264K5MP6IUNHD7RLQEVNFHVJDVWPKPWO32JPDW";

/// 2100-01-01T00:00:00Z, the fixtures' expiry.
const FAR_FUTURE: i64 = 4102444800;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt")
}

fn fixture(name: &str) -> String {
    let p = dir().join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn token(name: &str) -> String {
    fixture(&format!("{name}.jwt")).trim().to_owned()
}

fn key_pair(name: &str) -> jwt::nkeys::KeyPair {
    jwt::seed_key_pair(fixture(&format!("{name}.nk")).trim())
        .unwrap()
        .0
}

/// (iat, jti) the official library stamped on a fixture.
fn stamped(name: &str) -> (i64, String) {
    let m: serde_json::Value = serde_json::from_str(&fixture("manifest.json")).unwrap();
    let e = &m[name];
    (
        e["iat"].as_i64().unwrap(),
        e["jti"].as_str().unwrap().to_owned(),
    )
}

fn decode(name: &str) -> jwt::Claims {
    let (h, c) = jwt::decode(&token(name), jwt::now_unix())
        .unwrap_or_else(|e| panic!("{name} should decode: {e}"));
    assert_eq!(h.typ, "JWT");
    assert_eq!(h.alg, "ed25519-nkey");
    let (iat, jti) = stamped(name);
    assert_eq!(c.iat, iat, "{name} iat");
    assert_eq!(c.jti, jti, "{name} jti");
    c
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn seeds_match_public_keys() {
    for (name, public) in [
        ("operator", OPERATOR),
        ("operator-signer", OPERATOR_SIGNER),
        ("sys", SYS),
        ("acme", ACME),
        ("acme-signer", ACME_SIGNER),
        ("acme-scoped", ACME_SCOPED),
        ("beta", BETA),
        ("alice", ALICE),
        ("bob", BOB),
        ("carol", CAROL),
        ("dave", DAVE),
        ("sys-user", SYS_USER),
        ("rogue-operator", ROGUE_OPERATOR),
        ("rogue-account", ROGUE_ACCOUNT),
    ] {
        assert_eq!(key_pair(name).public_key(), public, "{name}");
    }
}

#[test]
fn operator_claims() {
    let c = decode("operator");
    assert_eq!(c.claim_type(), ClaimType::Operator);
    assert_eq!(c.iss, OPERATOR);
    assert_eq!(c.sub, OPERATOR);
    assert!(c.is_self_signed());
    assert_eq!(c.name, "tracebus-test-op");
    assert_eq!((c.aud.as_str(), c.exp, c.nbf), ("", FAR_FUTURE, 0));
    let o = c.operator().unwrap();
    let want = jwt::Operator {
        signing_keys: strings(&[OPERATOR_SIGNER]),
        account_server_url: "http://127.0.0.1:9090/jwt/v1".into(),
        operator_service_urls: strings(&["nats://127.0.0.1:4222"]),
        system_account: SYS.into(),
        assert_server_version: String::new(),
        strict_signing_key_usage: false,
        // The library lower-cases tags when they are added.
        tags: strings(&["env:test", "team"]),
    };
    assert_eq!(*o, want);
    assert!(o.did_sign(OPERATOR, OPERATOR));
    assert!(o.did_sign(OPERATOR, OPERATOR_SIGNER));
    assert!(!o.did_sign(OPERATOR, ROGUE_OPERATOR));
}

#[test]
fn system_account_claims() {
    let c = decode("sys");
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (OPERATOR, SYS));
    assert_eq!((c.name.as_str(), c.exp), ("SYS", FAR_FUTURE));
    // A new account in the reference starts with every limit unlimited.
    assert_eq!(*c.account().unwrap(), Account::new());
}

#[test]
fn account_with_everything() {
    let c = decode("acme");
    assert_eq!(c.claim_type(), ClaimType::Account);
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (OPERATOR, ACME));
    assert_eq!(
        (c.name.as_str(), c.exp, c.nbf),
        ("acme", FAR_FUTURE, 1600000000)
    );
    let a = c.account().unwrap();

    let l = &a.limits;
    assert_eq!(
        (l.conn, l.leaf, l.subs, l.payload, l.data, l.imports, l.exports),
        (100, 0, 1000, 1 << 20, NO_LIMIT, 10, NO_LIMIT)
    );
    assert!(l.wildcards && !l.disallow_bearer);
    assert_eq!(
        (l.mem_storage, l.disk_storage, l.streams, l.consumer),
        (0, 0, 0, 0)
    );
    assert!(l.tiered_limits.is_empty());

    // Signing keys: a plain one and a scoped one (order as in the token; the
    // Go library writes them in map order).
    assert_eq!(a.signing_keys.len(), 2);
    assert_eq!(
        a.signing_key(ACME_SIGNER),
        Some(&SigningKey::Key(ACME_SIGNER.into()))
    );
    let scoped = UserScope {
        key: ACME_SCOPED.into(),
        role: "monitor".into(),
        template: UserPermissionLimits {
            publish: Permission {
                allow: strings(&["metrics.>"]),
                deny: vec![],
            },
            subscribe: Permission {
                allow: strings(&["_INBOX.>"]),
                deny: vec![],
            },
            resp: Some(ResponsePermission {
                max: 1,
                ttl: 1_000_000_000,
            }),
            subs: 10,
            data: NO_LIMIT,
            payload: NO_LIMIT,
            ..Default::default()
        },
    };
    assert_eq!(
        a.signing_key(ACME_SCOPED),
        Some(&SigningKey::Scoped(scoped))
    );
    assert!(a.did_sign(ACME, ACME));
    assert!(a.did_sign(ACME, ACME_SIGNER));
    assert!(!a.did_sign(ACME, BETA));

    // Exports come sorted by subject.
    let act = token("activation");
    assert_eq!(
        a.exports,
        vec![
            Export {
                name: "api".into(),
                subject: "acme.api.*".into(),
                kind: ExportType::Service,
                token_req: true,
                revocations: BTreeMap::from([(BETA.to_string(), 1650000000)]),
                response_type: Some(ResponseType::Stream),
                response_threshold: 2_000_000_000,
                service_latency: Some(ServiceLatency {
                    sampling: Sampling::Percent(50),
                    results: "acme.latency".into(),
                }),
                account_token_position: 3,
                ..Default::default()
            },
            Export {
                name: "public".into(),
                subject: "acme.public.>".into(),
                kind: ExportType::Stream,
                description: "public feed".into(),
                ..Default::default()
            },
        ]
    );
    assert!(a.exports[0].is_revoked(BETA, 1650000000));
    assert!(!a.exports[0].is_revoked(BETA, 1650000001));
    assert_eq!(
        a.imports,
        vec![
            Import {
                name: "feed".into(),
                subject: "beta.feed.>".into(),
                account: BETA.into(),
                local_subject: "feed.>".into(),
                kind: ExportType::Stream,
                ..Default::default()
            },
            Import {
                name: "help".into(),
                subject: "beta.help.>".into(),
                account: BETA.into(),
                token: act,
                local_subject: "help.>".into(),
                kind: ExportType::Service,
                share: true,
                ..Default::default()
            },
        ]
    );
    assert_eq!(
        a.revocations,
        BTreeMap::from([
            ("*".to_string(), 1500000000),
            (DAVE.to_string(), 1700000000)
        ])
    );
    assert!(a.is_revoked(DAVE, 1700000000));
    assert!(!a.is_revoked(DAVE, 1700000001));
    assert!(
        a.is_revoked(ALICE, 1500000000),
        "'*' revokes everyone older"
    );
    assert!(!a.is_revoked(ALICE, 1500000001));
    assert_eq!(
        a.default_permissions,
        Permissions {
            publish: Permission {
                allow: strings(&["acme.>"]),
                deny: vec![]
            },
            subscribe: Permission {
                allow: vec![],
                deny: strings(&["secret.>"])
            },
            resp: None,
        }
    );
    assert_eq!(
        a.mappings,
        BTreeMap::from([(
            "orders.in".to_string(),
            vec![
                WeightedMapping {
                    subject: "orders.a".into(),
                    weight: 40,
                    cluster: String::new()
                },
                WeightedMapping {
                    subject: "orders.b".into(),
                    weight: 60,
                    cluster: String::new()
                },
            ]
        )])
    );
    assert_eq!(a.description, "ACME & <friends>");
    assert_eq!(a.info_url, "https://example.com/acme");
    assert_eq!(a.tags, strings(&["tier:gold"]));
}

#[test]
fn exporter_account_and_activation() {
    let c = decode("beta");
    // Signed by the operator's signing key.
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (OPERATOR_SIGNER, BETA));
    let a = c.account().unwrap();
    assert_eq!(a.limits, jwt::OperatorLimits::unlimited());
    assert_eq!(a.exports.len(), 2);
    assert_eq!(
        (
            a.exports[0].subject.as_str(),
            a.exports[0].kind,
            a.exports[0].token_req
        ),
        ("beta.feed.>", ExportType::Stream, false)
    );
    assert_eq!(
        (
            a.exports[1].subject.as_str(),
            a.exports[1].kind,
            a.exports[1].token_req
        ),
        ("beta.help.>", ExportType::Service, true)
    );
    assert!(a.exports[1].response_type.is_none());

    let c = decode("activation");
    assert_eq!(c.claim_type(), ClaimType::Activation);
    // Issued by the exporter, about the importer.
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (BETA, ACME));
    assert_eq!((c.name.as_str(), c.exp), ("help for acme", FAR_FUTURE));
    assert_eq!(
        *c.activation().unwrap(),
        jwt::Activation {
            subject: "beta.help.>".into(),
            kind: ExportType::Service,
            issuer_account: String::new(),
            tags: vec![],
        }
    );
}

#[test]
fn user_with_every_permission_and_limit() {
    let c = decode("alice");
    assert_eq!(c.claim_type(), ClaimType::User);
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (ACME, ALICE));
    assert_eq!(c.name, "alice <ops> & co");
    assert_eq!((c.exp, c.nbf, c.aud.as_str()), (FAR_FUTURE, 0, ""));
    let u = c.user().unwrap();
    assert_eq!(
        u.perms,
        UserPermissionLimits {
            publish: Permission {
                allow: strings(&["acme.>", "orders.*"]),
                deny: strings(&["acme.admin.>"]),
            },
            subscribe: Permission {
                allow: strings(&["acme.>", "_INBOX.>", "work.* workers"]),
                deny: strings(&["acme.secret"]),
            },
            resp: Some(ResponsePermission {
                max: 5,
                ttl: 60_000_000_000,
            }),
            src: strings(&["192.168.1.0/24", "127.0.0.1/32"]),
            times: vec![TimeRange {
                start: "08:00:00".into(),
                end: "17:30:00".into()
            }],
            times_location: "Europe/Berlin".into(),
            subs: 50,
            data: 1 << 30,
            payload: 4096,
            bearer_token: false,
            allowed_connection_types: strings(&["STANDARD", "WEBSOCKET"]),
        }
    );
    assert_eq!(
        u.perms.resp.unwrap().ttl_duration(),
        std::time::Duration::from_secs(60)
    );
    assert_eq!(u.issuer_account, "");
    assert_eq!(u.account(&c.iss), ACME);
    assert_eq!(u.tags, strings(&["dev"]));
}

#[test]
fn users_signed_by_signing_keys() {
    let c = decode("bob");
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (ACME_SIGNER, BOB));
    let u = c.user().unwrap();
    assert_eq!(u.issuer_account, ACME);
    assert_eq!(u.account(&c.iss), ACME);
    assert!(u.perms.bearer_token);
    assert_eq!(
        (u.perms.subs, u.perms.data, u.perms.payload),
        (NO_LIMIT, NO_LIMIT, NO_LIMIT)
    );
    assert!(u.perms.publish.is_empty() && u.perms.subscribe.is_empty());

    let c = decode("carol");
    assert_eq!((c.iss.as_str(), c.sub.as_str()), (ACME_SCOPED, CAROL));
    assert_eq!((c.exp, c.name.as_str()), (0, "carol"));
    let u = c.user().unwrap();
    assert_eq!(u.issuer_account, ACME);
    assert!(
        u.perms.is_empty(),
        "a scoped user carries no permissions of its own"
    );
    let acme = decode("acme");
    assert!(matches!(
        acme.account().unwrap().signing_key(&c.iss),
        Some(SigningKey::Scoped(s)) if s.role == "monitor"
    ));
}

#[test]
fn audience_and_escaped_name() {
    let c = decode("alice-aud");
    assert_eq!(c.aud, "aud-x");
    assert_eq!(c.name, "n&<>");
    assert_eq!((c.exp, c.nbf), (FAR_FUTURE, 1600000000));
}

#[test]
fn system_user_and_creds_file() {
    let c = decode("sys-user");
    assert_eq!(
        (c.iss.as_str(), c.sub.as_str(), c.name.as_str()),
        (SYS, SYS_USER, "sys")
    );

    for (file, user, name) in [
        ("alice.creds", ALICE, "alice"),
        ("sys-user.creds", SYS_USER, "sys-user"),
    ] {
        let text = fixture(file);
        let creds = jwt::parse_creds(&text).unwrap();
        assert_eq!(creds.jwt, token(name));
        assert_eq!(creds.key_pair().unwrap().public_key(), user);
        // Writing it back gives the official bytes.
        assert_eq!(jwt::format_creds(&creds.jwt, &creds.seed), text, "{file}");
    }
}

#[test]
fn time_checks() {
    let t = token("dave-expired");
    let now = jwt::now_unix();
    assert!(matches!(
        jwt::decode(&t, now),
        Err(JwtError::Expired {
            claim: ClaimType::User,
            exp: 1000000000,
            ..
        })
    ));
    // Exactly at exp it is still valid (the reference checks now > exp).
    assert!(jwt::decode(&t, 1000000000).is_ok());
    assert!(jwt::decode(&t, 1000000001).is_err());
    let (_, c) = jwt::decode_ignoring_time(&t).unwrap();
    assert_eq!((c.sub.as_str(), c.name.as_str()), (DAVE, "dave"));

    let t = token("dave-not-yet");
    let err = jwt::decode(&t, now).unwrap_err();
    assert!(
        matches!(
            err,
            JwtError::NotYetValid {
                nbf: FAR_FUTURE,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("not valid before 4102444800"));
    assert!(jwt::decode(&t, FAR_FUTURE).is_ok());
}

#[test]
fn rogue_chain_decodes_but_is_not_trusted() {
    // Decoding checks the token, not trust: the rogue account verifies
    // against its own issuer, but our operator never signed it.
    let c = decode("rogue-account");
    assert_eq!(
        (c.iss.as_str(), c.sub.as_str()),
        (ROGUE_OPERATOR, ROGUE_ACCOUNT)
    );
    let op = decode("operator");
    assert!(!op.operator().unwrap().did_sign(OPERATOR, &c.iss));
    let u = decode("rogue-user");
    assert_eq!((u.iss.as_str(), u.sub.as_str()), (ROGUE_ACCOUNT, CAROL));
}

#[test]
fn jti_recomputes_identically() {
    for name in [
        "operator",
        "sys",
        "beta",
        "activation",
        "acme",
        "alice",
        "bob",
        "carol",
        "dave-expired",
        "dave-not-yet",
        "sys-user",
        "rogue-account",
        "rogue-user",
        "alice-aud",
    ] {
        let (_, c) = jwt::decode_ignoring_time(&token(name)).unwrap();
        assert_eq!(jwt::compute_jti(&c), c.jti, "{name}");
    }
}

#[test]
fn reencoding_reproduces_official_tokens_byte_for_byte() {
    for (name, signer) in [
        ("operator", "operator"),
        ("sys", "operator"),
        ("beta", "operator-signer"),
        ("activation", "beta"),
        ("acme", "operator"),
        ("alice", "acme"),
        ("bob", "acme-signer"),
        ("carol", "acme-scoped"),
        ("dave-expired", "acme"),
        ("dave-not-yet", "acme"),
        ("sys-user", "sys"),
        ("rogue-account", "rogue-operator"),
        ("rogue-user", "rogue-account"),
        ("alice-aud", "acme"),
    ] {
        let official = token(name);
        let (_, c) = jwt::decode_ignoring_time(&official).unwrap();
        let ours = jwt::encode_at(&c, &key_pair(signer), c.iat).unwrap();
        if ours != official {
            let payload = |t: &str| {
                String::from_utf8(
                    URL_SAFE_NO_PAD
                        .decode(t.split('.').nth(1).unwrap())
                        .unwrap(),
                )
                .unwrap()
            };
            panic!(
                "{name} differs:\nofficial {}\nours     {}",
                payload(&official),
                payload(&ours)
            );
        }
    }
}

/// Signs an arbitrary payload with `kp`, bypassing every check of
/// `jwt::encode`, to build tokens the encoder refuses to make.
fn forge(payload: &serde_json::Value, kp: &jwt::nkeys::KeyPair) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap());
    let sig = kp.sign(format!("{h}.{p}").as_bytes()).unwrap();
    format!("{h}.{p}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[test]
fn rejections() {
    let now = jwt::now_unix();
    let alice = token("alice");

    // Any change to header or payload breaks the signature.
    let parts: Vec<&str> = alice.split('.').collect();
    let mut payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let i = payload.iter().position(|&b| b == b'a').unwrap();
    payload[i] = b'b';
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(&payload),
        parts[2]
    );
    assert!(matches!(
        jwt::decode(&tampered, now),
        Err(JwtError::BadSignature { .. })
    ));
    // Someone else's signature.
    let bob = token("bob");
    let spliced = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        bob.split('.').nth(2).unwrap()
    );
    assert!(matches!(
        jwt::decode(&spliced, now),
        Err(JwtError::BadSignature { .. })
    ));

    // A user JWT signed by an operator key; an account JWT signed by an
    // account key (self-signed) — both well-signed, wrong issuer type.
    let user = serde_json::json!({"iat": 1, "iss": OPERATOR, "sub": ALICE,
        "nats": {"type": "user", "version": 2}});
    let err = jwt::decode(&forge(&user, &key_pair("operator")), now).unwrap_err();
    assert!(
        matches!(
            err,
            JwtError::WrongIssuerType {
                claim: ClaimType::User,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("must be issued by an account key"),
        "{err}"
    );
    let acct = serde_json::json!({"iat": 1, "iss": ACME, "sub": ACME,
        "nats": {"type": "account", "version": 2}});
    let err = jwt::decode(&forge(&acct, &key_pair("acme")), now).unwrap_err();
    assert!(
        matches!(
            err,
            JwtError::WrongIssuerType {
                claim: ClaimType::Account,
                ..
            }
        ),
        "{err}"
    );
    // Claiming an issuer it was not signed by.
    let lie = serde_json::json!({"iat": 1, "iss": ACME, "sub": ALICE,
        "nats": {"type": "user", "version": 2}});
    assert!(matches!(
        jwt::decode(&forge(&lie, &key_pair("beta")), now),
        Err(JwtError::BadSignature { .. })
    ));
    // Subject of the wrong type.
    let sub = serde_json::json!({"iat": 1, "iss": ACME, "sub": ACME,
        "nats": {"type": "user", "version": 2}});
    assert!(matches!(
        jwt::decode(&forge(&sub, &key_pair("acme")), now),
        Err(JwtError::WrongSubjectType { .. })
    ));

    // Versions: v1 (top-level type), missing, future.
    let v1 = serde_json::json!({"iat": 1, "iss": ACME, "sub": ALICE, "type": "user",
        "nats": {"pub": {}}});
    assert_eq!(
        jwt::decode(&forge(&v1, &key_pair("acme")), now).unwrap_err(),
        JwtError::UnsupportedVersion(1)
    );
    let v3 = serde_json::json!({"iat": 1, "iss": ACME, "sub": ALICE,
        "nats": {"type": "user", "version": 3}});
    let err = jwt::decode(&forge(&v3, &key_pair("acme")), now).unwrap_err();
    assert_eq!(err, JwtError::UnsupportedVersion(3));
    assert!(err.to_string().contains("version 3"));
    let unknown = serde_json::json!({"iat": 1, "iss": ACME, "sub": ALICE,
        "nats": {"type": "server", "version": 2}});
    assert!(matches!(
        jwt::decode(&forge(&unknown, &key_pair("acme")), now),
        Err(JwtError::UnknownClaimType(t)) if t == "server"
    ));

    // Size and shape.
    let huge = format!("{alice}{}", "A".repeat(jwt::MAX_TOKEN_LEN));
    assert!(matches!(
        jwt::decode(&huge, now),
        Err(JwtError::TooLarge { .. })
    ));
    assert!(matches!(
        jwt::decode("a.b", now),
        Err(JwtError::Malformed(_))
    ));
    assert!(matches!(
        jwt::decode("a.b.c.d", now),
        Err(JwtError::Malformed(_))
    ));
    assert!(matches!(
        jwt::decode("!!.b.c", now),
        Err(JwtError::Malformed(_))
    ));
    let bad_alg = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#),
        parts[1],
        parts[2]
    );
    assert!(matches!(
        jwt::decode(&bad_alg, now),
        Err(JwtError::BadHeader(_))
    ));

    // Asking for one type and getting another.
    assert_eq!(
        jwt::decode_expecting(&alice, ClaimType::Account, now).unwrap_err(),
        JwtError::WrongClaimType {
            expected: ClaimType::Account,
            found: ClaimType::User
        }
    );
    assert!(jwt::decode_expecting(&alice, ClaimType::User, now).is_ok());
}

#[test]
fn lenient_on_nulls_and_old_src_strings() {
    // Go decodes null as empty and `src` from a comma-separated string.
    let user = serde_json::json!({"iat": 5, "iss": ACME, "sub": ALICE, "name": null,
        "nats": {"type": "user", "version": 2, "pub": null, "tags": null,
                 "src": "10.0.0.0/8, 192.168.0.0/16,10.0.0.0/8"}});
    let (_, c) = jwt::decode(&forge(&user, &key_pair("acme")), 10).unwrap();
    let u = c.user().unwrap();
    assert_eq!(u.perms.src, strings(&["10.0.0.0/8", "192.168.0.0/16"]));
    assert!(u.perms.publish.is_empty() && u.tags.is_empty() && c.name.is_empty());
    assert!(matches!(c.nats, Nats::User(_)));
}
