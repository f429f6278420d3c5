//! Handlers of the trust commands.

use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use tracebus::jwt::{
    self, Account, Activation, ClaimType, Claims, Export, ExportType, Import, KeyType, Nats,
    Operator, ResponsePermission, User, UserPermissionLimits,
};

use super::*;
use crate::store::{check_name, default_store_dir, write_secret, OperatorStore, Store};
use crate::units::parse_expiry;

/// Runs one trust command; the error names the missing item or bad input.
pub fn run(cmd: TrustCommand) -> Result<()> {
    match cmd {
        TrustCommand::Operator(OperatorCmd::Init(a)) => operator_init(a),
        TrustCommand::Account(AccountCmd::Add(a)) => account_add(a),
        TrustCommand::Account(AccountCmd::Edit(a)) => account_edit(*a),
        TrustCommand::Account(AccountCmd::Activate(a)) => account_activate(a),
        TrustCommand::User(UserCmd::Add(a)) => user_add(*a),
        TrustCommand::User(UserCmd::Creds(a)) => user_creds(a),
        TrustCommand::User(UserCmd::Revoke(a)) => user_revoke(a),
        TrustCommand::Describe(a) => super::describe::describe(a),
        TrustCommand::Keys(KeysCmd::Gen(a)) => keys_gen(a),
        TrustCommand::Generate(GenerateCmd::Config(a)) => generate_config(a),
        TrustCommand::Push(a) => super::push::push(a),
        TrustCommand::List(a) => list(a),
    }
}

pub(super) fn store(a: &StoreArgs) -> Store {
    Store::new(a.store.clone().unwrap_or_else(default_store_dir))
}

pub(super) fn op_store(a: &OperatorArgs) -> Result<OperatorStore> {
    store(&a.store).operator(a.operator.as_deref())
}

fn expiry(e: &Option<String>) -> Result<Option<i64>> {
    e.as_deref()
        .map(|s| parse_expiry(s, jwt::now_unix()))
        .transpose()
}

fn encode(claims: &Claims, signer: &jwt::nkeys::KeyPair) -> Result<String> {
    jwt::encode(claims, signer).map_err(|e| anyhow!("{e}"))
}

/// The name of the system account created by `operator init`.
pub(super) const SYS_ACCOUNT: &str = "SYS";
/// The system user created by `operator init`.
pub(super) const SYS_USER: &str = "sys";

fn operator_init(a: OperatorInitArgs) -> Result<()> {
    let store = store(&a.store);
    let exp = expiry(&a.expiry)?;
    let os = store.create_operator(&a.name)?;
    let op = KeyType::Operator.generate();
    os.save_seed(&op)?;
    let mut o = Operator::default();
    if a.signing_key {
        let sk = KeyType::Operator.generate();
        os.save_seed(&sk)?;
        o.signing_keys.push(sk.public_key());
    }
    let sys = KeyType::Account.generate();
    os.save_seed(&sys)?;
    o.system_account = sys.public_key();
    let mut oc = Claims::new(op.public_key(), a.name.clone(), Nats::Operator(o));
    oc.exp = exp.unwrap_or(0);
    os.write_operator_jwt(&encode(&oc, &op)?)?;

    // The system account and a user of it, as nsc does: the server needs
    // the first, `push` the second.
    let sc = Claims::new(sys.public_key(), SYS_ACCOUNT, Nats::Account(Account::new()));
    os.write_account_jwt(SYS_ACCOUNT, &encode(&sc, &os.account_signer()?)?)?;
    let su = KeyType::User.generate();
    os.save_seed(&su)?;
    let uc = Claims::new(
        su.public_key(),
        SYS_USER,
        Nats::User(User {
            perms: UserPermissionLimits::unlimited(),
            ..Default::default()
        }),
    );
    os.write_user_jwt(SYS_ACCOUNT, SYS_USER, &encode(&uc, &sys)?)?;

    println!("created operator {:?} {}", a.name, op.public_key());
    if a.signing_key {
        println!(
            "  signing key        {}",
            oc.operator().unwrap().signing_keys[0]
        );
    }
    println!("  system account SYS {}", sys.public_key());
    println!("  system user sys    {}", su.public_key());
    println!("  store              {}", os.dir().display());
    Ok(())
}

fn apply_limits(acc: &mut Account, l: &LimitArgs) {
    let m = &mut acc.limits;
    let set = |dst: &mut i64, v: Option<i64>| {
        if let Some(v) = v {
            *dst = v;
        }
    };
    set(&mut m.conn, l.conn);
    set(&mut m.leaf, l.leaf);
    set(&mut m.subs, l.subs);
    set(&mut m.payload, l.payload);
    set(&mut m.data, l.data);
    set(&mut m.imports, l.imports);
    set(&mut m.exports, l.exports);
    if let Some(w) = l.wildcard_exports {
        m.wildcards = w;
    }
    if let Some(d) = l.disallow_bearer {
        m.disallow_bearer = d;
    }
}

fn account_add(a: AccountAddArgs) -> Result<()> {
    check_name("account", &a.name)?;
    let os = op_store(&a.op)?;
    if os.has_account(&a.name) {
        bail!(
            "account {:?} already exists under operator {:?}",
            a.name,
            os.name()
        );
    }
    let exp = expiry(&a.expiry)?;
    let kp = KeyType::Account.generate();
    let mut acc = Account::new();
    apply_limits(&mut acc, &a.limits);
    if let Some(d) = a.description {
        acc.description = d;
    }
    let mut c = Claims::new(kp.public_key(), a.name.clone(), Nats::Account(acc));
    c.exp = exp.unwrap_or(0);
    let token = encode(&c, &os.account_signer()?)?;
    os.save_seed(&kp)?;
    os.write_account_jwt(&a.name, &token)?;
    println!("created account {:?} {}", a.name, kp.public_key());
    Ok(())
}

/// Resolves an account given by store name or public key to its key.
fn account_key(os: &OperatorStore, name_or_key: &str) -> Result<String> {
    if jwt::is_public_key(name_or_key, KeyType::Account) {
        return Ok(name_or_key.to_owned());
    }
    Ok(os.account_claims(name_or_key)?.sub)
}

/// A JWT given inline or as a file.
fn token_arg(s: &str) -> Result<String> {
    if Path::new(s).is_file() {
        let text = std::fs::read_to_string(s).with_context(|| format!("reading {s}"))?;
        return Ok(jwt::read_decorated_jwt(&text));
    }
    Ok(s.trim().to_owned())
}

fn kind(service: bool) -> ExportType {
    if service {
        ExportType::Service
    } else {
        ExportType::Stream
    }
}

fn check_subject(s: &str) -> Result<()> {
    if s.is_empty() || s.contains(char::is_whitespace) || s.split('.').any(str::is_empty) {
        bail!("bad subject {s:?}");
    }
    Ok(())
}

fn mint_activation(
    os: &OperatorStore,
    exporter: &Claims,
    subject: &str,
    service: bool,
    importer: &str,
    exp: i64,
) -> Result<String> {
    let signer = os.seed(&exporter.sub)?;
    let mut c = Claims::new(
        importer,
        subject,
        Nats::Activation(Activation {
            subject: subject.to_owned(),
            kind: kind(service),
            ..Default::default()
        }),
    );
    c.exp = exp;
    encode(&c, &signer)
}

fn account_edit(a: AccountEditArgs) -> Result<()> {
    let os = op_store(&a.op)?;
    let mut c = os.account_claims(&a.name)?;
    let exp = expiry(&a.expiry)?;
    let sub = c.sub.clone();
    let mut notes = Vec::new();
    {
        let acc = c.account_mut().expect("account claims");
        apply_limits(acc, &a.limits);
        if let Some(d) = &a.description {
            acc.description = d.clone();
        }
        if let Some(s) = &a.add_export {
            check_subject(s)?;
            if acc.exports.iter().any(|e| &e.subject == s) {
                bail!("account {:?} already exports {s:?}", a.name);
            }
            acc.exports.push(Export {
                name: s.clone(),
                subject: s.clone(),
                kind: kind(a.service),
                token_req: a.private,
                ..Default::default()
            });
            notes.push(format!(
                "added {}{} export {s}",
                if a.private { "private " } else { "" },
                kind(a.service)
            ));
        }
        if let Some(s) = &a.rm_export {
            let before = acc.exports.len();
            acc.exports.retain(|e| &e.subject != s);
            if before == acc.exports.len() {
                bail!("account {:?} has no export {s:?}", a.name);
            }
            notes.push(format!("removed export {s}"));
        }
        if let Some(s) = &a.rm_import {
            let before = acc.imports.len();
            acc.imports.retain(|i| &i.subject != s);
            if before == acc.imports.len() {
                bail!("account {:?} has no import {s:?}", a.name);
            }
            notes.push(format!("removed import {s}"));
        }
        if let Some(k) = &a.rm_signing_key {
            if !acc.remove_signing_key(k) {
                bail!("account {:?} has no signing key {k}", a.name);
            }
            os.remove_seed(k)?;
            notes.push(format!("removed signing key {k}"));
        }
        if a.add_signing_key {
            let sk = KeyType::Account.generate();
            os.save_seed(&sk)?;
            acc.add_signing_key(sk.public_key());
            notes.push(format!("added signing key {}", sk.public_key()));
        }
    }
    if let Some(s) = &a.add_import {
        check_subject(s)?;
        let from = a.from.as_deref().expect("clap requires --from");
        let from_key = account_key(&os, from)?;
        if from_key == sub {
            bail!("an account cannot import from itself");
        }
        let mut token = a.token.as_deref().map(token_arg).transpose()?;
        // Private export of an account in this store: mint the activation.
        if token.is_none() {
            if let Some(exp_name) = os.account_by_key(&from_key) {
                let exporter = os.account_claims(&exp_name)?;
                let private = exporter.account().unwrap().exports.iter().any(|e| {
                    e.token_req && e.kind == kind(a.service) && subject_covers(&e.subject, s)
                });
                if private {
                    token = Some(mint_activation(&os, &exporter, s, a.service, &sub, 0)?);
                    notes.push(format!("minted activation from {exp_name:?}"));
                }
            }
        }
        let acc = c.account_mut().unwrap();
        if acc
            .imports
            .iter()
            .any(|i| &i.subject == s && i.account == from_key)
        {
            bail!("account {:?} already imports {s:?} from {from}", a.name);
        }
        acc.imports.push(Import {
            name: s.clone(),
            subject: s.clone(),
            account: from_key,
            token: token.unwrap_or_default(),
            local_subject: a.local_subject.clone().unwrap_or_default(),
            kind: kind(a.service),
            ..Default::default()
        });
        notes.push(format!("added {} import {s} from {from}", kind(a.service)));
    }
    if let Some(e) = exp {
        c.exp = e;
    }
    os.write_account_jwt(&a.name, &encode(&c, &os.account_signer()?)?)?;
    println!("updated account {:?} {}", a.name, sub);
    for n in notes {
        println!("  {n}");
    }
    Ok(())
}

/// True if `subject` (maybe with wildcards) is within `pattern`.
fn subject_covers(pattern: &str, subject: &str) -> bool {
    let p: Vec<&str> = pattern.split('.').collect();
    let s: Vec<&str> = subject.split('.').collect();
    for (i, pt) in p.iter().enumerate() {
        if *pt == ">" {
            return s.len() > i;
        }
        match s.get(i) {
            None => return false,
            Some(st) if *pt == "*" && *st != ">" => {}
            Some(st) if st == pt => {}
            _ => return false,
        }
    }
    p.len() == s.len()
}

fn account_activate(a: ActivateArgs) -> Result<()> {
    let os = op_store(&a.op)?;
    check_subject(&a.subject)?;
    let exporter = os.account_claims(&a.name)?;
    let covered = exporter
        .account()
        .unwrap()
        .exports
        .iter()
        .any(|e| e.kind == kind(a.service) && subject_covers(&e.subject, &a.subject));
    if !covered {
        bail!(
            "account {:?} has no {} export covering {:?}",
            a.name,
            kind(a.service),
            a.subject
        );
    }
    let target = account_key(&os, &a.target)?;
    let exp = expiry(&a.expiry)?.unwrap_or(0);
    let token = mint_activation(&os, &exporter, &a.subject, a.service, &target, exp)?;
    match &a.output {
        Some(p) => {
            std::fs::write(p, format!("{token}\n"))
                .with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote activation to {}", p.display());
        }
        None => println!("{token}"),
    }
    Ok(())
}

fn user_add(a: UserAddArgs) -> Result<()> {
    check_name("user", &a.name)?;
    let os = op_store(&a.op)?;
    let acct = os.account_claims(&a.account)?;
    if os.has_user(&a.account, &a.name) {
        bail!(
            "user {:?} already exists in account {:?}",
            a.name,
            a.account
        );
    }
    let exp = expiry(&a.expiry)?;
    for s in a
        .allow_pub
        .iter()
        .chain(&a.deny_pub)
        .chain(&a.deny_sub)
        .chain(&a.allow_sub)
    {
        let subj = s.split(' ').next().unwrap_or("");
        check_subject(subj)?;
    }
    let mut perms = UserPermissionLimits::unlimited();
    perms.publish.allow = a.allow_pub.clone();
    perms.publish.deny = a.deny_pub.clone();
    perms.subscribe.allow = a.allow_sub.clone();
    perms.subscribe.deny = a.deny_sub.clone();
    if let Some(max) = a.allow_responses {
        perms.resp = Some(ResponsePermission {
            max,
            ttl: a.response_ttl.unwrap_or(0),
        });
    }
    if let Some(v) = a.subs {
        perms.subs = v;
    }
    if let Some(v) = a.payload {
        perms.payload = v;
    }
    if let Some(v) = a.data {
        perms.data = v;
    }
    perms.src = a.src.clone();
    perms.allowed_connection_types = a.conn_type.iter().map(|t| t.to_uppercase()).collect();
    perms.bearer_token = a.bearer;
    if a.bearer && acct.account().unwrap().limits.disallow_bearer {
        bail!(
            "account {:?} disallows bearer tokens (--disallow-bearer)",
            a.account
        );
    }

    let (signer, issuer_account) = match &a.signing_key {
        None => (os.seed(&acct.sub)?, String::new()),
        Some(k) => {
            if acct.account().unwrap().signing_key(k).is_none() {
                bail!("account {:?} has no signing key {k}", a.account);
            }
            (os.seed(k)?, acct.sub.clone())
        }
    };
    let kp = KeyType::User.generate();
    let mut c = Claims::new(
        kp.public_key(),
        a.name.clone(),
        Nats::User(User {
            perms,
            issuer_account,
            tags: a.tag.iter().map(|t| t.trim().to_lowercase()).collect(),
        }),
    );
    c.exp = exp.unwrap_or(0);
    let token = encode(&c, &signer)?;
    os.save_seed(&kp)?;
    os.write_user_jwt(&a.account, &a.name, &token)?;
    println!(
        "created user {:?} {} in account {:?}",
        a.name,
        kp.public_key(),
        a.account
    );
    if c.exp > 0 {
        println!("  expires {}", crate::units::format_time(c.exp));
    }
    Ok(())
}

fn user_creds(a: UserCredsArgs) -> Result<()> {
    let os = op_store(&a.op)?;
    let text = os.user_creds(&a.account, &a.name)?;
    match &a.output {
        Some(p) => {
            write_secret(p, text.as_bytes())?;
            eprintln!("wrote creds for {:?} to {}", a.name, p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn user_revoke(a: UserRefArgs) -> Result<()> {
    let os = op_store(&a.op)?;
    let user = os.user_claims(&a.account, &a.name)?;
    let mut c = os.account_claims(&a.account)?;
    let now = jwt::now_unix().max(user.iat);
    c.account_mut().unwrap().revoke(user.sub.clone(), now);
    os.write_account_jwt(&a.account, &encode(&c, &os.account_signer()?)?)?;
    println!(
        "revoked user {:?} {} in account {:?} (tokens issued up to {})",
        a.name,
        user.sub,
        a.account,
        crate::units::format_time(now)
    );
    println!("  push the account (or regenerate the config) for servers to see it");
    Ok(())
}

fn keys_gen(a: KeysGenArgs) -> Result<()> {
    let t = KeyType::parse(&a.kind).ok_or_else(|| {
        anyhow!(
            "bad key type {:?}: use operator, account, user, server or cluster",
            a.kind
        )
    })?;
    let kp = t.generate();
    let seed = kp.seed().map_err(|e| anyhow!("{e}"))?;
    println!("{}", kp.public_key());
    if a.show_seed {
        println!("{seed}");
    }
    if let Some(p) = &a.output {
        write_secret(p, format!("{seed}\n").as_bytes())?;
        eprintln!("seed written to {}", p.display());
    } else if !a.show_seed {
        let p = store(&a.store).save_loose_seed(&kp)?;
        eprintln!("seed written to {}", p.display());
    }
    Ok(())
}

fn generate_config(a: GenerateConfigArgs) -> Result<()> {
    let os = op_store(&a.op)?;
    let op = os.operator_claims()?;
    let mut out = String::new();
    out.push_str(&format!(
        "# Operator mode for tracebus / nats-server, generated by tracebus-tools\n# from store {} (operator {:?}).\n",
        os.dir().display(),
        os.name()
    ));
    out.push_str(&format!("operator: {}\n", os.operator_jwt()?));
    let sys = &op.operator().unwrap().system_account;
    if !sys.is_empty() {
        out.push_str(&format!("system_account: {sys}\n"));
    }
    match &a.full_resolver {
        None => out.push_str("resolver: MEMORY\n"),
        Some(dir) => out.push_str(&format!(
            "resolver: {{\n  type: full\n  dir: {:?}\n  allow_delete: false\n  interval: \"2m\"\n}}\n",
            dir.display().to_string()
        )),
    }
    out.push_str("resolver_preload: {\n");
    for name in os.accounts() {
        let token = os.account_jwt(&name)?;
        let c = os.account_claims(&name)?;
        out.push_str(&format!("  # {name}\n  {}: {token}\n", c.sub));
    }
    out.push_str("}\n");
    match &a.output {
        Some(p) => {
            std::fs::write(p, &out).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{out}"),
    }
    Ok(())
}

fn list(a: ListArgs) -> Result<()> {
    let st = store(&a.op.store);
    let ops = match &a.op.operator {
        Some(o) => vec![st.operator(Some(o))?.name().to_owned()],
        None => st.operators(),
    };
    if ops.is_empty() {
        bail!(
            "no operator in store {} (run `tracebus-tools operator init NAME` first)",
            st.root().display()
        );
    }
    for name in ops {
        let os = st.operator(Some(&name))?;
        let oc = os.operator_claims()?;
        println!("operator {name} {}", oc.sub);
        for acct in os.accounts() {
            let ac = os.account_claims(&acct)?;
            println!("  account {acct} {}", ac.sub);
            for user in os.users(&acct) {
                let uc = os.user_claims(&acct, &user)?;
                let revoked = ac.account().unwrap().is_revoked(&uc.sub, uc.iat);
                println!(
                    "    user {user} {}{}",
                    uc.sub,
                    if revoked { " (revoked)" } else { "" }
                );
            }
        }
    }
    Ok(())
}

/// Re-exported for describe/push.
pub(super) fn claim_label(c: &Claims) -> &'static str {
    match c.claim_type() {
        ClaimType::Operator => "operator",
        ClaimType::Account => "account",
        ClaimType::User => "user",
        ClaimType::Activation => "activation",
    }
}

#[cfg(test)]
mod tests {
    use super::subject_covers;

    #[test]
    fn covers() {
        assert!(subject_covers("a.>", "a.b"));
        assert!(subject_covers("a.>", "a.b.>"));
        assert!(!subject_covers("a.>", "a"));
        assert!(subject_covers("a.*", "a.b"));
        assert!(subject_covers("a.*", "a.*"));
        assert!(!subject_covers("a.*", "a.>"));
        assert!(!subject_covers("a.b", "a.c"));
        assert!(subject_covers("a.b", "a.b"));
    }
}
