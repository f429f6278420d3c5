//! Encoder-side behaviour of `tracebus::jwt` with fresh keys: what encode
//! stamps, what it refuses, and that every claim type round-trips.

use tracebus::jwt::{
    self, Account, Activation, ClaimType, Claims, Export, ExportType, JwtError, KeyType, Nats,
    Operator, Sampling, ServiceLatency, SigningKey, User, UserPermissionLimits, UserScope,
};

fn user_claims(sub: &str) -> Claims {
    let mut u = User::default();
    u.perms.publish.allow = vec!["a.>".into()];
    u.perms.subscribe.deny = vec!["b".into()];
    u.perms.subs = 7;
    Claims::new(sub, "u", Nats::User(u))
}

#[test]
fn round_trips_every_claim_type() {
    let op = KeyType::Operator.generate();
    let acct = KeyType::Account.generate();
    let other = KeyType::Account.generate();
    let user = KeyType::User.generate();
    let cases = [
        (
            Claims::new(
                op.public_key(),
                "op",
                Nats::Operator(Operator {
                    system_account: acct.public_key(),
                    ..Default::default()
                }),
            ),
            &op,
        ),
        (
            Claims::new(acct.public_key(), "acct", Nats::Account(Account::new())),
            &op,
        ),
        (user_claims(&user.public_key()), &acct),
        (
            Claims::new(
                other.public_key(),
                "act",
                Nats::Activation(Activation {
                    subject: "x.>".into(),
                    kind: ExportType::Stream,
                    ..Default::default()
                }),
            ),
            &acct,
        ),
    ];
    for (mut claims, signer) in cases {
        claims.exp = 2_000_000_000;
        claims.nbf = 1_000;
        let t = jwt::encode_at(&claims, signer, 1_500_000_000).unwrap();
        let (h, back) = jwt::decode(&t, 1_600_000_000).unwrap();
        assert_eq!(h, jwt::Header::default());
        assert_eq!(back.iss, signer.public_key());
        assert_eq!(back.iat, 1_500_000_000);
        assert_eq!(back.jti, jwt::compute_jti(&back));
        assert_eq!(back.jti.len(), 52, "base32 of 32 bytes, no padding");
        claims.iss = back.iss.clone();
        claims.iat = back.iat;
        claims.jti = back.jti.clone();
        assert_eq!(back, claims);
    }
}

#[test]
fn encode_stamps_now_and_ignores_caller_iss_jti() {
    let acct = KeyType::Account.generate();
    let mut c = user_claims(&KeyType::User.generate().public_key());
    c.iss = "bogus".into();
    c.jti = "bogus".into();
    c.iat = 1;
    let before = jwt::now_unix();
    let (_, back) = jwt::decode(&jwt::encode(&c, &acct).unwrap(), before).unwrap();
    assert!(back.iat >= before && back.iat <= jwt::now_unix());
    assert_eq!(back.iss, acct.public_key());
    assert_ne!(back.jti, "bogus");
}

#[test]
fn encode_refuses_wrong_keys() {
    let op = KeyType::Operator.generate();
    let acct = KeyType::Account.generate();
    let user = KeyType::User.generate();
    // Users are signed by accounts, not operators or users.
    let c = user_claims(&user.public_key());
    for bad in [&op, &user] {
        assert!(matches!(
            jwt::encode(&c, bad),
            Err(JwtError::WrongIssuerType {
                claim: ClaimType::User,
                ..
            })
        ));
    }
    // Accounts are signed by operators (no self-signed accounts).
    let a = Claims::new(acct.public_key(), "a", Nats::Account(Account::new()));
    assert!(matches!(
        jwt::encode(&a, &acct),
        Err(JwtError::WrongIssuerType { .. })
    ));
    // Subject of the wrong type, or not a key at all.
    let wrong_sub = user_claims(&acct.public_key());
    assert!(matches!(
        jwt::encode(&wrong_sub, &acct),
        Err(JwtError::WrongSubjectType { .. })
    ));
    assert!(jwt::encode(&user_claims("nope"), &acct).is_err());
    // A public-only key pair cannot sign.
    let public_only = jwt::nkeys::KeyPair::from_public_key(&acct.public_key()).unwrap();
    assert!(matches!(
        jwt::encode(&c, &public_only),
        Err(JwtError::Encode(_))
    ));
}

#[test]
fn account_exports_are_sorted_and_scopes_round_trip() {
    let op = KeyType::Operator.generate();
    let acct = KeyType::Account.generate();
    let scoped = KeyType::Account.generate();
    let mut a = Account::new();
    for s in ["z.>", "a.>", "m.*"] {
        a.exports.push(Export {
            subject: s.into(),
            kind: ExportType::Service,
            service_latency: Some(ServiceLatency {
                sampling: Sampling::Headers,
                results: "lat".into(),
            }),
            ..Default::default()
        });
    }
    a.add_signing_key("AAAA-not-checked-here");
    a.signing_keys.push(SigningKey::Scoped(UserScope {
        key: scoped.public_key(),
        role: "r".into(),
        template: UserPermissionLimits::unlimited(),
    }));
    assert!(a.remove_signing_key("AAAA-not-checked-here"));
    assert!(!a.remove_signing_key("AAAA-not-checked-here"));
    a.revoke("U1", 10);
    a.revoke("U1", 5); // an older revocation does not replace a newer one
    assert_eq!(a.revocations["U1"], 10);
    let c = Claims::new(acct.public_key(), "a", Nats::Account(a));
    let (_, back) = jwt::decode(&jwt::encode(&c, &op).unwrap(), jwt::now_unix()).unwrap();
    let b = back.account().unwrap();
    let subjects: Vec<&str> = b.exports.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["a.>", "m.*", "z.>"]);
    assert_eq!(
        b.exports[0].service_latency.as_ref().unwrap().sampling,
        Sampling::Headers
    );
    assert!(matches!(
        b.signing_key(&scoped.public_key()),
        Some(SigningKey::Scoped(s)) if s.template == UserPermissionLimits::unlimited()
    ));
    assert_eq!(b.signing_keys.len(), 1);
}

#[test]
fn json_pretty_shows_wire_names() {
    let c = user_claims(&KeyType::User.generate().public_key());
    let j = c.to_json_pretty();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["nats"]["type"], "user");
    assert_eq!(v["nats"]["version"], 2);
    assert_eq!(v["nats"]["pub"]["allow"][0], "a.>");
    assert_eq!(v["nats"]["sub"]["deny"][0], "b");
    assert_eq!(v["nats"]["subs"], 7);
    assert_eq!(v["name"], "u");
    assert!(v.get("exp").is_none(), "zero exp is omitted");
}

#[test]
fn key_helpers() {
    let kp = KeyType::Server.generate();
    assert_eq!(jwt::key_type(&kp.public_key()).unwrap(), KeyType::Server);
    assert!(kp.public_key().starts_with('N'));
    assert!(jwt::is_public_key(
        &KeyType::Cluster.generate().public_key(),
        KeyType::Cluster
    ));
    let err = jwt::key_type("OABC").unwrap_err();
    assert!(err.to_string().starts_with("invalid nkey OABC"), "{err}");
    assert_eq!(jwt::issuer_type_for(ClaimType::Account), KeyType::Operator);
    assert_eq!(
        jwt::subject_type_for(ClaimType::Activation),
        KeyType::Account
    );
}
